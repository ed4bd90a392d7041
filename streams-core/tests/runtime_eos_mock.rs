//! Exactly-once on the embedded broker (librdkafka's mock cluster). The mock runs
//! transactions (commit, abort, transactional offset commits) but does not hide aborted
//! records from `read_committed` readers, so these tests check the machinery, not the
//! promise: a clean run commits exact results through transactions, and an aborted
//! transaction rolls the tasks back and processing goes on. The no-duplicate promise is
//! checked against a transaction-filtering broker in `examples/tests/exactly_once.rs`.

mod common;

use std::time::{Duration, Instant};

use common::{TableReader, app_config, init_tracing, produce_keyed};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, State, Topology};

const TIMEOUT: Duration = Duration::from_secs(90);

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("counts-out");
    builder.build().expect("topology")
}

fn metric(registry: &prometheus::Registry, name: &str) -> f64 {
    common::metric_sum(registry, name, &[])
}

/// Waits until counter `name` reaches `at_least`.
fn wait_for_metric(registry: &prometheus::Registry, name: &str, at_least: f64, what: &str) {
    let deadline = Instant::now() + TIMEOUT;
    while metric(registry, name) < at_least {
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the `counts` store holds at least `expected` for every key (on the mock a
/// restore may read records of an aborted transaction, so counts may overshoot).
fn wait_for_counts_at_least(
    streams: &KafkaStreams,
    registry: &prometheus::Registry,
    expected: &std::collections::BTreeMap<String, u64>,
) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let store: std::collections::BTreeMap<String, u64> = streams
            .key_value_store::<String, u64>("counts")
            .and_then(|s| s.all())
            .map(|all| all.into_iter().collect())
            .unwrap_or_default();
        if expected
            .iter()
            .all(|(k, v)| store.get(k).is_some_and(|got| got >= v))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "store never reached the counts: {store:?} (processed {}, state {:?})",
            metric(registry, "streams_task_process_total"),
            streams.state()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An exactly-once instance of application `app` on `broker`, started, with `extra`
/// properties; its metrics go to the returned registry.
fn start_eos(
    broker: &std::sync::Arc<EmbeddedBroker>,
    app: &str,
    state: &std::path::Path,
    extra: &[(&str, &str)],
) -> (KafkaStreams, prometheus::Registry) {
    let registry = prometheus::Registry::new();
    let mut config = app_config(broker, app, state);
    config
        .set("processing.guarantee", "exactly_once_v2")
        .set_metrics_registry(registry.clone());
    for (key, value) in extra {
        config.set(*key, *value);
    }
    let mut streams = KafkaStreams::new(topology(), &config).expect("streams");
    streams.start().expect("start");
    (streams, registry)
}

/// An embedded broker with the topology's topics, of `partitions` each.
fn broker_with_topics(partitions: i32) -> std::sync::Arc<EmbeddedBroker> {
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("events", partitions).expect("topic");
    broker
        .create_topic("counts-out", partitions)
        .expect("topic");
    broker
}

#[test]
fn a_clean_exactly_once_run_commits_exact_counts_through_transactions() {
    init_tracing();
    let broker = broker_with_topics(2);
    let expected = produce_keyed(&broker, "events", 0, 4_000, 40);
    let state = tempfile::tempdir().expect("tempdir");
    let (mut streams, registry) = start_eos(
        &broker,
        "eos-mock",
        state.path(),
        &[("statestore.cache.max.bytes", "0")],
    );
    let mut reader = TableReader::new(&broker, "counts-out");
    assert_eq!(reader.read_until(&expected, TIMEOUT), expected);
    assert_eq!(reader.records, 4_000, "one update per record, none twice");
    assert!(metric(&registry, "streams_stream_thread_commit_total") >= 1.0);
    assert_eq!(
        metric(
            &registry,
            "streams_stream_thread_transactions_aborted_total"
        ),
        0.0
    );
    streams.close().expect("clean close");
    // A clean close leaves a checkpoint: the next start restores nothing it already has.
    let checkpoints = std::fs::read_dir(state.path().join("eos-mock"))
        .expect("app dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(".checkpoint").exists())
        .count();
    assert_eq!(checkpoints, 2);
}

#[test]
fn an_aborted_transaction_rolls_the_tasks_back_and_processing_goes_on() {
    init_tracing();
    let broker = broker_with_topics(1);
    let state = tempfile::tempdir().expect("tempdir");
    let (mut streams, registry) = start_eos(&broker, "eos-abort", state.path(), &[]);
    streams.wait_until_running(TIMEOUT).expect("running");
    let mut expected = produce_keyed(&broker, "events", 0, 500, 10);
    let mut reader = TableReader::new(&broker, "counts-out");
    assert_eq!(reader.read_until(&expected, TIMEOUT), expected);

    // The group coordinator refuses the next transactional offset commit as from a stale
    // generation (how a zombie is fenced): the transaction cannot commit and is aborted.
    broker
        .inject_request_errors(
            RDKafkaApiKey::TxnOffsetCommit,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION],
        )
        .expect("inject");
    common::merge(
        &mut expected,
        produce_keyed(&broker, "events", 500, 500, 10),
    );
    wait_for_metric(
        &registry,
        "streams_stream_thread_transactions_aborted_total",
        1.0,
        "no transaction was aborted",
    );
    // Rolled back, restored and rewound, the tasks count the rest. On the mock the restore
    // also reads the aborted transaction's changelog records (it does not hide them), so
    // counts may overshoot here; a real broker's exact result is checked elsewhere.
    wait_for_counts_at_least(&streams, &registry, &expected);
    // Queries read through the record cache, so the counts can show before the instance has
    // left its recovery; it ends running.
    streams
        .wait_until_running(TIMEOUT)
        .expect("running after the abort");
    streams.close().expect("clean close");
}

#[test]
fn lost_partitions_abort_the_open_transaction() {
    init_tracing();
    let broker = broker_with_topics(1);
    let state = tempfile::tempdir().expect("tempdir");
    // One long transaction: it is still open when the partitions are lost.
    let (mut streams, registry) = start_eos(
        &broker,
        "eos-lost",
        state.path(),
        &[("commit.interval.ms", "600000")],
    );
    streams.wait_until_running(TIMEOUT).expect("running");
    produce_keyed(&broker, "events", 0, 200, 10);
    wait_for_metric(
        &registry,
        "streams_task_process_total",
        200.0,
        "records not processed",
    );
    assert_eq!(
        metric(&registry, "streams_stream_thread_commit_total"),
        0.0,
        "still open"
    );

    // The coordinator no longer knows this member: librdkafka reports its assignment lost.
    // The new owner (here: this member again, after rejoining) reprocesses the 200 records,
    // so the transaction holding their outputs must be aborted, never committed.
    broker
        .inject_request_errors(
            RDKafkaApiKey::Heartbeat,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID],
        )
        .expect("inject");
    wait_for_metric(
        &registry,
        "streams_stream_thread_transactions_aborted_total",
        1.0,
        "the lost partitions' transaction was not aborted",
    );
    streams.close().expect("clean close");
}

#[test]
fn uncommitted_writes_past_their_bound_commit_before_the_interval() {
    // KIP-892's `statestore.uncommitted.max.bytes`: with an hour-long commit interval, the
    // transactional store's pending writes pass 1 KiB after a few records, and the thread
    // commits then; without the bound nothing would commit (or reach the store's engine)
    // for an hour (checked: with a 1 GB bound this test times out).
    init_tracing();
    let broker = broker_with_topics(1);
    let expected = produce_keyed(&broker, "events", 0, 2_000, 500);
    let state = tempfile::tempdir().expect("tempdir");
    let (mut streams, registry) = start_eos(
        &broker,
        "eos-uncommitted",
        state.path(),
        &[
            ("statestore.cache.max.bytes", "0"),
            ("commit.interval.ms", "3600000"),
            ("statestore.uncommitted.max.bytes", "1024"),
        ],
    );
    wait_for_metric(
        &registry,
        "streams_stream_thread_commit_total",
        2.0,
        "no early commit",
    );
    let mut reader = TableReader::new(&broker, "counts-out");
    assert_eq!(reader.read_until(&expected, TIMEOUT), expected);
    streams.close().expect("clean close");
}

#[test]
fn a_send_refused_by_a_failed_transaction_aborts_it_and_processing_goes_on() {
    // Once a transaction has failed abortably (here the coordinator refuses to add an output
    // partition to it; on a real cluster, records that timed out while the broker was away),
    // librdkafka refuses every further send with `_STATE` until it is aborted. A record
    // processed in between fails its send: that must abort and roll back, as a failed commit
    // does, not stop the thread (seen in examples/tests/soak.rs on a starved broker).
    init_tracing();
    let broker = broker_with_topics(1);
    let state = tempfile::tempdir().expect("tempdir");
    // No cache and no commit for ten minutes: every record sends at once, in one transaction.
    let (mut streams, registry) = start_eos(
        &broker,
        "eos-refused-send",
        state.path(),
        &[
            ("statestore.cache.max.bytes", "0"),
            ("commit.interval.ms", "600000"),
        ],
    );
    streams.wait_until_running(TIMEOUT).expect("running");
    broker
        .inject_request_errors(
            RDKafkaApiKey::AddPartitionsToTxn,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED],
        )
        .expect("inject");
    let mut expected = produce_keyed(&broker, "events", 0, 500, 10);
    // The failure reaches the producer asynchronously: if every record was sent before it, no
    // send is refused until the next commit. Records keep coming, ten at a time, until one
    // is refused and the transaction aborted.
    let deadline = Instant::now() + TIMEOUT;
    let mut produced = 500;
    while metric(
        &registry,
        "streams_stream_thread_transactions_aborted_total",
    ) < 1.0
    {
        assert!(Instant::now() < deadline, "no transaction was aborted");
        std::thread::sleep(Duration::from_millis(200));
        for (key, n) in produce_keyed(&broker, "events", produced, 10, 10) {
            *expected.entry(key).or_insert(0) += n;
        }
        produced += 10;
    }
    assert_ne!(
        streams.state(),
        State::Error,
        "the thread failed: {:?}",
        streams.error().map(|e| e.report().to_string())
    );
    // Rolled back, the task processes every record again from the start (nothing was
    // committed). The mock shows records of open transactions, so the counts appear before
    // the transaction commits; the aborted one added no partition, so they are exact.
    let mut reader = TableReader::new(&broker, "counts-out");
    assert_eq!(reader.read_until(&expected, TIMEOUT), expected);
    assert_ne!(streams.state(), State::Error);
    streams.close().expect("clean close");
}

#[test]
fn a_close_fenced_in_its_final_commit_is_still_clean() {
    // The final commit of a close can find the producer fenced: on a real cluster, when the
    // broker stalled long enough for the coordinator to abort the transaction as timed out
    // (seen in examples/tests/soak.rs). Its uncommitted work is aborted and redone by the
    // tasks' next owner, as after any fencing: the close is clean (it used to fail, and the
    // worker exited 1 on SIGTERM).
    init_tracing();
    let broker = broker_with_topics(1);
    let state = tempfile::tempdir().expect("tempdir");
    let (mut streams, registry) = start_eos(
        &broker,
        "eos-fenced-close",
        state.path(),
        &[("commit.interval.ms", "600000")],
    );
    streams.wait_until_running(TIMEOUT).expect("running");
    produce_keyed(&broker, "events", 0, 200, 10);
    wait_for_metric(
        &registry,
        "streams_task_process_total",
        200.0,
        "records not processed",
    );
    broker
        .inject_request_errors(
            RDKafkaApiKey::EndTxn,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED],
        )
        .expect("inject");
    streams.close().expect("a clean close, fenced");
    assert_eq!(
        metric(&registry, "streams_stream_thread_commit_total"),
        0.0,
        "the fenced transaction did not commit"
    );
}

#[test]
fn a_producer_fenced_mid_transaction_rejoins_and_processing_goes_on() {
    // When the producer is fenced while records are sent (on a real cluster: a broker stall
    // longer than `transaction.timeout.ms`, after which the coordinator rolls the transaction
    // back and bumps the epoch; seen in examples/tests/soak.rs), librdkafka fails every later
    // send with a bare `Fatal`, often first inside a store's changelog write. That is the
    // producer's fencing, not a failure of the store or the application: the thread must give
    // its tasks up and rejoin with a new producer (Kafka Streams' TaskMigratedException), not
    // fail (it used to: the store error stopped the thread, and the worker exited 1).
    init_tracing();
    let broker = broker_with_topics(1);
    let state = tempfile::tempdir().expect("tempdir");
    // The input is there before the app starts, and the broker refuses the first produce
    // request it gets next (the app's first) as from an old producer epoch: librdkafka takes
    // that as fencing. Injected errors go to whichever client asks first, so nothing else
    // produces from here on.
    let expected = produce_keyed(&broker, "events", 0, 5_000, 10);
    broker
        .inject_request_errors(
            RDKafkaApiKey::Produce,
            &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH],
        )
        .expect("inject");
    // No cache and no commit for a second: every record sends at once, in one transaction,
    // so records keep being sent after the fencing comes back (~0.1 s after the first send).
    // Commits after the rejoin make the counts visible to queries (they read committed state).
    let (mut streams, registry) = start_eos(
        &broker,
        "eos-fenced-send",
        state.path(),
        &[
            ("statestore.cache.max.bytes", "0"),
            ("commit.interval.ms", "1000"),
        ],
    );
    wait_for_metric(
        &registry,
        "streams_client_threads_rejoined_total",
        1.0,
        "the thread never rejoined",
    );
    assert_eq!(
        metric(&registry, "streams_client_threads_replaced_total"),
        0.0,
        "the fencing was taken for a failure of the thread: {:?}",
        streams.error().map(|e| e.report().to_string())
    );
    // The new member processes every record again (nothing was committed). On the mock the
    // restore may read records of the fenced transaction (it does not hide them), so counts
    // may overshoot; a real broker's exact result is checked in examples/tests/exactly_once.rs.
    wait_for_counts_at_least(&streams, &registry, &expected);
    streams
        .wait_until_running(TIMEOUT)
        .expect("running after the rejoin");
    assert_ne!(streams.state(), State::Error);
    streams.close().expect("clean close");
}

#[test]
fn a_commit_stuck_on_a_lost_group_coordinator_gives_the_tasks_up() {
    // librdkafka's `send_offsets_to_transaction` does not return while the group coordinator
    // is down, whatever its timeout (confluentinc/librdkafka#5456): the stream thread must not
    // wait on it past its commit budget (here a quarter of a 10 s max.poll.interval.ms), but
    // give its tasks up and rejoin, its new producer fencing the stuck transaction.
    init_tracing();
    let broker = EmbeddedBroker::start(2).expect("broker");
    let app = "eos-stuck-offsets";
    // Everything on broker 1 but the group's coordinator.
    for topic in ["plain", "plain-out"] {
        broker.create_topic(topic, 1).expect("topic");
        broker.set_partition_leader(topic, 0, 1).expect("leader");
    }
    broker.set_group_coordinator(app, 2).expect("coordinator");
    let builder = StreamsBuilder::new();
    builder
        .stream("plain", Consumed::with(Serdes::string(), Serdes::string()))
        .to("plain-out");
    let topology = builder.build().expect("topology");
    let registry = prometheus::Registry::new();
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, app, state.path());
    config
        .set("processing.guarantee", "exactly_once_v2")
        .set("consumer.max.poll.interval.ms", "10000")
        .set_metrics_registry(registry.clone());
    let mut streams = KafkaStreams::new(topology, &config).expect("streams");
    streams.start().expect("start");
    streams.wait_until_running(TIMEOUT).expect("running");
    produce_keyed(&broker, "plain", 0, 10, 10);
    wait_for_metric(
        &registry,
        "streams_stream_thread_commit_total",
        1.0,
        "nothing committed",
    );

    broker.broker_down(2).expect("down");
    produce_keyed(&broker, "plain", 10, 10, 10);
    wait_for_metric(
        &registry,
        "streams_client_threads_rejoined_total",
        1.0,
        "the thread never gave its tasks up while the group coordinator was down",
    );
    broker.broker_up(2).expect("up");
    streams.close().expect("clean close");
}
