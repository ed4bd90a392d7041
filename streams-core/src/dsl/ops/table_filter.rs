//! `KTable::filter` / `filter_not`: updates that fail the predicate become deletes.
//!
//! As Kafka Streams' `KTableFilter`: a change from nothing to nothing (a delete of a row that
//! had not passed either) is skipped only when an operator below asked for old values (a
//! grouping, a foreign-key join, a left or outer table join, a suppression; see
//! `ktable::OldValues`), and never below a versioned table (KIP-914); otherwise it is forwarded,
//! so `to_stream` after a filter writes a tombstone for each filtered-out update.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::dsl::Change;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct TableFilter<K, V, F> {
    predicate: Arc<F>,
    keep: bool,
    skip_unchanged: bool,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V, F> TableFilter<K, V, F> {
    pub(crate) fn new(predicate: Arc<F>, keep: bool, skip_unchanged: bool) -> Self {
        TableFilter {
            predicate,
            keep,
            skip_unchanged,
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
        if self.skip_unchanged && new.is_none() && old.is_none() {
            return Ok(());
        }
        Ok(ctx.forward(record.with_value(Change { new, old }))?)
    }
}
