//! Reads the alerts back from Kafka and scores them against the ground truth: per rule, true
//! and false positives and false negatives, precision and recall.
//!
//! An alert is a true positive when the ground truth lists its rule for its transaction.
//! Repeated alerts for the same (transaction, rule) count once: at-least-once processing may
//! write an alert twice after a restart, and that is not a second detection.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};

use crate::model::{Alert, Rule};

/// Every alert on `topic`, read from the start until the reader has caught up with the
/// topic's end and nothing new has arrived for `quiet`; an error after `timeout`.
pub(crate) fn read_alerts(
    bootstrap: &str,
    topic: &str,
    quiet: Duration,
    timeout: Duration,
) -> Result<Vec<Alert>, Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{topic}-verifier"))
        .set("enable.auto.commit", "false")
        .create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(format!("topic `{topic}` has no partitions").into());
    }
    let mut assignment = TopicPartitionList::new();
    for &p in &partitions {
        assignment.add_partition_offset(topic, p, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;

    let mut alerts = Vec::new();
    // Next offset to read, per partition.
    let mut next: HashMap<i32, i64> = partitions.iter().map(|&p| (p, 0)).collect();
    let deadline = Instant::now() + timeout;
    let mut last_news = Instant::now();
    let mut ends: HashMap<i32, i64> = HashMap::new();
    loop {
        if Instant::now() > deadline {
            return Err(format!(
                "timed out reading `{topic}` ({} alerts so far)",
                alerts.len()
            )
            .into());
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(message) => {
                let message = message?;
                let payload = message.payload().ok_or("an alert without a value")?;
                alerts.push(serde_json::from_slice::<Alert>(payload)?);
                next.insert(message.partition(), message.offset() + 1);
                last_news = Instant::now();
            }
            None => {
                let mut caught_up = true;
                for &p in &partitions {
                    let (_, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(5))?;
                    if ends.insert(p, high) != Some(high) {
                        last_news = Instant::now();
                    }
                    caught_up &= next.get(&p).copied().unwrap_or(0) >= high;
                }
                if caught_up && last_news.elapsed() >= quiet {
                    return Ok(alerts);
                }
            }
        }
    }
}

/// One rule's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Alerts the ground truth expects.
    pub(crate) tp: u64,
    /// Alerts it does not.
    pub(crate) fp: u64,
    /// Expected alerts missing.
    pub(crate) fn_: u64,
}

impl Counts {
    /// tp / (tp + fp); 1 when nothing was alerted and nothing expected, 0 when nothing was
    /// alerted but something expected.
    pub(crate) fn precision(&self) -> f64 {
        match self.tp + self.fp {
            0 if self.fn_ == 0 => 1.0,
            0 => 0.0,
            n => self.tp as f64 / n as f64,
        }
    }

    /// tp / (tp + fn); 1 when nothing was expected.
    pub(crate) fn recall(&self) -> f64 {
        match self.tp + self.fn_ {
            0 => 1.0,
            n => self.tp as f64 / n as f64,
        }
    }

    fn add(&mut self, other: Counts) {
        self.tp += other.tp;
        self.fp += other.fp;
        self.fn_ += other.fn_;
    }
}

/// Counts per rule and over all rules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Score {
    /// Per rule, in [`Rule::ALL`] order.
    pub(crate) per_rule: Vec<(Rule, Counts)>,
    /// All rules together.
    pub(crate) overall: Counts,
}

/// The distinct (transaction, rule) pairs alerted, sorted.
pub(crate) fn distinct(alerts: &[Alert]) -> BTreeSet<(String, Rule)> {
    alerts
        .iter()
        .map(|a| (a.transaction.clone(), a.rule))
        .collect()
}

/// Scores `alerts` against `truth` (transaction id → expected rules).
pub(crate) fn score(alerts: &[Alert], truth: &BTreeMap<String, BTreeSet<Rule>>) -> Score {
    let alerted = distinct(alerts);
    let expected: BTreeSet<(String, Rule)> = truth
        .iter()
        .flat_map(|(id, rules)| rules.iter().map(move |r| (id.clone(), *r)))
        .collect();
    let mut overall = Counts::default();
    let per_rule = Rule::ALL
        .iter()
        .map(|&rule| {
            let got: BTreeSet<_> = alerted.iter().filter(|(_, r)| *r == rule).collect();
            let want: BTreeSet<_> = expected.iter().filter(|(_, r)| *r == rule).collect();
            let counts = Counts {
                tp: got.intersection(&want).count() as u64,
                fp: got.difference(&want).count() as u64,
                fn_: want.difference(&got).count() as u64,
            };
            overall.add(counts);
            (rule, counts)
        })
        .collect();
    Score { per_rule, overall }
}

/// The report: a table per rule, then `overall: precision=P recall=R`.
pub(crate) fn render(score: &Score) -> String {
    let mut out = format!(
        "{:<18} {:>5} {:>5} {:>5} {:>9} {:>7}\n",
        "rule", "tp", "fp", "fn", "precision", "recall"
    );
    for (rule, c) in &score.per_rule {
        out += &format!(
            "{:<18} {:>5} {:>5} {:>5} {:>9.2} {:>7.2}\n",
            rule.name(),
            c.tp,
            c.fp,
            c.fn_,
            c.precision(),
            c.recall()
        );
    }
    out += &format!(
        "overall: precision={:.2} recall={:.2}\n",
        score.overall.precision(),
        score.overall.recall()
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(transaction: &str, rule: Rule) -> Alert {
        Alert {
            transaction: transaction.into(),
            card: "card-1".into(),
            merchant: "m-1".into(),
            rule,
            score: 0.5,
            evidence: String::new(),
            timestamp_ms: 0,
        }
    }

    #[test]
    fn scores_per_rule_and_overall_with_duplicates_counted_once() {
        let truth = BTreeMap::from([
            ("t1".to_string(), BTreeSet::from([Rule::Velocity])),
            ("t2".to_string(), BTreeSet::from([Rule::Velocity])),
            ("t3".to_string(), BTreeSet::from([Rule::RiskyMerchant])),
        ]);
        let alerts = [
            alert("t1", Rule::Velocity),
            alert("t1", Rule::Velocity),
            alert("t3", Rule::Velocity),
            alert("t3", Rule::RiskyMerchant),
        ];
        let s = score(&alerts, &truth);
        let velocity = s.per_rule[0].1;
        assert_eq!(
            velocity,
            Counts {
                tp: 1,
                fp: 1,
                fn_: 1
            }
        );
        assert_eq!(
            s.overall,
            Counts {
                tp: 2,
                fp: 1,
                fn_: 1
            }
        );
        let text = render(&s);
        assert!(
            text.contains("overall: precision=0.67 recall=0.67"),
            "{text}"
        );
        assert_eq!(text.matches("overall:").count(), 1);
    }

    #[test]
    fn empty_rules_are_perfect_only_when_nothing_was_expected() {
        let none = Counts::default();
        assert_eq!((none.precision(), none.recall()), (1.0, 1.0));
        let missed = Counts {
            tp: 0,
            fp: 0,
            fn_: 3,
        };
        assert_eq!((missed.precision(), missed.recall()), (0.0, 0.0));
    }
}
