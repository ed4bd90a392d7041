//! The time a stream–stream join keeps, per task, for both of its sides (Kafka Streams'
//! `TimeTracker` and `TimeTrackerSupplier`): the join's stream time, advanced by every record
//! either side receives (also those it drops for a null key or value), and the lower bound on
//! the times in the outer store that lets a record skip the scan for closed windows.
//!
//! Kafka Streams' bound is loose on purpose (a scan leaves it at the time of the record where
//! it stops, and a match that removes a buffered record does not raise it), and when it looks
//! decides when unmatched records come out; ours moves exactly as Kafka's does so that they
//! come out with the same records. Both sides of a task reach the same tracker through a map by task,
//! locked only when a processor starts or closes; per record, the tracker is two atomics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use crate::TaskId;

/// One task's times.
#[derive(Debug)]
pub(super) struct TimeTracker {
    stream_time: AtomicI64,
    min_time: AtomicI64,
}

impl Default for TimeTracker {
    fn default() -> Self {
        TimeTracker {
            // Kafka's `ConsumerRecord.NO_TIMESTAMP`.
            stream_time: AtomicI64::new(-1),
            min_time: AtomicI64::new(i64::MAX),
        }
    }
}

impl TimeTracker {
    pub(super) fn stream_time(&self) -> i64 {
        self.stream_time.load(Ordering::Relaxed)
    }

    pub(super) fn advance_stream_time(&self, timestamp: i64) {
        self.stream_time.fetch_max(timestamp, Ordering::Relaxed);
    }

    pub(super) fn min_time(&self) -> i64 {
        self.min_time.load(Ordering::Relaxed)
    }

    /// A record was buffered in the outer store at `timestamp`.
    pub(super) fn lower_min_time(&self, timestamp: i64) {
        self.min_time.fetch_min(timestamp, Ordering::Relaxed);
    }

    /// A scan of the outer store looked at a record at `timestamp` (or starts: `i64::MAX`).
    pub(super) fn set_min_time(&self, timestamp: i64) {
        self.min_time.store(timestamp, Ordering::Relaxed);
    }
}

/// The trackers of one join, by task.
#[derive(Debug, Clone, Default)]
pub(crate) struct TimeTrackers(Arc<Mutex<HashMap<TaskId, Arc<TimeTracker>>>>);

impl TimeTrackers {
    /// The tracker of `task`, made on first use.
    pub(super) fn get(&self, task: TaskId) -> crate::Result<Arc<TimeTracker>> {
        let mut map = self.lock()?;
        Ok(map.entry(task).or_default().clone())
    }

    /// Forgets `task`'s tracker (its processors closed).
    pub(super) fn remove(&self, task: TaskId) -> crate::Result<()> {
        self.lock()?.remove(&task);
        Ok(())
    }

    fn lock(&self) -> crate::Result<std::sync::MutexGuard<'_, HashMap<TaskId, Arc<TimeTracker>>>> {
        self.0.lock().map_err(|_| {
            crate::Error::IllegalState(
                "a stream-stream join's time trackers were poisoned by a panic".to_string(),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_of_a_task_share_one_tracker_and_tasks_do_not() -> crate::Result<()> {
        let trackers = TimeTrackers::default();
        let (t0, t1) = (TaskId::new(0, 0), TaskId::new(0, 1));
        let left = trackers.get(t0)?;
        let right = trackers.get(t0)?;
        let other = trackers.get(t1)?;
        left.advance_stream_time(10);
        right.advance_stream_time(5);
        assert_eq!(right.stream_time(), 10);
        assert_eq!(other.stream_time(), -1);
        right.lower_min_time(7);
        left.lower_min_time(9);
        assert_eq!(left.min_time(), 7);
        trackers.remove(t0)?;
        assert_eq!(
            trackers.get(t0)?.stream_time(),
            -1,
            "a new tracker after close"
        );
        Ok(())
    }
}
