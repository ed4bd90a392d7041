//! [`NamedCache`]: the entries one store keeps in the thread's record cache, with Kafka Streams'
//! `NamedCache` semantics.
//!
//! - Entries are ordered by key (engine keys, so a store merges cache and engine key by key).
//!   Point reads and writes, on every stateful record's path, go through a hash index instead
//!   of the ordered set, which only range reads and new keys touch.
//! - Least recently used first for eviction: a write, or a read by the store's owner, makes an
//!   entry the most recently used (interactive queries do not: they must not change what the
//!   stream thread evicts).
//! - Dirty entries (written, not yet written through) are flushed in the order of their last
//!   writes. Evicting a dirty entry flushes every dirty entry of the cache, the evicted one
//!   first, as Kafka Streams does: its writes reach the store and downstream in one batch.
//! - After a flush, entries stay cached (clean), except deletes, which leave.
//!
//! The owner writes flushed entries through itself, through the `write` callback, while it
//! holds the cache: an entry leaves the cache only after its value reached the store, so a
//! reader finds the newest value in one place or the other.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::Result;

/// Per-entry bookkeeping counted against the budget besides key and value bytes.
pub(crate) const ENTRY_OVERHEAD: usize = 64;

/// An entry's key and positions, shared by the entry and its items in the order queues, so
/// that an item is known stale without looking the key up.
#[derive(Debug)]
struct Meta {
    key: Arc<[u8]>,
    /// Its last use; [`GONE`] once the entry left the cache.
    used: AtomicU64,
    /// Its last write while dirty; 0 when clean (or gone).
    dirty: AtomicU64,
}

/// The use position of an entry that left the cache (positions start at 1 and only grow).
const GONE: u64 = u64::MAX;

impl Meta {
    fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    fn dirty(&self) -> u64 {
        self.dirty.load(Ordering::Relaxed)
    }
}

/// One cached entry.
#[derive(Debug)]
pub(crate) struct Entry {
    /// `None`: deleted (and not yet written through, if dirty).
    pub(crate) value: Option<Vec<u8>>,
    /// The timestamp of the record that wrote it, when the writer gave one.
    pub(crate) timestamp: Option<i64>,
    meta: Arc<Meta>,
}

fn size(key: &[u8], value: Option<&[u8]>) -> usize {
    key.len() + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD
}

/// A dirty entry as the owner writes it through: key, value (`None`: delete), timestamp.
pub(crate) struct Dirty<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) timestamp: Option<i64>,
}

/// An order (of use, or of writes) kept lazily: every use or write appends `(position,
/// entry)` — positions only grow, so the queue stays sorted — and an entry's older positions
/// stay behind as stale items, skipped when met (the entry's own position no longer matches)
/// and dropped when they outnumber the live ones. A read or write of a hot key is then an
/// append, not a removal and an insertion in a sorted map: the record cache sits on every
/// stateful record's path.
#[derive(Debug, Default)]
struct Order(VecDeque<(u64, Arc<Meta>)>);

impl Order {
    fn push(&mut self, position: u64, meta: &Arc<Meta>) {
        self.0.push_back((position, meta.clone()));
    }

    /// Drops stale items once there are more than twice as many items as `live` ones (an
    /// amortized constant per append).
    fn compact(&mut self, live: usize, is_live: impl Fn(u64, &Meta) -> bool) {
        if self.0.len() > 2 * live + 64 {
            self.0.retain(|(position, meta)| is_live(*position, meta));
        }
    }
}

/// The entries of one store's cache.
#[derive(Debug, Default)]
pub(crate) struct NamedCache {
    /// The entries by key (std's randomly seeded hash: keys come from input).
    entries: HashMap<Arc<[u8]>, Entry>,
    /// The same keys in order, for range reads.
    order: BTreeSet<Arc<[u8]>>,
    /// Use order, least recently used first (lazy: see [`Order`]).
    used: Order,
    /// Dirty order, oldest write first (lazy: see [`Order`]).
    dirty: Order,
    /// How many entries are dirty.
    dirty_count: usize,
    next: u64,
    bytes: usize,
}

impl NamedCache {
    fn tick(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Bytes the entries take (keys, values and overhead).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn dirty_len(&self) -> usize {
        self.dirty_count
    }

    /// The entry of `key` without touching the use order (for queries).
    pub(crate) fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.entries.get(key)
    }

    fn compact(&mut self) {
        self.used
            .compact(self.entries.len(), |position, meta| meta.used() == position);
        self.dirty
            .compact(self.dirty_count, |position, meta| meta.dirty() == position);
    }

    /// The entry of `key`, made the most recently used (for the owner's reads).
    pub(crate) fn get(&mut self, key: &[u8]) -> Option<&Entry> {
        self.compact();
        let tick = self.tick();
        let entry = self.entries.get(key)?;
        entry.meta.used.store(tick, Ordering::Relaxed);
        self.used.push(tick, &entry.meta);
        Some(entry)
    }

    /// Writes `value` (`None`: a delete) under `key`, dirty and most recently used. An update
    /// of a cached key reuses the entry's buffers, so a hot key costs no allocation.
    pub(crate) fn put(&mut self, key: &[u8], value: Option<&[u8]>, timestamp: Option<i64>) {
        self.compact();
        let used = self.tick();
        let dirty = self.tick();
        let added = size(key, value);
        if let Some(entry) = self.entries.get_mut(key) {
            self.bytes -= size(key, entry.value.as_deref());
            match (&mut entry.value, value) {
                (Some(buf), Some(v)) => {
                    buf.clear();
                    buf.extend_from_slice(v);
                }
                (slot, v) => *slot = v.map(<[u8]>::to_vec),
            }
            entry.timestamp = timestamp;
            if entry.meta.dirty() == 0 {
                self.dirty_count += 1;
            }
            entry.meta.used.store(used, Ordering::Relaxed);
            entry.meta.dirty.store(dirty, Ordering::Relaxed);
            self.used.push(used, &entry.meta);
            self.dirty.push(dirty, &entry.meta);
        } else {
            let shared: Arc<[u8]> = Arc::from(key);
            let meta = Arc::new(Meta {
                key: shared.clone(),
                used: AtomicU64::new(used),
                dirty: AtomicU64::new(dirty),
            });
            self.used.push(used, &meta);
            self.dirty.push(dirty, &meta);
            self.dirty_count += 1;
            self.order.insert(shared.clone());
            self.entries.insert(
                shared,
                Entry {
                    value: value.map(<[u8]>::to_vec),
                    timestamp,
                    meta,
                },
            );
        }
        self.bytes += added;
    }

    /// Entries with keys within `(lower, upper)`, in key order.
    pub(crate) fn range<'a>(
        &'a self,
        lower: Bound<&'a [u8]>,
        upper: Bound<&'a [u8]>,
    ) -> impl Iterator<Item = (&'a [u8], &'a Entry)> + 'a {
        let empty = match (lower, upper) {
            (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) => {
                l > u
                    || (l == u
                        && !matches!((lower, upper), (Bound::Included(_), Bound::Included(_))))
            }
            _ => false,
        };
        let range = if empty {
            None
        } else {
            Some(self.order.range::<[u8], _>((lower, upper)))
        };
        range
            .into_iter()
            .flatten()
            .filter_map(move |k| self.entries.get(k).map(|e| (&**k, e)))
    }

    /// Drops the entry of `key` (its items in the order queues go stale).
    fn remove(&mut self, key: &[u8]) {
        if let Some(entry) = self.entries.remove(key) {
            self.order.remove(key);
            if entry.meta.dirty() != 0 {
                self.dirty_count -= 1;
            }
            entry.meta.used.store(GONE, Ordering::Relaxed);
            entry.meta.dirty.store(0, Ordering::Relaxed);
            self.bytes -= size(key, entry.value.as_deref());
        }
    }

    /// Drops every entry with a key in `[from, to)` without writing it anywhere.
    pub(crate) fn remove_range(&mut self, from: &[u8], to: &[u8]) {
        if from >= to {
            return;
        }
        let doomed: Vec<Arc<[u8]>> = self
            .order
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .cloned()
            .collect();
        for key in doomed {
            self.remove(&key);
        }
        self.compact();
    }

    /// Drops everything without writing it anywhere.
    pub(crate) fn clear(&mut self) {
        *self = NamedCache {
            next: self.next,
            ..NamedCache::default()
        };
    }

    /// Writes every dirty entry through with `write`, in the order of their last writes, and
    /// marks it clean; deletes then leave the cache. On an error the entries not yet written
    /// stay dirty (a later flush writes them).
    pub(crate) fn flush(&mut self, write: &mut dyn FnMut(Dirty<'_>) -> Result<()>) -> Result<()> {
        self.flush_from(None, write)
    }

    /// Writes `meta`'s entry through if it is dirty at `position` (a live item of the dirty
    /// order), and marks it clean; returns whether it was a delete.
    fn write_through(
        &mut self,
        position: u64,
        meta: &Meta,
        write: &mut dyn FnMut(Dirty<'_>) -> Result<()>,
    ) -> Result<bool> {
        if meta.dirty() != position {
            return Ok(false);
        }
        let Some(entry) = self.entries.get(&*meta.key) else {
            return Ok(false);
        };
        write(Dirty {
            key: &meta.key,
            value: entry.value.as_deref(),
            timestamp: entry.timestamp,
        })?;
        meta.dirty.store(0, Ordering::Relaxed);
        self.dirty_count -= 1;
        Ok(entry.value.is_none())
    }

    /// As [`flush`](Self::flush), `first` (if dirty) before the others: Kafka Streams writes
    /// an evicted entry first.
    fn flush_from(
        &mut self,
        first: Option<&[u8]>,
        write: &mut dyn FnMut(Dirty<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut pending = std::mem::take(&mut self.dirty.0);
        let mut deleted = Vec::new();
        let first = first
            .and_then(|k| self.entries.get(k))
            .map(|e| (e.meta.dirty(), e.meta.clone()))
            .filter(|(position, _)| *position != 0);
        if let Some((position, meta)) = first {
            match self.write_through(position, &meta, write) {
                Ok(true) => deleted.push(meta.key.clone()),
                Ok(false) => {}
                Err(e) => {
                    // Every entry stays dirty.
                    self.dirty.0 = pending;
                    return Err(e);
                }
            }
        }
        while let Some((position, meta)) = pending.pop_front() {
            match self.write_through(position, &meta, write) {
                Ok(true) => deleted.push(meta.key.clone()),
                Ok(false) => {}
                Err(e) => {
                    // This entry and those after it stay dirty.
                    pending.push_front((position, meta));
                    self.dirty.0 = pending;
                    return Err(e);
                }
            }
        }
        // Whatever was left in the queue was stale; keep its buffer.
        self.dirty.0 = pending;
        for key in deleted {
            self.remove(&key);
        }
        Ok(())
    }

    /// Evicts the least recently used entry; if it is dirty, flushes every dirty entry first
    /// (it first). Returns whether there was an entry to evict.
    pub(crate) fn evict(&mut self, write: &mut dyn FnMut(Dirty<'_>) -> Result<()>) -> Result<bool> {
        // The oldest live item of the use order (stale ones are dropped on the way).
        let meta = loop {
            let Some((position, meta)) = self.used.0.pop_front() else {
                return Ok(false);
            };
            if meta.used() == position {
                break meta;
            }
        };
        if meta.dirty() != 0
            && let Err(e) = self.flush_from(Some(&meta.key), write)
        {
            // Still the least recently used.
            self.used.0.push_front((meta.used(), meta));
            return Err(e);
        }
        self.remove(&meta.key);
        Ok(true)
    }
}

/// A [`NamedCache`] shared by its store (the stream thread, the only writer) and the store's
/// query handles. The lock is uncontended except while a query reads.
#[derive(Debug, Default, Clone)]
pub(crate) struct SharedCache(Arc<Mutex<NamedCache>>);

impl SharedCache {
    pub(crate) fn lock(&self) -> MutexGuard<'_, NamedCache> {
        // Every change leaves the maps consistent with each other at each step that can fail.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
#[path = "named_tests.rs"]
mod tests;
