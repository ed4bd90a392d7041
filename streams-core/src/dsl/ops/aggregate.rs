//! Stream aggregation (`count`, `reduce`, `aggregate`): folds each record into the value stored
//! under its key and forwards the change, directly or, with a record cache, when the cache
//! flushes (at commit or eviction), so that many updates of a key become one. Records with a
//! null key or a null value are dropped and counted, as Kafka Streams' `KStreamAggregate` does.
//! Into a versioned store, an aggregate older than the store's history retention allows is not
//! stored, and not forwarded (counted as late), as in Kafka Streams.

use std::sync::Arc;

use super::forward_cached;
use crate::dsl::Change;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::{PutOutcome, TableStore};

/// Folds a value into an aggregate: `None` as the aggregate means "no aggregate yet".
pub(crate) type Fold<K, V, A> = Arc<dyn Fn(&K, V, Option<A>) -> A + Send + Sync>;

pub(crate) struct StreamAggregate<K, V, A> {
    store_name: String,
    key_serde: SharedSerde<K>,
    /// The value serde, when known: records it writes as null are dropped, as in Kafka.
    value_serde: Option<SharedSerde<V>>,
    fold: Fold<K, V, A>,
    store: Option<TableStore<K, A>>,
    cached: bool,
}

impl<K, V, A> StreamAggregate<K, V, A> {
    pub(crate) fn new(
        store_name: String,
        key_serde: SharedSerde<K>,
        value_serde: Option<SharedSerde<V>>,
        fold: Fold<K, V, A>,
    ) -> Self {
        StreamAggregate {
            store_name,
            key_serde,
            value_serde,
            fold,
            store: None,
            cached: false,
        }
    }
}

impl<K, V, A> Processor for StreamAggregate<K, V, A>
where
    K: Clone + 'static,
    V: 'static,
    A: Clone + 'static,
{
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = Change<A>;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A>>) -> ProcessResult {
        let store = ctx.table_store(&self.store_name)?;
        self.cached = ctx.store_is_cached(&self.store_name);
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<A>>,
        record: Record<K, V>,
    ) -> ProcessResult {
        // Kafka Streams drops records with a null key from aggregations, counting them.
        if self.key_serde.is_null(&record.key) {
            ctx.record_dropped(
                crate::runtime::DropReason::NullKey,
                "null key in an aggregation",
            );
            return Ok(());
        }
        // And records with a null value: the aggregator never sees one.
        if self
            .value_serde
            .as_ref()
            .is_some_and(|serde| serde.is_null(&record.value))
        {
            ctx.record_dropped(
                crate::runtime::DropReason::NullValue,
                "null value in an aggregation",
            );
            return Ok(());
        }
        let store = ctx.initialized(&self.store)?;
        let old = store.get_with_timestamp(&record.key)?;
        let (old_value, old_ts) = match old {
            Some((v, ts)) => (Some(v), ts),
            None => (None, i64::MIN),
        };
        let new = (self.fold)(&record.key, record.value, old_value.clone());
        let timestamp = record.timestamp.max(old_ts);
        let outcome = store.put(&record.key, Some(&new), timestamp)?;
        if outcome == PutOutcome::NotPut {
            ctx.record_late("aggregate older than the history retention of its versioned store");
            return Ok(());
        }
        if let (true, Some(timestamped)) = (self.cached, store.timestamped()) {
            return Ok(forward_cached(ctx, timestamped.take_evicted()?)?);
        }
        let change = Record {
            key: record.key,
            value: Change {
                // An aggregate the serde writes as null deleted the key: a tombstone downstream.
                new: (!store.is_null_value(&new)).then_some(new),
                old: old_value,
            },
            timestamp,
            headers: record.headers,
        };
        Ok(ctx.forward_change(change, outcome == PutOutcome::Latest)?)
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A>>) -> ProcessResult {
        if !self.cached {
            return Ok(());
        }
        match ctx.initialized(&self.store)?.timestamped() {
            Some(store) => Ok(forward_cached(ctx, store.flush_cache()?)?),
            None => Ok(()),
        }
    }
}
