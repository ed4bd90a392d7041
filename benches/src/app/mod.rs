//! The hidden `app` subcommand: one framework's app (`raw` or `streams`) in its own process, so
//! that the `--broker kafka` driver can attribute CPU time and memory to it alone.
//!
//! The app runs the workload once per `--pass` (an untimed warm-up pass, then the timed one),
//! and reports on stdout, one JSON object a line, the same events as the Kafka Streams app
//! (`java/kafka-streams-bench`, `KafkaStreamsBench`):
//!
//! ```text
//! {"event":"running","pass":i,"unix_us":t}                the app is running (ours: State::Running)
//! {"event":"first","pass":i,"unix_us":t}                  the first input record was processed
//! {"event":"processed","pass":i,"unix_us":t,"records":n}  every expected record was processed
//! {"event":"closed","pass":i,"unix_us":t}                 closed (closing commits first)
//! {"event":"done","unix_us":t}                            all passes over; waits for stdin to close
//! {"event":"error","message":"..."}
//! ```
//!
//! Records processed are the app's own count (ours: `streams_task_process_total`; raw: records
//! consumed and handed to the producer), sampled every millisecond until the first record and
//! every 5 ms after, as the Kafka Streams app samples its `process-total`. A pass expecting 0
//! records runs until stdin closes (the idle-memory probe).

mod raw;
mod streams;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Framework;
use crate::harness::BoxError;
use crate::report::JsonLine;
use crate::workloads;

/// The `app` subcommand's arguments (the Kafka Streams app takes the same, but `--framework`).
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct AppArgs {
    /// `raw` or `streams`.
    #[arg(long, value_enum)]
    pub(crate) framework: Framework,
    /// The workload (see `workloads::NAMES`).
    #[arg(long)]
    pub(crate) workload: String,
    /// `bootstrap.servers`.
    #[arg(long)]
    pub(crate) bootstrap: String,
    /// `state.dir`.
    #[arg(long)]
    pub(crate) state_dir: PathBuf,
    /// `num.stream.threads` (raw: consumer threads).
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// `processing.guarantee` (raw: transactions when `exactly_once_v2`).
    #[arg(long, default_value = "at_least_once")]
    pub(crate) guarantee: String,
    /// `commit.interval.ms`.
    #[arg(long)]
    pub(crate) commit_interval_ms: u64,
    /// `statestore.cache.max.bytes`.
    #[arg(long)]
    pub(crate) cache_bytes: usize,
    /// Ours only: a further `KEY=VALUE` property of the app (repeatable).
    #[arg(long = "property")]
    pub(crate) properties: Vec<String>,
    /// `<application id>,<topic prefix>,<expected input records>`, once per pass, in order.
    #[arg(long = "pass", value_parser = Pass::parse, required = true)]
    pub(crate) passes: Vec<Pass>,
}

impl AppArgs {
    /// Whether the app runs exactly-once.
    pub(crate) fn exactly_once(&self) -> bool {
        self.guarantee == "exactly_once_v2"
    }
}

/// One run of the workload's topology in an app process.
#[derive(Debug, Clone)]
pub(crate) struct Pass {
    /// `application.id` (and consumer group).
    pub(crate) app_id: String,
    /// Topics are `<prefix>-<input>` and `<prefix>-output`.
    pub(crate) prefix: String,
    /// Input records to process before closing; 0: run until stdin closes.
    pub(crate) expected: u64,
}

impl Pass {
    fn parse(arg: &str) -> Result<Pass, String> {
        let mut parts = arg.split(',');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(app_id), Some(prefix), Some(expected), None) => Ok(Pass {
                app_id: app_id.to_string(),
                prefix: prefix.to_string(),
                expected: expected
                    .parse()
                    .map_err(|e| format!("records `{expected}`: {e}"))?,
            }),
            _ => Err(format!(
                "`{arg}`: want <application id>,<topic prefix>,<records>"
            )),
        }
    }

    /// The `--pass` argument for this pass.
    pub(crate) fn arg(&self) -> String {
        format!("{},{},{}", self.app_id, self.prefix, self.expected)
    }
}

/// Microseconds since the Unix epoch.
pub(crate) fn unix_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// An event of pass `pass`, stamped now.
pub(crate) fn event(kind: &'static str, pass: usize) -> JsonLine {
    JsonLine::new()
        .field("event", kind)
        .field("pass", pass)
        .field("unix_us", unix_us())
}

/// Runs the app: every pass, then waits for stdin to close.
pub(crate) fn run(args: &AppArgs) -> Result<(), BoxError> {
    let result = run_passes(args);
    if let Err(e) = &result {
        JsonLine::new()
            .field("event", "error")
            .field("message", e.to_string())
            .print();
    }
    result
}

fn run_passes(args: &AppArgs) -> Result<(), BoxError> {
    let stdin_closed = watch_stdin();
    let workload = workloads::workload(&args.workload, 0, 0)
        .ok_or_else(|| format!("unknown workload `{}`", args.workload))?;
    for (index, pass) in args.passes.iter().enumerate() {
        let completed = match args.framework {
            Framework::Raw => raw::run_pass(args, &workload, index, pass, &stdin_closed)?,
            Framework::Streams => streams::run_pass(args, &workload, index, pass, &stdin_closed)?,
            Framework::KafkaStreams => {
                return Err("kafka-streams runs in the JVM (java/kafka-streams-bench)".into());
            }
        };
        if !completed {
            break;
        }
    }
    JsonLine::new()
        .field("event", "done")
        .field("unix_us", unix_us())
        .print();
    while !stdin_closed.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// A flag raised when stdin reaches its end (the harness closes it to stop the app).
fn watch_stdin() -> Arc<AtomicBool> {
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = [0u8; 256];
        while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
        flag.store(true, Ordering::Relaxed);
    });
    closed
}

/// Watches a running pass: reports its first record, and returns once every expected record
/// is processed (`true`), or when stdin closes (`true` for an idle pass, else `false`: the
/// harness gave up). `failure` says whether the app failed meanwhile.
pub(crate) fn monitor(
    index: usize,
    pass: &Pass,
    stdin_closed: &AtomicBool,
    processed: impl Fn() -> u64,
    failure: impl Fn() -> Option<String>,
) -> Result<bool, BoxError> {
    let mut first = false;
    loop {
        if let Some(failure) = failure() {
            return Err(failure.into());
        }
        if stdin_closed.load(Ordering::Relaxed) {
            return Ok(pass.expected == 0);
        }
        let records = processed();
        if !first && records > 0 {
            first = true;
            event("first", index).print();
        }
        if pass.expected > 0 && records >= pass.expected {
            event("processed", index).field("records", records).print();
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(if first { 5 } else { 1 }));
    }
}
