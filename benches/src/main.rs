//! End-to-end benchmark, one JSON line per measurement.
//!
//! Two modes:
//!
//! - in-process (the default): every workload runs inside this process on the embedded broker
//!   (librdkafka's mock cluster) or on `--bootstrap-servers`, each with its ratio to
//!   `passthrough` (raw rdkafka consume → produce, no framework: the ceiling). See `harness`
//!   for how inputs are fed and progress measured.
//! - `--broker kafka`: an Apache Kafka broker (started from `java/kafka-broker/kafka.sh`, or
//!   `--bootstrap-servers`), every workload run as a child process by three frameworks: raw
//!   rdkafka, ours and Kafka Streams (`java/kafka-streams-bench`), each timed from its first
//!   record to its last commit with its own CPU time and peak RSS. See `kafka`.
//!
//! # Layout
//!
//! - `harness`: the in-process benchmark's feeding, progress and timing
//! - `workloads`: the workloads' inputs, topologies and settings, and in-process runners
//! - `restore`: the restoration workload (ours only)
//! - `kafka`: the `--broker kafka` driver (broker, Kafka Streams build, child processes)
//! - `app`: the hidden `app` subcommand, one framework's app as a child process
//! - `report`: JSON lines

mod app;
mod harness;
mod kafka;
mod report;
mod restore;
mod workloads;

use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use streams_core::StreamsConfig;
use streams_core::embedded::EmbeddedBroker;

use harness::{Bench, Progress};
use workloads::Feed;

/// Streamed records per workload in-process (the embedded broker's feeder keeps up).
const DEFAULT_RECORDS: usize = 1_000_000;
/// Streamed records per workload with `--broker kafka`, where each workload runs three app
/// processes (one per framework, each with a warm-up pass first): a full run takes 5 to 6
/// minutes on two cores.
const DEFAULT_KAFKA_RECORDS: usize = 1_000_000;

/// The benchmark's command line.
#[derive(Parser, Debug)]
#[command(
    about = "End-to-end throughput of streams workloads against raw rdkafka (and Kafka Streams with --broker kafka)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    args: Args,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// One framework's app, run as a child process by `--broker kafka` (internal).
    #[command(hide = true)]
    App(app::AppArgs),
}

/// Which broker `--broker` names.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BrokerMode {
    /// Apache Kafka: a single KRaft node started from `java/kafka-broker/kafka.sh` (or the
    /// cluster of `--bootstrap-servers`), every app in its own process, three frameworks.
    Kafka,
}

/// A framework of `--broker kafka`.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Framework {
    /// rdkafka consume → produce, no framework: the ceiling.
    Raw,
    /// This project.
    Streams,
    /// Apache Kafka Streams 4.4 (`java/kafka-streams-bench`).
    KafkaStreams,
}

impl Framework {
    /// The name in the output.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Framework::Raw => "raw",
            Framework::Streams => "streams",
            Framework::KafkaStreams => "kafka-streams",
        }
    }
}

/// The benchmark's settings.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct Args {
    /// Kafka cluster; without it an embedded broker (librdkafka's mock cluster) is started, or
    /// with `--broker kafka` an Apache Kafka broker.
    #[arg(long, env = "BOOTSTRAP_SERVERS")]
    pub(crate) bootstrap_servers: Option<String>,
    /// `kafka`: run every workload as child processes of raw rdkafka, streams and Kafka Streams
    /// on Apache Kafka (started here unless --bootstrap-servers is given).
    #[arg(long, value_enum)]
    pub(crate) broker: Option<BrokerMode>,
    /// Streamed input records per workload [default: 1000000].
    #[arg(long)]
    pub(crate) records: Option<usize>,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    pub(crate) value_bytes: usize,
    /// Distinct keys, uniformly spread (tables have one row per key).
    #[arg(long, default_value_t = 10_000)]
    pub(crate) keys: usize,
    /// Partitions of every topic.
    #[arg(long, default_value_t = 4)]
    pub(crate) partitions: i32,
    /// Most input records produced ahead of the workload's progress (0: load all input up
    /// front). The embedded broker keeps only 5 MiB per partition, so it needs a window.
    /// In-process mode only: --broker kafka loads every input before the clock.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) window: usize,
    /// Workloads to run (after the passthrough baseline in-process), in order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "stream_process_with_sink,stream_count,stream_count_2_threads,stream_count_eos,stream_count_windowed,stream_table_join,table_table_join,stream_stream_join,restore"
    )]
    pub(crate) workloads: Vec<String>,
    /// Changelog records the `restore` workload restores (the embedded broker keeps 5 MiB per
    /// partition, about 60,000 of these records).
    #[arg(long, default_value_t = 200_000)]
    pub(crate) restore_records: usize,
    /// Give up on a workload (with --broker kafka: on one timed pass of one framework) after
    /// this many seconds.
    #[arg(long, default_value_t = 600)]
    pub(crate) timeout_secs: u64,
    /// --broker kafka: the frameworks to run, in order.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "raw,streams,kafka-streams"
    )]
    pub(crate) frameworks: Vec<Framework>,
    /// --broker kafka: streamed records of each app's untimed warm-up pass, run in the same
    /// process before the timed one [default: records / 5].
    #[arg(long)]
    pub(crate) warmup_records: Option<usize>,
    /// --broker kafka: timed passes per app process, each on fresh topics after the warm-up;
    /// a line reports the fastest pass and lists every pass's seconds.
    #[arg(long, default_value_t = 3)]
    pub(crate) repeat: usize,
    /// --broker kafka: `commit.interval.ms` of every at-least-once app (exactly-once ones use
    /// Kafka Streams' exactly-once default, 100).
    #[arg(long, default_value_t = 1000)]
    pub(crate) commit_interval_ms: u64,
    /// --broker kafka: `statestore.cache.max.bytes` of streams and Kafka Streams (both
    /// default to 10 MiB).
    #[arg(long, default_value_t = 10 * 1024 * 1024)]
    pub(crate) cache_max_bytes: usize,
    /// --broker kafka: the Kafka Streams app's JVM options (default G1 collector, heap capped
    /// at 1 GiB, as a deployment would start it), split on whitespace.
    #[arg(long, default_value = "-Xmx1g", allow_hyphen_values = true)]
    pub(crate) jvm_opts: String,
    /// --broker kafka: skip the startup lines (process start → Running, idle RSS).
    #[arg(long)]
    pub(crate) no_startup: bool,
    /// --broker kafka: a further `KEY=VALUE` property of our app only (repeatable), e.g.
    /// `consumer.fetch.queue.backoff.ms=10`; named in its output lines.
    #[arg(long = "streams-property")]
    pub(crate) streams_properties: Vec<String>,
    /// --broker kafka: where the broker's log directory and the apps' state directories go
    /// [default: /dev/shm when it exists, else the temp directory]. On tmpfs, neither the
    /// broker nor RocksDB waits for a disk that other work on the box shares.
    #[arg(long)]
    pub(crate) data_dir: Option<std::path::PathBuf>,
}

impl Args {
    /// Streamed input records per workload.
    pub(crate) fn records(&self) -> usize {
        self.records.unwrap_or(match self.broker {
            Some(BrokerMode::Kafka) => DEFAULT_KAFKA_RECORDS,
            None => DEFAULT_RECORDS,
        })
    }

    /// Streamed input records of a warm-up pass.
    pub(crate) fn warmup_records(&self) -> usize {
        self.warmup_records.unwrap_or(self.records() / 5)
    }
}

/// The in-process benchmark (embedded or external broker).
fn run_in_process(args: Args) -> Result<(), harness::BoxError> {
    let mut config = StreamsConfig::new();
    if let Some(servers) = &args.bootstrap_servers {
        config.set("bootstrap.servers", servers);
    }
    let broker = EmbeddedBroker::start_if_unconfigured(&mut config)?;
    let embedded = broker.is_some();
    let bench = Bench::new(
        &args,
        config,
        broker.clone(),
        if embedded { "embedded" } else { "external" },
    )?;
    let timeout = Duration::from_secs(args.timeout_secs);

    let input = [Feed {
        name: "input",
        records: args.records(),
        preload: false,
    }];
    let baseline = bench.measure(
        "passthrough",
        &input,
        Progress::Output,
        timeout,
        workloads::passthrough,
    )?;
    baseline.print(baseline.seconds);
    for name in &args.workloads {
        if name == "passthrough" {
            continue;
        }
        if name == "restore" {
            restore::measure(&bench, args.restore_records, timeout)?;
            continue;
        }
        let workload = workloads::workload(name, args.records(), args.keys)
            .ok_or_else(|| format!("unknown workload `{name}`"))?;
        let extra = workload.config(embedded);
        let measurement = bench.measure(
            name,
            &workload.feeds,
            workloads::PROGRESS,
            timeout,
            |run, done| workloads::run_app(run, (workload.topology)(&run.topics)?, &extra, done),
        )?;
        measurement.print(baseline.seconds);
    }
    drop(broker);
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::App(app)) => app::run(&app),
        None if cli.args.broker == Some(BrokerMode::Kafka) => kafka::run(&cli.args),
        None => run_in_process(cli.args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {}", streams_core::error::Report(&*e));
            ExitCode::FAILURE
        }
    }
}
