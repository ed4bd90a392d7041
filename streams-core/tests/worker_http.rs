//! The worker's HTTP server over real HTTP on loopback, against the embedded broker: every
//! endpoint, interactive queries of key-value, window, session and global stores, forwarding
//! between two instances, and 503 + `Retry-After` while an instance rebalances.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use streams_core::dsl::{Consumed, Materialized, SessionWindows, StreamsBuilder, TimeWindows};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::Serdes;
use streams_core::worker::{RunningWorker, Worker};
use streams_core::{StreamsConfig, Topology};

use common::wait_for;

const EVENTS: &str = "events";
const REGIONS: &str = "regions";
const MINUTE: i64 = 60_000;

fn topology(_: &StreamsConfig) -> streams_core::Result<Topology> {
    let builder = StreamsBuilder::new();
    let events = builder.stream(EVENTS, Consumed::with(Serdes::string(), Serdes::string()));
    events.group_by_key().count(Materialized::as_("counts"));
    events
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
        .count(Materialized::as_("windowed-counts").with_retention(Duration::from_secs(3600)));
    events
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(
            Duration::from_secs(300),
        ))
        .count(Materialized::as_("session-counts").with_retention(Duration::from_secs(3600)));
    builder.global_table(
        REGIONS,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("regions"),
    );
    builder.build()
}

fn worker(broker: &std::sync::Arc<EmbeddedBroker>) -> Worker {
    let mut base = StreamsConfig::new();
    base.set("commit.interval.ms", "100")
        .set("poll.ms", "20")
        .set("consumer.session.timeout.ms", "6000")
        .set("consumer.heartbeat.interval.ms", "200")
        .set("statestore.cache.max.bytes", "0")
        .set("statistics.interval.ms", "5000");
    broker.configure(&mut base);
    Worker::new("http-test", topology)
        .base_config(base)
        .queryable_key_value::<String, u64>("counts")
        .queryable_window::<String, u64>("windowed-counts")
        .queryable_session::<String, u64>("session-counts")
        .queryable_global::<String, String>("regions")
}

fn start(worker: Worker, app_id: &str, state: &tempfile::TempDir) -> RunningWorker {
    let state_dir = state.path().display().to_string();
    match worker.start([
        "test",
        "--application-id",
        app_id,
        "--http-addr",
        "127.0.0.1:0",
        "--state-dir",
        &state_dir,
    ]) {
        Ok(running) => running,
        Err(e) => panic!("the worker did not start: {}", e.report()),
    }
}

fn produce(broker: &EmbeddedBroker, topic: &str, records: &[(&str, &str, i64)]) {
    let producer: BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("partitioner", "murmur2_random")
        .create()
        .expect("producer");
    for (key, value, ts) in records {
        let record = BaseRecord::to(topic)
            .key(*key)
            .payload(*value)
            .timestamp(*ts);
        common::send_or_panic(&producer, record);
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

fn client() -> Client {
    Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

fn url(worker: &RunningWorker, path: &str) -> String {
    let addr = worker.http_addr().expect("an HTTP address");
    format!("http://{addr}{path}")
}

fn get(client: &Client, worker: &RunningWorker, path: &str) -> Response {
    client
        .get(url(worker, path))
        .send()
        .expect("an HTTP answer")
}

fn json(client: &Client, worker: &RunningWorker, path: &str) -> Value {
    let response = get(client, worker, path);
    let status = response.status();
    let body = response.text().expect("a body");
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

fn ready(client: &Client, worker: &RunningWorker) -> bool {
    get(client, worker, "/health/ready").status() == StatusCode::OK
}

/// Every `(key, value, timestamp)` event of the test: keys a..e, with gaps that make sessions.
fn events() -> Vec<(&'static str, &'static str, i64)> {
    let base = 1_700_000_000_000;
    vec![
        ("a", "x", base),
        ("a", "x", base + 10_000),
        ("a", "x", base + MINUTE + 5_000),
        ("b", "x", base),
        ("c", "x", base + 2 * MINUTE),
        ("a", "x", base + 20 * MINUTE),
        ("d", "x", base + 20 * MINUTE),
        ("e", "x", base + 20 * MINUTE),
    ]
}

fn expected_counts() -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for (key, _, _) in events() {
        *counts.entry(key.to_string()).or_insert(0) += 1;
    }
    counts
}

fn metric_families(text: &str) -> BTreeMap<String, f64> {
    let lines = text.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("Prometheus text format");
    let mut totals = BTreeMap::new();
    for sample in scrape.samples {
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            prometheus_parse::Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            prometheus_parse::Value::Summary(_) => 0.0,
        };
        *totals.entry(sample.metric).or_insert(0.0) += value;
    }
    totals
}

#[test]
fn one_worker_serves_every_endpoint() {
    common::init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic(EVENTS, 2).expect("topic");
    broker.create_topic(REGIONS, 1).expect("topic");
    produce(&broker, REGIONS, &[("r1", "north", 1), ("r2", "south", 1)]);
    let state = tempfile::tempdir().expect("tempdir");
    let worker = start(worker(&broker), "http-one", &state);
    let client = client();

    // Probes before and after the instance runs.
    let live = get(&client, &worker, "/health/live");
    assert_eq!(live.status(), StatusCode::OK);
    wait_for("the worker to be ready", Duration::from_secs(60), || {
        ready(&client, &worker)
    });
    let metrics_before =
        metric_families(&get(&client, &worker, "/metrics").text().expect("metrics"));

    produce(&broker, EVENTS, &events());
    let expected = expected_counts();
    wait_for("every count", Duration::from_secs(60), || {
        expected.iter().all(|(key, count)| {
            let response = get(&client, &worker, &format!("/stores/counts/keys/{key}"));
            response.status() == StatusCode::OK
                && response
                    .json::<Value>()
                    .ok()
                    .and_then(|v| v["value"].as_u64())
                    == Some(*count)
        })
    });

    // Key-value queries: one key, a missing key, an unknown store, a wrong shape.
    let a = json(&client, &worker, "/stores/counts/keys/a");
    assert_eq!(a["value"], 4);
    assert_eq!(a["key"], "a");
    assert_eq!(
        a["served_by"],
        worker.http_addr().map(|a| a.to_string()).expect("addr")
    );
    let quoted = json(&client, &worker, "/stores/counts/keys/%22b%22");
    assert_eq!(quoted["value"], 1);
    let missing = get(&client, &worker, "/stores/counts/keys/zzz");
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(missing.text().expect("body").contains("no value for key"));
    let unknown = get(&client, &worker, "/stores/nope/keys/a");
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(
        unknown.text().expect("body").contains("counts"),
        "names the stores served"
    );
    let wrong = get(&client, &worker, "/stores/counts/keys/a/windows");
    assert_eq!(wrong.status(), StatusCode::BAD_REQUEST);
    let bad_time = get(
        &client,
        &worker,
        "/stores/windowed-counts/keys/a/windows?from=yesterday",
    );
    assert_eq!(bad_time.status(), StatusCode::BAD_REQUEST);

    // All, paged two at a time, and a key range.
    let mut seen = BTreeMap::new();
    let mut path = "/stores/counts/all?limit=2".to_string();
    loop {
        let page = json(&client, &worker, &path);
        let entries = page["entries"].as_array().expect("entries");
        assert!(entries.len() <= 2);
        for entry in entries {
            let key = entry["key"].as_str().expect("a string key").to_string();
            assert!(
                seen.insert(key, entry["value"].as_u64().expect("count"))
                    .is_none(),
                "no key twice"
            );
        }
        match page["next"].as_str() {
            Some(next) => path = format!("/stores/counts/all?limit=2&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    let range = json(&client, &worker, "/stores/counts/range?from=b&to=d");
    let keys: Vec<_> = range["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter_map(|e| e["key"].as_str())
        .collect();
    assert_eq!(keys, ["b", "c", "d"]);
    assert_eq!(
        get(&client, &worker, "/stores/counts/range").status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        get(&client, &worker, "/stores/counts/all?after=xyz").status(),
        StatusCode::BAD_REQUEST
    );

    // Windows of `a`: two in the first minute, one in the second, one twenty minutes later.
    let base = 1_700_000_000_000 - 1_700_000_000_000 % MINUTE;
    let windows = json(
        &client,
        &worker,
        &format!(
            "/stores/windowed-counts/keys/a/windows?from=0&to={}",
            base + 60 * MINUTE
        ),
    );
    let windows: Vec<(i64, u64)> = windows["windows"]
        .as_array()
        .expect("windows")
        .iter()
        .map(|w| {
            (
                w["start"].as_i64().expect("start"),
                w["value"].as_u64().expect("count"),
            )
        })
        .collect();
    assert_eq!(
        windows,
        [(base, 2), (base + MINUTE, 1), (base + 20 * MINUTE, 1)]
    );
    let first_only = json(
        &client,
        &worker,
        &format!("/stores/windowed-counts/keys/a/windows?from={base}&to={base}"),
    );
    assert_eq!(first_only["windows"].as_array().map(Vec::len), Some(1));

    // Sessions of `a` (gap 5 minutes): the first three events, then the last one.
    let sessions = json(&client, &worker, "/stores/session-counts/keys/a/sessions");
    let sessions: Vec<(i64, i64, u64)> = sessions["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| {
            (
                s["start"].as_i64().expect("start"),
                s["end"].as_i64().expect("end"),
                s["value"].as_u64().expect("count"),
            )
        })
        .collect();
    let t0 = 1_700_000_000_000;
    assert_eq!(
        sessions,
        [
            (t0, t0 + MINUTE + 5_000, 3),
            (t0 + 20 * MINUTE, t0 + 20 * MINUTE, 1)
        ]
    );

    // The global store: every key on every instance.
    assert_eq!(
        json(&client, &worker, "/stores/regions/keys/r2")["value"],
        "south"
    );
    let regions = json(&client, &worker, "/stores/regions/all");
    assert_eq!(regions["entries"].as_array().map(Vec::len), Some(2));

    // The same through the Rust API.
    let streams = worker.streams();
    let windowed = streams
        .window_store::<String, u64>("windowed-counts")
        .expect("window view");
    assert_eq!(
        windowed
            .fetch(&"a".to_string(), 0, i64::MAX)
            .expect("fetch")
            .len(),
        3
    );
    assert_eq!(
        windowed.fetch_one(&"a".to_string(), base).expect("fetch"),
        Some(2)
    );
    assert_eq!(
        windowed.all().expect("all").len(),
        6,
        "a: 3 windows, b, c, d+e: 1 each… "
    );
    let sessions = streams
        .session_store::<String, u64>("session-counts")
        .expect("session view");
    assert_eq!(sessions.fetch(&"a".to_string()).expect("fetch").len(), 2);
    let global = streams
        .global_store::<String, String>("regions")
        .expect("global");
    assert_eq!(
        global.get(&"r1".to_string()).expect("get").as_deref(),
        Some("north")
    );
    assert_eq!(global.all().expect("all").len(), 2);
    assert!(
        streams.window_store::<String, u64>("counts").is_err(),
        "a key-value store is not a window store"
    );

    // The rest of the endpoints.
    let text = get(&client, &worker, "/topology").text().expect("topology");
    assert!(text.contains("Sub-topology: 0"), "{text}");
    let mermaid = get(&client, &worker, "/topology?format=mermaid")
        .text()
        .expect("mermaid");
    assert!(mermaid.starts_with("flowchart"), "{mermaid}");
    let dot = get(&client, &worker, "/topology?format=dot")
        .text()
        .expect("dot");
    assert!(dot.starts_with("digraph"), "{dot}");
    assert_eq!(
        get(&client, &worker, "/topology?format=svg").status(),
        StatusCode::BAD_REQUEST
    );
    let instances = json(&client, &worker, "/instances");
    let list = instances["instances"].as_array().expect("instances");
    assert_eq!(list.len(), 1, "{instances}");
    assert_eq!(list[0]["this"], true);
    assert_eq!(list[0]["active_tasks"].as_array().map(Vec::len), Some(2));
    let tasks = json(&client, &worker, "/tasks");
    let tasks = tasks["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 2);
    for task in tasks {
        assert_eq!(task["kind"], "ACTIVE", "{task}");
        assert_eq!(task["phase"], "RUNNING", "{task}");
        assert!(
            task["thread"]
                .as_str()
                .is_some_and(|t| t.contains("StreamThread"))
        );
        assert_eq!(task["lag"], 0);
    }
    let stores = json(&client, &worker, "/stores");
    assert_eq!(stores["stores"]["windowed-counts"], "window");
    assert_eq!(stores["stores"]["regions"], "global");
    let index = json(&client, &worker, "/");
    assert_eq!(index["state"], "RUNNING");
    assert_eq!(
        get(&client, &worker, "/nope").status(),
        StatusCode::NOT_FOUND
    );

    // Metrics: the text format parses, and processing moved the counters.
    let metrics = get(&client, &worker, "/metrics");
    assert_eq!(metrics.status(), StatusCode::OK);
    assert!(
        metrics
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/plain"))
    );
    let metrics_after = metric_families(&metrics.text().expect("metrics"));
    for family in [
        "streams_client_state",
        "streams_client_alive_stream_threads",
        "streams_client_info",
        "streams_stream_thread_process_total",
        "streams_stream_thread_process_rate",
        "streams_stream_thread_poll_total",
        "streams_stream_thread_commit_total",
        "streams_stream_thread_process_latency_seconds",
        "streams_stream_thread_poll_latency_seconds",
        "streams_stream_thread_commit_latency_seconds",
        "streams_stream_thread_punctuate_latency_seconds",
        "streams_task_process_total",
        "streams_task_record_e2e_latency_seconds",
        "streams_rocksdb_block_cache_usage_bytes",
        "streams_rocksdb_memtable_bytes",
        "streams_rocksdb_estimate_num_keys",
    ] {
        assert!(
            metrics_after.contains_key(family),
            "/metrics has {family}: {metrics_after:?}"
        );
    }
    for moving in [
        "streams_stream_thread_process_total",
        "streams_stream_thread_poll_total",
        "streams_task_process_total",
    ] {
        let (before, after) = (
            metrics_before.get(moving).copied().unwrap_or(0.0),
            metrics_after[moving],
        );
        assert!(after > before, "{moving} moves: {before} -> {after}");
    }
    assert!(metrics_after["streams_task_process_total"] >= events().len() as f64);
    assert!(metrics_after["streams_rocksdb_estimate_num_keys"] > 0.0);
    // Consumer lag comes from librdkafka's statistics, after the first commit.
    wait_for("consumer lag in /metrics", Duration::from_secs(30), || {
        let text = get(&client, &worker, "/metrics").text().unwrap_or_default();
        metric_families(&text).contains_key("streams_consumer_records_lag")
    });

    worker.close().expect("clean close");
}

#[test]
fn two_workers_answer_every_key_alike_by_forwarding() {
    common::init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic(EVENTS, 4).expect("topic");
    broker.create_topic(REGIONS, 1).expect("topic");
    let (state_a, state_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let standby = |broker| worker(broker).default_property("num.standby.replicas", "1");
    let a = start(standby(&broker), "http-two", &state_a);
    let b = start(standby(&broker), "http-two", &state_b);
    let client = client();
    wait_for(
        "both instances to run with every task announced",
        Duration::from_secs(90),
        || {
            if !(ready(&client, &a) && ready(&client, &b)) {
                return false;
            }
            let instances = json(&client, &a, "/instances");
            let list = instances["instances"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let tasks: usize = list
                .iter()
                .map(|i| i["active_tasks"].as_array().map_or(0, Vec::len))
                .sum();
            list.len() == 2
                && tasks == 4
                && list
                    .iter()
                    .all(|i| i["active_tasks"].as_array().is_some_and(|t| !t.is_empty()))
        },
    );
    let keys: Vec<String> = (0..40).map(|i| format!("card-{i}")).collect();
    let records: Vec<(&str, &str, i64)> = keys
        .iter()
        .enumerate()
        .flat_map(|(i, key)| (0..=i % 3).map(move |j| (key.as_str(), "x", 1_000 + j as i64)))
        .collect();
    produce(&broker, EVENTS, &records);
    let expected: BTreeMap<&str, u64> = keys
        .iter()
        .enumerate()
        .map(|(i, key)| (key.as_str(), (i % 3 + 1) as u64))
        .collect();
    let mut forwarded = 0;
    wait_for(
        "both instances to answer every key alike",
        Duration::from_secs(90),
        || {
            forwarded = 0;
            for (key, count) in &expected {
                let path = format!("/stores/counts/keys/{key}");
                for instance in [&a, &b] {
                    let response = get(&client, instance, &path);
                    if response.status() != StatusCode::OK {
                        return false;
                    }
                    if response.headers().contains_key("x-streams-served-by") {
                        forwarded += 1;
                    }
                    let body: Value = response.json().unwrap_or_default();
                    if body["value"].as_u64() != Some(*count) {
                        return false;
                    }
                }
            }
            true
        },
    );
    assert_eq!(
        forwarded,
        expected.len(),
        "each key is local to one instance and forwarded by the other"
    );
    // A scan from either instance gathers both instances' keys.
    for instance in [&a, &b] {
        let page = json(&client, instance, "/stores/counts/all?limit=1000");
        assert_eq!(
            page["entries"].as_array().map(Vec::len),
            Some(expected.len())
        );
    }
    // Asked for its local part only, an instance refuses keys it does not hold.
    let refused = expected
        .keys()
        .filter(|key| {
            let response = get(
                &client,
                &a,
                &format!("/stores/counts/keys/{key}?local=true"),
            );
            response.status() == StatusCode::SERVICE_UNAVAILABLE
                && response.headers().contains_key("retry-after")
        })
        .count();
    assert!(
        refused > 0 && refused < expected.len(),
        "{refused} of {}",
        expected.len()
    );
    // With a standby of every task on the other instance, a stale read answers every key
    // locally on both: from the active task on one, from the standby copy on the other.
    wait_for(
        "stale reads of every key from both instances' own stores",
        Duration::from_secs(90),
        || {
            expected.iter().all(|(key, count)| {
                [&a, &b].iter().all(|instance| {
                    let path = format!("/stores/counts/keys/{key}?local=true&stale=true");
                    let response = get(&client, instance, &path);
                    response.status() == StatusCode::OK
                        && response
                            .json::<Value>()
                            .ok()
                            .and_then(|v| v["value"].as_u64())
                            == Some(*count)
                })
            })
        },
    );
    let standbys = json(&client, &a, "/tasks");
    assert!(
        standbys["tasks"]
            .as_array()
            .is_some_and(|tasks| tasks.iter().any(|t| t["kind"] == "STANDBY")),
        "{standbys}"
    );
    b.close().expect("close b");
    a.close().expect("close a");
}

#[test]
fn a_rebalancing_instance_answers_503_with_retry_after() {
    common::init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic(EVENTS, 2).expect("topic");
    broker.create_topic(REGIONS, 1).expect("topic");
    // The group coordinator answers "not available" to a run of requests: the instance stays
    // in REBALANCING for a while after it starts.
    broker
        .inject_request_errors(
            rdkafka::types::RDKafkaApiKey::JoinGroup,
            &[rdkafka::types::RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE; 8],
        )
        .expect("inject");
    let state = tempfile::tempdir().expect("tempdir");
    let worker = start(worker(&broker), "http-rebalance", &state);
    let client = client();
    let query = get(&client, &worker, "/stores/counts/keys/a");
    assert_eq!(query.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        query
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: Value = query.json().expect("JSON");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("REBALANCING")),
        "{body}"
    );
    let scan = get(&client, &worker, "/stores/counts/all");
    assert_eq!(scan.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(scan.headers().contains_key("retry-after"));
    let ready = get(&client, &worker, "/health/ready");
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.headers().contains_key("retry-after"));
    assert_eq!(
        get(&client, &worker, "/health/live").status(),
        StatusCode::OK
    );
    // The global store answers whatever the group does.
    assert_ne!(
        get(&client, &worker, "/stores/regions/keys/r1").status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    wait_for("the instance to run", Duration::from_secs(90), || {
        get(&client, &worker, "/health/ready").status() == StatusCode::OK
    });
    assert_eq!(
        get(&client, &worker, "/stores/counts/keys/a").status(),
        StatusCode::NOT_FOUND,
        "once running, a key with no value is a 404"
    );
    worker.close().expect("close");
}
