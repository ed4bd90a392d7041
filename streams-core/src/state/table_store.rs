//! [`TableStore`]: the store of a DSL table, timestamped or versioned, behind one interface (as
//! Kafka Streams' `KeyValueStoreWrapper` serves its table processors).

use streams_state::PutOutcome;

use super::{KeyValueStoreHandle, VersionedKeyValueStoreHandle};
use crate::Result;

/// A table's store: the latest value per key with its timestamp, or every value by time.
#[derive(Debug)]
pub(crate) enum TableStore<K, V> {
    Timestamped(KeyValueStoreHandle<K, V>),
    Versioned(VersionedKeyValueStoreHandle<K, V>),
}

impl<K: 'static, V: 'static> TableStore<K, V> {
    /// Whether the table keeps its history (lookups as of a time see it).
    pub(crate) fn is_versioned(&self) -> bool {
        matches!(self, TableStore::Versioned(_))
    }

    /// The latest value of `key` and its timestamp.
    pub(crate) fn get_with_timestamp(&self, key: &K) -> Result<Option<(V, i64)>> {
        match self {
            TableStore::Timestamped(store) => store.get_with_timestamp(key),
            TableStore::Versioned(store) => Ok(store
                .get(key)?
                .map(|record| (record.value, record.timestamp))),
        }
    }

    /// The value of `key` as of `timestamp` with its timestamp: the latest value for a
    /// timestamped store, which keeps nothing else.
    pub(crate) fn get_as_of(&self, key: &K, timestamp: i64) -> Result<Option<(V, i64)>> {
        match self {
            TableStore::Timestamped(store) => store.get_with_timestamp(key),
            TableStore::Versioned(store) => Ok(store
                .get_as_of(key, timestamp)?
                .map(|record| (record.value, record.timestamp))),
        }
    }

    /// Stores `value` (`None`, or a value the serde calls null: a delete) for `key` at
    /// `timestamp`. A timestamped store always takes it as the latest value.
    pub(crate) fn put(&self, key: &K, value: Option<&V>, timestamp: i64) -> Result<PutOutcome> {
        match self {
            TableStore::Timestamped(store) => {
                match value {
                    Some(value) => store.put_with_timestamp(key, value, timestamp)?,
                    None => store.delete(key)?,
                }
                Ok(PutOutcome::Latest)
            }
            TableStore::Versioned(store) => {
                let value = value.filter(|v| !store.is_null_value(v));
                store.put_value(key, value, timestamp)
            }
        }
    }

    /// Whether `value` is Kafka's null to the store's value serde: storing it deletes.
    pub(crate) fn is_null_value(&self, value: &V) -> bool {
        match self {
            TableStore::Timestamped(store) => store.is_null_value(value),
            TableStore::Versioned(store) => store.is_null_value(value),
        }
    }

    /// The timestamped store, for what only it does (its record cache).
    pub(crate) fn timestamped(&self) -> Option<&KeyValueStoreHandle<K, V>> {
        match self {
            TableStore::Timestamped(store) => Some(store),
            TableStore::Versioned(_) => None,
        }
    }
}
