//! Bad records on the embedded broker: an undeserializable input under the fail policy stops
//! the instance in `Error` without committing past it, log-and-continue skips it, dead-letter
//! sends it on with headers; an output the producer refuses fails or is dropped per
//! `production.exception.handler`.

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
    let message = streams.error().expect("the error").report().to_string();
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

#[test]
fn dead_letter_policy_sends_the_bad_record_with_headers_and_goes_on() {
    use rdkafka::message::{Headers as _, Message};
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    for topic in ["amounts", "doubled", "poison-dlq"] {
        broker.create_topic(topic, 1).expect("topic");
    }
    produce(&broker, "amounts", &records());
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, "poison-dlq-app", state.path());
    config
        .set("default.deserialization.exception.handler", "dead_letter")
        .set("errors.dead.letter.queue.topic.name", "poison-dlq");
    let registry = prometheus::Registry::new();
    config.set_metrics_registry(registry.clone());
    let mut streams = KafkaStreams::new(topology(), &config).expect("streams");
    streams.start().expect("start");
    assert_eq!(read_doubled(&broker, 3), vec![2, 4, 8]);

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "dlq-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["poison-dlq"]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    let dead = loop {
        assert!(
            Instant::now() < deadline,
            "nothing in the dead-letter topic"
        );
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            break m.detach();
        }
    };
    assert_eq!(
        (dead.key(), dead.payload()),
        (Some(&b"k"[..]), Some(&b"bad"[..]))
    );
    let headers: std::collections::BTreeMap<String, String> = dead
        .headers()
        .expect("headers")
        .iter()
        .map(|h| {
            (
                h.key.to_string(),
                String::from_utf8_lossy(h.value.unwrap_or_default()).to_string(),
            )
        })
        .collect();
    assert_eq!(headers["__streams.errors.topic"], "amounts");
    assert_eq!(headers["__streams.errors.partition"], "0");
    assert_eq!(headers["__streams.errors.offset"], "2");
    assert_eq!(headers["__streams.errors.exception"], "Deserialization");
    assert!(
        headers["__streams.errors.message"].contains("amounts-0@2"),
        "{headers:?}"
    );
    // Committed past the dead-lettered record: it is handled.
    let deadline = Instant::now() + Duration::from_secs(30);
    while committed(&broker, "poison-dlq-app") != Some(4) {
        assert!(Instant::now() < deadline, "offsets not committed");
        std::thread::sleep(Duration::from_millis(100));
    }
    let dropped = |reason: &str| {
        common::metric_sum(
            &registry,
            "streams_task_dropped_records_total",
            &[("reason", reason)],
        )
    };
    assert_eq!(
        dropped("bad_input"),
        1.0,
        "dead-lettered: dropped from processing"
    );
    assert_eq!(dropped("processing_error"), 0.0);
    assert_eq!(
        common::metric_sum(&registry, "streams_task_dead_lettered_total", &[]),
        1.0
    );
    streams.close().expect("clean close");
}

/// Doubles, into `output`, a topic whose records the producer refuses over 100 bytes.
fn padded_topology(output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("amounts", Consumed::with(Serdes::string(), Serdes::u64()))
        .map_values(|v: u64| {
            if v == 2 {
                "x".repeat(5_000)
            } else {
                v.to_string()
            }
        })
        .to_with(
            output,
            streams_core::dsl::Produced::with(Serdes::string(), Serdes::string()),
        );
    builder.build().expect("topology")
}

/// Runs [`padded_topology`] over amounts 1, 2, 3 with `production.exception.handler` =
/// `policy`; the output record for 2 is too large for the producer.
fn run_with_production_policy(
    policy: &str,
    app: &str,
    output: &str,
) -> (KafkaStreams, std::sync::Arc<EmbeddedBroker>) {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("amounts", 1).expect("topic");
    broker.create_topic(output, 1).expect("topic");
    let good = |i: u64| (Some(b"k".to_vec()), Some(i.to_be_bytes().to_vec()));
    produce(&broker, "amounts", &[good(1), good(2), good(3)]);
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, app, state.path());
    config
        .set("production.exception.handler", policy)
        .set("producer.message.max.bytes", "1000");
    let mut streams = KafkaStreams::new(padded_topology(output), &config).expect("streams");
    streams.start().expect("start");
    // The state directory must outlive the instance.
    std::mem::forget(state);
    (streams, broker)
}

/// Under `continue`, the output record for 2 is dropped and the instance goes on.
fn continue_drops_the_unsendable_output(output: &str, app: &str) {
    let (mut streams, broker) = run_with_production_policy("continue", app, output);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "padded-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[output]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while out.len() < 2 && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            use rdkafka::Message;
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
        }
    }
    assert_eq!(out, vec!["1", "3"]);
    assert_eq!(streams.state(), State::Running);
    streams.close().expect("clean close");
}

#[test]
fn production_continue_drops_the_unsendable_output_and_goes_on() {
    continue_drops_the_unsendable_output("padded", "produce-continue");
}

#[test]
fn a_user_topic_named_like_a_changelog_keeps_the_users_policy() {
    // Changelogs are known from the topology's plan, not from the `-changelog` suffix: this is
    // the user's output, and `continue` applies to it.
    continue_drops_the_unsendable_output("padded-changelog", "produce-continue-suffix");
}

#[test]
fn production_fail_stops_the_instance_naming_the_topic() {
    let (mut streams, _broker) = run_with_production_policy("fail", "produce-fail", "padded");
    let deadline = Instant::now() + Duration::from_secs(60);
    while streams.state() != State::Error {
        assert!(
            Instant::now() < deadline,
            "never reached Error ({:?})",
            streams.state()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let err = streams.close().expect_err("the production error");
    assert!(
        matches!(&err, Error::Production { topic, .. } if topic == "padded"),
        "{err:?}"
    );
}
