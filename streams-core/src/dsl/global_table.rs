//! [`GlobalKTable`]: a table replicated in full on every instance. Streams join it with
//! `KStream::join_global` (lowered in `ops::stream_global_join`), by a key computed from each
//! record (no co-partitioning needed).

use std::marker::PhantomData;
use std::sync::Arc;

use super::{Consumed, Materialized, StreamsBuilder};
use crate::serde::{SerdeError, decode};
use crate::state::{GlobalStoreDef, GlobalValidator};

/// A table of the latest value per key of a topic, copied in full to every instance (all
/// partitions), restored before processing starts and kept up to date by a global thread.
pub struct GlobalKTable<K, V> {
    store: String,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V> std::fmt::Debug for GlobalKTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalKTable")
            .field("store", &self.store)
            .finish()
    }
}

impl<K, V> GlobalKTable<K, V> {
    /// The name of its store.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let rates = builder.global_table("fx-rates", Consumed::with(Serdes::string(), Serdes::string()), Materialized::as_("fx"));
    /// assert_eq!(rates.queryable_store_name(), "fx");
    /// ```
    pub fn queryable_store_name(&self) -> &str {
        &self.store
    }
}

impl StreamsBuilder {
    /// A table copied in full from `topic` to every instance.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let countries = builder.global_table("countries", Consumed::with(Serdes::string(), Serdes::string()), Materialized::as_("countries"));
    /// assert_eq!(countries.queryable_store_name(), "countries");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn global_table<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> GlobalKTable<K, V> {
        let mut state = self.state.borrow_mut();
        state.refuse_versioned(&materialized, "GlobalTables");
        let source_name = consumed
            .name
            .clone()
            .unwrap_or_else(|| state.new_name("KSTREAM-SOURCE"));
        let processor_name = state.new_name("KTABLE-SOURCE");
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| state.new_name(&format!("{topic}-STATE-STORE")));
        let key_serde = materialized
            .key_serde
            .clone()
            .unwrap_or_else(|| consumed.key_serde.clone());
        let value_serde = materialized
            .value_serde
            .clone()
            .unwrap_or_else(|| consumed.value_serde.clone());
        let (ks, vs) = (key_serde.clone(), value_serde.clone());
        let validate: GlobalValidator =
            Arc::new(move |key: Option<&[u8]>, value: Option<&[u8]>| {
                decode(&*ks, key).map_err(|e| ("key", e))?;
                if let Some(value) = value {
                    vs.deserialize(value)
                        .map_err(|e: SerdeError| ("value", e))?;
                }
                Ok(())
            });
        let def = GlobalStoreDef {
            store: materialized
                .store_builder(store.clone(), key_serde, value_serde)
                .with_logging_disabled(),
            topic: topic.to_string(),
            source_name,
            processor_name,
            validate,
        };
        let result = state.topology_mut().add_global_store(def);
        state.record(result);
        GlobalKTable {
            store,
            _types: PhantomData,
        }
    }
}
