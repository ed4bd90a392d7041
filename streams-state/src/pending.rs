//! The uncommitted writes of a transactional store: an ordered map of puts and deletes, and the
//! range deletes before them, read through by the store until its transaction commits (then
//! written to the engine in one batch) or aborts (then dropped).

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::Result;
use crate::store::{KeyValue, KeyValueIter};

/// Writes not yet committed, in the order their effects must apply: the range deletes first,
/// then the puts and deletes (a put after a range delete covering it is kept in `writes`; a put
/// before it is removed from `writes` when the range delete arrives).
#[derive(Debug, Default)]
pub(crate) struct Pending {
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    ranges: Vec<(Vec<u8>, Vec<u8>)>,
    bytes: usize,
}

/// What the pending writes say about one key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup<'a> {
    /// Put with this value.
    Put(&'a [u8]),
    /// Deleted (by a delete or a range delete).
    Deleted,
    /// Not written: the engine answers.
    Untouched,
}

impl Pending {
    /// Records a put (`Some`) or a delete (`None`).
    pub(crate) fn write(&mut self, key: &[u8], value: Option<&[u8]>) {
        let size = key.len() + value.map_or(0, <[u8]>::len) + ENTRY_OVERHEAD;
        if let Some(old) = self.writes.insert(key.to_vec(), value.map(<[u8]>::to_vec)) {
            self.bytes -= key.len() + old.map_or(0, |v| v.len()) + ENTRY_OVERHEAD;
        }
        self.bytes += size;
    }

    /// Records the removal of every key in `[from, to)`.
    pub(crate) fn delete_range(&mut self, from: &[u8], to: &[u8]) {
        if from >= to {
            return;
        }
        let covered: Vec<Vec<u8>> = self
            .writes
            .range::<[u8], _>((Bound::Included(from), Bound::Excluded(to)))
            .map(|(k, _)| k.clone())
            .collect();
        for key in covered {
            if let Some(old) = self.writes.remove(&key) {
                self.bytes -= key.len() + old.map_or(0, |v| v.len()) + ENTRY_OVERHEAD;
            }
        }
        self.bytes += from.len() + to.len() + ENTRY_OVERHEAD;
        self.ranges.push((from.to_vec(), to.to_vec()));
    }

    /// What the pending writes say about `key`.
    pub(crate) fn lookup(&self, key: &[u8]) -> Lookup<'_> {
        match self.writes.get(key) {
            Some(Some(value)) => Lookup::Put(value),
            Some(None) => Lookup::Deleted,
            None if self.range_deleted(key) => Lookup::Deleted,
            None => Lookup::Untouched,
        }
    }

    fn range_deleted(&self, key: &[u8]) -> bool {
        self.ranges
            .iter()
            .any(|(from, to)| from.as_slice() <= key && key < to.as_slice())
    }

    /// Whether nothing is pending.
    pub(crate) fn is_empty(&self) -> bool {
        self.writes.is_empty() && self.ranges.is_empty()
    }

    /// An estimate of the memory the pending writes take.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The range deletes, then the puts and deletes, leaving nothing pending.
    #[allow(clippy::type_complexity)]
    pub(crate) fn take(&mut self) -> (Vec<(Vec<u8>, Vec<u8>)>, BTreeMap<Vec<u8>, Option<Vec<u8>>>) {
        self.bytes = 0;
        (
            std::mem::take(&mut self.ranges),
            std::mem::take(&mut self.writes),
        )
    }

    /// Drops everything pending.
    pub(crate) fn clear(&mut self) {
        self.take();
    }

    /// The engine's entries of `[from, upper)` (`engine`, in key order) with the pending
    /// writes of that span laid over them.
    pub(crate) fn overlay<'a>(
        &self,
        engine: KeyValueIter<'a>,
        from: Option<&[u8]>,
        upper: Option<&[u8]>,
    ) -> KeyValueIter<'a> {
        if self.is_empty() {
            return engine;
        }
        let lower = from.map_or(Bound::Unbounded, Bound::Included);
        let upper_bound = upper.map_or(Bound::Unbounded, Bound::Excluded);
        if let (Some(from), Some(upper)) = (from, upper)
            && from >= upper
        {
            return engine;
        }
        let writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = self
            .writes
            .range::<[u8], _>((lower, upper_bound))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let ranges = self.ranges.clone();
        let engine = engine.filter(move |item| match item {
            Ok((key, _)) => !ranges
                .iter()
                .any(|(from, to)| from.as_slice() <= key.as_slice() && key < to),
            Err(_) => true,
        });
        Box::new(Merge {
            engine: engine.peekable(),
            writes: writes.into_iter().peekable(),
        })
    }
}

/// Memory counted per pending entry beyond its bytes (map node, vectors).
const ENTRY_OVERHEAD: usize = 64;

/// Two key-ordered streams merged; on equal keys the pending write wins, and a pending delete
/// hides the key.
struct Merge<E: Iterator<Item = Result<KeyValue>>> {
    engine: std::iter::Peekable<E>,
    writes: std::iter::Peekable<std::vec::IntoIter<(Vec<u8>, Option<Vec<u8>>)>>,
}

impl<E: Iterator<Item = Result<KeyValue>>> Iterator for Merge<E> {
    type Item = Result<KeyValue>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let order = match (self.engine.peek(), self.writes.peek()) {
                (None, None) => return None,
                (Some(Err(_)), _) => return self.engine.next(),
                (Some(_), None) => return self.engine.next(),
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(Ok((ek, _))), Some((wk, _))) => ek.as_slice().cmp(wk.as_slice()),
            };
            match order {
                std::cmp::Ordering::Less => return self.engine.next(),
                std::cmp::Ordering::Equal => {
                    self.engine.next();
                }
                std::cmp::Ordering::Greater => {}
            }
            if let Some((key, value)) = self.writes.next()
                && let Some(value) = value
            {
                return Some(Ok((key, value)));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn engine(entries: &[(&str, &str)]) -> KeyValueIter<'static> {
        let owned: Vec<Result<KeyValue>> = entries
            .iter()
            .map(|(k, v)| Ok((k.as_bytes().to_vec(), v.as_bytes().to_vec())))
            .collect();
        Box::new(owned.into_iter())
    }

    fn collect(iter: KeyValueIter<'_>) -> Vec<(String, String)> {
        iter.map(|r| {
            let (k, v) = r.expect("entry");
            (
                String::from_utf8(k).expect("utf8"),
                String::from_utf8(v).expect("utf8"),
            )
        })
        .collect()
    }

    #[test]
    fn pending_writes_lie_over_the_engine() {
        let mut p = Pending::default();
        p.write(b"b", Some(b"B2"));
        p.write(b"c", None);
        p.write(b"e", Some(b"E"));
        let got = collect(p.overlay(
            engine(&[("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]),
            None,
            None,
        ));
        assert_eq!(
            got,
            [("a", "A"), ("b", "B2"), ("d", "D"), ("e", "E")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(p.lookup(b"b"), Lookup::Put(b"B2"));
        assert_eq!(p.lookup(b"c"), Lookup::Deleted);
        assert_eq!(p.lookup(b"a"), Lookup::Untouched);
    }

    #[test]
    fn a_range_delete_hides_the_engine_and_earlier_writes_but_not_later_ones() {
        let mut p = Pending::default();
        p.write(b"b", Some(b"early"));
        p.delete_range(b"b", b"d");
        p.write(b"c", Some(b"late"));
        let got = collect(p.overlay(
            engine(&[("a", "A"), ("b", "B"), ("c", "C"), ("d", "D")]),
            None,
            None,
        ));
        assert_eq!(
            got,
            [("a", "A"), ("c", "late"), ("d", "D")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert_eq!(p.lookup(b"b"), Lookup::Deleted);
        let (ranges, writes) = p.take();
        assert_eq!(ranges, vec![(b"b".to_vec(), b"d".to_vec())]);
        assert_eq!(writes.len(), 1);
        assert!(p.is_empty() && p.bytes() == 0);
    }

    proptest::proptest! {
        /// Any writes over any engine contents read as the same writes applied to a map.
        #[test]
        fn the_overlay_reads_as_the_writes_applied(
            base in proptest::collection::btree_map(0u8..20, 0u8..5, 0..12),
            ops in proptest::collection::vec((0u8..3, 0u8..20, 0u8..20, 0u8..5), 0..30),
            bounds in (0u8..22, 0u8..22),
        ) {
            let mut model: BTreeMap<u8, u8> = base.clone();
            let mut p = Pending::default();
            for (kind, a, b, v) in ops {
                match kind {
                    0 => { p.write(&[a], Some(&[v])); model.insert(a, v); }
                    1 => { p.write(&[a], None); model.remove(&a); }
                    _ => {
                        p.delete_range(&[a], &[b]);
                        model.retain(|k, _| !(a <= *k && *k < b));
                    }
                }
            }
            let (from, upper) = bounds;
            let engine: Vec<Result<KeyValue>> = base
                .iter()
                .filter(|(k, _)| **k >= from && **k < upper)
                .map(|(k, v)| Ok((vec![*k], vec![*v])))
                .collect();
            let got: Vec<(u8, u8)> = p
                .overlay(Box::new(engine.into_iter()), Some(&[from]), Some(&[upper]))
                .map(|r| { let (k, v) = r.expect("entry"); (k[0], v[0]) })
                .collect();
            let expected: Vec<(u8, u8)> = model
                .iter()
                .filter(|(k, _)| **k >= from && **k < upper)
                .map(|(k, v)| (*k, *v))
                .collect();
            proptest::prop_assert_eq!(got, expected);
            for k in 0u8..20 {
                let looked = match p.lookup(&[k]) {
                    Lookup::Put(v) => Some(v[0]),
                    Lookup::Deleted => None,
                    Lookup::Untouched => base.get(&k).copied(),
                };
                proptest::prop_assert_eq!(looked, model.get(&k).copied());
            }
        }
    }
}
