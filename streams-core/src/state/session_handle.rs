//! [`SessionStoreHandle`]: a typed view of a task's session store.

use std::cell::RefCell;
use std::rc::Rc;

use streams_state::SessionStore;

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

/// A typed session store: values by key and session.
pub struct SessionStoreHandle<K, V> {
    name: Rc<str>,
    task: Rc<str>,
    store: Rc<RefCell<SessionStore>>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
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
    ) -> Self {
        SessionStoreHandle {
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
    /// removes the session instead, as in Kafka Streams.
    pub fn put(&self, key: &K, session: Session, value: &V) -> Result<bool> {
        let key = self.key_bytes(key)?;
        if self.value_serde.is_null(value) {
            return self
                .store()?
                .put(&key, session.start, session.end, None)
                .map_err(self.state_err());
        }
        let mut bytes = Vec::new();
        self.value_serde
            .serialize(value, &mut bytes)
            .map_err(self.serde_err())?;
        self.store()?
            .put(&key, session.start, session.end, Some(&bytes))
            .map_err(self.state_err())
    }

    /// Removes `key`'s `session`.
    pub fn remove(&self, key: &K, session: Session) -> Result<()> {
        let key = self.key_bytes(key)?;
        self.store()?
            .put(&key, session.start, session.end, None)
            .map_err(self.state_err())
            .map(|_| ())
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
