//! `streams`: Kafka Streams for Rust.
//!
//! Describe processing with the typed [`dsl`] (or the [`processor`] API), build a [`Topology`],
//! and run it as a consumer-group worker with [`KafkaStreams`], keeping state in RocksDB backed
//! by compacted changelog topics. Test it without a broker with
//! [`testing::TopologyTestDriver`], or against the in-process [`embedded::EmbeddedBroker`].
//!
//! # Layout
//! - [`dsl`] — `StreamsBuilder`, `KStream`, `KGroupedStream`, `KTable` and their parameters.
//! - [`processor`] — the `Processor` trait, `Record`, `ProcessorContext`.
//! - [`topology`] — `Topology` and its description.
//! - [`state`] — store builders and typed store handles.
//! - [`serde`] — serdes for keys and values.
//! - [`config`] — `StreamsConfig` and property names.
//! - [`runtime`] — `KafkaStreams`, its state, interactive queries and topic administration.
//! - [`testing`] — `TopologyTestDriver`.
//! - [`embedded`] — an in-process broker for examples and tests.
//! - [`error`] — the error type and handler policies.
//! - [`prelude`] — the names most applications use, in one import.
//! - [`guide`] — the user guide (`docs/guide.md` in the repository).

pub mod config;
pub mod dsl;
pub mod embedded;
pub mod error;
#[doc(hidden)]
pub mod fuzz;
#[doc = include_str!("../docs/guide.md")]
pub mod guide {
    #[doc = include_str!("../docs/processor-api.md")]
    pub mod processor_api {}
    #[doc = include_str!("../docs/configuration.md")]
    pub mod configuration {}
    #[doc = include_str!("../docs/operations.md")]
    pub mod operations {}
}
pub mod prelude;
pub mod processor;
pub mod runtime;
pub mod serde;
pub mod state;
mod task_id;
pub mod testing;
pub mod topology;

pub use config::StreamsConfig;
pub use error::{Error, Result};
pub use runtime::{KafkaStreams, State};
pub use task_id::TaskId;
pub use topology::Topology;
