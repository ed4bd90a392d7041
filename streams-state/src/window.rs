//! Window stores: values per key and window start time, in time segments, optionally logged
//! to a changelog, optionally keeping duplicates (for stream–stream joins), and optionally
//! behind the record cache (Kafka Streams' `CachingWindowStore`).

use std::sync::Arc;

use crate::cache::merge::{cached_in_segments, merge};
use crate::cache::named::SharedCache;
use crate::cache::store_cache::StoreCache;
use crate::changelog::ChangelogSink;
use crate::segments::{Segments, encode_time, is_meta, time_at};
use crate::store::{
    ChangelogRecord, KeyValueIter, KeyValueStore, ReadOnlyKeyValueStore, StateStore,
};
use crate::{CacheBudget, CacheObserver, Error, Result};

/// A value of one window: the key, the window start, and the value.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WindowEntry {
    /// The record key.
    pub key: Vec<u8>,
    /// The window start (for join stores, the record timestamp).
    pub start: i64,
    /// The value.
    pub value: Vec<u8>,
}

/// A window the record cache wrote through to the store (evicted, or flushed at a commit):
/// what its owner forwards downstream, as Kafka Streams' cache flush listeners do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WindowFlush {
    /// The record key.
    pub key: Vec<u8>,
    /// The window start.
    pub start: i64,
    /// The value written; `None` if the window was removed.
    pub new: Option<Vec<u8>>,
    /// The value the store held before.
    pub old: Option<Vec<u8>>,
    /// The timestamp of the record that last wrote the window, when its writer gave one.
    pub timestamp: Option<i64>,
    /// The window had expired when it reached the store: it was logged (and is to be
    /// forwarded) but not kept, as Kafka Streams' segmented store drops it, counted.
    pub expired: bool,
}

/// A store of values per key and window start.
///
/// Engine keys are `segment | key | start | seq` and changelog keys `key | start | seq`
/// (`seq` is 4 bytes, 0 unless the store keeps duplicates), so the changelog of a window store
/// is compatible with Kafka Streams' `WindowKeySchema`. Entries older than the retention
/// period (relative to the largest start put) are dropped with their segment and no longer
/// returned.
///
/// With a record cache ([`with_cache`](Self::with_cache)), puts go to the cache; reads merge
/// cache and engine; entries reach the engine and the changelog when the cache evicts them or
/// is flushed ([`flush_cache`](Self::flush_cache), [`take_evicted`](Self::take_evicted)).
///
/// The store keeps two times across restarts: the largest window start put (retention is
/// measured from it) and its [`stream_time`](Self::stream_time).
pub struct WindowStore {
    name: String,
    engine: Box<dyn KeyValueStore>,
    segments: Segments,
    retain_duplicates: bool,
    /// Values start with their timestamp (Kafka Streams' `ValueAndTimestamp`): changelog
    /// records are stamped with it, as Kafka Streams' timestamped window stores do.
    timestamped: bool,
    seq: u32,
    changelog: Option<Box<dyn ChangelogSink>>,
    cache: Option<StoreCache>,
    /// Windows written through since the owner last took them.
    evicted: Vec<WindowFlush>,
    /// Whether a window written through carries the value the store held before (see
    /// [`set_send_old_values`](Self::set_send_old_values)).
    send_old_values: bool,
    /// The engine key being written (reused: no allocation per put).
    key_buf: Vec<u8>,
}

impl std::fmt::Debug for WindowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowStore")
            .field("name", &self.name)
            .field("retention", &self.segments.retention)
            .field("retain_duplicates", &self.retain_duplicates)
            .field("cache", &self.cache)
            .finish()
    }
}

const SEQ_LEN: usize = 4;

/// Engine key bytes besides the record key: segment, start, seq.
const FRAME: usize = 8 + 8 + SEQ_LEN;

pub(crate) fn write_engine_key(
    out: &mut Vec<u8>,
    segments: &Segments,
    key: &[u8],
    start: i64,
    seq: u32,
) {
    out.clear();
    out.reserve(FRAME + key.len());
    out.extend_from_slice(&segments.prefix(start));
    out.extend_from_slice(key);
    out.extend_from_slice(&encode_time(start));
    out.extend_from_slice(&seq.to_be_bytes());
}

/// The record key, window start and seq of an engine key.
pub(crate) fn split_engine_key(engine_key: &[u8]) -> Option<(&[u8], i64, u32)> {
    if is_meta(engine_key) {
        return None;
    }
    let key_len = engine_key.len().checked_sub(FRAME)?;
    let start = time_at(engine_key, 8 + key_len)?;
    let seq = u32::from_be_bytes(engine_key.get(8 + key_len + 8..)?.try_into().ok()?);
    Some((&engine_key[8..8 + key_len], start, seq))
}

/// The window start of an engine key (for recovering the store's times from its data).
fn engine_key_start(engine_key: &[u8]) -> Option<i64> {
    split_engine_key(engine_key).map(|(_, start, _)| start)
}

/// The record key, window start and seq of a changelog key (`key | start | seq`) of store
/// `store`.
pub(crate) fn parse_log_key<'k>(store: &str, log_key: &'k [u8]) -> Result<(&'k [u8], i64, u32)> {
    let bad = || Error::Changelog {
        store: store.to_string(),
        reason: format!(
            "window changelog key of {} bytes is too short",
            log_key.len()
        ),
    };
    let key_len = log_key.len().checked_sub(8 + SEQ_LEN).ok_or_else(bad)?;
    let start = time_at(log_key, key_len).ok_or_else(bad)?;
    let seq = log_key[key_len + 8..]
        .try_into()
        .map(u32::from_be_bytes)
        .map_err(|_| bad())?;
    Ok((&log_key[..key_len], start, seq))
}

impl WindowStore {
    /// A window store over `engine` keeping `retention_ms` of windows; a new store (what the
    /// engine already holds is not looked at: see [`open`](Self::open)).
    pub fn new(engine: Box<dyn KeyValueStore>, retention_ms: i64, retain_duplicates: bool) -> Self {
        WindowStore {
            name: engine.name().to_string(),
            engine,
            segments: Segments::new(retention_ms),
            retain_duplicates,
            timestamped: false,
            seq: 0,
            changelog: None,
            cache: None,
            evicted: Vec::new(),
            send_old_values: true,
            key_buf: Vec::new(),
        }
    }

    /// A window store over an engine that may hold its data from an earlier run: the times it
    /// had reached are read back, so retention and [`stream_time`](Self::stream_time) go on
    /// from there.
    pub fn open(
        engine: Box<dyn KeyValueStore>,
        retention_ms: i64,
        retain_duplicates: bool,
    ) -> Result<Self> {
        let mut store = Self::new(engine, retention_ms, retain_duplicates);
        store.segments.recover(&*store.engine, engine_key_start)?;
        Ok(store)
    }

    /// Logs every put to `sink`.
    pub fn with_changelog(mut self, sink: Box<dyn ChangelogSink>) -> Self {
        self.changelog = Some(sink);
        self
    }

    /// Declares that values start with their 8-byte timestamp (Kafka Streams'
    /// `ValueAndTimestamp`): changelog records are then stamped with it.
    pub fn with_timestamped_values(mut self) -> Self {
        self.timestamped = true;
        self
    }

    /// Puts a record cache sized by `budget` in front of the store. A store keeping duplicates
    /// is not cached (as in Kafka Streams: every put is an entry of its own).
    pub fn with_cache(mut self, budget: CacheBudget) -> Self {
        if !self.retain_duplicates {
            self.cache = Some(StoreCache::new(budget));
        }
        self
    }

    /// Tells `observer` whether the cache held the window of each [`fetch_one`](Self::fetch_one).
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

    /// The retention period in milliseconds.
    pub fn retention(&self) -> i64 {
        self.segments.retention
    }

    /// The largest timestamp of the records that wrote the store
    /// ([`put_with_record_time`](Self::put_with_record_time)) or of the changelog records it
    /// was restored from: the stream time of the processor owning the store, kept across
    /// restarts. `None` before any.
    pub fn stream_time(&self) -> Option<i64> {
        Some(self.segments.stream_time).filter(|&t| t != i64::MIN)
    }

    fn next_seq(&mut self) -> u32 {
        if self.retain_duplicates {
            self.seq = self.seq.wrapping_add(1);
            self.seq
        } else {
            0
        }
    }

    /// Stores `value` for `key`'s window starting at `start` (`None` removes it; with
    /// duplicates kept, every put adds an entry). Returns `false` if the window is already
    /// past retention, in which case nothing is stored.
    pub fn put(&mut self, key: &[u8], value: Option<&[u8]>, start: i64) -> Result<bool> {
        self.put_with_record_time(key, value, start, None)
    }

    /// As [`put`](Self::put), written by a record stamped `record_time`: it advances the
    /// store's [`stream_time`](Self::stream_time) and stamps the changelog record (unless the
    /// values carry their own timestamp).
    ///
    /// With a cache, the window goes to the cache and the put always succeeds: retention
    /// applies when the cache writes it through, as in Kafka Streams.
    pub fn put_with_record_time(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        start: i64,
        record_time: Option<i64>,
    ) -> Result<bool> {
        if let Some(ts) = record_time {
            self.segments.observe_record(ts);
        }
        let seq = self.next_seq();
        let mut engine_key = std::mem::take(&mut self.key_buf);
        write_engine_key(&mut engine_key, &self.segments, key, start, seq);
        let written = self.write(&engine_key, start, value, record_time);
        self.key_buf = engine_key;
        written
    }

    fn write(
        &mut self,
        engine_key: &[u8],
        start: i64,
        value: Option<&[u8]>,
        record_time: Option<i64>,
    ) -> Result<bool> {
        if let Some(cache) = &mut self.cache {
            self.segments.observe_cached(start);
            let mut through = WriteThrough {
                name: &self.name,
                engine: &mut *self.engine,
                segments: &mut self.segments,
                changelog: self.changelog.as_deref(),
                timestamped: self.timestamped,
                fetch_old: self.send_old_values,
                out: &mut self.evicted,
            };
            cache.put(engine_key, value, record_time, &mut |d| through.write(d))?;
            return Ok(true);
        }
        if !self.segments.observe(start, &mut *self.engine)? {
            return Ok(false);
        }
        match value {
            Some(v) => self.engine.put(engine_key, v)?,
            None => self.engine.delete(engine_key)?,
        }
        let timestamp = stamp(self.timestamped, value, record_time);
        log(
            self.changelog.as_deref(),
            &self.name,
            &engine_key[8..],
            value,
            timestamp,
        )?;
        Ok(true)
    }

    /// Entries of `key` (or of every key) starting in `[from, to]`, in engine key order: the
    /// cached ones over the engine's. Retention applies to the engine's (measured from the
    /// engine's observed time), not to the cache's, as in Kafka Streams.
    fn scan(
        engine: &dyn ReadOnlyKeyValueStore,
        cache: Option<&SharedCache>,
        segments: &Segments,
        key: Option<&[u8]>,
        from: i64,
        to: i64,
        out: &mut Vec<WindowEntry>,
    ) -> Result<()> {
        if from > to {
            return Ok(());
        }
        let wanted = |engine_key: &[u8], from: i64| {
            split_engine_key(engine_key).is_some_and(|(k, start, _)| {
                key.is_none_or(|key| key == k) && start >= from && start <= to
            })
        };
        let cached = cached_in_segments(cache, segments.cached_range(from, to), key, &|k| {
            wanted(k, from)
        });
        let from = from.max(segments.min_live_time());
        let mut stored: Vec<KeyValueIter<'_>> = Vec::new();
        if segments.observed != i64::MIN && from <= to {
            for segment in segments.range(from, to) {
                let prefix = (segment as u64).to_be_bytes();
                let (lo, hi) = match key {
                    Some(key) => {
                        let mut lo = prefix.to_vec();
                        lo.extend_from_slice(key);
                        let mut hi = lo.clone();
                        lo.extend_from_slice(&encode_time(from));
                        hi.extend_from_slice(&encode_time(to));
                        hi.extend_from_slice(&u32::MAX.to_be_bytes());
                        (lo, Some(hi))
                    }
                    None => (
                        prefix.to_vec(),
                        crate::bytes_range::prefix_upper_bound(&prefix),
                    ),
                };
                stored.push(engine.range(Some(&lo), hi.as_deref())?);
            }
        }
        let stored = stored
            .into_iter()
            .flatten()
            .filter(|item| item.as_ref().map_or(true, |(k, _)| wanted(k, from)));
        merge(stored, cached, &mut |engine_key, value| {
            out.extend(Self::decode(&engine_key, value));
            Ok(())
        })
    }

    fn decode(engine_key: &[u8], value: Vec<u8>) -> Option<WindowEntry> {
        let (key, start, _) = split_engine_key(engine_key)?;
        Some(WindowEntry {
            key: key.to_vec(),
            start,
            value,
        })
    }

    fn shared_cache(&self) -> Option<SharedCache> {
        self.cache.as_ref().map(StoreCache::shared)
    }

    /// `key`'s windows starting in `[from, to]`, by start time.
    pub fn fetch(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut out = Vec::new();
        let cache = self.shared_cache();
        Self::scan(
            &*self.engine,
            cache.as_ref(),
            &self.segments,
            Some(key),
            from,
            to,
            &mut out,
        )?;
        Ok(out.into_iter().map(|e| (e.start, e.value)).collect())
    }

    /// The value of `key`'s window starting exactly at `start`: the cache's (a read that
    /// keeps it cached longer), else the engine's within retention.
    pub fn fetch_one(&self, key: &[u8], start: i64) -> Result<Option<Vec<u8>>> {
        if self.retain_duplicates {
            return Ok(self
                .fetch(key, start, start)?
                .into_iter()
                .next()
                .map(|(_, v)| v));
        }
        let mut engine_key = Vec::new();
        write_engine_key(&mut engine_key, &self.segments, key, start, 0);
        if let Some(cached) = self.cache.as_ref().and_then(|c| c.read(&engine_key)) {
            return Ok(cached);
        }
        if self.segments.observed == i64::MIN || start < self.segments.min_live_time() {
            return Ok(None);
        }
        self.engine.get(&engine_key)
    }

    /// Every key's windows starting in `[from, to]`, by segment, then key, then start.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<WindowEntry>> {
        let mut out = Vec::new();
        let cache = self.shared_cache();
        Self::scan(
            &*self.engine,
            cache.as_ref(),
            &self.segments,
            None,
            from,
            to,
            &mut out,
        )?;
        Ok(out)
    }

    /// Every key's windows starting in `[from, to]`, ordered by start, then key bytes, as Kafka
    /// Streams' time-ordered window store (the store of windowed aggregations emitting on
    /// window close) returns them. That store keeps one millisecond more than the others: a
    /// window starting exactly `retention` before the observed time is still returned.
    pub fn fetch_all_time_ordered(&self, from: i64, to: i64) -> Result<Vec<WindowEntry>> {
        let mut out = Vec::new();
        let observed = self.segments.observed;
        if observed == i64::MIN {
            return Ok(out);
        }
        let from = from.max(observed.saturating_sub(self.segments.retention));
        let to = to.min(observed);
        if from > to {
            return Ok(out);
        }
        for segment in self.segments.segment_of(from)..=self.segments.segment_of(to) {
            for item in self.engine.prefix_scan(&(segment as u64).to_be_bytes())? {
                let (engine_key, value) = item?;
                if let Some(entry) = Self::decode(&engine_key, value)
                    && entry.start >= from
                    && entry.start <= to
                {
                    out.push(entry);
                }
            }
        }
        out.sort_by(|a, b| (a.start, &a.key).cmp(&(b.start, &b.key)));
        Ok(out)
    }

    /// Every retained window.
    pub fn all(&self) -> Result<Vec<WindowEntry>> {
        self.fetch_all(i64::MIN, i64::MAX)
    }

    /// Applies changelog records (keys `key | start | seq`). As Kafka Streams does, the
    /// store's time first moves to the batch's largest window start, so windows of the batch
    /// that it has already expired are not written; its stream time moves to the largest
    /// changelog timestamp.
    pub fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        let mut latest = i64::MIN;
        for record in records {
            let (_, start, _) = parse_log_key(&self.name, &record.key)?;
            latest = latest.max(start);
            self.segments.observe_record(record.timestamp);
        }
        // Changelog records are committed records (or, at least once, will not be redone).
        self.segments.commit_stream_time();
        if records.is_empty() || !self.segments.observe(latest, &mut *self.engine)? {
            return Ok(());
        }
        let min_live = self.segments.min_live_time();
        let mut engine_key = std::mem::take(&mut self.key_buf);
        for record in records {
            let (key, start, seq) = parse_log_key(&self.name, &record.key)?;
            if start < min_live {
                continue;
            }
            self.seq = self.seq.max(seq);
            write_engine_key(&mut engine_key, &self.segments, key, start, seq);
            match &record.value {
                Some(v) => self.engine.put(&engine_key, v)?,
                None => self.engine.delete(&engine_key)?,
            }
        }
        self.key_buf = engine_key;
        Ok(())
    }

    /// Writes every window the cache holds dirty through to the engine and changelog, and
    /// returns them (with those evicted since the owner last took them), in the order of their
    /// last writes. Empty without a cache.
    pub fn flush_cache(&mut self) -> Result<Vec<WindowFlush>> {
        // Flushed at each commit: what wrote the store so far is committed.
        self.segments.commit_stream_time();
        let mut flushed = std::mem::take(&mut self.evicted);
        if let Some(cache) = &mut self.cache {
            let mut through = WriteThrough {
                name: &self.name,
                engine: &mut *self.engine,
                segments: &mut self.segments,
                changelog: self.changelog.as_deref(),
                timestamped: self.timestamped,
                fetch_old: self.send_old_values,
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

    /// Whether a window the cache writes through carries the value the store held before
    /// ([`WindowFlush::old`]; on by default). Off, the store reads it only for a removal, to
    /// skip removing what it does not hold, as Kafka Streams' `CachingWindowStore` does
    /// unless its owner asked for old values (`setFlushListener(.., sendOldValues)`): one
    /// engine read less per window written through.
    pub fn set_send_old_values(&mut self, on: bool) {
        self.send_old_values = on;
    }

    /// Windows the cache evicted (and wrote through) since the last call.
    pub fn take_evicted(&mut self) -> Vec<WindowFlush> {
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
    /// query handle. It reads through the cache, as the store does, within retention as of the
    /// stream time the store last observed.
    pub fn reader(&self) -> Option<WindowReader> {
        Some(WindowReader {
            engine: self.engine.query_handle()?,
            cache: self.shared_cache(),
            retention: self.segments.retention,
            times: self.segments.shared(),
        })
    }

    /// Decodes an engine entry (as read through [`engine_query_handle`](Self::engine_query_handle)).
    pub fn decode_engine_entry(engine_key: &[u8], value: Vec<u8>) -> Option<WindowEntry> {
        Self::decode(engine_key, value)
    }
}

impl StateStore for WindowStore {
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

pub use reader::WindowReader;
use write_through::{WriteThrough, log, stamp};

#[cfg(test)]
mod cache_tests;
#[cfg(test)]
mod tests;
