//! [`TaskManager`]: the tasks of one stream thread, created and closed as the consumer group
//! assigns and revokes partitions, fed with polled records, and committed.
//!
//! Here: the manager's state, closing tasks, restoration and shutdown. By idea: `rebalance`
//! (creating and closing tasks as partitions are assigned and revoked), `input` (the record
//! loop), `commit` (at-least-once commits), `transaction` (exactly-once commits) and
//! `recovery` (rebuilding a task whose store is corrupt).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use streams_state::CacheBudget;
use tracing::{debug, info};

use super::ThreadMetrics;
use super::instance::{InstanceShared, ThreadState};
use super::partition_group::PartitionGroup;
use super::plan::TopicPlan;
use super::producer::{KafkaCollector, StreamsProducer};
use super::restore::{RestoreClients, Restorer};
use super::task::Task;
use crate::error::ErrorPolicies;
use crate::{Error, Result, TaskId, Topology};

mod awaiting;
mod commit;
mod input;
mod offset_sender;
mod rebalance;
mod recovery;
mod transaction;

pub(crate) use commit::CommitOutcome;
use transaction::Transaction;

/// Settings the task manager keeps from the configuration.
pub(crate) struct ManagerSettings {
    pub(crate) application_id: String,
    pub(crate) app_dir: PathBuf,
    pub(crate) policies: Rc<ErrorPolicies>,
    /// Kafka Streams' internal emission throttles.
    pub(crate) emit_intervals: crate::config::EmitIntervals,
    pub(crate) commit_interval: Duration,
    pub(crate) thread_index: usize,
    /// `max.task.idle.ms`.
    pub(crate) max_task_idle_ms: i64,
    /// `buffered.records.per.partition`, when set.
    pub(crate) max_buffered: Option<usize>,
    /// This thread's share of `input.buffer.max.bytes`.
    pub(crate) max_buffered_bytes: usize,
    pub(crate) restore_listener: Arc<dyn super::StateRestoreListener>,
    /// This thread's share of `statestore.cache.max.bytes` (0: no caching).
    pub(crate) cache_bytes: usize,
    /// This thread's share of `statestore.uncommitted.max.bytes`.
    pub(crate) uncommitted_max_bytes: usize,
    pub(crate) globals: Arc<crate::state::GlobalStores>,
    /// The instance's RocksDB block cache and config setter.
    pub(crate) rocksdb: crate::state::RocksDbEnv,
    /// `processing.guarantee=exactly_once_v2`: the producer is transactional.
    pub(crate) exactly_once: bool,
    /// Exactly-once: how long a commit, with the abort and rewind that may follow it, may keep
    /// the thread from polling its consumer (half of `max.poll.interval.ms`): past it the
    /// thread gives up its tasks and rejoins ([`Error::TaskMigrated`](crate::Error)), rather
    /// than being dropped from the group while it waits on an unreachable cluster.
    pub(crate) txn_budget: Duration,
}

/// The tasks of one stream thread.
pub(crate) struct TaskManager {
    topology: Arc<Topology>,
    plan: Arc<TopicPlan>,
    settings: ManagerSettings,
    metrics: ThreadMetrics,
    shared: Arc<InstanceShared>,
    producer: Arc<StreamsProducer>,
    collector: Rc<KafkaCollector>,
    restorer: Restorer,
    cache: Option<CacheBudget>,
    tasks: BTreeMap<TaskId, Task>,
    /// Each task's input partitions: records buffered while it restores, or waiting for
    /// their turn in timestamp order.
    groups: rustc_hash::FxHashMap<TaskId, PartitionGroup>,
    /// Partitions paused because the thread buffers `input.buffer.max.bytes` of records, or
    /// their task holds `buffered.records.per.partition` of them.
    full: HashSet<(String, i32)>,
    /// Offsets last committed per input partition.
    committed: HashMap<(String, i32), i64>,
    last_commit: Instant,
    /// An error raised inside a rebalance callback, reported by the next loop turn.
    pending_error: Option<Error>,
    /// Exactly-once: the producer's transaction.
    txn: Option<Transaction>,
    /// Exactly-once: when the commit (or abort and rewind) under way must end.
    txn_deadline: Instant,
    /// Tasks of which only some input partitions are assigned yet (the next-generation group
    /// protocol hands partitions over one at a time): their partitions stay paused, and the
    /// task is not created, until the rest arrive, so that one task never runs on two
    /// members at once.
    incomplete: BTreeMap<TaskId, Vec<(String, i32)>>,
    /// Tasks not created yet because the brokers did not answer (see `awaiting`).
    awaiting: BTreeMap<TaskId, awaiting::Awaiting>,
    /// The partitions being revoked, during the revocation callback (still in the consumer's
    /// assignment until it returns).
    revoking: HashSet<(String, i32)>,
}

impl TaskManager {
    pub(crate) fn new(
        topology: Arc<Topology>,
        plan: Arc<TopicPlan>,
        settings: ManagerSettings,
        metrics: ThreadMetrics,
        shared: Arc<InstanceShared>,
        producer: Arc<StreamsProducer>,
        restore: RestoreClients,
    ) -> Self {
        let cache = (settings.cache_bytes > 0).then(|| CacheBudget::new(settings.cache_bytes));
        let restorer = Restorer::new(
            restore,
            settings.restore_listener.clone(),
            metrics.instance.clone(),
            shared.clone(),
        );
        let settings_eos = settings.exactly_once;
        TaskManager {
            cache,
            topology,
            plan,
            settings,
            metrics,
            shared,
            collector: Rc::new(KafkaCollector::new(producer.clone())),
            producer,
            restorer,
            tasks: BTreeMap::new(),
            groups: rustc_hash::FxHashMap::default(),
            full: HashSet::new(),
            committed: HashMap::new(),
            last_commit: Instant::now(),
            pending_error: None,
            txn: settings_eos.then(Transaction::default),
            txn_deadline: Instant::now(),
            incomplete: BTreeMap::new(),
            awaiting: BTreeMap::new(),
            revoking: HashSet::new(),
        }
    }

    /// Every input partition of task `id`: partition `id.partition` of each source topic of
    /// its sub-topology.
    fn input_partitions(&self, id: TaskId) -> Vec<(String, i32)> {
        let mut inputs: Vec<(String, i32)> = self
            .plan
            .topic_to_subtopology
            .iter()
            .filter(|(_, sub)| **sub == id.subtopology)
            .map(|(topic, _)| (topic.clone(), id.partition))
            .collect();
        inputs.sort();
        inputs
    }

    fn task_of(&self, topic: &str, partition: i32) -> Option<TaskId> {
        self.plan
            .topic_to_subtopology
            .get(topic)
            .map(|&sub| TaskId::new(sub, partition))
    }

    /// Adds what the tasks processed since the last call to the thread's `process_total`
    /// (tasks count in plain cells, so that a record costs one atomic add, not two).
    pub(crate) fn flush_metrics(&self) {
        let processed: u64 = self.tasks.values().map(Task::take_processed).sum();
        self.metrics.process_total.inc_by(processed);
    }

    pub(crate) fn is_restoring(&self) -> bool {
        !self.restorer.is_idle()
    }

    /// Whether restoration has changelog records to read now (not only a transaction open on
    /// a changelog to wait for): the thread then polls its consumer without waiting.
    pub(crate) fn is_reading_changelogs(&self) -> bool {
        self.restorer.is_reading()
    }

    pub(crate) fn take_pending_error(&mut self) -> Option<Error> {
        self.pending_error.take()
    }

    fn set_thread_state(&self, state: ThreadState) {
        self.shared
            .set_thread_state(self.settings.thread_index, state);
    }

    fn publish_tasks(&self) {
        self.shared.set_thread_tasks(
            self.settings.thread_index,
            self.tasks.keys().copied().collect(),
        );
    }

    fn close_tasks(&mut self, ids: &[TaskId], clean: bool) -> Result<()> {
        let mut first = None;
        for id in ids {
            self.restorer.remove(*id)?;
            self.groups.remove(id);
            self.full.retain(|(topic, partition)| {
                *partition != id.partition
                    || self.plan.topic_to_subtopology.get(topic) != Some(&id.subtopology)
            });
            self.shared.unregister_stores(*id);
            self.shared.set_task_status(*id, None);
            if let Some(mut task) = self.tasks.remove(id) {
                self.metrics.process_total.inc_by(task.take_processed());
                self.committed.retain(|(topic, partition), _| {
                    self.plan.topic_to_subtopology.get(topic.as_str()) != Some(&id.subtopology)
                        || *partition != id.partition
                });
                let started = std::time::Instant::now();
                if let Err(e) = task.close(clean) {
                    first.get_or_insert(e);
                }
                let took = started.elapsed();
                if took >= std::time::Duration::from_secs(1) {
                    // Closing flushes the stores' memtables (RocksDB runs without a WAL).
                    info!(task = %id, clean, "a slow task close: {} ms", took.as_millis());
                } else {
                    debug!(task = %id, clean, "task closed");
                }
            }
            self.shared.unclaim(*id);
        }
        self.publish_tasks();
        first.map_or(Ok(()), Err)
    }

    /// Continues restoration; tasks that finish start processing, beginning with what was
    /// buffered for them.
    pub(crate) fn restore<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Result<()> {
        self.retry_awaiting(consumer)?;
        if !self.is_restoring() {
            return Ok(());
        }
        self.begin_transaction()?;
        let done = self.restorer.step(&mut self.tasks)?;
        let mut resume = TopicPartitionList::new();
        for id in done {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            task.initialize()?;
            for (topic, &sub) in &self.plan.topic_to_subtopology {
                if sub == id.subtopology {
                    resume.add_partition(topic, id.partition);
                }
            }
        }
        if resume.count() > 0 {
            // Only partitions this consumer holds can be resumed.
            let assigned = consumer
                .assignment()
                .map_err(|e| Error::kafka("reading the assignment", e))?;
            let mut held = TopicPartitionList::new();
            for e in resume.elements() {
                if assigned.find_partition(e.topic(), e.partition()).is_some() {
                    held.add_partition(e.topic(), e.partition());
                }
            }
            consumer
                .resume(&held)
                .map_err(|e| Error::kafka("resuming restored partitions", e))?;
        }
        if !self.is_restoring() && !self.is_awaiting() {
            self.set_thread_state(ThreadState::Running);
        }
        self.drain_all(consumer)
    }

    /// Clean shutdown: commit, then close every task with a checkpoint (without one if the
    /// final transaction aborted). If the commit fails, every task is closed without a
    /// checkpoint before the error is returned.
    pub(crate) fn shutdown<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        let started = std::time::Instant::now();
        let outcome = match self.commit(consumer) {
            Ok(outcome) => outcome,
            Err(e) => {
                self.close_dirty();
                return Err(self.producer_failure(&e).unwrap_or(e));
            }
        };
        let committed = started.elapsed();
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        let closed = self.close_tasks(&ids, outcome == CommitOutcome::Committed);
        // At `info`: a slow shutdown shows which phase took the time (this, or leaving the
        // group after it).
        info!(
            tasks = ids.len(),
            "shutdown: final commit ({outcome:?}) in {} ms, tasks closed in {} ms",
            committed.as_millis(),
            (started.elapsed() - committed).as_millis()
        );
        closed
    }

    /// After an error: close every task without committing or checkpointing.
    pub(crate) fn close_dirty(&mut self) {
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        let _ = self.close_tasks(&ids, false);
    }
}
