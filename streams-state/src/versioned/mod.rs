//! Versioned key-value stores (Kafka Streams' KIP-889): every key keeps its history of values
//! by timestamp, for a history retention, and answers "what was the value as of time t?".
//!
//! The store keeps the latest value of each key and, in time segments, the older versions
//! (see `layout`). Like Kafka Streams' `RocksDBVersionedStore` it tracks the largest timestamp
//! put (its *observed stream time*), refuses puts older than that minus the history retention
//! (which doubles as the store's grace period), and answers lookups as of a time older than
//! that only with the latest value. Its changelog carries each put with its own timestamp as
//! the record timestamp (a tombstone for a delete), so restoring replays the history.

mod layout;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod restore_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::changelog::ChangelogSink;
use crate::segments::Segments;
use crate::store::{ChangelogRecord, KeyValueStore, ReadOnlyKeyValueStore, StateStore};
use crate::{Error, Result};
use layout::Geometry;

/// Kafka Streams' `ConsumerRecord.NO_TIMESTAMP`: the observed stream time before any put.
const NO_TIMESTAMP: i64 = -1;

/// The segment interval Kafka Streams picks for a history retention
/// (`RocksDbVersionedKeyValueBytesStoreSupplier`): a third of up to a minute (at least 2 s), a
/// fifth of up to five minutes (at least 20 s), a twelfth of up to an hour (at least a
/// minute), else a twenty-fourth (at least five minutes).
///
/// ```
/// use streams_state::default_segment_interval;
/// assert_eq!(default_segment_interval(0), 2_000);
/// assert_eq!(default_segment_interval(300_000), 60_000);
/// assert_eq!(default_segment_interval(86_400_000), 3_600_000);
/// ```
pub fn default_segment_interval(history_retention_ms: i64) -> i64 {
    if history_retention_ms <= 60_000 {
        (history_retention_ms / 3).max(2_000)
    } else if history_retention_ms <= 300_000 {
        (history_retention_ms / 5).max(20_000)
    } else if history_retention_ms <= 3_600_000 {
        (history_retention_ms / 12).max(60_000)
    } else {
        (history_retention_ms / 24).max(300_000)
    }
}

/// A value of a versioned store with the time it became valid and, for an older version, the
/// time the next version replaced it (Kafka Streams' `VersionedRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VersionedRecord<V> {
    /// The value.
    pub value: V,
    /// When it became valid: the timestamp it was put with.
    pub timestamp: i64,
    /// When the next version (a value or a delete) replaced it, exclusive; `None` for the
    /// latest value.
    pub valid_to: Option<i64>,
}

impl<V> VersionedRecord<V> {
    /// `value`, valid from `timestamp` until `valid_to` (`None`: still valid).
    pub fn new(value: V, timestamp: i64, valid_to: Option<i64>) -> Self {
        VersionedRecord {
            value,
            timestamp,
            valid_to,
        }
    }

    /// The same record with its value mapped.
    pub fn map<W>(self, f: impl FnOnce(V) -> W) -> VersionedRecord<W> {
        VersionedRecord {
            value: f(self.value),
            timestamp: self.timestamp,
            valid_to: self.valid_to,
        }
    }
}

/// What a put did (Kafka Streams' `VersionedKeyValueStore.put` return codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutOutcome {
    /// The record is now the latest version of its key (Kafka's `-1`,
    /// `PUT_RETURN_CODE_VALID_TO_UNDEFINED`).
    Latest,
    /// The record was stored as an older version, valid until this time (exclusive): the
    /// timestamp of the next version.
    ValidTo(i64),
    /// The record is older than the observed stream time minus the history retention, so it
    /// was not stored (Kafka's `Long.MIN_VALUE`, `PUT_RETURN_CODE_NOT_PUT`).
    NotPut,
}

impl PutOutcome {
    /// The code Kafka Streams' `put` returns for this outcome.
    ///
    /// ```
    /// use streams_state::PutOutcome;
    /// assert_eq!(PutOutcome::Latest.kafka_code(), -1);
    /// assert_eq!(PutOutcome::ValidTo(20).kafka_code(), 20);
    /// assert_eq!(PutOutcome::NotPut.kafka_code(), i64::MIN);
    /// ```
    pub fn kafka_code(self) -> i64 {
        match self {
            PutOutcome::Latest => -1,
            PutOutcome::ValidTo(t) => t,
            PutOutcome::NotPut => i64::MIN,
        }
    }

    /// Whether the record was stored.
    pub fn was_put(self) -> bool {
        self != PutOutcome::NotPut
    }
}

/// A versioned key-value store over an engine (RocksDB or in memory), optionally logging to a
/// changelog.
///
/// ```
/// use streams_state::{InMemoryKeyValueStore, PutOutcome, VersionedStore};
///
/// let mut rates = VersionedStore::open(Box::new(InMemoryKeyValueStore::new("rates")), 60_000, 10_000)?;
/// assert_eq!(rates.put(b"eur", Some(b"1.10"), 1_000)?, PutOutcome::Latest);
/// assert_eq!(rates.put(b"eur", Some(b"1.12"), 5_000)?, PutOutcome::Latest);
/// // A late update lands in history, valid until the next version.
/// assert_eq!(rates.put(b"eur", Some(b"1.11"), 3_000)?, PutOutcome::ValidTo(5_000));
/// let as_of = rates.get_as_of(b"eur", 4_000)?.map(|r| r.value);
/// assert_eq!(as_of.as_deref(), Some(b"1.11".as_slice()));
/// assert_eq!(rates.get(b"eur")?.map(|r| r.timestamp), Some(5_000));
/// # Ok::<(), streams_state::Error>(())
/// ```
pub struct VersionedStore {
    name: String,
    engine: Box<dyn KeyValueStore>,
    history_retention: i64,
    geometry: Geometry,
    /// Drops expired segments (its own notion of stream time only decides what to drop).
    segments: Segments,
    /// Kafka's observed stream time: the largest timestamp put, `-1` before any.
    observed: i64,
    /// Whether `observed` moved since it was last written to the engine.
    observed_dirty: bool,
    shared_observed: Arc<AtomicI64>,
    changelog: Option<Box<dyn ChangelogSink>>,
}

impl std::fmt::Debug for VersionedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionedStore")
            .field("name", &self.name)
            .field("history_retention", &self.history_retention)
            .field("segment_interval", &self.geometry.interval)
            .field("observed", &self.observed)
            .finish()
    }
}

impl VersionedStore {
    /// Opens a versioned store over `engine` keeping `history_retention_ms` of history in
    /// segments of `segment_interval_ms` (see [`default_segment_interval`]); reads the stream
    /// time the engine last persisted.
    pub fn open(
        engine: Box<dyn KeyValueStore>,
        history_retention_ms: i64,
        segment_interval_ms: i64,
    ) -> Result<Self> {
        let history_retention = history_retention_ms.max(0);
        let mut store = VersionedStore {
            name: engine.name().to_string(),
            engine,
            history_retention,
            geometry: Geometry {
                interval: segment_interval_ms.max(1),
            },
            segments: Segments::with_interval(history_retention, segment_interval_ms),
            observed: NO_TIMESTAMP,
            observed_dirty: false,
            shared_observed: Arc::new(AtomicI64::new(NO_TIMESTAMP)),
            changelog: None,
        };
        if let Some(bytes) = store.engine.get(&layout::observed_key())? {
            let bytes: [u8; 8] = bytes.as_slice().try_into().map_err(|_| Error::Corrupt {
                store: store.name.clone(),
                reason: format!("a stream time of {} bytes", bytes.len()),
            })?;
            store.advance(i64::from_be_bytes(bytes))?;
            store.observed_dirty = false;
        }
        Ok(store)
    }

    /// Logs every put and delete to `sink`, with the record's own timestamp.
    pub fn with_changelog(mut self, sink: Box<dyn ChangelogSink>) -> Self {
        self.changelog = Some(sink);
        self
    }

    /// How long older versions stay queryable, and how late a put may be, in ms.
    pub fn history_retention(&self) -> i64 {
        self.history_retention
    }

    /// The segment interval in ms.
    pub fn segment_interval(&self) -> i64 {
        self.geometry.interval
    }

    /// The largest timestamp put so far (`-1` before any).
    pub fn observed_stream_time(&self) -> i64 {
        self.observed
    }

    fn persist_observed(&mut self) -> Result<()> {
        if self.observed_dirty {
            self.engine
                .put(&layout::observed_key(), &self.observed.to_be_bytes())?;
            self.observed_dirty = false;
        }
        Ok(())
    }

    fn expired(&self, timestamp: i64) -> bool {
        timestamp < self.observed.saturating_sub(self.history_retention)
    }

    fn advance(&mut self, timestamp: i64) -> Result<()> {
        if timestamp > self.observed {
            self.observed = timestamp;
            self.observed_dirty = true;
            self.shared_observed.store(timestamp, Ordering::Release);
            self.segments.observe(timestamp, &mut *self.engine)?;
        }
        Ok(())
    }

    /// Puts `value` (`None`: a tombstone, deleting the key from `timestamp` on) as `key`'s
    /// version at `timestamp`, replacing any version at that exact time. Refused
    /// ([`PutOutcome::NotPut`]) when `timestamp` is older than the observed stream time minus
    /// the history retention; otherwise logged to the changelog.
    pub fn put(&mut self, key: &[u8], value: Option<&[u8]>, timestamp: i64) -> Result<PutOutcome> {
        if self.expired(timestamp) {
            return Ok(PutOutcome::NotPut);
        }
        self.advance(timestamp)?;
        let outcome = self.apply(key, value, timestamp)?;
        if let Some(sink) = &self.changelog {
            sink.send(&self.name, key, value, Some(timestamp))?;
        }
        Ok(outcome)
    }

    /// Deletes `key` from `timestamp` on (a tombstone version) and returns the version that
    /// was valid at `timestamp`, as Kafka Streams' `delete(key, timestamp)`; does nothing and
    /// returns `None` when `timestamp` is too old to be put.
    pub fn delete(
        &mut self,
        key: &[u8],
        timestamp: i64,
    ) -> Result<Option<VersionedRecord<Vec<u8>>>> {
        if self.expired(timestamp) {
            return Ok(None);
        }
        let existing = self.get_as_of(key, timestamp)?;
        self.put(key, None, timestamp)?;
        Ok(existing)
    }

    /// The latest value of `key` (none if the newest version is a delete).
    pub fn get(&self, key: &[u8]) -> Result<Option<VersionedRecord<Vec<u8>>>> {
        get_latest(&self.name, &*self.engine, key)
    }

    /// The value of `key` as of `timestamp`: the version with the largest timestamp not after
    /// it, if that is not a delete. Older than the history retention allows, only the latest
    /// value answers (if it is old enough), as in Kafka Streams.
    pub fn get_as_of(
        &self,
        key: &[u8],
        timestamp: i64,
    ) -> Result<Option<VersionedRecord<Vec<u8>>>> {
        get_as_of(&self.lookup(), key, timestamp)
    }

    fn lookup(&self) -> Lookup<'_> {
        Lookup {
            name: &self.name,
            engine: &*self.engine,
            geometry: self.geometry,
            history_retention: self.history_retention,
            observed: self.observed,
        }
    }

    /// Applies changelog records: each a put (or, without a value, a delete) at its record
    /// timestamp, skipping those the store would have refused, as Kafka Streams restores.
    pub fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        for record in records {
            if self.expired(record.timestamp) {
                continue;
            }
            self.advance(record.timestamp)?;
            self.apply(&record.key, record.value.as_deref(), record.timestamp)?;
        }
        Ok(())
    }

    /// Writes the version at `timestamp` (stream time already advanced past it).
    fn apply(&mut self, key: &[u8], value: Option<&[u8]>, timestamp: i64) -> Result<PutOutcome> {
        let g = self.geometry;
        let latest_key = layout::latest_key(key);
        let latest = match self.engine.get(&latest_key)? {
            Some(bytes) => {
                let (ts, v) = layout::decode_latest(&self.name, &bytes)?;
                Some((ts, v.to_vec()))
            }
            None => None,
        };
        let mut writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::with_capacity(3);
        let outcome = match latest {
            Some((latest_ts, latest_value)) if timestamp >= latest_ts => {
                if timestamp > latest_ts {
                    // The latest value becomes history, valid until this version.
                    writes.push((
                        g.row_key(key, timestamp, latest_ts),
                        Some(layout::encode_row(Some(&latest_value))),
                    ));
                    self.newest(key, latest_key, value, timestamp, &mut writes);
                } else if value.is_some() {
                    self.newest(key, latest_key, value, timestamp, &mut writes);
                } else {
                    // A delete at the latest value's own time drops that version and leaves
                    // no tombstone, as Kafka Streams' store does: what ended at this time
                    // (the row before, if any) still ends here, and otherwise the key reads
                    // as if the version had never been put.
                    writes.push((latest_key, None));
                }
                PutOutcome::Latest
            }
            latest => {
                let next =
                    layout::next_row(&self.name, &*self.engine, g, key, timestamp, self.observed)?;
                match (next, latest) {
                    (Some((row_key, row)), _) if row.covers(timestamp) => {
                        if row.valid_from == timestamp {
                            writes.push((row_key, Some(layout::encode_row(value))));
                        } else {
                            // Split the row: its value now ends here, this one takes the rest.
                            writes.push((row_key, None));
                            writes.push((
                                g.row_key(key, timestamp, row.valid_from),
                                Some(layout::encode_row(row.value.as_deref())),
                            ));
                            writes.push((
                                g.row_key(key, row.valid_to, timestamp),
                                Some(layout::encode_row(value)),
                            ));
                        }
                        PutOutcome::ValidTo(row.valid_to)
                    }
                    (Some((_, row)), _) => {
                        // Before the next version, with nothing in between.
                        writes.push((
                            g.row_key(key, row.valid_from, timestamp),
                            Some(layout::encode_row(value)),
                        ));
                        PutOutcome::ValidTo(row.valid_from)
                    }
                    (None, Some((latest_ts, _))) => {
                        // The latest value is the key's first version: this one precedes it.
                        writes.push((
                            g.row_key(key, latest_ts, timestamp),
                            Some(layout::encode_row(value)),
                        ));
                        PutOutcome::ValidTo(latest_ts)
                    }
                    (None, None) => {
                        self.newest(key, latest_key, value, timestamp, &mut writes);
                        PutOutcome::Latest
                    }
                }
            }
        };
        let batch: Vec<(&[u8], Option<&[u8]>)> = writes
            .iter()
            .map(|(k, v)| (k.as_slice(), v.as_deref()))
            .collect();
        self.engine.put_all(&batch)?;
        Ok(outcome)
    }

    /// Writes the newest version of `key`: a latest value, or an open tombstone.
    fn newest(
        &self,
        key: &[u8],
        latest_key: Vec<u8>,
        value: Option<&[u8]>,
        timestamp: i64,
        writes: &mut Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) {
        match value {
            Some(value) => writes.push((latest_key, Some(layout::encode_latest(timestamp, value)))),
            None => {
                writes.push((latest_key, None));
                writes.push((
                    self.geometry.row_key(key, timestamp, timestamp),
                    Some(layout::encode_row(None)),
                ));
            }
        }
    }

    /// A reader of this store for other threads (interactive queries), if the engine offers a
    /// query handle. It sees what the engine holds, with the stream time last observed.
    pub fn reader(&self) -> Option<VersionedReader> {
        Some(VersionedReader {
            name: self.name.clone(),
            engine: self.engine.query_handle()?,
            geometry: self.geometry,
            history_retention: self.history_retention,
            observed: self.shared_observed.clone(),
        })
    }

    /// A read handle on the engine, for metrics.
    pub fn engine_query_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>> {
        self.engine.query_handle()
    }
}

impl StateStore for VersionedStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        self.engine.persistent()
    }

    /// Writes the observed stream time beside the data (so a restart from a checkpoint keeps
    /// refusing the puts it refused), then flushes the engine.
    fn flush(&mut self) -> Result<()> {
        self.persist_observed()?;
        self.engine.flush()
    }

    /// Like [`flush`](Self::flush), and closing twice is not an error, as for the engines.
    fn close(&mut self) -> Result<()> {
        self.persist_observed()?;
        self.engine.close()
    }
}

/// What a lookup needs, from the store or from a reader on another thread.
struct Lookup<'a> {
    name: &'a str,
    engine: &'a dyn ReadOnlyKeyValueStore,
    geometry: Geometry,
    history_retention: i64,
    observed: i64,
}

fn get_latest(
    name: &str,
    engine: &dyn ReadOnlyKeyValueStore,
    key: &[u8],
) -> Result<Option<VersionedRecord<Vec<u8>>>> {
    match engine.get(&layout::latest_key(key))? {
        Some(bytes) => {
            let (ts, value) = layout::decode_latest(name, &bytes)?;
            Ok(Some(VersionedRecord::new(value.to_vec(), ts, None)))
        }
        None => Ok(None),
    }
}

fn get_as_of(
    at: &Lookup<'_>,
    key: &[u8],
    timestamp: i64,
) -> Result<Option<VersionedRecord<Vec<u8>>>> {
    let latest = get_latest(at.name, at.engine, key)?;
    if let Some(latest) = latest.filter(|l| l.timestamp <= timestamp) {
        // The latest value never expires.
        return Ok(Some(latest));
    }
    if timestamp < at.observed.saturating_sub(at.history_retention) {
        // Past history retention: no answer, even where older versions are still on disk.
        return Ok(None);
    }
    let next = layout::next_row(at.name, at.engine, at.geometry, key, timestamp, at.observed)?;
    Ok(match next {
        Some((_, row)) if row.covers(timestamp) => row
            .value
            .map(|value| VersionedRecord::new(value, row.valid_from, Some(row.valid_to))),
        _ => None,
    })
}

/// A thread-safe reader of a [`VersionedStore`] (see [`VersionedStore::reader`]).
#[derive(Clone)]
pub struct VersionedReader {
    name: String,
    engine: Arc<dyn ReadOnlyKeyValueStore + Send + Sync>,
    geometry: Geometry,
    history_retention: i64,
    observed: Arc<AtomicI64>,
}

impl std::fmt::Debug for VersionedReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionedReader")
            .field("name", &self.name)
            .field("history_retention", &self.history_retention)
            .finish()
    }
}

impl VersionedReader {
    /// The latest value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<VersionedRecord<Vec<u8>>>> {
        get_latest(&self.name, &*self.engine, key)
    }

    /// The value of `key` as of `timestamp` (see [`VersionedStore::get_as_of`]).
    pub fn get_as_of(
        &self,
        key: &[u8],
        timestamp: i64,
    ) -> Result<Option<VersionedRecord<Vec<u8>>>> {
        let lookup = Lookup {
            name: &self.name,
            engine: &*self.engine,
            geometry: self.geometry,
            history_retention: self.history_retention,
            observed: self.observed.load(Ordering::Acquire),
        };
        get_as_of(&lookup, key, timestamp)
    }
}
