//! `map_values` and `try_map_values`: a new value per record, same key. The closure returns a
//! `Result`: `map_values` gives it an error that cannot happen.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::BoxError;
use crate::processor::{ProcessResult, Processor, ProcessorContext, Record};

pub(crate) struct MapValues<K, V, V2, E, F> {
    mapper: Arc<F>,
    _types: PhantomData<fn(K, V) -> Result<V2, E>>,
}

impl<K, V, V2, E, F> MapValues<K, V, V2, E, F> {
    pub(crate) fn new(mapper: Arc<F>) -> Self {
        MapValues {
            mapper,
            _types: PhantomData,
        }
    }
}

impl<K, V, V2, E, F> Processor for MapValues<K, V, V2, E, F>
where
    K: Clone + 'static,
    V: 'static,
    V2: Clone + 'static,
    E: Into<BoxError> + 'static,
    F: Fn(V) -> Result<V2, E> + 'static,
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
        let value = (self.mapper)(value).map_err(Into::into)?;
        ctx.forward(Record {
            key,
            value,
            timestamp,
            headers,
        })?;
        Ok(())
    }
}
