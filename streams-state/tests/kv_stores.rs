//! Behaviour every key-value engine must share, checked on RocksDB and in memory, plus
//! RocksDB durability across close and reopen.

use std::collections::BTreeMap;

use proptest::prelude::*;
use streams_state::{
    BlockCache, ChangelogRecord, Compression, InMemoryKeyValueStore, KeyValueStore,
    ReadOnlyKeyValueStore, Result, RocksDbKeyValueStore, RocksDbOptions, StateStore,
};

fn collect(iter: streams_state::KeyValueIter<'_>) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    iter.collect()
}

fn check_basic_operations(store: &mut dyn KeyValueStore) -> Result<()> {
    assert_eq!(store.get(b"a")?, None);
    store.put(b"a", b"1")?;
    store.put(b"b", b"2")?;
    store.put(b"ba", b"3")?;
    store.put(b"c", b"4")?;
    assert_eq!(store.get(b"a")?, Some(b"1".to_vec()));
    store.put(b"a", b"one")?;
    assert_eq!(store.get(b"a")?, Some(b"one".to_vec()));

    let range = collect(store.range(Some(b"b"), Some(b"c"))?)?;
    let keys: Vec<_> = range.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(
        keys,
        vec![b"b".as_slice(), b"ba", b"c"],
        "range is inclusive at both ends"
    );
    assert!(
        collect(store.range(Some(b"c"), Some(b"a"))?)?.is_empty(),
        "inverted range is empty"
    );
    let open_start = collect(store.range(None, Some(b"b"))?)?;
    assert_eq!(open_start.len(), 2);

    let prefixed = collect(store.prefix_scan(b"b")?)?;
    assert_eq!(
        prefixed,
        vec![
            (b"b".to_vec(), b"2".to_vec()),
            (b"ba".to_vec(), b"3".to_vec())
        ]
    );

    store.delete(b"b")?;
    store.delete(b"never-there")?;
    assert_eq!(store.get(b"b")?, None);
    let all = collect(store.all()?)?;
    let keys: Vec<_> = all.iter().map(|(k, _)| k.as_slice()).collect();
    assert_eq!(keys, vec![b"a".as_slice(), b"ba", b"c"]);

    store.put_all(&[(b"d", Some(b"5")), (b"a", None)])?;
    assert_eq!(store.get(b"a")?, None);
    assert_eq!(store.get(b"d")?, Some(b"5".to_vec()));

    store.restore_batch(&[
        ChangelogRecord::new(b"e".to_vec(), Some(b"6".to_vec()), 0),
        ChangelogRecord::new(b"d".to_vec(), None, 0),
    ])?;
    assert_eq!(store.get(b"e")?, Some(b"6".to_vec()));
    assert_eq!(store.get(b"d")?, None);

    // A timestamped store's changelog carries plain values; restoring puts the timestamp back
    // in front of each (8 bytes, big-endian), and a tombstone deletes.
    store.put(b"t2", b"old")?;
    store.restore_timestamped_batch(&[
        ChangelogRecord::new(
            b"t1".to_vec(),
            Some(b"seven".to_vec()),
            0x0102_0304_0506_0708,
        ),
        ChangelogRecord::new(b"t2".to_vec(), None, 9),
        ChangelogRecord::new(b"t3".to_vec(), Some(Vec::new()), -1),
        ChangelogRecord::new(b"t4".to_vec(), Some(b"x".to_vec()), 3),
    ])?;
    assert_eq!(
        store.get(b"t1")?,
        Some(b"\x01\x02\x03\x04\x05\x06\x07\x08seven".to_vec())
    );
    assert_eq!(store.get(b"t2")?, None);
    assert_eq!(store.get(b"t3")?, Some(vec![0xff; 8]));
    assert_eq!(store.get(b"t4")?, Some(b"\0\0\0\0\0\0\0\x03x".to_vec()));

    store.put(b"r1", b"x")?;
    store.put(b"r2", b"y")?;
    store.put(b"r3", b"z")?;
    store.delete_range(b"r1", b"r3")?;
    assert_eq!(store.get(b"r1")?, None);
    assert_eq!(store.get(b"r2")?, None);
    assert_eq!(
        store.get(b"r3")?,
        Some(b"z".to_vec()),
        "the range end is exclusive"
    );

    let handle = store.query_handle().expect("engines offer query handles");
    assert_eq!(handle.get(b"e")?, Some(b"6".to_vec()));
    Ok(())
}

#[test]
fn in_memory_store_operations() -> Result<()> {
    check_basic_operations(&mut InMemoryKeyValueStore::new("mem"))
}

#[test]
fn rocksdb_store_operations() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut store = RocksDbKeyValueStore::open("rocks", dir.path().join("rocks"))?;
    check_basic_operations(&mut store)
}

#[test]
fn rocksdb_data_survives_close_and_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("counts");
    {
        let mut store = RocksDbKeyValueStore::open("counts", &path)?;
        for i in 0u32..1000 {
            store.put(&i.to_be_bytes(), format!("v{i}").as_bytes())?;
        }
        store.delete(&7u32.to_be_bytes())?;
        store.close()?;
        assert!(matches!(
            store.get(b"x"),
            Err(streams_state::Error::Closed { .. })
        ));
    }
    let store = RocksDbKeyValueStore::open("counts", &path)?;
    assert_eq!(store.get(&5u32.to_be_bytes())?, Some(b"v5".to_vec()));
    assert_eq!(store.get(&7u32.to_be_bytes())?, None);
    assert_eq!(collect(store.all()?)?.len(), 999);
    Ok(())
}

#[test]
fn rocksdb_stores_opened_with_one_block_cache_fill_it_together() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared = BlockCache::new_lru(8 * 1024 * 1024);
    let mut options = RocksDbOptions::new(shared.clone());
    options.compression = Compression::Lz4;
    options.customize(|raw| raw.set_max_background_jobs(2));
    let mut usage = vec![shared.usage()];
    for name in ["a", "b"] {
        let mut store = RocksDbKeyValueStore::open_with(name, dir.path().join(name), &options)?;
        for i in 0u32..2000 {
            store.put(&i.to_be_bytes(), &[b'v'; 100])?;
        }
        // Reads of flushed tables go through the block cache.
        store.flush()?;
        assert_eq!(store.get(&5u32.to_be_bytes())?, Some(vec![b'v'; 100]));
        assert_eq!(collect(store.all()?)?.len(), 2000);
        usage.push(shared.usage());
    }
    assert!(
        usage[0] < usage[1] && usage[1] < usage[2],
        "both stores' blocks are in the one cache: {usage:?}"
    );
    assert!(options.block_cache.same_as(&shared));
    assert!(!RocksDbOptions::default().block_cache.same_as(&shared));
    Ok(())
}

#[test]
fn rocksdb_refuses_a_second_open_of_the_same_directory() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let _first = RocksDbKeyValueStore::open("s", dir.path())?;
    let second = RocksDbKeyValueStore::open("s", dir.path());
    assert!(matches!(
        second,
        Err(streams_state::Error::RocksDb { op: "open", .. })
    ));
    Ok(())
}

#[derive(Debug, Clone)]
enum Op {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(vec![0u8, 1, 2, 0xfe, 0xff]), 0..4)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (key(), prop::collection::vec(any::<u8>(), 0..3)).prop_map(|(k, v)| Op::Put(k, v)),
        key().prop_map(Op::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Both engines agree with a BTreeMap model on every read after any sequence of writes,
    /// including edge keys (empty, 0xff) that stress range and prefix bounds.
    #[test]
    fn engines_match_a_sorted_map(ops in prop::collection::vec(op(), 0..40),
                                  from in key(), to in key(), prefix in key()) {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut rocks = RocksDbKeyValueStore::open("p", dir.path()).expect("open");
        let mut mem = InMemoryKeyValueStore::new("p");
        let mut model = BTreeMap::new();
        for op in &ops {
            match op {
                Op::Put(k, v) => {
                    rocks.put(k, v).expect("put");
                    mem.put(k, v).expect("put");
                    model.insert(k.clone(), v.clone());
                }
                Op::Delete(k) => {
                    rocks.delete(k).expect("delete");
                    mem.delete(k).expect("delete");
                    model.remove(k);
                }
            }
        }
        let expected_range: Vec<_> = model
            .iter()
            .filter(|(k, _)| **k >= from && **k <= to)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let expected_prefix: Vec<_> = model
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let expected_all: Vec<_> = model.clone().into_iter().collect();
        for store in [&rocks as &dyn KeyValueStore, &mem] {
            prop_assert_eq!(&collect(store.range(Some(&from), Some(&to)).expect("range")).expect("iter"), &expected_range);
            prop_assert_eq!(&collect(store.prefix_scan(&prefix).expect("prefix")).expect("iter"), &expected_prefix);
            prop_assert_eq!(&collect(store.all().expect("all")).expect("iter"), &expected_all);
        }
    }
}

#[test]
fn rocksdb_stores_share_one_write_buffer_budget_charged_to_their_cache() -> Result<()> {
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = BlockCache::new_lru(64 * 1024 * 1024);
    let budget = streams_state::WriteBufferBudget::charged_to(8 * 1024 * 1024, &cache);
    let mut options = RocksDbOptions::new(cache.clone());
    options.write_buffers = Some(budget.clone());
    options.cache_index_and_filter_blocks = true;
    let mut stores = Vec::new();
    for name in ["a", "b"] {
        let mut store = RocksDbKeyValueStore::open_with(name, dir.path().join(name), &options)?;
        for i in 0u32..5_000 {
            store.put(&i.to_be_bytes(), &[b'v'; 200])?;
        }
        stores.push(store);
    }
    // Both stores' memtables are counted by the one budget, and reserved in the cache.
    let used = budget.usage();
    assert!(used > 2 * 5_000 * 200, "memtables of both stores: {used}");
    assert!(
        cache.usage() >= used,
        "memtables reserved in the cache: cache {} < memtables {used}",
        cache.usage()
    );
    assert!(budget.is_charged_to_cache() && budget.limit() == 8 * 1024 * 1024);
    assert!(
        options
            .write_buffers
            .as_ref()
            .is_some_and(|b| b.same_as(&budget))
    );
    // Past the limit, RocksDB flushes: the usage stays near it however much is written.
    for i in 0u32..100_000 {
        stores[0].put(&i.to_be_bytes(), &[b'w'; 200])?;
    }
    assert!(
        budget.usage() <= 2 * budget.limit(),
        "write buffers bounded: {} of {}",
        budget.usage(),
        budget.limit()
    );
    Ok(())
}

#[test]
fn rocksdb_restored_batches_are_all_in_the_store_when_it_is_read_closed_or_dropped() -> Result<()> {
    // Restored batches are written by a helper thread while the next ones are read: a read,
    // a close and a drop each come after every batch handed over.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("restored");
    let restore = |store: &mut RocksDbKeyValueStore, round: u32| -> Result<()> {
        for batch in 0u32..20 {
            let records: Vec<ChangelogRecord> = (0u32..1000)
                .map(|i| {
                    let key = (batch * 1000 + i).to_be_bytes().to_vec();
                    ChangelogRecord::new(key, Some(round.to_be_bytes().to_vec()), 0)
                })
                .collect();
            store.restore_batch(&records)?;
        }
        Ok(())
    };
    let mut store = RocksDbKeyValueStore::open("restored", &path)?;
    restore(&mut store, 1)?;
    assert_eq!(
        store.get(&19_999u32.to_be_bytes())?,
        Some(1u32.to_be_bytes().to_vec())
    );
    restore(&mut store, 2)?;
    store.close()?;
    drop(store);
    let mut store = RocksDbKeyValueStore::open("restored", &path)?;
    assert_eq!(collect(store.all()?)?.len(), 20_000);
    assert_eq!(
        store.get(&0u32.to_be_bytes())?,
        Some(2u32.to_be_bytes().to_vec())
    );
    // Dropped right after restoring (as a task that failed): the directory opens again.
    restore(&mut store, 3)?;
    drop(store);
    RocksDbKeyValueStore::open("restored", &path)?;
    Ok(())
}
