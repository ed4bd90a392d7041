//! `KTable::map_values`: maps new and old values (the mapper never sees a delete).

use std::marker::PhantomData;
use std::sync::Arc;

use crate::dsl::Change;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};

pub(crate) struct TableMapValues<K, V, V2, F> {
    mapper: Arc<F>,
    _types: PhantomData<fn(K, V, V2)>,
}

impl<K, V, V2, F> TableMapValues<K, V, V2, F> {
    pub(crate) fn new(mapper: Arc<F>) -> Self {
        TableMapValues {
            mapper,
            _types: PhantomData,
        }
    }
}

impl<K, V, V2, F> Processor for TableMapValues<K, V, V2, F>
where
    K: Clone + 'static,
    V: 'static,
    V2: Clone + 'static,
    F: Fn(&K, V) -> V2 + 'static,
{
    type KeyIn = K;
    type ValueIn = Change<V>;
    type KeyOut = K;
    type ValueOut = Change<V2>;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V2>>,
        record: Record<K, Change<V>>,
    ) -> ProcessResult {
        let Record {
            key,
            value,
            timestamp,
            headers,
        } = record;
        let new = value.new.map(|v| (self.mapper)(&key, v));
        let old = value.old.map(|v| (self.mapper)(&key, v));
        Ok(ctx.forward(Record {
            key,
            value: Change { new, old },
            timestamp,
            headers,
        })?)
    }
}
