//! `flat_map`, `flat_map_values` and `try_flat_map`: zero or more records per record. The closure
//! returns a `Result`, whose error fails the record through the processing-error policy (the
//! runtime naming the node); the infallible operators give it an error that cannot happen.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::BoxError;
use crate::processor::{ProcessResult, Processor, ProcessorContext, Record};

/// The types a fallible operator's closure maps between.
type Types<In, Out, E> = PhantomData<fn(In) -> Result<Out, E>>;

/// Zero or more records with new keys and values per record: `try_map` and `try_flat_map`.
pub(crate) struct TryFlatMap<K, V, K2, V2, I, E, F> {
    mapper: Arc<F>,
    _types: Types<(K, V), (I, K2, V2), E>,
}

impl<K, V, K2, V2, I, E, F> TryFlatMap<K, V, K2, V2, I, E, F> {
    pub(crate) fn new(mapper: Arc<F>) -> Self {
        TryFlatMap {
            mapper,
            _types: PhantomData,
        }
    }
}

impl<K, V, K2, V2, I, E, F> Processor for TryFlatMap<K, V, K2, V2, I, E, F>
where
    K: 'static,
    V: 'static,
    K2: Clone + 'static,
    V2: Clone + 'static,
    I: IntoIterator<Item = (K2, V2)> + 'static,
    E: Into<BoxError> + 'static,
    F: Fn(K, V) -> Result<I, E> + 'static,
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
        for (key, value) in (self.mapper)(key, value).map_err(Into::into)? {
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

/// Zero or more values per record, same key: `try_map_values` and `try_filter`.
pub(crate) struct TryFlatMapValues<K, V, V2, I, E, F> {
    mapper: Arc<F>,
    _types: Types<(K, V), (I, V2), E>,
}

impl<K, V, V2, I, E, F> TryFlatMapValues<K, V, V2, I, E, F> {
    pub(crate) fn new(mapper: Arc<F>) -> Self {
        TryFlatMapValues {
            mapper,
            _types: PhantomData,
        }
    }
}

impl<K, V, V2, I, E, F> Processor for TryFlatMapValues<K, V, V2, I, E, F>
where
    K: Clone + 'static,
    V: 'static,
    V2: Clone + 'static,
    I: IntoIterator<Item = V2> + 'static,
    E: Into<BoxError> + 'static,
    F: Fn(&K, V) -> Result<I, E> + 'static,
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
        for value in (self.mapper)(&key, value).map_err(Into::into)? {
            ctx.forward(Record {
                key: key.clone(),
                value,
                timestamp,
                headers: headers.clone(),
            })?;
        }
        Ok(())
    }
}
