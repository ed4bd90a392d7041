//! Session-window aggregation: a record joins (and merges) every session of its key within the
//! inactivity gap; merged-away sessions are forwarded as deletes, then the merged session.
//!
//! With a record cache, the changes are forwarded when the cache flushes (at a commit) or
//! evicts them, as Kafka Streams' `SessionCacheFlushListener` does: one update per session,
//! with the value the store held before, and no delete for a session merged away before it
//! ever reached the store. With [`EmitStrategy::OnWindowClose`] nothing is forwarded until a
//! session closes, and then only its final result.

use std::sync::Arc;

use super::emit_final::CloseEmitter;
use super::forward_cached_sessions;
use crate::dsl::{Change, EmitStrategy, SessionWindows, Window, Windowed};
use crate::processor::Headers;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::{Session, SessionStoreHandle};

/// The three functions of a session aggregation, over an optional aggregate (reduce has no
/// initial value).
pub(crate) struct SessionFns<K, V, A> {
    pub(crate) init: Arc<dyn Fn() -> Option<A> + Send + Sync>,
    pub(crate) add: Arc<dyn Fn(&K, V, Option<A>) -> A + Send + Sync>,
    pub(crate) merge: Arc<dyn Fn(&K, Option<A>, A) -> Option<A> + Send + Sync>,
}

impl<K, V, A> Clone for SessionFns<K, V, A> {
    fn clone(&self) -> Self {
        SessionFns {
            init: self.init.clone(),
            add: self.add.clone(),
            merge: self.merge.clone(),
        }
    }
}

pub(crate) struct SessionAggregate<K, V, A> {
    store_name: String,
    windows: SessionWindows,
    key_serde: SharedSerde<K>,
    fns: SessionFns<K, V, A>,
    store: Option<SessionStoreHandle<K, A>>,
    cached: bool,
    /// The largest timestamp seen, resumed after a restart from the store's.
    observed: i64,
    emit: EmitStrategy,
    /// With [`EmitStrategy::OnWindowClose`], from `init`.
    close_emitter: Option<CloseEmitter>,
}

impl<K, V, A> SessionAggregate<K, V, A> {
    pub(crate) fn new(
        store_name: String,
        windows: SessionWindows,
        key_serde: SharedSerde<K>,
        fns: SessionFns<K, V, A>,
        emit: EmitStrategy,
    ) -> Self {
        SessionAggregate {
            store_name,
            windows,
            key_serde,
            fns,
            store: None,
            cached: false,
            observed: -1,
            emit,
            close_emitter: None,
        }
    }
}

fn windowed<K>(key: K, session: Session) -> Windowed<K> {
    Windowed {
        key,
        window: Window {
            start: session.start,
            end: session.end,
        },
    }
}

impl<K, V, A> Processor for SessionAggregate<K, V, A>
where
    K: Clone + 'static,
    V: 'static,
    A: Clone + 'static,
{
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = Windowed<K>;
    type ValueOut = Change<A>;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>) -> ProcessResult {
        let store = ctx.session_store(&self.store_name)?;
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
        Ok(forward_cached_sessions(ctx, store.flush_cache()?)?)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        record: Record<K, V>,
    ) -> ProcessResult {
        if self.key_serde.is_null(&record.key) {
            ctx.record_dropped(
                crate::runtime::DropReason::NullKey,
                "null key in a session aggregation",
            );
            return Ok(());
        }
        let ts = record.timestamp;
        if self
            .windows
            .reach()
            .and_then(|r| ts.checked_add(r))
            .is_none()
        {
            return Ok(ctx.unwindowable(ts, "a session window")?);
        }
        self.observed = self.observed.max(ts);
        let close = self.observed - self.windows.grace - self.windows.gap;
        let headers = record.headers.clone();
        self.aggregate(ctx, record, close)?;
        self.emit_closed(ctx, &headers, close)
    }
}

impl<K: Clone + 'static, V: 'static, A: Clone + 'static> SessionAggregate<K, V, A> {
    /// Merges the record into its key's sessions within the gap; forwards the changes unless
    /// emitting on window close.
    fn aggregate(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<A>>,
        record: Record<K, V>,
        close: i64,
    ) -> ProcessResult {
        let store = ctx.initialized(&self.store)?;
        let ts = record.timestamp;
        let forward = self.close_emitter.is_none();
        let found =
            store.find_sessions(&record.key, ts - self.windows.gap, ts + self.windows.gap)?;
        let mut merged = Session { start: ts, end: ts };
        let mut agg = (self.fns.init)();
        for (session, value) in &found {
            merged.start = merged.start.min(session.start);
            merged.end = merged.end.max(session.end);
            agg = (self.fns.merge)(&record.key, agg, value.clone());
        }
        if merged.end < close {
            ctx.record_late(&format!(
                "expired session [{},{}] for timestamp {ts} (expiration {close}, stream time {})",
                merged.start, merged.end, self.observed
            ));
            return Ok(());
        }
        if merged != (Session { start: ts, end: ts }) {
            for (session, value) in found {
                store.remove(&record.key, session)?;
                if !forward {
                    continue;
                }
                if self.cached {
                    forward_cached_sessions(ctx, store.take_evicted()?)?;
                    continue;
                }
                ctx.forward(Record {
                    key: windowed(record.key.clone(), session),
                    value: Change {
                        new: None,
                        old: Some(value),
                    },
                    timestamp: session.end,
                    headers: record.headers.clone(),
                })?;
            }
        }
        let new = (self.fns.add)(&record.key, record.value, agg);
        store.put(&record.key, merged, &new)?;
        if !forward {
            return Ok(());
        }
        if self.cached {
            return Ok(forward_cached_sessions(ctx, store.take_evicted()?)?);
        }
        let new = (!store.is_null_value(&new)).then_some(new);
        Ok(ctx.forward(Record {
            key: windowed(record.key, merged),
            value: Change { new, old: None },
            timestamp: merged.end,
            headers: record.headers,
        })?)
    }

    /// Emits the sessions closed since the last emission, by end then key, as Kafka Streams'
    /// `KStreamSessionWindowAggregate` does on window close.
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
        // Session ends are inclusive: the sessions closed are those ending before `close`.
        let upper = close - 1;
        let lower = emitter.last_close().unwrap_or(-1).max(0);
        if upper < 0 || upper < lower {
            return Ok(());
        }
        let store = ctx.initialized(&self.store)?;
        for (key, session, value) in store.sessions_ending_between(lower, upper)? {
            let new = (!store.is_null_value(&value)).then_some(value);
            ctx.forward(Record {
                key: windowed(key, session),
                value: Change { new, old: None },
                timestamp: session.end,
                headers: headers.clone(),
            })?;
        }
        emitter.emitted(close);
        Ok(())
    }
}
