//! `topology.optimization=all` on the embedded broker: a source table's store has no changelog
//! topic and is restored from its input topic, up to the committed offset, after its state
//! directory is wiped; the merged repartition topic carries both aggregations; standbys read
//! the input topic only up to the committed offset.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{app_config, init_tracing, produce, wait_for};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::runtime::{StateRestoreListener, TaskKind};
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, StreamsConfig, Topology};

const TIMEOUT: Duration = Duration::from_secs(60);

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

/// Users (a table read from `users`), clicks joined with them, and clicks re-keyed by page
/// counted twice (two repartition topics, merged into one when optimized).
fn topology(config: &StreamsConfig) -> Topology {
    let builder = StreamsBuilder::new();
    let users = builder.table("users", strings(), Materialized::as_("users-store"));
    let clicks = builder.stream("clicks", strings());
    clicks
        .join_table(&users, |page: &String, name: &String| {
            format!("{page} by {name}")
        })
        .to("enriched");
    let by_page = clicks.select_key(|_user, page: &String| page.clone());
    by_page
        .group_by_key()
        .count(Materialized::as_("page-views"));
    by_page
        .group_by_key()
        .count(Materialized::as_("page-views-again"));
    builder.build_with(config).expect("topology")
}

/// What the restore listener heard: per (topic, partition), the records restored.
#[derive(Default, Clone)]
struct Restores(Arc<Mutex<BTreeMap<(String, i32), u64>>>);

impl StateRestoreListener for Restores {
    fn on_restore_end(&self, topic: &str, partition: i32, _store: &str, total: u64) {
        *self
            .0
            .lock()
            .expect("restores")
            .entry((topic.to_string(), partition))
            .or_default() += total;
    }
}

impl Restores {
    fn from(&self, topic: &str) -> u64 {
        self.0
            .lock()
            .expect("restores")
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|(_, n)| n)
            .sum()
    }

    fn topics(&self) -> BTreeSet<String> {
        self.0
            .lock()
            .expect("restores")
            .keys()
            .map(|(t, _)| t.clone())
            .collect()
    }
}

fn topics(broker: &EmbeddedBroker) -> BTreeSet<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .create()
        .expect("consumer");
    consumer
        .fetch_metadata(None, TIMEOUT)
        .expect("metadata")
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .collect()
}

fn user_records(from: usize, to: usize, version: &str) -> Vec<common::RawKv> {
    (from..to)
        .map(|i| {
            (
                Some(format!("user-{i}").into_bytes()),
                Some(format!("{version}-{i}").into_bytes()),
            )
        })
        .collect()
}

fn users_in(streams: &KafkaStreams) -> BTreeMap<String, String> {
    streams
        .key_value_store::<String, String>("users-store")
        .and_then(|s| s.all())
        .map(|all| all.into_iter().collect())
        .unwrap_or_default()
}

fn counts_in(streams: &KafkaStreams, store: &str) -> BTreeMap<String, u64> {
    streams
        .key_value_store::<String, u64>(store)
        .and_then(|s| s.all())
        .map(|all| all.into_iter().collect())
        .unwrap_or_default()
}

fn start(topology: Topology, config: &StreamsConfig, restores: &Restores) -> KafkaStreams {
    let mut streams = KafkaStreams::new(topology, config).expect("streams");
    streams
        .set_global_state_restore_listener(restores.clone())
        .expect("listener");
    streams.start().expect("start");
    streams
}

fn source_table_restores_from_its_input_topic(app: &str, guarantee: &str) {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    for topic in ["users", "clicks", "enriched"] {
        broker.create_topic(topic, 2).expect("topic");
    }
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, app, state.path());
    config
        .set("topology.optimization", "all")
        .set("processing.guarantee", guarantee);

    produce(&broker, "users", &user_records(0, 200, "first"));
    produce(
        &broker,
        "clicks",
        &(0..100)
            .map(|i| {
                (
                    Some(format!("user-{i}").into_bytes()),
                    Some(format!("page-{}", i % 10).into_bytes()),
                )
            })
            .collect::<Vec<_>>(),
    );
    let first_restores = Restores::default();
    let mut first = start(topology(&config), &config, &first_restores);
    first.wait_until_running(TIMEOUT).expect("running");
    let mut expected = BTreeMap::new();
    for i in 0..200 {
        expected.insert(format!("user-{i}"), format!("first-{i}"));
    }
    let pages: BTreeMap<String, u64> = (0..10).map(|p| (format!("page-{p}"), 10)).collect();
    wait_for("the table and both counts", TIMEOUT, || {
        users_in(&first) == expected
            && counts_in(&first, "page-views") == pages
            && counts_in(&first, "page-views-again") == pages
    });
    first.close().expect("clean close");
    drop(first);

    let created = topics(&broker);
    let prefix = format!("{app}-");
    let internal: BTreeSet<&str> = created
        .iter()
        .filter_map(|t| t.strip_prefix(&prefix))
        .filter(|t| t.ends_with("-changelog") || t.ends_with("-repartition"))
        .collect();
    assert_eq!(
        internal,
        BTreeSet::from([
            "page-views-changelog",
            "page-views-again-changelog",
            "page-views-repartition",
        ]),
        "no changelog for the source table, one repartition topic for both counts"
    );

    // Updates while the application is down are past the committed offset: the restarted
    // instance processes them rather than restores them.
    produce(&broker, "users", &user_records(0, 50, "second"));
    for i in 0..50 {
        expected.insert(format!("user-{i}"), format!("second-{i}"));
    }
    std::fs::remove_dir_all(state.path().join(app)).expect("wipe the state directory");

    let second_restores = Restores::default();
    let mut second = start(topology(&config), &config, &second_restores);
    second.wait_until_running(TIMEOUT).expect("running");
    wait_for("the table after the wipe", TIMEOUT, || {
        users_in(&second) == expected
    });
    assert_eq!(
        second_restores.from("users"),
        200,
        "restored from the input topic up to the committed offset, not its end (250)"
    );
    assert!(
        !second_restores
            .topics()
            .iter()
            .any(|t| t.contains("users-store")),
        "{:?}",
        second_restores.topics()
    );
    second.close().expect("clean close");
    drop(second);

    // A restart with the state kept restores nothing: the checkpoint is the last input offset
    // processed.
    let third_restores = Restores::default();
    let mut third = start(topology(&config), &config, &third_restores);
    third.wait_until_running(TIMEOUT).expect("running");
    wait_for("the table after a clean restart", TIMEOUT, || {
        users_in(&third) == expected
    });
    assert_eq!(third_restores.from("users"), 0, "checkpointed");
    third.close().expect("clean close");
    assert!(
        !topics(&broker).contains(&format!("{app}-users-store-changelog")),
        "still no changelog for the source table"
    );
}

#[test]
fn a_source_table_is_restored_from_its_input_topic_at_least_once() {
    source_table_restores_from_its_input_topic("optimized-alos", "at_least_once");
}

// Exactly once: on Apache Kafka (`examples/tests/topology_optimization.rs`): the mock cluster
// keeps no offsets committed in transactions, so it cannot show the restore stopping there.

/// The standby progress of `streams` on `topic`: (partition, position, end).
fn standby_progress(streams: &KafkaStreams, topic: &str) -> Vec<(i32, i64, Option<i64>)> {
    streams
        .task_statuses()
        .into_iter()
        .filter(|s| s.kind == TaskKind::Standby)
        .flat_map(|s| s.changelogs)
        .filter(|c| c.topic == topic)
        .map(|c| (c.partition, c.position, c.end))
        .collect()
}

fn partition_end(broker: &EmbeddedBroker, topic: &str, partition: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .create()
        .expect("consumer");
    consumer
        .fetch_watermarks(topic, partition, TIMEOUT)
        .expect("watermarks")
        .1
}

#[test]
fn standbys_read_a_source_topic_only_up_to_the_committed_offset() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("users", 2).expect("topic");
    let table_only = |config: &StreamsConfig| {
        let builder = StreamsBuilder::new();
        builder.table("users", strings(), Materialized::as_("users-store"));
        builder.build_with(config).expect("topology")
    };
    let dirs = [
        tempfile::tempdir().expect("tempdir"),
        tempfile::tempdir().expect("tempdir"),
    ];
    let config = |dir: &std::path::Path, commit_ms: &str| {
        let mut config = app_config(&broker, "optimized-standby", dir);
        config
            .set("topology.optimization", "all")
            .set("num.standby.replicas", "1")
            .set("commit.interval.ms", commit_ms);
        config
    };
    // A never commits on its own; B every 100 ms.
    let (config_a, config_b) = (
        config(dirs[0].path(), "3600000"),
        config(dirs[1].path(), "100"),
    );
    let (restores_a, restores_b) = (Restores::default(), Restores::default());
    let mut a = start(table_only(&config_a), &config_a, &restores_a);
    let mut b = start(table_only(&config_b), &config_b, &restores_b);
    wait_for("one task each", TIMEOUT, || {
        a.local_tasks().len() == 1 && b.local_tasks().len() == 1
    });
    let partition_of = |s: &KafkaStreams| s.local_tasks()[0].partition;
    let (pa, pb) = (partition_of(&a), partition_of(&b));

    produce(&broker, "users", &user_records(0, 400, "v"));
    let (end_a, end_b) = (
        partition_end(&broker, "users", pa),
        partition_end(&broker, "users", pb),
    );
    assert_eq!(end_a + end_b, 400);
    wait_for("both tables", TIMEOUT, || {
        users_in(&a).len() as i64 == end_a && users_in(&b).len() as i64 == end_b
    });
    // A's standby of B's task follows B's commits to the end of B's partition; B's standby of
    // A's task applies nothing: A has committed nothing.
    wait_for("A's standby to catch up with B's commits", TIMEOUT, || {
        standby_progress(&a, "users") == vec![(pb, end_b, Some(end_b))]
    });
    wait_for("B's standby of A's task", TIMEOUT, || {
        !standby_progress(&b, "users").is_empty()
    });
    // Time for a standby that ignored the committed offset to read A's partition as A's
    // standby read B's (this waits; it asserts nothing about time).
    std::thread::sleep(Duration::from_secs(2));
    let b_standby: Vec<(i32, i64)> = standby_progress(&b, "users")
        .into_iter()
        .map(|(p, position, _)| (p, position))
        .collect();
    assert_eq!(
        b_standby,
        vec![(pa, 0)],
        "nothing past the committed offset (none yet) is applied"
    );

    // A leaves (committing): B takes its task over, its store rebuilt from the input topic up
    // to the offset A committed (by the standby, once the commit lets it read on, and by
    // restoration, whichever gets there first).
    a.close().expect("close a");
    let expected: BTreeMap<String, String> = (0..400)
        .map(|i| (format!("user-{i}"), format!("v-{i}")))
        .collect();
    wait_for("B to run both tasks with every user", TIMEOUT, || {
        b.local_tasks().len() == 2 && users_in(&b) == expected
    });
    assert!(restores_b.from("users") <= end_a as u64);
    b.close().expect("close b");
}
