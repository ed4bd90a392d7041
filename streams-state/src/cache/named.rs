//! [`NamedCache`]: the entries one store keeps in the thread's record cache, with Kafka Streams'
//! `NamedCache` semantics.
//!
//! - Entries are ordered by key (engine keys, so a store merges cache and engine key by key).
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

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::Result;

/// Per-entry bookkeeping counted against the budget besides key and value bytes.
pub(crate) const ENTRY_OVERHEAD: usize = 64;

/// One cached entry.
#[derive(Debug)]
pub(crate) struct Entry {
    /// `None`: deleted (and not yet written through, if dirty).
    pub(crate) value: Option<Vec<u8>>,
    /// The timestamp of the record that wrote it, when the writer gave one.
    pub(crate) timestamp: Option<i64>,
    /// Position in the use order.
    used: u64,
    /// Position in the dirty order; `None` when clean.
    dirty: Option<u64>,
}

impl Entry {
    pub(crate) fn is_dirty(&self) -> bool {
        self.dirty.is_some()
    }
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

/// The entries of one store's cache.
#[derive(Debug, Default)]
pub(crate) struct NamedCache {
    entries: BTreeMap<Arc<[u8]>, Entry>,
    /// Use order → key, least recently used first.
    used: BTreeMap<u64, Arc<[u8]>>,
    /// Dirty order → key, oldest write first.
    dirty: BTreeMap<u64, Arc<[u8]>>,
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
        self.dirty.len()
    }

    /// The entry of `key` without touching the use order (for queries).
    pub(crate) fn peek(&self, key: &[u8]) -> Option<&Entry> {
        self.entries.get(key)
    }

    /// The entry of `key`, made the most recently used (for the owner's reads).
    pub(crate) fn get(&mut self, key: &[u8]) -> Option<&Entry> {
        let tick = self.tick();
        let entry = self.entries.get_mut(key)?;
        if let Some(k) = self.used.remove(&entry.used) {
            self.used.insert(tick, k);
        }
        entry.used = tick;
        Some(entry)
    }

    /// Writes `value` (`None`: a delete) under `key`, dirty and most recently used. An update
    /// of a cached key reuses the entry's buffers, so a hot key costs no allocation.
    pub(crate) fn put(&mut self, key: &[u8], value: Option<&[u8]>, timestamp: Option<i64>) {
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
            let shared = self.used.remove(&entry.used);
            if let Some(k) = entry.dirty.and_then(|d| self.dirty.remove(&d)) {
                self.dirty.insert(dirty, k);
            } else if let Some(k) = &shared {
                self.dirty.insert(dirty, k.clone());
            }
            if let Some(k) = shared {
                self.used.insert(used, k);
            }
            entry.used = used;
            entry.dirty = Some(dirty);
        } else {
            let shared: Arc<[u8]> = Arc::from(key);
            self.used.insert(used, shared.clone());
            self.dirty.insert(dirty, shared.clone());
            self.entries.insert(
                shared,
                Entry {
                    value: value.map(<[u8]>::to_vec),
                    timestamp,
                    used,
                    dirty: Some(dirty),
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
            Some(self.entries.range::<[u8], _>((lower, upper)))
        };
        range.into_iter().flatten().map(|(k, e)| (&**k, e))
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(entry) = self.entries.remove(key) {
            self.used.remove(&entry.used);
            if let Some(d) = entry.dirty {
                self.dirty.remove(&d);
            }
            self.bytes -= size(key, entry.value.as_deref());
        }
    }

    /// Drops every entry with a key in `[from, to)` without writing it anywhere.
    pub(crate) fn remove_range(&mut self, from: &[u8], to: &[u8]) {
        if from >= to {
            return;
        }
        let doomed: Vec<Arc<[u8]>> = self
            .entries
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in doomed {
            self.remove(&key);
        }
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

    /// As [`flush`](Self::flush), `first` (if dirty) before the others: Kafka Streams writes
    /// an evicted entry first.
    fn flush_from(
        &mut self,
        first: Option<&[u8]>,
        write: &mut dyn FnMut(Dirty<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut pending = std::mem::take(&mut self.dirty);
        let first = first
            .and_then(|k| self.entries.get(k))
            .and_then(|e| e.dirty)
            .and_then(|seq| Some((seq, pending.remove(&seq)?)));
        let mut deleted = Vec::new();
        let mut next = first.or_else(|| pending.pop_first());
        while let Some((seq, key)) = next {
            if let Some(entry) = self.entries.get_mut(&*key) {
                let written = write(Dirty {
                    key: &key,
                    value: entry.value.as_deref(),
                    timestamp: entry.timestamp,
                });
                if let Err(e) = written {
                    // This entry and those after it stay dirty.
                    pending.insert(seq, key);
                    self.dirty = pending;
                    return Err(e);
                }
                entry.dirty = None;
                if entry.value.is_none() {
                    deleted.push(key);
                }
            }
            next = pending.pop_first();
        }
        for key in deleted {
            self.remove(&key);
        }
        Ok(())
    }

    /// Evicts the least recently used entry; if it is dirty, flushes every dirty entry first
    /// (it first). Returns whether there was an entry to evict.
    pub(crate) fn evict(&mut self, write: &mut dyn FnMut(Dirty<'_>) -> Result<()>) -> Result<bool> {
        let Some(key) = self.used.first_key_value().map(|(_, k)| k.clone()) else {
            return Ok(false);
        };
        if self.entries.get(&*key).is_some_and(Entry::is_dirty) {
            self.flush_from(Some(&key), write)?;
        }
        self.remove(&key);
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
mod tests {
    use super::*;

    fn flushed(cache: &mut NamedCache) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        cache
            .flush(&mut |d| {
                out.push((d.key.to_vec(), d.value.map(<[u8]>::to_vec)));
                Ok(())
            })
            .expect("flush");
        out
    }

    #[test]
    fn flushes_in_the_order_of_last_writes_and_keeps_clean_entries() {
        let mut cache = NamedCache::default();
        cache.put(b"a", Some(b"1"), None);
        cache.put(b"b", Some(b"2"), None);
        cache.put(b"a", Some(b"3"), None);
        cache.put(b"c", None, None);
        assert_eq!(
            flushed(&mut cache),
            vec![
                (b"b".to_vec(), Some(b"2".to_vec())),
                (b"a".to_vec(), Some(b"3".to_vec())),
                (b"c".to_vec(), None),
            ]
        );
        assert_eq!(cache.len(), 2, "the delete left, the others stay clean");
        assert!(flushed(&mut cache).is_empty(), "nothing dirty is left");
        assert_eq!(
            cache.peek(b"a").and_then(|e| e.value.clone()),
            Some(b"3".to_vec())
        );
    }

    #[test]
    fn evicting_a_dirty_entry_flushes_every_dirty_entry_it_first() {
        // Kafka Streams' NamedCache.evict: the eldest, then dirtyKeys in order.
        let mut cache = NamedCache::default();
        cache.put(b"a", Some(b"1"), None);
        cache.put(b"b", Some(b"2"), None);
        cache.put(b"c", Some(b"3"), None);
        // A read makes `a` the most recently used: `b` is now the eldest.
        assert!(cache.get(b"a").is_some());
        let mut written = Vec::new();
        assert!(
            cache
                .evict(&mut |d| {
                    written.push(d.key.to_vec());
                    Ok(())
                })
                .expect("evict")
        );
        assert_eq!(written, vec![b"b".to_vec(), b"a".to_vec(), b"c".to_vec()]);
        assert!(cache.peek(b"b").is_none(), "the eldest left");
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.dirty_len(), 0);
        // Evicting a clean entry writes nothing.
        let mut count = 0;
        cache
            .evict(&mut |_| {
                count += 1;
                Ok(())
            })
            .expect("evict");
        assert_eq!(count, 0);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn sizes_follow_the_entries_and_a_failed_write_leaves_entries_dirty() {
        let mut cache = NamedCache::default();
        cache.put(b"k", Some(b"vvvv"), Some(7));
        assert_eq!(cache.bytes(), 1 + 4 + ENTRY_OVERHEAD);
        cache.put(b"k", Some(b"v"), Some(8));
        assert_eq!(cache.bytes(), 1 + 1 + ENTRY_OVERHEAD);
        cache.put(b"j", Some(b"x"), None);
        let failed = cache.flush(&mut |d| {
            if d.key == b"j" {
                Err(crate::Error::Closed {
                    store: "s".to_string(),
                })
            } else {
                Ok(())
            }
        });
        assert!(failed.is_err());
        assert_eq!(cache.dirty_len(), 1, "only the failed one is still dirty");
        cache.remove_range(b"a", b"z");
        assert!(cache.is_empty());
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn ranges_are_in_key_order_and_empty_when_inverted() {
        let mut cache = NamedCache::default();
        for k in [b"c", b"a", b"b"] {
            cache.put(k, Some(b"v"), None);
        }
        let keys: Vec<&[u8]> = cache
            .range(Bound::Included(b"a"), Bound::Included(b"b"))
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, vec![b"a".as_slice(), b"b".as_slice()]);
        assert_eq!(
            cache
                .range(Bound::Included(b"c"), Bound::Included(b"a"))
                .count(),
            0
        );
        assert_eq!(
            cache
                .range(Bound::Included(b"a"), Bound::Excluded(b"a"))
                .count(),
            0
        );
        assert_eq!(cache.range(Bound::Unbounded, Bound::Unbounded).count(), 3);
    }
}
