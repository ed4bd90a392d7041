//! Session stores: values per key and session `[start, end]`, in segments by session end.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use crate::changelog::ChangelogSink;
use crate::segments::{Segments, encode_time, time_at};
use crate::store::{ChangelogRecord, KeyValueStore, ReadOnlyKeyValueStore, StateStore};
use crate::{Error, Result};

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

/// A store of sessions. Engine keys are `segment(end) | key | end | start`; changelog keys
/// `key | end | start`, Kafka Streams' `SessionKeySchema`.
pub struct SessionStore {
    name: String,
    engine: Box<dyn KeyValueStore>,
    segments: Segments,
    changelog: Option<Box<dyn ChangelogSink>>,
}

impl std::fmt::Debug for SessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStore")
            .field("name", &self.name)
            .field("retention", &self.segments.retention)
            .finish()
    }
}

impl SessionStore {
    /// A session store over `engine` keeping sessions that ended within `retention_ms`.
    pub fn new(engine: Box<dyn KeyValueStore>, retention_ms: i64) -> Self {
        SessionStore {
            name: engine.name().to_string(),
            engine,
            segments: Segments::new(retention_ms),
            changelog: None,
        }
    }

    /// Logs every change to `sink`.
    pub fn with_changelog(mut self, sink: Box<dyn ChangelogSink>) -> Self {
        self.changelog = Some(sink);
        self
    }

    fn log_key(key: &[u8], start: i64, end: i64) -> Vec<u8> {
        let mut out = Vec::with_capacity(key.len() + 16);
        out.extend_from_slice(key);
        out.extend_from_slice(&encode_time(end));
        out.extend_from_slice(&encode_time(start));
        out
    }

    fn apply(&mut self, key: &[u8], start: i64, end: i64, value: Option<&[u8]>) -> Result<bool> {
        if !self.segments.observe(end, &mut *self.engine)? {
            return Ok(false);
        }
        let mut engine_key = self.segments.prefix(end).to_vec();
        engine_key.extend_from_slice(&Self::log_key(key, start, end));
        match value {
            Some(v) => self.engine.put(&engine_key, v)?,
            None => self.engine.delete(&engine_key)?,
        }
        Ok(true)
    }

    /// Stores (or with `None` removes) `key`'s session `[start, end]`. Returns `false` if it
    /// ended before retention, in which case nothing changes.
    pub fn put(&mut self, key: &[u8], start: i64, end: i64, value: Option<&[u8]>) -> Result<bool> {
        let stored = self.apply(key, start, end, value)?;
        if stored && let Some(sink) = &self.changelog {
            sink.send(&self.name, &Self::log_key(key, start, end), value, None)?;
        }
        Ok(stored)
    }

    fn decode(engine_key: &[u8], value: Vec<u8>) -> Option<SessionEntry> {
        let key_len = engine_key.len().checked_sub(8 + 16)?;
        Some(SessionEntry {
            key: engine_key[8..8 + key_len].to_vec(),
            end: time_at(engine_key, 8 + key_len)?,
            start: time_at(engine_key, 16 + key_len)?,
            value,
        })
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
        Self::find_in(
            &*self.engine,
            &self.segments,
            key,
            earliest_end,
            latest_start,
        )
    }

    fn find_in(
        engine: &dyn ReadOnlyKeyValueStore,
        segments: &Segments,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>> {
        let mut out = Vec::new();
        let from = earliest_end.max(segments.min_live_time());
        if segments.observed == i64::MIN || from > segments.observed {
            return Ok(out);
        }
        for segment in segments.range(from, segments.observed) {
            let mut lo = (segment as u64).to_be_bytes().to_vec();
            lo.extend_from_slice(key);
            let mut hi = lo.clone();
            lo.extend_from_slice(&encode_time(from));
            hi.extend_from_slice(&encode_time(i64::MAX));
            hi.extend_from_slice(&encode_time(i64::MAX));
            for item in engine.range(Some(&lo), Some(&hi))? {
                let (engine_key, value) = item?;
                let Some(entry) = Self::decode(&engine_key, value) else {
                    continue;
                };
                if entry.key == key && entry.end >= from && entry.start <= latest_start {
                    out.push(entry);
                }
            }
        }
        Ok(out)
    }

    /// The value of exactly the session `[start, end]` of `key`.
    pub fn fetch_session(&self, key: &[u8], start: i64, end: i64) -> Result<Option<Vec<u8>>> {
        Ok(self
            .find_sessions(key, end, start)?
            .into_iter()
            .find(|s| s.start == start && s.end == end)
            .map(|s| s.value))
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

    /// Every retained session.
    pub fn all(&self) -> Result<Vec<SessionEntry>> {
        let mut out = Vec::new();
        for item in self.engine.all()? {
            let (engine_key, value) = item?;
            if let Some(entry) = Self::decode(&engine_key, value)
                && entry.end >= self.segments.min_live_time()
            {
                out.push(entry);
            }
        }
        Ok(out)
    }

    /// Applies changelog records (keys `key | end | start`).
    pub fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        for record in records {
            let key_len = record
                .key
                .len()
                .checked_sub(16)
                .ok_or_else(|| Error::Changelog {
                    store: self.name.clone(),
                    reason: format!(
                        "session changelog key of {} bytes is too short",
                        record.key.len()
                    ),
                })?;
            let end = time_at(&record.key, key_len).unwrap_or_default();
            let start = time_at(&record.key, key_len + 8).unwrap_or_default();
            self.apply(&record.key[..key_len], start, end, record.value.as_deref())?;
        }
        Ok(())
    }

    /// A read handle on the engine for other threads; engine keys are segmented.
    pub fn engine_query_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>> {
        self.engine.query_handle()
    }

    /// A reader of this store for other threads (interactive queries), if the engine offers a
    /// query handle.
    pub fn reader(&self) -> Option<SessionReader> {
        Some(SessionReader {
            engine: self.engine.query_handle()?,
            retention: self.segments.retention,
            observed: self.segments.shared_observed(),
        })
    }

    /// Decodes an engine entry (as read through [`engine_query_handle`](Self::engine_query_handle)).
    pub fn decode_engine_entry(engine_key: &[u8], value: Vec<u8>) -> Option<SessionEntry> {
        Self::decode(engine_key, value)
    }
}

/// A thread-safe reader of a [`SessionStore`] (see [`SessionStore::reader`]).
#[derive(Clone)]
pub struct SessionReader {
    engine: Arc<dyn ReadOnlyKeyValueStore + Send + Sync>,
    retention: i64,
    observed: Arc<AtomicI64>,
}

impl std::fmt::Debug for SessionReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionReader")
            .field("retention", &self.retention)
            .finish()
    }
}

impl SessionReader {
    /// `key`'s sessions with `end >= earliest_end` and `start <= latest_start`, ordered by end
    /// then start (`fetch(key, i64::MIN, i64::MAX)`: every retained session of `key`).
    pub fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>> {
        let segments = Segments::snapshot(self.retention, &self.observed);
        SessionStore::find_in(&*self.engine, &segments, key, earliest_end, latest_start)
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

    #[test]
    fn finds_overlapping_sessions() -> Result<()> {
        let mut s = SessionStore::new(Box::new(InMemoryKeyValueStore::new("s")), 10_000_000);
        s.put(b"k", 0, 10, Some(b"a"))?;
        s.put(b"k", 100, 150, Some(b"b"))?;
        s.put(b"k", 500, 500, Some(b"c"))?;
        s.put(b"kk", 100, 100, Some(b"other key"))?;
        // A record at 120 with gap 30 merges with sessions ending >= 90 and starting <= 150.
        let found = s.find_sessions(b"k", 90, 150)?;
        assert_eq!(
            found.iter().map(|e| (e.start, e.end)).collect::<Vec<_>>(),
            vec![(100, 150)]
        );
        let found = s.find_sessions(b"k", 0, 1_000)?;
        assert_eq!(found.len(), 3);
        s.put(b"k", 100, 150, None)?;
        assert_eq!(s.fetch_session(b"k", 100, 150)?, None);
        assert_eq!(s.fetch_session(b"k", 500, 500)?, Some(b"c".to_vec()));
        assert_eq!(s.all()?.len(), 3);
        Ok(())
    }

    #[test]
    fn sessions_ending_between_come_by_end_then_start_then_key() -> Result<()> {
        // Kafka's time-first session key schema: end | start | key (the order in which a
        // session aggregation emitting on window close emits; differential oracle,
        // session_count_emit_final).
        let mut s = SessionStore::new(Box::new(InMemoryKeyValueStore::new("s")), 10_000_000);
        s.put(b"a", 1, 1, Some(b"1"))?;
        s.put(b"b", 0, 1, Some(b"2"))?;
        s.put(b"c", 0, 1, Some(b"3"))?;
        s.put(b"a", 0, 0, Some(b"4"))?;
        let found: Vec<_> = s
            .sessions_ending_between(0, 1)?
            .into_iter()
            .map(|e| (e.key, e.start, e.end))
            .collect();
        assert_eq!(
            found,
            vec![
                (b"a".to_vec(), 0, 0),
                (b"b".to_vec(), 0, 1),
                (b"c".to_vec(), 0, 1),
                (b"a".to_vec(), 1, 1)
            ]
        );
        Ok(())
    }

    #[test]
    fn restores_from_changelog_keys() -> Result<()> {
        let mut s = SessionStore::new(Box::new(InMemoryKeyValueStore::new("s")), 10_000_000);
        let mut key = b"k".to_vec();
        key.extend_from_slice(&encode_time(20));
        key.extend_from_slice(&encode_time(5));
        s.restore_batch(&[ChangelogRecord {
            key,
            value: Some(b"v".to_vec()),
            timestamp: 20,
        }])?;
        assert_eq!(s.fetch_session(b"k", 5, 20)?, Some(b"v".to_vec()));
        Ok(())
    }
}
