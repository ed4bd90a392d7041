//! Instances on separate hosts (issue 13): three `count_worker` instances, each in a network
//! namespace of its own with its own address, as on three machines (`support::netns`), against
//! a three-node Apache Kafka cluster listening on the bridge between them, under exactly-once,
//! each answering interactive queries over HTTP (`--http-addr`, its address announced as its
//! `application.server`) and forwarding a query to the instance that holds the key.
//!
//! - Every instance answers every key identically, served by the key's owner: queries are
//!   routed across the hosts.
//! - One host is cut off (its link down on the bridge side: its packets vanish, no connection
//!   is reset) while records flow: its tasks move to the two others once the group session
//!   times out, and the two answer every key exactly, from the new owners.
//! - The link comes back: the cut-off instance finds itself fenced, rejoins and takes tasks
//!   again, and all three agree again.
//! - The outputs, read `read_committed`, hold every input copied exactly once and every key's
//!   count updates exactly 1..n; the final stores are exact.
//!
//! The test prints its figures: cut → tasks moved, cut → answers exact, link up → rejoined.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::netns::Lan;
use support::{KafkaCluster, Worker, check_copies, check_count_sequences, one_at_a_time, unique};

const INSTANCES: usize = 3;
/// The host cut off (0-based).
const CUT: usize = 2;
const PARTITIONS: i32 = 6;
const KEYS: usize = 30;
const HTTP_PORT: u16 = 8080;
/// The longest any one step may take (a step takes seconds, but a loaded two-core machine has
/// been seen to stall the brokers for ten seconds at a time, several times over).
const TIMEOUT: Duration = Duration::from_secs(120);
/// An idempotent producer's settings: a retried batch must not duplicate input records.
const PRODUCER: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("delivery.timeout.ms", "120000"),
];

/// Active tasks per instance (`host:port`), as one instance sees the group.
type View = BTreeMap<String, BTreeSet<String>>;

/// The application, its hosts and what went in.
struct App<'a> {
    lan: &'a Lan,
    cluster: &'a KafkaCluster,
    /// The application id (and group).
    name: String,
    events: String,
    copies: String,
    counts: String,
    dirs: tempfile::TempDir,
    workers: Vec<Worker>,
    http: reqwest::blocking::Client,
    produced: AtomicUsize,
    expected: Mutex<BTreeMap<String, u64>>,
    stop: AtomicBool,
}

impl App<'_> {
    /// `host:port` of instance `i`'s HTTP server, its `application.server`.
    fn server(&self, i: usize) -> String {
        format!("{}:{HTTP_PORT}", self.lan.hosts[i].addr)
    }

    /// Starts instance `i` on its host, on its state directory.
    fn start(&self, i: usize) -> Worker {
        let http_addr = self.server(i);
        let args = [
            "--input",
            &self.events,
            "--copies",
            &self.copies,
            "--counts",
            &self.counts,
            "--guarantee",
            "exactly_once_v2",
            "--http-addr",
            &http_addr,
        ];
        let command = self.lan.command(i, Worker::binary());
        let dir = self.dirs.path().join(format!("i{i}"));
        Worker::start_as(command, self.cluster, &self.name, &dir, &args)
    }

    /// Fails the test at once, with the logs, if a worker has exited.
    fn check_running(&self) {
        if let Some(i) = self.workers.iter().position(|w| !w.running()) {
            panic!("worker {i} exited:\n{}", self.logs());
        }
    }

    fn logs(&self) -> String {
        (0..INSTANCES)
            .map(|i| Worker::log_of(&self.dirs.path().join(format!("i{i}"))))
            .collect()
    }

    /// Produces `n` records, adding them to what is expected.
    fn produce(&self, n: usize) {
        let from = self.produced.fetch_add(n, Ordering::SeqCst);
        let batch = self
            .cluster
            .produce_with(&self.events, from, n, KEYS, PRODUCER);
        let mut expected = self.expected.lock().expect("lock");
        for (key, count) in batch {
            *expected.entry(key).or_insert(0) += count;
        }
    }

    /// Produces 10 records every 50 ms until told to stop.
    fn produce_until_stopped(&self) {
        while !self.stop.load(Ordering::SeqCst) {
            self.produce(10);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// GET `path` from instance `i`: the status, the JSON body, and the instance that served
    /// it if another one did (`x-streams-served-by`).
    fn get(&self, i: usize, path: &str) -> Result<(u16, Value, Option<String>), String> {
        let response = self
            .http
            .get(format!("http://{}{path}", self.server(i)))
            .send()
            .map_err(|e| format!("{path} on {}: {e}", self.server(i)))?;
        let status = response.status().as_u16();
        let forwarded = response
            .headers()
            .get("x-streams-served-by")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response.json().unwrap_or(Value::Null);
        Ok((status, body, forwarded))
    }

    /// The group as instance `i` sees it (`GET /instances`).
    fn view(&self, i: usize) -> Option<View> {
        let (status, body, _) = self.get(i, "/instances").ok()?;
        if status != 200 {
            return None;
        }
        body["instances"]
            .as_array()?
            .iter()
            .map(|instance| {
                let host = instance["host"].as_str()?.to_string();
                let tasks = instance["active_tasks"]
                    .as_array()?
                    .iter()
                    .map(|t| t.as_str().map(str::to_string))
                    .collect::<Option<BTreeSet<_>>>()?;
                Some((host, tasks))
            })
            .collect()
    }

    /// Waits until every instance of `askers` sees the group as `holders` holding all
    /// `tasks` between them, each at least one, and nobody else holding any.
    fn wait_for_view(&self, askers: &[usize], holders: &[usize], tasks: &BTreeSet<String>) {
        let want: BTreeSet<String> = holders.iter().map(|&i| self.server(i)).collect();
        let deadline = Instant::now() + TIMEOUT;
        let mut last = BTreeMap::new();
        loop {
            self.check_running();
            let settled = askers.iter().all(|&i| {
                let view = self.view(i).unwrap_or_default();
                let holding: BTreeSet<String> = view
                    .iter()
                    .filter(|(_, t)| !t.is_empty())
                    .map(|(h, _)| h.clone())
                    .collect();
                let all: BTreeSet<String> = view.values().flatten().cloned().collect();
                let ok = holding == want && all == *tasks;
                last.insert(i, view);
                ok
            });
            if settled {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the group never settled on {want:?} holding {tasks:?}; last views {last:?}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One round of queries of every key on instance `i`: each key's count and the instance
    /// that holds it (`served_by`), and how many answers were forwarded to another instance.
    fn answers(&self, i: usize) -> Result<(BTreeMap<String, (u64, String)>, usize), String> {
        let mut answers = BTreeMap::new();
        let mut forwarded = 0;
        for k in 0..KEYS {
            let key = format!("key-{k}");
            let (status, body, by) = self.get(i, &format!("/stores/counts/keys/{key}"))?;
            if status != 200 {
                return Err(format!("{key} on {}: {status} {body}", self.server(i)));
            }
            let count = body["value"]
                .as_u64()
                .ok_or_else(|| format!("{key}: no count in {body}"))?;
            let served_by = body["served_by"].as_str().unwrap_or_default().to_string();
            if let Some(by) = by {
                assert_eq!(by, served_by, "forwarded answer of {key}: {body}");
                forwarded += 1;
            }
            answers.insert(key, (count, served_by));
        }
        Ok((answers, forwarded))
    }

    /// Waits until every instance of `askers` answers every key with the expected count, all
    /// served by the same instance, one of `owners`; returns the owner of each key and how
    /// many answers each asker had forwarded.
    fn wait_for_answers(
        &self,
        askers: &[usize],
        owners: &[usize],
    ) -> (BTreeMap<String, String>, Vec<usize>) {
        let expected = self.expected.lock().expect("lock").clone();
        let owners: BTreeSet<String> = owners.iter().map(|&i| self.server(i)).collect();
        let deadline = Instant::now() + TIMEOUT;
        let mut report = Instant::now() + Duration::from_secs(10);
        loop {
            self.check_running();
            let round: Result<Vec<_>, String> = askers.iter().map(|&i| self.answers(i)).collect();
            let last = match round {
                Ok(rounds) => {
                    let counts: BTreeMap<String, u64> = rounds[0]
                        .0
                        .iter()
                        .map(|(k, (c, _))| (k.clone(), *c))
                        .collect();
                    let agree = rounds.iter().all(|(a, _)| *a == rounds[0].0);
                    let served: BTreeMap<String, String> = rounds[0]
                        .0
                        .iter()
                        .map(|(k, (_, by))| (k.clone(), by.clone()))
                        .collect();
                    if agree && counts == expected && served.values().all(|o| owners.contains(o)) {
                        return (served, rounds.iter().map(|(_, f)| *f).collect());
                    }
                    format!("answers {rounds:?}, expected {expected:?}")
                }
                Err(e) => e,
            };
            assert!(
                Instant::now() < deadline,
                "the instances {askers:?} never answered every key exactly from {owners:?}: {last}\n{}",
                self.logs()
            );
            if Instant::now() > report {
                let shown: String = last.chars().take(300).collect();
                eprintln!("still waiting for exact answers: {shown}…");
                report = Instant::now() + Duration::from_secs(10);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Sets its flag when dropped (also while unwinding), so that a failed wait stops the producer.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
#[cfg_attr(
    not(all(kafka_available, netns_available)),
    ignore = "needs Apache Kafka (see support::kafka), and root with iproute2 for network namespaces (see support::netns)"
)]
fn a_host_cut_off_and_back_moves_its_tasks_and_loses_nothing() {
    let _serial = one_at_a_time();
    // Dropped last: the workers and the cluster go first.
    let lan = Lan::create(INSTANCES);
    let cluster = KafkaCluster::start_on(&lan.gateway, 3, |_| String::new());
    let name = unique("hosts");
    let mut app = App {
        lan: &lan,
        cluster: &cluster,
        name: name.clone(),
        events: format!("{name}-events"),
        copies: format!("{name}-copies"),
        counts: format!("{name}-counts"),
        dirs: tempfile::tempdir().expect("tempdir"),
        workers: Vec::new(),
        // Longer than the instances' own 10 s for a forwarded query.
        http: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("HTTP client"),
        produced: AtomicUsize::new(0),
        expected: Mutex::new(BTreeMap::new()),
        stop: AtomicBool::new(false),
    };
    cluster.create_topics(&[
        (&app.events, PARTITIONS),
        (&app.copies, PARTITIONS),
        (&app.counts, PARTITIONS),
    ]);
    for i in 0..INSTANCES {
        let worker = app.start(i);
        app.workers.push(worker);
    }
    let all: Vec<usize> = (0..INSTANCES).collect();
    let survivors: Vec<usize> = all.iter().copied().filter(|&i| i != CUT).collect();
    let tasks: BTreeSet<String> = (0..PARTITIONS).map(|p| format!("0_{p}")).collect();

    // Every instance answers every key alike, from the key's owner.
    let started = Instant::now();
    app.wait_for_view(&all, &all, &tasks);
    println!(
        "{INSTANCES} instances on {:?} hold the {PARTITIONS} tasks after {:.1} s",
        lan.hosts.iter().map(|h| &h.addr).collect::<Vec<_>>(),
        started.elapsed().as_secs_f64()
    );
    let produced = Instant::now();
    app.produce(600);
    let (owners, forwarded) = app.wait_for_answers(&all, &all);
    // Every partition holds some of the keys (murmur2 puts 1 to 9 of the 30 in each of the 6),
    // and every host holds a task: every host owns keys.
    let distinct: BTreeSet<&String> = owners.values().collect();
    assert_eq!(
        distinct.len(),
        INSTANCES,
        "every host owns keys: {owners:?}"
    );
    assert!(
        forwarded.iter().all(|&f| f > 0),
        "every instance forwarded queries of keys held elsewhere: {forwarded:?}"
    );
    println!(
        "routed: {:.1} s after the first records, every instance answered all {KEYS} keys alike (answers forwarded to the owner: {forwarded:?})",
        produced.elapsed().as_secs_f64()
    );

    // Cut one host off while records flow: its tasks move, the others answer exactly.
    let log_from = app.workers[CUT].log_len();
    let (moved, exact) = std::thread::scope(|scope| {
        let producer = scope.spawn(|| app.produce_until_stopped());
        let _stop = StopOnDrop(&app.stop);
        let cut = Instant::now();
        lan.cut(CUT);
        app.wait_for_view(&survivors, &survivors, &tasks);
        let moved = cut.elapsed();
        std::thread::sleep(Duration::from_secs(2));
        app.stop.store(true, Ordering::SeqCst);
        producer.join().expect("producer");
        let (owners, _) = app.wait_for_answers(&survivors, &survivors);
        assert!(!owners.values().any(|o| *o == app.server(CUT)));
        (moved, cut.elapsed())
    });
    println!(
        "cut off {}: tasks moved to the others in {:.1} s, every key answered exactly from the new owners {:.1} s after the cut ({} records in)",
        app.server(CUT),
        moved.as_secs_f64(),
        exact.as_secs_f64(),
        app.produced.load(Ordering::SeqCst)
    );

    // The link back: the instance rejoins and takes tasks again; all agree again.
    let up = Instant::now();
    lan.restore(CUT);
    app.produce(300);
    app.wait_for_view(&all, &all, &tasks);
    let rejoined = up.elapsed();
    app.produce(300);
    app.wait_for_answers(&all, &all);
    println!(
        "link up: {} rejoined and holds tasks again after {:.1} s; all {INSTANCES} answer alike after {:.1} s",
        app.server(CUT),
        rejoined.as_secs_f64(),
        up.elapsed().as_secs_f64()
    );
    let states: Vec<String> = app.workers[CUT]
        .log_since(log_from)
        .lines()
        .filter_map(|l| l.strip_prefix("count_worker: state "))
        .map(str::to_string)
        .collect();
    println!(
        "the cut-off instance from the cut on: {}",
        states.join(", ")
    );

    // Nothing lost, nothing twice.
    let total = app.produced.load(Ordering::SeqCst);
    let expected = app.expected.lock().expect("lock").clone();
    let copies = cluster.read_all(&app.copies, "read_committed", TIMEOUT, |r| r.len() >= total);
    if let Err(e) = check_copies(&copies, total) {
        panic!("every copy exactly once: {e}\n{}", app.logs());
    }
    let counts = cluster.read_all(&app.counts, "read_committed", TIMEOUT, |r| r.len() >= total);
    if let Err(e) = check_count_sequences(&counts, &expected) {
        panic!("exact count updates: {e}\n{}", app.logs());
    }
    // The stores: instances stopped one by one each dump theirs while tasks still move between
    // them, so a task can be in none of the dumps. Once the group is empty, instance 0 runs
    // alone and holds every task, from its own state or restored from the changelogs.
    for worker in std::mem::take(&mut app.workers) {
        worker.stop();
    }
    cluster.wait_until_group_empty(&name, TIMEOUT);
    let alone = app.start(0);
    alone.wait_for_log("state Rebalancing -> Running", TIMEOUT);
    alone.stop();
    let store = Worker::read_dump(&app.dirs.path().join("i0.dump"));
    assert_eq!(store, expected, "the store of instance 0 alone");
    println!(
        "records in {total}, copies out {}, count updates {}: none lost, none twice",
        copies.len(),
        counts.len()
    );
}
