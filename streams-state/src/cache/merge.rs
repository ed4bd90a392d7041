//! Reads of a segmented store (window, session) through its cache: the cached entries of a key
//! range, copied under the lock, merged key by key with the engine's entries of that range.
//! Cache keys are engine keys, so both sides come in the same order.

use std::iter::Peekable;
use std::ops::Bound;

use super::named::SharedCache;
use crate::Result;
use crate::bytes_range::prefix_upper_bound;
use crate::store::KeyValue;

/// Cached keys with their values (`None`: deleted).
pub(crate) type Cached = Vec<(Vec<u8>, Option<Vec<u8>>)>;

/// A copy of the entries `cache` holds within `(lower, upper)` (none without a cache).
pub(crate) fn snapshot(
    cache: Option<&SharedCache>,
    lower: Bound<&[u8]>,
    upper: Bound<&[u8]>,
) -> Cached {
    match cache {
        Some(cache) => cache
            .lock()
            .range(lower, upper)
            .map(|(k, e)| (k.to_vec(), e.value.clone()))
            .collect(),
        None => Vec::new(),
    }
}

/// Segments spanned by a keyed cache lookup beyond which the cached span is read in one pass
/// (a wide query, as of interactive queries over all time) instead of segment by segment.
const KEYED_SEGMENTS: i64 = 64;

/// Copies of the cached entries in segments `[first, last]` (none for `None`) whose engine key
/// `keep` accepts, in key order. With a `key`, each segment is looked up at that key (engine
/// keys are `segment | key | ...`); over many segments, the span is read in one pass.
pub(crate) fn cached_in_segments(
    cache: Option<&SharedCache>,
    segments: Option<(i64, i64)>,
    key: Option<&[u8]>,
    keep: &dyn Fn(&[u8]) -> bool,
) -> Cached {
    let (Some(cache), Some((first, last))) = (cache, segments) else {
        return Vec::new();
    };
    let cache = cache.lock();
    let mut out = Vec::new();
    let mut take = |lower: &[u8], upper: Option<Vec<u8>>| {
        let upper = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        for (k, e) in cache.range(Bound::Included(lower), upper) {
            if keep(k) {
                out.push((k.to_vec(), e.value.clone()));
            }
        }
    };
    let prefix = |segment: i64| (segment as u64).to_be_bytes();
    match key {
        Some(key) if last - first < KEYED_SEGMENTS => {
            for segment in first..=last {
                let mut lower = prefix(segment).to_vec();
                lower.extend_from_slice(key);
                let upper = prefix_upper_bound(&lower);
                take(&lower, upper);
            }
        }
        _ => take(&prefix(first), prefix_upper_bound(&prefix(last))),
    }
    out
}

/// Emits the union of `stored` and `cached` in key order; a cached value replaces the stored
/// one, a cached delete hides it.
pub(crate) fn merge(
    stored: impl Iterator<Item = Result<KeyValue>>,
    cached: Cached,
    emit: &mut dyn FnMut(Vec<u8>, Vec<u8>) -> Result<()>,
) -> Result<()> {
    if cached.is_empty() {
        for item in stored {
            let (k, v) = item?;
            emit(k, v)?;
        }
        return Ok(());
    }
    let mut stored: Peekable<_> = stored.peekable();
    for (key, value) in cached {
        // Stored entries before this cached key pass through.
        while let Some(item) = stored.next_if(|item| item.as_ref().map_or(true, |(k, _)| *k < key))
        {
            let (k, v) = item?;
            emit(k, v)?;
        }
        // A stored entry under the same key is replaced (or hidden).
        let _replaced = stored.next_if(|item| item.as_ref().is_ok_and(|(k, _)| *k == key));
        if let Some(v) = value {
            emit(key, v)?;
        }
    }
    for item in stored {
        let (k, v) = item?;
        emit(k, v)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_values_replace_and_hide_stored_ones_in_key_order() -> Result<()> {
        let stored: Vec<Result<KeyValue>> = [("a", "1"), ("c", "3"), ("e", "5"), ("g", "7")]
            .iter()
            .map(|(k, v)| Ok((k.as_bytes().to_vec(), v.as_bytes().to_vec())))
            .collect();
        let cached: Cached = vec![
            (b"b".to_vec(), Some(b"2".to_vec())),
            (b"c".to_vec(), Some(b"33".to_vec())),
            (b"e".to_vec(), None),
            (b"f".to_vec(), None),
            (b"h".to_vec(), Some(b"8".to_vec())),
        ];
        let mut out = Vec::new();
        merge(stored.into_iter(), cached, &mut |k, v| {
            out.push(format!(
                "{}={}",
                String::from_utf8_lossy(&k),
                String::from_utf8_lossy(&v)
            ));
            Ok(())
        })?;
        assert_eq!(out, ["a=1", "b=2", "c=33", "g=7", "h=8"]);
        Ok(())
    }
}
