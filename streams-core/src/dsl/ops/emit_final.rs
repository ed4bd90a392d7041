//! Emission on window close (KIP-825): when a windowed aggregation's closed windows are looked
//! for and emitted, as Kafka Streams' `AbstractKStreamTimeWindowAggregateProcessor` and
//! `KStreamSessionWindowAggregate` decide it.

/// Tracks the last emission of a windowed aggregation emitting on window close: emissions are
/// throttled by wall-clock time (Kafka's internal
/// `__emit.interval.ms.kstreams.windowed.aggregation__`), and happen only when the window close
/// time has progressed since the last one.
#[derive(Debug)]
pub(crate) struct CloseEmitter {
    interval_ms: i64,
    /// Wall-clock time before which no emission is looked for.
    next_time_to_emit: i64,
    /// The window close time of the last emission (Kafka's `lastEmitWindowCloseTime`).
    last_close: Option<i64>,
}

impl CloseEmitter {
    pub(crate) fn new(interval_ms: i64) -> Self {
        CloseEmitter {
            interval_ms,
            next_time_to_emit: 0,
            last_close: None,
        }
    }

    /// Whether to look for closed windows now (`now`: wall clock, `close`: the window close
    /// time). Looking counts against the throttle even when the close time has not moved.
    pub(crate) fn due(&mut self, now: i64, close: i64) -> bool {
        if now < self.next_time_to_emit {
            return false;
        }
        self.next_time_to_emit = now.saturating_add(self.interval_ms);
        self.last_close.is_none_or(|last| last < close)
    }

    /// The close time of the last emission.
    pub(crate) fn last_close(&self) -> Option<i64> {
        self.last_close
    }

    /// Records an emission up to `close`.
    pub(crate) fn emitted(&mut self, close: i64) {
        self.last_close = Some(close);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttles_by_wall_clock_and_needs_progress() {
        let mut e = CloseEmitter::new(1000);
        assert!(e.due(5, 10));
        e.emitted(10);
        // Within the interval: not looked for, whatever the close time.
        assert!(!e.due(500, 20));
        // After it: looked for, but only when the close time moved.
        assert!(!e.due(1005, 10));
        assert!(!e.due(1500, 30), "the failed look restarted the interval");
        assert!(e.due(2005, 30));
    }

    #[test]
    fn zero_interval_looks_every_time() {
        let mut e = CloseEmitter::new(0);
        assert!(e.due(0, -5));
        assert!(e.due(0, -5), "nothing emitted yet: still due");
        e.emitted(3);
        assert!(!e.due(0, 3));
        assert!(e.due(0, 4));
    }
}
