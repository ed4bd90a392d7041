//! Emit strategies of windowed aggregations (KIP-825), the null-value rule of aggregations and
//! joins of windowed tables, through the test driver. Scenarios are ported from Kafka Streams'
//! own tests where it has them, named at each test.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use streams_core::dsl::{
    Consumed, EmitStrategy, KTable, Materialized, Produced, SessionWindows, SlidingWindows,
    StreamsBuilder, TimeWindows, Windowed,
};
use streams_core::serde::{Serdes, SharedSerde};
use streams_core::testing::TopologyTestDriver;
use streams_core::{Result, StreamsConfig};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config(cache: bool) -> StreamsConfig {
    let mut config = StreamsConfig::new();
    if !cache {
        config.set("statestore.cache.max.bytes", "0");
    }
    config
}

/// Writes a windowed table's changes to "output" as `key@start/end value` strings.
fn to_output<V: std::fmt::Display + Clone + 'static>(table: KTable<Windowed<String>, V>) {
    table
        .to_stream()
        .map(|k: Windowed<String>, v: Option<V>| {
            (
                format!("{}@{}/{}", k.key, k.window.start, k.window.end),
                v.map_or("null".to_string(), |v| v.to_string()),
            )
        })
        .to_with("output", Produced::with(Serdes::string(), Serdes::string()));
}

/// Output records as `key@start/end value @ts`.
fn read(driver: &TopologyTestDriver) -> Result<Vec<String>> {
    Ok(driver
        .output_topic("output", Serdes::string(), Serdes::string())
        .read_records()?
        .into_iter()
        .map(|r| format!("{} {} @{}", r.key, r.value, r.timestamp))
        .collect())
}

fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|s| s.to_string()).collect()
}

fn string_adder() -> impl Fn(&String, String, String) -> String + Send + Sync + 'static {
    |_k: &String, v: String, agg: String| format!("{agg}+{v}")
}

/// TimeWindowedKStreamImplTest.shouldCountWindowed, both strategies, cache on and off.
#[test]
fn time_windows_count_on_update_and_on_close() -> Result<()> {
    for emit in [
        EmitStrategy::on_window_update(),
        EmitStrategy::on_window_close(),
    ] {
        for cache in [true, false] {
            let builder = StreamsBuilder::new();
            let counts = builder
                .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
                .group_by_key()
                .windowed_by(TimeWindows::of_size_with_no_grace(ms(500)))
                .emit_strategy(emit)
                .count(Materialized::as_("counts"));
            to_output(counts);
            let driver = TopologyTestDriver::with_config(builder.build()?, &config(cache))?;
            let input = driver.input_topic("input", Serdes::string(), Serdes::string());
            for (k, v, ts) in [
                ("1", "1", 10),
                ("1", "2", 15),
                ("1", "3", 500),
                ("2", "10", 550),
                ("2", "20", 500),
                ("2", "30", 1000),
            ] {
                input.pipe_input(k.into(), v.into(), ts)?;
            }
            let expected = if emit.is_on_window_close() {
                strings(&["1@0/500 2 @15", "1@500/1000 1 @500", "2@500/1000 2 @550"])
            } else {
                strings(&[
                    "1@0/500 1 @10",
                    "1@0/500 2 @15",
                    "1@500/1000 1 @500",
                    "2@500/1000 1 @550",
                    "2@500/1000 2 @550",
                    "2@1000/1500 1 @1000",
                ])
            };
            assert_eq!(read(&driver)?, expected, "{emit:?}, cache {cache}");
        }
    }
    Ok(())
}

fn hopping_string_agg(builder: &StreamsBuilder) {
    hopping_string_agg_kept(builder, None)
}

/// Hopping windows of 10 ms every 5 ms, 5 ms grace, concatenating values; `retention` as
/// `Materialized::with_retention` (default: size plus grace).
fn hopping_string_agg_kept(builder: &StreamsBuilder, retention: Option<Duration>) {
    let mut materialized = Materialized::as_("agg").with_value_serde(Serdes::string());
    if let Some(retention) = retention {
        materialized = materialized.with_retention(retention);
    }
    let table = builder
        .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)).advance_by(ms(5)))
        .emit_strategy(EmitStrategy::on_window_close())
        .aggregate(|| "0".to_string(), string_adder(), materialized);
    to_output(table);
}

/// KStreamWindowAggregateTest.shouldEmitWithInterval0 (emit on close).
#[test]
fn on_close_with_interval_zero_emits_each_closed_window_once() -> Result<()> {
    let builder = StreamsBuilder::new();
    hopping_string_agg(&builder);
    let mut cfg = config(false);
    cfg.set(
        streams_core::config::EMIT_INTERVAL_MS_KSTREAMS_WINDOWED_AGGREGATION,
        "0",
    );
    let driver = TopologyTestDriver::with_config(builder.build()?, &cfg)?;
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    for (k, v, ts) in [
        ("A", "1", 0),
        ("A", "1", 5),
        ("B", "2", 10),
        ("C", "3", 15),
        ("D", "4", 20),
    ] {
        input.pipe_input(k.into(), v.into(), ts)?;
    }
    assert_eq!(
        read(&driver)?,
        strings(&["A@0/10 0+1+1 @5", "A@5/15 0+1 @5", "B@5/15 0+2 @10"])
    );
    Ok(())
}

/// KStreamWindowAggregateTest.shouldNotEmitFinalIfNotProgressEnough (emit on close).
#[test]
fn on_close_waits_for_the_close_time_to_cover_new_windows() -> Result<()> {
    let builder = StreamsBuilder::new();
    hopping_string_agg(&builder);
    let driver = TopologyTestDriver::with_config(builder.build()?, &config(false))?;
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    for (k, v, ts) in [("A", "1", 0), ("B", "2", 5), ("C", "3", 15)] {
        input.pipe_input(k.into(), v.into(), ts)?;
    }
    assert_eq!(read(&driver)?, strings(&["A@0/10 0+1 @0", "B@0/10 0+2 @5"]));
    // Stream time does not move: nothing.
    input.pipe_input("D".into(), "4".into(), 15)?;
    assert_eq!(read(&driver)?, Vec::<String>::new());
    // It moves, but no further window closed.
    input.pipe_input("E".into(), "5".into(), 19)?;
    assert_eq!(read(&driver)?, Vec::<String>::new());
    Ok(())
}

/// KStreamWindowAggregateTest.shouldEmitWithLargeInterval (emit on close): closed windows are
/// looked for at most once per interval of wall-clock time. As in Kafka's test, the store keeps
/// a minute: with the default retention (size plus grace) the window `[0, 10)` would have left
/// the store by the time the throttle lets the emission happen, and would not be emitted.
#[test]
fn on_close_is_throttled_by_wall_clock() -> Result<()> {
    for kept in [Some(ms(60_000)), None] {
        throttled(kept)?;
    }
    Ok(())
}

fn throttled(retention: Option<Duration>) -> Result<()> {
    let builder = StreamsBuilder::new();
    hopping_string_agg_kept(&builder, retention);
    let mut cfg = config(false);
    cfg.set(
        streams_core::config::EMIT_INTERVAL_MS_KSTREAMS_WINDOWED_AGGREGATION,
        "1000",
    );
    let driver = TopologyTestDriver::with_config(builder.build()?, &cfg)?;
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    for (k, v, ts) in [("A", "1", 0), ("A", "1", 5), ("B", "2", 10), ("C", "3", 15)] {
        input.pipe_input(k.into(), v.into(), ts)?;
    }
    assert_eq!(read(&driver)?, Vec::<String>::new());
    driver.advance_wall_clock_time(ms(10_000))?;
    input.pipe_input("D".into(), "4".into(), 20)?;
    let expected = if retention.is_some() {
        strings(&["A@0/10 0+1+1 @5", "A@5/15 0+1 @5", "B@5/15 0+2 @10"])
    } else {
        strings(&["A@5/15 0+1 @5", "B@5/15 0+2 @10"])
    };
    assert_eq!(read(&driver)?, expected, "retention {retention:?}");
    driver.advance_wall_clock_time(ms(100))?;
    input.pipe_input("E".into(), "5".into(), 40)?;
    assert_eq!(read(&driver)?, Vec::<String>::new(), "within the interval");
    Ok(())
}

const GAP: i64 = 5 * 60 * 1000;

/// KStreamSessionWindowAggregateProcessorTest.shouldHandleMultipleSessionsAndMerging and
/// shouldHaveMultipleSessionsForSameIdWhenTimestampApartBySessionGap, both strategies.
#[test]
fn sessions_on_update_and_on_close() -> Result<()> {
    let half = GAP / 2;
    let merging = [
        ("a", 0),
        ("b", 0),
        ("c", 0),
        ("d", 0),
        ("d", half),
        ("a", GAP + 1),
        ("b", GAP + 1),
        ("a", GAP + 1 + half),
        ("c", GAP + 1 + half),
    ];
    for emit in [
        EmitStrategy::on_window_update(),
        EmitStrategy::on_window_close(),
    ] {
        let builder = StreamsBuilder::new();
        let counts = builder
            .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key()
            .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(
                GAP as u64
            )))
            .emit_strategy(emit)
            .count(Materialized::as_("sessions"));
        to_output(counts);
        let driver = TopologyTestDriver::with_config(builder.build()?, &config(false))?;
        let input = driver.input_topic("input", Serdes::string(), Serdes::string());
        for (k, ts) in merging {
            input.pipe_input(k.into(), "1".into(), ts)?;
        }
        let out = read(&driver)?;
        if emit.is_on_window_close() {
            assert_eq!(
                out,
                vec![
                    "a@0/0 1 @0".to_string(),
                    "b@0/0 1 @0".to_string(),
                    "c@0/0 1 @0".to_string(),
                    format!("d@0/{half} 2 @{half}"),
                ]
            );
        } else {
            // Merges forward the removed session (null) and the merged one.
            assert_eq!(
                out,
                vec![
                    "a@0/0 1 @0".to_string(),
                    "b@0/0 1 @0".to_string(),
                    "c@0/0 1 @0".to_string(),
                    "d@0/0 1 @0".to_string(),
                    "d@0/0 null @0".to_string(),
                    format!("d@0/{half} 2 @{half}"),
                    format!("a@{0}/{0} 1 @{0}", GAP + 1),
                    format!("b@{0}/{0} 1 @{0}", GAP + 1),
                    format!("a@{0}/{0} null @{0}", GAP + 1),
                    format!("a@{}/{} 2 @{}", GAP + 1, GAP + 1 + half, GAP + 1 + half),
                    format!("c@{0}/{0} 1 @{0}", GAP + 1 + half),
                ]
            );
        }
    }
    Ok(())
}

/// A session accepted exactly at its close time (end = stream time - gap - grace) is emitted
/// when the window closes, as Kafka Streams 4.4's TopologyTestDriver does (found by the
/// differential test: gap 5, grace 3, records at 15, 7, 16).
#[test]
fn a_session_accepted_at_its_close_time_is_emitted_on_close() -> Result<()> {
    for cache in [false, true] {
        let builder = StreamsBuilder::new();
        let counts = builder
            .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key()
            .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(5), ms(3)))
            .emit_strategy(EmitStrategy::on_window_close())
            .count(Materialized::as_("sessions"));
        to_output(counts);
        let driver = TopologyTestDriver::with_config(builder.build()?, &config(cache))?;
        let input = driver.input_topic("input", Serdes::string(), Serdes::string());
        for ts in [15, 7, 16] {
            input.pipe_input("a".into(), "1".into(), ts)?;
        }
        assert_eq!(read(&driver)?, strings(&["a@7/7 1 @7"]), "cache {cache}");
    }
    Ok(())
}

/// KStreamSlidingWindowAggregateTest.testAggregateSmallInput, both strategies: the windows'
/// results by window start.
#[test]
fn sliding_windows_on_update_and_on_close() -> Result<()> {
    for emit in [
        EmitStrategy::on_window_update(),
        EmitStrategy::on_window_close(),
    ] {
        let builder = StreamsBuilder::new();
        let table = builder
            .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key()
            .windowed_by(SlidingWindows::of_time_difference_and_grace(ms(10), ms(5)))
            .emit_strategy(emit)
            .aggregate(
                || "0".to_string(),
                string_adder(),
                Materialized::as_("sliding").with_value_serde(Serdes::string()),
            );
        to_output(table);
        let driver = TopologyTestDriver::with_config(builder.build()?, &config(false))?;
        let input = driver.input_topic("input", Serdes::string(), Serdes::string());
        for (v, ts) in [
            ("1", 10),
            ("2", 10),
            ("3", 14),
            ("4", 15),
            ("5", 20),
            ("6", 22),
            ("7", 30),
        ] {
            input.pipe_input("A".into(), v.into(), ts)?;
        }
        let mut by_start: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        for line in read(&driver)? {
            let start: i64 = line
                .split(['@', '/'])
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(-1);
            let rest = line.split_once(' ').map_or("", |(_, r)| r).to_string();
            by_start.entry(start).or_default().insert(rest);
        }
        let expected: &[(i64, &[&str])] = if emit.is_on_window_close() {
            &[
                (0, &["0+1+2 @10"]),
                (4, &["0+1+2+3 @14"]),
                (5, &["0+1+2+3+4 @15"]),
                (10, &["0+1+2+3+4+5 @20"]),
                (11, &["0+3+4+5 @20"]),
                (12, &["0+3+4+5+6 @22"]),
            ]
        } else {
            &[
                (0, &["0+1 @10", "0+1+2 @10"]),
                (4, &["0+1+2+3 @14"]),
                (5, &["0+1+2+3+4 @15"]),
                (10, &["0+1+2+3+4+5 @20"]),
                (11, &["0+3 @14", "0+3+4 @15", "0+3+4+5 @20"]),
                (12, &["0+3+4+5+6 @22"]),
                (15, &["0+4 @15", "0+4+5 @20", "0+4+5+6 @22"]),
                (16, &["0+5 @20", "0+5+6 @22"]),
                (20, &["0+5+6+7 @30"]),
                (21, &["0+6 @22", "0+6+7 @30"]),
                (23, &["0+7 @30"]),
            ]
        };
        let expected: BTreeMap<i64, BTreeSet<String>> = expected
            .iter()
            .map(|(start, vs)| (*start, vs.iter().map(|v| v.to_string()).collect()))
            .collect();
        assert_eq!(by_start, expected, "{emit:?}");
    }
    Ok(())
}

fn nullable_input(builder: &StreamsBuilder) -> streams_core::dsl::KStream<String, Option<String>> {
    builder.stream(
        "input",
        Consumed::with(Serdes::string(), Serdes::nullable(Serdes::string())),
    )
}

/// KStreamAggregate / KStreamReduce skip records with a null value and count them as dropped
/// (KStreamAggregateProcessor: "Skipping record due to null key or value").
#[test]
fn aggregate_reduce_and_count_skip_null_values() -> Result<()> {
    let value_serde: SharedSerde<Option<String>> = Serdes::nullable(Serdes::string());
    let builder = StreamsBuilder::new();
    let stream = nullable_input(&builder);
    stream
        .clone()
        .group_by_key()
        .count(Materialized::as_("count").with_caching_disabled())
        .to_stream()
        .to_with(
            "count",
            Produced::with(Serdes::string(), Serdes::nullable(Serdes::u64())),
        );
    stream
        .clone()
        .group_by_key()
        .reduce(
            |a: Option<String>, b: Option<String>| {
                Some(format!(
                    "{}+{}",
                    a.unwrap_or_default(),
                    b.unwrap_or_default()
                ))
            },
            Materialized::as_("reduce").with_caching_disabled(),
        )
        .to_stream()
        .to_with(
            "reduce",
            Produced::with(Serdes::string(), Serdes::nullable(value_serde.clone())),
        );
    stream
        .group_by_key()
        .aggregate(
            || "0".to_string(),
            |_k: &String, v: Option<String>, agg: String| {
                // A null value never reaches the aggregator.
                format!("{agg}+{}", v.unwrap_or_else(|| "NULL".to_string()))
            },
            Materialized::as_("aggregate")
                .with_value_serde(Serdes::string())
                .with_caching_disabled(),
        )
        .to_stream()
        .to_with(
            "aggregate",
            Produced::with(Serdes::string(), Serdes::nullable(Serdes::string())),
        );
    let driver = TopologyTestDriver::with_config(builder.build()?, &config(false))?;
    let input = driver.input_topic("input", Serdes::string(), value_serde.clone());
    input.pipe_input("k".into(), Some("a".into()), 1)?;
    input.pipe_input("k".into(), None, 2)?;
    input.pipe_input("k".into(), Some("b".into()), 3)?;
    let counts = driver
        .output_topic("count", Serdes::string(), Serdes::nullable(Serdes::u64()))
        .read_key_values()?;
    assert_eq!(
        counts,
        vec![("k".to_string(), Some(1)), ("k".to_string(), Some(2))]
    );
    let reduced = driver
        .output_topic("reduce", Serdes::string(), Serdes::nullable(value_serde))
        .read_key_values()?;
    assert_eq!(
        reduced,
        vec![
            ("k".to_string(), Some(Some("a".to_string()))),
            ("k".to_string(), Some(Some("a+b".to_string())))
        ]
    );
    let aggregated = driver
        .output_topic(
            "aggregate",
            Serdes::string(),
            Serdes::nullable(Serdes::string()),
        )
        .read_key_values()?;
    assert_eq!(
        aggregated,
        vec![
            ("k".to_string(), Some("0+a".to_string())),
            ("k".to_string(), Some("0+a+b".to_string()))
        ]
    );
    // One null value, seen by three aggregations.
    assert_eq!(driver.dropped_records(), 3);
    Ok(())
}

/// As Kafka Streams: time-window aggregations (KStreamWindowAggregate) pass null values to the
/// aggregator, sliding-window aggregations (KStreamSlidingWindowAggregate) drop them.
#[test]
fn windowed_aggregations_follow_kafka_on_null_values() -> Result<()> {
    let builder = StreamsBuilder::new();
    let stream = nullable_input(&builder);
    to_output(
        stream
            .clone()
            .group_by_key()
            .windowed_by(TimeWindows::of_size_with_no_grace(ms(100)))
            .count(Materialized::as_("tumbling").with_caching_disabled()),
    );
    let sliding = stream
        .group_by_key()
        .windowed_by(SlidingWindows::of_time_difference_with_no_grace(ms(100)))
        .count(Materialized::as_("sliding").with_caching_disabled());
    sliding
        .to_stream()
        .map(|k: Windowed<String>, v: Option<u64>| {
            (
                format!("{}@{}/{}", k.key, k.window.start, k.window.end),
                v.map_or("null".to_string(), |v| v.to_string()),
            )
        })
        .to_with(
            "sliding",
            Produced::with(Serdes::string(), Serdes::string()),
        );
    let driver = TopologyTestDriver::with_config(builder.build()?, &config(false))?;
    let input = driver.input_topic(
        "input",
        Serdes::string(),
        Serdes::nullable(Serdes::string()),
    );
    input.pipe_input("k".into(), Some("a".into()), 1)?;
    input.pipe_input("k".into(), None, 2)?;
    assert_eq!(read(&driver)?, strings(&["k@0/100 1 @1", "k@0/100 2 @2"]));
    let sliding = driver
        .output_topic("sliding", Serdes::string(), Serdes::string())
        .read_key_values()?;
    assert_eq!(sliding, vec![("k@0/100".to_string(), "1".to_string())]);
    assert_eq!(driver.dropped_records(), 1);
    Ok(())
}

/// Joins of windowed tables read the other side's window (or session) store as Kafka's
/// windowed-aggregation value getters do; they failed at start when they opened it as a
/// key-value store.
#[test]
fn windowed_tables_join() -> Result<()> {
    let builder = StreamsBuilder::new();
    let count = |topic: &str| {
        builder
            .stream(topic, Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key()
            .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
            .count(Materialized::as_(format!("{topic}-counts")))
    };
    let (left, right) = (count("left"), count("right"));
    to_output(left.outer_join(&right, |l: Option<&u64>, r: Option<&u64>| {
        format!("{}+{}", l.copied().unwrap_or(0), r.copied().unwrap_or(0))
    }));
    let sessions = |topic: &str| {
        builder
            .stream(topic, Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key()
            .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(5)))
            .count(Materialized::as_(format!("{topic}-sessions")))
    };
    sessions("a")
        .join(&sessions("b"), |a: &u64, b: &u64| format!("{a}&{b}"))
        .to_stream()
        .map(|k: Windowed<String>, v: Option<String>| {
            (
                format!("{}@{}/{}", k.key, k.window.start, k.window.end),
                v.unwrap_or_else(|| "null".into()),
            )
        })
        .to_with(
            "sessions-joined",
            Produced::with(Serdes::string(), Serdes::string()),
        );
    let driver = TopologyTestDriver::with_config(builder.build()?, &config(false))?;
    let l = driver.input_topic("left", Serdes::string(), Serdes::string());
    let r = driver.input_topic("right", Serdes::string(), Serdes::string());
    l.pipe_input("k".into(), "x".into(), 1)?;
    r.pipe_input("k".into(), "y".into(), 2)?;
    l.pipe_input("k".into(), "x".into(), 12)?;
    assert_eq!(
        read(&driver)?,
        strings(&["k@0/10 1+0 @1", "k@0/10 1+1 @2", "k@10/20 1+0 @12"])
    );
    let a = driver.input_topic("a", Serdes::string(), Serdes::string());
    let b = driver.input_topic("b", Serdes::string(), Serdes::string());
    a.pipe_input("s".into(), "1".into(), 100)?;
    b.pipe_input("s".into(), "1".into(), 100)?;
    // b's session moves to [100,103]; a's [100,100] no longer matches it exactly.
    b.pipe_input("s".into(), "1".into(), 103)?;
    let joined = driver
        .output_topic("sessions-joined", Serdes::string(), Serdes::string())
        .read_key_values()?;
    assert_eq!(
        joined,
        vec![
            ("s@100/100".to_string(), "1&1".to_string()),
            ("s@100/100".to_string(), "null".to_string()),
        ]
    );
    Ok(())
}
