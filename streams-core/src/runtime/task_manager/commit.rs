//! Committing what a [`TaskManager`]'s tasks processed: at the commit interval, at least once
//! (deliver everything, checkpoint the stores, commit the input offsets), or under
//! exactly-once as one transaction (`transaction`).

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::producer::Producer;
use rdkafka::{Offset, TopicPartitionList};
use tracing::{debug, info};

use super::TaskManager;
use crate::runtime::producer::StreamsProducer;
use crate::{Error, Result};

/// What a commit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CommitOutcome {
    /// Offsets (and under exactly-once, the transaction) committed, or postponed (at least
    /// once, during a rebalance), or nothing to commit.
    Committed,
    /// Exactly-once: the transaction was aborted; the tasks' state must be rolled back.
    Aborted,
}

/// How long a commit waits for the producer to deliver everything.
pub(super) const FLUSH_TIMEOUT: Duration = Duration::from_secs(60);

impl TaskManager {
    /// Serves delivery reports, and commits when the commit interval has passed.
    pub(crate) fn maybe_commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        self.producer.poll(Duration::ZERO);
        self.begin_transaction()?;
        self.drain_all(consumer)?;
        for task in self.tasks.values_mut() {
            let _span = task.span().clone().entered();
            task.punctuate_wall_clock()?;
        }
        // Under exactly-once the stores' uncommitted writes wait in memory: past their bound,
        // commit early (as Kafka Streams' KIP-892 does).
        let due = self.last_commit.elapsed() >= self.settings.commit_interval
            || (self.txn.is_some()
                && self
                    .tasks
                    .values()
                    .map(|t| t.uncommitted_bytes())
                    .sum::<usize>()
                    > self.settings.uncommitted_max_bytes);
        if due && self.commit(consumer)? == CommitOutcome::Aborted {
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
        // Also when this commit began, for its latency.
        self.last_commit = Instant::now();
        if self.txn.is_some() {
            self.start_transaction_clock();
            return self.commit_transaction(consumer);
        }
        self.commit_at_least_once(consumer)?;
        Ok(CommitOutcome::Committed)
    }

    /// The input offsets that moved since the last commit.
    pub(super) fn uncommitted_offsets(&self) -> Result<TopicPartitionList> {
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
    pub(super) fn record_committed(&mut self, offsets: &TopicPartitionList) {
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
        self.metrics.record_commit(self.last_commit);
        debug!(partitions = offsets.count(), "committed");
        Ok(())
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
/// 100 ms floor under every commit; and any `poll` with a timeout busy-spins through its last
/// millisecond (rdkafka hands librdkafka the remaining time truncated to whole milliseconds:
/// zero, a poll that does not wait), which the profile of an exactly-once count showed as a
/// fifth of the stream thread's time. So this serves the delivery reports that are ready
/// without waiting, and sleeps 100 µs whenever none were.
pub(super) fn flush(producer: &StreamsProducer, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        // With a zero timeout this is one `rd_kafka_flush(0)`: it sends lingering batches now.
        match producer.flush(Duration::ZERO) {
            Ok(()) => return Ok(()),
            Err(rdkafka::error::KafkaError::Flush(code))
                if code == rdkafka::types::RDKafkaErrorCode::OperationTimedOut
                    && Instant::now() < deadline =>
            {
                let before = producer.in_flight_count();
                producer.poll(Duration::ZERO);
                if producer.in_flight_count() >= before {
                    std::thread::sleep(Duration::from_micros(100));
                }
            }
            Err(e) => return Err(Error::kafka("flushing the producer before a commit", e)),
        }
    }
}
