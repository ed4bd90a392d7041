//! How a versioned store lays its versions out in its engine, and the one search every read
//! and write of older versions makes.
//!
//! Per key, the store holds a sorted map *timestamp → value or tombstone*. The newest entry,
//! when it is a value, is the key's *latest* value:
//!
//! ```text
//! latest:   FF×8 | 00 | key                                   -> ts (8, big-endian) | value
//! history:  segment (8) | key length (4) | key | valid_to | valid_from   -> 01 | value, or 00
//! metadata: FF×8 | 01 | "observed-stream-time"                -> ts (8, big-endian)
//! ```
//!
//! Every other entry is a *history* row keyed by the timestamp of the entry after it
//! (`valid_to`, exclusive) and filed in that timestamp's segment, so that the rows a query
//! within history retention can need live in segments that are still kept, and whole expired
//! segments go in one range delete (`segments.rs`). A tombstone that is the newest entry is a
//! row with `valid_from == valid_to` (an *open* tombstone): it expires with its segment as the
//! rest of history does, while latest values never expire.
//!
//! Open tombstones are not moved when a newer entry arrives: the span between a tombstone and
//! the next row's `valid_from` is a gap, and a gap reads as "no value". A stale open tombstone
//! (whose timestamp was later given a value) sorts after every row ending at its timestamp,
//! and says "nothing before this timestamp" only where that is true, so it never changes an
//! answer. Timestamps in keys are sign-flipped big-endian (`segments::encode_time`), so rows
//! of a key sort by `valid_to`, then `valid_from`; the key's length before it keeps keys that
//! are prefixes of one another apart.

use crate::segments::{decode_time, encode_time};
use crate::store::ReadOnlyKeyValueStore;
use crate::timestamped::{push_timestamp, split_timestamped};
use crate::{Error, Result};

/// Latest values and metadata start with this: segment ids are below 2^63, so it sorts above
/// every segment and the range deletes that drop expired segments never reach it.
const RESERVED: [u8; 8] = [0xFF; 8];
const LATEST_TAG: u8 = 0;
const META_TAG: u8 = 1;
const VALUE_FLAG: u8 = 1;
const TOMBSTONE_FLAG: u8 = 0;
/// Segment id, key length; then the key; then `valid_to` and `valid_from`.
const PREFIX_LEN: usize = 8 + 4;
const TIMES_LEN: usize = 16;

/// The engine key of `key`'s latest value.
pub(super) fn latest_key(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RESERVED.len() + 1 + key.len());
    out.extend_from_slice(&RESERVED);
    out.push(LATEST_TAG);
    out.extend_from_slice(key);
    out
}

/// The engine key under which the store keeps its observed stream time.
pub(super) fn observed_key() -> Vec<u8> {
    let mut out = RESERVED.to_vec();
    out.push(META_TAG);
    out.extend_from_slice(b"observed-stream-time");
    out
}

/// A latest value as the engine holds it.
pub(super) fn encode_latest(timestamp: i64, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + value.len());
    push_timestamp(&mut out, timestamp);
    out.extend_from_slice(value);
    out
}

/// A latest value's timestamp and bytes.
pub(super) fn decode_latest<'a>(store: &str, bytes: &'a [u8]) -> Result<(i64, &'a [u8])> {
    split_timestamped(bytes).ok_or_else(|| Error::Corrupt {
        store: store.to_string(),
        reason: format!("a latest value of {} bytes has no timestamp", bytes.len()),
    })
}

/// One history row: a value (or a tombstone, `None`) valid from `valid_from` (inclusive) to
/// `valid_to` (exclusive); `valid_from == valid_to` marks an open tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Version {
    pub(super) valid_from: i64,
    pub(super) valid_to: i64,
    pub(super) value: Option<Vec<u8>>,
}

impl Version {
    /// Whether this row holds the value of `timestamp`: it began at or before it and ended
    /// after it (an open tombstone covers nothing: what follows it is a gap).
    pub(super) fn covers(&self, timestamp: i64) -> bool {
        self.valid_from <= timestamp && timestamp < self.valid_to
    }
}

/// Where history rows go: segments of `interval` ms, by `valid_to`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Geometry {
    pub(super) interval: i64,
}

impl Geometry {
    /// The segment of `timestamp` (negative timestamps share segment 0).
    pub(super) fn segment_of(self, timestamp: i64) -> i64 {
        timestamp.max(0) / self.interval
    }

    fn prefix(self, segment: i64, key: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(PREFIX_LEN + key.len() + TIMES_LEN);
        out.extend_from_slice(&(segment as u64).to_be_bytes());
        // Keys longer than 4 GiB do not reach a store: Kafka caps records far below that.
        out.extend_from_slice(&u32::try_from(key.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(key);
        out
    }

    /// The engine key of `key`'s row ending at `valid_to` (and beginning at `valid_from`).
    pub(super) fn row_key(self, key: &[u8], valid_to: i64, valid_from: i64) -> Vec<u8> {
        let mut out = self.prefix(self.segment_of(valid_to), key);
        out.extend_from_slice(&encode_time(valid_to));
        out.extend_from_slice(&encode_time(valid_from));
        out
    }
}

/// A history row's value as the engine holds it.
pub(super) fn encode_row(value: Option<&[u8]>) -> Vec<u8> {
    match value {
        Some(value) => {
            let mut out = Vec::with_capacity(1 + value.len());
            out.push(VALUE_FLAG);
            out.extend_from_slice(value);
            out
        }
        None => vec![TOMBSTONE_FLAG],
    }
}

fn decode_row(store: &str, engine_key: &[u8], mut value: Vec<u8>) -> Result<Version> {
    let corrupt = |reason: String| Error::Corrupt {
        store: store.to_string(),
        reason,
    };
    let times = engine_key
        .len()
        .checked_sub(TIMES_LEN)
        .and_then(|at| engine_key.get(at..))
        .ok_or_else(|| corrupt(format!("a history key of {} bytes", engine_key.len())))?;
    let (valid_to, valid_from) = times.split_at(8);
    let time = |bytes: &[u8]| bytes.try_into().map(decode_time);
    let (Ok(valid_to), Ok(valid_from)) = (time(valid_to), time(valid_from)) else {
        return Err(corrupt("a history key without its two timestamps".into()));
    };
    let value = match value.first() {
        Some(&VALUE_FLAG) => {
            value.remove(0);
            Some(value)
        }
        Some(&TOMBSTONE_FLAG) => None,
        _ => return Err(corrupt("a history value without its flag".into())),
    };
    Ok(Version {
        valid_from,
        valid_to,
        value,
    })
}

/// `key`'s history row with the smallest `(valid_to, valid_from)` such that `valid_to > after`,
/// looking in segments up to that of `newest` (no row ends after the store's stream time).
///
/// Rows of one key never overlap, so this is the row covering `after` if there is one, else
/// the first row after it: what a lookup as of `after` reads, and what a put at `after`
/// splits or ends before.
pub(super) fn next_row(
    store: &str,
    engine: &dyn ReadOnlyKeyValueStore,
    geometry: Geometry,
    key: &[u8],
    after: i64,
    newest: i64,
) -> Result<Option<(Vec<u8>, Version)>> {
    let Some(from) = after.checked_add(1) else {
        return Ok(None);
    };
    for segment in geometry.segment_of(from)..=geometry.segment_of(newest) {
        let prefix = geometry.prefix(segment, key);
        let mut lo = prefix.clone();
        lo.extend_from_slice(&encode_time(from));
        let mut hi = prefix;
        hi.extend_from_slice(&[0xFF; TIMES_LEN]);
        if let Some(entry) = engine.range(Some(&lo), Some(&hi))?.next() {
            let (engine_key, value) = entry?;
            let version = decode_row(store, &engine_key, value)?;
            return Ok(Some((engine_key, version)));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sort_by_valid_to_then_valid_from_and_keys_stay_apart() {
        let g = Geometry { interval: 1_000 };
        let a = g.row_key(b"a", 500, 100);
        let open = g.row_key(b"a", 500, 500);
        let later = g.row_key(b"a", 700, 500);
        assert!(a < open && open < later);
        // "a" and a longer key starting with "a" never interleave.
        let longer = g.row_key(b"a\x80\x00\x00\x00\x00\x00\x00\x00", 600, 0);
        assert!(!(a < longer && longer < later));
        assert_eq!(g.segment_of(-5), 0);
        assert_eq!(g.segment_of(2_500), 2);
        assert!(latest_key(b"") > g.row_key(&[0xFF; 64], i64::MAX, i64::MAX));
    }

    #[test]
    fn rows_round_trip_and_corrupt_ones_are_named() -> Result<()> {
        let g = Geometry { interval: 10 };
        let key = g.row_key(b"k", 42, 7);
        let row = decode_row("s", &key, encode_row(Some(b"v")))?;
        assert_eq!(
            row,
            Version {
                valid_from: 7,
                valid_to: 42,
                value: Some(b"v".to_vec())
            }
        );
        assert!(row.covers(7) && row.covers(41) && !row.covers(42) && !row.covers(6));
        assert_eq!(decode_row("s", &key, encode_row(None))?.value, None);
        let bad = decode_row("s", &key, Vec::new());
        assert!(matches!(bad, Err(Error::Corrupt { .. })));
        assert!(decode_row("s", b"short", vec![1]).is_err());
        assert!(decode_latest("s", b"1234567").is_err());
        Ok(())
    }
}
