//! [`TaskManager`]: the tasks of one stream thread, created and closed as the consumer group
//! assigns and revokes partitions, fed with polled records, and committed.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::{Headers as _, Message};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use streams_state::CacheBudget;
use tracing::{debug, info, warn};

use super::StreamsMetrics;
use super::instance::{InstanceShared, ThreadState};
use super::node::RawRecord;
use super::partition_group::PartitionGroup;
use super::plan::TopicPlan;
use super::producer::{KafkaCollector, StreamsProducer};
use super::restore::Restorer;
use super::task::{Task, TaskEnv};
use super::task_context::WallClock;
use crate::error::ErrorPolicies;
use crate::processor::Headers;
use crate::{Error, Result, TaskId, Topology};

mod input;
mod recovery;
mod transaction;

use transaction::Transaction;

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitOutcome {
    /// Offsets (and under exactly-once, the transaction) committed, or postponed (at least
    /// once, during a rebalance), or nothing to commit.
    Committed,
    /// Exactly-once: the transaction was aborted; the tasks' state must be rolled back.
    Aborted,
}

/// How long reading committed offsets may wait for the group coordinator.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a commit waits for the producer to deliver everything.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

/// Settings the task manager keeps from the configuration.
pub(crate) struct ManagerSettings {
    pub(crate) application_id: String,
    pub(crate) app_dir: PathBuf,
    pub(crate) policies: Rc<ErrorPolicies>,
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
    pub(crate) globals: Arc<crate::state::GlobalStores>,
    /// `processing.guarantee=exactly_once_v2`: the producer is transactional.
    pub(crate) exactly_once: bool,
}

/// The tasks of one stream thread.
pub(crate) struct TaskManager {
    topology: Arc<Topology>,
    plan: Arc<TopicPlan>,
    settings: ManagerSettings,
    metrics: Arc<StreamsMetrics>,
    shared: Arc<InstanceShared>,
    producer: Arc<StreamsProducer>,
    collector: Rc<KafkaCollector>,
    restorer: Restorer,
    cache: Option<CacheBudget>,
    tasks: BTreeMap<TaskId, Task>,
    /// Each task's input partitions: records buffered while it restores, or waiting for
    /// their turn in timestamp order.
    groups: HashMap<TaskId, PartitionGroup>,
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
    /// Tasks of which only some input partitions are assigned yet (the next-generation group
    /// protocol hands partitions over one at a time): their partitions stay paused, and the
    /// task is not created, until the rest arrive, so that one task never runs on two
    /// members at once.
    incomplete: BTreeMap<TaskId, Vec<(String, i32)>>,
    /// The partitions being revoked, during the revocation callback (still in the consumer's
    /// assignment until it returns).
    revoking: HashSet<(String, i32)>,
}

impl TaskManager {
    pub(crate) fn new(
        topology: Arc<Topology>,
        plan: Arc<TopicPlan>,
        settings: ManagerSettings,
        metrics: Arc<StreamsMetrics>,
        shared: Arc<InstanceShared>,
        producer: Arc<StreamsProducer>,
        restore_consumer: BaseConsumer,
    ) -> Self {
        let cache = (settings.cache_bytes > 0).then(|| CacheBudget::new(settings.cache_bytes));
        let restorer = Restorer::new(restore_consumer, settings.restore_listener.clone());
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
            groups: HashMap::new(),
            full: HashSet::new(),
            committed: HashMap::new(),
            last_commit: Instant::now(),
            pending_error: None,
            txn: settings_eos.then(Transaction::default),
            incomplete: BTreeMap::new(),
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

    pub(crate) fn is_restoring(&self) -> bool {
        !self.restorer.is_idle()
    }

    pub(crate) fn take_pending_error(&mut self) -> Option<Error> {
        self.pending_error.take()
    }

    fn set_thread_state(&self, state: ThreadState) {
        self.shared
            .set_thread_state(self.settings.thread_index, state);
    }

    // ---- rebalance callbacks ----

    /// Partitions were assigned: create their tasks and start restoring them.
    pub(crate) fn on_assigned<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        tpl: &TopicPartitionList,
    ) {
        if let Err(e) = self.assign(consumer, tpl) {
            self.pending_error.get_or_insert(e);
        }
    }

    fn assign<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        tpl: &TopicPartitionList,
    ) -> Result<()> {
        self.set_thread_state(ThreadState::Rebalancing);
        let mut new_tasks: BTreeMap<TaskId, Vec<(String, i32)>> =
            std::mem::take(&mut self.incomplete);
        for element in tpl.elements() {
            if let Some(id) = self.task_of(element.topic(), element.partition()) {
                new_tasks
                    .entry(id)
                    .or_default()
                    .push((element.topic().to_string(), element.partition()));
            }
        }
        let env = TaskEnv {
            application_id: &self.settings.application_id,
            app_dir: &self.settings.app_dir,
            collector: self.collector.clone(),
            metrics: self.metrics.clone(),
            policies: self.settings.policies.clone(),
            internal_topics: &self.plan.internal_names,
            cache: self.cache.as_ref(),
            clock: WallClock::System,
            globals: self.settings.globals.clone(),
            lock_wait: super::task::TASK_DIR_LOCK_WAIT,
            exactly_once: self.settings.exactly_once,
            standby: false,
        };
        let subs = self.topology.subtopologies();
        let mut to_pause = TopicPartitionList::new();
        let mut to_resume = TopicPartitionList::new();
        let assigned: HashSet<(String, i32)> = consumer
            .assignment()
            .map_err(|e| Error::kafka("reading the assignment", e))?
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .filter(|p| !self.revoking.contains(p))
            .collect();
        let mut to_rewind = TopicPartitionList::new();
        let mut created = Vec::new();
        for (id, mut partitions) in new_tasks {
            if self.tasks.contains_key(&id) {
                continue;
            }
            partitions.sort();
            partitions.dedup();
            let inputs = self.input_partitions(id);
            if !inputs.iter().all(|p| assigned.contains(p)) {
                debug!(task = %id, "some input partitions of the task are not assigned yet: waiting for them");
                for (topic, partition) in &partitions {
                    to_pause.add_partition(topic, *partition);
                }
                self.incomplete.insert(id, partitions);
                continue;
            }
            let was_incomplete = partitions.len() < inputs.len();
            if was_incomplete {
                // Records of its partitions fetched while it waited were dropped: fetch them
                // again from the last commit.
                for (topic, partition) in &inputs {
                    to_rewind.add_partition(topic, *partition);
                }
            }
            let sub = subs
                .iter()
                .find(|s| s.id == id.subtopology)
                .ok_or_else(|| Error::IllegalState(format!("no sub-topology for task {id}")))?;
            // A standby of this task on this instance hands its directory over.
            self.shared.claim(id);
            let mut task =
                Task::new(&self.topology, sub, id.partition, &env).inspect_err(|_| {
                    self.shared.unclaim(id);
                })?;
            self.shared.register_stores(id, task.query_handles());
            if self.restorer.add(&task)? {
                for (topic, partition) in &inputs {
                    to_pause.add_partition(topic, *partition);
                }
            } else {
                task.initialize()?;
                if was_incomplete {
                    for (topic, partition) in &inputs {
                        to_resume.add_partition(topic, *partition);
                    }
                }
            }
            info!(task = %id, "task created");
            created.push(id);
            let topics = self
                .plan
                .topic_to_subtopology
                .iter()
                .filter(|(_, sub)| **sub == id.subtopology)
                .map(|(topic, _)| topic.clone());
            self.groups
                .insert(id, PartitionGroup::new(topics, id.partition));
            self.tasks.insert(id, task);
        }
        if to_pause.count() > 0 {
            consumer
                .pause(&to_pause)
                .map_err(|e| Error::kafka("pausing partitions of restoring tasks", e))?;
        }
        if to_rewind.count() > 0 {
            recovery::seek_to_committed(consumer, &to_rewind)?;
        }
        self.start_groups_at_committed(consumer, &created)?;
        if to_resume.count() > 0 {
            consumer
                .resume(&to_resume)
                .map_err(|e| Error::kafka("resuming the partitions of a completed task", e))?;
        }
        self.publish_tasks();
        if !self.is_restoring() {
            self.set_thread_state(ThreadState::Running);
        }
        Ok(())
    }

    /// Tells the new tasks' partition groups where each input partition starts (its
    /// committed offset), so that a partition with nothing new counts as caught up.
    fn start_groups_at_committed<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        created: &[TaskId],
    ) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for id in created {
            for (topic, partition) in self.input_partitions(*id) {
                tpl.add_partition(&topic, partition);
            }
        }
        let single = created
            .iter()
            .all(|id| self.groups.get(id).is_none_or(PartitionGroup::is_single));
        if single || tpl.count() == 0 {
            // A task of one partition never waits for another.
            return Ok(());
        }
        let committed = consumer
            .committed_offsets(tpl, COMMITTED_TIMEOUT)
            .map_err(|e| Error::kafka("reading the committed offsets of new tasks", e))?;
        for e in committed.elements() {
            if let (Offset::Offset(offset), Some(id)) =
                (e.offset(), self.task_of(e.topic(), e.partition()))
                && let Some(group) = self.groups.get_mut(&id)
            {
                group.start_at(e.topic(), e.partition(), offset);
            }
        }
        Ok(())
    }

    /// Partitions are about to be revoked: commit what their tasks processed and close them.
    pub(crate) fn on_revoked<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        tpl: &TopicPartitionList,
    ) {
        self.revoking = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition()))
            .collect();
        self.revoke(consumer, tpl);
        if let Err(e) = self.reassign_orphans(consumer) {
            self.pending_error.get_or_insert(e);
        }
        self.revoking.clear();
    }

    fn revoke<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>, tpl: &TopicPartitionList) {
        self.set_thread_state(ThreadState::Rebalancing);
        for partitions in self.incomplete.values_mut() {
            partitions.retain(|(topic, partition)| tpl.find_partition(topic, *partition).is_none());
        }
        self.incomplete
            .retain(|_, partitions| !partitions.is_empty());
        let revoked: Vec<TaskId> = self
            .tasks
            .keys()
            .copied()
            .filter(|id| {
                tpl.elements()
                    .iter()
                    .any(|e| self.task_of(e.topic(), e.partition()) == Some(*id))
            })
            .collect();
        if revoked.is_empty() {
            return;
        }
        if consumer.assignment_lost() {
            // Another member may own these partitions already (this one missed its session):
            // committing would fail; close without a checkpoint and let the new owner
            // restore from the changelogs and reprocess from the last commit.
            warn!(
                tasks = revoked.len(),
                "partitions lost: closing their tasks without committing"
            );
            let mut closing = revoked;
            if self.transaction_open() {
                // The open transaction holds these tasks' outputs and changelog writes; their
                // new owner processes the same records again, so it must never commit: abort
                // it (as Kafka Streams re-initializes the thread's producer). Its writes are in
                // every task's stores: close them all (an incremental rebalance keeps some
                // partitions: their tasks are created again from the last commit).
                if let Err(e) = self.abort_transaction("its partitions were lost") {
                    self.pending_error.get_or_insert(e);
                }
                closing = self.tasks.keys().copied().collect();
            }
            if let Err(e) = self.close_tasks(&closing, false) {
                self.pending_error.get_or_insert(e);
            }
            return;
        }
        let result = match self.commit(consumer) {
            Ok(CommitOutcome::Committed) => self.close_tasks(&revoked, true),
            // The aborted transaction's writes are in every task's stores: close them all
            // without a checkpoint (an incremental rebalance keeps some partitions: their
            // tasks are created again from the last commit).
            Ok(CommitOutcome::Aborted) => {
                let all: Vec<TaskId> = self.tasks.keys().copied().collect();
                self.close_tasks(&all, false)
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            self.pending_error.get_or_insert(e);
        }
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
            if let Some(mut task) = self.tasks.remove(id) {
                self.committed.retain(|(topic, partition), _| {
                    self.plan.topic_to_subtopology.get(topic.as_str()) != Some(&id.subtopology)
                        || *partition != id.partition
                });
                if let Err(e) = task.close(clean) {
                    first.get_or_insert(e);
                }
                debug!(task = %id, clean, "task closed");
            }
            self.shared.unclaim(*id);
        }
        self.publish_tasks();
        first.map_or(Ok(()), Err)
    }

    /// Continues restoration; tasks that finish start processing, beginning with what was
    /// buffered for them.
    pub(crate) fn restore<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>) -> Result<()> {
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
        if !self.is_restoring() {
            self.set_thread_state(ThreadState::Running);
        }
        self.drain_all(consumer)
    }

    /// Serves delivery reports, and commits when the commit interval has passed.
    pub(crate) fn maybe_commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        self.producer.poll(Duration::ZERO);
        self.begin_transaction()?;
        self.drain_all(consumer)?;
        for task in self.tasks.values_mut() {
            task.punctuate_wall_clock()?;
        }
        if self.last_commit.elapsed() >= self.settings.commit_interval
            && self.commit(consumer)? == CommitOutcome::Aborted
        {
            self.rollback(consumer)?;
        }
        Ok(())
    }

    /// Commits what the tasks processed: under exactly-once as one transaction, else at least
    /// once.
    pub(crate) fn commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<CommitOutcome> {
        self.last_commit = Instant::now();
        if self.txn.is_some() {
            return self.commit_transaction(consumer);
        }
        self.commit_at_least_once(consumer)?;
        Ok(CommitOutcome::Committed)
    }

    /// The input offsets that moved since the last commit.
    fn uncommitted_offsets(&self) -> Result<TopicPartitionList> {
        let mut offsets = TopicPartitionList::new();
        for task in self.tasks.values() {
            for (topic, partition, offset) in task.committable_offsets() {
                let key = (topic.to_string(), partition);
                if self.committed.get(&key) != Some(&offset) {
                    offsets
                        .add_partition_offset(topic, partition, Offset::Offset(offset))
                        .map_err(|e| Error::kafka("building the commit", e))?;
                }
            }
        }
        Ok(offsets)
    }

    /// Remembers offsets the broker accepted.
    fn record_committed(&mut self, offsets: &TopicPartitionList) {
        for element in offsets.elements() {
            if let Offset::Offset(offset) = element.offset() {
                self.committed
                    .insert((element.topic().to_string(), element.partition()), offset);
            }
        }
    }

    /// At-least-once commit: deliver every produced record (outputs, repartition records and
    /// changelogs), checkpoint the stores, then commit the input offsets.
    fn commit_at_least_once<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        for task in self.tasks.values_mut() {
            task.flush()?;
        }
        flush(&self.producer, FLUSH_TIMEOUT)?;
        if let Some(failure) = self.producer.context().take_failure() {
            return Err(failure);
        }
        let delivered = self.producer.context().changelog_offsets();
        for task in self.tasks.values_mut() {
            task.update_changelog_offsets(&delivered);
            task.maybe_checkpoint(false)?;
        }
        let offsets = self.uncommitted_offsets()?;
        if offsets.count() == 0 {
            return Ok(());
        }
        match consumer.commit(&offsets, CommitMode::Sync) {
            Ok(()) => {}
            Err(e) if is_rebalance_error(&e) => {
                // Kafka Streams treats this as retriable: the group is rebalancing (or this
                // member fell out of it). The offsets go with the next commit, at the latest
                // when the partitions are revoked; if they are lost instead, their records are
                // processed again by the next owner (at least once).
                info!("commit postponed: {e}");
                return Ok(());
            }
            Err(e) => return Err(Error::kafka("committing input offsets", e)),
        }
        self.record_committed(&offsets);
        self.metrics.commits.inc();
        debug!(partitions = offsets.count(), "committed");
        Ok(())
    }

    /// Clean shutdown: commit, then close every task with a checkpoint (without one if the
    /// final transaction aborted).
    pub(crate) fn shutdown<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        let outcome = self.commit(consumer)?;
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        self.close_tasks(&ids, outcome == CommitOutcome::Committed)
    }

    /// After an error: close every task without committing or checkpointing.
    pub(crate) fn close_dirty(&mut self) {
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        let _ = self.close_tasks(&ids, false);
    }
}

/// Whether a commit failed because the group is rebalancing or this member is no longer in
/// the generation it committed for: not fatal to the thread.
fn is_rebalance_error(error: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(
            Code::RebalanceInProgress
                | Code::IllegalGeneration
                | Code::UnknownMemberId
                | Code::FencedInstanceId
        )
    )
}

/// Waits until the producer has delivered (or failed) every record.
///
/// rdkafka's own `flush` polls in 100 ms slices that always run to their end, which would put a
/// 100 ms floor under every commit; this serves delivery reports in 1 ms slices instead.
fn flush(producer: &StreamsProducer, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        // With a zero timeout this is one `rd_kafka_flush(0)`: it sends lingering batches now.
        match producer.flush(Duration::ZERO) {
            Ok(()) => return Ok(()),
            Err(rdkafka::error::KafkaError::Flush(code))
                if code == rdkafka::types::RDKafkaErrorCode::OperationTimedOut
                    && Instant::now() < deadline =>
            {
                producer.poll(Duration::from_millis(1));
            }
            Err(e) => return Err(Error::kafka("flushing the producer before a commit", e)),
        }
    }
}

fn raw_record<M: Message>(message: &M) -> RawRecord<'_> {
    let mut headers = Headers::new();
    if let Some(kafka_headers) = message.headers() {
        for header in kafka_headers.iter() {
            headers.add(header.key, header.value.map(<[u8]>::to_vec));
        }
    }
    RawRecord {
        topic: message.topic(),
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis().unwrap_or(-1),
        key: message.key(),
        value: message.payload(),
        headers,
    }
}
