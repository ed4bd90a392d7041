//! Unit tests of the window store's record cache, most ported from Kafka Streams'
//! `CachingPersistentWindowStoreTest` (each names its original).

use super::tests::{Logged, Recording, as_changelog};
use super::*;
use crate::InMemoryKeyValueStore;
use crate::cache::named::ENTRY_OVERHEAD;

/// Bytes one cached window of a one-byte key and one-byte value takes.
const ONE: usize = FRAME + 1 + 1 + ENTRY_OVERHEAD;

struct Fixture {
    store: WindowStore,
    below: InMemoryKeyValueStore,
    budget: CacheBudget,
    logged: Logged,
}

fn cached(max: usize) -> Fixture {
    let below = InMemoryKeyValueStore::new("w");
    let budget = CacheBudget::new(max);
    let logged = Logged::default();
    let store = WindowStore::new(Box::new(below.clone()), 3_600_000, false)
        .with_changelog(Box::new(Recording(logged.clone())))
        .with_cache(budget.clone());
    Fixture {
        store,
        below,
        budget,
        logged,
    }
}

/// The windows the engine beneath holds (not through the cache).
fn stored(below: &InMemoryKeyValueStore) -> Result<Vec<(Vec<u8>, i64, Vec<u8>)>> {
    let mut out = Vec::new();
    for item in below.all()? {
        let (k, v) = item?;
        if let Some(e) = WindowStore::decode_engine_entry(&k, v) {
            out.push((e.key, e.start, e.value));
        }
    }
    Ok(out)
}

fn flush(key: &[u8], start: i64, new: Option<&[u8]>, old: Option<&[u8]>) -> WindowFlush {
    WindowFlush {
        key: key.to_vec(),
        start,
        new: new.map(<[u8]>::to_vec),
        old: old.map(<[u8]>::to_vec),
        timestamp: None,
        expired: false,
    }
}

#[test]
fn put_fetch_from_cache() -> Result<()> {
    // shouldPutFetchFromCache
    let mut f = cached(1 << 20);
    f.store.put(b"a", Some(b"a"), 10)?;
    f.store.put(b"b", Some(b"b"), 10)?;
    assert_eq!(f.store.fetch_one(b"a", 10)?, Some(b"a".to_vec()));
    assert_eq!(f.store.fetch_one(b"b", 10)?, Some(b"b".to_vec()));
    assert_eq!(f.store.fetch_one(b"c", 10)?, None);
    assert_eq!(f.store.fetch_one(b"a", 0)?, None);
    assert_eq!(f.store.fetch(b"a", 10, 10)?, vec![(10, b"a".to_vec())]);
    assert!(stored(&f.below)?.is_empty(), "nothing written through yet");
    assert!(f.logged.borrow().is_empty(), "nor logged");
    Ok(())
}

#[test]
fn flush_forwards_dirty_windows_once_with_old_values() -> Result<()> {
    // shouldForwardDirtyItemsWhenFlushCalled, shouldForwardOldValuesWhenEnabled
    let mut f = cached(1 << 20);
    f.store.put(b"1", Some(b"a"), 10)?;
    f.store.put(b"1", Some(b"b"), 10)?;
    assert_eq!(
        f.store.flush_cache()?,
        vec![flush(b"1", 10, Some(b"b"), None)]
    );
    assert_eq!(
        f.logged.borrow().len(),
        1,
        "one changelog record for two puts"
    );
    f.store.put(b"1", Some(b"c"), 10)?;
    assert_eq!(
        f.store.flush_cache()?,
        vec![flush(b"1", 10, Some(b"c"), Some(b"b"))]
    );
    f.store.put(b"1", None, 10)?;
    assert_eq!(
        f.store.flush_cache()?,
        vec![flush(b"1", 10, None, Some(b"c"))]
    );
    // Written and removed again before a flush: the store never held it, nothing to say.
    f.store.put(b"1", Some(b"a"), 10)?;
    f.store.put(b"1", Some(b"b"), 10)?;
    f.store.put(b"1", None, 10)?;
    assert!(f.store.flush_cache()?.is_empty());
    assert!(stored(&f.below)?.is_empty());
    assert_eq!(f.logged.borrow().len(), 3);
    Ok(())
}

#[test]
fn take_value_from_cache_if_same_window_flushed_to_the_engine() -> Result<()> {
    // shouldTakeValueFromCacheIfSameTimestampFlushedToRocks
    let mut f = cached(1 << 20);
    f.store.put(b"1", Some(b"a"), 10)?;
    f.store.flush_cache()?;
    f.store.put(b"1", Some(b"b"), 10)?;
    assert_eq!(f.store.fetch(b"1", 10, 10)?, vec![(10, b"b".to_vec())]);
    assert_eq!(f.store.fetch_one(b"1", 10)?, Some(b"b".to_vec()));
    Ok(())
}

#[test]
fn iterate_cache_and_engine_across_windows() -> Result<()> {
    // shouldIterateAcrossWindows, shouldIterateCacheAndStore, shouldIterateCacheAndStoreKeyRange
    let mut f = cached(1 << 20);
    f.store.put(b"1", Some(b"a"), 10)?;
    f.store.flush_cache()?;
    f.store.put(b"1", Some(b"b"), 20)?;
    f.store.put(b"2", Some(b"c"), 15)?;
    assert_eq!(
        f.store.fetch(b"1", 10, 20)?,
        vec![(10, b"a".to_vec()), (20, b"b".to_vec())]
    );
    let all: Vec<(Vec<u8>, i64)> = f
        .store
        .fetch_all(10, 20)?
        .into_iter()
        .map(|e| (e.key, e.start))
        .collect();
    assert_eq!(
        all,
        vec![
            (b"1".to_vec(), 10),
            (b"1".to_vec(), 20),
            (b"2".to_vec(), 15)
        ]
    );
    Ok(())
}

#[test]
fn fetch_iterates_over_exact_keys_across_segments() -> Result<()> {
    // shouldFetchAndIterateOverExactKeys (segments here are at least a minute)
    let mut f = cached(1 << 20);
    f.store.put(b"a", Some(b"0001"), 0)?;
    f.store.put(b"aa", Some(b"0002"), 0)?;
    f.store.flush_cache()?;
    f.store.put(b"a", Some(b"0003"), 1)?;
    f.store.put(b"aa", Some(b"0004"), 1)?;
    f.store.put(b"a", Some(b"0005"), 3_000_000)?;
    assert_eq!(
        f.store.fetch(b"a", 0, i64::MAX)?,
        vec![
            (0, b"0001".to_vec()),
            (1, b"0003".to_vec()),
            (3_000_000, b"0005".to_vec())
        ]
    );
    Ok(())
}

#[test]
fn without_old_values_only_a_removal_reads_the_store() -> Result<()> {
    // shouldNotForwardOldValuesWhenDisabled (and the removal shortcut, which still reads)
    let mut f = cached(1 << 20);
    f.store.set_send_old_values(false);
    f.store.put(b"1", Some(b"a"), 10)?;
    f.store.flush_cache()?;
    f.store.put(b"1", Some(b"b"), 10)?;
    assert_eq!(
        f.store.flush_cache()?,
        vec![flush(b"1", 10, Some(b"b"), None)],
        "no old value"
    );
    f.store.put(b"1", None, 10)?;
    assert_eq!(
        f.store.flush_cache()?,
        vec![flush(b"1", 10, None, Some(b"b"))],
        "a removal of a stored window carries it"
    );
    assert!(stored(&f.below)?.is_empty());
    f.store.put(b"2", Some(b"a"), 10)?;
    f.store.put(b"2", None, 10)?;
    assert!(
        f.store.flush_cache()?.is_empty(),
        "a removal of a window never stored is skipped"
    );
    assert_eq!(f.logged.borrow().len(), 3);
    Ok(())
}

#[test]
fn a_cached_removal_hides_the_stored_window() -> Result<()> {
    let mut f = cached(1 << 20);
    f.store.put(b"k", Some(b"v"), 10)?;
    f.store.flush_cache()?;
    f.store.put(b"k", None, 10)?;
    assert_eq!(f.store.fetch_one(b"k", 10)?, None);
    assert!(f.store.fetch(b"k", 0, 100)?.is_empty());
    assert!(f.store.all()?.is_empty());
    assert_eq!(
        stored(&f.below)?.len(),
        1,
        "still in the engine until the flush"
    );
    Ok(())
}

#[test]
fn evicting_flushes_every_dirty_window_and_forwards_them() -> Result<()> {
    // shouldFlushEvictedItemsIntoUnderlyingStore, shouldForwardDirtyItemToListenerWhenEvicted
    let mut f = cached(3 * ONE);
    for (i, k) in [b"0", b"1", b"2"].iter().enumerate() {
        f.store.put(*k, Some(*k), 10)?;
        assert!(f.store.take_evicted().is_empty(), "{i} fit");
    }
    f.store.put(b"3", Some(b"3"), 10)?;
    // The least recently used ("0") left; being dirty, every dirty window went with it.
    let evicted = f.store.take_evicted();
    let keys: Vec<&[u8]> = evicted.iter().map(|e| e.key.as_slice()).collect();
    assert_eq!(keys, [b"0", b"1", b"2", b"3"]);
    assert_eq!(stored(&f.below)?.len(), 4);
    assert_eq!(f.logged.borrow().len(), 4);
    assert!(f.budget.used() <= 3 * ONE);
    assert!(f.store.flush_cache()?.is_empty(), "the others stay, clean");
    Ok(())
}

#[test]
fn the_cache_is_emptied_on_close_and_its_bytes_returned() -> Result<()> {
    // shouldClearNamespaceCacheOnClose
    let mut f = cached(1 << 20);
    f.store.put(b"a", Some(b"a"), 0)?;
    assert!(f.budget.used() > 0);
    f.store.close()?;
    assert_eq!(f.budget.used(), 0);
    assert_eq!(
        stored(&f.below)?.len(),
        1,
        "a clean close writes the cache through"
    );
    Ok(())
}

#[test]
fn a_discarded_cache_writes_nothing() -> Result<()> {
    let mut f = cached(1 << 20);
    f.store.put(b"a", Some(b"a"), 0)?;
    f.store.discard_cache();
    assert_eq!(f.store.fetch_one(b"a", 0)?, None);
    assert!(f.logged.borrow().is_empty());
    assert_eq!(f.budget.used(), 0);
    Ok(())
}

#[test]
fn a_window_expired_when_written_through_is_forwarded_and_logged_but_not_stored() -> Result<()> {
    // CachingWindowStore writes through to a segmented store that drops it (expired segment,
    // counted) and forwards it all the same. The store's time moves as entries are written
    // through, in the order of their last writes.
    let below = InMemoryKeyValueStore::new("w");
    let logged = Logged::default();
    let mut store = WindowStore::new(Box::new(below.clone()), 60_000, false)
        .with_changelog(Box::new(Recording(logged.clone())))
        .with_cache(CacheBudget::new(1 << 20));
    assert!(store.put(b"k", Some(b"new"), 600_000)?);
    assert!(
        store.put(b"k", Some(b"old"), 0)?,
        "a cached put is never refused"
    );
    assert_eq!(store.fetch_one(b"k", 0)?, Some(b"old".to_vec()), "cached");
    let flushed = store.flush_cache()?;
    let mut expired = flush(b"k", 0, Some(b"old"), None);
    expired.expired = true;
    assert_eq!(
        flushed,
        vec![flush(b"k", 600_000, Some(b"new"), None), expired]
    );
    assert_eq!(stored(&below)?.len(), 1);
    assert_eq!(logged.borrow().len(), 2);
    // Restoring that changelog drops the expired window again.
    let mut restored = WindowStore::new(Box::new(InMemoryKeyValueStore::new("r")), 60_000, false);
    restored.restore_batch(&as_changelog(&logged))?;
    assert_eq!(restored.all()?.len(), 1);
    Ok(())
}

#[test]
fn the_engine_time_moves_as_entries_are_written_through() -> Result<()> {
    // Written through in order, the window at 0 reaches the store before time passes it: it
    // is stored (and no longer visible once the later window is written).
    let below = InMemoryKeyValueStore::new("w");
    let mut store = WindowStore::new(Box::new(below.clone()), 60_000, false)
        .with_cache(CacheBudget::new(1 << 20));
    store.put(b"k", Some(b"old"), 0)?;
    store.put(b"k", Some(b"new"), 600_000)?;
    let flushed = store.flush_cache()?;
    assert!(flushed.iter().all(|f| !f.expired));
    assert_eq!(stored(&below)?.len(), 2, "both reached the engine");
    // The engine hides the expired window; the cache, which retention does not apply to,
    // still holds it (clean), and shows it, as Kafka Streams' caching store does.
    let mut engine_only = Vec::new();
    WindowStore::scan(
        &below,
        None,
        &store.segments,
        Some(b"k"),
        0,
        700_000,
        &mut engine_only,
    )?;
    assert_eq!(engine_only.len(), 1);
    assert_eq!(store.fetch(b"k", 0, 700_000)?.len(), 2);
    Ok(())
}

#[test]
fn queries_read_through_the_cache() -> Result<()> {
    let mut f = cached(1 << 20);
    f.store.put(b"k", Some(b"stored"), 10)?;
    f.store.put(b"j", Some(b"gone"), 10)?;
    f.store.flush_cache()?;
    let reader = f.store.reader().expect("a reader");
    f.store.put(b"k", Some(b"cached"), 10)?;
    f.store.put(b"j", None, 10)?;
    f.store.put(b"k", Some(b"new"), 20)?;
    assert_eq!(
        reader.fetch(b"k", 0, 100)?,
        vec![(10, b"cached".to_vec()), (20, b"new".to_vec())]
    );
    assert!(reader.fetch(b"j", 0, 100)?.is_empty());
    assert_eq!(reader.fetch_all(0, 100)?.len(), 2);
    Ok(())
}

#[test]
fn record_times_stamp_the_changelog_and_the_flushes() -> Result<()> {
    let mut f = cached(1 << 20);
    f.store
        .put_with_record_time(b"k", Some(b"v"), 10, Some(12))?;
    f.store
        .put_with_record_time(b"k", Some(b"w"), 10, Some(11))?;
    let flushed = f.store.flush_cache()?;
    assert_eq!(flushed[0].timestamp, Some(11), "the last writer's");
    assert_eq!(f.logged.borrow()[0].2, Some(11));
    assert_eq!(f.store.stream_time(), Some(12));
    Ok(())
}

#[test]
fn a_store_keeping_duplicates_is_not_cached() {
    let store = WindowStore::new(Box::new(InMemoryKeyValueStore::new("j")), 1_000, true)
        .with_cache(CacheBudget::new(1 << 20));
    assert!(!store.is_cached());
}
