//! Session store keys: the engine key (`segment(end) | key | end | start`) and changelog key
//! (`key | end | start`) codecs on arbitrary bytes and as a round trip, then a session store
//! over an in-memory engine driven by arbitrary operations: puts of any sessions, changelog
//! records with arbitrary keys (restoration), raw engine entries (a corrupt store), reopening,
//! and reads over any ranges.

#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use streams_state::fuzzing::{
    log_key_of, parse_session_log_key, session_engine_key, split_session_engine_key,
};
use streams_state::{
    CacheBudget, ChangelogRecord, InMemoryKeyValueStore, KeyValueStore, SessionStore, StateStore,
};

#[derive(Debug, Arbitrary)]
enum Op {
    Put {
        key: u8,
        start: i64,
        end: i64,
        value: Option<Vec<u8>>,
        record_time: Option<i64>,
    },
    Restore(Vec<(Vec<u8>, Option<Vec<u8>>, i64)>),
    /// An entry written straight into the engine, as a corrupt or foreign store holds it.
    Raw(Vec<u8>, Vec<u8>),
    Find {
        key: u8,
        earliest_end: i64,
        latest_start: i64,
    },
    FetchSession {
        key: u8,
        start: i64,
        end: i64,
    },
    EndingBetween {
        earliest_end: i64,
        latest_end: i64,
    },
    ReaderFind {
        key: u8,
        earliest_end: i64,
        latest_start: i64,
    },
    All,
    Flush,
    Discard,
    Reopen,
}

#[derive(Debug, Arbitrary)]
struct Input {
    raw: Vec<u8>,
    key: Vec<u8>,
    start: i64,
    end: i64,
    retention: i64,
    cache: Option<u16>,
    ops: Vec<Op>,
}

/// Record keys of a few bytes, so that operations meet on the same keys.
fn key(k: u8) -> Vec<u8> {
    vec![b'k'; usize::from(k % 4)]
}

/// A retention as the store builders give one: a `Duration` in ms, so `0..=i64::MAX`.
fn retention_ms(raw: i64) -> i64 {
    raw.unsigned_abs().min(i64::MAX as u64) as i64
}

fn codecs(input: &Input) {
    let retention = retention_ms(input.retention);
    // Arbitrary bytes as an engine key and as a changelog key.
    let split = split_session_engine_key(&input.raw);
    let entry = SessionStore::decode_engine_entry(&input.raw, Vec::new());
    assert_eq!(
        split.map(|(k, start, end)| (k.to_vec(), start, end)),
        entry.map(|e| (e.key, e.start, e.end)),
        "decode_engine_entry agrees with the key codec"
    );
    if let Ok((k, start, end)) = parse_session_log_key(&input.raw) {
        // Any changelog key of 16 bytes or more is `key | end | start`: written again, the
        // same bytes.
        let again = session_engine_key(retention, k, start, end);
        assert_eq!(log_key_of(&again), &input.raw[..]);
    } else {
        assert!(input.raw.len() < 16, "a long enough changelog key parses");
    }
    // Any key, start and end survive both keys.
    let engine_key = session_engine_key(retention, &input.key, input.start, input.end);
    assert_eq!(
        split_session_engine_key(&engine_key),
        Some((&input.key[..], input.start, input.end))
    );
    assert_eq!(
        parse_session_log_key(log_key_of(&engine_key)).ok(),
        Some((&input.key[..], input.start, input.end))
    );
}

fn store(input: &Input) {
    let engine = InMemoryKeyValueStore::new("fuzz-session");
    let retention = retention_ms(input.retention);
    let build = |engine: &InMemoryKeyValueStore, open: bool| {
        let boxed: Box<dyn KeyValueStore> = Box::new(engine.clone());
        let mut store = if open {
            SessionStore::open(boxed, retention).ok()?
        } else {
            SessionStore::new(boxed, retention)
        };
        if let Some(bytes) = input.cache {
            store = store.with_cache(CacheBudget::new(usize::from(bytes)));
        }
        Some(store)
    };
    let Some(mut store) = build(&engine, false) else {
        return;
    };
    for op in &input.ops {
        match op {
            Op::Put {
                key: k,
                start,
                end,
                value,
                record_time,
            } => {
                let _ = store.put_with_record_time(
                    &key(*k),
                    *start,
                    *end,
                    value.as_deref(),
                    *record_time,
                );
            }
            Op::Restore(records) => {
                let records: Vec<ChangelogRecord> = records
                    .iter()
                    .map(|(k, v, ts)| ChangelogRecord::new(k.clone(), v.clone(), *ts))
                    .collect();
                let _ = store.restore_batch(&records);
            }
            Op::Raw(k, v) => {
                let mut raw = engine.clone();
                let _ = raw.put(k, v);
            }
            Op::Find {
                key: k,
                earliest_end,
                latest_start,
            } => {
                if let Ok(found) = store.find_sessions(&key(*k), *earliest_end, *latest_start) {
                    assert!(
                        found
                            .iter()
                            .all(|s| s.end >= *earliest_end && s.start <= *latest_start)
                    );
                }
            }
            Op::FetchSession { key: k, start, end } => {
                let _ = store.fetch_session(&key(*k), *start, *end);
            }
            Op::EndingBetween {
                earliest_end,
                latest_end,
            } => {
                if let Ok(found) = store.sessions_ending_between(*earliest_end, *latest_end) {
                    assert!(
                        found
                            .iter()
                            .all(|s| *earliest_end <= s.end && s.end <= *latest_end)
                    );
                }
            }
            Op::ReaderFind {
                key: k,
                earliest_end,
                latest_start,
            } => {
                if let Some(reader) = store.reader() {
                    let _ = reader.find_sessions(&key(*k), *earliest_end, *latest_start);
                }
            }
            Op::All => {
                let _ = store.all();
            }
            Op::Flush => {
                let _ = store.flush_cache();
                let _ = StateStore::flush(&mut store);
            }
            Op::Discard => store.discard_cache(),
            Op::Reopen => {
                let _ = StateStore::flush(&mut store);
                match build(&engine, true) {
                    Some(reopened) => store = reopened,
                    None => return,
                }
            }
        }
    }
}

fuzz_target!(|input: Input| {
    codecs(&input);
    store(&input);
});
