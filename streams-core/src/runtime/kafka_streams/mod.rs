//! [`KafkaStreams`]: an application instance, a worker of the consumer group `application.id`.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use tracing::{debug, info};

mod queries;

use super::StateRestoreListener;
use super::StreamsMetrics;
use super::admin::admin_for;
use super::clients::client_config;
use super::dir_lock::DirLock;
use super::handle::{HandleCore, KafkaStreamsHandle};
use super::instance::{InstanceShared, State};
use super::plan::{TopicPlan, plan};
use super::restore_listener::NoRestoreListener;
use super::stream_thread::{ThreadSpec, UncaughtErrorHandler, spawn};
use crate::config::ClientKind;
use crate::error::UncaughtErrorResponse;
use crate::{Error, Result, StreamsConfig, Topology};

/// A running instance of a streams application.
///
/// `start()` plans the topics (reads source topic partitions, creates missing internal topics),
/// then starts `num.stream.threads` stream threads, each a member of the consumer group
/// `application.id`. The group spreads partitions over all threads of all instances; each
/// thread runs one task per assigned partition number of each sub-topology, restores its stores
/// from their changelogs, then processes. Offsets are committed every `commit.interval.ms`
/// after the producer has delivered everything and stores are checkpointed (at-least-once).
pub struct KafkaStreams {
    topology: Arc<Topology>,
    config: StreamsConfig,
    /// One block cache, and the config setter, for every RocksDB store this instance opens.
    rocksdb: crate::state::RocksDbEnv,
    metrics: Arc<StreamsMetrics>,
    shared: Arc<InstanceShared>,
    threads: Vec<JoinHandle<()>>,
    global: Option<super::global_thread::GlobalThread>,
    standby: Option<JoinHandle<()>>,
    uncaught: UncaughtErrorHandler,
    restore_listener: Arc<dyn StateRestoreListener>,
    /// Held while the instance runs: one instance per state directory.
    dir_lock: Option<DirLock>,
    /// State, metadata and queries, shared with query servers; holds the topics planned at
    /// start (task counts, for key queries) and the global stores.
    handle: KafkaStreamsHandle,
}

impl std::fmt::Debug for KafkaStreams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaStreams")
            .field(
                "application_id",
                &self.config.get(crate::config::APPLICATION_ID),
            )
            .field("state", &self.state())
            .finish()
    }
}

impl KafkaStreams {
    /// An instance of `topology` configured by `config`. Checks the configuration; connects
    /// to nothing until [`start`](Self::start).
    pub fn new(topology: Topology, config: &StreamsConfig) -> Result<Self> {
        let app_id = config.application_id()?;
        topology.check_derived_names(app_id)?;
        if let Some(topic) = config.dead_letter_topic()
            && let Some(reason) = crate::topology::names::topic_name_problem(topic)
        {
            return Err(Error::Config {
                key: crate::config::DEAD_LETTER_QUEUE_TOPIC.into(),
                reason: format!("`{topic}` is not a valid topic name: {reason}"),
            });
        }
        config.bootstrap_servers().ok_or_else(|| Error::Config {
            key: crate::config::BOOTSTRAP_SERVERS.into(),
            reason: "is required".into(),
        })?;
        config.commit_interval()?;
        config.num_stream_threads()?;
        config.error_policies()?;
        config.replacement_policy()?;
        config.check_processing_guarantee()?;
        config.check_group_instance_id()?;
        let optimizations = config.topology_optimization()?;
        if let Some(built) = topology.built_with()
            && built != optimizations
        {
            // As in Kafka Streams, the optimizations are applied where the topology is built.
            tracing::warn!(
                "topology.optimization asks for {optimizations:?} but the topology was built with {built:?}: build it with StreamsBuilder::build_with(&config) to apply them"
            );
        }
        super::clients::check_client_properties(config)?;
        let rocksdb = crate::state::RocksDbEnv::from_config(config)?;
        let topology = Arc::new(topology);
        let shared = Arc::new(InstanceShared::default());
        let metrics = super::metrics::instance_metrics(config, &shared, &rocksdb)?;
        let handle = KafkaStreamsHandle::new(HandleCore {
            topology: topology.clone(),
            shared: shared.clone(),
            application_server: config.application_server()?,
            plan: std::sync::OnceLock::new(),
            globals: std::sync::OnceLock::new(),
        });
        Ok(KafkaStreams {
            topology,
            config: config.clone(),
            rocksdb,
            metrics,
            shared,
            threads: Vec::new(),
            global: None,
            standby: None,
            uncaught: Arc::new(|_: &Error| UncaughtErrorResponse::ShutdownClient),
            restore_listener: Arc::new(NoRestoreListener),
            dir_lock: None,
            handle,
        })
    }

    /// Sink topics that do not exist must be created by the first write, or the application
    /// would run without delivering anything until its producer gives up: an error now.
    fn check_sink_topics(
        &self,
        admin: &dyn super::TopicAdmin,
        partitions: &dyn Fn(&str) -> Result<Option<i32>>,
    ) -> Result<()> {
        let mut missing = Vec::new();
        for (topic, node) in self.topology.user_sink_topics() {
            if partitions(&topic)?.is_none() {
                missing.push((topic, node));
            }
        }
        let Some((topic, node)) = missing.first() else {
            return Ok(());
        };
        let producer = self.config.client_properties(ClientKind::Producer);
        let reason = if producer
            .get("allow.auto.create.topics")
            .is_some_and(|v| v == "false")
        {
            Some("the producer's allow.auto.create.topics is false".to_string())
        } else {
            match admin.auto_creates_topics()? {
                Some(true) => None,
                Some(false) => Some("the brokers' auto.create.topics.enable is false".to_string()),
                None => {
                    tracing::warn!(
                        "sink topic `{topic}` does not exist and whether the cluster creates it on first write is unknown"
                    );
                    None
                }
            }
        };
        match reason {
            Some(reason) => Err(Error::MissingSinkTopic {
                topic: topic.clone(),
                node: node.clone(),
                reason,
            }),
            None => {
                info!(
                    topics = ?missing.iter().map(|(t, _)| t).collect::<Vec<_>>(),
                    "sink topics do not exist yet: the cluster creates them on first write"
                );
                Ok(())
            }
        }
    }

    fn plan_topics(&self) -> Result<TopicPlan> {
        let app_id = self.config.application_id()?;
        let probe: BaseConsumer = client_config(&self.config, ClientKind::Admin)
            .create()
            .map_err(|e| Error::kafka("creating a metadata client", e))?;
        let partitions = |topic: &str| -> Result<Option<i32>> {
            let metadata = probe
                .fetch_metadata(Some(topic), Duration::from_secs(30))
                .map_err(|e| Error::kafka(format!("reading metadata of `{topic}`"), e))?;
            Ok(metadata
                .topics()
                .iter()
                .find(|t| t.name() == topic && t.error().is_none())
                .map(|t| t.partitions().len() as i32)
                .filter(|&n| n > 0))
        };
        let mut plan = plan(
            &self.topology,
            app_id,
            self.config.replication_factor()?,
            partitions,
        )?;
        if self.config.num_standby_replicas()? > 0 || self.config.application_server()?.is_some() {
            plan.internal_topics.push(super::admin::TopicSpec {
                name: super::registry::topic(app_id),
                partitions: 1,
                replication_factor: self.config.replication_factor()?,
                config: vec![("cleanup.policy".into(), "compact".into())],
            });
        }
        let user_configs = self.config.internal_topic_configs();
        for spec in &mut plan.internal_topics {
            for (key, value) in &user_configs {
                spec.config.retain(|(k, _)| k != key);
                spec.config.push((key.clone(), value.clone()));
            }
        }
        let admin = admin_for(&self.config)?;
        self.check_sink_topics(&*admin, &partitions)?;
        admin.create_topics(&plan.internal_topics)?;
        // A topic created a moment ago (by us or by another instance) reaches every broker's
        // metadata a little later: wait for it, as Kafka Streams' topic manager retries.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut counts = std::collections::BTreeMap::new();
        for spec in &plan.internal_topics {
            let count = loop {
                if let Some(count) = partitions(&spec.name)? {
                    break count;
                }
                if std::time::Instant::now() >= deadline {
                    return Err(Error::Topology(format!(
                        "internal topic `{}` was not created: not in the cluster's metadata 30 s after creating it",
                        spec.name
                    )));
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            counts.insert(spec.name.clone(), count);
        }
        let names: Vec<String> = plan
            .internal_topics
            .iter()
            .map(|s| s.name.clone())
            .collect();
        for spec in &plan.internal_topics {
            let count = counts.get(&spec.name).copied().unwrap_or_default();
            super::topic_check::check(spec, count, None)?;
        }
        // A broker that has not yet applied a topic just created answers with the default
        // configs: a wrong cleanup policy is believed only once it persists.
        loop {
            let configs = admin.describe_topic_configs(&names)?;
            let Some(configs) = configs else {
                debug!(
                    "the topic admin cannot read configs: internal topics' cleanup policies are not checked"
                );
                break;
            };
            let checked = plan.internal_topics.iter().try_for_each(|spec| {
                let count = counts.get(&spec.name).copied().unwrap_or_default();
                super::topic_check::check(spec, count, configs.get(&spec.name))
            });
            match checked {
                Err(e) if std::time::Instant::now() < deadline => {
                    debug!("{e}; reading the configs again");
                    std::thread::sleep(Duration::from_millis(200));
                }
                other => {
                    other?;
                    break;
                }
            }
        }
        Ok(plan)
    }

    /// Calls `listener(new, old)` on every change of [`state`](Self::state), in order, from
    /// whichever thread made the change. Set it before [`start`](Self::start). The listener
    /// must not call [`close`](Self::close).
    ///
    /// ```no_run
    /// # use streams_core::{KafkaStreams, State};
    /// # fn wire(streams: &mut KafkaStreams) -> streams_core::Result<()> {
    /// streams.set_state_listener(|new, old| {
    ///     if new == State::Error {
    ///         eprintln!("streams went from {old:?} to {new:?}");
    ///     }
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn set_state_listener(
        &mut self,
        listener: impl Fn(State, State) + Send + Sync + 'static,
    ) -> Result<()> {
        self.ensure_created("set_state_listener")?;
        self.shared.set_state_listener(Box::new(listener));
        Ok(())
    }

    /// Decides what a stream thread's uncaught error does (one that no policy of
    /// [`error`](crate::error) absorbed): replace the thread, or shut the instance down
    /// (the default). Set it before [`start`](Self::start).
    ///
    /// ```no_run
    /// # use streams_core::KafkaStreams;
    /// # use streams_core::error::UncaughtErrorResponse;
    /// # fn wire(streams: &mut KafkaStreams) -> streams_core::Result<()> {
    /// streams.set_uncaught_error_handler(|error| {
    ///     eprintln!("stream thread failed: {error}");
    ///     UncaughtErrorResponse::ReplaceThread
    /// })?;
    /// # Ok(()) }
    /// ```
    pub fn set_uncaught_error_handler(
        &mut self,
        handler: impl Fn(&Error) -> UncaughtErrorResponse + Send + Sync + 'static,
    ) -> Result<()> {
        self.ensure_created("set_uncaught_error_handler")?;
        self.uncaught = Arc::new(handler);
        Ok(())
    }

    /// Reports the progress of every store restoration of this instance's stream threads
    /// (see [`StateRestoreListener`]). Set it before [`start`](Self::start).
    pub fn set_global_state_restore_listener(
        &mut self,
        listener: impl StateRestoreListener + 'static,
    ) -> Result<()> {
        self.ensure_created("set_global_state_restore_listener")?;
        self.restore_listener = Arc::new(listener);
        Ok(())
    }

    fn ensure_created(&self, operation: &'static str) -> Result<()> {
        if self.shared.state() != State::Created || !self.threads.is_empty() {
            return Err(Error::InvalidState {
                operation,
                state: self.shared.state(),
                reason: "only a created instance, before start(), allows it",
            });
        }
        Ok(())
    }

    /// Creates internal topics and starts the stream threads.
    pub fn start(&mut self) -> Result<()> {
        self.ensure_created("start")?;
        let app_dir = self.config.state_dir().join(self.config.application_id()?);
        std::fs::create_dir_all(&app_dir).map_err(|e| Error::io(&app_dir, e))?;
        let lock = DirLock::acquire(&app_dir, std::time::Duration::ZERO).map_err(|source| {
            Error::StateDirLocked {
                application_id: self.config.application_id().unwrap_or_default().to_string(),
                dir: app_dir.clone(),
                source,
            }
        })?;
        let plan = Arc::new(self.plan_topics()?);
        let threads = if plan.source_topics.is_empty() {
            // As Kafka Streams does: a topology of global stores only needs no stream thread
            // (its consumer would have nothing to subscribe to); the global thread does it all.
            tracing::info!("global-only topology: no stream threads are started");
            0
        } else {
            self.config.num_stream_threads()?
        };
        self.dir_lock = Some(lock);
        let process_id = super::state_dir::process_id(&app_dir)?;
        let (globals, global) = super::global_thread::start(
            &self.topology,
            &self.config,
            &self.rocksdb,
            self.shared.clone(),
            self.restore_listener.clone(),
        )?;
        self.global = global;
        let _ = self.handle.core().globals.set(globals.clone());
        self.shared.start(threads);
        // Kafka Streams' default `client.id`: the application id and the process id.
        let client_id = match self.config.get("client.id") {
            Some(id) => id.to_string(),
            None => format!("{}-{process_id}", self.config.application_id()?),
        };
        for index in 0..threads {
            let handle = spawn(ThreadSpec {
                index,
                name: format!("{client_id}-StreamThread-{}", index + 1),
                topology: self.topology.clone(),
                plan: plan.clone(),
                config: self.config.clone(),
                metrics: self.metrics.clone(),
                shared: self.shared.clone(),
                globals: globals.clone(),
                rocksdb: self.rocksdb.clone(),
                uncaught: self.uncaught.clone(),
                restore_listener: self.restore_listener.clone(),
                process_id: process_id.clone(),
            })?;
            self.threads.push(handle);
        }
        let replicas = self.config.num_standby_replicas()?;
        let _ = self.handle.core().plan.set(plan.clone());
        if replicas > 0 || self.config.application_server()?.is_some() {
            self.standby = Some(super::standby::spawn(super::standby::StandbySpec {
                topology: self.topology.clone(),
                plan: plan.clone(),
                config: self.config.clone(),
                metrics: self.metrics.clone(),
                shared: self.shared.clone(),
                globals: globals.clone(),
                rocksdb: self.rocksdb.clone(),
                process_id,
                replicas,
            })?);
        }
        info!(threads, standby_replicas = replicas, "started");
        Ok(())
    }

    /// Wipes this application's local state, `<state.dir>/<application.id>` (every task's
    /// stores and checkpoints, and the global stores), as Kafka Streams' `cleanUp()`: the next
    /// start restores every store from its changelog. Allowed only before
    /// [`start`](Self::start) or after [`close`](Self::close) has returned; refused
    /// ([`Error::InvalidState`]) while the instance runs, and ([`Error::StateDirLocked`]) while
    /// another instance runs in the same directory. Without an instance,
    /// [`reset::clean_up`](crate::reset::clean_up) does the same.
    ///
    /// ```
    /// # use streams_core::{KafkaStreams, StreamsConfig, Topology};
    /// let state = tempfile::tempdir()?;
    /// let mut config = StreamsConfig::new();
    /// config
    ///     .set("application.id", "app")
    ///     .set("bootstrap.servers", "localhost:9092")
    ///     .set("state.dir", state.path().display().to_string());
    /// std::fs::create_dir_all(state.path().join("app/0_0"))?;
    /// let streams = KafkaStreams::new(Topology::new(), &config)?;
    /// streams.clean_up()?; // before start(): the next start restores from the changelogs
    /// assert!(!state.path().join("app/0_0").exists());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn clean_up(&self) -> Result<()> {
        let started = !self.threads.is_empty()
            || self.global.is_some()
            || self.standby.is_some()
            || self.dir_lock.is_some();
        let state = self.state();
        if started || !matches!(state, State::Created | State::NotRunning | State::Error) {
            return Err(Error::InvalidState {
                operation: "clean_up",
                state,
                reason: "the instance is running: clean up before start() or after close()",
            });
        }
        crate::reset::clean_up(&self.config).map(|_| ())
    }

    /// The registry holding the instance's metrics: the one given with
    /// [`StreamsConfig::set_metrics_registry`], else one the instance made. A handle on the
    /// same registry (prometheus registries share their contents when cloned), for an HTTP
    /// server to gather and encode; the metrics leave it when the instance is dropped.
    /// [Operations](crate::guide::operations#metrics) lists them.
    ///
    /// ```
    /// # use streams_core::{KafkaStreams, StreamsConfig, Topology};
    /// # let mut config = StreamsConfig::new();
    /// # config.set("application.id", "app").set("bootstrap.servers", "localhost:9092");
    /// let streams = KafkaStreams::new(Topology::new(), &config)?;
    /// let families = streams.metrics_registry().gather();
    /// assert!(families.iter().any(|f| f.name() == "streams_client_state"));
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn metrics_registry(&self) -> prometheus::Registry {
        self.metrics.registry().clone()
    }

    /// The instance's state.
    pub fn state(&self) -> State {
        self.shared.state()
    }

    /// The fatal error a stream thread stopped with, if any. [`close`](Self::close) returns it
    /// too (after that this is `None`): the error itself, or [`Error::Failed`] sharing it while
    /// an `Arc` from here is still held.
    pub fn error(&self) -> Option<Arc<Error>> {
        self.shared.error()
    }

    /// Waits until the instance is [`State::Running`]: [`Error::Failed`] if it fails first,
    /// [`Error::InvalidState`] if it was not started or is closing, [`Error::Timeout`] if
    /// `timeout` passes first.
    pub fn wait_until_running(&self, timeout: Duration) -> Result<()> {
        let not_running = |state, reason| Error::InvalidState {
            operation: "wait_until_running",
            state,
            reason,
        };
        if self.state() == State::Created {
            return Err(not_running(State::Created, "the instance must be started"));
        }
        let state = self.shared.wait_for_state(timeout, |state| {
            matches!(
                state,
                State::Running | State::Error | State::PendingShutdown | State::NotRunning
            )
        });
        match state {
            State::Running => Ok(()),
            State::Error => Err(match self.shared.error() {
                Some(error) => Error::Failed(error),
                None => not_running(state, "the instance failed; close() returned its error"),
            }),
            State::PendingShutdown | State::NotRunning => {
                Err(not_running(state, "the instance is closing or closed"))
            }
            state => Err(Error::Timeout {
                what: "running",
                after: timeout,
                state,
            }),
        }
    }

    /// Waits up to `timeout` for the instance to stop by itself (failed, or closed); returns
    /// whether it did.
    pub(crate) fn wait_until_stopped(&self, timeout: Duration) -> bool {
        let state = self.shared.wait_for_state(timeout, |state| {
            matches!(state, State::Error | State::NotRunning)
        });
        matches!(state, State::Error | State::NotRunning)
    }

    /// Stops the threads: each commits, checkpoints and closes its tasks, then leaves the group.
    /// Waits for them without limit. Returns the error a thread failed with, if one did.
    pub fn close(&mut self) -> Result<()> {
        self.close_with_timeout(Duration::MAX).map(|_| ())
    }

    /// Like [`close`](Self::close), waiting at most `timeout` for the threads: `Ok(true)` if
    /// they all stopped in time, `Ok(false)` if some are still closing their tasks (the
    /// instance stays [`State::PendingShutdown`]; calling `close` again waits for them).
    pub fn close_with_timeout(&mut self, timeout: Duration) -> Result<bool> {
        self.shared.request_shutdown();
        // `Duration::MAX` (from `close`): as long as it takes.
        let wait = (timeout < Duration::from_secs(u64::from(u32::MAX))).then_some(timeout);
        if !self.shared.wait_for_threads(wait) {
            return Ok(false);
        }
        for handle in self.threads.drain(..) {
            if handle.join().is_err() {
                self.shared.fail(
                    usize::MAX,
                    Error::IllegalState("a stream thread panicked".into()),
                );
            }
        }
        if let Some(standby) = self.standby.take() {
            let _ = standby.join();
        }
        if let Some(global) = self.global.take() {
            global.stop();
        }
        self.dir_lock = None;
        self.shared.mark_closed();
        match self.shared.take_error() {
            Some(e) => Err(e),
            None => Ok(true),
        }
    }

    /// Blocks until the process receives SIGTERM or SIGINT (or the instance stops by itself,
    /// failed or closed), then [`close`](Self::close)s it: the worker-binary main loop.
    ///
    /// ```no_run
    /// # use streams_core::{KafkaStreams, StreamsConfig, Topology};
    /// # fn run(topology: Topology, config: &StreamsConfig) -> streams_core::Result<()> {
    /// let mut streams = KafkaStreams::new(topology, config)?;
    /// streams.start()?;
    /// streams.run_until_signal() // a clean shutdown on `kill` or Ctrl-C
    /// # }
    /// ```
    ///
    /// Signals are caught from this call on; to catch them during start too, install a
    /// [`ShutdownSignal`](super::ShutdownSignal) before starting.
    pub fn run_until_signal(&mut self) -> Result<()> {
        let signal = super::ShutdownSignal::install()?;
        signal.wait(self);
        self.close()
    }
}

impl Drop for KafkaStreams {
    fn drop(&mut self) {
        if !self.threads.is_empty() || self.global.is_some() || self.standby.is_some() {
            let _ = self.close();
        }
    }
}
