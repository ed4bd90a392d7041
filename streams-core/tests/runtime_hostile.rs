//! Hostile state and configuration on the embedded broker: corrupted store files found while
//! running, a thread that fails on every start, sink topics that will never exist, and nulls
//! through a store's changelog and restoration.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{TableReader, app_config, init_tracing, merge, produce, produce_keyed, wait_for};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::error::UncaughtErrorResponse;
use streams_core::processor::{Processor, ProcessorContext, Record};
use streams_core::serde::Serdes;
use streams_core::state::StoreBuilder;
use streams_core::{Error, KafkaStreams, State, Topology};

const TIMEOUT: Duration = Duration::from_secs(60);

fn count_topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("event-counts");
    builder.build().expect("topology")
}

fn counter(registry: &prometheus::Registry, name: &str) -> f64 {
    common::metric_sum(registry, name, &[])
}

fn sst_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(sst_files(&path));
        } else if path.extension().is_some_and(|e| e == "sst") {
            out.push(path);
        }
    }
    out
}

#[test]
fn a_store_found_corrupt_while_running_is_rebuilt_from_its_changelog() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("events", 2).expect("input");
    broker.create_topic("event-counts", 2).expect("output");
    let state = tempfile::tempdir().expect("tempdir");
    let registry = prometheus::Registry::new();
    let mut config = app_config(&broker, "corrupt-sst", state.path());
    config.set_metrics_registry(registry.clone());

    let mut expected = produce_keyed(&broker, "events", 0, 2_000, 40);
    let mut first = KafkaStreams::new(count_topology(), &config).expect("streams");
    first.start().expect("start");
    let mut reader = TableReader::new(&broker, "event-counts");
    assert_eq!(reader.read_until(&expected, TIMEOUT), expected);
    first
        .close()
        .expect("clean close: stores flushed to SST files");
    drop(first);

    // One flipped bit inside the first data block of every SST: RocksDB opens the files (it
    // checks only their footers and indexes) and finds the checksum mismatch on first read.
    let files = sst_files(&state.path().join("corrupt-sst"));
    assert!(!files.is_empty(), "no SST files to corrupt");
    for file in &files {
        let mut bytes = std::fs::read(file).expect("read sst");
        bytes[16] ^= 0x01;
        std::fs::write(file, bytes).expect("write sst");
    }

    let registry = prometheus::Registry::new();
    config.set_metrics_registry(registry.clone());
    let mut second = KafkaStreams::new(count_topology(), &config).expect("streams");
    second.start().expect("start");
    merge(
        &mut expected,
        produce_keyed(&broker, "events", 2_000, 2_000, 40),
    );
    assert_eq!(
        reader.read_until(&expected, TIMEOUT),
        expected,
        "counts continue exactly from the changelog"
    );
    assert!(counter(&registry, "streams_stream_thread_tasks_corrupted_total") >= 1.0);
    wait_for("the rebuilt store", TIMEOUT, || {
        second
            .key_value_store::<String, u64>("counts")
            .and_then(|s| s.all())
            .is_ok_and(|all| all.into_iter().collect::<BTreeMap<_, _>>() == expected)
    });
    assert_eq!(second.state(), State::Running, "no Error state");
    second.close().expect("clean close");
}

/// Fails on every record: a poison input that no restart fixes.
struct AlwaysFails;

impl Processor for AlwaysFails {
    type KeyIn = String;
    type ValueIn = String;
    type KeyOut = String;
    type ValueOut = String;

    fn process(
        &mut self,
        _ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> streams_core::processor::ProcessResult {
        // The processor's own error: the runtime names the node.
        Err(format!("cannot take {}", record.value).into())
    }
}

#[test]
fn thread_replacement_backs_off_and_gives_up_after_its_cap() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("poison", 1).expect("input");
    produce(
        &broker,
        "poison",
        &[(Some(b"k".to_vec()), Some(b"v".to_vec()))],
    );
    let state = tempfile::tempdir().expect("tempdir");
    let registry = prometheus::Registry::new();
    let mut config = app_config(&broker, "replace-capped", state.path());
    config
        .set_metrics_registry(registry.clone())
        .set("replace.thread.backoff.ms", "20")
        .set("replace.thread.max.replacements", "2")
        .set("replace.thread.window.ms", "600000");
    let mut topology = Topology::new();
    topology
        .add_source("in", &["poison"], Serdes::string(), Serdes::string())
        .expect("source")
        .add_processor("always-fails", || AlwaysFails, &["in"])
        .expect("processor");
    let mut streams = KafkaStreams::new(topology, &config).expect("streams");
    let failures = Arc::new(AtomicUsize::new(0));
    let seen = failures.clone();
    streams
        .set_uncaught_error_handler(move |_| {
            seen.fetch_add(1, Ordering::SeqCst);
            UncaughtErrorResponse::ReplaceThread
        })
        .expect("handler");
    streams.start().expect("start");
    wait_for("the instance to give up", TIMEOUT, || {
        streams.state() == State::Error
    });
    assert_eq!(
        failures.load(Ordering::SeqCst),
        3,
        "two replacements, then the cap"
    );
    assert_eq!(
        counter(&registry, "streams_client_threads_replaced_total"),
        2.0
    );
    let err = streams.close().expect_err("the last failure");
    assert!(err.report().to_string().contains("cannot take v"), "{err}");
    assert!(err.to_string().contains("always-fails"), "{err}");
}

#[test]
fn a_sink_topic_that_will_never_exist_fails_the_start() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("events", 1).expect("input");
    let state = tempfile::tempdir().expect("tempdir");
    // As a broker with `auto.create.topics.enable=false`.
    broker.set_auto_create_topics(false);
    let config = app_config(&broker, "no-sink", state.path());
    let mut streams = KafkaStreams::new(count_topology(), &config).expect("streams");
    let err = streams.start().expect_err("missing sink topic");
    assert!(
        matches!(&err, Error::MissingSinkTopic { topic, .. } if topic == "event-counts"),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("auto.create.topics.enable"),
        "{err}"
    );

    broker.set_auto_create_topics(true);
    let mut config = app_config(&broker, "no-sink-producer", state.path());
    config.set("producer.allow.auto.create.topics", "false");
    let mut streams = KafkaStreams::new(count_topology(), &config).expect("streams");
    let err = streams
        .start()
        .expect_err("the producer will not create it");
    assert!(
        err.to_string().contains("allow.auto.create.topics"),
        "{err}"
    );

    // With the topic there, the same application starts.
    broker.create_topic("event-counts", 1).expect("output");
    broker.set_auto_create_topics(false);
    let config = app_config(&broker, "no-sink", state.path());
    let mut streams = KafkaStreams::new(count_topology(), &config).expect("streams");
    streams.start().expect("start");
    streams.close().expect("close");
}

#[test]
fn application_ids_that_would_leave_the_state_directory_are_refused() {
    let broker = EmbeddedBroker::start(1).expect("broker");
    let state = tempfile::tempdir().expect("tempdir");
    for bad in [".", "..", "../x", "a/b", ""] {
        let config = app_config(&broker, bad, state.path());
        let err = KafkaStreams::new(count_topology(), &config).expect_err("refused");
        assert!(
            matches!(&err, Error::Config { key, .. } if key == "application.id"),
            "{bad:?}: {err:?}"
        );
    }
    // An id whose internal topic names would pass Kafka's 249-character limit.
    let long = "a".repeat(240);
    let config = app_config(&broker, &long, state.path());
    let err = KafkaStreams::new(count_topology(), &config).expect_err("too long");
    assert!(err.to_string().contains("counts"), "{err}");
}

#[test]
fn a_static_member_id_kafka_would_refuse_is_a_config_error() {
    let broker = EmbeddedBroker::start(1).expect("broker");
    let state = tempfile::tempdir().expect("tempdir");
    for bad in ["", "pod 1", "a/b"] {
        let mut config = app_config(&broker, "static-ids", state.path());
        config.set("group.instance.id", bad);
        let err = KafkaStreams::new(count_topology(), &config).expect_err("refused");
        assert!(
            matches!(&err, Error::Config { key, .. } if key == "group.instance.id"),
            "{bad:?}: {err:?}"
        );
    }
    let mut config = app_config(&broker, "static-ids", state.path());
    config.set("group.instance.id", "pod-1");
    KafkaStreams::new(count_topology(), &config).expect("a valid id");
}

/// Keeps the last value of each key as `Option<u64>`: `None` for a value that is not a number.
struct Remember;

impl Processor for Remember {
    type KeyIn = String;
    type ValueIn = String;
    type KeyOut = String;
    type ValueOut = String;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> streams_core::processor::ProcessResult {
        let store = ctx.key_value_store::<String, Option<u64>>("remembered")?;
        Ok(store.put(&record.key, &record.value.parse::<u64>().ok())?)
    }
}

fn remembering() -> Topology {
    let mut topology = Topology::new();
    topology
        .add_source("in", &["values"], Serdes::string(), Serdes::string())
        .expect("source")
        .add_processor("remember", || Remember, &["in"])
        .expect("processor")
        .add_state_store(
            StoreBuilder::key_value(
                "remembered",
                Serdes::string(),
                Serdes::nullable(Serdes::u64()),
            )
            .with_caching_enabled(),
            &["remember"],
        )
        .expect("store");
    topology
}

#[test]
fn nulls_round_trip_through_a_changelog_and_restoration() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("values", 1).expect("input");
    let state = tempfile::tempdir().expect("tempdir");
    let config = app_config(&broker, "nullable-store", state.path());
    let kv = |k: &str, v: &str| (Some(k.as_bytes().to_vec()), Some(v.as_bytes().to_vec()));
    produce(
        &broker,
        "values",
        &[
            kv("a", "1"),
            kv("b", "2"),
            kv("a", "none"),
            kv("c", "none"),
            kv("b", "3"),
        ],
    );
    let expected: BTreeMap<String, Option<u64>> = [("b".to_string(), Some(3))].into();
    let contents = |streams: &KafkaStreams| {
        streams
            .key_value_store::<String, Option<u64>>("remembered")
            .and_then(|s| s.all())
            .map(|all| all.into_iter().collect::<BTreeMap<_, _>>())
    };
    let mut first = KafkaStreams::new(remembering(), &config).expect("streams");
    first.start().expect("start");
    wait_for("the store", TIMEOUT, || {
        contents(&first).is_ok_and(|c| c == expected)
    });
    first.close().expect("close");
    drop(first);

    std::fs::remove_dir_all(state.path().join("nullable-store")).expect("wipe state");
    let mut second = KafkaStreams::new(remembering(), &config).expect("streams");
    second.start().expect("start");
    second.wait_until_running(TIMEOUT).expect("running");
    wait_for("the restored store", TIMEOUT, || {
        contents(&second).is_ok_and(|c| c == expected)
    });
    let store = second
        .key_value_store::<String, Option<u64>>("remembered")
        .expect("store");
    assert_eq!(store.get(&"a".to_string()).expect("a"), None);
    assert_eq!(store.get(&"c".to_string()).expect("c"), None);
    second.close().expect("close");
}
