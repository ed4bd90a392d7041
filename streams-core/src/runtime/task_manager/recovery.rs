//! Recovering a task whose store is corrupt, as Kafka Streams handles a
//! `TaskCorruptedException`: the task is closed without a checkpoint, its directory wiped, its
//! input rewound to the last commit, and the task created again, so it restores its stores
//! from the changelogs and processes the uncommitted records again. The thread and its other
//! tasks go on.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Offset, TopicPartitionList};
use tracing::warn;

use super::TaskManager;
use crate::{Error, Result, TaskId};

/// How long the rewind may wait for the group coordinator.
pub(super) const REWIND_TIMEOUT: Duration = Duration::from_secs(60);

impl TaskManager {
    /// Handles an error of the record loop that the thread can recover from; any other is
    /// returned. Under exactly-once, an error after the producer failed fatally is that
    /// failure (see [`producer_failure`](Self::producer_failure)): fenced, the thread rejoins.
    /// A send refused because the transaction had already
    /// failed (see [`KafkaCollector::take_refused`](crate::runtime::producer::KafkaCollector::take_refused))
    /// aborts the transaction and rolls every task back to the last commit, as a commit that
    /// fails does; then a corrupt store is rebuilt (see
    /// [`recover_corrupted`](Self::recover_corrupted)).
    pub(crate) fn recover<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        error: Error,
    ) -> Result<()> {
        if let Some(failure) = self.producer_failure(&error) {
            return Err(failure);
        }
        if self.txn.is_some() && self.collector.take_refused() {
            warn!(
                "a send was refused, the transaction has failed ({}): aborting it and processing again from the last commit",
                error.report()
            );
            // A fatal state (this producer fenced) fails the abort: the thread stops with
            // `Error::Fenced` and rejoins, as from a failed commit.
            self.abort_transaction(&error.report().to_string())?;
            return self.rollback(consumer);
        }
        self.recover_corrupted(consumer, error)
    }

    /// Handles `error` if it reports a corrupt store of one of this thread's tasks (rebuilding
    /// that task, or under exactly-once every task of the aborted transaction); any other
    /// error is returned.
    pub(crate) fn recover_corrupted<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        error: Error,
    ) -> Result<()> {
        let Some(id) = error
            .corrupted_task()
            .filter(|id| self.tasks.contains_key(id))
        else {
            return Err(error);
        };
        if !self.tasks.get(&id).is_some_and(|t| t.rebuildable()) {
            // Without a changelog for every store there is nothing to rebuild from.
            return Err(error);
        }
        warn!(
            task = %id,
            "a store of the task is corrupt ({}): wiping its state to restore it from the changelogs, and processing again from the last commit",
            error.report()
        );
        self.metrics.tasks_corrupted.inc();
        let dir = self.settings.app_dir.join(id.to_string());
        if self.transaction_open() {
            // The transaction holds the writes of every task: abort it and roll them all back
            // (under exactly-once, a task reopened without a checkpoint is wiped).
            self.abort_transaction("a store is corrupt")?;
            self.close_tasks(&[id], false)?;
            crate::runtime::state_dir::wipe(&dir)?;
            return self.rollback(consumer);
        }
        let partitions = self.partitions_of(consumer, id)?;
        self.close_tasks(&[id], false)?;
        crate::runtime::state_dir::wipe(&dir)?;
        if partitions.count() == 0 {
            return Ok(());
        }
        self.rewind_and_reassign(consumer, &partitions, REWIND_TIMEOUT)
    }

    /// The input partitions of task `id` that this consumer holds.
    fn partitions_of<C: ConsumerContext>(
        &self,
        consumer: &BaseConsumer<C>,
        id: TaskId,
    ) -> Result<TopicPartitionList> {
        let assignment = consumer
            .assignment()
            .map_err(|e| Error::kafka("reading the assignment", e))?;
        let mut held = TopicPartitionList::new();
        for element in assignment.elements() {
            if self.task_of(element.topic(), element.partition()) == Some(id) {
                held.add_partition(element.topic(), element.partition());
            }
        }
        Ok(held)
    }

    /// Seeks `partitions` back to their committed offsets (the beginning where none is
    /// committed; waiting at most `timeout` for the coordinator) and creates their tasks
    /// again.
    pub(super) fn rewind_and_reassign<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        partitions: &TopicPartitionList,
        timeout: Duration,
    ) -> Result<()> {
        consumer
            .resume(partitions)
            .map_err(|e| Error::kafka("resuming partitions to rewind", e))?;
        seek_to_committed(consumer, partitions, timeout)?;
        self.assign(consumer, partitions)
    }

    /// Under an incremental rebalance, partitions this consumer keeps can lose their task:
    /// it had another input partition revoked, or an aborted transaction closed every task.
    /// Those partitions are rewound to the last commit and their tasks created again (or
    /// held back until their other partitions come).
    pub(super) fn reassign_orphans<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        let assignment = consumer
            .assignment()
            .map_err(|e| Error::kafka("reading the assignment", e))?;
        let mut orphans = TopicPartitionList::new();
        for e in assignment.elements() {
            let key = (e.topic().to_string(), e.partition());
            if self.revoking.contains(&key) {
                continue;
            }
            if let Some(id) = self.task_of(e.topic(), e.partition())
                && !self.tasks.contains_key(&id)
                && !self.incomplete.contains_key(&id)
                && !self.awaiting.contains_key(&id)
            {
                orphans.add_partition(e.topic(), e.partition());
            }
        }
        if orphans.count() == 0 {
            return Ok(());
        }
        warn!(
            partitions = orphans.count(),
            "kept partitions whose tasks were closed: rewinding them to the last commit"
        );
        self.rewind_and_reassign(consumer, &orphans, REWIND_TIMEOUT)
    }
}

/// Seeks `partitions` back to their committed offsets (the beginning where none is
/// committed): records fetched past them and not processed are fetched again. Waits at most
/// `timeout` for the group coordinator, and as long again for the seek.
pub(super) fn seek_to_committed<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    partitions: &TopicPartitionList,
    timeout: Duration,
) -> Result<()> {
    let committed = consumer
        .committed_offsets(partitions.clone(), timeout)
        .map_err(|e| Error::kafka("reading committed offsets to rewind", e))?;
    let mut rewind = TopicPartitionList::new();
    for element in committed.elements() {
        let offset = match element.offset() {
            Offset::Offset(o) => Offset::Offset(o),
            _ => Offset::Beginning,
        };
        rewind
            .add_partition_offset(element.topic(), element.partition(), offset)
            .map_err(|e| Error::kafka("rewinding the input", e))?;
    }
    consumer
        .seek_partitions(rewind, timeout)
        .map_err(|e| Error::kafka("rewinding the input", e))?;
    Ok(())
}
