//! The record cache: a write-back layer that turns repeated updates of a key between commits
//! into one write (and one changelog record, and one downstream update) at flush time.
//!
//! As Kafka Streams' `ThreadCache`, one byte budget is shared by the caches of a stream thread
//! ([`CacheBudget`]); when the budget is exceeded, the cache being written evicts its least
//! recently used entries, and evicting a dirty one writes every dirty entry of that cache
//! through (see `named`). The owner of the store collects what was written through (evicted or
//! flushed) and forwards it downstream.
//!
//! Interactive queries read through the cache, as Kafka Streams' do: the entries sit behind a
//! mutex shared with the store's [query handle](KeyValueStore::query_handle), which looks in
//! the cache before the store beneath. The stream thread is the only writer, so the lock is
//! uncontended except while a query reads.
//!
//! This file holds the key-value store's cache ([`CachingKeyValueStore`]); window and session
//! stores keep theirs through the same [`StoreCache`](store_cache::StoreCache).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::Result;
use crate::bytes_range::prefix_upper_bound;
use crate::store::{
    CacheFlush, ChangelogRecord, KeyValue, KeyValueIter, KeyValueStore, ReadOnlyKeyValueStore,
    StateStore,
};

pub(crate) mod merge;
pub(crate) mod named;
pub(crate) mod store_cache;

pub use store_cache::{CacheBudget, CacheObserver};

use named::{Dirty, SharedCache};
use store_cache::StoreCache;

#[cfg(test)]
use named::ENTRY_OVERHEAD;

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

/// The write-through of a key-value cache: into `inner`, recording each write in `out`.
fn writer<'a>(
    inner: &'a mut dyn KeyValueStore,
    out: &'a mut Vec<CacheFlush>,
) -> impl FnMut(Dirty<'_>) -> Result<()> + 'a {
    move |d: Dirty<'_>| {
        let old = write_through(inner, d.key, d.value)?;
        out.push(CacheFlush {
            key: d.key.to_vec(),
            new: d.value.map(<[u8]>::to_vec),
            old,
        });
        Ok(())
    }
}

/// Reads through the cache: the cached entries first, then the store beneath. The lock is held
/// to copy the entries a read needs, never across a read of the store, so a query scanning a
/// large store does not stall processing. That is consistent because an entry leaves the cache
/// only after its value was written through (under the lock): a reader finds the newest value
/// in the cache or, once it is gone from there, in the store.
fn cached_get(
    cache: &SharedCache,
    store: &dyn ReadOnlyKeyValueStore,
    key: &[u8],
) -> Result<Option<Vec<u8>>> {
    let cached = cache.lock().peek(key).map(|e| e.value.clone());
    match cached {
        Some(value) => Ok(value),
        None => store.get(key),
    }
}

fn cached_range(
    cache: &SharedCache,
    store: &dyn ReadOnlyKeyValueStore,
    from: Option<&[u8]>,
    to: Option<&[u8]>,
) -> Result<Vec<Result<KeyValue>>> {
    if let (Some(from), Some(to)) = (from, to)
        && from > to
    {
        return Ok(Vec::new());
    }
    let lower = from.map_or(Bound::Unbounded, Bound::Included);
    let upper = to.map_or(Bound::Unbounded, Bound::Included);
    let cached = snapshot(cache, lower, upper);
    overlay(cached, store.range(from, to)?)
}

fn cached_prefix_scan(
    cache: &SharedCache,
    store: &dyn ReadOnlyKeyValueStore,
    prefix: &[u8],
) -> Result<Vec<Result<KeyValue>>> {
    let bound = prefix_upper_bound(prefix);
    let upper = bound.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
    let cached = snapshot(cache, Bound::Included(prefix), upper);
    overlay(cached, store.prefix_scan(prefix)?)
}

fn cached_count(cache: &SharedCache, store: &dyn ReadOnlyKeyValueStore) -> Result<u64> {
    let dirty = cache.lock().dirty_len() as u64;
    Ok(store.approximate_num_entries()? + dirty)
}

/// Cached keys with their values (`None`: deleted).
type CachedRange = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// A copy of the cached entries within `(lower, upper)`.
fn snapshot(cache: &SharedCache, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> CachedRange {
    cache
        .lock()
        .range(lower, upper)
        .map(|(k, e)| (k.to_vec(), e.value.clone()))
        .collect()
}

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

/// A record cache in front of a key-value store.
pub struct CachingKeyValueStore {
    inner: Box<dyn KeyValueStore>,
    cache: StoreCache,
    evicted: Vec<CacheFlush>,
}

impl std::fmt::Debug for CachingKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingKeyValueStore")
            .field("store", &self.inner.name())
            .field("cache", &self.cache)
            .finish()
    }
}

impl CachingKeyValueStore {
    /// Caches `inner` within `budget`.
    pub fn new(inner: Box<dyn KeyValueStore>, budget: CacheBudget) -> Self {
        CachingKeyValueStore {
            inner,
            cache: StoreCache::new(budget),
            evicted: Vec::new(),
        }
    }

    /// Tells `observer` of every read ([`get`](ReadOnlyKeyValueStore::get)) whether the cache
    /// held the key.
    pub fn with_observer(mut self, observer: Box<dyn CacheObserver>) -> Self {
        self.cache.set_observer(observer);
        self
    }

    fn upsert(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        let mut write = writer(self.inner.as_mut(), &mut self.evicted);
        self.cache.put(key, value, None, &mut write)
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
        self.cache.discard();
        self.inner.close()
    }
}

impl ReadOnlyKeyValueStore for CachingKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.cache.read(key) {
            Some(value) => Ok(value),
            None => self.inner.get(key),
        }
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        let items = cached_range(&self.cache.shared(), self.inner.as_ref(), from, to)?;
        Ok(Box::new(items.into_iter()))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        let items = cached_prefix_scan(&self.cache.shared(), self.inner.as_ref(), prefix)?;
        Ok(Box::new(items.into_iter()))
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        Ok(self.inner.approximate_num_entries()? + self.cache.dirty_len() as u64)
    }

    fn property_int(&self, name: &str) -> Result<Option<u64>> {
        self.inner.property_int(name)
    }
}

impl KeyValueStore for CachingKeyValueStore {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.upsert(key, Some(value))
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.upsert(key, None)
    }

    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        self.cache.remove_range(from, to);
        self.inner.delete_range(from, to)
    }

    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        self.inner.restore_batch(records)
    }

    fn flush_cache(&mut self) -> Result<Vec<CacheFlush>> {
        let mut flushed = std::mem::take(&mut self.evicted);
        let result = self
            .cache
            .flush(&mut writer(self.inner.as_mut(), &mut flushed));
        match result {
            Ok(()) => Ok(flushed),
            Err(e) => {
                // What was written through is forwarded with the next flush.
                self.evicted = flushed;
                Err(e)
            }
        }
    }

    fn discard_cache(&mut self) {
        self.cache.discard();
        self.evicted.clear();
    }

    fn take_evicted(&mut self) -> Vec<CacheFlush> {
        std::mem::take(&mut self.evicted)
    }

    fn query_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>> {
        Some(Arc::new(CachedQueryHandle {
            cache: self.cache.shared(),
            inner: self.inner.query_handle()?,
        }))
    }
}

/// A query handle that reads through the cache, as the store does.
struct CachedQueryHandle {
    cache: SharedCache,
    inner: Arc<dyn ReadOnlyKeyValueStore + Send + Sync>,
}

impl ReadOnlyKeyValueStore for CachedQueryHandle {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        cached_get(&self.cache, self.inner.as_ref(), key)
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        let items = cached_range(&self.cache, self.inner.as_ref(), from, to)?;
        Ok(Box::new(items.into_iter()))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        let items = cached_prefix_scan(&self.cache, self.inner.as_ref(), prefix)?;
        Ok(Box::new(items.into_iter()))
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        cached_count(&self.cache, self.inner.as_ref())
    }

    fn property_int(&self, name: &str) -> Result<Option<u64>> {
        self.inner.property_int(name)
    }
}

#[cfg(test)]
mod tests;
