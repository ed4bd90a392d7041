//! Time-window aggregation (tumbling and hopping): each record is folded into every window it
//! belongs to that is still open; windows past their grace period drop it, counted. Each
//! update is forwarded directly or, with a record cache, when the cache flushes (at a commit)
//! or evicts the window, so that many updates of a window become one; with
//! [`EmitStrategy::OnWindowClose`], once per window when it closes.

use std::sync::Arc;

use super::emit_final::CloseEmitter;
use super::{Fold, forward_cached_windows};
use crate::dsl::ktable::OldValues;
use crate::dsl::{Change, EmitStrategy, TimeWindows, Window, Windowed};
use crate::processor::Headers;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::WindowStoreHandle;

pub(crate) struct TimeWindowAggregate<K, V, A> {
    store_name: String,
    windows: TimeWindows,
    key_serde: SharedSerde<K>,
    fold: Fold<K, V, A>,
    store: Option<WindowStoreHandle<K, (A, i64)>>,
    cached: bool,
    /// This processor's stream time: the largest timestamp seen, resumed after a restart from
    /// the store's (Kafka Streams starts it afresh).
    observed: i64,
    emit: EmitStrategy,
    /// With [`EmitStrategy::OnWindowClose`], from `init`.
    close_emitter: Option<CloseEmitter>,
    /// Whether operators below want old values; unknown (`None`): they are sent.
    old_values: Option<Arc<OldValues>>,
}

impl<K, V, A> TimeWindowAggregate<K, V, A> {
    pub(crate) fn new(
        store_name: String,
        windows: TimeWindows,
        key_serde: SharedSerde<K>,
        fold: Fold<K, V, A>,
        emit: EmitStrategy,
    ) -> Self {
        TimeWindowAggregate {
            store_name,
            windows,
            key_serde,
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

    fn window_at(&self, start: i64) -> Window {
        Window {
            start,
            end: start.saturating_add(self.windows.size),
        }
    }
}

impl<K: Clone + 'static, V, A: Clone + 'static> TimeWindowAggregate<K, V, A> {
    /// Emits the windows closed since the last emission, in window-start then key order, as
    /// Kafka Streams' `KStreamWindowAggregate` does on window close.
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
        let size = self.windows.size;
        let upper = close - size;
        if upper < 0 {
            return Ok(());
        }
        let lower = match emitter.last_close() {
            None => 0,
            Some(last) => {
                let lower = (last - size).max(0) + 1;
                // No window closed since the last emission: nothing to look for.
                if self.windows.windows_for(upper) == self.windows.windows_for(lower - 1) {
                    return Ok(());
                }
                lower
            }
        };
        let store = ctx.initialized(&self.store)?;
        for (key, start, entry) in store.fetch_all_time_ordered(lower, upper)? {
            let new = (!store.is_null_value(&entry)).then_some(entry.0);
            ctx.forward(Record {
                key: Windowed {
                    key,
                    window: Window {
                        start,
                        end: start + size,
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

impl<K, V, A> Processor for TimeWindowAggregate<K, V, A>
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

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        record: Record<K, V>,
    ) -> ProcessResult {
        if self.key_serde.is_null(&record.key) {
            ctx.record_dropped(
                crate::runtime::DropReason::NullKey,
                "null key in a windowed aggregation",
            );
            return Ok(());
        }
        let store = ctx.initialized(&self.store)?;
        let windows = self.windows.windows_for(record.timestamp);
        if windows.is_empty() {
            return Ok(ctx.unwindowable(record.timestamp, "a time window")?);
        }
        self.observed = self.observed.max(record.timestamp);
        let close = self.observed - self.windows.grace;
        for window in windows {
            if window.end <= close {
                ctx.record_late(&format!(
                    "expired window [{},{}) for timestamp {} (expiration {close}, stream time {})",
                    window.start, window.end, record.timestamp, self.observed
                ));
                continue;
            }
            let old = store.fetch_one(&record.key, window.start)?;
            let timestamp = old
                .as_ref()
                .map_or(record.timestamp, |(_, ts)| record.timestamp.max(*ts));
            let old_value = old.map(|(v, _)| v);
            let new = (self.fold)(&record.key, record.value.clone(), old_value.clone());
            let entry = (new, timestamp);
            if !store.put(&record.key, &entry, window.start)? {
                // Only a store shared by several aggregations (cogroup) can be further ahead
                // than this one: like Kafka's segmented store, it skips the put (counted), and
                // like Kafka's KStreamWindowAggregate, this still forwards the update.
                ctx.record_late("window past the store's retention");
            }
            if self.close_emitter.is_some() {
                continue;
            }
            if self.cached {
                forward_cached_windows(ctx, store.take_evicted()?, |s| self.window_at(s))?;
                continue;
            }
            let new = (!store.is_null_value(&entry)).then_some(entry.0);
            ctx.forward(Record {
                key: Windowed {
                    key: record.key.clone(),
                    window,
                },
                value: Change {
                    new,
                    old: old_value,
                },
                timestamp,
                headers: record.headers.clone(),
            })?;
        }
        self.emit_closed(ctx, &record.headers, close)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>) -> ProcessResult {
        if !self.cached {
            return Ok(());
        }
        let store = ctx.initialized(&self.store)?;
        Ok(forward_cached_windows(ctx, store.flush_cache()?, |s| {
            self.window_at(s)
        })?)
    }
}
