//! Restoring stores from their changelogs before a task processes: the restore consumer, outside
//! the group, reads each changelog partition from just after the checkpoint to its end offset
//! through the [`ChangelogReader`] and applies the records in batches (RocksDB write batches, no
//! WAL), telling the restore listener.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;
use tracing::{debug, info, warn};

use super::StateRestoreListener;
use super::StreamsMetrics;
use super::changelog_reader::{Changelog, ChangelogReader};
use super::metrics::RestoreMeter;
use super::open_transaction::{self, may_hide_committed};
use super::task::{ChangelogPartition, Task};
use crate::{Error, Result, TaskId};

/// A restore step yields after this long, so the stream thread keeps polling its consumer.
const STEP_BUDGET: Duration = Duration::from_millis(200);

/// A changelog partition being restored.
struct Restoring {
    task: TaskId,
    changelog: ChangelogPartition,
    restored: u64,
    meter: RestoreMeter,
    /// Exactly-once: records committed after a transaction open on the changelog may lie
    /// past the reader's end (see [`open_transaction`]), so the restoration is not done when
    /// the reader reaches it. `Some` while waiting, holding when the changelog's offsets were
    /// last asked for (`None`: not yet).
    waiting: Option<Option<Instant>>,
}

/// What the broker said of one changelog partition of a task ([`Restorer::ends`]).
#[derive(Debug, Clone, Copy)]
struct End {
    /// The low watermark.
    low: i64,
    /// The readable end: the high watermark, or under exactly-once the last stable offset.
    readable: i64,
    /// Exactly-once: the end of the log (its high watermark, past every record and
    /// transaction marker, committed or not).
    log_end: Option<i64>,
    /// Whether the task's checkpoint points past the end of the log.
    checkpoint_past_log_end: bool,
}

/// The offsets of each changelog partition of a task ([`Restorer::ends`]).
#[derive(Debug, Default)]
pub(crate) struct ChangelogEnds(std::collections::HashMap<(String, i32), End>);

impl ChangelogEnds {
    fn of(&self, changelog: &ChangelogPartition) -> Result<End> {
        self.0
            .get(&(changelog.topic.clone(), changelog.partition))
            .copied()
            .ok_or_else(|| {
                Error::IllegalState(format!(
                    "no offsets read for changelog {}-{}",
                    changelog.topic, changelog.partition
                ))
            })
    }
}

/// The clients a [`Restorer`] reads changelogs with.
pub(crate) struct RestoreClients {
    /// The restore consumer (`read_committed` under exactly-once).
    pub(crate) reader: BaseConsumer,
    /// Exactly-once: a `read_uncommitted` client for the ends of the changelogs' logs (see
    /// [`log_end_reader`](super::clients::log_end_reader)); without it the reader's ends are
    /// the logs' ends.
    pub(crate) log_end: Option<super::clients::LogEndReader>,
}

/// The restore consumer and the changelog partitions it is catching up.
pub(crate) struct Restorer {
    reader: ChangelogReader,
    log_end: Option<super::clients::LogEndReader>,
    restoring: BTreeMap<Changelog, Restoring>,
    listener: Arc<dyn StateRestoreListener>,
    metrics: Arc<StreamsMetrics>,
    /// Where restoration progress is published (`/tasks`).
    shared: Arc<super::instance::InstanceShared>,
    /// Changelogs were added or removed since the reader's assignment last changed: it changes
    /// at the next [`step`](Self::step), so that the tasks of one rebalance ask for their
    /// changelogs' offsets before the restore consumer fetches (a request for offsets waits
    /// behind a fetch the broker holds open at a changelog's end, up to `fetch.wait.max.ms`).
    assignment_stale: bool,
}

impl Restorer {
    pub(crate) fn new(
        clients: RestoreClients,
        listener: Arc<dyn StateRestoreListener>,
        metrics: Arc<StreamsMetrics>,
        shared: Arc<super::instance::InstanceShared>,
    ) -> Self {
        Restorer {
            reader: ChangelogReader::new(clients.reader, true),
            log_end: clients.log_end,
            restoring: BTreeMap::new(),
            listener,
            metrics,
            shared,
            assignment_stale: false,
        }
    }

    /// Publishes how far `changelog` of `task` is restored.
    fn publish(&self, task: TaskId, changelog: &ChangelogPartition, position: i64, end: i64) {
        self.shared.update_task_status(task, |status| {
            let progress =
                status.changelog(&changelog.store, &changelog.topic, changelog.partition);
            progress.position = position;
            progress.end = Some(end);
        });
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.restoring.is_empty()
    }

    /// Whether a changelog has records left to read now; false while every changelog being
    /// restored is only waiting for a transaction open on it to end (the thread then polls
    /// its consumer at its usual pace rather than spin).
    pub(crate) fn is_reading(&self) -> bool {
        self.restoring
            .keys()
            .any(|changelog| !self.reader.caught_up(changelog))
    }

    /// Asks again, at most every [`open_transaction::RECHECK_EVERY`] and for at most
    /// [`open_transaction::RECHECK_BUDGET`] per step, for the offsets of each
    /// changelog read up to its last stable offset that waits for a transaction open on it
    /// (see [`open_transaction`]): a last stable offset that moved on is read up to, and once
    /// nothing committed can be hidden past the reader's next offset, the wait ends. A request
    /// that fails is tried again later.
    fn recheck_open_transactions(&mut self) -> Result<()> {
        let Some(log_end) = &self.log_end else {
            return Ok(());
        };
        let (reader, shared) = (&mut self.reader, &self.shared);
        let started = Instant::now();
        for (key, r) in &mut self.restoring {
            let Some(checked) = &mut r.waiting else {
                continue;
            };
            if started.elapsed() >= open_transaction::RECHECK_BUDGET {
                // The rest are asked at later steps (those asked now wait their turn).
                break;
            }
            if !reader.caught_up(key)
                || checked.is_some_and(|at| at.elapsed() < open_transaction::RECHECK_EVERY)
            {
                continue;
            }
            *checked = Some(Instant::now());
            let Some(next) = reader.position(key) else {
                continue;
            };
            // The last stable offset first: the log end asked after it can only be further on.
            let offsets = log_end
                .stable_consumer()
                .and_then(|consumer| super::clients::watermarks_once(consumer, &key.0, key.1))
                .and_then(|(_, stable)| {
                    let (_, end) =
                        super::clients::watermarks_once(log_end.consumer()?, &key.0, key.1)?;
                    Ok((stable, end))
                });
            let (stable, end) = match offsets {
                Ok(offsets) => offsets,
                Err(e) => {
                    debug!(task = %r.task, "{e}; asking again later");
                    continue;
                }
            };
            if stable > next {
                reader.set_end(key, stable)?;
                r.meter.extend(stable, next);
                shared.update_task_status(r.task, |status| {
                    status.changelog(&r.changelog.store, &key.0, key.1).end = Some(stable);
                });
            }
            if !may_hide_committed(next, stable, end) {
                info!(
                    task = %r.task,
                    "the transaction open on {}-{} ended (last stable offset {stable}, log end {end}): restoring store `{}` on",
                    key.0, key.1, r.changelog.store
                );
                r.waiting = None;
            }
        }
        Ok(())
    }

    /// The offsets of each changelog partition of `task` that
    /// [`checkpoint_past_end`](Self::checkpoint_past_end) and [`add`](Self::add) need, asked of
    /// the broker once. Under exactly-once the reader's end is the last stable offset: what it
    /// can read, and the log's end is asked of a `read_uncommitted` client as well.
    ///
    /// Each partition is asked once, not retried: a transient error (a leader moving or down)
    /// is returned, and the task manager tries the task again on a later turn of the loop
    /// while the thread keeps polling (Kafka Streams' `task.timeout.ms`, KIP-572).
    pub(crate) fn ends(&self, task: &Task) -> Result<ChangelogEnds> {
        let mut ends = ChangelogEnds::default();
        for (changelog, checkpoint) in task.changelogs() {
            let (low, readable) = super::clients::watermarks_once(
                self.reader.consumer(),
                &changelog.topic,
                changelog.partition,
            )?;
            // Asked after the last stable offset: the two can only show more in the log than
            // the reader can read, never less.
            let log_end = match &self.log_end {
                Some(client) => Some(
                    super::clients::watermarks_once(
                        client.consumer()?,
                        &changelog.topic,
                        changelog.partition,
                    )?
                    .1,
                ),
                None => None,
            };
            let checkpoint_past_log_end = checkpoint
                .is_some_and(|offset| offset >= log_end.map_or(readable, |end| end.max(readable)));
            ends.0.insert(
                (changelog.topic, changelog.partition),
                End {
                    low,
                    readable,
                    log_end,
                    checkpoint_past_log_end,
                },
            );
        }
        Ok(ends)
    }

    /// The first changelog partition of `task` whose checkpoint points past the partition's
    /// end: the changelog was deleted and made anew (a reset without clean-up, or a topic
    /// recreated by hand), so the store holds state the changelog no longer has. Kafka Streams
    /// treats such a task as corrupt (its restore fails out of range) and wipes it.
    ///
    /// The end is the log's, not the last stable offset a `read_committed` reader stops at: a
    /// transaction left open on the changelog (by a zombie of an earlier owner) holds that
    /// back, and the store may have committed records after it; wiping such a store would
    /// restore only up to the open transaction, losing those.
    pub(crate) fn checkpoint_past_end(
        &self,
        task: &Task,
        ends: &ChangelogEnds,
    ) -> Result<Option<String>> {
        for (changelog, checkpoint) in task.changelogs() {
            let Some(offset) = checkpoint else {
                continue;
            };
            let end = ends.of(&changelog)?;
            let readable_end = end.readable;
            if end.checkpoint_past_log_end {
                return Ok(Some(format!(
                    "checkpoint offset {offset} of store `{}` is past the end ({readable_end}) of {}-{}",
                    changelog.store, changelog.topic, changelog.partition
                )));
            }
        }
        Ok(None)
    }

    /// Registers `task`'s changelogs (read from the next [`step`](Self::step) on); returns
    /// whether any has records to restore.
    ///
    /// A source table's input topic is restored up to the group's committed offset
    /// (`committed`, by partition; none committed: nothing to restore), as Kafka Streams
    /// does: the records after it are processed again, which writes them to the store.
    pub(crate) fn add(
        &mut self,
        task: &Task,
        committed: &std::collections::HashMap<(String, i32), i64>,
        ends: &ChangelogEnds,
    ) -> Result<bool> {
        let mut added = false;
        for (changelog, checkpoint) in task.changelogs() {
            let End {
                low,
                readable: readable_end,
                log_end,
                checkpoint_past_log_end,
            } = ends.of(&changelog)?;
            let high = if changelog.is_source() {
                let key = (changelog.topic.clone(), changelog.partition);
                readable_end.min(committed.get(&key).copied().unwrap_or(0))
            } else {
                readable_end
            };
            // A checkpoint past the readable end but within the log is past a transaction
            // left open on the changelog: the store holds everything up to it, so there is
            // nothing to restore (`start >= high`).
            let start = match checkpoint {
                Some(offset) if checkpoint_past_log_end => {
                    warn!(
                        task = %task.id(),
                        "checkpoint offset {offset} of {}-{} is past the changelog's end {readable_end}; restoring from the start",
                        changelog.topic, changelog.partition
                    );
                    low
                }
                Some(offset) => offset.saturating_add(1).max(low),
                None => low,
            };
            // A source table is restored up to the group's committed offset, which the group
            // coordinator gives only once no transaction holding offsets is open.
            let wait = !changelog.is_source()
                && log_end.is_some_and(|end| may_hide_committed(start, readable_end, end));
            if start >= high && !wait {
                continue;
            }
            if wait {
                warn!(
                    task = %task.id(),
                    "{}-{} has a transaction open at offset {readable_end} (its log ends at {}): records committed after it cannot be read until it ends, so store `{}` is restored once it has (at the latest after its producer's transaction.timeout.ms)",
                    changelog.topic,
                    changelog.partition,
                    log_end.unwrap_or(readable_end),
                    changelog.store
                );
            }
            let high = high.max(start);
            info!(
                task = %task.id(),
                "restoring store `{}` from {}-{} offsets {start}..{high}",
                changelog.store, changelog.topic, changelog.partition
            );
            self.listener.on_restore_start(
                &changelog.topic,
                changelog.partition,
                &changelog.store,
                start,
                high,
            );
            self.publish(task.id(), &changelog, start, high);
            let key = (changelog.topic.clone(), changelog.partition);
            self.reader.add(key.clone(), start, Some(high));
            let meter = RestoreMeter::new(&self.metrics, task.id(), &changelog.store, start, high);
            self.restoring.insert(
                key,
                Restoring {
                    task: task.id(),
                    changelog,
                    restored: 0,
                    meter,
                    waiting: wait.then_some(None),
                },
            );
            added = true;
        }
        self.assignment_stale |= added;
        Ok(added)
    }

    /// Forgets `task`'s changelogs (it was revoked while restoring).
    pub(crate) fn remove(&mut self, task: TaskId) -> Result<()> {
        let (reader, before) = (&mut self.reader, self.restoring.len());
        self.restoring.retain(|key, r| {
            if r.task == task {
                reader.remove(key);
            }
            r.task != task
        });
        if self.restoring.len() < before {
            self.assignment_stale = true;
        }
        if self.assignment_stale && self.is_idle() {
            // No step follows while idle: stop fetching now.
            self.assignment_stale = false;
            self.reader.assign()?;
        }
        Ok(())
    }

    /// Reads changelog records for a while and applies them. Returns the tasks whose stores
    /// are now fully restored.
    pub(crate) fn step(&mut self, tasks: &mut BTreeMap<TaskId, Task>) -> Result<Vec<TaskId>> {
        if self.is_idle() {
            return Ok(Vec::new());
        }
        if self.assignment_stale {
            self.assignment_stale = false;
            self.reader.assign()?;
        }
        let (restoring, listener, shared) = (&mut self.restoring, &*self.listener, &self.shared);
        let started = std::time::Instant::now();
        self.reader.read(STEP_BUDGET, |key, records, last| {
            let Some(r) = restoring.get_mut(key) else {
                return Ok(());
            };
            let task = tasks.get_mut(&r.task).ok_or_else(|| {
                Error::IllegalState(format!("restoring task {} that is not assigned", r.task))
            })?;
            let _span = task.span().clone().entered();
            task.restore(&r.changelog, records, last)?;
            r.restored += records.len() as u64;
            shared.update_task_status(r.task, |status| {
                status
                    .changelog(
                        &r.changelog.store,
                        &r.changelog.topic,
                        r.changelog.partition,
                    )
                    .position = last + 1;
            });
            r.meter.restored(records.len() as u64, last);
            listener.on_batch_restored(
                &r.changelog.topic,
                r.changelog.partition,
                &r.changelog.store,
                last,
                records.len() as u64,
            );
            Ok(())
        })?;
        let elapsed = started.elapsed();
        for r in self.restoring.values_mut() {
            r.meter.update_rate(elapsed);
        }
        self.recheck_open_transactions()?;
        let mut caught_up: BTreeMap<TaskId, bool> = BTreeMap::new();
        for (key, r) in &self.restoring {
            *caught_up.entry(r.task).or_insert(true) &=
                self.reader.caught_up(key) && r.waiting.is_none();
        }
        let done: Vec<TaskId> = caught_up
            .into_iter()
            .filter(|(_, all)| *all)
            .map(|(task, _)| task)
            .collect();
        if done.is_empty() {
            return Ok(done);
        }
        for task in &done {
            self.shared.update_task_status(*task, |status| {
                status.phase = super::TaskPhase::Running;
                status.changelogs.clear();
            });
        }
        let (reader, listener) = (&mut self.reader, &*self.listener);
        self.restoring.retain(|key, r| {
            if !done.contains(&r.task) {
                return true;
            }
            info!(task = %r.task, "restored {} records into store `{}`", r.restored, r.changelog.store);
            listener.on_restore_end(
                &r.changelog.topic,
                r.changelog.partition,
                &r.changelog.store,
                r.restored,
            );
            reader.remove(key);
            false
        });
        self.reader.assign()?;
        Ok(done)
    }
}
