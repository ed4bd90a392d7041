//! Every decoder that reads bytes from outside the process, by name: the random-input tests
//! and fuzz targets drive them with hostile bytes. Not a stable API.
//!
//! A decoder must return (accepting or refusing the bytes), never panic, and never allocate
//! more than a bounded multiple of what it was given.

use std::collections::BTreeMap;

use crate::dsl::{Change, WindowedSerde};
use crate::serde::{ChangeSerde, Serde, Serdes, TimestampedSerde, decode as decode_field};

/// A record type exercising every shape bincode and JSON decode: strings, byte buffers,
/// sequences, maps, enums, options, nesting and wide integers.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FuzzRecord {
    /// A string.
    pub account: String,
    /// A signed integer.
    pub cents: i64,
    /// A sequence of strings.
    pub tags: Vec<String>,
    /// A map.
    pub meta: BTreeMap<String, u64>,
    /// An enum with data.
    pub kind: FuzzKind,
    /// Raw bytes.
    pub blob: Vec<u8>,
    /// A wide integer.
    pub wide: u128,
    /// Nesting.
    pub next: Option<Box<FuzzRecord>>,
}

/// The enum inside [`FuzzRecord`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum FuzzKind {
    /// A unit variant.
    Card,
    /// A tuple variant.
    Transfer(String, u32),
    /// A struct variant.
    Refund {
        /// A field.
        of: Vec<u64>,
    },
}

impl FuzzRecord {
    fn sample(depth: u32) -> Self {
        FuzzRecord {
            account: "acct-1".into(),
            cents: -12_345,
            tags: vec!["a".into(), "bb".into(), String::new()],
            meta: [("k".to_string(), 7u64), ("long-key".to_string(), u64::MAX)].into(),
            kind: match depth % 3 {
                0 => FuzzKind::Card,
                1 => FuzzKind::Transfer("to".into(), 9),
                _ => FuzzKind::Refund {
                    of: vec![1, 300, 70_000],
                },
            },
            blob: vec![0, 1, 2, 255],
            wide: u128::MAX - u128::from(depth),
            next: (depth > 0).then(|| Box::new(FuzzRecord::sample(depth - 1))),
        }
    }
}

/// The names of the decoders.
pub const TARGETS: &[&str] = &[
    "serde-string",
    "serde-bytes",
    "serde-u64",
    "serde-i64",
    "serde-nullable-string",
    "serde-bincode",
    "serde-json",
    "serde-windowed-time",
    "serde-windowed-session",
    "serde-change",
    "serde-timestamped",
    "fk-subscription",
    "fk-response",
    "registry-announcement",
    "application-server",
    "task-id",
    "checkpoint",
    "window-store-entry",
    "session-store-entry",
    "timestamped-store-value",
];

/// Runs decoder `target` on `input`: `Some(true)` if it accepted the bytes, `Some(false)` if
/// it refused them, `None` for an unknown target.
pub fn decode(target: &str, input: &[u8]) -> Option<bool> {
    fn ok<T, E>(r: Result<T, E>) -> bool {
        r.is_ok()
    }
    Some(match target {
        "serde-string" => ok(Serdes::string().deserialize(input)),
        "serde-bytes" => ok(Serdes::bytes().deserialize(input)),
        "serde-u64" => ok(Serdes::u64().deserialize(input)),
        "serde-i64" => ok(Serdes::i64().deserialize(input)),
        "serde-nullable-string" => {
            let serde = Serdes::nullable(Serdes::string());
            ok(decode_field(&*serde, Some(input))) & ok(decode_field(&*serde, None))
        }
        "serde-bincode" => ok(Serdes::bincode::<FuzzRecord>().deserialize(input)),
        "serde-json" => ok(Serdes::json::<FuzzRecord>().deserialize(input)),
        "serde-windowed-time" => ok(WindowedSerde::time(
            Serdes::bincode::<String>(),
            std::time::Duration::from_millis(i64::MAX as u64),
        )
        .deserialize(input)),
        "serde-windowed-session" => ok(WindowedSerde::session(Serdes::string()).deserialize(input)),
        "serde-change" => ok(ChangeSerde::new(Serdes::bincode::<String>()).deserialize(input)),
        "serde-timestamped" => ok(TimestampedSerde::new(Serdes::string()).deserialize(input)),
        "fk-subscription" => ok(crate::dsl::ops::fk_join::SubscriptionSerde.deserialize(input)),
        "fk-response" => ok(crate::dsl::ops::fk_join::ResponseSerde {
            inner: Serdes::bincode::<Vec<String>>(),
        }
        .deserialize(input)),
        "registry-announcement" => crate::runtime::decode_announcement(input).is_some(),
        "application-server" => {
            ok(std::str::from_utf8(input).map(str::parse::<crate::runtime::HostInfo>))
        }
        "task-id" => std::str::from_utf8(input).is_ok_and(|s| s.parse::<crate::TaskId>().is_ok()),
        "checkpoint" => ok(streams_state::Checkpoint::parse_bytes(input)),
        "window-store-entry" | "session-store-entry" => {
            // An engine entry: the key and value split at a position taken from the input.
            let split = input
                .first()
                .map_or(0, |b| usize::from(*b))
                .min(input.len());
            let (key, value) = input.split_at(split);
            if target == "window-store-entry" {
                streams_state::WindowStore::decode_engine_entry(key, value.to_vec()).is_some()
            } else {
                streams_state::SessionStore::decode_engine_entry(key, value.to_vec()).is_some()
            }
        }
        "timestamped-store-value" => streams_state::split_timestamped(input).is_some(),
        _ => return None,
    })
}

/// Valid encodings for `target`, for mutation-based inputs.
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    fn enc<T: 'static>(serde: &dyn Serde<T>, value: &T) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding a well-formed sample does not fail; an empty seed is harmless if it did.
        let _ = serde.serialize(value, &mut out);
        out
    }
    match target {
        "serde-string" | "serde-nullable-string" => {
            vec![
                b"hello".to_vec(),
                "héllo wörld".as_bytes().to_vec(),
                Vec::new(),
            ]
        }
        "serde-bytes" => vec![vec![0, 1, 2]],
        "serde-u64" | "serde-i64" => vec![42u64.to_be_bytes().to_vec()],
        "serde-bincode" => (0..4)
            .map(|d| enc(&*Serdes::bincode::<FuzzRecord>(), &FuzzRecord::sample(d)))
            .collect(),
        "serde-json" => (0..3)
            .map(|d| enc(&*Serdes::json::<FuzzRecord>(), &FuzzRecord::sample(d)))
            .collect(),
        "serde-windowed-time" => {
            let mut key = enc(&*Serdes::bincode::<String>(), &"key".to_string());
            key.extend_from_slice(&100i64.to_be_bytes());
            vec![key]
        }
        "serde-windowed-session" => {
            let mut key = b"key".to_vec();
            key.extend_from_slice(&100i64.to_be_bytes());
            key.extend_from_slice(&50i64.to_be_bytes());
            vec![key]
        }
        "serde-change" => {
            let serde = ChangeSerde::new(Serdes::bincode::<String>());
            vec![
                enc(
                    &serde,
                    &Change {
                        new: Some("n".to_string()),
                        old: None,
                    },
                ),
                enc(
                    &serde,
                    &Change {
                        new: Some("new".to_string()),
                        old: Some("o".to_string()),
                    },
                ),
            ]
        }
        "serde-timestamped" => vec![enc(
            &TimestampedSerde::new(Serdes::string()),
            &("v".to_string(), 1_700_000_000_000),
        )],
        "fk-subscription" => {
            let mut s = vec![2, 1];
            s.extend_from_slice(&7u64.to_be_bytes());
            s.extend_from_slice(&3i32.to_be_bytes());
            s.extend_from_slice(b"pk");
            vec![s]
        }
        "fk-response" => {
            let mut s = vec![1];
            s.extend_from_slice(&7u64.to_be_bytes());
            s.extend_from_slice(&3i32.to_be_bytes());
            s.push(1);
            s.extend(enc(
                &*Serdes::bincode::<Vec<String>>(),
                &vec!["x".to_string()],
            ));
            vec![s]
        }
        "registry-announcement" => {
            vec![br#"{"active":["0_1","1_0"],"standby":["0_2"],"server":"host:8080"}"#.to_vec()]
        }
        "application-server" => vec![b"localhost:8080".to_vec(), b"[::1]:9".to_vec()],
        "task-id" => vec![b"1_3".to_vec()],
        "checkpoint" => vec![b"0\n2\napp-store-changelog 0 41\napp-store-changelog 1 7\n".to_vec()],
        "window-store-entry" | "session-store-entry" => {
            let mut entry = vec![24u8];
            entry.extend_from_slice(&0i64.to_be_bytes());
            entry.extend_from_slice(b"key");
            entry.extend_from_slice(&5i64.to_be_bytes());
            entry.extend_from_slice(&5i64.to_be_bytes());
            entry.extend_from_slice(b"value");
            vec![entry]
        }
        "timestamped-store-value" => vec![[&7i64.to_be_bytes()[..], b"v"].concat()],
        _ => Vec::new(),
    }
}
