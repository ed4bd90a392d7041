//! `cogroup` (KIP-150) through the driver: several grouped streams of different value types
//! folded into one table, plain and windowed, with repartitioned inputs and null values.
//! Scenarios ported from Kafka Streams' CogroupedKStreamImplTest (named at each test).

use std::time::Duration;

use streams_core::dsl::{
    Consumed, KTable, Materialized, Produced, SessionWindows, StreamsBuilder, TimeWindows, Windowed,
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

fn concat(_k: &String, v: String, agg: String) -> String {
    agg + &v
}

fn out<V: std::fmt::Display + Clone + 'static>(table: KTable<String, V>) {
    table
        .to_stream()
        .map(|k: String, v: Option<V>| (k, v.map_or("null".into(), |v| v.to_string())))
        .to_with("output", Produced::with(Serdes::string(), Serdes::string()));
}

fn read(driver: &TopologyTestDriver) -> Result<Vec<String>> {
    Ok(driver
        .output_topic("output", Serdes::string(), Serdes::string())
        .read_records()?
        .into_iter()
        .map(|r| format!("{} {} @{}", r.key, r.value, r.timestamp))
        .collect())
}

fn lines(l: &[&str]) -> Vec<String> {
    l.iter().map(|s| s.to_string()).collect()
}

/// CogroupedKStreamImplTest.shouldCogroupAndAggregateTwoKStreamsWithDistinctKeys.
#[test]
fn two_streams_with_distinct_keys() -> Result<()> {
    let builder = StreamsBuilder::new();
    let one = builder.stream("one", strings()).group_by_key();
    let two = builder.stream("two", strings()).group_by_key();
    out(one
        .cogroup(concat)
        .cogroup(two, concat)
        .aggregate(String::new, Materialized::default()));
    let driver = TopologyTestDriver::with_config(builder.build()?, &config())?;
    let (a, b) = (
        driver.input_topic("one", Serdes::string(), Serdes::string()),
        driver.input_topic("two", Serdes::string(), Serdes::string()),
    );
    for ts in [0, 1, 10, 100] {
        a.pipe_input("k1".into(), "A".into(), ts)?;
    }
    for ts in [100, 200, 1, 500, 500, 100] {
        b.pipe_input("k2".into(), "B".into(), ts)?;
    }
    assert_eq!(
        read(&driver)?,
        lines(&[
            "k1 A @0",
            "k1 AA @1",
            "k1 AAA @10",
            "k1 AAAA @100",
            "k2 B @100",
            "k2 BB @200",
            "k2 BBB @200",
            "k2 BBBB @500",
            "k2 BBBBB @500",
            "k2 BBBBBB @500",
        ])
    );
    Ok(())
}

/// CogroupedKStreamImplTest.shouldCoGroupStreamsWithDifferentInputTypes.
#[test]
fn streams_of_different_value_types() -> Result<()> {
    let builder = StreamsBuilder::new();
    let one = builder.stream("one", strings()).group_by_key();
    let two = builder
        .stream("two", Consumed::with(Serdes::string(), Serdes::i64()))
        .group_by_key();
    out(one
        .cogroup(|_k: &String, v: String, sum: i64| sum + v.parse::<i64>().unwrap_or(0))
        .cogroup(two, |_k: &String, v: i64, sum: i64| sum + v)
        .aggregate(
            || 0i64,
            Materialized::as_("store1").with_value_serde(Serdes::i64()),
        ));
    let driver = TopologyTestDriver::with_config(builder.build()?, &config())?;
    let a = driver.input_topic("one", Serdes::string(), Serdes::string());
    let b = driver.input_topic("two", Serdes::string(), Serdes::i64());
    for (k, ts) in [("k1", 0), ("k2", 1), ("k1", 10), ("k2", 100)] {
        a.pipe_input(k.into(), "1".into(), ts)?;
    }
    for (k, v, ts) in [
        ("k2", 2, 100),
        ("k2", 2, 200),
        ("k1", 2, 1),
        ("k2", 2, 500),
        ("k1", 2, 500),
        ("k2", 3, 500),
        ("k3", 2, 500),
        ("k2", 2, 100),
    ] {
        b.pipe_input(k.into(), v, ts)?;
    }
    assert_eq!(
        read(&driver)?,
        lines(&[
            "k1 1 @0",
            "k2 1 @1",
            "k1 2 @10",
            "k2 2 @100",
            "k2 4 @100",
            "k2 6 @200",
            "k1 4 @10",
            "k2 8 @500",
            "k1 6 @500",
            "k2 11 @500",
            "k3 2 @500",
            "k2 13 @500",
        ])
    );
    Ok(())
}

/// CogroupedKStreamImplTest.testCogroupHandleNullValues: a null value is dropped, counted.
#[test]
fn null_values_are_dropped() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "one",
            Consumed::with(Serdes::string(), Serdes::nullable(Serdes::string())),
        )
        .group_by_key()
        .cogroup(|_k: &String, v: Option<String>, agg: String| {
            agg + &v.unwrap_or_else(|| "NULL".into())
        })
        .aggregate(
            String::new,
            Materialized::default().with_value_serde(Serdes::string()),
        )
        .to_stream()
        .map(|k: String, v: Option<String>| (k, v.unwrap_or_default()))
        .to_with("output", Produced::with(Serdes::string(), Serdes::string()));
    let driver = TopologyTestDriver::with_config(builder.build()?, &config())?;
    let input = driver.input_topic("one", Serdes::string(), Serdes::nullable(Serdes::string()));
    for (k, v) in [
        ("k1", Some("A")),
        ("k2", Some("B")),
        ("k2", None),
        ("k2", Some("B")),
        ("k1", Some("A")),
    ] {
        input.pipe_input(k.into(), v.map(String::from), 0)?;
    }
    assert_eq!(
        read(&driver)?,
        lines(&["k1 A @0", "k2 B @0", "k2 BB @0", "k1 AA @0"])
    );
    assert_eq!(driver.dropped_records(), 1);
    Ok(())
}

/// A grouped stream whose key changed goes through its own repartition topic first; the
/// others read their topics directly (CogroupedKStreamImplTest
/// shouldInsertRepartitionsTopicForUpstreamKeyModification, checked by output).
#[test]
fn a_rekeyed_stream_is_repartitioned() -> Result<()> {
    let builder = StreamsBuilder::new();
    let one = builder.stream("one", strings()).group_by_key();
    let two = builder
        .stream("two", strings())
        .group_by(|_k: &String, v: &String| v.clone());
    out(one
        .cogroup(concat)
        .cogroup(two, |_k: &String, v: String, agg: String| {
            agg + &v.to_lowercase()
        })
        .aggregate(String::new, Materialized::as_("joint")));
    let topology = builder.build()?;
    let described = topology.describe().to_string();
    assert!(described.contains("-repartition"), "{described}");
    let driver = TopologyTestDriver::with_config(topology, &config())?;
    driver
        .input_topic("one", Serdes::string(), Serdes::string())
        .pipe_input("X".into(), "A".into(), 1)?;
    driver
        .input_topic("two", Serdes::string(), Serdes::string())
        .pipe_input("ignored".into(), "X".into(), 2)?;
    assert_eq!(read(&driver)?, lines(&["X A @1", "X Ax @2"]));
    Ok(())
}

fn windowed_out(table: KTable<Windowed<String>, String>) {
    table
        .to_stream()
        .map(|k: Windowed<String>, v: Option<String>| {
            (
                format!("{}@{}/{}", k.key, k.window.start, k.window.end),
                v.unwrap_or_else(|| "null".into()),
            )
        })
        .to_with("output", Produced::with(Serdes::string(), Serdes::string()));
}

/// TimeWindowedCogroupedKStreamImplTest.timeWindowAggregateTestStreamsTest-style: two streams
/// into one windowed aggregate.
#[test]
fn time_windowed_cogroup() -> Result<()> {
    let builder = StreamsBuilder::new();
    let one = builder.stream("one", strings()).group_by_key();
    let two = builder.stream("two", strings()).group_by_key();
    windowed_out(
        one.cogroup(concat)
            .cogroup(two, concat)
            .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_millis(
                500,
            )))
            .aggregate(|| "0+".to_string(), Materialized::default()),
    );
    let driver = TopologyTestDriver::with_config(builder.build()?, &config())?;
    let a = driver.input_topic("one", Serdes::string(), Serdes::string());
    let b = driver.input_topic("two", Serdes::string(), Serdes::string());
    a.pipe_input("k1".into(), "A".into(), 0)?;
    b.pipe_input("k1".into(), "B".into(), 499)?;
    a.pipe_input("k1".into(), "A".into(), 500)?;
    assert_eq!(
        read(&driver)?,
        lines(&[
            "k1@0/500 0+A @0",
            "k1@0/500 0+AB @499",
            "k1@500/1000 0+A @500"
        ])
    );
    Ok(())
}

/// Each cogrouped stream's aggregation judges lateness by the times it has seen itself, as
/// Kafka's KStreamWindowAggregate per stream does: a record the shared store's retention has
/// passed is not kept there, but its update is still forwarded (differential oracle,
/// `cogroup_windowed`).
#[test]
fn time_windowed_cogroup_judges_lateness_per_stream() -> Result<()> {
    let builder = StreamsBuilder::new();
    let one = builder.stream("one", strings()).group_by_key();
    let two = builder.stream("two", strings()).group_by_key();
    windowed_out(
        one.cogroup(concat)
            .cogroup(two, concat)
            .windowed_by(TimeWindows::of_size_and_grace(
                Duration::from_millis(10),
                Duration::from_millis(5),
            ))
            .aggregate(String::new, Materialized::as_("cogrouped")),
    );
    let driver = TopologyTestDriver::with_config(builder.build()?, &config())?;
    let a = driver.input_topic("one", Serdes::string(), Serdes::string());
    let b = driver.input_topic("two", Serdes::string(), Serdes::string());
    a.pipe_input("k".into(), "A".into(), 20)?;
    // Stream "two" has seen nothing later: its window [0, 10) is open to it.
    b.pipe_input("k".into(), "B".into(), 9)?;
    assert_eq!(read(&driver)?, lines(&["k@20/30 A @20", "k@0/10 B @9"]));
    let store = driver.window_store::<String, (String, i64)>("cogrouped")?;
    assert_eq!(
        store
            .all()?
            .into_iter()
            .map(|(_, start, _)| start)
            .collect::<Vec<_>>(),
        vec![20],
        "the store's retention (15 ms behind 20) does not keep [0, 10)"
    );
    Ok(())
}

/// SessionWindowedCogroupedKStreamImplTest-style: sessions across two streams merge.
#[test]
fn session_windowed_cogroup() -> Result<()> {
    let builder = StreamsBuilder::new();
    let one = builder.stream("one", strings()).group_by_key();
    let two = builder.stream("two", strings()).group_by_key();
    windowed_out(
        one.cogroup(concat)
            .cogroup(two, concat)
            .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(
                Duration::from_millis(10),
            ))
            .aggregate(
                String::new,
                |_k: &String, a: String, b: String| a + &b,
                Materialized::default(),
            ),
    );
    let driver = TopologyTestDriver::with_config(builder.build()?, &config())?;
    let a = driver.input_topic("one", Serdes::string(), Serdes::string());
    let b = driver.input_topic("two", Serdes::string(), Serdes::string());
    a.pipe_input("k".into(), "A".into(), 0)?;
    b.pipe_input("k".into(), "B".into(), 5)?;
    assert_eq!(
        read(&driver)?,
        lines(&["k@0/0 A @0", "k@0/0 null @0", "k@0/5 AB @5"])
    );
    Ok(())
}
