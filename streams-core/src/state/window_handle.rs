//! [`WindowStoreHandle`]: a typed view of a task's window store.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use streams_state::{WindowFlush, WindowStore};

use crate::serde::{SerdeError, SharedSerde};
use crate::{Error, Result};

/// A window the record cache wrote through to the store: forwarded downstream by the DSL
/// processors that own cached window stores (crate-private, as
/// [`CachedChange`](super::CachedChange) is).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CachedWindow<K, V> {
    pub(crate) key: K,
    /// The window's start.
    pub(crate) start: i64,
    /// The value written (`None`: removed).
    pub(crate) new: Option<V>,
    /// The value the store held before.
    pub(crate) old: Option<V>,
    /// The timestamp of the record that last wrote the window.
    pub(crate) timestamp: i64,
    /// It had expired when written through: forwarded, but not kept (a dropped record).
    pub(crate) expired: bool,
}

/// A typed window store: values by key and window start time.
///
/// Each write is stamped with the timestamp of the record being processed: it stamps the
/// changelog record, and the store keeps the largest as the stream time it resumes from after
/// a restart.
pub struct WindowStoreHandle<K, V> {
    name: Rc<str>,
    task: Rc<str>,
    store: Rc<RefCell<WindowStore>>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    /// The timestamp of the record being processed.
    now: Rc<Cell<i64>>,
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
        now: Rc<Cell<i64>>,
    ) -> Self {
        WindowStoreHandle {
            name,
            task,
            store,
            key_serde,
            value_serde,
            now,
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
    /// Kafka's null removes the window instead, as in Kafka Streams. With a record cache the
    /// window goes to the cache and the put returns `true`: retention applies when the cache
    /// writes it through (a window expired by then is logged and dropped, as in Kafka Streams).
    pub fn put(&self, key: &K, value: &V, start: i64) -> Result<bool> {
        let key = self.key_bytes(key)?;
        let now = Some(self.now.get());
        if self.value_serde.is_null(value) {
            return self
                .store()?
                .put_with_record_time(&key, None, start, now)
                .map_err(self.state_err());
        }
        let mut bytes = Vec::new();
        self.value_serde
            .serialize(value, &mut bytes)
            .map_err(self.serde_err())?;
        self.store()?
            .put_with_record_time(&key, Some(&bytes), start, now)
            .map_err(self.state_err())
    }

    /// Removes `key`'s window starting at `start`.
    pub fn delete(&self, key: &K, start: i64) -> Result<()> {
        let key = self.key_bytes(key)?;
        let now = Some(self.now.get());
        self.store()?
            .put_with_record_time(&key, None, start, now)
            .map_err(self.state_err())
            .map(|_| ())
    }

    /// The largest timestamp of the records that wrote the store, kept across restarts and
    /// restored with it: where the stream time of the processor owning the store resumes.
    /// `None` before any write.
    pub fn stream_time(&self) -> Result<Option<i64>> {
        Ok(self.store()?.stream_time())
    }

    fn decode(&self, bytes: Option<Vec<u8>>) -> Result<Option<V>> {
        bytes
            .map(|b| self.value_serde.deserialize(&b).map_err(self.serde_err()))
            .transpose()
    }

    fn decode_flushes(&self, flushes: Vec<WindowFlush>) -> Result<Vec<CachedWindow<K, V>>> {
        flushes
            .into_iter()
            .map(|f| {
                Ok(CachedWindow {
                    key: self
                        .key_serde
                        .deserialize(&f.key)
                        .map_err(self.serde_err())?,
                    start: f.start,
                    new: self.decode(f.new)?,
                    old: self.decode(f.old)?,
                    timestamp: f.timestamp.unwrap_or_else(|| self.now.get()),
                    expired: f.expired,
                })
            })
            .collect()
    }

    /// Writes the record cache's dirty windows through and returns them (empty without a
    /// cache), with those it evicted since they were last taken.
    pub(crate) fn flush_cache(&self) -> Result<Vec<CachedWindow<K, V>>> {
        let flushes = self.store()?.flush_cache().map_err(self.state_err())?;
        self.decode_flushes(flushes)
    }

    /// Whether windows the record cache writes through carry their old values
    /// ([`WindowStore::set_send_old_values`]).
    pub(crate) fn set_send_old_values(&self, on: bool) -> Result<()> {
        self.store()?.set_send_old_values(on);
        Ok(())
    }

    /// Windows the record cache evicted (written through) since the last call.
    pub(crate) fn take_evicted(&self) -> Result<Vec<CachedWindow<K, V>>> {
        let flushes = self.store()?.take_evicted();
        self.decode_flushes(flushes)
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
        let key = self.key_bytes(key)?;
        let found = self
            .store()?
            .fetch_one(&key, start)
            .map_err(self.state_err())?;
        self.decode(found)
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
