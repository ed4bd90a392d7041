//! The HTTP store routes' parameters: a query string (`stale`, `local`, `from`, `to`, `limit`,
//! `after`, `as_of`) parsed as the routes parse it, a key URL segment parsed into several key
//! types, and the parsed times and cursor taken on to the store reads they drive: a window
//! fetch, a versioned `as_of` read and a session fetch over in-memory stores holding entries
//! at times from the input. Every refusal must be an error (a 400), never a panic.

#![no_main]

use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use streams_core::fuzzing::http::{cursor, parse_key, parse_query, read_cursor};
use streams_state::{InMemoryKeyValueStore, SessionStore, VersionedStore, WindowStore};

#[derive(Debug, Arbitrary)]
struct Input {
    query: String,
    key: String,
    /// Times of the entries the stores hold.
    times: Vec<i64>,
    retention: i64,
}

/// A structured key type, as a store of JSON keys has.
#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct CardKey {
    id: u64,
    region: Option<String>,
    tags: Vec<String>,
    nested: BTreeMap<String, (i32, bool)>,
}

fn retention_ms(raw: i64) -> i64 {
    raw.unsigned_abs().min(i64::MAX as u64) as i64
}

fuzz_target!(|input: Input| {
    // A plain string is always a key of a string store (JSON first, else the text itself).
    let key = match parse_key::<String>(&input.key) {
        Ok(key) => key,
        Err(e) => panic!("{:?} is refused as a string key: {e}", input.key),
    };
    let _ = parse_key::<u64>(&input.key);
    let _ = parse_key::<i64>(&input.key);
    let _ = parse_key::<f64>(&input.key);
    let _ = parse_key::<Vec<String>>(&input.key);
    let _ = parse_key::<(u32, String)>(&input.key);
    let _ = parse_key::<Option<bool>>(&input.key);
    let _ = parse_key::<CardKey>(&input.key);
    let _ = parse_key::<serde_json::Value>(&input.key);

    let Some(query) = parse_query(&input.query) else {
        return;
    };
    if let Ok((limit, after)) = &query.page {
        assert!((1..=10_000).contains(limit), "page size {limit}");
        if let Some(after) = after {
            assert_eq!(read_cursor(&cursor(after)).as_ref(), Some(after));
        }
    }
    let _ = read_cursor(&input.query);

    let retention = retention_ms(input.retention);
    let bytes = key.as_bytes();
    if let Ok((from, to)) = query.window {
        let mut windows =
            WindowStore::new(Box::new(InMemoryKeyValueStore::new("w")), retention, false);
        for &t in input.times.iter().take(16) {
            let _ = windows.put(bytes, Some(b"v"), t);
        }
        if let Some(reader) = windows.reader()
            && let Ok(found) = reader.fetch(bytes, from, to)
        {
            assert!(found.iter().all(|(s, _)| from <= *s && *s <= to));
        }
        let _ = windows.fetch(bytes, from, to);
    }
    if let Ok(as_of) = query.as_of {
        let segment_interval = streams_state::default_segment_interval(retention);
        if let Ok(mut versions) = VersionedStore::open(
            Box::new(InMemoryKeyValueStore::new("v")),
            retention,
            segment_interval,
        ) {
            for (i, &t) in input.times.iter().take(16).enumerate() {
                let value = (i % 3 != 2).then_some(b"v".as_slice());
                let _ = versions.put(bytes, value, t);
            }
            let found = match as_of {
                Some(at) => versions.get_as_of(bytes, at),
                None => versions.get(bytes),
            };
            if let (Some(at), Ok(Some(record))) = (as_of, found) {
                assert!(record.timestamp <= at, "a version from after `as_of`");
            }
            if let Some(reader) = versions.reader() {
                let _ = reader.get_as_of(bytes, as_of.unwrap_or(i64::MAX));
            }
        }
    }
    // The sessions route reads every session of the key.
    let mut sessions = SessionStore::new(Box::new(InMemoryKeyValueStore::new("s")), retention);
    for pair in input.times.chunks(2).take(8) {
        let (start, end) = (pair[0], *pair.get(1).unwrap_or(&pair[0]));
        let _ = sessions.put(bytes, start.min(end), start.max(end), Some(b"v"));
    }
    if let Some(reader) = sessions.reader() {
        let _ = reader.find_sessions(bytes, i64::MIN, i64::MAX);
    }
});
