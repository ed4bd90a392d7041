//! Stream–global-table join: each stream record looks up the global table's row for a key
//! computed from the record (no co-partitioning needed: the whole table is local). Inner joins
//! drop records without a row; left joins call the joiner with `None`. Table updates do not
//! produce results.
//!
//! As Kafka Streams (4.4) does: a record with a null value is dropped (a null value is an empty
//! message, and `None` on the table side already means "no row"); an inner join also drops a
//! record whose mapped key is null, while a left join joins it with `None`.

use std::sync::Arc;

use crate::dsl::{GlobalKTable, KStream};
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::GlobalStoreHandle;

/// Maps a stream record to the global table's key.
pub(crate) type KeyMapper<K, V, KG> = Arc<dyn Fn(&K, &V) -> KG + Send + Sync>;
/// Joins a stream value with an optional table value; `None`: no result.
pub(crate) type GlobalJoiner<V, VG, VR> = Arc<dyn Fn(&V, Option<&VG>) -> Option<VR> + Send + Sync>;

struct StreamGlobalJoin<K, V, KG, VG, VR> {
    store_name: String,
    mapper: KeyMapper<K, V, KG>,
    joiner: GlobalJoiner<V, VG, VR>,
    mapped_key_serde: Option<SharedSerde<KG>>,
    /// The stream's value serde, if known: it says which values are Kafka's null.
    value_serde: Option<SharedSerde<V>>,
    left: bool,
    store: Option<GlobalStoreHandle<KG, VG>>,
}

impl<K, V, KG, VG, VR> Processor for StreamGlobalJoin<K, V, KG, VG, VR>
where
    K: Clone + 'static,
    V: 'static,
    KG: 'static,
    VG: 'static,
    VR: Clone + 'static,
{
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = VR;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VR>) -> ProcessResult {
        self.store = Some(ctx.global_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VR>,
        record: Record<K, V>,
    ) -> ProcessResult {
        if self
            .value_serde
            .as_ref()
            .is_some_and(|s| s.is_null(&record.value))
        {
            ctx.record_dropped(
                crate::runtime::DropReason::NullValue,
                "null value in a join",
            );
            return Ok(());
        }
        let mapped = (self.mapper)(&record.key, &record.value);
        let mapped_null = self
            .mapped_key_serde
            .as_ref()
            .is_some_and(|s| s.is_null(&mapped));
        if mapped_null && !self.left {
            ctx.record_dropped(crate::runtime::DropReason::NullKey, "null mapped join key");
            return Ok(());
        }
        let found = if mapped_null {
            None
        } else {
            ctx.initialized(&self.store)?.get(&mapped)?
        };
        if let Some(joined) = (self.joiner)(&record.value, found.as_ref()) {
            ctx.forward(record.with_value(joined))?;
        }
        Ok(())
    }
}

/// Lowers a stream–global-table join (`KStream::join_global`, `left_join_global`): one
/// processor after the stream, reading the global table's store.
pub(crate) fn lower<K, V, KG, VG, VR>(
    stream: &KStream<K, V>,
    table: &GlobalKTable<KG, VG>,
    left: bool,
    mapper: KeyMapper<K, V, KG>,
    joiner: GlobalJoiner<V, VG, VR>,
) -> KStream<K, VR>
where
    K: Clone + 'static,
    V: Clone + 'static,
    KG: 'static,
    VG: 'static,
    VR: Clone + 'static,
{
    let mut state = stream.state.borrow_mut();
    let name = state.new_name(if left {
        "KSTREAM-LEFTJOIN"
    } else {
        "KSTREAM-JOIN"
    });
    let store_name = table.queryable_store_name().to_string();
    let mapped_key_serde = crate::serde::builtin_serde::<KG>();
    let value_serde = stream
        .value_serde
        .clone()
        .or_else(crate::serde::builtin_serde::<V>);
    state.add_processor(
        &name,
        move || StreamGlobalJoin {
            store_name: store_name.clone(),
            mapper: mapper.clone(),
            joiner: joiner.clone(),
            mapped_key_serde: mapped_key_serde.clone(),
            value_serde: value_serde.clone(),
            left,
            store: None,
        },
        &stream.node,
    );
    drop(state);
    KStream::new(
        stream.state.clone(),
        name,
        stream.key_serde.clone(),
        None,
        stream.repartition_required,
    )
}
