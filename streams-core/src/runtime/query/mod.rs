//! Interactive queries: read-only, typed views of the local instances of a store, across the
//! tasks this instance runs (and, for stale reads, the standby tasks it keeps).
//!
//! Each call looks up the tasks the instance runs at that moment, so a view stays valid across
//! rebalances. Views read through thread-safe handles the tasks register; the record loop never
//! waits for a query beyond a store's own read locks.

mod key_value;
mod session;
mod versioned;
mod window;

use std::sync::Arc;

pub use key_value::ReadOnlyKeyValueStoreView;
pub use session::ReadOnlySessionStoreView;
pub use versioned::ReadOnlyVersionedKeyValueStoreView;
pub use window::ReadOnlyWindowStoreView;

use super::instance::{InstanceShared, QueryHandle};
use crate::serde::{SerdeError, SharedSerde};
use crate::{Error, Result, TaskId};

/// What every view holds: the store, where its handles are found, and its serdes.
pub(crate) struct ViewCore<K, V> {
    pub(crate) name: String,
    pub(crate) shared: Arc<InstanceShared>,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    /// Whether standby tasks' stores answer too (stale reads).
    pub(crate) stale: bool,
}

impl<K: 'static, V: 'static> ViewCore<K, V> {
    pub(crate) fn new(
        name: &str,
        shared: Arc<InstanceShared>,
        (key_serde, value_serde): (SharedSerde<K>, SharedSerde<V>),
    ) -> Self {
        ViewCore {
            name: name.to_string(),
            shared,
            key_serde,
            value_serde,
            stale: false,
        }
    }

    pub(crate) fn handles(&self) -> Result<Vec<(TaskId, QueryHandle)>> {
        self.shared.store_handles(&self.name, self.stale)
    }

    pub(crate) fn state_err(&self) -> impl Fn(streams_state::Error) -> Error + '_ {
        |source| Error::State {
            task: format!("query of `{}`", self.name),
            source,
        }
    }

    pub(crate) fn serde_err(&self) -> impl Fn(SerdeError) -> Error + '_ {
        |source| Error::StoreSerde {
            store: self.name.clone(),
            source,
        }
    }

    pub(crate) fn wrong_kind(&self, expected: &str) -> Error {
        Error::StoreAccess {
            name: self.name.clone(),
            reason: format!("it is not a {expected} store"),
        }
    }

    pub(crate) fn key_bytes(&self, key: &K) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.key_serde
            .serialize(key, &mut bytes)
            .map_err(self.serde_err())?;
        Ok(bytes)
    }

    pub(crate) fn key(&self, bytes: &[u8]) -> Result<K> {
        self.key_serde.deserialize(bytes).map_err(self.serde_err())
    }

    pub(crate) fn value(&self, bytes: &[u8]) -> Result<V> {
        self.value_serde
            .deserialize(bytes)
            .map_err(self.serde_err())
    }
}
