//! [`StateRestoreListener`]: progress of restoring stores from their changelogs, as Kafka
//! Streams' listener of the same name reports it.

/// Told about each changelog partition a stream thread restores a store from. Called on the
/// stream thread doing the work, so keep it quick. Every method does nothing by default.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use streams_core::runtime::StateRestoreListener;
///
/// #[derive(Default)]
/// struct Progress(AtomicU64);
///
/// impl StateRestoreListener for Progress {
///     fn on_batch_restored(&self, _topic: &str, _partition: i32, _store: &str, _end: i64, restored: u64) {
///         self.0.fetch_add(restored, Ordering::Relaxed);
///     }
/// }
/// ```
pub trait StateRestoreListener: Send + Sync {
    /// Restoring `store` from `topic`-`partition` begins, reading offsets
    /// `start_offset..end_offset`.
    fn on_restore_start(
        &self,
        topic: &str,
        partition: i32,
        store: &str,
        start_offset: i64,
        end_offset: i64,
    ) {
        let _ = (topic, partition, store, start_offset, end_offset);
    }

    /// A batch of `restored` records, up to offset `batch_end_offset`, was written into
    /// `store`.
    fn on_batch_restored(
        &self,
        topic: &str,
        partition: i32,
        store: &str,
        batch_end_offset: i64,
        restored: u64,
    ) {
        let _ = (topic, partition, store, batch_end_offset, restored);
    }

    /// `store` is restored from `topic`-`partition`: `total_restored` records in all.
    fn on_restore_end(&self, topic: &str, partition: i32, store: &str, total_restored: u64) {
        let _ = (topic, partition, store, total_restored);
    }
}

/// The listener used when none is set.
pub(crate) struct NoRestoreListener;

impl StateRestoreListener for NoRestoreListener {}
