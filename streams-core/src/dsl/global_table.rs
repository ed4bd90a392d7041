//! [`GlobalKTable`]: a table replicated in full on every instance, and the stream–global-table
//! joins that look it up by a key computed from each record (no co-partitioning needed).

use std::marker::PhantomData;
use std::sync::Arc;

use super::{Consumed, KStream, Materialized, StreamsBuilder};
use crate::Result;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::{SerdeError, SharedSerde, decode};
use crate::state::{GlobalStoreDef, GlobalStoreHandle, GlobalValidator};

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

/// Maps a stream record to the global table's key.
type KeyMapper<K, V, KG> = Arc<dyn Fn(&K, &V) -> KG + Send + Sync>;
/// Joins a stream value with an optional table value; `None`: no result.
type GlobalJoiner<V, VG, VR> = Arc<dyn Fn(&V, Option<&VG>) -> Option<VR> + Send + Sync>;

struct StreamGlobalJoin<K, V, KG, VG, VR> {
    store_name: String,
    mapper: KeyMapper<K, V, KG>,
    joiner: GlobalJoiner<V, VG, VR>,
    mapped_key_serde: Option<SharedSerde<KG>>,
    store: Option<GlobalStoreHandle<KG, VG>>,
}

impl<K, V, KG, VG, VR> Processor for StreamGlobalJoin<K, V, KG, VG, VR>
where
    K: Clone + 'static,
    V: 'static,
    KG: 'static,
    VG: 'static,
    VR: Clone + 'static,
{
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = VR;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        self.store = Some(ctx.global_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VR>,
        record: Record<K, V>,
    ) -> Result<()> {
        let mapped = (self.mapper)(&record.key, &record.value);
        let mapped_null = self
            .mapped_key_serde
            .as_ref()
            .is_some_and(|s| s.is_null(&mapped));
        let found = if mapped_null {
            None
        } else {
            ctx.initialized(&self.store)?.get(&mapped)?
        };
        if let Some(joined) = (self.joiner)(&record.value, found.as_ref()) {
            ctx.forward(record.with_value(joined))?;
        }
        Ok(())
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    fn global_join<KG: 'static, VG: 'static, VR: Clone + 'static>(
        &self,
        table: &GlobalKTable<KG, VG>,
        prefix: &str,
        mapper: KeyMapper<K, V, KG>,
        joiner: GlobalJoiner<V, VG, VR>,
    ) -> KStream<K, VR> {
        let mut state = self.state.borrow_mut();
        let name = state.new_name(prefix);
        let store_name = table.store.clone();
        let mapped_key_serde = crate::serde::builtin_serde::<KG>();
        state.add_processor(
            &name,
            move || StreamGlobalJoin {
                store_name: store_name.clone(),
                mapper: mapper.clone(),
                joiner: joiner.clone(),
                mapped_key_serde: mapped_key_serde.clone(),
                store: None,
            },
            &self.node,
        );
        drop(state);
        KStream::new(
            self.state.clone(),
            name,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Joins each record with the global table's row for `key_mapper(key, value)`; records
    /// without a row are dropped. No co-partitioning needed: the whole table is local.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let countries = builder.global_table("countries", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// builder
    ///     .stream("payments", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .join_global(&countries, |_id, country_code: &String| country_code.clone(), |code: &String, name: &String| format!("{code}: {name}"))
    ///     .to("payments-by-country");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn join_global<KG, VG, VR, M, F>(
        &self,
        table: &GlobalKTable<KG, VG>,
        key_mapper: M,
        joiner: F,
    ) -> KStream<K, VR>
    where
        KG: 'static,
        VG: 'static,
        VR: Clone + 'static,
        M: Fn(&K, &V) -> KG + Send + Sync + 'static,
        F: Fn(&V, &VG) -> VR + Send + Sync + 'static,
    {
        self.global_join(
            table,
            "KSTREAM-JOIN",
            Arc::new(key_mapper),
            Arc::new(move |v: &V, g: Option<&VG>| Some(joiner(v, g?))),
        )
    }

    /// Joins each record with the global table's row for `key_mapper(key, value)`, or `None`.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let blocked = builder.global_table("blocked-ips", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// builder
    ///     .stream("logins", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .left_join_global(&blocked, |_user, ip: &String| ip.clone(), |ip: &String, reason: Option<&String>| (ip.clone(), reason.is_some()))
    ///     .filter(|_user, (_ip, blocked): &(String, bool)| *blocked)
    ///     .foreach(|user: &String, _v: &(String, bool)| println!("blocked login by {user}"));
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn left_join_global<KG, VG, VR, M, F>(
        &self,
        table: &GlobalKTable<KG, VG>,
        key_mapper: M,
        joiner: F,
    ) -> KStream<K, VR>
    where
        KG: 'static,
        VG: 'static,
        VR: Clone + 'static,
        M: Fn(&K, &V) -> KG + Send + Sync + 'static,
        F: Fn(&V, Option<&VG>) -> VR + Send + Sync + 'static,
    {
        self.global_join(
            table,
            "KSTREAM-LEFTJOIN",
            Arc::new(key_mapper),
            Arc::new(move |v: &V, g: Option<&VG>| Some(joiner(v, g))),
        )
    }
}
