//! `filter`, `filter_not` and `try_filter`: forwards records whose predicate result equals
//! `keep`. The predicate returns a `Result`: the infallible operators give it an error that
//! cannot happen.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::BoxError;
use crate::processor::{ProcessResult, Processor, ProcessorContext, Record};

pub(crate) struct Filter<K, V, E, F> {
    predicate: Arc<F>,
    keep: bool,
    _types: PhantomData<fn(K, V, E)>,
}

impl<K, V, E, F> Filter<K, V, E, F> {
    pub(crate) fn new(predicate: Arc<F>, keep: bool) -> Self {
        Filter {
            predicate,
            keep,
            _types: PhantomData,
        }
    }
}

impl<K, V, E, F> Processor for Filter<K, V, E, F>
where
    K: Clone + 'static,
    V: Clone + 'static,
    E: Into<BoxError> + 'static,
    F: Fn(&K, &V) -> Result<bool, E> + 'static,
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
        if (self.predicate)(&record.key, &record.value).map_err(Into::into)? == self.keep {
            ctx.forward(record)?;
        }
        Ok(())
    }
}
