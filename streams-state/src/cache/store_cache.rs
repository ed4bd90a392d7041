//! [`StoreCache`]: one store's part of the thread's record cache: its [`NamedCache`] (shared
//! with the store's query handles), the thread's [`CacheBudget`] it counts against, and the
//! observer told of its hits and misses. Every caching store (key-value, window, session) keeps
//! its entries through one.

use std::cell::Cell;
use std::rc::Rc;

use super::named::{Dirty, NamedCache, SharedCache};
use crate::Result;

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

    /// Moves one cache's share from `before` to `after` bytes.
    fn adjust(&self, before: usize, after: usize) {
        self.used
            .set((self.used.get() + after).saturating_sub(before));
    }
}

/// Told of each read of a record cache by the store's owner (not of interactive queries, which
/// read through the cache too): the runtime counts hits and misses with it, when its metrics
/// recording level asks for them.
pub trait CacheObserver {
    /// A read found its key in the cache (`hit`), or went on to the store beneath.
    fn on_read(&self, hit: bool);
}

/// One store's cache within the thread's budget.
pub(crate) struct StoreCache {
    shared: SharedCache,
    budget: CacheBudget,
    /// Bytes this cache has counted against the budget.
    counted: usize,
    observer: Option<Box<dyn CacheObserver>>,
}

impl std::fmt::Debug for StoreCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cache = self.shared.lock();
        f.debug_struct("StoreCache")
            .field("entries", &cache.len())
            .field("dirty", &cache.dirty_len())
            .field("bytes", &self.counted)
            .finish()
    }
}

/// Brings the budget in line with what `cache` holds now.
fn sync(budget: &CacheBudget, counted: &mut usize, cache: &NamedCache) {
    budget.adjust(*counted, cache.bytes());
    *counted = cache.bytes();
}

impl StoreCache {
    pub(crate) fn new(budget: CacheBudget) -> Self {
        StoreCache {
            shared: SharedCache::default(),
            budget,
            counted: 0,
            observer: None,
        }
    }

    pub(crate) fn set_observer(&mut self, observer: Box<dyn CacheObserver>) {
        self.observer = Some(observer);
    }

    /// The entries, for query handles.
    pub(crate) fn shared(&self) -> SharedCache {
        self.shared.clone()
    }

    /// The owner's point read: `Some(value)` if the cache holds `key` (`Some(None)`: cached as
    /// deleted), made most recently used; the observer hears whether it hit.
    pub(crate) fn read(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        let found = self.shared.lock().get(key).map(|e| e.value.clone());
        if let Some(observer) = &self.observer {
            observer.on_read(found.is_some());
        }
        found
    }

    /// Writes `value` under `key`; while the thread's budget is exceeded, evicts this cache's
    /// least recently used entries, writing dirty ones through with `write`.
    pub(crate) fn put(
        &mut self,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: Option<i64>,
        write: &mut dyn FnMut(Dirty<'_>) -> Result<()>,
    ) -> Result<()> {
        let StoreCache {
            shared,
            budget,
            counted,
            ..
        } = self;
        let mut cache = shared.lock();
        cache.put(key, value, timestamp);
        sync(budget, counted, &cache);
        while budget.over() && !cache.is_empty() {
            let evicted = cache.evict(write);
            sync(budget, counted, &cache);
            evicted?;
        }
        Ok(())
    }

    /// Writes every dirty entry through with `write`, in the order of their last writes.
    pub(crate) fn flush(&mut self, write: &mut dyn FnMut(Dirty<'_>) -> Result<()>) -> Result<()> {
        let StoreCache {
            shared,
            budget,
            counted,
            ..
        } = self;
        let mut cache = shared.lock();
        let flushed = cache.flush(write);
        sync(budget, counted, &cache);
        flushed
    }

    /// Drops the entries with keys in `[from, to)` unwritten.
    pub(crate) fn remove_range(&mut self, from: &[u8], to: &[u8]) {
        let mut cache = self.shared.lock();
        cache.remove_range(from, to);
        sync(&self.budget, &mut self.counted, &cache);
    }

    /// Drops every entry unwritten.
    pub(crate) fn discard(&mut self) {
        let mut cache = self.shared.lock();
        cache.clear();
        sync(&self.budget, &mut self.counted, &cache);
    }

    /// How many entries wait to be written through.
    pub(crate) fn dirty_len(&self) -> usize {
        self.shared.lock().dirty_len()
    }
}

impl Drop for StoreCache {
    fn drop(&mut self) {
        self.budget.adjust(self.counted, 0);
    }
}
