//! [`KGroupedStream`]: a stream grouped by key, ready to aggregate.

use std::sync::Arc;

use super::ops::{Fold, StreamAggregate};
use super::repartition::repartition_if_required;
use super::{Grouped, KStream, KTable, Materialized};
use crate::serde::{SharedSerde, U64Serde};

/// Records grouped by key. Aggregations produce a [`KTable`] backed by a state store; windowed
/// aggregations start with [`windowed_by`](Self::windowed_by).
pub struct KGroupedStream<K, V> {
    pub(crate) stream: KStream<K, V>,
    pub(crate) grouped: Grouped<K, V>,
}

impl<K, V> std::fmt::Debug for KGroupedStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KGroupedStream")
            .field("node", &self.stream.node)
            .finish_non_exhaustive()
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    pub(crate) fn new(stream: KStream<K, V>, grouped: Grouped<K, V>) -> Self {
        KGroupedStream { stream, grouped }
    }

    /// Counts records per key into a table. Records with a null key are dropped and counted in
    /// the `streams_task_dropped_records_total{reason="null_key"}` metric.
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
        let materialized = Materialized {
            value_serde: materialized
                .value_serde
                .clone()
                .or_else(|| Some(Arc::new(U64Serde))),
            ..materialized
        };
        let fold: Fold<K, V, u64> =
            Arc::new(|_key: &K, _value: V, count: Option<u64>| count.unwrap_or(0) + 1);
        self.aggregate_internal(materialized, "KSTREAM-AGGREGATE", fold)
    }

    /// Combines the values of each key with `reducer` (the first value is kept as is).
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let totals = builder
    ///     .stream("payments", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .group_by_key()
    ///     .reduce(|total: i64, amount: i64| total + amount, Materialized::as_("totals"));
    /// # let _ = totals;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn reduce<F>(self, reducer: F, materialized: Materialized<K, V>) -> KTable<K, V>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let materialized = Materialized {
            value_serde: materialized
                .value_serde
                .clone()
                .or_else(|| self.grouped.value_serde.clone())
                .or_else(|| self.stream.value_serde.clone()),
            ..materialized
        };
        let fold: Fold<K, V, V> = Arc::new(move |_key: &K, value: V, agg: Option<V>| match agg {
            Some(agg) => reducer(agg, value),
            None => value,
        });
        self.aggregate_internal(materialized, "KSTREAM-REDUCE", fold)
    }

    /// Folds the values of each key into an aggregate, starting from `initializer()`.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let longest = builder
    ///     .stream("words", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key()
    ///     .aggregate(
    ///         || 0u64,
    ///         |_key: &String, word: String, longest: u64| longest.max(word.len() as u64),
    ///         Materialized::as_("longest-word"),
    ///     );
    /// # let _ = longest;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn aggregate<A, I, F>(
        self,
        initializer: I,
        aggregator: F,
        materialized: Materialized<K, A>,
    ) -> KTable<K, A>
    where
        A: Clone + 'static,
        I: Fn() -> A + Send + Sync + 'static,
        F: Fn(&K, V, A) -> A + Send + Sync + 'static,
    {
        let fold: Fold<K, V, A> = Arc::new(move |key: &K, value: V, agg: Option<A>| {
            aggregator(key, value, agg.unwrap_or_else(&initializer))
        });
        self.aggregate_internal(materialized, "KSTREAM-AGGREGATE", fold)
    }

    /// The key serde to group with: the grouping's, the materialization's, or the stream's.
    pub(crate) fn key_serde_hint(
        &self,
        materialized_key: Option<SharedSerde<K>>,
    ) -> Option<SharedSerde<K>> {
        self.grouped
            .key_serde
            .clone()
            .or(materialized_key)
            .or_else(|| self.stream.key_serde.clone())
    }

    /// Inserts the repartition topic if needed and returns the node records reach the
    /// aggregation from, with the key serde; `None` after recording a build error.
    pub(crate) fn prepare(
        &self,
        base: &str,
        key_serde: Option<SharedSerde<K>>,
    ) -> Option<(String, SharedSerde<K>)> {
        let state = &self.stream.state;
        let key_serde = state
            .borrow_mut()
            .require_serde(key_serde, &format!("grouping for `{base}`"))?;
        let value_serde = self
            .grouped
            .value_serde
            .clone()
            .or_else(|| self.stream.value_serde.clone());
        let name = self
            .grouped
            .name
            .clone()
            .unwrap_or_else(|| base.to_string());
        let parent = repartition_if_required(
            state,
            &self.stream.node,
            self.stream.repartition_required,
            &name,
            key_serde.clone(),
            value_serde,
        )?;
        Some((parent, key_serde))
    }

    fn aggregate_internal<A: Clone + 'static>(
        self,
        materialized: Materialized<K, A>,
        prefix: &str,
        fold: Fold<K, V, A>,
    ) -> KTable<K, A> {
        let state = self.stream.state.clone();
        let store_name = materialized.name.clone().unwrap_or_else(|| {
            state
                .borrow_mut()
                .new_name(&format!("{prefix}-STATE-STORE"))
        });
        let key_hint = self.key_serde_hint(materialized.key_serde.clone());
        let agg_serde = state.borrow_mut().require_serde(
            materialized.value_serde.clone(),
            &format!("aggregation into store `{store_name}`"),
        );
        let (Some((parent, key_serde)), Some(agg_serde)) =
            (self.prepare(&store_name, key_hint), agg_serde)
        else {
            return KTable::new(state, self.stream.node.clone(), None, None, None);
        };
        let versioned = materialized.versioned_spec();
        let mut st = state.borrow_mut();
        let name = st.new_name(prefix);
        let store = store_name.clone();
        let null_check = key_serde.clone();
        let value_null_check = self
            .grouped
            .value_serde
            .clone()
            .or_else(|| self.stream.value_serde.clone());
        st.add_processor(
            &name,
            move || {
                StreamAggregate::new(
                    store.clone(),
                    null_check.clone(),
                    value_null_check.clone(),
                    fold.clone(),
                )
            },
            &parent,
        );
        st.add_store(
            materialized.table_store_builder(
                store_name.clone(),
                key_serde.clone(),
                agg_serde.clone(),
            ),
            &name,
        );
        drop(st);
        KTable::new(
            state,
            name,
            Some(key_serde),
            Some(agg_serde),
            Some(store_name),
        )
        .with_versioned(versioned)
    }
}
