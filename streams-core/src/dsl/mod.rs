//! The typed DSL: describe processing as [`KStream`]s and [`KTable`]s, and let
//! [`StreamsBuilder::build`] lower it onto a [`Topology`](crate::Topology).
//!
//! Every operator adds one processor node; the handle it returns is cheap (a node name, the
//! shared builder and the serdes known so far). Operators that change the key mark the stream,
//! and a later grouping inserts a repartition topic, as Kafka Streams does.
//!
//! ```
//! use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
//! use streams_core::serde::Serdes;
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream("text", Consumed::with(Serdes::nullable(Serdes::string()), Serdes::string()))
//!     .flat_map_values(|line: String| {
//!         line.split_whitespace().map(str::to_lowercase).collect::<Vec<_>>()
//!     })
//!     .group_by(|_key, word: &String| word.clone())
//!     .count(Materialized::as_("counts"))
//!     .to_stream()
//!     .to("word-counts");
//! let topology = builder.build()?;
//! assert_eq!(topology.describe().subtopologies.len(), 2);
//! # Ok::<(), streams_core::Error>(())
//! ```

mod builder;
mod cogrouped_stream;
mod emit;
mod global_table;
mod grouped_stream;
mod grouped_table;
mod joins;
mod kstream;
mod ktable;
mod materialized;
pub(crate) mod ops;
mod optimize;
mod params;
mod repartition;
mod windowed_stream;
mod windows;

pub use builder::StreamsBuilder;
pub use cogrouped_stream::{
    CogroupWindows, CogroupedKStream, SessionWindowedCogroupedKStream, TimeWindowedCogroupedKStream,
};
pub use emit::EmitStrategy;
pub use global_table::GlobalKTable;
pub use grouped_stream::KGroupedStream;
pub use grouped_table::KGroupedTable;
pub use joins::{JoinWindows, Joined, StreamJoined};
pub use kstream::BranchedKStream;
pub use kstream::KStream;
pub use ktable::{BufferConfig, Change, KTable, Suppressed};
pub use materialized::Materialized;
pub use params::{Branched, Consumed, Grouped, Produced, Repartitioned};
pub use windowed_stream::{SessionWindowedKStream, TimeWindowedKStream, WindowSpec};
pub use windows::{SessionWindows, SlidingWindows, TimeWindows, Window, Windowed, WindowedSerde};
