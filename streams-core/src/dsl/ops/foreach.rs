//! `foreach`: a terminal action per record.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct Foreach<K, V, F> {
    action: Arc<F>,
    _types: PhantomData<fn(K, V)>,
}

impl<K, V, F> Foreach<K, V, F> {
    pub(crate) fn new(action: Arc<F>) -> Self {
        Foreach {
            action,
            _types: PhantomData,
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static, F: Fn(&K, &V) + 'static> Processor
    for Foreach<K, V, F>
{
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = V;

    fn process(
        &mut self,
        _ctx: &mut ProcessorContext<'_, K, V>,
        record: Record<K, V>,
    ) -> ProcessResult {
        (self.action)(&record.key, &record.value);
        Ok(())
    }
}
