//! Planning against a fake cluster: which offsets each kind of reset picks, which topics it
//! deletes, and what it refuses.

use std::cell::RefCell;
use std::time::Duration;

use super::*;
use crate::StreamsConfig;
use crate::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
use crate::reset::group::{GroupDescription, Member};
use crate::serde::Serdes;

/// A cluster in memory: each partition's records by their timestamps, from its earliest
/// offset on.
#[derive(Default)]
struct Fake {
    members: Vec<Member>,
    topics: BTreeMap<String, i32>,
    low: BTreeMap<Partition, i64>,
    timestamps: BTreeMap<Partition, Vec<i64>>,
    committed: RefCell<BTreeMap<Partition, i64>>,
    deleted: RefCell<Vec<String>>,
    commits: RefCell<usize>,
}

impl Fake {
    /// A topic whose partition `p` holds records stamped `stamps(p)`, the first at offset
    /// `low`.
    fn topic(&mut self, name: &str, partitions: i32, low: i64, stamps: impl Fn(i32) -> Vec<i64>) {
        self.topics.insert(name.into(), partitions);
        for p in 0..partitions {
            self.low.insert((name.into(), p), low);
            self.timestamps.insert((name.into(), p), stamps(p));
        }
    }
}

impl ResetCluster for Fake {
    fn describe_group(&self, _group: &str) -> Result<GroupDescription> {
        Ok(GroupDescription {
            state: if self.members.is_empty() {
                "Empty"
            } else {
                "Stable"
            }
            .into(),
            members: self.members.clone(),
        })
    }

    fn topics(&self) -> Result<BTreeMap<String, i32>> {
        Ok(self.topics.clone())
    }

    fn watermarks(&self, partition: &Partition) -> Result<(i64, i64)> {
        let low = self.low[partition];
        Ok((low, low + self.timestamps[partition].len() as i64))
    }

    fn committed(&self, partitions: &[Partition]) -> Result<BTreeMap<Partition, i64>> {
        let committed = self.committed.borrow();
        Ok(partitions
            .iter()
            .filter_map(|p| committed.get(p).map(|o| (p.clone(), *o)))
            .collect())
    }

    fn offsets_for_time(
        &self,
        partitions: &[Partition],
        timestamp_ms: i64,
    ) -> Result<BTreeMap<Partition, Option<i64>>> {
        Ok(partitions
            .iter()
            .map(|p| {
                let found = self.timestamps[p]
                    .iter()
                    .position(|t| *t >= timestamp_ms)
                    .map(|i| self.low[p] + i as i64);
                (p.clone(), found)
            })
            .collect())
    }

    fn commit(&self, offsets: &BTreeMap<Partition, i64>) -> Result<()> {
        *self.commits.borrow_mut() += 1;
        self.committed.borrow_mut().extend(offsets.clone());
        Ok(())
    }

    fn delete_topics(&self, topics: &[String]) -> Result<()> {
        self.deleted.borrow_mut().extend(topics.iter().cloned());
        Ok(())
    }
}

const APP: &str = "counts";

fn config(extra: &[(&str, &str)]) -> (StreamsConfig, tempfile::TempDir) {
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = StreamsConfig::new();
    config
        .set("application.id", APP)
        .set("bootstrap.servers", "localhost:9092")
        .set("state.dir", state.path().display().to_string());
    for (k, v) in extra {
        config.set(*k, *v);
    }
    (config, state)
}

/// Counts `events` by a new key: a repartition topic and a changelog.
fn topology() -> crate::Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_with(|_k, v: &String| v.clone(), Grouped::as_("regroup"))
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("out");
    builder.build().expect("topology")
}

/// `events` (2 partitions of 10 records stamped 1000, 2000, … from offset 5), `out`, the
/// application's internal topics and other topics named like internal ones.
fn cluster() -> Fake {
    let mut fake = Fake::default();
    fake.topic("events", 2, 5, |_| (1..=10).map(|i| i * 1_000).collect());
    fake.topic("out", 2, 0, |_| vec![1; 3]);
    for internal in [
        "counts-regroup-repartition",
        "counts-counts-changelog",
        "counts-instances",
        "counts-old-store-changelog",
        "counts-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000004-topic",
        "other-counts-changelog",
        "counts-store-changelog-archive",
    ] {
        fake.topic(internal, 2, 0, |_| Vec::new());
    }
    fake.committed
        .borrow_mut()
        .extend([(("events".into(), 0), 15), (("events".into(), 1), 12)]);
    fake
}

fn news(plan: &ResetPlan) -> Vec<(String, i32, Option<i64>, i64)> {
    plan.input_offsets
        .iter()
        .map(|c| (c.topic.clone(), c.partition, c.current, c.new))
        .collect()
}

fn planned(to: ResetTo, fake: &Fake) -> Result<ResetPlan> {
    let (config, _state) = config(&[]);
    let reset = ApplicationReset::new(&config)?.topology(&topology()).to(to);
    build(&reset, fake, UNIX_EPOCH + Duration::from_millis(10_500))
}

#[test]
fn the_default_resets_the_topologys_inputs_to_the_earliest_and_deletes_its_internal_topics()
-> Result<()> {
    let fake = cluster();
    let plan = planned(ResetTo::default(), &fake)?;
    assert_eq!(
        news(&plan),
        vec![
            ("events".into(), 0, Some(15), 5),
            ("events".into(), 1, Some(12), 5)
        ]
    );
    let deleted: Vec<(&str, Option<bool>)> = plan
        .topics_to_delete
        .iter()
        .map(|t| (t.name.as_str(), t.in_topology))
        .collect();
    assert_eq!(
        deleted,
        vec![
            (
                "counts-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000004-topic",
                Some(false)
            ),
            ("counts-counts-changelog", Some(true)),
            ("counts-instances", Some(false)),
            ("counts-old-store-changelog", Some(false)),
            ("counts-regroup-repartition", Some(true)),
        ],
        "found by name and by the topology; not another application's, not a user topic"
    );
    assert_eq!(plan.local_state, None, "no local state yet");
    assert!(plan.intermediate_offsets.is_empty());
    assert_eq!(*fake.commits.borrow(), 0, "planning changes nothing");
    assert!(fake.deleted.borrow().is_empty(), "planning changes nothing");

    apply(&plan, &fake)?;
    assert_eq!(fake.committed.borrow()[&("events".to_string(), 0)], 5);
    assert_eq!(fake.committed.borrow()[&("events".to_string(), 1)], 5);
    assert_eq!(fake.deleted.borrow().len(), 5);
    Ok(())
}

#[test]
fn a_datetime_or_a_duration_picks_the_first_record_at_or_after_it() -> Result<()> {
    let mut fake = cluster();
    // Partition 1 of `late` has nothing at or after 4.5 s: it goes to its end.
    fake.topic("late", 2, 0, |p| {
        if p == 0 {
            vec![1_000, 3_000, 5_000, 4_000, 7_000]
        } else {
            vec![1_000, 2_000]
        }
    });
    let (config, _state) = config(&[]);
    let at = UNIX_EPOCH + Duration::from_millis(4_500);
    let reset = ApplicationReset::new(&config)?
        .input_topics(["events", "late"])
        .to(ResetTo::Datetime(at));
    let plan = build(&reset, &fake, UNIX_EPOCH + Duration::from_millis(10_500))?;
    let picked: Vec<(String, i32, i64, bool)> = plan
        .input_offsets
        .iter()
        .map(|c| (c.topic.clone(), c.partition, c.new, c.note.is_some()))
        .collect();
    assert_eq!(
        picked,
        vec![
            // 1000, 2000, … from offset 5: 5000 is the fifth record, offset 9.
            ("events".into(), 0, 9, false),
            ("events".into(), 1, 9, false),
            ("late".into(), 0, 2, false),
            ("late".into(), 1, 2, true),
        ]
    );
    assert!(
        plan.to_string().contains("1970-01-01T00:00:04.500Z"),
        "{plan}"
    );

    // 6 s before 10.5 s is 4.5 s again.
    let by_duration = reset.clone().to(ResetTo::Duration(Duration::from_secs(6)));
    let again = build(
        &by_duration,
        &fake,
        UNIX_EPOCH + Duration::from_millis(10_500),
    )?;
    assert_eq!(again.input_offsets, plan.input_offsets);
    Ok(())
}

#[test]
fn explicit_offsets_stay_within_each_partition() -> Result<()> {
    let fake = cluster();
    // events-0 and events-1 hold offsets 5 to 14 (end 15).
    let plan = planned(ResetTo::Offset(7), &fake)?;
    assert_eq!(
        plan.input_offsets.iter().map(|c| c.new).collect::<Vec<_>>(),
        [7, 7]
    );
    let plan = planned(ResetTo::Offset(2), &fake)?;
    assert_eq!(
        plan.input_offsets.iter().map(|c| c.new).collect::<Vec<_>>(),
        [5, 5]
    );
    assert!(plan.input_offsets.iter().all(|c| c.note.is_some()));
    let plan = planned(ResetTo::Offset(99), &fake)?;
    assert_eq!(
        plan.input_offsets.iter().map(|c| c.new).collect::<Vec<_>>(),
        [15, 15]
    );

    let offsets = BTreeMap::from([
        (("events".to_string(), 0), 6),
        (("events".to_string(), 1), 20),
    ]);
    let plan = planned(ResetTo::Offsets(offsets.clone()), &fake)?;
    assert_eq!(
        plan.input_offsets.iter().map(|c| c.new).collect::<Vec<_>>(),
        [6, 15]
    );

    let mut unlisted = offsets.clone();
    unlisted.remove(&("events".to_string(), 1));
    let err = planned(ResetTo::Offsets(unlisted), &fake).expect_err("a partition unlisted");
    assert!(err.to_string().contains("events-1"), "{err}");
    let mut unknown = offsets;
    unknown.insert(("events".to_string(), 7), 0);
    let err = planned(ResetTo::Offsets(unknown), &fake).expect_err("no partition 7");
    assert!(matches!(err, Error::ResetRefused { .. }) && err.to_string().contains("events-7"));
    Ok(())
}

#[test]
fn a_shift_moves_the_committed_offset_or_where_the_application_would_start() -> Result<()> {
    let fake = cluster();
    fake.committed
        .borrow_mut()
        .remove(&("events".to_string(), 1));
    let plan = planned(ResetTo::ShiftBy(-3), &fake)?;
    // events-0 from its commit (15); events-1 from the earliest (5), kept at 5.
    assert_eq!(
        news(&plan),
        vec![
            ("events".into(), 0, Some(15), 12),
            ("events".into(), 1, None, 5),
        ]
    );

    let (config, _state) = config(&[("consumer.auto.offset.reset", "latest")]);
    let reset = ApplicationReset::new(&config)?
        .topology(&topology())
        .to(ResetTo::ShiftBy(-3));
    let plan = build(&reset, &fake, UNIX_EPOCH)?;
    assert_eq!(
        plan.input_offsets[1].new, 12,
        "from the end under auto.offset.reset=latest"
    );
    Ok(())
}

#[test]
fn a_group_with_members_is_refused_before_anything_else() -> Result<()> {
    let mut fake = cluster();
    fake.members = vec![
        Member {
            client_id: "counts-1-StreamThread-1-consumer".into(),
            host: "/10.0.0.1".into(),
        },
        Member {
            client_id: "counts-2-StreamThread-1-consumer".into(),
            host: "/10.0.0.2".into(),
        },
    ];
    let err = planned(ResetTo::default(), &fake).expect_err("refused");
    let text = err.to_string();
    assert!(matches!(err, Error::ResetRefused { .. }), "{text}");
    assert!(
        text.contains("consumer group `counts` has 2 active member(s)")
            && text.contains("/10.0.0.2"),
        "{text}"
    );
    Ok(())
}

#[test]
fn unknown_topics_and_internal_topics_that_are_not_are_refused() -> Result<()> {
    let fake = cluster();
    let (config, _state) = config(&[]);
    let missing = ApplicationReset::new(&config)?.input_topics(["events", "nope"]);
    let err = build(&missing, &fake, UNIX_EPOCH).expect_err("no such topic");
    assert!(err.to_string().contains("\"nope\""), "{err}");
    let missing = ApplicationReset::new(&config)?.intermediate_topics(["gone"]);
    assert!(build(&missing, &fake, UNIX_EPOCH).is_err());

    let subset = ApplicationReset::new(&config)?
        .topology(&topology())
        .internal_topics(["counts-counts-changelog"]);
    let plan = build(&subset, &fake, UNIX_EPOCH)?;
    assert_eq!(plan.topics_to_delete.len(), 1);
    let user_topic = ApplicationReset::new(&config)?
        .topology(&topology())
        .internal_topics(["out"]);
    let err = build(&user_topic, &fake, UNIX_EPOCH).expect_err("a user topic");
    assert!(err.to_string().contains("not internal topics"), "{err}");
    Ok(())
}

#[test]
fn an_input_or_intermediate_topic_named_like_an_internal_one_is_not_deleted() -> Result<()> {
    // KAFKA-7930: a user topic may be named like an internal one.
    let mut fake = cluster();
    fake.topic("counts-feed-repartition", 1, 0, |_| vec![1, 2]);
    let (config, _state) = config(&[]);
    let reset = ApplicationReset::new(&config)?
        .input_topics(["events"])
        .intermediate_topics(["counts-feed-repartition"]);
    let plan = build(&reset, &fake, UNIX_EPOCH)?;
    assert!(
        !plan
            .topics_to_delete
            .iter()
            .any(|t| t.name == "counts-feed-repartition"),
        "{plan}"
    );
    assert_eq!(plan.intermediate_offsets[0].new, 2, "to its end");
    assert!(
        plan.topics_to_delete
            .iter()
            .all(|t| t.in_topology.is_none())
    );
    Ok(())
}

#[test]
fn local_state_is_listed_unless_kept() -> Result<()> {
    let fake = cluster();
    let (config, state) = config(&[]);
    std::fs::create_dir_all(state.path().join("counts/0_0")).map_err(|e| Error::io("dir", e))?;
    let reset = ApplicationReset::new(&config)?;
    let plan = build(&reset, &fake, UNIX_EPOCH)?;
    assert_eq!(plan.local_state, Some(state.path().join("counts")));
    let kept = build(&reset.keep_local_state(), &fake, UNIX_EPOCH)?;
    assert_eq!(kept.local_state, None);
    Ok(())
}

#[test]
fn the_plan_prints_every_change() -> Result<()> {
    let fake = cluster();
    let plan = planned(ResetTo::Offset(2), &fake)?;
    let text = plan.to_string();
    for line in [
        "Reset of application `counts` (consumer group `counts`: no active members)",
        "Input topic offsets, to offset 2:",
        "  events-0: 15 -> 5 (2 is before the earliest offset: the earliest)",
        "Internal topics to delete:",
        "  counts-counts-changelog",
        "  counts-old-store-changelog (found by its name; not a topic of the topology)",
        "Local state to wipe: none",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in\n{text}"
        );
    }
    Ok(())
}

#[test]
fn internal_topic_names_follow_kafkas_reset_tool() {
    for name in [
        "app-store-changelog",
        "app-KSTREAM-AGGREGATE-STATE-STORE-0000000003-repartition",
        "app-fk-subscription-registration-topic",
        "app-fk-subscription-response-topic",
        "app-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-0000000005-topic",
        "app-KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-0000000012-topic",
        "app-instances",
    ] {
        assert!(is_internal_topic_name("app", name), "{name}");
    }
    for name in [
        "app-events",
        "apps-store-changelog",
        "other-store-changelog",
        "app-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-x-topic",
        "app-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION--topic",
        "app-changelog-old",
        "app-instances-old",
        "app",
    ] {
        assert!(!is_internal_topic_name("app", name), "{name}");
    }
}
