//! Process-level test support: Apache Kafka (see [`kafka`]), which hides aborted transactions
//! from `read_committed` readers (librdkafka's mock cluster does not), and `count_worker` app
//! instances as child processes that can be stopped or SIGKILLed, and network namespaces to run
//! them in as separate hosts (see [`netns`]).
#![allow(dead_code, unreachable_pub)]

pub mod kafka;
pub mod netns;
pub mod soak;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;

// Not every test binary takes the one-at-a-time lock (state_corruption runs its tests side by side).
#[allow(unused_imports)]
pub use kafka::{KafkaCluster, one_at_a_time, unique};

/// The topics of one `count_worker` app: its input, the copies of its input and the
/// per-key counts.
pub struct CountTopics {
    /// The input.
    pub events: String,
    /// Every input record copied.
    pub copies: String,
    /// Every key's running count.
    pub counts: String,
}

impl CountTopics {
    /// Three new topics named after `name`, of `partitions` partitions each.
    pub fn create(broker: &KafkaCluster, name: &str, partitions: i32) -> CountTopics {
        let topics = CountTopics {
            events: unique(&format!("{name}-events")),
            copies: unique(&format!("{name}-copies")),
            counts: unique(&format!("{name}-counts")),
        };
        broker.create_topics(&[
            (&topics.events, partitions),
            (&topics.copies, partitions),
            (&topics.counts, partitions),
        ]);
        topics
    }

    /// `count_worker` flags for these topics, then `extra`.
    pub fn args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            "--input",
            &self.events,
            "--copies",
            &self.copies,
            "--counts",
            &self.counts,
        ];
        args.extend_from_slice(extra);
        args
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
    pub fn watch(broker: &KafkaCluster, topic: &str) -> Self {
        let reader = |isolation: &str| -> BaseConsumer {
            let consumer: BaseConsumer = broker
                .client()
                .set(
                    "group.id",
                    kafka::unique(&format!("watch-{topic}-{isolation}")),
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

/// Spawns `command` with its stdout discarded and its stderr appended to `log` (a restarted
/// process's log follows its earlier lives').
pub fn spawn_logged(mut command: Command, log: &Path) -> Child {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
    command
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap_or_else(|e| panic!("start {:?}: {e}", command.get_program()))
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
    /// The `count_worker` binary: this build's, or `STREAMS_COUNT_WORKER` (an earlier
    /// version's, to measure a change against it).
    pub fn binary() -> PathBuf {
        std::env::var_os("STREAMS_COUNT_WORKER").map_or_else(
            || PathBuf::from(env!("CARGO_BIN_EXE_count_worker")),
            PathBuf::from,
        )
    }

    /// Starts a worker of application `app` on `broker` with `state_dir`.
    pub fn start(broker: &KafkaCluster, app: &str, state_dir: &Path, extra: &[&str]) -> Worker {
        Worker::start_as(
            Command::new(Worker::binary()),
            broker,
            app,
            state_dir,
            extra,
        )
    }

    /// [`start`](Self::start) through `command`, which runs [`binary`](Self::binary) (in a
    /// network namespace, say): the worker's arguments are added to it. The command must `exec`
    /// the worker, so that its pid is the worker's (`ip netns exec` does).
    pub fn start_as(
        mut command: Command,
        broker: &KafkaCluster,
        app: &str,
        state_dir: &Path,
        extra: &[&str],
    ) -> Worker {
        let dump = state_dir.with_extension("dump");
        let log = state_dir.with_extension("log");
        let log_from = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
        command
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
            .args(extra);
        let child = spawn_logged(command, &log);
        Worker {
            child,
            state_dir: state_dir.to_path_buf(),
            dump,
            log,
            log_from,
        }
    }

    /// Whether the process still runs (one that exited and was not waited for yet, a zombie,
    /// does not).
    pub fn running(&self) -> bool {
        std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))
            .is_ok_and(|stat| !stat.contains(") Z"))
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

    /// How long this worker's log is now (for [`log_since`](Self::log_since)).
    pub fn log_len(&self) -> usize {
        std::fs::metadata(&self.log).map_or(0, |m| m.len() as usize)
    }

    /// What the worker logged after its log was `from` bytes long.
    pub fn log_since(&self, from: usize) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        log.get(from..).unwrap_or_default().to_string()
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

/// Sums the `count_worker: restored <n> records of …` lines of `log` (a worker's restore
/// listener prints one per restored store partition).
pub fn restored_records(log: &str) -> u64 {
    log.lines()
        .filter_map(|l| l.split("count_worker: restored ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
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
