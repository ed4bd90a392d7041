//! The metrics of an application instance, after Kafka Streams' metrics in Prometheus style:
//! `streams_<group>_<name>{labels}`, every series with the const label `application_id`.
//!
//! [`StreamsMetrics`] holds the instance's metric families, registered in one registry (the
//! user's, or one of its own). The record loop never looks a series up: a stream thread
//! resolves its series once ([`ThreadMetrics`]), a task its own when it is created
//! ([`TaskMetrics`]), a store its latencies when it opens ([`StoreMetrics`]). What is read
//! rather than counted (the client's state, RocksDB properties) is read at scrape time by
//! collectors that take no lock the record loop needs.
//!
//! # Layout
//! - `thread`: [`ThreadMetrics`] and the record loop's [`LoopMeter`] (sampled latencies).
//! - `task`: [`TaskMetrics`] and [`DropReason`].
//! - `store`: [`StoreMetrics`], state-store latencies and record-cache hits (`DEBUG` level).
//! - `restore`: [`RestoreMeter`], restoration progress per store.
//! - `client`: the collector of the client's state and alive threads.
//! - `rocksdb`: the collector of RocksDB properties of the open stores.
//! - `lag`: consumer lag from librdkafka's statistics.

use std::sync::{Arc, Mutex};

use prometheus::core::Collector;
use prometheus::{
    GaugeVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

use super::instance::InstanceShared;
use crate::config::RecordingLevel;
use crate::state::RocksDbEnv;
use crate::{Error, Result};

mod client;
mod lag;
mod restore;
mod rocksdb;
mod store;
mod task;
mod thread;

pub(crate) use client::ClientCollector;
pub(crate) use lag::ConsumerLag;
pub(crate) use restore::RestoreMeter;
pub(crate) use rocksdb::RocksDbCollector;
pub(crate) use store::StoreMetrics;
pub(crate) use task::{DropReason, TaskMetrics};
pub(crate) use thread::{LoopMeter, ThreadMetrics};

/// Latency buckets in seconds, 10 µs to 10 s in 1-2.5-5 steps: a record's processing takes
/// microseconds, a commit or a blocked poll up to seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// End-to-end latency buckets in seconds, 1 ms (record timestamps are in ms) to one hour (an
/// application catching up on a backlog).
const E2E_BUCKETS: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    300.0, 900.0, 3600.0,
];

/// The stream-thread families (label `thread`).
pub(crate) struct ThreadFamilies {
    pub(crate) process_total: IntCounterVec,
    pub(crate) process_rate: GaugeVec,
    pub(crate) poll_total: IntCounterVec,
    pub(crate) commit_total: IntCounterVec,
    pub(crate) punctuate_total: IntCounterVec,
    pub(crate) process_latency: HistogramVec,
    pub(crate) poll_latency: HistogramVec,
    pub(crate) commit_latency: HistogramVec,
    pub(crate) punctuate_latency: HistogramVec,
    pub(crate) production_errors: IntCounterVec,
    pub(crate) transactions_aborted: IntCounterVec,
    pub(crate) tasks_corrupted: IntCounterVec,
}

/// The task families (labels `thread`, `task`).
pub(crate) struct TaskFamilies {
    pub(crate) process_total: IntCounterVec,
    /// Also labelled `reason`.
    pub(crate) dropped_records: IntCounterVec,
    pub(crate) dead_lettered: IntCounterVec,
    pub(crate) e2e_latency: HistogramVec,
}

/// The state-store and record-cache families (labels `thread`, `task`, `store`).
pub(crate) struct StoreFamilies {
    pub(crate) put_latency: HistogramVec,
    pub(crate) get_latency: HistogramVec,
    pub(crate) range_latency: HistogramVec,
    pub(crate) delete_latency: HistogramVec,
    pub(crate) cache_hits: IntCounterVec,
    pub(crate) cache_misses: IntCounterVec,
    pub(crate) cache_hit_ratio: GaugeVec,
}

/// The restoration families (labels `task`, `store`).
pub(crate) struct RestoreFamilies {
    pub(crate) remaining: IntGaugeVec,
    pub(crate) records: IntCounterVec,
    pub(crate) rate: GaugeVec,
}

/// The metric families of one instance, registered in its registry.
pub(crate) struct StreamsMetrics {
    registry: Registry,
    application_id: String,
    level: RecordingLevel,
    pub(crate) threads_replaced: IntCounter,
    /// Stream threads that gave their tasks up and rejoined the group (fenced, or out of time
    /// for a transaction: Kafka Streams' `TaskMigratedException`).
    pub(crate) threads_rejoined: IntCounter,
    pub(crate) thread: ThreadFamilies,
    pub(crate) task: TaskFamilies,
    pub(crate) store: StoreFamilies,
    pub(crate) restore: RestoreFamilies,
    /// `streams_consumer_records_lag{thread,topic,partition}`.
    pub(crate) records_lag: IntGaugeVec,
    /// Everything registered, to unregister when the instance goes (so that a registry
    /// outliving it can take the metrics of the next instance of the same application).
    registered: Mutex<Vec<Box<dyn Collector>>>,
}

impl std::fmt::Debug for StreamsMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsMetrics")
            .field("application_id", &self.application_id)
            .field("level", &self.level)
            .finish()
    }
}

fn registry_error(e: prometheus::Error) -> Error {
    Error::Config {
        key: "metrics registry".into(),
        reason: e.to_string(),
    }
}

/// Builds the families of one instance; each builder call names the group and the metric.
struct Families<'a> {
    application_id: &'a str,
    collectors: Vec<Box<dyn Collector>>,
}

impl Families<'_> {
    fn opts(&self, group: &str, name: &str, help: &str) -> Opts {
        Opts::new(name, help)
            .namespace("streams")
            .subsystem(group)
            .const_label("application_id", self.application_id)
    }

    fn keep<C: Collector + Clone + 'static>(&mut self, metric: C) -> C {
        self.collectors.push(Box::new(metric.clone()));
        metric
    }

    fn counter(&mut self, group: &str, name: &str, help: &str) -> Result<IntCounter> {
        let metric = IntCounter::with_opts(self.opts(group, name, help)).map_err(registry_error)?;
        Ok(self.keep(metric))
    }

    fn counters(
        &mut self,
        group: &str,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntCounterVec> {
        let metric =
            IntCounterVec::new(self.opts(group, name, help), labels).map_err(registry_error)?;
        Ok(self.keep(metric))
    }

    fn gauges(&mut self, group: &str, name: &str, help: &str, labels: &[&str]) -> Result<GaugeVec> {
        let metric = GaugeVec::new(self.opts(group, name, help), labels).map_err(registry_error)?;
        Ok(self.keep(metric))
    }

    fn int_gauges(
        &mut self,
        group: &str,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntGaugeVec> {
        let metric =
            IntGaugeVec::new(self.opts(group, name, help), labels).map_err(registry_error)?;
        Ok(self.keep(metric))
    }

    fn histograms(
        &mut self,
        group: &str,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> Result<HistogramVec> {
        let opts = HistogramOpts::from(self.opts(group, name, help)).buckets(buckets.to_vec());
        let metric = HistogramVec::new(opts, labels).map_err(registry_error)?;
        Ok(self.keep(metric))
    }
}

const THREAD: &[&str] = &["thread"];
const TASK: &[&str] = &["thread", "task"];
const STORE: &[&str] = &["thread", "task", "store"];
const CHANGELOG: &[&str] = &["task", "store"];

impl StreamsMetrics {
    /// The families of an instance of `application_id` recording at `level`, registered in
    /// `registry`.
    pub(crate) fn new(
        application_id: &str,
        level: RecordingLevel,
        registry: Registry,
    ) -> Result<Self> {
        let mut f = Families {
            application_id,
            collectors: Vec::new(),
        };
        let info = f.int_gauges(
            "client",
            "info",
            "Always 1; the label `version` is the streams-core version.",
            &["version"],
        )?;
        info.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        let threads_replaced = f.counter(
            "client",
            "threads_replaced_total",
            "Stream threads replaced after an uncaught error.",
        )?;
        let threads_rejoined = f.counter(
            "client",
            "threads_rejoined_total",
            "Stream threads that gave their tasks up and rejoined the group (fenced producer, or a transaction out of time).",
        )?;
        let t = "stream_thread";
        let thread = ThreadFamilies {
            process_total: f.counters(t, "process_total", "Records processed.", THREAD)?,
            process_rate: f.gauges(
                t,
                "process_rate",
                "Records processed per second, over the last second or so.",
                THREAD,
            )?,
            poll_total: f.counters(t, "poll_total", "Polls of the consumer.", THREAD)?,
            commit_total: f.counters(t, "commit_total", "Commits of the thread's tasks.", THREAD)?,
            punctuate_total: f.counters(t, "punctuate_total", "Punctuations fired.", THREAD)?,
            process_latency: f.histograms(
                t,
                "process_latency_seconds",
                "Time to process one record (sampled: every 16th record).",
                THREAD,
                LATENCY_BUCKETS,
            )?,
            poll_latency: f.histograms(
                t,
                "poll_latency_seconds",
                "Time one poll of the consumer took, waiting included (sampled: every 16th poll).",
                THREAD,
                LATENCY_BUCKETS,
            )?,
            commit_latency: f.histograms(
                t,
                "commit_latency_seconds",
                "Time to commit the thread's tasks.",
                THREAD,
                LATENCY_BUCKETS,
            )?,
            punctuate_latency: f.histograms(
                t,
                "punctuate_latency_seconds",
                "Time one punctuation took.",
                THREAD,
                LATENCY_BUCKETS,
            )?,
            production_errors: f.counters(
                t,
                "production_errors_total",
                "Output records that could not be serialized or produced, whatever the policy did with them.",
                THREAD,
            )?,
            transactions_aborted: f.counters(
                t,
                "transactions_aborted_total",
                "Exactly-once transactions aborted (their tasks rolled back and restored).",
                THREAD,
            )?,
            tasks_corrupted: f.counters(
                t,
                "tasks_corrupted_total",
                "Tasks whose state was found corrupt while running, wiped and restored from their changelogs.",
                THREAD,
            )?,
        };
        let task = TaskFamilies {
            process_total: f.counters("task", "process_total", "Records processed.", TASK)?,
            dropped_records: f.counters(
                "task",
                "dropped_records_total",
                "Records dropped, by reason: late, null_key, null_value, bad_input, negative_timestamp, timestamp_out_of_range, processing_error.",
                &["thread", "task", "reason"],
            )?,
            dead_lettered: f.counters(
                "task",
                "dead_lettered_total",
                "Input records sent to the dead-letter topic.",
                TASK,
            )?,
            e2e_latency: f.histograms(
                "task",
                "record_e2e_latency_seconds",
                "Wall-clock time when a record's processing ended minus its timestamp (sampled: every 16th record).",
                TASK,
                E2E_BUCKETS,
            )?,
        };
        let s = "state";
        let store = StoreFamilies {
            put_latency: f.histograms(
                s,
                "put_latency_seconds",
                "Time of a put (or put_all) into a store (DEBUG level).",
                STORE,
                LATENCY_BUCKETS,
            )?,
            get_latency: f.histograms(
                s,
                "get_latency_seconds",
                "Time of a get from a store (DEBUG level).",
                STORE,
                LATENCY_BUCKETS,
            )?,
            range_latency: f.histograms(
                s,
                "range_latency_seconds",
                "Time of a range or prefix scan of a store, from its start to the end of its iteration (DEBUG level).",
                STORE,
                LATENCY_BUCKETS,
            )?,
            delete_latency: f.histograms(
                s,
                "delete_latency_seconds",
                "Time of a delete from a store (DEBUG level).",
                STORE,
                LATENCY_BUCKETS,
            )?,
            cache_hits: f.counters(
                "record_cache",
                "hits_total",
                "Reads the record cache answered (DEBUG level).",
                STORE,
            )?,
            cache_misses: f.counters(
                "record_cache",
                "misses_total",
                "Reads the record cache passed to the store (DEBUG level).",
                STORE,
            )?,
            cache_hit_ratio: f.gauges(
                "record_cache",
                "hit_ratio",
                "Hits over reads of the record cache since the task started (DEBUG level).",
                STORE,
            )?,
        };
        let restore = RestoreFamilies {
            remaining: f.int_gauges(
                "restore",
                "remaining_records",
                "Changelog records left to restore into a store.",
                CHANGELOG,
            )?,
            records: f.counters(
                "restore",
                "records_total",
                "Changelog records restored into a store.",
                CHANGELOG,
            )?,
            rate: f.gauges(
                "restore",
                "rate",
                "Changelog records restored into a store per second, over the last restore step.",
                CHANGELOG,
            )?,
        };
        let records_lag = f.int_gauges(
            "consumer",
            "records_lag",
            "Records of an input partition after the committed offset, as librdkafka's statistics report them.",
            &["thread", "topic", "partition"],
        )?;
        let metrics = StreamsMetrics {
            registry,
            application_id: application_id.to_string(),
            level,
            threads_replaced,
            threads_rejoined,
            thread,
            task,
            store,
            restore,
            records_lag,
            registered: Mutex::new(Vec::new()),
        };
        for collector in f.collectors {
            metrics.register(collector)?;
        }
        Ok(metrics)
    }

    /// Registers `collector` in the instance's registry, until the instance goes.
    pub(crate) fn register(&self, collector: Box<dyn Collector>) -> Result<()> {
        // The registry keeps its own box; ours unregisters it by its descriptions.
        let descs: Vec<prometheus::core::Desc> = collector.desc().into_iter().cloned().collect();
        self.registry.register(collector).map_err(registry_error)?;
        self.registered
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Box::new(Described(descs)));
        Ok(())
    }

    /// The registry the metrics are in.
    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The instance's `metrics.recording.level`.
    pub(crate) fn level(&self) -> RecordingLevel {
        self.level
    }

    /// Records dropped so far, over every task and reason (the test driver's count).
    #[cfg(feature = "test-util")]
    pub(crate) fn dropped_total(&self) -> u64 {
        self.task
            .dropped_records
            .collect()
            .iter()
            .flat_map(|family| family.get_metric())
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    }
}

impl Drop for StreamsMetrics {
    fn drop(&mut self) {
        let registered =
            std::mem::take(self.registered.get_mut().unwrap_or_else(|p| p.into_inner()));
        for collector in registered {
            // Already gone if the user unregistered it: nothing to do then.
            let _ = self.registry.unregister(collector);
        }
    }
}

/// Stands for a registered collector when unregistering it: the registry finds collectors by
/// their descriptions.
struct Described(Vec<prometheus::core::Desc>);

impl Collector for Described {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        self.0.iter().collect()
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        Vec::new()
    }
}

/// The metrics of a new instance configured by `config`: in the user's registry or a new one,
/// with the collectors of the client's state (from `shared`) and of RocksDB properties (of the
/// stores `shared` lists, and the block cache of `rocksdb`).
pub(crate) fn instance_metrics(
    config: &crate::StreamsConfig,
    shared: &Arc<InstanceShared>,
    rocksdb: &RocksDbEnv,
) -> Result<Arc<StreamsMetrics>> {
    let app_id = config.application_id()?;
    let registry = config.metrics_registry().cloned().unwrap_or_default();
    let metrics = StreamsMetrics::new(app_id, config.metrics_recording_level()?, registry)?;
    let client = ClientCollector::new(app_id, Arc::downgrade(shared))?;
    metrics.register(Box::new(client))?;
    let rocksdb = RocksDbCollector::new(
        app_id,
        Arc::downgrade(shared),
        rocksdb.block_cache().clone(),
        rocksdb.write_buffers().clone(),
    )?;
    metrics.register(Box::new(rocksdb))?;
    Ok(Arc::new(metrics))
}
