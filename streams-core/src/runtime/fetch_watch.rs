//! [`FetchWatch`]: finds an input partition that the stream thread's consumer fetches from a
//! broker that is not its leader, without progress, so that the thread can renew its consumer.
//!
//! After two metadata updates race during a leader change, librdkafka can leave a partition
//! delegated to a broker other than the leader its metadata names, and keep it there: every
//! fetch fails with `NOT_LEADER_OR_FOLLOWER`, no error reaches the application, and only a
//! later leader change frees it (confluentinc/librdkafka#5593, open; seen here in the broker
//! fault tests as 4.5 minutes without output, until the controller's preferred-leader
//! election). The consumer's statistics show that state: the partition's `broker` is not its
//! `leader` while its `next_offset` stays put. With `client.rack` set the consumer may fetch
//! from a follower on purpose (KIP-392), so the watch is off then.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::consumer_stats::Statistics;

/// How many statistics in a row must show a partition stuck before it counts (with the default
/// `statistics.interval.ms` of 5 s, about 30 s). A delegation moving to a new leader is
/// visible in at most one.
pub(crate) const STATISTICS_IN_A_ROW: u32 = 6;

/// A partition fetched from a broker other than its leader, without progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stuck {
    pub(crate) topic: String,
    pub(crate) partition: i32,
    /// The broker the consumer fetches it from.
    pub(crate) broker: i32,
    /// Its leader, as the consumer's metadata says.
    pub(crate) leader: i32,
    /// The offset its next fetch would start at, unchanged all along.
    pub(crate) offset: i64,
    /// Since the first statistics that showed it.
    pub(crate) stuck_for: Duration,
}

impl std::fmt::Display for Stuck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the consumer fetched {}-{} from broker {}, not from its leader {}, and stayed at \
             offset {} for {:.0} s (librdkafka left the partition on a former leader, \
             confluentinc/librdkafka#5593); the thread takes a new consumer",
            self.topic,
            self.partition,
            self.broker,
            self.leader,
            self.offset,
            self.stuck_for.as_secs_f64()
        )
    }
}

/// What the statistics said of a suspect partition.
#[derive(Debug, Clone, Copy)]
struct Suspect {
    broker: i32,
    leader: i32,
    offset: i64,
    seen: u32,
    since: Instant,
}

/// Follows the statistics of one consumer (see the module's docs).
#[derive(Debug, Default)]
pub(crate) struct FetchWatch {
    /// Off when the consumer may fetch from followers (`client.rack`).
    enabled: bool,
    suspects: HashMap<(String, i32), Suspect>,
}

impl FetchWatch {
    /// A watch for a consumer with `client_rack` (its `client.rack`, if set).
    pub(crate) fn new(client_rack: Option<&str>) -> Self {
        FetchWatch {
            enabled: client_rack.is_none_or(str::is_empty),
            suspects: HashMap::new(),
        }
    }

    /// Reads one statistics, emitted at `now`. A partition that fetches from its leader, or
    /// moves, or leaves the assignment, is no longer a suspect.
    pub(crate) fn update(&mut self, stats: &Statistics, now: Instant) {
        if !self.enabled {
            return;
        }
        let mut suspects = HashMap::new();
        for (topic, p) in stats.partitions() {
            let away_from_leader =
                p.fetch_state == "active" && p.broker >= 0 && p.leader >= 0 && p.broker != p.leader;
            if !away_from_leader {
                continue;
            }
            let key = (topic.to_string(), p.partition);
            let suspect = match self.suspects.get(&key) {
                Some(s)
                    if s.broker == p.broker
                        && s.leader == p.leader
                        && s.offset == p.next_offset =>
                {
                    Suspect {
                        seen: s.seen + 1,
                        ..*s
                    }
                }
                _ => Suspect {
                    broker: p.broker,
                    leader: p.leader,
                    offset: p.next_offset,
                    seen: 1,
                    since: now,
                },
            };
            suspects.insert(key, suspect);
        }
        self.suspects = suspects;
    }

    /// A partition stuck in [`STATISTICS_IN_A_ROW`] statistics, as of `now`, if any.
    pub(crate) fn stuck(&self, now: Instant) -> Option<Stuck> {
        let mut stuck: Vec<Stuck> = self
            .suspects
            .iter()
            .filter(|(_, s)| s.seen >= STATISTICS_IN_A_ROW)
            .map(|((topic, partition), s)| Stuck {
                topic: topic.clone(),
                partition: *partition,
                broker: s.broker,
                leader: s.leader,
                offset: s.offset,
                stuck_for: now.saturating_duration_since(s.since),
            })
            .collect();
        stuck.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        stuck.into_iter().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::consumer_stats::parse;

    fn stats(broker: i32, leader: i32, next_offset: i64, fetch_state: &str) -> Statistics {
        parse(
            format!(
                r#"{{"topics": {{"input": {{"partitions": {{
                    "0": {{"partition": 0, "broker": 1, "leader": 1, "fetch_state": "active",
                           "next_offset": 10}},
                    "3": {{"partition": 3, "broker": {broker}, "leader": {leader},
                           "fetch_state": "{fetch_state}", "next_offset": {next_offset}}},
                    "-1": {{"partition": -1, "broker": -1, "leader": -1}}
                }}}}}}}}"#
            )
            .as_bytes(),
        )
        .expect("parses")
    }

    fn feed(watch: &mut FetchWatch, start: Instant, from: u32, to: u32, s: &Statistics) {
        for i in from..to {
            watch.update(s, start + Duration::from_secs(5 * u64::from(i)));
        }
    }

    #[test]
    fn a_partition_on_a_non_leader_without_progress_is_stuck_after_six_statistics() {
        let start = Instant::now();
        let mut watch = FetchWatch::new(None);
        let away = stats(2, 1, 930, "active");
        feed(&mut watch, start, 0, STATISTICS_IN_A_ROW - 1, &away);
        let at = start + Duration::from_secs(25);
        assert_eq!(watch.stuck(at), None, "five statistics are not enough");
        feed(
            &mut watch,
            start,
            STATISTICS_IN_A_ROW - 1,
            STATISTICS_IN_A_ROW,
            &away,
        );
        let stuck = watch.stuck(at).expect("stuck after six");
        assert_eq!(
            (
                stuck.topic.as_str(),
                stuck.partition,
                stuck.broker,
                stuck.leader,
                stuck.offset
            ),
            ("input", 3, 2, 1, 930)
        );
        assert_eq!(stuck.stuck_for, Duration::from_secs(25));
        assert!(
            stuck
                .to_string()
                .contains("input-3 from broker 2, not from its leader 1")
        );
    }

    #[test]
    fn progress_a_move_to_the_leader_or_a_stopped_fetch_clears_a_suspect() {
        let start = Instant::now();
        let later = start + Duration::from_secs(60);
        for interruption in [
            stats(2, 1, 931, "active"),
            stats(1, 1, 930, "active"),
            stats(2, 1, 930, "stopped"),
            stats(2, 3, 930, "active"),
            stats(2, -1, 930, "active"),
        ] {
            let mut watch = FetchWatch::new(None);
            let away = stats(2, 1, 930, "active");
            feed(&mut watch, start, 0, 4, &away);
            watch.update(&interruption, start + Duration::from_secs(20));
            feed(&mut watch, start, 5, 9, &away);
            assert_eq!(watch.stuck(later), None, "the count starts again");
        }
    }

    #[test]
    fn a_consumer_with_a_rack_may_fetch_from_followers() {
        let start = Instant::now();
        let mut watch = FetchWatch::new(Some("eu-1a"));
        feed(&mut watch, start, 0, 10, &stats(2, 1, 930, "active"));
        assert_eq!(watch.stuck(start + Duration::from_secs(60)), None);
        let mut watch = FetchWatch::new(Some(""));
        feed(&mut watch, start, 0, 10, &stats(2, 1, 930, "active"));
        assert!(watch.stuck(start + Duration::from_secs(60)).is_some());
    }
}
