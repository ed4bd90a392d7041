//! The differential oracle: every named topology of `tests/oracle/registry.rs` runs on
//! generated scenarios through Kafka Streams' own `TopologyTestDriver` (Kafka 4.4.0, one JVM
//! for the whole test) and through ours, and the outputs and stores must be equal. It needs a
//! JDK and Maven (`./x java`); without them it fails, saying so. `./x oracle` runs it long.
//!
//! See `tests/oracle/mod.rs` for the environment variables (case count, seed, replay).

#[path = "oracle/mod.rs"]
mod oracle;

#[test]
fn kafka_streams_and_streams_agree() {
    oracle::run();
}
