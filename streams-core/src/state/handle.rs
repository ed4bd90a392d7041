//! [`KeyValueStoreHandle`]: a typed view of a task's key-value store.

use std::cell::RefCell;
use std::rc::Rc;

use streams_state::KeyValueStore;

use crate::serde::{Serde, SharedSerde};
use crate::{Error, Result};

/// A typed key-value store, as a processor sees it. Keys are ordered by their serialized bytes
/// (so big-endian integers sort numerically and strings lexicographically by UTF-8).
///
/// Scans return vectors, not lazy iterators: a handle shares its store with other processors of
/// the task, and a scan must not hold the store across their writes.
pub struct KeyValueStoreHandle<K, V> {
    name: Rc<str>,
    task: Rc<str>,
    store: Rc<RefCell<Box<dyn KeyValueStore>>>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    key_buf: RefCell<Vec<u8>>,
    value_buf: RefCell<Vec<u8>>,
}

impl<K, V> std::fmt::Debug for KeyValueStoreHandle<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueStoreHandle")
            .field("name", &self.name)
            .field("task", &self.task)
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
    ) -> Self {
        KeyValueStoreHandle {
            name,
            task,
            store,
            key_serde,
            value_serde,
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

    fn serde_err(&self) -> impl Fn(crate::serde::SerdeError) -> Error + '_ {
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

    fn encode_with<T: 'static>(
        &self,
        serde: &dyn Serde<T>,
        value: &T,
        buf: &RefCell<Vec<u8>>,
    ) -> Result<()> {
        let mut buf = buf.borrow_mut();
        buf.clear();
        serde.serialize(value, &mut buf).map_err(self.serde_err())
    }

    fn decode_pair(&self, (k, v): (Vec<u8>, Vec<u8>)) -> Result<(K, V)> {
        let key = self.key_serde.deserialize(&k).map_err(self.serde_err())?;
        let value = self.value_serde.deserialize(&v).map_err(self.serde_err())?;
        Ok((key, value))
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        self.encode_with(&*self.key_serde, key, &self.key_buf)?;
        let bytes = self
            .store()?
            .get(&self.key_buf.borrow())
            .map_err(self.state_err())?;
        bytes
            .map(|b| self.value_serde.deserialize(&b).map_err(self.serde_err()))
            .transpose()
    }

    /// Stores `value` under `key`.
    pub fn put(&self, key: &K, value: &V) -> Result<()> {
        self.encode_with(&*self.key_serde, key, &self.key_buf)?;
        self.encode_with(&*self.value_serde, value, &self.value_buf)?;
        self.store()?
            .put(&self.key_buf.borrow(), &self.value_buf.borrow())
            .map_err(self.state_err())
    }

    /// Removes `key`.
    pub fn delete(&self, key: &K) -> Result<()> {
        self.encode_with(&*self.key_serde, key, &self.key_buf)?;
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
        self.encode_with(&*self.key_serde, from, &self.key_buf)?;
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

    /// An estimate of the number of entries.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        self.store()?
            .approximate_num_entries()
            .map_err(self.state_err())
    }
}
