//! [`KafkaStreamsHandle`]: a cloneable, thread-safe handle on an application instance for its
//! state, its metadata and interactive queries, as Kafka Streams' (thread-safe) `KafkaStreams`
//! object serves them to a query server while another thread owns its lifecycle.

use std::sync::{Arc, OnceLock};

use super::TaskStatus;
use super::instance::{InstanceShared, State};
use super::metadata::{HostInfo, KeyQueryMetadata, StreamsMetadata};
use super::plan::TopicPlan;
use super::query::{
    ReadOnlyKeyValueStoreView, ReadOnlySessionStoreView, ReadOnlyVersionedKeyValueStoreView,
    ReadOnlyWindowStoreView,
};
use crate::state::{GlobalStoreHandle, GlobalStores, StoreBuilder, StoreKind};
use crate::{Error, Result, TaskId, Topology};

/// What the handle and its instance share; the instance fills the cells when it starts.
pub(crate) struct HandleCore {
    pub(crate) topology: Arc<Topology>,
    pub(crate) shared: Arc<InstanceShared>,
    pub(crate) application_server: Option<HostInfo>,
    pub(crate) plan: OnceLock<Arc<TopicPlan>>,
    pub(crate) globals: OnceLock<Arc<GlobalStores>>,
}

/// A cloneable, `Send + Sync` handle on a [`KafkaStreams`](super::KafkaStreams) instance, from
/// [`KafkaStreams::handle`](super::KafkaStreams::handle): its state, the instances of the
/// application and where keys live, and typed read-only views of its stores. A query server
/// (such as the worker's HTTP server) holds one while the thread that owns the instance starts
/// and closes it. It stays usable after the instance closes: the state says `NotRunning` and
/// the views find no stores.
///
/// ```no_run
/// # use streams_core::{KafkaStreams, StreamsConfig, Topology};
/// # fn serve(topology: Topology, config: &StreamsConfig) -> streams_core::Result<()> {
/// let mut streams = KafkaStreams::new(topology, config)?;
/// let handle = streams.handle();
/// std::thread::spawn(move || {
///     // Another thread answers queries while the instance runs.
///     let counts = handle.key_value_store::<String, u64>("counts")?;
///     println!("{:?}", counts.get(&"hello".to_string())?);
///     Ok::<_, streams_core::Error>(())
/// });
/// streams.start()?;
/// streams.run_until_signal()
/// # }
/// ```
#[derive(Clone)]
pub struct KafkaStreamsHandle {
    core: Arc<HandleCore>,
}

impl std::fmt::Debug for KafkaStreamsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStreamsHandle")
            .field("state", &self.state())
            .field("application_server", &self.core.application_server)
            .finish()
    }
}

impl KafkaStreamsHandle {
    pub(crate) fn new(core: HandleCore) -> Self {
        KafkaStreamsHandle {
            core: Arc::new(core),
        }
    }

    pub(crate) fn core(&self) -> &HandleCore {
        &self.core
    }

    /// The instance's state.
    pub fn state(&self) -> State {
        self.core.shared.state()
    }

    /// The fatal error a stream thread stopped with, if any.
    pub fn error(&self) -> Option<Arc<Error>> {
        self.core.shared.error()
    }

    /// The topology the instance runs.
    pub fn topology(&self) -> &Topology {
        &self.core.topology
    }

    /// This instance's `application.server`, if configured.
    pub fn application_server(&self) -> Option<&HostInfo> {
        self.core.application_server.as_ref()
    }

    /// The tasks this instance runs now.
    pub fn local_tasks(&self) -> Vec<TaskId> {
        self.core.shared.tasks().into_iter().collect()
    }

    /// What each local task is doing: active or standby, restoring or running, and how far
    /// its changelogs are read (restoration progress, standby lag).
    pub fn task_statuses(&self) -> Vec<TaskStatus> {
        self.core.shared.task_statuses()
    }

    /// See [`KafkaStreams::metadata_for_all_clients`](super::KafkaStreams::metadata_for_all_clients).
    pub fn metadata_for_all_clients(&self) -> Vec<StreamsMetadata> {
        let mut instances = self.core.shared.instances();
        let Some(host) = &self.core.application_server else {
            return instances;
        };
        if !matches!(self.state(), State::Running | State::Rebalancing) {
            return instances;
        }
        // This instance's own tasks as they are now, not as last announced: announcements
        // lag the assignment by up to a second.
        let active = self.core.shared.tasks();
        let standby = self
            .core
            .shared
            .task_statuses()
            .into_iter()
            .filter(|t| t.kind == super::TaskKind::Standby)
            .map(|t| t.id)
            .collect();
        for other in instances.iter_mut().filter(|i| &i.host != host) {
            other.active_tasks.retain(|t| !active.contains(t));
        }
        match instances.iter_mut().find(|i| &i.host == host) {
            Some(own) => {
                own.active_tasks = active;
                own.standby_tasks = standby;
            }
            None => instances.push(StreamsMetadata {
                host: host.clone(),
                active_tasks: active,
                standby_tasks: standby,
            }),
        }
        instances.sort_by(|a, b| a.host.cmp(&b.host));
        instances
    }

    /// See [`KafkaStreams::query_metadata_for_key`](super::KafkaStreams::query_metadata_for_key).
    pub fn query_metadata_for_key<K: 'static>(
        &self,
        store: &str,
        key: &K,
        key_serde: &crate::serde::SharedSerde<K>,
    ) -> Result<KeyQueryMetadata> {
        let mut bytes = Vec::new();
        key_serde
            .serialize(key, &mut bytes)
            .map_err(|source| Error::StoreAccess {
                name: store.to_string(),
                reason: format!("cannot serialize the key: {source}"),
            })?;
        Ok(self.locate_key(store, &bytes)?.0)
    }

    /// Where the key serialized as `bytes` of `store` lives, and its task.
    pub(crate) fn locate_key(
        &self,
        store: &str,
        bytes: &[u8],
    ) -> Result<(KeyQueryMetadata, TaskId)> {
        let plan = self.core.plan.get().ok_or_else(|| Error::InvalidState {
            operation: "query_metadata_for_key",
            state: self.state(),
            reason: "the instance must be started",
        })?;
        let subtopology = self
            .core
            .topology
            .subtopologies()
            .iter()
            .find(|sub| sub.stores.contains(store))
            .map(|sub| sub.id)
            .ok_or_else(|| Error::StoreAccess {
                name: store.to_string(),
                reason: "no sub-topology of this topology uses it".into(),
            })?;
        let partitions = plan.task_counts.get(&subtopology).copied().unwrap_or(1);
        let partition = super::metadata::default_partition(bytes, partitions);
        let task = TaskId::new(subtopology, partition);
        let instances = self.metadata_for_all_clients();
        let metadata = KeyQueryMetadata {
            active: instances
                .iter()
                .find(|i| i.active_tasks.contains(&task))
                .map(|i| i.host.clone()),
            standbys: instances
                .iter()
                .filter(|i| i.standby_tasks.contains(&task))
                .map(|i| i.host.clone())
                .collect(),
            partition,
        };
        Ok((metadata, task))
    }

    /// The store `name` of the topology (not a global one).
    pub(crate) fn store_builder(&self, name: &str) -> Result<&StoreBuilder> {
        self.core
            .topology
            .store(name)
            .ok_or_else(|| Error::StoreAccess {
                name: name.to_string(),
                reason: "the topology has no such store".into(),
            })
    }

    fn check_kind(&self, builder: &StoreBuilder, want: &str, ok: bool) -> Result<()> {
        if ok {
            Ok(())
        } else {
            Err(Error::StoreAccess {
                name: builder.name().to_string(),
                reason: format!("it is a {:?} store, not a {want} store", builder.kind()),
            })
        }
    }

    /// A read-only view of the local instances of key-value store `name`, across this
    /// instance's tasks (interactive queries).
    pub fn key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<ReadOnlyKeyValueStoreView<K, V>> {
        let builder = self.store_builder(name)?;
        let is_kv = matches!(builder.kind(), StoreKind::KeyValue { .. });
        self.check_kind(builder, "key-value", is_kv)?;
        Ok(ReadOnlyKeyValueStoreView::new(
            name,
            builder.is_timestamped(),
            self.core.shared.clone(),
            builder.serdes::<K, V>()?,
        ))
    }

    /// A read-only view of the local instances of versioned key-value store `name`: latest
    /// values, and values as of a time.
    pub fn versioned_key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<ReadOnlyVersionedKeyValueStoreView<K, V>> {
        let builder = self.store_builder(name)?;
        let is_versioned = matches!(builder.kind(), StoreKind::Versioned { .. });
        self.check_kind(builder, "versioned key-value", is_versioned)?;
        Ok(ReadOnlyVersionedKeyValueStoreView::new(
            name,
            self.core.shared.clone(),
            builder.serdes::<K, V>()?,
        ))
    }

    /// The serdes of a store for keys `K` and values `V`; a store of values with their
    /// timestamps, `(V, i64)` (the DSL's windowed aggregations), is read as `V`, as Kafka
    /// Streams' window store queries read its timestamped window stores.
    fn serdes_dropping_timestamps<K: 'static, V: 'static>(
        &self,
        builder: &StoreBuilder,
    ) -> Result<(crate::serde::SharedSerde<K>, crate::serde::SharedSerde<V>)> {
        match builder.serdes::<K, V>() {
            Ok(serdes) => Ok(serdes),
            Err(exact) => match builder.serdes::<K, (V, i64)>() {
                Ok((key, value)) => Ok((key, Arc::new(WithoutTimestamp(value)))),
                Err(_) => Err(exact),
            },
        }
    }

    /// `key` serialized by the key serde of store `name` (of values `V`).
    #[cfg(feature = "worker")]
    pub(crate) fn store_key_bytes<K: 'static, V: 'static>(
        &self,
        name: &str,
        key: &K,
    ) -> Result<Vec<u8>> {
        let (key_serde, _) = self.serdes_dropping_timestamps::<K, V>(self.store_builder(name)?)?;
        let mut bytes = Vec::new();
        key_serde
            .serialize(key, &mut bytes)
            .map_err(|source| Error::StoreSerde {
                store: name.to_string(),
                source,
            })?;
        Ok(bytes)
    }

    /// A read-only view of the local instances of window store `name`.
    pub fn window_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<ReadOnlyWindowStoreView<K, V>> {
        let builder = self.store_builder(name)?;
        let is_window = matches!(builder.kind(), StoreKind::Window { .. });
        self.check_kind(builder, "window", is_window)?;
        Ok(ReadOnlyWindowStoreView::new(
            name,
            self.core.shared.clone(),
            self.serdes_dropping_timestamps::<K, V>(builder)?,
        ))
    }

    /// A read-only view of the local instances of session store `name`.
    pub fn session_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<ReadOnlySessionStoreView<K, V>> {
        let builder = self.store_builder(name)?;
        let is_session = matches!(builder.kind(), StoreKind::Session { .. });
        self.check_kind(builder, "session", is_session)?;
        Ok(ReadOnlySessionStoreView::new(
            name,
            self.core.shared.clone(),
            self.serdes_dropping_timestamps::<K, V>(builder)?,
        ))
    }

    /// The global store `name` (a full copy on every instance, so every key is local).
    /// [`Error::InvalidState`] before the instance has started and loaded its global stores.
    pub fn global_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<GlobalStoreHandle<K, V>> {
        let globals = self.core.globals.get().ok_or_else(|| Error::InvalidState {
            operation: "global_store",
            state: self.state(),
            reason: "the instance must be started",
        })?;
        globals.handle(name)
    }
}

/// Reads the values of a serde of `(V, timestamp)` pairs as `V` (query views only read).
struct WithoutTimestamp<V>(crate::serde::SharedSerde<(V, i64)>);

impl<V: 'static> crate::serde::Serde<V> for WithoutTimestamp<V> {
    fn serialize(&self, _: &V, _: &mut Vec<u8>) -> Result<(), crate::serde::SerdeError> {
        Err(crate::serde::SerdeError::serialize::<V>(
            "a query view does not write values",
        ))
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<V, crate::serde::SerdeError> {
        self.0.deserialize(bytes).map(|(value, _)| value)
    }
}
