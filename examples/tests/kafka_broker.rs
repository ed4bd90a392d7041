//! What only a real broker shows, on Apache Kafka:
//!
//! - a changelog that the broker has really compacted (tiny segments, a low dirty ratio, the
//!   cleaner run before restoring: offsets with gaps, under exactly-once also transaction
//!   markers) restores to exact state, reading fewer records than were written;
//! - zstd-compressed input is consumed (librdkafka built with zstd);
//! - a join whose table partitions end in a transaction's commit marker and then stay quiet
//!   still processes its stream (it used to wait for the marker forever).
//!
//! Expected results are computed here from the produced input.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, StreamsConfig, Topology};
use support::{KafkaCluster, one_at_a_time, unique};

const TIMEOUT: Duration = Duration::from_secs(120);

/// Broker settings that make its log cleaner compact a changelog within seconds.
const FAST_CLEANER: &str = "log.cleaner.backoff.ms=200\nlog.retention.check.interval.ms=1000";

/// The broker of this binary: one node whose cleaner runs often.
fn broker() -> &'static KafkaCluster {
    static BROKER: std::sync::OnceLock<KafkaCluster> = std::sync::OnceLock::new();
    BROKER.get_or_init(|| KafkaCluster::start(1, FAST_CLEANER))
}

/// Counts records per key of `input` into the store `counts`, written to `output`.
fn count_topology(input: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(input, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to(output);
    builder.build().expect("a well-formed topology")
}

fn app_config(broker: &KafkaCluster, app: &str, state: &std::path::Path) -> StreamsConfig {
    let mut config = StreamsConfig::new();
    config
        .set("bootstrap.servers", &broker.bootstrap)
        .set("application.id", app)
        .set("state.dir", state.to_string_lossy().to_string())
        .set("commit.interval.ms", "200")
        .set("consumer.session.timeout.ms", "6000")
        .set("consumer.heartbeat.interval.ms", "500");
    config
}

/// The sum of a counter in `registry` whose name ends with `suffix`.
fn counter(registry: &prometheus::Registry, suffix: &str) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|family| family.name().ends_with(suffix))
        .flat_map(|family| family.get_metric())
        .map(|m| m.get_counter().get_value())
        .sum()
}

fn store_contents(streams: &KafkaStreams) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match streams
            .key_value_store::<String, u64>("counts")
            .and_then(|store| store.all())
        {
            Ok(entries) => return entries.into_iter().collect(),
            Err(e) => {
                assert!(Instant::now() < deadline, "store never queryable: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// Waits until the store holds `expected`.
fn wait_for_store(streams: &KafkaStreams, expected: &BTreeMap<String, u64>) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let contents = store_contents(streams);
        if &contents == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "store never reached the expected counts: {} keys, {} expected; first differences: {:?}",
            contents.len(),
            expected.len(),
            expected
                .iter()
                .filter(|(k, v)| contents.get(*k) != Some(v))
                .take(5)
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn compacted_changelog_restores_exactly(guarantee: &str) {
    let _serial = one_at_a_time();
    let broker = broker();
    let (input, output) = (unique("updates"), unique("counts-out"));
    broker.create_topics(&[(&input, 2), (&output, 2)]);
    let app = unique("compacted");
    let changelog = format!("{app}-counts-changelog");
    let state = tempfile::tempdir().expect("state dir");

    // 40 updates of each of 200 keys: 8,000 changelog records for 200 live keys.
    let (keys, records) = (200, 8_000);
    let mut config = app_config(broker, &app, state.path());
    config
        .set("processing.guarantee", guarantee)
        .set("statestore.cache.max.bytes", "0")
        // Internal topics with segments rolled every 100 ms and cleaned as soon as 1% is
        // dirty: the broker compacts the changelog while the test waits.
        .set("topic.segment.ms", "100")
        .set("topic.min.cleanable.dirty.ratio", "0.01")
        .set("topic.delete.retention.ms", "100");
    let mut streams = KafkaStreams::new(count_topology(&input, &output), &config).expect("app");
    streams.start().expect("start");
    let mut expected = BTreeMap::new();
    for batch in 0..8 {
        for (k, v) in broker.produce(&input, batch * 1_000, 1_000, keys) {
            *expected.entry(k).or_insert(0u64) += v;
        }
        // Spread over time so that the changelog spans many segments.
        std::thread::sleep(Duration::from_millis(150));
    }
    wait_for_store(&streams, &expected);
    streams.close().expect("close");

    // The cleaner never touches a partition's active (last) segment; the records before it
    // are compacted. Wait until it has really done so.
    let deadline = Instant::now() + TIMEOUT;
    let compacted = loop {
        let left = broker
            .read_all(
                &changelog,
                "read_uncommitted",
                Duration::from_secs(5),
                |_| false,
            )
            .len();
        if left < records / 2 {
            break left;
        }
        assert!(
            Instant::now() < deadline,
            "the broker never compacted {changelog}: {left} of {records} records left"
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    eprintln!("{guarantee}: the changelog holds {compacted} of {records} records after compaction");

    // A new instance without local state restores from the compacted changelog.
    let fresh = tempfile::tempdir().expect("state dir");
    let registry = prometheus::Registry::new();
    let mut config = app_config(broker, &app, fresh.path());
    config
        .set("processing.guarantee", guarantee)
        .set("statestore.cache.max.bytes", "0")
        .set_metrics_registry(registry.clone());
    let mut streams = KafkaStreams::new(count_topology(&input, &output), &config).expect("app");
    streams.start().expect("start");
    streams.wait_until_running(TIMEOUT).expect("running");
    wait_for_store(&streams, &expected);
    let restored = counter(&registry, "streams_restore_records_total");
    eprintln!("{guarantee}: restored {restored} records into {keys} keys");
    assert!(
        restored >= keys as f64 && restored < (records / 2) as f64,
        "restored {restored} records: a compacted changelog of {records} updates to {keys} keys"
    );

    // And it goes on counting from the restored state.
    for (k, v) in broker.produce(&input, records, 400, keys) {
        *expected.entry(k).or_insert(0u64) += v;
    }
    wait_for_store(&streams, &expected);
    streams.close().expect("close");
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn a_compacted_changelog_restores_exact_state() {
    compacted_changelog_restores_exactly("at_least_once");
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn a_compacted_transactional_changelog_restores_exact_state() {
    compacted_changelog_restores_exactly("exactly_once_v2");
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn zstd_compressed_input_is_consumed() {
    let _serial = one_at_a_time();
    let broker = broker();
    let (input, output) = (unique("zstd-in"), unique("zstd-out"));
    broker.create_topics(&[(&input, 2), (&output, 2)]);
    // The producer compresses its batches with zstd; the topic keeps the producer's codec.
    let expected = broker.produce_with(&input, 0, 2_000, 50, &[("compression.type", "zstd")]);
    let state = tempfile::tempdir().expect("state dir");
    let mut config = app_config(broker, &unique("zstd"), state.path());
    config
        .set("statestore.cache.max.bytes", "0")
        .set("producer.compression.type", "zstd");
    let mut streams = KafkaStreams::new(count_topology(&input, &output), &config).expect("app");
    streams.start().expect("start");
    wait_for_store(&streams, &expected);
    streams.close().expect("close");
    // What the app wrote, zstd-compressed too, reads back: the last count per key.
    let counts = broker.read_all(&output, "read_committed", TIMEOUT, |r| r.len() >= 2_000);
    let mut last = BTreeMap::new();
    for (_, key, value) in counts {
        let value: [u8; 8] = value.as_slice().try_into().expect("a u64 count");
        last.insert(key, u64::from_be_bytes(value));
    }
    assert_eq!(last, expected, "the counts read back");
}

/// Writes `rows` (key → value) to `topic` in one committed transaction.
fn produce_transactionally(broker: &KafkaCluster, topic: &str, rows: &[(String, String)]) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
    let producer: BaseProducer = broker
        .client()
        .set("transactional.id", unique("rows-writer"))
        // As the other producers here: Kafka's default partitioner, so keys co-partition.
        .set("partitioner", "murmur2_random")
        .create()
        .expect("transactional producer");
    producer
        .init_transactions(TIMEOUT)
        .expect("init transactions");
    producer.begin_transaction().expect("begin");
    for (key, value) in rows {
        producer
            .send(BaseRecord::to(topic).key(key).payload(value))
            .map_err(|(e, _)| e)
            .expect("send");
    }
    producer.commit_transaction(TIMEOUT).expect("commit");
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn a_join_does_not_wait_on_a_transaction_marker() {
    // The table topic is written in a transaction, so each partition ends with a commit
    // marker after its last record, and then stays quiet: the join must still process the
    // stream records (the consumer's position passes the marker; the records do not).
    let _serial = one_at_a_time();
    let broker = broker();
    let (stream, table, output) = (unique("tx-clicks"), unique("tx-rows"), unique("tx-joined"));
    broker.create_topics(&[(&stream, 2), (&table, 2), (&output, 2)]);
    let keys = 20;
    let rows: Vec<(String, String)> = (0..keys)
        .map(|i| (format!("key-{i}"), format!("row-{i}")))
        .collect();
    produce_transactionally(broker, &table, &rows);

    let builder = StreamsBuilder::new();
    let table_rows = builder.table(
        &table,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("rows"),
    );
    builder
        .stream(&stream, Consumed::with(Serdes::string(), Serdes::string()))
        .join_table(&table_rows, |s: &String, t: &String| format!("{s}+{t}"))
        .to(&output);
    let state = tempfile::tempdir().expect("state dir");
    let mut config = app_config(broker, &unique("tx-join"), state.path());
    config.set("processing.guarantee", "exactly_once_v2");
    let mut streams = KafkaStreams::new(builder.build().expect("topology"), &config).expect("app");
    streams.start().expect("start");
    streams.wait_until_running(TIMEOUT).expect("running");
    // Once the table is in, the stream records come (the join ignores later table rows).
    let deadline = Instant::now() + TIMEOUT;
    while streams
        .key_value_store::<String, String>("rows")
        .and_then(|s| s.all())
        .map_or(0, |all| all.len())
        < keys
    {
        assert!(Instant::now() < deadline, "the table never loaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    broker.produce(&stream, 0, 200, keys);
    let joined = broker.read_all(&output, "read_committed", Duration::from_secs(30), |r| {
        r.len() >= 200
    });
    streams.close().expect("close");
    assert_eq!(
        joined.len(),
        200,
        "every stream record joined once, none held back by the table's commit markers"
    );
}
