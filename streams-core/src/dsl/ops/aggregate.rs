//! Stream aggregation (count, and later reduce/aggregate): folds each record into the value
//! stored under its key and forwards the change.

use std::sync::Arc;

use crate::Result;
use crate::dsl::Change;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::KeyValueStoreHandle;

pub(crate) struct StreamAggregate<K, V, A, I, F> {
    store_name: String,
    key_serde: SharedSerde<K>,
    initializer: Arc<I>,
    aggregator: Arc<F>,
    store: Option<KeyValueStoreHandle<K, A>>,
    _value: std::marker::PhantomData<fn(V)>,
}

impl<K, V, A, I, F> StreamAggregate<K, V, A, I, F> {
    pub(crate) fn new(
        store_name: String,
        key_serde: SharedSerde<K>,
        initializer: Arc<I>,
        aggregator: Arc<F>,
    ) -> Self {
        StreamAggregate {
            store_name,
            key_serde,
            initializer,
            aggregator,
            store: None,
            _value: std::marker::PhantomData,
        }
    }
}

impl<K, V, A, I, F> Processor for StreamAggregate<K, V, A, I, F>
where
    K: Clone + 'static,
    V: 'static,
    A: Clone + 'static,
    I: Fn() -> A + 'static,
    F: Fn(&K, V, A) -> A + 'static,
{
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = Change<A>;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<A>>) -> Result<()> {
        self.store = Some(ctx.key_value_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<A>>,
        record: Record<K, V>,
    ) -> Result<()> {
        // Kafka Streams drops records with a null key from aggregations, counting them.
        if self.key_serde.is_null(&record.key) {
            ctx.record_dropped("null key in an aggregation");
            return Ok(());
        }
        let store = self.store.as_ref().ok_or_else(|| {
            crate::Error::IllegalState(format!("`{}` processed before init", ctx.node_name()))
        })?;
        let old = store.get(&record.key)?;
        let base = old.clone().unwrap_or_else(|| (self.initializer)());
        let new = (self.aggregator)(&record.key, record.value, base);
        store.put(&record.key, &new)?;
        ctx.forward(Record {
            key: record.key,
            value: Change {
                new: Some(new),
                old,
            },
            timestamp: record.timestamp,
            headers: record.headers,
        })
    }
}
