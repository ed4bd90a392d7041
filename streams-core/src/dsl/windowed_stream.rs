//! Windowed aggregation: [`KGroupedStream::windowed_by`] with [`TimeWindows`] or
//! [`SlidingWindows`] gives a [`TimeWindowedKStream`], with [`SessionWindows`] a
//! [`SessionWindowedKStream`]; their aggregations give tables keyed by [`Windowed`] keys.

use std::sync::Arc;
use std::time::Duration;

use super::ktable::OldValues;
use super::ops::Fold;
use super::ops::session_aggregate::{SessionAggregate, SessionFns};
use super::ops::sliding_aggregate::SlidingWindowAggregate;
use super::ops::window_aggregate::TimeWindowAggregate;
use super::{
    EmitStrategy, KGroupedStream, KTable, Materialized, SessionWindows, SlidingWindows,
    TimeWindows, Windowed, WindowedSerde,
};
use crate::Error;
use crate::serde::{SharedSerde, TimestampedSerde, U64Serde};
use crate::state::StoreBuilder;

/// A window definition usable with [`KGroupedStream::windowed_by`].
pub trait WindowSpec<K, V>: private::Sealed {
    /// The windowed stream it yields.
    type Windowed;
    #[doc(hidden)]
    fn windowed(self, grouped: KGroupedStream<K, V>) -> Self::Windowed;
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::TimeWindows {}
    impl Sealed for super::SlidingWindows {}
    impl Sealed for super::SessionWindows {}
}

#[derive(Debug, Clone, Copy)]
enum TimeKind {
    Fixed(TimeWindows),
    Sliding(SlidingWindows),
}

/// A grouped stream over time windows (tumbling, hopping or sliding).
pub struct TimeWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    kind: TimeKind,
    emit: EmitStrategy,
}

impl<K, V> std::fmt::Debug for TimeWindowedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TimeWindowedKStream")
            .field("windows", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A grouped stream over session windows.
pub struct SessionWindowedKStream<K, V> {
    grouped: KGroupedStream<K, V>,
    windows: SessionWindows,
    emit: EmitStrategy,
}

impl<K, V> std::fmt::Debug for SessionWindowedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionWindowedKStream")
            .field("windows", &self.windows)
            .finish_non_exhaustive()
    }
}

impl<K: Clone + 'static, V: Clone + 'static> WindowSpec<K, V> for TimeWindows {
    type Windowed = TimeWindowedKStream<K, V>;
    fn windowed(self, grouped: KGroupedStream<K, V>) -> TimeWindowedKStream<K, V> {
        grouped.stream.state.borrow_mut().record(self.validate());
        TimeWindowedKStream {
            grouped,
            kind: TimeKind::Fixed(self),
            emit: EmitStrategy::default(),
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> WindowSpec<K, V> for SlidingWindows {
    type Windowed = TimeWindowedKStream<K, V>;
    fn windowed(self, grouped: KGroupedStream<K, V>) -> TimeWindowedKStream<K, V> {
        grouped.stream.state.borrow_mut().record(self.validate());
        TimeWindowedKStream {
            grouped,
            kind: TimeKind::Sliding(self),
            emit: EmitStrategy::default(),
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> WindowSpec<K, V> for SessionWindows {
    type Windowed = SessionWindowedKStream<K, V>;
    fn windowed(self, grouped: KGroupedStream<K, V>) -> SessionWindowedKStream<K, V> {
        grouped.stream.state.borrow_mut().record(self.validate());
        SessionWindowedKStream {
            grouped,
            windows: self,
            emit: EmitStrategy::default(),
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    /// Aggregates per window: [`TimeWindows`] and [`SlidingWindows`] give a
    /// [`TimeWindowedKStream`], [`SessionWindows`] a [`SessionWindowedKStream`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder, TimeWindows};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let per_minute = builder
    ///     .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
    ///     .count(Materialized::as_("clicks-per-minute"));
    /// # let _ = per_minute;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn windowed_by<W: WindowSpec<K, V>>(self, windows: W) -> W::Windowed {
        windows.windowed(self)
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Count, reduce and aggregate as folds.
fn count_fold<K, V>() -> Fold<K, V, u64> {
    Arc::new(|_k: &K, _v: V, count: Option<u64>| count.unwrap_or(0) + 1)
}

fn reduce_fold<K, V: 'static, F: Fn(V, V) -> V + Send + Sync + 'static>(
    reducer: F,
) -> Fold<K, V, V> {
    Arc::new(move |_k: &K, v: V, agg: Option<V>| match agg {
        Some(agg) => reducer(agg, v),
        None => v,
    })
}

impl<K: Clone + 'static, V: Clone + 'static> TimeWindowedKStream<K, V> {
    /// When the aggregation's results are forwarded: on every update (the default) or once
    /// per window when it closes (see [`EmitStrategy`]). Kafka's `emitStrategy`.
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    fn aggregate_internal<A: Clone + 'static>(
        self,
        materialized: Materialized<K, A>,
        fold: Fold<K, V, A>,
    ) -> KTable<Windowed<K>, A> {
        let emit = self.emit;
        // As Kafka Streams: emitting on window close reads the store directly, uncached.
        let materialized = if emit.is_on_window_close() {
            materialized.with_caching_disabled()
        } else {
            materialized
        };
        let grouped = self.grouped;
        let state = grouped.stream.state.clone();
        let (prefix, size, grace, default_retention) = match self.kind {
            TimeKind::Fixed(w) => (
                "KSTREAM-AGGREGATE",
                w.size,
                w.grace,
                w.size.saturating_add(w.grace),
            ),
            TimeKind::Sliding(w) => (
                "KSTREAM-SLIDINGWINDOWAGGREGATE",
                w.difference,
                w.grace,
                w.difference.saturating_mul(2).saturating_add(w.grace),
            ),
        };
        let store_name = materialized.name.clone().unwrap_or_else(|| {
            state
                .borrow_mut()
                .new_name(&format!("{prefix}-STATE-STORE"))
        });
        let retention = materialized.retention.map_or(default_retention, ms);
        if retention < default_retention {
            state.borrow_mut().record::<()>(Err(Error::Topology(format!(
                "the retention of window store `{store_name}` ({retention} ms) must be at least its window size plus grace ({default_retention} ms)"
            ))));
        }
        let key_hint = grouped.key_serde_hint(materialized.key_serde.clone());
        let agg_serde = state.borrow_mut().require_serde(
            materialized.value_serde.clone(),
            &format!("windowed aggregation into `{store_name}`"),
        );
        let (Some((parent, key_serde)), Some(agg_serde)) =
            (grouped.prepare(&store_name, key_hint), agg_serde)
        else {
            return KTable::new(state, grouped.stream.node.clone(), None, None, None);
        };
        let mut st = state.borrow_mut();
        let name = st.new_name(prefix);
        let store = store_name.clone();
        let null_check = key_serde.clone();
        let value_null_check = grouped
            .grouped
            .value_serde
            .clone()
            .or_else(|| grouped.stream.value_serde.clone());
        // Whether operators below want old values (Kafka Streams' `enableSendingOldValues`).
        let old_values = OldValues::below(None);
        let asked = old_values.clone();
        match self.kind {
            TimeKind::Fixed(windows) => st.add_processor(
                &name,
                move || {
                    TimeWindowAggregate::new(
                        store.clone(),
                        windows,
                        null_check.clone(),
                        fold.clone(),
                        emit,
                    )
                    .with_old_values(asked.clone())
                },
                &parent,
            ),
            TimeKind::Sliding(windows) => st.add_processor(
                &name,
                move || {
                    SlidingWindowAggregate::new(
                        store.clone(),
                        windows,
                        null_check.clone(),
                        value_null_check.clone(),
                        fold.clone(),
                        emit,
                    )
                    .with_old_values(asked.clone())
                },
                &parent,
            ),
        }
        let value_serde: SharedSerde<(A, i64)> = Arc::new(TimestampedSerde::new(agg_serde.clone()));
        let builder = StoreBuilder::window(
            store_name.clone(),
            Duration::from_millis(u64::try_from(retention).unwrap_or(0)),
            false,
            key_serde.clone(),
            value_serde,
        )
        .with_timestamped_values();
        st.refuse_versioned(&materialized, "a windowed aggregation's store");
        st.add_store(materialized.configure(builder), &name);
        drop(st);
        let windowed_serde: SharedSerde<Windowed<K>> =
            Arc::new(WindowedSerde::time_ms(key_serde, size));
        let lookup = super::ops::lookup::window_rows::<K, A>(store_name.clone());
        let mut table = KTable::new(
            state,
            name,
            Some(windowed_serde),
            Some(agg_serde),
            Some(store_name),
        )
        .with_window_close_delay(grace)
        .with_lookup(lookup);
        table.old_values = Some(old_values);
        table
    }

    /// Counts records per key and window.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Materialized, SlidingWindows, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("logins", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key()
    ///     .windowed_by(SlidingWindows::of_time_difference_with_no_grace(Duration::from_secs(60)))
    ///     .count(Materialized::as_("logins-per-minute"))
    ///     .to_stream()
    ///     .map(|w, count| (w.key, count))
    ///     .to("login-bursts");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn count(self, materialized: Materialized<K, u64>) -> KTable<Windowed<K>, u64> {
        let materialized = Materialized {
            value_serde: materialized
                .value_serde
                .clone()
                .or_else(|| Some(Arc::new(U64Serde))),
            ..materialized
        };
        self.aggregate_internal(materialized, count_fold())
    }

    /// Combines each window's values with `reducer`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder, TimeWindows};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let max_per_window = builder
    ///     .stream("readings", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
    ///     .reduce(|a: i64, b: i64| a.max(b), Materialized::as_("max-reading"));
    /// # let _ = max_per_window;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn reduce<F>(self, reducer: F, materialized: Materialized<K, V>) -> KTable<Windowed<K>, V>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let materialized = Materialized {
            value_serde: materialized
                .value_serde
                .clone()
                .or_else(|| self.grouped.grouped.value_serde.clone())
                .or_else(|| self.grouped.stream.value_serde.clone()),
            ..materialized
        };
        self.aggregate_internal(materialized, reduce_fold(reducer))
    }

    /// Folds each window's values into an aggregate starting from `initializer()`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder, TimeWindows};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let spent = builder
    ///     .stream("payments", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(3600)))
    ///     .aggregate(|| 0i64, |_k: &String, cents: i64, sum: i64| sum + cents, Materialized::as_("hourly-spend"));
    /// # let _ = spent;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn aggregate<A, I, F>(
        self,
        initializer: I,
        aggregator: F,
        materialized: Materialized<K, A>,
    ) -> KTable<Windowed<K>, A>
    where
        A: Clone + 'static,
        I: Fn() -> A + Send + Sync + 'static,
        F: Fn(&K, V, A) -> A + Send + Sync + 'static,
    {
        let fold: Fold<K, V, A> = Arc::new(move |k: &K, v: V, agg: Option<A>| {
            aggregator(k, v, agg.unwrap_or_else(&initializer))
        });
        self.aggregate_internal(materialized, fold)
    }
}

impl<K: Clone + 'static, V: Clone + 'static> SessionWindowedKStream<K, V> {
    /// When the aggregation's results are forwarded: on every update (the default) or once
    /// per session when it closes (see [`EmitStrategy`]). Kafka's `emitStrategy`.
    pub fn emit_strategy(mut self, emit: EmitStrategy) -> Self {
        self.emit = emit;
        self
    }

    fn aggregate_internal<A: Clone + 'static>(
        self,
        materialized: Materialized<K, A>,
        fns: SessionFns<K, V, A>,
    ) -> KTable<Windowed<K>, A> {
        let emit = self.emit;
        let materialized = if emit.is_on_window_close() {
            materialized.with_caching_disabled()
        } else {
            materialized
        };
        let grouped = self.grouped;
        let windows = self.windows;
        let state = grouped.stream.state.clone();
        let store_name = materialized.name.clone().unwrap_or_else(|| {
            state
                .borrow_mut()
                .new_name("KSTREAM-SESSIONWINDOWAGGREGATE-STATE-STORE")
        });
        let default_retention = windows.gap.saturating_add(windows.grace);
        let retention = materialized.retention.map_or(default_retention, ms);
        if retention < default_retention {
            state.borrow_mut().record::<()>(Err(Error::Topology(format!(
                "the retention of session store `{store_name}` ({retention} ms) must be at least its gap plus grace ({default_retention} ms)"
            ))));
        }
        let key_hint = grouped.key_serde_hint(materialized.key_serde.clone());
        let agg_serde = state.borrow_mut().require_serde(
            materialized.value_serde.clone(),
            &format!("session aggregation into `{store_name}`"),
        );
        let (Some((parent, key_serde)), Some(agg_serde)) =
            (grouped.prepare(&store_name, key_hint), agg_serde)
        else {
            return KTable::new(state, grouped.stream.node.clone(), None, None, None);
        };
        let mut st = state.borrow_mut();
        let name = st.new_name("KSTREAM-SESSIONWINDOWAGGREGATE");
        let store = store_name.clone();
        let null_check = key_serde.clone();
        st.add_processor(
            &name,
            move || {
                SessionAggregate::new(
                    store.clone(),
                    windows,
                    null_check.clone(),
                    fns.clone(),
                    emit,
                )
            },
            &parent,
        );
        let builder = StoreBuilder::session(
            store_name.clone(),
            Duration::from_millis(u64::try_from(retention).unwrap_or(0)),
            key_serde.clone(),
            agg_serde.clone(),
        );
        st.refuse_versioned(&materialized, "a windowed aggregation's store");
        st.add_store(materialized.configure(builder), &name);
        drop(st);
        let windowed_serde: SharedSerde<Windowed<K>> = Arc::new(WindowedSerde::session(key_serde));
        let lookup = super::ops::lookup::session_rows::<K, A>(store_name.clone());
        KTable::new(
            state,
            name,
            Some(windowed_serde),
            Some(agg_serde),
            Some(store_name),
        )
        .with_window_close_delay(windows.grace + windows.gap)
        .with_lookup(lookup)
    }

    /// Counts records per key and session.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Materialized, SessionWindows, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let clicks_per_visit = builder
    ///     .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key()
    ///     .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(1800)))
    ///     .count(Materialized::as_("clicks-per-visit"));
    /// # let _ = clicks_per_visit;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn count(self, materialized: Materialized<K, u64>) -> KTable<Windowed<K>, u64> {
        let materialized = Materialized {
            value_serde: materialized
                .value_serde
                .clone()
                .or_else(|| Some(Arc::new(U64Serde))),
            ..materialized
        };
        let fns = SessionFns {
            init: Arc::new(|| Some(0u64)),
            add: Arc::new(|_k: &K, _v: V, agg: Option<u64>| agg.unwrap_or(0) + 1),
            merge: Arc::new(|_k: &K, agg: Option<u64>, other: u64| Some(agg.unwrap_or(0) + other)),
        };
        self.aggregate_internal(materialized, fns)
    }

    /// Combines each session's values with `reducer` (also used to merge sessions).
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Materialized, SessionWindows, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let spent_per_visit = builder
    ///     .stream("purchases", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .group_by_key()
    ///     .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(1800)))
    ///     .reduce(|a: i64, b: i64| a + b, Materialized::as_("spent-per-visit"));
    /// # let _ = spent_per_visit;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn reduce<F>(self, reducer: F, materialized: Materialized<K, V>) -> KTable<Windowed<K>, V>
    where
        F: Fn(V, V) -> V + Send + Sync + 'static,
    {
        let materialized = Materialized {
            value_serde: materialized
                .value_serde
                .clone()
                .or_else(|| self.grouped.grouped.value_serde.clone())
                .or_else(|| self.grouped.stream.value_serde.clone()),
            ..materialized
        };
        let reducer = Arc::new(reducer);
        let (add_r, merge_r) = (reducer.clone(), reducer);
        let fns = SessionFns {
            init: Arc::new(|| None),
            add: Arc::new(move |_k: &K, v: V, agg: Option<V>| match agg {
                Some(agg) => add_r(agg, v),
                None => v,
            }),
            merge: Arc::new(move |_k: &K, agg: Option<V>, other: V| {
                Some(match agg {
                    Some(agg) => merge_r(agg, other),
                    None => other,
                })
            }),
        };
        self.aggregate_internal(materialized, fns)
    }

    /// Folds each session's values into an aggregate; `merger` combines the aggregates of
    /// sessions that a record joins together.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Materialized, SessionWindows, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let pages = builder
    ///     .stream("page-views", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key()
    ///     .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(600)))
    ///     .aggregate(
    ///         String::new,
    ///         |_user: &String, page: String, path: String| path + "/" + &page,
    ///         |_user: &String, a: String, b: String| a + &b,
    ///         Materialized::as_("visit-paths"),
    ///     );
    /// # let _ = pages;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn aggregate<A, I, F, M>(
        self,
        initializer: I,
        aggregator: F,
        merger: M,
        materialized: Materialized<K, A>,
    ) -> KTable<Windowed<K>, A>
    where
        A: Clone + 'static,
        I: Fn() -> A + Send + Sync + 'static,
        F: Fn(&K, V, A) -> A + Send + Sync + 'static,
        M: Fn(&K, A, A) -> A + Send + Sync + 'static,
    {
        let initializer = Arc::new(initializer);
        let (init_a, init_b, init_c) = (initializer.clone(), initializer.clone(), initializer);
        let fns = SessionFns {
            init: Arc::new(move || Some(init_a())),
            add: Arc::new(move |k: &K, v: V, agg: Option<A>| {
                aggregator(k, v, agg.unwrap_or_else(|| init_b()))
            }),
            merge: Arc::new(move |k: &K, agg: Option<A>, other: A| {
                Some(merger(k, agg.unwrap_or_else(|| init_c()), other))
            }),
        };
        self.aggregate_internal(materialized, fns)
    }
}
