//! [`CogroupedKStream`]: several grouped streams, each with its own aggregator, folded into one
//! aggregate per key (Kafka Streams' `cogroup`, KIP-150), optionally per window.
//!
//! As in Kafka Streams, each grouped stream gets an aggregation processor of its own (after its
//! repartition topic, if its key changed), all of them sharing one store; a merge node after
//! them is the resulting table. Records with a null key (and, outside windows, a null value)
//! are dropped and counted, as each stream's aggregation does alone.

use std::sync::Arc;
use std::time::Duration;

use super::ops::branch::PassThrough;
use super::ops::session_aggregate::{SessionAggregate, SessionFns};
use super::ops::sliding_aggregate::SlidingWindowAggregate;
use super::ops::window_aggregate::TimeWindowAggregate;
use super::ops::{Fold, StreamAggregate, lookup};
use super::{
    EmitStrategy, KGroupedStream, KTable, Materialized, SessionWindows, SlidingWindows,
    TimeWindows, Windowed, WindowedSerde,
};
use crate::Error;
use crate::dsl::builder::SharedState;
use crate::serde::{SharedSerde, TimestampedSerde};
use crate::state::StoreBuilder;

/// How the cogrouped aggregation windows its records.
#[derive(Clone)]
enum Mode<K, A> {
    Plain,
    Time(TimeWindows),
    Sliding(SlidingWindows),
    Session(SessionWindows, SessionMerger<K, A>),
}

type SessionMerger<K, A> = Arc<dyn Fn(&K, A, A) -> A + Send + Sync>;

/// Adds one grouped stream's aggregation processor (after its repartition, if needed), given
/// the store, the mode, the initializer and a key serde hint; returns the processor's name and
/// the key serde.
type AddPart<K, A> = Box<
    dyn FnOnce(
        &str,
        &Mode<K, A>,
        Arc<dyn Fn() -> A + Send + Sync>,
        Option<SharedSerde<K>>,
    ) -> Option<(String, SharedSerde<K>)>,
>;

/// Grouped streams of possibly different value types, each with an aggregator into one
/// aggregate type `A`. Made by [`KGroupedStream::cogroup`]; finished by
/// [`aggregate`](Self::aggregate) or [`windowed_by`](Self::windowed_by).
///
/// ```
/// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
/// use streams_core::serde::Serdes;
///
/// let builder = StreamsBuilder::new();
/// let clicks = builder.stream("clicks", Consumed::with(Serdes::string(), Serdes::string())).group_by_key();
/// let buys = builder.stream("purchases", Consumed::with(Serdes::string(), Serdes::i64())).group_by_key();
/// // Per user: clicks counted, purchase amounts summed, in one table.
/// let activity = clicks
///     .cogroup(|_user: &String, _click: String, (clicks, spent): (u64, i64)| (clicks + 1, spent))
///     .cogroup(buys, |_user: &String, amount: i64, (clicks, spent): (u64, i64)| (clicks, spent + amount))
///     .aggregate(|| (0u64, 0i64), Materialized::as_("activity").with_value_serde(Serdes::json()));
/// # let _ = activity;
/// # builder.build()?;
/// # Ok::<(), streams_core::Error>(())
/// ```
pub struct CogroupedKStream<K, A> {
    state: SharedState,
    /// The first stream's node, for errors.
    node: String,
    parts: Vec<AddPart<K, A>>,
}

impl<K, A> std::fmt::Debug for CogroupedKStream<K, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CogroupedKStream")
            .field("streams", &self.parts.len())
            .finish_non_exhaustive()
    }
}

/// A grouped stream's aggregator.
type Aggregator<K, V, A> = Arc<dyn Fn(&K, V, A) -> A + Send + Sync>;

fn part<K, V, A>(grouped: KGroupedStream<K, V>, aggregator: Aggregator<K, V, A>) -> AddPart<K, A>
where
    K: Clone + 'static,
    V: Clone + 'static,
    A: Clone + 'static,
{
    Box::new(move |store, mode, init, key_hint| {
        let key_hint = grouped.key_serde_hint(key_hint);
        let (parent, key_serde) = grouped.prepare(&format!("{store}-cogroup"), key_hint)?;
        let value_serde = grouped
            .grouped
            .value_serde
            .clone()
            .or_else(|| grouped.stream.value_serde.clone());
        let fold: Fold<K, V, A> = {
            let (aggregator, init) = (aggregator.clone(), init.clone());
            Arc::new(move |k: &K, v: V, agg: Option<A>| {
                aggregator(k, v, agg.unwrap_or_else(|| init()))
            })
        };
        let state = grouped.stream.state.clone();
        let mut st = state.borrow_mut();
        let store = store.to_string();
        let ks = key_serde.clone();
        let name = match mode {
            Mode::Plain => {
                let name = st.new_name("COGROUPKSTREAM-AGGREGATE");
                st.add_processor(
                    &name,
                    move || {
                        StreamAggregate::new(
                            store.clone(),
                            ks.clone(),
                            value_serde.clone(),
                            fold.clone(),
                        )
                    },
                    &parent,
                );
                name
            }
            Mode::Time(windows) => {
                let (name, windows) = (st.new_name("COGROUPKSTREAM-AGGREGATE"), *windows);
                st.add_processor(
                    &name,
                    move || {
                        TimeWindowAggregate::new(
                            store.clone(),
                            windows,
                            ks.clone(),
                            fold.clone(),
                            EmitStrategy::OnWindowUpdate,
                        )
                    },
                    &parent,
                );
                name
            }
            Mode::Sliding(windows) => {
                let (name, windows) = (st.new_name("COGROUPKSTREAM-AGGREGATE"), *windows);
                st.add_processor(
                    &name,
                    move || {
                        SlidingWindowAggregate::new(
                            store.clone(),
                            windows,
                            ks.clone(),
                            value_serde.clone(),
                            fold.clone(),
                            EmitStrategy::OnWindowUpdate,
                        )
                    },
                    &parent,
                );
                name
            }
            Mode::Session(windows, merger) => {
                let (name, windows) = (st.new_name("COGROUPKSTREAM-AGGREGATE"), *windows);
                let (add, merger, init_merge) = (fold.clone(), merger.clone(), init.clone());
                let fns = SessionFns {
                    init: Arc::new(move || Some(init())),
                    add: Arc::new(move |k: &K, v: V, agg: Option<A>| add(k, v, agg)),
                    merge: Arc::new(move |k: &K, agg: Option<A>, next: A| {
                        Some(merger(k, agg.unwrap_or_else(|| init_merge()), next))
                    }),
                };
                st.add_processor(
                    &name,
                    move || {
                        SessionAggregate::new(
                            store.clone(),
                            windows,
                            ks.clone(),
                            fns.clone(),
                            EmitStrategy::OnWindowUpdate,
                        )
                    },
                    &parent,
                );
                name
            }
        };
        Some((name, key_serde))
    })
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    /// Starts a cogrouped aggregation with this stream folded by `aggregator`; add more grouped
    /// streams with [`CogroupedKStream::cogroup`]. Kafka's `KGroupedStream.cogroup`.
    pub fn cogroup<A, F>(self, aggregator: F) -> CogroupedKStream<K, A>
    where
        A: Clone + 'static,
        F: Fn(&K, V, A) -> A + Send + Sync + 'static,
    {
        let (state, node) = (self.stream.state.clone(), self.stream.node.clone());
        CogroupedKStream {
            state,
            node,
            parts: vec![part(self, Arc::new(aggregator))],
        }
    }
}

impl<K: Clone + 'static, A: Clone + 'static> CogroupedKStream<K, A> {
    /// Adds another grouped stream (of any value type) with its aggregator.
    pub fn cogroup<V, F>(mut self, grouped: KGroupedStream<K, V>, aggregator: F) -> Self
    where
        V: Clone + 'static,
        F: Fn(&K, V, A) -> A + Send + Sync + 'static,
    {
        self.parts.push(part(grouped, Arc::new(aggregator)));
        self
    }

    /// Aggregates every key of every stream into one table, starting from `initializer()`.
    pub fn aggregate<I>(self, initializer: I, materialized: Materialized<K, A>) -> KTable<K, A>
    where
        I: Fn() -> A + Send + Sync + 'static,
    {
        let state = self.state.clone();
        let node = self.node.clone();
        match self.build(Arc::new(initializer), materialized, Mode::Plain) {
            Some(built) => built.table::<K>(&state, Some),
            None => KTable::new(state, node, None, None, None),
        }
    }

    /// Aggregates per time or sliding window ([`TimeWindows`], [`SlidingWindows`]) or per
    /// session ([`SessionWindows`]).
    pub fn windowed_by<W: CogroupWindows>(self, windows: W) -> W::Windowed<K, A> {
        windows.cogrouped(self)
    }

    /// Adds every stream's aggregation processor and the shared store.
    fn build(
        self,
        initializer: Arc<dyn Fn() -> A + Send + Sync>,
        materialized: Materialized<K, A>,
        mode: Mode<K, A>,
    ) -> Option<Built<K, A>> {
        let state = self.state.clone();
        let store_name = materialized.name.clone().unwrap_or_else(|| {
            state
                .borrow_mut()
                .new_name("COGROUPKSTREAM-AGGREGATE-STATE-STORE")
        });
        let agg_serde = state.borrow_mut().require_serde(
            materialized.value_serde.clone(),
            &format!("cogrouped aggregation into `{store_name}`"),
        )?;
        let mut processors = Vec::new();
        let mut key_serde = None;
        for add in self.parts {
            let hint = materialized.key_serde.clone().or_else(|| key_serde.clone());
            let (name, ks) = add(&store_name, &mode, initializer.clone(), hint)?;
            key_serde.get_or_insert(ks);
            processors.push(name);
        }
        let key_serde = key_serde?;
        let mut st = state.borrow_mut();
        let (builder, close_delay) = match &mode {
            Mode::Plain => (
                materialized.store_builder(
                    store_name.clone(),
                    key_serde.clone(),
                    agg_serde.clone(),
                ),
                None,
            ),
            Mode::Time(w) => {
                let minimum = w.size.saturating_add(w.grace);
                let builder = window_store(
                    &materialized,
                    &store_name,
                    minimum,
                    &key_serde,
                    &agg_serde,
                    &mut st,
                );
                (builder, Some(w.grace))
            }
            Mode::Sliding(w) => {
                let minimum = w.difference.saturating_mul(2).saturating_add(w.grace);
                let builder = window_store(
                    &materialized,
                    &store_name,
                    minimum,
                    &key_serde,
                    &agg_serde,
                    &mut st,
                );
                (builder, Some(w.grace))
            }
            Mode::Session(w, _) => {
                let minimum = w.gap.saturating_add(w.grace);
                let retention = retention(&materialized, minimum, &store_name, &mut st);
                let builder = StoreBuilder::session(
                    store_name.clone(),
                    Duration::from_millis(u64::try_from(retention).unwrap_or(0)),
                    key_serde.clone(),
                    agg_serde.clone(),
                );
                (materialized.configure(builder), Some(minimum))
            }
        };
        let refs: Vec<&str> = processors.iter().map(String::as_str).collect();
        st.add_store_for(builder, &refs);
        if let Some(first) = processors.first() {
            st.mark_copartitioned(first);
        }
        Some(Built {
            processors,
            key_serde,
            agg_serde,
            store_name,
            close_delay,
        })
    }
}

/// What [`CogroupedKStream::build`] added.
struct Built<K, A> {
    processors: Vec<String>,
    key_serde: SharedSerde<K>,
    agg_serde: SharedSerde<A>,
    store_name: String,
    close_delay: Option<i64>,
}

impl<K: Clone + 'static, A: Clone + 'static> Built<K, A> {
    /// Merges the processors' outputs (keyed by `KOut`: the key, or the windowed key) into the
    /// result table.
    fn table<KOut: Clone + 'static>(
        self,
        state: &SharedState,
        key_serde: impl FnOnce(SharedSerde<K>) -> Option<SharedSerde<KOut>>,
    ) -> KTable<KOut, A> {
        let mut st = state.borrow_mut();
        let merge = st.new_name("COGROUPKSTREAM-MERGE");
        let refs: Vec<&str> = self.processors.iter().map(String::as_str).collect();
        st.add_processor_with_parents(
            &merge,
            PassThrough::<KOut, crate::dsl::Change<A>>::new,
            &refs,
        );
        drop(st);
        let table = KTable::new(
            state.clone(),
            merge,
            key_serde(self.key_serde),
            Some(self.agg_serde),
            Some(self.store_name),
        );
        match self.close_delay {
            Some(delay) => table.with_window_close_delay(delay),
            None => table,
        }
    }
}

fn retention<K, A>(
    materialized: &Materialized<K, A>,
    minimum: i64,
    store: &str,
    st: &mut crate::dsl::builder::BuilderState,
) -> i64 {
    let retention = materialized.retention.map_or(minimum, |d| {
        i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
    });
    if retention < minimum {
        st.record::<()>(Err(Error::Topology(format!(
            "the retention of store `{store}` ({retention} ms) must be at least {minimum} ms"
        ))));
    }
    retention
}

fn window_store<K: 'static, A: 'static>(
    materialized: &Materialized<K, A>,
    store: &str,
    minimum: i64,
    key_serde: &SharedSerde<K>,
    agg_serde: &SharedSerde<A>,
    st: &mut crate::dsl::builder::BuilderState,
) -> StoreBuilder {
    let retention = retention(materialized, minimum, store, st);
    let value_serde: SharedSerde<(A, i64)> = Arc::new(TimestampedSerde::new(agg_serde.clone()));
    let builder = StoreBuilder::window(
        store.to_string(),
        Duration::from_millis(u64::try_from(retention).unwrap_or(0)),
        false,
        key_serde.clone(),
        value_serde,
    );
    materialized.configure(builder)
}

/// Windows a [`CogroupedKStream`] can aggregate over.
pub trait CogroupWindows: cogroup_private::Sealed {
    /// The windowed cogrouped stream it yields.
    type Windowed<K: Clone + 'static, A: Clone + 'static>;
    #[doc(hidden)]
    fn cogrouped<K: Clone + 'static, A: Clone + 'static>(
        self,
        stream: CogroupedKStream<K, A>,
    ) -> Self::Windowed<K, A>;
}

mod cogroup_private {
    pub trait Sealed {}
    impl Sealed for super::TimeWindows {}
    impl Sealed for super::SlidingWindows {}
    impl Sealed for super::SessionWindows {}
}

/// A [`CogroupedKStream`] over time or sliding windows.
pub struct TimeWindowedCogroupedKStream<K, A> {
    stream: CogroupedKStream<K, A>,
    mode: Mode<K, A>,
}

/// A [`CogroupedKStream`] over session windows.
pub struct SessionWindowedCogroupedKStream<K, A> {
    stream: CogroupedKStream<K, A>,
    windows: SessionWindows,
}

impl<K, A> std::fmt::Debug for TimeWindowedCogroupedKStream<K, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeWindowedCogroupedKStream")
            .finish_non_exhaustive()
    }
}

impl<K, A> std::fmt::Debug for SessionWindowedCogroupedKStream<K, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWindowedCogroupedKStream")
            .field("windows", &self.windows)
            .finish_non_exhaustive()
    }
}

impl CogroupWindows for TimeWindows {
    type Windowed<K: Clone + 'static, A: Clone + 'static> = TimeWindowedCogroupedKStream<K, A>;
    fn cogrouped<K: Clone + 'static, A: Clone + 'static>(
        self,
        stream: CogroupedKStream<K, A>,
    ) -> TimeWindowedCogroupedKStream<K, A> {
        stream.state.borrow_mut().record(self.validate());
        TimeWindowedCogroupedKStream {
            stream,
            mode: Mode::Time(self),
        }
    }
}

impl CogroupWindows for SlidingWindows {
    type Windowed<K: Clone + 'static, A: Clone + 'static> = TimeWindowedCogroupedKStream<K, A>;
    fn cogrouped<K: Clone + 'static, A: Clone + 'static>(
        self,
        stream: CogroupedKStream<K, A>,
    ) -> TimeWindowedCogroupedKStream<K, A> {
        stream.state.borrow_mut().record(self.validate());
        TimeWindowedCogroupedKStream {
            stream,
            mode: Mode::Sliding(self),
        }
    }
}

impl CogroupWindows for SessionWindows {
    type Windowed<K: Clone + 'static, A: Clone + 'static> = SessionWindowedCogroupedKStream<K, A>;
    fn cogrouped<K: Clone + 'static, A: Clone + 'static>(
        self,
        stream: CogroupedKStream<K, A>,
    ) -> SessionWindowedCogroupedKStream<K, A> {
        stream.state.borrow_mut().record(self.validate());
        SessionWindowedCogroupedKStream {
            stream,
            windows: self,
        }
    }
}

impl<K: Clone + 'static, A: Clone + 'static> TimeWindowedCogroupedKStream<K, A> {
    /// Aggregates every stream's records per key and window, starting each window from
    /// `initializer()`.
    pub fn aggregate<I>(
        self,
        initializer: I,
        materialized: Materialized<K, A>,
    ) -> KTable<Windowed<K>, A>
    where
        I: Fn() -> A + Send + Sync + 'static,
    {
        let size = match &self.mode {
            Mode::Time(w) => w.size,
            Mode::Sliding(w) => w.difference,
            Mode::Plain | Mode::Session(..) => 0,
        };
        let state = self.stream.state.clone();
        let node = self.stream.node.clone();
        let Some(built) = self
            .stream
            .build(Arc::new(initializer), materialized, self.mode)
        else {
            return KTable::new(state, node, None, None, None);
        };
        let lookup = lookup::window_rows::<K, A>(built.store_name.clone());
        built
            .table(&state, |ks| {
                let serde: SharedSerde<Windowed<K>> = Arc::new(WindowedSerde::time_ms(ks, size));
                Some(serde)
            })
            .with_lookup(lookup)
    }
}

impl<K: Clone + 'static, A: Clone + 'static> SessionWindowedCogroupedKStream<K, A> {
    /// Aggregates every stream's records per key and session, starting each session from
    /// `initializer()` and combining merged sessions with `merger`.
    pub fn aggregate<I, M>(
        self,
        initializer: I,
        merger: M,
        materialized: Materialized<K, A>,
    ) -> KTable<Windowed<K>, A>
    where
        I: Fn() -> A + Send + Sync + 'static,
        M: Fn(&K, A, A) -> A + Send + Sync + 'static,
    {
        let state = self.stream.state.clone();
        let node = self.stream.node.clone();
        let mode = Mode::Session(self.windows, Arc::new(merger));
        let Some(built) = self.stream.build(Arc::new(initializer), materialized, mode) else {
            return KTable::new(state, node, None, None, None);
        };
        let lookup = lookup::session_rows::<K, A>(built.store_name.clone());
        built
            .table(&state, |ks| {
                let serde: SharedSerde<Windowed<K>> = Arc::new(WindowedSerde::session(ks));
                Some(serde)
            })
            .with_lookup(lookup)
    }
}
