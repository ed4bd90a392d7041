//! [`ThreadMetrics`]: a stream thread's series, resolved once when the thread starts; and
//! [`LoopMeter`], which keeps the record loop's counts in plain integers between flushes and
//! times only a sample of polls and records.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{Gauge, Histogram, IntCounter};

use super::StreamsMetrics;

/// One in this many polls and records is timed: two clock reads and a histogram update per
/// record would cost a few percent of a record's processing; one in 16 costs nothing
/// measurable and still fills the histograms within seconds under load.
pub(crate) const SAMPLE_EVERY: u32 = 16;

/// How often the process rate is recomputed.
const RATE_WINDOW: Duration = Duration::from_secs(1);

/// A stream thread's series (label `thread`) and the instance's families, for its tasks.
#[derive(Clone)]
pub(crate) struct ThreadMetrics {
    pub(crate) instance: Arc<StreamsMetrics>,
    /// The thread's name, as metrics and spans label it: `<client.id>-StreamThread-<n>`.
    pub(crate) name: Arc<str>,
    pub(crate) process_total: IntCounter,
    pub(crate) process_rate: Gauge,
    pub(crate) poll_total: IntCounter,
    pub(crate) commit_total: IntCounter,
    pub(crate) punctuate_total: IntCounter,
    pub(crate) process_latency: Histogram,
    pub(crate) poll_latency: Histogram,
    pub(crate) commit_latency: Histogram,
    pub(crate) punctuate_latency: Histogram,
    pub(crate) production_errors: IntCounter,
    pub(crate) transactions_aborted: IntCounter,
    pub(crate) tasks_corrupted: IntCounter,
}

impl std::fmt::Debug for ThreadMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadMetrics")
            .field("name", &self.name)
            .finish()
    }
}

impl ThreadMetrics {
    /// The series of thread `name` in `instance`'s families.
    pub(crate) fn new(instance: &Arc<StreamsMetrics>, name: &str) -> Self {
        let t = &instance.thread;
        let l = &[name];
        ThreadMetrics {
            instance: instance.clone(),
            name: Arc::from(name),
            process_total: t.process_total.with_label_values(l),
            process_rate: t.process_rate.with_label_values(l),
            poll_total: t.poll_total.with_label_values(l),
            commit_total: t.commit_total.with_label_values(l),
            punctuate_total: t.punctuate_total.with_label_values(l),
            process_latency: t.process_latency.with_label_values(l),
            poll_latency: t.poll_latency.with_label_values(l),
            commit_latency: t.commit_latency.with_label_values(l),
            punctuate_latency: t.punctuate_latency.with_label_values(l),
            production_errors: t.production_errors.with_label_values(l),
            transactions_aborted: t.transactions_aborted.with_label_values(l),
            tasks_corrupted: t.tasks_corrupted.with_label_values(l),
        }
    }

    /// Records a commit that began at `started` and committed something (as Kafka Streams
    /// counts only commits of tasks that processed since the last one).
    pub(crate) fn record_commit(&self, started: Instant) {
        self.commit_total.inc();
        self.commit_latency.observe(started.elapsed().as_secs_f64());
    }
}

/// Counts down to every [`SAMPLE_EVERY`]th event.
#[derive(Debug)]
struct Sampler(u32);

impl Sampler {
    fn next(&mut self) -> bool {
        self.0 -= 1;
        if self.0 == 0 {
            self.0 = SAMPLE_EVERY;
            return true;
        }
        false
    }
}

/// The record loop's meter: counts polls in a plain integer (flushed into the thread's
/// counter at each maintenance step) and picks which polls and records to time.
#[derive(Debug)]
pub(crate) struct LoopMeter {
    polls: u64,
    poll_sampler: Sampler,
    record_sampler: Sampler,
    rate_since: Instant,
    /// `process_total` when the rate window began.
    rate_base: u64,
}

impl LoopMeter {
    pub(crate) fn new(metrics: &ThreadMetrics) -> Self {
        LoopMeter {
            polls: 0,
            // The first of each is timed: a histogram fills from the start.
            poll_sampler: Sampler(1),
            record_sampler: Sampler(1),
            rate_since: Instant::now(),
            rate_base: metrics.process_total.get(),
        }
    }

    /// Counts a poll; returns whether to time it.
    pub(crate) fn poll(&mut self) -> bool {
        self.polls += 1;
        self.poll_sampler.next()
    }

    /// Returns whether to time the processing of the record just polled.
    pub(crate) fn record(&mut self) -> bool {
        self.record_sampler.next()
    }

    /// At a maintenance step: the poll count goes to its counter, and the process rate is
    /// recomputed when a window has passed.
    pub(crate) fn flush(&mut self, metrics: &ThreadMetrics) {
        metrics.poll_total.inc_by(std::mem::take(&mut self.polls));
        let elapsed = self.rate_since.elapsed();
        if elapsed >= RATE_WINDOW {
            let total = metrics.process_total.get();
            let rate = total.saturating_sub(self.rate_base) as f64 / elapsed.as_secs_f64();
            metrics.process_rate.set(rate);
            self.rate_base = total;
            self.rate_since = Instant::now();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RecordingLevel;

    #[test]
    fn one_turn_in_sample_every_is_timed_and_polls_are_counted_at_flush() {
        let instance = Arc::new(
            StreamsMetrics::new("app", RecordingLevel::Info, prometheus::Registry::new())
                .expect("metrics"),
        );
        let metrics = ThreadMetrics::new(&instance, "app-StreamThread-1");
        let mut meter = LoopMeter::new(&metrics);
        let sampled = (0..SAMPLE_EVERY * 3).filter(|_| meter.poll()).count();
        assert_eq!(sampled, 3);
        let sampled = (0..SAMPLE_EVERY + 1).filter(|_| meter.record()).count();
        assert_eq!(sampled, 2, "the first record, then one in SAMPLE_EVERY");
        assert_eq!(
            metrics.poll_total.get(),
            0,
            "counted locally until the flush"
        );
        meter.flush(&metrics);
        assert_eq!(metrics.poll_total.get(), u64::from(SAMPLE_EVERY * 3));
    }
}
