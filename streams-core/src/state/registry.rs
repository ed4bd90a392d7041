//! The stores of one task, by name, with the nodes allowed to use each.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use streams_state::KeyValueStore;

use super::{KeyValueStoreHandle, StoreBuilder};
use crate::{Error, Result};

/// One opened store of a task.
pub(crate) struct TaskStore {
    pub(crate) builder: StoreBuilder,
    pub(crate) store: Rc<RefCell<Box<dyn KeyValueStore>>>,
    /// Nodes connected to the store.
    pub(crate) nodes: Vec<String>,
}

/// A task's stores.
#[derive(Default)]
pub(crate) struct StoreRegistry {
    task: Rc<str>,
    stores: HashMap<String, TaskStore>,
}

impl StoreRegistry {
    pub(crate) fn new(task: Rc<str>) -> Self {
        StoreRegistry {
            task,
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

    /// A typed handle on store `name` for node `node`.
    pub(crate) fn key_value<K: 'static, V: 'static>(
        &self,
        name: &str,
        node: &str,
    ) -> Result<KeyValueStoreHandle<K, V>> {
        let entry = self.stores.get(name).ok_or_else(|| Error::StoreAccess {
            name: name.to_string(),
            reason: format!("no such store in task {}", self.task),
        })?;
        if !entry.nodes.iter().any(|n| n == node) {
            return Err(Error::StoreAccess {
                name: name.to_string(),
                reason: format!("it is not connected to processor `{node}`"),
            });
        }
        let (key_serde, value_serde) = entry.builder.serdes::<K, V>()?;
        Ok(KeyValueStoreHandle::new(
            Rc::from(name),
            self.task.clone(),
            entry.store.clone(),
            key_serde,
            value_serde,
        ))
    }
}
