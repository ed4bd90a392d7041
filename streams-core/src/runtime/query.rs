//! Interactive queries: read-only views of the local instances of a store.

use std::sync::Arc;

use super::instance::InstanceShared;
use crate::serde::SharedSerde;
use crate::{Error, Result};

/// A read-only, typed view of one store across the tasks of this instance. Each call looks up
/// the tasks the instance runs at that moment, so the view stays valid across rebalances. As
/// in Kafka Streams, reads go through the record cache: a query sees what processors wrote,
/// including values not yet flushed to RocksDB or sent downstream.
pub struct ReadOnlyKeyValueStoreView<K, V> {
    name: String,
    /// Whether stored values start with their 8-byte timestamp (the DSL's tables).
    timestamped: bool,
    shared: Arc<InstanceShared>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K, V> std::fmt::Debug for ReadOnlyKeyValueStoreView<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyKeyValueStoreView")
            .field("name", &self.name)
            .finish()
    }
}

impl<K: 'static, V: 'static> ReadOnlyKeyValueStoreView<K, V> {
    pub(crate) fn new(
        name: String,
        timestamped: bool,
        shared: Arc<InstanceShared>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        ReadOnlyKeyValueStoreView {
            name,
            timestamped,
            shared,
            key_serde,
            value_serde,
        }
    }

    fn err(&self) -> impl Fn(streams_state::Error) -> Error + '_ {
        |source| Error::State {
            task: format!("query of `{}`", self.name),
            source,
        }
    }

    fn serde_err(&self) -> impl Fn(crate::serde::SerdeError) -> Error + '_ {
        |source| Error::StoreSerde {
            store: self.name.clone(),
            source,
        }
    }

    fn value(&self, bytes: &[u8]) -> Result<V> {
        let bytes = if self.timestamped {
            streams_state::split_timestamped(bytes)
                .map(|(_, value)| value)
                .ok_or_else(|| Error::StoreSerde {
                    store: self.name.clone(),
                    source: crate::serde::SerdeError::deserialize::<V>(
                        "value shorter than its 8-byte timestamp",
                    ),
                })?
        } else {
            bytes
        };
        self.value_serde
            .deserialize(bytes)
            .map_err(self.serde_err())
    }

    /// The value under `key`, if a local task holds it.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let mut bytes = Vec::new();
        self.key_serde
            .serialize(key, &mut bytes)
            .map_err(self.serde_err())?;
        for (_, handle) in self.shared.store_handles(&self.name) {
            if let Some(value) = handle.get(&bytes).map_err(self.err())? {
                return self.value(&value).map(Some);
            }
        }
        Ok(None)
    }

    /// Every local entry, ordered by serialized key.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        let mut raw = Vec::new();
        for (_, handle) in self.shared.store_handles(&self.name) {
            for entry in handle.all().map_err(self.err())? {
                raw.push(entry.map_err(self.err())?);
            }
        }
        raw.sort_by(|a, b| a.0.cmp(&b.0));
        raw.into_iter()
            .map(|(k, v)| {
                Ok((
                    self.key_serde.deserialize(&k).map_err(self.serde_err())?,
                    self.value(&v)?,
                ))
            })
            .collect()
    }

    /// An estimate of the number of local entries.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        let mut total = 0;
        for (_, handle) in self.shared.store_handles(&self.name) {
            total += handle.approximate_num_entries().map_err(self.err())?;
        }
        Ok(total)
    }
}
