//! State stores as processors see them: [`StoreBuilder`] describes a store in a topology, and
//! [`KeyValueStoreHandle`], [`VersionedKeyValueStoreHandle`], [`WindowStoreHandle`] and
//! [`SessionStoreHandle`] are the typed views a processor gets from its context.
//!
//! The byte-level engines and layers live in the `streams-state` crate; this module adds the
//! serde layer on top, wires the changelogging layer to the task's record collector, and at
//! `metrics.recording.level=DEBUG` puts the metered layer (store latencies) around each store.
//!
//! RocksDB stores are tuned with a [`RocksDbConfigSetter`] (Kafka Streams'
//! `rocksdb.config.setter`), which edits each store's [`RocksDbOptions`]; all the RocksDB stores
//! of an instance share one [`BlockCache`] of `rocksdb.block.cache.bytes`.

mod builder;
mod global;
mod handle;
mod instance;
mod metered;
mod registry;
mod rocks_config;
mod session_handle;
mod table_store;
mod versioned_handle;
mod window_handle;

pub(crate) use builder::ChangelogTarget;
pub use builder::{StoreBuilder, StoreEngine, StoreKind};
pub use global::GlobalStoreHandle;
pub(crate) use global::{GlobalStoreDef, GlobalStores, GlobalUpdater, GlobalValidator};
pub(crate) use handle::CachedChange;
pub use handle::KeyValueStoreHandle;
pub(crate) use instance::QueryHandle;
pub(crate) use registry::{StoreRegistry, TaskStore};
pub use rocks_config::RocksDbConfigSetter;
pub(crate) use rocks_config::RocksDbEnv;
pub(crate) use session_handle::CachedSession;
pub use session_handle::{Session, SessionStoreHandle};
pub use streams_state::{BlockCache, Compression, PutOutcome, RocksDbOptions, VersionedRecord};
pub(crate) use table_store::TableStore;
pub use versioned_handle::VersionedKeyValueStoreHandle;
pub(crate) use window_handle::CachedWindow;
pub use window_handle::WindowStoreHandle;
