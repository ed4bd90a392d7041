//! [`ReadOnlyWindowStoreView`]: interactive queries of a window store.

use std::sync::Arc;

use streams_state::WindowReader;

use super::ViewCore;
use crate::Result;
use crate::runtime::instance::{InstanceShared, QueryHandle};
use crate::serde::SharedSerde;

/// A read-only, typed view of one window store across the tasks of this instance (Kafka
/// Streams' `ReadOnlyWindowStore`): values by key and window start time, within the store's
/// retention. Windowed aggregations (`windowed_by(…).count(…)`) materialize one.
pub struct ReadOnlyWindowStoreView<K, V> {
    core: ViewCore<K, V>,
}

impl<K, V> std::fmt::Debug for ReadOnlyWindowStoreView<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlyWindowStoreView")
            .field("name", &self.core.name)
            .field("stale", &self.core.stale)
            .finish()
    }
}

impl<K: 'static, V: 'static> ReadOnlyWindowStoreView<K, V> {
    pub(crate) fn new(
        name: &str,
        shared: Arc<InstanceShared>,
        serdes: (SharedSerde<K>, SharedSerde<V>),
    ) -> Self {
        ReadOnlyWindowStoreView {
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

    fn readers(&self) -> Result<Vec<WindowReader>> {
        self.core
            .handles()?
            .into_iter()
            .map(|(_, handle)| match handle {
                QueryHandle::Window(reader) => Ok(reader),
                _ => Err(self.core.wrong_kind("window")),
            })
            .collect()
    }

    /// `key`'s windows starting in `[from, to]` (epoch milliseconds), by start time.
    pub fn fetch(&self, key: &K, from: i64, to: i64) -> Result<Vec<(i64, V)>> {
        let bytes = self.core.key_bytes(key)?;
        let mut out = Vec::new();
        for reader in self.readers()? {
            for (start, value) in reader
                .fetch(&bytes, from, to)
                .map_err(self.core.state_err())?
            {
                out.push((start, self.core.value(&value)?));
            }
        }
        out.sort_by_key(|(start, _)| *start);
        Ok(out)
    }

    /// The value of `key`'s window starting at `start`.
    pub fn fetch_one(&self, key: &K, start: i64) -> Result<Option<V>> {
        Ok(self
            .fetch(key, start, start)?
            .into_iter()
            .next()
            .map(|(_, v)| v))
    }

    /// Every key's windows starting in `[from, to]`.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<(K, i64, V)>> {
        let mut out = Vec::new();
        for reader in self.readers()? {
            for entry in reader.fetch_all(from, to).map_err(self.core.state_err())? {
                out.push((
                    self.core.key(&entry.key)?,
                    entry.start,
                    self.core.value(&entry.value)?,
                ));
            }
        }
        Ok(out)
    }

    /// Every retained window.
    pub fn all(&self) -> Result<Vec<(K, i64, V)>> {
        self.fetch_all(i64::MIN, i64::MAX)
    }
}
