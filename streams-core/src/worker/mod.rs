//! The worker: a deployable binary from one topology function.
//!
//! [`Worker`] turns a function building a [`Topology`] into a command-line program with three
//! subcommands:
//!
//! - `run` — joins the consumer group `application.id`, processes, and serves HTTP (metrics,
//!   health probes, topology, instances, tasks and interactive queries of the stores you
//!   register, see [`http`]) until SIGTERM or SIGINT, then closes cleanly (commits, checkpoints,
//!   leaves the group). Without `bootstrap.servers` it starts an embedded broker and says so.
//! - `describe` — prints the topology as text, Mermaid or Graphviz DOT.
//! - `reset` — resets the application for reprocessing, as Kafka's
//!   `kafka-streams-application-reset`: refused while an instance runs; moves the consumer
//!   group's offsets of the input topics (the topology's source topics unless
//!   `--input-topics` names others) to `--to-earliest` (the default), `--to-latest`,
//!   `--to-datetime`, `--by-duration`, `--to-offset`, `--from-file` or `--shift-by`, and those
//!   of `--intermediate-topics` to their end; deletes the internal topics; wipes this machine's
//!   state directory (unless `--keep-local-state`). `--dry-run` prints the plan and changes
//!   nothing. See [`reset`](crate::reset).
//!
//! Configuration comes in Kafka Streams' property names from a properties file
//! (`--config FILE`), then environment variables (`STREAMS_BOOTSTRAP_SERVERS` sets
//! `bootstrap.servers`: lower case, `_` for `.`), then flags (`--bootstrap-servers`,
//! `--application-id`, `--state-dir`, …, and `--set KEY=VALUE` for any property), each
//! overriding the one before. Logging goes through `tracing`, filtered by `RUST_LOG` (default
//! `info`).
//!
//! ```no_run
//! use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
//! use streams_core::serde::Serdes;
//! use streams_core::worker::Worker;
//! use streams_core::{StreamsConfig, Topology};
//!
//! fn topology(config: &StreamsConfig) -> streams_core::Result<Topology> {
//!     let builder = StreamsBuilder::new();
//!     builder
//!         .stream("words", Consumed::with(Serdes::string(), Serdes::string()))
//!         .group_by_key()
//!         .count(Materialized::as_("word-counts"));
//!     // Applies `topology.optimization` from the worker's configuration.
//!     builder.build_with(config)
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     Worker::new("word-count", topology)
//!         .queryable_key_value::<String, u64>("word-counts")
//!         .main()
//! }
//! ```
//!
//! `my-app run --bootstrap-servers kafka:9092 --http-addr 0.0.0.0:8080 --application-server
//! worker-1:8080` then answers `GET /stores/word-counts/keys/hello` on any instance.

mod cli;
pub mod http;
mod running;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;

use crate::{Error, Result, StreamsConfig, Topology};
use cli::{Cli, Command, ConfigArgs, Format};
pub use http::{HttpKey, HttpListener, HttpServer, HttpValue, QueryableStores};
pub use running::RunningWorker;

/// Builds the topology from the configuration the worker resolved (build it with
/// [`StreamsBuilder::build_with`](crate::dsl::StreamsBuilder::build_with) for
/// `topology.optimization` to apply).
pub type TopologyFn = Arc<dyn Fn(&StreamsConfig) -> Result<Topology> + Send + Sync>;

/// A worker program: a topology function, its default `application.id`, and the stores its
/// HTTP server answers queries for. See the [module docs](self).
#[derive(Clone)]
pub struct Worker {
    application_id: String,
    topology: TopologyFn,
    stores: QueryableStores,
    defaults: Vec<(String, String)>,
    base: Option<StreamsConfig>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("application_id", &self.application_id)
            .field("stores", &self.stores)
            .finish()
    }
}

impl Worker {
    /// A worker of `topology`, with `application_id` unless the configuration names another.
    /// `topology` gets the resolved configuration for `run` and `describe` alike: build with
    /// [`StreamsBuilder::build_with`](crate::dsl::StreamsBuilder::build_with) so that
    /// `topology.optimization` applies.
    pub fn new<F>(application_id: &str, topology: F) -> Self
    where
        F: Fn(&StreamsConfig) -> Result<Topology> + Send + Sync + 'static,
    {
        Worker {
            application_id: application_id.to_string(),
            topology: Arc::new(topology),
            stores: QueryableStores::new(),
            defaults: Vec::new(),
            base: None,
        }
    }

    /// A default for property `key`, used unless the file, environment or flags set it.
    pub fn default_property(mut self, key: &str, value: impl Into<String>) -> Self {
        self.defaults.push((key.to_string(), value.into()));
        self
    }

    /// Starts every configuration from `config` instead of an empty one: the file, the
    /// environment and the flags go on top of it. For what properties cannot say, such as
    /// a metrics registry, or an embedded broker's topic creation
    /// ([`EmbeddedBroker::configure`](crate::embedded::EmbeddedBroker::configure)).
    pub fn base_config(mut self, config: StreamsConfig) -> Self {
        self.base = Some(config);
        self
    }

    /// Serves key-value store `name` (keys `K`, values `V`) over HTTP.
    pub fn queryable_key_value<K: HttpKey, V: HttpValue>(mut self, name: &str) -> Self {
        self.stores.key_value::<K, V>(name);
        self
    }

    /// Serves window store `name` over HTTP (`/stores/{name}/keys/{key}/windows`).
    pub fn queryable_window<K: HttpKey, V: HttpValue>(mut self, name: &str) -> Self {
        self.stores.window::<K, V>(name);
        self
    }

    /// Serves session store `name` over HTTP (`/stores/{name}/keys/{key}/sessions`).
    pub fn queryable_session<K: HttpKey, V: HttpValue>(mut self, name: &str) -> Self {
        self.stores.session::<K, V>(name);
        self
    }

    /// Serves versioned key-value store `name` over HTTP: `/stores/{name}/keys/{key}` answers
    /// the latest value, `?as_of=<epoch ms>` the value as of that time.
    pub fn queryable_versioned<K: HttpKey, V: HttpValue>(mut self, name: &str) -> Self {
        self.stores.versioned::<K, V>(name);
        self
    }

    /// Serves global store `name` over HTTP.
    pub fn queryable_global<K: HttpKey, V: HttpValue>(mut self, name: &str) -> Self {
        self.stores.global::<K, V>(name);
        self
    }

    /// The program: sets up logging, parses the process's arguments and runs the subcommand;
    /// on failure prints the error with its causes and returns a failure code.
    pub fn main(self) -> ExitCode {
        init_tracing();
        match Cli::try_parse() {
            Ok(cli) => self.exit_code(self.execute(cli.command)),
            Err(e) => {
                let _ = e.print();
                ExitCode::from(if e.use_stderr() { 2 } else { 0 })
            }
        }
    }

    /// Like [`main`](Self::main) with the given arguments (the first is the program name),
    /// without setting up logging: returns what the subcommand returned.
    pub fn run_with_args<I, T>(self, args: I) -> Result<()>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let cli = Cli::try_parse_from(args).map_err(|e| Error::Config {
            key: "command line".into(),
            reason: e.to_string(),
        })?;
        self.execute(cli.command)
    }

    /// Starts the application as `run` does with these arguments (`run` implied: pass flags
    /// only, the first being the program name), without waiting for a signal: for tests and for
    /// programs that drive the worker themselves.
    pub fn start<I, T>(self, args: I) -> Result<RunningWorker>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let mut args: Vec<OsString> = args.into_iter().map(Into::into).collect();
        args.insert(1.min(args.len()), "run".into());
        let cli = Cli::try_parse_from(args).map_err(|e| Error::Config {
            key: "command line".into(),
            reason: e.to_string(),
        })?;
        match cli.command {
            Command::Run(run) => RunningWorker::start(&self, &run),
            _ => Err(Error::IllegalState(
                "`start` parses a `run` command line".into(),
            )),
        }
    }

    fn exit_code(&self, result: Result<()>) -> ExitCode {
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {}", e.report());
                ExitCode::FAILURE
            }
        }
    }

    fn execute(&self, command: Command) -> Result<()> {
        match command {
            Command::Run(run) => {
                // Caught from before the start, so that a SIGTERM while restoring still
                // closes cleanly.
                let signal = crate::runtime::ShutdownSignal::install()?;
                let running = RunningWorker::start(self, &run)?;
                signal.wait(running.streams());
                running.close()
            }
            Command::Describe(describe) => {
                let config = self.config(&describe.config)?;
                let description = (self.topology)(&config)?.describe();
                match describe.format {
                    Format::Text => print!("{description}"),
                    Format::Mermaid => println!("{}", description.to_mermaid()),
                    Format::Dot => println!("{}", description.to_dot()),
                }
                Ok(())
            }
            Command::Reset(reset) => {
                let mut config = self.config(&reset.config)?;
                config.remove(cli::HTTP_ADDR);
                if config.bootstrap_servers().is_none() {
                    return Err(Error::Config {
                        key: crate::config::BOOTSTRAP_SERVERS.into(),
                        reason: "reset needs the cluster the application runs on (a `run` \
                                 without it uses an embedded broker, which keeps nothing between \
                                 runs: there is nothing to reset)"
                            .into(),
                    });
                }
                let topology = (self.topology)(&config)?;
                let mut application_reset = crate::reset::ApplicationReset::new(&config)?
                    .topology(&topology)
                    .intermediate_topics(reset.intermediate_topics.iter().cloned())
                    .to(reset.target.reset_to()?);
                if let Some(topics) = &reset.input_topics {
                    application_reset = application_reset.input_topics(topics.iter().cloned());
                }
                if let Some(topics) = &reset.internal_topics {
                    application_reset = application_reset.internal_topics(topics.iter().cloned());
                }
                if reset.keep_local_state {
                    application_reset = application_reset.keep_local_state();
                }
                if reset.dry_run {
                    let plan = application_reset.plan()?;
                    print!("{plan}");
                    println!("Dry run: nothing was changed.");
                } else {
                    let plan = application_reset.execute()?;
                    print!("{plan}");
                    println!(
                        "Done. Wipe the state directory of `{}` on every other machine that ran an \
                         instance (`reset` there, or delete it) before starting one.",
                        plan.application_id
                    );
                }
                Ok(())
            }
        }
    }

    /// The layered configuration, with the worker's default `application.id`.
    fn config(&self, args: &ConfigArgs) -> Result<StreamsConfig> {
        let mut defaults = vec![(
            crate::config::APPLICATION_ID.to_string(),
            self.application_id.clone(),
        )];
        defaults.extend(self.defaults.iter().cloned());
        cli::layered_config(self.base.clone(), args, &defaults, std::env::vars())
    }
}

/// Logging to stderr through `tracing`, filtered by `RUST_LOG` (default `info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// The topics an application reads and writes that are not its internal topics: created on an
/// embedded broker, which has nothing yet.
fn user_topics(topology: &Topology) -> BTreeSet<String> {
    let internal = topology.internal_topics();
    let mut topics: BTreeSet<String> = topology
        .subtopologies()
        .into_iter()
        .flat_map(|s| s.source_topics)
        .filter(|t| !internal.contains(t))
        .collect();
    topics.extend(topology.global_stores().iter().map(|g| g.topic.clone()));
    topics.extend(topology.user_sink_topics().into_keys());
    topics
}
