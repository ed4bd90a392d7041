//! `streams_consumer_records_lag{thread,topic,partition}`, from librdkafka's statistics: the
//! stream thread's consumer emits them every `statistics.interval.ms` (5 s unless the user set
//! it) and its context hands them here, parsed (`consumer_stats`).
//!
//! librdkafka's `consumer_lag` is the partition's end (the high watermark, or the last stable
//! offset under `read_committed`) minus the committed offset, so it also counts records
//! processed since the last commit; it is -1 until the group has committed an offset for the
//! partition (and for partitions the consumer does not fetch), and such partitions get no
//! series.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus::IntGaugeVec;

use super::ThreadMetrics;
use crate::runtime::consumer_stats::Statistics;

/// The known lag of each partition in `stats`: `(topic, partition, lag)`, sorted. librdkafka's
/// internal partition -1 (messages not yet assigned a partition) and unknown lags (-1) are
/// left out.
pub(crate) fn lags(stats: &Statistics) -> Vec<(String, i32, i64)> {
    let mut lags: Vec<(String, i32, i64)> = stats
        .partitions()
        .filter(|(_, p)| p.consumer_lag >= 0)
        .map(|(topic, p)| (topic.to_string(), p.partition, p.consumer_lag))
        .collect();
    lags.sort();
    lags
}

/// Keeps a stream thread's lag series in step with its consumer's statistics.
pub(crate) struct ConsumerLag {
    gauges: IntGaugeVec,
    thread: std::sync::Arc<str>,
    /// The partitions given a series by the last statistics: those missing from the next
    /// (revoked, or lag unknown again) lose theirs.
    reported: Mutex<HashSet<(String, i32)>>,
}

impl ConsumerLag {
    pub(crate) fn new(thread: &ThreadMetrics) -> Self {
        ConsumerLag {
            gauges: thread.instance.records_lag.clone(),
            thread: thread.name.clone(),
            reported: Mutex::new(HashSet::new()),
        }
    }

    /// Applies one statistics JSON.
    pub(crate) fn update(&self, stats: &Statistics) {
        let lags = lags(stats);
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        let mut now = HashSet::with_capacity(lags.len());
        for (topic, partition, lag) in lags {
            let partition_label = partition.to_string();
            self.gauges
                .with_label_values(&[&*self.thread, topic.as_str(), partition_label.as_str()])
                .set(lag);
            now.insert((topic, partition));
        }
        for (topic, partition) in reported.difference(&now) {
            let partition_label = partition.to_string();
            let _ = self.gauges.remove_label_values(&[
                &*self.thread,
                topic.as_str(),
                partition_label.as_str(),
            ]);
        }
        *reported = now;
    }
}

impl Drop for ConsumerLag {
    /// The thread's consumer is gone: its partitions' lag is no longer known here.
    fn drop(&mut self) {
        let reported = std::mem::take(self.reported.get_mut().unwrap_or_else(|p| p.into_inner()));
        for (topic, partition) in reported {
            let partition_label = partition.to_string();
            let _ = self.gauges.remove_label_values(&[
                &*self.thread,
                topic.as_str(),
                partition_label.as_str(),
            ]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use prometheus::core::Collector;

    use std::collections::HashMap;

    use super::*;
    use crate::config::RecordingLevel;
    use crate::runtime::StreamsMetrics;
    use crate::runtime::consumer_stats::parse;

    /// Trimmed from a real librdkafka 2.x consumer's statistics.
    const STATS: &str = r#"{
        "name": "app-consumer#consumer-1", "type": "consumer", "ts": 1, "time": 2,
        "brokers": {"localhost:9092/1": {"name": "localhost:9092/1", "toppars": {
            "input-0": {"topic": "input", "partition": 0}}}},
        "topics": {
            "input": {"topic": "input", "age": 5, "metadata_age": 5,
                "batchsize": {"min": 0, "max": 0, "p99": 0},
                "partitions": {
                    "0": {"partition": 0, "broker": 1, "leader": 1, "desired": true,
                          "fetch_state": "active", "committed_offset": 40, "hi_offset": 52,
                          "consumer_lag": 12, "consumer_lag_stored": -1},
                    "1": {"partition": 1, "desired": true, "fetch_state": "active",
                          "committed_offset": -1001, "consumer_lag": -1},
                    "2": {"partition": 2, "consumer_lag": 0},
                    "-1": {"partition": -1, "consumer_lag": -1}
                }},
            "other": {"topic": "other", "partitions": {"3": {"partition": 3, "consumer_lag": 7}}}
        },
        "cgrp": {"state": "up", "rebalance_cnt": 1}
    }"#;

    #[test]
    fn known_lags_are_read_and_unknown_ones_and_the_internal_partition_skipped() {
        assert_eq!(
            lags(&parse(STATS.as_bytes()).expect("parses")),
            vec![
                ("input".to_string(), 0, 12),
                ("input".to_string(), 2, 0),
                ("other".to_string(), 3, 7),
            ]
        );
        assert_eq!(lags(&parse(b"{}").expect("no topics")), vec![]);
        assert!(parse(b"not json").is_err());
    }

    #[test]
    fn partitions_missing_from_the_next_statistics_lose_their_series() {
        let instance = Arc::new(
            StreamsMetrics::new("app", RecordingLevel::Info, prometheus::Registry::new())
                .expect("metrics"),
        );
        let lag = ConsumerLag::new(&ThreadMetrics::new(&instance, "t-1"));
        lag.update(&parse(STATS.as_bytes()).expect("parses"));
        let series = || {
            let mut series: Vec<(String, i64)> = instance
                .records_lag
                .collect()
                .iter()
                .flat_map(|f| f.get_metric())
                .map(|m| {
                    let labels: HashMap<&str, &str> = m
                        .get_label()
                        .iter()
                        .map(|l| (l.name(), l.value()))
                        .collect();
                    let key = format!(
                        "{}/{}-{}",
                        labels["thread"], labels["topic"], labels["partition"]
                    );
                    (key, m.get_gauge().get_value() as i64)
                })
                .collect();
            series.sort();
            series
        };
        assert_eq!(
            series(),
            vec![
                ("t-1/input-0".to_string(), 12),
                ("t-1/input-2".to_string(), 0),
                ("t-1/other-3".to_string(), 7),
            ]
        );
        lag.update(
            &parse(
                br#"{"topics": {"input": {"partitions": {"0": {"partition": 0, "consumer_lag": 3}}}}}"#,
            )
            .expect("parses"),
        );
        assert_eq!(series(), vec![("t-1/input-0".to_string(), 3)]);
        drop(lag);
        assert_eq!(series(), vec![]);
    }
}
