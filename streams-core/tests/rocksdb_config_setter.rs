//! `rocksdb.config.setter` and `rocksdb.block.cache.bytes`: the setter is called for every
//! RocksDB store an instance opens (task stores and global stores) with the store's name, the
//! options it returns are the ones the store opens with, and all the stores of an instance
//! share one block cache, which another instance does not.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{app_config, init_tracing, produce_keyed, wait_for};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::Serdes;
use streams_core::state::{BlockCache, RocksDbConfigSetter, RocksDbOptions};
use streams_core::testing::TopologyTestDriver;
use streams_core::{KafkaStreams, StreamsConfig, Topology};

const CACHE_BYTES: usize = 4 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(60);

/// Two key-value stores fed by `events` and a global store copied from `countries`.
fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    let events = builder.stream("events", Consumed::with(Serdes::string(), Serdes::string()));
    events
        .clone()
        .group_by_key()
        .count(Materialized::as_("counts"));
    events
        .group_by_key()
        .reduce(|_old: String, new: String| new, Materialized::as_("latest"));
    builder.global_table(
        "countries",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("countries"),
    );
    builder.build().expect("topology")
}

/// Records the store name and the block cache of every call, shrinks the write buffer, and
/// counts how many stores RocksDB opened with the options it returned.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(String, BlockCache)>>,
    opened: Arc<AtomicUsize>,
}

impl RocksDbConfigSetter for Recorder {
    fn set_config(&self, store_name: &str, options: &mut RocksDbOptions) {
        self.calls
            .lock()
            .expect("calls")
            .push((store_name.to_string(), options.block_cache.clone()));
        options.write_buffer_size = 1024 * 1024;
        let opened = self.opened.clone();
        options.customize(move |_| {
            opened.fetch_add(1, Ordering::SeqCst);
        });
    }
}

impl Recorder {
    fn calls(&self) -> Vec<(String, BlockCache)> {
        self.calls.lock().expect("calls").clone()
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.calls().into_iter().map(|(n, _)| n).collect();
        names.sort();
        names
    }

    /// The one cache every call saw.
    fn only_cache(&self) -> BlockCache {
        let calls = self.calls();
        let (_, first) = calls.first().expect("at least one call");
        for (name, cache) in &calls {
            assert!(
                cache.same_as(first),
                "store `{name}` got another block cache: {cache:?}, not {first:?}"
            );
        }
        first.clone()
    }
}

fn with_setter(config: &mut StreamsConfig, recorder: &Arc<Recorder>) {
    config
        .set("rocksdb.block.cache.bytes", CACHE_BYTES.to_string())
        .set_rocksdb_config_setter(recorder.clone());
}

#[test]
fn the_test_driver_calls_the_setter_for_each_store_with_one_shared_cache() {
    let recorder = Arc::new(Recorder::default());
    let mut config = StreamsConfig::new();
    with_setter(&mut config, &recorder);
    let driver = TopologyTestDriver::with_config(topology(), &config).expect("driver");

    assert_eq!(recorder.names(), ["countries", "counts", "latest"]);
    let cache = recorder.only_cache();
    assert_eq!(cache.capacity(), CACHE_BYTES);
    assert_eq!(
        recorder.opened.load(Ordering::SeqCst),
        3,
        "every store opened with the setter's options"
    );

    let input = driver.input_topic("events", Serdes::string(), Serdes::string());
    input
        .pipe_input("k".to_string(), "a".to_string(), 1)
        .expect("pipe");
    input
        .pipe_input("k".to_string(), "b".to_string(), 2)
        .expect("pipe");
    let counts = driver
        .key_value_store::<String, u64>("counts")
        .expect("counts");
    assert_eq!(counts.get(&"k".to_string()).expect("get"), Some(2));
    let latest = driver
        .key_value_store::<String, String>("latest")
        .expect("latest");
    assert_eq!(
        latest.get(&"k".to_string()).expect("get"),
        Some("b".to_string())
    );

    // A closure is a setter too.
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let seen_by_setter = seen.clone();
    let mut config = StreamsConfig::new();
    config.set_rocksdb_config_setter(Arc::new(move |store: &str, _: &mut RocksDbOptions| {
        seen_by_setter
            .lock()
            .expect("seen")
            .insert(store.to_string());
    }));
    let _driver = TopologyTestDriver::with_config(topology(), &config).expect("driver");
    assert_eq!(seen.lock().expect("seen").len(), 3);
}

#[test]
fn each_instance_opens_its_stores_with_one_block_cache_and_the_setter() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("events", 2).expect("events");
    broker.create_topic("countries", 1).expect("countries");
    produce_keyed(&broker, "events", 0, 100, 10);
    let state = tempfile::tempdir().expect("tempdir");

    let expected = ["countries", "counts", "counts", "latest", "latest"];
    let mut caches = Vec::new();
    for app in ["rocksdb-setter-a", "rocksdb-setter-b"] {
        let recorder = Arc::new(Recorder::default());
        let mut config = app_config(&broker, app, state.path());
        with_setter(&mut config, &recorder);
        let mut streams = KafkaStreams::new(topology(), &config).expect("streams");
        streams.start().expect("start");
        streams.wait_until_running(TIMEOUT).expect("running");
        // One global store, and each of the two stores once per task (two partitions).
        wait_for("every store to open", TIMEOUT, || {
            recorder.names().len() >= expected.len()
        });
        streams.close().expect("close");
        assert_eq!(
            recorder.names(),
            expected,
            "every store, none more than once"
        );
        let cache = recorder.only_cache();
        assert_eq!(cache.capacity(), CACHE_BYTES);
        assert_eq!(recorder.opened.load(Ordering::SeqCst), expected.len());
        caches.push(cache);
    }
    assert!(
        !caches[0].same_as(&caches[1]),
        "each instance has a block cache of its own"
    );
}
