//! Micro-benchmarks of the state layer against raw RocksDB, in the same run: the cost of
//! `streams-state`'s RocksDB store over the bare `rocksdb` crate with the same options.

#![allow(missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rocksdb::{DB, Options, WriteOptions};
use streams_state::{KeyValueStore, ReadOnlyKeyValueStore, RocksDbKeyValueStore};

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

criterion_group!(benches, put_get);
criterion_main!(benches);
