//! `suppress` on any table: time limits, bounded buffers (emit early or shut down), deletes and
//! old values forwarded, tables joined and grouped after a suppression. Scenarios ported from
//! Kafka Streams' SuppressScenarioTest (named at each test).

use std::time::Duration;

use streams_core::dsl::{
    BufferConfig, Consumed, Grouped, KTable, Materialized, Produced, StreamsBuilder, Suppressed,
};
use streams_core::serde::Serdes;
use streams_core::testing::TopologyTestDriver;
use streams_core::{Result, StreamsConfig};

fn config() -> StreamsConfig {
    let mut config = StreamsConfig::new();
    config.set("statestore.cache.max.bytes", "0");
    config
}

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

/// Kafka's scenario: a table of k → v, counted by value.
fn value_counts(builder: &StreamsBuilder) -> KTable<String, u64> {
    builder
        .table(
            "input",
            strings(),
            Materialized::default()
                .with_caching_disabled()
                .with_logging_disabled(),
        )
        .group_by(
            |k: &String, v: &String| (v.clone(), k.clone()),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::default().with_caching_disabled())
}

fn write(table: &KTable<String, u64>, topic: &str) {
    table.to_stream().to_with(
        topic,
        Produced::with(Serdes::string(), Serdes::nullable(Serdes::u64())),
    );
}

/// Drains `topic` as `key value @ts` lines.
fn drain(driver: &TopologyTestDriver, topic: &str) -> Result<Vec<String>> {
    Ok(driver
        .output_topic(topic, Serdes::string(), Serdes::nullable(Serdes::u64()))
        .read_records()?
        .into_iter()
        .map(|r| {
            let v = r.value.map_or("null".to_string(), |v| v.to_string());
            format!("{} {v} @{}", r.key, r.timestamp)
        })
        .collect())
}

fn lines(l: &[&str]) -> Vec<String> {
    l.iter().map(|s| s.to_string()).collect()
}

fn scenario(suppressed: Suppressed<String>) -> Result<TopologyTestDriver> {
    let builder = StreamsBuilder::new();
    let counts = value_counts(&builder);
    write(&counts.suppress(suppressed), "output-suppressed");
    write(&counts, "output-raw");
    TopologyTestDriver::with_config(builder.build()?, &config())
}

fn pipe(driver: &TopologyTestDriver, records: &[(&str, &str, i64)]) -> Result<()> {
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    for (k, v, ts) in records {
        input.pipe_input(k.to_string(), v.to_string(), *ts)?;
    }
    Ok(())
}

const FIRST: &[(&str, &str, i64)] = &[("k1", "v1", 0), ("k1", "v2", 1), ("k2", "v1", 2)];

/// SuppressScenarioTest.shouldImmediatelyEmitEventsWithZeroEmitAfter.
#[test]
fn zero_time_limit_forwards_everything() -> Result<()> {
    let driver = scenario(Suppressed::until_time_limit(
        Duration::ZERO,
        BufferConfig::unbounded(),
    ))?;
    pipe(&driver, FIRST)?;
    let all = lines(&["v1 1 @0", "v1 0 @1", "v2 1 @1", "v1 1 @2"]);
    assert_eq!(drain(&driver, "output-raw")?, all);
    assert_eq!(drain(&driver, "output-suppressed")?, all);
    pipe(&driver, &[("x", "x", 3), ("x", "y", 4)])?;
    assert_eq!(
        drain(&driver, "output-suppressed")?,
        lines(&["x 1 @3", "x 0 @4", "y 1 @4"])
    );
    Ok(())
}

/// SuppressScenarioTest.shouldSuppressIntermediateEventsWithTimeLimit: a key waits from its
/// first buffered update, and leaves with its latest.
#[test]
fn time_limit_counts_from_a_keys_first_update() -> Result<()> {
    let driver = scenario(Suppressed::until_time_limit(
        Duration::from_millis(2),
        BufferConfig::unbounded(),
    ))?;
    pipe(&driver, FIRST)?;
    assert_eq!(drain(&driver, "output-suppressed")?, lines(&["v1 1 @2"]));
    pipe(&driver, &[("tick", "tick", 3)])?;
    assert_eq!(
        drain(&driver, "output-raw")?.last().cloned(),
        Some("tick 1 @3".to_string())
    );
    assert_eq!(drain(&driver, "output-suppressed")?, lines(&["v2 1 @1"]));
    pipe(&driver, &[("tick", "tock", 4)])?;
    // "tick" was first buffered at 3: still waiting at 4.
    assert_eq!(drain(&driver, "output-suppressed")?, Vec::<String>::new());
    Ok(())
}

/// SuppressScenarioTest.shouldSuppressIntermediateEventsWithRecordLimit and
/// shouldSuppressIntermediateEventsWithBytesLimit: a full buffer forwards its earliest keys.
#[test]
fn bounded_buffers_emit_early_when_full() -> Result<()> {
    for buffer in [
        BufferConfig::max_records(1).emit_early_when_full(),
        // Entries here are a little over 100 bytes, as in Kafka's test.
        BufferConfig::max_bytes(200).emit_early_when_full(),
    ] {
        let driver = scenario(Suppressed::until_time_limit(Duration::MAX, buffer))?;
        pipe(&driver, FIRST)?;
        assert_eq!(
            drain(&driver, "output-suppressed")?,
            lines(&["v1 0 @1", "v2 1 @1"]),
            "{buffer:?}"
        );
        pipe(&driver, &[("x", "x", 3)])?;
        assert_eq!(drain(&driver, "output-suppressed")?, lines(&["v1 1 @2"]));
    }
    Ok(())
}

/// BufferConfig.shutDownWhenFull: a full strict buffer fails the task instead of emitting.
#[test]
fn strict_buffer_fails_when_full() -> Result<()> {
    let driver = scenario(Suppressed::until_time_limit(
        Duration::MAX,
        BufferConfig::max_records(1).shut_down_when_full(),
    ))?;
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    input.pipe_input("k1".into(), "v1".into(), 0)?;
    let err = input
        .pipe_input("k2".into(), "v2".into(), 1)
        .expect_err("a second key overflows a one-record strict buffer");
    let mut chain = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(e) = source {
        chain.push_str(&format!(": {e}"));
        source = e.source();
    }
    assert!(chain.contains("exceeded its capacity"), "{chain}");
    assert_eq!(drain(&driver, "output-suppressed")?, Vec::<String>::new());
    Ok(())
}

/// until_window_closes needs a strict buffer; a time-limited one may emit early.
#[test]
fn final_results_refuse_an_eager_buffer() {
    let builder = StreamsBuilder::new();
    builder
        .stream("input", strings())
        .group_by_key()
        .windowed_by(streams_core::dsl::TimeWindows::of_size_with_no_grace(
            Duration::from_millis(10),
        ))
        .count(Materialized::default())
        .suppress(Suppressed::until_window_closes(BufferConfig::max_records(
            5,
        )));
    let err = builder
        .build()
        .expect_err("an eager buffer for final results");
    assert!(err.to_string().contains("strict buffer"), "{err}");
}

/// Deletes leave a time-limited buffer (Kafka forwards tombstones unless the results are
/// final), and changes keep their old values: a grouping after the suppression subtracts.
/// SuppressScenarioTest.shouldWorkBeforeGroupBy, extended with an update and a delete.
#[test]
fn time_limit_forwards_deletes_and_old_values() -> Result<()> {
    let builder = StreamsBuilder::new();
    let suppressed = builder
        .table("topic", strings(), Materialized::default())
        .suppress(Suppressed::until_time_limit(
            Duration::from_millis(10),
            BufferConfig::unbounded(),
        ));
    suppressed
        .group_by(
            |_k: &String, v: &String| (v.clone(), v.clone()),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::default().with_caching_disabled())
        .to_stream()
        .to_with(
            "output",
            Produced::with(Serdes::string(), Serdes::nullable(Serdes::u64())),
        );
    suppressed.to_stream().to_with(
        "raw",
        Produced::with(Serdes::string(), Serdes::nullable(Serdes::string())),
    );
    let driver = TopologyTestDriver::with_config(builder.build()?, &config())?;
    let input = driver.input_topic(
        "topic",
        Serdes::string(),
        Serdes::nullable(Serdes::string()),
    );
    input.pipe_input("A".into(), Some("a".into()), 0)?;
    input.pipe_input("tick".into(), Some("tick".into()), 10)?;
    assert_eq!(drain(&driver, "output")?, lines(&["a 1 @0"]));
    // A moves from a to b: the suppressed change carries old value a. The key "tick",
    // buffered since 10, leaves with its latest change (tick → tock): as in Kafka, the old
    // value is the latest update's, which downstream never saw, so the count of "tick" (never
    // added) is deleted rather than decremented.
    input.pipe_input("A".into(), Some("b".into()), 11)?;
    input.pipe_input("tick".into(), Some("tock".into()), 21)?;
    assert_eq!(
        drain(&driver, "output")?,
        lines(&["tick null @21", "tock 1 @21", "a 0 @11", "b 1 @11"])
    );
    // A deleted: the tombstone leaves the buffer too.
    input.pipe_input("A".into(), None, 22)?;
    input.pipe_input("tick".into(), Some("tack".into()), 32)?;
    assert_eq!(drain(&driver, "output")?, lines(&["b 0 @22"]));
    let raw: Vec<(String, Option<String>)> = driver
        .output_topic("raw", Serdes::string(), Serdes::nullable(Serdes::string()))
        .read_key_values()?;
    assert!(raw.contains(&("A".to_string(), None)), "{raw:?}");
    Ok(())
}

/// SuppressScenarioTest.shouldWorkBeforeJoinRight: a join sees the suppressed side as its
/// downstream has seen it.
#[test]
fn joins_see_what_the_suppression_forwarded() -> Result<()> {
    let builder = StreamsBuilder::new();
    let left = builder.table("left", strings(), Materialized::default());
    let right = builder
        .table("right", strings(), Materialized::default())
        .suppress(Suppressed::until_time_limit(
            Duration::from_millis(10),
            BufferConfig::unbounded(),
        ));
    left.outer_join(&right, |l: Option<&String>, r: Option<&String>| {
        format!(
            "({},{})",
            l.map_or("null", String::as_str),
            r.map_or("null", String::as_str)
        )
    })
    .to_stream()
    .to_with(
        "output",
        Produced::with(Serdes::string(), Serdes::nullable(Serdes::string())),
    );
    let driver = TopologyTestDriver::with_config(builder.build()?, &config())?;
    let right_in = driver.input_topic("right", Serdes::string(), Serdes::string());
    let left_in = driver.input_topic("left", Serdes::string(), Serdes::string());
    let out = driver.output_topic(
        "output",
        Serdes::string(),
        Serdes::nullable(Serdes::string()),
    );
    let read = || -> Result<Vec<String>> {
        Ok(out
            .read_records()?
            .into_iter()
            .map(|r| format!("{} {} @{}", r.key, r.value.unwrap_or_default(), r.timestamp))
            .collect())
    };
    right_in.pipe_input("B".into(), "1".into(), 0)?;
    right_in.pipe_input("A".into(), "1".into(), 0)?;
    assert_eq!(read()?, Vec::<String>::new());
    right_in.pipe_input("tick".into(), "tick".into(), 10)?;
    assert_eq!(read()?, lines(&["A (null,1) @0", "B (null,1) @0"]));
    right_in.pipe_input("A".into(), "2".into(), 11)?;
    assert_eq!(read()?, Vec::<String>::new());
    left_in.pipe_input("A".into(), "a".into(), 12)?;
    assert_eq!(read()?, lines(&["A (a,1) @12"]));
    left_in.pipe_input("B".into(), "b".into(), 12)?;
    assert_eq!(read()?, lines(&["B (b,1) @12"]));
    left_in.pipe_input("A".into(), "b".into(), 13)?;
    assert_eq!(read()?, lines(&["A (b,1) @13"]));
    right_in.pipe_input("tick".into(), "tick1".into(), 21)?;
    assert_eq!(read()?, lines(&["tick (null,tick1) @21", "A (b,2) @13"]));
    Ok(())
}
