//! [`StoreBuilder`]: the description of a store, from which each task opens its own instance.

use std::any::Any;
use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use streams_state::{
    CacheBudget, CacheObserver, CachingKeyValueStore, ChangeLoggingKeyValueStore, ChangelogSink,
    InMemoryKeyValueStore, KeyValueStore, RocksDbKeyValueStore, RocksDbOptions, SessionStore,
    StoreTransaction, VersionedStore, WindowStore,
};

use super::RocksDbEnv;
use super::instance::StoreInstance;
use super::metered::MeteredKeyValueStore;
use crate::processor::Headers;
use crate::runtime::{RecordCollector, StoreMetrics};
use crate::serde::SharedSerde;
use crate::topology::node::TypePair;
use crate::{Error, Result};

/// Where a store keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum StoreEngine {
    /// RocksDB on disk under `state.dir` (the default).
    #[default]
    RocksDb,
    /// A sorted map in memory, rebuilt from the changelog on restart.
    InMemory,
}

/// The shape of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreKind {
    /// Values by key. A timestamped store keeps each value's timestamp with it.
    KeyValue {
        /// Whether values carry their timestamp.
        timestamped: bool,
    },
    /// Values by key and window start.
    Window {
        /// How long windows are kept, in ms.
        retention_ms: i64,
        /// Whether every put adds an entry (join buffers) instead of replacing.
        retain_duplicates: bool,
    },
    /// Values by key and session.
    Session {
        /// How long sessions are kept after they end, in ms.
        retention_ms: i64,
    },
    /// Every key's values by timestamp (Kafka Streams' versioned key-value store, KIP-889).
    Versioned {
        /// How long older versions stay queryable, in ms; also how late a put may arrive.
        history_retention_ms: i64,
        /// The size of the segments older versions are kept in, in ms.
        segment_interval_ms: i64,
    },
}

/// Describes a store: name, kind, key and value serdes, engine, changelogging (to the compacted
/// topic `<application.id>-<name>-changelog`) and record caching.
///
/// ```
/// use streams_core::serde::Serdes;
/// use streams_core::state::{StoreBuilder, StoreEngine};
///
/// let store = StoreBuilder::key_value("seen", Serdes::string(), Serdes::u64())
///     .with_engine(StoreEngine::InMemory);
/// assert_eq!(store.name(), "seen");
/// assert!(store.logging_enabled());
/// ```
#[derive(Clone)]
pub struct StoreBuilder {
    name: String,
    kind: StoreKind,
    engine: StoreEngine,
    logging: bool,
    caching: bool,
    /// Window store values start with their timestamp (the DSL's windowed aggregations).
    timestamped_values: bool,
    key_serde: Arc<dyn Any + Send + Sync>,
    value_serde: Arc<dyn Any + Send + Sync>,
    types: TypePair,
}

impl std::fmt::Debug for StoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBuilder")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("engine", &self.engine)
            .field("logging", &self.logging)
            .field("caching", &self.caching)
            .field("types", &format_args!("{}", self.types))
            .finish()
    }
}

impl StoreBuilder {
    fn new<K: 'static, V: 'static>(
        name: impl Into<String>,
        kind: StoreKind,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        StoreBuilder {
            name: name.into(),
            kind,
            engine: StoreEngine::default(),
            logging: true,
            caching: false,
            timestamped_values: false,
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
            types: TypePair::of::<K, V>(),
        }
    }

    /// A logged key-value store named `name`.
    pub fn key_value<K: 'static, V: 'static>(
        name: impl Into<String>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        Self::new(
            name,
            StoreKind::KeyValue { timestamped: false },
            key_serde,
            value_serde,
        )
    }

    /// A logged key-value store whose values carry their timestamp (as the DSL's tables do).
    pub fn timestamped_key_value<K: 'static, V: 'static>(
        name: impl Into<String>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        Self::new(
            name,
            StoreKind::KeyValue { timestamped: true },
            key_serde,
            value_serde,
        )
    }

    /// A logged window store keeping windows for `retention`; with `retain_duplicates`, every
    /// put adds an entry rather than replacing the window's value.
    pub fn window<K: 'static, V: 'static>(
        name: impl Into<String>,
        retention: Duration,
        retain_duplicates: bool,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        let kind = StoreKind::Window {
            retention_ms: duration_ms(retention),
            retain_duplicates,
        };
        Self::new(name, kind, key_serde, value_serde)
    }

    /// A logged session store keeping sessions for `retention` after they end.
    pub fn session<K: 'static, V: 'static>(
        name: impl Into<String>,
        retention: Duration,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        let kind = StoreKind::Session {
            retention_ms: duration_ms(retention),
        };
        Self::new(name, kind, key_serde, value_serde)
    }

    /// A logged versioned key-value store (Kafka Streams'
    /// `Stores.persistentVersionedKeyValueStore(name, historyRetention)`): every key keeps its
    /// values by timestamp for `history_retention`, which is also how late a put may be (older
    /// puts are refused). Older versions are kept in segments of Kafka Streams' default
    /// interval for that retention (see [`with_segment_interval`](Self::with_segment_interval)).
    /// Processors open it with
    /// [`ProcessorContext::versioned_key_value_store`](crate::processor::ProcessorContext::versioned_key_value_store).
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::serde::Serdes;
    /// use streams_core::state::{StoreBuilder, StoreKind};
    ///
    /// let rates = StoreBuilder::versioned_key_value("rates", Duration::from_secs(3600), Serdes::string(), Serdes::i64());
    /// assert_eq!(
    ///     rates.kind(),
    ///     StoreKind::Versioned { history_retention_ms: 3_600_000, segment_interval_ms: 300_000 }
    /// );
    /// ```
    pub fn versioned_key_value<K: 'static, V: 'static>(
        name: impl Into<String>,
        history_retention: Duration,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        let history_retention_ms = duration_ms(history_retention);
        let kind = StoreKind::Versioned {
            history_retention_ms,
            segment_interval_ms: streams_state::default_segment_interval(history_retention_ms),
        };
        Self::new(name, kind, key_serde, value_serde)
    }

    /// Keeps a versioned store's older versions in segments of `interval` (Kafka Streams'
    /// `persistentVersionedKeyValueStore(name, historyRetention, segmentInterval)`): larger
    /// segments mean fewer lookups for old versions, smaller ones free space sooner. Only
    /// performance depends on it; changing it needs the store's local state wiped. No effect on
    /// other kinds of store.
    pub fn with_segment_interval(mut self, interval: Duration) -> Self {
        if let StoreKind::Versioned {
            segment_interval_ms,
            ..
        } = &mut self.kind
        {
            *segment_interval_ms = duration_ms(interval).max(1);
        }
        self
    }

    /// Chooses the engine.
    pub fn with_engine(mut self, engine: StoreEngine) -> Self {
        self.engine = engine;
        self
    }

    /// Turns the changelog off: the store is then lost with its state directory.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// Puts a record cache in front of the store (sized by `statestore.cache.max.bytes`; off
    /// when that is 0): updates of a key (a window, a session) between commits become one
    /// write, one changelog record and, for the DSL's aggregations, one downstream update. A
    /// window store keeping duplicates is never cached, and versioned stores have no record
    /// cache, as in Kafka Streams: for them this does nothing.
    pub fn with_caching_enabled(mut self) -> Self {
        self.caching = true;
        self
    }

    /// Window store values start with their 8-byte timestamp, as the DSL's windowed
    /// aggregations keep them: changelog records are stamped with it (as Kafka Streams'
    /// timestamped window stores do).
    pub(crate) fn with_timestamped_values(mut self) -> Self {
        self.timestamped_values = true;
        self
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store's kind.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// The store's engine.
    pub fn engine(&self) -> StoreEngine {
        self.engine
    }

    /// Whether changes go to a changelog topic.
    pub fn logging_enabled(&self) -> bool {
        self.logging
    }

    /// Whether a record cache is requested.
    pub fn caching_enabled(&self) -> bool {
        self.caching
    }

    /// Whether the store, opened with a cache budget, gets a record cache: caching requested,
    /// and not a window store keeping duplicates.
    pub(crate) fn cacheable(&self) -> bool {
        self.caching
            && !matches!(
                self.kind,
                StoreKind::Window {
                    retain_duplicates: true,
                    ..
                }
            )
    }

    pub(crate) fn is_timestamped(&self) -> bool {
        matches!(self.kind, StoreKind::KeyValue { timestamped: true })
    }

    pub(crate) fn serdes<K: 'static, V: 'static>(
        &self,
    ) -> Result<(SharedSerde<K>, SharedSerde<V>)> {
        let wrong = || Error::StoreAccess {
            name: self.name.clone(),
            reason: format!(
                "it holds {} but was asked for {}",
                self.types,
                TypePair::of::<K, V>()
            ),
        };
        let key = self
            .key_serde
            .downcast_ref::<SharedSerde<K>>()
            .ok_or_else(wrong)?;
        let value = self
            .value_serde
            .downcast_ref::<SharedSerde<V>>()
            .ok_or_else(wrong)?;
        Ok((key.clone(), value.clone()))
    }

    /// Opens the engine under `task_dir`; a RocksDB store with the options `rocksdb` gives
    /// it (the instance's shared block cache and setter), or the defaults.
    ///
    /// `transactional` (exactly-once): a RocksDB engine keeps its writes in memory until the
    /// returned [`StoreTransaction`] commits them.
    fn open_engine(
        &self,
        task_dir: &Path,
        rocksdb: &RocksDbEnv,
        transactional: bool,
    ) -> Result<(Box<dyn KeyValueStore>, Option<StoreTransaction>), streams_state::Error> {
        Ok(match self.engine {
            StoreEngine::RocksDb => {
                let path = crate::topology::names::child_dir(&task_dir.join("rocksdb"), &self.name)
                    .map_err(|e| streams_state::Error::Io {
                        path: task_dir.join("rocksdb"),
                        source: e,
                    })?;
                let options = rocksdb.options_for(&self.name);
                let store = open_rocksdb_retrying(&self.name, &path, &options, transactional)?;
                (Box::new(store.0), store.1)
            }
            StoreEngine::InMemory => (Box::new(InMemoryKeyValueStore::new(&self.name)), None),
        })
    }

    /// Opens this store as a global store under `dir` (no changelog: its topic is its log).
    pub(crate) fn open_global(
        &self,
        dir: &Path,
        rocksdb: &RocksDbEnv,
    ) -> Result<Box<dyn KeyValueStore>, streams_state::Error> {
        Ok(self.open_engine(dir, rocksdb, false)?.0)
    }

    /// Opens this store for one task: the engine under `task_dir` (RocksDB with `rocksdb`'s
    /// options), wrapped in the changelogging layer when logging is on, in the record cache
    /// when caching is on and `cache` is given, and in the metered layer when `metrics` are
    /// given (`metrics.recording.level=DEBUG`): outermost for a key-value store, around the
    /// engine for window and session stores. Window and session stores read back the times
    /// they had reached (their data may be from an earlier run).
    ///
    /// Under exactly-once (`transactional`) a RocksDB engine is opened transactional, and its
    /// [`StoreTransaction`] returned with the store.
    pub(crate) fn open(
        &self,
        task_dir: &Path,
        changelog: Option<ChangelogTarget>,
        cache: Option<&CacheBudget>,
        rocksdb: &RocksDbEnv,
        metrics: Option<StoreMetrics>,
        transactional: bool,
    ) -> Result<(StoreInstance, Option<StoreTransaction>), streams_state::Error> {
        let (engine, txn) = self.open_engine(task_dir, rocksdb, transactional)?;
        Ok((self.layered(engine, changelog, cache, metrics)?, txn))
    }

    /// The layers of this store over `engine`.
    fn layered(
        &self,
        engine: Box<dyn KeyValueStore>,
        changelog: Option<ChangelogTarget>,
        cache: Option<&CacheBudget>,
        metrics: Option<StoreMetrics>,
    ) -> Result<StoreInstance, streams_state::Error> {
        let sink = changelog
            .filter(|_| self.logging)
            .map(|t| Box::new(t) as Box<dyn ChangelogSink>);
        let cache = cache.filter(|_| self.cacheable());
        Ok(match self.kind {
            StoreKind::KeyValue { timestamped } => {
                let logged: Box<dyn KeyValueStore> = match sink {
                    Some(sink) if timestamped => {
                        Box::new(ChangeLoggingKeyValueStore::timestamped(engine, sink))
                    }
                    Some(sink) => Box::new(ChangeLoggingKeyValueStore::new(engine, sink)),
                    None => engine,
                };
                let store: Box<dyn KeyValueStore> = match cache {
                    Some(budget) => {
                        let cached = CachingKeyValueStore::new(logged, budget.clone());
                        Box::new(match &metrics {
                            Some(m) => cached.with_observer(m.cache_observer()),
                            None => cached,
                        })
                    }
                    None => logged,
                };
                StoreInstance::key_value(match metrics {
                    Some(m) => Box::new(MeteredKeyValueStore::new(store, m)),
                    None => store,
                })
            }
            StoreKind::Window { .. } | StoreKind::Session { .. } => {
                let observer = cache
                    .and(metrics.as_ref())
                    .map(StoreMetrics::cache_observer);
                let engine: Box<dyn KeyValueStore> = match metrics {
                    Some(m) => Box::new(MeteredKeyValueStore::new(engine, m)),
                    None => engine,
                };
                self.windowed(engine, sink, cache, observer)?
            }
            StoreKind::Versioned {
                history_retention_ms,
                segment_interval_ms,
            } => {
                let engine: Box<dyn KeyValueStore> = match metrics {
                    Some(m) => Box::new(MeteredKeyValueStore::new(engine, m)),
                    None => engine,
                };
                let mut store =
                    VersionedStore::open(engine, history_retention_ms, segment_interval_ms)?;
                if let Some(sink) = sink {
                    store = store.with_changelog(sink);
                }
                StoreInstance::versioned(store)
            }
        })
    }

    /// A window or session store over `engine`, logging to `sink`, cached within `cache`.
    fn windowed(
        &self,
        engine: Box<dyn KeyValueStore>,
        sink: Option<Box<dyn ChangelogSink>>,
        cache: Option<&CacheBudget>,
        observer: Option<Box<dyn CacheObserver>>,
    ) -> Result<StoreInstance, streams_state::Error> {
        Ok(match self.kind {
            StoreKind::Window {
                retention_ms,
                retain_duplicates,
            } => {
                let mut store = WindowStore::open(engine, retention_ms, retain_duplicates)?;
                if let Some(sink) = sink {
                    store = store.with_changelog(sink);
                }
                if self.timestamped_values {
                    store = store.with_timestamped_values();
                }
                if let Some(budget) = cache {
                    store = store.with_cache(budget.clone());
                }
                if let Some(observer) = observer {
                    store = store.with_cache_observer(observer);
                }
                StoreInstance::window(store)
            }
            StoreKind::Session { retention_ms } => {
                let mut store = SessionStore::open(engine, retention_ms)?;
                if let Some(sink) = sink {
                    store = store.with_changelog(sink);
                }
                if let Some(budget) = cache {
                    store = store.with_cache(budget.clone());
                }
                if let Some(observer) = observer {
                    store = store.with_cache_observer(observer);
                }
                StoreInstance::session(store)
            }
            StoreKind::KeyValue { .. } | StoreKind::Versioned { .. } => {
                StoreInstance::key_value(engine)
            }
        })
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A store directory released by a task that just closed (a rebalance moving the task within
/// this process) may still be locked for a moment by a query in flight; retry briefly.
fn open_rocksdb_retrying(
    name: &str,
    path: &Path,
    options: &RocksDbOptions,
    transactional: bool,
) -> Result<(RocksDbKeyValueStore, Option<StoreTransaction>), streams_state::Error> {
    let mut attempts = 0;
    loop {
        let opened = if transactional {
            RocksDbKeyValueStore::open_transactional(name, path, options)
                .map(|(store, txn)| (store, Some(txn)))
        } else {
            RocksDbKeyValueStore::open_with(name, path, options).map(|store| (store, None))
        };
        match opened {
            Err(streams_state::Error::RocksDb { ref source, .. })
                if attempts < 100 && source.to_string().to_lowercase().contains("lock") =>
            {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// The changelog partition a task's store writes to, through the task's record collector.
pub(crate) struct ChangelogTarget {
    pub(crate) collector: Rc<dyn RecordCollector>,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    /// The timestamp of the record being processed, stamped on changelog records.
    pub(crate) timestamp: Rc<Cell<i64>>,
}

impl ChangelogSink for ChangelogTarget {
    fn send(
        &self,
        store: &str,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: Option<i64>,
    ) -> streams_state::Result<()> {
        self.collector
            .send(
                &self.topic,
                Some(self.partition),
                Some(key),
                value,
                timestamp.unwrap_or_else(|| self.timestamp.get()),
                &Headers::new(),
            )
            .map_err(|e| streams_state::Error::Changelog {
                store: store.to_string(),
                reason: e.to_string(),
            })
    }
}
