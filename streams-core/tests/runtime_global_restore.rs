//! Global stores report their restoration to the global restore listener, as task stores do:
//! start with the offsets to read, batches adding up to every record, end with the total; a
//! restart from the checkpoint restores only what is new.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{app_config, init_tracing, producer};
use rdkafka::producer::{BaseRecord, Producer};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::runtime::StateRestoreListener;
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, Topology};

const TOPIC: &str = "countries";

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder.global_table(
        TOPIC,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("countries"),
    );
    builder.build().expect("topology")
}

/// What the listener heard, per partition: (start, end) offsets, records in batches, total.
#[derive(Default)]
struct Heard {
    started: BTreeMap<i32, (i64, i64)>,
    batched: BTreeMap<i32, u64>,
    ended: BTreeMap<i32, u64>,
}

#[derive(Clone, Default)]
struct Listener(Arc<Mutex<Heard>>);

impl StateRestoreListener for Listener {
    fn on_restore_start(&self, topic: &str, partition: i32, store: &str, start: i64, end: i64) {
        assert_eq!((topic, store), (TOPIC, "countries"));
        let mut heard = self.0.lock().expect("lock");
        heard.started.insert(partition, (start, end));
    }
    fn on_batch_restored(&self, _: &str, partition: i32, _: &str, _: i64, restored: u64) {
        let mut heard = self.0.lock().expect("lock");
        *heard.batched.entry(partition).or_default() += restored;
    }
    fn on_restore_end(&self, _: &str, partition: i32, _: &str, total: u64) {
        let mut heard = self.0.lock().expect("lock");
        heard.ended.insert(partition, total);
    }
}

/// Starts an instance on `state`, waits until it runs, closes it; returns what it heard.
fn restore_once(broker: &Arc<EmbeddedBroker>, state: &std::path::Path) -> Heard {
    let listener = Listener::default();
    let mut streams =
        KafkaStreams::new(topology(), &app_config(broker, "global-restore", state)).expect("new");
    streams
        .set_global_state_restore_listener(listener.clone())
        .expect("listener");
    streams.start().expect("start");
    streams
        .wait_until_running(Duration::from_secs(60))
        .expect("running");
    streams.close().expect("close");
    std::mem::take(&mut *listener.0.lock().expect("lock"))
}

#[test]
fn global_stores_report_restoration_and_resume_from_their_checkpoint() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic(TOPIC, 2).expect("topic");
    let records: Vec<_> = (0..2_500)
        .flat_map(|i| [0, 1].map(|p| (format!("k{p}-{i}"), p)))
        .collect();
    produce_to(&broker, &records);
    let state = tempfile::tempdir().expect("tempdir");

    let first = restore_once(&broker, state.path());
    let expected: BTreeMap<i32, u64> = [(0, 2_500), (1, 2_500)].into();
    assert_eq!(first.started, [(0, (0, 2_500)), (1, (0, 2_500))].into());
    assert_eq!(first.batched, expected, "batches add up to every record");
    assert_eq!(first.ended, expected);

    // 100 more on partition 0 only: the restart restores those, from the checkpoint.
    let more: Vec<_> = (0..100).map(|i| (format!("new-{i}"), 0)).collect();
    produce_to(&broker, &more);
    let second = restore_once(&broker, state.path());
    assert_eq!(second.started, [(0, (2_500, 2_600))].into());
    assert_eq!(second.batched, [(0, 100)].into());
    assert_eq!(second.ended, [(0, 100)].into());
}

/// Produces each `(key, partition)` to that partition of the topic.
fn produce_to(broker: &EmbeddedBroker, records: &[(String, i32)]) {
    let producer = producer(broker);
    for (key, partition) in records {
        let record = BaseRecord::<str, str>::to(TOPIC)
            .key(key)
            .payload("country")
            .partition(*partition);
        common::send_or_panic(&producer, record);
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}
