//! Unit tests of the window store without a cache: reads, retention, restoration, and the
//! times it keeps across a reopen and a restore.

use std::cell::RefCell;
use std::rc::Rc;

use super::*;
use crate::{InMemoryKeyValueStore, RocksDbKeyValueStore};

fn store(retention: i64, duplicates: bool) -> WindowStore {
    WindowStore::new(
        Box::new(InMemoryKeyValueStore::new("w")),
        retention,
        duplicates,
    )
}

pub(super) fn log_key(key: &[u8], start: i64) -> Vec<u8> {
    let mut out = key.to_vec();
    out.extend_from_slice(&encode_time(start));
    out.extend_from_slice(&0u32.to_be_bytes());
    out
}

/// A changelog that keeps what it is sent: `(key, value, timestamp)`.
pub(super) type Logged = Rc<RefCell<Vec<(Vec<u8>, Option<Vec<u8>>, Option<i64>)>>>;

pub(super) struct Recording(pub(super) Logged);

impl ChangelogSink for Recording {
    fn send(
        &self,
        _store: &str,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: Option<i64>,
    ) -> Result<()> {
        self.0
            .borrow_mut()
            .push((key.to_vec(), value.map(<[u8]>::to_vec), timestamp));
        Ok(())
    }
}

/// The changelog records `logged` holds, as records to restore from.
pub(super) fn as_changelog(logged: &Logged) -> Vec<ChangelogRecord> {
    logged
        .borrow()
        .iter()
        .map(|(k, v, ts)| ChangelogRecord::new(k.clone(), v.clone(), ts.unwrap_or(-1)))
        .collect()
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
    assert_eq!(s.fetch_one(b"k", 10)?, Some(b"1".to_vec()));
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
    assert_eq!(s.fetch_one(b"k", 60_000)?, None);
    Ok(())
}

#[test]
fn restores_from_changelog_keys() -> Result<()> {
    let mut s = store(1_000_000, false);
    s.restore_batch(&[ChangelogRecord::new(
        log_key(b"k", 5_000),
        Some(b"v".to_vec()),
        5_000,
    )])?;
    assert_eq!(s.fetch_one(b"k", 5_000)?, Some(b"v".to_vec()));
    assert_eq!(s.stream_time(), Some(5_000));
    Ok(())
}

#[test]
fn a_restored_batch_skips_the_windows_it_expires_itself() -> Result<()> {
    // AbstractRocksDBSegmentedBytesStore.getWriteBatches: stream time moves to the batch's
    // largest start before anything is written.
    let mut s = store(60_000, false);
    s.restore_batch(&[
        ChangelogRecord::new(log_key(b"k", 0), Some(b"old".to_vec()), 0),
        ChangelogRecord::new(log_key(b"k", 500_000), Some(b"new".to_vec()), 500_000),
    ])?;
    assert_eq!(s.all()?.len(), 1);
    let raw = s
        .engine
        .all()?
        .filter(|i| i.as_ref().is_ok_and(|(k, _)| !is_meta(k)));
    assert_eq!(raw.count(), 1, "the expired window was never written");
    Ok(())
}

#[test]
fn a_reopened_store_keeps_its_times_and_its_windows() -> Result<()> {
    let engine = InMemoryKeyValueStore::new("w");
    let mut s = WindowStore::open(Box::new(engine.clone()), 60_000, false)?;
    s.put_with_record_time(b"k", Some(b"a"), 100_000, Some(100_050))?;
    s.put_with_record_time(b"k", Some(b"b"), 160_000, Some(160_007))?;
    s.flush()?;
    drop(s);
    let mut s = WindowStore::open(Box::new(engine), 60_000, false)?;
    assert_eq!(s.stream_time(), Some(160_007));
    // Reads see the windows at once (before the reopen taught nothing, a fresh store saw
    // nothing until its first put).
    assert_eq!(s.fetch_one(b"k", 160_000)?, Some(b"b".to_vec()));
    assert_eq!(
        s.fetch(b"k", 0, 200_000)?.len(),
        1,
        "100000 is past retention"
    );
    // Retention goes on from the persisted time: a window it had expired is refused.
    assert!(!s.put(b"k", Some(b"late"), 90_000)?);
    Ok(())
}

#[test]
fn a_store_reopened_on_rocksdb_keeps_its_times() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
    let open = || -> Result<WindowStore> {
        let engine = RocksDbKeyValueStore::open("w", dir.path())?;
        WindowStore::open(Box::new(engine), 600_000, false)
    };
    let mut s = open()?;
    s.put_with_record_time(b"k", Some(b"v"), 1_000_000, Some(1_000_123))?;
    s.close()?;
    drop(s);
    let s = open()?;
    assert_eq!(s.stream_time(), Some(1_000_123));
    assert_eq!(s.fetch_one(b"k", 1_000_000)?, Some(b"v".to_vec()));
    assert_eq!(s.all()?.len(), 1, "the persisted times are not a window");
    Ok(())
}

#[test]
fn a_store_restored_from_its_changelog_has_the_times_of_the_original() -> Result<()> {
    let logged = Logged::default();
    let mut original = store(60_000, false)
        .with_timestamped_values()
        .with_changelog(Box::new(Recording(logged.clone())));
    let value = |ts: i64| {
        let mut v = Vec::new();
        crate::push_timestamp(&mut v, ts);
        v.extend_from_slice(b"agg");
        v
    };
    // A window's value carries the largest timestamp of its records: the changelog record is
    // stamped with it (Kafka Streams' ChangeLoggingTimestampedWindowBytesStore), not with the
    // writer's.
    original.put_with_record_time(b"k", Some(&value(130_000)), 120_000, Some(130_000))?;
    original.put_with_record_time(b"k", Some(&value(130_000)), 120_000, Some(125_000))?;
    assert_eq!(logged.borrow()[1].2, Some(130_000));
    let mut restored = store(60_000, false);
    restored.restore_batch(&as_changelog(&logged))?;
    assert_eq!(restored.stream_time(), original.stream_time());
    assert_eq!(restored.fetch_one(b"k", 120_000)?, Some(value(130_000)));
    Ok(())
}

#[test]
fn keys_of_the_persisted_times_decode_as_no_entry() {
    assert!(WindowStore::decode_engine_entry(crate::segments::META_KEY, Vec::new()).is_none());
    let mut long = crate::segments::META_KEY.to_vec();
    long.extend_from_slice(&[0; 32]);
    assert!(WindowStore::decode_engine_entry(&long, Vec::new()).is_none());
}

#[test]
fn a_discarded_cache_takes_the_stream_time_back_to_the_last_commit() -> Result<()> {
    // A task closed without committing redoes its records: the stream time it persists must
    // not count them, or the earlier of them would be late the second time.
    let engine = InMemoryKeyValueStore::new("w");
    for cached in [true, false] {
        let mut s = WindowStore::open(Box::new(engine.clone()), 600_000, false)?;
        if cached {
            s = s.with_cache(crate::CacheBudget::new(1 << 20));
        }
        s.put_with_record_time(b"k", Some(b"v"), 1_000, Some(1_000))?;
        s.flush_cache()?;
        s.put_with_record_time(b"k", Some(b"w"), 9_000, Some(9_000))?;
        assert_eq!(s.stream_time(), Some(9_000));
        s.discard_cache();
        assert_eq!(s.stream_time(), Some(1_000), "cached {cached}");
        s.close()?;
        let reopened = WindowStore::open(Box::new(engine.clone()), 600_000, false)?;
        assert_eq!(reopened.stream_time(), Some(1_000), "cached {cached}");
    }
    Ok(())
}
