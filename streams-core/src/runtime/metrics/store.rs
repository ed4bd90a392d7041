//! [`StoreMetrics`]: the latencies of one store of one task, and its record cache's hits, at
//! `metrics.recording.level=DEBUG` (Kafka Streams records them at that level too: timing every
//! store operation costs two clock reads each). At `INFO` no store is wrapped at all.

use prometheus::{Gauge, Histogram, IntCounter};
use streams_state::CacheObserver;

use super::ThreadMetrics;

/// A store's series (labels `thread`, `task`, `store`).
#[derive(Clone)]
pub(crate) struct StoreMetrics {
    pub(crate) put: Histogram,
    pub(crate) get: Histogram,
    pub(crate) range: Histogram,
    pub(crate) delete: Histogram,
    /// For the record cache's series, made only for a store that has a cache.
    thread: ThreadMetrics,
    labels: [String; 3],
}

impl std::fmt::Debug for StoreMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreMetrics")
            .field("labels", &self.labels)
            .finish()
    }
}

impl StoreMetrics {
    pub(crate) fn new(thread: &ThreadMetrics, task: &str, store: &str) -> Self {
        let families = &thread.instance.store;
        let labels = [thread.name.to_string(), task.to_string(), store.to_string()];
        let l = &[labels[0].as_str(), labels[1].as_str(), labels[2].as_str()];
        StoreMetrics {
            put: families.put_latency.with_label_values(l),
            get: families.get_latency.with_label_values(l),
            range: families.range_latency.with_label_values(l),
            delete: families.delete_latency.with_label_values(l),
            thread: thread.clone(),
            labels,
        }
    }

    /// An observer of the store's record cache, counting its hits and misses.
    pub(crate) fn cache_observer(&self) -> Box<dyn CacheObserver> {
        let families = &self.thread.instance.store;
        let l = &[
            self.labels[0].as_str(),
            self.labels[1].as_str(),
            self.labels[2].as_str(),
        ];
        let ratio = families.cache_hit_ratio.with_label_values(l);
        // No reads yet: no ratio (0 would say every read missed).
        ratio.set(f64::NAN);
        Box::new(CacheReads {
            hits: families.cache_hits.with_label_values(l),
            misses: families.cache_misses.with_label_values(l),
            ratio,
        })
    }
}

/// Counts a record cache's reads and keeps its hit ratio.
struct CacheReads {
    hits: IntCounter,
    misses: IntCounter,
    ratio: Gauge,
}

impl CacheObserver for CacheReads {
    fn on_read(&self, hit: bool) {
        if hit {
            self.hits.inc();
        } else {
            self.misses.inc();
        }
        let hits = self.hits.get() as f64;
        self.ratio.set(hits / (hits + self.misses.get() as f64));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::RecordingLevel;
    use crate::runtime::StreamsMetrics;

    #[test]
    fn the_hit_ratio_follows_the_reads() {
        let instance = Arc::new(
            StreamsMetrics::new("app", RecordingLevel::Debug, prometheus::Registry::new())
                .expect("metrics"),
        );
        let store = StoreMetrics::new(&ThreadMetrics::new(&instance, "t"), "0_0", "s");
        let observer = store.cache_observer();
        let ratio = || {
            instance
                .store
                .cache_hit_ratio
                .with_label_values(&["t", "0_0", "s"])
                .get()
        };
        assert!(ratio().is_nan(), "no ratio before the first read");
        for hit in [true, true, true, false] {
            observer.on_read(hit);
        }
        assert!((ratio() - 0.75).abs() < 1e-9, "{}", ratio());
    }
}
