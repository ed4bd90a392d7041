//! Exactly-once without wiping, on Apache Kafka: an instance SIGKILLed with transactions open
//! restarts on its state directory and restores only its changelog's tail (its RocksDB stores
//! never took the open transaction's writes, and each committed batch carries the changelog
//! position it reached), where a wipe would restore the whole changelog; and the results stay
//! exact.
//!
//! The figures (changelog length, records restored) are printed for the record:
//! `cargo test -p streams-examples --test eos_restore -- --nocapture`. Run against an older
//! worker with `STREAMS_COUNT_WORKER=<path>` to measure the difference.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use support::{
    KafkaCluster, OpenTransactions, Worker, check_count_sequences, one_at_a_time, unique,
};

const TIMEOUT: Duration = Duration::from_secs(240);
const KEYS: usize = 100_000;
const PARTITIONS: i32 = 2;

/// The sum of the end offsets of `topic`'s partitions: what restoring it whole reads (at
/// most; transaction markers take offsets too).
fn end_offsets(broker: &KafkaCluster, topic: &str) -> i64 {
    let consumer: BaseConsumer = broker.client().create().expect("consumer");
    support::kafka::watermarks(&consumer, topic, PARTITIONS)
        .expect("watermarks")
        .iter()
        .map(|(_, high)| high)
        .sum()
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn a_killed_exactly_once_instance_restores_only_the_changelog_tail() {
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let (events, copies, counts) = (unique("events"), unique("copies"), unique("counts"));
    broker.create_topics(&[
        (&events, PARTITIONS),
        (&copies, PARTITIONS),
        (&counts, PARTITIONS),
    ]);
    let app = unique("eos-restore");
    let args = [
        "--input",
        &events,
        "--copies",
        &copies,
        "--counts",
        &counts,
        "--guarantee",
        "exactly_once_v2",
    ];
    let dirs = tempfile::tempdir().expect("tempdir");
    let dir = dirs.path().join("a");
    let log = || Worker::log_of(&dir);

    // 100,000 keys, one record each: the count store holds 100,000 keys.
    let mut expected = broker.produce(&events, 0, KEYS, KEYS);
    let mut worker = Worker::start(broker, &app, &dir, &args);
    let out = broker.read_all(&counts, "read_committed", TIMEOUT, |r| r.len() >= KEYS);
    assert!(
        out.len() >= KEYS,
        "counted {} of {KEYS}\n{}",
        out.len(),
        log()
    );

    // Records keep flowing over the same keys; the worker is killed while transactions are
    // open on every partition.
    let stop = AtomicBool::new(false);
    let (flowed, worker) = std::thread::scope(|scope| {
        let trickle = scope.spawn(|| {
            let mut produced = BTreeMap::new();
            let mut from = KEYS;
            while !stop.load(Ordering::SeqCst) && from < KEYS + 20_000 {
                for (k, n) in broker.produce(&events, from, 10, KEYS) {
                    *produced.entry(k).or_insert(0) += n;
                }
                from += 10;
                std::thread::sleep(Duration::from_millis(10));
            }
            produced
        });
        let mut watch = OpenTransactions::watch(broker, &copies);
        let deadline = Instant::now() + Duration::from_secs(120);
        while !watch.all_open(PARTITIONS) {
            assert!(
                Instant::now() < deadline,
                "never saw open transactions\n{}",
                log()
            );
        }
        worker.kill();
        let changelog = end_offsets(broker, &format!("{app}-counts-changelog"));
        let since = std::fs::metadata(dir.with_extension("log")).map_or(0, |m| m.len() as usize);
        worker = Worker::start(broker, &app, &dir, &args);
        worker.wait_for_log("-> Running", TIMEOUT);
        let life = worker.log_since(since);
        let restored = support::restored_records(&life);
        println!(
            "eos restore after SIGKILL: changelog {changelog} records (what a wipe restores), restored {restored}"
        );
        assert!(!life.contains("wiping"), "the task was wiped:\n{life}");
        assert!(
            (restored as i64) < changelog / 2,
            "restored {restored} of a {changelog}-record changelog: more than its tail\n{life}"
        );
        stop.store(true, Ordering::SeqCst);
        (trickle.join().expect("trickle"), worker)
    });
    for (k, n) in flowed {
        *expected.entry(k).or_insert(0) += n;
    }

    // Exact: every key's count updates run 1..n in the committed output, and the store holds n.
    let total: u64 = expected.values().sum();
    let out = broker.read_all(&counts, "read_committed", TIMEOUT, |r| {
        r.len() as u64 >= total
    });
    if let Err(e) = check_count_sequences(&out, &expected) {
        panic!("exact count updates after the kill: {e}\n{}", log());
    }
    let dump = dir.with_extension("dump");
    worker.stop();
    assert_eq!(Worker::read_dump(&dump), expected, "final store contents");
}
