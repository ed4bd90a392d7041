//! A task's changelogs: which partitions it restores and from where, what it applies from
//! them, and the checkpoint of the offsets its persistent stores reflect.

use std::collections::BTreeMap;

use streams_state::{ChangelogOffsets, ChangelogRecord};

use super::Task;
use crate::{Error, Result};

/// A checkpoint is rewritten (which flushes RocksDB's memtables) once the changelogs have moved
/// this far past the last one, or when the task closes. Kafka Streams uses the same threshold.
const CHECKPOINT_DELTA: i64 = 10_000;

/// A store's changelog partition.
#[derive(Debug, Clone)]
pub(crate) struct ChangelogPartition {
    pub(crate) store: String,
    pub(crate) topic: String,
    pub(crate) partition: i32,
    /// Whether the store keeps its data across a restart (RocksDB): only such stores'
    /// changelog offsets are checkpointed, as in Kafka Streams; an in-memory store starts empty
    /// and is restored from the beginning of its changelog.
    pub(crate) persistent: bool,
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
        entry
            .store
            .restore_batch(records)
            .map_err(self.state_err())?;
        self.changelog_offsets
            .insert((changelog.topic.clone(), changelog.partition), last_offset);
        Ok(())
    }

    /// Records the last changelog offsets the producer confirmed for this task's changelogs.
    pub(crate) fn update_changelog_offsets(&mut self, delivered: &BTreeMap<(String, i32), i64>) {
        for c in &self.changelogs {
            let key = (c.topic.clone(), c.partition);
            if let Some(&offset) = delivered.get(&key) {
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
