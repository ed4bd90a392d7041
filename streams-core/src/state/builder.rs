//! [`StoreBuilder`]: the description of a key-value store, from which each task opens its own.

use std::any::Any;
use std::cell::Cell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use streams_state::{
    ChangeLoggingKeyValueStore, ChangelogSink, InMemoryKeyValueStore, KeyValueStore,
    RocksDbKeyValueStore,
};

use crate::processor::Headers;
use crate::runtime::RecordCollector;
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

/// Describes a key-value store: its name, key and value serdes, engine, and whether changes
/// are logged to a compacted changelog topic (`<application.id>-<name>-changelog`).
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
    engine: StoreEngine,
    logging: bool,
    key_serde: Arc<dyn Any + Send + Sync>,
    value_serde: Arc<dyn Any + Send + Sync>,
    types: TypePair,
}

impl std::fmt::Debug for StoreBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreBuilder")
            .field("name", &self.name)
            .field("engine", &self.engine)
            .field("logging", &self.logging)
            .field("types", &format_args!("{}", self.types))
            .finish()
    }
}

impl StoreBuilder {
    /// A logged RocksDB key-value store named `name`.
    pub fn key_value<K: 'static, V: 'static>(
        name: impl Into<String>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        StoreBuilder {
            name: name.into(),
            engine: StoreEngine::default(),
            logging: true,
            key_serde: Arc::new(key_serde),
            value_serde: Arc::new(value_serde),
            types: TypePair::of::<K, V>(),
        }
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

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store's engine.
    pub fn engine(&self) -> StoreEngine {
        self.engine
    }

    /// Whether changes go to a changelog topic.
    pub fn logging_enabled(&self) -> bool {
        self.logging
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

    /// Opens this store for one task: the engine under `task_dir`, wrapped in the changelogging
    /// layer when logging is on.
    pub(crate) fn open(
        &self,
        task_dir: &Path,
        changelog: Option<ChangelogTarget>,
    ) -> Result<Box<dyn KeyValueStore>, streams_state::Error> {
        let engine: Box<dyn KeyValueStore> = match self.engine {
            StoreEngine::RocksDb => Box::new(RocksDbKeyValueStore::open(
                &self.name,
                task_dir.join("rocksdb").join(&self.name),
            )?),
            StoreEngine::InMemory => Box::new(InMemoryKeyValueStore::new(&self.name)),
        };
        Ok(match changelog {
            Some(target) if self.logging => {
                Box::new(ChangeLoggingKeyValueStore::new(engine, Box::new(target)))
            }
            _ => engine,
        })
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
    fn send(&self, store: &str, key: &[u8], value: Option<&[u8]>) -> streams_state::Result<()> {
        self.collector
            .send(
                &self.topic,
                Some(self.partition),
                Some(key),
                value,
                self.timestamp.get(),
                &Headers::new(),
            )
            .map_err(|e| streams_state::Error::Changelog {
                store: store.to_string(),
                reason: e.to_string(),
            })
    }
}
