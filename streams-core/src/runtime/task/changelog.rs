//! A task's changelogs: which partitions it restores and from where, what it applies from
//! them, and the checkpoint of the offsets its persistent stores reflect.
//!
//! A store of a source table under `reuse.ktable.source.topics` has the table's input topic
//! for changelog: it is restored from the input partition (each record decoded and encoded as
//! the table writes it), and its checkpointed offset is the last input offset the task
//! processed, as Kafka Streams checkpoints such stores.

use std::collections::BTreeMap;

use streams_state::{ChangelogOffsets, ChangelogRecord};
use tracing::warn;

use super::Task;
use crate::topology::{RecodeError, RestoreRecode};
use crate::{Error, Result};

/// A checkpoint is rewritten (which flushes RocksDB's memtables) once the changelogs have moved
/// this far past the last one, or when the task closes. Kafka Streams uses the same threshold.
const CHECKPOINT_DELTA: i64 = 10_000;

/// A store's changelog partition.
#[derive(Clone)]
pub(crate) struct ChangelogPartition {
    pub(crate) store: String,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    /// Whether the store keeps its data across a restart (RocksDB): only such stores'
    /// changelog offsets are checkpointed, as in Kafka Streams; an in-memory store starts empty
    /// and is restored from the beginning of its changelog.
    pub(crate) persistent: bool,
    /// For a source table's input topic used as its changelog: how its records become the
    /// store's. Such a changelog is restored up to the group's committed offset only (the
    /// records after it are processed again), and never written.
    pub(crate) source: Option<RestoreRecode>,
}

impl std::fmt::Debug for ChangelogPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangelogPartition")
            .field("store", &self.store)
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("persistent", &self.persistent)
            .field("source", &self.source.is_some())
            .finish()
    }
}

impl ChangelogPartition {
    /// Whether this is a source table's input topic, not a changelog of the application's.
    pub(crate) fn is_source(&self) -> bool {
        self.source.is_some()
    }
}

/// The records of a source table's input topic as its store restores them: recoded, without
/// the records the table ignores or cannot decode, and with the timestamp in front of each
/// value for a timestamped store (whose changelog layer does that for changelogs of its own).
fn from_source(
    changelog: &ChangelogPartition,
    recode: &RestoreRecode,
    timestamped: bool,
    records: &[ChangelogRecord],
) -> Result<Vec<ChangelogRecord>> {
    let mut restored = Vec::with_capacity(records.len());
    for record in records {
        let mut record = match recode(record) {
            Ok(Some(record)) => record,
            Ok(None) => continue,
            Err(RecodeError::Decode { field, source }) => {
                warn!(
                    store = %changelog.store,
                    "skipping a record of {}-{} whose {field} does not decode ({source}): processing skipped it too",
                    changelog.topic, changelog.partition
                );
                continue;
            }
            Err(RecodeError::Encode(error)) => return Err(error),
        };
        if timestamped && let Some(value) = record.value.take() {
            let mut stored = Vec::with_capacity(8 + value.len());
            streams_state::push_timestamp(&mut stored, record.timestamp);
            stored.extend_from_slice(&value);
            record.value = Some(stored);
        }
        restored.push(record);
    }
    Ok(restored)
}

/// Whether `changelog` (topic, partition) is the changelog of a persistent store of
/// `changelogs`: only those offsets are checkpointed.
pub(super) fn checkpointable(changelogs: &[ChangelogPartition], changelog: &(String, i32)) -> bool {
    changelogs
        .iter()
        .any(|c| c.persistent && c.topic == changelog.0 && c.partition == changelog.1)
}

impl Task {
    /// The changelog partitions to restore, with the offset to resume after (if checkpointed).
    pub(crate) fn changelogs(&self) -> Vec<(ChangelogPartition, Option<i64>)> {
        self.changelogs
            .iter()
            .map(|c| {
                let offset = self
                    .changelog_offsets
                    .get(&(c.topic.clone(), c.partition))
                    .copied();
                (c.clone(), offset)
            })
            .collect()
    }

    /// Applies changelog records read back from `changelog`; `last_offset` is the offset of the
    /// last of them.
    pub(crate) fn restore(
        &mut self,
        changelog: &ChangelogPartition,
        records: &[ChangelogRecord],
        last_offset: i64,
    ) -> Result<()> {
        let entry = self
            .ctx
            .stores()
            .get(&changelog.store)
            .ok_or_else(|| Error::StoreAccess {
                name: changelog.store.clone(),
                reason: format!("task {} has no such store to restore", self.id()),
            })?;
        let recoded;
        let records = match &changelog.source {
            Some(recode) => {
                recoded = from_source(changelog, recode, entry.builder.is_timestamped(), records)?;
                &recoded[..]
            }
            None => records,
        };
        entry
            .store
            .restore_batch(records)
            .map_err(self.state_err())?;
        if let Some(txn) = &entry.txn {
            // Restored records are committed ones: the store takes them with their position.
            txn.commit(Some(last_offset)).map_err(self.state_err())?;
        }
        self.changelog_offsets
            .insert((changelog.topic.clone(), changelog.partition), last_offset);
        Ok(())
    }

    /// Exactly-once, once the transaction committed: each transactional store writes what it
    /// holds pending in one atomic batch with the changelog offset it now reflects (-1: none
    /// yet, or no changelog), so that a crash or an abort later rolls it back to here.
    pub(crate) fn commit_stores(&mut self) -> Result<()> {
        for entry in self.ctx.stores().iter() {
            let Some(txn) = &entry.txn else { continue };
            let position = self
                .changelogs
                .iter()
                .find(|c| c.store == entry.builder.name())
                .and_then(|c| {
                    self.changelog_offsets
                        .get(&(c.topic.clone(), c.partition))
                        .copied()
                })
                .unwrap_or(-1);
            txn.commit(Some(position)).map_err(self.state_err())?;
        }
        Ok(())
    }

    /// An estimate of the memory the transactional stores' uncommitted writes take.
    pub(crate) fn uncommitted_bytes(&self) -> usize {
        self.ctx
            .stores()
            .iter()
            .filter_map(|e| e.txn.as_ref())
            .map(|t| t.uncommitted_bytes())
            .sum()
    }

    /// Whether every transactional store holds a committed changelog position (a store
    /// without one may be from a version that wrote uncommitted data to disk).
    pub(crate) fn positions_committed(&self) -> Result<bool> {
        for entry in self.ctx.stores().iter() {
            if let Some(txn) = &entry.txn
                && txn.position().map_err(self.state_err())?.is_none()
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Records the last changelog offsets this task's stores reflect: the producer confirmed
    /// them (`delivered`), or, for a source table's input topic, the task processed them
    /// (call after the stores are flushed).
    pub(crate) fn update_changelog_offsets(&mut self, delivered: &BTreeMap<(String, i32), i64>) {
        for c in &self.changelogs {
            let key = (c.topic.clone(), c.partition);
            let offset = if c.is_source() {
                self.consumed
                    .iter()
                    .find(|(t, p, _)| **t == *c.topic && *p == c.partition)
                    .map(|(_, _, next)| next - 1)
            } else {
                delivered.get(&key).copied()
            };
            if let Some(offset) = offset {
                self.changelog_offsets.insert(key, offset);
            }
        }
    }

    /// Flushes the stores to disk and writes the checkpoint, if the changelogs moved enough
    /// since the last one (or `force`). Call only after the producer confirmed every changelog
    /// record, so the checkpoint never runs ahead of the changelog.
    pub(crate) fn maybe_checkpoint(&mut self, force: bool) -> Result<()> {
        let moved = self.changelog_offsets.iter().any(|(k, &offset)| {
            let before = self.checkpointed.get(k).copied().unwrap_or(-1);
            offset - before >= CHECKPOINT_DELTA || (force && offset != before)
        });
        if !moved {
            return Ok(());
        }
        for entry in self.ctx.stores().iter() {
            entry.store.flush().map_err(self.state_err())?;
        }
        let persistent: ChangelogOffsets = self
            .changelog_offsets
            .iter()
            .filter(|(changelog, _)| checkpointable(&self.changelogs, changelog))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        self.checkpoint
            .write(&persistent)
            .map_err(self.state_err())?;
        self.checkpointed = self.changelog_offsets.clone();
        Ok(())
    }
}
