//! `peek`: calls an action on each record and forwards it unchanged.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct Peek<K, V, F> {
    action: Arc<F>,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V, F> Peek<K, V, F> {
    pub(crate) fn new(action: Arc<F>) -> Self {
        Peek {
            action,
            _types: PhantomData,
        }
    }
}

impl<K, V, F> Processor for Peek<K, V, F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    F: Fn(&K, &V) + 'static,
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
        (self.action)(&record.key, &record.value);
        Ok(ctx.forward(record)?)
    }
}
