//! Table–table (primary key) joins: an update on either side looks up the other side's
//! current row and forwards the joined change, following Kafka Streams' inner, left ("right"
//! for the right side) and outer join processors. Output timestamps are the larger of the two
//! rows' timestamps when both exist. An out-of-order update of a versioned side produces no
//! result (KIP-914): it is dropped and counted.

use std::sync::Arc;

use super::branch::PassThrough;
use super::{RowGetter, TableLookup};
use crate::dsl::{Change, KTable};
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::state::TableStore;

/// The joiner seen from one side: `(this value, other value)` in the user's left/right order
/// is handled by the caller; `None` where the join kind gives no result.
pub(crate) type SideJoiner<V, VO, VR> =
    Arc<dyn Fn(Option<&V>, Option<&VO>) -> Option<VR> + Send + Sync>;

/// Which rows produce results, from this side's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SideKind {
    /// Only when both rows exist.
    Inner,
    /// This side's rows always produce (left join's left side, outer joins).
    Preserved,
    /// Only when the other (preserved) side's row exists (left join's right side).
    NeedsOther,
}

/// How one side reads the other side's rows.
enum OtherRows<K, VO> {
    /// A timestamped (or versioned) key-value store.
    Store(Option<TableStore<K, VO>>),
    /// A window or session store (windowed tables), through a getter made at `init`.
    Lookup(TableLookup<K, VO>, Option<RowGetter<K, VO>>),
}

pub(crate) struct TableTableJoin<K, V, VO, VR> {
    other_store: String,
    kind: SideKind,
    joiner: SideJoiner<V, VO, VR>,
    other: OtherRows<K, VO>,
    /// Whether this side's table is versioned: its out-of-order updates are ignored.
    versioned: bool,
}

impl<K, V, VO, VR> TableTableJoin<K, V, VO, VR> {
    pub(crate) fn new(
        other_store: String,
        lookup: Option<TableLookup<K, VO>>,
        kind: SideKind,
        joiner: SideJoiner<V, VO, VR>,
        versioned: bool,
    ) -> Self {
        TableTableJoin {
            other_store,
            kind,
            joiner,
            other: match lookup {
                Some(lookup) => OtherRows::Lookup(lookup, None),
                None => OtherRows::Store(None),
            },
            versioned,
        }
    }
}

impl<K, V, VO, VR> Processor for TableTableJoin<K, V, VO, VR>
where
    K: Clone + 'static,
    V: 'static,
    VO: 'static,
    VR: Clone + 'static,
{
    type KeyIn = K;
    type ValueIn = Change<V>;
    type KeyOut = K;
    type ValueOut = Change<VR>;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> ProcessResult {
        match &mut self.other {
            OtherRows::Store(store) => *store = Some(ctx.table_store(&self.other_store)?),
            OtherRows::Lookup(lookup, getter) => *getter = Some(ctx.row_getter(lookup)?),
        }
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
        record: Record<K, Change<V>>,
    ) -> ProcessResult {
        if self.versioned && !ctx.change_is_latest() {
            ctx.record_dropped(
                crate::runtime::DropReason::OutOfOrder,
                "out-of-order update of a versioned table in a table-table join",
            );
            return Ok(());
        }
        let other = match &self.other {
            OtherRows::Store(store) => ctx.initialized(store)?.get_with_timestamp(&record.key)?,
            OtherRows::Lookup(_, getter) => ctx.initialized(getter)?(&record.key)?,
        };
        let Change { new, old } = &record.value;
        let j = |this: Option<&V>, that: Option<&VO>| (self.joiner)(this, that);
        let (change, timestamp) = match (&other, self.kind) {
            (None, SideKind::Inner | SideKind::NeedsOther) => return Ok(()),
            (None, SideKind::Preserved) => {
                if new.is_none() && old.is_none() {
                    return Ok(());
                }
                let change = Change {
                    new: new.as_ref().and_then(|n| j(Some(n), None)),
                    old: old.as_ref().and_then(|o| j(Some(o), None)),
                };
                (change, record.timestamp)
            }
            (Some((o, other_ts)), SideKind::Inner) => {
                let change = Change {
                    new: new.as_ref().and_then(|n| j(Some(n), Some(o))),
                    old: old.as_ref().and_then(|v| j(Some(v), Some(o))),
                };
                (change, record.timestamp.max(*other_ts))
            }
            (Some((o, other_ts)), SideKind::NeedsOther | SideKind::Preserved) => {
                let change = Change {
                    new: j(new.as_ref(), Some(o)),
                    old: j(old.as_ref(), Some(o)),
                };
                (change, record.timestamp.max(*other_ts))
            }
        };
        Ok(ctx.forward(Record {
            key: record.key,
            value: change,
            timestamp,
            headers: record.headers,
        })?)
    }
}

/// Lowers a table–table join (`KTable::join`, `left_join`, `outer_join`): both tables are
/// materialized if they are not yet; each side's processor looks its key up in the other
/// side's store, and a merge node after them is the result table (not materialized).
pub(crate) fn lower<K, V, VO, VR>(
    table: &KTable<K, V>,
    other: &KTable<K, VO>,
    kinds: (SideKind, SideKind),
    this_joiner: SideJoiner<V, VO, VR>,
    other_joiner: SideJoiner<VO, V, VR>,
) -> KTable<K, VR>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VO: Clone + 'static,
    VR: Clone + 'static,
{
    let broken = || KTable::new(table.state.clone(), table.node.clone(), None, None, None);
    // A preserved side needs old values (Kafka's doJoin asks the left table of a left or
    // outer join, and the right table of an outer join, for them).
    if kinds.0 == SideKind::Preserved {
        table.enable_sending_old_values();
    }
    if kinds.1 == SideKind::Preserved {
        other.enable_sending_old_values();
    }
    let (Some(this), Some(that)) = (table.ensure_materialized(), other.ensure_materialized())
    else {
        return broken();
    };
    let (Some(this_store), Some(that_store)) = (this.store.clone(), that.store.clone()) else {
        return broken();
    };
    let mut st = table.state.borrow_mut();
    let this_name = st.new_name("KTABLE-JOINTHIS");
    let other_name = st.new_name("KTABLE-JOINOTHER");
    let (ts, tl, tj, tv) = (
        that_store.clone(),
        that.lookup.clone(),
        this_joiner,
        this.is_versioned(),
    );
    st.add_processor(
        &this_name,
        move || {
            TableTableJoin::<K, V, VO, VR>::new(ts.clone(), tl.clone(), kinds.0, tj.clone(), tv)
        },
        &this.node,
    );
    let (os, ol, oj, ov) = (
        this_store.clone(),
        this.lookup.clone(),
        other_joiner,
        that.is_versioned(),
    );
    st.add_processor(
        &other_name,
        move || {
            TableTableJoin::<K, VO, V, VR>::new(os.clone(), ol.clone(), kinds.1, oj.clone(), ov)
        },
        &that.node,
    );
    st.connect_store(&this_name, &that_store);
    st.connect_store(&other_name, &this_store);
    st.mark_copartitioned(&this_name);
    let merge = st.new_name("KTABLE-MERGE");
    st.add_processor_with_parents(
        &merge,
        PassThrough::<K, Change<VR>>::new,
        &[&this_name, &other_name],
    );
    drop(st);
    KTable::new(
        table.state.clone(),
        merge,
        table.key_serde.clone(),
        None,
        None,
    )
}
