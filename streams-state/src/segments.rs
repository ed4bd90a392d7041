//! Time segments shared by window and session stores. Not a stable API: public only for
//! [`encode_time`] and [`decode_time`], which `streams-core` uses for its own time-ordered keys.
//!
//! Every entry's engine key starts with its segment id (time / segment interval, 8 bytes
//! big-endian), so all entries of expired segments form one key range that a single range
//! delete drops (a RocksDB range tombstone), as Kafka Streams drops whole segment instances.
//! Timestamps in keys are encoded with the sign bit flipped so that bytes sort like numbers.
//!
//! The store's times survive restarts: at each flush they are written under `META_KEY`, a key
//! above every segment (segment ids are below 2^63, so their keys never start with `0xFF`), and
//! read back on open; restoring from the changelog advances them as the records come.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use tracing::debug;

use crate::Result;
use crate::store::KeyValueStore;

/// Kafka Streams' minimum segment interval.
const MIN_SEGMENT_INTERVAL_MS: i64 = 60_000;

/// Expired segments are dropped at least this much event time at once (or a retention's
/// worth, if longer), and the memtable is flushed every [`FLUSH_AFTER_DROPS`] drops. Each drop
/// is one RocksDB range tombstone, and RocksDB re-fragments every tombstone still in the
/// memtable on reads and writes: one drop per segment (each minute of event time, with short
/// windows), left in the memtable, made a store's cost grow with the square of its age. Reads never look below the
/// live segments, so expired data left until the next drop is invisible; at most this span (or
/// a retention) of it stays on disk.
const DROP_SPAN_MS: i64 = 3_600_000;

/// Range tombstones a drop leaves in the memtable before one flushes it: few enough that reads
/// stay cheap, rare enough that replaying months of event time does not flush all the time.
const FLUSH_AFTER_DROPS: u32 = 16;

/// Encodes a timestamp so that byte order is numeric order.
pub fn encode_time(ts: i64) -> [u8; 8] {
    ((ts as u64) ^ (1 << 63)).to_be_bytes()
}

/// Decodes [`encode_time`].
pub fn decode_time(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// Reads an encoded timestamp at `at`.
pub(crate) fn time_at(bytes: &[u8], at: usize) -> Option<i64> {
    let slice: [u8; 8] = bytes.get(at..at + 8)?.try_into().ok()?;
    Some(decode_time(slice))
}

/// The engine key the store's times are persisted under: above every segment.
pub(crate) const META_KEY: &[u8] = b"\xFF\xFFstream-time";

/// Whether `engine_key` is not an entry of a segment (the times persisted under [`META_KEY`]).
pub(crate) fn is_meta(engine_key: &[u8]) -> bool {
    engine_key.first() == Some(&0xFF)
}

/// Format version of the persisted times.
const META_VERSION: u8 = 0;

/// Segment bookkeeping: retention, interval, observed stream time and expiry.
#[derive(Debug, Clone)]
pub(crate) struct Segments {
    pub(crate) retention: i64,
    pub(crate) interval: i64,
    /// Largest key time (window start, session end) written to the engine so far (`i64::MIN`
    /// before any): Kafka Streams' `observedStreamTime` of a segmented store, which retention
    /// is measured from. Behind a record cache it moves as entries are written through.
    pub(crate) observed: i64,
    /// Largest key time put into the record cache (`i64::MIN` before any): Kafka Streams'
    /// `maxObservedTimestamp` of a caching store, the last segment reads look in the cache.
    pub(crate) cached: i64,
    /// Largest timestamp of the records that wrote the store (`i64::MIN` before any): the
    /// stream time of the processor owning the store, which it resumes from after a restart.
    pub(crate) stream_time: i64,
    /// `stream_time` as of the last commit (the last flush of the cache), which a dirty close
    /// goes back to: the records after it will be processed again.
    committed_stream_time: i64,
    /// `(observed, stream_time)` as last persisted.
    persisted: (i64, i64),
    /// Segments below this id have been dropped.
    dropped_below: i64,
    /// Drops (range tombstones) since the engine's memtable was last flushed by a drop.
    drops_unflushed: u32,
    /// `observed` and `cached`, for readers on other threads (interactive queries).
    shared: Arc<SharedTimes>,
}

/// A store's times as readers on other threads see them.
#[derive(Debug)]
pub(crate) struct SharedTimes {
    observed: AtomicI64,
    cached: AtomicI64,
}

impl Segments {
    /// Segments of `max(retention / 2, 60 s)`, as Kafka Streams sizes them.
    pub(crate) fn new(retention: i64) -> Self {
        Segments {
            retention,
            interval: (retention / 2).max(MIN_SEGMENT_INTERVAL_MS),
            observed: i64::MIN,
            cached: i64::MIN,
            stream_time: i64::MIN,
            committed_stream_time: i64::MIN,
            persisted: (i64::MIN, i64::MIN),
            dropped_below: 0,
            drops_unflushed: 0,
            shared: Arc::new(SharedTimes {
                observed: AtomicI64::new(i64::MIN),
                cached: AtomicI64::new(i64::MIN),
            }),
        }
    }

    /// Segments of `interval` ms (at least 1) keeping `retention`: for stores that choose their
    /// segment size (the versioned store, after Kafka Streams' `segmentInterval`).
    pub(crate) fn with_interval(retention: i64, interval: i64) -> Self {
        let mut segments = Segments::new(retention);
        segments.interval = interval.max(1);
        segments
    }

    /// Records that an entry with key time `ts` went into the record cache.
    pub(crate) fn observe_cached(&mut self, ts: i64) {
        if ts > self.cached {
            self.cached = ts;
            self.shared.cached.store(ts, Ordering::Release);
        }
    }

    /// Segment ids of the cached entries with key times in `[from, to]` (none if nothing was
    /// cached there): no retention applies to the cache, as in Kafka Streams.
    pub(crate) fn cached_range(&self, from: i64, to: i64) -> Option<(i64, i64)> {
        let to = to.min(self.cached);
        (self.cached != i64::MIN && from <= to)
            .then(|| (self.segment_of(from), self.segment_of(to)))
    }

    /// Records that a record stamped `ts` wrote the store.
    pub(crate) fn observe_record(&mut self, ts: i64) {
        self.stream_time = self.stream_time.max(ts);
    }

    /// The records that wrote the store so far are committed (or restored: committed before).
    pub(crate) fn commit_stream_time(&mut self) {
        self.committed_stream_time = self.stream_time;
    }

    /// Forgets the records since the last commit (a task closed without committing, whose
    /// records will be processed again: a stream time counting them would make the earlier of
    /// them late the second time).
    pub(crate) fn roll_back_stream_time(&mut self) {
        self.stream_time = self.committed_stream_time;
    }

    /// Reads the times persisted in `engine` (a store reopened over its data). A store written
    /// before the times were persisted gets them from its data: the largest key time in its
    /// last segment (`key_time` reads one from an engine key), for both times.
    pub(crate) fn recover(
        &mut self,
        engine: &dyn KeyValueStore,
        key_time: fn(&[u8]) -> Option<i64>,
    ) -> Result<()> {
        let (observed, stream_time) = match engine.get(META_KEY)? {
            Some(bytes) => match decode_meta(&bytes) {
                Some(times) => times,
                None => {
                    debug!(
                        store = engine.name(),
                        "unreadable stream times, reading the data"
                    );
                    let last = last_key_time(engine, key_time)?;
                    (last, last)
                }
            },
            None => {
                let last = last_key_time(engine, key_time)?;
                (last, last)
            }
        };
        self.observed = observed;
        self.stream_time = stream_time;
        self.committed_stream_time = stream_time;
        self.persisted = (observed, stream_time);
        self.shared.observed.store(observed, Ordering::Release);
        Ok(())
    }

    /// Writes the times to `engine` if they moved since last written (before a flush, so that
    /// a checkpoint never claims more than they reflect).
    pub(crate) fn persist(&mut self, engine: &mut dyn KeyValueStore) -> Result<()> {
        let times = (self.observed, self.stream_time);
        if times != self.persisted {
            engine.put(META_KEY, &encode_meta(times))?;
            self.persisted = times;
        }
        Ok(())
    }

    /// The store's times as other threads see them.
    pub(crate) fn shared(&self) -> Arc<SharedTimes> {
        self.shared.clone()
    }

    /// A snapshot of these segments for a reader on another thread: the times as last
    /// published (expired segments may still be on disk: `min_live_time` hides them).
    pub(crate) fn snapshot(retention: i64, times: &SharedTimes) -> Self {
        let mut segments = Segments::new(retention);
        segments.observed = times.observed.load(Ordering::Acquire);
        segments.cached = times.cached.load(Ordering::Acquire);
        segments
    }

    pub(crate) fn segment_of(&self, ts: i64) -> i64 {
        ts.max(0) / self.interval
    }

    /// The earliest timestamp still retained. Saturating: a retention of 0 (a `Duration::ZERO`
    /// from the store builders) at an observed time of `i64::MAX` overflowed here (found by the
    /// `session_key` and `http_params` fuzz targets); it keeps that last millisecond instead.
    pub(crate) fn min_live_time(&self) -> i64 {
        if self.observed == i64::MIN {
            i64::MIN
        } else {
            self.observed
                .saturating_sub(self.retention)
                .saturating_add(1)
        }
    }

    pub(crate) fn prefix(&self, ts: i64) -> [u8; 8] {
        (self.segment_of(ts) as u64).to_be_bytes()
    }

    /// The first segment Kafka Streams still keeps: the one holding `observed - retention`
    /// (segments below it are dropped, those from it on are read by time-ordered stores).
    pub(crate) fn first_live_segment(&self) -> i64 {
        self.segment_of(self.observed.saturating_sub(self.retention))
    }

    /// Whether `ts` falls in a segment Kafka Streams still keeps ([`first_live_segment`] on):
    /// where its segmented stores accept a put, even one reads no longer return.
    ///
    /// [`first_live_segment`]: Self::first_live_segment
    pub(crate) fn in_live_segment(&self, ts: i64) -> bool {
        self.observed == i64::MIN || self.segment_of(ts) >= self.first_live_segment()
    }

    /// Segment ids that may hold timestamps in `[from, to]`, within retention.
    pub(crate) fn range(&self, from: i64, to: i64) -> std::ops::RangeInclusive<i64> {
        let from = from.max(self.min_live_time());
        self.segment_of(from)..=self.segment_of(to.min(self.observed.max(from)))
    }

    /// Records `ts` as seen; drops segments that fell out of retention. Returns whether `ts`
    /// itself is still within retention.
    pub(crate) fn observe(&mut self, ts: i64, engine: &mut dyn KeyValueStore) -> Result<bool> {
        if ts > self.observed {
            self.observed = ts;
            self.shared.observed.store(ts, Ordering::Release);
            // Kafka Streams keeps the segment holding `observed - retention` (its time-ordered
            // stores still read it); so do we.
            let min_live = self.first_live_segment();
            let batch = (self.retention.max(DROP_SPAN_MS) / self.interval).max(1);
            if min_live >= self.dropped_below.saturating_add(batch) {
                debug!(
                    store = engine.name(),
                    below = min_live,
                    "dropping expired segments"
                );
                engine.delete_range(&0u64.to_be_bytes(), &(min_live as u64).to_be_bytes())?;
                self.drops_unflushed += 1;
                if self.drops_unflushed >= FLUSH_AFTER_DROPS {
                    engine.flush()?;
                    self.drops_unflushed = 0;
                }
                self.dropped_below = min_live;
            }
        }
        Ok(ts >= self.min_live_time())
    }
}

fn encode_meta((observed, stream_time): (i64, i64)) -> [u8; 17] {
    let mut out = [0u8; 17];
    out[0] = META_VERSION;
    out[1..9].copy_from_slice(&observed.to_be_bytes());
    out[9..].copy_from_slice(&stream_time.to_be_bytes());
    out
}

fn decode_meta(bytes: &[u8]) -> Option<(i64, i64)> {
    let (&version, rest) = bytes.split_first()?;
    if version != META_VERSION || rest.len() != 16 {
        return None;
    }
    let observed = i64::from_be_bytes(rest[..8].try_into().ok()?);
    let stream_time = i64::from_be_bytes(rest[8..].try_into().ok()?);
    Some((observed, stream_time))
}

/// Whether `engine` holds a segment entry at or above segment `id`.
fn holds_from(engine: &dyn KeyValueStore, id: i64) -> Result<bool> {
    let from = (id as u64).to_be_bytes();
    match engine.range(Some(&from), None)?.next() {
        Some(item) => Ok(!is_meta(&item?.0)),
        None => Ok(false),
    }
}

/// The largest key time in the last segment of `engine` (`i64::MIN` if it holds none): the
/// last segment is found by bisection (each probe one seek), then read whole.
fn last_key_time(engine: &dyn KeyValueStore, key_time: fn(&[u8]) -> Option<i64>) -> Result<i64> {
    if !holds_from(engine, 0)? {
        return Ok(i64::MIN);
    }
    // Invariant: an entry at or above `lo`, none at or above `hi`.
    let (mut lo, mut hi) = (0i64, i64::MAX);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if holds_from(engine, mid)? {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let mut last = i64::MIN;
    for item in engine.prefix_scan(&(lo as u64).to_be_bytes())? {
        if let Some(ts) = key_time(&item?.0) {
            last = last.max(ts);
        }
    }
    Ok(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_encoding_sorts_numerically() {
        let times = [i64::MIN, -5, -1, 0, 1, 60_000, i64::MAX];
        for pair in times.windows(2) {
            assert!(encode_time(pair[0]) < encode_time(pair[1]));
            assert_eq!(decode_time(encode_time(pair[0])), pair[0]);
        }
    }

    #[test]
    fn segments_follow_kafka_sizing() {
        let segments = Segments::new(1_000);
        assert_eq!(segments.interval, 60_000);
        let segments = Segments::new(600_000);
        assert_eq!(segments.interval, 300_000);
        assert_eq!(segments.segment_of(299_999), 0);
        assert_eq!(segments.segment_of(300_000), 1);
    }

    #[test]
    fn retention_arithmetic_saturates_at_the_ends_of_time() -> Result<()> {
        let mut engine = crate::InMemoryKeyValueStore::new("s");
        for retention in [0, 1, i64::MAX] {
            let mut segments = Segments::new(retention);
            for ts in [i64::MIN + 1, -1, 0, i64::MAX] {
                segments.observe(ts, &mut engine)?;
                let _ = segments.min_live_time();
                assert!(segments.in_live_segment(i64::MAX));
                let _ = segments.range(i64::MIN, i64::MAX);
            }
            assert_eq!(segments.observed, i64::MAX);
        }
        // Retention 0 keeps nothing before the observed time (and, at the end of time, the
        // last millisecond rather than overflowing).
        let mut segments = Segments::new(0);
        segments.observe(100, &mut engine)?;
        assert_eq!(segments.min_live_time(), 101);
        segments.observe(i64::MAX, &mut engine)?;
        assert_eq!(segments.min_live_time(), i64::MAX);
        Ok(())
    }

    /// Whether the engine holds `key`.
    fn holds(engine: &crate::InMemoryKeyValueStore, key: &[u8]) -> bool {
        use crate::store::ReadOnlyKeyValueStore;
        matches!(engine.get(key), Ok(Some(_)))
    }

    #[test]
    fn expired_segments_are_dropped_an_hour_at_a_time_not_one_by_one() -> Result<()> {
        let mut engine = crate::InMemoryKeyValueStore::new("s");
        // One-minute segments (retention 1 minute), one record a minute for ten hours.
        let mut segments = Segments::new(60_000);
        let mut drops = 0;
        for minute in 0..600i64 {
            let ts = minute * 60_000;
            let before = segments.dropped_below;
            assert!(segments.observe(ts, &mut engine)?);
            drops += i32::from(segments.dropped_below != before);
            let key = segments.prefix(ts);
            crate::store::KeyValueStore::put(&mut engine, &key, b"v")?;
        }
        // One range delete per hour of event time, not one per segment (600).
        assert!((9..=11).contains(&drops), "{drops} drops");
        // What was dropped is gone; the live segment is there; expired data not yet dropped
        // is below the live segments, where reads do not look.
        assert!(!holds(&engine, &segments.prefix(0)));
        assert!(holds(&engine, &segments.prefix(599 * 60_000)));
        let dropped_below = segments.dropped_below;
        assert!(segments.segment_of(segments.min_live_time()) >= dropped_below);
        Ok(())
    }

    /// Key time of a test engine key: `segment | time`.
    fn test_key_time(key: &[u8]) -> Option<i64> {
        time_at(key, 8)
    }

    fn test_key(segments: &Segments, ts: i64) -> Vec<u8> {
        let mut key = segments.prefix(ts).to_vec();
        key.extend_from_slice(&encode_time(ts));
        key
    }

    #[test]
    fn times_are_persisted_and_recovered() -> Result<()> {
        let mut engine = crate::InMemoryKeyValueStore::new("s");
        let mut segments = Segments::new(600_000);
        segments.observe(5_000, &mut engine)?;
        segments.observe_record(7_000);
        segments.persist(&mut engine)?;
        let mut reopened = Segments::new(600_000);
        reopened.recover(&engine, test_key_time)?;
        assert_eq!((reopened.observed, reopened.stream_time), (5_000, 7_000));
        assert_eq!(reopened.shared().observed.load(Ordering::Acquire), 5_000);
        Ok(())
    }

    #[test]
    fn a_store_without_persisted_times_gets_them_from_its_last_segment() -> Result<()> {
        let mut engine = crate::InMemoryKeyValueStore::new("s");
        let segments = Segments::new(600_000);
        for ts in [10, 700_000, 650_000, 2_500_000, 2_400_000, 30] {
            crate::store::KeyValueStore::put(&mut engine, &test_key(&segments, ts), b"v")?;
        }
        let mut reopened = Segments::new(600_000);
        reopened.recover(&engine, test_key_time)?;
        assert_eq!(reopened.observed, 2_500_000);
        let mut empty = Segments::new(600_000);
        empty.recover(&crate::InMemoryKeyValueStore::new("e"), test_key_time)?;
        assert_eq!(empty.observed, i64::MIN);
        // The persisted times are not an entry of a segment.
        reopened.observe_record(3_000_000);
        reopened.persist(&mut engine)?;
        let mut again = Segments::new(600_000);
        again.recover(&engine, test_key_time)?;
        assert_eq!((again.observed, again.stream_time), (2_500_000, 3_000_000));
        Ok(())
    }
}
