//! Helpers of `state_corruption.rs`: the app under test (a `count_worker` under exactly-once),
//! its stores opened from outside to corrupt them, and what its log says about wiping and
//! restoring.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::support::{
    CountTopics, KafkaCluster, Worker, check_copies, check_count_sequences, unique,
};

pub(crate) const TIMEOUT: Duration = Duration::from_secs(180);

/// The column family and key holding a transactional store's changelog position (as
/// `streams-state` writes them: 8 bytes, big-endian).
const POSITION_CF: &str = "streams.position";
const POSITION_KEY: &[u8] = b"changelog.offset";

/// One test's topics and application.
pub(crate) struct App {
    pub(crate) topics: CountTopics,
    pub(crate) id: String,
    pub(crate) partitions: i32,
}

impl App {
    pub(crate) fn create(broker: &KafkaCluster, name: &str, partitions: i32) -> App {
        App {
            topics: CountTopics::create(broker, name, partitions),
            id: unique(name),
            partitions,
        }
    }

    pub(crate) fn args(&self) -> Vec<&str> {
        self.topics.args(&["--guarantee", "exactly_once_v2"])
    }

    /// The app's first life: `records` records over `keys` keys produced, a worker run on
    /// `dir` until their counts are committed, then stopped; the expected counts.
    pub(crate) fn first_life(
        &self,
        broker: &KafkaCluster,
        dir: &Path,
        records: usize,
        keys: usize,
    ) -> BTreeMap<String, u64> {
        let expected = broker.produce(&self.topics.events, 0, records, keys);
        let worker = self.start(broker, dir);
        let out = broker.read_all(&self.topics.counts, "read_committed", TIMEOUT, |r| {
            r.len() >= records
        });
        assert_eq!(out.len(), records, "first counts\n{}", Worker::log_of(dir));
        worker.stop();
        expected
    }

    /// The app's second life on a (corrupted) `dir`: a worker restarted while `second` more
    /// records (from `first`) keep coming; checks the committed output whole and the store
    /// dumped at shutdown against `expected` (updated with the new records); returns the
    /// life's log, without colour codes.
    pub(crate) fn second_life(
        &self,
        broker: &KafkaCluster,
        dir: &Path,
        (first, second, keys): (usize, usize, usize),
        expected: &mut BTreeMap<String, u64>,
    ) -> String {
        let since = log_len(dir);
        let worker = self.start(broker, dir);
        trickle(broker, &self.topics.events, first, second, keys, expected);
        let log = Worker::log_of(dir);
        check_output(broker, self, first + second, expected, &log);
        let dump = dir.with_extension("dump");
        let life = plain(&worker.log_since(since));
        worker.stop();
        assert_eq!(
            &Worker::read_dump(&dump),
            expected,
            "final store: exact, no planted key"
        );
        life
    }

    pub(crate) fn changelog(&self) -> String {
        format!("{}-counts-changelog", self.id)
    }

    /// The directory of task `0_<partition>` in `state_dir`.
    pub(crate) fn task_dir(&self, state_dir: &Path, partition: i32) -> PathBuf {
        state_dir.join(&self.id).join(format!("0_{partition}"))
    }

    /// Starts a worker on `state_dir` that also logs why it wipes a task and where each
    /// restoration starts (INFO of those two modules).
    pub(crate) fn start(&self, broker: &KafkaCluster, state_dir: &Path) -> Worker {
        let mut command = Command::new(Worker::binary());
        command.env(
            "COUNT_WORKER_LOG",
            "warn,streams_core::runtime::task=info,streams_core::runtime::restore=info",
        );
        Worker::start_as(command, broker, &self.id, state_dir, &self.args())
    }

    /// Committed changelog records per partition (`total` of them in all).
    pub(crate) fn changelog_records(
        &self,
        broker: &KafkaCluster,
        total: usize,
    ) -> BTreeMap<i32, u64> {
        let records = broker.read_all(&self.changelog(), "read_committed", TIMEOUT, |r| {
            r.len() >= total
        });
        assert_eq!(
            records.len(),
            total,
            "one changelog record per input record"
        );
        let mut per_partition: BTreeMap<i32, u64> = (0..self.partitions).map(|p| (p, 0)).collect();
        for (partition, _, _) in &records {
            *per_partition.entry(*partition).or_insert(0) += 1;
        }
        per_partition
    }

    /// The ends of the changelog partitions as a reader of `isolation` sees them: the high
    /// watermarks (`read_uncommitted`) or the last stable offsets (`read_committed`, where a
    /// transaction is open).
    pub(crate) fn changelog_ends(&self, broker: &KafkaCluster, isolation: &str) -> Vec<i64> {
        let consumer: BaseConsumer = broker
            .client()
            .set("isolation.level", isolation)
            .create()
            .expect("consumer");
        (0..self.partitions)
            .map(|p| {
                consumer
                    .fetch_watermarks(&self.changelog(), p, Duration::from_secs(30))
                    .expect("watermarks")
                    .1
            })
            .collect()
    }
}

/// What one worker life logged about restoring, per changelog partition of `changelog`:
/// where each restoration started (`restoring store … offsets <start>..<end>`) and how many
/// records it restored in all (`count_worker: restored <n> records of <changelog>-<p>`).
#[derive(Debug, Default)]
pub(crate) struct Restores {
    pub(crate) starts: BTreeMap<i32, Vec<i64>>,
    pub(crate) restored: BTreeMap<i32, u64>,
}

impl Restores {
    pub(crate) fn parse(log: &str, changelog: &str) -> Restores {
        let mut restores = Restores::default();
        let partition_of = |s: &str| -> Option<i32> {
            s.strip_prefix(changelog)?
                .strip_prefix('-')?
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        };
        for line in log.lines() {
            if let Some(rest) = line.split("count_worker: restored ").nth(1)
                && let Some((n, topic)) = rest.split_once(" records of ")
                && let (Ok(n), Some(p)) = (n.parse::<u64>(), partition_of(topic))
            {
                *restores.restored.entry(p).or_insert(0) += n;
            }
            // `restoring store `counts` from <changelog>-<p> offsets <start>..<end>`
            if line.contains("restoring store")
                && let Some(rest) = line.split(" from ").nth(1)
                && let Some(p) = partition_of(rest)
                && let Some(range) = rest.split(" offsets ").nth(1)
                && let Some(start) = range.split("..").next().and_then(|s| s.parse().ok())
            {
                restores.starts.entry(p).or_default().push(start);
            }
        }
        restores
    }
}

/// The lines of `log` about task `0_<partition>`.
pub(crate) fn task_lines(log: &str, partition: i32) -> Vec<&str> {
    let field = format!("task=0_{partition}");
    log.lines()
        .filter(|l| {
            l.split(|c: char| c.is_whitespace() || c == '{' || c == '}' || c == ':')
                .any(|w| w == field)
        })
        .collect()
}

/// A stopped worker's RocksDB store, opened from outside to corrupt it.
pub(crate) struct Store {
    db: rocksdb::DB,
}

impl Store {
    pub(crate) fn open(task_dir: &Path) -> Store {
        let path = task_dir.join("rocksdb").join("counts");
        assert!(
            path.join("CURRENT").exists(),
            "no store in {}",
            path.display()
        );
        let options = rocksdb::Options::default();
        let families = rocksdb::DB::list_cf(&options, &path).expect("column families");
        assert!(
            families.iter().any(|f| f == POSITION_CF),
            "no position column family in {families:?}"
        );
        let db = rocksdb::DB::open_cf(&options, &path, &families).expect("open the store");
        Store { db }
    }

    /// Writes `key` with the value of the store's first entry: a count the changelog never
    /// had, which only a store that was not rebuilt still holds.
    pub(crate) fn plant(&self, key: &str) {
        let (_, value) = self
            .db
            .iterator(rocksdb::IteratorMode::Start)
            .next()
            .expect("a stored count")
            .expect("read");
        self.db.put(key.as_bytes(), value).expect("plant");
    }

    fn position_cf(&self) -> &rocksdb::ColumnFamily {
        self.db.cf_handle(POSITION_CF).expect("position family")
    }

    pub(crate) fn position(&self) -> Option<i64> {
        let raw = self
            .db
            .get_cf(self.position_cf(), POSITION_KEY)
            .expect("get");
        raw.map(|b| i64::from_be_bytes(b.as_slice().try_into().expect("8 bytes")))
    }

    /// Replaces the committed position with `bytes`, or removes it.
    pub(crate) fn set_position(&self, bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => self.db.put_cf(self.position_cf(), POSITION_KEY, bytes),
            None => self.db.delete_cf(self.position_cf(), POSITION_KEY),
        }
        .expect("write the position");
    }

    /// The SST files of the data (default) column family.
    pub(crate) fn data_files(&self, task_dir: &Path) -> Vec<PathBuf> {
        let dir = task_dir.join("rocksdb").join("counts");
        self.db
            .live_files()
            .expect("live files")
            .into_iter()
            .filter(|f| f.column_family_name == rocksdb::DEFAULT_COLUMN_FAMILY_NAME)
            .map(|f| dir.join(f.name.trim_start_matches('/')))
            .collect()
    }

    /// Flushes every family and closes, so that the worker finds the writes in SST files.
    pub(crate) fn close(self) {
        self.db.flush().expect("flush");
        self.db
            .flush_cf(self.position_cf())
            .expect("flush position");
    }
}

/// Produces `count` records from `from` in batches of 50 every 40 ms (records keep coming
/// while the worker restarts and restores); adds each key's records to `expected`.
pub(crate) fn trickle(
    broker: &KafkaCluster,
    topic: &str,
    from: usize,
    count: usize,
    keys: usize,
    expected: &mut BTreeMap<String, u64>,
) {
    for start in (from..from + count).step_by(50) {
        for (k, n) in broker.produce(topic, start, 50.min(from + count - start), keys) {
            *expected.entry(k).or_insert(0) += n;
        }
        std::thread::sleep(Duration::from_millis(40));
    }
}

/// Waits for the committed counts of `total` inputs, then checks the committed output whole.
pub(crate) fn check_output(
    broker: &KafkaCluster,
    app: &App,
    total: usize,
    expected: &BTreeMap<String, u64>,
    log: &str,
) {
    let counts = broker.read_all(&app.topics.counts, "read_committed", TIMEOUT, |r| {
        r.len() >= total
    });
    if let Err(e) = check_count_sequences(&counts, expected) {
        panic!("exact count updates: {e}\n{log}");
    }
    let copies = broker.read_all(&app.topics.copies, "read_committed", TIMEOUT, |r| {
        r.len() >= total
    });
    if let Err(e) = check_copies(&copies, total) {
        panic!("every copy exactly once: {e}\n{log}");
    }
}

/// `log` without ANSI colour codes (the worker's log lines may carry them around field names).
pub(crate) fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // `ESC [ … m`
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// How long the log of the worker on `state_dir` is now: the next life's lines come after.
pub(crate) fn log_len(state_dir: &Path) -> usize {
    std::fs::metadata(state_dir.with_extension("log")).map_or(0, |m| m.len() as usize)
}
