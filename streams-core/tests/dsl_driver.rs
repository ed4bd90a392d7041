//! Every DSL operator of the first slice, run through the TopologyTestDriver.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use streams_core::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use streams_core::serde::Serdes;
use streams_core::state::StoreEngine;
use streams_core::testing::TopologyTestDriver;
use streams_core::{Error, Result, StreamsConfig};

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn filter_and_filter_not_split_by_predicate() -> Result<()> {
    let builder = StreamsBuilder::new();
    let input = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    input.filter(|_k, v: &i64| *v >= 100).to("big");
    input.filter_not(|_k, v: &i64| *v >= 100).to("small");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let pipe = driver.input_topic("in", Serdes::string(), Serdes::i64());
    for (i, v) in [5i64, 100, 250, 99].into_iter().enumerate() {
        pipe.pipe_input(format!("k{i}"), v, i as i64)?;
    }
    let big = driver.output_topic("big", Serdes::string(), Serdes::i64());
    let small = driver.output_topic("small", Serdes::string(), Serdes::i64());
    assert_eq!(big.read_key_values()?, vec![(s("k1"), 100), (s("k2"), 250)]);
    assert_eq!(small.read_key_values()?, vec![(s("k0"), 5), (s("k3"), 99)]);
    Ok(())
}

#[test]
fn map_changes_key_and_value_and_keeps_timestamp_and_headers() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .map(|k: String, v: String| (v, k.len() as u64))
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let mut headers = streams_core::processor::Headers::new();
    headers.add("trace", Some(b"abc".to_vec()));
    driver
        .input_topic("in", Serdes::string(), Serdes::string())
        .pipe_with_headers(s("four"), s("v"), 42, headers.clone())?;
    let out = driver
        .output_topic("out", Serdes::string(), Serdes::u64())
        .read_records()?;
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].key.as_str(), out[0].value), ("v", 4));
    assert_eq!(out[0].timestamp, 42);
    assert_eq!(out[0].headers, headers);
    Ok(())
}

#[test]
fn map_values_and_flat_map_values_keep_keys() -> Result<()> {
    let builder = StreamsBuilder::new();
    let input = builder.stream("in", strings());
    input.map_values(|v: String| v.len() as u64).to("lengths");
    input
        .flat_map_values(|v: String| v.split(',').map(String::from).collect::<Vec<_>>())
        .to("parts");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let pipe = driver.input_topic("in", Serdes::string(), Serdes::string());
    pipe.pipe_input(s("a"), s("x,yy"), 1)?;
    pipe.pipe_input(s("b"), s(""), 2)?;
    let lengths = driver.output_topic("lengths", Serdes::string(), Serdes::u64());
    assert_eq!(lengths.read_key_values()?, vec![(s("a"), 4), (s("b"), 0)]);
    let parts = driver.output_topic("parts", Serdes::string(), Serdes::string());
    assert_eq!(
        parts.read_key_values()?,
        vec![(s("a"), s("x")), (s("a"), s("yy")), (s("b"), s(""))]
    );
    Ok(())
}

#[test]
fn flat_map_values_can_emit_nothing() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .flat_map_values(|_v: String| Vec::<String>::new())
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    driver
        .input_topic("in", Serdes::string(), Serdes::string())
        .pipe_input(s("a"), s("b"), 1)?;
    assert!(
        driver
            .output_topic("out", Serdes::string(), Serdes::string())
            .is_empty()
    );
    Ok(())
}

#[test]
fn peek_sees_every_record_and_forwards_it() -> Result<()> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let builder = StreamsBuilder::new();
    let log = seen.clone();
    builder
        .stream("in", strings())
        .peek(move |k: &String, v: &String| log.lock().unwrap().push((k.clone(), v.clone())))
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let pipe = driver.input_topic("in", Serdes::string(), Serdes::string());
    pipe.pipe_input(s("a"), s("1"), 1)?;
    pipe.pipe_input(s("b"), s("2"), 2)?;
    let expected = vec![(s("a"), s("1")), (s("b"), s("2"))];
    assert_eq!(*seen.lock().unwrap(), expected);
    assert_eq!(
        driver
            .output_topic("out", Serdes::string(), Serdes::string())
            .read_key_values()?,
        expected
    );
    Ok(())
}

#[test]
fn to_with_produced_uses_the_given_serdes() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .map_values(|v: String| v.len() as i64)
        .to_with(
            "out",
            Produced::with(Serdes::string(), Serdes::json::<i64>()),
        );
    let driver = TopologyTestDriver::new(builder.build()?)?;
    driver
        .input_topic("in", Serdes::string(), Serdes::string())
        .pipe_input(s("k"), s("abc"), 1)?;
    let raw = driver
        .output_topic("out", Serdes::string(), Serdes::string())
        .read_key_values()?;
    assert_eq!(
        raw,
        vec![(s("k"), s("3"))],
        "JSON text, not big-endian bytes"
    );
    Ok(())
}

#[test]
fn a_sink_without_a_serde_for_its_type_is_a_build_error() {
    #[derive(Clone)]
    struct Opaque;
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .map_values(|_v: String| Opaque)
        .to("out");
    let err = builder.build().expect_err("no serde for Opaque");
    assert!(
        matches!(err.errors().next(), Some(Error::Topology(m)) if m.contains("Opaque") && m.contains("out")),
        "{err}"
    );
}

#[test]
fn group_by_key_count_needs_no_repartition() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("out");
    let topology = builder.build()?;
    assert_eq!(topology.describe().subtopologies.len(), 1);
    let driver = TopologyTestDriver::new(topology)?;
    let pipe = driver.input_topic("in", Serdes::string(), Serdes::string());
    for (k, t) in [("a", 1), ("b", 2), ("a", 3), ("a", 4)] {
        pipe.pipe_input(s(k), s("x"), t)?;
    }
    let out = driver.output_topic("out", Serdes::string(), Serdes::nullable(Serdes::u64()));
    let records = out.read_records()?;
    let updates: Vec<_> = records
        .iter()
        .map(|r| (r.key.clone(), r.value, r.timestamp))
        .collect();
    assert_eq!(
        updates,
        vec![
            (s("a"), Some(1), 1),
            (s("b"), Some(1), 2),
            (s("a"), Some(2), 3),
            (s("a"), Some(3), 4)
        ]
    );
    let store = driver.key_value_store::<String, u64>("counts")?;
    assert_eq!(store.all()?, vec![(s("a"), 3), (s("b"), 1)]);
    // The changelog got one record per update, keyed like the store.
    let changelog = driver.output_topic(
        "test-driver-counts-changelog",
        Serdes::string(),
        Serdes::u64(),
    );
    assert_eq!(changelog.len(), 4);
    Ok(())
}

#[test]
fn group_by_repartitions_and_counts_per_new_key() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .group_by(|_k, v: &String| v.to_lowercase())
        .count(Materialized::as_("per-word"))
        .to_stream()
        .to("out");
    let topology = builder.build()?;
    let text = topology.describe().to_string();
    assert!(
        text.contains("Sink: per-word-repartition-sink (topic: per-word-repartition)"),
        "{text}"
    );
    assert!(
        text.contains("Source: per-word-repartition-source (topics: [per-word-repartition])"),
        "{text}"
    );
    let driver = TopologyTestDriver::new(topology)?;
    let pipe = driver.input_topic("in", Serdes::string(), Serdes::string());
    for (i, w) in ["Kafka", "rust", "kafka", "KAFKA"].into_iter().enumerate() {
        pipe.pipe_input(format!("line-{i}"), s(w), i as i64)?;
    }
    let out = driver.output_topic("out", Serdes::string(), Serdes::nullable(Serdes::u64()));
    let table: BTreeMap<_, _> = out.read_key_values_to_map()?;
    assert_eq!(
        table,
        BTreeMap::from([(s("kafka"), Some(3)), (s("rust"), Some(1))])
    );
    let repartition = driver.internal_topic_name("per-word-repartition");
    assert_eq!(repartition, "test-driver-per-word-repartition");
    assert!(driver.produced_topic_names().contains(&repartition));
    Ok(())
}

#[test]
fn group_by_with_grouped_names_the_repartition_topic() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .group_by_with(|_k, v: &String| v.clone(), Grouped::as_("by-value"))
        .count(Materialized::as_("c").with_engine(StoreEngine::InMemory))
        .to_stream()
        .to("out");
    let text = builder.build()?.describe().to_string();
    assert!(text.contains("(topic: by-value-repartition)"), "{text}");
    Ok(())
}

#[test]
fn aggregations_drop_null_keys_and_count_them() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "in",
            Consumed::with(Serdes::nullable(Serdes::string()), Serdes::string()),
        )
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let pipe = driver.input_topic("in", Serdes::nullable(Serdes::string()), Serdes::string());
    pipe.pipe_input(None, s("dropped"), 1)?;
    pipe.pipe_input(Some(s("a")), s("kept"), 2)?;
    let out = driver.output_topic(
        "out",
        Serdes::nullable(Serdes::string()),
        Serdes::nullable(Serdes::u64()),
    );
    assert_eq!(out.read_key_values()?, vec![(Some(s("a")), Some(1))]);
    Ok(())
}

#[test]
fn undeserializable_records_fail_by_default_naming_topic_partition_offset() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(Serdes::string(), Serdes::u64()))
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let pipe = driver.input_topic("in", Serdes::string(), Serdes::u64());
    pipe.pipe_input(s("ok"), 1, 1)?;
    let err = pipe
        .pipe_raw(Some(b"bad"), Some(b"not eight bytes"), 2)
        .expect_err("policy is fail");
    match &err {
        Error::Deserialization {
            topic,
            partition,
            offset,
            field,
            ..
        } => {
            assert_eq!(
                (topic.as_str(), *partition, *offset, *field),
                ("in", 0, 1, "value")
            );
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("in-0@1"), "{err}");
    Ok(())
}

#[test]
fn undeserializable_records_are_skipped_under_log_and_continue() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(Serdes::string(), Serdes::u64()))
        .to("out");
    let mut config = StreamsConfig::new();
    config.set(
        "default.deserialization.exception.handler",
        "log_and_continue",
    );
    let driver = TopologyTestDriver::with_config(builder.build()?, &config)?;
    let pipe = driver.input_topic("in", Serdes::string(), Serdes::u64());
    pipe.pipe_input(s("a"), 1, 1)?;
    pipe.pipe_raw(Some(b"b"), Some(b"xx"), 2)?;
    pipe.pipe_raw(Some(&[0xff]), Some(&7u64.to_be_bytes()), 3)?;
    pipe.pipe_input(s("c"), 3, 4)?;
    let out = driver.output_topic("out", Serdes::string(), Serdes::u64());
    assert_eq!(out.read_key_values()?, vec![(s("a"), 1), (s("c"), 3)]);
    Ok(())
}

#[test]
fn null_values_reach_a_stream_only_through_a_nullable_serde() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "in",
            Consumed::with(Serdes::string(), Serdes::nullable(Serdes::string())),
        )
        .map_values(|v: Option<String>| v.is_none())
        .filter(|_k, was_null: &bool| *was_null)
        .map_values(|_| s("tombstone"))
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let pipe = driver.input_topic("in", Serdes::string(), Serdes::nullable(Serdes::string()));
    pipe.pipe_input(s("a"), None, 1)?;
    pipe.pipe_input(s("b"), Some(s("x")), 2)?;
    let out = driver.output_topic("out", Serdes::string(), Serdes::string());
    assert_eq!(out.read_key_values()?, vec![(s("a"), s("tombstone"))]);
    Ok(())
}

#[test]
fn describe_prints_kafka_streams_style_word_count() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream("streams-plaintext-input", strings())
        .flat_map_values(|v: String| v.split_whitespace().map(String::from).collect::<Vec<_>>())
        .group_by(|_k, w: &String| w.clone())
        .count(Materialized::as_("counts-store"))
        .to_stream()
        .to("streams-wordcount-output");
    let expected = "\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [streams-plaintext-input])
      --> KSTREAM-FLATMAPVALUES-0000000001
    Processor: KSTREAM-FLATMAPVALUES-0000000001 (stores: [])
      --> KSTREAM-KEY-SELECT-0000000002
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-KEY-SELECT-0000000002 (stores: [])
      --> counts-store-repartition-filter
      <-- KSTREAM-FLATMAPVALUES-0000000001
    Processor: counts-store-repartition-filter (stores: [])
      --> counts-store-repartition-sink
      <-- KSTREAM-KEY-SELECT-0000000002
    Sink: counts-store-repartition-sink (topic: counts-store-repartition)
      <-- counts-store-repartition-filter

   Sub-topology: 1
    Source: counts-store-repartition-source (topics: [counts-store-repartition])
      --> KSTREAM-AGGREGATE-0000000003
    Processor: KSTREAM-AGGREGATE-0000000003 (stores: [counts-store])
      --> KTABLE-TOSTREAM-0000000004
      <-- counts-store-repartition-source
    Processor: KTABLE-TOSTREAM-0000000004 (stores: [])
      --> KSTREAM-SINK-0000000005
      <-- KSTREAM-AGGREGATE-0000000003
    Sink: KSTREAM-SINK-0000000005 (topic: streams-wordcount-output)
      <-- KTABLE-TOSTREAM-0000000004

";
    assert_eq!(builder.build()?.describe().to_string(), expected);
    Ok(())
}

#[test]
fn build_reports_every_error_and_again_on_a_second_call() {
    #[derive(Clone)]
    struct Opaque;
    let builder = StreamsBuilder::new();
    let input = builder.stream("in", strings());
    input.to("a topic with spaces");
    input.map_values(|_v: String| Opaque).to("out");
    input
        .group_by_key()
        .count(streams_core::dsl::Materialized::as_("bad/store"));
    let first = builder.build().expect_err("three errors");
    let kinds: Vec<&str> = first
        .errors()
        .map(|e| match e {
            Error::InvalidName { what, .. } => what.as_str(),
            Error::Topology(_) => "topology",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds.len(), 3, "{first}");
    assert!(
        kinds.contains(&"sink topic") && kinds.contains(&"topology"),
        "{kinds:?}"
    );
    let text = first.to_string();
    assert!(text.starts_with("3 errors in the topology: (1) "), "{text}");
    let second = builder.build().expect_err("still broken");
    assert_eq!(second.to_string(), text, "the same errors, again");
}
