//! The rebalance callbacks of a [`TaskManager`]: assigned partitions become tasks (restoring
//! first if they have state; a task waits until all its input partitions are assigned), and
//! revoked partitions' tasks are committed and closed (or closed without a commit when the
//! partitions were lost).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, info, warn};

use super::{CommitOutcome, TaskManager, awaiting, recovery};
use crate::runtime::instance::ThreadState;
use crate::runtime::partition_group::PartitionGroup;
use crate::runtime::task::{Task, TaskEnv};
use crate::runtime::task_context::WallClock;
use crate::runtime::{TaskKind, TaskPhase, TaskStatus};
use crate::{Error, Result, TaskId};

/// How long reading committed offsets may wait for the group coordinator.
const COMMITTED_TIMEOUT: Duration = Duration::from_secs(60);

impl TaskManager {
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

    pub(super) fn assign<C: ConsumerContext>(
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
            emit_intervals: self.settings.emit_intervals,
            internal_topics: &self.plan.internal_names,
            cache: self.cache.as_ref(),
            clock: WallClock::System,
            globals: self.settings.globals.clone(),
            rocksdb: &self.settings.rocksdb,
            lock_wait: crate::runtime::task::TASK_DIR_LOCK_WAIT,
            exactly_once: self.settings.exactly_once,
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
        // Once a task waits for the brokers, the rest of this assignment waits too, rather
        // than each trying (and keeping the thread from polling) in turn.
        let mut brokers_failing: Option<rdkafka::error::KafkaError> = None;
        for (id, mut partitions) in new_tasks {
            if self.tasks.contains_key(&id) {
                continue;
            }
            let earlier = self.awaiting.remove(&id);
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
            // Its partitions were paused while it waited for them or for the brokers.
            let was_incomplete = partitions.len() < inputs.len() || earlier.is_some();
            // Records of its partitions fetched while it waited were dropped: they are
            // fetched again from the last commit once it exists.
            let rewind = partitions.len() < inputs.len()
                || earlier.as_ref().is_some_and(awaiting::Awaiting::dropped);
            let sub = subs
                .iter()
                .find(|s| s.id == id.subtopology)
                .ok_or_else(|| Error::IllegalState(format!("no sub-topology for task {id}")))?;
            if let Some(source) = &brokers_failing {
                let error = Error::kafka(
                    "waiting for the brokers, as another task of the assignment does",
                    source.clone(),
                );
                awaiting::defer(&mut self.awaiting, id, inputs.clone(), earlier, error)?;
                for (topic, partition) in &inputs {
                    to_pause.add_partition(topic, *partition);
                }
                continue;
            }
            // A standby of this task on this instance hands its directory over.
            self.shared.claim(id);
            let mut task =
                Task::new(&self.topology, sub, id.partition, &env).inspect_err(|_| {
                    self.shared.unclaim(id);
                })?;
            // What the task needs of the brokers, read before anything else: the changelogs'
            // ends (once: a wiped task has the same changelogs), and the committed offsets of
            // the source tables restored from their input. When the brokers cannot answer yet,
            // the task waits (see `awaiting`) and the thread goes on polling.
            let read = self.restorer.ends(&task).and_then(|ends| {
                source_changelogs_committed(consumer, &task).map(|committed| (ends, committed))
            });
            let (ends, committed) = match read {
                Ok(read) => read,
                Err(Error::Kafka { context, source })
                    if crate::runtime::clients::is_transient(&source) =>
                {
                    let e = Error::Kafka {
                        context,
                        source: source.clone(),
                    };
                    // Nothing was processed: the close keeps the stores as they were.
                    let closed = task.close(true);
                    drop(task);
                    self.shared.unclaim(id);
                    closed?;
                    awaiting::defer(&mut self.awaiting, id, inputs.clone(), earlier, e)?;
                    for (topic, partition) in &inputs {
                        to_pause.add_partition(topic, *partition);
                    }
                    brokers_failing = Some(source);
                    continue;
                }
                Err(e) => {
                    let _ = task.close(true);
                    drop(task);
                    self.shared.unclaim(id);
                    return Err(e);
                }
            };
            if rewind {
                for (topic, partition) in &inputs {
                    to_rewind.add_partition(topic, *partition);
                }
            }
            if let Some(why) = self.restorer.checkpoint_past_end(&task, &ends)? {
                warn!(
                    task = %id,
                    "{why}: the changelog was made anew (reset without clean-up?); wiping the task's state to restore it from the changelogs"
                );
                self.metrics.tasks_corrupted.inc();
                task.close(false)?;
                drop(task);
                crate::runtime::state_dir::wipe(&self.settings.app_dir.join(id.to_string()))?;
                task = Task::new(&self.topology, sub, id.partition, &env).inspect_err(|_| {
                    self.shared.unclaim(id);
                })?;
            }
            self.shared.register_stores(id, task.query_handles());
            self.shared.set_task_status(
                id,
                Some(TaskStatus::new(
                    id,
                    TaskKind::Active,
                    Some(self.metrics.name.to_string()),
                )),
            );
            self.shared.register_engines(id, task.engine_handles());
            if self.restorer.add(&task, &committed, &ends)? {
                for (topic, partition) in &inputs {
                    to_pause.add_partition(topic, *partition);
                }
            } else {
                self.shared
                    .update_task_status(id, |s| s.phase = TaskPhase::Running);
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
            recovery::seek_to_committed(consumer, &to_rewind, recovery::REWIND_TIMEOUT)?;
        }
        self.start_groups_at_committed(consumer, &created)?;
        if to_resume.count() > 0 {
            consumer
                .resume(&to_resume)
                .map_err(|e| Error::kafka("resuming the partitions of a completed task", e))?;
        }
        self.publish_tasks();
        if !self.is_restoring() && !self.is_awaiting() {
            self.set_thread_state(ThreadState::Running);
        }
        Ok(())
    }
}

/// The group's committed offsets of `task`'s input partitions that are also changelogs (of
/// source tables, under `reuse.ktable.source.topics`): restoring stops there. Partitions
/// without a committed offset are left out.
fn source_changelogs_committed<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    task: &Task,
) -> Result<HashMap<(String, i32), i64>> {
    let mut tpl = TopicPartitionList::new();
    for (changelog, _) in task.changelogs() {
        if changelog.is_source() {
            tpl.add_partition(&changelog.topic, changelog.partition);
        }
    }
    if tpl.count() == 0 {
        return Ok(HashMap::new());
    }
    let committed = consumer
        .committed_offsets(tpl, COMMITTED_TIMEOUT)
        .map_err(|e| {
            Error::kafka(
                "reading the committed offsets of source-table changelogs",
                e,
            )
        })?;
    Ok(committed
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(offset) => Some(((e.topic().to_string(), e.partition()), offset)),
            _ => None,
        })
        .collect())
}

impl TaskManager {
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
        // A hint, not a must: without it a partition with nothing new counts as caught up
        // once the consumer's position reaches its end (see `PartitionGroup`). So a broker that
        // does not answer in time (a stalled or restarting cluster) costs a warning here, not
        // the thread, as Kafka Streams retries such timeouts rather than failing the thread.
        let committed = match consumer.committed_offsets(tpl, COMMITTED_TIMEOUT) {
            Ok(committed) => committed,
            Err(e) => {
                warn!(
                    "reading the committed offsets of new tasks failed ({e}); their partitions \
                     count as caught up once the consumer's position reaches their ends"
                );
                return Ok(());
            }
        };
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
        self.forget_awaiting(tpl);
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
}
