//! `flat_map_values`: zero or more values per record, each with the record's key.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct FlatMapValues<K, V, V2, I, F> {
    mapper: Arc<F>,
    _types: PhantomData<fn(K, V, V2, I)>,
}

impl<K, V, V2, I, F> FlatMapValues<K, V, V2, I, F> {
    pub(crate) fn new(mapper: Arc<F>) -> Self {
        FlatMapValues {
            mapper,
            _types: PhantomData,
        }
    }
}

impl<K, V, V2, I, F> Processor for FlatMapValues<K, V, V2, I, F>
where
    K: Clone + 'static,
    V: 'static,
    V2: Clone + 'static,
    I: IntoIterator<Item = V2> + 'static,
    F: Fn(V) -> I + 'static,
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
        for value in (self.mapper)(record.value) {
            ctx.forward(Record {
                key: record.key.clone(),
                value,
                timestamp: record.timestamp,
                headers: record.headers.clone(),
            })?;
        }
        Ok(())
    }
}
