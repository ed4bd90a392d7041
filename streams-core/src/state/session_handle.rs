//! [`SessionStoreHandle`]: a typed view of a task's session store.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use streams_state::{SessionFlush, SessionStore};

use crate::serde::{SerdeError, SharedSerde};
use crate::{Error, Result};

/// A session's bounds: the timestamps of its first and last records (both inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Session {
    /// First record's timestamp.
    pub start: i64,
    /// Last record's timestamp.
    pub end: i64,
}

/// A session the record cache wrote through to the store: forwarded downstream by the DSL
/// processors that own cached session stores.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CachedSession<K, V> {
    pub(crate) key: K,
    pub(crate) session: Session,
    /// The value written (`None`: removed).
    pub(crate) new: Option<V>,
    /// The value the store held before.
    pub(crate) old: Option<V>,
    /// It had expired when written through: forwarded, but not kept (a dropped record).
    pub(crate) expired: bool,
}

/// A typed session store: values by key and session.
///
/// Each write is stamped with the timestamp of the record being processed: it stamps the
/// changelog record, and the store keeps the largest as the stream time it resumes from after
/// a restart.
pub struct SessionStoreHandle<K, V> {
    name: Rc<str>,
    task: Rc<str>,
    store: Rc<RefCell<SessionStore>>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    /// The timestamp of the record being processed.
    now: Rc<Cell<i64>>,
}

impl<K, V> std::fmt::Debug for SessionStoreHandle<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionStoreHandle")
            .field("name", &self.name)
            .finish()
    }
}

impl<K: 'static, V: 'static> SessionStoreHandle<K, V> {
    pub(crate) fn new(
        name: Rc<str>,
        task: Rc<str>,
        store: Rc<RefCell<SessionStore>>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        now: Rc<Cell<i64>>,
    ) -> Self {
        SessionStoreHandle {
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

    fn store(&self) -> Result<std::cell::RefMut<'_, SessionStore>> {
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

    /// Stores `value` for `key`'s `session`. Returns `false` when the session ended before the
    /// store's retention (nothing stored). A value the value serde writes as Kafka's null
    /// removes the session instead, as in Kafka Streams. With a record cache the session goes
    /// to the cache and the put returns `true`: retention applies when the cache writes it
    /// through.
    pub fn put(&self, key: &K, session: Session, value: &V) -> Result<bool> {
        let key = self.key_bytes(key)?;
        if self.value_serde.is_null(value) {
            return self.write(&key, session, None);
        }
        let mut bytes = Vec::new();
        self.value_serde
            .serialize(value, &mut bytes)
            .map_err(self.serde_err())?;
        self.write(&key, session, Some(&bytes))
    }

    fn write(&self, key: &[u8], session: Session, value: Option<&[u8]>) -> Result<bool> {
        let now = Some(self.now.get());
        self.store()?
            .put_with_record_time(key, session.start, session.end, value, now)
            .map_err(self.state_err())
    }

    /// Removes `key`'s `session`.
    pub fn remove(&self, key: &K, session: Session) -> Result<()> {
        let key = self.key_bytes(key)?;
        self.write(&key, session, None).map(|_| ())
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

    fn decode_flushes(&self, flushes: Vec<SessionFlush>) -> Result<Vec<CachedSession<K, V>>> {
        flushes
            .into_iter()
            .map(|f| {
                Ok(CachedSession {
                    key: self
                        .key_serde
                        .deserialize(&f.key)
                        .map_err(self.serde_err())?,
                    session: Session {
                        start: f.start,
                        end: f.end,
                    },
                    new: self.decode(f.new)?,
                    old: self.decode(f.old)?,
                    expired: f.expired,
                })
            })
            .collect()
    }

    /// Writes the record cache's dirty sessions through and returns them (empty without a
    /// cache), with those it evicted since they were last taken.
    pub(crate) fn flush_cache(&self) -> Result<Vec<CachedSession<K, V>>> {
        let flushes = self.store()?.flush_cache().map_err(self.state_err())?;
        self.decode_flushes(flushes)
    }

    /// Sessions the record cache evicted (written through) since the last call.
    pub(crate) fn take_evicted(&self) -> Result<Vec<CachedSession<K, V>>> {
        let flushes = self.store()?.take_evicted();
        self.decode_flushes(flushes)
    }

    /// `key`'s sessions with `end >= earliest_end` and `start <= latest_start`.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<(Session, V)>> {
        let key = self.key_bytes(key)?;
        let found = self
            .store()?
            .find_sessions(&key, earliest_end, latest_start)
            .map_err(self.state_err())?;
        found
            .into_iter()
            .map(|e| {
                Ok((
                    Session {
                        start: e.start,
                        end: e.end,
                    },
                    self.value_serde
                        .deserialize(&e.value)
                        .map_err(self.serde_err())?,
                ))
            })
            .collect()
    }

    /// Every key's sessions ending in `[earliest_end, latest_end]`, ordered by end, key bytes,
    /// start (Kafka Streams' time-ordered session store's order).
    pub(crate) fn sessions_ending_between(
        &self,
        earliest_end: i64,
        latest_end: i64,
    ) -> Result<Vec<(K, Session, V)>> {
        let found = self
            .store()?
            .sessions_ending_between(earliest_end, latest_end)
            .map_err(self.state_err())?;
        self.decode_all(found)
    }

    /// Every retained session.
    pub fn all(&self) -> Result<Vec<(K, Session, V)>> {
        let found = self.store()?.all().map_err(self.state_err())?;
        self.decode_all(found)
    }

    fn decode_all(&self, found: Vec<streams_state::SessionEntry>) -> Result<Vec<(K, Session, V)>> {
        found
            .into_iter()
            .map(|e| {
                Ok((
                    self.key_serde
                        .deserialize(&e.key)
                        .map_err(self.serde_err())?,
                    Session {
                        start: e.start,
                        end: e.end,
                    },
                    self.value_serde
                        .deserialize(&e.value)
                        .map_err(self.serde_err())?,
                ))
            })
            .collect()
    }
}
