//! Tables and stream aggregations through the driver, with scenarios from Kafka Streams'
//! KTableSourceTest, KTableFilterTest, KTableMapValuesTest, KTableAggregateTest and
//! KGroupedStreamImplTest.

use streams_core::dsl::{Consumed, Grouped, KTable, Materialized, StreamsBuilder};
use streams_core::serde::Serdes;
use streams_core::state::StoreEngine;
use streams_core::testing::TopologyTestDriver;
use streams_core::{Result, StreamsConfig};

type Out = Vec<(String, Option<String>, i64)>;

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

fn read(driver: &TopologyTestDriver, topic: &str) -> Result<Out> {
    Ok(driver
        .output_topic(topic, Serdes::string(), Serdes::nullable(Serdes::string()))
        .read_records()?
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect())
}

fn rows(expected: &[(&str, Option<&str>, i64)]) -> Out {
    expected
        .iter()
        .map(|(k, v, t)| (k.to_string(), v.map(String::from), *t))
        .collect()
}

fn pipe(
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

fn source_table(builder: &StreamsBuilder, store: &str) -> KTable<String, String> {
    builder.table("input", strings(), Materialized::as_(store))
}

#[test]
fn table_source_passes_updates_and_tombstones_and_materializes() -> Result<()> {
    // KTableSourceTest.testKTableSource
    let builder = StreamsBuilder::new();
    source_table(&builder, "source").to_stream().to("output");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let input = [
        ("A", Some("1"), 10),
        ("B", Some("2"), 11),
        ("C", Some("3"), 12),
        ("D", Some("4"), 13),
        ("A", None, 14),
        ("B", None, 15),
    ];
    pipe(&driver, "input", &input)?;
    assert_eq!(read(&driver, "output")?, rows(&input));
    let store = driver.key_value_store::<String, String>("source")?;
    assert_eq!(store.get(&"A".into())?, None);
    assert_eq!(
        store.get_with_timestamp(&"C".into())?,
        Some(("3".to_string(), 12))
    );
    Ok(())
}

#[test]
fn table_source_applies_out_of_order_updates_and_skips_deletes_of_missing_keys() -> Result<()> {
    let builder = StreamsBuilder::new();
    source_table(&builder, "source").to_stream().to("output");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    pipe(
        &driver,
        "input",
        &[("B", Some("01"), 20), ("B", Some("02"), 5), ("X", None, 30)],
    )?;
    assert_eq!(
        read(&driver, "output")?,
        rows(&[("B", Some("01"), 20), ("B", Some("02"), 5)])
    );
    let store = driver.key_value_store::<String, String>("source")?;
    assert_eq!(
        store.get_with_timestamp(&"B".into())?,
        Some(("02".to_string(), 5))
    );
    Ok(())
}

#[test]
fn table_filter_forwards_a_delete_for_every_filtered_out_update() -> Result<()> {
    // KTableFilterTest.doTestNotSendingOldValue (predicate: even): nothing downstream asks for
    // old values, so Kafka's filter forwards every update, a filtered-out one as a delete, also
    // when the row had not passed before.
    let builder = StreamsBuilder::new();
    builder
        .table(
            "input",
            Consumed::with(Serdes::string(), Serdes::i64()),
            Materialized::as_("t1"),
        )
        .filter(|_k, v: &i64| v % 2 == 0)
        .to_stream()
        .to("output");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let input = driver.input_topic("input", Serdes::string(), Serdes::nullable(Serdes::i64()));
    for (k, v, t) in [
        ("A", Some(1), 5),
        ("B", Some(1), 10),
        ("C", Some(1), 15),
        ("A", Some(2), 15),
        ("B", Some(2), 8),
        ("A", Some(3), 20),
        ("A", None, 10),
        ("B", None, 20),
    ] {
        input.pipe_input(k.to_string(), v, t)?;
    }
    let out: Vec<_> = driver
        .output_topic("output", Serdes::string(), Serdes::nullable(Serdes::i64()))
        .read_records()?
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    let expected = vec![
        ("A".to_string(), None, 5),
        ("B".to_string(), None, 10),
        ("C".to_string(), None, 15),
        ("A".to_string(), Some(2), 15),
        ("B".to_string(), Some(2), 8),
        ("A".to_string(), None, 20),
        ("A".to_string(), None, 10),
        ("B".to_string(), None, 20),
    ];
    assert_eq!(out, expected);
    Ok(())
}

#[test]
fn table_filter_not_and_materialized_filter() -> Result<()> {
    let builder = StreamsBuilder::new();
    let table = builder.table(
        "input",
        Consumed::with(Serdes::string(), Serdes::i64()),
        Materialized::default(),
    );
    table
        .filter_not(|_k, v: &i64| v % 2 == 0)
        .to_stream()
        .to("odd");
    table
        .filter_materialized(|_k, v: &i64| v % 2 == 0, Materialized::as_("even-store"))
        .to_stream()
        .to("even");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let input = driver.input_topic("input", Serdes::string(), Serdes::nullable(Serdes::i64()));
    for (k, v, t) in [("A", Some(1), 10), ("B", Some(2), 5), ("A", Some(4), 12)] {
        input.pipe_input(k.to_string(), v, t)?;
    }
    let odd: Vec<_> = driver
        .output_topic("odd", Serdes::string(), Serdes::nullable(Serdes::i64()))
        .read_key_values()?;
    assert_eq!(
        odd,
        vec![
            ("A".to_string(), Some(1)),
            ("B".to_string(), None),
            ("A".to_string(), None)
        ]
    );
    let even_store = driver.key_value_store::<String, i64>("even-store")?;
    assert_eq!(
        even_store.all()?,
        vec![("A".to_string(), 4), ("B".to_string(), 2)]
    );
    Ok(())
}

#[test]
fn table_filter_deletes_of_rows_that_never_passed_do_not_reach_a_grouping() -> Result<()> {
    // KTableFilterTest.doTestSendingOldValue's outputs, seen through a grouping (which asks
    // Kafka's filter for old values): the filtered-out rows change no count.
    let builder = StreamsBuilder::new();
    builder
        .table(
            "input",
            Consumed::with(Serdes::string(), Serdes::i64()),
            Materialized::default(),
        )
        .filter(|_k, v: &i64| v % 2 == 0)
        .group_by(
            |_k, v: &i64| ("even".to_string(), *v),
            Grouped::with(Serdes::string(), Serdes::i64()),
        )
        .count(Materialized::as_("evens"))
        .to_stream()
        .to("output");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let input = driver.input_topic("input", Serdes::string(), Serdes::nullable(Serdes::i64()));
    for (k, v, t) in [
        ("A", Some(1), 5),
        ("B", Some(2), 10),
        ("C", Some(3), 15),
        ("A", Some(4), 20),
        ("C", None, 25),
        ("B", Some(5), 30),
    ] {
        input.pipe_input(k.to_string(), v, t)?;
    }
    let counts: Vec<_> = driver
        .output_topic("output", Serdes::string(), Serdes::nullable(Serdes::u64()))
        .read_records()?
        .into_iter()
        .map(|r| (r.value, r.timestamp))
        .collect();
    assert_eq!(counts, vec![(Some(1), 10), (Some(2), 20), (Some(1), 30)]);
    Ok(())
}

#[test]
fn a_filter_asked_for_old_values_skips_deletes_of_rows_that_never_passed() -> Result<()> {
    // KTableFilterTest.doTestSendingOldValue: a grouping below asks the filter for old values
    // (Kafka's enableSendingOldValues), so the filter skips a change from nothing to nothing,
    // for every reader of it, to_stream too (differential oracle,
    // table_filter_grouped_and_streamed).
    let builder = StreamsBuilder::new();
    let filtered = builder
        .table(
            "input",
            Consumed::with(Serdes::string(), Serdes::i64()),
            Materialized::as_("t1"),
        )
        .filter(|_k, v: &i64| v % 2 == 0);
    filtered.to_stream().to("output");
    filtered
        .group_by(
            |k: &String, v: &i64| (k.clone(), *v),
            Grouped::with(Serdes::string(), Serdes::i64()),
        )
        .count(Materialized::as_("counts"));
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let input = driver.input_topic("input", Serdes::string(), Serdes::nullable(Serdes::i64()));
    for (k, v, t) in [
        ("A", Some(1), 5),
        ("B", Some(1), 10),
        ("C", Some(1), 15),
        ("A", Some(2), 15),
        ("B", Some(2), 8),
        ("A", Some(3), 20),
        ("A", None, 10),
        ("B", None, 20),
    ] {
        input.pipe_input(k.to_string(), v, t)?;
    }
    let out: Vec<_> = driver
        .output_topic("output", Serdes::string(), Serdes::nullable(Serdes::i64()))
        .read_records()?
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    let expected = vec![
        ("A".to_string(), Some(2), 15),
        ("B".to_string(), Some(2), 8),
        ("A".to_string(), None, 20),
        ("B".to_string(), None, 20),
    ];
    assert_eq!(out, expected);
    Ok(())
}

#[test]
fn table_map_values_maps_new_values_and_keeps_deletes() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .table("input", strings(), Materialized::default())
        .map_values(|_k, v: String| v.parse::<i64>().unwrap_or(-1))
        .to_stream()
        .to("output");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    pipe(
        &driver,
        "input",
        &[("A", Some("01"), 5), ("A", Some("03"), 20), ("A", None, 30)],
    )?;
    let out = driver
        .output_topic("output", Serdes::string(), Serdes::nullable(Serdes::i64()))
        .read_records()?;
    let values: Vec<_> = out.iter().map(|r| (r.value, r.timestamp)).collect();
    assert_eq!(values, vec![(Some(1), 5), (Some(3), 20), (None, 30)]);
    Ok(())
}

fn agg_table(builder: &StreamsBuilder, by_value: bool) -> KTable<String, String> {
    builder
        .table("input", strings(), Materialized::default())
        .group_by(
            move |k: &String, v: &String| (if by_value { v.clone() } else { k.clone() }, v.clone()),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .aggregate(
            || "0".to_string(),
            |_k: &String, v: String, agg: String| format!("{agg}+{v}"),
            |_k: &String, v: String, agg: String| format!("{agg}-{v}"),
            Materialized::as_("agg"),
        )
}

#[test]
fn grouped_table_aggregate_subtracts_then_adds() -> Result<()> {
    // KTableAggregateTest.testAggBasic
    let builder = StreamsBuilder::new();
    agg_table(&builder, false).to_stream().to("output");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let input = [
        ("A", Some("1"), 10),
        ("B", Some("2"), 15),
        ("A", Some("3"), 20),
        ("B", Some("4"), 18),
        ("C", Some("5"), 5),
        ("D", Some("6"), 25),
        ("B", Some("7"), 15),
        ("C", Some("8"), 10),
    ];
    pipe(&driver, "input", &input)?;
    assert_eq!(
        read(&driver, "output")?,
        rows(&[
            ("A", Some("0+1"), 10),
            ("B", Some("0+2"), 15),
            ("A", Some("0+1-1+3"), 20),
            ("B", Some("0+2-2+4"), 18),
            ("C", Some("0+5"), 5),
            ("D", Some("0+6"), 25),
            ("B", Some("0+2-2+4-4+7"), 18),
            ("C", Some("0+5-5+8"), 10),
        ])
    );
    Ok(())
}

#[test]
fn grouped_table_count_moves_rows_between_groups() -> Result<()> {
    // KTableAggregateTest.testCount
    let builder = StreamsBuilder::new();
    builder
        .table("input", strings(), Materialized::default())
        .group_by(
            |_k, v: &String| (v.clone(), v.clone()),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_("count"))
        .to_stream()
        .to("output");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    pipe(
        &driver,
        "input",
        &[
            ("A", Some("green"), 10),
            ("B", Some("green"), 9),
            ("A", Some("blue"), 12),
            ("C", Some("yellow"), 15),
            ("D", Some("green"), 11),
        ],
    )?;
    let out: Vec<_> = driver
        .output_topic("output", Serdes::string(), Serdes::nullable(Serdes::u64()))
        .read_records()?
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    let expected = [
        ("green", 1, 10),
        ("green", 2, 10),
        ("green", 1, 12),
        ("blue", 1, 12),
        ("yellow", 1, 15),
        ("green", 2, 12),
    ];
    assert_eq!(
        out,
        expected
            .iter()
            .map(|(k, v, t)| (k.to_string(), Some(*v), *t))
            .collect::<Vec<_>>()
    );
    Ok(())
}

#[test]
fn grouped_table_reduce_handles_source_deletes() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .table(
            "input",
            Consumed::with(Serdes::string(), Serdes::i64()),
            Materialized::default(),
        )
        .group_by(
            |_k, v: &i64| ("total".to_string(), *v),
            Grouped::with(Serdes::string(), Serdes::i64()),
        )
        .reduce(
            |a: i64, b: i64| a + b,
            |a: i64, b: i64| a - b,
            Materialized::as_("sum"),
        )
        .to_stream()
        .to("output");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let input = driver.input_topic("input", Serdes::string(), Serdes::nullable(Serdes::i64()));
    for (k, v, t) in [
        ("A", Some(10), 1),
        ("B", Some(5), 2),
        ("A", Some(7), 3),
        ("B", None, 4),
    ] {
        input.pipe_input(k.to_string(), v, t)?;
    }
    let out: Vec<_> = driver
        .output_topic("output", Serdes::string(), Serdes::nullable(Serdes::i64()))
        .read_key_values()?;
    let sums: Vec<_> = out.into_iter().map(|(_, v)| v).collect();
    assert_eq!(sums, vec![Some(10), Some(15), Some(12), Some(7)]);
    Ok(())
}

#[test]
fn stream_aggregate_and_reduce_follow_kafka_grouped_stream_tests() -> Result<()> {
    // KGroupedStreamImplTest: aggregate "0+A+C+D" @10 etc., timestamps max per key.
    let builder = StreamsBuilder::new();
    let grouped = builder.stream("input", strings()).group_by_key();
    grouped
        .aggregate(
            || "0".to_string(),
            |_k: &String, v: String, agg: String| format!("{agg}+{v}"),
            Materialized::as_("agg"),
        )
        .to_stream()
        .to("agg-out");
    let builder2 = StreamsBuilder::new();
    builder2
        .stream("input", strings())
        .group_by_key()
        .reduce(
            |a: String, b: String| format!("{a}+{b}"),
            Materialized::as_("red").with_engine(StoreEngine::InMemory),
        )
        .to_stream()
        .to("red-out");
    let inputs = [
        ("1", Some("A"), 5),
        ("2", Some("B"), 1),
        ("1", Some("C"), 3),
        ("1", Some("D"), 10),
        ("3", Some("E"), 8),
        ("3", Some("F"), 9),
    ];
    let driver = TopologyTestDriver::new(builder.build()?)?;
    pipe(&driver, "input", &inputs)?;
    assert_eq!(
        read(&driver, "agg-out")?,
        rows(&[
            ("1", Some("0+A"), 5),
            ("2", Some("0+B"), 1),
            ("1", Some("0+A+C"), 5),
            ("1", Some("0+A+C+D"), 10),
            ("3", Some("0+E"), 8),
            ("3", Some("0+E+F"), 9)
        ])
    );
    let driver2 = TopologyTestDriver::new(builder2.build()?)?;
    pipe(&driver2, "input", &inputs)?;
    assert_eq!(
        read(&driver2, "red-out")?,
        rows(&[
            ("1", Some("A"), 5),
            ("2", Some("B"), 1),
            ("1", Some("A+C"), 5),
            ("1", Some("A+C+D"), 10),
            ("3", Some("E"), 8),
            ("3", Some("E+F"), 9)
        ])
    );
    let store = driver2.key_value_store::<String, String>("red")?;
    assert_eq!(
        store.get_with_timestamp(&"1".into())?,
        Some(("A+C+D".to_string(), 10))
    );
    Ok(())
}

#[test]
fn record_cache_turns_many_updates_into_one_per_flush() -> Result<()> {
    // The driver flushes after every input record, so caching shows within one record: a
    // flat_map producing three updates of one key yields one downstream update.
    for (cache, expected) in [
        ("10485760", vec![Some(3)]),
        ("0", vec![Some(1), Some(2), Some(3)]),
    ] {
        let builder = StreamsBuilder::new();
        builder
            .stream("input", strings())
            .flat_map_values(|v: String| vec![v.clone(), v.clone(), v])
            .group_by_key()
            .count(Materialized::as_("c"))
            .to_stream()
            .to("output");
        let mut config = StreamsConfig::new();
        config.set("statestore.cache.max.bytes", cache);
        let driver = TopologyTestDriver::with_config(builder.build()?, &config)?;
        pipe(&driver, "input", &[("k", Some("x"), 1)])?;
        let out: Vec<_> = driver
            .output_topic("output", Serdes::string(), Serdes::nullable(Serdes::u64()))
            .read_key_values()?
            .into_iter()
            .map(|(_, v)| v)
            .collect();
        assert_eq!(out, expected, "cache {cache}");
        let changelog =
            driver.output_topic("test-driver-c-changelog", Serdes::string(), Serdes::u64());
        assert_eq!(
            changelog.len(),
            expected.len(),
            "one changelog record per store write"
        );
    }
    Ok(())
}

/// `builder.table` honours `Consumed::with_timestamp_extractor` (it used to be ignored): rows
/// carry the extracted time; tombstones keep their Kafka timestamp.
#[test]
fn table_sources_use_the_timestamp_extractor() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .table(
            "input",
            strings().with_timestamp_extractor(|_k, v: &String, _kafka_ts| {
                v.parse::<i64>().unwrap_or(-1)
            }),
            Materialized::as_("rows"),
        )
        .to_stream()
        .to_with(
            "output",
            streams_core::dsl::Produced::with(Serdes::string(), Serdes::nullable(Serdes::string())),
        );
    let driver = TopologyTestDriver::new(builder.build()?)?;
    pipe(&driver, "input", &[("a", Some("500"), 1), ("a", None, 2)])?;
    assert_eq!(
        read(&driver, "output")?,
        rows(&[("a", Some("500"), 500), ("a", None, 2)])
    );
    Ok(())
}
