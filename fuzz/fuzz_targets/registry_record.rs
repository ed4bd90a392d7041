//! The instance registry (`<application.id>-instances`): records with arbitrary keys, payloads
//! and timestamps, applied as an instance reading the topic applies them, then who is live,
//! the query metadata and the standby placement derived from them (each answer checked against
//! its contract). Payloads are raw bytes or announcements built from the input (so that the
//! fuzzer reaches the task-id and `application.server` parsers quickly); each payload, task id
//! and server must also survive a round trip.

#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use streams_core::fuzzing::registry::{Record, apply};
use streams_core::fuzzing::round_trip;

#[derive(Debug, Arbitrary)]
enum Payload {
    Tombstone,
    Raw(Vec<u8>),
    Announcement {
        active: Vec<String>,
        standby: Vec<String>,
        server: Option<String>,
        extra_field: bool,
    },
}

#[derive(Debug, Arbitrary)]
struct Input {
    records: Vec<(Option<Vec<u8>>, Payload, Option<i64>)>,
    me: String,
    now_ms: i64,
    ttl_ms: u64,
    replicas: u8,
}

fn check(target: &str, bytes: &[u8]) {
    match round_trip(target, bytes) {
        Some(Ok(_)) => {}
        Some(Err(why)) => panic!("{target}: {why}"),
        None => panic!("unknown target {target}"),
    }
}

fuzz_target!(|input: Input| {
    let mut records = Vec::new();
    for (key, payload, timestamp_ms) in input.records {
        let payload = match payload {
            Payload::Tombstone => None,
            Payload::Raw(bytes) => Some(bytes),
            Payload::Announcement {
                active,
                standby,
                server,
                extra_field,
            } => {
                for task in active.iter().chain(&standby) {
                    check("task-id", task.as_bytes());
                }
                if let Some(server) = &server {
                    check("application-server", server.as_bytes());
                }
                let mut json = serde_json::json!({
                    "active": active,
                    "standby": standby,
                    "server": server,
                });
                if extra_field {
                    // A newer version's announcement: fields this one does not know.
                    json["rack"] = serde_json::json!("r1");
                }
                Some(json.to_string().into_bytes())
            }
        };
        if let Some(bytes) = &payload {
            check("registry-announcement", bytes);
        }
        records.push(Record {
            key,
            payload,
            timestamp_ms,
        });
    }
    let ttl = Duration::from_millis(input.ttl_ms);
    if let Err(why) = apply(
        &records,
        &input.me,
        input.now_ms,
        ttl,
        usize::from(input.replicas % 8),
    ) {
        panic!("registry: {why}");
    }
});
