//! The rocksdb group, read at scrape time (Kafka Streams reads these RocksDB properties when
//! its metrics are read, too): the instance's shared block cache and write-buffer manager, and per store of each running
//! task its memtables and estimated keys.
//!
//! The collector copies the list of engine handles under the instance's lock and reads the
//! properties after releasing it: RocksDB answers them from memory, without the stream
//! threads' help.

use std::sync::{Mutex, Weak};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGauge, IntGaugeVec, Opts};
use streams_state::{BlockCache, WriteBufferBudget};

use crate::Result;
use crate::runtime::instance::InstanceShared;

/// RocksDB's property of the bytes of a store's memtables (active, unflushed and pinned).
const MEMTABLES: &str = "rocksdb.cur-size-all-mem-tables";
/// RocksDB's estimate of a store's keys.
const KEYS: &str = "rocksdb.estimate-num-keys";

struct Gauges {
    cache_usage: IntGauge,
    cache_capacity: IntGauge,
    write_buffer_usage: IntGauge,
    write_buffer_limit: IntGauge,
    memtables: IntGaugeVec,
    keys: IntGaugeVec,
}

/// Reads RocksDB properties of an instance's open stores when scraped. It holds the instance
/// weakly: a registry outliving the instance reports nothing for it.
pub(crate) struct RocksDbCollector {
    shared: Weak<InstanceShared>,
    cache: BlockCache,
    write_buffers: WriteBufferBudget,
    /// Filled at each scrape, under the lock (so that concurrent scrapes do not mix).
    gauges: Mutex<Gauges>,
    descs: Vec<Desc>,
}

impl RocksDbCollector {
    /// A collector of the stores of `shared`, sharing the block cache `cache` and the
    /// write-buffer budget `write_buffers`.
    pub(crate) fn new(
        application_id: &str,
        shared: Weak<InstanceShared>,
        cache: BlockCache,
        write_buffers: WriteBufferBudget,
    ) -> Result<Self> {
        let opts = |name: &str, help: &str| {
            Opts::new(name, help)
                .namespace("streams")
                .subsystem("rocksdb")
                .const_label("application_id", application_id)
        };
        let error = |e: prometheus::Error| crate::Error::Config {
            key: "metrics registry".into(),
            reason: e.to_string(),
        };
        let per_store = &["task", "store"];
        let gauges = Gauges {
            cache_usage: IntGauge::with_opts(opts(
                "block_cache_usage_bytes",
                "Bytes in the block cache the instance's RocksDB stores share.",
            ))
            .map_err(error)?,
            cache_capacity: IntGauge::with_opts(opts(
                "block_cache_capacity_bytes",
                "Capacity of that block cache (rocksdb.block.cache.bytes, or rocksdb.memory.bound.bytes).",
            ))
            .map_err(error)?,
            write_buffer_usage: IntGauge::with_opts(opts(
                "write_buffer_usage_bytes",
                "Bytes of memtables of the instance's RocksDB stores, counted by their shared write-buffer manager (under rocksdb.memory.bound.bytes, also reserved in the block cache).",
            ))
            .map_err(error)?,
            write_buffer_limit: IntGauge::with_opts(opts(
                "write_buffer_limit_bytes",
                "Limit of that write-buffer manager (rocksdb.write.buffer.bytes, or half of rocksdb.memory.bound.bytes).",
            ))
            .map_err(error)?,
            memtables: IntGaugeVec::new(
                opts(
                    "memtable_bytes",
                    "Bytes of a store's memtables (RocksDB's cur-size-all-mem-tables).",
                ),
                per_store,
            )
            .map_err(error)?,
            keys: IntGaugeVec::new(
                opts(
                    "estimate_num_keys",
                    "RocksDB's estimate of a store's keys (estimate-num-keys).",
                ),
                per_store,
            )
            .map_err(error)?,
        };
        let descs = [
            gauges.cache_usage.desc(),
            gauges.cache_capacity.desc(),
            gauges.write_buffer_usage.desc(),
            gauges.write_buffer_limit.desc(),
            gauges.memtables.desc(),
            gauges.keys.desc(),
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        Ok(RocksDbCollector {
            shared,
            cache,
            write_buffers,
            gauges: Mutex::new(gauges),
            descs,
        })
    }
}

fn gauge_value(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Collector for RocksDbCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(shared) = self.shared.upgrade() else {
            return Vec::new();
        };
        let handles = shared.engine_handles();
        drop(shared);
        let gauges = self.gauges.lock().unwrap_or_else(|p| p.into_inner());
        gauges.cache_usage.set(gauge_value(self.cache.usage()));
        gauges
            .cache_capacity
            .set(gauge_value(self.cache.capacity()));
        gauges
            .write_buffer_usage
            .set(gauge_value(self.write_buffers.usage()));
        gauges
            .write_buffer_limit
            .set(gauge_value(self.write_buffers.limit()));
        // Stores of tasks that closed since the last scrape must not linger.
        gauges.memtables.reset();
        gauges.keys.reset();
        for (store, task, handle) in handles {
            let task = task.to_string();
            let labels = &[task.as_str(), store.as_str()];
            // A store closing meanwhile answers with an error, an in-memory one with nothing:
            // neither has a series this time.
            if let Ok(Some(bytes)) = handle.property_int(MEMTABLES) {
                gauges
                    .memtables
                    .with_label_values(labels)
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
            if let Ok(Some(keys)) = handle.property_int(KEYS) {
                gauges
                    .keys
                    .with_label_values(labels)
                    .set(i64::try_from(keys).unwrap_or(i64::MAX));
            }
        }
        let mut families = gauges.cache_usage.collect();
        families.extend(gauges.cache_capacity.collect());
        families.extend(gauges.write_buffer_usage.collect());
        families.extend(gauges.write_buffer_limit.collect());
        families.extend(gauges.memtables.collect());
        families.extend(gauges.keys.collect());
        families
    }
}
