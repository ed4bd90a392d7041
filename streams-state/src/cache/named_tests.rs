//! Unit tests of one store's cache: its flush and eviction orders, against a model.

use std::collections::BTreeMap;

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

/// A plain model: every entry with its last use and last write; eviction and flush orders
/// found by sorting.
#[derive(Default)]
struct Model {
    entries: BTreeMap<u8, (Option<u8>, u64, Option<u64>)>,
    next: u64,
}

impl Model {
    fn flush(&mut self, first: Option<u8>) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut dirty: Vec<(u64, u8)> = self
            .entries
            .iter()
            .filter_map(|(k, (_, _, d))| Some((d.as_ref().copied()?, *k)))
            .collect();
        dirty.sort();
        if let Some(f) = first {
            dirty.sort_by_key(|(_, k)| *k != f);
        }
        let out = dirty
            .iter()
            .map(|(_, k)| (vec![*k], self.entries[k].0.map(|v| vec![v])))
            .collect();
        for (_, k) in dirty {
            if self.entries[&k].0.is_none() {
                self.entries.remove(&k);
            } else if let Some(e) = self.entries.get_mut(&k) {
                e.2 = None;
            }
        }
        out
    }
}

proptest::proptest! {
    /// The lazy orders evict and flush exactly as sorted maps of last uses and last writes
    /// would, through long runs that compact them many times.
    #[test]
    fn evicts_and_flushes_as_a_model_of_last_uses_and_writes(
        ops in proptest::collection::vec((0u8..5, 0u8..12, proptest::option::of(0u8..4)), 0..400)
    ) {
        let mut cache = NamedCache::default();
        let mut model = Model::default();
        for (op, key, value) in ops {
            match op {
                0 | 1 => {
                    cache.put(&[key], value.as_ref().map(std::slice::from_ref), None);
                    model.next += 2;
                    model.entries.insert(key, (value, model.next - 1, Some(model.next)));
                }
                2 => {
                    let got = cache.get(&[key]).map(|e| e.value.clone());
                    model.next += 1;
                    let expected = model.entries.get_mut(&key).map(|e| {
                        e.1 = model.next;
                        e.0.map(|v| vec![v])
                    });
                    proptest::prop_assert_eq!(got, expected);
                }
                3 => {
                    let mut out = Vec::new();
                    let evicted = cache
                        .evict(&mut |d| {
                            out.push((d.key.to_vec(), d.value.map(<[u8]>::to_vec)));
                            Ok(())
                        })
                        .expect("evict");
                    let lru = model.entries.iter().min_by_key(|(_, e)| e.1).map(|(k, e)| (*k, e.2.is_some()));
                    proptest::prop_assert_eq!(evicted, lru.is_some());
                    let expected = match lru {
                        Some((k, true)) => model.flush(Some(k)),
                        _ => Vec::new(),
                    };
                    if let Some((k, _)) = lru {
                        model.entries.remove(&k);
                    }
                    proptest::prop_assert_eq!(out, expected);
                }
                _ => {
                    let out = flushed(&mut cache);
                    proptest::prop_assert_eq!(out, model.flush(None));
                }
            }
            proptest::prop_assert_eq!(cache.len(), model.entries.len());
            // The ordered keys and the hash index hold the same entries.
            let ordered: Vec<(u8, Option<u8>)> = cache
                .range(Bound::Unbounded, Bound::Unbounded)
                .map(|(k, e)| (k[0], e.value.as_ref().map(|v| v[0])))
                .collect();
            let expected: Vec<(u8, Option<u8>)> =
                model.entries.iter().map(|(k, e)| (*k, e.0)).collect();
            proptest::prop_assert_eq!(ordered, expected);
            proptest::prop_assert_eq!(
                cache.dirty_len(),
                model.entries.values().filter(|e| e.2.is_some()).count()
            );
        }
    }
}
