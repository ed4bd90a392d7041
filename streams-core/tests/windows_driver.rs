//! Windowed aggregations and suppression, with scenarios ported from Kafka Streams' own tests
//! (KStreamWindowAggregateTest, KGroupedStreamImplTest, TimeWindowedKStreamImplTest,
//! KStreamSlidingWindowAggregateTest, SessionWindowedKStreamImplTest, SuppressScenarioTest).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use streams_core::dsl::{
    BufferConfig, Consumed, KTable, Materialized, SessionWindows, SlidingWindows, StreamsBuilder,
    Suppressed, TimeWindows, Windowed, WindowedSerde,
};
use streams_core::serde::{Serdes, SharedSerde};
use streams_core::testing::{TestInputTopic, TopologyTestDriver};
use streams_core::{Result, StreamsConfig};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn no_cache() -> StreamsConfig {
    let mut config = StreamsConfig::new();
    config.set("statestore.cache.max.bytes", "0");
    config
}

fn input(builder: &StreamsBuilder) -> streams_core::dsl::KStream<String, String> {
    builder.stream("input", Consumed::with(Serdes::string(), Serdes::string()))
}

fn pipe_all(topic: &TestInputTopic<String, String>, records: &[(&str, &str, i64)]) -> Result<()> {
    for (k, v, ts) in records {
        topic.pipe_input(k.to_string(), v.to_string(), *ts)?;
    }
    Ok(())
}

/// Writes a windowed table to "output" and returns the driver's view of it as
/// `[key@start/end] value @ts` lines.
fn render<V: std::fmt::Display + Clone + 'static>(
    table: KTable<Windowed<String>, V>,
    key_serde: SharedSerde<Windowed<String>>,
    value_serde: SharedSerde<V>,
    builder: &StreamsBuilder,
    config: &StreamsConfig,
    inputs: &[(&str, &str, i64)],
) -> Result<(Vec<String>, u64)> {
    table.to_stream().to_with(
        "output",
        streams_core::dsl::Produced::with(key_serde.clone(), Serdes::nullable(value_serde.clone())),
    );
    let driver = TopologyTestDriver::with_config(builder.build()?, config)?;
    pipe_all(
        &driver.input_topic("input", Serdes::string(), Serdes::string()),
        inputs,
    )?;
    let out = driver.output_topic("output", key_serde, Serdes::nullable(value_serde));
    let lines = out
        .read_records()?
        .into_iter()
        .map(|r| {
            let value = r.value.map_or("null".to_string(), |v| v.to_string());
            format!("{} {} @{}", r.key, value, r.timestamp)
        })
        .collect();
    Ok((lines, driver.dropped_records()))
}

fn time_key(size: u64) -> SharedSerde<Windowed<String>> {
    Arc::new(WindowedSerde::time(Serdes::string(), ms(size)))
}

fn session_key() -> SharedSerde<Windowed<String>> {
    Arc::new(WindowedSerde::session(Serdes::string()))
}

fn string_agg(builder: &StreamsBuilder, windows: TimeWindows) -> KTable<Windowed<String>, String> {
    input(builder)
        .group_by_key()
        .windowed_by(windows)
        .aggregate(
            || "0".to_string(),
            |_k: &String, v: String, agg: String| format!("{agg}+{v}"),
            Materialized::as_("agg"),
        )
}

#[test]
fn hopping_window_aggregate_matches_kafka_test_agg_basic() -> Result<()> {
    let builder = StreamsBuilder::new();
    let windows = TimeWindows::of_size_and_grace(ms(10), ms(100)).advance_by(ms(5));
    let table = string_agg(&builder, windows);
    let inputs = [
        ("A", "1", 0),
        ("B", "2", 1),
        ("C", "3", 2),
        ("D", "4", 3),
        ("A", "1", 4),
        ("A", "1", 5),
        ("B", "2", 6),
        ("D", "4", 7),
        ("B", "2", 8),
        ("C", "3", 9),
        ("A", "1", 10),
        ("B", "2", 11),
        ("D", "4", 12),
        ("B", "2", 13),
        ("C", "3", 14),
        ("B", "1", 3),
        ("B", "2", 2),
        ("B", "3", 9),
    ];
    let (lines, _) = render(
        table,
        time_key(10),
        Serdes::string(),
        &builder,
        &StreamsConfig::new(),
        &inputs,
    )?;
    let expected = [
        "[A@0/10] 0+1 @0",
        "[B@0/10] 0+2 @1",
        "[C@0/10] 0+3 @2",
        "[D@0/10] 0+4 @3",
        "[A@0/10] 0+1+1 @4",
        "[A@0/10] 0+1+1+1 @5",
        "[A@5/15] 0+1 @5",
        "[B@0/10] 0+2+2 @6",
        "[B@5/15] 0+2 @6",
        "[D@0/10] 0+4+4 @7",
        "[D@5/15] 0+4 @7",
        "[B@0/10] 0+2+2+2 @8",
        "[B@5/15] 0+2+2 @8",
        "[C@0/10] 0+3+3 @9",
        "[C@5/15] 0+3 @9",
        "[A@5/15] 0+1+1 @10",
        "[A@10/20] 0+1 @10",
        "[B@5/15] 0+2+2+2 @11",
        "[B@10/20] 0+2 @11",
        "[D@5/15] 0+4+4 @12",
        "[D@10/20] 0+4 @12",
        "[B@5/15] 0+2+2+2+2 @13",
        "[B@10/20] 0+2+2 @13",
        "[C@5/15] 0+3+3 @14",
        "[C@10/20] 0+3 @14",
        "[B@0/10] 0+2+2+2+1 @8",
        "[B@0/10] 0+2+2+2+1+2 @8",
        "[B@0/10] 0+2+2+2+1+2+3 @9",
        "[B@5/15] 0+2+2+2+2+3 @13",
    ];
    assert_eq!(lines, expected);
    Ok(())
}

#[test]
fn records_past_grace_are_dropped_per_window_and_counted() -> Result<()> {
    // KStreamWindowAggregateTest.shouldLogAndMeterWhenSkippingExpiredWindow
    let builder = StreamsBuilder::new();
    let windows = TimeWindows::of_size_and_grace(ms(10), ms(90)).advance_by(ms(5));
    let table = input(&builder)
        .group_by_key()
        .windowed_by(windows)
        .aggregate(
            String::new,
            |_k: &String, v: String, agg: String| format!("{agg}+{v}"),
            Materialized::as_("agg").with_retention(ms(100)),
        );
    let inputs = [
        ("k", "100", 100),
        ("k", "0", 0),
        ("k", "1", 1),
        ("k", "2", 2),
        ("k", "3", 3),
        ("k", "4", 4),
        ("k", "5", 5),
        ("k", "6", 6),
        ("k", "105", 105),
        ("k", "106", 106),
    ];
    let (lines, dropped) = render(
        table,
        time_key(10),
        Serdes::string(),
        &builder,
        &StreamsConfig::new(),
        &inputs,
    )?;
    let expected = [
        "[k@95/105] +100 @100",
        "[k@100/110] +100 @100",
        "[k@5/15] +5 @5",
        "[k@5/15] +5+6 @6",
        "[k@100/110] +100+105 @105",
        "[k@105/115] +105 @105",
        "[k@100/110] +100+105+106 @106",
        "[k@105/115] +105+106 @106",
    ];
    assert_eq!(lines, expected);
    assert_eq!(
        dropped, 7,
        "one per dropped window: [0,10) for offsets 1..7"
    );
    Ok(())
}

#[test]
fn grace_boundary_record_exactly_at_close_is_dropped_one_before_is_kept() -> Result<()> {
    // Tumbling 10 ms, grace 5: window [0,10) accepts while stream time < 15.
    let builder = StreamsBuilder::new();
    let table = input(&builder)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("c"));
    let inputs = [
        ("k", "a", 0),
        ("k", "b", 14),
        ("k", "late-but-in-grace", 9),
        ("k", "c", 15),
        ("k", "too-late", 9),
    ];
    let (lines, dropped) = render(
        table,
        time_key(10),
        Serdes::u64(),
        &builder,
        &StreamsConfig::new(),
        &inputs,
    )?;
    assert_eq!(
        lines,
        [
            "[k@0/10] 1 @0",
            "[k@10/20] 1 @14",
            "[k@0/10] 2 @9",
            "[k@10/20] 2 @15"
        ]
    );
    assert_eq!(dropped, 1);
    Ok(())
}

#[test]
fn tumbling_count_with_grace_matches_kafka_do_count_windowed() -> Result<()> {
    let builder = StreamsBuilder::new();
    let table = input(&builder)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(500), ms(100)))
        .count(Materialized::as_("count"));
    let inputs = [
        ("1", "A", 0),
        ("1", "A", 499),
        ("1", "A", 100),
        ("2", "B", 0),
        ("2", "B", 100),
        ("2", "B", 200),
        ("3", "C", 1),
        ("1", "A", 500),
        ("1", "A", 500),
        ("2", "B", 500),
        ("2", "B", 500),
        ("3", "B", 100),
    ];
    let (lines, _) = render(
        table,
        time_key(500),
        Serdes::u64(),
        &builder,
        &StreamsConfig::new(),
        &inputs,
    )?;
    let expected = [
        "[1@0/500] 1 @0",
        "[1@0/500] 2 @499",
        "[1@0/500] 3 @499",
        "[2@0/500] 1 @0",
        "[2@0/500] 2 @100",
        "[2@0/500] 3 @200",
        "[3@0/500] 1 @1",
        "[1@500/1000] 1 @500",
        "[1@500/1000] 2 @500",
        "[2@500/1000] 1 @500",
        "[2@500/1000] 2 @500",
        "[3@0/500] 2 @100",
    ];
    assert_eq!(lines, expected);
    Ok(())
}

#[test]
fn windowed_reduce_keeps_the_max_timestamp() -> Result<()> {
    let builder = StreamsBuilder::new();
    let table = input(&builder)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(500)))
        .reduce(
            |a: String, b: String| format!("{a}+{b}"),
            Materialized::as_("r"),
        );
    let inputs = [
        ("1", "1", 10),
        ("1", "2", 15),
        ("1", "3", 500),
        ("2", "10", 550),
        ("2", "20", 500),
        ("2", "30", 1000),
    ];
    let (lines, _) = render(
        table,
        time_key(500),
        Serdes::string(),
        &builder,
        &StreamsConfig::new(),
        &inputs,
    )?;
    assert_eq!(
        lines,
        [
            "[1@0/500] 1 @10",
            "[1@0/500] 1+2 @15",
            "[1@500/1000] 3 @500",
            "[2@500/1000] 10 @550",
            "[2@500/1000] 10+20 @550",
            "[2@1000/1500] 30 @1000"
        ]
    );
    Ok(())
}

fn window_sets(lines: &[String]) -> BTreeMap<i64, BTreeSet<String>> {
    let mut sets: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for line in lines {
        // "[A@start/end] value @ts"
        let start: i64 = line[line.find('@').unwrap_or(0) + 1..line.find('/').unwrap_or(0)]
            .parse()
            .unwrap_or(-1);
        let (_, rest) = line.split_once("] ").unwrap_or_default();
        sets.entry(start).or_default().insert(rest.replace(' ', ""));
    }
    sets
}

#[test]
fn sliding_windows_match_kafka_aggregate_small_input() -> Result<()> {
    for cache in [true, false] {
        let builder = StreamsBuilder::new();
        let table = input(&builder)
            .group_by_key()
            .windowed_by(SlidingWindows::of_time_difference_and_grace(ms(10), ms(5)))
            .aggregate(
                || "0".to_string(),
                |_k: &String, v: String, agg: String| format!("{agg}+{v}"),
                Materialized::as_("s"),
            );
        let inputs = [
            ("A", "1", 10),
            ("A", "2", 10),
            ("A", "3", 14),
            ("A", "4", 15),
            ("A", "5", 20),
            ("A", "6", 22),
            ("A", "7", 30),
        ];
        let config = if cache {
            StreamsConfig::new()
        } else {
            no_cache()
        };
        let (lines, _) = render(
            table,
            time_key(10),
            Serdes::string(),
            &builder,
            &config,
            &inputs,
        )?;
        let expected: BTreeMap<i64, BTreeSet<String>> = [
            (0, vec!["0+1@10", "0+1+2@10"]),
            (4, vec!["0+1+2+3@14"]),
            (5, vec!["0+1+2+3+4@15"]),
            (10, vec!["0+1+2+3+4+5@20"]),
            (11, vec!["0+3@14", "0+3+4@15", "0+3+4+5@20"]),
            (12, vec!["0+3+4+5+6@22"]),
            (15, vec!["0+4@15", "0+4+5@20", "0+4+5+6@22"]),
            (16, vec!["0+5@20", "0+5+6@22"]),
            (20, vec!["0+5+6+7@30"]),
            (21, vec!["0+6@22", "0+6+7@30"]),
            (23, vec!["0+7@30"]),
        ]
        .into_iter()
        .map(|(s, v)| (s, v.into_iter().map(String::from).collect()))
        .collect();
        assert_eq!(window_sets(&lines), expected);
    }
    Ok(())
}

#[test]
fn sliding_windows_update_existing_windows_latest_first() -> Result<()> {
    // Kafka Streams iterates a key's windows backwards (`processReverse`) for records at or
    // after the time difference, and forwards (`processEarly`) before it; the order of the
    // updates one record makes follows. Order as Kafka Streams 4.4 emits it (differential
    // oracle, `sliding_count`).
    let builder = StreamsBuilder::new();
    let table = input(&builder)
        .group_by_key()
        .windowed_by(SlidingWindows::of_time_difference_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("s"));
    let inputs = [
        ("a", "x", 2),
        ("a", "x", 5),
        ("a", "x", 9),
        ("a", "x", 9),
        ("a", "x", 10),
        ("a", "x", 10),
    ];
    let (lines, _) = render(
        table,
        time_key(10),
        Serdes::u64(),
        &builder,
        &no_cache(),
        &inputs,
    )?;
    let expected = [
        "[a@0/10] 1 @2",
        "[a@3/13] 1 @5",
        "[a@0/10] 2 @5",
        // Early (before the time difference): windows in start order.
        "[a@3/13] 2 @9",
        "[a@6/16] 1 @9",
        "[a@0/10] 3 @9",
        "[a@3/13] 3 @9",
        "[a@6/16] 2 @9",
        "[a@0/10] 4 @9",
        // At the time difference: latest window first, then the new left window.
        "[a@6/16] 3 @10",
        "[a@3/13] 4 @10",
        "[a@0/10] 5 @10",
        "[a@10/20] 1 @10",
        // A second record at 10 updates the windows it is in, latest first, and creates none.
        "[a@10/20] 2 @10",
        "[a@6/16] 4 @10",
        "[a@3/13] 5 @10",
        "[a@0/10] 6 @10",
    ];
    assert_eq!(lines, expected);
    Ok(())
}

#[test]
fn sliding_windows_handle_early_records() -> Result<()> {
    // KStreamSlidingWindowAggregateTest.testEarlyRecordsSmallInput
    let builder = StreamsBuilder::new();
    let table = input(&builder)
        .group_by_key()
        .windowed_by(SlidingWindows::of_time_difference_and_grace(ms(50), ms(0)))
        .aggregate(
            || "0".to_string(),
            |_k: &String, v: String, agg: String| format!("{agg}+{v}"),
            Materialized::as_("s"),
        );
    let inputs = [
        ("A", "1", 0),
        ("A", "2", 5),
        ("A", "3", 6),
        ("A", "4", 3),
        ("A", "5", 13),
        ("A", "6", 10),
        ("A", "7", 70),
    ];
    let (lines, _) = render(
        table,
        time_key(50),
        Serdes::string(),
        &builder,
        &StreamsConfig::new(),
        &inputs,
    )?;
    let expected: BTreeMap<i64, BTreeSet<String>> = [
        (
            0,
            vec![
                "0+1@0",
                "0+1+2@5",
                "0+1+2+3@6",
                "0+1+2+3+4@6",
                "0+1+2+3+4+5@13",
                "0+1+2+3+4+5+6@13",
            ],
        ),
        (
            1,
            vec![
                "0+2@5",
                "0+2+3@6",
                "0+2+3+4@6",
                "0+2+3+4+5@13",
                "0+2+3+4+5+6@13",
            ],
        ),
        (4, vec!["0+2+3@6", "0+2+3+5@13", "0+2+3+5+6@13"]),
        (6, vec!["0+3@6", "0+3+5@13", "0+3+5+6@13"]),
        (7, vec!["0+5@13", "0+5+6@13"]),
        (11, vec!["0+5@13"]),
        (20, vec!["0+7@70"]),
    ]
    .into_iter()
    .map(|(s, v)| (s, v.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(window_sets(&lines), expected);
    Ok(())
}

#[test]
fn session_windows_merge_and_forward_deletes() -> Result<()> {
    // SessionWindowedKStreamImplTest.shouldCountSessionWindowed: gap 500, out-of-order merge.
    let builder = StreamsBuilder::new();
    let table = input(&builder)
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(500)))
        .count(Materialized::as_("sessions"));
    let inputs = [
        ("1", "1", 10),
        ("1", "2", 15),
        ("1", "3", 600),
        ("2", "1", 600),
        ("2", "2", 599),
    ];
    let (lines, _) = render(
        table,
        session_key(),
        Serdes::u64(),
        &builder,
        &StreamsConfig::new(),
        &inputs,
    )?;
    assert_eq!(
        lines,
        [
            "[1@10/10] 1 @10",
            "[1@10/10] null @10",
            "[1@10/15] 2 @15",
            "[1@600/600] 1 @600",
            "[2@600/600] 1 @600",
            "[2@600/600] null @600",
            "[2@599/600] 2 @600",
        ]
    );
    Ok(())
}

#[test]
fn session_windows_merge_out_of_order_records_bridging_two_sessions() -> Result<()> {
    // The SessionWindows Javadoc example: gap 5, A@10 A@12 A@20 A@16 → one session [10,20]
    // (with a retention long enough to still see [10,12] when A@16 arrives).
    let builder = StreamsBuilder::new();
    let table = input(&builder)
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(5)))
        .count(Materialized::as_("sessions").with_retention(ms(100)));
    let inputs = [
        ("A", "x", 10),
        ("A", "x", 12),
        ("A", "x", 20),
        ("A", "x", 16),
    ];
    let (lines, _) = render(
        table,
        session_key(),
        Serdes::u64(),
        &builder,
        &StreamsConfig::new(),
        &inputs,
    )?;
    assert_eq!(
        lines,
        [
            "[A@10/10] 1 @10",
            "[A@10/10] null @10",
            "[A@10/12] 2 @12",
            "[A@20/20] 1 @20",
            "[A@10/12] null @12",
            "[A@20/20] null @20",
            "[A@10/20] 4 @20",
        ]
    );
    Ok(())
}

#[test]
fn session_store_retention_hides_sessions_from_merging_as_in_kafka() -> Result<()> {
    // Default retention is gap + grace = 5: at store time 20, [10,12] (end < 16) is no longer
    // retained by the store. Without a cache, A@16 merges only with [20,20]. With the record
    // cache (the default), [10,12] is still cached (clean; retention does not apply to the
    // cache) and merges too; its removal finds nothing retained, so it is not forwarded.
    // Both outputs are Kafka Streams 4.4's TopologyTestDriver's on this input.
    let cases = [
        (StreamsConfig::new(), "[A@10/20] 4 @20"),
        (no_cache(), "[A@16/20] 2 @20"),
    ];
    for (config, last) in cases {
        let builder = StreamsBuilder::new();
        let table = input(&builder)
            .group_by_key()
            .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(5)))
            .count(Materialized::as_("sessions"));
        let inputs = [
            ("A", "x", 10),
            ("A", "x", 12),
            ("A", "x", 20),
            ("A", "x", 16),
        ];
        let (lines, _) = render(
            table,
            session_key(),
            Serdes::u64(),
            &builder,
            &config,
            &inputs,
        )?;
        assert_eq!(
            lines,
            [
                "[A@10/10] 1 @10",
                "[A@10/10] null @10",
                "[A@10/12] 2 @12",
                "[A@20/20] 1 @20",
                "[A@20/20] null @20",
                last
            ]
        );
    }
    Ok(())
}

#[test]
fn suppress_emits_one_final_result_per_time_window() -> Result<()> {
    // SuppressScenarioTest.shouldSupportFinalResultsForTimeWindows
    let builder = StreamsBuilder::new();
    let counts = input(&builder)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(2), ms(1)))
        .count(Materialized::as_("counts").with_caching_disabled());
    counts.to_stream().to_with(
        "raw",
        streams_core::dsl::Produced::with(time_key(2), Serdes::nullable(Serdes::u64())),
    );
    let suppressed = counts.suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    let inputs = [
        ("k1", "v1", 0),
        ("k1", "v1", 1),
        ("k1", "v1", 2),
        ("k1", "v1", 1),
        ("k1", "v1", 0),
        ("k1", "v1", 5),
        ("k1", "v1", 0),
    ];
    let (lines, dropped) = render(
        suppressed,
        time_key(2),
        Serdes::u64(),
        &builder,
        &StreamsConfig::new(),
        &inputs,
    )?;
    assert_eq!(lines, ["[k1@0/2] 4 @1", "[k1@2/4] 1 @2"]);
    assert_eq!(dropped, 1, "the last k1@0 is past grace");
    Ok(())
}

#[test]
fn suppress_handles_large_jumps() -> Result<()> {
    // SuppressScenarioTest.shouldSupportFinalResultsForTimeWindowsWithLargeJump
    let builder = StreamsBuilder::new();
    let suppressed = input(&builder)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(2), ms(2)))
        .count(Materialized::as_("counts"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    let inputs: Vec<(&str, &str, i64)> = [0, 1, 2, 0, 3, 0, 4, 0, 30]
        .iter()
        .map(|t| ("k1", "v1", *t))
        .collect();
    let (lines, _) = render(
        suppressed,
        time_key(2),
        Serdes::u64(),
        &builder,
        &StreamsConfig::new(),
        &inputs,
    )?;
    assert_eq!(lines, ["[k1@0/2] 4 @1", "[k1@2/4] 2 @3", "[k1@4/6] 1 @4"]);
    Ok(())
}

#[test]
fn suppress_session_windows_drops_merged_away_sessions() -> Result<()> {
    // SuppressScenarioTest.shouldSupportFinalResultsForSessionWindows
    let builder = StreamsBuilder::new();
    let suppressed = input(&builder)
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(5)))
        .count(Materialized::as_("counts"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    let inputs = [
        ("k1", "v1", 0),
        ("k1", "v1", 5),
        ("k1", "v1", 1),
        ("k2", "v1", 11),
        ("k1", "v1", 5),
        ("k1", "v1", 30),
    ];
    let (lines, _) = render(
        suppressed,
        session_key(),
        Serdes::u64(),
        &builder,
        &StreamsConfig::new(),
        &inputs,
    )?;
    assert_eq!(lines, ["[k1@0/5] 3 @5", "[k2@11/11] 1 @11"]);
    Ok(())
}

#[test]
fn suppress_sliding_windows_emits_each_window_once() -> Result<()> {
    // SuppressScenarioTest.shouldSupportFinalResultsForSlidingWindows
    let builder = StreamsBuilder::new();
    let suppressed = input(&builder)
        .group_by_key()
        .windowed_by(SlidingWindows::of_time_difference_and_grace(ms(5), ms(15)))
        .count(Materialized::as_("counts").with_caching_disabled())
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    let inputs: Vec<(&str, &str, i64)> = [10, 11, 10, 13, 10, 24, 5, 7, 90]
        .iter()
        .map(|t| ("k1", "v1", *t))
        .collect();
    let (lines, _) = render(
        suppressed,
        time_key(5),
        Serdes::u64(),
        &builder,
        &StreamsConfig::new(),
        &inputs,
    )?;
    assert_eq!(
        lines,
        [
            "[k1@5/10] 5 @10",
            "[k1@6/11] 5 @11",
            "[k1@8/13] 5 @13",
            "[k1@11/16] 2 @13",
            "[k1@12/17] 1 @13",
            "[k1@19/24] 1 @24"
        ]
    );
    Ok(())
}

#[test]
fn window_stores_are_queryable_in_the_driver() -> Result<()> {
    let builder = StreamsBuilder::new();
    input(&builder)
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(10)))
        .count(Materialized::as_("c").with_retention(ms(100)));
    let driver = TopologyTestDriver::new(builder.build()?)?;
    pipe_all(
        &driver.input_topic("input", Serdes::string(), Serdes::string()),
        &[("a", "x", 1), ("a", "x", 2), ("a", "x", 12)],
    )?;
    let store = driver.window_store::<String, (u64, i64)>("c")?;
    assert_eq!(
        store.fetch(&"a".to_string(), 0, 20)?,
        vec![(0, (2, 2)), (10, (1, 12))]
    );
    Ok(())
}
