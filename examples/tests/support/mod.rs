//! Process-level test support: a real broker process that implements transactions (hiding
//! aborted records from `read_committed` readers, which librdkafka's mock cluster does not),
//! and `count_worker` app instances as child processes that can be stopped or SIGKILLed.
//!
//! The broker is crabka-broker 0.3.8 (installed by `scripts/install-crabka.sh`), found
//! through `STREAMS_CRABKA_BIN` (the directory holding `crabka-broker` and `crabka`). Without
//! it the tests skip with a loud message, except under CI, where they fail.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// A crabka-broker process on its own loopback address, with a fresh log directory.
pub struct RealBroker {
    child: Child,
    dir: tempfile::TempDir,
    pub bootstrap: String,
}

static NEXT_ADDRESS: AtomicU32 = AtomicU32::new(0);

impl RealBroker {
    /// Starts a broker, or returns `None` (after saying why, loudly) when none is installed
    /// and this is not CI.
    pub fn start() -> Option<RealBroker> {
        let Some(bin) = std::env::var_os("STREAMS_CRABKA_BIN").map(PathBuf::from) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "STREAMS_CRABKA_BIN is not set under CI: .ci/run must install the exactly-once broker"
            );
            eprintln!(
                "\n!!! SKIPPED: this exactly-once test needs a transaction-filtering broker.\n\
                 !!! Run scripts/install-crabka.sh and set STREAMS_CRABKA_BIN=$HOME/.cache/eos-broker/bin\n"
            );
            return None;
        };
        // Its controller always binds <ip>:9093: give every broker its own loopback address.
        let n = NEXT_ADDRESS.fetch_add(1, Ordering::SeqCst);
        let host = format!("127.0.{}.{}", std::process::id() % 250 + 1, n + 2);
        let dir = tempfile::tempdir().expect("broker dir");
        let data = dir.path().join("data");
        let format = Command::new(bin.join("crabka"))
            .args(["format", "--log-dir"])
            .arg(&data)
            .args(["--standalone", "--node-id", "1", "--controller-listener"])
            .arg(format!("{host}:9093"))
            .args(["--feature", "transaction.version=1"])
            .output()
            .expect("run crabka format");
        assert!(format.status.success(), "crabka format failed: {format:?}");
        let log = std::fs::File::create(dir.path().join("broker.log")).expect("broker log");
        let child = Command::new(bin.join("crabka-broker"))
            .arg("--listen-addr")
            .arg(format!("{host}:19092"))
            .arg("--log-dir")
            .arg(&data)
            .args([
                "--metrics-listen-addr",
                "none",
                "--partition-disk-scan-interval-secs",
                "0",
            ])
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start crabka-broker");
        let mut broker = RealBroker {
            child,
            dir,
            bootstrap: format!("{host}:19092"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let log =
                std::fs::read_to_string(broker.dir.path().join("broker.log")).unwrap_or_default();
            if log.contains("crabka-broker listening")
                && std::net::TcpStream::connect(&broker.bootstrap).is_ok()
            {
                return Some(broker);
            }
            if let Ok(Some(status)) = broker.child.try_wait() {
                panic!("crabka-broker exited ({status}):\n{log}");
            }
            assert!(Instant::now() < deadline, "crabka-broker not ready:\n{log}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        config
    }

    pub fn create_topics(&self, topics: &[(&str, i32)]) {
        let admin: AdminClient<DefaultClientContext> = self.client().create().expect("admin");
        let new: Vec<_> = topics
            .iter()
            .map(|(name, partitions)| NewTopic::new(name, *partitions, TopicReplication::Fixed(1)))
            .collect();
        let results = futures::executor::block_on(admin.create_topics(&new, &AdminOptions::new()))
            .expect("create topics");
        for result in results {
            result.expect("topic created");
        }
    }

    /// Produces `count` records `key-<i % keys>` → `value-<i>`, from `from`; returns the
    /// number of records per key.
    pub fn produce(
        &self,
        topic: &str,
        from: usize,
        count: usize,
        keys: usize,
    ) -> BTreeMap<String, u64> {
        let producer: BaseProducer = self
            .client()
            .set("linger.ms", "5")
            .set("partitioner", "murmur2_random")
            .create()
            .expect("producer");
        let mut per_key = BTreeMap::new();
        for i in from..from + count {
            let key = format!("key-{}", i % keys);
            let value = format!("value-{i}");
            *per_key.entry(key.clone()).or_insert(0) += 1;
            let mut record = BaseRecord::to(topic).key(&key).payload(&value);
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        record = back;
                        producer.poll(Duration::from_millis(10));
                    }
                }
            }
        }
        producer.flush(Duration::from_secs(30)).expect("flush");
        per_key
    }

    /// Every record of `topic` visible under `isolation` (`read_committed` or
    /// `read_uncommitted`), read until `enough` says so or `timeout` passes, then a moment
    /// longer (so duplicates would show): `(partition, key, value)` in partition order.
    pub fn read_all(
        &self,
        topic: &str,
        isolation: &str,
        timeout: Duration,
        enough: impl Fn(&[(i32, String, Vec<u8>)]) -> bool,
    ) -> Vec<(i32, String, Vec<u8>)> {
        let consumer: BaseConsumer = self
            .client()
            .set(
                "group.id",
                format!(
                    "reader-{topic}-{isolation}-{}",
                    NEXT_ADDRESS.fetch_add(1, Ordering::SeqCst)
                ),
            )
            .set("isolation.level", isolation)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("reader");
        consumer.subscribe(&[topic]).expect("subscribe");
        let mut out = Vec::new();
        let deadline = Instant::now() + timeout;
        let mut extra: Option<Instant> = None;
        loop {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                out.push((
                    m.partition(),
                    String::from_utf8_lossy(m.key().unwrap_or_default()).to_string(),
                    m.payload().unwrap_or_default().to_vec(),
                ));
            }
            if extra.is_none() && (enough(&out) || Instant::now() >= deadline) {
                extra = Some(Instant::now() + Duration::from_secs(2));
            }
            if extra.is_some_and(|e| Instant::now() >= e) {
                return out;
            }
        }
    }
}

/// Watches a topic with a `read_committed` and a `read_uncommitted` reader: a partition
/// whose uncommitted reader is ahead has a transaction open with records in it. (The
/// broker's list-offsets answer does not tell the last stable offset apart.)
pub struct OpenTransactions {
    committed: BaseConsumer,
    uncommitted: BaseConsumer,
    counts: BTreeMap<(bool, i32), u64>,
}

impl OpenTransactions {
    pub fn watch(broker: &RealBroker, topic: &str) -> Self {
        let reader = |isolation: &str| -> BaseConsumer {
            let consumer: BaseConsumer = broker
                .client()
                .set(
                    "group.id",
                    format!(
                        "watch-{topic}-{isolation}-{}",
                        NEXT_ADDRESS.fetch_add(1, Ordering::SeqCst)
                    ),
                )
                .set("isolation.level", isolation)
                .set("auto.offset.reset", "earliest")
                .set("enable.auto.commit", "false")
                .create()
                .expect("watcher");
            consumer.subscribe(&[topic]).expect("subscribe");
            consumer
        };
        OpenTransactions {
            committed: reader("read_committed"),
            uncommitted: reader("read_uncommitted"),
            counts: BTreeMap::new(),
        }
    }

    /// Reads what is new; returns whether each of `partitions` has uncommitted records.
    ///
    /// The uncommitted reader goes first: a record it saw that the committed reader, reading
    /// after it, has not seen is in a transaction still open when the committed read ends.
    pub fn all_open(&mut self, partitions: i32) -> bool {
        for (committed, consumer) in [(false, &self.uncommitted), (true, &self.committed)] {
            let until = Instant::now() + Duration::from_millis(200);
            while Instant::now() < until {
                match consumer.poll(Duration::from_millis(10)) {
                    Some(Ok(m)) => *self.counts.entry((committed, m.partition())).or_insert(0) += 1,
                    Some(Err(_)) => {}
                    None => break,
                }
            }
        }
        (0..partitions).all(|p| {
            self.counts.get(&(false, p)).copied().unwrap_or(0)
                > self.counts.get(&(true, p)).copied().unwrap_or(0)
        })
    }
}

impl Drop for RealBroker {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `count_worker` process.
pub struct Worker {
    child: Child,
    pub state_dir: PathBuf,
    pub dump: PathBuf,
    log: PathBuf,
    /// Length of the log when this life started: its own lines come after.
    log_from: usize,
}

impl Worker {
    /// Starts a worker of application `app` on `broker` with `state_dir`.
    pub fn start(broker: &RealBroker, app: &str, state_dir: &Path, extra: &[&str]) -> Worker {
        let dump = state_dir.with_extension("dump");
        let log = state_dir.with_extension("log");
        let log_from = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
        let child = Command::new(env!("CARGO_BIN_EXE_count_worker"))
            .args([
                "--bootstrap-servers",
                &broker.bootstrap,
                "--application-id",
                app,
            ])
            .arg("--state-dir")
            .arg(state_dir)
            .arg("--dump")
            .arg(&dump)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(
                // Appended: a restarted worker's log follows its earlier lives'.
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&log)
                    .expect("worker log"),
            )
            .spawn()
            .expect("start count_worker");
        Worker {
            child,
            state_dir: state_dir.to_path_buf(),
            dump,
            log,
            log_from,
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let status = self.child.wait().expect("wait");
        let mut log = String::new();
        let _ = std::fs::File::open(&self.log).and_then(|mut f| f.read_to_string(&mut log));
        assert!(status.success(), "worker exited with {status}:\n{log}");
    }

    /// Waits until the worker's log contains `needle` (its state changes are logged as
    /// `count_worker: state <old> -> <new>`).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            if log
                .get(self.log_from..)
                .unwrap_or_default()
                .contains(needle)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "worker never logged `{needle}`:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log of the worker with `state_dir` (all its lives), for failure messages.
    pub fn log_of(state_dir: &Path) -> String {
        let log = state_dir.with_extension("log");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        format!("--- {} ---\n{text}", log.display())
    }

    /// SIGKILL: no shutdown at all, as a crash.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    /// The store the worker wrote on its clean shutdown.
    pub fn read_dump(path: &Path) -> BTreeMap<String, u64> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(k, v)| (k.to_string(), v.parse().expect("count")))
            .collect()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Checks the count updates read from the output: for every key, in partition order, exactly
/// 1, 2, …, n for its n input records — no update lost, none twice. Returns a description of
/// the first discrepancy.
pub fn check_count_sequences(
    records: &[(i32, String, Vec<u8>)],
    expected: &BTreeMap<String, u64>,
) -> Result<(), String> {
    let mut seen: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
    for (_, key, value) in records {
        let count = u64::from_be_bytes(
            value
                .as_slice()
                .try_into()
                .map_err(|_| format!("value of {key} is not 8 bytes"))?,
        );
        seen.entry(key).or_default().push(count);
    }
    for (key, n) in expected {
        let got = seen.get(key.as_str()).cloned().unwrap_or_default();
        let want: Vec<u64> = (1..=*n).collect();
        if got != want {
            let shown: Vec<_> = got.iter().take(12).collect();
            return Err(format!(
                "{key}: {} updates {shown:?}…, expected 1..={n}",
                got.len()
            ));
        }
    }
    if seen.len() != expected.len() {
        return Err(format!(
            "{} keys in the output, {} expected",
            seen.len(),
            expected.len()
        ));
    }
    Ok(())
}

/// Checks that the copies read are `VALUE-0` … `VALUE-<total - 1>`, each exactly once;
/// describes the first few discrepancies otherwise.
pub fn check_copies(records: &[(i32, String, Vec<u8>)], total: usize) -> Result<(), String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (_, _, value) in records {
        *seen
            .entry(String::from_utf8_lossy(value).to_string())
            .or_insert(0) += 1;
    }
    let missing: Vec<String> = (0..total)
        .map(|i| format!("VALUE-{i}"))
        .filter(|v| !seen.contains_key(v))
        .take(5)
        .collect();
    let doubled: Vec<(&String, &usize)> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    let extra = seen.len().saturating_sub(total);
    if missing.is_empty() && doubled.is_empty() && extra == 0 {
        Ok(())
    } else {
        let duplicates = seen.values().filter(|n| **n > 1).count();
        Err(format!(
            "{} records read for {total} inputs: missing e.g. {missing:?}; {duplicates} duplicated, e.g. {doubled:?}; {extra} unexpected",
            records.len()
        ))
    }
}
