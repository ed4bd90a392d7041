//! The word count's topology, shared by the `word_count` example and the tests that run it on
//! Apache Kafka (`examples/tests/kafka_security.rs` includes this file).

use streams_core::Topology;
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::serde::Serdes;

/// The store holding the count per word.
pub(crate) const STORE: &str = "word-counts-store";

/// The words of a line, as the topology splits them: lowercase runs of letters and apostrophes.
pub(crate) fn words(line: &str) -> Vec<String> {
    line.split(|c: char| !(c.is_alphabetic() || c == '\''))
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Lines of `input` → words → count per word (in [`STORE`]) → `output`.
pub(crate) fn topology(input: &str, output: &str) -> streams_core::Result<Topology> {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            input,
            Consumed::with(Serdes::nullable(Serdes::string()), Serdes::string()),
        )
        .flat_map_values(|line: String| words(&line))
        .group_by(|_key, word: &String| word.clone())
        .count(Materialized::as_(STORE))
        .to_stream()
        .to(output);
    builder.build()
}
