//! Stream–table join: each stream record looks up the table's current value for its key; table
//! updates only change the table. Inner joins drop records without a table row; left joins
//! call the joiner with `None`.

use std::marker::PhantomData;
use std::sync::Arc;

use crate::dsl::repartition::repartition_if_required;
use crate::dsl::{KStream, KTable};
use crate::processor::ProcessResult;
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

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> ProcessResult {
        self.store = Some(ctx.key_value_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VR>,
        record: Record<K, V>,
    ) -> ProcessResult {
        let table_value = if self.key_serde.is_null(&record.key) {
            if !self.left {
                ctx.record_dropped(crate::runtime::DropReason::NullKey, "null join key");
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

/// Lowers a stream–table join (`KStream::join_table`, `left_join_table`): the table is
/// materialized if it is not yet, the stream goes through a repartition topic if its key may
/// have changed, and the join processor reads it with access to the table's store.
pub(crate) fn lower<K, V, VT, VR>(
    stream: &KStream<K, V>,
    table: &KTable<K, VT>,
    left: bool,
    joiner: StreamTableJoiner<V, VT, VR>,
) -> KStream<K, VR>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VT: Clone + 'static,
    VR: Clone + 'static,
{
    let broken = || KStream::new(stream.state.clone(), stream.node.clone(), None, None, true);
    let Some(table) = table.ensure_materialized() else {
        return broken();
    };
    let Some(store) = table.store.clone() else {
        return broken();
    };
    let name = stream.state.borrow_mut().new_name(if left {
        "KSTREAM-LEFTJOIN"
    } else {
        "KSTREAM-JOIN"
    });
    let key_serde = stream.state.borrow_mut().require_serde(
        stream.key_serde.clone().or_else(|| table.key_serde.clone()),
        &format!("stream-table join `{name}`"),
    );
    let Some(key_serde) = key_serde else {
        return broken();
    };
    let Some(parent) = repartition_if_required(
        &stream.state,
        &stream.node,
        stream.repartition_required,
        &name,
        key_serde.clone(),
        stream.value_serde.clone(),
    ) else {
        return broken();
    };
    let mut st = stream.state.borrow_mut();
    let (store_name, ks) = (store.clone(), key_serde.clone());
    st.add_processor(
        &name,
        move || StreamTableJoin::new(store_name.clone(), ks.clone(), joiner.clone(), left),
        &parent,
    );
    st.connect_store(&name, &store);
    st.mark_copartitioned(&name);
    drop(st);
    KStream::new(stream.state.clone(), name, Some(key_serde), None, false)
}
