//! The RocksDB engine: one RocksDB instance per store per task.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rocksdb::{
    BlockBasedOptions, DB, Direction, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions,
};

use crate::bytes_range::{prefix_upper_bound, successor};
use crate::pending::Lookup;
use crate::store::{
    ChangelogRecord, KeyValueIter, KeyValueStore, ReadOnlyKeyValueStore, StateStore,
};
use crate::txn::{POSITION_CF, StoreTransaction, TxnState};
use crate::{Error, Result};

/// The memtable size of the column family holding a transactional store's changelog position.
const POSITION_CF_BUFFER: usize = 64 * 1024;

/// The block cache size of [`RocksDbOptions::default`]: 50 MiB, Kafka Streams' default.
pub const DEFAULT_BLOCK_CACHE_BYTES: usize = 50 * 1024 * 1024;

/// A RocksDB block cache (LRU) of uncompressed data blocks (index and filter blocks stay
/// outside it, in each table reader, unless a config setter moves them in). Cloning it shares it: every store opened with options holding
/// clones of one `BlockCache` draws on one memory budget, as Kafka Streams' bounded-memory
/// configuration does with a cache shared by all the stores of an instance.
#[derive(Clone)]
pub struct BlockCache {
    inner: Arc<BlockCacheInner>,
}

struct BlockCacheInner {
    cache: rocksdb::Cache,
    capacity: usize,
}

impl BlockCache {
    /// An LRU cache of `capacity` bytes.
    pub fn new_lru(capacity: usize) -> Self {
        BlockCache {
            inner: Arc::new(BlockCacheInner {
                cache: rocksdb::Cache::new_lru_cache(capacity),
                capacity,
            }),
        }
    }

    /// Its capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The bytes it holds now, over every store sharing it.
    pub fn usage(&self) -> usize {
        self.inner.cache.get_usage()
    }

    /// Whether `self` and `other` are the same cache (clones of one another).
    pub fn same_as(&self, other: &BlockCache) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("capacity", &self.inner.capacity)
            .field("at", &Arc::as_ptr(&self.inner))
            .finish()
    }
}

/// How RocksDB compresses a store's data blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// None (the default, as in Kafka Streams: changelogs and state are often compressed
    /// elsewhere, and the CPU matters more).
    #[default]
    None,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
}

/// A change to RocksDB's own options, applied after the typed settings.
type RawOptionsFn = Arc<dyn Fn(&mut rocksdb::Options) + Send + Sync>;

/// Tuning for a RocksDB store. The defaults follow Kafka Streams' `RocksDBStore`: a 16 MiB write
/// buffer (3 of them), 4 KiB blocks with a bloom filter, no compression, a 50 MiB block cache.
///
/// Non-exhaustive: start from [`RocksDbOptions::default`] or [`RocksDbOptions::new`] and
/// change fields. In `streams-core`, a `RocksDbConfigSetter` receives the options of each
/// store before it opens, holding the instance's shared block cache.
///
/// ```
/// use streams_state::{BlockCache, Compression, RocksDbOptions};
///
/// let shared = BlockCache::new_lru(64 * 1024 * 1024);
/// let mut options = RocksDbOptions::new(shared.clone());
/// options.write_buffer_size = 8 * 1024 * 1024;
/// options.compression = Compression::Lz4;
/// options.customize(|raw| raw.set_max_background_jobs(4));
/// assert!(options.block_cache.same_as(&shared));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RocksDbOptions {
    /// Size of one memtable in bytes.
    pub write_buffer_size: usize,
    /// Number of memtables kept before writes stall.
    pub max_write_buffer_number: i32,
    /// Size of a data block in bytes.
    pub block_size: usize,
    /// Bits per key of the bloom filter on each table (`None`: no filter).
    pub bloom_filter_bits_per_key: Option<f64>,
    /// Compression of data blocks.
    pub compression: Compression,
    /// The block cache: a clone of a cache shares it with the other stores holding one.
    pub block_cache: BlockCache,
    raw: Vec<RawOptionsFn>,
}

impl RocksDbOptions {
    /// Kafka Streams' defaults, with `block_cache`.
    pub fn new(block_cache: BlockCache) -> Self {
        RocksDbOptions {
            write_buffer_size: 16 * 1024 * 1024,
            max_write_buffer_number: 3,
            block_size: 4096,
            bloom_filter_bits_per_key: Some(10.0),
            compression: Compression::None,
            block_cache,
            raw: Vec::new(),
        }
    }

    /// Changes RocksDB's own [`Options`](rocksdb::Options) (re-exported as
    /// `streams_state::rocksdb`) for what the typed fields do not cover; applied after them, in
    /// the order given. Setting a block-based table factory here replaces the block cache,
    /// block size and bloom filter above. This ties the code to the `rocksdb` crate's version.
    pub fn customize(&mut self, f: impl Fn(&mut rocksdb::Options) + Send + Sync + 'static) {
        self.raw.push(Arc::new(f));
    }

    /// RocksDB's options for a store.
    fn to_rocksdb(&self) -> Options {
        let mut table = BlockBasedOptions::default();
        table.set_block_size(self.block_size);
        if let Some(bits) = self.bloom_filter_bits_per_key {
            table.set_bloom_filter(bits, false);
        }
        table.set_block_cache(&self.block_cache.inner.cache);
        let mut options = Options::default();
        options.create_if_missing(true);
        // The changelog position lives in a column family of its own, flushed with the data
        // (without a write-ahead log, only an atomic flush keeps the two consistent on disk).
        options.create_missing_column_families(true);
        options.set_atomic_flush(true);
        options.set_block_based_table_factory(&table);
        options.set_write_buffer_size(self.write_buffer_size);
        options.set_max_write_buffer_number(self.max_write_buffer_number);
        options.set_compression_type(match self.compression {
            Compression::None => rocksdb::DBCompressionType::None,
            Compression::Snappy => rocksdb::DBCompressionType::Snappy,
            Compression::Lz4 => rocksdb::DBCompressionType::Lz4,
        });
        for f in &self.raw {
            f(&mut options);
        }
        options
    }
}

impl Default for RocksDbOptions {
    /// Kafka Streams' defaults, with a block cache of its own of
    /// [`DEFAULT_BLOCK_CACHE_BYTES`].
    fn default() -> Self {
        RocksDbOptions::new(BlockCache::new_lru(DEFAULT_BLOCK_CACHE_BYTES))
    }
}

impl std::fmt::Debug for RocksDbOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbOptions")
            .field("write_buffer_size", &self.write_buffer_size)
            .field("max_write_buffer_number", &self.max_write_buffer_number)
            .field("block_size", &self.block_size)
            .field("bloom_filter_bits_per_key", &self.bloom_filter_bits_per_key)
            .field("compression", &self.compression)
            .field("block_cache", &self.block_cache)
            .field("customizations", &self.raw.len())
            .finish()
    }
}

/// A key-value store in its own RocksDB instance.
///
/// Writes skip RocksDB's write-ahead log: the changelog topic is the store's log, as in Kafka
/// Streams. [`StateStore::flush`] flushes the memtables, so data survives a clean close and
/// reopen, and a checkpoint written afterwards never claims more than the disk holds.
///
/// Opened [transactional](Self::open_transactional), the store keeps its writes in memory
/// (read through by its own reads, not by query handles) until its [`StoreTransaction`]
/// commits them, in one atomic batch with the changelog position they bring the store to, or
/// aborts them: uncommitted writes never reach RocksDB.
pub struct RocksDbKeyValueStore {
    name: String,
    path: PathBuf,
    db: Option<Arc<DB>>,
    write_options: WriteOptions,
    txn: Option<Arc<Mutex<TxnState>>>,
}

impl std::fmt::Debug for RocksDbKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbKeyValueStore")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("open", &self.db.is_some())
            .finish()
    }
}

impl RocksDbKeyValueStore {
    /// Opens (creating if needed) the store `name` in directory `path` with default options
    /// (and so a block cache of its own).
    pub fn open(name: impl Into<String>, path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(name, path, &RocksDbOptions::default())
    }

    /// Opens (creating if needed) the store `name` in directory `path`.
    pub fn open_with(
        name: impl Into<String>,
        path: impl AsRef<Path>,
        tuning: &RocksDbOptions,
    ) -> Result<Self> {
        let name = name.into();
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path).map_err(|e| Error::io(&path, e))?;
        let options = tuning.to_rocksdb();
        let mut families = DB::list_cf(&options, &path).unwrap_or_default();
        for family in [rocksdb::DEFAULT_COLUMN_FAMILY_NAME, POSITION_CF] {
            if !families.iter().any(|f| f == family) {
                families.push(family.to_string());
            }
        }
        // Every column family with the store's options (`open_cf` would give them defaults).
        let descriptors = families.iter().map(|f| {
            let mut family = options.clone();
            if f == POSITION_CF {
                // One small value rewritten at each commit.
                family.set_write_buffer_size(POSITION_CF_BUFFER);
            }
            rocksdb::ColumnFamilyDescriptor::new(f, family)
        });
        let db = DB::open_cf_descriptors(&options, &path, descriptors).map_err(|source| {
            Error::RocksDb {
                store: name.clone(),
                op: "open",
                source,
            }
        })?;
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(true);
        Ok(RocksDbKeyValueStore {
            name,
            path,
            db: Some(Arc::new(db)),
            write_options,
            txn: None,
        })
    }

    /// Opens the store as [`open_with`](Self::open_with) does, transactional: writes wait in
    /// memory for the returned [`StoreTransaction`] to commit them (with the changelog
    /// position they reach) or abort them.
    pub fn open_transactional(
        name: impl Into<String>,
        path: impl AsRef<Path>,
        tuning: &RocksDbOptions,
    ) -> Result<(Self, StoreTransaction)> {
        let mut store = Self::open_with(name, path, tuning)?;
        let state = Arc::new(Mutex::new(TxnState::new(
            store.name.clone(),
            store.db.clone(),
        )));
        store.txn = Some(state.clone());
        Ok((store, StoreTransaction::new(state)))
    }

    /// The changelog position committed with the data (by a [`StoreTransaction`]), if any.
    pub fn committed_position(&self) -> Result<Option<i64>> {
        crate::txn::read_position(&self.name, self.db()?)
    }

    fn pending(&self) -> Option<std::sync::MutexGuard<'_, TxnState>> {
        self.txn
            .as_ref()
            .map(|t| t.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// The directory holding the store's files.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn db(&self) -> Result<&Arc<DB>> {
        self.db.as_ref().ok_or_else(|| Error::Closed {
            store: self.name.clone(),
        })
    }

    fn err(&self, op: &'static str) -> impl FnOnce(rocksdb::Error) -> Error + '_ {
        move |source| Error::RocksDb {
            store: self.name.clone(),
            op,
            source,
        }
    }

    fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        self.db()?
            .write_opt(batch, &self.write_options)
            .map_err(self.err("write"))
    }
}

/// Reads shared by the store and its query handle.
struct Reader<'a> {
    name: &'a str,
    db: &'a DB,
}

impl<'a> Reader<'a> {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.get(key).map_err(|source| Error::RocksDb {
            store: self.name.to_string(),
            op: "get",
            source,
        })
    }

    /// Keys in `[from, upper)`.
    fn scan(&self, from: Option<&[u8]>, upper: Option<Vec<u8>>) -> KeyValueIter<'a> {
        let mut read_options = ReadOptions::default();
        if let Some(upper) = upper {
            read_options.set_iterate_upper_bound(upper);
        }
        let mode = match from {
            Some(from) => IteratorMode::From(from, Direction::Forward),
            None => IteratorMode::Start,
        };
        let name = self.name.to_string();
        Box::new(self.db.iterator_opt(mode, read_options).map(move |item| {
            item.map(|(k, v)| (k.into_vec(), v.into_vec()))
                .map_err(|source| Error::RocksDb {
                    store: name.clone(),
                    op: "iterate",
                    source,
                })
        }))
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> KeyValueIter<'a> {
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Box::new(std::iter::empty());
        }
        self.scan(from, to.map(successor))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> KeyValueIter<'a> {
        self.scan(Some(prefix), prefix_upper_bound(prefix))
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        Ok(self.property_int("rocksdb.estimate-num-keys")?.unwrap_or(0))
    }

    fn property_int(&self, name: &str) -> Result<Option<u64>> {
        self.db
            .property_int_value(name)
            .map_err(|source| Error::RocksDb {
                store: self.name.to_string(),
                op: "property",
                source,
            })
    }
}

impl StateStore for RocksDbKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        true
    }

    fn flush(&mut self) -> Result<()> {
        crate::txn::flush_all(self.db()?).map_err(self.err("flush"))
    }

    /// Flushes what RocksDB holds and releases it; writes of a transaction that did not
    /// commit are dropped.
    fn close(&mut self) -> Result<()> {
        if let Some(mut state) = self.pending() {
            state.close();
        }
        if self.db.is_some() {
            self.flush()?;
            self.db = None;
        }
        Ok(())
    }
}

impl ReadOnlyKeyValueStore for RocksDbKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if let Some(state) = self.pending() {
            match state.pending.lookup(key) {
                Lookup::Put(value) => return Ok(Some(value.to_vec())),
                Lookup::Deleted => return Ok(None),
                Lookup::Untouched => {}
            }
        }
        self.reader()?.get(key)
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        if let (Some(from), Some(to)) = (from, to)
            && from > to
        {
            return Ok(Box::new(std::iter::empty()));
        }
        let upper = to.map(successor);
        let engine = self.reader()?.scan(from, upper.clone());
        Ok(match self.pending() {
            Some(state) => state.pending.overlay(engine, from, upper.as_deref()),
            None => engine,
        })
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        let upper = prefix_upper_bound(prefix);
        let engine = self.reader()?.scan(Some(prefix), upper.clone());
        Ok(match self.pending() {
            Some(state) => state
                .pending
                .overlay(engine, Some(prefix), upper.as_deref()),
            None => engine,
        })
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        self.reader()?.approximate_num_entries()
    }

    fn property_int(&self, name: &str) -> Result<Option<u64>> {
        self.reader()?.property_int(name)
    }
}

impl RocksDbKeyValueStore {
    fn reader(&self) -> Result<Reader<'_>> {
        Ok(Reader {
            name: &self.name,
            db: self.db()?,
        })
    }
}

impl KeyValueStore for RocksDbKeyValueStore {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db()?;
        if let Some(mut state) = self.pending() {
            state.pending.write(key, Some(value));
            return Ok(());
        }
        self.db()?
            .put_opt(key, value, &self.write_options)
            .map_err(self.err("put"))
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.db()?;
        if let Some(mut state) = self.pending() {
            state.pending.write(key, None);
            return Ok(());
        }
        self.db()?
            .delete_opt(key, &self.write_options)
            .map_err(self.err("delete"))
    }

    fn put_all(&mut self, entries: &[(&[u8], Option<&[u8]>)]) -> Result<()> {
        self.db()?;
        if let Some(mut state) = self.pending() {
            for (key, value) in entries {
                state.pending.write(key, *value);
            }
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        for (key, value) in entries {
            match value {
                Some(value) => batch.put(key, value),
                None => batch.delete(key),
            }
        }
        self.write_batch(batch)
    }

    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        self.db()?;
        if let Some(mut state) = self.pending() {
            state.pending.delete_range(from, to);
            return Ok(());
        }
        let mut batch = WriteBatch::default();
        batch.delete_range(from, to);
        self.write_batch(batch)
    }

    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        let mut batch = WriteBatch::default();
        for record in records {
            match &record.value {
                Some(value) => batch.put(&record.key, value),
                None => batch.delete(&record.key),
            }
        }
        self.write_batch(batch)
    }

    fn query_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>> {
        let db = self.db.clone()?;
        Some(Arc::new(RocksDbQueryHandle {
            name: self.name.clone(),
            db,
        }))
    }
}

/// A read-only view of a RocksDB store for other threads.
struct RocksDbQueryHandle {
    name: String,
    db: Arc<DB>,
}

impl RocksDbQueryHandle {
    fn reader(&self) -> Reader<'_> {
        Reader {
            name: &self.name,
            db: &self.db,
        }
    }
}

impl ReadOnlyKeyValueStore for RocksDbQueryHandle {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.reader().get(key)
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        Ok(self.reader().range(from, to))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        Ok(self.reader().prefix_scan(prefix))
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        self.reader().approximate_num_entries()
    }

    fn property_int(&self, name: &str) -> Result<Option<u64>> {
        self.reader().property_int(name)
    }
}
