//! [`Registry`]: how the instances of an application learn about each other, for standby
//! placement.
//!
//! Kafka Streams ships each instance's tasks in the consumer group's subscription metadata and
//! lets its own assignor place standbys. librdkafka cannot host a custom assignor, and its
//! mock cluster does not answer `DescribeGroups`, so instances announce themselves on a
//! compacted internal topic, `<application.id>-instances` (one partition): every second each
//! instance writes its process id with the active and standby tasks it runs, and a tombstone
//! when it closes. Every instance reads the whole topic, and considers an instance alive while
//! its last announcement is recent.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

use super::metadata::{HostInfo, StreamsMetadata};
use crate::{Error, Result, TaskId};

/// How often an instance announces itself.
const ANNOUNCE_EVERY: Duration = Duration::from_secs(1);

/// What one instance announces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Announcement {
    /// Active tasks, as `<subtopology>_<partition>`.
    pub(crate) active: BTreeSet<String>,
    /// Standby tasks.
    pub(crate) standby: BTreeSet<String>,
    /// Its `application.server`, if set.
    #[serde(default)]
    pub(crate) server: Option<String>,
}

/// An instance as last heard of.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) active: BTreeSet<TaskId>,
    pub(crate) standby: BTreeSet<TaskId>,
    pub(crate) server: Option<HostInfo>,
    /// Record timestamp of its last announcement (ms).
    pub(crate) heard_at_ms: i64,
}

fn parse_tasks(tasks: &BTreeSet<String>) -> BTreeSet<TaskId> {
    tasks.iter().filter_map(|t| t.parse().ok()).collect()
}

/// Decodes an announcement read from the registry topic (`None` if it is not one).
pub(crate) fn decode_announcement(payload: &[u8]) -> Option<Member> {
    let a = serde_json::from_slice::<Announcement>(payload).ok()?;
    Some(Member {
        active: parse_tasks(&a.active),
        standby: parse_tasks(&a.standby),
        server: a.server.and_then(|s| s.parse().ok()),
        heard_at_ms: 0,
    })
}

/// Applies one record of the registry topic to `members`: an announcement (keyed by the
/// instance's process id, stamped `timestamp_ms`) replaces what that instance announced before,
/// a tombstone removes it; a record without a UTF-8 key, or whose payload is not an
/// announcement, is ignored.
pub(crate) fn apply_record(
    members: &mut BTreeMap<String, Member>,
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    timestamp_ms: Option<i64>,
) {
    let Some(key) = key.and_then(|k| std::str::from_utf8(k).ok()) else {
        return;
    };
    match payload {
        None => {
            members.remove(key);
        }
        Some(payload) => {
            if let Some(member) = decode_announcement(payload) {
                members.insert(
                    key.to_string(),
                    Member {
                        heard_at_ms: timestamp_ms.unwrap_or(0),
                        ..member
                    },
                );
            }
        }
    }
}

/// Whether a member last heard of at `heard_at_ms` (a record timestamp: any `i64` a producer
/// wrote) is within `ttl` of `now_ms`. Saturating: a timestamp far in the past is long ago,
/// not (by overflow) in the future.
fn heard_within(now_ms: i64, heard_at_ms: i64, ttl: Duration) -> bool {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    now_ms.saturating_sub(heard_at_ms) <= ttl_ms
}

/// The instances of `members` heard from within `ttl` of `now_ms`, and `me` (always live), by
/// process id, with their active tasks.
pub(crate) fn live_members(
    members: &BTreeMap<String, Member>,
    me: &str,
    now_ms: i64,
    ttl: Duration,
) -> BTreeMap<String, BTreeSet<TaskId>> {
    let mut live: BTreeMap<String, BTreeSet<TaskId>> = members
        .iter()
        .filter(|(_, m)| heard_within(now_ms, m.heard_at_ms, ttl))
        .map(|(id, m)| (id.clone(), m.active.clone()))
        .collect();
    live.entry(me.to_string()).or_default();
    live
}

/// The instances of `members` heard from within `ttl` of `now_ms` that serve queries.
pub(crate) fn members_metadata(
    members: &BTreeMap<String, Member>,
    now_ms: i64,
    ttl: Duration,
) -> Vec<StreamsMetadata> {
    members
        .values()
        .filter(|m| heard_within(now_ms, m.heard_at_ms, ttl))
        .filter_map(|m| {
            Some(StreamsMetadata {
                host: m.server.clone()?,
                active_tasks: m.active.clone(),
                standby_tasks: m.standby.clone(),
            })
        })
        .collect()
}

/// The registry topic of application `app_id`.
pub(crate) fn topic(app_id: &str) -> String {
    format!("{app_id}-instances")
}

/// One instance's view of the registry.
pub(crate) struct Registry {
    topic: String,
    me: String,
    /// This instance's `application.server`.
    server: Option<HostInfo>,
    producer: BaseProducer,
    consumer: BaseConsumer,
    members: BTreeMap<String, Member>,
    last_sent: Option<(Announcement, Instant)>,
}

impl Registry {
    /// Connects to the registry of `app_id` as process `me` (serving queries at `server`), with
    /// `producer` and `consumer` client configs.
    pub(crate) fn new(
        app_id: &str,
        me: &str,
        server: Option<HostInfo>,
        producer: &ClientConfig,
        consumer: &ClientConfig,
    ) -> Result<Self> {
        let topic = topic(app_id);
        let producer: BaseProducer = producer
            .create()
            .map_err(|e| Error::kafka("creating the instance registry producer", e))?;
        let consumer: BaseConsumer = consumer
            .create()
            .map_err(|e| Error::kafka("creating the instance registry consumer", e))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Beginning)
            .map_err(|e| Error::kafka("assigning the instance registry", e))?;
        consumer
            .assign(&tpl)
            .map_err(|e| Error::kafka("assigning the instance registry", e))?;
        Ok(Registry {
            topic,
            me: me.to_string(),
            server,
            producer,
            consumer,
            members: BTreeMap::new(),
            last_sent: None,
        })
    }

    /// Announces this instance's tasks if they changed or a second has passed.
    pub(crate) fn announce(
        &mut self,
        active: &BTreeSet<TaskId>,
        standby: &BTreeSet<TaskId>,
    ) -> Result<()> {
        let announcement = Announcement {
            active: active.iter().map(ToString::to_string).collect(),
            standby: standby.iter().map(ToString::to_string).collect(),
            server: self.server.as_ref().map(ToString::to_string),
        };
        let due = self
            .last_sent
            .as_ref()
            .is_none_or(|(last, at)| *last != announcement || at.elapsed() >= ANNOUNCE_EVERY);
        if due {
            let value = serde_json::to_vec(&announcement)
                .map_err(|e| Error::IllegalState(format!("encoding an announcement: {e}")))?;
            self.producer
                .send(
                    BaseRecord::to(&self.topic)
                        .key(self.me.as_str())
                        .payload(&value),
                )
                .map_err(|(e, _)| Error::kafka("announcing this instance", e))?;
            self.last_sent = Some((announcement, Instant::now()));
        }
        self.producer.poll(Duration::ZERO);
        Ok(())
    }

    /// Reads what other instances announced since the last call.
    pub(crate) fn refresh(&mut self) {
        for _ in 0..10_000 {
            let Some(polled) = self.consumer.poll(Duration::ZERO) else {
                return;
            };
            let Ok(message) = polled else { continue };
            apply_record(
                &mut self.members,
                message.key(),
                message.payload(),
                message.timestamp().to_millis(),
            );
        }
    }

    /// Instances heard from within `ttl` of `now_ms` (this one always included), by process id.
    pub(crate) fn live(&self, now_ms: i64, ttl: Duration) -> BTreeMap<String, BTreeSet<TaskId>> {
        live_members(&self.members, &self.me, now_ms, ttl)
    }

    /// The instances heard from within `ttl` of `now_ms` that serve queries, with their tasks.
    pub(crate) fn metadata(&self, now_ms: i64, ttl: Duration) -> Vec<StreamsMetadata> {
        members_metadata(&self.members, now_ms, ttl)
    }

    /// Writes this instance's tombstone, so others stop counting on it at once.
    pub(crate) fn leave(&self) {
        let _ = self
            .producer
            .send(BaseRecord::<str, [u8]>::to(&self.topic).key(self.me.as_str()));
        let _ = self.producer.flush(Duration::from_secs(5));
    }
}

/// Places standby replicas: for every task, `replicas` instances other than its active owner.
///
/// Deterministic from the membership alone (sorted process ids and who runs which task
/// actively), so every instance computes the same placement without talking to the others.
/// Instances form a ring in process-id order; the standbys of the `j`-th task (in task order)
/// owned by the instance at ring position `p` go to positions `p + 1 + j`, `p + 2 + j`, …,
/// skipping the owner, so one owner's standbys spread over all other instances. A task no
/// one runs actively yet starts from position `partition`.
pub(crate) fn place_standbys(
    tasks: &BTreeSet<TaskId>,
    members: &BTreeMap<String, BTreeSet<TaskId>>,
    replicas: usize,
) -> BTreeMap<String, BTreeSet<TaskId>> {
    let ring: Vec<&String> = members.keys().collect();
    let n = ring.len();
    let mut placed: BTreeMap<String, BTreeSet<TaskId>> = BTreeMap::new();
    if n < 2 || replicas == 0 {
        return placed;
    }
    let mut owned_so_far: BTreeMap<usize, usize> = BTreeMap::new();
    for task in tasks {
        let owner = ring.iter().position(|id| members[*id].contains(task));
        let start = match owner {
            Some(p) => {
                let j = owned_so_far.entry(p).or_insert(0);
                let start = p + 1 + *j;
                *j += 1;
                start
            }
            None => task.partition.unsigned_abs() as usize,
        };
        let mut chosen = 0;
        for k in 0..n {
            if chosen == replicas {
                break;
            }
            let candidate = (start + k) % n;
            if Some(candidate) == owner {
                continue;
            }
            placed
                .entry(ring[candidate].clone())
                .or_default()
                .insert(*task);
            chosen += 1;
        }
    }
    placed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(p: i32) -> TaskId {
        TaskId::new(0, p)
    }

    fn members(spec: &[(&str, &[i32])]) -> BTreeMap<String, BTreeSet<TaskId>> {
        spec.iter()
            .map(|(id, tasks)| (id.to_string(), tasks.iter().map(|p| t(*p)).collect()))
            .collect()
    }

    #[test]
    fn standbys_never_sit_with_their_active_and_spread_evenly() {
        let tasks: BTreeSet<_> = (0..6).map(t).collect();
        let m = members(&[("a", &[0, 1]), ("b", &[2, 3]), ("c", &[4, 5])]);
        let placed = place_standbys(&tasks, &m, 1);
        for (id, standbys) in &placed {
            assert!(
                standbys.is_disjoint(&m[id]),
                "{id} holds its own active tasks"
            );
            assert_eq!(standbys.len(), 2, "{placed:?}");
        }
        let all: BTreeSet<_> = placed.values().flatten().copied().collect();
        assert_eq!(all, tasks, "every task has a standby");
    }

    #[test]
    fn two_replicas_go_to_two_different_instances() {
        let tasks: BTreeSet<_> = (0..4).map(t).collect();
        let m = members(&[("a", &[0, 1]), ("b", &[2]), ("c", &[3])]);
        let placed = place_standbys(&tasks, &m, 2);
        for task in &tasks {
            let holders: Vec<_> = placed
                .iter()
                .filter(|(_, s)| s.contains(task))
                .map(|(id, _)| id)
                .collect();
            assert_eq!(holders.len(), 2, "{task}: {holders:?}");
        }
        // With three instances, two replicas of a task of `a` must be `b` and `c`.
        assert!(placed["b"].contains(&t(0)) && placed["c"].contains(&t(0)));
    }

    #[test]
    fn a_record_timestamp_far_in_the_past_is_not_live_and_does_not_overflow() {
        // Record timestamps are whatever a producer wrote: `now - i64::MIN` overflowed (a
        // panic with overflow checks, and, wrapped, a member live forever).
        let mut members = BTreeMap::new();
        let announcement = br#"{"active":["0_1"],"standby":[],"server":"h:1"}"#;
        apply_record(
            &mut members,
            Some(b"old"),
            Some(announcement),
            Some(i64::MIN),
        );
        apply_record(&mut members, Some(b"new"), Some(announcement), Some(1_000));
        apply_record(
            &mut members,
            Some(b"future"),
            Some(announcement),
            Some(i64::MAX),
        );
        apply_record(&mut members, Some(&[0xff]), Some(announcement), Some(1_000));
        let ttl = Duration::from_secs(10);
        let live = live_members(&members, "me", 2_000, ttl);
        assert_eq!(
            live.keys().map(String::as_str).collect::<Vec<_>>(),
            ["future", "me", "new"]
        );
        assert_eq!(members_metadata(&members, 2_000, ttl).len(), 2);
        assert!(live_members(&members, "me", i64::MAX, Duration::MAX).contains_key("old"));
        apply_record(&mut members, Some(b"new"), None, None);
        assert!(!live_members(&members, "me", 2_000, ttl).contains_key("new"));
    }

    #[test]
    fn placement_is_deterministic_and_needs_two_instances() {
        let tasks: BTreeSet<_> = (0..8).map(t).collect();
        let m = members(&[("x", &[0, 2, 4, 6]), ("y", &[1, 3, 5, 7])]);
        assert_eq!(place_standbys(&tasks, &m, 1), place_standbys(&tasks, &m, 1));
        assert_eq!(
            place_standbys(&tasks, &m, 1)["x"],
            [1, 3, 5, 7].map(t).into()
        );
        assert!(place_standbys(&tasks, &members(&[("solo", &[0])]), 1).is_empty());
    }
}
