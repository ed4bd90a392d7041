//! Micro-benchmarks of the state layer against raw RocksDB, in the same run: the cost of
//! `streams-state`'s RocksDB store over the bare `rocksdb` crate with the same options, and of
//! the record cache in front of a store (an aggregation's read and write of a cached key).

#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rocksdb::{DB, Options, WriteOptions};
use streams_state::{
    CacheBudget, CachingKeyValueStore, InMemoryKeyValueStore, KeyValueStore, ReadOnlyKeyValueStore,
    RocksDbKeyValueStore,
};

const KEYS: u64 = 10_000;

fn key(i: u64) -> [u8; 8] {
    (i % KEYS).to_be_bytes()
}

fn put_get(c: &mut Criterion) {
    let value = vec![b'v'; 100];
    let mut group = c.benchmark_group("kv");
    group.throughput(Throughput::Elements(1));

    let raw_dir = tempfile::tempdir().expect("tempdir");
    let mut options = Options::default();
    options.create_if_missing(true);
    let raw = DB::open(&options, raw_dir.path()).expect("open");
    let mut no_wal = WriteOptions::default();
    no_wal.disable_wal(true);
    let mut i = 0u64;
    group.bench_function(BenchmarkId::new("put", "raw_rocksdb"), |b| {
        b.iter(|| {
            i += 1;
            raw.put_opt(key(i), &value, &no_wal).expect("put");
        })
    });
    group.bench_function(BenchmarkId::new("get", "raw_rocksdb"), |b| {
        b.iter(|| {
            i += 1;
            raw.get(key(i)).expect("get")
        })
    });

    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = RocksDbKeyValueStore::open("bench", dir.path()).expect("open");
    group.bench_function(BenchmarkId::new("put", "streams_state"), |b| {
        b.iter(|| {
            i += 1;
            store.put(&key(i), &value).expect("put");
        })
    });
    group.bench_function(BenchmarkId::new("get", "streams_state"), |b| {
        b.iter(|| {
            i += 1;
            store.get(&key(i)).expect("get")
        })
    });
    group.finish();
}

/// An aggregation's step on a key the record cache holds: read it, write it back.
fn cached(c: &mut Criterion) {
    let value = vec![b'v'; 100];
    let mut group = c.benchmark_group("cache");
    group.throughput(Throughput::Elements(1));
    // 10 MiB, Kafka Streams' default: every key stays cached.
    let mut store = CachingKeyValueStore::new(
        Box::new(InMemoryKeyValueStore::new("bench")),
        CacheBudget::new(10 * 1024 * 1024),
    );
    let mut i = 0u64;
    group.bench_function(BenchmarkId::new("get_put", "streams_state"), |b| {
        b.iter(|| {
            i += 1;
            let k = key(i.wrapping_mul(7919));
            let old = store.get(&k).expect("get");
            store
                .put(&k, old.as_deref().unwrap_or(&value))
                .expect("put");
        })
    });
    group.finish();
}

criterion_group!(benches, put_get, cached);
criterion_main!(benches);
