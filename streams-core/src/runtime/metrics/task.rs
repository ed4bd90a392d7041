//! [`TaskMetrics`]: a task's series, resolved when the task is created, so that the record path
//! bumps a counter it already holds.
//!
//! A task's counters stay registered after the task closes: they count what happened, and an
//! eager rebalance that closes and reopens every task would otherwise reset them each time.

use std::cell::Cell;
use std::time::Instant;

use prometheus::{Histogram, IntCounter};

use super::thread::SAMPLE_EVERY;
use super::{StoreMetrics, ThreadMetrics};
use crate::TaskId;
use crate::config::RecordingLevel;

/// Why a record was dropped: the `reason` label of `streams_task_dropped_records_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DropReason {
    /// Too late for its window: the window's grace period (or the store's retention) passed.
    Late,
    /// A null key where one is needed (aggregations, joins, tables, repartitioning).
    NullKey,
    /// A null value where one is needed (stream-stream joins).
    NullValue,
    /// The record did not deserialize (skipped or dead-lettered by the policy).
    BadInput,
    /// The record's (extracted) timestamp is negative (skipped by the timestamp policy).
    NegativeTimestamp,
    /// The timestamp is so close to the end of time that no window can hold it.
    TimestampOutOfRange,
    /// A processor failed on it (skipped or dead-lettered by the processing policy).
    ProcessingError,
    /// An update of a versioned table older than its key's latest version, which a
    /// table–table join ignores (KIP-914).
    OutOfOrder,
}

impl DropReason {
    /// Every reason, in the order of [`DropReason::index`].
    pub(crate) const ALL: [DropReason; 8] = [
        DropReason::Late,
        DropReason::NullKey,
        DropReason::NullValue,
        DropReason::BadInput,
        DropReason::NegativeTimestamp,
        DropReason::TimestampOutOfRange,
        DropReason::ProcessingError,
        DropReason::OutOfOrder,
    ];

    /// The `reason` label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            DropReason::Late => "late",
            DropReason::NullKey => "null_key",
            DropReason::NullValue => "null_value",
            DropReason::BadInput => "bad_input",
            DropReason::NegativeTimestamp => "negative_timestamp",
            DropReason::TimestampOutOfRange => "timestamp_out_of_range",
            DropReason::ProcessingError => "processing_error",
            DropReason::OutOfOrder => "out_of_order",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// A task's series (labels `thread`, `task`) and its thread's, for what the task does on the
/// thread's behalf (punctuations, output errors).
pub(crate) struct TaskMetrics {
    thread: ThreadMetrics,
    task: String,
    process: IntCounter,
    /// Records processed since the thread last added them to its own counter: a plain cell, so
    /// that a record costs one atomic add (the task's), not two.
    unflushed: Cell<u64>,
    dropped: [IntCounter; DropReason::ALL.len()],
    dead_lettered: IntCounter,
    e2e_latency: Histogram,
    /// Counts down to the next record whose end-to-end latency is recorded.
    e2e_countdown: Cell<u32>,
}

impl std::fmt::Debug for TaskMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskMetrics")
            .field("thread", &self.thread.name)
            .field("task", &self.task)
            .finish()
    }
}

impl TaskMetrics {
    /// The series of task `id` run by `thread`.
    pub(crate) fn new(thread: &ThreadMetrics, id: TaskId) -> Self {
        let families = &thread.instance.task;
        let task = id.to_string();
        let labels = &[&*thread.name, task.as_str()];
        let dropped = DropReason::ALL.map(|reason| {
            families.dropped_records.with_label_values(&[
                &*thread.name,
                task.as_str(),
                reason.label(),
            ])
        });
        TaskMetrics {
            process: families.process_total.with_label_values(labels),
            dead_lettered: families.dead_lettered.with_label_values(labels),
            e2e_latency: families.e2e_latency.with_label_values(labels),
            dropped,
            unflushed: Cell::new(0),
            e2e_countdown: Cell::new(1),
            thread: thread.clone(),
            task,
        }
    }

    /// Counts a record the task processed; every [`SAMPLE_EVERY`]th record also records its
    /// end-to-end latency: `now_ms()` (read only then) minus its `timestamp`.
    #[inline]
    pub(crate) fn record_processed(&self, timestamp: i64, now_ms: impl FnOnce() -> i64) {
        self.process.inc();
        self.unflushed.set(self.unflushed.get() + 1);
        let countdown = self.e2e_countdown.get() - 1;
        if countdown > 0 {
            self.e2e_countdown.set(countdown);
            return;
        }
        self.e2e_countdown.set(SAMPLE_EVERY);
        if timestamp >= 0 {
            // A timestamp ahead of the clock (skew) counts as no latency.
            let millis = now_ms().saturating_sub(timestamp).max(0);
            self.e2e_latency.observe(millis as f64 / 1000.0);
        }
    }

    /// Records processed since the last call, for the thread's counter.
    pub(crate) fn take_processed(&self) -> u64 {
        self.unflushed.replace(0)
    }

    /// Counts a record dropped for `reason`.
    pub(crate) fn dropped(&self, reason: DropReason) {
        self.dropped[reason.index()].inc();
    }

    /// Counts an input record sent to the dead-letter topic.
    pub(crate) fn dead_lettered(&self) {
        self.dead_lettered.inc();
    }

    /// The thread's count of output records that could not be serialized or produced.
    pub(crate) fn production_errors(&self) -> &IntCounter {
        &self.thread.production_errors
    }

    /// Records a punctuation that began at `started`.
    pub(crate) fn punctuated(&self, started: Instant) {
        self.thread.punctuate_total.inc();
        self.thread
            .punctuate_latency
            .observe(started.elapsed().as_secs_f64());
    }

    /// The series of store `store` of this task, if the recording level records them
    /// (`DEBUG`); at `INFO` stores are not metered at all.
    pub(crate) fn store(&self, store: &str) -> Option<StoreMetrics> {
        self.thread
            .instance
            .level()
            .records(RecordingLevel::Debug)
            .then(|| StoreMetrics::new(&self.thread, &self.task, store))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::runtime::StreamsMetrics;

    fn metrics(level: RecordingLevel) -> TaskMetrics {
        let instance = Arc::new(
            StreamsMetrics::new("app", level, prometheus::Registry::new()).expect("metrics"),
        );
        TaskMetrics::new(&ThreadMetrics::new(&instance, "t-1"), TaskId::new(0, 1))
    }

    #[test]
    fn every_reason_has_its_own_series() {
        let task = metrics(RecordingLevel::Info);
        task.dropped(DropReason::Late);
        task.dropped(DropReason::Late);
        task.dropped(DropReason::BadInput);
        let families = &task.thread.instance.task.dropped_records;
        let count = |reason: DropReason| {
            families
                .with_label_values(&["t-1", "0_1", reason.label()])
                .get()
        };
        assert_eq!(count(DropReason::Late), 2);
        assert_eq!(count(DropReason::BadInput), 1);
        assert_eq!(count(DropReason::NullKey), 0);
        let labels: std::collections::BTreeSet<_> =
            DropReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), DropReason::ALL.len(), "labels are distinct");
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i, "ALL is in index order");
        }
    }

    #[test]
    fn end_to_end_latency_is_sampled_and_reads_the_clock_only_then() {
        let task = metrics(RecordingLevel::Info);
        let reads = Cell::new(0);
        for _ in 0..SAMPLE_EVERY * 2 + 1 {
            task.record_processed(1_000, || {
                reads.set(reads.get() + 1);
                3_500
            });
        }
        assert_eq!(reads.get(), 3, "the first record, then one in SAMPLE_EVERY");
        assert_eq!(task.e2e_latency.get_sample_count(), 3);
        assert!((task.e2e_latency.get_sample_sum() - 7.5).abs() < 1e-9);
        assert_eq!(task.process.get(), u64::from(SAMPLE_EVERY * 2 + 1));
        assert_eq!(task.take_processed(), u64::from(SAMPLE_EVERY * 2 + 1));
        assert_eq!(task.take_processed(), 0);
    }

    #[test]
    fn stores_are_metered_only_from_debug_on() {
        assert!(metrics(RecordingLevel::Info).store("s").is_none());
        assert!(metrics(RecordingLevel::Debug).store("s").is_some());
        assert!(metrics(RecordingLevel::Trace).store("s").is_some());
    }
}
