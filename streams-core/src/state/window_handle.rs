//! [`WindowStoreHandle`]: a typed view of a task's window store.

use std::cell::RefCell;
use std::rc::Rc;

use streams_state::WindowStore;

use crate::serde::{SerdeError, SharedSerde};
use crate::{Error, Result};

/// A typed window store: values by key and window start time.
pub struct WindowStoreHandle<K, V> {
    name: Rc<str>,
    task: Rc<str>,
    store: Rc<RefCell<WindowStore>>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K, V> std::fmt::Debug for WindowStoreHandle<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowStoreHandle")
            .field("name", &self.name)
            .finish()
    }
}

impl<K: 'static, V: 'static> WindowStoreHandle<K, V> {
    pub(crate) fn new(
        name: Rc<str>,
        task: Rc<str>,
        store: Rc<RefCell<WindowStore>>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        WindowStoreHandle {
            name,
            task,
            store,
            key_serde,
            value_serde,
        }
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

    fn store(&self) -> Result<std::cell::RefMut<'_, WindowStore>> {
        self.store.try_borrow_mut().map_err(|_| Error::StoreAccess {
            name: self.name.to_string(),
            reason: "used re-entrantly".into(),
        })
    }

    fn key_bytes(&self, key: &K) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.key_serde
            .serialize(key, &mut out)
            .map_err(self.serde_err())?;
        Ok(out)
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether `value` is Kafka's null to this store's value serde: storing it removes.
    pub(crate) fn is_null_value(&self, value: &V) -> bool {
        self.value_serde.is_null(value)
    }

    /// Stores `value` for `key`'s window starting at `start`. Returns `false` when the window
    /// is past the store's retention (nothing stored). A value the value serde writes as
    /// Kafka's null removes the window instead, as in Kafka Streams.
    pub fn put(&self, key: &K, value: &V, start: i64) -> Result<bool> {
        let key = self.key_bytes(key)?;
        if self.value_serde.is_null(value) {
            return self
                .store()?
                .put(&key, None, start)
                .map_err(self.state_err());
        }
        let mut bytes = Vec::new();
        self.value_serde
            .serialize(value, &mut bytes)
            .map_err(self.serde_err())?;
        self.store()?
            .put(&key, Some(&bytes), start)
            .map_err(self.state_err())
    }

    /// Removes `key`'s window starting at `start`.
    pub fn delete(&self, key: &K, start: i64) -> Result<()> {
        let key = self.key_bytes(key)?;
        self.store()?
            .put(&key, None, start)
            .map_err(self.state_err())
            .map(|_| ())
    }

    /// `key`'s windows with start in `[from, to]`, by start.
    pub fn fetch(&self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>> {
        let key = self.key_bytes(key)?;
        let found = self
            .store()?
            .fetch(&key, from, to)
            .map_err(self.state_err())?;
        found
            .into_iter()
            .map(|(start, v)| {
                Ok((
                    start,
                    self.value_serde.deserialize(&v).map_err(self.serde_err())?,
                ))
            })
            .collect()
    }

    /// The value of `key`'s window starting at `start`.
    pub fn fetch_one(&self, key: &K, start: i64) -> Result<Option<V>> {
        Ok(self
            .fetch(key, start, start)?
            .into_iter()
            .next()
            .map(|(_, v)| v))
    }

    /// All keys' windows with start in `[from, to]`.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<(K, i64, V)>> {
        let found = self
            .store()?
            .fetch_all(from, to)
            .map_err(self.state_err())?;
        found
            .into_iter()
            .map(|e| {
                Ok((
                    self.key_serde
                        .deserialize(&e.key)
                        .map_err(self.serde_err())?,
                    e.start,
                    self.value_serde
                        .deserialize(&e.value)
                        .map_err(self.serde_err())?,
                ))
            })
            .collect()
    }

    /// All keys' windows with start in `[from, to]`, ordered by start, then key bytes, with the
    /// retention of Kafka Streams' time-ordered window store, which windowed aggregations
    /// emitting on window close read their closed windows from.
    pub(crate) fn fetch_all_time_ordered(&self, from: i64, to: i64) -> Result<Vec<(K, i64, V)>> {
        let found = self
            .store()?
            .fetch_all_time_ordered(from, to)
            .map_err(self.state_err())?;
        found
            .into_iter()
            .map(|e| {
                Ok((
                    self.key_serde
                        .deserialize(&e.key)
                        .map_err(self.serde_err())?,
                    e.start,
                    self.value_serde
                        .deserialize(&e.value)
                        .map_err(self.serde_err())?,
                ))
            })
            .collect()
    }

    /// Every retained window.
    pub fn all(&self) -> Result<Vec<(K, i64, V)>> {
        self.fetch_all(i64::MIN, i64::MAX)
    }
}
