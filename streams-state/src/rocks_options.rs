//! Tuning of RocksDB stores: the options each store opens with, and the memory budgets
//! (block cache, write buffers) stores of an instance share.

use std::sync::Arc;

use rocksdb::{BlockBasedOptions, Options};

/// The block cache size of [`RocksDbOptions::default`]: 50 MiB, Kafka Streams' default.
pub const DEFAULT_BLOCK_CACHE_BYTES: usize = 50 * 1024 * 1024;

/// A RocksDB block cache (LRU) of uncompressed data blocks (index and filter blocks stay
/// outside it, in each table reader, unless a config setter moves them in). Cloning it shares it: every store opened with options holding
/// clones of one `BlockCache` draws on one memory budget, as Kafka Streams' bounded-memory
/// configuration does with a cache shared by all the stores of an instance.
#[derive(Clone)]
pub struct BlockCache {
    inner: Arc<BlockCacheInner>,
}

struct BlockCacheInner {
    cache: rocksdb::Cache,
    capacity: usize,
}

impl BlockCache {
    /// An LRU cache of `capacity` bytes.
    pub fn new_lru(capacity: usize) -> Self {
        BlockCache {
            inner: Arc::new(BlockCacheInner {
                cache: rocksdb::Cache::new_lru_cache(capacity),
                capacity,
            }),
        }
    }

    /// Its capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// The bytes it holds now, over every store sharing it.
    pub fn usage(&self) -> usize {
        self.inner.cache.get_usage()
    }

    /// Whether `self` and `other` are the same cache (clones of one another).
    pub fn same_as(&self, other: &BlockCache) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

/// A budget for the write buffers (memtables) of RocksDB stores: a RocksDB write-buffer
/// manager. Cloning it shares it: every store opened with options holding clones of one budget
/// flushes its memtables when their total passes the limit, as Kafka Streams' bounded-memory
/// configuration does with one `WriteBufferManager` for all the stores of an instance.
/// [Charged](Self::charged_to) to a block cache, the memtables' memory also counts in that
/// cache's capacity, so the cache bounds both.
#[derive(Clone)]
pub struct WriteBufferBudget {
    inner: Arc<WriteBufferInner>,
}

struct WriteBufferInner {
    manager: rocksdb::WriteBufferManager,
    limit: usize,
    charged: bool,
}

impl WriteBufferBudget {
    /// A budget of `limit` bytes of memtables.
    pub fn new(limit: usize) -> Self {
        WriteBufferBudget {
            inner: Arc::new(WriteBufferInner {
                manager: rocksdb::WriteBufferManager::new_write_buffer_manager(limit, false),
                limit,
                charged: false,
            }),
        }
    }

    /// A budget of `limit` bytes of memtables whose memory is reserved in `cache` (so the
    /// cache's capacity bounds data blocks and memtables together).
    pub fn charged_to(limit: usize, cache: &BlockCache) -> Self {
        WriteBufferBudget {
            inner: Arc::new(WriteBufferInner {
                manager: rocksdb::WriteBufferManager::new_write_buffer_manager_with_cache(
                    limit,
                    false,
                    cache.inner.cache.clone(),
                ),
                limit,
                charged: true,
            }),
        }
    }

    /// Its limit in bytes.
    pub fn limit(&self) -> usize {
        self.inner.limit
    }

    /// The bytes of memtables it counts now, over every store sharing it.
    pub fn usage(&self) -> usize {
        self.inner.manager.get_usage()
    }

    /// Whether its memory is reserved in a block cache.
    pub fn is_charged_to_cache(&self) -> bool {
        self.inner.charged
    }

    /// Whether `self` and `other` are the same budget (clones of one another).
    pub fn same_as(&self, other: &WriteBufferBudget) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }
}

impl std::fmt::Debug for WriteBufferBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBufferBudget")
            .field("limit", &self.inner.limit)
            .field("charged", &self.inner.charged)
            .field("at", &Arc::as_ptr(&self.inner))
            .finish()
    }
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("capacity", &self.inner.capacity)
            .field("at", &Arc::as_ptr(&self.inner))
            .finish()
    }
}

/// How RocksDB compresses a store's data blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Compression {
    /// None (the default, as in Kafka Streams: changelogs and state are often compressed
    /// elsewhere, and the CPU matters more).
    #[default]
    None,
    /// Snappy.
    Snappy,
    /// LZ4.
    Lz4,
}

/// The memtable arena block of a store under a shared write-buffer budget. RocksDB's default
/// (an eighth of the write buffer, up to 1 MiB) is what an empty memtable of a 16 MiB buffer
/// soon holds, counted by the budget. With many stores (two memtables each: data and
/// changelog position) under a small budget, those first blocks alone kept the budget full:
/// every write flushed a store, thousands of tiny tables piled up (5,800 open files over 32
/// stores under an 8 MiB bound) and a CI run ran out of file descriptors. Small blocks cost a
/// few more allocations per memtable.
const SHARED_BUDGET_ARENA_BLOCK: usize = 64 * 1024;

/// The arena block of a memtable of `write_buffer_size` under a shared budget: at most
/// [`SHARED_BUDGET_ARENA_BLOCK`], and never more than RocksDB's own eighth of the buffer (a
/// block as large as the buffer would report the memtable full after its first block).
pub(crate) fn shared_budget_arena_block(write_buffer_size: usize) -> usize {
    SHARED_BUDGET_ARENA_BLOCK
        .min(write_buffer_size / 8)
        .max(4 * 1024)
}

/// A change to RocksDB's own options, applied after the typed settings.
type RawOptionsFn = Arc<dyn Fn(&mut rocksdb::Options) + Send + Sync>;

/// Tuning for a RocksDB store. The defaults follow Kafka Streams' `RocksDBStore`: a 16 MiB write
/// buffer (3 of them), 4 KiB blocks with a bloom filter, no compression, a 50 MiB block cache.
///
/// Non-exhaustive: start from [`RocksDbOptions::default`] or [`RocksDbOptions::new`] and
/// change fields. In `streams-core`, a `RocksDbConfigSetter` receives the options of each
/// store before it opens, holding the instance's shared block cache.
///
/// ```
/// use streams_state::{BlockCache, Compression, RocksDbOptions};
///
/// let shared = BlockCache::new_lru(64 * 1024 * 1024);
/// let mut options = RocksDbOptions::new(shared.clone());
/// options.write_buffer_size = 8 * 1024 * 1024;
/// options.compression = Compression::Lz4;
/// options.customize(|raw| raw.set_max_background_jobs(4));
/// assert!(options.block_cache.same_as(&shared));
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RocksDbOptions {
    /// Size of one memtable in bytes.
    pub write_buffer_size: usize,
    /// Number of memtables kept before writes stall.
    pub max_write_buffer_number: i32,
    /// Size of a data block in bytes.
    pub block_size: usize,
    /// Bits per key of the bloom filter on each table (`None`: no filter).
    pub bloom_filter_bits_per_key: Option<f64>,
    /// Compression of data blocks.
    pub compression: Compression,
    /// The block cache: a clone of a cache shares it with the other stores holding one.
    pub block_cache: BlockCache,
    /// The write-buffer budget: a clone shares it with the other stores holding one (`None`:
    /// this store's memtables are bounded only by its own buffer size and number).
    pub write_buffers: Option<WriteBufferBudget>,
    /// Whether index and filter blocks live in the block cache (with high priority, those of
    /// level 0 pinned) rather than beside it in each table reader: then the cache bounds them
    /// too, as in Kafka Streams' bounded-memory configuration.
    pub cache_index_and_filter_blocks: bool,
    raw: Vec<RawOptionsFn>,
}

impl RocksDbOptions {
    /// Kafka Streams' defaults, with `block_cache`.
    pub fn new(block_cache: BlockCache) -> Self {
        RocksDbOptions {
            write_buffer_size: 16 * 1024 * 1024,
            max_write_buffer_number: 3,
            block_size: 4096,
            bloom_filter_bits_per_key: Some(10.0),
            compression: Compression::None,
            block_cache,
            write_buffers: None,
            cache_index_and_filter_blocks: false,
            raw: Vec::new(),
        }
    }

    /// Changes RocksDB's own [`Options`](rocksdb::Options) (re-exported as
    /// `streams_state::rocksdb`) for what the typed fields do not cover; applied after them, in
    /// the order given. Setting a block-based table factory here replaces the block cache,
    /// block size and bloom filter above. This ties the code to the `rocksdb` crate's version.
    pub fn customize(&mut self, f: impl Fn(&mut rocksdb::Options) + Send + Sync + 'static) {
        self.raw.push(Arc::new(f));
    }

    /// RocksDB's options for a store.
    pub(crate) fn to_rocksdb(&self) -> Options {
        let mut table = BlockBasedOptions::default();
        table.set_block_size(self.block_size);
        if let Some(bits) = self.bloom_filter_bits_per_key {
            table.set_bloom_filter(bits, false);
        }
        table.set_block_cache(&self.block_cache.inner.cache);
        if self.cache_index_and_filter_blocks {
            table.set_cache_index_and_filter_blocks(true);
            table.set_cache_index_and_filter_blocks_with_high_priority(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
        }
        let mut options = Options::default();
        if let Some(budget) = &self.write_buffers {
            options.set_write_buffer_manager(&budget.inner.manager);
            options.set_arena_block_size(shared_budget_arena_block(self.write_buffer_size));
        }
        options.create_if_missing(true);
        // The changelog position lives in a column family of its own, flushed with the data
        // (without a write-ahead log, only an atomic flush keeps the two consistent on disk).
        options.create_missing_column_families(true);
        options.set_atomic_flush(true);
        options.set_block_based_table_factory(&table);
        options.set_write_buffer_size(self.write_buffer_size);
        options.set_max_write_buffer_number(self.max_write_buffer_number);
        options.set_compression_type(match self.compression {
            Compression::None => rocksdb::DBCompressionType::None,
            Compression::Snappy => rocksdb::DBCompressionType::Snappy,
            Compression::Lz4 => rocksdb::DBCompressionType::Lz4,
        });
        for f in &self.raw {
            f(&mut options);
        }
        options
    }
}

impl Default for RocksDbOptions {
    /// Kafka Streams' defaults, with a block cache of its own of
    /// [`DEFAULT_BLOCK_CACHE_BYTES`].
    fn default() -> Self {
        RocksDbOptions::new(BlockCache::new_lru(DEFAULT_BLOCK_CACHE_BYTES))
    }
}

impl std::fmt::Debug for RocksDbOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbOptions")
            .field("write_buffer_size", &self.write_buffer_size)
            .field("max_write_buffer_number", &self.max_write_buffer_number)
            .field("block_size", &self.block_size)
            .field("bloom_filter_bits_per_key", &self.bloom_filter_bits_per_key)
            .field("compression", &self.compression)
            .field("block_cache", &self.block_cache)
            .field("write_buffers", &self.write_buffers)
            .field(
                "cache_index_and_filter_blocks",
                &self.cache_index_and_filter_blocks,
            )
            .field("customizations", &self.raw.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memtable_arena_block_is_at_most_an_eighth_of_its_buffer() {
        assert_eq!(shared_budget_arena_block(16 * 1024 * 1024), 64 * 1024);
        assert_eq!(shared_budget_arena_block(64 * 1024), 8 * 1024);
        assert_eq!(shared_budget_arena_block(1024), 4 * 1024);
    }
}
