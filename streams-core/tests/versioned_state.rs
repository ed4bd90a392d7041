//! `#[derive(Versioned)]` across an upgrade: an application whose stored state was written by
//! version 1 of its struct restarts as version 2 on the same state directory and reads every
//! value from RocksDB; with the state directory gone, it reads them from the changelog version 1
//! wrote.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{app_config, init_tracing, produce_keyed, wait_for};
use serde::{Deserialize, Serialize};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::{Serdes, SharedSerde, Versioned};
use streams_core::{KafkaStreams, Topology};

const TIMEOUT: Duration = Duration::from_secs(60);

/// What the first release kept per key: how many records it saw.
#[derive(Debug, Clone, Serialize, Deserialize, Versioned)]
#[versioned(version = 1)]
struct StateV1 {
    seen: u64,
}

/// The second release keeps the last value too, in bincode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Versioned)]
#[versioned(version = 2, previous = StateV1, format = "bincode")]
struct StateV2 {
    seen: u64,
    last: Option<String>,
}

impl From<StateV1> for StateV2 {
    fn from(old: StateV1) -> Self {
        StateV2 {
            seen: old.seen,
            last: None,
        }
    }
}

fn topology<A: Versioned + Clone>(fold: fn(&String, String, A) -> A, init: fn() -> A) -> Topology {
    let builder = StreamsBuilder::new();
    let state: SharedSerde<A> = Serdes::versioned::<A>();
    builder
        .stream("events", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .aggregate(
            init,
            fold,
            Materialized::as_("state").with_value_serde(state),
        );
    builder.build().expect("topology")
}

fn v1() -> Topology {
    topology::<StateV1>(
        |_k, _v, s| StateV1 { seen: s.seen + 1 },
        || StateV1 { seen: 0 },
    )
}

fn v2() -> Topology {
    topology::<StateV2>(
        |_k, v, s| StateV2 {
            seen: s.seen + 1,
            last: Some(v),
        },
        || StateV2 {
            seen: 0,
            last: None,
        },
    )
}

fn store(streams: &KafkaStreams) -> BTreeMap<String, StateV2> {
    streams
        .key_value_store::<String, StateV2>("state")
        .and_then(|s| s.all())
        .map(|all| all.into_iter().collect())
        .unwrap_or_default()
}

fn upgraded(counts: &BTreeMap<String, u64>) -> BTreeMap<String, StateV2> {
    counts
        .iter()
        .map(|(k, n)| {
            (
                k.clone(),
                StateV2 {
                    seen: *n,
                    last: None,
                },
            )
        })
        .collect()
}

#[test]
fn version_2_reads_the_store_and_the_changelog_version_1_wrote() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("events", 2).expect("events");
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, "versioned-state", state.path());
    config.set("statestore.cache.max.bytes", "0");

    // Release 1 counts 300 records over 10 keys.
    let counts = produce_keyed(&broker, "events", 0, 300, 10);
    let mut first = KafkaStreams::new(v1(), &config).expect("release 1");
    first.start().expect("start");
    wait_for("release 1 to count every record", TIMEOUT, || {
        first
            .key_value_store::<String, StateV1>("state")
            .and_then(|s| s.all())
            .map(|all| all.iter().map(|(_, s)| s.seen).sum::<u64>() == 300)
            .unwrap_or(false)
    });
    first.close().expect("close release 1");
    drop(first);

    // Release 2 on the same state directory reads RocksDB's version-1 values, upgraded.
    let mut second = KafkaStreams::new(v2(), &config).expect("release 2");
    second.start().expect("start");
    second.wait_until_running(TIMEOUT).expect("running");
    let from_rocksdb = upgraded(&counts);
    wait_for("every value, from RocksDB", TIMEOUT, || {
        store(&second) == from_rocksdb
    });
    // And goes on from them, writing version 2.
    produce_keyed(&broker, "events", 300, 10, 10);
    wait_for("release 2 to count on", TIMEOUT, || {
        store(&second).values().all(|s| s.last.is_some())
    });
    let after: BTreeMap<String, u64> = store(&second)
        .into_iter()
        .map(|(k, s)| (k, s.seen))
        .collect();
    let mut expected = counts.clone();
    for n in expected.values_mut() {
        *n += 1;
    }
    assert_eq!(after, expected);
    second.close().expect("close release 2");
    drop(second);

    // Without its state directory, release 2 restores from the changelog, which holds both
    // versions' records.
    std::fs::remove_dir_all(state.path().join("versioned-state")).expect("remove state dir");
    let mut third = KafkaStreams::new(v2(), &config).expect("release 2 again");
    third.start().expect("start");
    third.wait_until_running(TIMEOUT).expect("running");
    let seen = |streams: &KafkaStreams| -> BTreeMap<String, u64> {
        store(streams)
            .into_iter()
            .map(|(k, s)| (k, s.seen))
            .collect()
    };
    wait_for("every value, from the changelog", TIMEOUT, || {
        seen(&third) == expected
    });
    third.close().expect("close");
}

#[test]
fn a_changelog_of_version_1_alone_restores_into_version_2() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("events", 2).expect("events");
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, "versioned-changelog", state.path());
    config.set("statestore.cache.max.bytes", "0");
    let counts = produce_keyed(&broker, "events", 0, 200, 8);
    let mut first = KafkaStreams::new(v1(), &config).expect("release 1");
    first.start().expect("start");
    wait_for("release 1 to count every record", TIMEOUT, || {
        first
            .key_value_store::<String, StateV1>("state")
            .and_then(|s| s.all())
            .map(|all| all.iter().map(|(_, s)| s.seen).sum::<u64>() == 200)
            .unwrap_or(false)
    });
    first.close().expect("close release 1");
    drop(first);
    std::fs::remove_dir_all(state.path().join("versioned-changelog")).expect("remove state dir");

    let mut second = KafkaStreams::new(v2(), &config).expect("release 2");
    second.start().expect("start");
    second.wait_until_running(TIMEOUT).expect("running");
    let from_changelog = upgraded(&counts);
    wait_for("every value, from the changelog", TIMEOUT, || {
        store(&second) == from_changelog
    });
    second.close().expect("close");
}
