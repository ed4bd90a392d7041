//! Reads of a segmented store (window, session) through its cache: the cached entries of a key
//! range, copied under the lock, merged key by key with the engine's entries of that range.
//! Cache keys are engine keys, so both sides come in the same order.

use std::iter::Peekable;
use std::ops::Bound;

use super::named::SharedCache;
use crate::Result;
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
