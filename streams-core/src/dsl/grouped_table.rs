//! [`KGroupedTable`]: a re-keyed table, ready to aggregate with adders and subtractors.

use std::sync::Arc;

use super::builder::SharedState;
use super::ktable::change_serde;
use super::ops::table_aggregate::{TableAggregate, TableFold};
use super::repartition::add_repartition;
use super::{Change, KTable, Materialized};
use crate::serde::{SharedSerde, U64Serde};

/// A table grouped by a new key. Every aggregation reads through a repartition topic and
/// applies the subtractor to old rows before the adder to new ones.
pub struct KGroupedTable<K, V> {
    state: SharedState,
    node: String,
    name: Option<String>,
    key_serde: Option<SharedSerde<K>>,
    value_serde: Option<SharedSerde<V>>,
}

impl<K, V> std::fmt::Debug for KGroupedTable<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KGroupedTable")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedTable<K, V> {
    pub(crate) fn new(
        state: SharedState,
        node: String,
        name: Option<String>,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
    ) -> Self {
        KGroupedTable {
            state,
            node,
            name,
            key_serde,
            value_serde,
        }
    }

    fn aggregate_internal<A: Clone + 'static>(
        self,
        materialized: Materialized<K, A>,
        adder: TableFold<K, V, A>,
        subtractor: TableFold<K, V, A>,
    ) -> KTable<K, A> {
        let state = self.state.clone();
        let store_name = materialized
            .name
            .clone()
            .unwrap_or_else(|| state.borrow_mut().new_name("KTABLE-AGGREGATE-STATE-STORE"));
        let agg_serde = state.borrow_mut().require_serde(
            materialized.value_serde.clone(),
            &format!("table aggregation into `{store_name}`"),
        );
        let (Some(key_serde), Some(value_serde), Some(agg_serde)) =
            (self.key_serde, self.value_serde, agg_serde)
        else {
            return KTable::new(state, self.node, None, None, None);
        };
        let base = self.name.unwrap_or_else(|| store_name.clone());
        let Some(source) = add_repartition::<K, Change<V>>(
            &state,
            &self.node,
            &base,
            key_serde.clone(),
            Some(change_serde(value_serde)),
            false,
        ) else {
            return KTable::new(state, self.node, None, None, None);
        };
        let versioned = materialized.versioned_spec();
        let mut st = state.borrow_mut();
        let name = st.new_name("KTABLE-AGGREGATE");
        let store = store_name.clone();
        st.add_processor(
            &name,
            move || TableAggregate::new(store.clone(), adder.clone(), subtractor.clone()),
            &source,
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

    /// Counts the rows per key (a count can reach 0 but is never deleted).
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let per_country = builder
    ///     .table("user-country", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default())
    ///     .group_by(|_u, c: &String| (c.clone(), c.clone()), Grouped::with(Serdes::string(), Serdes::string()))
    ///     .count(Materialized::as_("per-country"));
    /// # let _ = per_country;
    /// # builder.build()?;
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
        let adder: TableFold<K, V, u64> =
            Arc::new(|_k: &K, _v: V, n: Option<u64>| Some(n.unwrap_or(0) + 1));
        let subtractor: TableFold<K, V, u64> =
            Arc::new(|_k: &K, _v: V, n: Option<u64>| Some(n.unwrap_or(0).saturating_sub(1)));
        self.aggregate_internal(materialized, adder, subtractor)
    }

    /// Combines rows with `adder`, removing replaced or deleted rows with `subtractor`.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let balance_per_branch = builder
    ///     .table("accounts", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::default())
    ///     .group_by(|id, balance: &i64| (id[..3].to_string(), *balance), Grouped::with(Serdes::string(), Serdes::i64()))
    ///     .reduce(|a: i64, b: i64| a + b, |a: i64, b: i64| a - b, Materialized::as_("branch-balances"));
    /// # let _ = balance_per_branch;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn reduce<A, S>(
        self,
        adder: A,
        subtractor: S,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V>
    where
        A: Fn(V, V) -> V + Send + Sync + 'static,
        S: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let materialized = Materialized {
            value_serde: materialized
                .value_serde
                .clone()
                .or_else(|| self.value_serde.clone()),
            ..materialized
        };
        let add: TableFold<K, V, V> = Arc::new(move |_k: &K, v: V, agg: Option<V>| {
            Some(match agg {
                Some(agg) => adder(agg, v),
                None => v,
            })
        });
        let sub: TableFold<K, V, V> =
            Arc::new(move |_k: &K, v: V, agg: Option<V>| agg.map(|agg| subtractor(agg, v)));
        self.aggregate_internal(materialized, add, sub)
    }

    /// Folds rows into an aggregate from `initializer()`, with `adder` for new rows and
    /// `subtractor` for replaced or deleted ones.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let total = builder
    ///     .table("stock", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::default())
    ///     .group_by(|_sku, n: &i64| ("all".to_string(), *n), Grouped::with(Serdes::string(), Serdes::i64()))
    ///     .aggregate(|| 0i64, |_k: &String, n: i64, sum: i64| sum + n, |_k: &String, n: i64, sum: i64| sum - n, Materialized::as_("stock-total"));
    /// # let _ = total;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn aggregate<A, I, F, S>(
        self,
        initializer: I,
        adder: F,
        subtractor: S,
        materialized: Materialized<K, A>,
    ) -> KTable<K, A>
    where
        A: Clone + 'static,
        I: Fn() -> A + Send + Sync + 'static,
        F: Fn(&K, V, A) -> A + Send + Sync + 'static,
        S: Fn(&K, V, A) -> A + Send + Sync + 'static,
    {
        let initializer = Arc::new(initializer);
        let init = initializer.clone();
        let add: TableFold<K, V, A> = Arc::new(move |k: &K, v: V, agg: Option<A>| {
            Some(adder(k, v, agg.unwrap_or_else(|| init())))
        });
        let sub: TableFold<K, V, A> = Arc::new(move |k: &K, v: V, agg: Option<A>| {
            Some(subtractor(k, v, agg.unwrap_or_else(|| initializer())))
        });
        self.aggregate_internal(materialized, add, sub)
    }
}
