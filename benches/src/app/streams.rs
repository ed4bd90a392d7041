//! Our framework's app: the workload's topology on a [`KafkaStreams`] instance configured as
//! the Kafka Streams app is (the same application id, threads, guarantee, commit interval and
//! cache size; everything else at each framework's defaults, unless `--property` says
//! otherwise).

use std::sync::atomic::{AtomicBool, Ordering};

use streams_core::{KafkaStreams, State, StreamsConfig};

use super::{AppArgs, Pass, event, monitor};
use crate::harness::BoxError;
use crate::workloads::{Topics, Workload};

/// Runs pass `index`; `Ok(false)` when stdin closed before it completed.
pub(super) fn run_pass(
    args: &AppArgs,
    workload: &Workload,
    index: usize,
    pass: &Pass,
    stdin_closed: &AtomicBool,
) -> Result<bool, BoxError> {
    let topology = (workload.topology)(&Topics::new(&pass.prefix))?;
    let mut config = StreamsConfig::new();
    config
        .set("application.id", &pass.app_id)
        .set("bootstrap.servers", &args.bootstrap)
        .set("state.dir", args.state_dir.to_string_lossy().to_string())
        .set("num.stream.threads", args.threads.to_string())
        .set("processing.guarantee", &args.guarantee)
        .set("commit.interval.ms", args.commit_interval_ms.to_string())
        .set("statestore.cache.max.bytes", args.cache_bytes.to_string());
    for property in &args.properties {
        let (key, value) = property
            .split_once('=')
            .ok_or_else(|| format!("--property `{property}`: want KEY=VALUE"))?;
        config.set(key, value);
    }
    let registry = prometheus::Registry::new();
    config.set_metrics_registry(registry.clone());
    let mut streams = KafkaStreams::new(topology, &config)?;
    let announced = AtomicBool::new(false);
    streams.set_state_listener(move |new, _| {
        if new == State::Running && !announced.swap(true, Ordering::Relaxed) {
            event("running", index).print();
        }
    })?;
    streams.start()?;
    let watched = monitor(
        index,
        pass,
        stdin_closed,
        || processed(&registry),
        || {
            (streams.state() == State::Error).then(|| match streams.error() {
                Some(error) => format!("streams failed: {}", error.report()),
                None => "streams failed".to_string(),
            })
        },
    );
    let closed = streams.close();
    let completed = watched?;
    closed?;
    event("closed", index).print();
    Ok(completed)
}

/// Records the instance processed: `streams_task_process_total` over its tasks (counted per
/// record; the thread-level total is brought up to date at each maintenance step).
fn processed(registry: &prometheus::Registry) -> u64 {
    registry
        .gather()
        .iter()
        .filter(|family| family.name() == "streams_task_process_total")
        .flat_map(|family| family.get_metric())
        .map(|metric| metric.get_counter().get_value() as u64)
        .sum()
}
