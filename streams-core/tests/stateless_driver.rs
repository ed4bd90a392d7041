//! The rest of the stateless DSL, global tables, punctuation, timestamp extraction and
//! headers, through the driver.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use streams_core::dsl::{
    Branched, Consumed, Materialized, Produced, Repartitioned, StreamsBuilder,
};
use streams_core::processor::{
    FixedKeyContext, FixedKeyProcessor, FixedKeyRecord, Headers, Processor, ProcessorContext,
    Punctuation, PunctuationType, Record,
};
use streams_core::serde::Serdes;
use streams_core::state::StoreBuilder;
use streams_core::testing::TopologyTestDriver;
use streams_core::{Result, Topology};

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

fn s(v: &str) -> String {
    v.to_string()
}

fn read(driver: &TopologyTestDriver, topic: &str) -> Result<Vec<(String, String)>> {
    driver
        .output_topic(topic, Serdes::string(), Serdes::string())
        .read_key_values()
}

#[test]
fn flat_map_select_key_and_repartition_regroup_records() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .flat_map(|k: String, v: String| {
            v.split(',')
                .map(|p| (p.to_string(), k.clone()))
                .collect::<Vec<_>>()
        })
        .select_key(|k, _v: &String| k.to_uppercase())
        .repartition_with(
            Repartitioned::default()
                .with_name("upper")
                .with_partitions(3),
        )
        .to("out");
    let topology = builder.build()?;
    assert!(
        topology
            .describe()
            .to_string()
            .contains("(topic: upper-repartition)")
    );
    let driver = TopologyTestDriver::new(topology)?;
    driver
        .input_topic("in", Serdes::string(), Serdes::string())
        .pipe_input(s("k"), s("a,b"), 1)?;
    assert_eq!(
        read(&driver, "out")?,
        vec![(s("A"), s("k")), (s("B"), s("k"))]
    );
    Ok(())
}

#[test]
fn foreach_is_terminal() -> Result<()> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .foreach(move |k: &String, v: &String| log.lock().unwrap().push(format!("{k}={v}")));
    let topology = builder.build()?;
    assert!(
        topology
            .describe()
            .to_string()
            .contains("KSTREAM-FOREACH-0000000001 (stores: [])\n      --> none")
    );
    let driver = TopologyTestDriver::new(topology)?;
    driver
        .input_topic("in", Serdes::string(), Serdes::string())
        .pipe_input(s("a"), s("1"), 1)?;
    assert_eq!(*seen.lock().unwrap(), vec![s("a=1")]);
    Ok(())
}

#[test]
fn split_sends_each_record_to_its_first_matching_branch() -> Result<()> {
    let builder = StreamsBuilder::new();
    let branches = builder
        .stream("in", Consumed::with(Serdes::string(), Serdes::i64()))
        .split_named("amount-")
        .branch(|_k, v: &i64| *v >= 100, Branched::as_("large"))
        .branch(|_k, v: &i64| *v >= 10, Branched::default())
        .default_branch(Branched::default());
    let names: Vec<_> = branches.keys().cloned().collect();
    assert_eq!(names, vec![s("amount-0"), s("amount-2"), s("amount-large")]);
    for (name, stream) in &branches {
        stream.to(name);
    }
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let input = driver.input_topic("in", Serdes::string(), Serdes::i64());
    for (k, v) in [("a", 500), ("b", 50), ("c", 5), ("d", 100)] {
        input.pipe_input(s(k), v, 1)?;
    }
    let read_i64 = |t: &str| {
        driver
            .output_topic(t, Serdes::string(), Serdes::i64())
            .read_key_values()
    };
    assert_eq!(
        read_i64("amount-large")?,
        vec![(s("a"), 500), (s("d"), 100)]
    );
    assert_eq!(read_i64("amount-2")?, vec![(s("b"), 50)]);
    assert_eq!(read_i64("amount-0")?, vec![(s("c"), 5)]);
    Ok(())
}

#[test]
fn merge_combines_two_streams() -> Result<()> {
    let builder = StreamsBuilder::new();
    let a = builder.stream("a", strings());
    let b = builder
        .stream("b", strings())
        .map_values(|v: String| v.to_uppercase());
    a.merge(&b).to("out");
    let topology = builder.build()?;
    assert_eq!(
        topology.describe().subtopologies.len(),
        1,
        "merge joins both sources into one sub-topology"
    );
    let driver = TopologyTestDriver::new(topology)?;
    driver
        .input_topic("a", Serdes::string(), Serdes::string())
        .pipe_input(s("1"), s("x"), 1)?;
    driver
        .input_topic("b", Serdes::string(), Serdes::string())
        .pipe_input(s("2"), s("y"), 2)?;
    assert_eq!(
        read(&driver, "out")?,
        vec![(s("1"), s("x")), (s("2"), s("Y"))]
    );
    Ok(())
}

#[test]
fn topic_name_extractor_routes_records() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder.stream("in", strings()).to_dynamic(
        |_k, v: &String| format!("out-{}", v.len()),
        Produced::default(),
    );
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let input = driver.input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input(s("a"), s("xy"), 1)?;
    input.pipe_input(s("b"), s("xyz"), 2)?;
    assert_eq!(read(&driver, "out-2")?, vec![(s("a"), s("xy"))]);
    assert_eq!(read(&driver, "out-3")?, vec![(s("b"), s("xyz"))]);
    Ok(())
}

/// Deduplicates values per key with a store, and emits a heartbeat on wall-clock time.
#[derive(Default)]
struct Dedup {
    store: Option<streams_core::state::KeyValueStoreHandle<String, String>>,
}

impl Processor for Dedup {
    type KeyIn = String;
    type ValueIn = String;
    type KeyOut = String;
    type ValueOut = String;

    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> streams_core::processor::ProcessResult {
        self.store = Some(ctx.key_value_store("seen")?);
        ctx.schedule(Duration::from_secs(10), PunctuationType::WallClockTime)?;
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> streams_core::processor::ProcessResult {
        let store = self.store.as_ref().expect("init");
        if store.get(&record.value)?.is_none() {
            store.put(&record.value, &record.key)?;
            ctx.forward(record)?;
        }
        Ok(())
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        p: Punctuation,
    ) -> streams_core::processor::ProcessResult {
        let count = self.store.as_ref().expect("init").all()?.len();
        Ok(ctx.forward(Record::new(
            s("heartbeat"),
            format!("{count} distinct at {}", p.timestamp),
            p.timestamp,
        ))?)
    }
}

#[test]
fn process_with_a_store_and_wall_clock_punctuation() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder.add_state_store(StoreBuilder::key_value(
        "seen",
        Serdes::string(),
        Serdes::string(),
    ));
    builder
        .stream("in", strings())
        .process(Dedup::default, &["seen"])
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let input = driver.input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input(s("a"), s("x"), 1)?;
    input.pipe_input(s("b"), s("x"), 2)?;
    input.pipe_input(s("c"), s("y"), 3)?;
    assert_eq!(
        read(&driver, "out")?,
        vec![(s("a"), s("x")), (s("c"), s("y"))]
    );
    driver.advance_wall_clock_time(Duration::from_secs(9))?;
    assert!(read(&driver, "out")?.is_empty());
    driver.advance_wall_clock_time(Duration::from_secs(1))?;
    assert_eq!(
        read(&driver, "out")?,
        vec![(s("heartbeat"), s("2 distinct at 10000"))]
    );
    driver.advance_wall_clock_time(Duration::from_secs(35))?;
    assert_eq!(
        read(&driver, "out")?,
        vec![(s("heartbeat"), s("2 distinct at 45000"))],
        "missed intervals fire once"
    );
    Ok(())
}

/// Sums values per key and emits the sums every 10 ms of stream time; cancels after 3 runs.
#[derive(Default)]
struct PeriodicSum {
    sums: BTreeMap<String, i64>,
    fired: u32,
    schedule: Option<streams_core::processor::Cancellable>,
}

impl Processor for PeriodicSum {
    type KeyIn = String;
    type ValueIn = i64;
    type KeyOut = String;
    type ValueOut = i64;

    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> streams_core::processor::ProcessResult {
        self.schedule = Some(ctx.schedule(Duration::from_millis(10), PunctuationType::StreamTime)?);
        Ok(())
    }

    fn process(
        &mut self,
        _ctx: &mut ProcessorContext<'_, String, i64>,
        record: Record<String, i64>,
    ) -> streams_core::processor::ProcessResult {
        *self.sums.entry(record.key).or_default() += record.value;
        Ok(())
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        p: Punctuation,
    ) -> streams_core::processor::ProcessResult {
        for (k, v) in &self.sums {
            ctx.forward(Record::new(k.clone(), *v, p.timestamp))?;
        }
        self.fired += 1;
        if self.fired == 3
            && let Some(schedule) = &self.schedule
        {
            schedule.cancel();
        }
        Ok(())
    }
}

#[test]
fn stream_time_punctuation_follows_record_timestamps_and_can_be_cancelled() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", Consumed::with(Serdes::string(), Serdes::i64()))
        .process(PeriodicSum::default, &[])
        .to_with("out", Produced::with(Serdes::string(), Serdes::i64()));
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let input = driver.input_topic("in", Serdes::string(), Serdes::i64());
    let out = driver.output_topic("out", Serdes::string(), Serdes::i64());
    input.pipe_input(s("a"), 1, 3)?;
    let fired: Vec<_> = out
        .read_records()?
        .into_iter()
        .map(|r| (r.value, r.timestamp))
        .collect();
    assert_eq!(
        fired,
        vec![(1, 3)],
        "the first record fires the first punctuation (aligned to 0)"
    );
    input.pipe_input(s("a"), 2, 9)?;
    assert!(out.is_empty(), "next one at 10");
    input.pipe_input(s("a"), 4, 10)?;
    assert_eq!(
        out.read_records()?
            .iter()
            .map(|r| (r.value, r.timestamp))
            .collect::<Vec<_>>(),
        vec![(7, 10)]
    );
    driver.advance_wall_clock_time(Duration::from_secs(100))?;
    assert!(
        out.is_empty(),
        "wall-clock time does not drive stream-time punctuation"
    );
    input.pipe_input(s("a"), 1, 35)?;
    assert_eq!(
        out.read_records()?
            .iter()
            .map(|r| (r.value, r.timestamp))
            .collect::<Vec<_>>(),
        vec![(8, 35)]
    );
    input.pipe_input(s("a"), 1, 100)?;
    assert!(out.is_empty(), "cancelled after three punctuations");
    Ok(())
}

struct Tagger;

impl FixedKeyProcessor for Tagger {
    type Key = String;
    type ValueIn = String;
    type ValueOut = String;

    fn process(
        &mut self,
        ctx: &mut FixedKeyContext<'_, '_, String, String>,
        record: FixedKeyRecord<String, String>,
    ) -> streams_core::processor::ProcessResult {
        let mut headers = record.headers().clone();
        headers.add("seen-by", Some(b"tagger".to_vec()));
        let tagged = format!("{}!", record.value());
        Ok(ctx.forward(record.with_value(tagged).with_headers(headers))?)
    }
}

#[test]
fn process_values_keeps_keys_and_headers_flow_through() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream("in", strings())
        .process_values(|| Tagger, &[])
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let mut headers = Headers::new();
    headers.add("trace-id", Some(b"t-1".to_vec()));
    driver
        .input_topic("in", Serdes::string(), Serdes::string())
        .pipe_with_headers(s("k"), s("v"), 5, headers)?;
    let records = driver
        .output_topic("out", Serdes::string(), Serdes::string())
        .read_records()?;
    assert_eq!(
        (
            records[0].key.as_str(),
            records[0].value.as_str(),
            records[0].timestamp
        ),
        ("k", "v!", 5)
    );
    let header_keys: Vec<_> = records[0].headers.iter().map(|h| h.key.as_str()).collect();
    assert_eq!(header_keys, vec!["trace-id", "seen-by"]);
    Ok(())
}

#[test]
fn timestamp_extractor_sets_event_time_and_negative_times_follow_the_policy() -> Result<()> {
    let mut topology = Topology::new();
    topology
        .add_source_with_timestamp_extractor(
            "src",
            &["events"],
            Serdes::string(),
            Serdes::i64(),
            Arc::new(|_k: &String, v: &i64, _kafka_ts: i64| *v),
        )?
        .add_sink("sink", "out", Serdes::string(), Serdes::i64(), &["src"])?;
    let mut config = streams_core::StreamsConfig::new();
    config.set("default.timestamp.extractor", "log_and_skip");
    let driver = TopologyTestDriver::with_config(topology, &config)?;
    let input = driver.input_topic("events", Serdes::string(), Serdes::i64());
    input.pipe_input(s("a"), 42_000, 1)?;
    input.pipe_input(s("b"), -5, 2)?;
    let out = driver
        .output_topic("out", Serdes::string(), Serdes::i64())
        .read_records()?;
    assert_eq!(
        out.iter()
            .map(|r| (r.key.as_str(), r.timestamp))
            .collect::<Vec<_>>(),
        vec![("a", 42_000)]
    );
    assert_eq!(driver.dropped_records(), 1);

    // The DSL's Consumed takes an extractor too.
    let builder = StreamsBuilder::new();
    builder
        .stream(
            "events",
            Consumed::with(Serdes::string(), Serdes::i64())
                .with_timestamp_extractor(|_k: &String, v: &i64, _ts| v / 2),
        )
        .to("out");
    let driver = TopologyTestDriver::new(builder.build()?)?;
    driver
        .input_topic("events", Serdes::string(), Serdes::i64())
        .pipe_input(s("a"), 10, 1)?;
    let out = driver
        .output_topic("out", Serdes::string(), Serdes::i64())
        .read_records()?;
    assert_eq!(out[0].timestamp, 5);
    Ok(())
}

#[test]
fn global_table_join_looks_up_by_mapped_key_and_never_emits_on_updates() -> Result<()> {
    // KStreamGlobalKTableJoinTest.shouldNotJoinOnGlobalTableUpdates / left-join variant
    let builder = StreamsBuilder::new();
    let global = builder.global_table("global", strings(), Materialized::as_("global-store"));
    let stream = builder.stream("stream", strings());
    let fk = |_k: &String, v: &String| v.split(',').nth(1).unwrap_or_default().to_string();
    stream
        .join_global(&global, fk, |v: &String, g: &String| format!("{v}+{g}"))
        .to("inner");
    stream
        .left_join_global(&global, fk, |v: &String, g: Option<&String>| {
            format!("{v}+{}", g.map_or("null", |g| g.as_str()))
        })
        .to("left");
    let topology = builder.build()?;
    let text = topology.describe().to_string();
    assert!(
        text.contains("for global store (will not generate tasks)"),
        "{text}"
    );
    let driver = TopologyTestDriver::new(topology)?;
    let stream_in = driver.input_topic("stream", Serdes::string(), Serdes::string());
    let global_in = driver.input_topic(
        "global",
        Serdes::string(),
        Serdes::nullable(Serdes::string()),
    );
    stream_in.pipe_input(s("0"), s("X0,FKey0"), 0)?;
    assert!(read(&driver, "inner")?.is_empty());
    global_in.pipe_input(s("FKey0"), Some(s("Y0")), 1)?;
    global_in.pipe_input(s("FKey1"), Some(s("Y1")), 1)?;
    assert!(
        read(&driver, "inner")?.is_empty(),
        "global updates never emit"
    );
    stream_in.pipe_input(s("0"), s("X0,FKey0"), 2)?;
    stream_in.pipe_input(s("1"), s("X1,FKey1"), 3)?;
    assert_eq!(
        read(&driver, "inner")?,
        vec![(s("0"), s("X0,FKey0+Y0")), (s("1"), s("X1,FKey1+Y1"))]
    );
    global_in.pipe_input(s("FKey0"), None, 4)?;
    stream_in.pipe_input(s("0"), s("XX0,FKey0"), 5)?;
    assert!(
        read(&driver, "inner")?.is_empty(),
        "a global tombstone removes the row"
    );
    let left = read(&driver, "left")?;
    assert_eq!(left.last(), Some(&(s("0"), s("XX0,FKey0+null"))));
    Ok(())
}
