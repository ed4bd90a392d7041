//! Stream–table join: each stream record looks up the table's current value for its key; table
//! updates only change the table. Inner joins drop records without a table row; left joins
//! call the joiner with `None`.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::Result;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::KeyValueStoreHandle;

/// Joins a stream value with an optional table value; `None` drops the record (inner join
/// without a match).
pub(crate) type StreamTableJoiner<V, VT, VR> =
    Arc<dyn Fn(&V, Option<&VT>) -> Option<VR> + Send + Sync>;

pub(crate) struct StreamTableJoin<K, V, VT, VR> {
    store_name: String,
    key_serde: SharedSerde<K>,
    joiner: StreamTableJoiner<V, VT, VR>,
    left: bool,
    store: Option<KeyValueStoreHandle<K, VT>>,
    _types: PhantomData<fn(V)>,
}

impl<K, V, VT, VR> StreamTableJoin<K, V, VT, VR> {
    pub(crate) fn new(
        store_name: String,
        key_serde: SharedSerde<K>,
        joiner: StreamTableJoiner<V, VT, VR>,
        left: bool,
    ) -> Self {
        StreamTableJoin {
            store_name,
            key_serde,
            joiner,
            left,
            store: None,
            _types: PhantomData,
        }
    }
}

impl<K, V, VT, VR> Processor for StreamTableJoin<K, V, VT, VR>
where
    K: Clone + 'static,
    V: 'static,
    VT: 'static,
    VR: Clone + 'static,
{
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = VR;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> Result<()> {
        self.store = Some(ctx.key_value_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VR>,
        record: Record<K, V>,
    ) -> Result<()> {
        let table_value = if self.key_serde.is_null(&record.key) {
            if !self.left {
                ctx.record_dropped("null join key");
                return Ok(());
            }
            None
        } else {
            ctx.initialized(&self.store)?.get(&record.key)?
        };
        if let Some(joined) = (self.joiner)(&record.value, table_value.as_ref()) {
            ctx.forward(record.with_value(joined))?;
        }
        Ok(())
    }
}
