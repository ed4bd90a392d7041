//! How a window store's cache writes a window through to the engine and the changelog (Kafka
//! Streams' `CachingWindowStore.putAndMaybeForward`), and how changes are logged.

use super::{WindowFlush, split_engine_key};
use crate::Result;
use crate::cache::named::Dirty;
use crate::changelog::ChangelogSink;
use crate::segments::Segments;
use crate::split_timestamped;
use crate::store::KeyValueStore;

/// The timestamp a change is logged with: a timestamped value's own, else the writer's record
/// time (`None`: the sink's, the record being processed).
pub(super) fn stamp(
    timestamped: bool,
    value: Option<&[u8]>,
    record_time: Option<i64>,
) -> Option<i64> {
    match value.filter(|_| timestamped).and_then(split_timestamped) {
        Some((ts, _)) => Some(ts),
        None => record_time,
    }
}

pub(super) fn log(
    sink: Option<&dyn ChangelogSink>,
    store: &str,
    key: &[u8],
    value: Option<&[u8]>,
    timestamp: Option<i64>,
) -> Result<()> {
    match sink {
        Some(sink) => sink.send(store, key, value, timestamp),
        None => Ok(()),
    }
}

/// Where the cache writes a window through: engine and changelog, recording the write.
pub(super) struct WriteThrough<'a> {
    pub(super) name: &'a str,
    pub(super) engine: &'a mut dyn KeyValueStore,
    pub(super) segments: &'a mut Segments,
    pub(super) changelog: Option<&'a dyn ChangelogSink>,
    pub(super) timestamped: bool,
    /// Read the old value of every window written (else of removals only).
    pub(super) fetch_old: bool,
    pub(super) out: &'a mut Vec<WindowFlush>,
}

impl WriteThrough<'_> {
    /// Kafka Streams' `CachingWindowStore.putAndMaybeForward` over a segmented store: the old
    /// value as the store holds it now (if asked for, or to skip a removal of nothing), then
    /// the put, which moves the store's observed time.
    pub(super) fn write(&mut self, dirty: Dirty<'_>) -> Result<()> {
        let Some((key, start, _)) = split_engine_key(dirty.key) else {
            return Ok(());
        };
        let wanted = self.fetch_old || dirty.value.is_none();
        let old = if wanted && start >= self.segments.min_live_time() {
            self.engine.get(dirty.key)?
        } else {
            None
        };
        if dirty.value.is_none() && old.is_none() {
            // Kafka Streams' shortcut: a removal of a window the store does not hold changes
            // nothing, and is neither written nor forwarded.
            return Ok(());
        }
        // A window that expired while cached is not kept, but (as in Kafka Streams, whose
        // changelogging layer does not know of expiry) logged and forwarded.
        let live = self.segments.observe(start, self.engine)?;
        if live {
            match dirty.value {
                Some(v) => self.engine.put(dirty.key, v)?,
                None => self.engine.delete(dirty.key)?,
            }
        }
        let timestamp = stamp(self.timestamped, dirty.value, dirty.timestamp);
        log(
            self.changelog,
            self.name,
            &dirty.key[8..],
            dirty.value,
            timestamp,
        )?;
        self.out.push(WindowFlush {
            key: key.to_vec(),
            start,
            new: dirty.value.map(<[u8]>::to_vec),
            old,
            timestamp: dirty.timestamp,
            expired: !live,
        });
        Ok(())
    }
}
