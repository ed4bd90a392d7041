//! `map`, `try_map` and key selection: a new key and value per record. The closure returns a
//! `Result`: the infallible operators give it an error that cannot happen.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::BoxError;
use crate::processor::{ProcessResult, Processor, ProcessorContext, Record};

pub(crate) struct Map<K, V, K2, V2, E, F> {
    mapper: Arc<F>,
    _types: PhantomData<fn(K, V, K2, V2, E)>,
}

impl<K, V, K2, V2, E, F> Map<K, V, K2, V2, E, F> {
    pub(crate) fn new(mapper: Arc<F>) -> Self {
        Map {
            mapper,
            _types: PhantomData,
        }
    }
}

impl<K, V, K2, V2, E, F> Processor for Map<K, V, K2, V2, E, F>
where
    K: 'static,
    V: 'static,
    K2: Clone + 'static,
    V2: Clone + 'static,
    E: Into<BoxError> + 'static,
    F: Fn(K, V) -> Result<(K2, V2), E> + 'static,
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
        let (key, value) = (self.mapper)(key, value).map_err(Into::into)?;
        ctx.forward(Record {
            key,
            value,
            timestamp,
            headers,
        })?;
        Ok(())
    }
}
