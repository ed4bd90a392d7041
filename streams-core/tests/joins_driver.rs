//! Joins through the driver, with scenarios from Kafka Streams' KStreamKStreamJoinTest,
//! KStreamKStreamLeftJoinTest, KStreamKStreamOuterJoinTest, KStreamKTableJoinTest,
//! KStreamKTableLeftJoinTest and KTableKTable{Inner,Left,Outer}JoinTest.

use std::time::Duration;

use streams_core::dsl::{
    Consumed, JoinWindows, KStream, KTable, Materialized, StreamJoined, StreamsBuilder,
};
use streams_core::serde::Serdes;
use streams_core::testing::TopologyTestDriver;
use streams_core::{Result, StreamsConfig};

type Out = Vec<(String, String, i64)>;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn stream(builder: &StreamsBuilder, topic: &str) -> KStream<String, String> {
    builder.stream(topic, Consumed::with(Serdes::string(), Serdes::string()))
}

struct Harness {
    driver: TopologyTestDriver,
}

impl Harness {
    fn new(builder: &StreamsBuilder) -> Result<Self> {
        Self::with_config(builder, &StreamsConfig::new())
    }

    fn with_config(builder: &StreamsBuilder, config: &StreamsConfig) -> Result<Self> {
        Ok(Harness {
            driver: TopologyTestDriver::with_config(builder.build()?, config)?,
        })
    }

    fn pipe(&self, topic: &str, records: &[(&str, Option<&str>, i64)]) -> Result<()> {
        let input =
            self.driver
                .input_topic(topic, Serdes::string(), Serdes::nullable(Serdes::string()));
        for (k, v, t) in records {
            input.pipe_input(k.to_string(), v.map(String::from), *t)?;
        }
        Ok(())
    }

    /// Pipes `keys` with values `<prefix><key>` at `ts`.
    fn pipe_keys(&self, topic: &str, keys: &[&str], prefix: &str, ts: i64) -> Result<()> {
        let records: Vec<(String, String)> = keys
            .iter()
            .map(|k| (k.to_string(), format!("{prefix}{k}")))
            .collect();
        let refs: Vec<(&str, Option<&str>, i64)> = records
            .iter()
            .map(|(k, v)| (k.as_str(), Some(v.as_str()), ts))
            .collect();
        self.pipe(topic, &refs)
    }

    fn read(&self) -> Result<Out> {
        Ok(self
            .driver
            .output_topic(
                "output",
                Serdes::string(),
                Serdes::nullable(Serdes::string()),
            )
            .read_records()?
            .into_iter()
            .map(|r| {
                (
                    r.key,
                    r.value.unwrap_or_else(|| "<null>".into()),
                    r.timestamp,
                )
            })
            .collect())
    }
}

fn out(expected: &[(&str, &str, i64)]) -> Out {
    expected
        .iter()
        .map(|(k, v, t)| (k.to_string(), v.to_string(), *t))
        .collect()
}

const KEYS: [&str; 4] = ["0", "1", "2", "3"];

#[test]
fn inner_stream_stream_join_has_inclusive_bounds() -> Result<()> {
    // KStreamKStreamJoinTest.testWindowing
    let builder = StreamsBuilder::new();
    stream(&builder, "topic1")
        .join(
            &stream(&builder, "topic2"),
            |l: &String, r: &String| format!("{l}+{r}"),
            JoinWindows::of_time_difference_with_no_grace(ms(100)),
            StreamJoined::default(),
        )
        .to("output");
    let h = Harness::new(&builder)?;
    h.pipe_keys("topic1", &KEYS[..2], "A", 0)?;
    assert!(h.read()?.is_empty());
    h.pipe_keys("topic2", &KEYS[..2], "a", 0)?;
    assert_eq!(h.read()?, out(&[("0", "A0+a0", 0), ("1", "A1+a1", 0)]));
    for (i, k) in KEYS.iter().enumerate() {
        h.pipe("topic1", &[(k, Some(&format!("B{k}")), 1000 + i as i64)])?;
    }
    assert!(h.read()?.is_empty());
    h.pipe_keys("topic2", &KEYS, "b", 1100)?;
    assert_eq!(
        h.read()?,
        out(&[
            ("0", "B0+b0", 1100),
            ("1", "B1+b1", 1100),
            ("2", "B2+b2", 1100),
            ("3", "B3+b3", 1100)
        ])
    );
    h.pipe_keys("topic2", &KEYS, "c", 1101)?;
    assert_eq!(
        h.read()?,
        out(&[
            ("1", "B1+c1", 1101),
            ("2", "B2+c2", 1101),
            ("3", "B3+c3", 1101)
        ])
    );
    h.pipe_keys("topic2", &KEYS, "e", 1103)?;
    assert_eq!(h.read()?, out(&[("3", "B3+e3", 1103)]));
    h.pipe_keys("topic2", &KEYS, "f", 1104)?;
    assert!(h.read()?.is_empty());
    h.pipe_keys("topic2", &KEYS, "g", 899)?;
    assert!(h.read()?.is_empty(), "1000 - 899 = 101 > 100");
    h.pipe_keys("topic2", &KEYS, "h", 900)?;
    assert_eq!(
        h.read()?,
        out(&[("0", "B0+h0", 1000)]),
        "late, still joins; timestamp is the max"
    );
    h.pipe_keys("topic2", &KEYS, "j", 902)?;
    assert_eq!(
        h.read()?,
        out(&[
            ("0", "B0+j0", 1000),
            ("1", "B1+j1", 1001),
            ("2", "B2+j2", 1002)
        ])
    );
    Ok(())
}

#[test]
fn asymmetric_windows_join_only_after() -> Result<()> {
    // KStreamKStreamJoinTest.testAsymmetricWindowingAfter
    let builder = StreamsBuilder::new();
    stream(&builder, "topic1")
        .join(
            &stream(&builder, "topic2"),
            |l: &String, r: &String| format!("{l}+{r}"),
            JoinWindows::of_time_difference_with_no_grace(ms(0)).after(ms(100)),
            StreamJoined::default(),
        )
        .to("output");
    let h = Harness::new(&builder)?;
    for (i, k) in KEYS.iter().enumerate() {
        h.pipe("topic1", &[(k, Some(&format!("A{k}")), 1000 + i as i64)])?;
    }
    h.pipe_keys("topic2", &KEYS, "a", 999)?;
    assert!(h.read()?.is_empty());
    h.pipe_keys("topic2", &KEYS, "b", 1000)?;
    assert_eq!(h.read()?, out(&[("0", "A0+b0", 1000)]));
    h.pipe_keys("topic2", &KEYS, "c", 1001)?;
    assert_eq!(
        h.read()?,
        out(&[("0", "A0+c0", 1001), ("1", "A1+c1", 1001)])
    );
    h.pipe_keys("topic2", &KEYS, "g", 1101)?;
    assert_eq!(
        h.read()?,
        out(&[
            ("1", "A1+g1", 1101),
            ("2", "A2+g2", 1101),
            ("3", "A3+g3", 1101)
        ])
    );
    Ok(())
}

fn left_join(builder: &StreamsBuilder, windows: JoinWindows) {
    stream(builder, "topic1")
        .left_join(
            &stream(builder, "topic2"),
            |l: &String, r: Option<&String>| format!("{l}+{}", r.map_or("null", |r| r.as_str())),
            windows,
            StreamJoined::default(),
        )
        .to("output");
}

#[test]
fn left_join_emits_unmatched_only_after_window_and_grace() -> Result<()> {
    // KStreamKStreamLeftJoinTest.testLeftJoinDuplicates
    let builder = StreamsBuilder::new();
    left_join(
        &builder,
        JoinWindows::of_time_difference_and_grace(ms(100), ms(10)),
    );
    let h = Harness::new(&builder)?;
    h.pipe("topic1", &[("0", Some("A0"), 0), ("0", Some("A0-0"), 0)])?;
    h.pipe("topic2", &[("1", Some("a0"), 110)])?;
    assert!(
        h.read()?.is_empty(),
        "110 is not past 0 + 100 + 10: still open at equality"
    );
    h.pipe("topic2", &[("1", Some("a0"), 111)])?;
    assert_eq!(
        h.read()?,
        out(&[("0", "A0+null", 0), ("0", "A0-0+null", 0)])
    );
    h.pipe("topic2", &[("2", Some("dummy"), 500)])?;
    assert!(h.read()?.is_empty());
    h.pipe(
        "topic1",
        &[("2", Some("A2"), 1000), ("2", Some("A2-0"), 1000)],
    )?;
    h.pipe("topic2", &[("2", Some("a2"), 1001)])?;
    assert_eq!(
        h.read()?,
        out(&[("2", "A2+a2", 1001), ("2", "A2-0+a2", 1001)])
    );
    h.pipe("topic2", &[("3", Some("a3"), 315)])?;
    assert!(
        h.read()?.is_empty(),
        "the matched A2 records are never emitted unmatched"
    );
    Ok(())
}

#[test]
fn left_join_looks_for_closed_windows_with_the_arriving_sides_reach() -> Result<()> {
    // Kafka Streams scans the outer store only when its lowest time plus the *arriving* side's
    // reach (a right record: the window's `before`) and the grace has passed; a right record
    // can thus leave a closed left record waiting (differential oracle, `ss_left_join`).
    let builder = StreamsBuilder::new();
    left_join(
        &builder,
        JoinWindows::of_time_difference_and_grace(ms(4), ms(2)).after(ms(2)),
    );
    let h = Harness::new(&builder)?;
    h.pipe("topic1", &[("a", Some("A"), 0)])?;
    h.pipe("topic2", &[("a", Some("B"), 5)])?;
    assert!(
        h.read()?.is_empty(),
        "A's window closed at 0 + 2 + 2, but the right side looks only after 0 + 4 + 2"
    );
    h.pipe("topic1", &[("a", Some("C"), 7)])?;
    assert_eq!(h.read()?, out(&[("a", "A+null", 0), ("a", "C+B", 7)]));
    Ok(())
}

#[test]
fn left_join_unmatched_are_emitted_by_either_side_in_order() -> Result<()> {
    // KStreamKStreamLeftJoinTest.testLeftExpiredNonJoinedRecordsAreEmittedByTheRightProcessor and testOrdering
    let builder = StreamsBuilder::new();
    left_join(
        &builder,
        JoinWindows::of_time_difference_and_grace(ms(100), ms(0)),
    );
    let h = Harness::new(&builder)?;
    h.pipe(
        "topic1",
        &[
            ("0", Some("A0"), 1),
            ("1", Some("A1"), 2),
            ("0", Some("A0-0"), 3),
        ],
    )?;
    assert!(h.read()?.is_empty());
    h.pipe("topic2", &[("1", Some("a1"), 3)])?;
    assert_eq!(h.read()?, out(&[("1", "A1+a1", 3)]));
    h.pipe("topic2", &[("2", Some("dummy"), 401)])?;
    assert_eq!(
        h.read()?,
        out(&[("0", "A0+null", 1), ("0", "A0-0+null", 3)])
    );
    h.pipe("topic1", &[("2", Some("dummy"), 402)])?;
    assert_eq!(h.read()?, out(&[("2", "dummy+dummy", 402)]));

    let builder = StreamsBuilder::new();
    left_join(
        &builder,
        JoinWindows::of_time_difference_with_no_grace(ms(100)),
    );
    let h = Harness::new(&builder)?;
    h.pipe("topic1", &[("0", Some("A0"), 0), ("1", Some("A1"), 100)])?;
    h.pipe("topic2", &[("1", Some("a1"), 110)])?;
    assert_eq!(
        h.read()?,
        out(&[("0", "A0+null", 0), ("1", "A1+a1", 110)]),
        "expired unmatched come before the match"
    );
    Ok(())
}

#[test]
fn left_join_asymmetric_window_closes_before_lookup() -> Result<()> {
    // KStreamKStreamLeftJoinTest.shouldNotEmitLeftJoinResultForAsymmetricWindow
    let builder = StreamsBuilder::new();
    left_join(
        &builder,
        JoinWindows::of_time_difference_with_no_grace(ms(100)).before(ms(0)),
    );
    let h = Harness::new(&builder)?;
    h.pipe("topic1", &[("0", Some("A0"), 0), ("1", Some("A1"), 1)])?;
    h.pipe("topic2", &[("0", Some("a0"), 100)])?;
    assert_eq!(h.read()?, out(&[("0", "A0+a0", 100)]));
    h.pipe("topic2", &[("1", Some("a1"), 102)])?;
    assert_eq!(h.read()?, out(&[("1", "A1+null", 1)]));
    Ok(())
}

fn outer_join(builder: &StreamsBuilder, windows: JoinWindows) {
    stream(builder, "topic1")
        .outer_join(
            &stream(builder, "topic2"),
            |l: Option<&String>, r: Option<&String>| {
                format!(
                    "{}+{}",
                    l.map_or("null", |l| l.as_str()),
                    r.map_or("null", |r| r.as_str())
                )
            },
            windows,
            StreamJoined::default(),
        )
        .to("output");
}

#[test]
fn outer_join_emits_right_before_left_at_equal_times() -> Result<()> {
    // KStreamKStreamOuterJoinTest.testOuterJoinDuplicates
    let builder = StreamsBuilder::new();
    outer_join(
        &builder,
        JoinWindows::of_time_difference_and_grace(ms(100), ms(10)),
    );
    let h = Harness::new(&builder)?;
    h.pipe("topic1", &[("0", Some("A0"), 0), ("0", Some("A0-0"), 0)])?;
    h.pipe(
        "topic2",
        &[
            ("1", Some("11"), 0),
            ("1", Some("12"), 0),
            ("1", Some("10"), 111),
            ("3", Some("100"), 211),
        ],
    )?;
    assert_eq!(
        h.read()?,
        out(&[
            ("1", "null+11", 0),
            ("1", "null+12", 0),
            ("0", "A0+null", 0),
            ("0", "A0-0+null", 0)
        ])
    );
    h.pipe(
        "topic1",
        &[("2", Some("A2"), 200), ("2", Some("A2-0"), 200)],
    )?;
    h.pipe("topic2", &[("2", Some("13"), 201), ("2", Some("14"), 201)])?;
    assert_eq!(
        h.read()?,
        out(&[
            ("2", "A2+13", 201),
            ("2", "A2-0+13", 201),
            ("2", "A2+14", 201),
            ("2", "A2-0+14", 201)
        ])
    );
    h.pipe("topic2", &[("3", Some("100"), 1500)])?;
    assert_eq!(
        h.read()?,
        out(&[("1", "null+10", 111), ("3", "null+100", 211)])
    );
    Ok(())
}

#[test]
fn outer_join_counts_each_buffered_value_as_a_record_when_it_stops_scanning() -> Result<()> {
    // Kafka Streams iterates its outer store one value at a time and, once both sides' windows
    // are open, stops at the next record, leaving its lower time bound there: a key buffered
    // twice stops the scan at its own time, a key buffered once at the next key's (differential
    // oracle, ss_outer_join, seed 31).
    for duplicate in [true, false] {
        let builder = StreamsBuilder::new();
        outer_join(
            &builder,
            JoinWindows::of_time_difference_and_grace(ms(5), ms(1)),
        );
        let h = Harness::new(&builder)?;
        h.pipe("topic1", &[("a", Some("A0"), 0), ("a", Some("A1"), 1)])?;
        h.pipe("topic2", &[("b", Some("B3"), 3)])?;
        if duplicate {
            h.pipe("topic2", &[("b", Some("B3'"), 3)])?;
        }
        h.pipe("topic1", &[("a", Some("A5"), 5)])?;
        // At 7 the scan emits A0, finds A1 (left) and B3 (right) open and stops at the next
        // record: B3' (time 3) or A5 (time 5).
        h.pipe("topic1", &[("a", Some("A7"), 7)])?;
        assert_eq!(h.read()?, out(&[("a", "A0+null", 0)]));
        // At 10 the bound, 3 or 5, plus 5 and the grace is past or not: a scan, or none.
        h.pipe("topic1", &[("a", Some("A10"), 10)])?;
        let expected = if duplicate {
            out(&[
                ("a", "A1+null", 1),
                ("b", "null+B3", 3),
                ("b", "null+B3'", 3),
            ])
        } else {
            Vec::new()
        };
        assert_eq!(h.read()?, expected, "B3 buffered twice: {duplicate}");
    }
    Ok(())
}

#[test]
fn outer_join_window_end_equality_stays_open() -> Result<()> {
    // KStreamKStreamOuterJoinTest.testEmitAllNonJoinedResultsForAsymmetricWindow
    let builder = StreamsBuilder::new();
    outer_join(
        &builder,
        JoinWindows::of_time_difference_with_no_grace(ms(5)).after(ms(20)),
    );
    let h = Harness::new(&builder)?;
    h.pipe("topic1", &[("0", Some("A0"), 29), ("1", Some("A1"), 30)])?;
    h.pipe("topic2", &[("2", Some("12"), 31), ("3", Some("13"), 36)])?;
    assert!(h.read()?.is_empty());
    h.pipe("topic2", &[("4", Some("14"), 37)])?;
    assert_eq!(h.read()?, out(&[("2", "null+12", 31)]));
    h.pipe("topic2", &[("5", Some("15"), 50)])?;
    assert_eq!(
        h.read()?,
        out(&[
            ("0", "A0+null", 29),
            ("3", "null+13", 36),
            ("4", "null+14", 37)
        ])
    );
    Ok(())
}

fn table(builder: &StreamsBuilder, topic: &str) -> KTable<String, String> {
    builder.table(
        topic,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::default(),
    )
}

#[test]
fn stream_table_join_ignores_unmatched_and_table_updates() -> Result<()> {
    // KStreamKTableJoinTest.shouldNotJoinOnTableUpdates / shouldClearTableEntryOnNullValueUpdates
    let builder = StreamsBuilder::new();
    let t = table(&builder, "table");
    stream(&builder, "stream")
        .join_table(&t, |s: &String, t: &String| format!("{s}+{t}"))
        .to("output");
    let h = Harness::new(&builder)?;
    h.pipe("stream", &[("0", Some("X0"), 0), ("1", Some("X1"), 1)])?;
    assert!(h.read()?.is_empty(), "no table rows yet");
    h.pipe("table", &[("0", Some("Y0"), 5), ("1", Some("Y1"), 6)])?;
    assert!(h.read()?.is_empty(), "table updates never emit");
    for (i, k) in KEYS.iter().enumerate() {
        h.pipe("stream", &[(k, Some(&format!("X{k}")), i as i64)])?;
    }
    assert_eq!(h.read()?, out(&[("0", "X0+Y0", 0), ("1", "X1+Y1", 1)]));
    h.pipe("table", &[("0", None, 7)])?;
    for (i, k) in KEYS.iter().enumerate() {
        h.pipe("stream", &[(k, Some(&format!("XX{k}")), i as i64)])?;
    }
    assert_eq!(
        h.read()?,
        out(&[("1", "XX1+Y1", 1)]),
        "a tombstone removes the row"
    );
    Ok(())
}

#[test]
fn stream_table_left_join_emits_none_for_missing_rows() -> Result<()> {
    let builder = StreamsBuilder::new();
    let t = table(&builder, "table");
    stream(&builder, "stream")
        .left_join_table(&t, |s: &String, t: Option<&String>| {
            format!("{s}+{}", t.map_or("null", |t| t.as_str()))
        })
        .to("output");
    let h = Harness::new(&builder)?;
    h.pipe("table", &[("2", Some("Y2"), 0), ("3", Some("Y3"), 0)])?;
    for (i, k) in KEYS.iter().enumerate() {
        h.pipe("stream", &[(k, Some(&format!("XX{k}")), i as i64)])?;
    }
    assert_eq!(
        h.read()?,
        out(&[
            ("0", "XX0+null", 0),
            ("1", "XX1+null", 1),
            ("2", "XX2+Y2", 2),
            ("3", "XX3+Y3", 3)
        ])
    );
    Ok(())
}

/// A stream whose keys and values may be null (Kafka's `String` serde accepts null).
fn nullable_stream(
    builder: &StreamsBuilder,
    topic: &str,
) -> KStream<Option<String>, Option<String>> {
    builder.stream(
        topic,
        Consumed::with(
            Serdes::nullable(Serdes::string()),
            Serdes::nullable(Serdes::string()),
        ),
    )
}

fn show(v: Option<&str>) -> &str {
    v.unwrap_or("null")
}

/// Pipes nullable keys and values into `topic` and reads "output" as `key|value` strings.
fn pipe_nullable(
    driver: &TopologyTestDriver,
    topic: &str,
    records: &[(Option<&str>, Option<&str>, i64)],
) -> Result<()> {
    let nullable = || Serdes::nullable(Serdes::string());
    let input = driver.input_topic(topic, nullable(), nullable());
    for (k, v, t) in records {
        input.pipe_input(k.map(String::from), v.map(String::from), *t)?;
    }
    Ok(())
}

fn read_nullable(driver: &TopologyTestDriver) -> Result<Vec<String>> {
    let nullable = || Serdes::nullable(Serdes::string());
    Ok(driver
        .output_topic("output", nullable(), nullable())
        .read_records()?
        .into_iter()
        .map(|r| format!("{}|{}", show(r.key.as_deref()), show(r.value.as_deref())))
        .collect())
}

#[test]
fn stream_table_joins_drop_null_values_and_left_joins_keep_null_keys() -> Result<()> {
    // KStreamKTableJoinProcessor: a null value is an empty message, dropped by inner and left
    // joins alike; a left join joins a record without a key with nothing.
    for left in [false, true] {
        let builder = StreamsBuilder::new();
        let t = builder.table(
            "table",
            Consumed::with(Serdes::nullable(Serdes::string()), Serdes::string()),
            Materialized::default(),
        );
        let s = nullable_stream(&builder, "stream");
        let joined = if left {
            s.left_join_table(&t, |v: &Option<String>, t: Option<&String>| {
                Some(format!(
                    "{}+{}",
                    show(v.as_deref()),
                    show(t.map(String::as_str))
                ))
            })
        } else {
            s.join_table(&t, |v: &Option<String>, t: &String| {
                Some(format!("{}+{t}", show(v.as_deref())))
            })
        };
        joined.to("output");
        let driver = TopologyTestDriver::new(builder.build()?)?;
        pipe_nullable(&driver, "table", &[(Some("a"), Some("A"), 0)])?;
        pipe_nullable(
            &driver,
            "stream",
            &[
                (Some("a"), None, 1),
                (Some("b"), None, 2),
                (None, Some("x"), 3),
                (Some("a"), Some("y"), 4),
                (Some("b"), Some("z"), 5),
            ],
        )?;
        let expected: Vec<&str> = if left {
            vec!["null|x+null", "a|y+A", "b|z+null"]
        } else {
            vec!["a|y+A"]
        };
        assert_eq!(read_nullable(&driver)?, expected, "left join: {left}");
    }
    Ok(())
}

#[test]
fn global_table_joins_drop_null_values_and_inner_joins_null_mapped_keys() -> Result<()> {
    // Kafka Streams 4.4 (seen through the differential oracle): null values are dropped by
    // both joins; a record mapped to a null key is dropped by the inner join and joined with
    // nothing by the left join, with or without a key of its own.
    for left in [false, true] {
        let builder = StreamsBuilder::new();
        let g = builder.global_table(
            "global",
            Consumed::with(Serdes::nullable(Serdes::string()), Serdes::string()),
            Materialized::default(),
        );
        let s = nullable_stream(&builder, "stream");
        // The value names the global key; "-" names none.
        let mapper = |_k: &Option<String>, v: &Option<String>| v.clone().filter(|v| v != "-");
        let joined = if left {
            s.left_join_global(&g, mapper, |v: &Option<String>, g: Option<&String>| {
                Some(format!(
                    "{}+{}",
                    show(v.as_deref()),
                    show(g.map(String::as_str))
                ))
            })
        } else {
            s.join_global(&g, mapper, |v: &Option<String>, g: &String| {
                Some(format!("{}+{g}", show(v.as_deref())))
            })
        };
        joined.to("output");
        let driver = TopologyTestDriver::new(builder.build()?)?;
        pipe_nullable(&driver, "global", &[(Some("a"), Some("A"), 0)])?;
        pipe_nullable(
            &driver,
            "stream",
            &[
                (Some("k"), None, 1),
                (Some("k"), Some("-"), 2),
                (None, Some("-"), 3),
                (None, Some("a"), 4),
                (Some("k"), Some("a"), 5),
                (Some("k"), Some("b"), 6),
            ],
        )?;
        let expected: Vec<&str> = if left {
            vec!["k|-+null", "null|-+null", "null|a+A", "k|a+A", "k|b+null"]
        } else {
            vec!["null|a+A", "k|a+A"]
        };
        assert_eq!(read_nullable(&driver)?, expected, "left join: {left}");
    }
    Ok(())
}

#[test]
fn joining_a_filtered_table_passes_its_deletes_through_uncached() -> Result<()> {
    // Kafka Streams joins a filtered table through a view on the source's store, without a
    // record cache of the filter's own: a row the filter drops reaches the join as a delete
    // and comes out as a tombstone, even with caching on (differential oracle,
    // `table_filter_join`).
    let builder = StreamsBuilder::new();
    let right = table(&builder, "right");
    table(&builder, "left")
        .filter(|_k, v: &String| v.len() != 2)
        .join(&right, |l: &String, r: &String| format!("{l}+{r}"))
        .to_stream()
        .to("output");
    let h = Harness::new(&builder)?;
    h.pipe("right", &[("a", Some("R"), 0)])?;
    h.pipe("left", &[("a", Some("xx"), 1), ("a", Some("xyz"), 2)])?;
    assert_eq!(h.read()?, out(&[("a", "<null>", 1), ("a", "xyz+R", 2)]));
    Ok(())
}

#[test]
fn a_join_after_a_key_change_sees_records_whose_new_key_is_null() -> Result<()> {
    // Kafka Streams 4's repartition before a join lets null keys through (its filter is
    // `(k, v) -> true`), so a left join joins such a record with nothing (KIP-962); only an
    // explicit `repartition()` drops them (differential oracle, self_join_after_key_change).
    let builder = StreamsBuilder::new();
    let t = builder.table(
        "table",
        Consumed::with(Serdes::nullable(Serdes::string()), Serdes::string()),
        Materialized::default(),
    );
    nullable_stream(&builder, "stream")
        .select_key(|_k: &Option<String>, v: &Option<String>| {
            v.clone().filter(|v| !v.starts_with('x'))
        })
        .left_join_table(&t, |v: &Option<String>, t: Option<&String>| {
            Some(format!(
                "{}+{}",
                show(v.as_deref()),
                show(t.map(String::as_str))
            ))
        })
        .to("output");
    let topology = builder.build()?;
    assert!(
        topology.describe().to_string().contains("-repartition)"),
        "the key change is repartitioned before the join"
    );
    let driver = TopologyTestDriver::new(topology)?;
    pipe_nullable(&driver, "table", &[(Some("a"), Some("A"), 0)])?;
    pipe_nullable(
        &driver,
        "stream",
        &[(Some("k"), Some("a"), 1), (Some("k"), Some("xyz"), 2)],
    )?;
    assert_eq!(read_nullable(&driver)?, vec!["a|a+A", "null|xyz+null"]);
    Ok(())
}

/// Kafka's shared KTableKTable*JoinTest script; returns outputs per step.
fn table_table_script(kind: &str) -> Result<Vec<Out>> {
    let builder = StreamsBuilder::new();
    let left = table(&builder, "topic1");
    let right = table(&builder, "topic2");
    let fmt = |v: Option<&String>| v.map_or("null".to_string(), |v| v.clone());
    let joined: KTable<String, String> = match kind {
        "inner" => left.join(&right, |l: &String, r: &String| format!("{l}+{r}")),
        "left" => left.left_join(&right, move |l: &String, r: Option<&String>| {
            format!("{l}+{}", fmt(r))
        }),
        _ => left.outer_join(&right, move |l: Option<&String>, r: Option<&String>| {
            format!("{}+{}", fmt(l), fmt(r))
        }),
    };
    joined.to_stream().to("output");
    let h = Harness::new(&builder)?;
    let mut steps = Vec::new();
    h.pipe("topic1", &[("0", Some("X0"), 5), ("1", Some("X1"), 6)])?;
    steps.push(h.read()?);
    h.pipe("topic2", &[("0", Some("Y0"), 0), ("1", Some("Y1"), 10)])?;
    steps.push(h.read()?);
    h.pipe_keys("topic1", &KEYS, "XX", 7)?;
    steps.push(h.read()?);
    for (i, k) in KEYS.iter().enumerate() {
        h.pipe("topic2", &[(k, Some(&format!("YY{k}")), 5 * i as i64)])?;
    }
    steps.push(h.read()?);
    h.pipe_keys("topic1", &KEYS, "XXX", 6)?;
    steps.push(h.read()?);
    h.pipe("topic2", &[("0", None, 5), ("1", None, 7)])?;
    steps.push(h.read()?);
    h.pipe_keys("topic1", &KEYS, "XXXX", 13)?;
    steps.push(h.read()?);
    h.pipe(
        "topic1",
        &[
            ("0", None, 0),
            ("1", None, 42),
            ("2", None, 5),
            ("3", None, 20),
        ],
    )?;
    steps.push(h.read()?);
    Ok(steps)
}

#[test]
fn table_table_joins_follow_kafkas_script() -> Result<()> {
    let inner = table_table_script("inner")?;
    let expected_inner = [
        out(&[]),
        out(&[("0", "X0+Y0", 5), ("1", "X1+Y1", 10)]),
        out(&[("0", "XX0+Y0", 7), ("1", "XX1+Y1", 10)]),
        out(&[
            ("0", "XX0+YY0", 7),
            ("1", "XX1+YY1", 7),
            ("2", "XX2+YY2", 10),
            ("3", "XX3+YY3", 15),
        ]),
        out(&[
            ("0", "XXX0+YY0", 6),
            ("1", "XXX1+YY1", 6),
            ("2", "XXX2+YY2", 10),
            ("3", "XXX3+YY3", 15),
        ]),
        out(&[("0", "<null>", 6), ("1", "<null>", 7)]),
        out(&[("2", "XXXX2+YY2", 13), ("3", "XXXX3+YY3", 15)]),
        out(&[("2", "<null>", 10), ("3", "<null>", 20)]),
    ];
    assert_eq!(inner, expected_inner);

    let left = table_table_script("left")?;
    let expected_left = [
        out(&[("0", "X0+null", 5), ("1", "X1+null", 6)]),
        out(&[("0", "X0+Y0", 5), ("1", "X1+Y1", 10)]),
        out(&[
            ("0", "XX0+Y0", 7),
            ("1", "XX1+Y1", 10),
            ("2", "XX2+null", 7),
            ("3", "XX3+null", 7),
        ]),
        out(&[
            ("0", "XX0+YY0", 7),
            ("1", "XX1+YY1", 7),
            ("2", "XX2+YY2", 10),
            ("3", "XX3+YY3", 15),
        ]),
        out(&[
            ("0", "XXX0+YY0", 6),
            ("1", "XXX1+YY1", 6),
            ("2", "XXX2+YY2", 10),
            ("3", "XXX3+YY3", 15),
        ]),
        out(&[("0", "XXX0+null", 6), ("1", "XXX1+null", 7)]),
        out(&[
            ("0", "XXXX0+null", 13),
            ("1", "XXXX1+null", 13),
            ("2", "XXXX2+YY2", 13),
            ("3", "XXXX3+YY3", 15),
        ]),
        out(&[
            ("0", "<null>", 0),
            ("1", "<null>", 42),
            ("2", "<null>", 10),
            ("3", "<null>", 20),
        ]),
    ];
    assert_eq!(left, expected_left);

    let outer = table_table_script("outer")?;
    let mut expected_outer = expected_left.to_vec();
    expected_outer[7] = out(&[
        ("0", "<null>", 0),
        ("1", "<null>", 42),
        ("2", "null+YY2", 10),
        ("3", "null+YY3", 20),
    ]);
    assert_eq!(outer, expected_outer);
    Ok(())
}
