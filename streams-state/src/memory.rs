//! An in-memory key-value store: a sorted map, shared with query handles.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::Result;
use crate::bytes_range::prefix_upper_bound;
use crate::store::{
    ChangelogRecord, KeyValueIter, KeyValueStore, ReadOnlyKeyValueStore, StateStore,
};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// A key-value store held in a sorted map. It is not persistent: after a restart it is rebuilt
/// from its changelog.
#[derive(Debug, Clone)]
pub struct InMemoryKeyValueStore {
    name: String,
    map: Arc<RwLock<Map>>,
}

impl InMemoryKeyValueStore {
    /// An empty store named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        InMemoryKeyValueStore {
            name: name.into(),
            map: Arc::default(),
        }
    }

    // A poisoned lock only means a panic elsewhere while holding it; the map itself is intact
    // (every mutation is a single BTreeMap call), so keep serving it.
    fn read(&self) -> RwLockReadGuard<'_, Map> {
        self.map
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Map> {
        self.map
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn collect(&self, lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> KeyValueIter<'_> {
        if let (Bound::Included(lo), Bound::Included(hi) | Bound::Excluded(hi)) = (lower, upper)
            && lo > hi
        {
            return Box::new(std::iter::empty());
        }
        // Copy out under the lock: iterators must not hold it while the caller writes.
        let entries: Vec<_> = self
            .read()
            .range::<[u8], _>((lower, upper))
            .map(|(k, v)| Ok((k.clone(), v.clone())))
            .collect();
        Box::new(entries.into_iter())
    }
}

impl StateStore for InMemoryKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        false
    }

    fn flush(&mut self) -> Result<()> {
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        Ok(())
    }
}

impl ReadOnlyKeyValueStore for InMemoryKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.read().get(key).cloned())
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        let lower = from.map_or(Bound::Unbounded, Bound::Included);
        let upper = to.map_or(Bound::Unbounded, Bound::Included);
        Ok(self.collect(lower, upper))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        let upper = prefix_upper_bound(prefix);
        let upper = upper.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        Ok(self.collect(Bound::Included(prefix), upper))
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        Ok(self.read().len() as u64)
    }
}

impl KeyValueStore for InMemoryKeyValueStore {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.write().insert(key.to_vec(), value.to_vec());
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.write().remove(key);
        Ok(())
    }

    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        if from >= to {
            return Ok(());
        }
        let mut map = self.write();
        let mut tail = map.split_off(from);
        let mut rest = tail.split_off(to);
        map.append(&mut rest);
        Ok(())
    }

    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        let mut map = self.write();
        for record in records {
            match &record.value {
                Some(value) => map.insert(record.key.clone(), value.clone()),
                None => map.remove(&record.key),
            };
        }
        Ok(())
    }

    fn query_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>> {
        Some(Arc::new(self.clone()))
    }
}
