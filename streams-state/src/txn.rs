//! Transactional RocksDB stores (in the spirit of Kafka Streams' KIP-892 and KIP-1035): a
//! store's writes wait in memory until the task's transaction commits, and then reach RocksDB
//! in one atomic batch together with the changelog position they bring the store to. An
//! aborted transaction, or a crash, leaves the store as of its last commit, with the offset
//! to resume restoring from: nothing to wipe, only the changelog's tail to restore.

use std::sync::{Arc, Mutex};

use rocksdb::{DB, FlushOptions, WriteBatch, WriteOptions};

use crate::pending::Pending;
use crate::{Error, Result};

/// The column family holding the changelog position of a store's data.
pub(crate) const POSITION_CF: &str = "streams.position";
const POSITION_KEY: &[u8] = b"changelog.offset";

/// What a transactional store and its [`StoreTransaction`] share.
#[derive(Debug)]
pub(crate) struct TxnState {
    pub(crate) pending: Pending,
    name: String,
    db: Option<Arc<DB>>,
}

impl TxnState {
    pub(crate) fn new(name: String, db: Option<Arc<DB>>) -> Self {
        TxnState {
            pending: Pending::default(),
            name,
            db,
        }
    }

    /// The store closes: what did not commit is dropped, and the transaction lets go of the
    /// database (so that the store can be opened again).
    pub(crate) fn close(&mut self) {
        self.pending.clear();
        self.db = None;
    }
}

/// The commit and abort of one transactional store's writes (see
/// [`RocksDbKeyValueStore::open_transactional`](crate::RocksDbKeyValueStore::open_transactional)).
/// Cloning it shares the store.
#[derive(Clone, Debug)]
pub struct StoreTransaction {
    state: Arc<Mutex<TxnState>>,
}

impl StoreTransaction {
    pub(crate) fn new(state: Arc<Mutex<TxnState>>) -> Self {
        StoreTransaction { state }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TxnState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes every pending write to RocksDB in one atomic batch, with `position` (the
    /// changelog offset the store now reflects) when given. Without a write-ahead log the
    /// batch is durable once its memtable is flushed (see [`StateStore::flush`]); until then a
    /// crash loses it whole, position included.
    ///
    /// [`StateStore::flush`]: crate::StateStore::flush
    pub fn commit(&self, position: Option<i64>) -> Result<()> {
        let mut state = self.lock();
        if state.pending.is_empty() && position.is_none() {
            return Ok(());
        }
        let Some(db) = state.db.clone() else {
            return Err(Error::Closed {
                store: state.name.clone(),
            });
        };
        let (ranges, writes) = state.pending.take();
        let mut batch = WriteBatch::default();
        for (from, to) in &ranges {
            batch.delete_range(from, to);
        }
        for (key, value) in &writes {
            match value {
                Some(value) => batch.put(key, value),
                None => batch.delete(key),
            }
        }
        if let Some(position) = position {
            let cf = position_cf(&state.name, &db)?;
            batch.put_cf(cf, POSITION_KEY, position.to_be_bytes());
        }
        let mut options = WriteOptions::default();
        options.disable_wal(true);
        db.write_opt(batch, &options)
            .map_err(|source| Error::RocksDb {
                store: state.name.clone(),
                op: "commit",
                source,
            })
    }

    /// Drops every pending write: the store reads as of its last commit again.
    pub fn abort(&self) {
        self.lock().pending.clear();
    }

    /// The changelog position committed with the store's data, if any.
    pub fn position(&self) -> Result<Option<i64>> {
        let state = self.lock();
        match &state.db {
            Some(db) => read_position(&state.name, db),
            None => Err(Error::Closed {
                store: state.name.clone(),
            }),
        }
    }

    /// An estimate of the memory the pending writes take.
    pub fn uncommitted_bytes(&self) -> usize {
        self.lock().pending.bytes()
    }

    /// The store's name.
    pub fn store_name(&self) -> String {
        self.lock().name.clone()
    }
}

fn position_cf<'a>(store: &str, db: &'a DB) -> Result<&'a rocksdb::ColumnFamily> {
    db.cf_handle(POSITION_CF).ok_or_else(|| Error::Corrupt {
        store: store.to_string(),
        reason: format!("the column family `{POSITION_CF}` is missing"),
    })
}

/// The position committed in `db`, if any.
pub(crate) fn read_position(store: &str, db: &DB) -> Result<Option<i64>> {
    let cf = position_cf(store, db)?;
    let raw = db
        .get_cf(cf, POSITION_KEY)
        .map_err(|source| Error::RocksDb {
            store: store.to_string(),
            op: "get",
            source,
        })?;
    match raw {
        None => Ok(None),
        Some(bytes) => {
            let bytes: [u8; 8] = bytes.as_slice().try_into().map_err(|_| Error::Corrupt {
                store: store.to_string(),
                reason: format!("a changelog position of {} bytes, not 8", bytes.len()),
            })?;
            Ok(Some(i64::from_be_bytes(bytes)))
        }
    }
}

/// Flushes the memtables of every column family at once (data and position stay consistent).
pub(crate) fn flush_all(db: &DB) -> std::result::Result<(), rocksdb::Error> {
    let default = db.cf_handle(rocksdb::DEFAULT_COLUMN_FAMILY_NAME);
    let position = db.cf_handle(POSITION_CF);
    let families: Vec<&rocksdb::ColumnFamily> = default.into_iter().chain(position).collect();
    db.flush_cfs_opt(&families, &FlushOptions::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        KeyValueStore, ReadOnlyKeyValueStore, RocksDbKeyValueStore, RocksDbOptions, StateStore,
    };

    fn open(dir: &std::path::Path) -> (RocksDbKeyValueStore, StoreTransaction) {
        RocksDbKeyValueStore::open_transactional("t", dir, &RocksDbOptions::default())
            .expect("open")
    }

    #[test]
    fn writes_reach_rocksdb_only_when_committed() -> Result<()> {
        let dir = tempfile::tempdir().expect("dir");
        let (mut store, txn) = open(dir.path());
        let query = store.query_handle().expect("query handle");
        store.put(b"a", b"1")?;
        assert_eq!(store.get(b"a")?, Some(b"1".to_vec()), "read through");
        assert_eq!(query.get(b"a")?, None, "queries read committed data");
        txn.commit(Some(41))?;
        assert_eq!(query.get(b"a")?, Some(b"1".to_vec()));
        assert_eq!(txn.position()?, Some(41));
        store.put(b"a", b"2")?;
        store.delete_range(b"a", b"b")?;
        store.put(b"b", b"3")?;
        assert_eq!(store.get(b"a")?, None);
        txn.abort();
        assert_eq!(store.get(b"a")?, Some(b"1".to_vec()), "aborted");
        assert_eq!(store.get(b"b")?, None);
        assert_eq!(txn.uncommitted_bytes(), 0);
        Ok(())
    }

    #[test]
    fn a_store_closed_without_commit_reopens_as_of_its_last_commit() -> Result<()> {
        let dir = tempfile::tempdir().expect("dir");
        {
            let (mut store, txn) = open(dir.path());
            store.put(b"a", b"1")?;
            txn.commit(Some(7))?;
            store.put(b"a", b"2")?;
            store.put(b"c", b"3")?;
            store.close()?;
            assert!(txn.commit(Some(9)).is_err(), "closed");
        }
        let (store, txn) = open(dir.path());
        assert_eq!(store.get(b"a")?, Some(b"1".to_vec()));
        assert_eq!(store.get(b"c")?, None);
        assert_eq!(txn.position()?, Some(7));
        assert_eq!(store.committed_position()?, Some(7));
        let all: Vec<_> = store.all()?.collect::<Result<_>>()?;
        assert_eq!(all, vec![(b"a".to_vec(), b"1".to_vec())]);
        Ok(())
    }

    #[test]
    fn a_plain_store_opens_a_transactional_ones_directory_and_back() -> Result<()> {
        let dir = tempfile::tempdir().expect("dir");
        {
            let (mut store, txn) = open(dir.path());
            store.put(b"a", b"1")?;
            txn.commit(Some(3))?;
            store.close()?;
        }
        {
            let mut plain = RocksDbKeyValueStore::open("t", dir.path())?;
            assert_eq!(plain.get(b"a")?, Some(b"1".to_vec()));
            assert_eq!(plain.committed_position()?, Some(3));
            plain.put(b"b", b"2")?;
            plain.close()?;
        }
        let (store, _txn) = open(dir.path());
        assert_eq!(store.get(b"b")?, Some(b"2".to_vec()));
        Ok(())
    }
}
