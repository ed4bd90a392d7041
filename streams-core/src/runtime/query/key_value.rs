//! [`ReadOnlyKeyValueStoreView`]: interactive queries of a key-value store.

use std::sync::Arc;

use super::ViewCore;
use crate::runtime::instance::{InstanceShared, QueryHandle};
use crate::serde::SharedSerde;
use crate::{Error, Result};

/// A read-only, typed view of one key-value store across the tasks of this instance. As in
/// Kafka Streams, reads go through the record cache: a query sees what processors wrote,
/// including values not yet flushed to RocksDB or sent downstream.
pub struct ReadOnlyKeyValueStoreView<K, V> {
    core: ViewCore<K, V>,
    /// Whether stored values start with their 8-byte timestamp (the DSL's tables).
    timestamped: bool,
}

impl<K, V> std::fmt::Debug for ReadOnlyKeyValueStoreView<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyKeyValueStoreView")
            .field("name", &self.core.name)
            .field("stale", &self.core.stale)
            .finish()
    }
}

/// An entry with its serialized key, which orders entries across tasks and pages.
pub(crate) type RawEntry<K, V> = (Vec<u8>, K, V);

impl<K: 'static, V: 'static> ReadOnlyKeyValueStoreView<K, V> {
    pub(crate) fn new(
        name: &str,
        timestamped: bool,
        shared: Arc<InstanceShared>,
        serdes: (SharedSerde<K>, SharedSerde<V>),
    ) -> Self {
        ReadOnlyKeyValueStoreView {
            core: ViewCore::new(name, shared, serdes),
            timestamped,
        }
    }

    /// The same view, also answering from the stores of this instance's standby tasks
    /// (Kafka Streams' `StoreQueryParameters.enableStaleStores()`): their values may be behind
    /// the active task's.
    pub fn with_stale_stores(mut self) -> Self {
        self.core.stale = true;
        self
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    fn value(&self, bytes: &[u8]) -> Result<V> {
        let bytes = if self.timestamped {
            streams_state::split_timestamped(bytes)
                .map(|(_, value)| value)
                .ok_or_else(|| Error::StoreSerde {
                    store: self.core.name.clone(),
                    source: crate::serde::SerdeError::deserialize::<V>(
                        "value shorter than its 8-byte timestamp",
                    ),
                })?
        } else {
            bytes
        };
        self.core.value(bytes)
    }

    fn stores(&self) -> Result<Vec<Arc<dyn streams_state::ReadOnlyKeyValueStore + Send + Sync>>> {
        self.core
            .handles()?
            .into_iter()
            .map(|(_, handle)| match handle {
                QueryHandle::KeyValue(store) => Ok(store),
                _ => Err(self.core.wrong_kind("key-value")),
            })
            .collect()
    }

    /// The value under `key`, if a local task holds it.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        let bytes = self.core.key_bytes(key)?;
        for store in self.stores()? {
            if let Some(value) = store.get(&bytes).map_err(self.core.state_err())? {
                return self.value(&value).map(Some);
            }
        }
        Ok(None)
    }

    /// Entries with `from <= key <= to` (by serialized key), ordered by serialized key.
    pub fn range(&self, from: &K, to: &K) -> Result<Vec<(K, V)>> {
        let (from, to) = (self.core.key_bytes(from)?, self.core.key_bytes(to)?);
        Ok(self
            .scan(Some(&from), Some(&to), None, usize::MAX)?
            .into_iter()
            .map(|(_, k, v)| (k, v))
            .collect())
    }

    /// Every local entry, ordered by serialized key.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        Ok(self
            .scan(None, None, None, usize::MAX)?
            .into_iter()
            .map(|(_, k, v)| (k, v))
            .collect())
    }

    /// Up to `limit` entries with serialized keys in `[from, to]` and after `after`, ordered by
    /// serialized key across every local task (a page of a scan).
    pub(crate) fn scan(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<RawEntry<K, V>>> {
        let start = match (from, after) {
            (Some(from), Some(after)) => Some(from.max(after)),
            (from, after) => from.or(after),
        };
        let mut raw = Vec::new();
        for store in self.stores()? {
            let mut taken = 0;
            for entry in store.range(start, to).map_err(self.core.state_err())? {
                let (key, value) = entry.map_err(self.core.state_err())?;
                if after.is_some_and(|after| key.as_slice() <= after) {
                    continue;
                }
                raw.push((key, value));
                taken += 1;
                if taken >= limit {
                    break;
                }
            }
        }
        raw.sort_by(|a, b| a.0.cmp(&b.0));
        raw.truncate(limit);
        raw.into_iter()
            .map(|(k, v)| {
                let key = self.core.key(&k)?;
                let value = self.value(&v)?;
                Ok((k, key, value))
            })
            .collect()
    }

    /// An estimate of the number of local entries.
    pub fn approximate_num_entries(&self) -> Result<u64> {
        let mut total = 0;
        for store in self.stores()? {
            total += store
                .approximate_num_entries()
                .map_err(self.core.state_err())?;
        }
        Ok(total)
    }
}
