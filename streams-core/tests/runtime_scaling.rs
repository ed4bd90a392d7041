//! Many threads and instances on the embedded broker, at least once: 3 instances × 2 stream
//! threads share 8 input partitions; while records flow one instance is closed and another
//! started. Nothing is lost: every input record reaches the output, and every key's count
//! reaches at least its number of records.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TableReader, app_config, init_tracing, produce_keyed};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, Topology};

const PARTITIONS: i32 = 8;
const TIMEOUT: Duration = Duration::from_secs(120);

/// Copies every record (value upper-cased) and counts records per key.
fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    let events = builder.stream("events", Consumed::with(Serdes::string(), Serdes::string()));
    events.map_values(|v: String| v.to_uppercase()).to("copies");
    events
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("counts-out");
    builder.build().expect("topology")
}

fn instance(broker: &Arc<EmbeddedBroker>, dir: &std::path::Path) -> KafkaStreams {
    let mut config = app_config(broker, "scaling", dir);
    config.set("num.stream.threads", "2");
    let mut streams = KafkaStreams::new(topology(), &config).expect("streams");
    streams.start().expect("start");
    streams
}

/// Reads `copies` until every value in `expected` was seen (duplicates allowed).
fn read_copies(broker: &EmbeddedBroker, expected: &BTreeSet<String>) -> BTreeSet<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "copies-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["copies"]).expect("subscribe");
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + TIMEOUT;
    while Instant::now() < deadline && !expected.is_subset(&seen) {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            seen.insert(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
        }
    }
    seen
}

#[test]
fn three_instances_of_two_threads_lose_nothing_while_one_leaves_and_one_joins() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    for topic in ["events", "copies", "counts-out"] {
        broker.create_topic(topic, PARTITIONS).expect("topic");
    }
    let dirs: Vec<_> = (0..4)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let mut a = instance(&broker, dirs[0].path());
    let mut b = instance(&broker, dirs[1].path());
    let mut c = instance(&broker, dirs[2].path());

    // Records flow in 8 batches; B leaves after the third, D joins after the fifth.
    let mut expected_counts = BTreeMap::new();
    let mut d = None;
    for batch in 0..8 {
        let produced = produce_keyed(&broker, "events", batch * 2_500, 2_500, 400);
        common::merge(&mut expected_counts, produced);
        std::thread::sleep(Duration::from_millis(400));
        if batch == 2 {
            b.close().expect("B closes cleanly");
        }
        if batch == 4 {
            d = Some(instance(&broker, dirs[3].path()));
        }
    }
    let expected_copies: BTreeSet<String> = (0..20_000).map(|i| format!("VALUE-{i}")).collect();
    let copies = read_copies(&broker, &expected_copies);
    let missing: Vec<_> = expected_copies.difference(&copies).take(5).collect();
    assert!(missing.is_empty(), "lost records, e.g. {missing:?}");

    let mut reader = TableReader::new(&broker, "counts-out");
    let counts = reader.read_until(&expected_counts, TIMEOUT);
    for (key, want) in &expected_counts {
        let got = counts.get(key).copied().unwrap_or(0);
        assert!(got >= *want, "{key}: count {got} < {want} records");
    }

    // Once the group settles, every task runs on exactly one of the three instances.
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut tasks: Vec<_> = [&a, &c]
            .into_iter()
            .chain(d.as_ref())
            .flat_map(|s| s.local_tasks())
            .collect();
        let total = tasks.len();
        tasks.sort();
        tasks.dedup();
        if total == PARTITIONS as usize && tasks.len() == total {
            break;
        }
        assert!(Instant::now() < deadline, "tasks never settled: {tasks:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    for streams in [&mut a, &mut c] {
        streams.close().expect("clean close");
    }
    if let Some(mut d) = d {
        d.close().expect("clean close");
    }
}
