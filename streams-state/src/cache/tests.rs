//! Unit tests of the record cache.

use std::rc::Rc;

use super::*;
use crate::InMemoryKeyValueStore;

fn cached(max: usize) -> (CachingKeyValueStore, InMemoryKeyValueStore, CacheBudget) {
    let below = InMemoryKeyValueStore::new("s");
    let budget = CacheBudget::new(max);
    (
        CachingKeyValueStore::new(Box::new(below.clone()), budget.clone()),
        below,
        budget,
    )
}

#[test]
fn queries_read_through_the_cache() -> Result<()> {
    let (mut cache, below, _) = cached(10_000);
    below.clone().put(b"stored", b"old")?;
    below.clone().put(b"gone", b"soon")?;
    let query = cache.query_handle().expect("a query handle");
    cache.put(b"new", b"cached")?;
    cache.put(b"stored", b"updated")?;
    cache.delete(b"gone")?;
    // Nothing is written through yet, but a query sees what processors wrote.
    assert_eq!(below.get(b"new")?, None);
    assert_eq!(query.get(b"new")?, Some(b"cached".to_vec()));
    assert_eq!(query.get(b"stored")?, Some(b"updated".to_vec()));
    assert_eq!(query.get(b"gone")?, None);
    let all: Vec<KeyValue> = query.all()?.collect::<Result<_>>()?;
    assert_eq!(
        all,
        vec![
            (b"new".to_vec(), b"cached".to_vec()),
            (b"stored".to_vec(), b"updated".to_vec()),
        ]
    );
    cache.flush()?;
    assert_eq!(query.get(b"new")?, Some(b"cached".to_vec()));
    assert_eq!(below.get(b"new")?, Some(b"cached".to_vec()));
    Ok(())
}

#[test]
fn the_observer_hears_of_hits_and_misses_of_reads_only() -> Result<()> {
    #[derive(Default)]
    struct Reads(std::cell::RefCell<Vec<bool>>);
    impl CacheObserver for Rc<Reads> {
        fn on_read(&self, hit: bool) {
            self.0.borrow_mut().push(hit);
        }
    }
    let reads = Rc::new(Reads::default());
    let below = InMemoryKeyValueStore::new("s");
    below.clone().put(b"stored", b"v")?;
    let mut cache = CachingKeyValueStore::new(Box::new(below), CacheBudget::new(10_000))
        .with_observer(Box::new(reads.clone()));
    cache.put(b"cached", b"v")?;
    cache.delete(b"deleted")?;
    assert_eq!(cache.get(b"cached")?, Some(b"v".to_vec()));
    assert_eq!(cache.get(b"deleted")?, None, "a cached delete is a hit");
    assert_eq!(cache.get(b"stored")?, Some(b"v".to_vec()));
    assert_eq!(cache.get(b"absent")?, None);
    cache.query_handle().expect("handle").get(b"cached")?;
    assert_eq!(*reads.0.borrow(), vec![true, true, false, false]);
    Ok(())
}

#[test]
fn a_query_sees_an_evicted_value_in_the_store() -> Result<()> {
    // A budget for about one entry: each put evicts the one before.
    let (mut cache, below, _) = cached(ENTRY_OVERHEAD + 8);
    let query = cache.query_handle().expect("a query handle");
    cache.put(b"a", b"1")?;
    cache.put(b"b", b"2")?;
    assert_eq!(below.get(b"a")?, Some(b"1".to_vec()), "a was evicted");
    assert_eq!(query.get(b"a")?, Some(b"1".to_vec()));
    assert_eq!(query.get(b"b")?, Some(b"2".to_vec()));
    Ok(())
}

#[test]
fn a_discarded_cache_writes_nothing_through_even_on_close() -> Result<()> {
    let (mut store, below, budget) = cached(1 << 20);
    store.put(b"a", b"1")?;
    store.flush_cache()?;
    store.put(b"a", b"2")?;
    store.put(b"b", b"x")?;
    store.discard_cache();
    assert_eq!(
        store.get(b"a")?,
        Some(b"1".to_vec()),
        "back to what was written"
    );
    assert_eq!(store.get(b"b")?, None);
    assert_eq!(budget.used(), 0, "its bytes are returned to the budget");
    store.close()?;
    assert_eq!(below.get(b"a")?, Some(b"1".to_vec()));
    assert_eq!(below.get(b"b")?, None);
    Ok(())
}

#[test]
fn repeated_updates_become_one_write_at_flush() -> Result<()> {
    let (mut store, below, _) = cached(1 << 20);
    store.put(b"a", b"1")?;
    store.put(b"a", b"2")?;
    store.put(b"a", b"3")?;
    store.put(b"b", b"x")?;
    assert_eq!(store.get(b"a")?, Some(b"3".to_vec()), "reads see the cache");
    assert_eq!(below.get(b"a")?, None, "nothing written before the flush");
    let flushed = store.flush_cache()?;
    assert_eq!(
        flushed,
        vec![
            CacheFlush {
                key: b"a".to_vec(),
                new: Some(b"3".to_vec()),
                old: None
            },
            CacheFlush {
                key: b"b".to_vec(),
                new: Some(b"x".to_vec()),
                old: None
            },
        ]
    );
    assert_eq!(below.get(b"a")?, Some(b"3".to_vec()));
    store.put(b"a", b"4")?;
    store.delete(b"b")?;
    let flushed = store.flush_cache()?;
    assert_eq!(flushed[0].old, Some(b"3".to_vec()));
    assert_eq!(
        flushed[1],
        CacheFlush {
            key: b"b".to_vec(),
            new: None,
            old: Some(b"x".to_vec())
        }
    );
    assert!(
        store.flush_cache()?.is_empty(),
        "clean entries are not flushed again"
    );
    Ok(())
}

#[test]
fn over_budget_evicting_a_dirty_entry_writes_every_dirty_entry_through() -> Result<()> {
    // Kafka Streams' NamedCache.evict: the least recently used entry leaves; being dirty, it
    // is flushed with every other dirty entry of the cache (it first), which stay cached clean.
    let (mut store, below, budget) = cached(2 * (ENTRY_OVERHEAD + 2));
    store.put(b"a", b"1")?;
    store.put(b"b", b"2")?;
    assert!(store.take_evicted().is_empty());
    store.put(b"c", b"3")?;
    let evicted = store.take_evicted();
    let flush = |k: &[u8], v: &[u8]| CacheFlush {
        key: k.to_vec(),
        new: Some(v.to_vec()),
        old: None,
    };
    assert_eq!(
        evicted,
        vec![flush(b"a", b"1"), flush(b"b", b"2"), flush(b"c", b"3")]
    );
    assert_eq!(below.get(b"a")?, Some(b"1".to_vec()));
    assert_eq!(below.get(b"c")?, Some(b"3".to_vec()));
    assert!(budget.used() <= 2 * (ENTRY_OVERHEAD + 2));
    assert!(
        store.flush_cache()?.is_empty(),
        "b and c stay cached, clean"
    );
    // A clean entry is evicted without a write.
    store.put(b"d", b"4")?;
    assert!(store.take_evicted().is_empty(), "b left clean");
    drop(store);
    assert_eq!(budget.used(), 0);
    Ok(())
}

#[test]
fn reads_keep_an_entry_from_eviction() -> Result<()> {
    let (mut store, _below, _) = cached(2 * (ENTRY_OVERHEAD + 2));
    store.put(b"a", b"1")?;
    store.put(b"b", b"2")?;
    store.flush_cache()?;
    // `a` is read, so `b` is the least recently used when `c` needs room.
    assert_eq!(store.get(b"a")?, Some(b"1".to_vec()));
    store.put(b"c", b"3")?;
    let shared = store.cache.shared();
    let cache = shared.lock();
    assert!(cache.peek(b"a").is_some());
    assert!(cache.peek(b"b").is_none());
    Ok(())
}

#[test]
fn scans_merge_cache_and_store_and_hide_deletes() -> Result<()> {
    let (mut store, mut below, _) = cached(1 << 20);
    below.put(b"a", b"old")?;
    below.put(b"c", b"keep")?;
    store.put(b"a", b"new")?;
    store.put(b"b", b"added")?;
    store.delete(b"c")?;
    let all: Vec<_> = store.all()?.collect::<Result<_>>()?;
    assert_eq!(
        all,
        vec![
            (b"a".to_vec(), b"new".to_vec()),
            (b"b".to_vec(), b"added".to_vec())
        ]
    );
    let prefixed: Vec<_> = store.prefix_scan(b"b")?.collect::<Result<_>>()?;
    assert_eq!(prefixed.len(), 1);
    Ok(())
}
