//! A counting worker: the shape of a deployed streams app, one process of a consumer group.
//!
//! Reads string records from `--input`, writes each value upper-cased to `--copies` and the
//! running count per key to `--counts` (a RocksDB store backed by a changelog), with the
//! configured processing guarantee and stream threads. Runs until SIGTERM or SIGINT, then
//! (with `--dump`) writes its local store as `key<TAB>count` lines and closes cleanly.
//! The exactly-once tests start, stop and SIGKILL several of these against a real broker.
//! With `--http-addr` it also answers interactive queries of the `counts` store over HTTP, as
//! the worker binaries do (`GET /stores/counts/keys/<key>` on any instance, forwarded to the
//! instance that holds the key), advertising that address as its `application.server`.
//! `COUNT_WORKER_LOG` sets its log filter (default `warn`; e.g. `streams_core=debug`).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::runtime::ShutdownSignal;
use streams_core::serde::Serdes;
use streams_core::worker::{HttpListener, QueryableStores};
use streams_core::{KafkaStreams, StreamsConfig, Topology};

#[derive(Parser, Debug)]
#[command(about = "Counts records per key; a worker process of a streams application")]
struct Args {
    /// Kafka cluster to use.
    #[arg(long)]
    bootstrap_servers: String,
    /// `application.id` (the consumer group).
    #[arg(long)]
    application_id: String,
    /// Where this instance keeps its state.
    #[arg(long)]
    state_dir: PathBuf,
    /// Input topic.
    #[arg(long, default_value = "events")]
    input: String,
    /// Output topic of upper-cased copies of every value.
    #[arg(long, default_value = "copies")]
    copies: String,
    /// Output topic of counts per key (u64, big-endian).
    #[arg(long, default_value = "counts")]
    counts: String,
    /// `processing.guarantee`: at_least_once or exactly_once_v2.
    #[arg(long, default_value = "at_least_once")]
    guarantee: String,
    /// `num.stream.threads`.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// `commit.interval.ms` (default: the guarantee's default).
    #[arg(long)]
    commit_interval_ms: Option<u64>,
    /// `statestore.cache.max.bytes` (0: every update is emitted).
    #[arg(long, default_value_t = 0)]
    cache_bytes: usize,
    /// `group.protocol`: `classic` (client-side eager range assignor) or `consumer` (KIP-848:
    /// the broker assigns, incrementally).
    #[arg(long, default_value = "classic")]
    group_protocol: String,
    /// `num.standby.replicas`.
    #[arg(long, default_value_t = 0)]
    standbys: usize,
    /// Write the local store here on shutdown.
    #[arg(long)]
    dump: Option<PathBuf>,
    /// Any other property, `name=value` (repeatable; set last).
    #[arg(long = "property", value_name = "NAME=VALUE")]
    properties: Vec<String>,
    /// Serve interactive queries of `counts` over HTTP here (`ip:port`), also announced to the
    /// other instances as this one's `application.server`; no HTTP server without it.
    #[arg(long)]
    http_addr: Option<String>,
}

fn topology(args: &Args) -> Topology {
    let builder = StreamsBuilder::new();
    let events = builder.stream(
        &args.input,
        Consumed::with(Serdes::string(), Serdes::string()),
    );
    events
        .map_values(|v: String| v.to_uppercase())
        .to(&args.copies);
    events
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to(&args.counts);
    builder.build().expect("the topology is well formed")
}

/// Logs each restoration that ends (`count_worker: restored <n> records of <topic>-<p>`).
struct RestoreLog;

impl streams_core::runtime::StateRestoreListener for RestoreLog {
    fn on_restore_end(&self, topic: &str, partition: i32, _store: &str, total: u64) {
        eprintln!("count_worker: restored {total} records of {topic}-{partition}");
    }
}

fn run(args: &Args) -> streams_core::Result<()> {
    // From here a SIGTERM, even during start, ends in a clean close.
    let signal = ShutdownSignal::install()?;
    let mut config = StreamsConfig::new();
    config
        .set("bootstrap.servers", &args.bootstrap_servers)
        .set("application.id", &args.application_id)
        .set("state.dir", args.state_dir.to_string_lossy().to_string())
        .set("processing.guarantee", &args.guarantee)
        .set("num.stream.threads", args.threads.to_string())
        .set("statestore.cache.max.bytes", args.cache_bytes.to_string())
        .set("consumer.group.protocol", &args.group_protocol)
        .set("num.standby.replicas", args.standbys.to_string());
    if args.group_protocol == "classic" {
        // Under KIP-848 the broker sets these (group.consumer.session.timeout.ms).
        config
            .set("consumer.session.timeout.ms", "6000")
            .set("consumer.heartbeat.interval.ms", "500");
    }
    if let Some(ms) = args.commit_interval_ms {
        config.set("commit.interval.ms", ms.to_string());
    }
    for property in &args.properties {
        let (name, value) =
            property
                .split_once('=')
                .ok_or_else(|| streams_core::Error::Config {
                    key: property.clone(),
                    reason: "expected --property name=value".into(),
                })?;
        config.set(name, value);
    }
    let listener = args
        .http_addr
        .as_deref()
        .map(HttpListener::bind)
        .transpose()?;
    if let Some(listener) = &listener {
        config.set("application.server", listener.local_addr().to_string());
    }
    let mut streams = KafkaStreams::new(topology(args), &config)?;
    // Tests watch for these lines to know when the worker has its tasks.
    streams.set_state_listener(|new, old| eprintln!("count_worker: state {old:?} -> {new:?}"))?;
    streams.set_global_state_restore_listener(RestoreLog)?;
    // Stopped when dropped, after the instance has closed.
    let _server = listener
        .map(|listener| {
            let mut stores = QueryableStores::new();
            stores.key_value::<String, u64>("counts");
            listener.serve(streams.handle(), stores, streams.metrics_registry())
        })
        .transpose()?;
    streams.start()?;
    signal.wait(&streams);
    if let Some(path) = &args.dump {
        // Signalled mid-rebalance (another instance just left), the tasks are being moved:
        // dump the stores once this instance holds its tasks again.
        // A store restoring again (a rebalance after the wait) cannot be queried yet: wait
        // for it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        let mut entries = loop {
            streams.wait_until_running(std::time::Duration::from_secs(60))?;
            match streams.key_value_store::<String, u64>("counts")?.all() {
                Err(streams_core::Error::StoreUnavailable { .. })
                    if std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(200));
                }
                result => break result?,
            }
        };
        entries.sort();
        let text: String = entries.iter().map(|(k, v)| format!("{k}\t{v}\n")).collect();
        std::fs::write(path, text).map_err(|e| {
            streams_core::Error::IllegalState(format!("writing {}: {e}", path.display()))
        })?;
    }
    streams.close()
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("COUNT_WORKER_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("count_worker: {}", e.report());
            ExitCode::FAILURE
        }
    }
}
