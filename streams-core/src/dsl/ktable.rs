//! [`KTable`]: a changelog stream seen as a table, and [`Change`], what its nodes forward.

use std::sync::Arc;

use super::builder::SharedState;
use super::ops::TableToStream;
use super::ops::branch::PassThrough;
use super::ops::suppress::SuppressUntilWindowCloses;
use super::ops::table_filter::TableFilter;
use super::ops::table_map_values::TableMapValues;
use super::ops::table_select::TableSelect;
use super::ops::table_source::TableMaterialize;
use super::ops::table_table_join::{SideKind, TableTableJoin};
use super::{Grouped, KGroupedTable, KStream, Materialized, Windowed};
use crate::Error;
use crate::serde::{ChangeSerde, Nullable, SharedSerde};
use crate::state::{StoreBuilder, StoreEngine};

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
        }
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
            materialized.store_builder(store.clone(), key_serde, value_serde),
            &name,
        );
        Some((name, store))
    }

    /// This table with a store to look values up in: itself if materialized, else a
    /// materializing node after it. `None` after recording a build error.
    pub(crate) fn ensure_materialized(&self) -> Option<KTable<K, V>> {
        if self.store.is_some() {
            return Some(self.clone());
        }
        let (node, store) = self.materialize_after(
            &self.node,
            "KTABLE-MATERIALIZE",
            self.value_serde.clone(),
            Materialized::default(),
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
        let name = {
            let mut st = self.state.borrow_mut();
            let name = st.new_name("KTABLE-FILTER");
            st.add_processor(
                &name,
                move || TableFilter::<K, V, F>::new(predicate.clone(), keep),
                &self.node,
            );
            name
        };
        match materialized {
            None => self.derived(name, self.value_serde.clone(), None),
            Some(m) => {
                match self.materialize_after(&name, "KTABLE-FILTER", self.value_serde.clone(), m) {
                    Some((node, store)) => {
                        self.derived(node, self.value_serde.clone(), Some(store))
                    }
                    None => self.derived(name, self.value_serde.clone(), None),
                }
            }
        }
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
        if let Some(key_serde) = key_serde.clone() {
            st.add_processor(
                &name,
                move || TableSelect::<K, V, K2, V2, F>::new(selector.clone(), key_serde.clone()),
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

/// How [`KTable::suppress`] holds back updates.
#[derive(Debug, Clone)]
pub struct BufferConfig {
    _unbounded: (),
}

impl BufferConfig {
    /// No limit: memory (and the buffer's changelog) grows with the number of open windows.
    ///
    /// ```
    /// let buffer = streams_core::dsl::BufferConfig::unbounded();
    /// # let _ = buffer;
    /// ```
    pub fn unbounded() -> Self {
        BufferConfig { _unbounded: () }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<Windowed<K>, V> {
    /// Holds back a windowed table's updates and emits one final result per window when it
    /// closes (window end + grace; for sessions + gap), as stream time passes that point.
    /// Deleted windows (merged sessions) are not emitted.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{BufferConfig, Consumed, Materialized, StreamsBuilder, Suppressed, TimeWindows};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(10)))
    ///     .count(Materialized::as_("clicks-per-minute"))
    ///     .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
    ///     .to_stream()
    ///     .map(|w, count| (w.key, count))
    ///     .to("final-click-counts");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn suppress(&self, suppressed: Suppressed) -> KTable<Windowed<K>, V> {
        let _ = suppressed;
        let mut st = self.state.borrow_mut();
        let name = st.new_name("KTABLE-SUPPRESS");
        let Some(delay) = self.window_close_delay else {
            st.record::<()>(Err(Error::Topology(format!(
                "suppress `{name}`: until_window_closes needs a windowed aggregation upstream"
            ))));
            return self.derived(self.node.clone(), self.value_serde.clone(), None);
        };
        let what = format!("suppression `{name}`");
        let (Some(key_serde), Some(value_serde)) = (
            st.require_serde(self.key_serde.clone(), &what),
            st.require_serde(self.value_serde.clone(), &what),
        ) else {
            return self.derived(self.node.clone(), self.value_serde.clone(), None);
        };
        let store = format!("{name}-STATE-STORE");
        let (store_name, ks, vs) = (store.clone(), key_serde, value_serde.clone());
        st.add_processor(
            &name,
            move || {
                SuppressUntilWindowCloses::<K, V>::new(
                    store_name.clone(),
                    delay,
                    ks.clone(),
                    vs.clone(),
                )
            },
            &self.node,
        );
        let buffer = StoreBuilder::key_value(
            store,
            crate::serde::Serdes::bytes(),
            crate::serde::Serdes::bytes(),
        )
        .with_engine(StoreEngine::InMemory);
        st.add_store(buffer, &name);
        drop(st);
        self.derived(name, Some(value_serde), None)
    }
}

/// When a suppression emits. Only emit-final for windows so far.
#[derive(Debug, Clone)]
pub struct Suppressed {
    _buffer: BufferConfig,
}

impl Suppressed {
    /// Emit each window's final result once, when it closes.
    ///
    /// ```
    /// use streams_core::dsl::{BufferConfig, Suppressed};
    /// let s = Suppressed::until_window_closes(BufferConfig::unbounded());
    /// # let _ = s;
    /// ```
    pub fn until_window_closes(buffer: BufferConfig) -> Self {
        Suppressed { _buffer: buffer }
    }
}

/// The serde of changes through a repartition topic.
pub(crate) fn change_serde<V: 'static>(inner: SharedSerde<V>) -> SharedSerde<super::Change<V>> {
    Arc::new(ChangeSerde::new(inner))
}

/// A table joiner in the internal form, oriented `(this, other)`.
type TableJoiner<V, VO, VR> = Arc<dyn Fn(Option<&V>, Option<&VO>) -> Option<VR> + Send + Sync>;

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    fn table_join<VO, VR>(
        &self,
        other: &KTable<K, VO>,
        kinds: (SideKind, SideKind),
        this_joiner: TableJoiner<V, VO, VR>,
        other_joiner: TableJoiner<VO, V, VR>,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        let broken = || KTable::new(self.state.clone(), self.node.clone(), None, None, None);
        let (Some(this), Some(that)) = (self.ensure_materialized(), other.ensure_materialized())
        else {
            return broken();
        };
        let (Some(this_store), Some(that_store)) = (this.store.clone(), that.store.clone()) else {
            return broken();
        };
        let mut st = self.state.borrow_mut();
        let this_name = st.new_name("KTABLE-JOINTHIS");
        let other_name = st.new_name("KTABLE-JOINOTHER");
        let (ts, tj) = (that_store.clone(), this_joiner);
        st.add_processor(
            &this_name,
            move || TableTableJoin::<K, V, VO, VR>::new(ts.clone(), kinds.0, tj.clone()),
            &this.node,
        );
        let (os, oj) = (this_store.clone(), other_joiner);
        st.add_processor(
            &other_name,
            move || TableTableJoin::<K, VO, V, VR>::new(os.clone(), kinds.1, oj.clone()),
            &that.node,
        );
        st.connect_store(&this_name, &that_store);
        st.connect_store(&other_name, &this_store);
        st.mark_copartitioned(&this_name);
        let merge = st.new_name("KTABLE-MERGE");
        st.add_processor_with_parents(
            &merge,
            PassThrough::<K, Change<VR>>::new,
            &[&this_name, &other_name],
        );
        drop(st);
        KTable::new(
            self.state.clone(),
            merge,
            self.key_serde.clone(),
            None,
            None,
        )
    }

    /// Joins rows with the same key in both tables; the result has a row while both do.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table("names", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// let emails = builder.table("emails", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// names.join(&emails, |name: &String, email: &String| format!("{name} <{email}>")).to_stream().to("contacts");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn join<VO, VR, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        let joiner = Arc::new(joiner);
        let (a, b) = (joiner.clone(), joiner);
        self.table_join(
            other,
            (SideKind::Inner, SideKind::Inner),
            Arc::new(move |l: Option<&V>, r: Option<&VO>| Some(a(l?, r?))),
            Arc::new(move |r: Option<&VO>, l: Option<&V>| Some(b(l?, r?))),
        )
    }

    /// Joins every row of this table with the other table's row for the key, or `None`.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let users = builder.table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// let vip = builder.table("vip", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// users.left_join(&vip, |name: &String, tier: Option<&String>| format!("{name}:{}", tier.map_or("none", |t| t)))
    ///      .to_stream().to("user-tiers");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn left_join<VO, VR, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let joiner = Arc::new(joiner);
        let (a, b) = (joiner.clone(), joiner);
        self.table_join(
            other,
            (SideKind::Preserved, SideKind::NeedsOther),
            Arc::new(move |l: Option<&V>, r: Option<&VO>| l.map(|l| a(l, r))),
            Arc::new(move |r: Option<&VO>, l: Option<&V>| l.map(|l| b(l, r))),
        )
    }

    /// Joins rows of either table with the other's row for the key, or `None`; the result
    /// has a row while either does.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let a = builder.table("a", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::default());
    /// let b = builder.table("b", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::default());
    /// a.outer_join(&b, |x: Option<&i64>, y: Option<&i64>| x.unwrap_or(&0) + y.unwrap_or(&0)).to_stream().to("sums");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn outer_join<VO, VR, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let joiner = Arc::new(joiner);
        let (a, b) = (joiner.clone(), joiner);
        self.table_join(
            other,
            (SideKind::Preserved, SideKind::Preserved),
            Arc::new(move |l: Option<&V>, r: Option<&VO>| Some(a(l, r))),
            Arc::new(move |r: Option<&VO>, l: Option<&V>| Some(b(l, r))),
        )
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    fn fk_join<KO, VO, VR>(
        &self,
        other: &KTable<KO, VO>,
        extractor: Arc<dyn Fn(&V) -> Option<KO> + Send + Sync>,
        joiner: Arc<dyn Fn(&V, Option<&VO>) -> Option<VR> + Send + Sync>,
        left_join: bool,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        KO: Clone + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        use super::ops::fk_join::{
            ForeignTableJoin, ResponseJoin, ResponseSerde, Subscription, SubscriptionReceive,
            SubscriptionSend, SubscriptionSerde,
        };
        let broken = || KTable::new(self.state.clone(), self.node.clone(), None, None, None);
        let (Some(this), Some(that)) = (self.ensure_materialized(), other.ensure_materialized())
        else {
            return broken();
        };
        let (Some(left_store), Some(right_store)) = (this.store.clone(), that.store.clone()) else {
            return broken();
        };
        let mut st = self.state.borrow_mut();
        let registration = st.new_name("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION");
        let response = st.new_name("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE");
        let what = format!("foreign-key join `{registration}`");
        let serdes = (
            st.require_serde(self.key_serde.clone(), &what),
            st.require_serde(self.value_serde.clone(), &what),
            st.require_serde(other.key_serde.clone(), &what),
            st.require_serde(other.value_serde.clone(), &what),
        );
        let (Some(key_serde), Some(value_serde), Some(fk_serde), Some(foreign_serde)) = serdes
        else {
            drop(st);
            return broken();
        };
        let registration_topic = format!("{registration}-topic");
        let response_topic = format!("{response}-topic");
        let subscription_store = format!("{registration}-STATE-STORE");
        let nullable_fk: SharedSerde<Option<KO>> = Arc::new(Nullable::new(fk_serde.clone()));
        let subscription_serde: SharedSerde<Subscription> = Arc::new(SubscriptionSerde);
        let response_serde: SharedSerde<super::ops::fk_join::Response<VO>> =
            Arc::new(ResponseSerde {
                inner: foreign_serde,
            });

        // Left side: subscribe.
        let send = format!("{registration}-SEND");
        let (ks, vs, fs) = (key_serde.clone(), value_serde.clone(), fk_serde.clone());
        st.add_processor(
            &send,
            move || SubscriptionSend {
                extractor: extractor.clone(),
                key_serde: ks.clone(),
                value_serde: vs.clone(),
                fk_serde: fs.clone(),
                left_join,
            },
            &this.node,
        );
        st.add_internal_topic(&registration_topic);
        st.add_sink(
            &format!("{registration}-SINK"),
            &registration_topic,
            nullable_fk.clone(),
            subscription_serde.clone(),
            &send,
        );

        // Right side: record subscriptions and answer them; answer again on right updates.
        let receive_source = format!("{registration}-SOURCE");
        st.add_source(
            &receive_source,
            &registration_topic,
            nullable_fk,
            subscription_serde,
        );
        let receive = format!("{registration}-RECEIVE");
        let (subs, rs, fs) = (
            subscription_store.clone(),
            right_store.clone(),
            fk_serde.clone(),
        );
        st.add_processor(
            &receive,
            move || SubscriptionReceive::<KO, VO> {
                subscriptions: subs.clone(),
                right_store: rs.clone(),
                fk_serde: fs.clone(),
                subs: None,
                right: None,
            },
            &receive_source,
        );
        let foreign = format!("{response}-FOREIGN");
        let (subs, fs) = (subscription_store.clone(), fk_serde.clone());
        st.add_processor(
            &foreign,
            move || ForeignTableJoin::<KO, VO> {
                subscriptions: subs.clone(),
                fk_serde: fs.clone(),
                subs: None,
                _types: std::marker::PhantomData,
            },
            &that.node,
        );
        st.add_store_for(
            StoreBuilder::key_value(
                subscription_store,
                crate::serde::Serdes::bytes(),
                crate::serde::Serdes::bytes(),
            ),
            &[&receive, &foreign],
        );
        st.connect_store(&receive, &right_store);
        st.add_internal_topic(&response_topic);
        let result = st
            .topology_mut()
            .add_partitioned_sink(
                &format!("{response}-SINK"),
                &response_topic,
                crate::serde::Serdes::bytes(),
                response_serde.clone(),
                Arc::new(|_k: &Vec<u8>, r: &super::ops::fk_join::Response<VO>| Some(r.partition)),
                &[&receive, &foreign],
            )
            .map(|_| ());
        st.record(result);
        st.mark_copartitioned(&receive);

        // Left side: join answers that still match the current row.
        let response_source = format!("{response}-SOURCE");
        st.add_source(
            &response_source,
            &response_topic,
            key_serde.clone(),
            response_serde,
        );
        let join = format!("{response}-JOIN");
        let (ls, vs) = (left_store.clone(), value_serde);
        st.add_processor(
            &join,
            move || ResponseJoin::<K, V, VO, VR> {
                left_store: ls.clone(),
                value_serde: vs.clone(),
                joiner: joiner.clone(),
                left_join,
                left: None,
            },
            &response_source,
        );
        st.connect_store(&join, &left_store);
        st.mark_copartitioned(&join);
        let output = st.new_name("KTABLE-FK-JOIN-OUTPUT");
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| format!("{output}-STATE-STORE"));
        let out_serde = st.require_serde(
            materialized.value_serde.clone(),
            &format!("result of {what}"),
        );
        let Some(out_serde) = out_serde else {
            drop(st);
            return broken();
        };
        let (store_name, ks) = (store.clone(), key_serde.clone());
        st.add_processor(
            &output,
            move || TableMaterialize::<K, Option<VR>, VR>::new(store_name.clone(), ks.clone()),
            &join,
        );
        st.add_store(
            materialized.store_builder(store.clone(), key_serde.clone(), out_serde.clone()),
            &output,
        );
        drop(st);
        KTable::new(
            self.state.clone(),
            output,
            Some(key_serde),
            Some(out_serde),
            Some(store),
        )
    }

    /// Joins each row with the other table's row whose key `foreign_key(value)` names: rows
    /// without one (or whose foreign row is missing) have no result. Works across partitions:
    /// the two tables need not be co-partitioned.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// // orders: order id -> "customer-id|item"; customers: customer id -> name
    /// let orders = builder.table("orders", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// let customers = builder.table("customers", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// orders
    ///     .join_foreign_key(
    ///         &customers,
    ///         |order: &String| order.split('|').next().map(String::from),
    ///         |order: &String, name: &String| format!("{order} for {name}"),
    ///         Materialized::as_("orders-with-customers"),
    ///     )
    ///     .to_stream()
    ///     .to("enriched-orders");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn join_foreign_key<KO, VO, VR, FK, F>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: FK,
        joiner: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        KO: Clone + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
        FK: Fn(&V) -> Option<KO> + Send + Sync + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        self.fk_join(
            other,
            Arc::new(foreign_key),
            Arc::new(move |v: &V, o: Option<&VO>| Some(joiner(v, o?))),
            false,
            materialized,
        )
    }

    /// Like [`join_foreign_key`](Self::join_foreign_key), but every row has a result, with
    /// `None` when the foreign row is missing or the row names none.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.table("orders", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// let customers = builder.table("customers", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default());
    /// orders
    ///     .left_join_foreign_key(
    ///         &customers,
    ///         |order: &String| order.split('|').next().map(String::from),
    ///         |order: &String, name: Option<&String>| format!("{order} for {}", name.map_or("?", |n| n.as_str())),
    ///         Materialized::as_("orders-maybe-with-customers"),
    ///     )
    ///     .to_stream()
    ///     .to("enriched-orders");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn left_join_foreign_key<KO, VO, VR, FK, F>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: FK,
        joiner: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        KO: Clone + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
        FK: Fn(&V) -> Option<KO> + Send + Sync + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.fk_join(
            other,
            Arc::new(foreign_key),
            Arc::new(move |v: &V, o: Option<&VO>| Some(joiner(v, o))),
            true,
            materialized,
        )
    }
}
