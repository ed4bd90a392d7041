//! `KGroupedTable` aggregation: the subtractor removes an old value, then the adder adds the
//! new one; the result is stored and forwarded with the timestamp `max(input, previous)`. Into a
//! versioned store, a result older than the store's history retention allows is neither stored
//! nor forwarded (counted as late), as in Kafka Streams.

use std::sync::Arc;

use super::forward_cached;
use crate::dsl::Change;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::state::{PutOutcome, TableStore};

/// Adds or subtracts a value: `None` as the aggregate means none yet (reduce's adder then takes
/// the value itself).
pub(crate) type TableFold<K, V, A> = Arc<dyn Fn(&K, V, Option<A>) -> Option<A> + Send + Sync>;

pub(crate) struct TableAggregate<K, V, A> {
    store_name: String,
    adder: TableFold<K, V, A>,
    subtractor: TableFold<K, V, A>,
    store: Option<TableStore<K, A>>,
    cached: bool,
}

impl<K, V, A> TableAggregate<K, V, A> {
    pub(crate) fn new(
        store_name: String,
        adder: TableFold<K, V, A>,
        subtractor: TableFold<K, V, A>,
    ) -> Self {
        TableAggregate {
            store_name,
            adder,
            subtractor,
            store: None,
            cached: false,
        }
    }
}

impl<K, V, A> Processor for TableAggregate<K, V, A>
where
    K: Clone + 'static,
    V: 'static,
    A: Clone + 'static,
{
    type KeyIn = K;
    type ValueIn = Change<V>;
    type KeyOut = K;
    type ValueOut = Change<A>;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A>>) -> ProcessResult {
        self.store = Some(ctx.table_store(&self.store_name)?);
        self.cached = ctx.store_is_cached(&self.store_name);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<A>>,
        record: Record<K, Change<V>>,
    ) -> ProcessResult {
        let store = ctx.initialized(&self.store)?;
        let previous = store.get_with_timestamp(&record.key)?;
        let (old_agg, old_ts) = match &previous {
            Some((agg, ts)) => (Some(agg.clone()), Some(*ts)),
            None => (None, None),
        };
        let timestamp = old_ts.map_or(record.timestamp, |ts| ts.max(record.timestamp));
        let mut agg = old_agg.clone();
        if let (Some(old), Some(current)) = (record.value.old, agg.clone()) {
            agg = (self.subtractor)(&record.key, old, Some(current));
        }
        if let Some(new) = record.value.new {
            agg = (self.adder)(&record.key, new, agg);
        }
        // An aggregate the serde writes as null is a delete, as in Kafka Streams.
        let agg = agg.filter(|a| !store.is_null_value(a));
        let outcome = store.put(&record.key, agg.as_ref(), timestamp)?;
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
                new: agg,
                old: old_agg,
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
