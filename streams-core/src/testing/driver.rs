//! The driver: one task per sub-topology (partition 0), fed synchronously.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

use tempfile::TempDir;

use super::topics::{CapturedRecord, TestInputTopic, TestOutputTopic};
use crate::processor::Headers;
use crate::runtime::node::RawRecord;
use crate::runtime::{RecordCollector, StreamsMetrics, Task, TaskEnv, ThreadMetrics, WallClock};
use crate::serde::SharedSerde;
use crate::state::{
    GlobalUpdater, KeyValueStoreHandle, RocksDbEnv, SessionStoreHandle,
    VersionedKeyValueStoreHandle, WindowStoreHandle,
};
use crate::{Error, Result, StreamsConfig, Topology};
use std::cell::Cell;
use streams_state::CacheBudget;

/// Captures everything the tasks send, in order.
#[derive(Default)]
struct CaptureCollector {
    sent: RefCell<Vec<(String, CapturedRecord)>>,
}

impl RecordCollector for CaptureCollector {
    fn send(
        &self,
        topic: &str,
        _partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: &Headers,
    ) -> Result<()> {
        self.sent.borrow_mut().push((
            topic.to_string(),
            CapturedRecord {
                key: key.map(<[u8]>::to_vec),
                value: value.map(<[u8]>::to_vec),
                timestamp,
                headers: headers.clone(),
            },
        ));
        Ok(())
    }
}

pub(crate) struct DriverCore {
    topology: Topology,
    application_id: String,
    tasks: BTreeMap<u32, Task>,
    /// Sub-topology reading each physical topic.
    readers: HashMap<String, u32>,
    collector: Rc<CaptureCollector>,
    /// Everything written to each topic, for reading; changelogs included.
    topics: HashMap<String, VecDeque<CapturedRecord>>,
    /// Next offset of each topic piped into a task.
    offsets: HashMap<String, i64>,
    metrics: Arc<StreamsMetrics>,
    globals: GlobalUpdater,
    /// The manual wall clock, in ms.
    clock: Rc<Cell<i64>>,
    /// Records waiting to be fed to the tasks that read their topics.
    pending: VecDeque<(String, CapturedRecord)>,
    _cache: Option<CacheBudget>,
    _state_dir: Option<TempDir>,
}

/// Runs a topology without Kafka. See the [module docs](crate::testing).
pub struct TopologyTestDriver {
    core: Rc<RefCell<DriverCore>>,
}

impl std::fmt::Debug for TopologyTestDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopologyTestDriver").finish_non_exhaustive()
    }
}

impl TopologyTestDriver {
    /// A driver with application id `test-driver` and state in a fresh temporary directory.
    pub fn new(topology: Topology) -> Result<Self> {
        Self::with_config(topology, &StreamsConfig::new())
    }

    /// A driver with `config` (`application.id`, `state.dir`, handlers). Without `state.dir`
    /// the state lives in a temporary directory removed when the driver drops.
    pub fn with_config(topology: Topology, config: &StreamsConfig) -> Result<Self> {
        let application_id = match config.get(crate::config::APPLICATION_ID) {
            Some(_) => config.application_id()?.to_string(),
            None => "test-driver".to_string(),
        };
        let (state_dir, app_dir) = match config.get(crate::config::STATE_DIR) {
            Some(_) => (None, config.state_dir().join(&application_id)),
            None => {
                let dir = tempfile::tempdir().map_err(|e| Error::io("temporary state dir", e))?;
                let app_dir = dir.path().join(&application_id);
                (Some(dir), app_dir)
            }
        };
        let collector = Rc::new(CaptureCollector::default());
        // The driver's own registry: a test reads its counts through the driver.
        let metrics = Arc::new(StreamsMetrics::new(
            &application_id,
            config.metrics_recording_level()?,
            prometheus::Registry::new(),
        )?);
        let internal_topics = topology.internal_topic_names(&application_id);
        let clock = Rc::new(Cell::new(0));
        let cache_bytes = config.cache_max_bytes()?;
        let cache = (cache_bytes > 0).then(|| CacheBudget::new(cache_bytes));
        let env_metrics = ThreadMetrics::new(&metrics, "test-driver");
        // As an instance does: one block cache for its RocksDB stores, and the setter.
        let rocksdb = RocksDbEnv::from_config(config)?;
        let globals = GlobalUpdater::open(
            topology.global_stores(),
            &app_dir.join("global"),
            config.deserialization_policy()?,
            &rocksdb,
        )?;
        // As Kafka's TopologyTestDriver: windowed aggregations emitting on window close look
        // for closed windows on every record unless the configuration says otherwise.
        let mut emit_intervals = config.emit_intervals()?;
        if config
            .get(crate::config::EMIT_INTERVAL_MS_KSTREAMS_WINDOWED_AGGREGATION)
            .is_none()
        {
            emit_intervals.windowed_aggregation_ms = 0;
        }
        let env = TaskEnv {
            rocksdb: &rocksdb,
            globals: Arc::new(globals.readers().clone()),
            cache: cache.as_ref(),
            clock: WallClock::Manual(clock.clone()),
            application_id: &application_id,
            app_dir: &app_dir,
            collector: collector.clone(),
            metrics: env_metrics,
            policies: Rc::new(config.error_policies()?),
            emit_intervals,
            lock_wait: std::time::Duration::ZERO,
            exactly_once: false,
            internal_topics: &internal_topics,
        };
        let mut tasks = BTreeMap::new();
        let mut readers = HashMap::new();
        for sub in topology.subtopologies() {
            let mut task = Task::new(&topology, &sub, 0, &env)?;
            // State left in `state.dir` by an earlier driver is kept as is; there is no
            // changelog to restore from here.
            task.initialize()?;
            for topic in &sub.source_topics {
                readers.insert(topology.physical_topic(&application_id, topic), sub.id);
            }
            tasks.insert(sub.id, task);
        }
        Ok(TopologyTestDriver {
            core: Rc::new(RefCell::new(DriverCore {
                topology,
                application_id,
                tasks,
                readers,
                collector,
                topics: HashMap::new(),
                offsets: HashMap::new(),
                clock,
                globals,
                metrics,
                pending: VecDeque::new(),
                _cache: cache,
                _state_dir: state_dir,
            })),
        })
    }

    /// A typed handle for piping records into `topic`.
    pub fn input_topic<K: 'static, V: 'static>(
        &self,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> TestInputTopic<K, V> {
        TestInputTopic::new(self.core.clone(), topic, key_serde, value_serde)
    }

    /// A typed handle for reading what the topology wrote to `topic`.
    pub fn output_topic<K: 'static, V: 'static>(
        &self,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> TestOutputTopic<K, V> {
        TestOutputTopic::new(self.core.clone(), topic, key_serde, value_serde)
    }

    fn store<T>(&self, name: &str, get: impl Fn(&Task) -> Option<Result<T>>) -> Result<T> {
        let core = self.core.borrow();
        core.tasks.values().find_map(get).unwrap_or_else(|| {
            Err(Error::StoreAccess {
                name: name.to_string(),
                reason: "no such store in the topology".into(),
            })
        })
    }

    /// The key-value store `name` of the task that owns it.
    pub fn key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<KeyValueStoreHandle<K, V>> {
        self.store(name, |t| t.key_value_store(name))
    }

    /// The versioned key-value store `name` of the task that owns it (Kafka Streams'
    /// `TopologyTestDriver.getVersionedKeyValueStore`): its latest values and history.
    pub fn versioned_key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<VersionedKeyValueStoreHandle<K, V>> {
        self.store(name, |t| {
            t.context().stores().get(name)?;
            Some(t.context().stores().versioned(name, None))
        })
    }

    /// The window store `name` of the task that owns it.
    pub fn window_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<WindowStoreHandle<K, V>> {
        self.store(name, |t| {
            t.context().stores().get(name)?;
            Some(t.context().stores().window(name, None))
        })
    }

    /// The session store `name` of the task that owns it.
    pub fn session_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<SessionStoreHandle<K, V>> {
        self.store(name, |t| {
            t.context().stores().get(name)?;
            Some(t.context().stores().session(name, None))
        })
    }

    /// Moves the driver's wall clock forward by `advance`, fires the wall-clock punctuations
    /// that became due, and then commits (flushing record caches), as Kafka Streams' driver
    /// does.
    pub fn advance_wall_clock_time(&self, advance: std::time::Duration) -> Result<()> {
        let mut core = self.core.borrow_mut();
        let millis = i64::try_from(advance.as_millis()).unwrap_or(i64::MAX);
        core.clock.set(core.clock.get().saturating_add(millis));
        for task in core.tasks.values_mut() {
            task.punctuate_wall_clock()?;
            task.flush()?;
        }
        core.route_outputs()
    }

    /// Records dropped on purpose so far: late for their window, undeserializable under
    /// log-and-continue, null keys in aggregations (what `streams_task_dropped_records_total`
    /// counts, over all reasons).
    pub fn dropped_records(&self) -> u64 {
        self.core.borrow().metrics.dropped_total()
    }

    /// The driver's wall-clock time in ms.
    pub fn wall_clock_time(&self) -> i64 {
        self.core.borrow().clock.get()
    }

    /// Names of the topics the topology has written to (outputs, repartition topics and
    /// changelogs, with internal topics under their full names).
    pub fn produced_topic_names(&self) -> Vec<String> {
        let mut names: Vec<_> = self.core.borrow().topics.keys().cloned().collect();
        names.sort();
        names
    }

    /// The physical name of an internal topic: `<application.id>-<topic>`.
    pub fn internal_topic_name(&self, topic: &str) -> String {
        let core = self.core.borrow();
        core.topology.physical_topic(&core.application_id, topic)
    }

    /// Closes every task cleanly (flushes stores and writes checkpoints).
    pub fn close(self) -> Result<()> {
        let mut core = self.core.borrow_mut();
        let mut first = None;
        for task in core.tasks.values_mut() {
            if let Err(e) = task.close(true) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl DriverCore {
    /// Pipes one raw record into `topic` and processes it, then flushes the tasks (as Kafka
    /// Streams' driver commits after every record, so cached updates come out at once) and
    /// feeds everything written to topics the topology reads (repartition topics) back in,
    /// until nothing is left.
    pub(crate) fn pipe(&mut self, topic: &str, record: CapturedRecord) -> Result<()> {
        self.pending.push_back((topic.to_string(), record));
        self.route_outputs()
    }

    fn process_one(&mut self, topic: &str, record: &CapturedRecord) -> Result<()> {
        if self.globals.topics().any(|t| t == topic) {
            let offset = self.offsets.entry(topic.to_string()).or_insert(0);
            let at = *offset;
            *offset += 1;
            return self.globals.apply(
                topic,
                0,
                at,
                record.key.as_deref(),
                record.value.as_deref(),
                record.timestamp,
            );
        }
        let Some(&sub) = self.readers.get(topic) else {
            return Err(Error::IllegalState(format!(
                "no source reads topic `{topic}`"
            )));
        };
        let offset = self.offsets.entry(topic.to_string()).or_insert(0);
        let raw = RawRecord {
            topic,
            partition: 0,
            offset: *offset,
            timestamp: record.timestamp,
            key: record.key.as_deref(),
            value: record.value.as_deref(),
            headers: record.headers.clone(),
        };
        *offset += 1;
        let task = self
            .tasks
            .get_mut(&sub)
            .ok_or_else(|| Error::IllegalState(format!("no task for sub-topology {sub}")))?;
        task.process(&raw)?;
        task.flush()
    }

    /// Collects what the tasks sent, queues what the topology reads, and processes the queue.
    pub(crate) fn route_outputs(&mut self) -> Result<()> {
        loop {
            for (out_topic, out) in self.collector.sent.borrow_mut().drain(..) {
                if self.readers.contains_key(&out_topic) {
                    self.pending.push_back((out_topic.clone(), out.clone()));
                }
                self.topics.entry(out_topic).or_default().push_back(out);
            }
            let Some((topic, record)) = self.pending.pop_front() else {
                return Ok(());
            };
            self.process_one(&topic, &record)?;
        }
    }

    pub(crate) fn read(&mut self, topic: &str) -> Option<CapturedRecord> {
        self.topics.get_mut(topic)?.pop_front()
    }

    pub(crate) fn remaining(&self, topic: &str) -> usize {
        self.topics.get(topic).map_or(0, VecDeque::len)
    }
}
