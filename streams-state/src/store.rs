//! The store traits: every engine and layer implements them over raw bytes.

use std::sync::Arc;

use crate::Result;

/// A key and its value, both as bytes.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// An iterator over key-value pairs in ascending key order.
pub type KeyValueIter<'a> = Box<dyn Iterator<Item = Result<KeyValue>> + 'a>;

/// One change read back from a changelog topic: a put, or a delete when `value` is `None`.
///
/// Non-exhaustive (more of the changelog record, such as its headers, may follow): build one
/// with [`ChangelogRecord::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangelogRecord {
    /// The store key.
    pub key: Vec<u8>,
    /// The new value, or `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// The changelog record's timestamp.
    pub timestamp: i64,
}

impl ChangelogRecord {
    /// A put of `value` under `key` (a delete when `value` is `None`) stamped `timestamp`.
    pub fn new(key: Vec<u8>, value: Option<Vec<u8>>, timestamp: i64) -> Self {
        ChangelogRecord {
            key,
            value,
            timestamp,
        }
    }
}

/// An entry the record cache wrote through to the store beneath it (on eviction or flush):
/// the key, its new value (`None`: deleted) and the value the store held before.
///
/// Non-exhaustive: build one with [`CacheFlush::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheFlush {
    /// The store key.
    pub key: Vec<u8>,
    /// The value written; `None` if the key was deleted.
    pub new: Option<Vec<u8>>,
    /// The value the store held before.
    pub old: Option<Vec<u8>>,
}

impl CacheFlush {
    /// `key` now holding `new` (`None`: deleted), where it held `old`.
    pub fn new(key: Vec<u8>, new: Option<Vec<u8>>, old: Option<Vec<u8>>) -> Self {
        CacheFlush { key, new, old }
    }
}

/// What every store has: a name, a lifecycle and durability.
pub trait StateStore {
    /// The store's name, unique within a topology.
    fn name(&self) -> &str;
    /// Whether the store keeps its data on disk across restarts.
    fn persistent(&self) -> bool;
    /// Makes every write so far durable in the engine (for RocksDB, flushes the memtables), so
    /// that a checkpoint written afterwards does not claim more than the store holds.
    fn flush(&mut self) -> Result<()>;
    /// Flushes and releases the store. Further use fails with [`crate::Error::Closed`].
    fn close(&mut self) -> Result<()>;
}

/// Reads of a key-value store. Ranges are inclusive at both ends, as in Kafka Streams; a range
/// whose `from` is above its `to` is empty.
pub trait ReadOnlyKeyValueStore {
    /// The value stored under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>>;
    /// Entries with `from <= key <= to`; `None` leaves that end open.
    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>>;
    /// Entries whose key starts with `prefix`.
    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>>;
    /// Every entry.
    fn all(&self) -> Result<KeyValueIter<'_>> {
        self.range(None, None)
    }
    /// An estimate of the number of entries (exact for in-memory stores).
    fn approximate_num_entries(&self) -> Result<u64>;
    /// An integer property of the storage engine beneath, such as RocksDB's
    /// `rocksdb.estimate-num-keys` or `rocksdb.cur-size-all-mem-tables` (read for metrics);
    /// `None` when the engine has no such property. Layers pass it to the store they wrap.
    fn property_int(&self, name: &str) -> Result<Option<u64>> {
        let _ = name;
        Ok(None)
    }
}

/// A mutable key-value store over bytes.
pub trait KeyValueStore: StateStore + ReadOnlyKeyValueStore {
    /// Stores `value` under `key`, replacing any previous value.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes `key`; removing an absent key is not an error.
    fn delete(&mut self, key: &[u8]) -> Result<()>;
    /// Applies puts (`Some`) and deletes (`None`) in order.
    fn put_all(&mut self, entries: &[(&[u8], Option<&[u8]>)]) -> Result<()> {
        for (key, value) in entries {
            match value {
                Some(value) => self.put(key, value)?,
                None => self.delete(key)?,
            }
        }
        Ok(())
    }
    /// Applies records read back from the changelog. Unlike [`KeyValueStore::put`] this never
    /// writes to a changelog, and engines may load in bulk.
    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()>;
    /// Applies records read back from a timestamped store's changelog, whose values are stored
    /// behind their record's timestamp (see [`push_timestamp`](crate::push_timestamp)). The default builds the
    /// prefixed records and calls [`KeyValueStore::restore_batch`]; an engine may write them
    /// without the intermediate copies, as RocksDB does.
    fn restore_timestamped_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        let prefixed: Vec<ChangelogRecord> = records
            .iter()
            .map(|r| {
                let value = r.value.as_deref().map(|v| {
                    let mut out = Vec::with_capacity(8 + v.len());
                    crate::timestamped::push_timestamp(&mut out, r.timestamp);
                    out.extend_from_slice(v);
                    out
                });
                ChangelogRecord::new(r.key.clone(), value, r.timestamp)
            })
            .collect();
        self.restore_batch(&prefixed)
    }
    /// Writes every entry the record cache holds dirty through to the store beneath, and
    /// returns them with what they replaced. Stores without a cache have nothing to flush.
    fn flush_cache(&mut self) -> Result<Vec<CacheFlush>> {
        Ok(Vec::new())
    }
    /// Entries the record cache evicted (and wrote through) since the last call.
    fn take_evicted(&mut self) -> Vec<CacheFlush> {
        Vec::new()
    }
    /// Drops what the record cache holds without writing it anywhere, for a task closed
    /// without committing (its uncommitted work is redone by whoever runs it next; writing it
    /// through would put it in the changelog twice). Stores without a cache hold nothing.
    fn discard_cache(&mut self) {}
    /// Removes every key in `[from, to)`. Engines do it cheaply (RocksDB: a range tombstone).
    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()>;
    /// A handle for reading the store from other threads (interactive queries), if the engine
    /// offers one. It sees what the engine holds, not what upper layers still buffer.
    fn query_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>>;
}
