//! `map_values`: a new value per record, same key.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct MapValues<K, V, V2, F> {
    mapper: Arc<F>,
    _types: PhantomData<fn(K, V) -> V2>,
}

impl<K, V, V2, F> MapValues<K, V, V2, F> {
    pub(crate) fn new(mapper: Arc<F>) -> Self {
        MapValues {
            mapper,
            _types: PhantomData,
        }
    }
}

impl<K, V, V2, F> Processor for MapValues<K, V, V2, F>
where
    K: Clone + 'static,
    V: 'static,
    V2: Clone + 'static,
    F: Fn(V) -> V2 + 'static,
{
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = V2;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, V2>,
        record: Record<K, V>,
    ) -> ProcessResult {
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = record;
        Ok(ctx.forward(Record {
            key,
            value: (self.mapper)(value),
            timestamp,
            headers,
        })?)
    }
}
