//! [`KafkaStreams`]' interactive queries and metadata: where keys live, read-only views of the
//! local stores, what the local tasks are doing, and the thread-safe handle for query servers.

use super::KafkaStreams;
use crate::Result;
use crate::TaskId;
use crate::runtime::handle::KafkaStreamsHandle;
use crate::runtime::metadata::{KeyQueryMetadata, StreamsMetadata};
use crate::runtime::query::{
    ReadOnlyKeyValueStoreView, ReadOnlySessionStoreView, ReadOnlyVersionedKeyValueStoreView,
    ReadOnlyWindowStoreView,
};

impl KafkaStreams {
    /// The tasks this instance runs now.
    pub fn local_tasks(&self) -> Vec<TaskId> {
        self.shared.tasks().into_iter().collect()
    }

    /// Every running instance of the application that set `application.server`, with the tasks
    /// it runs: this one as it is now, the others as their announcements on the registry topic
    /// said within the last session timeout. Empty before [`start`](Self::start) or when this
    /// instance has no `application.server`.
    pub fn metadata_for_all_clients(&self) -> Vec<StreamsMetadata> {
        self.handle.metadata_for_all_clients()
    }

    /// Where `key` of store `store` lives: the instance running its task and those with a
    /// standby copy, and its partition (Kafka's default partitioner: murmur2 of the key as
    /// `key_serde` serializes it). `active` is `None` while no instance announces the task
    /// (during a rebalance, or before the first announcements arrive).
    ///
    /// ```no_run
    /// # use streams_core::{KafkaStreams, serde::Serdes};
    /// # fn route(streams: &KafkaStreams) -> streams_core::Result<()> {
    /// let owner = streams.query_metadata_for_key("word-counts", &"hello".to_string(), &Serdes::string())?;
    /// match owner.active {
    ///     Some(host) => println!("ask http://{host}/counts/hello"),
    ///     None => println!("no owner right now (rebalancing); retry"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query_metadata_for_key<K: 'static>(
        &self,
        store: &str,
        key: &K,
        key_serde: &crate::serde::SharedSerde<K>,
    ) -> Result<KeyQueryMetadata> {
        self.handle.query_metadata_for_key(store, key, key_serde)
    }

    /// A read-only view of the local instances of key-value store `name`, across this
    /// instance's tasks (interactive queries).
    pub fn key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<ReadOnlyKeyValueStoreView<K, V>> {
        self.handle.key_value_store(name)
    }

    /// A read-only view of the local instances of versioned key-value store `name` (a table
    /// materialized with [`Materialized::as_versioned`](crate::dsl::Materialized::as_versioned)),
    /// across this instance's tasks: the latest value of a key, or its value as of a time
    /// (Kafka Streams' `VersionedKeyQuery`).
    pub fn versioned_key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<ReadOnlyVersionedKeyValueStoreView<K, V>> {
        self.handle.versioned_key_value_store(name)
    }

    /// A read-only view of the local instances of window store `name` (a windowed
    /// aggregation's store, for example), across this instance's tasks.
    pub fn window_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<ReadOnlyWindowStoreView<K, V>> {
        self.handle.window_store(name)
    }

    /// A read-only view of the local instances of session store `name`.
    pub fn session_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<ReadOnlySessionStoreView<K, V>> {
        self.handle.session_store(name)
    }

    /// The global store `name`: a full copy on this instance (from
    /// [`StreamsBuilder::global_table`](crate::dsl::StreamsBuilder::global_table)).
    pub fn global_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<crate::state::GlobalStoreHandle<K, V>> {
        self.handle.global_store(name)
    }

    /// What each local task is doing (active or standby, restoring or running, changelog
    /// progress).
    pub fn task_statuses(&self) -> Vec<crate::runtime::TaskStatus> {
        self.handle.task_statuses()
    }

    /// A cloneable, thread-safe handle for state, metadata and interactive queries, for a
    /// query server on other threads.
    pub fn handle(&self) -> KafkaStreamsHandle {
        self.handle.clone()
    }
}
