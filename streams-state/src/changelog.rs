//! The changelogging layer: every write to the inner store is also sent to a changelog.

use std::sync::Arc;

use crate::Result;
use crate::store::{
    ChangelogRecord, KeyValueIter, KeyValueStore, ReadOnlyKeyValueStore, StateStore,
};

/// Where a store's changes go: in the runtime, the store's partition of its compacted changelog
/// topic. Implemented by `streams-core`, which knows the producer and the current record's
/// timestamp; this crate only calls it.
pub trait ChangelogSink {
    /// Logs that `key` now holds `value` (`None`: was deleted).
    fn send(&self, store: &str, key: &[u8], value: Option<&[u8]>) -> Result<()>;
}

/// Wraps a store so that each put and delete is also sent to a [`ChangelogSink`].
/// Restoration writes to the inner store only.
pub struct ChangeLoggingKeyValueStore {
    inner: Box<dyn KeyValueStore>,
    sink: Box<dyn ChangelogSink>,
}

impl std::fmt::Debug for ChangeLoggingKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeLoggingKeyValueStore")
            .field("store", &self.inner.name())
            .finish()
    }
}

impl ChangeLoggingKeyValueStore {
    /// Logs the changes of `inner` to `sink`.
    pub fn new(inner: Box<dyn KeyValueStore>, sink: Box<dyn ChangelogSink>) -> Self {
        ChangeLoggingKeyValueStore { inner, sink }
    }
}

impl StateStore for ChangeLoggingKeyValueStore {
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

impl ReadOnlyKeyValueStore for ChangeLoggingKeyValueStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.get(key)
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> Result<KeyValueIter<'_>> {
        self.inner.range(from, to)
    }

    fn prefix_scan(&self, prefix: &[u8]) -> Result<KeyValueIter<'_>> {
        self.inner.prefix_scan(prefix)
    }

    fn approximate_num_entries(&self) -> Result<u64> {
        self.inner.approximate_num_entries()
    }
}

impl KeyValueStore for ChangeLoggingKeyValueStore {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.put(key, value)?;
        self.sink.send(self.inner.name(), key, Some(value))
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.inner.delete(key)?;
        self.sink.send(self.inner.name(), key, None)
    }

    fn put_all(&mut self, entries: &[(&[u8], Option<&[u8]>)]) -> Result<()> {
        self.inner.put_all(entries)?;
        for (key, value) in entries {
            self.sink.send(self.inner.name(), key, *value)?;
        }
        Ok(())
    }

    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        self.inner.restore_batch(records)
    }

    fn query_handle(&self) -> Option<Arc<dyn ReadOnlyKeyValueStore + Send + Sync>> {
        self.inner.query_handle()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::rc::Rc;

    use super::*;
    use crate::InMemoryKeyValueStore;

    type Logged = Rc<RefCell<Vec<(String, Vec<u8>, Option<Vec<u8>>)>>>;

    struct RecordingSink(Logged);

    impl ChangelogSink for RecordingSink {
        fn send(&self, store: &str, key: &[u8], value: Option<&[u8]>) -> Result<()> {
            self.0
                .borrow_mut()
                .push((store.to_string(), key.to_vec(), value.map(<[u8]>::to_vec)));
            Ok(())
        }
    }

    #[test]
    fn writes_are_logged_and_restores_are_not() -> Result<()> {
        let logged = Logged::default();
        let mut store = ChangeLoggingKeyValueStore::new(
            Box::new(InMemoryKeyValueStore::new("counts")),
            Box::new(RecordingSink(logged.clone())),
        );
        store.put(b"a", b"1")?;
        store.delete(b"a")?;
        store.put_all(&[(b"b", Some(b"2")), (b"c", None)])?;
        store.restore_batch(&[ChangelogRecord {
            key: b"z".to_vec(),
            value: Some(b"9".to_vec()),
        }])?;
        let logged = logged.borrow();
        let expected = vec![
            ("counts".to_string(), b"a".to_vec(), Some(b"1".to_vec())),
            ("counts".to_string(), b"a".to_vec(), None),
            ("counts".to_string(), b"b".to_vec(), Some(b"2".to_vec())),
            ("counts".to_string(), b"c".to_vec(), None),
        ];
        assert_eq!(*logged, expected);
        assert_eq!(store.get(b"z")?, Some(b"9".to_vec()));
        assert_eq!(store.get(b"b")?, Some(b"2".to_vec()));
        Ok(())
    }
}
