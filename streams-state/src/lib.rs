//! State stores for `streams`: the byte-level stores that tasks keep their state in.
//!
//! A store is built as layers around a bytes store, as Kafka Streams does: the typed serde layer
//! (in `streams-core`) outermost, then changelogging, then the storage engine (RocksDB or an
//! in-memory map). This crate knows nothing about Kafka: the changelogging layer writes through a
//! [`ChangelogSink`] that the runtime hands in, and restoration feeds records back through
//! [`KeyValueStore::restore_batch`].
//!
//! Everything public is at the crate root; the modules are private.
//!
//! # Layout
//! - `error`: the crate's [`Error`] and [`Result`].
//! - `store`: the [`StateStore`], [`ReadOnlyKeyValueStore`] and [`KeyValueStore`] traits, which
//!   a store of your own implements, and the records they exchange ([`ChangelogRecord`],
//!   [`CacheFlush`]).
//! - `rocks`: [`RocksDbKeyValueStore`], the persistent engine, tuned by [`RocksDbOptions`]
//!   (with a [`BlockCache`] that stores can share).
//! - `memory`: [`InMemoryKeyValueStore`], a sorted map.
//! - `cache`: the record cache (Kafka Streams' `ThreadCache` and `NamedCache`): each store's
//!   entries within the thread's [`CacheBudget`], the [`CacheObserver`] told of their hits and
//!   misses, and [`CachingKeyValueStore`]; window and session stores keep theirs through it.
//! - `changelog`: [`ChangeLoggingKeyValueStore`] and the [`ChangelogSink`] it writes to.
//! - `window`: [`WindowStore`], values per key and window start, in time segments, optionally
//!   cached ([`WindowFlush`]: what its cache wrote through).
//! - `session`: [`SessionStore`], values per key and session, optionally cached
//!   ([`SessionFlush`]).
//! - `versioned`: [`VersionedStore`], every key's values by timestamp for a history retention
//!   (Kafka Streams' versioned key-value stores), and its thread-safe [`VersionedReader`].
//! - `segments`: the time segments they use, and the times they keep across restarts (hidden:
//!   `streams-core` reuses its time encoding).
//! - `checkpoint`: [`Checkpoint`], the file of changelog offsets a task's stores reflect.
//! - `bytes_range`: key-range helpers shared by the engines.
//! - `fuzzing`: the stores' byte codecs for fuzz targets (feature `fuzzing`; hidden, not an
//!   API).

mod bytes_range;
mod cache;
mod changelog;
mod checkpoint;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod memory;
mod pending;
mod restore_writer;
mod rocks;
mod rocks_options;
#[doc(hidden)]
pub mod segments;
mod session;
mod store;
mod timestamped;
mod txn;
mod versioned;
mod window;

pub use cache::{CacheBudget, CacheObserver, CachingKeyValueStore};
pub use changelog::{ChangeLoggingKeyValueStore, ChangelogSink};
pub use checkpoint::{ChangelogOffsets, Checkpoint};
pub use error::{Error, Result};
pub use memory::InMemoryKeyValueStore;
pub use rocks::{
    BlockCache, Compression, DEFAULT_BLOCK_CACHE_BYTES, RocksDbKeyValueStore, RocksDbOptions,
    WriteBufferBudget,
};
/// The `rocksdb` crate this one is built on, for [`RocksDbOptions::customize`].
pub use rocksdb;
pub use session::{SessionEntry, SessionFlush, SessionReader, SessionStore};
pub use store::{
    CacheFlush, ChangelogRecord, KeyValue, KeyValueIter, KeyValueStore, ReadOnlyKeyValueStore,
    StateStore,
};
pub use timestamped::{push_timestamp, split_timestamped};
pub use txn::StoreTransaction;
pub use versioned::{
    PutOutcome, VersionedReader, VersionedRecord, VersionedStore, default_segment_interval,
};
pub use window::{WindowEntry, WindowFlush, WindowReader, WindowStore};
