//! Queries "as of" a time over the worker's HTTP API: `GET /stores/{s}/keys/{k}?as_of=<ms>` on
//! a versioned table's store, answered by either of two instances (the key's owner answers,
//! the other relays), with the latest value without `as_of`, 404 for a key with no value then,
//! and 400 for `as_of` on another kind of store or a time that is not one.

mod common;

use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use reqwest::StatusCode;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::Serdes;
use streams_core::worker::{RunningWorker, Worker};
use streams_core::{StreamsConfig, Topology};

use common::wait_for;

const RATES: &str = "rates";
const EVENTS: &str = "events";

fn topology(_: &StreamsConfig) -> streams_core::Result<Topology> {
    let builder = StreamsBuilder::new();
    builder.table(
        RATES,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_versioned("rates", Duration::from_secs(3_600)),
    );
    builder
        .stream(EVENTS, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .count(Materialized::as_("counts"));
    builder.build()
}

fn worker(broker: &std::sync::Arc<EmbeddedBroker>) -> Worker {
    let mut base = StreamsConfig::new();
    base.set("commit.interval.ms", "100")
        .set("poll.ms", "20")
        .set("consumer.session.timeout.ms", "6000")
        .set("consumer.heartbeat.interval.ms", "200")
        .set("statestore.cache.max.bytes", "0");
    broker.configure(&mut base);
    Worker::new("http-versioned", topology)
        .base_config(base)
        .queryable_versioned::<String, String>("rates")
        .queryable_key_value::<String, u64>("counts")
}

fn start(worker: Worker, state: &tempfile::TempDir) -> RunningWorker {
    let state_dir = state.path().display().to_string();
    match worker.start([
        "test",
        "--application-id",
        "http-versioned",
        "--http-addr",
        "127.0.0.1:0",
        "--state-dir",
        &state_dir,
    ]) {
        Ok(running) => running,
        Err(e) => panic!("the worker did not start: {}", e.report()),
    }
}

fn produce(broker: &EmbeddedBroker, topic: &str, records: &[(String, Option<String>, i64)]) {
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    for (key, value, ts) in records {
        let mut record = BaseRecord::<str, str>::to(topic).key(key).timestamp(*ts);
        if let Some(value) = value {
            record = record.payload(value);
        }
        common::send_or_panic(&producer, record);
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

fn get(client: &Client, worker: &RunningWorker, path: &str) -> (StatusCode, Value, bool) {
    let addr = worker.http_addr().expect("an HTTP address");
    let response = client
        .get(format!("http://{addr}{path}"))
        .send()
        .expect("an HTTP answer");
    let status = response.status();
    let relayed = response.headers().contains_key("x-streams-served-by");
    let body = response.text().expect("a body");
    let value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    (status, value, relayed)
}

/// Each currency's rates: `v1` at 1 s, `v3` at 3 s, then `v2` at 2 s (out of order), then a
/// delete at 5 s for the odd ones.
fn rates(currencies: &[String]) -> Vec<(String, Option<String>, i64)> {
    let mut records = Vec::new();
    for (i, c) in currencies.iter().enumerate() {
        records.push((c.clone(), Some(format!("{c}-v1")), 1_000));
        records.push((c.clone(), Some(format!("{c}-v3")), 3_000));
        records.push((c.clone(), Some(format!("{c}-v2")), 2_000));
        if i % 2 == 1 {
            records.push((c.clone(), None, 5_000));
        }
    }
    records
}

#[test]
fn both_instances_answer_as_of_queries_for_every_key() {
    common::init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic(RATES, 4).expect("topic");
    broker.create_topic(EVENTS, 4).expect("topic");
    let (state_a, state_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let a = start(worker(&broker), &state_a);
    let b = start(worker(&broker), &state_b);
    let client = Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    wait_for(
        "both instances to run with every task announced",
        Duration::from_secs(90),
        || {
            let (status, instances, _) = get(&client, &a, "/instances");
            let list = instances["instances"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            status == StatusCode::OK
                && [&a, &b]
                    .iter()
                    .all(|w| get(&client, w, "/health/ready").0 == StatusCode::OK)
                && list.len() == 2
                && list
                    .iter()
                    .map(|i| i["active_tasks"].as_array().map_or(0, Vec::len))
                    .sum::<usize>()
                    == 8
        },
    );
    let currencies: Vec<String> = (0..12).map(|i| format!("c{i}")).collect();
    produce(&broker, RATES, &rates(&currencies));
    wait_for("every currency's history", Duration::from_secs(60), || {
        currencies.iter().enumerate().all(|(i, c)| {
            // The last record of each currency: v2 (out of order), then the odd ones' delete.
            let v2 = get(&client, &a, &format!("/stores/rates/keys/{c}?as_of=2500"));
            let end = get(&client, &a, &format!("/stores/rates/keys/{c}?as_of=5000"));
            v2.1["value"] == json!(format!("{c}-v2"))
                && (end.0 == StatusCode::NOT_FOUND) == (i % 2 == 1)
        })
    });

    let mut relayed = 0;
    for (i, c) in currencies.iter().enumerate() {
        let deleted = i % 2 == 1;
        for worker in [&a, &b] {
            let mut ask = |query: &str| {
                let (status, body, was_relayed) =
                    get(&client, worker, &format!("/stores/rates/keys/{c}{query}"));
                relayed += usize::from(was_relayed);
                (status, body)
            };
            // As of 2.5 s: the out-of-order v2, valid from 2 s until v3 at 3 s.
            let (status, body) = ask("?as_of=2500");
            assert_eq!(status, StatusCode::OK, "{c}: {body}");
            assert_eq!(
                (
                    &body["key"],
                    &body["value"],
                    &body["timestamp"],
                    &body["valid_to"]
                ),
                (
                    &json!(c),
                    &json!(format!("{c}-v2")),
                    &json!(2_000),
                    &json!(3_000)
                ),
                "{body}"
            );
            assert_eq!(ask("?as_of=1000").1["value"], json!(format!("{c}-v1")));
            let (status, before) = ask("?as_of=999");
            assert_eq!(
                status,
                StatusCode::NOT_FOUND,
                "nothing before 1 s: {before}"
            );
            let (status, latest) = ask("");
            if deleted {
                assert_eq!(status, StatusCode::NOT_FOUND, "{c} was deleted: {latest}");
                assert_eq!(ask("?as_of=4000").1["valid_to"], json!(5_000));
                assert_eq!(ask("?as_of=6000").0, StatusCode::NOT_FOUND);
            } else {
                assert_eq!(status, StatusCode::OK, "{latest}");
                assert_eq!(
                    (&latest["value"], &latest["timestamp"], &latest["valid_to"]),
                    (&json!(format!("{c}-v3")), &json!(3_000), &Value::Null)
                );
                assert_eq!(ask("?as_of=6000").1["value"], json!(format!("{c}-v3")));
            }
        }
    }
    assert!(relayed > 0, "keys owned by the other instance are relayed");

    // `as_of` is for versioned stores; a time must be one.
    produce(&broker, EVENTS, &[("e".into(), Some("x".into()), 1)]);
    wait_for("a count", Duration::from_secs(60), || {
        get(&client, &a, "/stores/counts/keys/e").0 == StatusCode::OK
    });
    let (status, body, _) = get(&client, &a, "/stores/counts/keys/e?as_of=5");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("versioned")),
        "{body}"
    );
    let (status, body, _) = get(&client, &a, "/stores/rates/keys/c0?as_of=yesterday");
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body, _) = get(&client, &a, "/stores/rates/all");
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "versioned stores are not scanned: {body}"
    );
    let (_, stores, _) = get(&client, &a, "/stores");
    assert_eq!(stores["stores"]["rates"], "versioned");

    b.close().expect("close b");
    a.close().expect("close a");
}
