//! Stream–table joins of versioned tables through the driver (KIP-914, and KIP-923's grace
//! period), with scenarios ported from Kafka Streams' own tests; each test names the Kafka test
//! it ports.

mod versioned;

use versioned::*;

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
