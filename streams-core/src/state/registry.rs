//! The stores of one task, by name, with the nodes allowed to use each.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use super::instance::StoreInstance;
use super::{
    KeyValueStoreHandle, SessionStoreHandle, StoreBuilder, TableStore,
    VersionedKeyValueStoreHandle, WindowStoreHandle,
};
use crate::{Error, Result};

/// One opened store of a task.
pub(crate) struct TaskStore {
    pub(crate) builder: StoreBuilder,
    pub(crate) store: StoreInstance,
    /// Nodes connected to the store.
    pub(crate) nodes: Vec<String>,
    /// Whether a record cache sits in front of it.
    pub(crate) cached: bool,
    /// Exactly-once, RocksDB: the transaction holding its writes until the commit.
    pub(crate) txn: Option<streams_state::StoreTransaction>,
}

/// A task's stores.
#[derive(Default)]
pub(crate) struct StoreRegistry {
    task: Rc<str>,
    timestamp: Rc<Cell<i64>>,
    stores: HashMap<String, TaskStore>,
}

impl StoreRegistry {
    pub(crate) fn new(task: Rc<str>, timestamp: Rc<Cell<i64>>) -> Self {
        StoreRegistry {
            task,
            timestamp,
            stores: HashMap::new(),
        }
    }

    pub(crate) fn insert(&mut self, store: TaskStore) {
        self.stores.insert(store.builder.name().to_string(), store);
    }

    pub(crate) fn get(&self, name: &str) -> Option<&TaskStore> {
        self.stores.get(name)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &TaskStore> {
        self.stores.values()
    }

    fn entry(&self, name: &str, node: Option<&str>) -> Result<&TaskStore> {
        let entry = self.stores.get(name).ok_or_else(|| Error::StoreAccess {
            name: name.to_string(),
            reason: format!("no such store in task {}", self.task),
        })?;
        if let Some(node) = node
            && !entry.nodes.iter().any(|n| n == node)
        {
            return Err(Error::StoreAccess {
                name: name.to_string(),
                reason: format!("it is not connected to processor `{node}`"),
            });
        }
        Ok(entry)
    }

    fn wrong_kind(name: &str, wanted: &str) -> Error {
        Error::StoreAccess {
            name: name.to_string(),
            reason: format!("it is not a {wanted} store"),
        }
    }

    /// A typed handle on key-value store `name`, for `node` (`None`: no connection check).
    pub(crate) fn key_value<K: 'static, V: 'static>(
        &self,
        name: &str,
        node: Option<&str>,
    ) -> Result<KeyValueStoreHandle<K, V>> {
        let entry = self.entry(name, node)?;
        let store = match &entry.store {
            StoreInstance::KeyValue(store) => store,
            StoreInstance::Versioned(_) => {
                return Err(Error::StoreAccess {
                    name: name.to_string(),
                    reason: "it is a versioned store: open it with versioned_key_value_store"
                        .into(),
                });
            }
            _ => return Err(Self::wrong_kind(name, "key-value")),
        };
        let (key_serde, value_serde) = entry.builder.serdes::<K, V>()?;
        Ok(KeyValueStoreHandle::new(
            Rc::from(name),
            self.task.clone(),
            store.clone(),
            key_serde,
            value_serde,
            entry.builder.is_timestamped(),
            self.timestamp.clone(),
        ))
    }

    /// A typed handle on versioned key-value store `name`, for `node` (`None`: no connection
    /// check).
    pub(crate) fn versioned<K: 'static, V: 'static>(
        &self,
        name: &str,
        node: Option<&str>,
    ) -> Result<VersionedKeyValueStoreHandle<K, V>> {
        let entry = self.entry(name, node)?;
        let StoreInstance::Versioned(store) = &entry.store else {
            return Err(Self::wrong_kind(name, "versioned key-value"));
        };
        let (key_serde, value_serde) = entry.builder.serdes::<K, V>()?;
        Ok(VersionedKeyValueStoreHandle::new(
            Rc::from(name),
            self.task.clone(),
            store.clone(),
            key_serde,
            value_serde,
        ))
    }

    /// The store of a DSL table, `name`: timestamped or versioned.
    pub(crate) fn table_store<K: 'static, V: 'static>(
        &self,
        name: &str,
        node: Option<&str>,
    ) -> Result<TableStore<K, V>> {
        match self.entry(name, node)?.store {
            StoreInstance::Versioned(_) => Ok(TableStore::Versioned(self.versioned(name, node)?)),
            _ => Ok(TableStore::Timestamped(self.key_value(name, node)?)),
        }
    }

    /// A typed handle on window store `name`.
    pub(crate) fn window<K: 'static, V: 'static>(
        &self,
        name: &str,
        node: Option<&str>,
    ) -> Result<WindowStoreHandle<K, V>> {
        let entry = self.entry(name, node)?;
        let StoreInstance::Window(store) = &entry.store else {
            return Err(Self::wrong_kind(name, "window"));
        };
        let (key_serde, value_serde) = entry.builder.serdes::<K, V>()?;
        Ok(WindowStoreHandle::new(
            Rc::from(name),
            self.task.clone(),
            store.clone(),
            key_serde,
            value_serde,
            self.timestamp.clone(),
        ))
    }

    /// A typed handle on session store `name`.
    pub(crate) fn session<K: 'static, V: 'static>(
        &self,
        name: &str,
        node: Option<&str>,
    ) -> Result<SessionStoreHandle<K, V>> {
        let entry = self.entry(name, node)?;
        let StoreInstance::Session(store) = &entry.store else {
            return Err(Self::wrong_kind(name, "session"));
        };
        let (key_serde, value_serde) = entry.builder.serdes::<K, V>()?;
        Ok(SessionStoreHandle::new(
            Rc::from(name),
            self.task.clone(),
            store.clone(),
            key_serde,
            value_serde,
            self.timestamp.clone(),
        ))
    }
}
