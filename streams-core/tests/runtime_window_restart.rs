//! Windowed aggregations on the embedded broker across restarts and commits: the stream time
//! a window store keeps survives a clean restart (the store reopened from its checkpoint), a
//! restore from the changelog (state dir deleted) and an in-memory store's rebuild, so a late
//! record after the restart is dropped as it would be without the restart; and the record
//! cache turns a window's (or a session's) updates between commits into one.

mod common;

use std::time::{Duration, Instant};

use common::{app_config, init_tracing, produce_with_timestamps, wait_for};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use streams_core::dsl::{Consumed, Materialized, SessionWindows, StreamsBuilder, TimeWindows};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::Serdes;
use streams_core::state::StoreEngine;
use streams_core::{KafkaStreams, Topology};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Every record of a topic, from its start, as `key=value` (8-byte values read as big-endian
/// u64s).
struct Output {
    consumer: BaseConsumer,
    lines: Vec<String>,
}

impl Output {
    fn new(broker: &EmbeddedBroker, topic: &str, group: &str) -> Self {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", broker.bootstrap_servers())
            .set("group.id", group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        Output {
            consumer,
            lines: Vec::new(),
        }
    }

    fn poll(&mut self) {
        while let Some(message) = self.consumer.poll(Duration::from_millis(50)) {
            let m = message.expect("output consumer");
            let key = String::from_utf8_lossy(m.key().unwrap_or_default()).to_string();
            let value = match m.payload() {
                None => "null".to_string(),
                Some(v) => match <[u8; 8]>::try_from(v) {
                    Ok(count) => u64::from_be_bytes(count).to_string(),
                    Err(_) => String::from_utf8_lossy(v).to_string(),
                },
            };
            self.lines.push(format!("{key}={value}"));
        }
    }

    /// Reads until `line` has arrived.
    fn wait_for(&mut self, line: &str) {
        let deadline = Instant::now() + TIMEOUT;
        while !self.lines.iter().any(|l| l == line) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {line}; got {:?}",
                self.lines
            );
            self.poll();
        }
    }
}

fn record(key: &str, ts: i64) -> (Option<Vec<u8>>, Option<Vec<u8>>, i64) {
    (Some(key.as_bytes().to_vec()), Some(b"x".to_vec()), ts)
}

/// Counts per key in 10-second tumbling windows without grace, written to `output` as
/// `key@start=count`.
fn window_counts(input: &str, output: &str, engine: StoreEngine) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(input, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(10)))
        .count(Materialized::as_("counts").with_engine(engine))
        .to_stream()
        .map(|w, count| (format!("{}@{}", w.key, w.window.start), count))
        .to(output);
    builder.build().expect("topology")
}

#[derive(Debug, Clone, Copy)]
enum Restart {
    /// A clean close and a restart on the same state dir: the store reopens from its files.
    Reopen,
    /// The state dir is deleted in between: the store is restored from its changelog.
    Restore,
    /// An in-memory store: rebuilt from its whole changelog.
    InMemory,
}

#[test]
fn a_late_record_after_a_restart_is_dropped_as_without_the_restart() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    for (n, restart) in [Restart::Reopen, Restart::Restore, Restart::InMemory]
        .into_iter()
        .enumerate()
    {
        let (input, output, app) = (
            format!("clicks-{n}"),
            format!("window-counts-{n}"),
            format!("late-after-restart-{n}"),
        );
        broker.create_topic(&input, 1).expect("input");
        broker.create_topic(&output, 1).expect("output");
        let state = tempfile::tempdir().expect("tempdir");
        let config = app_config(&broker, &app, state.path());
        let engine = match restart {
            Restart::InMemory => StoreEngine::InMemory,
            _ => StoreEngine::RocksDb,
        };
        let mut out = Output::new(&broker, &output, &format!("reader-{n}"));

        // Stream time reaches 200 s.
        produce_with_timestamps(
            &broker,
            &input,
            &[record("k", 100_000), record("j", 200_000)],
        );
        let mut first =
            KafkaStreams::new(window_counts(&input, &output, engine), &config).expect("streams");
        first.start().expect("start");
        out.wait_for("k@100000=1");
        out.wait_for("j@200000=1");
        first.close().expect("clean close");
        drop(first);
        if let Restart::Restore = restart {
            std::fs::remove_dir_all(state.path().join(&app)).expect("delete state dir");
        }

        // After the restart: k at 50 s belongs to a window that closed at 60 s, long before
        // stream time 200 s; j at 200.7 s goes on counting its window.
        produce_with_timestamps(
            &broker,
            &input,
            &[record("k", 50_000), record("j", 200_700)],
        );
        let mut second =
            KafkaStreams::new(window_counts(&input, &output, engine), &config).expect("streams");
        second.start().expect("start");
        out.wait_for("j@200000=2");
        out.poll();
        assert_eq!(
            out.lines,
            ["k@100000=1", "j@200000=1", "j@200000=2"],
            "{restart:?}: the late record was dropped, the window went on from its count"
        );
        wait_for("the drop to be counted", TIMEOUT, || {
            second
                .metrics_registry()
                .gather()
                .iter()
                .filter(|f| f.name() == "streams_task_dropped_records_total")
                .flat_map(|f| f.get_metric().iter())
                .filter(|m| m.get_label().iter().any(|l| l.value() == "late"))
                .map(|m| m.get_counter().get_value())
                .sum::<f64>()
                == 1.0
        });
        second.close().expect("clean close");
    }
}

#[test]
fn the_cache_forwards_one_update_per_session_per_commit() {
    // KStreamSessionWindowAggregateProcessorTest
    // .shouldHaveMultipleSessionsForSameIdWhenTimestampApartBySessionGap: with a cache flushed
    // once (here at the close's commit), each session is forwarded once, with its last count.
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("visits", 1).expect("input");
    broker.create_topic("visits-seen", 1).expect("seen");
    broker.create_topic("session-counts", 1).expect("output");
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, "sessions-per-commit", state.path());
    // No commit before the close: the cache holds every update until then.
    config.set("commit.interval.ms", "3600000");
    let gap: i64 = 300_000;
    let builder = StreamsBuilder::new();
    let visits = builder.stream("visits", Consumed::with(Serdes::string(), Serdes::string()));
    visits.clone().to("visits-seen");
    visits
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(
            Duration::from_millis(gap as u64),
        ))
        .count(Materialized::as_("sessions"))
        .to_stream()
        .map(|w, count| {
            (
                format!("{}@{}/{}", w.key, w.window.start, w.window.end),
                count,
            )
        })
        .to("session-counts");
    let (a, b) = (1_000_000, 1_000_000 + gap + 1);
    let c = b + gap + 1;
    let records: Vec<_> = [a, b, b, c, c, c]
        .iter()
        .map(|&ts| record("mel", ts))
        .collect();
    produce_with_timestamps(&broker, "visits", &records);
    let mut streams =
        KafkaStreams::new(builder.build().expect("topology"), &config).expect("streams");
    streams.start().expect("start");
    // Every record processed (the copy is not cached), none committed yet.
    let mut seen = Output::new(&broker, "visits-seen", "seen-reader");
    wait_for("every visit processed", TIMEOUT, || {
        seen.poll();
        seen.lines.len() == records.len()
    });
    streams.close().expect("clean close");
    let mut out = Output::new(&broker, "session-counts", "sessions-reader");
    let last = format!("mel@{c}/{c}=3");
    out.wait_for(&last);
    out.poll();
    assert_eq!(
        out.lines,
        [
            format!("mel@{a}/{a}=1"),
            format!("mel@{b}/{b}=2"),
            last.clone()
        ]
    );
}
