//! State stores for `streams`: the byte-level stores that tasks keep their state in.
//!
//! A store is built as layers around a bytes store, as Kafka Streams does: the typed serde layer
//! (in `streams-core`) outermost, then changelogging, then the storage engine (RocksDB or an
//! in-memory map). This crate knows nothing about Kafka: the changelogging layer writes through a
//! [`ChangelogSink`] that the runtime hands in, and restoration feeds records back through
//! [`KeyValueStore::restore_batch`].
//!
//! # Layout
//! - [`error`]: the crate's error type.
//! - [`store`]: the [`StateStore`], [`ReadOnlyKeyValueStore`] and [`KeyValueStore`] traits.
//! - [`rocks`]: [`RocksDbKeyValueStore`], the persistent engine.
//! - [`memory`]: [`InMemoryKeyValueStore`], a sorted map.
//! - [`cache`]: [`CachingKeyValueStore`], the record cache, and its [`CacheBudget`].
//! - [`changelog`]: [`ChangeLoggingKeyValueStore`] and the [`ChangelogSink`] it writes to.
//! - [`window`]: [`WindowStore`], values per key and window start, in time segments.
//! - [`session`]: [`SessionStore`], values per key and session.
//! - [`segments`]: the time segments both use.
//! - [`checkpoint`]: [`Checkpoint`], the file of changelog offsets a task's stores reflect.
//! - [`bytes_range`]: key-range helpers shared by the engines.

pub mod bytes_range;
pub mod cache;
pub mod changelog;
pub mod checkpoint;
pub mod error;
pub mod memory;
pub mod rocks;
pub mod segments;
pub mod session;
pub mod store;
pub mod window;

pub use cache::{CacheBudget, CachingKeyValueStore};
pub use changelog::{ChangeLoggingKeyValueStore, ChangelogSink, split_timestamped};
pub use checkpoint::{ChangelogOffsets, Checkpoint};
pub use error::{Error, Result};
pub use memory::InMemoryKeyValueStore;
pub use rocks::{RocksDbKeyValueStore, RocksDbOptions};
pub use session::{SessionEntry, SessionStore};
pub use store::{
    CacheFlush, ChangelogRecord, KeyValue, KeyValueIter, KeyValueStore, ReadOnlyKeyValueStore,
    StateStore,
};
pub use window::{WindowEntry, WindowStore};
