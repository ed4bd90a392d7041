//! Apache Kafka for tests: KRaft brokers started from the Maven jars by
//! `java/kafka-broker/kafka.sh` (fresh storage, loopback ports unless told another address of
//! this machine, small heaps), one node or a three-node cluster (replication 3,
//! `min.insync.replicas=2`), with nodes that can be killed, frozen and restarted.
//!
//! Whether the jars and a JVM are there is decided when the test binary is built
//! (`examples/build.rs` sets `kafka_available`): tests that need a broker are marked
//! `#[cfg_attr(not(kafka_available), ignore = …)]`, so cargo lists them as ignored, and the
//! build fails under CI without them. Once available, a broker that does not start fails the
//! test.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// The launcher script (in the repository).
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../java/kafka-broker/kafka.sh")
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A unique suffix for topic, group and application names within this test binary.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    )
}

/// Held by a test for its whole run so that the tests of one binary run one at a time: on a
/// two-core machine several apps, their workers and the broker at once starve each other
/// past the timeouts the tests check (a test that failed does not poison it for the rest).
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The brokers' heap options (`KAFKA_HEAP_OPTS`) for the clusters this test binary starts,
/// when set (by [`set_broker_heap`]) before the first; else kafka.sh's default (256 MiB).
static BROKER_HEAP: OnceLock<String> = OnceLock::new();

/// Gives the brokers this binary starts the heap options `heap` (e.g. `-Xms512m -Xmx1g`): the
/// soak's exactly-once load on ~70 partitions paused a 256 MiB broker long enough for its
/// controller to fence it. Call before starting a cluster; a second call changes nothing.
pub fn set_broker_heap(heap: &str) {
    let _ = BROKER_HEAP.set(heap.to_string());
}

/// One Apache Kafka node or a cluster of them, stopped on drop (and by a watchdog when the
/// test process exits without dropping it, as a `static` does).
pub struct KafkaCluster {
    dir: tempfile::TempDir,
    ports: Vec<u16>,
    /// `bootstrap.servers` of every node.
    pub bootstrap: String,
    /// How long the start took, as the launcher measured it.
    pub started_in: Duration,
}

impl KafkaCluster {
    /// The single broker shared by every test of this binary, started on first use.
    pub fn shared() -> &'static KafkaCluster {
        static SHARED: OnceLock<KafkaCluster> = OnceLock::new();
        SHARED.get_or_init(KafkaCluster::single)
    }

    /// A fresh single combined broker+controller node.
    pub fn single() -> KafkaCluster {
        KafkaCluster::start(1, "")
    }

    /// Broker settings every test broker gets: KIP-848 groups (`group.protocol=consumer`)
    /// notice a killed member after 6 s and heartbeat every 500 ms, as the tests' classic
    /// members do (the broker's defaults are 45 s and 5 s).
    pub const TEST_DEFAULTS: &str = "group.consumer.min.session.timeout.ms=6000
group.consumer.session.timeout.ms=6000
group.consumer.min.heartbeat.interval.ms=500
group.consumer.heartbeat.interval.ms=500";

    /// `nodes` fresh combined nodes (replication min(nodes, 3), `min.insync.replicas` one
    /// less), with `extra` server.properties lines appended (they win).
    pub fn start(nodes: usize, extra: &str) -> KafkaCluster {
        KafkaCluster::start_with(nodes, |_| extra.to_string())
    }

    /// [`start`](Self::start) with the extra lines made from the nodes' broker (PLAINTEXT)
    /// ports, `extra(&ports)`, for lines that must name them (`listeners=` to add listeners).
    /// The controller port of node `i` is `ports[i] + 1` for one node, `ports[i] + nodes` for
    /// a cluster.
    pub fn start_with(nodes: usize, extra: impl FnOnce(&[u16]) -> String) -> KafkaCluster {
        KafkaCluster::start_on("127.0.0.1", nodes, extra)
    }

    /// [`start_with`](Self::start_with) with every listener bound to and advertised on `host`
    /// (an IPv4 address of this machine, such as a bridge's that network namespaces reach)
    /// instead of loopback.
    pub fn start_on(
        host: &str,
        nodes: usize,
        extra: impl FnOnce(&[u16]) -> String,
    ) -> KafkaCluster {
        let dir = tempfile::Builder::new()
            .prefix("kafka-")
            .tempdir()
            .expect("broker dir");
        let base = free_port_range(host, 2 * nodes as u16);
        let ports: Vec<u16> = (0..nodes as u16).map(|i| base + i).collect();
        let extra = extra(&ports);
        let mut command = Command::new("bash");
        command.arg(script());
        if nodes == 1 {
            command
                .arg("start")
                .arg(dir.path())
                .arg(base.to_string())
                .arg("1")
                .arg((base + 1).to_string());
        } else {
            command
                .arg("start-cluster")
                .arg(dir.path())
                .arg(base.to_string())
                .arg(nodes.to_string());
        }
        let output = command
            .env("KAFKA_WATCH_PID", std::process::id().to_string())
            .env(
                "KAFKA_EXTRA_CONFIG",
                format!("{}\n{extra}", KafkaCluster::TEST_DEFAULTS),
            )
            .env("KAFKA_CDS", "0")
            .env("KAFKA_HOST", host)
            .envs(BROKER_HEAP.get().map(|heap| ("KAFKA_HEAP_OPTS", heap)))
            .output()
            .expect("run kafka.sh");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "Apache Kafka did not start: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let started_in = stdout
            .split(" in ")
            .last()
            .and_then(|t| t.trim().strip_suffix(" ms"))
            .and_then(|ms| ms.parse().ok())
            .map_or(Duration::ZERO, Duration::from_millis);
        eprintln!("{}", stdout.trim());
        let bootstrap = ports
            .iter()
            .map(|p| format!("{host}:{p}"))
            .collect::<Vec<_>>()
            .join(",");
        KafkaCluster {
            dir,
            ports,
            bootstrap,
            started_in,
        }
    }

    /// How many nodes.
    pub fn nodes(&self) -> usize {
        self.ports.len()
    }

    fn node_dir(&self, node: usize) -> PathBuf {
        if self.ports.len() == 1 {
            self.dir.path().to_path_buf()
        } else {
            self.dir.path().join(format!("node{node}"))
        }
    }

    /// The process id of node `node` (1-based).
    pub fn pid(&self, node: usize) -> u32 {
        let file = self.node_dir(node).join("kafka.pid");
        std::fs::read_to_string(&file)
            .ok()
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("no pid in {}", file.display()))
    }

    fn signal(&self, node: usize, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid(node).to_string())
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} node {node}");
    }

    /// SIGKILLs node `node`, as a crash, and waits until it is gone.
    pub fn kill(&self, node: usize) {
        let pid = self.pid(node);
        self.signal(node, "KILL");
        while Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z")
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Freezes node `node` (SIGSTOP): it holds its connections but answers nothing.
    pub fn freeze(&self, node: usize) {
        self.signal(node, "STOP");
    }

    /// Resumes a frozen node (SIGCONT).
    pub fn thaw(&self, node: usize) {
        self.signal(node, "CONT");
    }

    /// Starts a killed node again from its data; waits until it answers.
    pub fn restart(&self, node: usize) {
        let port = self.ports[node - 1];
        let output = Command::new("bash")
            .arg(script())
            .arg("restart")
            .arg(self.node_dir(node))
            .arg(port.to_string())
            .env("KAFKA_CDS", "0")
            .output()
            .expect("run kafka.sh restart");
        assert!(
            output.status.success(),
            "node {node} did not restart: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The broker log of node `node`, for failure messages.
    pub fn log(&self, node: usize) -> String {
        std::fs::read_to_string(self.node_dir(node).join("kafka.log")).unwrap_or_default()
    }

    /// The JVM log (garbage collections and safepoint pauses) of node `node`, to tell a broker
    /// stall's cause.
    pub fn jvm_log(&self, node: usize) -> String {
        std::fs::read_to_string(self.node_dir(node).join("jvm.log")).unwrap_or_default()
    }

    /// A client config with `bootstrap.servers` set.
    pub fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        config
    }

    /// How many members consumer group `group` has now (0 for an empty or unknown group;
    /// `usize::MAX` when the brokers cannot tell).
    pub fn group_members(&self, group: &str) -> usize {
        let consumer: BaseConsumer = self.client().create().expect("consumer");
        consumer
            .fetch_group_list(Some(group), Duration::from_secs(10))
            .map_or(usize::MAX, |list| {
                list.groups()
                    .iter()
                    .filter(|g| g.name() == group)
                    .map(|g| g.members().len())
                    .sum()
            })
    }

    /// Waits until consumer group `group` has no members left (its instances stopped and
    /// their leaving reached the coordinator); fails the test after `timeout`.
    pub fn wait_until_group_empty(&self, group: &str, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while self.group_members(group) > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "group {group} still has members after {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Creates topics of `(name, partitions)`, replicated min(nodes, 3) times.
    pub fn create_topics(&self, topics: &[(&str, i32)]) {
        self.create_topics_with(topics, &[]);
    }

    /// Creates topics with topic configs.
    pub fn create_topics_with(&self, topics: &[(&str, i32)], configs: &[(&str, &str)]) {
        let admin: AdminClient<DefaultClientContext> = self.client().create().expect("admin");
        let replication = self.nodes().min(3) as i32;
        let new: Vec<_> = topics
            .iter()
            .map(|(name, partitions)| {
                configs.iter().fold(
                    NewTopic::new(name, *partitions, TopicReplication::Fixed(replication)),
                    |topic, (k, v)| topic.set(k, v),
                )
            })
            .collect();
        let results = futures::executor::block_on(admin.create_topics(&new, &AdminOptions::new()))
            .expect("create topics");
        for result in results {
            result.expect("topic created");
        }
    }

    /// Produces `count` records `key-<i % keys>` → `value-<i>`, from `from`, with
    /// `producer_config` on top of the defaults; returns the number of records per key.
    pub fn produce_with(
        &self,
        topic: &str,
        from: usize,
        count: usize,
        keys: usize,
        producer_config: &[(&str, &str)],
    ) -> BTreeMap<String, u64> {
        let mut config = self.client();
        config
            .set("linger.ms", "5")
            .set("partitioner", "murmur2_random");
        for (k, v) in producer_config {
            config.set(*k, *v);
        }
        let producer: BaseProducer = config.create().expect("producer");
        let mut per_key = BTreeMap::new();
        for i in from..from + count {
            let key = format!("key-{}", i % keys);
            let value = format!("value-{i}");
            *per_key.entry(key.clone()).or_insert(0) += 1;
            let record = BaseRecord::to(topic).key(&key).payload(&value);
            if let Err(e) = streams_core::runtime::send_record(&producer, record) {
                panic!("producing to {topic}: {e}");
            }
        }
        producer.flush(Duration::from_secs(120)).expect("flush");
        per_key
    }

    /// [`produce_with`](Self::produce_with) with the default producer.
    pub fn produce(
        &self,
        topic: &str,
        from: usize,
        count: usize,
        keys: usize,
    ) -> BTreeMap<String, u64> {
        self.produce_with(topic, from, count, keys, &[])
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
            .set("group.id", unique(&format!("reader-{topic}-{isolation}")))
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

impl Drop for KafkaCluster {
    fn drop(&mut self) {
        // A frozen node would never see the SIGTERM.
        for node in 1..=self.nodes() {
            if let Some(pid) = std::fs::read_to_string(self.node_dir(node).join("kafka.pid"))
                .ok()
                .and_then(|p| p.trim().parse::<u32>().ok())
            {
                let _ = Command::new("kill")
                    .args(["-CONT", &pid.to_string()])
                    .status();
            }
        }
        let _ = Command::new("bash")
            .arg(script())
            .arg("stop")
            .arg(self.dir.path())
            .env("KAFKA_STOP_TIMEOUT", "5")
            .output();
    }
}

/// `n` consecutive ports of `host` that are free now, from a range the kernel does not hand
/// out as ephemeral ports (those belong to the clients' connections).
fn free_port_range(host: &str, n: u16) -> u16 {
    let seed = std::process::id() as u64 * 7919
        + NEXT.fetch_add(1, Ordering::SeqCst) as u64 * 104_729
        + std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
    for attempt in 0..200u64 {
        let base = 20_000 + ((seed + attempt * 613) % 12_000) as u16;
        let free = (base..base + n).all(|port| std::net::TcpListener::bind((host, port)).is_ok());
        if free {
            return base;
        }
    }
    panic!("no {n} free consecutive ports found on {host}");
}

/// The low and high watermarks of partitions `0..partitions` of `topic`, asked by `consumer`
/// (under `read_committed`, the high one is the last stable offset).
pub fn watermarks(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
) -> Result<Vec<(i64, i64)>, rdkafka::error::KafkaError> {
    (0..partitions)
        .map(|p| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)))
        .collect()
}

/// The offsets the group of `consumer` (its `group.id`) committed for partitions
/// `0..partitions` of `topic`; `None` where it committed none.
pub fn committed(
    consumer: &BaseConsumer,
    topic: &str,
    partitions: i32,
) -> Result<Vec<Option<i64>>, rdkafka::error::KafkaError> {
    let mut list = rdkafka::TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let committed = consumer.committed_offsets(list, Duration::from_secs(10))?;
    Ok((0..partitions)
        .map(
            |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(rdkafka::Offset::Offset(o)) => Some(o),
                _ => None,
            },
        )
        .collect())
}
