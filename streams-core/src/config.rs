//! [`StreamsConfig`]: Kafka Streams' property names, plus pass-through of any librdkafka
//! property to the clients.
//!
//! Properties that are not Kafka Streams' own go to every client; `consumer.`, `producer.`,
//! `restore.consumer.` and `admin.` prefixes send a property to one kind of client only, as in
//! Kafka Streams.
//!
//! ```
//! use streams_core::StreamsConfig;
//! use std::time::Duration;
//!
//! let mut config = StreamsConfig::new();
//! config
//!     .set("application.id", "fraud-detector")
//!     .set("bootstrap.servers", "localhost:9092")
//!     .set("commit.interval.ms", "1000")
//!     .set("producer.linger.ms", "20");
//! assert_eq!(config.application_id().unwrap(), "fraud-detector");
//! assert_eq!(config.commit_interval().unwrap(), Duration::from_secs(1));
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{DeserializationPolicy, ErrorPolicies, ProcessingPolicy, ProductionPolicy};
use crate::runtime::TopicAdmin;
use crate::state::RocksDbConfigSetter;
use crate::{Error, Result};

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
/// `dead_letter` (see [`DeserializationPolicy`]); Kafka's
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
/// [`ProcessingPolicy`]).
pub const PROCESSING_EXCEPTION_HANDLER: &str = "processing.exception.handler";
/// `production.exception.handler`: what a failed output record does (see
/// [`ProductionPolicy`]).
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
/// `rocksdb.block.cache.bytes`: the RocksDB block cache of each instance, shared by all its
/// RocksDB stores (default 50 MiB). Kafka Streams gives each store a cache of its own unless a
/// `rocksdb.config.setter` shares one; here sharing is the default, so memory stays bounded
/// however many stores and tasks an instance runs. A
/// [`RocksDbConfigSetter`] may still give a store another.
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

const STREAMS_KEYS: &[&str] = &[
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
    ROCKSDB_BLOCK_CACHE_BYTES,
    MAX_TASK_IDLE_MS,
    BUFFERED_RECORDS_PER_PARTITION,
    INPUT_BUFFER_MAX_BYTES,
    APPLICATION_SERVER,
];

const CLIENT_PREFIXES: &[&str] = &[
    "consumer.",
    "producer.",
    "restore.consumer.",
    "admin.",
    TOPIC_PREFIX,
];

/// Kafka Streams' `topic.` prefix: topic configs for the internal topics (changelogs and
/// repartition topics) the application creates, e.g. `topic.segment.bytes`.
pub const TOPIC_PREFIX: &str = "topic.";

/// The kind of Kafka client a property is meant for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ClientKind {
    Consumer,
    Producer,
    RestoreConsumer,
    Admin,
}

impl ClientKind {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            ClientKind::Consumer => "consumer.",
            ClientKind::Producer => "producer.",
            ClientKind::RestoreConsumer => "restore.consumer.",
            ClientKind::Admin => "admin.",
        }
    }
}

/// How failed stream threads are replaced under `UncaughtErrorResponse::ReplaceThread`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReplacementPolicy {
    /// The wait before the first replacement in a window.
    pub(crate) backoff: Duration,
    /// The longest wait.
    pub(crate) max_backoff: Duration,
    /// Replacements allowed within `window`; the next failure shuts the instance down.
    pub(crate) max_replacements: usize,
    pub(crate) window: Duration,
}

impl ReplacementPolicy {
    /// The wait before a replacement when `recent` replacements happened within the window
    /// (`None`: no more replacements).
    pub(crate) fn wait_before(&self, recent: usize) -> Option<Duration> {
        if recent >= self.max_replacements {
            return None;
        }
        let factor = 1u32
            .checked_shl(u32::try_from(recent).unwrap_or(u32::MAX))
            .unwrap_or(u32::MAX);
        Some(self.backoff.saturating_mul(factor).min(self.max_backoff))
    }
}

/// Configuration of a streams application.
#[derive(Clone, Default)]
pub struct StreamsConfig {
    props: BTreeMap<String, String>,
    registry: Option<prometheus::Registry>,
    topic_admin: Option<Arc<dyn TopicAdmin>>,
    rocksdb_config_setter: Option<Arc<dyn RocksDbConfigSetter>>,
}

impl std::fmt::Debug for StreamsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsConfig")
            .field("props", &self.props)
            .field("metrics_registry", &self.registry.is_some())
            .field("topic_admin", &self.topic_admin.is_some())
            .field(
                "rocksdb_config_setter",
                &self.rocksdb_config_setter.is_some(),
            )
            .finish()
    }
}

impl StreamsConfig {
    /// An empty configuration.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets property `key` to `value`.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.props.insert(key.into(), value.into());
        self
    }

    /// Removes property `key`.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.props.remove(key);
        self
    }

    /// The value of property `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.props.get(key).map(String::as_str)
    }

    /// The value of a property Kafka Streams spells two ways (`names`): whichever is set; an
    /// error if both are, with different values.
    pub(crate) fn get_either(
        &self,
        names: [&'static str; 2],
    ) -> Result<Option<(&'static str, &str)>> {
        match (self.get(names[0]), self.get(names[1])) {
            (Some(a), Some(b)) if a != b => Err(Error::Config {
                key: names[0].into(),
                reason: format!(
                    "is `{a}` but its other name `{}` is `{b}`: set one of them",
                    names[1]
                ),
            }),
            (Some(a), _) => Ok(Some((names[0], a))),
            (None, Some(b)) => Ok(Some((names[1], b))),
            (None, None) => Ok(None),
        }
    }

    /// A configuration read from a Java `.properties` file, as Kafka Streams applications
    /// keep theirs (`key=value` or `key: value` lines, `#` and `!` comments, `\`
    /// continuations and escapes).
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("app.properties");
    /// std::fs::write(&path, "application.id=fraud-detector\nbootstrap.servers: broker1:9092\n")?;
    /// let config = streams_core::StreamsConfig::from_properties_file(&path)?;
    /// assert_eq!(config.get("bootstrap.servers"), Some("broker1:9092"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_properties_file(path: impl AsRef<std::path::Path>) -> Result<Self> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| Error::Config {
            key: path.display().to_string(),
            reason: format!("cannot open the properties file: {e}"),
        })?;
        let props =
            java_properties::read(std::io::BufReader::new(file)).map_err(|e| Error::Config {
                key: path.display().to_string(),
                reason: format!("not a properties file: {e}"),
            })?;
        let mut config = StreamsConfig::new();
        for (key, value) in props {
            config.set(key, value);
        }
        Ok(config)
    }

    /// Sets every property named by an environment variable starting with `prefix`: the rest
    /// of the name, lower-cased, with `_` for `.` (`STREAMS_BOOTSTRAP_SERVERS` →
    /// `bootstrap.servers` for the prefix `STREAMS_`), as container platforms pass settings.
    /// Variables override what is already set.
    pub fn set_from_env(&mut self, prefix: &str) -> &mut Self {
        self.set_from_vars(prefix, std::env::vars())
    }

    fn set_from_vars(
        &mut self,
        prefix: &str,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> &mut Self {
        for (name, value) in vars {
            if let Some(rest) = name.strip_prefix(prefix).filter(|r| !r.is_empty()) {
                self.set(rest.to_ascii_lowercase().replace('_', "."), value);
            }
        }
        self
    }

    /// Registers the application's metrics in `registry` when it starts.
    pub fn set_metrics_registry(&mut self, registry: prometheus::Registry) -> &mut Self {
        self.registry = Some(registry);
        self
    }

    /// Creates internal topics through `admin` instead of Kafka's admin API: the embedded
    /// broker's seam (its admin API is incomplete), installed by `EmbeddedBroker::configure`.
    #[cfg(feature = "embedded")]
    pub(crate) fn set_topic_admin(&mut self, admin: Arc<dyn TopicAdmin>) -> &mut Self {
        self.topic_admin = Some(admin);
        self
    }

    /// Tunes each RocksDB store the application opens (Kafka Streams'
    /// `rocksdb.config.setter`): see [`RocksDbConfigSetter`]. The stores of an instance share
    /// one block cache of [`ROCKSDB_BLOCK_CACHE_BYTES`], which `setter` sees in the options.
    pub fn set_rocksdb_config_setter(&mut self, setter: Arc<dyn RocksDbConfigSetter>) -> &mut Self {
        self.rocksdb_config_setter = Some(setter);
        self
    }

    pub(crate) fn rocksdb_config_setter(&self) -> Option<&Arc<dyn RocksDbConfigSetter>> {
        self.rocksdb_config_setter.as_ref()
    }

    pub(crate) fn metrics_registry(&self) -> Option<&prometheus::Registry> {
        self.registry.as_ref()
    }

    pub(crate) fn topic_admin(&self) -> Option<&Arc<dyn TopicAdmin>> {
        self.topic_admin.as_ref()
    }

    fn parse<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T> {
        match self.get(key) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|_| Error::Config {
                key: key.to_string(),
                reason: format!("`{raw}` is not a valid value"),
            }),
        }
    }

    /// `application.id`.
    pub fn application_id(&self) -> Result<&str> {
        let id = self.get(APPLICATION_ID).ok_or_else(|| Error::Config {
            key: APPLICATION_ID.into(),
            reason: "is required".into(),
        })?;
        // It names the consumer group, prefixes every internal topic and is a directory under
        // `state.dir`: Kafka's topic-name rules keep all three valid.
        if let Some(reason) = crate::topology::names::topic_name_problem(id) {
            return Err(Error::Config {
                key: APPLICATION_ID.into(),
                reason: format!("`{id}` is not a valid Kafka name: {reason}"),
            });
        }
        Ok(id)
    }

    /// `bootstrap.servers`, if set.
    pub fn bootstrap_servers(&self) -> Option<&str> {
        self.get(BOOTSTRAP_SERVERS)
    }

    /// `state.dir`.
    pub fn state_dir(&self) -> PathBuf {
        self.get(STATE_DIR)
            .map(PathBuf::from)
            .unwrap_or_else(|| std::env::temp_dir().join("kafka-streams"))
    }

    /// `commit.interval.ms`: 30 s by default, 100 ms under exactly-once (as in Kafka Streams).
    pub fn commit_interval(&self) -> Result<Duration> {
        let default = if self.exactly_once()? { 100 } else { 30_000u64 };
        self.parse(COMMIT_INTERVAL_MS, default)
            .map(Duration::from_millis)
    }

    /// `poll.ms`.
    pub fn poll_interval(&self) -> Result<Duration> {
        self.parse(POLL_MS, 100u64).map(Duration::from_millis)
    }

    /// `num.stream.threads`.
    pub fn num_stream_threads(&self) -> Result<usize> {
        let n = self.parse(NUM_STREAM_THREADS, 1usize)?;
        if n == 0 {
            return Err(Error::Config {
                key: NUM_STREAM_THREADS.into(),
                reason: "must be at least 1".into(),
            });
        }
        Ok(n)
    }

    /// `statestore.cache.max.bytes`.
    pub fn cache_max_bytes(&self) -> Result<usize> {
        self.parse(CACHE_MAX_BYTES, 10 * 1024 * 1024usize)
    }

    /// `rocksdb.block.cache.bytes`: the block cache each instance's RocksDB stores share
    /// (default 50 MiB).
    pub fn rocksdb_block_cache_bytes(&self) -> Result<usize> {
        self.parse(
            ROCKSDB_BLOCK_CACHE_BYTES,
            streams_state::DEFAULT_BLOCK_CACHE_BYTES,
        )
    }

    /// `num.standby.replicas` (default 0).
    pub fn num_standby_replicas(&self) -> Result<usize> {
        self.parse(NUM_STANDBY_REPLICAS, 0usize)
    }

    /// `max.task.idle.ms`: how long a task with an empty, caught-up input partition waits for
    /// data before processing its other partitions (default 0; -1 never waits, not even for
    /// data on the broker not yet fetched).
    pub fn max_task_idle_ms(&self) -> Result<i64> {
        self.parse(MAX_TASK_IDLE_MS, 0i64)
    }

    /// `buffered.records.per.partition` (at least 1), `None` when not set: as in Kafka Streams
    /// since 3.4, only an explicit setting limits each partition's buffer.
    pub fn buffered_records_per_partition(&self) -> Result<Option<usize>> {
        if self.get(BUFFERED_RECORDS_PER_PARTITION).is_none() {
            return Ok(None);
        }
        Ok(Some(
            self.parse(BUFFERED_RECORDS_PER_PARTITION, 1usize)?.max(1),
        ))
    }

    /// `application.server`, when set.
    pub fn application_server(&self) -> Result<Option<crate::runtime::HostInfo>> {
        self.get(APPLICATION_SERVER).map(str::parse).transpose()
    }

    /// `input.buffer.max.bytes` (default 512 MiB), for the whole instance.
    pub fn input_buffer_max_bytes(&self) -> Result<usize> {
        self.parse(INPUT_BUFFER_MAX_BYTES, 512 * 1024 * 1024usize)
    }

    /// How failed stream threads are replaced (the `replace.thread.*` properties).
    pub(crate) fn replacement_policy(&self) -> Result<ReplacementPolicy> {
        let policy = ReplacementPolicy {
            backoff: Duration::from_millis(self.parse(REPLACE_THREAD_BACKOFF_MS, 1000u64)?),
            max_backoff: Duration::from_millis(
                self.parse(REPLACE_THREAD_BACKOFF_MAX_MS, 60_000u64)?,
            ),
            max_replacements: self.parse(REPLACE_THREAD_MAX_REPLACEMENTS, 5usize)?,
            window: Duration::from_millis(self.parse(REPLACE_THREAD_WINDOW_MS, 600_000u64)?),
        };
        if policy.max_backoff < policy.backoff {
            return Err(Error::Config {
                key: REPLACE_THREAD_BACKOFF_MAX_MS.into(),
                reason: format!(
                    "must be at least {REPLACE_THREAD_BACKOFF_MS} ({} ms)",
                    policy.backoff.as_millis()
                ),
            });
        }
        Ok(policy)
    }

    /// `replication.factor` for internal topics.
    pub fn replication_factor(&self) -> Result<i32> {
        self.parse(REPLICATION_FACTOR, -1i32)
    }

    /// `processing.guarantee`: whether it is `exactly_once_v2` (else `at_least_once`, the
    /// default).
    pub fn exactly_once(&self) -> Result<bool> {
        match self.get(PROCESSING_GUARANTEE).unwrap_or("at_least_once") {
            "at_least_once" => Ok(false),
            "exactly_once_v2" => Ok(true),
            other @ ("exactly_once" | "exactly_once_beta") => Err(Error::Config {
                key: PROCESSING_GUARANTEE.into(),
                reason: format!("`{other}` is retired in Kafka Streams; use exactly_once_v2"),
            }),
            other => Err(Error::Config {
                key: PROCESSING_GUARANTEE.into(),
                reason: format!("`{other}` is not at_least_once or exactly_once_v2"),
            }),
        }
    }

    /// Checks `processing.guarantee`.
    pub fn check_processing_guarantee(&self) -> Result<()> {
        self.exactly_once().map(|_| ())
    }

    /// `default.deserialization.exception.handler`: `fail` (default), `log_and_continue` or
    /// `dead_letter` (Kafka Streams' handler class names are accepted too).
    pub fn deserialization_policy(&self) -> Result<DeserializationPolicy> {
        Ok(self.error_policies()?.deserialization)
    }

    /// `processing.exception.handler`: `fail` (default), `log_and_continue` or `dead_letter`.
    pub fn processing_policy(&self) -> Result<ProcessingPolicy> {
        Ok(self.error_policies()?.processing)
    }

    /// `production.exception.handler`: `fail` (default) or `continue`.
    pub fn production_policy(&self) -> Result<ProductionPolicy> {
        Ok(self.error_policies()?.production)
    }

    /// `errors.dead.letter.queue.topic.name`, if set.
    pub fn dead_letter_topic(&self) -> Option<&str> {
        self.get(DEAD_LETTER_QUEUE_TOPIC).filter(|t| !t.is_empty())
    }

    /// Topic configs for the internal topics this application creates: every property with
    /// the `topic.` prefix, without it (Kafka Streams' `topicPrefix`). A changelog's
    /// `cleanup.policy` is not taken from here: a store needs its own.
    pub fn internal_topic_configs(&self) -> Vec<(String, String)> {
        self.props
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(TOPIC_PREFIX)?.to_string(), v.clone())))
            .filter(|(k, _)| !k.is_empty() && k != "cleanup.policy")
            .collect()
    }

    pub(crate) fn error_policies(&self) -> Result<ErrorPolicies> {
        ErrorPolicies::from_config(self)
    }

    /// librdkafka properties for one kind of client: every property that is not Kafka Streams'
    /// own and has no client prefix, then the ones with this client's prefix (which win).
    pub(crate) fn client_properties(&self, kind: ClientKind) -> BTreeMap<String, String> {
        let mut props = BTreeMap::new();
        for (key, value) in &self.props {
            let prefixed = CLIENT_PREFIXES.iter().any(|p| key.starts_with(p));
            if !prefixed && !STREAMS_KEYS.contains(&key.as_str()) {
                props.insert(key.clone(), value.clone());
            }
        }
        for (key, value) in &self.props {
            if let Some(stripped) = key.strip_prefix(kind.prefix()) {
                props.insert(stripped.to_string(), value.clone());
            }
        }
        if self.exactly_once().unwrap_or(false)
            && matches!(kind, ClientKind::Consumer | ClientKind::RestoreConsumer)
        {
            // Exactly-once reads only committed transactions: inputs, repartition topics,
            // changelogs on restore.
            props.insert("isolation.level".into(), "read_committed".into());
        }
        if kind == ClientKind::RestoreConsumer {
            // librdkafka stops fetching a partition for `fetch.queue.backoff.ms` (1 s) whenever
            // its fetch queue is full; a bulk reader empties it in milliseconds, so the wait,
            // not RocksDB, set the pace of restoration (200,000 records: 1.17 s, 0.23 s at 10).
            props
                .entry("fetch.queue.backoff.ms".into())
                .or_insert_with(|| "10".into());
        }
        props
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_consumers_do_not_back_off_a_second_when_their_queue_fills() {
        let mut config = StreamsConfig::new();
        let backoff = |config: &StreamsConfig, kind| {
            config
                .client_properties(kind)
                .get("fetch.queue.backoff.ms")
                .cloned()
        };
        assert_eq!(
            backoff(&config, ClientKind::RestoreConsumer).as_deref(),
            Some("10")
        );
        assert_eq!(backoff(&config, ClientKind::Consumer), None);
        config.set("restore.consumer.fetch.queue.backoff.ms", "500");
        assert_eq!(
            backoff(&config, ClientKind::RestoreConsumer).as_deref(),
            Some("500"),
            "the user's setting wins"
        );
    }

    #[test]
    fn environment_variables_name_properties() {
        let mut config = StreamsConfig::new();
        config.set("application.id", "from-file");
        config.set_from_vars(
            "STREAMS_",
            [
                ("STREAMS_APPLICATION_ID".to_string(), "from-env".to_string()),
                (
                    "STREAMS_CONSUMER_SESSION_TIMEOUT_MS".to_string(),
                    "6000".to_string(),
                ),
                ("STREAMS_".to_string(), "ignored".to_string()),
                ("HOME".to_string(), "/root".to_string()),
            ],
        );
        assert_eq!(config.get("application.id"), Some("from-env"));
        assert_eq!(config.get("consumer.session.timeout.ms"), Some("6000"));
        assert_eq!(config.get("home"), None);
    }

    #[test]
    fn a_properties_file_with_comments_continuations_and_escapes() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("app.properties");
        std::fs::write(
            &path,
            "# fraud detector\n! another comment\napplication.id = fraud\nbootstrap.servers: a:9092,\\\n    b:9092\nsasl.password=p\\=q\n",
        )
        .expect("write");
        let config = StreamsConfig::from_properties_file(&path).expect("read");
        assert_eq!(config.get("application.id"), Some("fraud"));
        assert_eq!(config.get("bootstrap.servers"), Some("a:9092,b:9092"));
        assert_eq!(config.get("sasl.password"), Some("p=q"));
        assert!(
            StreamsConfig::from_properties_file(dir.path().join("missing"))
                .is_err_and(|e| e.to_string().contains("missing")),
            "a missing file is named"
        );
    }

    #[test]
    fn topic_prefixed_properties_configure_internal_topics_only() {
        let mut config = StreamsConfig::new();
        config
            .set("topic.segment.bytes", "1048576")
            .set("topic.cleanup.policy", "delete")
            .set("errors.dead.letter.queue.topic.name", "dlq");
        assert_eq!(
            config.internal_topic_configs(),
            vec![("segment.bytes".to_string(), "1048576".to_string())]
        );
        assert!(
            !config
                .client_properties(ClientKind::Consumer)
                .contains_key("topic.segment.bytes"),
            "topic configs are not client properties"
        );
    }

    #[test]
    fn client_properties_pass_through_and_prefixes_win() {
        let mut config = StreamsConfig::new();
        config
            .set("application.id", "app")
            .set("bootstrap.servers", "b:9092")
            .set("linger.ms", "5")
            .set("producer.linger.ms", "50")
            .set("consumer.fetch.min.bytes", "10")
            .set("restore.consumer.fetch.min.bytes", "99");
        let producer = config.client_properties(ClientKind::Producer);
        assert_eq!(producer.get("linger.ms").map(String::as_str), Some("50"));
        assert_eq!(
            producer.get("bootstrap.servers").map(String::as_str),
            Some("b:9092")
        );
        assert!(!producer.contains_key("application.id"));
        assert!(!producer.contains_key("fetch.min.bytes"));
        let consumer = config.client_properties(ClientKind::Consumer);
        assert_eq!(
            consumer.get("fetch.min.bytes").map(String::as_str),
            Some("10")
        );
        assert_eq!(consumer.get("linger.ms").map(String::as_str), Some("5"));
        let restore = config.client_properties(ClientKind::RestoreConsumer);
        assert_eq!(
            restore.get("fetch.min.bytes").map(String::as_str),
            Some("99")
        );
    }

    #[test]
    fn the_rocksdb_block_cache_size_is_ours_not_a_client_property() {
        let mut config = StreamsConfig::new();
        assert_eq!(
            config.rocksdb_block_cache_bytes().expect("default"),
            50 * 1024 * 1024
        );
        config.set(ROCKSDB_BLOCK_CACHE_BYTES, "1048576");
        assert_eq!(config.rocksdb_block_cache_bytes().expect("set"), 1 << 20);
        assert!(
            !config
                .client_properties(ClientKind::Consumer)
                .contains_key(ROCKSDB_BLOCK_CACHE_BYTES)
        );
        config.set(ROCKSDB_BLOCK_CACHE_BYTES, "lots");
        assert!(config.rocksdb_block_cache_bytes().is_err());
    }

    #[test]
    fn thread_replacement_backs_off_exponentially_up_to_a_cap() {
        let mut config = StreamsConfig::new();
        let p = config.replacement_policy().expect("defaults");
        assert_eq!(p.wait_before(0), Some(Duration::from_secs(1)));
        assert_eq!(p.wait_before(1), Some(Duration::from_secs(2)));
        assert_eq!(p.wait_before(4), Some(Duration::from_secs(16)));
        assert_eq!(
            p.wait_before(5),
            None,
            "five replacements per window by default"
        );
        config
            .set(REPLACE_THREAD_BACKOFF_MS, "10000")
            .set(REPLACE_THREAD_MAX_REPLACEMENTS, "100");
        let p = config.replacement_policy().expect("valid");
        assert_eq!(p.wait_before(3), Some(Duration::from_secs(60)), "capped");
        assert_eq!(
            p.wait_before(64),
            Some(Duration::from_secs(60)),
            "no overflow"
        );
        config.set(REPLACE_THREAD_BACKOFF_MAX_MS, "5");
        assert!(config.replacement_policy().is_err());
    }

    #[test]
    fn validates_values() {
        let mut config = StreamsConfig::new();
        assert!(config.application_id().is_err());
        for bad in ["bad id", ".", "..", "a/b", "../x", ""] {
            config.set("application.id", bad);
            assert!(config.application_id().is_err(), "{bad:?} accepted");
        }
        config
            .set("application.id", "ok-id_1.2")
            .set("commit.interval.ms", "soon");
        assert!(config.application_id().is_ok());
        assert!(matches!(
            config.commit_interval(),
            Err(Error::Config { .. })
        ));
        config.set(
            "default.deserialization.exception.handler",
            "LogAndContinueExceptionHandler",
        );
        assert_eq!(
            config.deserialization_policy().unwrap(),
            DeserializationPolicy::LogAndContinue
        );
        config.set("num.stream.threads", "0");
        assert!(config.num_stream_threads().is_err());
    }
}
