//! A stream thread: one consumer in the group, one producer, and the tasks for the partitions
//! the group gives it, processed synchronously on this thread.
//!
//! librdkafka runs rebalance callbacks inside `poll`, on the polling thread, and commits must
//! happen inside the revocation callback (before the partitions go). Tasks hold `Rc`s and
//! cannot live in the (`Send + Sync`) consumer context, so the thread keeps its
//! [`TaskManager`] in a thread-local that both the loop and the callbacks reach; the loop never
//! holds it across `poll`.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::producer::Producer;
use tracing::{error, info, warn};

use super::clients::{changelog_reader, client_config, log_end_reader};
use super::consumer_stats;
use super::fetch_watch::{FetchWatch, Stuck};
use super::instance::{InstanceShared, ThreadState};
use super::membership::{SetIfAbsent, choose_group_protocol, leave_group, static_membership};
use super::metrics::{ConsumerLag, LoopMeter};
use super::plan::TopicPlan;
use super::producer::{DeliveryTracker, StreamsProducer};
use super::restore::RestoreClients;
use super::task_manager::{ManagerSettings, TaskManager};
use super::{StreamsMetrics, ThreadMetrics};
use crate::config::ClientKind;
use crate::error::UncaughtErrorResponse;
use crate::{Error, Result, StreamsConfig, Topology};

thread_local! {
    static MANAGER: RefCell<Option<TaskManager>> = const { RefCell::new(None) };
}

/// Runs `f` on this thread's task manager, if it has one and it is not in use.
fn with_manager<R>(f: impl FnOnce(&mut TaskManager) -> R) -> Option<R> {
    MANAGER.with(|slot| {
        let mut guard = slot.try_borrow_mut().ok()?;
        guard.as_mut().map(f)
    })
}

/// Consumer context that hands rebalances to the thread's task manager, and its statistics
/// to the consumer-lag metric and the [`FetchWatch`].
struct RebalanceHandler {
    lag: ConsumerLag,
    watch: Mutex<FetchWatch>,
}

impl RebalanceHandler {
    /// A partition the consumer is stuck on (see [`FetchWatch`]), if any.
    fn stuck(&self) -> Option<Stuck> {
        self.watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .stuck(Instant::now())
    }
}

impl ClientContext for RebalanceHandler {
    /// Called in `poll`, on the stream thread, every `statistics.interval.ms`: only what the
    /// lag metric and the fetch watch need is read from the JSON (rdkafka's default would
    /// decode all of it).
    fn stats_raw(&self, statistics: &[u8]) {
        let stats = match consumer_stats::parse(statistics) {
            Ok(stats) => stats,
            Err(e) => {
                tracing::debug!("cannot read the consumer's statistics: {e}");
                return;
            }
        };
        self.lag.update(&stats);
        self.watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .update(&stats, Instant::now());
    }
}

impl ConsumerContext for RebalanceHandler {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            info!(partitions = tpl.count(), "partitions revoked");
            with_manager(|m| m.on_revoked(consumer, tpl));
        }
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                info!(partitions = tpl.count(), "partitions assigned");
                with_manager(|m| m.on_assigned(consumer, tpl));
            }
            Rebalance::Error(e) => error!("rebalance error: {e}"),
            Rebalance::Revoke(_) => {}
        }
    }
}

/// Decides what an uncaught error in a stream thread does.
pub(crate) type UncaughtErrorHandler = Arc<dyn Fn(&Error) -> UncaughtErrorResponse + Send + Sync>;

/// Everything a thread needs to start.
#[derive(Clone)]
pub(crate) struct ThreadSpec {
    pub(crate) index: usize,
    /// `<client.id>-StreamThread-<index + 1>`, as Kafka Streams names its threads: the
    /// `thread` label of the thread's metrics and the field of its tracing span.
    pub(crate) name: String,
    pub(crate) topology: Arc<Topology>,
    pub(crate) plan: Arc<TopicPlan>,
    pub(crate) config: StreamsConfig,
    pub(crate) metrics: Arc<StreamsMetrics>,
    pub(crate) shared: Arc<InstanceShared>,
    pub(crate) globals: Arc<crate::state::GlobalStores>,
    /// The instance's RocksDB block cache and config setter.
    pub(crate) rocksdb: crate::state::RocksDbEnv,
    pub(crate) uncaught: UncaughtErrorHandler,
    pub(crate) restore_listener: Arc<dyn super::StateRestoreListener>,
    /// This instance's process id (in transactional ids).
    pub(crate) process_id: String,
}

pub(crate) fn spawn(spec: ThreadSpec) -> Result<JoinHandle<()>> {
    let name = format!("stream-thread-{}", spec.index);
    let alive = spec.shared.thread_alive();
    std::thread::Builder::new()
        .name(name.clone())
        .spawn(move || {
            let _alive = alive;
            let _span = tracing::info_span!("stream_thread", thread = %spec.name).entered();
            supervise(spec)
        })
        .map_err(|e| Error::io(name, e))
}

/// Runs the stream thread; when it stops with an error (or a panic), asks the uncaught-error
/// handler whether to run a fresh one in its place or to stop the instance.
fn supervise(spec: ThreadSpec) {
    let index = spec.index;
    let shared = spec.shared.clone();
    // Checked by `KafkaStreams::new`; the default if it cannot be read here.
    let replacement =
        spec.config
            .replacement_policy()
            .unwrap_or(crate::config::ReplacementPolicy {
                backoff: std::time::Duration::from_secs(1),
                max_backoff: std::time::Duration::from_secs(60),
                max_replacements: 5,
                window: std::time::Duration::from_secs(600),
            });
    let mut replaced_at: std::collections::VecDeque<std::time::Instant> = Default::default();
    loop {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(spec.clone())))
            .unwrap_or_else(|panic| {
                Err(Error::IllegalState(format!(
                    "stream thread {index} {}",
                    crate::error::panic_message(&*panic)
                )))
            });
        // A panic may have left the task manager behind: drop it (its stores close, their
        // directory locks go) before anything else opens them.
        MANAGER.with(|slot| slot.try_borrow_mut().ok().and_then(|mut m| m.take()));
        let error = match outcome {
            Ok(()) => {
                shared.set_thread_state(index, ThreadState::Dead);
                return;
            }
            Err(error) => error,
        };
        if matches!(error, Error::Fenced(_) | Error::TaskMigrated(_)) {
            // Kafka Streams' TaskMigratedException: not a failure of the application; the
            // thread lost its tasks (another instance owns them, or the coordinator aborted
            // its timed-out transaction) and its uncommitted work is redone by their owner.
            if shared.shutdown_requested() {
                // Fenced in the final commit: the tasks were closed without a checkpoint, and
                // the close is as clean as Kafka Streams' (which closes them dirty then).
                warn!(thread = index, "{}: the thread stops", error.report());
                shared.set_thread_state(index, ThreadState::Dead);
                return;
            }
            warn!(thread = index, "{}: rejoining the group", error.report());
            spec.metrics.threads_rejoined.inc();
            shared.set_thread_state(index, ThreadState::Starting);
            continue;
        }
        error!(thread = index, "stream thread failed: {}", error.report());
        let response = (spec.uncaught)(&error);
        if response == UncaughtErrorResponse::ReplaceThread && !shared.shutdown_requested() {
            let now = std::time::Instant::now();
            while replaced_at
                .front()
                .is_some_and(|t| now.duration_since(*t) > replacement.window)
            {
                replaced_at.pop_front();
            }
            match replacement.wait_before(replaced_at.len()) {
                Some(wait) => {
                    warn!(
                        thread = index,
                        "replacing the failed stream thread in {} ms ({} replaced in the last {} s)",
                        wait.as_millis(),
                        replaced_at.len(),
                        replacement.window.as_secs()
                    );
                    shared.set_thread_state(index, ThreadState::Starting);
                    if !shared.wait_for_shutdown(wait) {
                        spec.metrics.threads_replaced.inc();
                        replaced_at.push_back(std::time::Instant::now());
                        continue;
                    }
                }
                None => {
                    error!(
                        thread = index,
                        "stream thread failed again after {} replacements within {} s: shutting the instance down",
                        replaced_at.len(),
                        replacement.window.as_secs()
                    );
                }
            }
        }
        shared.fail(index, error);
        return;
    }
}

fn run(spec: ThreadSpec) -> Result<()> {
    let ThreadSpec {
        index,
        name,
        topology,
        plan,
        config,
        metrics,
        shared,
        globals,
        rocksdb,
        uncaught: _,
        restore_listener,
        process_id,
    } = spec;
    let app_id = config.application_id()?.to_string();
    let client_id = format!("{app_id}-stream-thread-{index}");
    let thread_metrics = ThreadMetrics::new(&metrics, &name);

    let mut producer_config = client_config(&config, ClientKind::Producer);
    producer_config
        .set("client.id", format!("{client_id}-producer"))
        .set_if_absent("partitioner", "murmur2_random");
    let exactly_once = config.exactly_once()?;
    if exactly_once {
        // One transactional producer per thread, with an id stable across restarts of this
        // instance (its process id lives in the state directory): a restarted thread fences
        // the producer of its previous life.
        producer_config
            .set("transactional.id", format!("{app_id}-{process_id}-{index}"))
            .set_if_absent("transaction.timeout.ms", "10000");
    }
    let producer: StreamsProducer = producer_config
        .create_with_context(DeliveryTracker::new(
            config.production_policy()?,
            thread_metrics.production_errors.clone(),
            Arc::new(plan.changelog_topics.clone()),
        ))
        .map_err(|e| Error::kafka("creating the producer", e))?;
    if exactly_once {
        init_transactions(&producer, &shared)?;
    }

    let mut consumer_config = client_config(&config, ClientKind::Consumer);
    consumer_config
        .set("group.id", &app_id)
        .set("client.id", format!("{client_id}-consumer"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set_if_absent("auto.offset.reset", "earliest")
        // librdkafka stops fetching a partition for `fetch.queue.backoff.ms` (1 s) whenever
        // its local queue is full; the record loop empties it in milliseconds, so the wait,
        // not processing, set the pace: ~128k records/s per thread on Apache Kafka, 3.7–5×
        // more at 10 ms (`./x bench --broker kafka`).
        .set_if_absent("fetch.queue.backoff.ms", "10")
        // For `streams_consumer_records_lag` (librdkafka computes it into its statistics).
        .set_if_absent("statistics.interval.ms", "5000");
    choose_group_protocol(&mut consumer_config);
    let static_member = static_membership(&mut consumer_config, index);
    // The consumer leaves the group when not polled for `max.poll.interval.ms`: a commit, or
    // an abort and the rewind after it, must end well within it (see `ManagerSettings`).
    let max_poll_interval: std::time::Duration = consumer_config
        .get("max.poll.interval.ms")
        .and_then(|ms| ms.parse::<u64>().ok())
        .map_or(
            std::time::Duration::from_secs(300),
            std::time::Duration::from_millis,
        );
    let watch = FetchWatch::new(consumer_config.get("client.rack"));
    let consumer: BaseConsumer<RebalanceHandler> = consumer_config
        .create_with_context(RebalanceHandler {
            lag: ConsumerLag::new(&thread_metrics),
            watch: Mutex::new(watch),
        })
        .map_err(|e| Error::kafka("creating the consumer", e))?;

    let restore_consumer = changelog_reader(
        &config,
        &format!("{client_id}-restore-consumer"),
        &format!("{app_id}-restore-unused"),
        "restore consumer",
    )?;
    let log_end =
        exactly_once.then(|| log_end_reader(&config, &format!("{client_id}-log-end-reader")));

    let settings = ManagerSettings {
        application_id: app_id.clone(),
        app_dir: config.state_dir().join(&app_id),
        policies: std::rc::Rc::new(config.error_policies()?),
        emit_intervals: config.emit_intervals()?,
        commit_interval: config.commit_interval()?,
        thread_index: index,
        cache_bytes: config.cache_max_bytes()? / config.num_stream_threads()?,
        uncommitted_max_bytes: config.uncommitted_max_bytes()? / config.num_stream_threads()?,
        max_task_idle_ms: config.max_task_idle_ms()?,
        max_buffered: config.buffered_records_per_partition()?,
        max_buffered_bytes: (config.input_buffer_max_bytes()? / config.num_stream_threads()?)
            .max(1),
        restore_listener,
        exactly_once,
        txn_budget: max_poll_interval / 2,
        globals,
        rocksdb,
    };
    let manager = TaskManager::new(
        topology,
        plan.clone(),
        settings,
        thread_metrics.clone(),
        shared.clone(),
        Arc::new(producer),
        RestoreClients {
            reader: restore_consumer,
            log_end,
        },
    );
    MANAGER.with(|slot| *slot.borrow_mut() = Some(manager));
    let result = run_loop(&consumer, &plan, &config, &shared, &thread_metrics);
    let outcome = match result {
        Ok(LoopEnd::Shutdown) => shut_down_tasks(&consumer),
        // Committed and closed as at a shutdown, then the thread rejoins with new clients.
        Ok(LoopEnd::RenewConsumer(stuck)) => {
            shut_down_tasks(&consumer).and(Err(Error::TaskMigrated(stuck.to_string())))
        }
        Err(e) => {
            with_manager(TaskManager::close_dirty);
            Err(e)
        }
    };
    MANAGER.with(|slot| slot.borrow_mut().take());
    leave_group(&consumer, static_member);
    outcome
}

/// Commits and closes the thread's tasks at its end.
fn shut_down_tasks(consumer: &BaseConsumer<RebalanceHandler>) -> Result<()> {
    with_manager(|m| m.shutdown(consumer)).unwrap_or(Ok(()))
}

/// Initializes the thread's transactional producer (fencing its previous life's producer and
/// its unfinished transaction), retrying for up to five minutes (Kafka Streams'
/// `task.timeout.ms`) while the brokers are unreachable, as after the whole cluster restarted.
fn init_transactions(producer: &StreamsProducer, shared: &InstanceShared) -> Result<()> {
    let deadline = Instant::now() + std::time::Duration::from_secs(300);
    loop {
        match producer.init_transactions(std::time::Duration::from_secs(30)) {
            Ok(()) => return Ok(()),
            Err(e)
                if Instant::now() < deadline
                    && !shared.shutdown_requested()
                    && (super::clients::is_transient(&e)
                        || matches!(&e, rdkafka::error::KafkaError::Transaction(t) if t.is_retriable())) =>
            {
                warn!("initializing the transactional producer: {e}; retrying");
            }
            Err(e) => return Err(Error::kafka("initializing the transactional producer", e)),
        }
    }
}

/// Why the record loop ended without an error.
enum LoopEnd {
    /// The instance shuts down.
    Shutdown,
    /// The consumer is stuck on a partition (see [`FetchWatch`]): the thread commits, closes
    /// its tasks and rejoins with a new consumer.
    RenewConsumer(Stuck),
}

fn run_loop(
    consumer: &BaseConsumer<RebalanceHandler>,
    plan: &TopicPlan,
    config: &StreamsConfig,
    shared: &InstanceShared,
    metrics: &ThreadMetrics,
) -> Result<LoopEnd> {
    let topics: Vec<&str> = plan.source_topics.iter().map(String::as_str).collect();
    consumer
        .subscribe(&topics)
        .map_err(|e| Error::kafka("subscribing to the source topics", e))?;
    let poll = config.poll_interval()?;
    // Housekeeping (delivery reports, wall-clock punctuation, restoration, commits) runs every
    // so many records and whenever the consumer is idle, not per record.
    const RECORDS_PER_MAINTENANCE: u32 = 256;
    let mut since_maintenance = 0u32;
    let mut restoring = false;
    // Counts polls locally and picks the polls and records to time (a sample: see LoopMeter).
    let mut meter = LoopMeter::new(metrics);
    let mut step_started = Instant::now();
    while !shared.shutdown_requested() {
        step_started = Instant::now();
        let timeout = if restoring {
            std::time::Duration::ZERO
        } else {
            poll
        };
        let poll_started = meter.poll().then(Instant::now);
        let polled = consumer.poll(timeout);
        if let Some(started) = poll_started {
            metrics
                .poll_latency
                .observe(started.elapsed().as_secs_f64());
        }
        let step = with_manager(|m| -> Result<Option<Stuck>> {
            if let Some(e) = m.take_pending_error() {
                m.recover(consumer, e)?;
                restoring = m.is_reading_changelogs();
                return Ok(None);
            }
            let idle = match polled {
                Some(Ok(message)) => {
                    let started = meter.record().then(Instant::now);
                    if let Err(e) = m.process(consumer, &message) {
                        // A failed transaction is rolled back and a corrupt store rebuilt in place;
                        // anything else stops the thread.
                        m.recover(consumer, e)?;
                    }
                    if let Some(started) = started {
                        metrics
                            .process_latency
                            .observe(started.elapsed().as_secs_f64());
                    }
                    since_maintenance += 1;
                    false
                }
                // librdkafka reports most consumer errors (a broker going away, a topic not
                // yet known) as events it recovers from by itself.
                Some(Err(e)) => {
                    warn!("consumer error: {e}");
                    true
                }
                None => true,
            };
            if idle || since_maintenance >= RECORDS_PER_MAINTENANCE || m.is_reading_changelogs() {
                since_maintenance = 0;
                if let Some(stuck) = consumer.context().stuck() {
                    return Ok(Some(stuck));
                }
                m.flush_metrics();
                meter.flush(metrics);
                if let Err(e) = m.restore(consumer).and_then(|()| m.maybe_commit(consumer)) {
                    m.recover(consumer, e)?;
                }
            }
            restoring = m.is_reading_changelogs();
            Ok(None)
        });
        if let Some(stuck) = step.unwrap_or(Ok(None))? {
            return Ok(LoopEnd::RenewConsumer(stuck));
        }
    }
    let last_step = step_started.elapsed();
    if last_step >= SLOW_STEP {
        // What a shutdown waited for before it could begin: a commit, a rollback, a poll.
        info!(
            "shutdown requested during a step of the record loop that took {} ms",
            last_step.as_millis()
        );
    }
    Ok(LoopEnd::Shutdown)
}

/// A step of the record loop slower than this, when a shutdown waited for it, is logged.
const SLOW_STEP: std::time::Duration = std::time::Duration::from_millis(500);
