//! Versioned tables through the driver (KIP-889, KIP-914, KIP-923), with scenarios ported from
//! Kafka Streams' own tests; each test names the Kafka test it ports. The table–table and
//! stream–table cases use the input of Kafka's `AbstractJoinIntegrationTest` (out-of-order
//! updates on both sides), piped one record at a time, with the output expected after each.

use std::time::Duration;

use streams_core::dsl::{
    Consumed, Grouped, Joined, KStream, KTable, Materialized, Produced, StreamsBuilder,
};
use streams_core::serde::Serdes;
use streams_core::state::PutOutcome;
use streams_core::testing::TopologyTestDriver;
use streams_core::{Result, StreamsConfig};

const LEFT: &str = "inputTopicLeft";
const RIGHT: &str = "inputTopicRight";
const OUTPUT: &str = "outputTopic";
/// `ANY_UNIQUE_KEY` of Kafka's join tests.
const KEY: i64 = 0;
/// The base of every timestamp (Kafka's tests add the mock clock's time).
const BASE: i64 = 1_600_000_000_000;

fn minutes(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

/// `AbstractJoinIntegrationTest.input`: (topic, value, timestamp), all for one key.
fn join_input() -> Vec<(&'static str, Option<&'static str>, i64)> {
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
type Step = Option<(Option<&'static str>, i64)>;

fn long_strings() -> Consumed<i64, String> {
    Consumed::with(Serdes::i64(), Serdes::string())
}

fn versioned(name: &str) -> Materialized<i64, String> {
    Materialized::as_versioned(name, minutes(5)).with_logging_disabled()
}

fn plain(name: &str) -> Materialized<i64, String> {
    Materialized::as_(name).with_logging_disabled()
}

fn to_output(table: &KTable<i64, String>) {
    table.to_stream().to_with(
        OUTPUT,
        Produced::with(Serdes::i64(), Serdes::nullable(Serdes::string())),
    );
}

/// Kafka's `valueJoiner` of these tests: `left + "-" + right`, with Java's `"null"`.
fn show(value: Option<&String>) -> String {
    value.map_or_else(|| "null".to_string(), Clone::clone)
}

/// Pipes the join input one record at a time and checks the output after each
/// (`AbstractJoinIntegrationTest.runTestWithDriver`).
fn run_join(builder: &StreamsBuilder, expected: &[Step]) -> Result<()> {
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

fn tables(
    builder: &StreamsBuilder,
    left: Materialized<i64, String>,
    right: Materialized<i64, String>,
) -> (KTable<i64, String>, KTable<i64, String>) {
    (
        builder.table(LEFT, long_strings(), left),
        builder.table(RIGHT, long_strings(), right),
    )
}

#[test]
fn inner_table_table_join_of_versioned_tables_ignores_out_of_order_updates() -> Result<()> {
    // Kafka: TableTableJoinIntegrationTest.testInnerWithVersionedStores
    let builder = StreamsBuilder::new();
    let (l, r) = tables(&builder, versioned("left"), versioned("right"));
    to_output(&l.join(&r, |a: &String, b: &String| format!("{a}-{b}")));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            n,
            Some((Some("A-a"), 4)),
            Some((Some("B-a"), 5)),
            Some((Some("B-b"), 6)),
            Some((None, 7)),
            n,
            n,
            Some((Some("C-c"), 10)),
            Some((None, 11)),
            n,
            n,
            n,
            n,
            n,
            n,
            n,
            Some((Some("E-e"), 15)),
            n,
            n,
            n,
            n,
        ],
    )
}

#[test]
fn left_table_table_join_of_versioned_tables_ignores_out_of_order_updates() -> Result<()> {
    // Kafka: TableTableJoinIntegrationTest.testLeftWithVersionedStores
    let builder = StreamsBuilder::new();
    let (l, r) = tables(&builder, versioned("left"), versioned("right"));
    to_output(&l.left_join(&r, |a: &String, b: Option<&String>| {
        format!("{a}-{}", show(b))
    }));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            Some((Some("A-null"), 3)),
            Some((Some("A-a"), 4)),
            Some((Some("B-a"), 5)),
            Some((Some("B-b"), 6)),
            Some((None, 7)),
            n,
            Some((Some("C-null"), 9)),
            Some((Some("C-c"), 10)),
            Some((Some("C-null"), 11)),
            Some((None, 12)),
            n,
            n,
            n,
            n,
            n,
            n,
            Some((Some("E-e"), 15)),
            n,
            n,
            n,
            n,
        ],
    )
}

#[test]
fn outer_table_table_join_of_versioned_tables_ignores_out_of_order_updates() -> Result<()> {
    // Kafka: TableTableJoinIntegrationTest.testOuterWithVersionedStores
    let builder = StreamsBuilder::new();
    let (l, r) = tables(&builder, versioned("left"), versioned("right"));
    to_output(&l.outer_join(&r, |a: Option<&String>, b: Option<&String>| {
        format!("{}-{}", show(a), show(b))
    }));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            Some((Some("A-null"), 3)),
            Some((Some("A-a"), 4)),
            Some((Some("B-a"), 5)),
            Some((Some("B-b"), 6)),
            Some((Some("null-b"), 7)),
            Some((None, 8)),
            Some((Some("C-null"), 9)),
            Some((Some("C-c"), 10)),
            Some((Some("C-null"), 11)),
            Some((None, 12)),
            n,
            n,
            n,
            n,
            n,
            Some((Some("null-e"), 14)),
            Some((Some("E-e"), 15)),
            n,
            n,
            n,
            n,
        ],
    )
}

#[test]
fn inner_join_with_only_the_left_table_versioned() -> Result<()> {
    // Kafka: TableTableJoinIntegrationTest.testInnerWithLeftVersionedOnly (caching off)
    let builder = StreamsBuilder::new();
    let (l, r) = tables(&builder, versioned("left"), plain("right"));
    to_output(&l.join(&r, |a: &String, b: &String| format!("{a}-{b}")));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            n,
            Some((Some("A-a"), 4)),
            Some((Some("B-a"), 5)),
            Some((Some("B-b"), 6)),
            Some((None, 7)),
            n,
            n,
            Some((Some("C-c"), 10)),
            Some((None, 11)),
            n,
            n,
            n,
            n,
            n,
            n,
            n,
            Some((Some("E-e"), 15)),
            n,
            Some((None, 15)),
            n,
            Some((Some("E-f"), 15)),
        ],
    )
}

#[test]
fn inner_join_with_only_the_right_table_versioned() -> Result<()> {
    // Kafka: TableTableJoinIntegrationTest.testInnerWithRightVersionedOnly (caching off)
    let builder = StreamsBuilder::new();
    let (l, r) = tables(&builder, plain("left"), versioned("right"));
    to_output(&l.join(&r, |a: &String, b: &String| format!("{a}-{b}")));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            n,
            Some((Some("A-a"), 4)),
            Some((Some("B-a"), 5)),
            Some((Some("B-b"), 6)),
            Some((None, 7)),
            n,
            n,
            Some((Some("C-c"), 10)),
            Some((None, 11)),
            n,
            n,
            n,
            n,
            n,
            n,
            n,
            Some((Some("E-e"), 15)),
            Some((None, 14)),
            n,
            Some((Some("F-e"), 14)),
            n,
        ],
    )
}

/// The left side of the stream–table cases: a stream with null values (which joins drop).
fn left_stream(builder: &StreamsBuilder) -> KStream<i64, Option<String>> {
    builder.stream(
        LEFT,
        Consumed::with(Serdes::i64(), Serdes::nullable(Serdes::string())),
    )
}

fn stream_output(stream: KStream<i64, String>) {
    stream.to_with(OUTPUT, Produced::with(Serdes::i64(), Serdes::string()));
}

fn right_versioned(builder: &StreamsBuilder) -> KTable<i64, String> {
    builder.table(
        RIGHT,
        long_strings(),
        Materialized::as_versioned("table-store", minutes(5)),
    )
}

fn stream_joiner(a: &Option<String>, b: &String) -> String {
    format!("{}-{b}", show(a.as_ref()))
}

fn stream_left_joiner(a: &Option<String>, b: Option<&String>) -> String {
    format!("{}-{}", show(a.as_ref()), show(b))
}

#[test]
fn stream_joins_a_versioned_table_as_of_each_record() -> Result<()> {
    // Kafka: StreamTableJoinIntegrationTest.testInnerWithVersionedStore
    let builder = StreamsBuilder::new();
    let table = right_versioned(&builder);
    stream_output(left_stream(&builder).join_table(&table, stream_joiner));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            n,
            n,
            Some((Some("B-a"), 5)),
            n,
            n,
            n,
            n,
            n,
            n,
            n,
            n,
            n,
            Some((Some("D-b"), 6)),
            n,
            n,
            n,
            Some((Some("E-e"), 15)),
            n,
            n,
            Some((Some("F-a"), 4)),
            n,
        ],
    )
}

#[test]
fn stream_left_joins_a_versioned_table_as_of_each_record() -> Result<()> {
    // Kafka: StreamTableJoinIntegrationTest.testLeftWithVersionedStore
    let builder = StreamsBuilder::new();
    let table = right_versioned(&builder);
    stream_output(left_stream(&builder).left_join_table(&table, stream_left_joiner));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            Some((Some("A-null"), 3)),
            n,
            Some((Some("B-a"), 5)),
            n,
            n,
            n,
            Some((Some("C-null"), 9)),
            n,
            n,
            n,
            n,
            n,
            Some((Some("D-b"), 6)),
            n,
            n,
            n,
            Some((Some("E-e"), 15)),
            n,
            n,
            Some((Some("F-a"), 4)),
            n,
        ],
    )
}

fn grace_joined() -> Joined<i64, Option<String>, String> {
    Joined::with(
        Serdes::i64(),
        Serdes::nullable(Serdes::string()),
        Serdes::string(),
    )
    .with_name("Grace")
    .with_grace_period(Duration::from_millis(2))
}

#[test]
fn stream_joins_a_versioned_table_after_a_grace_period() -> Result<()> {
    // Kafka: StreamTableJoinWithGraceIntegrationTest.testInnerWithVersionedStore
    let builder = StreamsBuilder::new();
    let table = right_versioned(&builder);
    stream_output(left_stream(&builder).join_table_with(&table, stream_joiner, grace_joined()));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            n,
            n,
            n,
            n,
            n,
            n,
            Some((Some("B-a"), 5)),
            n,
            n,
            n,
            n,
            n,
            Some((Some("D-b"), 6)),
            n,
            n,
            n,
            n,
            n,
            n,
            Some((Some("F-a"), 4)),
            n,
        ],
    )
}

#[test]
fn stream_left_joins_a_versioned_table_after_a_grace_period() -> Result<()> {
    // Kafka: StreamTableJoinWithGraceIntegrationTest.testLeftWithVersionedStore
    let builder = StreamsBuilder::new();
    let table = right_versioned(&builder);
    stream_output(left_stream(&builder).left_join_table_with(
        &table,
        stream_left_joiner,
        grace_joined(),
    ));
    let n = None;
    run_join(
        &builder,
        &[
            n,
            n,
            n,
            n,
            Some((Some("A-null"), 3)),
            n,
            n,
            n,
            Some((Some("B-a"), 5)),
            n,
            n,
            n,
            n,
            n,
            Some((Some("D-b"), 6)),
            n,
            n,
            n,
            Some((Some("C-null"), 9)),
            n,
            n,
            Some((Some("F-a"), 4)),
            n,
        ],
    )
}

/// `KStreamKTableJoinTest.makeJoin`: a stream of keys 0..3 joined with a versioned table
/// (`V-grace`, five minutes of history) with `grace`; values `X<k>+Y<k>`.
struct GraceJoin {
    driver: TopologyTestDriver,
}

impl GraceJoin {
    fn new(grace: Duration) -> Result<Self> {
        let builder = StreamsBuilder::new();
        let consumed = || Consumed::with(Serdes::i64(), Serdes::string());
        let stream = builder.stream("streamTopic", consumed());
        let table = builder.table(
            "tableTopic2",
            consumed(),
            Materialized::as_versioned("V-grace", minutes(5)),
        );
        stream
            .join_table_with(
                &table,
                |a: &String, b: &String| format!("{a}+{b}"),
                Joined::with(Serdes::i64(), Serdes::string(), Serdes::string())
                    .with_name("Grace")
                    .with_grace_period(grace),
            )
            .to_with(OUTPUT, Produced::with(Serdes::i64(), Serdes::string()));
        Ok(GraceJoin {
            driver: TopologyTestDriver::new(builder.build()?)?,
        })
    }

    /// `pushToStream`: keys 0..count, values `<prefix><key>`, timestamps = keys.
    fn push_to_stream(&self, count: i64, prefix: &str) -> Result<()> {
        let input = self
            .driver
            .input_topic("streamTopic", Serdes::i64(), Serdes::string());
        for k in 0..count {
            input.pipe_input(k, format!("{prefix}{k}"), k)?;
        }
        Ok(())
    }

    /// `pushToTableNonRandom`: keys 0..count, values `<prefix><key>`, timestamp 0.
    fn push_to_table(&self, count: i64, prefix: &str) -> Result<()> {
        let input = self
            .driver
            .input_topic("tableTopic2", Serdes::i64(), Serdes::string());
        for k in 0..count {
            input.pipe_input(k, format!("{prefix}{k}"), 0)?;
        }
        Ok(())
    }

    fn read(&self) -> Result<Vec<(i64, String, i64)>> {
        Ok(self
            .driver
            .output_topic(OUTPUT, Serdes::i64(), Serdes::string())
            .read_records()?
            .into_iter()
            .map(|r| (r.key, r.value, r.timestamp))
            .collect())
    }
}

fn out(records: &[(i64, &str, i64)]) -> Vec<(i64, String, i64)> {
    records
        .iter()
        .map(|(k, v, t)| (*k, v.to_string(), *t))
        .collect()
}

#[test]
fn grace_delays_the_join_and_late_table_updates_are_seen() -> Result<()> {
    // Kafka: KStreamKTableJoinTest.shouldDelayJoinByGracePeriod
    let join = GraceJoin::new(Duration::from_millis(2))?;
    join.push_to_table(4, "Y")?;
    assert_eq!(join.read()?, out(&[]));
    join.push_to_stream(4, "X")?;
    assert_eq!(join.read()?, out(&[(0, "X0+Y0", 0), (1, "X1+Y1", 1)]));
    join.push_to_table(4, "YY")?;
    assert_eq!(join.read()?, out(&[]));
    join.push_to_stream(4, "X")?;
    assert_eq!(join.read()?, out(&[(0, "X0+YY0", 0), (1, "X1+YY1", 1)]));
    join.driver
        .input_topic("streamTopic", Serdes::i64(), Serdes::string())
        .pipe_input(5, "test".to_string(), 7)?;
    assert_eq!(
        join.read()?,
        out(&[
            (2, "X2+YY2", 2),
            (2, "X2+YY2", 2),
            (3, "X3+YY3", 3),
            (3, "X3+YY3", 3)
        ])
    );
    join.push_to_table(4, "YYY")?;
    assert_eq!(join.read()?, out(&[]));
    Ok(())
}

#[test]
fn records_later_than_the_grace_period_join_at_once() -> Result<()> {
    // Kafka: KStreamKTableJoinTest.shouldHandleLateJoinsWithGracePeriod
    let join = GraceJoin::new(Duration::from_millis(2))?;
    join.push_to_table(4, "Y")?;
    assert_eq!(join.read()?, out(&[]));
    join.push_to_stream(4, "X")?;
    assert_eq!(join.read()?, out(&[(0, "X0+Y0", 0), (1, "X1+Y1", 1)]));
    // Processed immediately, evicting nothing else.
    join.push_to_stream(1, "X")?;
    assert_eq!(join.read()?, out(&[(0, "X0+Y0", 0)]));
    Ok(())
}

/// The error message `build` reports for a topology, if it fails.
fn build_error(builder: &StreamsBuilder) -> Option<String> {
    builder.build().err().map(|e| e.report().to_string())
}

fn join_with_grace(builder: &StreamsBuilder, table: &KTable<String, String>, grace: Duration) {
    builder
        .stream("topic", Consumed::with(Serdes::string(), Serdes::string()))
        .join_table_with(
            table,
            |a: &String, b: &String| format!("{a}{b}"),
            Joined::as_("first-join").with_grace_period(grace),
        )
        .to("out-one");
}

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

#[test]
fn a_grace_period_needs_a_versioned_table() {
    // Kafka: KStreamKTableJoinTest.shouldFailIfTableIsNotVersioned
    let builder = StreamsBuilder::new();
    let table = builder.table("topic2", strings(), Materialized::default());
    join_with_grace(&builder, &table, Duration::from_millis(6));
    let error = build_error(&builder).expect("refused");
    assert!(
        error.contains("KTable must be versioned to use a grace period in a stream table join"),
        "{error}"
    );

    // Kafka: KStreamKTableJoinTest.shouldFailIfTableIsNotVersionedButMaterializationIsInherited
    let builder = StreamsBuilder::new();
    let source = builder.table("topic2", strings(), Materialized::as_("tableB"));
    join_with_grace(
        &builder,
        &source.filter(|_k, _v| true),
        Duration::from_millis(6),
    );
    let error = build_error(&builder).expect("refused");
    assert!(error.contains("must be versioned"), "{error}");
}

#[test]
fn a_grace_period_may_use_a_versioned_table_inherited_through_a_filter() -> Result<()> {
    // Kafka: KStreamKTableJoinTest.shouldNotFailIfTableIsVersionedButMaterializationIsInherited
    let builder = StreamsBuilder::new();
    let source = builder.table(
        "topic2",
        strings(),
        Materialized::as_versioned("tableB", minutes(5)),
    );
    let filtered = source.filter(|_k, _v| true);
    assert!(filtered.is_versioned());
    join_with_grace(&builder, &filtered, Duration::from_millis(6));
    builder.build()?;
    Ok(())
}

#[test]
fn a_grace_period_must_not_exceed_the_history_retention() {
    // Kafka: KStreamKTableJoinTest.shouldFailIfGracePeriodIsLongerThanHistoryRetention
    let builder = StreamsBuilder::new();
    let table = builder.table(
        "topic2",
        strings(),
        Materialized::as_versioned("tableB", minutes(5)),
    );
    join_with_grace(&builder, &table, minutes(6));
    let error = build_error(&builder).expect("refused");
    assert!(
        error.contains("History retention must be at least grace period"),
        "{error}"
    );

    // Kafka: KStreamKTableJoinTest.shouldFailIfGracePeriodIsLongerThanHistoryRetentionAndInheritedStore
    let builder = StreamsBuilder::new();
    let source = builder.table(
        "topic2",
        strings(),
        Materialized::as_versioned("V-grace", Duration::ZERO),
    );
    join_with_grace(
        &builder,
        &source.filter(|_k, _v| true),
        Duration::from_millis(6),
    );
    let error = build_error(&builder).expect("refused");
    assert!(
        error.contains("History retention must be at least grace period"),
        "{error}"
    );
}

/// Pipes string records into `topic`.
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

fn read_strings(
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

fn rows(expected: &[(&str, Option<&str>, i64)]) -> Vec<(String, Option<String>, i64)> {
    expected
        .iter()
        .map(|(k, v, t)| (k.to_string(), v.map(String::from), *t))
        .collect()
}

#[test]
fn a_filter_below_a_versioned_table_forwards_every_delete() -> Result<()> {
    // Kafka: KTableFilterTest.shouldNotSkipNullIfVersionedUpstream
    let builder = StreamsBuilder::new();
    let table = builder.table(
        "topic1",
        strings(),
        Materialized::as_versioned("versioned", minutes(5)),
    );
    table.to_stream().to("source-out");
    table
        .filter(|_k, v: &String| v.eq_ignore_ascii_case("accept"))
        .to_stream()
        .to("filter-out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    pipe(
        &driver,
        "topic1",
        &[
            ("A", Some("reject"), 5),
            ("B", Some("reject"), 10),
            ("C", Some("reject"), 20),
        ],
    )?;
    assert_eq!(
        read_strings(&driver, "source-out")?,
        rows(&[
            ("A", Some("reject"), 5),
            ("B", Some("reject"), 10),
            ("C", Some("reject"), 20)
        ])
    );
    assert_eq!(
        read_strings(&driver, "filter-out")?,
        rows(&[("A", None, 5), ("B", None, 10), ("C", None, 20)])
    );
    Ok(())
}

#[test]
fn a_versioned_filter_below_an_unversioned_table_skips_deletes_of_rows_never_passed() -> Result<()>
{
    // Kafka: KTableFilterTest.shouldSkipNullIfVersionedDownstream. The grouping below asks the
    // filter for old values; whether the filter may then skip a delete of a row it never passed
    // depends on its input table (unversioned here), not on its own store being versioned.
    let builder = StreamsBuilder::new();
    let table = builder.table("topic1", strings(), Materialized::as_("store"));
    let filtered = table.filter_materialized(
        |_k, v: &String| v.eq_ignore_ascii_case("accept"),
        Materialized::as_versioned("versioned", minutes(5)),
    );
    assert!(filtered.is_versioned() && !table.is_versioned());
    filtered
        .group_by(
            |k: &String, v: &String| (k.clone(), v.clone()),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .reduce(
            |a: String, b: String| a + &b,
            |a: String, _b: String| a,
            Materialized::as_("reduced"),
        )
        .to_stream()
        .to("reduce-out");
    filtered.to_stream().to("filter-out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    pipe(
        &driver,
        "topic1",
        &[
            ("A", Some("reject"), 5),
            ("B", Some("reject"), 10),
            ("C", Some("reject"), 20),
        ],
    )?;
    assert_eq!(read_strings(&driver, "filter-out")?, rows(&[]));
    assert_eq!(read_strings(&driver, "reduce-out")?, rows(&[]));
    Ok(())
}

fn no_cache() -> StreamsConfig {
    let mut config = StreamsConfig::new();
    config.set("statestore.cache.max.bytes", "0");
    config
}

#[test]
fn aggregating_a_versioned_table_ignores_out_of_order_updates() -> Result<()> {
    // Kafka: KTableAggregateTest.testAggOfVersionedStore ("null" and "NULL" select a null key)
    let builder = StreamsBuilder::new();
    builder
        .table(
            "topic1",
            strings(),
            Materialized::as_versioned("versioned", minutes(5)),
        )
        .group_by(
            |key: &String, value: &String| match key.as_str() {
                "null" | "NULL" => (None, value.clone()),
                _ => (Some(value.clone()), value.clone()),
            },
            Grouped::with(Serdes::nullable(Serdes::string()), Serdes::string()),
        )
        .aggregate(
            || "0".to_string(),
            |_k: &Option<String>, v: String, agg: String| format!("{agg}+{v}"),
            |_k: &Option<String>, v: String, agg: String| format!("{agg}-{v}"),
            Materialized::as_("topic1-Canonized").with_value_serde(Serdes::string()),
        )
        .to_stream()
        .map(|k: Option<String>, v: Option<String>| (k.unwrap_or_default(), v))
        .to_with(
            "output",
            Produced::with(Serdes::string(), Serdes::nullable(Serdes::string())),
        );
    let driver = TopologyTestDriver::with_config(builder.build()?, &no_cache())?;
    pipe(
        &driver,
        "topic1",
        &[
            ("A", Some("1"), 10),
            ("A", None, 15),
            ("A", Some("1"), 12), // out of order: ignored
            ("B", Some("2"), 20),
            ("null", Some("3"), 25),
            ("B", Some("4"), 23),
            ("NULL", Some("5"), 24),
            ("B", Some("7"), 22), // out of order: ignored
        ],
    )?;
    assert_eq!(
        read_strings(&driver, "output")?,
        rows(&[
            ("1", Some("0+1"), 10),
            ("1", Some("0+1-1"), 15),
            ("2", Some("0+2"), 20),
            ("2", Some("0+2-2"), 23),
            ("4", Some("0+4"), 23),
        ])
    );
    Ok(())
}

#[test]
fn counting_a_versioned_table_ignores_out_of_order_updates() -> Result<()> {
    // Kafka: KTableAggregateTest.testCountOfVersionedStore
    let builder = StreamsBuilder::new();
    builder
        .table(
            "count-test-input",
            strings(),
            Materialized::as_versioned("versioned", minutes(5)),
        )
        .group_by(
            |_k, v: &String| (v.clone(), v.clone()),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::default())
        .to_stream()
        .to_with(
            "output",
            Produced::with(Serdes::string(), Serdes::nullable(Serdes::u64())),
        );
    let driver = TopologyTestDriver::with_config(builder.build()?, &no_cache())?;
    pipe(
        &driver,
        "count-test-input",
        &[
            ("A", Some("green"), 10),
            ("B", Some("green"), 9),
            ("A", Some("blue"), 12),
            ("A", Some("blue"), 11), // out of order: ignored
            ("C", Some("yellow"), 15),
            ("D", Some("green"), 11),
        ],
    )?;
    let counts: Vec<(String, Option<u64>, i64)> = driver
        .output_topic("output", Serdes::string(), Serdes::nullable(Serdes::u64()))
        .read_records()?
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp))
        .collect();
    let expected: Vec<(String, Option<u64>, i64)> = [
        ("green", 1, 10),
        ("green", 2, 10),
        ("green", 1, 12),
        ("blue", 1, 12),
        ("yellow", 1, 15),
        ("green", 2, 12),
    ]
    .iter()
    .map(|(k, n, t)| (k.to_string(), Some(*n), *t))
    .collect();
    assert_eq!(counts, expected);
    Ok(())
}

#[test]
fn a_versioned_source_forwards_out_of_order_updates_but_drops_expired_ones() -> Result<()> {
    // Kafka: KTableSource with a versioned store (KIP-914) — out-of-order updates are put in
    // history and still forwarded (to_stream sees them); updates older than the history
    // retention are neither stored nor forwarded, and are counted as dropped.
    let builder = StreamsBuilder::new();
    builder
        .table(
            "input",
            strings(),
            Materialized::as_versioned("versioned", Duration::from_millis(100)),
        )
        .to_stream()
        .to("output");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    pipe(
        &driver,
        "input",
        &[
            ("k", Some("v1"), 1_000),
            ("k", Some("v3"), 1_300),
            ("k", Some("v2"), 1_200),   // out of order, within retention
            ("k", Some("late"), 1_199), // older than 1_300 - 100: dropped
            ("k", None, 1_250),         // an out-of-order delete
        ],
    )?;
    assert_eq!(
        read_strings(&driver, "output")?,
        rows(&[
            ("k", Some("v1"), 1_000),
            ("k", Some("v3"), 1_300),
            ("k", Some("v2"), 1_200),
            ("k", None, 1_250),
        ])
    );
    assert_eq!(driver.dropped_records(), 1);
    let store = driver.versioned_key_value_store::<String, String>("versioned")?;
    let k = "k".to_string();
    let latest = store.get(&k)?.expect("latest");
    assert_eq!((latest.value.as_str(), latest.timestamp), ("v3", 1_300));
    let at = |t| -> Result<Option<(String, i64, Option<i64>)>> {
        Ok(store
            .get_as_of(&k, t)?
            .map(|r| (r.value, r.timestamp, r.valid_to)))
    };
    assert_eq!(at(1_210)?, Some(("v2".into(), 1_200, Some(1_250))));
    assert_eq!(at(1_260)?, None, "deleted from 1_250 until 1_300");
    assert_eq!(
        at(1_199)?,
        None,
        "past history retention: only the latest answers"
    );
    assert_eq!(
        store.put(&k, &"direct".to_string(), 1_280)?,
        PutOutcome::ValidTo(1_300),
        "the driver's store handle writes too"
    );
    Ok(())
}

#[test]
fn a_versioned_table_stays_versioned_through_map_values_and_its_joins_look_up_by_time() -> Result<()>
{
    // KIP-889's motivating example: a stream record out of order by timestamp joins the table
    // as of its own timestamp, through a mapValues of the versioned table.
    let builder = StreamsBuilder::new();
    let table = builder
        .table(
            "b",
            strings(),
            Materialized::as_versioned("b-store", minutes(5)),
        )
        .map_values(|_k, v: String| v.to_uppercase());
    assert!(table.is_versioned());
    builder
        .stream("a", strings())
        .join_table(&table, |a: &String, b: &String| format!("({a}, {b})"))
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    pipe(&driver, "b", &[("k", Some("b0"), 0)])?;
    pipe(&driver, "a", &[("k", Some("a1"), 1)])?;
    pipe(&driver, "b", &[("k", Some("b3"), 3)])?;
    pipe(&driver, "a", &[("k", Some("a4"), 4), ("k", Some("a2"), 2)])?;
    assert_eq!(
        read_strings(&driver, "out")?,
        rows(&[
            ("k", Some("(a1, B0)"), 1),
            ("k", Some("(a4, B3)"), 4),
            ("k", Some("(a2, B0)"), 2),
        ])
    );
    Ok(())
}

#[test]
fn versioned_stores_refuse_what_kafka_refuses() {
    // Kafka: StreamsBuilderTest.shouldThrowOnVersionedStoreSupplierForGlobalTable
    let builder = StreamsBuilder::new();
    builder.global_table(
        "global",
        strings(),
        Materialized::as_versioned("store", Duration::ZERO),
    );
    let error = build_error(&builder).expect("refused");
    assert!(
        error.contains("GlobalTables cannot be versioned"),
        "{error}"
    );

    // Kafka: KTableImpl.suppress — "suppress() is only supported for non-versioned KTables"
    // (our suppress takes windowed tables, which cannot be versioned: the windowed
    // aggregation refuses a versioned store instead).
    let builder = StreamsBuilder::new();
    builder
        .stream("s", strings())
        .group_by_key()
        .windowed_by(streams_core::dsl::TimeWindows::of_size_with_no_grace(
            minutes(1),
        ))
        .count(Materialized::as_versioned("w", minutes(5)));
    let error = build_error(&builder).expect("refused");
    assert!(error.contains("cannot be versioned"), "{error}");
}

/// What a versioned store should hold: per key, timestamp → value (`None`: deleted).
type Tracker = std::collections::BTreeMap<i64, std::collections::BTreeMap<i64, Option<String>>>;

/// Kafka's `VersionedStoreContentCheckerProcessor`: writes each record to the versioned store
/// (`"delete"` calls `delete`, a null value puts a tombstone) and forwards how many of its
/// checks of the store's contents (every version it wrote, and each key's latest) failed.
struct ContentChecker {
    store: Option<streams_core::state::VersionedKeyValueStoreHandle<i64, Option<String>>>,
    data: Tracker,
}

impl streams_core::processor::Processor for ContentChecker {
    type KeyIn = i64;
    type ValueIn = Option<String>;
    type KeyOut = i64;
    type ValueOut = u64;

    fn init(
        &mut self,
        ctx: &mut streams_core::processor::ProcessorContext<'_, i64, u64>,
    ) -> streams_core::processor::ProcessResult {
        self.store = Some(ctx.versioned_key_value_store("versioned-store")?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut streams_core::processor::ProcessorContext<'_, i64, u64>,
        record: streams_core::processor::Record<i64, Option<String>>,
    ) -> streams_core::processor::ProcessResult {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let (key, ts) = (record.key, record.timestamp);
        let value = if record.value.as_deref() == Some("delete") {
            store.delete(&key, ts)?;
            None
        } else {
            store.put(&key, &record.value, ts)?;
            record.value.clone()
        };
        self.data.entry(key).or_default().insert(ts, value);
        let mut failed = 0;
        for (key, versions) in &self.data {
            let matches = |found: Option<streams_core::state::VersionedRecord<Option<String>>>,
                           expected: &Option<String>,
                           at: i64| match (found, expected) {
                (None, None) => true,
                (Some(r), Some(v)) => r.value.as_ref() == Some(v) && r.timestamp == at,
                _ => false,
            };
            for (at, expected) in versions {
                failed += u64::from(!matches(store.get_as_of(key, *at)?, expected, *at));
            }
            if let Some((at, expected)) = versions.iter().next_back() {
                failed += u64::from(!matches(store.get(key)?, expected, *at));
            }
        }
        Ok(ctx.forward(record.with_value(failed))?)
    }
}

#[test]
fn a_processor_puts_gets_and_deletes_through_a_versioned_store() -> Result<()> {
    // Kafka: VersionedKeyValueStoreIntegrationTest.shouldPutGetAndDelete (through the driver)
    let builder = StreamsBuilder::new();
    builder.add_state_store(streams_core::state::StoreBuilder::versioned_key_value(
        "versioned-store",
        Duration::from_secs(60),
        Serdes::i64(),
        Serdes::nullable(Serdes::string()),
    ));
    builder
        .stream(
            "input",
            Consumed::with(Serdes::i64(), Serdes::nullable(Serdes::string())),
        )
        .process(
            || ContentChecker {
                store: None,
                data: Tracker::new(),
            },
            &["versioned-store"],
        )
        .to_with("output", Produced::with(Serdes::i64(), Serdes::u64()));
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let input = driver.input_topic("input", Serdes::i64(), Serdes::nullable(Serdes::string()));
    let base = 1_000;
    let batches: [(i64, [Option<&str>; 3]); 5] = [
        (0, [Some("a0"), Some("b0"), None]),
        (5, [Some("a5"), None, Some("c5")]),
        (2, [Some("a2"), Some("b2"), None]),     // out of order
        (5, [Some("a5_new"), Some("b5"), None]), // replaces
        (7, [Some("delete"), Some("delete"), Some("delete")]),
    ];
    let mut sent = 0;
    for (offset, values) in batches {
        for (key, value) in (1i64..).zip(values) {
            input.pipe_input(key, value.map(String::from), base + offset)?;
            sent += 1;
        }
    }
    let failures: Vec<u64> = driver
        .output_topic("output", Serdes::i64(), Serdes::u64())
        .read_records()?
        .into_iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(failures, vec![0; sent]);
    let store = driver.versioned_key_value_store::<i64, Option<String>>("versioned-store")?;
    assert_eq!(store.get(&1)?, None, "deleted at 7");
    assert_eq!(
        store
            .get_as_of(&1, base + 6)?
            .map(|r| (r.value, r.timestamp, r.valid_to)),
        Some((Some("a5_new".to_string()), base + 5, Some(base + 7)))
    );
    Ok(())
}
