//! End-to-end benchmark: one JSON line per workload, all on the same broker in the same run,
//! each with its ratio to `passthrough` (raw rdkafka consume → produce, no framework: the
//! ceiling). See `harness` for how inputs are fed and progress measured.

mod harness;
mod restore;
mod workloads;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use streams_core::StreamsConfig;
use streams_core::embedded::EmbeddedBroker;

use harness::{Bench, Feed, Progress};

#[derive(Parser, Debug, Clone)]
#[command(about = "End-to-end throughput of streams workloads against raw rdkafka")]
pub(crate) struct Args {
    /// Kafka cluster; without it an embedded broker (librdkafka's mock cluster) is started.
    #[arg(long, env = "BOOTSTRAP_SERVERS")]
    pub(crate) bootstrap_servers: Option<String>,
    /// Streamed input records per workload.
    #[arg(long, default_value_t = 1_000_000)]
    pub(crate) records: usize,
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
    #[arg(long, default_value_t = 100_000)]
    pub(crate) window: usize,
    /// Workloads to run after the passthrough baseline, in order.
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
    /// Give up on a workload after this many seconds.
    #[arg(long, default_value_t = 600)]
    pub(crate) timeout_secs: u64,
}

fn run(args: Args) -> Result<(), harness::BoxError> {
    let mut config = StreamsConfig::new();
    if let Some(servers) = &args.bootstrap_servers {
        config.set("bootstrap.servers", servers);
    }
    let broker = EmbeddedBroker::start_if_unconfigured(&mut config)?;
    let bench = Bench::new(
        &args,
        config,
        if broker.is_some() {
            "embedded"
        } else {
            "external"
        },
    )?;
    let timeout = Duration::from_secs(args.timeout_secs);

    let input = [Feed {
        name: "input",
        records: args.records,
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
        let workload = workloads::workload(name, args.records, args.keys)
            .ok_or_else(|| format!("unknown workload `{name}`"))?;
        let measurement = bench.measure(
            name,
            &workload.feeds,
            workloads::PROGRESS,
            timeout,
            |run, done| workloads::run_app(run, (workload.topology)(run)?, workload.config, done),
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
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("benchmark failed: {e}");
            ExitCode::FAILURE
        }
    }
}
