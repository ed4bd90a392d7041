//! How a session store's cache writes a session through to the engine and the changelog
//! (Kafka Streams' `CachingSessionStore.putAndMaybeForward`), and how changes are logged.

use super::{SessionFlush, split_engine_key};
use crate::Result;
use crate::cache::named::Dirty;
use crate::changelog::ChangelogSink;
use crate::segments::Segments;
use crate::store::KeyValueStore;

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

/// Where the cache writes a session through: engine and changelog, recording the write.
pub(super) struct WriteThrough<'a> {
    pub(super) name: &'a str,
    pub(super) engine: &'a mut dyn KeyValueStore,
    pub(super) segments: &'a mut Segments,
    pub(super) changelog: Option<&'a dyn ChangelogSink>,
    pub(super) out: &'a mut Vec<SessionFlush>,
}

impl WriteThrough<'_> {
    /// Kafka Streams' `CachingSessionStore.putAndMaybeForward` over a segmented store: the
    /// old value as the store holds it now, then the put, which moves the store's observed
    /// time. Sessions are flushed in the order of their last writes, so a session merged away
    /// is removed (and its removal forwarded) before the merged session moves time past it.
    pub(super) fn write(&mut self, dirty: Dirty<'_>) -> Result<()> {
        let Some((key, start, end)) = split_engine_key(dirty.key) else {
            return Ok(());
        };
        let old = if end >= self.segments.min_live_time() {
            self.engine.get(dirty.key)?
        } else {
            None
        };
        if dirty.value.is_none() && old.is_none() {
            // Kafka Streams' shortcut: removing a session the store does not hold (merged
            // away while cached) changes nothing, and is neither written nor forwarded.
            return Ok(());
        }
        let live = self.segments.observe(end, self.engine)?;
        if live {
            match dirty.value {
                Some(v) => self.engine.put(dirty.key, v)?,
                None => self.engine.delete(dirty.key)?,
            }
        }
        log(
            self.changelog,
            self.name,
            &dirty.key[8..],
            dirty.value,
            dirty.timestamp,
        )?;
        self.out.push(SessionFlush {
            key: key.to_vec(),
            start,
            end,
            new: dirty.value.map(<[u8]>::to_vec),
            old,
            timestamp: dirty.timestamp,
            expired: !live,
        });
        Ok(())
    }
}
