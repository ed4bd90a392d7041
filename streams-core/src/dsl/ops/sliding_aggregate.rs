//! Sliding-window aggregation, ported from Kafka Streams' `KStreamSlidingWindowAggregate`.
//!
//! Windows are `[start, start + d]` (both inclusive) and exist only where records are: each
//! record has a left window `[t - d, t]` and, when it would hold records, a right window
//! `[t + 1, t + 1 + d]`. A new record updates every existing window containing it, creates its
//! left window (seeded from the window holding exactly the records in `[t - d, t)`), creates
//! its right window from the window holding the records after it, and creates the previous
//! record's right window if the new record is the first in it. Records before `d` share the
//! window `[0, d]`.
//!
//! With [`EmitStrategy::OnWindowClose`] updates are not forwarded; each window's final result
//! is, once it closes. With a record cache, updates are forwarded when the cache flushes (at a
//! commit) or evicts them, one per window, as Kafka Streams' `TimestampedCacheFlushListener`
//! does. Records with a null key or a null value are dropped, counted.

use std::collections::BTreeSet;

use std::sync::Arc;

use super::emit_final::CloseEmitter;
use super::{Fold, forward_cached_windows};
use crate::Result;
use crate::dsl::ktable::OldValues;
use crate::dsl::{Change, EmitStrategy, SlidingWindows, Window, Windowed};
use crate::processor::Headers;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::WindowStoreHandle;

pub(crate) struct SlidingWindowAggregate<K, V, A> {
    store_name: String,
    windows: SlidingWindows,
    key_serde: SharedSerde<K>,
    /// The value serde, when known: records it writes as null are dropped, as in Kafka.
    value_serde: Option<SharedSerde<V>>,
    fold: Fold<K, V, A>,
    store: Option<WindowStoreHandle<K, (A, i64)>>,
    cached: bool,
    /// The largest timestamp seen, resumed after a restart from the store's.
    observed: i64,
    emit: EmitStrategy,
    /// With [`EmitStrategy::OnWindowClose`], from `init`.
    close_emitter: Option<CloseEmitter>,
    /// Whether operators below want old values; unknown (`None`): they are sent.
    old_values: Option<Arc<OldValues>>,
}

impl<K, V, A> SlidingWindowAggregate<K, V, A> {
    pub(crate) fn new(
        store_name: String,
        windows: SlidingWindows,
        key_serde: SharedSerde<K>,
        value_serde: Option<SharedSerde<V>>,
        fold: Fold<K, V, A>,
        emit: EmitStrategy,
    ) -> Self {
        SlidingWindowAggregate {
            store_name,
            windows,
            key_serde,
            value_serde,
            fold,
            store: None,
            cached: false,
            observed: -1,
            emit,
            close_emitter: None,
            old_values: None,
        }
    }

    /// Sends old values only if the operators below asked for them (Kafka Streams'
    /// `enableSendingOldValues`): the store's cache then reads no old value per window it
    /// writes through.
    pub(crate) fn with_old_values(mut self, old_values: Arc<OldValues>) -> Self {
        self.old_values = Some(old_values);
        self
    }
}

type Ctx<'c, 'a, K, A> = &'c mut ProcessorContext<'a, Windowed<K>, Change<A>>;

/// One record's pass over its key's windows.
struct Pass<'p, K, V, A> {
    store: &'p WindowStoreHandle<K, (A, i64)>,
    fold: &'p Fold<K, V, A>,
    record: &'p Record<K, V>,
    d: i64,
    close: i64,
    observed: i64,
    /// Whether updates are forwarded (not when emitting on window close).
    forward: bool,
    cached: bool,
}

impl<K: Clone + 'static, V: Clone + 'static, A: Clone + 'static> Pass<'_, K, V, A> {
    fn window(&self, start: i64) -> Window {
        Window {
            start,
            end: start + self.d,
        }
    }

    /// Adds the record to the window at `start` whose current aggregate is `agg` (with the
    /// largest timestamp in it), unless the window has closed.
    fn update(
        &self,
        ctx: Ctx<'_, '_, K, A>,
        start: i64,
        agg: Option<A>,
        max_ts: i64,
    ) -> Result<()> {
        let window = self.window(start);
        if window.end < self.close {
            ctx.record_late(&format!(
                "expired window [{},{}] for timestamp {} (expiration {}, stream time {})",
                window.start, window.end, self.record.timestamp, self.close, self.observed
            ));
            return Ok(());
        }
        let ts = self.record.timestamp;
        let timestamp = if agg.is_some() { ts.max(max_ts) } else { ts };
        let new = (self.fold)(&self.record.key, self.record.value.clone(), agg.clone());
        self.put_and_forward(ctx, window, new, agg, timestamp)
    }

    fn put_and_forward(
        &self,
        ctx: Ctx<'_, '_, K, A>,
        window: Window,
        new: A,
        old: Option<A>,
        timestamp: i64,
    ) -> Result<()> {
        let entry = (new, timestamp);
        if !self.store.put(&self.record.key, &entry, window.start)? {
            ctx.record_late("window past the store's retention");
            return Ok(());
        }
        if !self.forward {
            return Ok(());
        }
        if self.cached {
            let d = self.d;
            return forward_cached_windows(ctx, self.store.take_evicted()?, |start| Window {
                start,
                end: start + d,
            });
        }
        let new = (!self.store.is_null_value(&entry)).then_some(entry.0);
        ctx.forward(Record {
            key: Windowed {
                key: self.record.key.clone(),
                window,
            },
            value: Change { new, old },
            timestamp,
            headers: self.record.headers.clone(),
        })
    }

    /// The record's right window, holding (unchanged) the records after it.
    fn create_right(&self, ctx: Ctx<'_, '_, K, A>, after: (A, i64)) -> Result<()> {
        let (value, ts) = after;
        self.put_and_forward(ctx, self.window(self.record.timestamp + 1), value, None, ts)
    }

    /// Kafka Streams' `processReverse` (what it runs on its stores, which all iterate
    /// backwards): the key's windows from the latest start down, so existing windows are
    /// updated (and forwarded) latest first, stopping at the first window that ends before the
    /// record.
    fn in_order(&self, ctx: Ctx<'_, '_, K, A>) -> Result<()> {
        let ts = self.record.timestamp;
        let d = self.d;
        let mut existing = self
            .store
            .fetch(&self.record.key, (ts - 2 * d).max(0), ts + 1)?;
        existing.reverse();
        let mut seen = BTreeSet::new();
        let (mut left_created, mut right_created) = (false, false);
        let mut left_agg: Option<(A, i64)> = None;
        let mut right_agg: Option<(A, i64)> = None;
        let mut previous: Option<i64> = None;
        for (start, (agg, max_ts)) in existing {
            seen.insert(start);
            let end = start + d;
            if start == ts + 1 {
                right_created = true;
            } else if end > ts {
                if right_agg.is_none() {
                    right_agg = Some((agg.clone(), max_ts));
                }
                self.update(ctx, start, Some(agg), max_ts)?;
            } else if end == ts {
                left_created = true;
                self.update(ctx, start, Some(agg), max_ts)?;
                if max_ts < ts {
                    previous = Some(max_ts);
                } else {
                    // A record at this very timestamp already made every window it needs.
                    return Ok(());
                }
            } else {
                left_agg = Some((agg, max_ts));
                previous = Some(max_ts);
                break;
            }
        }
        if let Some(p) = previous {
            let previous_right = p + 1;
            if !seen.contains(&previous_right) && previous_right + d >= ts {
                self.update(ctx, previous_right, None, ts)?;
            }
        }
        if !left_created {
            let seed = match (previous, left_agg) {
                (Some(p), Some((agg, _))) if ts - d <= p => Some(agg),
                _ => None,
            };
            self.update(ctx, ts - d, seed, ts)?;
        }
        if let Some(after) = right_agg.filter(|(_, max_ts)| !right_created && *max_ts > ts) {
            self.create_right(ctx, after)?;
        }
        Ok(())
    }

    /// Records before `d`: their left windows would start below 0, so they share `[0, d]`.
    fn early(&self, ctx: Ctx<'_, '_, K, A>) -> Result<()> {
        let ts = self.record.timestamp;
        let existing = self.store.fetch(&self.record.key, 0, ts + 1)?;
        let mut seen = BTreeSet::new();
        let mut combined: Option<(A, i64)> = None;
        let mut right_agg: Option<(A, i64)> = None;
        let mut right_created = false;
        let mut previous: Option<i64> = None;
        for (start, (agg, max_ts)) in existing {
            seen.insert(start);
            if start == 0 {
                if max_ts < ts {
                    previous = Some(max_ts);
                }
                combined = Some((agg, max_ts));
            } else if start <= ts {
                right_agg = Some((agg.clone(), max_ts));
                self.update(ctx, start, Some(agg), max_ts)?;
            } else if start == ts + 1 {
                right_created = true;
            }
        }
        if right_agg.is_none() {
            right_agg = combined.clone().filter(|(_, max_ts)| *max_ts > ts);
        }
        if let Some(after) = right_agg.filter(|(_, max_ts)| !right_created && *max_ts > ts) {
            self.create_right(ctx, after)?;
        }
        if let Some(p) = previous
            && !seen.contains(&(p + 1))
        {
            self.update(ctx, p + 1, None, ts)?;
        }
        match combined {
            Some((agg, max_ts)) => self.update(ctx, 0, Some(agg), max_ts),
            None => self.update(ctx, 0, None, ts),
        }
    }
}

impl<K, V, A> Processor for SlidingWindowAggregate<K, V, A>
where
    K: Clone + 'static,
    V: Clone + 'static,
    A: Clone + 'static,
{
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = Windowed<K>;
    type ValueOut = Change<A>;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>) -> ProcessResult {
        let store = ctx.window_store(&self.store_name)?;
        store.set_send_old_values(self.old_values.as_ref().is_none_or(|o| o.wanted()))?;
        self.cached = ctx.store_is_cached(&self.store_name);
        self.observed = self.observed.max(store.stream_time()?.unwrap_or(-1));
        self.store = Some(store);
        if self.emit.is_on_window_close() {
            self.close_emitter = Some(CloseEmitter::new(
                ctx.emit_intervals().windowed_aggregation_ms,
            ));
        }
        Ok(())
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>) -> ProcessResult {
        if !self.cached {
            return Ok(());
        }
        let store = ctx.initialized(&self.store)?;
        let d = self.windows.difference;
        Ok(forward_cached_windows(
            ctx,
            store.flush_cache()?,
            |start| Window {
                start,
                end: start + d,
            },
        )?)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        record: Record<K, V>,
    ) -> ProcessResult {
        if self.key_serde.is_null(&record.key) {
            ctx.record_dropped(
                crate::runtime::DropReason::NullKey,
                "null key in a sliding-window aggregation",
            );
            return Ok(());
        }
        if self
            .value_serde
            .as_ref()
            .is_some_and(|serde| serde.is_null(&record.value))
        {
            ctx.record_dropped(
                crate::runtime::DropReason::NullValue,
                "null value in a sliding-window aggregation",
            );
            return Ok(());
        }
        let store = ctx.initialized(&self.store)?;
        let ts = record.timestamp;
        if self
            .windows
            .reach()
            .and_then(|r| ts.checked_add(r))
            .is_none()
        {
            return Ok(ctx.unwindowable(ts, "a sliding window")?);
        }
        let d = self.windows.difference;
        self.observed = self.observed.max(ts);
        let close = self.observed - self.windows.grace;
        if ts + d < close {
            ctx.record_late(&format!(
                "expired window [{ts},{}] (expiration {close}, stream time {})",
                ts + d,
                self.observed
            ));
            return Ok(());
        }
        let pass = Pass {
            store,
            fold: &self.fold,
            record: &record,
            d,
            close,
            observed: self.observed,
            forward: self.close_emitter.is_none(),
            cached: self.cached,
        };
        if ts < d {
            // As Kafka Streams: a record in the first `d` ms does not look for closed windows.
            return Ok(pass.early(ctx)?);
        }
        pass.in_order(ctx)?;
        self.emit_closed(ctx, &record.headers, close)
    }
}

impl<K: Clone + 'static, V, A: Clone + 'static> SlidingWindowAggregate<K, V, A> {
    /// Emits the windows closed since the last emission (window ends are inclusive), in
    /// window-start then key order, as Kafka Streams' `KStreamSlidingWindowAggregate` does.
    fn emit_closed(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        headers: &Headers,
        close: i64,
    ) -> ProcessResult {
        let Some(emitter) = self.close_emitter.as_mut() else {
            return Ok(());
        };
        if !emitter.due(ctx.current_system_time_ms(), close) {
            return Ok(());
        }
        let d = self.windows.difference;
        let upper = close - d - 1;
        if upper < 0 {
            return Ok(());
        }
        let lower = emitter.last_close().map_or(0, |last| (last - d).max(0));
        let store = ctx.initialized(&self.store)?;
        for (key, start, entry) in store.fetch_all_time_ordered(lower, upper)? {
            let new = (!store.is_null_value(&entry)).then_some(entry.0);
            ctx.forward(Record {
                key: Windowed {
                    key,
                    window: Window {
                        start,
                        end: start + d,
                    },
                },
                value: Change { new, old: None },
                timestamp: entry.1,
                headers: headers.clone(),
            })?;
        }
        emitter.emitted(close);
        Ok(())
    }
}
