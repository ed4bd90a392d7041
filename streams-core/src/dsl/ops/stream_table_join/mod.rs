//! Stream–table join: each stream record looks up the table's value for its key; table updates
//! only change the table. Inner joins drop records without a table row; left joins call the
//! joiner with `None`. Records with a null value are dropped (and, for inner joins, those with a
//! null key), as in Kafka Streams.
//!
//! A versioned table (KIP-914) is looked up as of each stream record's timestamp, so a late
//! stream record meets the table as it was then. With a grace period (KIP-923) stream records
//! first wait in a [`JoinBuffer`] until stream time passes their timestamp plus the grace, and
//! then join in timestamp order; a record already later than that joins at once.

mod buffer;

use std::marker::PhantomData;
use std::sync::Arc;

use buffer::JoinBuffer;

use crate::dsl::repartition::repartition_if_required;
use crate::dsl::{Joined, KStream, KTable};
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::SharedSerde;
use crate::state::{StoreBuilder, TableStore};
use crate::{Error, Result};

/// Joins a stream value with an optional table value; `None` drops the record (inner join
/// without a match).
pub(crate) type StreamTableJoiner<V, VT, VR> =
    Arc<dyn Fn(&V, Option<&VT>) -> Option<VR> + Send + Sync>;

/// A join's grace buffer: its store, its serdes and the grace in ms.
struct GraceSpec<K, V> {
    store: String,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    grace: i64,
}

impl<K, V> Clone for GraceSpec<K, V> {
    fn clone(&self) -> Self {
        GraceSpec {
            store: self.store.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            grace: self.grace,
        }
    }
}

pub(crate) struct StreamTableJoin<K, V, VT, VR> {
    store_name: String,
    key_serde: SharedSerde<K>,
    /// The stream's value serde, when known: a value it calls null is dropped.
    value_serde: Option<SharedSerde<V>>,
    joiner: StreamTableJoiner<V, VT, VR>,
    left: bool,
    grace: Option<GraceSpec<K, V>>,
    store: Option<TableStore<K, VT>>,
    buffer: Option<JoinBuffer<K, V>>,
    _types: PhantomData<fn(V)>,
}

impl<K, V, VT, VR> StreamTableJoin<K, V, VT, VR>
where
    K: Clone + 'static,
    V: 'static,
    VT: 'static,
    VR: Clone + 'static,
{
    /// Joins `record` with the table (as of its timestamp, if the table is versioned) and
    /// forwards the result.
    fn join(&self, ctx: &mut ProcessorContext<'_, K, VR>, record: Record<K, V>) -> Result<()> {
        let table_value = if self.key_serde.is_null(&record.key) {
            None
        } else {
            ctx.initialized(&self.store)?
                .get_as_of(&record.key, record.timestamp)?
                .map(|(value, _)| value)
        };
        if let Some(joined) = (self.joiner)(&record.value, table_value.as_ref()) {
            ctx.forward(record.with_value(joined))?;
        }
        Ok(())
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
        let store = ctx.table_store(&self.store_name)?;
        if let Some(grace) = &self.grace {
            if !store.is_versioned() {
                return Err(Error::Topology(format!(
                    "the table of stream-table join `{}` must be versioned to use a grace period",
                    ctx.node_name()
                ))
                .into());
            }
            self.buffer = Some(JoinBuffer::open(
                ctx.key_value_store(&grace.store)?,
                grace.key_serde.clone(),
                grace.value_serde.clone(),
                grace.grace,
            )?);
        }
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VR>,
        record: Record<K, V>,
    ) -> ProcessResult {
        let null_key = self.key_serde.is_null(&record.key);
        if null_key && !self.left {
            ctx.record_dropped(crate::runtime::DropReason::NullKey, "null join key");
            return Ok(());
        }
        if self
            .value_serde
            .as_ref()
            .is_some_and(|serde| serde.is_null(&record.value))
        {
            ctx.record_dropped(
                crate::runtime::DropReason::NullValue,
                "null value in a stream-table join",
            );
            return Ok(());
        }
        // A null key cannot be buffered (it has no bytes to order by): it joins at once.
        let buffer = match &mut self.buffer {
            Some(buffer) if !null_key => buffer,
            _ => return Ok(self.join(ctx, record)?),
        };
        if !buffer.put(&record)? {
            return Ok(self.join(ctx, record)?);
        }
        for due in buffer.evict()? {
            self.join(ctx, due)?;
        }
        Ok(())
    }

    fn flush(&mut self, _ctx: &mut ProcessorContext<'_, K, VR>) -> ProcessResult {
        if let Some(buffer) = &mut self.buffer {
            buffer.flush()?;
        }
        Ok(())
    }
}

/// Lowers a stream–table join (`KStream::join_table`, `left_join_table` and their `_with`
/// forms): the table is materialized if it is not yet (in a versioned store with the same
/// history if it is versioned), the stream goes through a repartition topic if its key may
/// have changed, and the join processor reads the table's store. With a grace period, a
/// buffer store `<join name>-Buffer` holds the stream records back.
pub(crate) fn lower<K, V, VT, VR>(
    stream: &KStream<K, V>,
    table: &KTable<K, VT>,
    left: bool,
    joiner: StreamTableJoiner<V, VT, VR>,
    joined: Joined<K, V, VT>,
) -> KStream<K, VR>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VT: Clone + 'static,
    VR: Clone + 'static,
{
    let broken = || KStream::new(stream.state.clone(), stream.node.clone(), None, None, true);
    let name = joined.name.clone().unwrap_or_else(|| {
        stream.state.borrow_mut().new_name(if left {
            "KSTREAM-LEFTJOIN"
        } else {
            "KSTREAM-JOIN"
        })
    });
    let grace = match checked_grace(table, &joined) {
        Ok(grace) => grace,
        Err(e) => {
            stream.state.borrow_mut().record::<()>(Err(e));
            return broken();
        }
    };
    let Some(table) = table.ensure_materialized() else {
        return broken();
    };
    let Some(store) = table.store.clone() else {
        return broken();
    };
    let what = format!("stream-table join `{name}`");
    let key_serde = stream.state.borrow_mut().require_serde(
        joined
            .key_serde
            .clone()
            .or_else(|| stream.key_serde.clone())
            .or_else(|| table.key_serde.clone()),
        &what,
    );
    let Some(key_serde) = key_serde else {
        return broken();
    };
    let value_serde = joined
        .value_serde
        .clone()
        .or_else(|| stream.value_serde.clone());
    let grace = match grace {
        Some(grace) => {
            let Some(value_serde) = stream
                .state
                .borrow_mut()
                .require_serde(value_serde.clone(), &format!("grace buffer of {what}"))
            else {
                return broken();
            };
            Some(GraceSpec {
                store: format!("{name}-Buffer"),
                key_serde: key_serde.clone(),
                value_serde,
                grace,
            })
        }
        None => None,
    };
    let Some(parent) = repartition_if_required(
        &stream.state,
        &stream.node,
        stream.repartition_required,
        &name,
        key_serde.clone(),
        value_serde.clone(),
    ) else {
        return broken();
    };
    let mut st = stream.state.borrow_mut();
    // Null values are dropped by what the values are read with: the buffer's serde, if any.
    let null_check = grace
        .as_ref()
        .map(|g| g.value_serde.clone())
        .or(value_serde);
    let (store_name, ks, vs, gs) = (store.clone(), key_serde.clone(), null_check, grace.clone());
    st.add_processor(
        &name,
        move || StreamTableJoin {
            store_name: store_name.clone(),
            key_serde: ks.clone(),
            value_serde: vs.clone(),
            joiner: joiner.clone(),
            left,
            grace: gs.clone(),
            store: None,
            buffer: None,
            _types: PhantomData,
        },
        &parent,
    );
    st.connect_store(&name, &store);
    if let Some(grace) = grace {
        st.add_store(
            StoreBuilder::key_value(
                grace.store,
                crate::serde::Serdes::bytes(),
                crate::serde::Serdes::bytes(),
            ),
            &name,
        );
    }
    st.mark_copartitioned(&name);
    drop(st);
    KStream::new(stream.state.clone(), name, Some(key_serde), None, false)
}

/// The join's grace period in ms, if it has one and may: only a versioned table can be
/// joined with a grace period, and its history retention must cover the grace (Kafka Streams'
/// checks, with its messages).
fn checked_grace<K, V, VT>(
    table: &KTable<K, VT>,
    joined: &Joined<K, V, VT>,
) -> Result<Option<i64>> {
    let Some(grace) = joined.grace else {
        return Ok(None);
    };
    let grace = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let Some(spec) = table.versioned else {
        return Err(Error::Topology(format!(
            "KTable must be versioned to use a grace period in a stream table join: \
             materialize `{}` with Materialized::as_versioned",
            table.node
        )));
    };
    if grace > spec.history_retention_ms {
        return Err(Error::Topology(format!(
            "History retention must be at least grace period: table `{}` keeps {} ms of \
             history, the join asks for a grace period of {grace} ms",
            table.node, spec.history_retention_ms
        )));
    }
    Ok(Some(grace))
}
