//! `streams`: Kafka Streams for Rust.
//!
//! Describe processing with the typed [`dsl`] (or the [`processor`] API), build a [`Topology`],
//! and run it as a consumer-group worker with [`KafkaStreams`], keeping state in RocksDB backed
//! by compacted changelog topics. Test it without a broker with `testing::TopologyTestDriver`
//! (feature `test-util`), or against the in-process `embedded::EmbeddedBroker` (feature
//! `embedded`).
//!
//! # Layout
//! - [`dsl`] — `StreamsBuilder`, `KStream`, `KGroupedStream`, `KTable` and their parameters.
//! - [`processor`] — the `Processor` trait, `Record`, `ProcessorContext`.
//! - [`topology`] — `Topology` and its description.
//! - [`state`] — store builders and typed store handles.
//! - [`serde`] — serdes for keys and values.
//! - [`config`] — `StreamsConfig` and property names.
//! - [`runtime`] — `KafkaStreams`, its state and interactive queries.
//! - [`reset`] — reprocessing: resetting an application's offsets, internal topics and local
//!   state (Kafka's application reset tool and `cleanUp()`).
//! - `testing` — `TopologyTestDriver` (feature `test-util`).
//! - `embedded` — an in-process broker for examples and tests (feature `embedded`).
//! - `worker` — a worker binary with an HTTP server from a topology function (feature `worker`).
//! - [`error`] — the error type and handler policies.
//! - [`prelude`] — the names most applications use, in one import.
//! - `fuzzing` — every decoder of outside input by name, for the fuzz targets and random-input
//!   tests (feature `fuzzing`; hidden, not an API).
//! - [`guide`] — the user guide (`docs/guide.md` in the repository).
//!
//! # Features
//!
//! | Feature     | Default | What it adds |
//! |-------------|---------|--------------|
//! | `embedded`  | yes     | `embedded::EmbeddedBroker`: librdkafka's in-process mock cluster, for examples and zero-setup runs. No extra dependency. |
//! | `json`      | yes     | `serde::Json` and `Serdes::json()`: any serde type as JSON. |
//! | `bincode`   | yes     | `serde::Bincode` and `Serdes::bincode()`: any serde type in bincode 2's standard encoding (the `bincode` crate). |
//! | `worker`    | yes     | `worker::Worker`: a worker binary from a topology function (`run`, `describe`, `reset`; flags, environment and properties file; logging; signals) with an HTTP server for metrics, health probes, topology, tasks and interactive queries (tokio, axum, reqwest, clap, tracing-subscriber). |
//! | `macros`    | yes     | `#[derive(serde::Versioned)]`: state and record types whose serialized form carries a version that later versions of the type read (the `streams-macros` crate). |
//! | `tls`       | yes     | TLS to the brokers, and SASL PLAIN, SCRAM and OAUTHBEARER (librdkafka with OpenSSL: system `libssl-dev`). |
//! | `sasl`      | yes     | SASL GSSAPI (Kerberos) (librdkafka with Cyrus SASL: system `libsasl2-dev`); implies `tls`. |
//! | `zstd`      | yes     | Reading and writing zstd-compressed batches. |
//! | `test-util` | no      | `testing::TopologyTestDriver`, to test topologies without a broker (the `tempfile` crate). Enable it in `[dev-dependencies]`. |
//!
//! ```toml
//! [dependencies]
//! streams-core = "0.1"
//!
//! [dev-dependencies]
//! streams-core = { version = "0.1", features = ["test-util"] }
//! ```
//!
//! A production build that wants none of the conveniences can depend on
//! `streams-core = { version = "0.1", default-features = false, features = ["tls"] }`.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod config;
pub mod dsl;
#[cfg(feature = "embedded")]
#[cfg_attr(docsrs, doc(cfg(feature = "embedded")))]
pub mod embedded;
pub mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[doc = include_str!("../docs/guide.md")]
pub mod guide {
    #[doc = include_str!("../docs/processor-api.md")]
    pub mod processor_api {}
    #[doc = include_str!("../docs/configuration.md")]
    pub mod configuration {}
    #[doc = include_str!("../docs/operations.md")]
    pub mod operations {}
    #[doc = include_str!("../docs/semantics.md")]
    pub mod semantics {}
    #[cfg(all(feature = "worker", feature = "macros"))]
    #[doc = include_str!("../docs/deploying.md")]
    pub mod deploying {}
}
pub mod prelude;
pub mod processor;
pub mod reset;
pub mod runtime;
pub mod serde;
pub mod state;
mod task_id;
#[cfg(feature = "test-util")]
#[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
pub mod testing;
pub mod topology;
#[cfg(feature = "worker")]
#[cfg_attr(docsrs, doc(cfg(feature = "worker")))]
pub mod worker;

pub use config::StreamsConfig;
/// `#[streams_core::main(...)]`: a worker binary's `main` from a topology function (see
/// [`worker`]).
#[cfg(all(feature = "macros", feature = "worker"))]
#[cfg_attr(docsrs, doc(cfg(all(feature = "macros", feature = "worker"))))]
pub use streams_macros::main;

/// What macro expansions name; not an API.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
}
pub use error::{Error, Result};
pub use runtime::{KafkaStreams, State};
pub use task_id::TaskId;
pub use topology::Topology;
