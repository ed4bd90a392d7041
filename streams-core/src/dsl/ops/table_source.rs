//! Materializing a table: each update is written to the table's store (a delete for `None`)
//! and forwarded with the value it replaced — directly, or when the record cache flushes.
//! Serves `builder.table(..)` (input: the topic's nullable values) and tables that a join
//! needs to look up (input: the upstream table's changes).
//!
//! A versioned store (KIP-889/914) takes each update at its timestamp: one older than the
//! store's history retention allows is dropped (not forwarded, counted as late), and one
//! older than its key's latest version goes into history and is forwarded marked as not the
//! latest (with the latest value as its old value), so that `to_stream` sees it while joins
//! and aggregations below ignore it.

use std::marker::PhantomData;
use std::sync::Arc;

use streams_state::ChangelogRecord;

use super::forward_cached;
use crate::dsl::Change;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::{PutOutcome, TableStore};
use crate::topology::{RecodeError, RestoreRecode};

/// Turns an input value into the table's new value.
pub(crate) trait TableInput<V>: 'static {
    fn new_value(self) -> Option<V>;
}

impl<V: 'static> TableInput<V> for Option<V> {
    fn new_value(self) -> Option<V> {
        self
    }
}

impl<V: 'static> TableInput<V> for Change<V> {
    fn new_value(self) -> Option<V> {
        self.new
    }
}

pub(crate) struct TableMaterialize<K, I, V> {
    store_name: String,
    key_serde: SharedSerde<K>,
    store: Option<TableStore<K, V>>,
    cached: bool,
    _input: PhantomData<fn(I)>,
}

impl<K, I, V> TableMaterialize<K, I, V> {
    pub(crate) fn new(store_name: String, key_serde: SharedSerde<K>) -> Self {
        TableMaterialize {
            store_name,
            key_serde,
            store: None,
            cached: false,
            _input: PhantomData,
        }
    }
}

impl<K, I, V> Processor for TableMaterialize<K, I, V>
where
    K: Clone + 'static,
    I: TableInput<V>,
    V: Clone + 'static,
{
    type KeyIn = K;
    type ValueIn = I;
    type KeyOut = K;
    type ValueOut = Change<V>;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> ProcessResult {
        self.store = Some(ctx.table_store(&self.store_name)?);
        self.cached = ctx.store_is_cached(&self.store_name);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        record: Record<K, I>,
    ) -> ProcessResult {
        if self.key_serde.is_null(&record.key) {
            ctx.record_dropped(crate::runtime::DropReason::NullKey, "null key for a table");
            return Ok(());
        }
        let store = ctx.initialized(&self.store)?;
        let old = store.get_with_timestamp(&record.key)?;
        if let Some((_, old_ts)) = &old
            && record.timestamp < *old_ts
            && !store.is_versioned()
        {
            tracing::warn!(
                store = %self.store_name,
                "out-of-order table update: old timestamp {old_ts}, new timestamp {} (applied anyway)",
                record.timestamp
            );
        }
        let new = record.value.new_value();
        let outcome = store.put(&record.key, new.as_ref(), record.timestamp)?;
        if outcome == PutOutcome::NotPut {
            ctx.record_late(&format!(
                "update older than the history retention of versioned store `{}`",
                self.store_name
            ));
            return Ok(());
        }
        if let (true, Some(timestamped)) = (self.cached, store.timestamped()) {
            return Ok(forward_cached(ctx, timestamped.take_evicted()?)?);
        }
        let change = Record {
            key: record.key,
            value: Change {
                new,
                old: old.map(|(v, _)| v),
            },
            timestamp: record.timestamp,
            headers: record.headers,
        };
        Ok(ctx.forward_change(change, outcome == PutOutcome::Latest)?)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> ProcessResult {
        if !self.cached {
            return Ok(());
        }
        match ctx.initialized(&self.store)?.timestamped() {
            Some(store) => Ok(forward_cached(ctx, store.flush_cache()?)?),
            None => Ok(()),
        }
    }
}

/// How a table's store is restored from its input topic (`reuse.ktable.source.topics`): each
/// record decoded as the table's source decodes it, then encoded with the store's serdes, as
/// [`TableMaterialize`] would have written it (a value that is null or that the store's serde
/// writes as null deletes its key). Kafka Streams copies the bytes as read instead, which
/// loads records processing skipped as undecodable, and assumes the store's serdes are the
/// source's.
pub(crate) fn restore_recode<K: 'static, V: 'static>(
    store: String,
    source_key: SharedSerde<K>,
    source_value: SharedSerde<Option<V>>,
    store_key: SharedSerde<K>,
    store_value: SharedSerde<V>,
) -> RestoreRecode {
    Arc::new(move |record: &ChangelogRecord| {
        let decode_err = |field| move |source| RecodeError::Decode { field, source };
        let encode_err = |source| {
            RecodeError::Encode(crate::Error::StoreSerde {
                store: store.clone(),
                source,
            })
        };
        let key = source_key
            .deserialize(&record.key)
            .map_err(decode_err("key"))?;
        if source_key.is_null(&key) {
            return Ok(None);
        }
        let value = crate::serde::decode(&*source_value, record.value.as_deref())
            .map_err(decode_err("value"))?;
        let mut key_bytes = Vec::with_capacity(record.key.len());
        store_key
            .serialize(&key, &mut key_bytes)
            .map_err(encode_err)?;
        let value_bytes = match value {
            Some(value) if !store_value.is_null(&value) => {
                let mut bytes = Vec::with_capacity(record.value.as_ref().map_or(0, Vec::len));
                store_value
                    .serialize(&value, &mut bytes)
                    .map_err(encode_err)?;
                Some(bytes)
            }
            _ => None,
        };
        Ok(Some(ChangelogRecord::new(
            key_bytes,
            value_bytes,
            record.timestamp,
        )))
    })
}
