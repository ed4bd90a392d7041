//! `map` and key selection: a new key and value per record.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct Map<K, V, K2, V2, F> {
    mapper: Arc<F>,
    _types: PhantomData<fn(K, V, K2, V2)>,
}

impl<K, V, K2, V2, F> Map<K, V, K2, V2, F> {
    pub(crate) fn new(mapper: Arc<F>) -> Self {
        Map {
            mapper,
            _types: PhantomData,
        }
    }
}

impl<K, V, K2, V2, F> Processor for Map<K, V, K2, V2, F>
where
    K: 'static,
    V: 'static,
    K2: Clone + 'static,
    V2: Clone + 'static,
    F: Fn(K, V) -> (K2, V2) + 'static,
{
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K2;
    type ValueOut = V2;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K2, V2>,
        record: Record<K, V>,
    ) -> ProcessResult {
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = record;
        let (key, value) = (self.mapper)(key, value);
        Ok(ctx.forward(Record {
            key,
            value,
            timestamp,
            headers,
        })?)
    }
}
