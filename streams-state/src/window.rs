//! Window stores: values per key and window start time, in time segments, optionally logged
//! to a changelog and optionally keeping duplicates (for stream–stream joins).

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use crate::changelog::ChangelogSink;
use crate::segments::{Segments, encode_time, time_at};
use crate::store::{ChangelogRecord, KeyValueStore, ReadOnlyKeyValueStore, StateStore};
use crate::{Error, Result};

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

/// A store of values per key and window start.
///
/// Engine keys are `segment | key | start | seq` and changelog keys `key | start | seq`
/// (`seq` is 4 bytes, 0 unless the store keeps duplicates), so the changelog of a window store
/// is compatible with Kafka Streams' `WindowKeySchema`. Entries older than the retention
/// period (relative to the largest start put) are dropped with their segment and no longer
/// returned.
pub struct WindowStore {
    name: String,
    engine: Box<dyn KeyValueStore>,
    segments: Segments,
    retain_duplicates: bool,
    seq: u32,
    changelog: Option<Box<dyn ChangelogSink>>,
}

impl std::fmt::Debug for WindowStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowStore")
            .field("name", &self.name)
            .field("retention", &self.segments.retention)
            .field("retain_duplicates", &self.retain_duplicates)
            .finish()
    }
}

const SEQ_LEN: usize = 4;

impl WindowStore {
    /// A window store over `engine` keeping `retention_ms` of windows.
    pub fn new(engine: Box<dyn KeyValueStore>, retention_ms: i64, retain_duplicates: bool) -> Self {
        WindowStore {
            name: engine.name().to_string(),
            engine,
            segments: Segments::new(retention_ms),
            retain_duplicates,
            seq: 0,
            changelog: None,
        }
    }

    /// Logs every put to `sink`.
    pub fn with_changelog(mut self, sink: Box<dyn ChangelogSink>) -> Self {
        self.changelog = Some(sink);
        self
    }

    /// The retention period in milliseconds.
    pub fn retention(&self) -> i64 {
        self.segments.retention
    }

    fn log_key(key: &[u8], start: i64, seq: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(key.len() + 8 + SEQ_LEN);
        out.extend_from_slice(key);
        out.extend_from_slice(&encode_time(start));
        out.extend_from_slice(&seq.to_be_bytes());
        out
    }

    fn engine_key(&self, key: &[u8], start: i64, seq: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + key.len() + 8 + SEQ_LEN);
        out.extend_from_slice(&self.segments.prefix(start));
        out.extend_from_slice(&Self::log_key(key, start, seq));
        out
    }

    fn next_seq(&mut self) -> u32 {
        if self.retain_duplicates {
            self.seq = self.seq.wrapping_add(1);
            self.seq
        } else {
            0
        }
    }

    fn apply(&mut self, key: &[u8], start: i64, seq: u32, value: Option<&[u8]>) -> Result<bool> {
        if !self.segments.observe(start, &mut *self.engine)? {
            return Ok(false);
        }
        let engine_key = self.engine_key(key, start, seq);
        match value {
            Some(v) => self.engine.put(&engine_key, v)?,
            None => self.engine.delete(&engine_key)?,
        }
        Ok(true)
    }

    /// Stores `value` for `key`'s window starting at `start` (`None` removes it; with
    /// duplicates kept, every put adds an entry). Returns `false` if the window is already
    /// past retention, in which case nothing is stored.
    pub fn put(&mut self, key: &[u8], value: Option<&[u8]>, start: i64) -> Result<bool> {
        let seq = self.next_seq();
        let stored = self.apply(key, start, seq, value)?;
        if stored && let Some(sink) = &self.changelog {
            sink.send(&self.name, &Self::log_key(key, start, seq), value, None)?;
        }
        Ok(stored)
    }

    fn scan(
        &self,
        key: Option<&[u8]>,
        from: i64,
        to: i64,
        out: &mut Vec<WindowEntry>,
    ) -> Result<()> {
        Self::scan_engine(&*self.engine, &self.segments, key, from, to, out)
    }

    /// Entries of `key` (or of every key) starting in `[from, to]`, segment by segment.
    fn scan_engine(
        engine: &dyn ReadOnlyKeyValueStore,
        segments: &Segments,
        key: Option<&[u8]>,
        from: i64,
        to: i64,
        out: &mut Vec<WindowEntry>,
    ) -> Result<()> {
        let from = from.max(segments.min_live_time());
        if from > to || segments.observed == i64::MIN {
            return Ok(());
        }
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
                    (Some(lo), Some(hi))
                }
                None => (
                    Some(prefix.to_vec()),
                    crate::bytes_range::prefix_upper_bound(&prefix),
                ),
            };
            for item in engine.range(lo.as_deref(), hi.as_deref())? {
                let (engine_key, value) = item?;
                let Some(entry) = Self::decode(&engine_key, value) else {
                    continue;
                };
                if key.is_some_and(|k| k != entry.key.as_slice())
                    || entry.start < from
                    || entry.start > to
                {
                    continue;
                }
                out.push(entry);
            }
        }
        Ok(())
    }

    fn decode(engine_key: &[u8], value: Vec<u8>) -> Option<WindowEntry> {
        let key_len = engine_key.len().checked_sub(8 + 8 + SEQ_LEN)?;
        Some(WindowEntry {
            key: engine_key[8..8 + key_len].to_vec(),
            start: time_at(engine_key, 8 + key_len)?,
            value,
        })
    }

    /// `key`'s windows starting in `[from, to]`, by start time.
    pub fn fetch(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        let mut out = Vec::new();
        self.scan(Some(key), from, to, &mut out)?;
        Ok(out.into_iter().map(|e| (e.start, e.value)).collect())
    }

    /// The value of `key`'s window starting exactly at `start`.
    pub fn fetch_one(&self, key: &[u8], start: i64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .fetch(key, start, start)?
            .into_iter()
            .next()
            .map(|(_, v)| v))
    }

    /// Every key's windows starting in `[from, to]`, by segment, then key, then start.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<WindowEntry>> {
        let mut out = Vec::new();
        self.scan(None, from, to, &mut out)?;
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

    /// Applies changelog records (keys `key | start | seq`).
    pub fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        for record in records {
            let key_len =
                record
                    .key
                    .len()
                    .checked_sub(8 + SEQ_LEN)
                    .ok_or_else(|| Error::Changelog {
                        store: self.name.clone(),
                        reason: format!(
                            "window changelog key of {} bytes is too short",
                            record.key.len()
                        ),
                    })?;
            let key = &record.key[..key_len];
            let start = time_at(&record.key, key_len).unwrap_or_default();
            let seq = u32::from_be_bytes(record.key[key_len + 8..].try_into().unwrap_or_default());
            self.seq = self.seq.max(seq);
            self.apply(key, start, seq, record.value.as_deref())?;
        }
        Ok(())
    }

    /// A read handle on the engine for other threads; engine keys are segmented.
    pub fn engine_query_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>> {
        self.engine.query_handle()
    }

    /// A reader of this store for other threads (interactive queries), if the engine offers a
    /// query handle. It sees what the engine holds, within retention as of the stream time
    /// the store last observed.
    pub fn reader(&self) -> Option<WindowReader> {
        Some(WindowReader {
            engine: self.engine.query_handle()?,
            retention: self.segments.retention,
            observed: self.segments.shared_observed(),
        })
    }

    /// Decodes an engine entry (as read through [`engine_query_handle`](Self::engine_query_handle)).
    pub fn decode_engine_entry(engine_key: &[u8], value: Vec<u8>) -> Option<WindowEntry> {
        Self::decode(engine_key, value)
    }
}

/// A thread-safe reader of a [`WindowStore`] (see [`WindowStore::reader`]).
#[derive(Clone)]
pub struct WindowReader {
    engine: Arc<dyn ReadOnlyKeyValueStore + Send + Sync>,
    retention: i64,
    observed: Arc<AtomicI64>,
}

impl std::fmt::Debug for WindowReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowReader")
            .field("retention", &self.retention)
            .finish()
    }
}

impl WindowReader {
    fn scan(&self, key: Option<&[u8]>, from: i64, to: i64) -> Result<Vec<WindowEntry>> {
        let segments = Segments::snapshot(self.retention, &self.observed);
        let mut out = Vec::new();
        WindowStore::scan_engine(&*self.engine, &segments, key, from, to, &mut out)?;
        Ok(out)
    }

    /// `key`'s windows starting in `[from, to]`, by start time.
    pub fn fetch(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        Ok(self
            .scan(Some(key), from, to)?
            .into_iter()
            .map(|e| (e.start, e.value))
            .collect())
    }

    /// Every key's windows starting in `[from, to]`.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<WindowEntry>> {
        self.scan(None, from, to)
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
        self.engine.flush()
    }

    fn close(&mut self) -> Result<()> {
        self.engine.close()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InMemoryKeyValueStore;

    fn store(retention: i64, duplicates: bool) -> WindowStore {
        WindowStore::new(
            Box::new(InMemoryKeyValueStore::new("w")),
            retention,
            duplicates,
        )
    }

    #[test]
    fn fetches_by_key_and_start_range() -> Result<()> {
        let mut s = store(1_000_000, false);
        s.put(b"a", Some(b"1"), 0)?;
        s.put(b"a", Some(b"2"), 500)?;
        s.put(b"ab", Some(b"x"), 500)?;
        s.put(b"a", Some(b"3"), 120_000)?;
        assert_eq!(
            s.fetch(b"a", 0, 500)?,
            vec![(0, b"1".to_vec()), (500, b"2".to_vec())]
        );
        assert_eq!(
            s.fetch(b"a", 1, 1_000_000)?,
            vec![(500, b"2".to_vec()), (120_000, b"3".to_vec())]
        );
        assert_eq!(s.fetch_one(b"ab", 500)?, Some(b"x".to_vec()));
        s.put(b"a", Some(b"22"), 500)?;
        assert_eq!(
            s.fetch_one(b"a", 500)?,
            Some(b"22".to_vec()),
            "same window overwrites"
        );
        s.put(b"a", None, 500)?;
        assert_eq!(s.fetch_one(b"a", 500)?, None);
        assert_eq!(s.fetch_all(0, 500)?.len(), 2);
        Ok(())
    }

    #[test]
    fn duplicates_are_kept_when_asked() -> Result<()> {
        let mut s = store(1_000_000, true);
        s.put(b"k", Some(b"1"), 10)?;
        s.put(b"k", Some(b"2"), 10)?;
        assert_eq!(
            s.fetch(b"k", 10, 10)?,
            vec![(10, b"1".to_vec()), (10, b"2".to_vec())]
        );
        Ok(())
    }

    #[test]
    fn expired_windows_are_dropped_and_refused() -> Result<()> {
        let mut s = store(60_000, false);
        s.put(b"k", Some(b"old"), 0)?;
        s.put(b"k", Some(b"mid"), 60_000)?;
        assert!(s.put(b"k", Some(b"new"), 200_000)?);
        assert_eq!(s.fetch(b"k", 0, 300_000)?, vec![(200_000, b"new".to_vec())]);
        assert!(!s.put(b"k", Some(b"late"), 100_000)?, "past retention");
        Ok(())
    }

    #[test]
    fn restores_from_changelog_keys() -> Result<()> {
        let mut s = store(1_000_000, false);
        let mut key = b"k".to_vec();
        key.extend_from_slice(&encode_time(5_000));
        key.extend_from_slice(&0u32.to_be_bytes());
        s.restore_batch(&[ChangelogRecord {
            key,
            value: Some(b"v".to_vec()),
            timestamp: 5_000,
        }])?;
        assert_eq!(s.fetch_one(b"k", 5_000)?, Some(b"v".to_vec()));
        Ok(())
    }
}
