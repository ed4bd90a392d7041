//! Global stores: a full copy of a topic on every instance, read by every task.
//!
//! One updater per instance writes them (the runtime's global thread, or the test driver);
//! tasks read through thread-safe read handles ([`GlobalStoreHandle`]).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use streams_state::{KeyValueStore, ReadOnlyKeyValueStore, split_timestamped};

use super::StoreBuilder;
use crate::error::DeserializationPolicy;
use crate::serde::{SerdeError, SharedSerde};
use crate::{Error, Result};

/// Checks that a record of a global topic decodes (key, value), before it is stored.
pub(crate) type GlobalValidator = Arc<
    dyn Fn(Option<&[u8]>, Option<&[u8]>) -> Result<(), (&'static str, SerdeError)> + Send + Sync,
>;

/// A global store as the topology describes it.
#[derive(Clone)]
pub(crate) struct GlobalStoreDef {
    pub(crate) store: StoreBuilder,
    pub(crate) topic: String,
    pub(crate) source_name: String,
    pub(crate) processor_name: String,
    pub(crate) validate: GlobalValidator,
}

/// Read handles on an instance's global stores, shared by all its threads.
#[derive(Default, Clone)]
pub(crate) struct GlobalStores {
    stores: HashMap<String, (Arc<dyn ReadOnlyKeyValueStore + Send + Sync>, StoreBuilder)>,
}

impl GlobalStores {
    pub(crate) fn handle<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<GlobalStoreHandle<K, V>> {
        let (reader, builder) = self.stores.get(name).ok_or_else(|| Error::StoreAccess {
            name: name.to_string(),
            reason: "no such global store".into(),
        })?;
        let (key_serde, value_serde) = builder.serdes::<K, V>()?;
        Ok(GlobalStoreHandle {
            name: name.to_string(),
            reader: reader.clone(),
            key_serde,
            value_serde,
        })
    }
}

/// A typed, read-only view of a global store.
pub struct GlobalStoreHandle<K, V> {
    name: String,
    reader: Arc<dyn ReadOnlyKeyValueStore + Send + Sync>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K, V> std::fmt::Debug for GlobalStoreHandle<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalStoreHandle")
            .field("name", &self.name)
            .finish()
    }
}

impl<K: 'static, V: 'static> GlobalStoreHandle<K, V> {
    fn serde_err(&self) -> impl Fn(SerdeError) -> Error + '_ {
        |source| Error::StoreSerde {
            store: self.name.clone(),
            source,
        }
    }

    /// The value under `key` and its timestamp.
    pub fn get_with_timestamp(&self, key: &K) -> Result<Option<(V, i64)>> {
        let mut bytes = Vec::new();
        self.key_serde
            .serialize(key, &mut bytes)
            .map_err(self.serde_err())?;
        let stored = self.reader.get(&bytes).map_err(|source| Error::State {
            task: "global".into(),
            source,
        })?;
        let Some(stored) = stored else {
            return Ok(None);
        };
        let (ts, value) = split_timestamped(&stored).ok_or_else(|| Error::StoreSerde {
            store: self.name.clone(),
            source: SerdeError::deserialize::<V>("shorter than its timestamp"),
        })?;
        Ok(Some((
            self.value_serde
                .deserialize(value)
                .map_err(self.serde_err())?,
            ts,
        )))
    }

    /// The value under `key`.
    pub fn get(&self, key: &K) -> Result<Option<V>> {
        Ok(self.get_with_timestamp(key)?.map(|(v, _)| v))
    }

    /// Up to `limit` entries after the serialized key `after` (all from the start without
    /// one), ordered by serialized key: a page of the store.
    pub(crate) fn scan(&self, after: Option<&[u8]>, limit: usize) -> Result<Vec<(Vec<u8>, K, V)>> {
        let state_err = |source| Error::State {
            task: "global".into(),
            source,
        };
        let mut out = Vec::new();
        for entry in self.reader.range(after, None).map_err(state_err)? {
            let (key, stored) = entry.map_err(state_err)?;
            if after.is_some_and(|after| key.as_slice() <= after) {
                continue;
            }
            let (_, value) = split_timestamped(&stored).ok_or_else(|| Error::StoreSerde {
                store: self.name.clone(),
                source: SerdeError::deserialize::<V>("shorter than its timestamp"),
            })?;
            let typed_key = self.key_serde.deserialize(&key).map_err(self.serde_err())?;
            let value = self
                .value_serde
                .deserialize(value)
                .map_err(self.serde_err())?;
            out.push((key, typed_key, value));
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    /// Every entry, ordered by serialized key.
    pub fn all(&self) -> Result<Vec<(K, V)>> {
        Ok(self
            .scan(None, usize::MAX)?
            .into_iter()
            .map(|(_, k, v)| (k, v))
            .collect())
    }

    /// Serializes `key` with the store's key serde.
    #[cfg(feature = "worker")]
    pub(crate) fn key_bytes(&self, key: &K) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.key_serde
            .serialize(key, &mut bytes)
            .map_err(self.serde_err())?;
        Ok(bytes)
    }
}

/// Writes records of global topics into their stores.
pub(crate) struct GlobalUpdater {
    by_topic: HashMap<String, (Box<dyn KeyValueStore>, GlobalValidator)>,
    /// The store each topic fills.
    store_names: HashMap<String, String>,
    policy: DeserializationPolicy,
    readers: GlobalStores,
}

impl GlobalUpdater {
    /// Opens every global store of `defs` under `dir` (RocksDB ones with `rocksdb`'s options).
    pub(crate) fn open(
        defs: &[GlobalStoreDef],
        dir: &Path,
        policy: DeserializationPolicy,
        rocksdb: &super::RocksDbEnv,
    ) -> Result<Self> {
        let mut by_topic = HashMap::new();
        let mut store_names = HashMap::new();
        let mut readers = GlobalStores::default();
        for def in defs {
            store_names.insert(def.topic.clone(), def.store.name().to_string());
            let store = def
                .store
                .open_global(dir, rocksdb)
                .map_err(|source| Error::State {
                    task: "global".into(),
                    source,
                })?;
            let reader = store.query_handle().ok_or_else(|| Error::StoreAccess {
                name: def.store.name().to_string(),
                reason: "its engine offers no read handle for other threads".into(),
            })?;
            readers
                .stores
                .insert(def.store.name().to_string(), (reader, def.store.clone()));
            by_topic.insert(def.topic.clone(), (store, def.validate.clone()));
        }
        Ok(GlobalUpdater {
            by_topic,
            store_names,
            policy,
            readers,
        })
    }

    pub(crate) fn readers(&self) -> &GlobalStores {
        &self.readers
    }

    pub(crate) fn topics(&self) -> impl Iterator<Item = &String> {
        self.by_topic.keys()
    }

    /// The name of the store `topic` fills.
    pub(crate) fn store_of(&self, topic: &str) -> &str {
        self.store_names.get(topic).map_or("", String::as_str)
    }

    /// Applies one record of a global topic: a put (value prefixed with its timestamp), a
    /// delete for a null value; records without a key are skipped.
    pub(crate) fn apply(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> Result<()> {
        let Some((store, validate)) = self.by_topic.get_mut(topic) else {
            return Ok(());
        };
        let Some(key_bytes) = key else {
            tracing::warn!(
                "skipping record without a key at {topic}-{partition}@{offset} for a global store"
            );
            return Ok(());
        };
        if let Err((field, source)) = validate(key, value) {
            let error = Error::Deserialization {
                topic: topic.to_string(),
                partition,
                offset,
                field,
                source,
            };
            return match self.policy {
                // A global store has no producer to dead-letter through: it logs and skips.
                DeserializationPolicy::LogAndContinue | DeserializationPolicy::DeadLetter => {
                    tracing::warn!("skipping record for a global store: {}", error.report());
                    Ok(())
                }
                DeserializationPolicy::Fail => Err(error),
            };
        }
        let result = match value {
            Some(value) => {
                let mut stored = Vec::with_capacity(8 + value.len());
                streams_state::push_timestamp(&mut stored, timestamp);
                stored.extend_from_slice(value);
                store.put(key_bytes, &stored)
            }
            None => store.delete(key_bytes),
        };
        result.map_err(|source| Error::State {
            task: "global".into(),
            source,
        })
    }

    pub(crate) fn flush(&mut self) -> Result<()> {
        for (store, _) in self.by_topic.values_mut() {
            store.flush().map_err(|source| Error::State {
                task: "global".into(),
                source,
            })?;
        }
        Ok(())
    }

    pub(crate) fn close(&mut self) -> Result<()> {
        for (store, _) in self.by_topic.values_mut() {
            store.close().map_err(|source| Error::State {
                task: "global".into(),
                source,
            })?;
        }
        Ok(())
    }
}
