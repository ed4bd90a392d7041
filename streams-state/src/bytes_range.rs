//! Key-range arithmetic on byte strings, shared by the engines.

/// The smallest byte string greater than every string that starts with `prefix`, or `None`
/// when there is none (the prefix is empty or all `0xff`).
pub(crate) fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut bound = prefix.to_vec();
    while let Some(last) = bound.pop() {
        if last < u8::MAX {
            bound.push(last + 1);
            return Some(bound);
        }
    }
    None
}

/// The smallest byte string greater than `key`: exclusive upper bound of an inclusive range.
pub(crate) fn successor(key: &[u8]) -> Vec<u8> {
    let mut next = Vec::with_capacity(key.len() + 1);
    next.extend_from_slice(key);
    next.push(0);
    next
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_bounds() {
        assert_eq!(prefix_upper_bound(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_upper_bound(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_upper_bound(&[0xff, 0xff]), None);
        assert_eq!(prefix_upper_bound(b""), None);
    }

    #[test]
    fn successor_is_just_above() {
        assert!(successor(b"ab").as_slice() > b"ab".as_slice());
        assert!(successor(b"ab").as_slice() < b"ab\x01".as_slice());
        assert!(successor(b"ab").as_slice() < b"ac".as_slice());
    }
}
