//! [`KTable`]: a changelog stream seen as a table, and [`Change`], what its nodes forward.

use super::KStream;
use super::builder::SharedState;
use super::ops::TableToStream;
use crate::serde::{Nullable, SharedSerde};
use std::sync::Arc;

/// An update of one key of a table: the value after it, and before it when known. `None` as
/// `new` is a delete (a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<V> {
    /// The value after the update; `None` if the key was deleted.
    pub new: Option<V>,
    /// The value before the update, if known.
    pub old: Option<V>,
}

/// A table: the latest value per key, updated by a stream of changes.
pub struct KTable<K, V> {
    state: SharedState,
    node: String,
    key_serde: Option<SharedSerde<K>>,
    value_serde: Option<SharedSerde<V>>,
    store: Option<String>,
}

impl<K, V> std::fmt::Debug for KTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KTable")
            .field("node", &self.node)
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    pub(crate) fn new(
        state: SharedState,
        node: String,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
        store: Option<String>,
    ) -> Self {
        KTable {
            state,
            node,
            key_serde,
            value_serde,
            store,
        }
    }

    /// The name of the store backing this table, for interactive queries.
    pub fn queryable_store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// The table's updates as a stream: each update's new value, `None` for a delete (written
    /// to Kafka as a tombstone).
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let counts = builder
    ///     .stream("events", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key()
    ///     .count(Materialized::as_("event-counts"));
    /// counts.to_stream().to("event-counts"); // values: Option<u64>, written as u64 or null
    /// # builder.build().unwrap();
    /// ```
    pub fn to_stream(&self) -> KStream<K, Option<V>> {
        let mut state = self.state.borrow_mut();
        let name = state.new_name("KTABLE-TOSTREAM");
        state.add_processor(&name, TableToStream::<K, V>::new, &self.node);
        drop(state);
        let value_serde = self
            .value_serde
            .clone()
            .map(|s| Arc::new(Nullable::new(s)) as SharedSerde<Option<V>>);
        KStream::new(
            self.state.clone(),
            name,
            self.key_serde.clone(),
            value_serde,
            false,
        )
    }
}
