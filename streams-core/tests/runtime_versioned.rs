//! A versioned table and a stream–table join with a grace period on the embedded broker: the
//! table's history (out-of-order updates and deletes included) and the join's buffered stream
//! records come back from their changelogs after the state directory is deleted, and the join
//! goes on as if nothing happened.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{app_config, init_tracing, produce_with_timestamps, wait_for};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use streams_core::dsl::{Consumed, Joined, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, Topology};

const RATES: &str = "rates";
const PAYMENTS: &str = "payments";
const CONVERTED: &str = "converted";
const TIMEOUT: Duration = Duration::from_secs(60);

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    let strings = || Consumed::with(Serdes::string(), Serdes::string());
    let rates = builder.table(
        RATES,
        strings(),
        Materialized::as_versioned("rates", Duration::from_secs(3_600)),
    );
    builder
        .stream(PAYMENTS, strings())
        .join_table_with(
            &rates,
            |payment: &String, rate: &String| format!("{payment}@{rate}"),
            Joined::as_("convert").with_grace_period(Duration::from_secs(10)),
        )
        .to(CONVERTED);
    builder.build().expect("topology")
}

fn record(key: &str, value: Option<&str>, ts: i64) -> (Option<Vec<u8>>, Option<Vec<u8>>, i64) {
    (
        Some(key.as_bytes().to_vec()),
        value.map(|v| v.as_bytes().to_vec()),
        ts,
    )
}

/// The rates store's answers: `(key, as_of)` → `(value, valid_from, valid_to)`; `as_of`
/// `None` asks for the latest value.
type Answers = BTreeMap<(String, Option<i64>), Option<(String, i64, Option<i64>)>>;

fn answers(streams: &KafkaStreams) -> Option<Answers> {
    let view = streams
        .versioned_key_value_store::<String, String>("rates")
        .ok()?;
    let mut out = Answers::new();
    for key in ["EUR", "USD"] {
        for as_of in [
            None,
            Some(1_500),
            Some(2_500),
            Some(3_500),
            Some(4_000),
            Some(6_000),
        ] {
            let k = key.to_string();
            let found = match as_of {
                Some(t) => view.get_as_of(&k, t).ok()?,
                None => view.get(&k).ok()?,
            };
            out.insert(
                (k, as_of),
                found.map(|r| (r.value, r.timestamp, r.valid_to)),
            );
        }
    }
    Some(out)
}

fn expected_answers() -> Answers {
    let v = |s: &str, from, to| Some((s.to_string(), from, to));
    [
        (("EUR", None), v("r3", 3_000, None)),
        (("EUR", Some(1_500)), v("r1", 1_000, Some(2_000))),
        (("EUR", Some(2_500)), v("r2", 2_000, Some(3_000))),
        (("EUR", Some(3_500)), v("r3", 3_000, None)),
        (("EUR", Some(4_000)), v("r3", 3_000, None)),
        (("EUR", Some(6_000)), v("r3", 3_000, None)),
        (("USD", None), None),
        (("USD", Some(1_500)), v("u1", 1_000, Some(5_000))),
        (("USD", Some(2_500)), v("u1", 1_000, Some(5_000))),
        (("USD", Some(3_500)), v("u1", 1_000, Some(5_000))),
        (("USD", Some(4_000)), v("u1", 1_000, Some(5_000))),
        (("USD", Some(6_000)), None),
    ]
    .into_iter()
    .map(|((k, t), v)| ((k.to_string(), t), v))
    .collect()
}

/// Entries of the join's grace buffer on this instance (its stream time included).
fn buffered(streams: &KafkaStreams) -> u64 {
    streams
        .key_value_store::<Vec<u8>, Vec<u8>>("convert-Buffer")
        .and_then(|view| view.all())
        .map_or(0, |entries| entries.len() as u64)
}

/// Reads `topic` from the start until `count` records arrived (and a little longer, so that
/// extra records would show).
fn read_strings(broker: &EmbeddedBroker, topic: &str, count: usize) -> Vec<(String, String, i64)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", format!("reader-{topic}-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    let mut until = Instant::now() + TIMEOUT;
    while Instant::now() < until {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let m = message.expect("a record");
            let text =
                |b: Option<&[u8]>| String::from_utf8_lossy(b.unwrap_or_default()).into_owned();
            out.push((
                text(m.key()),
                text(m.payload()),
                m.timestamp().to_millis().unwrap_or(-1),
            ));
            if out.len() == count {
                until = until.min(Instant::now() + Duration::from_millis(1_500));
            }
        }
    }
    out.sort_by_key(|(_, _, ts)| *ts);
    out
}

#[test]
fn a_versioned_table_and_a_grace_buffer_are_restored_from_their_changelogs() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    for topic in [RATES, PAYMENTS, CONVERTED] {
        broker.create_topic(topic, 2).expect("topic");
    }
    let state = tempfile::tempdir().expect("tempdir");
    let config = app_config(&broker, "versioned-restore", state.path());

    produce_with_timestamps(
        &broker,
        RATES,
        &[
            record("EUR", Some("r1"), 1_000),
            record("EUR", Some("r3"), 3_000),
            record("EUR", Some("r2"), 2_000), // out of order: goes into history
            record("USD", Some("u1"), 1_000),
            record("USD", None, 5_000), // deleted from 5 s on
        ],
    );
    let mut first = KafkaStreams::new(topology(), &config).expect("streams");
    first.start().expect("start");
    first.wait_until_running(TIMEOUT).expect("running");
    let expected = expected_answers();
    wait_for("the rates' history", TIMEOUT, || {
        answers(&first).as_ref() == Some(&expected)
    });
    // A payment at 2.5 s waits in the grace buffer: nothing has moved stream time past 12.5 s.
    produce_with_timestamps(&broker, PAYMENTS, &[record("EUR", Some("p1"), 2_500)]);
    wait_for("the payment in the grace buffer", TIMEOUT, || {
        buffered(&first) >= 1
    });
    first.close().expect("clean close");
    drop(first);

    std::fs::remove_dir_all(state.path().join("versioned-restore")).expect("delete state dir");

    let mut second = KafkaStreams::new(topology(), &config).expect("streams");
    second.start().expect("start");
    second.wait_until_running(TIMEOUT).expect("running");
    // Restored before anything new: the history, out-of-order update and delete included.
    wait_for("the restored history", TIMEOUT, || {
        answers(&second).as_ref() == Some(&expected)
    });
    assert!(buffered(&second) >= 1, "the buffered payment came back");

    // A payment at 20 s moves stream time past 2.5 s + grace: the buffered payment joins the
    // rate as of 2.5 s; a payment later than the grace joins at once, as of its own time.
    produce_with_timestamps(
        &broker,
        PAYMENTS,
        &[
            record("EUR", Some("p2"), 20_000),
            record("EUR", Some("p3"), 1_500),
        ],
    );
    let converted = read_strings(&broker, CONVERTED, 2);
    let want: Vec<(String, String, i64)> = vec![
        ("EUR".into(), "p3@r1".into(), 1_500),
        ("EUR".into(), "p1@r2".into(), 2_500),
    ];
    assert_eq!(converted, want);
    second.close().expect("clean close");
}
