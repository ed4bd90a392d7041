//! What the versioned-table driver tests share: Kafka's join test input and helpers to pipe
//! and read string records.
#![allow(dead_code, unused_imports)]

pub(crate) use std::time::Duration;

pub(crate) use streams_core::dsl::{
    Consumed, Grouped, Joined, KStream, KTable, Materialized, Produced, StreamsBuilder,
};
pub(crate) use streams_core::serde::Serdes;
pub(crate) use streams_core::state::PutOutcome;
pub(crate) use streams_core::testing::TopologyTestDriver;
pub(crate) use streams_core::{Result, StreamsConfig};

pub(crate) const LEFT: &str = "inputTopicLeft";
pub(crate) const RIGHT: &str = "inputTopicRight";
pub(crate) const OUTPUT: &str = "outputTopic";
/// `ANY_UNIQUE_KEY` of Kafka's join tests.
pub(crate) const KEY: i64 = 0;
/// The base of every timestamp (Kafka's tests add the mock clock's time).
pub(crate) const BASE: i64 = 1_600_000_000_000;

pub(crate) fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

/// `AbstractJoinIntegrationTest.input`: (topic, value, timestamp), all for one key.
pub(crate) fn join_input() -> Vec<(&'static str, Option<&'static str>, i64)> {
    vec![
        (LEFT, None, 1),
        (RIGHT, None, 2),
        (LEFT, Some("A"), 3),
        (RIGHT, Some("a"), 4),
        (LEFT, Some("B"), 5),
        (RIGHT, Some("b"), 6),
        (LEFT, None, 7),
        (RIGHT, None, 8),
        (LEFT, Some("C"), 9),
        (RIGHT, Some("c"), 10),
        (RIGHT, None, 11),
        (LEFT, None, 12),
        (RIGHT, None, 13),
        (RIGHT, Some("d"), 7), // out-of-order data with null as latest
        (LEFT, Some("D"), 6),
        (LEFT, None, 2),
        (RIGHT, None, 3),
        (RIGHT, Some("e"), 14),
        (LEFT, Some("E"), 15),
        (LEFT, None, 10), // out-of-order data with non-null as latest
        (RIGHT, None, 9),
        (LEFT, Some("F"), 4),
        (RIGHT, Some("f"), 3),
    ]
}

/// What one input record produces: nothing, or one record (value `None`: a tombstone).
pub(crate) type Step = Option<(Option<&'static str>, i64)>;

pub(crate) fn long_strings() -> Consumed<i64, String> {
    Consumed::with(Serdes::i64(), Serdes::string())
}

pub(crate) fn versioned(name: &str) -> Materialized<i64, String> {
    Materialized::as_versioned(name, minutes(5)).with_logging_disabled()
}

pub(crate) fn plain(name: &str) -> Materialized<i64, String> {
    Materialized::as_(name).with_logging_disabled()
}

pub(crate) fn to_output(table: &KTable<i64, String>) {
    table.to_stream().to_with(
        OUTPUT,
        Produced::with(Serdes::i64(), Serdes::nullable(Serdes::string())),
    );
}

/// Kafka's `valueJoiner` of these tests: `left + "-" + right`, with Java's `"null"`.
pub(crate) fn show(value: Option<&String>) -> String {
    value.map_or_else(|| "null".to_string(), Clone::clone)
}

/// Pipes the join input one record at a time and checks the output after each
/// (`AbstractJoinIntegrationTest.runTestWithDriver`).
pub(crate) fn run_join(builder: &StreamsBuilder, expected: &[Step]) -> Result<()> {
    let mut config = StreamsConfig::new();
    config.set("statestore.cache.max.bytes", "0");
    let driver = TopologyTestDriver::with_config(builder.build()?, &config)?;
    let nullable = || Serdes::nullable(Serdes::string());
    let (left, right) = (
        driver.input_topic(LEFT, Serdes::i64(), nullable()),
        driver.input_topic(RIGHT, Serdes::i64(), nullable()),
    );
    let output = driver.output_topic(OUTPUT, Serdes::i64(), nullable());
    let input = join_input();
    assert_eq!(input.len(), expected.len());
    for (step, ((topic, value, ts), expected)) in input.iter().zip(expected).enumerate() {
        let topic_input = if *topic == LEFT { &left } else { &right };
        topic_input.pipe_input(KEY, value.map(String::from), BASE + ts)?;
        let got: Vec<(Option<String>, i64)> = output
            .read_records()?
            .into_iter()
            .map(|r| {
                assert_eq!(r.key, KEY);
                (r.value, r.timestamp - BASE)
            })
            .collect();
        let want: Vec<(Option<String>, i64)> = expected
            .iter()
            .map(|(v, t)| (v.map(String::from), *t))
            .collect();
        assert_eq!(got, want, "after input {step}: {topic} {value:?} at {ts}");
    }
    Ok(())
}

pub(crate) fn tables(
    builder: &StreamsBuilder,
    left: Materialized<i64, String>,
    right: Materialized<i64, String>,
) -> (KTable<i64, String>, KTable<i64, String>) {
    (
        builder.table(LEFT, long_strings(), left),
        builder.table(RIGHT, long_strings(), right),
    )
}

pub(crate) fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

/// Pipes string records into `topic`.
pub(crate) fn pipe(
    driver: &TopologyTestDriver,
    topic: &str,
    records: &[(&str, Option<&str>, i64)],
) -> Result<()> {
    let input = driver.input_topic(topic, Serdes::string(), Serdes::nullable(Serdes::string()));
    for (k, v, t) in records {
        input.pipe_input(k.to_string(), v.map(String::from), *t)?;
    }
    Ok(())
}

pub(crate) fn read_strings(
    driver: &TopologyTestDriver,
    topic: &str,
) -> Result<Vec<(String, Option<String>, i64)>> {
    Ok(driver
        .output_topic(topic, Serdes::string(), Serdes::nullable(Serdes::string()))
        .read_records()?
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect())
}

pub(crate) fn rows(expected: &[(&str, Option<&str>, i64)]) -> Vec<(String, Option<String>, i64)> {
    expected
        .iter()
        .map(|(k, v, t)| (k.to_string(), v.map(String::from), *t))
        .collect()
}

pub(crate) fn no_cache() -> StreamsConfig {
    let mut config = StreamsConfig::new();
    config.set("statestore.cache.max.bytes", "0");
    config
}

/// The error message `build` reports for a topology, if it fails.
pub(crate) fn build_error(builder: &StreamsBuilder) -> Option<String> {
    builder.build().err().map(|e| e.report().to_string())
}
