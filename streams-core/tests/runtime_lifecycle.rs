//! The instance lifecycle on the embedded broker: state transitions seen by a listener, one
//! instance per state directory, a failed thread replaced under `ReplaceThread`, and
//! `close_with_timeout`.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{TableReader, app_config, init_tracing, produce_keyed};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::error::UncaughtErrorResponse;
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, State, Topology};

fn counting(panic_once: Option<Arc<AtomicBool>>) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(Serdes::string(), Serdes::string()))
        .peek(move |_, value: &String| {
            // The 50th record panics once, as a bug that a restart gets past would.
            if value == "value-50"
                && panic_once
                    .as_ref()
                    .is_some_and(|f| f.swap(false, Ordering::SeqCst))
            {
                panic!("transient failure on {value}");
            }
        })
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("counts-out");
    builder.build().expect("topology")
}

fn broker_with_topics() -> Arc<EmbeddedBroker> {
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("events", 2).expect("topic");
    broker.create_topic("counts-out", 2).expect("topic");
    broker
}

#[test]
fn a_state_listener_sees_every_transition_in_order() {
    init_tracing();
    let broker = broker_with_topics();
    let state = tempfile::tempdir().expect("tempdir");
    let mut streams = KafkaStreams::new(
        counting(None),
        &app_config(&broker, "listened", state.path()),
    )
    .expect("streams");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = seen.clone();
    streams
        .set_state_listener(move |new, old| sink.lock().expect("lock").push((old, new)))
        .expect("listener");
    streams.start().expect("start");
    assert!(
        streams.set_state_listener(|_, _| {}).is_err(),
        "a listener can only be set before start"
    );
    streams
        .wait_until_running(Duration::from_secs(60))
        .expect("running");
    assert!(
        streams
            .close_with_timeout(Duration::from_secs(60))
            .expect("close")
    );
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen.first(),
        Some(&(State::Created, State::Rebalancing)),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(State::Rebalancing, State::Running)),
        "{seen:?}"
    );
    assert_eq!(
        &seen[seen.len() - 2..],
        &[
            (State::Running, State::PendingShutdown),
            (State::PendingShutdown, State::NotRunning)
        ],
        "{seen:?}"
    );
    for (old, new) in &seen {
        assert_ne!(old, new, "{seen:?}");
    }
}

#[test]
fn two_instances_cannot_share_a_state_directory() {
    init_tracing();
    let broker = broker_with_topics();
    let state = tempfile::tempdir().expect("tempdir");
    let config = app_config(&broker, "shared-dir", state.path());
    let mut first = KafkaStreams::new(counting(None), &config).expect("streams");
    first.start().expect("start");
    let mut second = KafkaStreams::new(counting(None), &config).expect("streams");
    let err = second.start().expect_err("the directory is taken");
    assert!(err.to_string().contains("another instance"), "{err}");
    first.close().expect("close");
    // Released on close: a new instance may start there.
    let mut third = KafkaStreams::new(counting(None), &config).expect("streams");
    third.start().expect("start after release");
    third.close().expect("close");
}

#[test]
fn replace_thread_restarts_a_failed_thread_and_loses_nothing() {
    init_tracing();
    let broker = broker_with_topics();
    let expected = produce_keyed(&broker, "events", 0, 200, 10);
    let state = tempfile::tempdir().expect("tempdir");
    let registry = prometheus::Registry::new();
    let mut config = app_config(&broker, "replaced", state.path());
    config.set_metrics_registry(registry.clone());
    let armed = Arc::new(AtomicBool::new(true));
    let mut streams = KafkaStreams::new(counting(Some(armed.clone())), &config).expect("streams");
    let errors = Arc::new(Mutex::new(Vec::new()));
    let log = errors.clone();
    streams
        .set_uncaught_error_handler(move |e| {
            log.lock().expect("lock").push(e.report().to_string());
            UncaughtErrorResponse::ReplaceThread
        })
        .expect("handler");
    streams.start().expect("start");
    let mut reader = TableReader::new(&broker, "counts-out");
    let counts = reader.read_until(&expected, Duration::from_secs(60));
    // At least once: the replaced thread's uncommitted records are processed again, so counts
    // may overshoot, never undershoot.
    for (key, want) in &expected {
        let got = counts.get(key).copied().unwrap_or(0);
        assert!(got >= *want, "{key}: {got} < {want}");
    }
    assert!(!armed.load(Ordering::SeqCst), "the panic happened");
    let errors = errors.lock().expect("lock").clone();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("transient failure on value-50"),
        "{errors:?}"
    );
    let replaced = common::metric_sum(&registry, "streams_client_threads_replaced_total", &[]);
    assert_eq!(replaced, 1.0);
    let deadline = Instant::now() + Duration::from_secs(60);
    while streams.state() != State::Running {
        assert!(
            Instant::now() < deadline,
            "not running again: {:?}",
            streams.state()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    streams.close().expect("clean close");
}
