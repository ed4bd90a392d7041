//! Error policies through the test driver: what a failing processor, a panicking closure and
//! an undeserializable record do under `fail`, `log_and_continue` and `dead_letter`.

use streams_core::dsl::{Consumed, StreamsBuilder};
use streams_core::processor::{Processor, ProcessorContext, Record};
use streams_core::serde::Serdes;
use streams_core::testing::TopologyTestDriver;
use streams_core::{Error, Result, StreamsConfig, Topology};

/// Upper-cases values, failing on `"boom"` as user code does: with an error.
struct Shout;

impl Processor for Shout {
    type KeyIn = String;
    type ValueIn = String;
    type KeyOut = String;
    type ValueOut = String;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> streams_core::processor::ProcessResult {
        if record.value == "boom" {
            return Err("cannot shout `boom`".into());
        }
        let loud = record.value.to_uppercase();
        Ok(ctx.forward(record.with_value(loud))?)
    }
}

fn shouting() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("words", Consumed::with(Serdes::string(), Serdes::string()))
        .process(|| Shout, &[])
        .to("loud");
    builder.build().expect("topology")
}

/// Divides 100 by the value: a panic on 0, as careless user code does.
fn dividing() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("numbers", Consumed::with(Serdes::string(), Serdes::u64()))
        .map_values(|v: u64| 100u64.checked_div(v).expect("division by zero"))
        .to("quotients");
    builder.build().expect("topology")
}

fn config(pairs: &[(&str, &str)]) -> StreamsConfig {
    let mut config = StreamsConfig::new();
    config.set("application.id", "policies");
    for (k, v) in pairs {
        config.set(*k, *v);
    }
    config
}

fn pipe_words(driver: &TopologyTestDriver) -> Vec<Result<()>> {
    let input = driver.input_topic("words", Serdes::string(), Serdes::string());
    ["a", "boom", "c"]
        .iter()
        .enumerate()
        .map(|(i, w)| input.pipe_input(format!("k{i}"), w.to_string(), 10 + i as i64))
        .collect()
}

fn header(headers: &streams_core::processor::Headers, key: &str) -> String {
    let value = headers.last(key).and_then(|h| h.value.clone());
    String::from_utf8(value.unwrap_or_else(|| panic!("header `{key}` missing"))).expect("utf8")
}

#[test]
fn fail_stops_on_the_failing_record_and_names_it() {
    let driver = TopologyTestDriver::with_config(shouting(), &config(&[])).expect("driver");
    let results = pipe_words(&driver);
    assert!(results[0].is_ok());
    let err = results[1].as_ref().expect_err("the second record fails");
    assert!(
        matches!(err, Error::RecordFailed { topic, offset: 1, .. } if topic == "words"),
        "{err:?}"
    );
    assert!(err.to_string().contains("words-0@1"), "{err}");
    assert!(
        err.report().to_string().contains("cannot shout `boom`"),
        "{err}"
    );
}

#[test]
fn log_and_continue_skips_the_failing_record() {
    let driver = TopologyTestDriver::with_config(
        shouting(),
        &config(&[("processing.exception.handler", "log_and_continue")]),
    )
    .expect("driver");
    assert!(pipe_words(&driver).iter().all(Result::is_ok));
    let out = driver.output_topic("loud", Serdes::string(), Serdes::string());
    assert_eq!(
        out.read_key_values().expect("read"),
        vec![("k0".into(), "A".into()), ("k2".into(), "C".into())]
    );
}

#[test]
fn dead_letter_sends_the_input_record_with_error_headers() {
    let driver = TopologyTestDriver::with_config(
        shouting(),
        &config(&[
            ("processing.exception.handler", "dead_letter"),
            ("errors.dead.letter.queue.topic.name", "policies-dlq"),
        ]),
    )
    .expect("driver");
    assert!(pipe_words(&driver).iter().all(Result::is_ok));
    let out = driver.output_topic("loud", Serdes::string(), Serdes::string());
    assert_eq!(out.len(), 2);
    let dlq = driver.output_topic("policies-dlq", Serdes::string(), Serdes::string());
    let records = dlq.read_records().expect("read");
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(
        (r.key.as_str(), r.value.as_str(), r.timestamp),
        ("k1", "boom", 11)
    );
    assert_eq!(header(&r.headers, "__streams.errors.topic"), "words");
    assert_eq!(header(&r.headers, "__streams.errors.partition"), "0");
    assert_eq!(header(&r.headers, "__streams.errors.offset"), "1");
    assert_eq!(
        header(&r.headers, "__streams.errors.exception"),
        "Processing"
    );
    assert!(header(&r.headers, "__streams.errors.message").contains("cannot shout `boom`"));
}

#[test]
fn a_panicking_closure_is_a_processing_error() {
    let numbers = |driver: &TopologyTestDriver| {
        let input = driver.input_topic("numbers", Serdes::string(), Serdes::u64());
        [5u64, 0, 20]
            .iter()
            .map(|v| input.pipe_input("n".to_string(), *v, 1))
            .collect::<Vec<_>>()
    };
    let failing = TopologyTestDriver::with_config(dividing(), &config(&[])).expect("driver");
    let results = numbers(&failing);
    let err = results[1].as_ref().expect_err("the panic fails the record");
    assert!(
        err.report().to_string().contains("division by zero"),
        "{err}"
    );

    let skipping = TopologyTestDriver::with_config(
        dividing(),
        &config(&[("processing.exception.handler", "log_and_continue")]),
    )
    .expect("driver");
    assert!(numbers(&skipping).iter().all(Result::is_ok));
    let out = skipping.output_topic("quotients", Serdes::string(), Serdes::u64());
    assert_eq!(
        out.read_key_values().expect("read"),
        vec![("n".into(), 20), ("n".into(), 5)]
    );
}

#[test]
fn undeserializable_input_is_dead_lettered_as_it_was_read() {
    let builder = StreamsBuilder::new();
    builder
        .stream("amounts", Consumed::with(Serdes::string(), Serdes::u64()))
        .to("copied");
    let driver = TopologyTestDriver::with_config(
        builder.build().expect("topology"),
        &config(&[
            ("default.deserialization.exception.handler", "dead_letter"),
            ("errors.dead.letter.queue.topic.name", "policies-dlq"),
        ]),
    )
    .expect("driver");
    let input = driver.input_topic("amounts", Serdes::string(), Serdes::u64());
    input.pipe_input("a".into(), 1, 5).expect("good");
    input
        .pipe_raw(Some(b"b"), Some(b"bad"), 6)
        .expect("dead-lettered, not failed");
    input.pipe_input("c".into(), 3, 7).expect("good");
    let out = driver.output_topic("copied", Serdes::string(), Serdes::u64());
    assert_eq!(
        out.read_key_values().expect("read"),
        vec![("a".into(), 1), ("c".into(), 3)]
    );
    let dlq = driver.output_topic("policies-dlq", Serdes::bytes(), Serdes::bytes());
    let records = dlq.read_records().expect("read");
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].key.as_slice(), records[0].value.as_slice()),
        (&b"b"[..], &b"bad"[..])
    );
    assert_eq!(header(&records[0].headers, "__streams.errors.offset"), "1");
    assert_eq!(
        header(&records[0].headers, "__streams.errors.exception"),
        "Deserialization"
    );
}

/// Parses amounts with `?` on the parse error: the processor's own error type, no wrapping.
struct ParseAmount;

impl Processor for ParseAmount {
    type KeyIn = String;
    type ValueIn = String;
    type KeyOut = String;
    type ValueOut = i64;

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, i64>,
        record: Record<String, String>,
    ) -> streams_core::processor::ProcessResult {
        let amount: i64 = record.value.parse()?;
        ctx.forward(record.with_value(amount))?;
        Ok(())
    }
}

#[test]
fn a_processors_own_error_with_question_mark_reaches_the_dead_letter_topic() {
    let mut topology = Topology::new();
    topology
        .add_source("in", &["raw"], Serdes::string(), Serdes::string())
        .expect("source")
        .add_processor("parse-amount", || ParseAmount, &["in"])
        .expect("processor")
        .add_sink(
            "out",
            "amounts",
            Serdes::string(),
            Serdes::i64(),
            &["parse-amount"],
        )
        .expect("sink");
    let driver = TopologyTestDriver::with_config(
        topology,
        &config(&[
            ("processing.exception.handler", "dead_letter"),
            ("errors.dead.letter.queue.topic.name", "raw-dlq"),
        ]),
    )
    .expect("driver");
    let raw = driver.input_topic("raw", Serdes::string(), Serdes::string());
    raw.pipe_input("a".into(), "7".into(), 1).expect("a number");
    raw.pipe_input("b".into(), "seven".into(), 2)
        .expect("dead-lettered, not failed");
    let amounts = driver.output_topic("amounts", Serdes::string(), Serdes::i64());
    assert_eq!(
        amounts.read_key_values().expect("amounts"),
        vec![("a".to_string(), 7)]
    );
    let dlq = driver.output_topic("raw-dlq", Serdes::string(), Serdes::string());
    let dead = dlq.read_record().expect("read").expect("a dead letter");
    assert_eq!((dead.key.as_str(), dead.value.as_str()), ("b", "seven"));
    assert_eq!(
        header(&dead.headers, "__streams.errors.exception"),
        "Processing"
    );
    let message = header(&dead.headers, "__streams.errors.message");
    assert!(
        message.contains("`parse-amount`") && message.contains("invalid digit"),
        "the node and the parse error: {message}"
    );
}

#[test]
fn a_fallible_closure_error_fails_the_record_and_names_its_node() {
    let topology = || {
        let builder = StreamsBuilder::new();
        builder
            .stream("words", Consumed::with(Serdes::string(), Serdes::string()))
            .try_map_values(|v: String| {
                if v == "boom" {
                    return Err("cannot take `boom`");
                }
                Ok(v.to_uppercase())
            })
            .try_filter(|_k: &String, v: &String| Ok::<_, std::io::Error>(!v.is_empty()))
            .to("loud");
        builder.build().expect("topology")
    };
    let failing = TopologyTestDriver::with_config(topology(), &config(&[])).expect("driver");
    let results = pipe_words(&failing);
    let err = results[1].as_ref().expect_err("the second record fails");
    assert!(
        matches!(err, Error::RecordFailed { node, offset: 1, .. } if node == "KSTREAM-MAPVALUES-0000000001"),
        "{err:?}"
    );
    assert!(
        err.report().to_string().contains("cannot take `boom`"),
        "{err}"
    );

    let skipping = TopologyTestDriver::with_config(
        topology(),
        &config(&[("processing.exception.handler", "log_and_continue")]),
    )
    .expect("driver");
    assert!(pipe_words(&skipping).iter().all(|r| r.is_ok()));
    let loud = skipping.output_topic("loud", Serdes::string(), Serdes::string());
    assert_eq!(
        loud.read_key_values().expect("records"),
        vec![
            ("k0".to_string(), "A".to_string()),
            ("k2".to_string(), "C".to_string())
        ]
    );
}
