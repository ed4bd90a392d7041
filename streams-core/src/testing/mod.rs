//! [`TopologyTestDriver`]: runs a topology's real task code synchronously over in-memory topics,
//! without a broker, so apps can be tested deterministically. Time is the record timestamps you
//! pipe in.
//!
//! ```
//! use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
//! use streams_core::serde::Serdes;
//! use streams_core::testing::TopologyTestDriver;
//!
//! let builder = StreamsBuilder::new();
//! builder
//!     .stream("words", Consumed::with(Serdes::string(), Serdes::string()))
//!     .group_by(|_k, word: &String| word.clone())
//!     .count(Materialized::as_("counts"))
//!     .to_stream()
//!     .to("counts");
//! let driver = TopologyTestDriver::new(builder.build()?)?;
//! let input = driver.input_topic("words", Serdes::string(), Serdes::string());
//! let output = driver.output_topic("counts", Serdes::string(), Serdes::nullable(Serdes::u64()));
//! input.pipe_input("k".to_string(), "kafka".to_string(), 1_000)?;
//! input.pipe_input("k".to_string(), "kafka".to_string(), 2_000)?;
//! assert_eq!(
//!     output.read_key_values()?,
//!     vec![("kafka".to_string(), Some(1)), ("kafka".to_string(), Some(2))]
//! );
//! let store = driver.key_value_store::<String, u64>("counts")?;
//! assert_eq!(store.get(&"kafka".to_string())?, Some(2));
//! # Ok::<(), streams_core::Error>(())
//! ```

mod driver;
mod topics;

pub use driver::TopologyTestDriver;
pub use topics::{TestInputTopic, TestOutputTopic, TestRecord};
