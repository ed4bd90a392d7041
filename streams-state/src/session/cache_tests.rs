//! Unit tests of the session store's record cache, most ported from Kafka Streams'
//! `CachingPersistentSessionStoreTest` (each names its original).

use super::tests::{Logged, Recording};
use super::*;
use crate::InMemoryKeyValueStore;
use crate::cache::named::ENTRY_OVERHEAD;

struct Fixture {
    store: SessionStore,
    below: InMemoryKeyValueStore,
    logged: Logged,
}

fn cached(max: usize) -> Fixture {
    let below = InMemoryKeyValueStore::new("s");
    let logged = Logged::default();
    let store = SessionStore::new(Box::new(below.clone()), i64::MAX / 2)
        .with_changelog(Box::new(Recording(logged.clone())))
        .with_cache(CacheBudget::new(max));
    Fixture {
        store,
        below,
        logged,
    }
}

fn bounds(found: &[SessionEntry]) -> Vec<(&[u8], i64, i64)> {
    found
        .iter()
        .map(|e| (e.key.as_slice(), e.start, e.end))
        .collect()
}

fn stored_count(below: &InMemoryKeyValueStore) -> Result<usize> {
    let mut n = 0;
    for item in below.all()? {
        let (k, v) = item?;
        n += usize::from(SessionStore::decode_engine_entry(&k, v).is_some());
    }
    Ok(n)
}

fn flush(start: i64, end: i64, new: Option<&[u8]>, old: Option<&[u8]>) -> SessionFlush {
    SessionFlush {
        key: b"a".to_vec(),
        start,
        end,
        new: new.map(<[u8]>::to_vec),
        old: old.map(<[u8]>::to_vec),
        timestamp: None,
        expired: false,
    }
}

#[test]
fn put_fetch_from_cache() -> Result<()> {
    // shouldPutFetchFromCache, shouldFetchAllSessionsWithSameRecordKey
    let mut f = cached(1 << 20);
    f.store.put(b"a", 0, 0, Some(b"1"))?;
    f.store.put(b"aa", 0, 0, Some(b"1"))?;
    f.store.put(b"b", 0, 0, Some(b"1"))?;
    f.store.put(b"a", 10, 10, Some(b"2"))?;
    f.store.put(b"a", 1_000, 1_000, Some(b"4"))?;
    assert_eq!(
        bounds(&f.store.find_sessions(b"a", 0, 0)?),
        [(b"a".as_slice(), 0, 0)]
    );
    assert_eq!(
        bounds(&f.store.find_sessions(b"b", 0, 0)?),
        [(b"b".as_slice(), 0, 0)]
    );
    assert_eq!(
        bounds(&f.store.find_sessions(b"a", 0, i64::MAX)?),
        [
            (b"a".as_slice(), 0, 0),
            (b"a".as_slice(), 10, 10),
            (b"a".as_slice(), 1_000, 1_000)
        ]
    );
    assert_eq!(stored_count(&f.below)?, 0);
    Ok(())
}

#[test]
fn remove_hides_cached_and_stored_sessions() -> Result<()> {
    // shouldRemove
    let mut f = cached(1 << 20);
    f.store.put(b"a", 0, 0, Some(b"2"))?;
    f.store.put(b"b", 0, 0, Some(b"2"))?;
    f.store.flush_cache()?;
    f.store.put(b"a", 0, 0, None)?;
    assert!(f.store.find_sessions(b"a", 0, 0)?.is_empty());
    assert_eq!(f.store.fetch_session(b"a", 0, 0)?, None);
    assert_eq!(f.store.fetch_session(b"b", 0, 0)?, Some(b"2".to_vec()));
    assert_eq!(f.store.all()?.len(), 1);
    Ok(())
}

#[test]
fn fetch_correctly_across_segments_from_cache_and_engine() -> Result<()> {
    // shouldFetchCorrectlyAcrossSegments (segments are a minute at least here)
    let mut f = cached(1 << 20);
    let segment = 60_000;
    for i in 0..3 {
        f.store.put(b"a", segment * i, segment * i, Some(b"x"))?;
    }
    f.store.flush_cache()?;
    for i in 3..6 {
        f.store.put(b"a", segment * i, segment * i, Some(b"x"))?;
    }
    let found = f.store.find_sessions(b"a", 0, segment * 5)?;
    let ends: Vec<i64> = found.iter().map(|e| e.end).collect();
    assert_eq!(ends, (0..6).map(|i| segment * i).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn flush_forwards_changed_values_with_old_values() -> Result<()> {
    // shouldForwardChangedValuesDuringFlush
    let mut f = cached(1 << 20);
    f.store.put(b"a", 1, 2, Some(b"1"))?;
    assert_eq!(f.store.flush_cache()?, vec![flush(1, 2, Some(b"1"), None)]);
    f.store.put(b"a", 2, 4, Some(b"1"))?;
    assert_eq!(f.store.flush_cache()?, vec![flush(2, 4, Some(b"1"), None)]);
    f.store.put(b"a", 2, 4, Some(b"2"))?;
    assert_eq!(
        f.store.flush_cache()?,
        vec![flush(2, 4, Some(b"2"), Some(b"1"))]
    );
    f.store.put(b"a", 2, 4, None)?;
    assert_eq!(f.store.flush_cache()?, vec![flush(2, 4, None, Some(b"2"))]);
    f.store.put(b"a", 2, 4, Some(b"1"))?;
    f.store.put(b"a", 2, 4, Some(b"2"))?;
    f.store.put(b"a", 2, 4, None)?;
    assert!(f.store.flush_cache()?.is_empty());
    assert_eq!(f.logged.borrow().len(), 4);
    Ok(())
}

#[test]
fn eviction_flushes_items_to_the_store() -> Result<()> {
    // shouldFlushItemsToStoreOnEviction, shouldQueryItemsInCacheAndStore
    let one = FRAME + 1 + 1 + ENTRY_OVERHEAD;
    let mut f = cached(3 * one);
    for i in 0..4 {
        f.store.put(b"a", i * 10, i * 10, Some(b"v"))?;
    }
    assert_eq!(f.store.take_evicted().len(), 4, "every dirty session went");
    assert_eq!(stored_count(&f.below)?, 4);
    assert_eq!(f.store.find_sessions(b"a", 0, 40)?.len(), 4);
    Ok(())
}

#[test]
fn a_merged_away_session_is_removed_before_the_merged_one_moves_time_past_it() -> Result<()> {
    // The merge of KStreamSessionWindowAggregate through CachingSessionStore: [0,0] is
    // removed and [0,5] put within one record; written through in that order, the removal
    // finds [0,0] still retained (retention 5) and forwards it with its old value.
    let below = InMemoryKeyValueStore::new("s");
    let mut store =
        SessionStore::new(Box::new(below.clone()), 5).with_cache(CacheBudget::new(1 << 20));
    store.put(b"a", 0, 0, Some(b"1"))?;
    store.flush_cache()?;
    store.put(b"a", 0, 0, None)?;
    store.put(b"a", 0, 5, Some(b"2"))?;
    assert_eq!(
        store.flush_cache()?,
        vec![flush(0, 0, None, Some(b"1")), flush(0, 5, Some(b"2"), None)]
    );
    assert_eq!(stored_count(&below)?, 1);
    Ok(())
}

#[test]
fn queries_read_through_the_cache() -> Result<()> {
    let mut f = cached(1 << 20);
    f.store.put(b"a", 0, 5, Some(b"stored"))?;
    f.store.flush_cache()?;
    let reader = f.store.reader().expect("a reader");
    f.store.put(b"a", 0, 5, None)?;
    f.store.put(b"a", 0, 9, Some(b"merged"))?;
    let found = reader.find_sessions(b"a", i64::MIN, i64::MAX)?;
    assert_eq!(bounds(&found), [(b"a".as_slice(), 0, 9)]);
    Ok(())
}

#[test]
fn record_times_stamp_the_changelog_and_the_flushes() -> Result<()> {
    let mut f = cached(1 << 20);
    f.store
        .put_with_record_time(b"a", 0, 9, Some(b"v"), Some(9))?;
    f.store
        .put_with_record_time(b"a", 0, 9, Some(b"w"), Some(4))?;
    let flushed = f.store.flush_cache()?;
    assert_eq!(flushed[0].timestamp, Some(4), "the last writer's");
    assert_eq!(f.logged.borrow()[0].2, Some(4));
    assert_eq!(f.store.stream_time(), Some(9));
    Ok(())
}
