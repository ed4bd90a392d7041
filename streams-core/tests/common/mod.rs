//! Helpers for runtime tests against the embedded broker (librdkafka's mock cluster).
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams_core::StreamsConfig;
use streams_core::embedded::EmbeddedBroker;

/// A raw record: optional key and value bytes.
pub type RawKv = (Option<Vec<u8>>, Option<Vec<u8>>);

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A config for an app on `broker`, with state under `state_dir` and fast commits and
/// rebalances.
pub fn app_config(
    broker: &Arc<EmbeddedBroker>,
    app_id: &str,
    state_dir: &std::path::Path,
) -> StreamsConfig {
    let mut config = StreamsConfig::new();
    config
        .set("application.id", app_id)
        .set("state.dir", state_dir.to_string_lossy().to_string())
        .set("commit.interval.ms", "100")
        .set("consumer.session.timeout.ms", "6000")
        .set("consumer.heartbeat.interval.ms", "200")
        .set("poll.ms", "20");
    broker.configure(&mut config);
    config
}

pub fn producer(broker: &EmbeddedBroker) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("partitioner", "murmur2_random")
        .set("linger.ms", "5")
        .create()
        .expect("producer")
}

/// Sends `record` through the runtime's send path; a record the producer refuses for good
/// fails the test.
pub fn send_or_panic<K, P>(producer: &BaseProducer, record: BaseRecord<'_, K, P>)
where
    K: rdkafka::message::ToBytes + ?Sized,
    P: rdkafka::message::ToBytes + ?Sized,
{
    if let Err(e) = streams_core::runtime::send_record(producer, record) {
        panic!("producing a record: {e}");
    }
}

/// Produces `(key, value)` pairs to `topic`, keyed (so the partition follows the key), and
/// waits for delivery.
pub fn produce(broker: &EmbeddedBroker, topic: &str, records: &[RawKv]) {
    let producer = producer(broker);
    for (key, value) in records {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic);
        if let Some(key) = key {
            record = record.key(key.as_slice());
        }
        if let Some(value) = value {
            record = record.payload(value.as_slice());
        }
        send_or_panic(&producer, record);
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// Produces `count` string records with keys `key-<i % keys>` starting at sequence `from`;
/// returns the number of records per key.
pub fn produce_keyed(
    broker: &EmbeddedBroker,
    topic: &str,
    from: usize,
    count: usize,
    keys: usize,
) -> BTreeMap<String, u64> {
    let mut expected = BTreeMap::new();
    let records: Vec<_> = (from..from + count)
        .map(|i| {
            let key = format!("key-{}", i % keys);
            *expected.entry(key.clone()).or_insert(0) += 1;
            (
                Some(key.into_bytes()),
                Some(format!("value-{i}").into_bytes()),
            )
        })
        .collect();
    produce(broker, topic, &records);
    expected
}

/// Reads `topic` from the start with a fresh group and keeps the latest u64 per string key.
pub struct TableReader {
    consumer: BaseConsumer,
    pub latest: BTreeMap<String, u64>,
    pub records: usize,
}

impl TableReader {
    pub fn new(broker: &EmbeddedBroker, topic: &str) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap_servers())
            .set("group.id", format!("reader-{topic}-{}", std::process::id()))
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        TableReader {
            consumer,
            latest: BTreeMap::new(),
            records: 0,
        }
    }

    /// Reads partition 0 of `topic` from offset 0, outside any group: unlike a subscription
    /// starting at `earliest`, it never asks the brokers for offsets.
    pub fn from_offset_zero(broker: &EmbeddedBroker, topic: &str) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap_servers())
            .set("group.id", format!("reader-{topic}-{}", std::process::id()))
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        let mut partitions = rdkafka::TopicPartitionList::new();
        partitions
            .add_partition_offset(topic, 0, rdkafka::Offset::Offset(0))
            .expect("offset");
        consumer.assign(&partitions).expect("assign");
        TableReader {
            consumer,
            latest: BTreeMap::new(),
            records: 0,
        }
    }

    fn poll_for(&mut self, time: Duration) {
        let until = Instant::now() + time;
        while Instant::now() < until {
            match self.consumer.poll(Duration::from_millis(50)) {
                Some(Ok(m)) => {
                    let key = String::from_utf8(m.key().expect("key").to_vec()).expect("utf8");
                    let value = u64::from_be_bytes(
                        m.payload().expect("value").try_into().expect("8 bytes"),
                    );
                    self.latest.insert(key, value);
                    self.records += 1;
                }
                Some(Err(e)) => panic!("output consumer error: {e}"),
                None => {}
            }
        }
    }

    /// Reads until every key has reached its expected count (or `timeout`), then a little
    /// longer so that overshoot (double counting) would show, and returns the latest values.
    pub fn read_until(
        &mut self,
        expected: &BTreeMap<String, u64>,
        timeout: Duration,
    ) -> BTreeMap<String, u64> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            self.poll_for(Duration::from_millis(200));
            let reached = expected
                .iter()
                .all(|(k, v)| self.latest.get(k).is_some_and(|got| got >= v));
            if reached {
                break;
            }
        }
        self.poll_for(Duration::from_millis(1500));
        self.latest.clone()
    }
}

pub fn merge(into: &mut BTreeMap<String, u64>, more: BTreeMap<String, u64>) {
    for (k, v) in more {
        *into.entry(k).or_insert(0) += v;
    }
}

/// Produces records with explicit timestamps.
pub fn produce_with_timestamps(
    broker: &EmbeddedBroker,
    topic: &str,
    records: &[(Option<Vec<u8>>, Option<Vec<u8>>, i64)],
) {
    let producer = producer(broker);
    for (key, value, ts) in records {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).timestamp(*ts);
        if let Some(key) = key {
            record = record.key(key.as_slice());
        }
        if let Some(value) = value {
            record = record.payload(value.as_slice());
        }
        send_or_panic(&producer, record);
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

/// Waits until `condition` holds, looking every 50 ms; fails the test after `timeout` (a
/// guard against hangs, not a timing assertion).
pub fn wait_for(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The sum over the series of metric family `name` whose labels include every pair of
/// `labels`: counter and gauge values, or a histogram's sample count. 0 when there are none.
pub fn metric_sum(registry: &prometheus::Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    use prometheus::proto::MetricType;
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| {
            let kind = family.get_field_type();
            family.get_metric().iter().map(move |m| (kind, m))
        })
        .filter(|(_, m)| {
            labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            })
        })
        .map(|(kind, m)| match kind {
            MetricType::COUNTER => m.get_counter().get_value(),
            MetricType::GAUGE => m.get_gauge().get_value(),
            MetricType::HISTOGRAM => m.get_histogram().get_sample_count() as f64,
            _ => 0.0,
        })
        .sum()
}
