//! Bounded RocksDB memory on the embedded broker: a count over 32 tasks (32 RocksDB stores)
//! with `rocksdb.memory.bound.bytes` keeps the block cache, with the memtables charged to it,
//! within the bound the whole time, and the write-buffer manager within its half, without
//! flushing near-empty memtables (which piled up thousands of tables); the counts are exact. (RSS with and without the bound, 1,000,000 keys on Apache Kafka, is measured by
//! `./x bench --broker kafka`; see the operations chapter.)

mod common;

use std::time::{Duration, Instant};

use common::{TableReader, app_config, init_tracing, metric_sum, produce_keyed};
use streams_core::KafkaStreams;
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::Serdes;

const TIMEOUT: Duration = Duration::from_secs(120);
const BOUND: f64 = 8.0 * 1024.0 * 1024.0;

#[test]
fn a_memory_bound_holds_over_32_stores() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("events", 32).expect("topic");
    broker.create_topic("counts-out", 32).expect("topic");
    let state = tempfile::tempdir().expect("tempdir");
    let registry = prometheus::Registry::new();
    let mut config = app_config(&broker, "memory-bound", state.path());
    config
        .set("rocksdb.memory.bound.bytes", (BOUND as u64).to_string())
        .set("statestore.cache.max.bytes", "0")
        .set_metrics_registry(registry.clone());
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("counts-out");
    let mut streams =
        KafkaStreams::new(builder.build().expect("topology"), &config).expect("streams");
    streams.start().expect("start");

    let gauge = |name: &str| metric_sum(&registry, name, &[]);
    let mut expected = std::collections::BTreeMap::new();
    let mut reader = TableReader::new(&broker, "counts-out");
    let (mut cache_max, mut buffers_max) = (0f64, 0f64);
    // The most SST files open at once, and every open file then.
    let (mut tables_max, mut fds_at_max) = (0, String::new());
    // 40,000 keys a round, written twice: the memtables of 32 stores would hold far more than
    // the bound if nothing flushed them.
    for round in 0..4 {
        for (k, n) in produce_keyed(&broker, "events", round * 40_000, 40_000, 80_000) {
            *expected.entry(k).or_insert(0) += n;
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            cache_max = cache_max.max(gauge("streams_rocksdb_block_cache_usage_bytes"));
            buffers_max = buffers_max.max(gauge("streams_rocksdb_write_buffer_usage_bytes"));
            let (tables, what) = open_files();
            if tables > tables_max {
                tables_max = tables;
                fds_at_max = what;
            }
            let got = reader.read_until(&expected, Duration::from_millis(200));
            if got == expected {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "counts never caught up; open files now {}, with the most SST files {fds_at_max}",
                open_files().1
            );
        }
    }
    let memtables = metric_sum(&registry, "streams_rocksdb_memtable_bytes", &[]);
    eprintln!(
        "memory bound {BOUND}: block cache at most {cache_max} (with memtables charged), write buffers at most {buffers_max}, memtables now {memtables}; open files with the most SST files: {fds_at_max}"
    );
    // Flushes of near-empty memtables once made thousands of tables at a time (5,000-8,800 of
    // them open, ~200 a store; see `SHARED_BUDGET_ARENA_BLOCK` in streams-state), and a CI
    // run ran out of file descriptors. A few dozen are open in all now.
    assert!(
        tables_max <= 32 * 20,
        "{tables_max} SST files open at once over 32 stores: memtables flushed nearly empty"
    );
    assert_eq!(
        gauge("streams_rocksdb_block_cache_capacity_bytes"),
        BOUND,
        "one cache of the bound"
    );
    assert_eq!(
        gauge("streams_rocksdb_write_buffer_limit_bytes"),
        BOUND / 2.0
    );
    assert!(buffers_max > 0.0, "the memtables were counted");
    // RocksDB flushes when the write buffers pass their limit; the block cache (data, index
    // and filter blocks, and the memtables' reservation) stays within its capacity but for
    // the entries in use at that moment.
    assert!(
        buffers_max <= BOUND,
        "write buffers {buffers_max} past the bound {BOUND}"
    );
    assert!(
        cache_max <= BOUND * 1.25,
        "block cache {cache_max} past the bound {BOUND}"
    );
    streams.close().expect("close");
}

/// This process's open SST files, and a summary of every open file descriptor by kind (a CI
/// run once failed here on "Too many open files").
fn open_files() -> (usize, String) {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else {
        return (0, "unknown (no /proc/self/fd)".to_string());
    };
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    let mut total = 0;
    for entry in entries.flatten() {
        total += 1;
        let target = std::fs::read_link(entry.path())
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_default();
        let kind = match target.split_once(':') {
            Some((kind, _)) if !target.starts_with('/') => kind.to_string(),
            _ => std::path::Path::new(&target)
                .extension()
                .map_or("other files".to_string(), |e| {
                    format!(".{}", e.to_string_lossy())
                }),
        };
        *kinds.entry(kind).or_insert(0) += 1;
    }
    let tables = kinds.get(".sst").copied().unwrap_or(0);
    (tables, format!("{total} {kinds:?}"))
}
