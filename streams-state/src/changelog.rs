//! The changelogging layer: every write to the inner store is also sent to a changelog.

use std::sync::Arc;

use crate::Result;
use crate::store::{
    ChangelogRecord, KeyValueIter, KeyValueStore, ReadOnlyKeyValueStore, StateStore,
};
use crate::timestamped::split_timestamped;

/// Where a store's changes go: in the runtime, the store's partition of its compacted changelog
/// topic. Implemented by `streams-core`, which knows the producer and the current record's
/// timestamp; this crate only calls it.
pub trait ChangelogSink {
    /// Logs that `key` now holds `value` (`None`: was deleted), with `timestamp` as the
    /// changelog record's timestamp (`None`: the timestamp of the record being processed).
    fn send(
        &self,
        store: &str,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: Option<i64>,
    ) -> Result<()>;
}

/// Wraps a store so that each put and delete is also sent to a [`ChangelogSink`].
/// Restoration writes to the inner store only.
///
/// A *timestamped* store keeps each value as an 8-byte big-endian timestamp followed by the
/// value bytes (Kafka Streams' `ValueAndTimestamp`). Its changelog carries the plain value with
/// that timestamp as the record timestamp, as Kafka Streams' changelogs do, and restoration puts
/// the prefix back.
pub struct ChangeLoggingKeyValueStore {
    inner: Box<dyn KeyValueStore>,
    sink: Box<dyn ChangelogSink>,
    timestamped: bool,
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
        ChangeLoggingKeyValueStore {
            inner,
            sink,
            timestamped: false,
        }
    }

    /// Logs the changes of a timestamped store (values prefixed by their timestamp).
    pub fn timestamped(inner: Box<dyn KeyValueStore>, sink: Box<dyn ChangelogSink>) -> Self {
        ChangeLoggingKeyValueStore {
            inner,
            sink,
            timestamped: true,
        }
    }

    fn log(&self, key: &[u8], value: Option<&[u8]>) -> Result<()> {
        match value {
            Some(value) if self.timestamped => {
                let (ts, plain) =
                    split_timestamped(value).ok_or_else(|| crate::Error::Changelog {
                        store: self.inner.name().to_string(),
                        reason: "timestamped value shorter than its 8-byte timestamp".into(),
                    })?;
                self.sink
                    .send(self.inner.name(), key, Some(plain), Some(ts))
            }
            _ => self.sink.send(self.inner.name(), key, value, None),
        }
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

    fn property_int(&self, name: &str) -> Result<Option<u64>> {
        self.inner.property_int(name)
    }
}

impl KeyValueStore for ChangeLoggingKeyValueStore {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.inner.put(key, value)?;
        self.log(key, Some(value))
    }

    fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.inner.delete(key)?;
        self.log(key, None)
    }

    fn put_all(&mut self, entries: &[(&[u8], Option<&[u8]>)]) -> Result<()> {
        self.inner.put_all(entries)?;
        for (key, value) in entries {
            self.log(key, *value)?;
        }
        Ok(())
    }

    fn delete_range(&mut self, from: &[u8], to: &[u8]) -> Result<()> {
        // Range deletes are retention, not changes: the changelog's own retention drops the
        // same records, so they are not logged.
        self.inner.delete_range(from, to)
    }

    fn restore_batch(&mut self, records: &[ChangelogRecord]) -> Result<()> {
        if self.timestamped {
            self.inner.restore_timestamped_batch(records)
        } else {
            self.inner.restore_batch(records)
        }
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

    struct RecordingSink(Logged, Rc<RefCell<Vec<Option<i64>>>>);

    impl ChangelogSink for RecordingSink {
        fn send(
            &self,
            store: &str,
            key: &[u8],
            value: Option<&[u8]>,
            ts: Option<i64>,
        ) -> Result<()> {
            self.0
                .borrow_mut()
                .push((store.to_string(), key.to_vec(), value.map(<[u8]>::to_vec)));
            self.1.borrow_mut().push(ts);
            Ok(())
        }
    }

    #[test]
    fn writes_are_logged_and_restores_are_not() -> Result<()> {
        let logged = Logged::default();
        let mut store = ChangeLoggingKeyValueStore::new(
            Box::new(InMemoryKeyValueStore::new("counts")),
            Box::new(RecordingSink(logged.clone(), Rc::default())),
        );
        store.put(b"a", b"1")?;
        store.delete(b"a")?;
        store.put_all(&[(b"b", Some(b"2")), (b"c", None)])?;
        store.restore_batch(&[ChangelogRecord {
            key: b"z".to_vec(),
            value: Some(b"9".to_vec()),
            timestamp: 5,
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

    #[test]
    fn timestamped_stores_log_plain_values_with_their_timestamp() -> Result<()> {
        let logged = Logged::default();
        let stamps = Rc::new(RefCell::new(Vec::new()));
        let mut store = ChangeLoggingKeyValueStore::timestamped(
            Box::new(InMemoryKeyValueStore::new("t")),
            Box::new(RecordingSink(logged.clone(), stamps.clone())),
        );
        let mut value = 42i64.to_be_bytes().to_vec();
        value.extend_from_slice(b"v");
        store.put(b"k", &value)?;
        store.delete(b"k")?;
        assert_eq!(logged.borrow()[0].2, Some(b"v".to_vec()));
        assert_eq!(*stamps.borrow(), vec![Some(42), None]);
        store.restore_batch(&[ChangelogRecord {
            key: b"r".to_vec(),
            value: Some(b"w".to_vec()),
            timestamp: 7,
        }])?;
        let restored = store.get(b"r")?.expect("restored");
        assert_eq!(split_timestamped(&restored), Some((7, b"w".as_slice())));
        assert!(
            store.put(b"short", b"abc").is_err(),
            "a timestamped value needs its timestamp"
        );
        Ok(())
    }
}
