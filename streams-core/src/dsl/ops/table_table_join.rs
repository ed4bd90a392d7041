//! Table–table (primary key) joins: an update on either side looks up the other side's
//! current row and forwards the joined change, following Kafka Streams' inner, left ("right"
//! for the right side) and outer join processors. Output timestamps are the larger of the two
//! rows' timestamps when both exist.

use std::sync::Arc;

use crate::Result;
use crate::dsl::Change;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::state::KeyValueStoreHandle;

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

pub(crate) struct TableTableJoin<K, V, VO, VR> {
    other_store: String,
    kind: SideKind,
    joiner: SideJoiner<V, VO, VR>,
    store: Option<KeyValueStoreHandle<K, VO>>,
}

impl<K, V, VO, VR> TableTableJoin<K, V, VO, VR> {
    pub(crate) fn new(other_store: String, kind: SideKind, joiner: SideJoiner<V, VO, VR>) -> Self {
        TableTableJoin {
            other_store,
            kind,
            joiner,
            store: None,
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

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<()> {
        self.store = Some(ctx.key_value_store(&self.other_store)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
        record: Record<K, Change<V>>,
    ) -> Result<()> {
        let other = ctx
            .initialized(&self.store)?
            .get_with_timestamp(&record.key)?;
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
        ctx.forward(Record {
            key: record.key,
            value: change,
            timestamp,
            headers: record.headers,
        })
    }
}
