//! The processors the DSL's stateless operators lower to, one small file each.

mod aggregate;
mod filter;
mod flat_map_values;
mod map;
mod map_values;
mod peek;
mod table_to_stream;

pub(crate) use aggregate::StreamAggregate;
pub(crate) use filter::Filter;
pub(crate) use flat_map_values::FlatMapValues;
pub(crate) use map::Map;
pub(crate) use map_values::MapValues;
pub(crate) use peek::Peek;
pub(crate) use table_to_stream::TableToStream;
