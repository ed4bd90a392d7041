//! The record cache: a write-back layer that turns repeated updates of a key between commits
//! into one write (and one changelog record, and one downstream update) at flush time.
//!
//! As Kafka Streams' `ThreadCache`, one byte budget is shared by the caches of a stream thread
//! ([`CacheBudget`]); when the budget is exceeded, the cache being written evicts its least
//! recently written entries, writing dirty ones through. The owner of the store collects what
//! was written through (evicted or flushed) and forwards it downstream.
//!
//! Interactive queries read through the cache, as Kafka Streams' do: the entries sit behind a
//! mutex shared with the store's [query handle](KeyValueStore::query_handle), which looks in
//! the cache before the store beneath. The stream thread is the only writer, so the lock is
//! uncontended except while a query reads.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::Result;
use crate::bytes_range::prefix_upper_bound;
use crate::store::{
    CacheFlush, ChangelogRecord, KeyValue, KeyValueIter, KeyValueStore, ReadOnlyKeyValueStore,
    StateStore,
};

/// Per-entry bookkeeping counted against the budget besides key and value bytes.
const ENTRY_OVERHEAD: usize = 64;

/// A byte budget shared by the record caches of one thread.
#[derive(Debug, Clone)]
pub struct CacheBudget {
    used: Rc<Cell<usize>>,
    max: usize,
}

impl CacheBudget {
    /// A budget of `max` bytes.
    pub fn new(max: usize) -> Self {
        CacheBudget {
            used: Rc::default(),
            max,
        }
    }

    /// Bytes in use by every cache sharing this budget.
    pub fn used(&self) -> usize {
        self.used.get()
    }

    fn over(&self) -> bool {
        self.used.get() > self.max
    }

    fn grow(&self, bytes: usize) {
        self.used.set(self.used.get() + bytes);
    }

    fn shrink(&self, bytes: usize) {
        self.used.set(self.used.get().saturating_sub(bytes));
    }
}

#[derive(Debug)]
struct Entry {
    /// `None`: deleted (and not yet written through, if dirty).
    value: Option<Vec<u8>>,
    dirty: bool,
    seq: u64,
}

fn size(key: &[u8], value: &Option<Vec<u8>>) -> usize {
    key.len() + value.as_ref().map_or(0, Vec::len) + ENTRY_OVERHEAD
}

/// The cached entries by key, shared by the store and its query handles.
type Entries = BTreeMap<Vec<u8>, Entry>;

/// Writes `value` of `key` to `inner`; returns the value it replaced.
fn write_through(
    inner: &mut dyn KeyValueStore,
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<Option<Vec<u8>>> {
    let old = inner.get(key)?;
    match value {
        Some(v) => inner.put(key, v)?,
        None => inner.delete(key)?,
    }
    Ok(old)
}

/// The cached entries, shared by the store (the stream thread, their only writer) and its query
/// handles, and the reads through them: the cache first, then the store beneath. The lock is
/// held to touch the entries, never across a read of the store, so a query scanning a large
/// store does not stall processing. That is consistent because an entry leaves the cache only
/// after its value was written through (under the lock): a reader finds the newest value in the
/// cache or, once it is gone from there, in the store.
#[derive(Default, Clone)]
struct CacheView(Arc<Mutex<Entries>>);

impl CacheView {
    fn lock(&self) -> MutexGuard<'_, Entries> {
        // The entries stay consistent across a panic (each change is one map operation).
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn get(&self, store: &dyn ReadOnlyKeyValueStore, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.cached(key) {
            Some(value) => Ok(value),
            None => store.get(key),
        }
    }

    /// The cached value of `key` (`Some(None)`: cached as deleted), if the cache holds it.
    fn cached(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.lock().get(key).map(|entry| entry.value.clone())
    }

    fn range(
        &self,
        store: &dyn ReadOnlyKeyValueStore,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
    ) -> Result<Vec<Result<KeyValue>>> {
        let Some((lower, upper)) = bounds(from, to) else {
            return Ok(Vec::new());
        };
        let cached = self.snapshot(lower, upper);
        overlay(cached, store.range(from, to)?)
    }

    fn prefix_scan(
        &self,
        store: &dyn ReadOnlyKeyValueStore,
        prefix: &[u8],
    ) -> Result<Vec<Result<KeyValue>>> {
        let bound = prefix_upper_bound(prefix);
        let upper = bound.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let cached = self.snapshot(Bound::Included(prefix), upper);
        overlay(cached, store.prefix_scan(prefix)?)
    }

    fn approximate_num_entries(&self, store: &dyn ReadOnlyKeyValueStore) -> Result<u64> {
        let dirty = self.lock().values().filter(|e| e.dirty).count() as u64;
        Ok(store.approximate_num_entries()? + dirty)
    }

    /// A copy of the cached entries within `(lower, upper)`.
    fn snapshot(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> CachedRange {
        self.lock()
            .range::<[u8], _>((lower, upper))
            .map(|(k, e)| (k.clone(), e.value.clone()))
            .collect()
    }
}

/// Cached keys with their values (`None`: deleted).
type CachedRange = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// Overlays `cached` on `stored`.
fn overlay(cached: CachedRange, stored: KeyValueIter<'_>) -> Result<Vec<Result<KeyValue>>> {
    let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for item in stored {
        let (k, v) = item?;
        merged.insert(k, v);
    }
    for (k, value) in cached {
        match value {
            Some(v) => merged.insert(k, v),
            None => merged.remove(&k),
        };
    }
    Ok(merged.into_iter().map(Ok).collect())
}

/// The bounds of an inclusive range, or `None` if it is empty.
fn bounds<'a>(
    from: Option<&'a [u8]>,
    to: Option<&'a [u8]>,
) -> Option<(Bound<&'a [u8]>, Bound<&'a [u8]>)> {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return None;
    }
    Some((
        from.map_or(Bound::Unbounded, Bound::Included),
        to.map_or(Bound::Unbounded, Bound::Included),
    ))
}

/// Told of each read of a record cache by the store's owner (not of interactive queries, which
/// read through the cache too): the runtime counts hits and misses with it, when its metrics
/// recording level asks for them.
pub trait CacheObserver {
    /// A read found its key in the cache (`hit`), or went on to the store beneath.
    fn on_read(&self, hit: bool);
}

/// A record cache in front of a key-value store.
pub struct CachingKeyValueStore {
    inner: Box<dyn KeyValueStore>,
    entries: CacheView,
    /// Write order: sequence number → key, oldest first.
    order: BTreeMap<u64, Vec<u8>>,
    next_seq: u64,
    bytes: usize,
    budget: CacheBudget,
    evicted: Vec<CacheFlush>,
    observer: Option<Box<dyn CacheObserver>>,
}

impl std::fmt::Debug for CachingKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingKeyValueStore")
            .field("store", &self.inner.name())
            .field("entries", &self.entries.lock().len())
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl CachingKeyValueStore {
    /// Caches `inner` within `budget`.
    pub fn new(inner: Box<dyn KeyValueStore>, budget: CacheBudget) -> Self {
        CachingKeyValueStore {
            inner,
            entries: CacheView::default(),
            order: BTreeMap::new(),
            next_seq: 0,
            bytes: 0,
            budget,
            evicted: Vec::new(),
            observer: None,
        }
    }

    /// Tells `observer` of every read ([`get`](ReadOnlyKeyValueStore::get)) whether the cache
    /// held the key.
    pub fn with_observer(mut self, observer: Box<dyn CacheObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    fn upsert(&mut self, key: &[u8], value: Option<Vec<u8>>) -> Result<()> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let added = size(key, &value);
        let entry = Entry {
            value,
            dirty: true,
            seq,
        };
        let replaced = self.entries.lock().insert(key.to_vec(), entry);
        if let Some(old) = replaced {
            self.order.remove(&old.seq);
            let removed = size(key, &old.value);
            self.bytes -= removed;
            self.budget.shrink(removed);
        }
        self.order.insert(seq, key.to_vec());
        self.bytes += added;
        self.budget.grow(added);
        while self.budget.over() && !self.order.is_empty() {
            self.evict_oldest()?;
        }
        Ok(())
    }

    fn evict_oldest(&mut self) -> Result<()> {
        let Some((seq, key)) = self.order.pop_first() else {
            return Ok(());
        };
        // Written through before it leaves the map, under the lock: a reader sees the new
        // value in one place or the other, never the old one.
        let mut entries = self.entries.lock();
        let old = match entries.get(&key) {
            Some(entry) if entry.dirty => {
                match write_through(self.inner.as_mut(), &key, entry.value.as_deref()) {
                    Ok(old) => Some(old),
                    Err(e) => {
                        // Still cached and still dirty: it is written at the next flush.
                        drop(entries);
                        self.order.insert(seq, key);
                        return Err(e);
                    }
                }
            }
            _ => None,
        };
        if let Some(entry) = entries.remove(&key) {
            let freed = size(&key, &entry.value);
            self.bytes -= freed;
            self.budget.shrink(freed);
            if let Some(old) = old {
                self.evicted.push(CacheFlush {
                    key,
                    new: entry.value,
                    old,
                });
            }
        }
        Ok(())
    }
}

impl StateStore for CachingKeyValueStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn persistent(&self) -> bool {
        self.inner.persistent()
    }

    fn flush(&mut self) -> Result<()> {
        let flushed = self.flush_cache()?;
        self.evicted.extend(flushed);
        self.inner.flush()
    }

    fn close(&mut self) -> Result<()> {
        self.flush()?;
        self.budget.shrink(self.bytes);
        self.bytes = 0;
        self.entries.lock().clear();
        self.order.clear();
        self.inner.close()
    }
}

impl ReadOnlyKeyValueStore for CachingKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let Some(observer) = &self.observer else {
            return self.entries.get(self.inner.as_ref(), key);
        };
        match self.entries.cached(key) {
            Some(value) => {
                observer.on_read(true);
                Ok(value)
            }
            None => {
                observer.on_read(false);
                self.inner.get(key)
            }
        }
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        let items = self.entries.range(self.inner.as_ref(), from, to)?;
        Ok(Box::new(items.into_iter()))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        let items = self.entries.prefix_scan(self.inner.as_ref(), prefix)?;
        Ok(Box::new(items.into_iter()))
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        self.entries.approximate_num_entries(self.inner.as_ref())
    }

    fn property_int(&self, name: &str) -> Result<Option<u64>> {
        self.inner.property_int(name)
    }
}

impl KeyValueStore for CachingKeyValueStore {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.upsert(key, Some(value.to_vec()))
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.upsert(key, None)
    }

    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        let mut entries = self.entries.lock();
        let doomed: Vec<Vec<u8>> = entries
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            if let Some(entry) = entries.remove(&key) {
                self.order.remove(&entry.seq);
                let freed = size(&key, &entry.value);
                self.bytes -= freed;
                self.budget.shrink(freed);
            }
        }
        self.inner.delete_range(from, to)
    }

    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        self.inner.restore_batch(records)
    }

    fn flush_cache(&mut self) -> Result<Vec<CacheFlush>> {
        let mut flushed = std::mem::take(&mut self.evicted);
        let mut entries = self.entries.lock();
        // In write order, as Kafka Streams flushes its cache.
        for key in self.order.values() {
            let Some(entry) = entries.get_mut(key).filter(|e| e.dirty) else {
                continue;
            };
            let old = write_through(self.inner.as_mut(), key, entry.value.as_deref())?;
            entry.dirty = false;
            flushed.push(CacheFlush {
                key: key.clone(),
                new: entry.value.clone(),
                old,
            });
        }
        Ok(flushed)
    }

    fn discard_cache(&mut self) {
        self.budget.shrink(self.bytes);
        self.bytes = 0;
        self.entries.lock().clear();
        self.order.clear();
        self.evicted.clear();
    }

    fn take_evicted(&mut self) -> Vec<CacheFlush> {
        std::mem::take(&mut self.evicted)
    }

    fn query_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>> {
        Some(Arc::new(CachedQueryHandle {
            entries: self.entries.clone(),
            inner: self.inner.query_handle()?,
        }))
    }
}

/// A query handle that reads through the cache, as the store does.
struct CachedQueryHandle {
    entries: CacheView,
    inner: Arc<dyn ReadOnlyKeyValueStore + Send + Sync>,
}

impl ReadOnlyKeyValueStore for CachedQueryHandle {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.entries.get(self.inner.as_ref(), key)
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        let items = self.entries.range(self.inner.as_ref(), from, to)?;
        Ok(Box::new(items.into_iter()))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        let items = self.entries.prefix_scan(self.inner.as_ref(), prefix)?;
        Ok(Box::new(items.into_iter()))
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        self.entries.approximate_num_entries(self.inner.as_ref())
    }

    fn property_int(&self, name: &str) -> Result<Option<u64>> {
        self.inner.property_int(name)
    }
}

impl Drop for CachingKeyValueStore {
    fn drop(&mut self) {
        self.budget.shrink(self.bytes);
    }
}

#[cfg(test)]
mod tests;
