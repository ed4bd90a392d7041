//! Records a hostile producer or a careless operator can send, through the test driver: each
//! test here reproduces one way such input used to crash, hang or corrupt an application, and
//! checks the record is now processed, skipped by policy (and counted), or fails naming it.

use std::time::Duration;

use streams_core::dsl::{
    Consumed, JoinWindows, Materialized, Produced, SessionWindows, SlidingWindows, StreamJoined,
    StreamsBuilder, TimeWindows, Windowed, WindowedSerde,
};
use streams_core::processor::{Processor, ProcessorContext, Record};
use streams_core::serde::Serdes;
use streams_core::state::StoreBuilder;
use streams_core::testing::TopologyTestDriver;
use streams_core::{Error, StreamsConfig, Topology};

fn config(pairs: &[(&str, &str)]) -> StreamsConfig {
    let mut config = StreamsConfig::new();
    config.set("application.id", "hostile");
    for (k, v) in pairs {
        config.set(*k, *v);
    }
    config
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Payment {
    account: String,
    cents: i64,
    tags: Vec<String>,
}

/// 13 bytes whose length prefix claims a 16 TiB string: bincode used to allocate it first.
fn bincode_poison() -> Vec<u8> {
    let mut poison = vec![253u8];
    poison.extend_from_slice(&(1u64 << 44).to_le_bytes());
    poison.extend_from_slice(b"abcd");
    poison
}

fn payments() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "payments",
            Consumed::with(Serdes::string(), Serdes::bincode::<Payment>()),
        )
        .map_values(|p: Payment| p.cents)
        .to_with("cents", Produced::with(Serdes::string(), Serdes::i64()));
    builder.build().expect("topology")
}

#[test]
fn a_bincode_length_prefix_past_the_input_is_bad_input_not_an_abort() {
    let driver = TopologyTestDriver::with_config(
        payments(),
        &config(&[(
            "default.deserialization.exception.handler",
            "log_and_continue",
        )]),
    )
    .expect("driver");
    let input = driver.input_topic("payments", Serdes::string(), Serdes::bincode::<Payment>());
    input
        .pipe_raw(Some(b"k"), Some(&bincode_poison()), 1)
        .expect("skipped");
    input
        .pipe_input(
            "k".into(),
            Payment {
                account: "a".into(),
                cents: 250,
                tags: vec!["x".into()],
            },
            2,
        )
        .expect("processed");
    assert_eq!(driver.dropped_records(), 1);
    let out = driver.output_topic("cents", Serdes::string(), Serdes::i64());
    assert_eq!(
        out.read_key_values().expect("read"),
        vec![("k".into(), 250)]
    );

    let driver = TopologyTestDriver::with_config(payments(), &config(&[])).expect("driver");
    let input = driver.input_topic("payments", Serdes::string(), Serdes::bincode::<Payment>());
    let err = input
        .pipe_raw(Some(b"k"), Some(&bincode_poison()), 1)
        .expect_err("fail policy");
    assert!(
        matches!(&err, Error::Deserialization { topic, offset: 0, field: "value", .. } if topic == "payments"),
        "{err:?}"
    );
    assert!(err.to_string().contains("payments-0@0"), "{err}");
}

/// Windowed counts of every kind over `input`, for timestamps near the end of time.
fn windowed(kind: &str) -> Topology {
    let builder = StreamsBuilder::new();
    let grouped = builder
        .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key();
    let ms = Duration::from_millis;
    let windowed_serde = |size: u64| -> streams_core::serde::SharedSerde<Windowed<String>> {
        std::sync::Arc::new(WindowedSerde::time(Serdes::string(), ms(size)))
    };
    let (table, serde) = match kind {
        "time" => (
            grouped
                .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)).advance_by(ms(5)))
                .count(Materialized::as_("counts")),
            windowed_serde(10),
        ),
        "sliding" => (
            grouped
                .windowed_by(SlidingWindows::of_time_difference_and_grace(ms(10), ms(5)))
                .count(Materialized::as_("counts")),
            windowed_serde(10),
        ),
        "session" => (
            grouped
                .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(5)))
                .count(Materialized::as_("counts")),
            std::sync::Arc::new(WindowedSerde::session(Serdes::string()))
                as streams_core::serde::SharedSerde<Windowed<String>>,
        ),
        other => panic!("no window kind {other}"),
    };
    table.to_stream().to_with(
        "out",
        Produced::with(serde, Serdes::nullable(Serdes::u64())),
    );
    builder.build().expect("topology")
}

#[test]
fn timestamps_near_the_end_of_time_do_not_hang_windows() {
    let late = i64::MAX - 3;
    for kind in ["time", "sliding", "session"] {
        // Default (fail): the record fails, naming the node and the record.
        let driver = TopologyTestDriver::with_config(windowed(kind), &config(&[])).expect("driver");
        let input = driver.input_topic("input", Serdes::string(), Serdes::string());
        input.pipe_input("k".into(), "v".into(), 5).expect("normal");
        let err = input
            .pipe_input("k".into(), "v".into(), late)
            .expect_err("unwindowable");
        assert!(
            matches!(&err, Error::InvalidTimestamp { timestamp, offset: 1, node, .. }
                if *timestamp == late && node.contains("AGGREGATE")),
            "{kind}: {err:?}"
        );
        // log_and_skip: skipped and counted, the next record processed.
        let driver = TopologyTestDriver::with_config(
            windowed(kind),
            &config(&[("default.timestamp.extractor", "log_and_skip")]),
        )
        .expect("driver");
        let input = driver.input_topic("input", Serdes::string(), Serdes::string());
        input
            .pipe_input("k".into(), "v".into(), late)
            .expect("skipped");
        input.pipe_input("k".into(), "v".into(), 7).expect("normal");
        assert_eq!(driver.dropped_records(), 1, "{kind}");
        let out = driver.output_topic("out", Serdes::bytes(), Serdes::nullable(Serdes::u64()));
        assert!(!out.is_empty(), "{kind}: the later record was counted");
    }
    // Windows themselves stop at the end of time.
    let w = TimeWindows::of_size_with_no_grace(Duration::from_millis(10))
        .advance_by(Duration::from_millis(1));
    assert!(w.windows_for(i64::MAX).is_empty());
    assert!(w.windows_for(i64::MAX - 9).is_empty());
    assert_eq!(w.windows_for(i64::MAX - 10).len(), 10);
}

#[test]
fn a_join_at_the_end_of_time_does_not_overflow() {
    let builder = StreamsBuilder::new();
    let left = builder.stream("left", Consumed::with(Serdes::string(), Serdes::string()));
    let right = builder.stream("right", Consumed::with(Serdes::string(), Serdes::string()));
    left.outer_join(
        &right,
        |l: Option<&String>, r: Option<&String>| format!("{l:?}+{r:?}"),
        JoinWindows::of_time_difference_and_grace(Duration::from_millis(10), Duration::ZERO),
        StreamJoined::with(Serdes::string(), Serdes::string(), Serdes::string()),
    )
    .to("joined");
    let topology = builder.build().expect("topology");
    let driver = TopologyTestDriver::with_config(
        topology,
        &config(&[("default.timestamp.extractor", "log_and_skip")]),
    )
    .expect("driver");
    let left = driver.input_topic("left", Serdes::string(), Serdes::string());
    left.pipe_input("k".into(), "a".into(), i64::MAX - 1)
        .expect("skipped");
    left.pipe_input("k".into(), "b".into(), 100)
        .expect("normal");
    assert_eq!(driver.dropped_records(), 1);
}

#[test]
fn negative_timestamps_follow_the_timestamp_policy() {
    let topology = || {
        let builder = StreamsBuilder::new();
        builder
            .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
            .to("out");
        builder.build().expect("topology")
    };
    // Default: fail, naming the record; nothing after it is processed by that call.
    let driver = TopologyTestDriver::with_config(topology(), &config(&[])).expect("driver");
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    input.pipe_input("k".into(), "a".into(), 10).expect("valid");
    let err = input
        .pipe_input("k".into(), "b".into(), -5)
        .expect_err("negative");
    assert!(
        matches!(
            &err,
            Error::InvalidTimestamp {
                timestamp: -5,
                offset: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("input-0@1"), "{err}");

    // log_and_skip: dropped and counted.
    let driver = TopologyTestDriver::with_config(
        topology(),
        &config(&[(
            "default.timestamp.extractor",
            "LogAndSkipOnInvalidTimestamp",
        )]),
    )
    .expect("driver");
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    input.pipe_input("k".into(), "a".into(), 10).expect("valid");
    input
        .pipe_input("k".into(), "b".into(), -5)
        .expect("skipped");
    assert_eq!(driver.dropped_records(), 1);
    let out = driver.output_topic("out", Serdes::string(), Serdes::string());
    assert_eq!(out.len(), 1);

    // use_partition_time: the partition's highest timestamp so far replaces it; with none
    // seen yet the record fails.
    let driver = TopologyTestDriver::with_config(
        topology(),
        &config(&[("default.timestamp.extractor", "use_partition_time")]),
    )
    .expect("driver");
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    let err = input
        .pipe_input("k".into(), "first".into(), -1)
        .expect_err("no partition time yet");
    assert!(err.to_string().contains("partition time"), "{err}");
    input.pipe_input("k".into(), "a".into(), 30).expect("valid");
    input.pipe_input("k".into(), "b".into(), 20).expect("valid");
    input
        .pipe_input("k".into(), "c".into(), -7)
        .expect("re-stamped");
    let out = driver.output_topic("out", Serdes::string(), Serdes::string());
    let stamps: Vec<(String, i64)> = out
        .read_records()
        .expect("read")
        .into_iter()
        .map(|r| (r.value, r.timestamp))
        .collect();
    assert_eq!(
        stamps,
        vec![("a".into(), 30), ("b".into(), 20), ("c".into(), 30)]
    );
    assert_eq!(driver.dropped_records(), 0);
}

#[test]
fn a_custom_extractor_returning_a_negative_timestamp_follows_the_policy_too() {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "input",
            Consumed::with(Serdes::string(), Serdes::i64())
                .with_timestamp_extractor(|_k, v: &i64, _ts| *v),
        )
        .to_with("out", Produced::with(Serdes::string(), Serdes::i64()));
    let driver = TopologyTestDriver::with_config(builder.build().expect("topology"), &config(&[]))
        .expect("driver");
    let input = driver.input_topic("input", Serdes::string(), Serdes::i64());
    let err = input
        .pipe_input("k".into(), -9, 100)
        .expect_err("negative extracted timestamp");
    assert!(err.to_string().contains("extractor"), "{err}");
}

/// A processor that panics on its second record: the error names it.
struct Fragile {
    seen: u32,
}

impl Processor for Fragile {
    type KeyIn = String;
    type ValueIn = String;
    type KeyOut = String;
    type ValueOut = String;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> streams_core::processor::ProcessResult {
        self.seen += 1;
        assert!(self.seen < 2, "fragile gave up");
        Ok(ctx.forward(record)?)
    }
}

#[test]
fn a_panic_names_the_processor_that_panicked() {
    let mut topology = Topology::new();
    topology
        .add_source("in", &["input"], Serdes::string(), Serdes::string())
        .expect("source")
        .add_processor("upper", || Upper, &["in"])
        .expect("upper")
        .add_processor("fragile", || Fragile { seen: 0 }, &["upper"])
        .expect("fragile")
        .add_sink(
            "out",
            "output",
            Serdes::string(),
            Serdes::string(),
            &["fragile"],
        )
        .expect("sink");
    let driver = TopologyTestDriver::with_config(topology, &config(&[])).expect("driver");
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    input.pipe_input("k".into(), "a".into(), 1).expect("first");
    let err = input
        .pipe_input("k".into(), "b".into(), 2)
        .expect_err("panics");
    assert!(
        matches!(&err, Error::RecordFailed { node, .. } if node == "fragile"),
        "{err:?}"
    );
    let text = err.report().to_string();
    assert!(
        text.contains("`fragile`") && text.contains("fragile gave up"),
        "{text}"
    );
    assert!(!text.contains("source of"), "{text}");
}

/// Upper-cases values.
struct Upper;

impl Processor for Upper {
    type KeyIn = String;
    type ValueIn = String;
    type KeyOut = String;
    type ValueOut = String;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> streams_core::processor::ProcessResult {
        let upper = record.value.to_uppercase();
        Ok(ctx.forward(record.with_value(upper))?)
    }
}

/// Stores each record's value, `None` for an empty one, in a store of nullable values.
struct Remember;

impl Processor for Remember {
    type KeyIn = String;
    type ValueIn = String;
    type KeyOut = String;
    type ValueOut = String;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> streams_core::processor::ProcessResult {
        let store = ctx.key_value_store::<String, Option<u64>>("remembered")?;
        let value = record.value.parse::<u64>().ok();
        store.put(&record.key, &value)?;
        // Reading back what was just written must work, null or not.
        let read = store.get(&record.key)?;
        if read.is_some() != value.is_some() || read.is_some_and(|r| r != value) {
            return Err(format!("wrote {value:?}, read {read:?}").into());
        }
        Ok(ctx.forward(record)?)
    }
}

#[test]
fn a_null_value_in_a_store_reads_back_as_absent_never_as_empty() {
    for cached in [false, true] {
        let mut topology = Topology::new();
        topology
            .add_source("in", &["input"], Serdes::string(), Serdes::string())
            .expect("source")
            .add_processor("remember", || Remember, &["in"])
            .expect("processor")
            .add_state_store(
                {
                    let store = StoreBuilder::key_value(
                        "remembered",
                        Serdes::string(),
                        Serdes::nullable(Serdes::u64()),
                    );
                    if cached {
                        store.with_caching_enabled()
                    } else {
                        store
                    }
                },
                &["remember"],
            )
            .expect("store");
        let driver = TopologyTestDriver::with_config(topology, &config(&[])).expect("driver");
        let input = driver.input_topic("input", Serdes::string(), Serdes::string());
        input.pipe_input("a".into(), "5".into(), 1).expect("five");
        input.pipe_input("a".into(), "-".into(), 2).expect("null");
        input.pipe_input("b".into(), "-".into(), 3).expect("null");
        input.pipe_input("c".into(), "7".into(), 4).expect("seven");
        let store = driver
            .key_value_store::<String, Option<u64>>("remembered")
            .expect("store");
        assert_eq!(store.get(&"a".into()).expect("a"), None, "cached={cached}");
        assert_eq!(store.get(&"b".into()).expect("b"), None);
        assert_eq!(store.get(&"c".into()).expect("c"), Some(Some(7)));
        assert_eq!(
            store.all().expect("all"),
            vec![("c".to_string(), Some(7))],
            "a null is a delete"
        );
    }
}

#[test]
fn an_aggregate_that_becomes_null_is_a_tombstone_downstream() {
    let builder = StreamsBuilder::new();
    builder
        .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .aggregate(
            || Some(String::new()),
            |_k, v: String, agg: Option<String>| {
                if v == "reset" {
                    None
                } else {
                    Some(agg.unwrap_or_default() + &v)
                }
            },
            Materialized::as_("agg").with_value_serde(Serdes::nullable(Serdes::string())),
        )
        .to_stream()
        .to_with(
            "out",
            Produced::with(
                Serdes::string(),
                Serdes::nullable(Serdes::nullable(Serdes::string())),
            ),
        );
    let driver = TopologyTestDriver::with_config(
        builder.build().expect("topology"),
        &config(&[("statestore.cache.max.bytes", "0")]),
    )
    .expect("driver");
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    for v in ["x", "y", "reset", "z"] {
        input.pipe_input("k".into(), v.into(), 1).expect("pipe");
    }
    let out = driver.output_topic("out", Serdes::string(), Serdes::nullable(Serdes::string()));
    let values: Vec<Option<String>> = out
        .read_records()
        .expect("read")
        .into_iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(
        values,
        vec![Some("x".into()), Some("xy".into()), None, Some("z".into())],
        "the reset is a tombstone, and the next record starts from the initializer"
    );
}

#[test]
fn stream_stream_joins_never_hand_the_joiner_an_empty_value_for_null() {
    let builder = StreamsBuilder::new();
    let left = builder.stream(
        "left",
        Consumed::with(Serdes::string(), Serdes::nullable(Serdes::string())),
    );
    let right = builder.stream(
        "right",
        Consumed::with(Serdes::string(), Serdes::nullable(Serdes::string())),
    );
    left.left_join(
        &right,
        |l: &Option<String>, r: Option<&Option<String>>| {
            assert_ne!(l.as_deref(), Some(""), "left null read back as empty");
            assert_ne!(
                r.and_then(|r| r.as_deref()),
                Some(""),
                "right null read back as empty"
            );
            format!("{l:?}+{r:?}")
        },
        JoinWindows::of_time_difference_with_no_grace(Duration::from_millis(100)),
        StreamJoined::with(
            Serdes::string(),
            Serdes::nullable(Serdes::string()),
            Serdes::nullable(Serdes::string()),
        ),
    )
    .to("joined");
    let driver = TopologyTestDriver::with_config(builder.build().expect("topology"), &config(&[]))
        .expect("driver");
    let l = driver.input_topic("left", Serdes::string(), Serdes::nullable(Serdes::string()));
    let r = driver.input_topic(
        "right",
        Serdes::string(),
        Serdes::nullable(Serdes::string()),
    );
    r.pipe_input("k".into(), None, 10).expect("right null");
    l.pipe_input("k".into(), None, 11).expect("left null");
    r.pipe_input("k".into(), Some("R".into()), 12)
        .expect("right");
    l.pipe_input("k".into(), Some("L".into()), 13)
        .expect("left");
    assert_eq!(driver.dropped_records(), 2, "null values are not joined");
    let out = driver.output_topic("joined", Serdes::string(), Serdes::string());
    assert_eq!(
        out.read_key_values().expect("read"),
        vec![("k".into(), "Some(\"L\")+Some(Some(\"R\"))".into())]
    );
}

#[test]
fn nested_nulls_are_one_kafka_null() {
    let serde = Serdes::nullable(Serdes::nullable(Serdes::u64()));
    assert!(serde.is_null(&None));
    assert!(serde.is_null(&Some(None)));
    assert!(!serde.is_null(&Some(Some(0))));
}

#[test]
fn names_that_would_escape_the_state_directory_or_break_kafka_are_refused() {
    for bad in ["../../x", "/abs/olute", "", ".", "..", "a/b", "with space"] {
        let builder = StreamsBuilder::new();
        builder
            .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key()
            .count(Materialized::as_(bad))
            .to_stream()
            .to_with(
                "out",
                Produced::with(Serdes::string(), Serdes::nullable(Serdes::u64())),
            );
        let err = builder.build().expect_err("bad store name");
        assert!(
            matches!(err.errors().next(), Some(Error::InvalidName { name, .. }) if name == bad),
            "{bad:?}: {err:?}"
        );
    }
    for bad in ["", "with space", "a/b", "..", &"t".repeat(250)] {
        let builder = StreamsBuilder::new();
        builder
            .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
            .to(bad);
        let err = builder.build().expect_err("bad sink topic");
        assert!(
            matches!(err.errors().next(), Some(Error::InvalidName { what, .. }) if what == "sink topic"),
            "{bad:?}: {err:?}"
        );
        let builder = StreamsBuilder::new();
        builder
            .stream(bad, Consumed::with(Serdes::string(), Serdes::string()))
            .to("out");
        assert!(builder.build().is_err(), "source topic {bad:?} accepted");
    }
}

#[test]
fn a_topic_name_extractor_choosing_an_invalid_name_fails_under_the_production_policy() {
    let topology = || {
        let builder = StreamsBuilder::new();
        builder
            .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
            .to_dynamic(
                |_k: &String, v: &String| v.clone(),
                Produced::with(Serdes::string(), Serdes::string()),
            );
        builder.build().expect("topology")
    };
    let driver = TopologyTestDriver::with_config(topology(), &config(&[])).expect("driver");
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    input
        .pipe_input("k".into(), "good".into(), 1)
        .expect("valid topic");
    let err = input
        .pipe_input("k".into(), "".into(), 2)
        .expect_err("empty topic name");
    assert!(err.to_string().contains("invalid topic name"), "{err}");

    let driver = TopologyTestDriver::with_config(
        topology(),
        &config(&[("production.exception.handler", "continue")]),
    )
    .expect("driver");
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    input
        .pipe_input("k".into(), "bad name".into(), 1)
        .expect("lost, counted");
    input
        .pipe_input("k".into(), "good".into(), 2)
        .expect("valid topic");
    assert_eq!(driver.produced_topic_names(), vec!["good".to_string()]);
}
