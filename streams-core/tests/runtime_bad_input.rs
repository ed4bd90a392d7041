//! Records that do not deserialize, on the embedded broker: the fail policy stops the instance
//! in `Error` without committing past the record; log-and-continue skips it.

mod common;

use std::time::{Duration, Instant};

use common::{app_config, init_tracing, produce};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use streams_core::dsl::{Consumed, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::Serdes;
use streams_core::{Error, KafkaStreams, State, Topology};

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("amounts", Consumed::with(Serdes::string(), Serdes::u64()))
        .map_values(|v: u64| v * 2)
        .to("doubled");
    builder.build().expect("topology")
}

/// key, 8-byte value; the third record's value is 3 bytes.
fn records() -> Vec<common::RawKv> {
    let good = |i: u64| (Some(b"k".to_vec()), Some(i.to_be_bytes().to_vec()));
    vec![
        good(1),
        good(2),
        (Some(b"k".to_vec()), Some(b"bad".to_vec())),
        good(4),
    ]
}

fn committed(broker: &EmbeddedBroker, group: &str) -> Option<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition("amounts", 0);
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed");
    match committed.find_partition("amounts", 0).map(|e| e.offset()) {
        Some(Offset::Offset(o)) => Some(o),
        _ => None,
    }
}

fn read_doubled(broker: &EmbeddedBroker, want: usize) -> Vec<u64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["doubled"]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < want && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            use rdkafka::Message;
            out.push(u64::from_be_bytes(
                m.payload().expect("value").try_into().expect("8"),
            ));
        }
    }
    out
}

#[test]
fn fail_policy_stops_in_error_without_committing_past_the_bad_record() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("amounts", 1).expect("topic");
    broker.create_topic("doubled", 1).expect("topic");
    produce(&broker, "amounts", &records());
    let state = tempfile::tempdir().expect("tempdir");
    let mut streams = KafkaStreams::new(
        topology(),
        &app_config(&broker, "poison-fail", state.path()),
    )
    .expect("streams");
    streams.start().expect("start");
    let deadline = Instant::now() + Duration::from_secs(60);
    while streams.state() != State::Error {
        assert!(
            Instant::now() < deadline,
            "never reached Error (state {:?})",
            streams.state()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let message = streams.error().expect("error message");
    assert!(message.contains("amounts-0@2"), "{message}");
    match streams.close() {
        Err(Error::Deserialization {
            topic,
            partition,
            offset,
            field,
            ..
        }) => {
            assert_eq!(
                (topic.as_str(), partition, offset, field),
                ("amounts", 0, 2, "value")
            );
        }
        other => panic!("expected the deserialization error, got {other:?}"),
    }
    let committed = committed(&broker, "poison-fail");
    assert!(
        committed.is_none_or(|o| o <= 2),
        "committed past the bad record: {committed:?}"
    );
}

#[test]
fn log_and_continue_skips_the_bad_record() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("amounts", 1).expect("topic");
    broker.create_topic("doubled", 1).expect("topic");
    produce(&broker, "amounts", &records());
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, "poison-skip", state.path());
    config.set(
        "default.deserialization.exception.handler",
        "log_and_continue",
    );
    let mut streams = KafkaStreams::new(topology(), &config).expect("streams");
    streams.start().expect("start");
    assert_eq!(read_doubled(&broker, 3), vec![2, 4, 8]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while committed(&broker, "poison-skip") != Some(4) {
        assert!(
            Instant::now() < deadline,
            "offsets not committed past the skipped record"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(streams.state(), State::Running);
    streams.close().expect("clean close");
}
