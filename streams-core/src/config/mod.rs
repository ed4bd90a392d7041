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

mod names;
mod optimization;
#[cfg(test)]
mod tests;

pub use names::*;

/// Kafka Streams' internal emission throttles, read once per thread and given to every task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EmitIntervals {
    /// [`EMIT_INTERVAL_MS_KSTREAMS_WINDOWED_AGGREGATION`].
    pub(crate) windowed_aggregation_ms: i64,
}

impl Default for EmitIntervals {
    fn default() -> Self {
        EmitIntervals {
            windowed_aggregation_ms: 1000,
        }
    }
}
use names::{CLIENT_PREFIXES, STREAMS_KEYS};
pub use optimization::{
    MERGE_REPARTITION_TOPICS, NO_OPTIMIZATION, OPTIMIZE, REUSE_KTABLE_SOURCE_TOPICS,
    SINGLE_STORE_SELF_JOIN, TopologyOptimizations,
};

/// Static group membership (KIP-345): each stream thread's consumer joins as
/// `<group.instance.id>-<thread number>`.
pub(crate) const GROUP_INSTANCE_ID: &str = "group.instance.id";

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

/// Which metrics an instance records (`metrics.recording.level`), as in Kafka Streams: each
/// level records its own metrics and those of the levels before it.
///
/// ```
/// use streams_core::StreamsConfig;
/// use streams_core::config::RecordingLevel;
///
/// let mut config = StreamsConfig::new();
/// assert_eq!(config.metrics_recording_level().unwrap(), RecordingLevel::Info);
/// config.set("metrics.recording.level", "DEBUG");
/// assert_eq!(config.metrics_recording_level().unwrap(), RecordingLevel::Debug);
/// assert!(RecordingLevel::Debug.records(RecordingLevel::Info));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[non_exhaustive]
pub enum RecordingLevel {
    /// The default: client, thread, task, restore, RocksDB and consumer-lag metrics. Nothing
    /// is timed per store operation.
    #[default]
    Info,
    /// Adds state-store operation latencies and record-cache hit ratios (each store operation
    /// is timed: the price of this level).
    Debug,
    /// Everything `Debug` records (Kafka Streams adds per-node metrics at this level; there
    /// are none yet).
    Trace,
}

impl RecordingLevel {
    /// Whether an instance at level `self` records metrics of level `metric`.
    pub fn records(self, metric: RecordingLevel) -> bool {
        self >= metric
    }
}

impl std::str::FromStr for RecordingLevel {
    type Err = Error;

    /// Kafka's spelling (`INFO`, `DEBUG`, `TRACE`), in any case.
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "INFO" => Ok(RecordingLevel::Info),
            "DEBUG" => Ok(RecordingLevel::Debug),
            "TRACE" => Ok(RecordingLevel::Trace),
            _ => Err(Error::Config {
                key: METRICS_RECORDING_LEVEL.into(),
                reason: format!("`{s}` is not INFO, DEBUG or TRACE"),
            }),
        }
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

    /// Every property set, by name.
    pub fn properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.props.iter().map(|(k, v)| (k.as_str(), v.as_str()))
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

    pub(crate) fn set_from_vars(
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

    /// Registers the instance's metrics in `registry` (when the instance is built), so that
    /// they are served with yours. Without one the instance makes a registry of its own; either
    /// way [`KafkaStreams::metrics_registry`](crate::KafkaStreams::metrics_registry) returns it.
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

    /// `rocksdb.write.buffer.bytes`: the memtables of the instance's RocksDB stores together
    /// (default 64 MiB).
    pub fn rocksdb_write_buffer_bytes(&self) -> Result<usize> {
        self.parse(ROCKSDB_WRITE_BUFFER_BYTES, 64 * 1024 * 1024usize)
    }

    /// `rocksdb.memory.bound.bytes`: one bound for the block cache and the memtables of the
    /// instance's RocksDB stores, if set.
    pub fn rocksdb_memory_bound_bytes(&self) -> Result<Option<usize>> {
        if self.get(ROCKSDB_MEMORY_BOUND_BYTES).is_none() {
            return Ok(None);
        }
        self.parse(ROCKSDB_MEMORY_BOUND_BYTES, 0usize).map(Some)
    }

    /// `statestore.uncommitted.max.bytes` (default 64 MiB).
    pub fn uncommitted_max_bytes(&self) -> Result<usize> {
        self.parse(UNCOMMITTED_MAX_BYTES, 64 * 1024 * 1024usize)
    }

    /// `rocksdb.block.cache.bytes`: the block cache each instance's RocksDB stores share
    /// (default 50 MiB).
    pub fn rocksdb_block_cache_bytes(&self) -> Result<usize> {
        self.parse(
            ROCKSDB_BLOCK_CACHE_BYTES,
            streams_state::DEFAULT_BLOCK_CACHE_BYTES,
        )
    }

    /// The internal throttles of emissions (Kafka Streams' `__emit.interval.ms…__` configs).
    pub(crate) fn emit_intervals(&self) -> Result<EmitIntervals> {
        Ok(EmitIntervals {
            windowed_aggregation_ms: self
                .parse(EMIT_INTERVAL_MS_KSTREAMS_WINDOWED_AGGREGATION, 1000i64)?
                .max(0),
        })
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

    /// `metrics.recording.level`: `INFO` (default), `DEBUG` or `TRACE`.
    pub fn metrics_recording_level(&self) -> Result<RecordingLevel> {
        self.get(METRICS_RECORDING_LEVEL)
            .map_or(Ok(RecordingLevel::Info), str::parse)
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

    /// Checks `group.instance.id` (static membership), if the main consumer gets one: Kafka
    /// refuses a member id that is empty or not a valid Kafka name, and each thread joins as
    /// `<group.instance.id>-<thread number>`, which must be one too.
    pub fn check_group_instance_id(&self) -> Result<()> {
        let Some(id) = self
            .client_properties(ClientKind::Consumer)
            .remove(GROUP_INSTANCE_ID)
        else {
            return Ok(());
        };
        let threads = self.num_stream_threads()?;
        let problem = crate::topology::names::topic_name_problem(&id).or_else(|| {
            crate::topology::names::topic_name_problem(&format!("{id}-{threads}"))
                .map(|p| format!("with the thread number `-{threads}` added, {p}"))
        });
        match problem {
            Some(reason) => Err(Error::Config {
                key: GROUP_INSTANCE_ID.into(),
                reason: format!("`{id}` is not a valid static member id: {reason}"),
            }),
            None => Ok(()),
        }
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
    /// `group.instance.id` (static membership) goes to the main consumer only, as in Kafka
    /// Streams: the other clients join no group.
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
        if kind != ClientKind::Consumer {
            props.remove(GROUP_INSTANCE_ID);
        }
        props
    }
}
