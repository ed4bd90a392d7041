//! `topology.optimization=all` under exactly-once on Apache Kafka: a source table's store has
//! no changelog topic; after its state directory is wiped it is restored from its input topic
//! up to the offset committed in the last transaction (updates made while the application was
//! down are processed, not restored), and a clean restart restores nothing (the checkpoint is
//! the last input offset processed). The two counts read one merged repartition topic and stay
//! exact. (The embedded broker keeps no offsets committed in transactions, so this runs here;
//! `streams-core/tests/runtime_optimization.rs` covers at-least-once and standbys.)

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::runtime::StateRestoreListener;
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, StreamsConfig, Topology};
use support::{KafkaCluster, one_at_a_time, unique};

const TIMEOUT: Duration = Duration::from_secs(120);

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

struct Topics {
    users: String,
    clicks: String,
    enriched: String,
}

fn topology(topics: &Topics, config: &StreamsConfig) -> Topology {
    let builder = StreamsBuilder::new();
    let users = builder.table(&topics.users, strings(), Materialized::as_("users-store"));
    let clicks = builder.stream(&topics.clicks, strings());
    clicks
        .join_table(&users, |page: &String, name: &String| {
            format!("{page} by {name}")
        })
        .to(&topics.enriched);
    let by_page = clicks.select_key(|_user, page: &String| page.clone());
    by_page
        .group_by_key()
        .count(Materialized::as_("page-views"));
    by_page
        .group_by_key()
        .count(Materialized::as_("page-views-again"));
    builder.build_with(config).expect("topology")
}

/// Records restored per topic, as the restore listener heard them.
#[derive(Default, Clone)]
struct Restores(Arc<Mutex<BTreeMap<String, u64>>>);

impl StateRestoreListener for Restores {
    fn on_restore_end(&self, topic: &str, _partition: i32, _store: &str, total: u64) {
        *self
            .0
            .lock()
            .expect("restores")
            .entry(topic.to_string())
            .or_default() += total;
    }
}

impl Restores {
    fn from(&self, topic: &str) -> u64 {
        self.0
            .lock()
            .expect("restores")
            .get(topic)
            .copied()
            .unwrap_or(0)
    }
}

fn produce(broker: &KafkaCluster, topic: &str, records: &[(String, String)]) {
    let producer: BaseProducer = broker
        .client()
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    for (key, value) in records {
        if let Err(e) = streams_core::runtime::send_record(
            &producer,
            BaseRecord::to(topic).key(key).payload(value),
        ) {
            panic!("producing to {topic}: {e}");
        }
    }
    producer.flush(TIMEOUT).expect("flush");
}

fn users(from: usize, to: usize, version: &str) -> Vec<(String, String)> {
    (from..to)
        .map(|i| (format!("user-{i}"), format!("{version}-{i}")))
        .collect()
}

fn store<V: 'static>(streams: &KafkaStreams, name: &str) -> BTreeMap<String, V> {
    streams
        .key_value_store::<String, V>(name)
        .and_then(|s| s.all())
        .map(|all| all.into_iter().collect())
        .unwrap_or_default()
}

fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn start(topics: &Topics, config: &StreamsConfig, restores: &Restores) -> KafkaStreams {
    let mut streams = KafkaStreams::new(topology(topics, config), config).expect("streams");
    streams
        .set_global_state_restore_listener(restores.clone())
        .expect("listener");
    streams.start().expect("start");
    streams.wait_until_running(TIMEOUT).expect("running");
    streams
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn a_source_table_is_restored_from_its_input_topic_up_to_the_last_transaction() {
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let topics = Topics {
        users: unique("users"),
        clicks: unique("clicks"),
        enriched: unique("enriched"),
    };
    broker.create_topics(&[
        (&topics.users, 2),
        (&topics.clicks, 2),
        (&topics.enriched, 2),
    ]);
    let app = unique("optimized");
    let state = tempfile::tempdir().expect("state dir");
    let mut config = StreamsConfig::new();
    config
        .set("bootstrap.servers", &broker.bootstrap)
        .set("application.id", &app)
        .set("state.dir", state.path().to_string_lossy().to_string())
        .set("processing.guarantee", "exactly_once_v2")
        .set("topology.optimization", "all")
        .set("commit.interval.ms", "200")
        .set("consumer.session.timeout.ms", "6000")
        .set("consumer.heartbeat.interval.ms", "500");

    produce(broker, &topics.users, &users(0, 200, "first"));
    let clicks: Vec<(String, String)> = (0..100)
        .map(|i| (format!("user-{i}"), format!("page-{}", i % 10)))
        .collect();
    produce(broker, &topics.clicks, &clicks);
    let mut expected: BTreeMap<String, String> = users(0, 200, "first").into_iter().collect();
    let pages: BTreeMap<String, u64> = (0..10).map(|p| (format!("page-{p}"), 10)).collect();

    let mut first = start(&topics, &config, &Restores::default());
    wait_for("the table and both counts", || {
        store::<String>(&first, "users-store") == expected
            && store::<u64>(&first, "page-views") == pages
            && store::<u64>(&first, "page-views-again") == pages
    });
    first.close().expect("clean close");

    let consumer: BaseConsumer = broker.client().create().expect("consumer");
    let internal: BTreeSet<String> = consumer
        .fetch_metadata(None, TIMEOUT)
        .expect("metadata")
        .topics()
        .iter()
        .filter_map(|t| t.name().strip_prefix(&format!("{app}-")).map(String::from))
        .collect();
    assert_eq!(
        internal,
        BTreeSet::from([
            "page-views-again-changelog".to_string(),
            "page-views-changelog".to_string(),
            "page-views-repartition".to_string(),
        ]),
        "no changelog for the source table, one repartition topic for both counts"
    );

    produce(broker, &topics.users, &users(0, 50, "second"));
    expected.extend(users(0, 50, "second"));
    std::fs::remove_dir_all(state.path().join(&app)).expect("wipe the state directory");
    let restores = Restores::default();
    let mut second = start(&topics, &config, &restores);
    wait_for("the table after the wipe", || {
        store::<String>(&second, "users-store") == expected
    });
    assert_eq!(
        restores.from(&topics.users),
        200,
        "restored up to the committed offset, not the end (250)"
    );
    assert_eq!(store::<u64>(&second, "page-views"), pages, "exact counts");
    second.close().expect("clean close");

    let restores = Restores::default();
    let mut third = start(&topics, &config, &restores);
    wait_for("the table after a clean restart", || {
        store::<String>(&third, "users-store") == expected
    });
    assert_eq!(restores.from(&topics.users), 0, "checkpointed");
    third.close().expect("clean close");
}
