//! [`StoreInstance`]: one task's opened store, of any kind.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use streams_state::{
    ChangelogRecord, KeyValueStore, ReadOnlyKeyValueStore, SessionReader, SessionStore, StateStore,
    VersionedReader, VersionedStore, WindowReader, WindowStore,
};

/// A task's store instance. Shared (`Rc`) between the task and the processors' handles.
#[derive(Clone)]
pub(crate) enum StoreInstance {
    KeyValue(Rc<RefCell<Box<dyn KeyValueStore>>>),
    Window(Rc<RefCell<WindowStore>>),
    Session(Rc<RefCell<SessionStore>>),
    Versioned(Rc<RefCell<VersionedStore>>),
}

impl StoreInstance {
    pub(crate) fn key_value(store: Box<dyn KeyValueStore>) -> Self {
        StoreInstance::KeyValue(Rc::new(RefCell::new(store)))
    }

    pub(crate) fn window(store: WindowStore) -> Self {
        StoreInstance::Window(Rc::new(RefCell::new(store)))
    }

    pub(crate) fn session(store: SessionStore) -> Self {
        StoreInstance::Session(Rc::new(RefCell::new(store)))
    }

    pub(crate) fn versioned(store: VersionedStore) -> Self {
        StoreInstance::Versioned(Rc::new(RefCell::new(store)))
    }

    pub(crate) fn restore_batch(&self, records: &[ChangelogRecord]) -> streams_state::Result<()> {
        match self {
            StoreInstance::KeyValue(s) => s.borrow_mut().restore_batch(records),
            StoreInstance::Window(s) => s.borrow_mut().restore_batch(records),
            StoreInstance::Session(s) => s.borrow_mut().restore_batch(records),
            StoreInstance::Versioned(s) => s.borrow_mut().restore_batch(records),
        }
    }

    /// Writes dirty cache entries through (nothing for stores without a cache). What they
    /// were is dropped: a processor forwarding a store's flushes takes them first.
    pub(crate) fn flush_cache(&self) -> streams_state::Result<()> {
        match self {
            StoreInstance::KeyValue(s) => drop(s.borrow_mut().flush_cache()?),
            StoreInstance::Window(s) => drop(s.borrow_mut().flush_cache()?),
            StoreInstance::Session(s) => drop(s.borrow_mut().flush_cache()?),
            // Versioned stores have no record cache, as in Kafka Streams.
            StoreInstance::Versioned(_) => {}
        }
        Ok(())
    }

    /// Whether a record cache sits in front of the store (for a key-value store: whether one
    /// was asked for, the layers being opaque).
    pub(crate) fn is_cached(&self) -> bool {
        match self {
            StoreInstance::KeyValue(_) => true,
            StoreInstance::Window(s) => s.borrow().is_cached(),
            StoreInstance::Session(s) => s.borrow().is_cached(),
            StoreInstance::Versioned(_) => false,
        }
    }

    pub(crate) fn flush(&self) -> streams_state::Result<()> {
        match self {
            StoreInstance::KeyValue(s) => s.borrow_mut().flush(),
            StoreInstance::Window(s) => s.borrow_mut().flush(),
            StoreInstance::Session(s) => s.borrow_mut().flush(),
            StoreInstance::Versioned(s) => s.borrow_mut().flush(),
        }
    }

    /// Closes without writing what the record cache holds (a task closed without committing).
    pub(crate) fn close_dirty(&self) -> streams_state::Result<()> {
        match self {
            StoreInstance::KeyValue(s) => s.borrow_mut().discard_cache(),
            StoreInstance::Window(s) => s.borrow_mut().discard_cache(),
            StoreInstance::Session(s) => s.borrow_mut().discard_cache(),
            StoreInstance::Versioned(_) => {}
        }
        self.close()
    }

    pub(crate) fn close(&self) -> streams_state::Result<()> {
        match self {
            StoreInstance::KeyValue(s) => s.borrow_mut().close(),
            StoreInstance::Window(s) => s.borrow_mut().close(),
            StoreInstance::Session(s) => s.borrow_mut().close(),
            StoreInstance::Versioned(s) => s.borrow_mut().close(),
        }
    }

    /// A read handle on the storage engine beneath, of any kind of store (for metrics: window
    /// and session stores' engine keys are segmented).
    pub(crate) fn engine_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>> {
        match self {
            StoreInstance::KeyValue(s) => s.borrow().query_handle(),
            StoreInstance::Window(s) => s.borrow().engine_query_handle(),
            StoreInstance::Session(s) => s.borrow().engine_query_handle(),
            StoreInstance::Versioned(s) => s.borrow().engine_query_handle(),
        }
    }

    /// A read handle for interactive queries from other threads.
    pub(crate) fn query_handle(&self) -> Option<QueryHandle> {
        match self {
            StoreInstance::KeyValue(s) => s.borrow().query_handle().map(QueryHandle::KeyValue),
            StoreInstance::Window(s) => s.borrow().reader().map(QueryHandle::Window),
            StoreInstance::Session(s) => s.borrow().reader().map(QueryHandle::Session),
            StoreInstance::Versioned(s) => s.borrow().reader().map(QueryHandle::Versioned),
        }
    }
}

/// A thread-safe read handle on a task's store, for interactive queries.
#[derive(Clone)]
pub(crate) enum QueryHandle {
    KeyValue(Arc<dyn ReadOnlyKeyValueStore + Send + Sync>),
    Window(WindowReader),
    Session(SessionReader),
    Versioned(VersionedReader),
}
