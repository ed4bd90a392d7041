//! [`KTable`]: a changelog stream seen as a table, and [`Change`], what its nodes forward.
//!
//! The handle and its per-row operators are here; `suppress` holds back windowed updates and
//! `joins` are thin calls into the joins' lowering, beside their processors in `dsl::ops`.

mod joins;
mod suppress;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::builder::SharedState;
use super::materialized::VersionedSpec;
use super::ops::TableToStream;
use super::ops::table_filter::TableFilter;
use super::ops::table_map_values::TableMapValues;
use super::ops::table_select::TableSelect;
use super::ops::table_source::TableMaterialize;
use super::{Grouped, KGroupedTable, KStream, Materialized};
use crate::serde::{ChangeSerde, Nullable, SharedSerde};

pub use suppress::{BufferConfig, Suppressed};

/// An update of one key of a table: the value after it, and before it when known. `None` as
/// `new` is a delete (a tombstone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change<V> {
    /// The value after the update; `None` if the key was deleted.
    pub new: Option<V>,
    /// The value before the update, if any.
    pub old: Option<V>,
}

/// A table: the latest value per key, updated by a stream of changes. Its nodes forward
/// [`Change`]s carrying both the new and the old value.
pub struct KTable<K, V> {
    pub(crate) state: SharedState,
    pub(crate) node: String,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// The timestamped key-value store holding this table, if it is materialized.
    pub(crate) store: Option<String>,
    /// For windowed tables: how long after a window's end it can still change.
    pub(crate) window_close_delay: Option<i64>,
    /// How processors look rows up when `store` is not a key-value store (windowed
    /// aggregations: a window or session store).
    pub(crate) lookup: Option<crate::dsl::ops::TableLookup<K, V>>,
    /// For versioned tables (materialized in a versioned store, or derived from one without
    /// another materialization, as Kafka Streams' KIP-914 defines them): what their store
    /// keeps. Their joins look values up by time and ignore out-of-order updates.
    pub(crate) versioned: Option<VersionedSpec>,
    /// Whether operators below asked the filters above for old values (see [`OldValues`]).
    pub(crate) old_values: Option<Arc<OldValues>>,
}

/// Kafka Streams' `enableSendingOldValues` for filters: an operator that needs each update's
/// old value (a grouping, a foreign-key join, the preserved side of a left or outer table join,
/// a suppression) asks its table for them, and the request climbs to every filter above
/// through the operators in between. A filter so asked skips a change from nothing to nothing
/// (a delete of a row that never passed); one not asked forwards it, as Kafka's does. The flag
/// is set while the DSL is built and read when the filter's processors are made.
#[derive(Debug, Default)]
pub(crate) struct OldValues {
    wanted: AtomicBool,
    parent: Option<Arc<OldValues>>,
}

impl OldValues {
    pub(crate) fn below(parent: Option<Arc<OldValues>>) -> Arc<OldValues> {
        Arc::new(OldValues {
            wanted: AtomicBool::new(false),
            parent,
        })
    }

    fn enable(&self) {
        self.wanted.store(true, Ordering::Relaxed);
        if let Some(parent) = &self.parent {
            parent.enable();
        }
    }

    pub(crate) fn wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed)
    }
}

impl<K, V> Clone for KTable<K, V> {
    fn clone(&self) -> Self {
        KTable {
            state: self.state.clone(),
            node: self.node.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            store: self.store.clone(),
            window_close_delay: self.window_close_delay,
            lookup: self.lookup.clone(),
            versioned: self.versioned,
            old_values: self.old_values.clone(),
        }
    }
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
            window_close_delay: None,
            lookup: None,
            versioned: None,
            old_values: None,
        }
    }

    /// Asks the filters above this table for old values (see [`OldValues`]).
    pub(crate) fn enable_sending_old_values(&self) {
        if let Some(old_values) = &self.old_values {
            old_values.enable();
        }
    }

    /// Sets how rows are looked up in this table's (window or session) store.
    pub(crate) fn with_lookup(mut self, lookup: crate::dsl::ops::TableLookup<K, V>) -> Self {
        self.lookup = Some(lookup);
        self
    }

    /// This table marked versioned (or not): what its store, or the store it derives from,
    /// keeps.
    pub(crate) fn with_versioned(mut self, versioned: Option<VersionedSpec>) -> Self {
        self.versioned = versioned;
        self
    }

    /// Whether the table is versioned (KIP-914): materialized in a versioned store
    /// ([`Materialized::as_versioned`]) or derived from one by `filter` or `map_values`
    /// without another materialization in between.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let rates = builder.table("rates", Consumed::with(Serdes::string(), Serdes::i64()),
    ///     Materialized::as_versioned("rates", Duration::from_secs(3600)));
    /// assert!(rates.is_versioned());
    /// assert!(rates.filter(|_k, v: &i64| *v > 0).is_versioned());
    /// assert!(!rates.filter_materialized(|_k, v: &i64| *v > 0, Materialized::as_("positive")).is_versioned());
    /// ```
    pub fn is_versioned(&self) -> bool {
        self.versioned.is_some()
    }

    pub(crate) fn with_window_close_delay(mut self, delay: i64) -> Self {
        self.window_close_delay = Some(delay);
        self
    }

    /// The name of the store backing this table, for interactive queries.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let t = builder.table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::as_("users"));
    /// assert_eq!(t.queryable_store_name(), Some("users"));
    /// assert_eq!(t.filter(|_k, _v| true).queryable_store_name(), None);
    /// ```
    pub fn queryable_store_name(&self) -> Option<&str> {
        self.store.as_deref()
    }

    /// The name of the node this handle points at.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let t = builder.table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// assert_eq!(t.node_name(), "KTABLE-SOURCE-0000000002");
    /// ```
    pub fn node_name(&self) -> &str {
        &self.node
    }

    fn derived<V2: Clone + 'static>(
        &self,
        node: String,
        value_serde: Option<SharedSerde<V2>>,
        store: Option<String>,
    ) -> KTable<K, V2> {
        KTable {
            state: self.state.clone(),
            node,
            key_serde: self.key_serde.clone(),
            value_serde,
            store,
            window_close_delay: self.window_close_delay,
            lookup: None,
            versioned: self.versioned,
            old_values: self.old_values.clone(),
        }
    }

    /// Materializes the changes arriving at `node` into a store named by `materialized` (or
    /// generated from `prefix`); returns the materializing node and the store.
    fn materialize_after(
        &self,
        node: &str,
        prefix: &str,
        value_serde: Option<SharedSerde<V>>,
        materialized: Materialized<K, V>,
    ) -> Option<(String, String)> {
        let mut st = self.state.borrow_mut();
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| st.new_name(&format!("{prefix}-STATE-STORE")));
        let what = format!("table store `{store}`");
        let key_serde = st.require_serde(
            materialized
                .key_serde
                .clone()
                .or_else(|| self.key_serde.clone()),
            &what,
        )?;
        let value_serde =
            st.require_serde(materialized.value_serde.clone().or(value_serde), &what)?;
        let name = st.new_name(prefix);
        let (store_name, null_check) = (store.clone(), key_serde.clone());
        st.add_processor(
            &name,
            move || {
                TableMaterialize::<K, super::Change<V>, V>::new(
                    store_name.clone(),
                    null_check.clone(),
                )
            },
            node,
        );
        st.add_store(
            materialized.table_store_builder(store.clone(), key_serde, value_serde),
            &name,
        );
        Some((name, store))
    }

    /// This table with a store to look values up in: itself if materialized, else a
    /// materializing node after it (a versioned store with the same history for a versioned
    /// table, where Kafka Streams would read the upstream versioned store through the
    /// operators between). `None` after recording a build error.
    pub(crate) fn ensure_materialized(&self) -> Option<KTable<K, V>> {
        if self.store.is_some() {
            return Some(self.clone());
        }
        // Kafka Streams reads such a table through a view on its parent's store (a value
        // getter), which has no record cache of its own: every change passes through at once.
        // A cache here would drop a delete of a row that was never there, which Kafka forwards.
        let mut materialized = Materialized::default().with_caching_disabled();
        if let Some(spec) = self.versioned {
            let ms = |ms: i64| std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
            materialized.versioned = Some((
                ms(spec.history_retention_ms),
                Some(ms(spec.segment_interval_ms)),
            ));
        }
        let (node, store) = self.materialize_after(
            &self.node,
            "KTABLE-MATERIALIZE",
            self.value_serde.clone(),
            materialized,
        )?;
        Some(self.derived(node, self.value_serde.clone(), Some(store)))
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

    fn filter_internal<F>(
        &self,
        predicate: F,
        keep: bool,
        materialized: Option<Materialized<K, V>>,
    ) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        let versioned_upstream = self.is_versioned();
        let old_values = OldValues::below(self.old_values.clone());
        let asked = old_values.clone();
        let name = {
            let mut st = self.state.borrow_mut();
            let name = st.new_name("KTABLE-FILTER");
            st.add_processor(
                &name,
                move || {
                    // Below a versioned table Kafka's filter never skips (KIP-914).
                    let skip_unchanged = asked.wanted() && !versioned_upstream;
                    TableFilter::<K, V, F>::new(predicate.clone(), keep, skip_unchanged)
                },
                &self.node,
            );
            name
        };
        let mut filtered = match materialized {
            None => self.derived(name, self.value_serde.clone(), None),
            Some(m) => {
                let versioned = m.versioned_spec();
                match self.materialize_after(&name, "KTABLE-FILTER", self.value_serde.clone(), m) {
                    Some((node, store)) => self
                        .derived(node, self.value_serde.clone(), Some(store))
                        .with_versioned(versioned),
                    None => self.derived(name, self.value_serde.clone(), None),
                }
            }
        };
        filtered.old_values = Some(old_values);
        filtered
    }

    /// Keeps the rows for which `predicate` holds; an update that fails it deletes the row
    /// downstream (if it was there).
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let big_accounts = builder
    ///     .table("balances", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::as_("balances"))
    ///     .filter(|_account, balance: &i64| *balance > 1_000_000);
    /// # let _ = big_accounts;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn filter<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.filter_internal(predicate, true, None)
    }

    /// [`filter`](Self::filter), materialized into a queryable store.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let big = builder
    ///     .table("balances", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::default())
    ///     .filter_materialized(|_k, v: &i64| *v > 100, Materialized::as_("big-balances"));
    /// assert_eq!(big.queryable_store_name(), Some("big-balances"));
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn filter_materialized<F>(
        &self,
        predicate: F,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.filter_internal(predicate, true, Some(materialized))
    }

    /// Keeps the rows for which `predicate` does not hold.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let active = builder
    ///     .table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default())
    ///     .filter_not(|_id, status: &String| status == "closed");
    /// # let _ = active;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn filter_not<F>(&self, predicate: F) -> KTable<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        self.filter_internal(predicate, false, None)
    }

    /// Maps each row's value (deletes stay deletes).
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let name_lengths = builder
    ///     .table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default())
    ///     .map_values(|_id, name: String| name.len() as u64);
    /// # let _ = name_lengths;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn map_values<V2, F>(&self, mapper: F) -> KTable<K, V2>
    where
        V2: Clone + 'static,
        F: Fn(&K, V) -> V2 + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        let mut st = self.state.borrow_mut();
        let name = st.new_name("KTABLE-MAPVALUES");
        st.add_processor(
            &name,
            move || TableMapValues::<K, V, V2, F>::new(mapper.clone()),
            &self.node,
        );
        drop(st);
        self.derived(name, None, None)
    }

    /// Re-keys the table for aggregation: each row becomes `selector(key, value)`. Updates
    /// reach the aggregation through a repartition topic as a subtraction of the old row and
    /// an addition of the new one.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let users_per_country = builder
    ///     .table("user-country", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default())
    ///     .group_by(|_user, country: &String| (country.clone(), 1u64), Grouped::with(Serdes::string(), Serdes::u64()))
    ///     .count(Materialized::as_("users-per-country"));
    /// # let _ = users_per_country;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn group_by<K2, V2, F>(
        &self,
        selector: F,
        grouped: Grouped<K2, V2>,
    ) -> KGroupedTable<K2, V2>
    where
        K2: Clone + PartialEq + 'static,
        V2: Clone + 'static,
        F: Fn(&K, &V) -> (K2, V2) + Send + Sync + 'static,
    {
        let selector = Arc::new(selector);
        // The grouping subtracts old rows: it asks for old values (Kafka's groupBy does).
        self.enable_sending_old_values();
        let mut st = self.state.borrow_mut();
        let name = st.new_name("KTABLE-SELECT");
        let key_serde = st.require_serde(
            grouped.key_serde.clone(),
            &format!("table grouping `{name}`"),
        );
        let value_serde = st.require_serde(
            grouped.value_serde.clone(),
            &format!("table grouping `{name}`"),
        );
        let versioned = self.is_versioned();
        if let Some(key_serde) = key_serde.clone() {
            st.add_processor(
                &name,
                move || {
                    TableSelect::<K, V, K2, V2, F>::new(
                        selector.clone(),
                        key_serde.clone(),
                        versioned,
                    )
                },
                &self.node,
            );
        }
        drop(st);
        KGroupedTable::new(
            self.state.clone(),
            name,
            grouped.name,
            key_serde,
            value_serde,
        )
    }
}

/// The serde of changes through a repartition topic.
pub(crate) fn change_serde<V: 'static>(inner: SharedSerde<V>) -> SharedSerde<super::Change<V>> {
    Arc::new(ChangeSerde::new(inner))
}
