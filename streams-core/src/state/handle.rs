//! [`KeyValueStoreHandle`]: a typed view of a task's key-value store.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use streams_state::{CacheFlush, KeyValueStore, push_timestamp, split_timestamped};

use crate::serde::{Serde, SerdeError, SharedSerde};
use crate::{Error, Result};

/// An update the record cache wrote through to the store: forwarded downstream by the DSL
/// processors that own cached stores. Crate-private, as are the calls returning it: a user
/// processor taking a cached store's changes would take them from the DSL processor that
/// must forward them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CachedChange<K, V> {
    /// The key.
    pub(crate) key: K,
    /// The value written (`None`: deleted).
    pub(crate) new: Option<V>,
    /// The value the store held before.
    pub(crate) old: Option<V>,
    /// The new value's timestamp (for deletes, the time of the flush).
    pub(crate) timestamp: i64,
}

/// A typed key-value store, as a processor sees it. Keys are ordered by their serialized bytes
/// (so big-endian integers sort numerically and strings lexicographically by UTF-8).
///
/// A *timestamped* store (the DSL's tables) keeps each value's timestamp with it:
/// [`put`](Self::put) stamps the value with the current record's timestamp, and
/// [`get_with_timestamp`](Self::get_with_timestamp) returns it.
///
/// Scans return vectors, not lazy iterators: a handle shares its store with other processors of
/// the task, and a scan must not hold the store across their writes.
pub struct KeyValueStoreHandle<K, V> {
    name: Rc<str>,
    task: Rc<str>,
    store: Rc<RefCell<Box<dyn KeyValueStore>>>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    timestamped: bool,
    now: Rc<Cell<i64>>,
    key_buf: RefCell<Vec<u8>>,
    value_buf: RefCell<Vec<u8>>,
}

impl<K, V> std::fmt::Debug for KeyValueStoreHandle<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueStoreHandle")
            .field("name", &self.name)
            .field("task", &self.task)
            .field("timestamped", &self.timestamped)
            .finish()
    }
}

impl<K: 'static, V: 'static> KeyValueStoreHandle<K, V> {
    pub(crate) fn new(
        name: Rc<str>,
        task: Rc<str>,
        store: Rc<RefCell<Box<dyn KeyValueStore>>>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        timestamped: bool,
        now: Rc<Cell<i64>>,
    ) -> Self {
        KeyValueStoreHandle {
            name,
            task,
            store,
            key_serde,
            value_serde,
            timestamped,
            now,
            key_buf: RefCell::default(),
            value_buf: RefCell::default(),
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn state_err(&self) -> impl Fn(streams_state::Error) -> Error + '_ {
        |source| Error::State {
            task: self.task.to_string(),
            source,
        }
    }

    fn serde_err(&self) -> impl Fn(SerdeError) -> Error + '_ {
        |source| Error::StoreSerde {
            store: self.name.to_string(),
            source,
        }
    }

    fn store(&self) -> Result<std::cell::RefMut<'_, Box<dyn KeyValueStore>>> {
        self.store.try_borrow_mut().map_err(|_| Error::StoreAccess {
            name: self.name.to_string(),
            reason: "used re-entrantly while another call on it is in progress".to_string(),
        })
    }

    fn encode_key(&self, key: &K) -> Result<()> {
        let mut buf = self.key_buf.borrow_mut();
        buf.clear();
        self.key_serde
            .serialize(key, &mut buf)
            .map_err(self.serde_err())
    }

    fn encode_value(&self, value: &V, timestamp: i64) -> Result<()> {
        let mut buf = self.value_buf.borrow_mut();
        buf.clear();
        if self.timestamped {
            push_timestamp(&mut buf, timestamp);
        }
        self.value_serde
            .serialize(value, &mut buf)
            .map_err(self.serde_err())
    }

    /// Decodes stored bytes into the value and its timestamp (the current time for plain stores).
    fn decode_value(&self, bytes: &[u8]) -> Result<(V, i64)> {
        if self.timestamped {
            let (ts, value) = split_timestamped(bytes).ok_or_else(|| Error::StoreSerde {
                store: self.name.to_string(),
                source: SerdeError::deserialize::<V>("value shorter than its 8-byte timestamp"),
            })?;
            Ok((
                self.value_serde
                    .deserialize(value)
                    .map_err(self.serde_err())?,
                ts,
            ))
        } else {
            Ok((
                self.value_serde
                    .deserialize(bytes)
                    .map_err(self.serde_err())?,
                self.now.get(),
            ))
        }
    }

    fn decode_pair(&self, (k, v): (Vec<u8>, Vec<u8>)) -> Result<(K, V)> {
        let key = self.key_serde.deserialize(&k).map_err(self.serde_err())?;
        Ok((key, self.decode_value(&v)?.0))
    }

    /// The value under `key` and its timestamp.
    pub fn get_with_timestamp(&self, key: &K) -> Result<Option<(V, i64)>> {
        self.encode_key(key)?;
        let bytes = self
            .store()?
            .get(&self.key_buf.borrow())
            .map_err(self.state_err())?;
        bytes.map(|b| self.decode_value(&b)).transpose()
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        Ok(self.get_with_timestamp(key)?.map(|(v, _)| v))
    }

    /// Stores `value` under `key`, stamped with the current record's timestamp (a null value
    /// deletes the key, see [`put_with_timestamp`](Self::put_with_timestamp)).
    pub fn put(&self, key: &K, value: &V) -> Result<()> {
        self.put_with_timestamp(key, value, self.now.get())
    }

    /// Whether `value` is Kafka's null to this store's value serde: storing it deletes the key.
    pub(crate) fn is_null_value(&self, value: &V) -> bool {
        self.value_serde.is_null(value)
    }

    /// Stores `value` under `key` with `timestamp` (kept only by timestamped stores).
    ///
    /// A value that the value serde writes as Kafka's null (`None` of a
    /// [`Nullable`](crate::serde::Nullable) serde) deletes the key, as `put(key, null)` does in
    /// Kafka Streams: [`get`](Self::get) then returns `None`.
    pub fn put_with_timestamp(&self, key: &K, value: &V, timestamp: i64) -> Result<()> {
        if self.value_serde.is_null(value) {
            return self.delete(key);
        }
        self.encode_key(key)?;
        self.encode_value(value, timestamp)?;
        self.store()?
            .put(&self.key_buf.borrow(), &self.value_buf.borrow())
            .map_err(self.state_err())
    }

    /// Removes `key`.
    pub fn delete(&self, key: &K) -> Result<()> {
        self.encode_key(key)?;
        self.store()?
            .delete(&self.key_buf.borrow())
            .map_err(self.state_err())
    }

    /// Entries with `from <= key <= to` in byte order.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>> {
        let mut to_buf = Vec::new();
        self.key_serde
            .serialize(to, &mut to_buf)
            .map_err(self.serde_err())?;
        self.encode_key(from)?;
        let store = self.store()?;
        let iter = store
            .range(Some(&self.key_buf.borrow()), Some(&to_buf))
            .map_err(self.state_err())?;
        iter.map(|item| self.decode_pair(item.map_err(self.state_err())?))
            .collect()
    }

    /// Entries whose serialized key starts with the serialized `prefix`.
    pub fn prefix_scan<P: 'static>(
        &self,
        prefix: &P,
        prefix_serde: &dyn Serde<P>,
    ) -> Result<Vec<(K, V)>> {
        let mut bytes = Vec::new();
        prefix_serde
            .serialize(prefix, &mut bytes)
            .map_err(self.serde_err())?;
        let store = self.store()?;
        let iter = store.prefix_scan(&bytes).map_err(self.state_err())?;
        iter.map(|item| self.decode_pair(item.map_err(self.state_err())?))
            .collect()
    }

    /// Every entry, in key order.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        let store = self.store()?;
        let iter = store.all().map_err(self.state_err())?;
        iter.map(|item| self.decode_pair(item.map_err(self.state_err())?))
            .collect()
    }

    /// Visits entries in key order until `visit` returns `false`, without reading the rest
    /// (RocksDB iterates lazily). `visit` must not use this store.
    pub(crate) fn visit(&self, mut visit: impl FnMut(K, V) -> Result<bool>) -> Result<()> {
        let store = self.store()?;
        for item in store.all().map_err(self.state_err())? {
            let (key, value) = self.decode_pair(item.map_err(self.state_err())?)?;
            if !visit(key, value)? {
                break;
            }
        }
        Ok(())
    }

    /// An estimate of the number of entries.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        self.store()?
            .approximate_num_entries()
            .map_err(self.state_err())
    }

    fn decode_flushes(&self, flushes: Vec<CacheFlush>) -> Result<Vec<CachedChange<K, V>>> {
        flushes
            .into_iter()
            .map(|f| {
                let key = self
                    .key_serde
                    .deserialize(&f.key)
                    .map_err(self.serde_err())?;
                let new = f.new.as_deref().map(|b| self.decode_value(b)).transpose()?;
                let old = f.old.as_deref().map(|b| self.decode_value(b)).transpose()?;
                let timestamp = new.as_ref().map_or(self.now.get(), |(_, ts)| *ts);
                Ok(CachedChange {
                    key,
                    new: new.map(|(v, _)| v),
                    old: old.map(|(v, _)| v),
                    timestamp,
                })
            })
            .collect()
    }

    /// Writes the record cache's dirty entries through and returns them (empty without a cache).
    pub(crate) fn flush_cache(&self) -> Result<Vec<CachedChange<K, V>>> {
        let flushes = self.store()?.flush_cache().map_err(self.state_err())?;
        self.decode_flushes(flushes)
    }

    /// Entries the record cache evicted (written through) since the last call.
    pub(crate) fn take_evicted(&self) -> Result<Vec<CachedChange<K, V>>> {
        let flushes = self.store()?.take_evicted();
        self.decode_flushes(flushes)
    }
}
