//! `KTable::filter` / `filter_not`: updates that fail the predicate become deletes.
//!
//! Every update is forwarded, also a delete of a row that had not passed either (`None` to
//! `None`): Kafka Streams' `KTableFilter` forwards those unless a downstream operator asked for
//! old values, and the operators that ask (grouping, for example) ignore a change from nothing
//! to nothing, so forwarding it always gives Kafka's output: `to_stream` after a filter writes a
//! tombstone for each filtered-out update, as Kafka's does. (Below a versioned table, Kafka's
//! filter never skips, KIP-914: the same.)

use std::marker::PhantomData;
use std::sync::Arc;

use crate::dsl::Change;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct TableFilter<K, V, F> {
    predicate: Arc<F>,
    keep: bool,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V, F> TableFilter<K, V, F> {
    pub(crate) fn new(predicate: Arc<F>, keep: bool) -> Self {
        TableFilter {
            predicate,
            keep,
            _types: PhantomData,
        }
    }
}

impl<K, V, F> Processor for TableFilter<K, V, F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(&K, &V) -> bool + 'static,
{
    type KeyIn = K;
    type ValueIn = Change<V>;
    type KeyOut = K;
    type ValueOut = Change<V>;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        record: Record<K, Change<V>>,
    ) -> ProcessResult {
        let key = &record.key;
        let pass = |v: &Option<V>| {
            v.as_ref()
                .is_some_and(|v| (self.predicate)(key, v) == self.keep)
        };
        let new = if pass(&record.value.new) {
            record.value.new.clone()
        } else {
            None
        };
        let old = if pass(&record.value.old) {
            record.value.old.clone()
        } else {
            None
        };
        Ok(ctx.forward(record.with_value(Change { new, old }))?)
    }
}
