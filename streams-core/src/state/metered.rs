//! [`MeteredKeyValueStore`]: the outermost bytes layer of a task's store when the metrics
//! recording level is `DEBUG` (Kafka Streams' `MeteredKeyValueStore`): times puts, gets, range
//! scans and deletes into the store's histograms. At `INFO` stores are built without it, so
//! the default pays nothing per operation.

use std::sync::Arc;
use std::time::Instant;

use prometheus::Histogram;
use streams_state::{
    CacheFlush, ChangelogRecord, KeyValue, KeyValueIter, KeyValueStore, ReadOnlyKeyValueStore,
    Result, StateStore,
};

use crate::runtime::StoreMetrics;

/// Times the operations of the store it wraps.
pub(crate) struct MeteredKeyValueStore {
    inner: Box<dyn KeyValueStore>,
    metrics: StoreMetrics,
}

impl MeteredKeyValueStore {
    pub(crate) fn new(inner: Box<dyn KeyValueStore>, metrics: StoreMetrics) -> Self {
        MeteredKeyValueStore { inner, metrics }
    }
}

/// Runs `op`, recording its time in `histogram`.
fn timed<T>(histogram: &Histogram, op: impl FnOnce() -> T) -> T {
    let started = Instant::now();
    let out = op();
    histogram.observe(started.elapsed().as_secs_f64());
    out
}

/// A scan's iterator: the scan's time runs until the iterator is dropped, as Kafka Streams
/// times a range from its opening to its close (RocksDB reads lazily, while iterating).
struct TimedIter<'a> {
    inner: KeyValueIter<'a>,
    started: Instant,
    histogram: &'a Histogram,
}

impl Iterator for TimedIter<'_> {
    type Item = Result<KeyValue>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl Drop for TimedIter<'_> {
    fn drop(&mut self) {
        self.histogram.observe(self.started.elapsed().as_secs_f64());
    }
}

impl MeteredKeyValueStore {
    fn scan<'a>(
        &'a self,
        open: impl FnOnce() -> Result<KeyValueIter<'a>>,
    ) -> Result<KeyValueIter<'a>> {
        let started = Instant::now();
        let inner = open()?;
        Ok(Box::new(TimedIter {
            inner,
            started,
            histogram: &self.metrics.range,
        }))
    }
}

impl StateStore for MeteredKeyValueStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn persistent(&self) -> bool {
        self.inner.persistent()
    }

    fn flush(&mut self) -> Result<()> {
        self.inner.flush()
    }

    fn close(&mut self) -> Result<()> {
        self.inner.close()
    }
}

impl ReadOnlyKeyValueStore for MeteredKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        timed(&self.metrics.get, || self.inner.get(key))
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        self.scan(|| self.inner.range(from, to))
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        self.scan(|| self.inner.prefix_scan(prefix))
    }

    fn all(&self) -> Result<KeyValueIter<'_>> {
        self.scan(|| self.inner.all())
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        self.inner.approximate_num_entries()
    }

    fn property_int(&self, name: &str) -> Result<Option<u64>> {
        self.inner.property_int(name)
    }
}

// Every method is passed on, defaulted ones included: a default here would hide what the
// layers beneath do (the record cache's flush, for one).
impl KeyValueStore for MeteredKeyValueStore {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let inner = &mut self.inner;
        timed(&self.metrics.put, || inner.put(key, value))
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        let inner = &mut self.inner;
        timed(&self.metrics.delete, || inner.delete(key))
    }

    fn put_all(&mut self, entries: &[(&[u8], Option<&[u8]>)]) -> Result<()> {
        let inner = &mut self.inner;
        timed(&self.metrics.put, || inner.put_all(entries))
    }

    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        self.inner.restore_batch(records)
    }

    fn flush_cache(&mut self) -> Result<Vec<CacheFlush>> {
        self.inner.flush_cache()
    }

    fn take_evicted(&mut self) -> Vec<CacheFlush> {
        self.inner.take_evicted()
    }

    fn discard_cache(&mut self) {
        self.inner.discard_cache()
    }

    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        let inner = &mut self.inner;
        timed(&self.metrics.delete, || inner.delete_range(from, to))
    }

    fn query_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>> {
        self.inner.query_handle()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RecordingLevel;
    use crate::runtime::{StreamsMetrics, ThreadMetrics};
    use streams_state::{CacheBudget, CachingKeyValueStore, InMemoryKeyValueStore};

    #[test]
    fn operations_are_timed_and_everything_reaches_the_layers_beneath() -> Result<()> {
        let instance = Arc::new(
            StreamsMetrics::new("app", RecordingLevel::Debug, prometheus::Registry::new())
                .expect("metrics"),
        );
        let metrics = StoreMetrics::new(&ThreadMetrics::new(&instance, "t"), "0_0", "s");
        let below = InMemoryKeyValueStore::new("s");
        let cached = CachingKeyValueStore::new(Box::new(below.clone()), CacheBudget::new(10_000));
        let mut store = MeteredKeyValueStore::new(Box::new(cached), metrics.clone());
        store.put(b"a", b"1")?;
        store.put(b"b", b"2")?;
        store.delete(b"b")?;
        assert_eq!(store.get(b"a")?, Some(b"1".to_vec()));
        assert_eq!(store.all()?.count(), 1);
        assert_eq!(store.range(Some(b"a"), None)?.count(), 1);
        assert_eq!(below.get(b"a")?, None, "still in the cache");
        assert_eq!(
            store.flush_cache()?.len(),
            2,
            "the cache's flush is passed on"
        );
        assert_eq!(below.get(b"a")?, Some(b"1".to_vec()));
        assert_eq!(metrics.put.get_sample_count(), 2);
        assert_eq!(metrics.delete.get_sample_count(), 1);
        assert_eq!(metrics.get.get_sample_count(), 1);
        assert_eq!(metrics.range.get_sample_count(), 2);
        Ok(())
    }
}
