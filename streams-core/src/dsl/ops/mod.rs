//! The processors the DSL's operators lower to, one small file each; a join's file also holds
//! its lowering (the processors and stores it adds), which the handle's method calls.

mod aggregate;
pub(crate) mod branch;
pub(crate) mod emit_final;
mod filter;
pub(crate) mod fk_join;
mod flat_map;
pub(crate) mod foreach;
pub(crate) mod lookup;
mod map;
mod map_values;
mod peek;
pub(crate) mod session_aggregate;
pub(crate) mod sliding_aggregate;
pub(crate) mod stream_global_join;
pub(crate) mod stream_stream_join;
pub(crate) mod stream_table_join;
pub(crate) mod suppress;
pub(crate) mod table_aggregate;
pub(crate) mod table_filter;
pub(crate) mod table_map_values;
pub(crate) mod table_select;
pub(crate) mod table_source;
pub(crate) mod table_table_join;
mod table_to_stream;
pub(crate) mod window_aggregate;

pub(crate) use aggregate::{Fold, StreamAggregate};
pub(crate) use lookup::{RowGetter, TableLookup};

use crate::Result;
use crate::dsl::Change;
use crate::processor::{Headers, ProcessorContext, Record};
use crate::state::CachedChange;

/// Forwards what a record cache wrote through, as table changes.
pub(crate) fn forward_cached<K: Clone + 'static, V: Clone + 'static>(
    ctx: &mut ProcessorContext<'_, K, Change<V>>,
    changes: Vec<CachedChange<K, V>>,
) -> Result<()> {
    for c in changes {
        if c.new.is_none() && c.old.is_none() {
            // A delete of a key that never reached the store: nothing happened.
            continue;
        }
        ctx.forward(Record {
            key: c.key,
            value: Change {
                new: c.new,
                old: c.old,
            },
            timestamp: c.timestamp,
            headers: Headers::new(),
        })?;
    }
    Ok(())
}
pub(crate) use filter::Filter;
pub(crate) use flat_map::{TryFlatMap, TryFlatMapValues};
pub(crate) use map::Map;
pub(crate) use map_values::MapValues;
pub(crate) use peek::Peek;
pub(crate) use table_to_stream::TableToStream;
