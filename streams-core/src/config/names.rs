//! Property names: Kafka Streams' own, and the lists of keys and client prefixes the
//! configuration recognises.

/// `application.id`: the consumer group id and the prefix of internal topics. Required.
pub const APPLICATION_ID: &str = "application.id";
/// `bootstrap.servers`: the Kafka cluster. Required by the runtime.
pub const BOOTSTRAP_SERVERS: &str = "bootstrap.servers";
/// `state.dir`: where task state lives (default: `<tmp>/kafka-streams`).
pub const STATE_DIR: &str = "state.dir";
/// `commit.interval.ms`: how often offsets and state are committed (default 30000; 100 under
/// exactly-once).
pub const COMMIT_INTERVAL_MS: &str = "commit.interval.ms";
/// `num.stream.threads`: stream threads per instance (default 1).
pub const NUM_STREAM_THREADS: &str = "num.stream.threads";
/// `processing.guarantee`: `at_least_once` (default) or `exactly_once_v2`.
pub const PROCESSING_GUARANTEE: &str = "processing.guarantee";
/// `num.standby.replicas`: warm copies of each task's state on other instances (default 0).
pub const NUM_STANDBY_REPLICAS: &str = "num.standby.replicas";
/// `default.deserialization.exception.handler`: `fail` (default), `log_and_continue` or
/// `dead_letter` (see [`DeserializationPolicy`](crate::error::DeserializationPolicy)); Kafka's
/// class names `LogAndFailExceptionHandler` / `LogAndContinueExceptionHandler` are accepted too.
pub const DESERIALIZATION_EXCEPTION_HANDLER: &str = "default.deserialization.exception.handler";
/// `default.timestamp.extractor`: what a record with an invalid timestamp does: `fail`
/// (default), `log_and_skip` or `use_partition_time` (see [`TimestampPolicy`]); Kafka's class
/// names `FailOnInvalidTimestamp`, `LogAndSkipOnInvalidTimestamp` and
/// `UsePartitionTimeOnInvalidTimestamp` are accepted too.
///
/// [`TimestampPolicy`]: crate::error::TimestampPolicy
pub const TIMESTAMP_EXTRACTOR: &str = "default.timestamp.extractor";
/// `processing.exception.handler`: what a processor's failure does (see
/// [`ProcessingPolicy`](crate::error::ProcessingPolicy)).
pub const PROCESSING_EXCEPTION_HANDLER: &str = "processing.exception.handler";
/// `production.exception.handler`: what a failed output record does (see
/// [`ProductionPolicy`](crate::error::ProductionPolicy)).
pub const PRODUCTION_EXCEPTION_HANDLER: &str = "production.exception.handler";
/// Kafka Streams 4's name for [`DESERIALIZATION_EXCEPTION_HANDLER`] (KIP-1056); either works.
pub const DESERIALIZATION_EXCEPTION_HANDLER_NEW: &str = "deserialization.exception.handler";
/// The name [`PRODUCTION_EXCEPTION_HANDLER`] had before Kafka Streams 4 (KIP-1056); either
/// works.
pub const PRODUCTION_EXCEPTION_HANDLER_OLD: &str = "default.production.exception.handler";
/// `errors.dead.letter.queue.topic.name`: where the `dead_letter` policies send records.
pub const DEAD_LETTER_QUEUE_TOPIC: &str = "errors.dead.letter.queue.topic.name";
/// `poll.ms`: how long the stream thread blocks waiting for records (default 100).
pub const POLL_MS: &str = "poll.ms";
/// `replication.factor`: replication of internal topics (default -1, the broker's default).
pub const REPLICATION_FACTOR: &str = "replication.factor";
/// `max.task.idle.ms`: how long a task waits for an empty input partition (default 0).
pub const MAX_TASK_IDLE_MS: &str = "max.task.idle.ms";
/// `buffered.records.per.partition`: records a task buffers per input partition before the
/// partition's fetching pauses (no such limit unless set; deprecated in Kafka Streams in
/// favour of `input.buffer.max.bytes`, and kept for the same compatibility).
pub const BUFFERED_RECORDS_PER_PARTITION: &str = "buffered.records.per.partition";
/// `application.server`: `host:port` of this instance's interactive-query endpoint, announced
/// to the other instances so that any of them can tell where a key lives.
pub const APPLICATION_SERVER: &str = "application.server";
/// `input.buffer.max.bytes`: bytes of fetched records an instance buffers, over all its
/// threads, before it pauses fetching the partitions it has records of (default 512 MiB).
pub const INPUT_BUFFER_MAX_BYTES: &str = "input.buffer.max.bytes";
/// `statestore.cache.max.bytes`: the record cache of each instance, split over its threads
/// (default 10 MiB; 0 turns caching off).
pub const CACHE_MAX_BYTES: &str = "statestore.cache.max.bytes";
/// `rocksdb.write.buffer.bytes`: the write buffers (memtables) of an instance's RocksDB
/// stores together, one write-buffer manager for all of them (default 64 MiB): past it,
/// RocksDB flushes memtables early.
pub const ROCKSDB_WRITE_BUFFER_BYTES: &str = "rocksdb.write.buffer.bytes";
/// `rocksdb.memory.bound.bytes`: when set, one budget for all the RocksDB memory of an
/// instance that RocksDB can bound: a block cache of this size holding data, index and filter
/// blocks, and memtables charged to it (up to half of it), as Kafka Streams' bounded-memory
/// configuration; `rocksdb.block.cache.bytes` and `rocksdb.write.buffer.bytes` are then unused.
pub const ROCKSDB_MEMORY_BOUND_BYTES: &str = "rocksdb.memory.bound.bytes";
/// `statestore.uncommitted.max.bytes`: under exactly-once, the writes an instance's
/// transactional stores may hold uncommitted (in memory), over all its threads, before a
/// thread commits early (default 64 MiB, as Kafka Streams' KIP-892).
pub const UNCOMMITTED_MAX_BYTES: &str = "statestore.uncommitted.max.bytes";
/// `rocksdb.block.cache.bytes`: the RocksDB block cache of each instance, shared by all its
/// RocksDB stores (default 50 MiB). Kafka Streams gives each store a cache of its own unless a
/// `rocksdb.config.setter` shares one; here sharing is the default, so the data blocks
/// of all stores share one budget. Each store's write buffers (memtables) and index and filter
/// blocks are outside it: RocksDB memory still grows with the number of stores. A
/// [`RocksDbConfigSetter`](crate::state::RocksDbConfigSetter) may still give a store another cache.
pub const ROCKSDB_BLOCK_CACHE_BYTES: &str = "rocksdb.block.cache.bytes";

/// `replace.thread.backoff.ms`: under the `ReplaceThread` response, how long the first
/// replacement of a failed stream thread waits (default 1000); each further replacement within
/// `replace.thread.window.ms` waits twice as long, up to `replace.thread.backoff.max.ms`.
pub const REPLACE_THREAD_BACKOFF_MS: &str = "replace.thread.backoff.ms";
/// `replace.thread.backoff.max.ms`: the longest wait before replacing a thread (default 60000).
pub const REPLACE_THREAD_BACKOFF_MAX_MS: &str = "replace.thread.backoff.max.ms";
/// `replace.thread.max.replacements`: how many times a stream thread is replaced within
/// `replace.thread.window.ms` (default 5); one more failure in the window shuts the instance
/// down (`State::Error`), as `ShutdownClient` does.
pub const REPLACE_THREAD_MAX_REPLACEMENTS: &str = "replace.thread.max.replacements";
/// `replace.thread.window.ms`: the window over which thread replacements are counted
/// (default 600000, ten minutes).
pub const REPLACE_THREAD_WINDOW_MS: &str = "replace.thread.window.ms";

/// `metrics.recording.level`: which metrics are recorded: `INFO` (default), `DEBUG` or `TRACE`
/// (see [`RecordingLevel`](super::RecordingLevel)). State-store latencies and record-cache hit
/// ratios are recorded from `DEBUG` on, as in Kafka Streams.
pub const METRICS_RECORDING_LEVEL: &str = "metrics.recording.level";

/// Kafka Streams' internal `__emit.interval.ms.kstreams.windowed.aggregation__`: the least
/// wall-clock time between two emissions of closed windows by a windowed aggregation with
/// [`EmitStrategy::on_window_close`](crate::dsl::EmitStrategy::on_window_close) (default 1000).
/// Internal in Kafka Streams too; tests set it to 0 to emit on every record.
pub const EMIT_INTERVAL_MS_KSTREAMS_WINDOWED_AGGREGATION: &str =
    "__emit.interval.ms.kstreams.windowed.aggregation__";

/// `topology.optimization`: `none` (default), `all`, or a comma-separated list of
/// `reuse.ktable.source.topics`, `merge.repartition.topics` and `single.store.self.join` (see
/// [`TopologyOptimizations`](super::TopologyOptimizations)). Applied where the topology is
/// built, by [`StreamsBuilder::build_with`](crate::dsl::StreamsBuilder::build_with).
pub const TOPOLOGY_OPTIMIZATION: &str = "topology.optimization";

pub(super) const STREAMS_KEYS: &[&str] = &[
    TOPOLOGY_OPTIMIZATION,
    EMIT_INTERVAL_MS_KSTREAMS_WINDOWED_AGGREGATION,
    METRICS_RECORDING_LEVEL,
    REPLACE_THREAD_BACKOFF_MS,
    REPLACE_THREAD_BACKOFF_MAX_MS,
    REPLACE_THREAD_MAX_REPLACEMENTS,
    REPLACE_THREAD_WINDOW_MS,
    APPLICATION_ID,
    STATE_DIR,
    COMMIT_INTERVAL_MS,
    NUM_STREAM_THREADS,
    PROCESSING_GUARANTEE,
    NUM_STANDBY_REPLICAS,
    DESERIALIZATION_EXCEPTION_HANDLER,
    DESERIALIZATION_EXCEPTION_HANDLER_NEW,
    PRODUCTION_EXCEPTION_HANDLER_OLD,
    TIMESTAMP_EXTRACTOR,
    PROCESSING_EXCEPTION_HANDLER,
    PRODUCTION_EXCEPTION_HANDLER,
    DEAD_LETTER_QUEUE_TOPIC,
    POLL_MS,
    REPLICATION_FACTOR,
    CACHE_MAX_BYTES,
    UNCOMMITTED_MAX_BYTES,
    ROCKSDB_BLOCK_CACHE_BYTES,
    ROCKSDB_WRITE_BUFFER_BYTES,
    ROCKSDB_MEMORY_BOUND_BYTES,
    MAX_TASK_IDLE_MS,
    BUFFERED_RECORDS_PER_PARTITION,
    INPUT_BUFFER_MAX_BYTES,
    APPLICATION_SERVER,
];

pub(super) const CLIENT_PREFIXES: &[&str] = &[
    "consumer.",
    "producer.",
    "restore.consumer.",
    "admin.",
    TOPIC_PREFIX,
];

/// Kafka Streams' `topic.` prefix: topic configs for the internal topics (changelogs and
/// repartition topics) the application creates, e.g. `topic.segment.bytes`.
pub const TOPIC_PREFIX: &str = "topic.";
