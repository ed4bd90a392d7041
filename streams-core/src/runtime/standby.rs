//! Standby replicas (`num.standby.replicas`): warm copies of other instances' task state.
//!
//! One standby thread per instance (when it has standby replicas or an `application.server`)
//! announces the instance in the [registry](super::registry), tells the instance what the
//! registry says for [key queries](super::metadata),
//! computes the [placement](super::registry::place_standbys) every half second, and keeps the
//! stores of the tasks placed here up to date by reading their changelogs, as restoration
//! does, checkpointing as it goes. When the group moves one of those tasks to this instance,
//! its stream thread claims it: the standby closes it with a checkpoint, and the active task
//! restores only what the changelog gained since.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{info, warn};

use super::changelog_reader::ChangelogReader;
use super::clients::{
    LogEndReader, changelog_reader, client_config, log_end_reader, watermarks_once,
};
use super::instance::InstanceShared;
use super::plan::TopicPlan;
use super::registry::{Registry, place_standbys};
use super::task::{ChangelogPartition, Task, TaskEnv};
use super::{RecordCollector, StreamsMetrics, TaskKind, TaskStatus, ThreadMetrics, WallClock};
use crate::config::ClientKind;
use crate::processor::Headers;
use crate::{Error, Result, StreamsConfig, TaskId, Topology};

/// How often the placement is recomputed (and the committed offsets that bound the reading
/// of source tables' input topics read again).
const RECONCILE_EVERY: Duration = Duration::from_millis(500);
/// How long reading the group's committed offsets may take.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the standby thread needs.
pub(crate) struct StandbySpec {
    pub(crate) topology: Arc<Topology>,
    pub(crate) plan: Arc<TopicPlan>,
    pub(crate) config: StreamsConfig,
    pub(crate) metrics: Arc<StreamsMetrics>,
    pub(crate) shared: Arc<InstanceShared>,
    pub(crate) globals: Arc<crate::state::GlobalStores>,
    /// The instance's RocksDB block cache and config setter.
    pub(crate) rocksdb: crate::state::RocksDbEnv,
    pub(crate) process_id: String,
    pub(crate) replicas: usize,
}

/// Standbys never produce: a collector that refuses.
struct NoOutput;

impl RecordCollector for NoOutput {
    fn send(
        &self,
        topic: &str,
        partition: Option<i32>,
        _: Option<&[u8]>,
        _: Option<&[u8]>,
        _: i64,
        _: &Headers,
    ) -> Result<()> {
        Err(Error::Production {
            topic: topic.to_string(),
            partition: partition.unwrap_or(-1),
            reason: "a standby task does not produce".into(),
        })
    }
}

/// A standby task: a task that is never initialized, only restored into, continuously.
struct Standby {
    task: Task,
    /// Its changelog partitions, with the offset to start reading each at, and where to stop
    /// for now: a source table's input topic is read up to the group's committed offset
    /// only, as Kafka Streams' standbys read it (its later records may yet be reprocessed).
    changelogs: ChangelogRanges,
}

/// Changelog partitions, each with the offset to start reading it at and where to stop.
type ChangelogRanges = Vec<(ChangelogPartition, i64, Option<i64>)>;

/// Starts the standby thread.
pub(crate) fn spawn(spec: StandbySpec) -> Result<JoinHandle<()>> {
    let alive = spec.shared.thread_alive();
    std::thread::Builder::new()
        .name("standby-thread".into())
        .spawn(move || {
            let _alive = alive;
            // A failure here costs warm state, not correctness: log, back off, start over.
            while !spec.shared.shutdown_requested() {
                match run(&spec) {
                    Ok(()) => return,
                    Err(e) => {
                        warn!("standby thread failed, restarting in 1 s: {}", e.report());
                        spec.shared.wait_for_shutdown(Duration::from_secs(1));
                    }
                }
            }
        })
        .map_err(|e| Error::io("standby-thread", e))
}

/// The tasks that have state with a changelog: the ones worth a standby.
fn stateful_tasks(topology: &Topology, plan: &TopicPlan) -> BTreeSet<TaskId> {
    topology
        .subtopologies()
        .iter()
        .filter(|sub| sub.stores.iter().any(|s| topology.store_rebuildable(s)))
        .flat_map(|sub| {
            let count = plan.task_counts.get(&sub.id).copied().unwrap_or(0);
            (0..count).map(move |p| TaskId::new(sub.id, p))
        })
        .collect()
}

struct Runner<'a> {
    spec: &'a StandbySpec,
    reader: ChangelogReader,
    /// A consumer of the application's group that never joins it: it reads the group's
    /// committed offsets, which bound what the standbys read of source tables' input topics.
    group_offsets: BaseConsumer,
    standbys: BTreeMap<TaskId, Standby>,
    /// Under exactly-once, a `read_uncommitted` client for the changelogs' log ends.
    log_ends: LogEndReader,
    exactly_once: bool,
    app_id: String,
    app_dir: std::path::PathBuf,
    collector: Rc<dyn RecordCollector>,
    policies: Rc<crate::error::ErrorPolicies>,
    /// Standby tasks are not metered: their series live in a registry no one reads, so that
    /// the instance's show only what its stream threads do.
    metrics: ThreadMetrics,
}

fn run(spec: &StandbySpec) -> Result<()> {
    let app_id = spec.config.application_id()?.to_string();
    let mut producer = client_config(&spec.config, ClientKind::Producer);
    producer.set("client.id", format!("{app_id}-registry-producer"));
    let mut reader = client_config(&spec.config, ClientKind::RestoreConsumer);
    reader
        .set("client.id", format!("{app_id}-registry-consumer"))
        .set("group.id", format!("{app_id}-registry-unused"))
        .set("enable.auto.commit", "false");
    let mut registry = Registry::new(
        &app_id,
        &spec.process_id,
        spec.config.application_server()?,
        &producer,
        &reader,
    )?;
    let consumer = changelog_reader(
        &spec.config,
        &format!("{app_id}-standby-consumer"),
        &format!("{app_id}-standby-unused"),
        "standby consumer",
    )?;
    let group_offsets = changelog_reader(
        &spec.config,
        &format!("{app_id}-standby-offsets"),
        &app_id,
        "standby reader of committed offsets",
    )?;
    let unread = StreamsMetrics::new(&app_id, spec.metrics.level(), prometheus::Registry::new())?;
    let metrics = ThreadMetrics::new(&Arc::new(unread), "standby");
    let mut runner = Runner {
        spec,
        reader: ChangelogReader::new(consumer, false),
        group_offsets,
        standbys: BTreeMap::new(),
        log_ends: log_end_reader(&spec.config, &format!("{app_id}-standby-log-ends")),
        exactly_once: spec.config.exactly_once()?,
        app_dir: spec.config.state_dir().join(&app_id),
        app_id,
        collector: Rc::new(NoOutput),
        policies: Rc::new(spec.config.error_policies()?),
        metrics,
    };
    let tasks = stateful_tasks(&spec.topology, &spec.plan);
    let ttl = spec
        .config
        .get("consumer.session.timeout.ms")
        .or_else(|| spec.config.get("session.timeout.ms"))
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(Duration::from_secs(45), Duration::from_millis)
        .max(Duration::from_secs(3));
    let mut last_reconcile: Option<Instant> = None;
    let result = (|| -> Result<()> {
        while !spec.shared.shutdown_requested() {
            if last_reconcile.is_none_or(|t| t.elapsed() >= RECONCILE_EVERY) {
                last_reconcile = Some(Instant::now());
                registry.refresh();
                let now_ms = WallClock::System.now_ms();
                spec.shared.set_instances(registry.metadata(now_ms, ttl));
                let local = spec.shared.tasks_in_use();
                let mut live = registry.live(now_ms, ttl);
                live.insert(spec.process_id.clone(), spec.shared.tasks());
                let placed = place_standbys(&tasks, &live, spec.replicas);
                let desired: BTreeSet<TaskId> = placed
                    .get(&spec.process_id)
                    .map(|s| s.difference(&local).copied().collect())
                    .unwrap_or_default();
                runner.reconcile(&desired)?;
                runner.advance_source_limits()?;
                let standby: BTreeSet<TaskId> = runner.standbys.keys().copied().collect();
                registry.announce(&spec.shared.tasks(), &standby)?;
            }
            runner.follow(Duration::from_millis(100))?;
        }
        Ok(())
    })();
    runner.close_all();
    registry.leave();
    result
}

impl Runner<'_> {
    /// Opens the standbys placed here, closes the others and those claimed by a stream thread.
    fn reconcile(&mut self, desired: &BTreeSet<TaskId>) -> Result<()> {
        let claimed = self.spec.shared.tasks_in_use();
        let obsolete: Vec<TaskId> = self
            .standbys
            .keys()
            .filter(|id| !desired.contains(id) || claimed.contains(id))
            .copied()
            .collect();
        let mut changed = !obsolete.is_empty();
        for id in obsolete {
            if let Some(standby) = self.standbys.remove(&id) {
                info!(task = %id, "standby closed");
                self.spec.shared.unregister_standby_stores(id);
                self.spec.shared.set_task_status(id, None);
                for (changelog, _, _) in &standby.changelogs {
                    self.reader
                        .remove(&(changelog.topic.clone(), changelog.partition));
                }
                close(standby, true);
            }
        }
        for id in desired {
            if self.standbys.contains_key(id) || claimed.contains(id) {
                continue;
            }
            match self.open(*id) {
                Ok(standby) => {
                    info!(task = %id, "standby opened");
                    let mut status = TaskStatus::new(*id, TaskKind::Standby, None);
                    for (changelog, start, end) in &standby.changelogs {
                        let key = (changelog.topic.clone(), changelog.partition);
                        self.reader.add(key, *start, *end);
                        status
                            .changelog(&changelog.store, &changelog.topic, changelog.partition)
                            .position = *start;
                    }
                    self.spec.shared.set_task_status(*id, Some(status));
                    self.spec
                        .shared
                        .register_standby_stores(*id, standby.task.query_handles());
                    self.standbys.insert(*id, standby);
                    changed = true;
                }
                Err(e) => warn!(task = %id, "cannot open a standby yet: {}", e.report()),
            }
        }
        if changed {
            self.reader.assign()?;
        }
        Ok(())
    }

    /// Opens the standby of task `id`. A checkpoint past the end of its changelog (a corrupt
    /// state directory, or changelogs deleted and made anew by a reset without clean-up) means
    /// the store holds state the changelog no longer has, and reading would start at an offset
    /// the changelog does not reach: as Kafka Streams treats the task as corrupt, its state is
    /// wiped and its changelogs read from their start.
    fn open(&self, id: TaskId) -> Result<Standby> {
        let task = self.create_task(id)?;
        let (changelogs, past_end) = self.changelog_starts(&task)?;
        let Some(reason) = past_end else {
            return Ok(Standby { task, changelogs });
        };
        warn!(
            task = %id,
            "a standby's {reason}: wiping its state to read its changelogs from the start"
        );
        let mut task = task;
        task.close(false)?;
        drop(task);
        super::state_dir::wipe(&self.app_dir.join(id.to_string()))?;
        let task = self.create_task(id)?;
        match self.changelog_starts(&task)? {
            (changelogs, None) => Ok(Standby { task, changelogs }),
            (_, Some(reason)) => Err(Error::IllegalState(format!(
                "standby {id} still has a {reason} after its state was wiped"
            ))),
        }
    }

    fn create_task(&self, id: TaskId) -> Result<Task> {
        let subs = self.spec.topology.subtopologies();
        let sub = subs
            .iter()
            .find(|s| s.id == id.subtopology)
            .ok_or_else(|| Error::IllegalState(format!("no sub-topology for task {id}")))?;
        let env = TaskEnv {
            application_id: &self.app_id,
            app_dir: &self.app_dir,
            collector: self.collector.clone(),
            metrics: self.metrics.clone(),
            policies: self.policies.clone(),
            emit_intervals: self.spec.config.emit_intervals()?,
            internal_topics: &self.spec.plan.internal_names,
            cache: None,
            clock: WallClock::System,
            globals: self.spec.globals.clone(),
            rocksdb: &self.spec.rocksdb,
            // Never wait on an active task's directory: it is not ours to keep warm.
            lock_wait: Duration::ZERO,
            exactly_once: self.spec.config.exactly_once()?,
        };
        Task::new(&self.spec.topology, sub, id.partition, &env)
    }

    /// Where to start and stop reading each changelog of `task`, and the first checkpoint
    /// found past its changelog's end (described), if any.
    fn changelog_starts(&self, task: &Task) -> Result<(ChangelogRanges, Option<String>)> {
        let sources: Vec<(String, i32)> = task
            .changelogs()
            .iter()
            .filter(|(c, _)| c.is_source())
            .map(|(c, _)| (c.topic.clone(), c.partition))
            .collect();
        let committed = self.committed(&sources)?;
        let mut changelogs = Vec::new();
        let mut past_end = None;
        for (changelog, checkpoint) in task.changelogs() {
            // One request: when the brokers cannot answer (a leader moving or down), the
            // standby opens at a later reconcile, and the thread goes on releasing the
            // standbys that stream threads claim meanwhile.
            let (low, high) = watermarks_once(
                self.reader.consumer(),
                &changelog.topic,
                changelog.partition,
            )?;
            if let Some(offset) = checkpoint
                && past_end.is_none()
            {
                // Under exactly-once the reader's end is the last stable offset, which a
                // transaction left open on the changelog holds back before records the store
                // may hold: the log's own end is asked instead.
                let end = if self.exactly_once {
                    let ends = self.log_ends.consumer()?;
                    watermarks_once(ends, &changelog.topic, changelog.partition)?.1
                } else {
                    high
                };
                if offset >= end {
                    past_end = Some(format!(
                        "checkpoint offset {offset} of store `{}` is past the end ({end}) of {}-{}",
                        changelog.store, changelog.topic, changelog.partition
                    ));
                }
            }
            let start = checkpoint.map_or(low, |c| c.saturating_add(1).max(low));
            // Nothing committed yet: nothing of the input topic is the table's for sure.
            let end = changelog.is_source().then(|| {
                committed
                    .get(&(changelog.topic.clone(), changelog.partition))
                    .copied()
                    .unwrap_or(0)
            });
            changelogs.push((changelog, start, end));
        }
        Ok((changelogs, past_end))
    }

    /// The group's committed offsets of `partitions` (those without one left out).
    fn committed(&self, partitions: &[(String, i32)]) -> Result<BTreeMap<(String, i32), i64>> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let mut tpl = TopicPartitionList::new();
        for (topic, partition) in partitions {
            tpl.add_partition(topic, *partition);
        }
        let committed = self
            .group_offsets
            .committed_offsets(tpl, COMMITTED_TIMEOUT)
            .map_err(|e| Error::kafka("reading the group's committed offsets", e))?;
        Ok(committed
            .elements()
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(offset) => Some(((e.topic().to_string(), e.partition()), offset)),
                _ => None,
            })
            .collect())
    }

    /// Lets the standbys read source tables' input topics up to the offsets the group has
    /// committed since.
    fn advance_source_limits(&mut self) -> Result<()> {
        let sources: Vec<(String, i32)> = self
            .standbys
            .values()
            .flat_map(|s| s.changelogs.iter())
            .filter(|(c, _, _)| c.is_source())
            .map(|(c, _, _)| (c.topic.clone(), c.partition))
            .collect();
        // Not fatal: the standbys stay where they are until the next try.
        let committed = match self.committed(&sources) {
            Ok(committed) => committed,
            Err(e) => {
                warn!("standbys of source tables wait: {}", e.report());
                return Ok(());
            }
        };
        for (key, offset) in committed {
            self.reader.set_end(&key, offset)?;
        }
        Ok(())
    }

    /// Reads changelog records for up to `budget` and applies them to the standby stores.
    fn follow(&mut self, budget: Duration) -> Result<()> {
        if self.standbys.is_empty() || self.reader.all_caught_up() {
            // Nothing to follow: idle until the budget ends or shutdown is requested.
            self.spec.shared.wait_for_shutdown(budget);
            return Ok(());
        }
        let standbys = &mut self.standbys;
        self.reader.read(budget, |key, records, last| {
            let found = standbys.values_mut().find_map(|s| {
                let (changelog, _, _) = s
                    .changelogs
                    .iter()
                    .find(|(c, _, _)| c.topic == key.0 && c.partition == key.1)?;
                Some((changelog.clone(), &mut s.task))
            });
            match found {
                Some((changelog, task)) => task.restore(&changelog, records, last),
                None => Ok(()),
            }
        })?;
        for (id, standby) in &mut self.standbys {
            standby.task.maybe_checkpoint(false)?;
            let consumer = self.reader.consumer();
            let reader = &self.reader;
            self.spec.shared.update_task_status(*id, |status| {
                for (changelog, _, _) in &standby.changelogs {
                    let key = (changelog.topic.clone(), changelog.partition);
                    let progress =
                        status.changelog(&changelog.store, &changelog.topic, changelog.partition);
                    if let Some(next) = reader.position(&key) {
                        progress.position = next;
                    }
                    // The end as of the last fetch response: no request to the broker.
                    if let Ok(topic) = std::ffi::CString::new(changelog.topic.as_str())
                        && let Some((_, high)) =
                            super::clients::cached_watermarks(consumer, &topic, changelog.partition)
                    {
                        progress.end = Some(high);
                    }
                }
            });
        }
        Ok(())
    }

    fn close_all(&mut self) {
        for (id, standby) in std::mem::take(&mut self.standbys) {
            self.spec.shared.unregister_standby_stores(id);
            self.spec.shared.set_task_status(id, None);
            close(standby, true);
        }
    }
}

/// Closes a standby; `checkpoint` records how far it got, so that an active task (or the
/// next standby) on this instance restores only the rest.
fn close(mut standby: Standby, checkpoint: bool) {
    if checkpoint && let Err(e) = standby.task.maybe_checkpoint(true) {
        warn!(task = %standby.task.id(), "standby checkpoint failed: {}", e.report());
    }
    if let Err(e) = standby.task.close(false) {
        warn!(task = %standby.task.id(), "closing a standby failed: {}", e.report());
    }
}
