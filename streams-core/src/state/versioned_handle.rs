//! [`VersionedKeyValueStoreHandle`]: a typed view of a task's versioned key-value store.

use std::cell::RefCell;
use std::rc::Rc;

use streams_state::{PutOutcome, VersionedRecord, VersionedStore};

use crate::serde::{SerdeError, SharedSerde};
use crate::{Error, Result};

/// A typed versioned key-value store, as a processor sees it (Kafka Streams'
/// `VersionedKeyValueStore`): every key keeps its values by timestamp for the store's history
/// retention, and lookups ask for the latest value or the value as of a time.
///
/// The history retention is also the store's grace period: a put older than the largest
/// timestamp put so far minus the retention is refused ([`PutOutcome::NotPut`]).
///
/// ```
/// use std::time::Duration;
/// use streams_core::processor::{ProcessResult, Processor, ProcessorContext, Record};
/// use streams_core::state::{PutOutcome, VersionedKeyValueStoreHandle};
///
/// /// Keeps each account's balance history; forwards balances that arrived late.
/// struct Balances {
///     store: Option<VersionedKeyValueStoreHandle<String, i64>>,
/// }
///
/// impl Processor for Balances {
///     type KeyIn = String;
///     type ValueIn = i64;
///     type KeyOut = String;
///     type ValueOut = i64;
///
///     fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> ProcessResult {
///         self.store = Some(ctx.versioned_key_value_store("balances")?);
///         Ok(())
///     }
///
///     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, i64>, record: Record<String, i64>) -> ProcessResult {
///         let Some(store) = &self.store else { return Ok(()) };
///         if let PutOutcome::ValidTo(_) = store.put(&record.key, &record.value, record.timestamp)? {
///             ctx.forward(record)?;
///         }
///         Ok(())
///     }
/// }
/// # let _ = Balances { store: None };
/// ```
pub struct VersionedKeyValueStoreHandle<K, V> {
    name: Rc<str>,
    task: Rc<str>,
    store: Rc<RefCell<VersionedStore>>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K, V> std::fmt::Debug for VersionedKeyValueStoreHandle<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VersionedKeyValueStoreHandle")
            .field("name", &self.name)
            .field("task", &self.task)
            .finish()
    }
}

impl<K: 'static, V: 'static> VersionedKeyValueStoreHandle<K, V> {
    pub(crate) fn new(
        name: Rc<str>,
        task: Rc<str>,
        store: Rc<RefCell<VersionedStore>>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        VersionedKeyValueStoreHandle {
            name,
            task,
            store,
            key_serde,
            value_serde,
        }
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How long older versions stay queryable (and how late a put may be), in ms.
    pub fn history_retention_ms(&self) -> i64 {
        self.store.borrow().history_retention()
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

    fn store(&self) -> Result<std::cell::RefMut<'_, VersionedStore>> {
        self.store.try_borrow_mut().map_err(|_| Error::StoreAccess {
            name: self.name.to_string(),
            reason: "used re-entrantly while another call on it is in progress".to_string(),
        })
    }

    fn key_bytes(&self, key: &K) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.key_serde
            .serialize(key, &mut out)
            .map_err(self.serde_err())?;
        Ok(out)
    }

    fn decode(
        &self,
        record: Option<VersionedRecord<Vec<u8>>>,
    ) -> Result<Option<VersionedRecord<V>>> {
        record
            .map(|r| {
                let value = self
                    .value_serde
                    .deserialize(&r.value)
                    .map_err(self.serde_err())?;
                Ok(r.map(|_| value))
            })
            .transpose()
    }

    /// Puts `value` as `key`'s version at `timestamp` (a value the value serde writes as
    /// Kafka's null is a delete from `timestamp` on). Returns whether it is now the latest
    /// version, until when it is valid, or that it was too old to be put.
    pub fn put(&self, key: &K, value: &V, timestamp: i64) -> Result<PutOutcome> {
        if self.value_serde.is_null(value) {
            return self.put_value(key, None, timestamp);
        }
        self.put_value(key, Some(value), timestamp)
    }

    /// Whether `value` is Kafka's null to this store's value serde: putting it deletes.
    pub(crate) fn is_null_value(&self, value: &V) -> bool {
        self.value_serde.is_null(value)
    }

    /// Puts `value` (`None`: a tombstone) as `key`'s version at `timestamp`.
    pub(crate) fn put_value(
        &self,
        key: &K,
        value: Option<&V>,
        timestamp: i64,
    ) -> Result<PutOutcome> {
        let key = self.key_bytes(key)?;
        let value = value
            .map(|v| {
                let mut out = Vec::new();
                self.value_serde
                    .serialize(v, &mut out)
                    .map_err(self.serde_err())?;
                Ok::<_, Error>(out)
            })
            .transpose()?;
        self.store()?
            .put(&key, value.as_deref(), timestamp)
            .map_err(self.state_err())
    }

    /// Deletes `key` from `timestamp` on and returns the version valid at `timestamp`;
    /// nothing happens (and `None` comes back) when `timestamp` is too old to be put.
    pub fn delete(&self, key: &K, timestamp: i64) -> Result<Option<VersionedRecord<V>>> {
        let key = self.key_bytes(key)?;
        let deleted = self
            .store()?
            .delete(&key, timestamp)
            .map_err(self.state_err())?;
        self.decode(deleted)
    }

    /// The latest value of `key`, with its timestamp.
    pub fn get(&self, key: &K) -> Result<Option<VersionedRecord<V>>> {
        let key = self.key_bytes(key)?;
        let found = self.store()?.get(&key).map_err(self.state_err())?;
        self.decode(found)
    }

    /// The value of `key` as of `timestamp`: the version with the largest timestamp not after
    /// it, unless that is a delete. Older than the history retention allows (relative to the
    /// store's stream time) only the latest value can answer.
    pub fn get_as_of(&self, key: &K, timestamp: i64) -> Result<Option<VersionedRecord<V>>> {
        let key = self.key_bytes(key)?;
        let found = self
            .store()?
            .get_as_of(&key, timestamp)
            .map_err(self.state_err())?;
        self.decode(found)
    }
}
