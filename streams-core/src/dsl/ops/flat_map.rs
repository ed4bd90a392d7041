//! `flat_map`: zero or more new records (key and value) per record.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct FlatMap<K, V, K2, V2, I, F> {
    mapper: Arc<F>,
    _types: PhantomData<fn(K, V, K2, V2, I)>,
}

impl<K, V, K2, V2, I, F> FlatMap<K, V, K2, V2, I, F> {
    pub(crate) fn new(mapper: Arc<F>) -> Self {
        FlatMap {
            mapper,
            _types: PhantomData,
        }
    }
}

impl<K, V, K2, V2, I, F> Processor for FlatMap<K, V, K2, V2, I, F>
where
    K: 'static,
    V: 'static,
    K2: Clone + 'static,
    V2: Clone + 'static,
    I: IntoIterator<Item = (K2, V2)> + 'static,
    F: Fn(K, V) -> I + 'static,
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
        for (key, value) in (self.mapper)(key, value) {
            ctx.forward(Record {
                key,
                value,
                timestamp,
                headers: headers.clone(),
            })?;
        }
        Ok(())
    }
}
