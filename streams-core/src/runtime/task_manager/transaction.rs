//! Exactly-once commits (`processing.guarantee=exactly_once_v2`), as Kafka Streams makes
//! them: the thread's transactional producer carries outputs, repartition records, changelog
//! writes and the input offsets (`send_offsets_to_transaction`, fenced by the consumer
//! group's generation) in one transaction per commit interval.
//!
//! A transaction that fails abortably is aborted; the tasks' stores hold its writes in memory
//! only (RocksDB stores are transactional under exactly-once), so they are closed dropping
//! them, the input is rewound to the committed offsets, and the tasks are created again,
//! restoring only the changelogs' tail past the positions their stores committed. A fatal error (this
//! producer was fenced: another instance owns the tasks now) stops the thread with
//! [`Error::Fenced`]; it rejoins the group as a new member.
//!
//! None of this may keep the thread from polling its consumer past `max.poll.interval.ms`
//! (the group would drop it while it waits, and its partitions would stall until it noticed):
//! the commit gets half of the thread's transaction budget (half of that interval), the abort
//! and the rewind after it the other half. A thread out of budget gives up its tasks and
//! rejoins ([`Error::TaskMigrated`]): its new producer fences the unfinished transaction.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::producer::{Producer, PurgeConfig};
use rdkafka::types::RDKafkaErrorCode;
use tracing::{debug, info, warn};

use super::commit::{FLUSH_TIMEOUT, flush};
use super::offset_sender::OffsetSender;
use super::recovery::REWIND_TIMEOUT;
use super::{CommitOutcome, TaskManager};
use crate::{Error, Result, TaskId};

/// How long a transaction call may take.
const TXN_TIMEOUT: Duration = Duration::from_secs(60);

/// A commit slower than this says, at `info`, which of its phases took the time.
const SLOW_COMMIT: Duration = Duration::from_secs(1);

/// How much longer than its own timeout `send_offsets_to_transaction` is waited for.
const SEND_OFFSETS_GRACE: Duration = Duration::from_secs(5);

/// The thread's transaction: whether one is open, and how many records the collector had
/// sent at the last commit (to skip empty commits).
#[derive(Debug, Default)]
pub(crate) struct Transaction {
    open: bool,
    sent_at_commit: u64,
    /// The helper that adds input offsets to transactions, started at the first commit with
    /// offsets, and dropped after a call it could not answer in time.
    offset_sender: Option<OffsetSender>,
}

/// Classifies a transactional producer error.
fn is_fatal(error: &KafkaError) -> bool {
    match error {
        KafkaError::Transaction(e) => e.is_fatal(),
        _ => false,
    }
}

/// Whether librdkafka's fatal error `code` means this producer lost its transactional id's
/// epoch: another producer with the same id started (a zombie fenced), or the coordinator
/// rolled a transaction open past `transaction.timeout.ms` back and bumped the epoch. Kafka
/// Streams turns these (`ProducerFencedException`, `InvalidProducerEpochException`,
/// `InvalidPidMappingException`) into a `TaskMigratedException`.
///
/// `InvalidTransactionalState` is handled the same way. librdkafka can fail an abort with it
/// after a transaction failed abortably (confluentinc/librdkafka#4849; seen here when a frozen
/// leader timed records out): the coordinator refuses the `EndTxn` and the producer turns
/// fatal. Nothing of the transaction was committed, and the thread's new producer (same
/// transactional id) fences its epoch and has the coordinator abort it, so rejoining loses
/// nothing, where stopping the instance would.
fn is_fencing(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::Fenced
            | RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::InvalidProducerIdMapping
            | RDKafkaErrorCode::InvalidTransactionalState
    )
}

impl TaskManager {
    /// Under exactly-once, once the thread's producer has failed fatally, every later send
    /// fails with librdkafka's bare `Fatal`, wherever it happens: an output, a changelog write
    /// inside a store, a flush. Such an `error` is the producer's failure, not the record's or
    /// the store's: this returns [`Error::Fenced`] when the producer was fenced (the thread
    /// rejoins with a new producer; the tasks' new owner redoes the uncommitted work), the
    /// fatal error itself (with its reason) for any other fatal failure, and `None` while the
    /// producer is sound.
    pub(super) fn producer_failure(&self, error: &Error) -> Option<Error> {
        self.txn.as_ref()?;
        let (code, reason) = self.producer.client().fatal_error()?;
        Some(if is_fencing(code) {
            Error::Fenced(format!(
                "records were in flight ({reason}); seen first as: {}",
                error.report()
            ))
        } else {
            Error::kafka(
                format!("the transactional producer failed fatally ({reason})"),
                KafkaError::MessageProduction(code),
            )
        })
    }

    /// Starts the clock of a commit, or of an abort and the rewind after it: each gets half
    /// of the transaction budget.
    pub(super) fn start_transaction_clock(&mut self) {
        self.txn_deadline = Instant::now() + self.settings.txn_budget / 2;
    }

    /// `step`, or less if the commit or abort under way has less time left.
    fn time_left(&self, step: Duration) -> Duration {
        step.min(self.txn_deadline.saturating_duration_since(Instant::now()))
    }

    /// Opens a transaction under exactly-once if none is open: call before anything may be
    /// sent.
    pub(super) fn begin_transaction(&mut self) -> Result<()> {
        let Some(txn) = self.txn.as_mut() else {
            return Ok(());
        };
        if txn.open {
            return Ok(());
        }
        self.producer.begin_transaction().map_err(|e| {
            if is_fatal(&e) {
                Error::Fenced(format!("beginning a transaction: {e}"))
            } else {
                Error::kafka("beginning a transaction", e)
            }
        })?;
        txn.open = true;
        Ok(())
    }

    /// Commits the open transaction with the input offsets processed since the last commit.
    pub(super) fn commit_transaction<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<CommitOutcome> {
        self.begin_transaction()?;
        for task in self.tasks.values_mut() {
            task.flush()?;
        }
        let offsets = self.uncommitted_offsets()?;
        let sent = self.collector.sent();
        let sent_at_commit = self.txn.as_ref().map_or(0, |t| t.sent_at_commit);
        if offsets.count() == 0 && sent == sent_at_commit {
            return Ok(CommitOutcome::Committed);
        }
        let started = Instant::now();
        // Deliver everything first, serving delivery reports (this producer's reports are
        // events this thread must poll; librdkafka's own flush inside the commit would wait
        // for them otherwise).
        if let Err(e) = flush(&self.producer, self.time_left(FLUSH_TIMEOUT)) {
            return self.abort_transaction(&e.report().to_string());
        }
        if let Some(failure) = self.producer.context().take_failure() {
            return self.abort_transaction(&failure.report().to_string());
        }
        let delivered_at = started.elapsed();
        let group = consumer
            .group_metadata()
            .ok_or_else(|| Error::IllegalState("the consumer has no group metadata".into()))?;
        let committed = if offsets.count() > 0 {
            self.send_offsets_bounded(&offsets, group)?
        } else {
            Ok(())
        }
        .and_then(|()| {
            self.producer
                .commit_transaction(self.time_left(TXN_TIMEOUT))
        });
        match committed {
            Ok(()) => {}
            Err(e) if is_fatal(&e) => {
                return Err(Error::Fenced(format!("committing a transaction: {e}")));
            }
            Err(e) => return self.abort_transaction(&e.to_string()),
        }
        if let Some(txn) = self.txn.as_mut() {
            txn.open = false;
            txn.sent_at_commit = sent;
        }
        self.record_committed(&offsets);
        self.metrics.record_commit(self.last_commit);
        let committed_at = started.elapsed();
        let delivered = self.producer.context().changelog_offsets();
        for task in self.tasks.values_mut() {
            task.update_changelog_offsets(&delivered);
            task.commit_stores()?;
            task.maybe_checkpoint(false)?;
        }
        let took = started.elapsed();
        if took >= SLOW_COMMIT {
            // A commit holds the stream thread (and a shutdown waits for it): say where the
            // time went.
            info!(
                "a slow commit: {} ms (delivering the records {} ms, the transaction {} ms, the stores' writes {} ms)",
                took.as_millis(),
                delivered_at.as_millis(),
                (committed_at - delivered_at).as_millis(),
                (took - committed_at).as_millis()
            );
        }
        debug!(partitions = offsets.count(), "transaction committed");
        Ok(CommitOutcome::Committed)
    }

    /// Adds the input `offsets` to the open transaction (for `group`), waiting at most what is
    /// left of the commit's budget.
    ///
    /// librdkafka's `send_offsets_to_transaction` can block past its timeout when the group
    /// coordinator is down or has just moved (confluentinc/librdkafka#5456, #5511): seen at a
    /// shutdown right after a preferred-leader election, where it held the stream thread until
    /// the member was dropped from the group 5 minutes later. The call runs on the thread's
    /// [`OffsetSender`]; past the budget the stream thread gives its tasks up
    /// ([`Error::TaskMigrated`]) and rejoins, and its new producer (same transactional id)
    /// fences the stuck transaction.
    fn send_offsets_bounded(
        &mut self,
        offsets: &rdkafka::TopicPartitionList,
        group: rdkafka::consumer::ConsumerGroupMetadata,
    ) -> Result<std::result::Result<(), KafkaError>> {
        let timeout = self.time_left(TXN_TIMEOUT);
        let producer = self.producer.clone();
        let txn = self
            .txn
            .as_mut()
            .ok_or_else(|| Error::IllegalState("an offset commit outside a transaction".into()))?;
        let sender = match txn.offset_sender.take() {
            Some(sender) => sender,
            None => OffsetSender::start()?,
        };
        match sender.send(producer, offsets, group, timeout, SEND_OFFSETS_GRACE) {
            Some(sent) => {
                txn.offset_sender = Some(sender);
                Ok(sent)
            }
            None => Err(Error::TaskMigrated(format!(
                "adding the input offsets to the transaction did not return within {} ms (the group coordinator down or moving); the thread's new producer fences the transaction",
                (timeout + SEND_OFFSETS_GRACE).as_millis()
            ))),
        }
    }

    /// Whether a transaction is open (exactly-once, records or offsets since the last commit).
    pub(super) fn transaction_open(&self) -> bool {
        self.txn.as_ref().is_some_and(|txn| txn.open)
    }

    /// Aborts the open transaction (after `cause`).
    pub(super) fn abort_transaction(&mut self, cause: &str) -> Result<CommitOutcome> {
        warn!("aborting the transaction: {cause}");
        // Drop what is still queued, then abort in short slices, serving the purged records'
        // delivery reports in between (librdkafka waits for them).
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        self.start_transaction_clock();
        let deadline = Instant::now() + self.time_left(TXN_TIMEOUT);
        loop {
            self.producer.poll(Duration::ZERO);
            match self.producer.abort_transaction(Duration::from_millis(100)) {
                Ok(()) => break,
                Err(e) if is_fatal(&e) => {
                    return Err(Error::Fenced(format!("aborting a transaction: {e}")));
                }
                Err(KafkaError::Transaction(e)) if e.is_retriable() => {
                    if Instant::now() >= deadline {
                        return Err(Error::TaskMigrated(format!(
                            "the transaction could not be aborted within {} ms ({e}); its new producer will fence it",
                            (self.settings.txn_budget / 2).as_millis()
                        )));
                    }
                }
                Err(e) => {
                    // The producer may have failed fatally under a non-fatal answer.
                    let error = Error::kafka("aborting a transaction", e);
                    return Err(self.producer_failure(&error).unwrap_or(error));
                }
            }
        }
        self.metrics.transactions_aborted.inc();
        // The aborted records' delivery reports say "purged": not failures to report.
        self.producer.poll(Duration::ZERO);
        let _ = self.producer.context().take_failure();
        let sent = self.collector.sent();
        if let Some(txn) = self.txn.as_mut() {
            txn.open = false;
            txn.sent_at_commit = sent;
        }
        Ok(CommitOutcome::Aborted)
    }

    /// After an aborted transaction: closes every task dropping its stores' uncommitted
    /// writes, rewinds the input to the committed offsets, and creates the tasks again (they
    /// restore the changelogs' tail first). A rewind that fails in the time the abort left
    /// (the coordinator unreachable) gives the tasks up: [`Error::TaskMigrated`].
    pub(super) fn rollback<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        let ids: Vec<TaskId> = self.tasks.keys().copied().collect();
        warn!(
            tasks = ids.len(),
            "rolling back the tasks of an aborted transaction"
        );
        self.close_tasks(&ids, false)?;
        let assignment = consumer
            .assignment()
            .map_err(|e| Error::kafka("reading the assignment", e))?;
        if assignment.count() == 0 {
            return Ok(());
        }
        let timeout = self.time_left(REWIND_TIMEOUT);
        self.rewind_and_reassign(consumer, &assignment, timeout)
            .map_err(|e| match e {
                Error::Kafka { .. } => Error::TaskMigrated(format!(
                    "rewinding the input after an aborted transaction: {}",
                    e.report()
                )),
                e => e,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_producer_that_lost_its_epoch_or_its_transaction_state_rejoins() {
        for code in [
            RDKafkaErrorCode::ProducerFenced,
            RDKafkaErrorCode::InvalidProducerEpoch,
            RDKafkaErrorCode::InvalidProducerIdMapping,
            RDKafkaErrorCode::InvalidTransactionalState,
        ] {
            assert!(is_fencing(code), "{code:?}");
        }
        // Misconfiguration is not cured by a new producer: the instance stops.
        for code in [
            RDKafkaErrorCode::TransactionalIdAuthorizationFailed,
            RDKafkaErrorCode::UnsupportedVersion,
        ] {
            assert!(!is_fencing(code), "{code:?}");
        }
    }
}
