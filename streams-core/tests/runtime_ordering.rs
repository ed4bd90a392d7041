//! Timestamp order inside a task, on the embedded broker: a stream–table join whose table
//! records are older than the stream records joins them, even though the stream partition was
//! fetched first, because the task processes its partitions by timestamp and waits for the
//! empty table partition (`max.task.idle.ms`).

mod common;

use std::time::{Duration, Instant};

use common::{app_config, init_tracing, produce_with_timestamps};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, Topology};

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    let users = builder.table(
        "users",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("users"),
    );
    builder
        .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
        .join_table(&users, |page: &String, name: &String| {
            format!("{name} opened {page}")
        })
        .to("named-clicks");
    builder.build().expect("topology")
}

/// The join's output, read until all 5 arrive or `read_for` passes; `buffer_limit` bounds what
/// the waiting task buffers.
fn joined_after(
    max_task_idle_ms: &str,
    buffer_limit: (&str, &str),
    read_for: Duration,
) -> Vec<String> {
    let broker = EmbeddedBroker::start(1).expect("broker");
    for topic in ["clicks", "users", "named-clicks"] {
        broker.create_topic(topic, 1).expect("topic");
    }
    let clicks: Vec<_> = (0..5)
        .map(|i| {
            (
                Some(format!("u{i}").into_bytes()),
                Some(format!("/page{i}").into_bytes()),
                1_000 + i,
            )
        })
        .collect();
    produce_with_timestamps(&broker, "clicks", &clicks);
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(
        &broker,
        &format!(
            "ordering{}-{}",
            max_task_idle_ms.replace('-', "m"),
            buffer_limit.0.replace('.', "-")
        ),
        state.path(),
    );
    config.set("max.task.idle.ms", max_task_idle_ms);
    // The waiting task buffers few clicks: their partition pauses, and resumes as the task
    // works through them, without losing any.
    config.set(buffer_limit.0, buffer_limit.1);
    let mut streams = KafkaStreams::new(topology(), &config).expect("streams");
    streams.start().expect("start");
    streams
        .wait_until_running(Duration::from_secs(60))
        .expect("running");
    // The clicks are fetched; the users partition is empty and caught up.
    std::thread::sleep(Duration::from_millis(1500));
    let users: Vec<_> = (0..5)
        .map(|i| {
            (
                Some(format!("u{i}").into_bytes()),
                Some(format!("user {i}").into_bytes()),
                100 + i,
            )
        })
        .collect();
    produce_with_timestamps(&broker, "users", &users);

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "ordering-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&["named-clicks"]).expect("subscribe");
    let mut out = Vec::new();
    let deadline = Instant::now() + read_for;
    while Instant::now() < deadline && out.len() < 5 {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string());
        }
    }
    streams.close().expect("close");
    out.sort();
    out
}

#[test]
fn older_table_records_are_joined_first_when_the_task_waits_for_them() {
    init_tracing();
    let joined = joined_after(
        "5000",
        ("buffered.records.per.partition", "2"),
        Duration::from_secs(30),
    );
    assert_eq!(
        joined,
        all_joined(),
        "every click meets its (older) user row"
    );
}

#[test]
fn a_byte_bounded_input_buffer_pauses_and_resumes_without_losing_order() {
    init_tracing();
    // One byte: every buffered record pauses the partitions the thread holds records of.
    let joined = joined_after(
        "5000",
        ("input.buffer.max.bytes", "1"),
        Duration::from_secs(30),
    );
    assert_eq!(joined, all_joined());
}

fn all_joined() -> Vec<String> {
    (0..5)
        .map(|i| format!("user {i} opened /page{i}"))
        .collect()
}

#[test]
fn without_waiting_the_clicks_are_processed_before_the_users_arrive() {
    init_tracing();
    // Control: the test above could fail. With -1 the task never waits, so the clicks find an
    // empty table (inner join: no output).
    let joined = joined_after(
        "-1",
        ("buffered.records.per.partition", "2"),
        Duration::from_secs(5),
    );
    assert!(joined.is_empty());
}
