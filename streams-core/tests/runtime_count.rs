//! The count-by-key app on the embedded broker: exact counts over 4 partitions, restoration
//! from the changelog after the state dir is lost, and two instances sharing the work.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{TableReader, app_config, init_tracing, merge, produce_keyed, wait_for};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::runtime::StateRestoreListener;
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, State, TaskId, Topology};

const INPUT: &str = "events";
const OUTPUT: &str = "event-counts";
const TIMEOUT: Duration = Duration::from_secs(60);

fn count_topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(INPUT, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to(OUTPUT);
    builder.build().expect("topology")
}

/// The `counts` store's entries on `streams`; empty while a task restores it (it cannot be
/// queried then).
fn store_contents(streams: &KafkaStreams) -> BTreeMap<String, u64> {
    match streams
        .key_value_store::<String, u64>("counts")
        .expect("store")
        .all()
    {
        Ok(entries) => entries.into_iter().collect(),
        Err(streams_core::Error::StoreUnavailable { .. }) => BTreeMap::new(),
        Err(e) => panic!("querying the counts: {e}"),
    }
}

#[test]
fn counts_10k_records_over_4_partitions_exactly() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic(INPUT, 4).expect("input");
    broker.create_topic(OUTPUT, 4).expect("output");
    let state = tempfile::tempdir().expect("tempdir");
    let expected = produce_keyed(&broker, INPUT, 0, 10_000, 250);

    let mut config = app_config(&broker, "count-exact", state.path());
    // Without a record cache every input record yields exactly one update downstream.
    config.set("statestore.cache.max.bytes", "0");
    let mut streams = KafkaStreams::new(count_topology(), &config).expect("streams");
    streams.start().expect("start");
    streams.wait_until_running(TIMEOUT).expect("running");

    let mut reader = TableReader::new(&broker, OUTPUT);
    let got = reader.read_until(&expected, TIMEOUT);
    assert_eq!(got, expected, "output counts");
    assert_eq!(
        reader.records, 10_000,
        "one update per input record without caching"
    );
    wait_for("the store to hold every count", TIMEOUT, || {
        store_contents(&streams) == expected
    });
    assert_eq!(streams.local_tasks().len(), 4);
    streams.close().expect("clean close");
    assert_eq!(streams.state(), State::NotRunning);
}

#[test]
fn restores_from_the_changelog_after_the_state_dir_is_deleted() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic(INPUT, 4).expect("input");
    broker.create_topic(OUTPUT, 4).expect("output");
    let state = tempfile::tempdir().expect("tempdir");
    let config = app_config(&broker, "count-restore", state.path());

    let mut expected = produce_keyed(&broker, INPUT, 0, 5_000, 100);
    let mut first = KafkaStreams::new(count_topology(), &config).expect("streams");
    first.start().expect("start");
    let mut reader = TableReader::new(&broker, OUTPUT);
    assert_eq!(reader.read_until(&expected, TIMEOUT), expected);
    assert!(
        reader.records <= 5_000,
        "the record cache only ever coalesces updates"
    );
    first.close().expect("clean close");
    drop(first);

    std::fs::remove_dir_all(state.path().join("count-restore")).expect("delete state dir");

    let mut second = KafkaStreams::new(count_topology(), &config).expect("streams");
    second.start().expect("start");
    second.wait_until_running(TIMEOUT).expect("running");
    // Restored before processing anything new: the store already holds the first run's counts.
    wait_for("restored counts", TIMEOUT, || {
        store_contents(&second) == expected
    });

    merge(
        &mut expected,
        produce_keyed(&broker, INPUT, 5_000, 5_000, 100),
    );
    assert_eq!(
        reader.read_until(&expected, TIMEOUT),
        expected,
        "no double counting"
    );
    wait_for("final store", TIMEOUT, || {
        store_contents(&second) == expected
    });
    second.close().expect("clean close");
}

/// Counts what a restore listener hears, per changelog partition.
#[derive(Default)]
struct Restores {
    started: Mutex<BTreeMap<i32, (i64, i64)>>,
    batches: Mutex<BTreeMap<i32, u64>>,
    ended: Mutex<BTreeMap<i32, u64>>,
}

/// Shares [`Restores`] with the instance.
struct Listener(Arc<Restores>);

impl StateRestoreListener for Listener {
    fn on_restore_start(&self, _: &str, partition: i32, store: &str, start: i64, end: i64) {
        assert_eq!(store, "counts");
        self.0
            .started
            .lock()
            .expect("lock")
            .insert(partition, (start, end));
    }
    fn on_batch_restored(&self, _: &str, partition: i32, _: &str, _: i64, restored: u64) {
        *self
            .0
            .batches
            .lock()
            .expect("lock")
            .entry(partition)
            .or_default() += restored;
    }
    fn on_restore_end(&self, _: &str, partition: i32, _: &str, total: u64) {
        self.0.ended.lock().expect("lock").insert(partition, total);
    }
}

/// The first run of a restart test: `records` records over `keys` keys on `partitions`
/// partitions, counted without a record cache (each input record writes one changelog record)
/// until the store holds them all, then closed cleanly.
struct FirstRun {
    broker: Arc<EmbeddedBroker>,
    config: streams_core::StreamsConfig,
    state: tempfile::TempDir,
    expected: BTreeMap<String, u64>,
}

fn count_and_close(app: &str, partitions: i32, records: usize, keys: usize) -> FirstRun {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic(INPUT, partitions).expect("input");
    broker.create_topic(OUTPUT, partitions).expect("output");
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, app, state.path());
    config.set("statestore.cache.max.bytes", "0");
    let expected = produce_keyed(&broker, INPUT, 0, records, keys);
    let mut first = KafkaStreams::new(count_topology(), &config).expect("streams");
    first.start().expect("start");
    wait_for("first counts", TIMEOUT, || {
        store_contents(&first) == expected
    });
    first.close().expect("clean close");
    FirstRun {
        broker,
        config,
        state,
        expected,
    }
}

#[test]
fn a_corrupt_state_dir_is_wiped_and_rebuilt_from_the_changelog_with_progress_reported() {
    let FirstRun {
        config,
        state,
        expected,
        broker: _broker,
    } = count_and_close("count-corrupt", 2, 3_000, 60);

    // Garbage over each task's RocksDB manifest pointer and checkpoint: unreadable state.
    let app_dir = state.path().join("count-corrupt");
    let mut corrupted = 0;
    for task in ["0_0", "0_1"] {
        let store = app_dir.join(task).join("rocksdb").join("counts");
        std::fs::write(store.join("CURRENT"), b"garbage\n").expect("corrupt CURRENT");
        std::fs::write(app_dir.join(task).join(".checkpoint"), b"not a checkpoint")
            .expect("corrupt checkpoint");
        corrupted += 1;
    }
    assert_eq!(corrupted, 2);

    let restores = Arc::new(Restores::default());
    let mut second = KafkaStreams::new(count_topology(), &config).expect("streams");
    second
        .set_global_state_restore_listener(Listener(restores.clone()))
        .expect("listener");
    second.start().expect("start");
    second.wait_until_running(TIMEOUT).expect("running");
    wait_for("rebuilt counts", TIMEOUT, || {
        store_contents(&second) == expected
    });
    second.close().expect("clean close");

    // Without a cache each input record wrote one changelog record: all 3000 come back.
    let started = restores.started.lock().expect("lock").clone();
    let ended = restores.ended.lock().expect("lock").clone();
    let batches = restores.batches.lock().expect("lock").clone();
    assert_eq!(started.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
    for (partition, (start, end)) in &started {
        assert_eq!(*start, 0, "partition {partition} restored from the start");
        assert_eq!(
            ended[partition],
            (*end - *start) as u64,
            "partition {partition}"
        );
        assert_eq!(
            batches[partition], ended[partition],
            "partition {partition}"
        );
    }
    assert_eq!(ended.values().sum::<u64>(), 3_000);
}

#[test]
fn a_checkpoint_offset_of_i64_max_is_past_the_log_end_and_the_store_is_rebuilt() {
    let FirstRun {
        config,
        state,
        expected,
        broker: _broker,
    } = count_and_close("count-max-checkpoint", 2, 1_000, 40);

    // A well-formed checkpoint whose offsets are the largest there is: the first offset after
    // it does not exist, and the stores must not claim anything of the changelog.
    let app_dir = state.path().join("count-max-checkpoint");
    for task in ["0_0", "0_1"] {
        let checkpoint = streams_state::Checkpoint::new(app_dir.join(task).join(".checkpoint"));
        let mut offsets = checkpoint.read().expect("checkpoint of a clean close");
        assert!(
            !offsets.is_empty(),
            "task {task} checkpointed its changelog"
        );
        offsets.values_mut().for_each(|offset| *offset = i64::MAX);
        checkpoint.write(&offsets).expect("write checkpoint");
    }

    let restores = Arc::new(Restores::default());
    let mut second = KafkaStreams::new(count_topology(), &config).expect("streams");
    second
        .set_global_state_restore_listener(Listener(restores.clone()))
        .expect("listener");
    second.start().expect("start");
    second.wait_until_running(TIMEOUT).expect("running");
    wait_for("rebuilt counts", TIMEOUT, || {
        store_contents(&second) == expected
    });
    assert_eq!(second.state(), State::Running);
    second.close().expect("clean close");

    // The state was wiped and the whole changelog read back: one record per input record.
    let started = restores.started.lock().expect("lock").clone();
    let ended = restores.ended.lock().expect("lock").clone();
    assert_eq!(started.keys().copied().collect::<Vec<_>>(), vec![0, 1]);
    for (partition, (start, _)) in &started {
        assert_eq!(*start, 0, "partition {partition} restored from the start");
    }
    assert_eq!(ended.values().sum::<u64>(), 1_000);
}

#[test]
fn two_instances_split_the_partitions_and_one_takes_over() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic(INPUT, 4).expect("input");
    broker.create_topic(OUTPUT, 4).expect("output");
    let dir_a = tempfile::tempdir().expect("tempdir");
    let dir_b = tempfile::tempdir().expect("tempdir");
    let mut a = KafkaStreams::new(
        count_topology(),
        &app_config(&broker, "count-pair", dir_a.path()),
    )
    .expect("a");
    let mut b = KafkaStreams::new(
        count_topology(),
        &app_config(&broker, "count-pair", dir_b.path()),
    )
    .expect("b");
    a.start().expect("start a");
    b.start().expect("start b");
    wait_for("both instances to hold two tasks each", TIMEOUT, || {
        a.state() == State::Running
            && b.state() == State::Running
            && a.local_tasks().len() == 2
            && b.local_tasks().len() == 2
    });
    let mut all: Vec<TaskId> = a.local_tasks();
    all.extend(b.local_tasks());
    all.sort();
    assert_eq!(
        all,
        (0..4).map(|p| TaskId::new(0, p)).collect::<Vec<_>>(),
        "disjoint and complete"
    );

    let mut expected = produce_keyed(&broker, INPUT, 0, 5_000, 200);
    let mut reader = TableReader::new(&broker, OUTPUT);
    assert_eq!(reader.read_until(&expected, TIMEOUT), expected);
    let mut split = store_contents(&a);
    let from_b = store_contents(&b);
    assert!(
        !split.is_empty() && !from_b.is_empty(),
        "both instances hold state"
    );
    split.extend(from_b);
    assert_eq!(
        split, expected,
        "the two stores together hold every count once"
    );

    a.close().expect("close a");
    wait_for("b to take over all four tasks", TIMEOUT, || {
        b.state() == State::Running && b.local_tasks().len() == 4
    });
    merge(
        &mut expected,
        produce_keyed(&broker, INPUT, 5_000, 5_000, 200),
    );
    assert_eq!(
        reader.read_until(&expected, TIMEOUT),
        expected,
        "exact after takeover"
    );
    wait_for("b's store to hold every count", TIMEOUT, || {
        store_contents(&b) == expected
    });
    b.close().expect("close b");
}

#[test]
fn queries_see_counts_still_in_the_record_cache() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic(INPUT, 4).expect("input");
    broker.create_topic(OUTPUT, 4).expect("output");
    let state = tempfile::tempdir().expect("tempdir");
    let expected = produce_keyed(&broker, INPUT, 0, 1_000, 50);

    let mut config = app_config(&broker, "count-cached-query", state.path());
    // A cache that holds everything and no commit (so no flush) while the test runs: the counts
    // live only in the record cache, not yet in RocksDB.
    config.set("statestore.cache.max.bytes", "10485760");
    config.set("commit.interval.ms", "3600000");
    let mut streams = KafkaStreams::new(count_topology(), &config).expect("streams");
    streams.start().expect("start");
    streams.wait_until_running(TIMEOUT).expect("running");
    wait_for("the query to see every count", TIMEOUT, || {
        store_contents(&streams) == expected
    });
    assert_eq!(
        records_in(&broker, OUTPUT, 4),
        0,
        "nothing was flushed downstream: the query read the cache"
    );
    streams.close().expect("clean close");
}

/// How many records `topic` holds (the sum of its partitions' high watermarks).
fn records_in(broker: &EmbeddedBroker, topic: &str, partitions: i32) -> i64 {
    use rdkafka::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .create()
        .expect("consumer");
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, TIMEOUT)
                .expect("watermarks")
                .1
        })
        .sum()
}

#[test]
fn an_in_memory_store_is_rebuilt_from_its_whole_changelog_after_a_clean_restart() {
    use streams_core::state::StoreEngine;
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic(INPUT, 4).expect("input");
    broker.create_topic(OUTPUT, 4).expect("output");
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, "count-in-memory", state.path());
    config.set("statestore.cache.max.bytes", "0");
    let topology = || {
        let builder = StreamsBuilder::new();
        builder
            .stream(INPUT, Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key()
            .count(Materialized::as_("counts").with_engine(StoreEngine::InMemory))
            .to_stream()
            .to(OUTPUT);
        builder.build().expect("topology")
    };

    let mut expected = produce_keyed(&broker, INPUT, 0, 2_000, 20);
    let mut first = KafkaStreams::new(topology(), &config).expect("streams");
    first.start().expect("start");
    wait_for("first counts", TIMEOUT, || {
        store_contents(&first) == expected
    });
    // A clean close writes the task checkpoints.
    first.close().expect("clean close");
    drop(first);

    // The same state directory: the in-memory store starts empty and must be rebuilt from the
    // start of its changelog, not from the checkpointed offset.
    let mut second = KafkaStreams::new(topology(), &config).expect("streams");
    second.start().expect("start");
    second.wait_until_running(TIMEOUT).expect("running");
    wait_for("restored counts", TIMEOUT, || {
        store_contents(&second) == expected
    });
    merge(
        &mut expected,
        produce_keyed(&broker, INPUT, 2_000, 1_000, 20),
    );
    wait_for("counts go on from the restored ones", TIMEOUT, || {
        store_contents(&second) == expected
    });
    second.close().expect("clean close");
}

/// Holds the stream thread in its first restored batch until released.
struct Gate {
    restoring: std::sync::Mutex<std::sync::mpsc::Sender<()>>,
    release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl StateRestoreListener for Gate {
    fn on_batch_restored(&self, _: &str, _: i32, _: &str, _: i64, _: u64) {
        // Later batches find the sender's receiver gone and pass.
        if self.restoring.lock().expect("lock").send(()).is_ok() {
            let _ = self.release.lock().expect("lock").recv();
        }
    }
}

#[test]
fn a_store_being_restored_answers_only_stale_queries() {
    // Kafka Streams refuses to query a store whose task is not running
    // (`InvalidStateStoreException`) unless stale stores are enabled: a restoring store holds
    // only part of the state.
    let FirstRun {
        config,
        state,
        expected,
        broker: _broker,
    } = count_and_close("count-restoring", 1, 2_000, 40);
    // The state is gone (a new host): the task restores its store from the changelog.
    std::fs::remove_dir_all(state.path().join("count-restoring")).expect("wipe");

    let (restoring_tx, restoring) = std::sync::mpsc::channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let mut second = KafkaStreams::new(count_topology(), &config).expect("streams");
    second
        .set_global_state_restore_listener(Gate {
            restoring: std::sync::Mutex::new(restoring_tx),
            release: std::sync::Mutex::new(release_rx),
        })
        .expect("listener");
    second.start().expect("start");
    restoring.recv_timeout(TIMEOUT).expect("a restored batch");
    drop(restoring);
    let store = second
        .key_value_store::<String, u64>("counts")
        .expect("store");
    match store.all() {
        Err(streams_core::Error::StoreUnavailable { name, .. }) => assert_eq!(name, "counts"),
        other => panic!("a restoring store answered: {other:?}"),
    }
    assert!(matches!(
        store.get(&"key-0".to_string()),
        Err(streams_core::Error::StoreUnavailable { .. })
    ));
    let partial = store
        .with_stale_stores()
        .all()
        .expect("a stale query answers");
    assert!(
        partial.len() <= expected.len(),
        "stale entries: {}",
        partial.len()
    );
    release.send(()).expect("release");
    wait_for("restored counts", TIMEOUT, || {
        store_contents(&second) == expected
    });
    second.close().expect("clean close");
}
