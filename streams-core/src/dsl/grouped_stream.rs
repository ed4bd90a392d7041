//! [`KGroupedStream`]: a stream grouped by key, ready to aggregate.

use std::sync::Arc;

use super::ops::StreamAggregate;
use super::{Grouped, KStream, KTable, Materialized};
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::{SharedSerde, U64Serde};
use crate::state::StoreBuilder;

/// Records grouped by key. Aggregations produce a [`KTable`] backed by a state store.
pub struct KGroupedStream<K, V> {
    stream: KStream<K, V>,
    grouped: Grouped<K, V>,
}

impl<K, V> std::fmt::Debug for KGroupedStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KGroupedStream")
            .field("node", &self.stream.node)
            .finish_non_exhaustive()
    }
}

/// Drops records with a null key before a repartition topic, as Kafka Streams'
/// `<name>-repartition-filter` does.
struct DropNullKeys<K, V> {
    key_serde: SharedSerde<K>,
    _value: std::marker::PhantomData<fn(V)>,
}

impl<K: Clone + 'static, V: Clone + 'static> Processor for DropNullKeys<K, V> {
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = V;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, V>,
        record: Record<K, V>,
    ) -> crate::Result<()> {
        if self.key_serde.is_null(&record.key) {
            ctx.record_dropped("null key before a repartition topic");
            return Ok(());
        }
        ctx.forward(record)
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>, grouped: Grouped<K, V>) -> Self {
        KGroupedStream { stream, grouped }
    }

    /// Counts records per key into a table. Records with a null key are dropped and counted in
    /// the `records_skipped_total` metric.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key()
    ///     .count(Materialized::as_("clicks-per-user"))
    ///     .to_stream()
    ///     .to("click-counts");
    /// let topology = builder.build()?;
    /// assert!(topology.describe().to_string().contains("stores: [clicks-per-user]"));
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn count(self, materialized: Materialized<K, u64>) -> KTable<K, u64> {
        let value_serde = materialized
            .value_serde
            .clone()
            .or_else(|| Some(Arc::new(U64Serde)));
        let materialized = Materialized {
            value_serde,
            ..materialized
        };
        self.aggregate_internal(
            materialized,
            || 0u64,
            |_key: &K, _value: V, count: u64| count + 1,
        )
    }

    fn aggregate_internal<A, I, F>(
        self,
        materialized: Materialized<K, A>,
        initializer: I,
        aggregator: F,
    ) -> KTable<K, A>
    where
        A: Clone + 'static,
        I: Fn() -> A + Send + Sync + 'static,
        F: Fn(&K, V, A) -> A + Send + Sync + 'static,
    {
        let state = self.stream.state.clone();
        let mut st = state.borrow_mut();
        let store_name = materialized
            .name
            .clone()
            .unwrap_or_else(|| st.new_name("KSTREAM-AGGREGATE-STATE-STORE"));
        let what = format!("aggregation into store `{store_name}`");
        let key_serde = st.require_serde(
            self.grouped
                .key_serde
                .clone()
                .or_else(|| materialized.key_serde.clone())
                .or_else(|| self.stream.key_serde.clone()),
            &what,
        );
        let agg_serde = st.require_serde(materialized.value_serde.clone(), &what);
        let (Some(key_serde), Some(agg_serde)) = (key_serde, agg_serde) else {
            drop(st);
            return KTable::new(state, self.stream.node.clone(), None, None, None);
        };

        let mut parent = self.stream.node.clone();
        if self.stream.repartition_required {
            let base = self
                .grouped
                .name
                .clone()
                .unwrap_or_else(|| store_name.clone());
            let value_serde = st.require_serde(
                self.grouped
                    .value_serde
                    .clone()
                    .or_else(|| self.stream.value_serde.clone()),
                &format!("repartition topic `{base}-repartition`"),
            );
            let Some(value_serde) = value_serde else {
                drop(st);
                return KTable::new(state, self.stream.node.clone(), None, None, None);
            };
            let topic = format!("{base}-repartition");
            let filter = format!("{base}-repartition-filter");
            let sink = format!("{base}-repartition-sink");
            let source = format!("{base}-repartition-source");
            let null_check = key_serde.clone();
            st.add_processor(
                &filter,
                move || DropNullKeys::<K, V> {
                    key_serde: null_check.clone(),
                    _value: std::marker::PhantomData,
                },
                &parent,
            );
            st.add_sink(
                &sink,
                &topic,
                key_serde.clone(),
                value_serde.clone(),
                &filter,
            );
            st.add_internal_topic(&topic);
            st.add_source(&source, &topic, key_serde.clone(), value_serde);
            parent = source;
        }

        let name = st.new_name("KSTREAM-AGGREGATE");
        let initializer = Arc::new(initializer);
        let aggregator = Arc::new(aggregator);
        let store = store_name.clone();
        let null_check = key_serde.clone();
        st.add_processor(
            &name,
            move || {
                StreamAggregate::new(
                    store.clone(),
                    null_check.clone(),
                    initializer.clone(),
                    aggregator.clone(),
                )
            },
            &parent,
        );
        let mut builder =
            StoreBuilder::key_value(store_name.clone(), key_serde.clone(), agg_serde.clone())
                .with_engine(materialized.engine);
        if !materialized.logging {
            builder = builder.with_logging_disabled();
        }
        st.add_store(builder, &name);
        drop(st);
        KTable::new(
            state,
            name,
            Some(key_serde),
            Some(agg_serde),
            Some(store_name),
        )
    }
}
