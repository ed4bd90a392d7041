//! `KTable::filter` / `filter_not`: updates that fail the predicate become deletes; a delete
//! is forwarded only if the previous value had passed (old values are always known here),
//! except below a versioned table, where every update is forwarded (KIP-914: an out-of-order
//! update's old value is not the value it replaced, so skipping on it would be wrong).

use std::marker::PhantomData;
use std::sync::Arc;

use crate::dsl::Change;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct TableFilter<K, V, F> {
    predicate: Arc<F>,
    keep: bool,
    versioned_upstream: bool,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V, F> TableFilter<K, V, F> {
    pub(crate) fn new(predicate: Arc<F>, keep: bool, versioned_upstream: bool) -> Self {
        TableFilter {
            predicate,
            keep,
            versioned_upstream,
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
        if new.is_none() && old.is_none() && !self.versioned_upstream {
            return Ok(());
        }
        Ok(ctx.forward(record.with_value(Change { new, old }))?)
    }
}
