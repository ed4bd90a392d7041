//! `filter` / `filter_not`: forwards records whose predicate result equals `keep`.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct Filter<K, V, F> {
    predicate: Arc<F>,
    keep: bool,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V, F> Filter<K, V, F> {
    pub(crate) fn new(predicate: Arc<F>, keep: bool) -> Self {
        Filter {
            predicate,
            keep,
            _types: PhantomData,
        }
    }
}

impl<K, V, F> Processor for Filter<K, V, F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(&K, &V) -> bool + 'static,
{
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = V;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, V>,
        record: Record<K, V>,
    ) -> ProcessResult {
        if (self.predicate)(&record.key, &record.value) == self.keep {
            ctx.forward(record)?;
        }
        Ok(())
    }
}
