//! `suppress`: holds back a table's updates in a buffer, one entry per key, and forwards each
//! key's latest change once its buffer time has expired, as Kafka Streams'
//! `KTableSuppressProcessor` over its `InMemoryTimeOrderedKeyValueChangeBuffer`:
//!
//! - the buffer time is the window end (`until_window_closes`) or the record's timestamp
//!   (`until_time_limit`), fixed by a key's first update while it is buffered (later updates
//!   replace the change, not its place);
//! - entries leave in buffer-time order (then key bytes) once `buffer time <= stream time - wait`;
//! - past `max_records` or `max_bytes` the earliest entries leave early, or the task fails
//!   (`shut_down_when_full`); sizes are counted as Kafka counts them;
//! - a change leaves with the timestamp and headers of the key's latest update, and its old value;
//!   final results (`until_window_closes`) drop deletes, time limits forward them.
//!
//! The buffer is a logged in-memory store (key → encoded entry), so it survives restarts; the
//! processor keeps the time order and the sizes beside it, rebuilt from the store at `init`.

use std::collections::{BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::Arc;

use crate::dsl::Change;
use crate::processor::ProcessResult;
use crate::processor::{Headers, Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::KeyValueStoreHandle;
use crate::{Error, Result};

/// What a key's buffer time is.
pub(crate) enum BufferTime<K> {
    /// The record's timestamp (`until_time_limit`).
    Record,
    /// The end of the key's window (`until_window_closes`).
    WindowEnd(Arc<dyn Fn(&K) -> i64 + Send + Sync>),
}

impl<K> Clone for BufferTime<K> {
    fn clone(&self) -> Self {
        match self {
            BufferTime::Record => BufferTime::Record,
            BufferTime::WindowEnd(f) => BufferTime::WindowEnd(f.clone()),
        }
    }
}

/// The settings of one suppression, resolved by the DSL.
pub(crate) struct SuppressSpec<K> {
    pub(crate) time: BufferTime<K>,
    /// How long past its buffer time (in stream time) a key waits.
    pub(crate) wait: i64,
    pub(crate) max_records: u64,
    pub(crate) max_bytes: u64,
    /// Fail instead of emitting early when over a limit.
    pub(crate) shut_down_when_full: bool,
    /// Final results: deletes are not forwarded.
    pub(crate) drop_tombstones: bool,
}

impl<K> Clone for SuppressSpec<K> {
    fn clone(&self) -> Self {
        SuppressSpec {
            time: self.time.clone(),
            wait: self.wait,
            max_records: self.max_records,
            max_bytes: self.max_bytes,
            shut_down_when_full: self.shut_down_when_full,
            drop_tombstones: self.drop_tombstones,
        }
    }
}

/// One buffered key, as stored (encoded) in the buffer store.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    time: i64,
    timestamp: i64,
    /// The old value of the key's first buffered update (what downstream last saw).
    prior: Option<Vec<u8>>,
    /// The old value of the key's latest update.
    old: Option<Vec<u8>>,
    new: Option<Vec<u8>>,
    /// Whether `prior` is `old` (the first update): counted once, as Kafka counts it.
    prior_is_old: bool,
    topic: String,
    headers: Headers,
}

impl Entry {
    /// Kafka's `computeRecordSize`: buffer time, key, values, record context.
    fn size(&self, key_len: usize) -> u64 {
        let len = |v: &Option<Vec<u8>>| v.as_ref().map_or(0, Vec::len);
        let mut size = 8 + key_len + len(&self.prior) + len(&self.new);
        if !self.prior_is_old {
            size += len(&self.old);
        }
        // Record context: timestamp, offset, topic, partition, headers.
        size += 8 + 8 + self.topic.chars().count() + 4;
        for h in self.headers.iter() {
            size += h.key.chars().count() + h.value.as_ref().map_or(0, Vec::len);
        }
        size as u64
    }

    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&self.time.to_be_bytes());
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.push(u8::from(self.prior_is_old));
        for part in [&self.prior, &self.old, &self.new] {
            put_opt(&mut out, part.as_deref());
        }
        put_opt(&mut out, Some(self.topic.as_bytes()));
        out.extend_from_slice(&(self.headers.len() as u32).to_be_bytes());
        for h in self.headers.iter() {
            put_opt(&mut out, Some(h.key.as_bytes()));
            put_opt(&mut out, h.value.as_deref());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Option<Entry> {
        let mut r = Reader(bytes);
        let time = i64::from_be_bytes(r.take(8)?.try_into().ok()?);
        let timestamp = i64::from_be_bytes(r.take(8)?.try_into().ok()?);
        let prior_is_old = r.take(1)?[0] != 0;
        let prior = r.opt()?;
        let old = r.opt()?;
        let new = r.opt()?;
        let topic = String::from_utf8(r.opt()?.unwrap_or_default()).ok()?;
        let count = u32::from_be_bytes(r.take(4)?.try_into().ok()?);
        let mut headers = Headers::new();
        for _ in 0..count {
            let key = String::from_utf8(r.opt()?.unwrap_or_default()).ok()?;
            headers.add(key, r.opt()?);
        }
        Some(Entry {
            time,
            timestamp,
            prior,
            old,
            new,
            prior_is_old,
            topic,
            headers,
        })
    }
}

/// Length-prefixed optional bytes: `u32::MAX` for none.
fn put_opt(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        None => out.extend_from_slice(&u32::MAX.to_be_bytes()),
        Some(b) => {
            out.extend_from_slice(&(b.len() as u32).to_be_bytes());
            out.extend_from_slice(b);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn opt(&mut self) -> Option<Option<Vec<u8>>> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().ok()?);
        if len == u32::MAX {
            return Some(None);
        }
        Some(Some(self.take(len as usize)?.to_vec()))
    }
}

pub(crate) struct Suppress<K, V> {
    store_name: String,
    spec: SuppressSpec<K>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    store: Option<KeyValueStoreHandle<Vec<u8>, Vec<u8>>>,
    /// Keys in eviction order: (buffer time, key bytes).
    order: BTreeSet<(i64, Vec<u8>)>,
    /// Each buffered key's buffer time and counted size.
    index: HashMap<Vec<u8>, (i64, u64)>,
    bytes: u64,
    observed: i64,
    _types: PhantomData<fn(K, V)>,
}

impl<K: 'static, V: 'static> Suppress<K, V> {
    pub(crate) fn new(
        store_name: String,
        spec: SuppressSpec<K>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        Suppress {
            store_name,
            spec,
            key_serde,
            value_serde,
            store: None,
            order: BTreeSet::new(),
            index: HashMap::new(),
            bytes: 0,
            observed: -1,
            _types: PhantomData,
        }
    }

    fn serde_err(&self) -> impl Fn(crate::serde::SerdeError) -> Error + '_ {
        move |source| Error::StoreSerde {
            store: self.store_name.clone(),
            source,
        }
    }

    fn over_capacity(&self) -> bool {
        self.index.len() as u64 > self.spec.max_records || self.bytes > self.spec.max_bytes
    }

    fn encode_value(&self, value: Option<&V>) -> Result<Option<Vec<u8>>> {
        match value {
            Some(v) if !self.value_serde.is_null(v) => {
                let mut out = Vec::new();
                self.value_serde
                    .serialize(v, &mut out)
                    .map_err(self.serde_err())?;
                Ok(Some(out))
            }
            _ => Ok(None),
        }
    }

    fn decode_value(&self, bytes: Option<Vec<u8>>) -> Result<Option<V>> {
        bytes
            .map(|b| self.value_serde.deserialize(&b).map_err(self.serde_err()))
            .transpose()
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Suppress<K, V> {
    /// Forwards and removes the earliest buffered key.
    fn evict_first(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        let Some((time, key_bytes)) = self.order.pop_first() else {
            return Ok(());
        };
        let store = ctx.initialized(&self.store)?;
        let stored = store.get(&key_bytes)?;
        store.delete(&key_bytes)?;
        if let Some((_, size)) = self.index.remove(&key_bytes) {
            self.bytes = self.bytes.saturating_sub(size);
        }
        let Some(entry) = stored.as_deref().and_then(Entry::decode) else {
            return Err(Error::IllegalState(format!(
                "suppression buffer `{}` lost or garbled the entry at buffer time {time}",
                self.store_name
            )));
        };
        if entry.new.is_none() && self.spec.drop_tombstones {
            return Ok(());
        }
        let key = self
            .key_serde
            .deserialize(&key_bytes)
            .map_err(self.serde_err())?;
        let new = self.decode_value(entry.new)?;
        let old = self.decode_value(entry.old)?;
        ctx.forward(Record {
            key,
            value: Change { new, old },
            timestamp: entry.timestamp,
            headers: entry.headers,
        })
    }

    fn enforce(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        let expiry = self.observed.saturating_sub(self.spec.wait);
        while self.order.first().is_some_and(|(time, _)| *time <= expiry) {
            self.evict_first(ctx)?;
        }
        if self.over_capacity() {
            if self.spec.shut_down_when_full {
                return Err(Error::IllegalState(format!(
                    "suppression buffer `{}` exceeded its capacity: {}/{} records, {}/{} bytes \
                     (the buffer is set to shut down when full)",
                    self.store_name,
                    self.index.len(),
                    self.spec.max_records,
                    self.bytes,
                    self.spec.max_bytes
                )));
            }
            while self.over_capacity() && !self.order.is_empty() {
                self.evict_first(ctx)?;
            }
        }
        Ok(())
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Processor for Suppress<K, V> {
    type KeyIn = K;
    type ValueIn = Change<V>;
    type KeyOut = K;
    type ValueOut = Change<V>;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> ProcessResult {
        let store: KeyValueStoreHandle<Vec<u8>, Vec<u8>> = ctx.key_value_store(&self.store_name)?;
        // After a restart the buffer comes back from its changelog: rebuild order and sizes.
        self.order.clear();
        self.index.clear();
        self.bytes = 0;
        for (key, bytes) in store.all()? {
            let Some(entry) = Entry::decode(&bytes) else {
                return Err(Error::IllegalState(format!(
                    "suppression buffer `{}` holds an entry it cannot read ({} bytes)",
                    self.store_name,
                    bytes.len()
                ))
                .into());
            };
            let size = entry.size(key.len());
            self.bytes += size;
            self.order.insert((entry.time, key.clone()));
            self.index.insert(key, (entry.time, size));
        }
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        record: Record<K, Change<V>>,
    ) -> ProcessResult {
        self.observed = self.observed.max(record.timestamp);
        let time = match &self.spec.time {
            BufferTime::Record => record.timestamp,
            BufferTime::WindowEnd(end) => end(&record.key),
        };
        let mut key_bytes = Vec::new();
        self.key_serde
            .serialize(&record.key, &mut key_bytes)
            .map_err(self.serde_err())?;
        let old = self.encode_value(record.value.old.as_ref())?;
        let new = self.encode_value(record.value.new.as_ref())?;
        let store = ctx.initialized(&self.store)?;
        let previous = match self.index.get(&key_bytes) {
            Some(_) => store.get(&key_bytes)?.as_deref().and_then(Entry::decode),
            None => None,
        };
        let topic = ctx
            .record_metadata()
            .map_or_else(String::new, |m| m.topic.to_string());
        let entry = match previous {
            // Non-resetting: the key keeps its place and its first old value.
            Some(prev) => Entry {
                time: prev.time,
                timestamp: record.timestamp,
                prior: prev.prior,
                old,
                new,
                prior_is_old: false,
                topic,
                headers: record.headers,
            },
            None => Entry {
                time,
                timestamp: record.timestamp,
                prior: old.clone(),
                old,
                new,
                prior_is_old: true,
                topic,
                headers: record.headers,
            },
        };
        let size = entry.size(key_bytes.len());
        store.put(&key_bytes, &entry.encode())?;
        match self.index.insert(key_bytes.clone(), (entry.time, size)) {
            Some((_, before)) => self.bytes = self.bytes.saturating_sub(before) + size,
            None => {
                self.bytes += size;
                self.order.insert((entry.time, key_bytes));
            }
        }
        Ok(self.enforce(ctx)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_and_count_like_kafka() {
        let mut headers = Headers::new();
        headers.add("h", Some(vec![1, 2, 3]));
        headers.add("none", None);
        let entry = Entry {
            time: 42,
            timestamp: -1,
            prior: Some(vec![9; 4]),
            old: Some(vec![8; 2]),
            new: None,
            prior_is_old: false,
            topic: "input".into(),
            headers,
        };
        assert_eq!(Entry::decode(&entry.encode()), Some(entry.clone()));
        // 8 (time) + 3 (key) + 4 (prior) + 2 (old) + 0 (new) + 8 + 8 + 5 ("input") + 4
        // + 1 + 3 ("h" and its value) + 4 ("none").
        assert_eq!(entry.size(3), 8 + 3 + 4 + 2 + 8 + 8 + 5 + 4 + 1 + 3 + 4);
        let first = Entry {
            prior_is_old: true,
            prior: Some(vec![8; 2]),
            ..entry
        };
        assert_eq!(first.size(3), 8 + 3 + 2 + 8 + 8 + 5 + 4 + 1 + 3 + 4);
        assert_eq!(Entry::decode(&[1, 2, 3]), None);
    }
}
