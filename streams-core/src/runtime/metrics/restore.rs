//! [`RestoreMeter`]: the restoration of one store of one task (labels `task`, `store`): records
//! restored (a counter that stays), records left and the rate (gauges that go when the
//! restoration ends).

use std::sync::Arc;
use std::time::Duration;

use prometheus::{Gauge, IntCounter, IntGauge};

use super::StreamsMetrics;
use crate::TaskId;

/// One store's restoration, from a start offset to the end offset it was started with.
pub(crate) struct RestoreMeter {
    metrics: Arc<StreamsMetrics>,
    labels: [String; 2],
    end: i64,
    records: IntCounter,
    remaining: IntGauge,
    rate: Gauge,
    /// Records restored since the rate was last set.
    since_rate: u64,
}

impl std::fmt::Debug for RestoreMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestoreMeter")
            .field("labels", &self.labels)
            .field("end", &self.end)
            .finish()
    }
}

impl RestoreMeter {
    /// Store `store` of task `task` restores offsets `start..end` of its changelog.
    pub(crate) fn new(
        metrics: &Arc<StreamsMetrics>,
        task: TaskId,
        store: &str,
        start: i64,
        end: i64,
    ) -> Self {
        let labels = [task.to_string(), store.to_string()];
        let l = &[labels[0].as_str(), labels[1].as_str()];
        let families = &metrics.restore;
        let meter = RestoreMeter {
            records: families.records.with_label_values(l),
            remaining: families.remaining.with_label_values(l),
            rate: families.rate.with_label_values(l),
            metrics: metrics.clone(),
            labels,
            end,
            since_rate: 0,
        };
        meter.remaining.set(end.saturating_sub(start).max(0));
        meter
    }

    /// A batch of `records` was restored, the last at offset `last`. Offsets count records
    /// left, as Kafka Streams counts them (a transaction marker counts as one).
    pub(crate) fn restored(&mut self, records: u64, last: i64) {
        self.records.inc_by(records);
        self.since_rate += records;
        self.remaining
            .set(self.end.saturating_sub(last.saturating_add(1)).max(0));
    }

    /// The changelog's end moved on to `end` (a transaction open on it ended), with the
    /// next offset to read at `next`.
    pub(crate) fn extend(&mut self, end: i64, next: i64) {
        self.end = self.end.max(end);
        self.remaining.set(self.end.saturating_sub(next).max(0));
    }

    /// Sets the rate from what was restored over `elapsed` (a restore step).
    pub(crate) fn update_rate(&mut self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.rate
                .set(std::mem::take(&mut self.since_rate) as f64 / seconds);
        }
    }
}

impl Drop for RestoreMeter {
    /// A restoration done (or abandoned) has nothing left and no rate: its gauges go.
    fn drop(&mut self) {
        let l = &[self.labels[0].as_str(), self.labels[1].as_str()];
        let families = &self.metrics.restore;
        let _ = families.remaining.remove_label_values(l);
        let _ = families.rate.remove_label_values(l);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RecordingLevel;

    #[test]
    fn remaining_counts_down_to_the_end_offset_and_the_gauges_go_when_done() {
        let metrics = Arc::new(
            StreamsMetrics::new("app", RecordingLevel::Info, prometheus::Registry::new())
                .expect("metrics"),
        );
        let mut meter = RestoreMeter::new(&metrics, TaskId::new(1, 2), "counts", 10, 110);
        assert_eq!(meter.remaining.get(), 100);
        meter.restored(40, 49);
        meter.update_rate(Duration::from_millis(500));
        assert_eq!(meter.remaining.get(), 60);
        assert!((meter.rate.get() - 80.0).abs() < 1e-9);
        meter.restored(60, 109);
        assert_eq!(meter.remaining.get(), 0);
        assert_eq!(meter.records.get(), 100);
        drop(meter);
        let families = metrics.registry().gather();
        let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
        assert!(names.contains(&"streams_restore_records_total"));
        assert!(!names.contains(&"streams_restore_remaining_records"));
        assert!(!names.contains(&"streams_restore_rate"));
    }
}
