//! RocksDB tuning: Kafka Streams' `rocksdb.config.setter`, and the block cache every RocksDB
//! store of an instance shares.
//!
//! An instance (a [`KafkaStreams`](crate::KafkaStreams) or a test driver) creates one
//! [`BlockCache`] of `rocksdb.block.cache.bytes` (default 50 MiB) when it is built, so that the
//! memory of the block cache is bounded per instance rather than growing with the number of
//! stores and tasks. Each RocksDB store it opens (one per store per task, and each global
//! store) starts from Kafka Streams' defaults holding that cache; the
//! [`RocksDbConfigSetter`], when one is set, then adjusts them for the store.

use std::sync::Arc;

use streams_state::{BlockCache, RocksDbOptions, WriteBufferBudget};

use crate::{Result, StreamsConfig};

/// Tunes the RocksDB stores of an application, as Kafka Streams' `rocksdb.config.setter`
/// does: called with each store's name and options before the store opens. Set it with
/// [`StreamsConfig::set_rocksdb_config_setter`]; a closure
/// `Fn(&str, &mut RocksDbOptions)` is one.
///
/// `options` arrive with the instance's shared [`BlockCache`] in
/// [`block_cache`](RocksDbOptions::block_cache): keep it to stay within
/// `rocksdb.block.cache.bytes`, or put another cache there (a cache shared by several
/// instances of a process, say). The setter runs on the thread opening the store, once per
/// store per task that has it.
///
/// ```
/// use std::sync::Arc;
/// use streams_core::StreamsConfig;
/// use streams_core::state::{Compression, RocksDbOptions};
///
/// let mut config = StreamsConfig::new();
/// config.set("rocksdb.block.cache.bytes", (256 * 1024 * 1024).to_string());
/// config.set_rocksdb_config_setter(Arc::new(|store: &str, options: &mut RocksDbOptions| {
///     if store == "large-table" {
///         options.write_buffer_size = 64 * 1024 * 1024;
///         options.compression = Compression::Lz4;
///     }
/// }));
/// ```
pub trait RocksDbConfigSetter: Send + Sync {
    /// Adjusts `options` for the store `store_name`.
    fn set_config(&self, store_name: &str, options: &mut RocksDbOptions);
}

impl<F> RocksDbConfigSetter for F
where
    F: Fn(&str, &mut RocksDbOptions) + Send + Sync,
{
    fn set_config(&self, store_name: &str, options: &mut RocksDbOptions) {
        self(store_name, options)
    }
}

/// What an instance's RocksDB stores open with: its block cache, its write-buffer budget,
/// and the user's setter.
#[derive(Clone)]
pub(crate) struct RocksDbEnv {
    cache: BlockCache,
    write_buffers: WriteBufferBudget,
    /// Under `rocksdb.memory.bound.bytes`: index and filter blocks go in the cache too.
    bounded: bool,
    setter: Option<Arc<dyn RocksDbConfigSetter>>,
}

impl std::fmt::Debug for RocksDbEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbEnv")
            .field("cache", &self.cache)
            .field("write_buffers", &self.write_buffers)
            .field("bounded", &self.bounded)
            .field("setter", &self.setter.is_some())
            .finish()
    }
}

impl RocksDbEnv {
    /// The environment of a new instance configured by `config`: a fresh block cache of
    /// `rocksdb.block.cache.bytes` and write-buffer budget of `rocksdb.write.buffer.bytes`,
    /// or, under `rocksdb.memory.bound.bytes`, one cache of that size with the memtables
    /// (up to half of it) charged to it and index and filter blocks in it.
    pub(crate) fn from_config(config: &StreamsConfig) -> Result<Self> {
        let (cache, write_buffers, bounded) = match config.rocksdb_memory_bound_bytes()? {
            Some(bound) => {
                let cache = BlockCache::new_lru(bound);
                let write_buffers = WriteBufferBudget::charged_to(bound / 2, &cache);
                (cache, write_buffers, true)
            }
            None => (
                BlockCache::new_lru(config.rocksdb_block_cache_bytes()?),
                WriteBufferBudget::new(config.rocksdb_write_buffer_bytes()?),
                false,
            ),
        };
        Ok(RocksDbEnv {
            cache,
            write_buffers,
            bounded,
            setter: config.rocksdb_config_setter().cloned(),
        })
    }

    /// The block cache the instance's RocksDB stores share (for its metrics).
    pub(crate) fn block_cache(&self) -> &BlockCache {
        &self.cache
    }

    /// The write-buffer budget the instance's RocksDB stores share (for its metrics).
    pub(crate) fn write_buffers(&self) -> &WriteBufferBudget {
        &self.write_buffers
    }

    /// The options of store `store`: the defaults with the shared cache and write-buffer
    /// budget, then the setter's.
    pub(crate) fn options_for(&self, store: &str) -> RocksDbOptions {
        let mut options = RocksDbOptions::new(self.cache.clone());
        options.write_buffers = Some(self.write_buffers.clone());
        options.cache_index_and_filter_blocks = self.bounded;
        if let Some(setter) = &self.setter {
            setter.set_config(store, &mut options);
        }
        options
    }
}
