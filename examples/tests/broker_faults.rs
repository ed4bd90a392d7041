//! Broker and instance faults on a three-node Apache Kafka cluster (replication 3,
//! `min.insync.replicas=2`), under exactly-once, records flowing, outputs checked exactly
//! (read `read_committed`: every input copied once, every key's count updates exactly 1..n,
//! the final stores exact):
//!
//! - the leader of input and changelog partitions SIGKILLed, then restarted;
//! - a leader frozen (SIGSTOP) past the broker session timeout, then resumed;
//! - the whole cluster SIGKILLed and restarted;
//! - app instances SIGKILLed at random across three instances (5 kills here,
//!   `STREAMS_FAULT_KILLS=20` for the full run: see the README).
//!
//! Each run prints its figures: records in and out, lost, duplicated, and the recovery time
//! (the longest pause of the committed output from the fault on). No instance may go longer
//! than `max.poll.interval.ms` without polling its consumer (librdkafka would drop it from the
//! group, and its partitions would stall until it noticed).

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use support::{
    CountTopics, KafkaCluster, Worker, check_copies, check_count_sequences, kafka, one_at_a_time,
    unique,
};

const TIMEOUT: Duration = Duration::from_secs(300);
const PARTITIONS: i32 = 4;
/// Records per produced batch, one batch every 20 ms.
const BATCH: usize = 10;
const KEYS: usize = 50;

/// The cluster every test of this binary shares (faults leave it whole again).
fn cluster() -> &'static KafkaCluster {
    static CLUSTER: OnceLock<KafkaCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| KafkaCluster::start(3, ""))
}

/// An idempotent producer's settings: a retried batch must not duplicate input records.
const PRODUCER: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("delivery.timeout.ms", "240000"),
];

/// One scenario's application: its topics, workers and what went in.
struct Scenario {
    broker: &'static KafkaCluster,
    topics: CountTopics,
    app: String,
    dirs: tempfile::TempDir,
    workers: Mutex<Vec<Option<Worker>>>,
    produced: AtomicUsize,
    expected: Mutex<BTreeMap<String, u64>>,
    stop: AtomicBool,
    /// More worker properties (`name=value`).
    properties: Vec<String>,
}

impl Scenario {
    fn new(name: &str, instances: usize, properties: &[&str]) -> Scenario {
        let broker = cluster();
        let scenario = Scenario {
            broker,
            topics: CountTopics::create(broker, name, PARTITIONS),
            app: unique(name),
            dirs: tempfile::tempdir().expect("tempdir"),
            workers: Mutex::new(Vec::new()),
            produced: AtomicUsize::new(0),
            expected: Mutex::new(BTreeMap::new()),
            stop: AtomicBool::new(false),
            // `STREAMS_FAULT_PROPERTIES` (`name=value;...`) adds more, to diagnose a run
            // (`debug=topic,metadata` for librdkafka's view of partition leaders).
            properties: properties
                .iter()
                .map(|p| p.to_string())
                .chain(
                    std::env::var("STREAMS_FAULT_PROPERTIES")
                        .unwrap_or_default()
                        .split(';')
                        .filter(|p| !p.is_empty())
                        .map(str::to_string),
                )
                .collect(),
        };
        for i in 0..instances {
            let worker = scenario.start(i);
            scenario.workers.lock().expect("lock").push(Some(worker));
        }
        scenario
    }

    fn dir(&self, instance: usize) -> std::path::PathBuf {
        self.dirs.path().join(format!("i{instance}"))
    }

    fn start(&self, instance: usize) -> Worker {
        let mut args = self.topics.args(&["--guarantee", "exactly_once_v2"]);
        for property in &self.properties {
            args.extend(["--property", property]);
        }
        Worker::start(self.broker, &self.app, &self.dir(instance), &args)
    }

    /// SIGKILLs instance `instance`.
    fn kill(&self, instance: usize) {
        if let Some(worker) = self.workers.lock().expect("lock")[instance].take() {
            worker.kill();
        }
    }

    /// Starts instance `instance` again on its state directory.
    fn restart(&self, instance: usize) {
        let worker = self.start(instance);
        self.workers.lock().expect("lock")[instance] = Some(worker);
    }

    fn logs(&self) -> String {
        (0..self.workers.lock().map_or(0, |w| w.len()))
            .map(|i| Worker::log_of(&self.dir(i)))
            .collect()
    }

    /// Produces a batch every 20 ms until told to stop.
    fn produce_until_stopped(&self) {
        while !self.stop.load(Ordering::SeqCst) {
            let from = self.produced.load(Ordering::SeqCst);
            let batch = self
                .broker
                .produce_with(&self.topics.events, from, BATCH, KEYS, PRODUCER);
            self.produced.fetch_add(BATCH, Ordering::SeqCst);
            let mut expected = self.expected.lock().expect("lock");
            for (k, n) in batch {
                *expected.entry(k).or_insert(0) += n;
            }
            drop(expected);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the committed output holds at least `n` copies.
    fn wait_for_output(&self, watch: &Arrivals, n: usize) {
        let started = Instant::now();
        let deadline = started + TIMEOUT;
        while watch.count() < n {
            assert!(
                Instant::now() < deadline,
                "the output never reached {n} records ({}):\n{}\n{}",
                watch.count(),
                self.progress(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "the output reached {n} records in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }

    /// Where the application stands, as clients new to the cluster see it: per partition, the
    /// input's end and the group's committed offset, and the output's high watermark and last
    /// stable offset (an open transaction holds the latter back). Tells a stalled application
    /// from a stalled watcher.
    fn progress(&self) -> String {
        let client = |isolation: &str| {
            self.broker
                .client()
                .set("group.id", &self.app)
                .set("isolation.level", isolation)
                .create::<BaseConsumer>()
        };
        let (uncommitted, committed) = match (client("read_uncommitted"), client("read_committed"))
        {
            (Ok(u), Ok(c)) => (u, c),
            (Err(e), _) | (_, Err(e)) => return format!("no client: {e}"),
        };
        let ends = |consumer: &BaseConsumer, topic: &str| {
            kafka::watermarks(consumer, topic, PARTITIONS)
                .map(|w| w.iter().map(|(_, high)| *high).collect::<Vec<_>>())
                .map_err(|e| e.to_string())
        };
        format!(
            "input end {:?}, committed {:?}; output high watermark {:?}, last stable offset {:?}",
            ends(&uncommitted, &self.topics.events),
            kafka::committed(&uncommitted, &self.topics.events, PARTITIONS)
                .map_err(|e| e.to_string()),
            ends(&uncommitted, &self.topics.copies),
            ends(&committed, &self.topics.copies),
        )
    }

    /// Stops the input, checks the outputs exactly, stops the workers and checks their
    /// stores; prints the figures.
    fn finish(self, fault: &str, watch: Arrivals, fault_at: Instant) {
        let started = Instant::now();
        let total = self.produced.load(Ordering::SeqCst);
        let expected = self.expected.lock().expect("lock").clone();
        let copies = self
            .broker
            .read_all(&self.topics.copies, "read_committed", TIMEOUT, |r| {
                r.len() >= total
            });
        let recovery = watch.longest_pause_since(fault_at);
        let (lost, duplicated) = lost_and_duplicated(&copies, total);
        println!(
            "fault {fault}: records in {total}, out {}, lost {lost}, duplicated {duplicated}, recovery {:.1} s",
            copies.len(),
            recovery.as_secs_f64()
        );
        if let Err(e) = check_copies(&copies, total) {
            panic!("{fault}: every copy exactly once: {e}\n{}", self.logs());
        }
        let counts = self
            .broker
            .read_all(&self.topics.counts, "read_committed", TIMEOUT, |r| {
                r.len() >= total
            });
        if let Err(e) = check_count_sequences(&counts, &expected) {
            panic!("{fault}: exact count updates: {e}\n{}", self.logs());
        }
        eprintln!(
            "outputs read and checked in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        // Each instance dumps its store when stopped, but at its own moment, while tasks move
        // between the instances that remain: the union of the dumps can miss a task. So once
        // all have left the group, instance 0 runs alone, holding every task (from its own
        // state, or restored from the changelogs), and its dump must be the whole count.
        let started = Instant::now();
        let instances = self.workers.lock().expect("lock").len();
        for i in 0..instances {
            let worker = self.workers.lock().expect("lock")[i].take();
            if let Some(worker) = worker {
                worker.stop();
            }
        }
        self.broker.wait_until_group_empty(&self.app, TIMEOUT);
        let alone = self.start(0);
        alone.wait_for_log("state Rebalancing -> Running", TIMEOUT);
        alone.stop();
        let store = Worker::read_dump(&self.dir(0).with_extension("dump"));
        eprintln!(
            "workers stopped, and instance 0 run alone, in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        assert!(
            store == expected,
            "{fault}: the store of instance 0 alone: {}\n{}",
            differences(&store, &expected),
            self.logs()
        );
        // librdkafka's "Application maximum poll interval (…ms) exceeded by …ms".
        let logs = self.logs();
        assert!(
            !logs.to_lowercase().contains("maximum poll interval"),
            "{fault}: an instance went longer than max.poll.interval.ms without polling:\n{logs}"
        );
    }
}

impl Drop for Scenario {
    /// Keeps the workers' logs in `$STREAMS_FAULT_LOGS/<app>/` when that is set (the state
    /// directories go with the scenario), for runs whose figures need explaining.
    fn drop(&mut self) {
        let Some(keep) = std::env::var_os("STREAMS_FAULT_LOGS") else {
            return;
        };
        let to = std::path::Path::new(&keep).join(&self.app);
        let _ = std::fs::create_dir_all(&to);
        for i in 0..self.workers.lock().map_or(0, |w| w.len()) {
            let log = self.dir(i).with_extension("log");
            let _ = std::fs::copy(&log, to.join(format!("i{i}.log")));
        }
    }
}

/// The keys whose stored count is not the expected one, as `key: stored (expected)`.
fn differences(store: &BTreeMap<String, u64>, expected: &BTreeMap<String, u64>) -> String {
    let keys: std::collections::BTreeSet<&String> = store.keys().chain(expected.keys()).collect();
    keys.into_iter()
        .filter(|k| store.get(*k) != expected.get(*k))
        .map(|k| format!("{k}: {:?} ({:?})", store.get(k), expected.get(k)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Records lost and records seen more than once among `VALUE-0` … `VALUE-<total - 1>`.
fn lost_and_duplicated(records: &[(i32, String, Vec<u8>)], total: usize) -> (usize, usize) {
    let mut seen: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for (_, _, value) in records {
        *seen.entry(value.clone()).or_insert(0) += 1;
    }
    let lost = (0..total)
        .filter(|i| !seen.contains_key(format!("VALUE-{i}").as_bytes()))
        .count();
    let duplicated = seen.values().map(|n| n.saturating_sub(1)).sum();
    (lost, duplicated)
}

/// When each committed output record arrived, read by a `read_committed` consumer in the
/// background.
struct Arrivals {
    times: std::sync::Arc<Mutex<Vec<Instant>>>,
    stop: std::sync::Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Arrivals {
    fn watch(broker: &KafkaCluster, topic: &str) -> Arrivals {
        let consumer: BaseConsumer = broker
            .client()
            .set("group.id", unique(&format!("arrivals-{topic}")))
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("watcher");
        consumer.subscribe(&[topic]).expect("subscribe");
        let times = std::sync::Arc::new(Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let thread = {
            let (times, stop) = (times.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
                        times.lock().expect("lock").push(Instant::now());
                    }
                }
            })
        };
        Arrivals {
            times,
            stop,
            thread: Some(thread),
        }
    }

    fn count(&self) -> usize {
        self.times.lock().expect("lock").len()
    }

    /// The longest time without a new committed output record, from `from` to the last one.
    fn longest_pause_since(&self, from: Instant) -> Duration {
        let times = self.times.lock().expect("lock");
        let mut last = from;
        let mut longest = Duration::ZERO;
        for &t in times.iter().filter(|&&t| t >= from) {
            longest = longest.max(t - last);
            last = t;
        }
        longest
    }
}

impl Drop for Arrivals {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The node (1-based) leading partition `partition` of `topic`.
fn leader(broker: &KafkaCluster, topic: &str, partition: i32) -> usize {
    let consumer: BaseConsumer = broker.client().create().expect("metadata client");
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Ok(metadata) = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))
            && let Some(p) = metadata
                .topics()
                .first()
                .and_then(|t| t.partitions().iter().find(|p| p.id() == partition))
            && p.leader() > 0
        {
            return p.leader() as usize;
        }
        assert!(
            Instant::now() < deadline,
            "no leader for {topic}-{partition}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sets its flag when dropped (also while unwinding).
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `fault` on a scenario of `instances` workers once its output flows, with records
/// flowing throughout and until the output has caught up with what was produced when the
/// fault ended; then checks it exactly.
fn run(name: &str, instances: usize, fault: impl FnOnce(&Scenario)) {
    run_with(name, instances, &[], fault);
}

/// [`run`] with more worker properties (`name=value`).
fn run_with(name: &str, instances: usize, properties: &[&str], fault: impl FnOnce(&Scenario)) {
    let _serial = one_at_a_time();
    let scenario = Scenario::new(name, instances, properties);
    let watch = Arrivals::watch(scenario.broker, &scenario.topics.copies);
    let fault_at = std::thread::scope(|scope| {
        let producer = scope.spawn(|| scenario.produce_until_stopped());
        // Stops the producer however this closure ends: a failed wait panics, and the scope
        // would otherwise wait for the producer forever.
        let _stop = StopOnDrop(&scenario.stop);
        scenario.wait_for_output(&watch, 300);
        let fault_at = Instant::now();
        fault(&scenario);
        eprintln!("the fault took {:.1} s", fault_at.elapsed().as_secs_f64());
        let caught_up = scenario.produced.load(Ordering::SeqCst) + 300;
        scenario.wait_for_output(&watch, caught_up);
        scenario.stop.store(true, Ordering::SeqCst);
        producer.join().expect("producer");
        fault_at
    });
    scenario.finish(name, watch, fault_at);
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn the_leader_of_input_and_changelog_partitions_killed_and_restarted() {
    run("leader-killed", 2, |s| {
        // A node leading an input partition and a changelog partition (it holds a third of
        // the leaderships; changelogs exist once the app has written to them).
        let changelog = format!("{}-counts-changelog", s.app);
        let node = (0..PARTITIONS)
            .map(|p| leader(s.broker, &s.topics.events, p))
            .find(|n| (0..PARTITIONS).any(|p| leader(s.broker, &changelog, p) == *n))
            .unwrap_or_else(|| leader(s.broker, &s.topics.events, 0));
        eprintln!("killing node {node}");
        s.broker.kill(node);
        std::thread::sleep(Duration::from_secs(5));
        s.broker.restart(node);
    });
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn a_leader_frozen_past_the_session_timeout_then_resumed() {
    run("leader-frozen", 2, |s| {
        let node = leader(s.broker, &s.topics.events, 0);
        eprintln!("freezing node {node}");
        s.broker.freeze(node);
        // Past the broker session timeout (9 s): the controller fences it and moves its
        // leaderships; the app's clients time out their requests to it and follow.
        std::thread::sleep(Duration::from_secs(15));
        s.broker.thaw(node);
    });
}

// With the whole cluster down, a commit, the abort after it and the rewind each wait on the
// brokers; together they once kept a thread from polling past `max.poll.interval.ms` (and its
// partitions stalled for ten minutes). Their budget is half of that interval; set to 60 s here,
// an outage this long can exhaust it: the thread then gives its tasks up and rejoins.
#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn the_whole_cluster_killed_and_restarted() {
    run_with(
        "cluster-restart",
        2,
        &["consumer.max.poll.interval.ms=60000"],
        |s| {
            eprintln!("killing every node");
            for node in 1..=3 {
                s.broker.kill(node);
            }
            std::thread::sleep(Duration::from_secs(3));
            // Together: one node alone has no controller quorum to come up with.
            std::thread::scope(|scope| {
                for node in 1..=3 {
                    scope.spawn(move || s.broker.restart(node));
                }
            });
        },
    );
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn instances_killed_at_random() {
    let kills: usize = std::env::var("STREAMS_FAULT_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    run("instance-kills", 3, |s| {
        // A small deterministic generator: the same kills every run.
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for kill in 0..kills {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let victim = ((state >> 33) % 3) as usize;
            eprintln!("kill {}/{kills}: instance {victim}", kill + 1);
            s.kill(victim);
            std::thread::sleep(Duration::from_millis(500 + state % 1500));
            s.restart(victim);
            std::thread::sleep(Duration::from_millis(1000 + (state >> 8) % 2000));
        }
    });
}
