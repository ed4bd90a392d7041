//! Every decoder that reads bytes from outside the process, by name: the random-input tests
//! (`tests/random_input.rs`) and the coverage-guided fuzz targets (`fuzz/`, cargo-fuzz) drive
//! them with hostile bytes. Feature `fuzzing`, off by default; hidden from the docs and not
//! part of the API: names and signatures change without notice.
//!
//! A decoder must return (accepting or refusing the bytes), never panic, and never allocate
//! more than a bounded multiple of what it was given. What it accepts must survive a round
//! trip: [`round_trip`] encodes a decoded value again and checks that it reads back the same.
//! [`registry`] and `http` (feature `worker`) reach the crate-private parsers of the instance
//! registry's records and of the HTTP store routes' parameters.

use std::collections::BTreeMap;
use std::fmt::Debug;

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

/// Decodes `input` with `serde`; if it is accepted, encodes the value again and decodes that:
/// `Ok(accepted)`, or `Err` saying how the value changed on the way.
fn serde_round_trip<T: PartialEq + Debug + 'static>(
    serde: &dyn Serde<T>,
    input: &[u8],
) -> Result<bool, String> {
    let Ok(value) = serde.deserialize(input) else {
        return Ok(false);
    };
    let mut bytes = Vec::new();
    serde
        .serialize(&value, &mut bytes)
        .map_err(|e| format!("{value:?} was decoded but does not encode: {e}"))?;
    match serde.deserialize(&bytes) {
        Ok(again) if again == value => Ok(true),
        Ok(again) => Err(format!(
            "{value:?} encoded as {bytes:02x?} reads back as {again:?}"
        )),
        Err(e) => Err(format!(
            "{value:?} encoded as {bytes:02x?} does not read back: {e}"
        )),
    }
}

/// Parses text with `parse`; if it is accepted, prints the value with `print` and parses that:
/// `Ok(accepted)`, or `Err` saying how the value changed.
fn text_round_trip<T: PartialEq + Debug, E>(
    input: &[u8],
    parse: impl Fn(&[u8]) -> Result<T, E>,
    print: impl Fn(&T) -> String,
) -> Result<bool, String> {
    let Ok(value) = parse(input) else {
        return Ok(false);
    };
    let text = print(&value);
    match parse(text.as_bytes()) {
        Ok(again) if again == value => Ok(true),
        Ok(again) => Err(format!(
            "{value:?} printed as {text:?} reads back as {again:?}"
        )),
        Err(_) => Err(format!("{value:?} printed as {text:?} does not read back")),
    }
}

/// Runs decoder `target` (one of [`TARGETS`]) on `input` as [`decode`] does and, when it
/// accepts the bytes, checks the round trip: the value encoded (or printed) again decodes to
/// the same value. `None` for an unknown target, `Some(Ok(accepted))`, or `Some(Err(why))`
/// when a value does not survive its own encoding.
pub fn round_trip(target: &str, input: &[u8]) -> Option<Result<bool, String>> {
    use crate::dsl::ops::fk_join::{ResponseSerde, SubscriptionSerde};
    use crate::runtime::HostInfo;

    fn utf8<T: std::str::FromStr>(bytes: &[u8]) -> Result<T, ()> {
        std::str::from_utf8(bytes)
            .map_err(|_| ())
            .and_then(|s| s.parse().map_err(|_| ()))
    }

    Some(match target {
        "serde-string" => serde_round_trip(&*Serdes::string(), input),
        "serde-bytes" => serde_round_trip(&*Serdes::bytes(), input),
        "serde-u64" => serde_round_trip(&*Serdes::u64(), input),
        "serde-i64" => serde_round_trip(&*Serdes::i64(), input),
        "serde-nullable-string" => {
            let serde = Serdes::nullable(Serdes::string());
            match decode_field(&*serde, None) {
                Ok(None) => serde_round_trip(&*serde, input),
                other => Err(format!("null reads as {other:?}")),
            }
        }
        "serde-bincode" => serde_round_trip(&*Serdes::bincode::<FuzzRecord>(), input),
        "serde-json" => serde_round_trip(&*Serdes::json::<FuzzRecord>(), input),
        "serde-windowed-time" => serde_round_trip(
            &WindowedSerde::time(
                Serdes::bincode::<String>(),
                std::time::Duration::from_millis(i64::MAX as u64),
            ),
            input,
        ),
        "serde-windowed-session" => {
            serde_round_trip(&WindowedSerde::session(Serdes::string()), input)
        }
        "serde-change" => serde_round_trip(&ChangeSerde::new(Serdes::bincode::<String>()), input),
        "serde-timestamped" => serde_round_trip(&TimestampedSerde::new(Serdes::string()), input),
        "fk-subscription" => serde_round_trip(&SubscriptionSerde, input),
        "fk-response" => serde_round_trip(
            &ResponseSerde {
                inner: Serdes::bincode::<Vec<String>>(),
            },
            input,
        ),
        "registry-announcement" => registry::announcement_round_trip(input),
        "application-server" => text_round_trip(input, utf8::<HostInfo>, ToString::to_string),
        "task-id" => text_round_trip(input, utf8::<crate::TaskId>, ToString::to_string),
        "checkpoint" => text_round_trip(
            input,
            streams_state::Checkpoint::parse_bytes,
            streams_state::fuzzing::render_checkpoint,
        ),
        "window-store-entry" | "session-store-entry" => Ok(decode(target, input)?),
        "timestamped-store-value" => match streams_state::split_timestamped(input) {
            None => Ok(false),
            Some((ts, value)) => {
                let mut again = Vec::new();
                streams_state::push_timestamp(&mut again, ts);
                again.extend_from_slice(value);
                if again == input {
                    Ok(true)
                } else {
                    Err(format!("({ts}, {value:02x?}) encodes as {again:02x?}"))
                }
            }
        },
        _ => return None,
    })
}

/// The instance registry (`<application.id>-instances`): its records as the runtime applies
/// them, and what it derives from them (live instances, query metadata, standby placement).
pub mod registry {
    use std::collections::{BTreeMap, BTreeSet};
    use std::time::Duration;

    use crate::TaskId;
    use crate::runtime::{
        Member, apply_record, decode_announcement, live_members, members_metadata, place_standbys,
    };

    /// One record read from the registry topic.
    #[derive(Debug, Clone, Default)]
    pub struct Record {
        /// The record key (the announcing instance's process id).
        pub key: Option<Vec<u8>>,
        /// The payload (an announcement, or `None`: a tombstone).
        pub payload: Option<Vec<u8>>,
        /// The record timestamp (ms), if it has one.
        pub timestamp_ms: Option<i64>,
    }

    /// Decodes an announcement and, if it is one, writes what was understood of it as an
    /// announcement again (as the runtime writes its own): it must read back the same.
    pub(super) fn announcement_round_trip(payload: &[u8]) -> Result<bool, String> {
        let Some(member) = decode_announcement(payload) else {
            return Ok(false);
        };
        let again = serde_json::json!({
            "active": member.active.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "standby": member.standby.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "server": member.server.as_ref().map(ToString::to_string),
        })
        .to_string();
        match decode_announcement(again.as_bytes()) {
            Some(m)
                if m.active == member.active
                    && m.standby == member.standby
                    && m.server == member.server =>
            {
                Ok(true)
            }
            Some(m) => Err(format!("{member:?} written as {again} reads back as {m:?}")),
            None => Err(format!("{member:?} written as {again} does not read back")),
        }
    }

    /// Applies `records` in order as an instance `me` reading the registry does, then asks who
    /// is live at `now_ms` within `ttl`, the query metadata, and a placement of `replicas`
    /// standbys of every task announced. `Err` if an answer breaks its contract: `me` always
    /// live; only instances with an `application.server` in the metadata; each task given
    /// `replicas` standbys (as many as there are other instances), never on its active owner.
    pub fn apply(
        records: &[Record],
        me: &str,
        now_ms: i64,
        ttl: Duration,
        replicas: usize,
    ) -> Result<(), String> {
        let mut members: BTreeMap<String, Member> = BTreeMap::new();
        for r in records {
            apply_record(
                &mut members,
                r.key.as_deref(),
                r.payload.as_deref(),
                r.timestamp_ms,
            );
        }
        let live = live_members(&members, me, now_ms, ttl);
        if !live.contains_key(me) {
            return Err(format!("{me} is not live in {live:?}"));
        }
        let metadata = members_metadata(&members, now_ms, ttl);
        let servers = members.values().filter(|m| m.server.is_some()).count();
        if metadata.len() > servers {
            return Err(format!(
                "{} instances in the metadata, {servers} with a server",
                metadata.len()
            ));
        }
        let tasks: BTreeSet<TaskId> = live.values().flatten().copied().collect();
        let placed = place_standbys(&tasks, &live, replicas);
        let n = live.len();
        let ring: Vec<&String> = live.keys().collect();
        for task in &tasks {
            let owner = ring.iter().find(|id| live[**id].contains(task));
            let holders: Vec<&String> = placed
                .iter()
                .filter(|(_, s)| s.contains(task))
                .map(|(id, _)| id)
                .collect();
            if let Some(owner) = owner
                && holders.contains(owner)
            {
                return Err(format!("{task}: a standby on its owner {owner}"));
            }
            let others = if owner.is_some() { n - 1 } else { n };
            let wanted = if n < 2 { 0 } else { replicas.min(others) };
            if holders.len() != wanted {
                return Err(format!(
                    "{task}: {} standbys for {replicas} replicas over {n} instances",
                    holders.len()
                ));
            }
        }
        Ok(())
    }
}

/// The HTTP store routes' parameters (feature `worker`): the query string and the key segment,
/// parsed as the routes parse them.
#[cfg(feature = "worker")]
pub mod http {
    use serde::de::DeserializeOwned;

    use crate::worker::http::{Params, from_hex, parse_key as route_key, to_hex};

    /// What the store routes read from a query string; each `Err` is a 400 answer's message.
    #[derive(Debug)]
    pub struct StoreQuery {
        /// The parameters, as axum's `Query` extracts them (`Err`: the whole query refused).
        pub params: Result<String, String>,
        /// A versioned key query's `as_of`.
        pub as_of: Result<Option<i64>, String>,
        /// A window fetch's `[from, to]`.
        pub window: Result<(i64, i64), String>,
        /// A scan's page size and cursor.
        pub page: Result<(usize, Option<Vec<u8>>), String>,
    }

    /// Parses `query` (what follows `?` in a request's URI) as the store routes do. `None`
    /// when it is not the query of a URI (no request carries it).
    pub fn parse_query(query: &str) -> Option<StoreQuery> {
        let uri: axum::http::Uri = format!("/stores/s/keys/k?{query}").parse().ok()?;
        Some(match axum::extract::Query::<Params>::try_from_uri(&uri) {
            Ok(axum::extract::Query(params)) => StoreQuery {
                params: Ok(format!("{params:?}")),
                as_of: params.as_of().map_err(|e| e.message),
                window: params.window_range().map_err(|e| e.message),
                page: params.page().map_err(|e| e.message),
            },
            Err(e) => StoreQuery {
                params: Err(e.body_text()),
                as_of: Err(e.body_text()),
                window: Err(e.body_text()),
                page: Err(e.body_text()),
            },
        })
    }

    /// Parses a key URL segment as the store routes do: JSON, else a plain string.
    pub fn parse_key<K: DeserializeOwned>(raw: &str) -> Result<K, String> {
        route_key::<K>(raw).map_err(|e| e.message)
    }

    /// A scan cursor (`after=`) as the routes print it.
    pub fn cursor(bytes: &[u8]) -> String {
        to_hex(bytes)
    }

    /// A scan cursor read back (`None`: not a cursor).
    pub fn read_cursor(text: &str) -> Option<Vec<u8>> {
        from_hex(text)
    }
}
