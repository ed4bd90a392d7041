//! A task whose changelog offsets the brokers cannot give yet (a leader moving or down) waits
//! without stopping its thread, as Kafka Streams retries such a task on later loop iterations
//! up to `task.timeout.ms` (KIP-572): the thread's other tasks go on processing, the instance
//! reports that it is not running yet, a shutdown does not wait for the brokers, and once they
//! answer the task is created and counts from its last commit.

mod common;

use std::time::Duration;

use common::{TableReader, app_config, init_tracing, produce_keyed, wait_for};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use streams_core::dsl::{Consumed, Materialized, Produced, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, State, Topology};

const TIMEOUT: Duration = Duration::from_secs(90);

/// Two sub-topologies: a stateless copy of `plain` (no changelog, nothing to ask the brokers)
/// and a count of `events` (a changelog whose offsets are read when its task is created).
fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("plain", Consumed::with(Serdes::string(), Serdes::string()))
        .map_values(|_: String| 1u64)
        .to_with("plain-out", Produced::with(Serdes::string(), Serdes::u64()));
    builder
        .stream("events", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("counts-out");
    builder.build().expect("topology")
}

/// Commits offset 0 of every input partition for group `app`: the instance's consumer then
/// starts there without asking the brokers for offsets (only the changelog's are asked).
fn commit_start(broker: &EmbeddedBroker, app: &str) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", app)
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut offsets = TopicPartitionList::new();
    for topic in ["plain", "events"] {
        offsets
            .add_partition_offset(topic, 0, Offset::Offset(0))
            .expect("offset");
    }
    consumer
        .commit(&offsets, CommitMode::Sync)
        .expect("commit the start offsets");
}

/// An instance started while the broker refuses every request for offsets, as a former
/// leader does (until cleared), with `events` records in `events` produced before: returned
/// once its stateless copy has shown that its thread polls and processes.
struct Refused {
    broker: std::sync::Arc<EmbeddedBroker>,
    streams: KafkaStreams,
    counted: std::collections::BTreeMap<String, u64>,
    _state: tempfile::TempDir,
}

fn start_while_offsets_are_refused(app: &str, events: usize) -> Refused {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    for topic in ["plain", "events", "plain-out", "counts-out"] {
        broker.create_topic(topic, 1).expect("topic");
    }
    commit_start(&broker, app);
    let counted = produce_keyed(&broker, "events", 0, events, 10);
    broker
        .inject_request_errors(
            RDKafkaApiKey::ListOffsets,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION; 100_000],
        )
        .expect("inject");
    let state = tempfile::tempdir().expect("tempdir");
    let config = app_config(&broker, app, state.path());
    let mut streams = KafkaStreams::new(topology(), &config).expect("streams");
    streams.start().expect("start");
    // The copy runs while the count waits: the thread polls and processes.
    let copied = produce_keyed(&broker, "plain", 0, 20, 20);
    let mut copies = TableReader::from_offset_zero(&broker, "plain-out");
    assert_eq!(copies.read_until(&copied, TIMEOUT), copied);
    Refused {
        broker,
        streams,
        counted,
        _state: state,
    }
}

#[test]
fn a_task_waiting_for_its_changelog_offsets_leaves_the_thread_polling() {
    let Refused {
        broker,
        mut streams,
        counted,
        _state,
    } = start_while_offsets_are_refused("task-wait", 300);
    let mut counts = TableReader::from_offset_zero(&broker, "counts-out");
    assert!(
        counts
            .read_until(&counted, Duration::from_secs(2))
            .is_empty(),
        "the count ran though its changelog's offsets could not be read"
    );
    assert_eq!(
        streams.state(),
        State::Rebalancing,
        "a task waits: the instance is not running yet"
    );

    // The brokers answer again: the task is created and counts everything once.
    broker
        .clear_request_errors(RDKafkaApiKey::ListOffsets)
        .expect("clear");
    assert_eq!(counts.read_until(&counted, TIMEOUT), counted);
    wait_for("the instance to run", TIMEOUT, || {
        streams.state() == State::Running
    });
    streams.close().expect("clean close");
}

#[test]
fn a_shutdown_does_not_wait_for_a_task_waiting_for_the_brokers() {
    let Refused {
        mut streams,
        _state,
        ..
    } = start_while_offsets_are_refused("task-wait-close", 0);
    // The close ends cleanly while the brokers still refuse (a thread blocked on them would
    // hold it for task.timeout.ms, 5 minutes, and this test would overrun its guard).
    let (done, closed) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(streams.close());
    });
    closed
        .recv_timeout(TIMEOUT)
        .expect("the close waited for the brokers")
        .expect("clean close");
}
