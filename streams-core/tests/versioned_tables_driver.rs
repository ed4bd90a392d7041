//! Versioned tables through the driver (KIP-889, KIP-914): filters, aggregations, sources and
//! `map_values` of versioned tables, with scenarios ported from Kafka Streams' own tests; each
//! test names the Kafka test it ports. Joins are in `versioned_table_joins_driver.rs` and
//! `versioned_stream_joins_driver.rs`.

mod versioned;

use versioned::*;

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
