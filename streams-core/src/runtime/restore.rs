//! Restoring stores from their changelogs before a task processes: a separate consumer, outside
//! the group, reads each changelog partition from just after the checkpoint to its end offset
//! and applies the records in batches (RocksDB write batches, no WAL).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use streams_state::ChangelogRecord;
use tracing::{info, warn};

use super::StateRestoreListener;
use super::task::{ChangelogPartition, Task};
use crate::{Error, Result, TaskId};

const BATCH: usize = 1_000;
/// A restore step yields after this long, so the stream thread keeps polling its consumer.
const STEP_BUDGET: Duration = Duration::from_millis(200);

struct ChangelogState {
    task: TaskId,
    changelog: ChangelogPartition,
    /// Offset to stop at (the high watermark when restoration began).
    end: i64,
    /// Next offset to read.
    position: i64,
    batch: Vec<ChangelogRecord>,
    restored: u64,
}

/// The restore consumer and the changelog partitions it is catching up.
pub(crate) struct Restorer {
    consumer: BaseConsumer,
    partitions: HashMap<String, HashMap<i32, ChangelogState>>,
    listener: Arc<dyn StateRestoreListener>,
}

impl Restorer {
    pub(crate) fn new(consumer: BaseConsumer, listener: Arc<dyn StateRestoreListener>) -> Self {
        Restorer {
            consumer,
            partitions: HashMap::new(),
            listener,
        }
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.partitions.values().all(HashMap::is_empty)
    }

    fn states(&self) -> impl Iterator<Item = &ChangelogState> {
        self.partitions.values().flat_map(HashMap::values)
    }

    /// Registers `task`'s changelogs; returns whether any has records to restore.
    pub(crate) fn add(&mut self, task: &Task) -> Result<bool> {
        let mut added = false;
        for (changelog, checkpoint) in task.changelogs() {
            let (low, high) =
                super::clients::watermarks(&self.consumer, &changelog.topic, changelog.partition)?;
            let start = match checkpoint {
                Some(offset) if offset + 1 > high => {
                    warn!(
                        task = %task.id(),
                        "checkpoint offset {offset} of {}-{} is past the changelog's end {high}; restoring from the start",
                        changelog.topic, changelog.partition
                    );
                    low
                }
                Some(offset) => (offset + 1).max(low),
                None => low,
            };
            if start >= high {
                continue;
            }
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
            self.partitions
                .entry(changelog.topic.clone())
                .or_default()
                .insert(
                    changelog.partition,
                    ChangelogState {
                        task: task.id(),
                        changelog,
                        end: high,
                        position: start,
                        batch: Vec::new(),
                        restored: 0,
                    },
                );
            added = true;
        }
        if added {
            self.reassign()?;
        }
        Ok(added)
    }

    /// Forgets `task`'s changelogs (it was revoked while restoring).
    pub(crate) fn remove(&mut self, task: TaskId) -> Result<()> {
        for parts in self.partitions.values_mut() {
            parts.retain(|_, s| s.task != task);
        }
        self.reassign()
    }

    fn reassign(&mut self) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for state in self.states() {
            tpl.add_partition_offset(
                &state.changelog.topic,
                state.changelog.partition,
                Offset::Offset(state.position),
            )
            .map_err(|e| Error::kafka("assigning changelog partitions", e))?;
        }
        self.consumer
            .assign(&tpl)
            .map_err(|e| Error::kafka("assigning changelog partitions", e))
    }

    /// Reads changelog records for a while and applies them. Returns the tasks whose stores
    /// are now fully restored.
    pub(crate) fn step(&mut self, tasks: &mut BTreeMap<TaskId, Task>) -> Result<Vec<TaskId>> {
        if self.is_idle() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        while started.elapsed() < STEP_BUDGET {
            let Some(polled) = self.consumer.poll(Duration::from_millis(20)) else {
                self.sync_positions()?;
                break;
            };
            let message = polled.map_err(|e| Error::kafka("reading a changelog", e))?;
            let Some(state) = self
                .partitions
                .get_mut(message.topic())
                .and_then(|p| p.get_mut(&message.partition()))
            else {
                continue;
            };
            if message.offset() < state.position || state.position >= state.end {
                continue;
            }
            state.position = message.offset() + 1;
            if let Some(key) = message.key() {
                state.batch.push(ChangelogRecord::new(
                    key.to_vec(),
                    message.payload().map(<[u8]>::to_vec),
                    message.timestamp().to_millis().unwrap_or(0),
                ));
            }
            if state.batch.len() >= BATCH || state.position >= state.end {
                Self::apply(state, tasks, &*self.listener)?;
            }
            if self.all_caught_up() {
                break;
            }
        }
        let mut done = Vec::new();
        for parts in self.partitions.values_mut() {
            for state in parts.values_mut() {
                Self::apply(state, tasks, &*self.listener)?;
            }
        }
        let finished: Vec<TaskId> = {
            let mut by_task: BTreeMap<TaskId, bool> = BTreeMap::new();
            for state in self.states() {
                let caught_up = by_task.entry(state.task).or_insert(true);
                *caught_up &= state.position >= state.end;
            }
            by_task
                .into_iter()
                .filter(|(_, ok)| *ok)
                .map(|(t, _)| t)
                .collect()
        };
        for task in finished {
            for parts in self.partitions.values_mut() {
                parts.retain(|_, s| {
                    if s.task == task {
                        info!(%task, "restored {} records into store `{}`", s.restored, s.changelog.store);
                        self.listener.on_restore_end(
                            &s.changelog.topic,
                            s.changelog.partition,
                            &s.changelog.store,
                            s.restored,
                        );
                    }
                    s.task != task
                });
            }
            done.push(task);
        }
        if !done.is_empty() {
            self.reassign()?;
        }
        Ok(done)
    }

    fn all_caught_up(&self) -> bool {
        self.states().all(|s| s.position >= s.end)
    }

    /// Moves positions past offsets that carry no records (transaction markers, compacted gaps).
    fn sync_positions(&mut self) -> Result<()> {
        let positions = self
            .consumer
            .position()
            .map_err(|e| Error::kafka("reading restore positions", e))?;
        for element in positions.elements() {
            if let (Offset::Offset(offset), Some(state)) = (
                element.offset(),
                self.partitions
                    .get_mut(element.topic())
                    .and_then(|p| p.get_mut(&element.partition())),
            ) && offset > state.position
            {
                state.position = offset.min(state.end);
            }
        }
        Ok(())
    }

    fn apply(
        state: &mut ChangelogState,
        tasks: &mut BTreeMap<TaskId, Task>,
        listener: &dyn StateRestoreListener,
    ) -> Result<()> {
        if state.batch.is_empty() {
            return Ok(());
        }
        let task = tasks.get_mut(&state.task).ok_or_else(|| {
            Error::IllegalState(format!(
                "restoring task {} that is not assigned",
                state.task
            ))
        })?;
        task.restore(&state.changelog, &state.batch, state.position - 1)?;
        state.restored += state.batch.len() as u64;
        listener.on_batch_restored(
            &state.changelog.topic,
            state.changelog.partition,
            &state.changelog.store,
            state.position - 1,
            state.batch.len() as u64,
        );
        state.batch.clear();
        Ok(())
    }
}
