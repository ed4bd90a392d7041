//! Exactly-once, proven on Apache Kafka (which hides aborted transactions from
//! `read_committed` readers), with app instances as separate processes (`count_worker`):
//!
//! - 3 instances × 2 threads on 8 input partitions; one instance stops and another starts
//!   while records flow: every input record is copied exactly once and every key's count
//!   updates run exactly 1..n in the committed output.
//! - An instance SIGKILLed while a transaction is open, then restarted (twice): the committed
//!   output is still exact, the killed transactions' records are in the log but hidden, and
//!   the final store contents are exact.
//!
//! - An instance whose producer is fenced (its transactional id taken over) while a
//!   transaction is open: it rejoins, and the committed output and the store stay exact.
//!
//! - Control: the same kills under at-least-once lose nothing but duplicate records.
//!
//! Expected outputs are computed here from the produced input, independently of the framework.

mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::{
    CountTopics, KafkaCluster, OpenTransactions, Worker, check_copies, check_count_sequences,
    one_at_a_time, unique,
};

const TIMEOUT: Duration = Duration::from_secs(180);

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn three_instances_of_two_threads_are_exact_while_one_leaves_and_one_joins() {
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let topics = CountTopics::create(broker, "eos-scale", 8);
    let dirs = tempfile::tempdir().expect("tempdir");
    let eos = topics.args(&["--guarantee", "exactly_once_v2", "--threads", "2"]);
    let app = unique("eos-scale");
    let start = |name: &str| Worker::start(broker, &app, &dirs.path().join(name), &eos);
    let a = start("a");
    let b = start("b");
    let c = start("c");

    let mut expected = BTreeMap::new();
    let mut b = Some(b);
    let mut d = None;
    for batch in 0..8 {
        for (k, v) in broker.produce(&topics.events, batch * 1_500, 1_500, 300) {
            *expected.entry(k).or_insert(0) += v;
        }
        std::thread::sleep(Duration::from_millis(500));
        if batch == 2 {
            b.take().expect("b").stop();
        }
        if batch == 4 {
            d = Some(start("d"));
        }
    }
    let total = 12_000;
    let copies = broker.read_all(&topics.copies, "read_committed", TIMEOUT, |r| {
        r.len() >= total
    });
    check_copies(&copies, total).expect("every copy exactly once");

    let counts = broker.read_all(&topics.counts, "read_committed", TIMEOUT, |r| {
        r.len() >= total
    });
    check_count_sequences(&counts, &expected).expect("exact count updates");

    for worker in [a, c].into_iter().chain(d) {
        worker.stop();
    }
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn an_instance_killed_mid_transaction_and_restarted_leaves_exact_output_and_state() {
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let dirs = tempfile::tempdir().expect("tempdir");
    let run = killed_and_restarted(broker, dirs.path(), "exactly_once_v2");
    let topics = &run.topics;
    let total = run.total;

    let logs = || {
        format!(
            "{}{}",
            Worker::log_of(&run.dir_a),
            Worker::log_of(&run.dir_b)
        )
    };
    let copies = broker.read_all(&topics.copies, "read_committed", TIMEOUT, |r| {
        r.len() >= total
    });
    if let Err(e) = check_copies(&copies, total) {
        panic!("every copy exactly once: {e}\n{}", logs());
    }
    let counts = broker.read_all(&topics.counts, "read_committed", TIMEOUT, |r| {
        r.len() >= total
    });
    if let Err(e) = check_count_sequences(&counts, &run.expected) {
        panic!("exact count updates: {e}\n{}", logs());
    }
    // The killed transactions' records are in the log, hidden from read_committed.
    let raw = broker.read_all(&topics.copies, "read_uncommitted", TIMEOUT, |r| {
        r.len() > total
    });
    assert!(
        raw.len() > total,
        "the killed transactions left no aborted records ({} raw)",
        raw.len()
    );

    run.a.stop();
    run.b.stop();
    let mut store = Worker::read_dump(&run.dir_a.with_extension("dump"));
    store.extend(Worker::read_dump(&run.dir_b.with_extension("dump")));
    assert_eq!(store, run.expected, "final store contents");
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn under_at_least_once_the_same_kills_lose_nothing_but_duplicate() {
    // Control for the test above: the same scenario without transactions must show the
    // duplicates that exactly-once removes (so those checks can fail), and still lose nothing.
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let dirs = tempfile::tempdir().expect("tempdir");
    let run = killed_and_restarted(broker, dirs.path(), "at_least_once");
    let total = run.total;
    let distinct = |records: &[(i32, String, Vec<u8>)]| {
        records
            .iter()
            .map(|(_, _, v)| v.as_slice())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    let copies = broker.read_all(&run.topics.copies, "read_uncommitted", TIMEOUT, |r| {
        distinct(r) >= total
    });
    assert_eq!(distinct(&copies), total, "no input record lost");
    let error = check_copies(&copies, total).expect_err("a kill reprocesses records");
    eprintln!("at-least-once after two kills: {error}");
    assert!(
        error.contains("missing e.g. []") && !error.contains(" 0 duplicated"),
        "duplicates only: {error}"
    );
    run.a.stop();
    run.b.stop();
}

/// What [`killed_and_restarted`] leaves: the running workers and the expected results.
struct KillRun {
    topics: CountTopics,
    a: Worker,
    b: Worker,
    dir_a: std::path::PathBuf,
    dir_b: std::path::PathBuf,
    /// Input records produced.
    total: usize,
    /// Every key's final count.
    expected: BTreeMap<String, u64>,
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn an_instance_whose_producer_is_fenced_mid_transaction_rejoins_and_stays_exact() {
    // A producer with the instance's transactional id starts while the instance has a
    // transaction open with records in it: the coordinator aborts that transaction and bumps
    // the id's epoch, as when it rolls back a transaction that outlived
    // `transaction.timeout.ms` (seen in the soak after a 10 s broker stall). The instance's
    // next send or commit is fenced. It must give its tasks up and rejoin as a new member
    // (Kafka Streams' TaskMigratedException), not fail, and the committed output stays exact.
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let topics = CountTopics::create(broker, "eos-fenced", 4);
    let dirs = tempfile::tempdir().expect("tempdir");
    let app = unique("eos-fenced");
    let args = topics.args(&[
        "--guarantee",
        "exactly_once_v2",
        "--commit-interval-ms",
        "1000",
    ]);
    let dir = dirs.path().join("a");
    let a = Worker::start(broker, &app, &dir, &args);

    // Records flow until 2 s after the fencing.
    let flow = Flow::default();
    std::thread::scope(|scope| {
        scope.spawn(|| flow.run(broker, &topics.events, 6_000));
        let mut watch = OpenTransactions::watch(broker, &topics.copies);
        let deadline = Instant::now() + Duration::from_secs(90);
        while !watch.all_open(4) {
            assert!(
                Instant::now() < deadline,
                "never saw open transactions on every partition:\n{}",
                Worker::log_of(&dir)
            );
        }
        // The instance's one stream thread's transactional id: `<app>-<process id>-0`.
        let process_id = std::fs::read_to_string(dir.join(&app).join(".process-id"))
            .expect("the instance's process id");
        let fencer: rdkafka::producer::BaseProducer = broker
            .client()
            .set("transactional.id", format!("{app}-{}-0", process_id.trim()))
            .create()
            .expect("fencing producer");
        let log_from = a.log_len();
        rdkafka::producer::Producer::init_transactions(&fencer, Duration::from_secs(30))
            .expect("fencing the instance's producer");
        eprintln!("fenced the instance's producer with a transaction open on every partition");
        flow.finish();
        a.wait_for_log("rejoining the group", Duration::from_secs(60));
        let log = a.log_since(log_from);
        assert!(
            !log.contains("stream thread failed"),
            "the fencing was taken for a failure:\n{log}"
        );
    });
    let (total, expected) = flow.into_produced();
    let copies = broker.read_all(&topics.copies, "read_committed", TIMEOUT, |r| {
        r.len() >= total
    });
    if let Err(e) = check_copies(&copies, total) {
        panic!("every copy exactly once: {e}\n{}", Worker::log_of(&dir));
    }
    let counts = broker.read_all(&topics.counts, "read_committed", TIMEOUT, |r| {
        r.len() >= total
    });
    if let Err(e) = check_count_sequences(&counts, &expected) {
        panic!("exact count updates: {e}\n{}", Worker::log_of(&dir));
    }
    a.stop();
    assert_eq!(
        Worker::read_dump(&dir.with_extension("dump")),
        expected,
        "final store contents"
    );
}

/// Two workers A and B under `guarantee` (1 s commit interval) on 4 partitions; records flow
/// while A is SIGKILLed and restarted on its state directory, twice. Under exactly-once each
/// kill waits until every partition has a transaction open with records in it (A's own among
/// them); under at-least-once it comes 1.5 s after A is running with its tasks, in the middle
/// of a commit interval.
fn killed_and_restarted(broker: &KafkaCluster, dirs: &std::path::Path, guarantee: &str) -> KillRun {
    let topics = CountTopics::create(broker, "eos-kill", 4);
    let app = unique(&format!("kill-{}", guarantee.replace('_', "-")));
    let args = topics.args(&["--guarantee", guarantee, "--commit-interval-ms", "1000"]);
    let transactional = guarantee == "exactly_once_v2";
    let (dir_a, dir_b) = (dirs.join("a"), dirs.join("b"));
    let a = Worker::start(broker, &app, &dir_a, &args);
    let b = Worker::start(broker, &app, &dir_b, &args);

    // Records flow until A has been killed and restarted twice, then a little longer.
    let flow = Flow::default();
    let a = std::thread::scope(|scope| {
        scope.spawn(|| flow.run(broker, &topics.events, 3_000));
        let mut a = a;
        // Twice, so that what the test claims does not rest on one kill's timing.
        for round in 1..=2 {
            // Running after a rebalance with at most 3 members (B, A, a killed A not yet
            // expired) on 4 partitions: range gives A at least one. Without this wait, B
            // alone (holding every partition until A joins) can show open transactions on
            // all four, and A is killed with none: seen once in CI, under load.
            a.wait_for_log("-> Running", Duration::from_secs(90));
            if transactional {
                let mut watch = OpenTransactions::watch(broker, &topics.copies);
                let deadline = Instant::now() + Duration::from_secs(90);
                while !watch.all_open(4) {
                    assert!(
                        Instant::now() < deadline,
                        "never saw open transactions on every partition"
                    );
                }
                eprintln!("kill {round}: killing A with transactions open on every partition");
            } else {
                std::thread::sleep(Duration::from_millis(1_500));
                eprintln!("kill {round}: killing A while it processes");
            }
            a.kill();
            std::thread::sleep(Duration::from_millis(500));
            // Restarted on the same state directory: same process id, same transactional
            // ids, so it fences (aborts) what its killed predecessor left open.
            a = Worker::start(broker, &app, &dir_a, &args);
            if round == 1 {
                // Time to fence: the killed life's open transaction must not pass for the new
                // life's in round 2.
                std::thread::sleep(Duration::from_secs(2));
            }
        }
        flow.finish();
        a
    });
    let (total, expected) = flow.into_produced();
    KillRun {
        topics,
        a,
        b,
        dir_a,
        dir_b,
        total,
        expected,
    }
}

/// Input records flowing to a topic while a test does something to the app: 10 every 10 ms
/// (so that a new transaction gets records soon after a commit), until 200 batches (2 s)
/// after [`finish`](Self::finish).
#[derive(Default)]
struct Flow {
    expected: std::sync::Mutex<BTreeMap<String, u64>>,
    finishing: std::sync::atomic::AtomicBool,
    produced: std::sync::atomic::AtomicUsize,
}

impl Flow {
    /// Produces to `topic` until done, or after `max_batches` batches (so that a failure in
    /// the test's main thread cannot leave it running forever).
    fn run(&self, broker: &KafkaCluster, topic: &str, max_batches: usize) {
        use std::sync::atomic::Ordering::SeqCst;
        let mut after = 0;
        for _ in 0..max_batches {
            if after >= 200 {
                break;
            }
            let from = self.produced.fetch_add(10, SeqCst);
            let batch = broker.produce(topic, from, 10, 100);
            let mut expected = self.expected.lock().expect("lock");
            for (k, v) in batch {
                *expected.entry(k).or_insert(0) += v;
            }
            drop(expected);
            if self.finishing.load(SeqCst) {
                after += 1;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lets the flow end 2 s from now.
    fn finish(&self) {
        self.finishing
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// How many records were produced, and how many per key.
    fn into_produced(self) -> (usize, BTreeMap<String, u64>) {
        (
            self.produced.into_inner(),
            self.expected.into_inner().expect("lock"),
        )
    }
}
