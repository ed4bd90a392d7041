//! The versioned store's restoration from its changelog and its changelog writes, ported from
//! Kafka Streams' `RocksDBVersionedStoreTest` (restore cases) with the fixtures of `tests`.

use super::tests::*;
use super::*;
use crate::{InMemoryKeyValueStore, RocksDbKeyValueStore};
use std::cell::RefCell;
use std::rc::Rc;

fn changelog(records: &[(&str, Option<&str>, i64)]) -> Vec<ChangelogRecord> {
    records
        .iter()
        .map(|(k, v, ts)| {
            ChangelogRecord::new(k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()), *ts)
        })
        .collect()
}

#[test]
fn should_restore() {
    // Kafka: RocksDBVersionedStoreTest.shouldRestore
    on_both(|f| {
        let records = changelog(&[
            ("k", Some("vp20"), SI + 20),
            ("k", Some("vp10"), SI + 10),
            ("k", Some("vn10"), SI - 10),
            ("k", Some("vn2"), SI - 2),
            ("k", Some("vn1"), SI - 1),
            ("k", Some("vp1"), SI + 1),
        ]);
        f.store.restore_batch(&records).expect("restore");
        check_moved_to_older_segment(f);
    });
}

#[test]
fn should_restore_with_nulls() {
    // Kafka: RocksDBVersionedStoreTest.shouldRestoreWithNulls
    on_both(|f| {
        let records = changelog(&[
            ("k", None, SI + 20),
            ("k", None, SI - 1),
            ("k", None, SI + 1),
            ("k", None, SI - 10),
            ("k", None, SI + 10),
            ("k", Some("vp5"), SI + 5),
            ("k", Some("vn5"), SI - 5),
            ("k", Some("vn6"), SI - 6),
        ]);
        f.store.restore_batch(&records).expect("restore");
        check_repeat_timestamps(f);
    });
}

#[test]
fn should_restore_with_nulls_and_repeat_timestamps() {
    // Kafka: RocksDBVersionedStoreTest.shouldRestoreWithNullsAndRepeatTimestamps
    on_both(|f| {
        let records = changelog(&[
            ("k", Some("to_be_replaced"), SI + 20),
            ("k", None, SI - 10),
            ("k", Some("to_be_replaced"), SI - 10),
            ("k", None, SI - 10),
            ("k", Some("to_be_replaced"), SI - 1),
            ("k", Some("to_be_replaced"), SI + 1),
            ("k", None, SI - 1),
            ("k", None, SI + 1),
            ("k", None, SI + 10),
            ("k", None, SI + 5),
            ("k", Some("vp5"), SI + 5),
            ("k", Some("to_be_replaced"), SI - 5),
            ("k", Some("vn5"), SI - 5),
            ("k", None, SI + 20),
            ("k", None, SI + 20),
            ("k", Some("vn6"), SI - 6),
        ]);
        f.store.restore_batch(&records).expect("restore");
        check_repeat_timestamps(f);
    });
}

#[test]
fn should_restore_multiple_batches() {
    // Kafka: RocksDBVersionedStoreTest.shouldRestoreMultipleBatches
    on_both(|f| {
        let first = changelog(&[
            ("k", None, SI - 20),
            ("k", Some("vn10"), SI - 10),
            ("k", None, SI - 1),
        ]);
        let second = changelog(&[
            ("k", None, SI + 1),
            ("k", Some("vp10"), SI + 10),
            ("k", None, SI + 20),
        ]);
        f.store.restore_batch(&first).expect("restore");
        f.store.restore_batch(&second).expect("restore");
        f.latest_is_none("k");
        f.as_of_is_none("k", SI + 30);
        f.as_of_is("k", SI + 15, "vp10", SI + 10, SI + 20);
        f.as_of_is_none("k", SI + 5);
        f.as_of_is_none("k", SI);
        f.as_of_is("k", SI - 5, "vn10", SI - 10, SI - 1);
        f.as_of_is_none("k", SI - 15);
    });
}

#[test]
fn should_not_restore_expired() {
    // Kafka: RocksDBVersionedStoreTest.shouldNotRestoreExpired
    on_both(|f| {
        let records = changelog(&[
            ("k", Some("v"), HISTORY_RETENTION + 10),
            ("k1", Some("v1"), HISTORY_RETENTION + 10 - GRACE_PERIOD),
            ("k2", Some("v2"), HISTORY_RETENTION + 9 - GRACE_PERIOD),
        ]);
        f.store.restore_batch(&records).expect("restore");
        f.latest_is("k", "v", HISTORY_RETENTION + 10);
        f.latest_is("k1", "v1", HISTORY_RETENTION + 10 - GRACE_PERIOD);
        f.latest_is_none("k2");
    });
}

#[test]
fn should_restore_even_if_record_would_be_expired_by_end_of_batch() {
    // Kafka: RocksDBVersionedStoreTest.shouldRestoreEvenIfRecordWouldBeExpiredByEndOfBatch
    on_both(|f| {
        let records = changelog(&[
            ("k2", Some("v2"), HISTORY_RETENTION - GRACE_PERIOD),
            ("k", Some("v"), HISTORY_RETENTION + 10),
        ]);
        f.store.restore_batch(&records).expect("restore");
        f.latest_is("k2", "v2", HISTORY_RETENTION - GRACE_PERIOD);
        f.latest_is("k", "v", HISTORY_RETENTION + 10);
    });
}

type Logged = Rc<RefCell<Vec<(Vec<u8>, Option<Vec<u8>>, Option<i64>)>>>;

struct Sink(Logged);

impl ChangelogSink for Sink {
    fn send(&self, _: &str, key: &[u8], value: Option<&[u8]>, ts: Option<i64>) -> Result<()> {
        self.0
            .borrow_mut()
            .push((key.to_vec(), value.map(<[u8]>::to_vec), ts));
        Ok(())
    }
}

#[test]
fn puts_and_deletes_are_logged_with_their_timestamps_and_replay_into_the_same_history() -> Result<()>
{
    let logged = Logged::default();
    let mut store = VersionedStore::open(Box::new(InMemoryKeyValueStore::new("v")), 1_000, 100)?
        .with_changelog(Box::new(Sink(logged.clone())));
    store.put(b"k", Some(b"a"), 100)?;
    store.put(b"k", Some(b"c"), 300)?;
    store.put(b"k", Some(b"b"), 200)?;
    store.delete(b"k", 400)?;
    assert_eq!(store.put(b"k", Some(b"late"), -5_000)?, PutOutcome::NotPut);
    let expected: Vec<(Vec<u8>, Option<Vec<u8>>, Option<i64>)> = vec![
        (b"k".to_vec(), Some(b"a".to_vec()), Some(100)),
        (b"k".to_vec(), Some(b"c".to_vec()), Some(300)),
        (b"k".to_vec(), Some(b"b".to_vec()), Some(200)),
        (b"k".to_vec(), None, Some(400)),
    ];
    assert_eq!(*logged.borrow(), expected, "refused puts are not logged");

    let mut restored = VersionedStore::open(Box::new(InMemoryKeyValueStore::new("v")), 1_000, 100)?;
    let records: Vec<ChangelogRecord> = logged
        .borrow()
        .iter()
        .map(|(k, v, ts)| ChangelogRecord::new(k.clone(), v.clone(), ts.unwrap_or_default()))
        .collect();
    restored.restore_batch(&records)?;
    for at in [50, 100, 150, 200, 250, 300, 350, 400, 450] {
        assert_eq!(
            restored.get_as_of(b"k", at)?,
            store.get_as_of(b"k", at)?,
            "as of {at}"
        );
    }
    assert_eq!(restored.observed_stream_time(), 400);
    Ok(())
}

#[test]
fn expired_history_is_dropped_with_its_segments_but_latest_values_stay() -> Result<()> {
    let engine = InMemoryKeyValueStore::new("v");
    let mut store = VersionedStore::open(Box::new(engine.clone()), 1_000, 100)?;
    store.put(b"old", Some(b"1"), 0)?;
    store.put(b"old", Some(b"2"), 50)?;
    store.put(b"gone", None, 60)?;
    // Hours of stream time later (segments are dropped an hour of event time at a time).
    store.put(b"other", Some(b"x"), 10_000_000)?;
    assert_eq!(
        store.get(b"old")?.map(|r| (r.value, r.timestamp)),
        Some((b"2".to_vec(), 50))
    );
    assert_eq!(store.get_as_of(b"old", 10)?, None, "expired history");
    assert_eq!(
        store.get_as_of(b"old", 60)?.map(|r| r.value),
        Some(b"2".to_vec()),
        "the latest value never expires"
    );
    // Only the latest values of `old` and `other` and the stream time's metadata remain.
    assert!(engine.approximate_num_entries()? <= 3);
    Ok(())
}

#[test]
fn a_reopened_rocksdb_store_keeps_history_and_refuses_what_it_refused() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("temp", e))?;
    {
        let engine = RocksDbKeyValueStore::open("v", dir.path())?;
        let mut store = VersionedStore::open(Box::new(engine), 1_000, 100)?;
        store.put(b"k", Some(b"a"), 5_000)?;
        store.put(b"k", Some(b"b"), 6_000)?;
        store.close()?;
    }
    let engine = RocksDbKeyValueStore::open("v", dir.path())?;
    let mut store = VersionedStore::open(Box::new(engine), 1_000, 100)?;
    assert_eq!(store.observed_stream_time(), 6_000);
    assert_eq!(
        store.get_as_of(b"k", 5_500)?.map(|r| r.value),
        Some(b"a".to_vec())
    );
    assert_eq!(store.put(b"k", Some(b"late"), 4_000)?, PutOutcome::NotPut);
    assert_eq!(
        store.put(b"k", Some(b"ok"), 5_000)?,
        PutOutcome::ValidTo(6_000)
    );
    Ok(())
}

#[test]
fn readers_on_other_threads_see_latest_and_history() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("temp", e))?;
    let engine = RocksDbKeyValueStore::open("v", dir.path())?;
    let mut store = VersionedStore::open(Box::new(engine), 10_000, 1_000)?;
    store.put(b"k", Some(b"a"), 1_000)?;
    store.put(b"k", Some(b"b"), 2_000)?;
    let reader = store
        .reader()
        .ok_or_else(|| Error::Closed { store: "v".into() })?;
    let (latest, as_of) =
        std::thread::spawn(move || (reader.get(b"k"), reader.get_as_of(b"k", 1_500)))
            .join()
            .map_err(|_| Error::Closed { store: "v".into() })?;
    assert_eq!(latest?.map(|r| r.value), Some(b"b".to_vec()));
    assert_eq!(
        as_of?,
        Some(VersionedRecord::new(b"a".to_vec(), 1_000, Some(2_000)))
    );
    Ok(())
}

#[test]
fn closing_twice_is_not_an_error() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("temp", e))?;
    let engine = RocksDbKeyValueStore::open("v", dir.path())?;
    let mut store = VersionedStore::open(Box::new(engine), 1_000, 100)?;
    store.put(b"k", Some(b"v"), 1)?;
    store.close()?;
    store.close()?;
    assert!(matches!(store.get(b"k"), Err(Error::Closed { .. })));
    Ok(())
}
