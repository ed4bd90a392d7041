//! The names most applications use, in one import.
//!
//! ```
//! use streams_core::prelude::*;
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream("payments", Consumed::with(Serdes::string(), Serdes::u64()))
//!     .filter(|_card, amount: &u64| *amount > 10_000)
//!     .group_by_key()
//!     .count(Materialized::as_("large-payments"))
//!     .to_stream()
//!     .to("large-payment-counts");
//! let topology: Topology = builder.build()?;
//! # Ok::<(), Error>(())
//! ```

pub use crate::dsl::{
    Branched, Consumed, GlobalKTable, Grouped, JoinWindows, Joined, KGroupedStream, KGroupedTable,
    KStream, KTable, Materialized, Produced, Repartitioned, SessionWindows, SlidingWindows,
    StreamJoined, StreamsBuilder, Suppressed, TimeWindows, Windowed,
};
pub use crate::processor::{Processor, ProcessorContext, PunctuationType, Record};
pub use crate::serde::{Serde, Serdes};
pub use crate::{Error, KafkaStreams, Result, State, StreamsConfig, Topology};
