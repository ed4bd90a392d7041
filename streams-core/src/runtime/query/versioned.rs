//! [`ReadOnlyVersionedKeyValueStoreView`]: interactive queries of a versioned key-value store,
//! for the latest value or the value as of a time (Kafka Streams' `VersionedKeyQuery`).

use std::sync::Arc;

use streams_state::VersionedReader;

use super::ViewCore;
use crate::Result;
use crate::runtime::instance::{InstanceShared, QueryHandle};
use crate::serde::SharedSerde;
use crate::state::VersionedRecord;

/// A read-only, typed view of one versioned key-value store across the tasks of this instance
/// (a table materialized with
/// [`Materialized::as_versioned`](crate::dsl::Materialized::as_versioned), or a store built with
/// [`StoreBuilder::versioned_key_value`](crate::state::StoreBuilder::versioned_key_value)).
///
/// ```no_run
/// # use streams_core::KafkaStreams;
/// # fn query(streams: &KafkaStreams) -> streams_core::Result<()> {
/// let rates = streams.versioned_key_value_store::<String, f64>("rates")?;
/// if let Some(latest) = rates.get(&"EUR".to_string())? {
///     println!("EUR is {} since {}", latest.value, latest.timestamp);
/// }
/// // The rate a payment at 12:00 UTC on 2024-03-01 was converted at.
/// if let Some(then) = rates.get_as_of(&"EUR".to_string(), 1_709_294_400_000)? {
///     println!("EUR was {} (valid from {} until {:?})", then.value, then.timestamp, then.valid_to);
/// }
/// # Ok(()) }
/// ```
pub struct ReadOnlyVersionedKeyValueStoreView<K, V> {
    core: ViewCore<K, V>,
}

impl<K, V> std::fmt::Debug for ReadOnlyVersionedKeyValueStoreView<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyVersionedKeyValueStoreView")
            .field("name", &self.core.name)
            .field("stale", &self.core.stale)
            .finish()
    }
}

impl<K: 'static, V: 'static> ReadOnlyVersionedKeyValueStoreView<K, V> {
    pub(crate) fn new(
        name: &str,
        shared: Arc<InstanceShared>,
        serdes: (SharedSerde<K>, SharedSerde<V>),
    ) -> Self {
        ReadOnlyVersionedKeyValueStoreView {
            core: ViewCore::new(name, shared, serdes),
        }
    }

    /// The same view, also answering from standby tasks' stores (possibly behind).
    pub fn with_stale_stores(mut self) -> Self {
        self.core.stale = true;
        self
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    fn readers(&self) -> Result<Vec<VersionedReader>> {
        self.core
            .handles()?
            .into_iter()
            .map(|(_, handle)| match handle {
                QueryHandle::Versioned(reader) => Ok(reader),
                _ => Err(self.core.wrong_kind("versioned key-value")),
            })
            .collect()
    }

    fn first(
        &self,
        key: &K,
        read: impl Fn(
            &VersionedReader,
            &[u8],
        ) -> streams_state::Result<Option<VersionedRecord<Vec<u8>>>>,
    ) -> Result<Option<VersionedRecord<V>>> {
        let bytes = self.core.key_bytes(key)?;
        for reader in self.readers()? {
            if let Some(found) = read(&reader, &bytes).map_err(self.core.state_err())? {
                let value = self.core.value(&found.value)?;
                return Ok(Some(found.map(|_| value)));
            }
        }
        Ok(None)
    }

    /// The latest value of `key` with its timestamp, if a local task holds the key.
    pub fn get(&self, key: &K) -> Result<Option<VersionedRecord<V>>> {
        self.first(key, |reader, bytes| reader.get(bytes))
    }

    /// The value of `key` as of `timestamp` (epoch ms), with the time it became valid and,
    /// if a later version replaced it, until when. `None` if the key had no value then, or if
    /// `timestamp` is older than the store's history retention (counted back from its stream
    /// time) and the latest value is newer than it.
    pub fn get_as_of(&self, key: &K, timestamp: i64) -> Result<Option<VersionedRecord<V>>> {
        self.first(key, |reader, bytes| reader.get_as_of(bytes, timestamp))
    }
}
