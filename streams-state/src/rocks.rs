//! The RocksDB engine: one RocksDB instance per store per task.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rocksdb::{DB, Direction, IteratorMode, ReadOptions, WriteBatch, WriteOptions};

use crate::bytes_range::{prefix_upper_bound, successor};
use crate::pending::Lookup;
use crate::restore_writer::InFlight;
use crate::store::{
    ChangelogRecord, KeyValueIter, KeyValueStore, ReadOnlyKeyValueStore, StateStore,
};
use crate::timestamped::push_timestamp;
use crate::txn::{POSITION_CF, StoreTransaction, TxnState};
use crate::{Error, Result};

pub use crate::rocks_options::{
    BlockCache, Compression, DEFAULT_BLOCK_CACHE_BYTES, RocksDbOptions, WriteBufferBudget,
};

/// The memtable size of the column family holding a transactional store's changelog position.
const POSITION_CF_BUFFER: usize = 64 * 1024;

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
    /// Restoring writes handed to this thread's helper and not yet applied (see
    /// [`crate::restore_writer`]): every other use of the database waits for them.
    in_flight: InFlight,
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
                if tuning.write_buffers.is_some() {
                    family.set_arena_block_size(crate::rocks_options::shared_budget_arena_block(
                        POSITION_CF_BUFFER,
                    ));
                }
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
            in_flight: InFlight::default(),
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

    /// The open database, once the restoring writes in flight are applied.
    fn db(&self) -> Result<&Arc<DB>> {
        self.in_flight
            .wait()
            .map_err(self.err("write restored records"))?;
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

    /// Writes a batch of restored records: on this thread's helper, which writes while the
    /// changelog is read on, unless the store is transactional (its changelog position is
    /// committed right after, and must not get ahead of the data).
    fn write_restored(&self, batch: WriteBatch) -> Result<()> {
        if self.txn.is_some() {
            return self.write_batch(batch);
        }
        // Without waiting for the writes in flight (that would undo the overlap), but an
        // earlier one that failed fails this one.
        self.in_flight
            .take_failure()
            .map_err(self.err("write restored records"))?;
        let db = self.db.as_ref().ok_or_else(|| Error::Closed {
            store: self.name.clone(),
        })?;
        match crate::restore_writer::submit(db, batch, &self.in_flight) {
            Ok(()) => Ok(()),
            Err(batch) => self.write_batch(batch),
        }
    }
}

impl Drop for RocksDbKeyValueStore {
    /// Waits for the restoring writes in flight: the helper holds the database open until
    /// they are applied, and a store opened again in the same directory needs it closed.
    fn drop(&mut self) {
        if let Err(e) = self.in_flight.wait() {
            tracing::warn!(store = %self.name, "writing restored records failed: {e}");
        }
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
        let batch = restore_write_batch(records, |batch, key, value, _| batch.put(key, value));
        self.write_restored(batch)
    }

    fn restore_timestamped_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        // One value buffer for the whole batch: the write batch copies each value anyway.
        let mut stamped = Vec::new();
        let batch = restore_write_batch(records, |batch, key, plain, timestamp| {
            stamped.clear();
            push_timestamp(&mut stamped, timestamp);
            stamped.extend_from_slice(plain);
            batch.put(key, &stamped);
        });
        self.write_restored(batch)
    }

    fn query_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>> {
        let db = self.db.clone()?;
        Some(Arc::new(RocksDbQueryHandle {
            name: self.name.clone(),
            db,
        }))
    }
}

/// The write batch that applies restored `records`: a tombstone deletes its key, any other
/// record is written by `put` (batch, key, value, timestamp).
fn restore_write_batch(
    records: &[ChangelogRecord],
    mut put: impl FnMut(&mut WriteBatch, &[u8], &[u8], i64),
) -> WriteBatch {
    let mut batch = WriteBatch::default();
    for record in records {
        match &record.value {
            Some(value) => put(&mut batch, &record.key, value, record.timestamp),
            None => batch.delete(&record.key),
        }
    }
    batch
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
