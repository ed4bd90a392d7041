//! Session stores: values per key and session `[start, end]`, in segments by session end,
//! optionally logged to a changelog and optionally behind the record cache (Kafka Streams'
//! `CachingSessionStore`).

use std::ops::Bound;
use std::sync::Arc;

use crate::cache::merge::{cached_in_segments, merge, snapshot};
use crate::cache::named::SharedCache;
use crate::cache::store_cache::StoreCache;
use crate::changelog::ChangelogSink;
use crate::segments::{Segments, encode_time, is_meta, time_at};
use crate::store::{
    ChangelogRecord, KeyValueIter, KeyValueStore, ReadOnlyKeyValueStore, StateStore,
};
use crate::{CacheBudget, CacheObserver, Error, Result};

/// One session: key, start and end (both inclusive), value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionEntry {
    /// The record key.
    pub key: Vec<u8>,
    /// Timestamp of the session's first record.
    pub start: i64,
    /// Timestamp of the session's last record.
    pub end: i64,
    /// The aggregate.
    pub value: Vec<u8>,
}

/// A session the record cache wrote through to the store (evicted, or flushed at a commit):
/// what its owner forwards downstream, as Kafka Streams' `SessionCacheFlushListener` does.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionFlush {
    /// The record key.
    pub key: Vec<u8>,
    /// The session's start.
    pub start: i64,
    /// The session's end.
    pub end: i64,
    /// The value written; `None` if the session was removed.
    pub new: Option<Vec<u8>>,
    /// The value the store held before.
    pub old: Option<Vec<u8>>,
    /// The timestamp of the record that last wrote the session, when its writer gave one.
    pub timestamp: Option<i64>,
    /// The session had expired when it reached the store: it was logged (and is to be
    /// forwarded) but not kept, as Kafka Streams' segmented store drops it, counted.
    pub expired: bool,
}

/// A store of sessions. Engine keys are `segment(end) | key | end | start`; changelog keys
/// `key | end | start`, Kafka Streams' `SessionKeySchema`.
///
/// With a record cache ([`with_cache`](Self::with_cache)), puts and removals go to the
/// cache; reads merge cache and engine; sessions reach the engine and the changelog when the
/// cache evicts them or is flushed ([`flush_cache`](Self::flush_cache),
/// [`take_evicted`](Self::take_evicted)).
///
/// The store keeps two times across restarts: the largest session end put (retention is
/// measured from it) and its [`stream_time`](Self::stream_time).
pub struct SessionStore {
    name: String,
    engine: Box<dyn KeyValueStore>,
    segments: Segments,
    changelog: Option<Box<dyn ChangelogSink>>,
    cache: Option<StoreCache>,
    /// Sessions written through since the owner last took them.
    evicted: Vec<SessionFlush>,
    /// The engine key being written (reused: no allocation per put).
    key_buf: Vec<u8>,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("name", &self.name)
            .field("retention", &self.segments.retention)
            .field("cache", &self.cache)
            .finish()
    }
}

/// Engine key bytes besides the record key: segment, end, start.
const FRAME: usize = 8 + 16;

pub(crate) fn write_engine_key(
    out: &mut Vec<u8>,
    segments: &Segments,
    key: &[u8],
    start: i64,
    end: i64,
) {
    out.clear();
    out.reserve(FRAME + key.len());
    out.extend_from_slice(&segments.prefix(end));
    out.extend_from_slice(key);
    out.extend_from_slice(&encode_time(end));
    out.extend_from_slice(&encode_time(start));
}

/// The record key, start and end of an engine key.
pub(crate) fn split_engine_key(engine_key: &[u8]) -> Option<(&[u8], i64, i64)> {
    if is_meta(engine_key) {
        return None;
    }
    let key_len = engine_key.len().checked_sub(FRAME)?;
    let end = time_at(engine_key, 8 + key_len)?;
    let start = time_at(engine_key, 16 + key_len)?;
    Some((&engine_key[8..8 + key_len], start, end))
}

/// The session end of an engine key (for recovering the store's times from its data).
fn engine_key_end(engine_key: &[u8]) -> Option<i64> {
    split_engine_key(engine_key).map(|(_, _, end)| end)
}

/// The record key, start and end of a changelog key (`key | end | start`) of store `store`.
pub(crate) fn parse_log_key<'k>(store: &str, log_key: &'k [u8]) -> Result<(&'k [u8], i64, i64)> {
    let bad = || Error::Changelog {
        store: store.to_string(),
        reason: format!(
            "session changelog key of {} bytes is too short",
            log_key.len()
        ),
    };
    let key_len = log_key.len().checked_sub(16).ok_or_else(bad)?;
    let end = time_at(log_key, key_len).ok_or_else(bad)?;
    let start = time_at(log_key, key_len + 8).ok_or_else(bad)?;
    Ok((&log_key[..key_len], start, end))
}

impl SessionStore {
    /// A session store over `engine` keeping sessions that ended within `retention_ms`; a new
    /// store (what the engine already holds is not looked at: see [`open`](Self::open)).
    pub fn new(engine: Box<dyn KeyValueStore>, retention_ms: i64) -> Self {
        SessionStore {
            name: engine.name().to_string(),
            engine,
            segments: Segments::new(retention_ms),
            changelog: None,
            cache: None,
            evicted: Vec::new(),
            key_buf: Vec::new(),
        }
    }

    /// A session store over an engine that may hold its data from an earlier run: the times
    /// it had reached are read back, so retention and [`stream_time`](Self::stream_time) go
    /// on from there.
    pub fn open(engine: Box<dyn KeyValueStore>, retention_ms: i64) -> Result<Self> {
        let mut store = Self::new(engine, retention_ms);
        store.segments.recover(&*store.engine, engine_key_end)?;
        Ok(store)
    }

    /// Logs every change to `sink`.
    pub fn with_changelog(mut self, sink: Box<dyn ChangelogSink>) -> Self {
        self.changelog = Some(sink);
        self
    }

    /// Puts a record cache sized by `budget` in front of the store.
    pub fn with_cache(mut self, budget: CacheBudget) -> Self {
        self.cache = Some(StoreCache::new(budget));
        self
    }

    /// Tells `observer` whether the cache held the session of each
    /// [`fetch_session`](Self::fetch_session).
    pub fn with_cache_observer(mut self, observer: Box<dyn CacheObserver>) -> Self {
        if let Some(cache) = &mut self.cache {
            cache.set_observer(observer);
        }
        self
    }

    /// Whether a record cache sits in front of the store.
    pub fn is_cached(&self) -> bool {
        self.cache.is_some()
    }

    /// The largest timestamp of the records that wrote the store
    /// ([`put_with_record_time`](Self::put_with_record_time)), or, restored from the
    /// changelog, of its records and session ends (a session ends at its last record): the
    /// stream time of the processor owning the store, kept across restarts. `None` before any.
    pub fn stream_time(&self) -> Option<i64> {
        Some(self.segments.stream_time).filter(|&t| t != i64::MIN)
    }

    /// Stores (or with `None` removes) `key`'s session `[start, end]`. Returns `false` if it
    /// ended before retention, in which case nothing changes.
    pub fn put(&mut self, key: &[u8], start: i64, end: i64, value: Option<&[u8]>) -> Result<bool> {
        self.put_with_record_time(key, start, end, value, None)
    }

    /// As [`put`](Self::put), written by a record stamped `record_time`: it advances the
    /// store's [`stream_time`](Self::stream_time) and stamps the changelog record.
    ///
    /// With a cache, the session goes to the cache and the put always succeeds: retention
    /// applies when the cache writes it through, as in Kafka Streams.
    pub fn put_with_record_time(
        &mut self,
        key: &[u8],
        start: i64,
        end: i64,
        value: Option<&[u8]>,
        record_time: Option<i64>,
    ) -> Result<bool> {
        if let Some(ts) = record_time {
            self.segments.observe_record(ts);
        }
        let mut engine_key = std::mem::take(&mut self.key_buf);
        write_engine_key(&mut engine_key, &self.segments, key, start, end);
        let written = self.write(&engine_key, end, value, record_time);
        self.key_buf = engine_key;
        written
    }

    fn write(
        &mut self,
        engine_key: &[u8],
        end: i64,
        value: Option<&[u8]>,
        record_time: Option<i64>,
    ) -> Result<bool> {
        if let Some(cache) = &mut self.cache {
            self.segments.observe_cached(end);
            let mut through = WriteThrough {
                name: &self.name,
                engine: &mut *self.engine,
                segments: &mut self.segments,
                changelog: self.changelog.as_deref(),
                out: &mut self.evicted,
            };
            cache.put(engine_key, value, record_time, &mut |d| through.write(d))?;
            return Ok(true);
        }
        // As Kafka Streams' segmented store, a put lands if its segment is live (reads still
        // hide what retention passed): a session aggregation emitting on window close accepts
        // a session ending exactly at its close time, and must find it when the window closes.
        self.segments.observe(end, &mut *self.engine)?;
        if !self.segments.in_live_segment(end) {
            return Ok(false);
        }
        match value {
            Some(v) => self.engine.put(engine_key, v)?,
            None => self.engine.delete(engine_key)?,
        }
        log(
            self.changelog.as_deref(),
            &self.name,
            &engine_key[8..],
            value,
            record_time,
        )?;
        Ok(true)
    }

    fn decode(engine_key: &[u8], value: Vec<u8>) -> Option<SessionEntry> {
        let (key, start, end) = split_engine_key(engine_key)?;
        Some(SessionEntry {
            key: key.to_vec(),
            start,
            end,
            value,
        })
    }

    fn shared_cache(&self) -> Option<SharedCache> {
        self.cache.as_ref().map(StoreCache::shared)
    }

    /// `key`'s sessions with `end >= earliest_end` and `start <= latest_start`, ordered by end
    /// then start: the sessions a record at `t` with gap `g` may merge with are
    /// `find_sessions(key, t - g, t + g)`.
    pub fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>> {
        let cache = self.shared_cache();
        Self::find_in(
            &*self.engine,
            cache.as_ref(),
            &self.segments,
            key,
            earliest_end,
            latest_start,
        )
    }

    /// `key`'s sessions as [`find_sessions`](Self::find_sessions) finds them: the cached ones
    /// over the engine's, retention applying to the engine's (measured from the engine's
    /// observed time), not to the cache's, as in Kafka Streams.
    fn find_in(
        engine: &dyn ReadOnlyKeyValueStore,
        cache: Option<&SharedCache>,
        segments: &Segments,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>> {
        let wanted = |engine_key: &[u8], earliest_end: i64| {
            split_engine_key(engine_key).is_some_and(|(k, start, end)| {
                k == key && end >= earliest_end && start <= latest_start
            })
        };
        let cached = cached_in_segments(
            cache,
            segments.cached_range(earliest_end, i64::MAX),
            Some(key),
            &|k| wanted(k, earliest_end),
        );
        let from = earliest_end.max(segments.min_live_time());
        let mut stored: Vec<KeyValueIter<'_>> = Vec::new();
        if segments.observed != i64::MIN && from <= segments.observed {
            for segment in segments.range(from, segments.observed) {
                let mut lo = (segment as u64).to_be_bytes().to_vec();
                lo.extend_from_slice(key);
                let mut hi = lo.clone();
                lo.extend_from_slice(&encode_time(from));
                hi.extend_from_slice(&encode_time(i64::MAX));
                hi.extend_from_slice(&encode_time(i64::MAX));
                stored.push(engine.range(Some(&lo), Some(&hi))?);
            }
        }
        let stored = stored
            .into_iter()
            .flatten()
            .filter(|item| item.as_ref().map_or(true, |(k, _)| wanted(k, from)));
        let mut out = Vec::new();
        merge(stored, cached, &mut |engine_key, value| {
            out.extend(Self::decode(&engine_key, value));
            Ok(())
        })?;
        Ok(out)
    }

    /// The value of exactly the session `[start, end]` of `key`: the cache's (a read that
    /// keeps it cached longer), else the engine's within retention.
    pub fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> Result<Option<Vec<u8>>> {
        let mut engine_key = Vec::new();
        write_engine_key(&mut engine_key, &self.segments, key, start, end);
        if let Some(cached) = self.cache.as_ref().and_then(|c| c.read(&engine_key)) {
            return Ok(cached);
        }
        if self.segments.observed == i64::MIN || end < self.segments.min_live_time() {
            return Ok(None);
        }
        self.engine.get(&engine_key)
    }

    /// Every key's sessions with `earliest_end <= end <= latest_end` in live segments, ordered
    /// by end, then start, then key bytes: Kafka Streams' time-ordered session store's
    /// `findSessions(earliestSessionEndTime, latestSessionEndTime)` (its time-first key schema is
    /// `end | start | key`), which a session aggregation emitting on window close reads its
    /// closed sessions with.
    pub fn sessions_ending_between(
        &self,
        earliest_end: i64,
        latest_end: i64,
    ) -> Result<Vec<SessionEntry>> {
        let mut out = Vec::new();
        let observed = self.segments.observed;
        let latest_end = latest_end.min(observed);
        if observed == i64::MIN || earliest_end > latest_end {
            return Ok(out);
        }
        // Every session of a live segment, as Kafka's time-ordered session store: no finer
        // retention check than the segment.
        let first = self
            .segments
            .segment_of(earliest_end)
            .max(self.segments.first_live_segment());
        for segment in first..=self.segments.segment_of(latest_end) {
            for item in self.engine.prefix_scan(&(segment as u64).to_be_bytes())? {
                let (engine_key, value) = item?;
                let Some(entry) = Self::decode(&engine_key, value) else {
                    continue;
                };
                if entry.end >= earliest_end && entry.end <= latest_end {
                    out.push(entry);
                }
            }
        }
        out.sort_by(|a, b| (a.end, a.start, &a.key).cmp(&(b.end, b.start, &b.key)));
        Ok(out)
    }

    /// Every retained session: the cached ones over the engine's within retention.
    pub fn all(&self) -> Result<Vec<SessionEntry>> {
        let mut out = Vec::new();
        let min_live = self.segments.min_live_time();
        let cache = self.shared_cache();
        let cached = snapshot(cache.as_ref(), Bound::Unbounded, Bound::Unbounded);
        let stored = self.engine.all()?.filter(|item| {
            item.as_ref().map_or(true, |(k, _)| {
                engine_key_end(k).is_some_and(|end| end >= min_live)
            })
        });
        merge(stored, cached, &mut |engine_key, value| {
            out.extend(Self::decode(&engine_key, value));
            Ok(())
        })?;
        Ok(out)
    }

    /// Applies changelog records (keys `key | end | start`). As Kafka Streams does, the
    /// store's time first moves to the batch's largest session end, so sessions of the batch
    /// that it has already expired are not written; its stream time moves to the largest
    /// changelog timestamp or session end.
    pub fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        let mut latest = i64::MIN;
        for record in records {
            let (_, _, end) = parse_log_key(&self.name, &record.key)?;
            latest = latest.max(end);
            self.segments.observe_record(record.timestamp.max(end));
        }
        // Changelog records are committed records (or, at least once, will not be redone).
        self.segments.commit_stream_time();
        if records.is_empty() || !self.segments.observe(latest, &mut *self.engine)? {
            return Ok(());
        }
        let mut engine_key = std::mem::take(&mut self.key_buf);
        for record in records {
            let (key, start, end) = parse_log_key(&self.name, &record.key)?;
            if !self.segments.in_live_segment(end) {
                continue;
            }
            write_engine_key(&mut engine_key, &self.segments, key, start, end);
            match &record.value {
                Some(v) => self.engine.put(&engine_key, v)?,
                None => self.engine.delete(&engine_key)?,
            }
        }
        self.key_buf = engine_key;
        Ok(())
    }

    /// Writes every session the cache holds dirty through to the engine and changelog, and
    /// returns them (with those evicted since the owner last took them), in the order of their
    /// last writes. Empty without a cache.
    pub fn flush_cache(&mut self) -> Result<Vec<SessionFlush>> {
        // Flushed at each commit: what wrote the store so far is committed.
        self.segments.commit_stream_time();
        let mut flushed = std::mem::take(&mut self.evicted);
        if let Some(cache) = &mut self.cache {
            let mut through = WriteThrough {
                name: &self.name,
                engine: &mut *self.engine,
                segments: &mut self.segments,
                changelog: self.changelog.as_deref(),
                out: &mut flushed,
            };
            if let Err(e) = cache.flush(&mut |d| through.write(d)) {
                // What was written through is handed out with the next flush.
                self.evicted = flushed;
                return Err(e);
            }
        }
        Ok(flushed)
    }

    /// Sessions the cache evicted (and wrote through) since the last call.
    pub fn take_evicted(&mut self) -> Vec<SessionFlush> {
        std::mem::take(&mut self.evicted)
    }

    /// Drops what the cache holds without writing it anywhere, and takes the stream time back
    /// to its value at the last [`flush_cache`](Self::flush_cache) (a task closed without
    /// committing: its uncommitted work is redone by the next owner). Call it with or without
    /// a cache.
    pub fn discard_cache(&mut self) {
        if let Some(cache) = &mut self.cache {
            cache.discard();
        }
        self.evicted.clear();
        self.segments.roll_back_stream_time();
    }

    /// A read handle on the engine for other threads; engine keys are segmented.
    pub fn engine_query_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>> {
        self.engine.query_handle()
    }

    /// A reader of this store for other threads (interactive queries), if the engine offers a
    /// query handle. It reads through the cache, as the store does.
    pub fn reader(&self) -> Option<SessionReader> {
        Some(SessionReader {
            engine: self.engine.query_handle()?,
            cache: self.shared_cache(),
            retention: self.segments.retention,
            times: self.segments.shared(),
        })
    }

    /// Decodes an engine entry (as read through [`engine_query_handle`](Self::engine_query_handle)).
    pub fn decode_engine_entry(engine_key: &[u8], value: Vec<u8>) -> Option<SessionEntry> {
        Self::decode(engine_key, value)
    }
}

impl StateStore for SessionStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        self.engine.persistent()
    }

    fn flush(&mut self) -> Result<()> {
        let flushed = self.flush_cache()?;
        self.evicted.extend(flushed);
        self.segments.persist(&mut *self.engine)?;
        self.engine.flush()
    }

    fn close(&mut self) -> Result<()> {
        self.flush()?;
        self.discard_cache();
        self.engine.close()
    }
}

mod reader;
mod write_through;

pub use reader::SessionReader;
use write_through::{WriteThrough, log};

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod tests;
