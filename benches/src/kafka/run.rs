//! One framework's run of one workload: topics, inputs, the app process, its measurement.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::child::Child;
use super::cluster::Cluster;
use super::jvm::KafkaStreamsApp;
use super::supervise::{TimedPass, supervise};
use crate::app::Pass;
use crate::harness::BoxError;
use crate::workloads::{self, Topics, Workload};
use crate::{Args, Framework};

/// How long the startup probe leaves the app idle before reading its memory.
const IDLE: Duration = Duration::from_secs(2);
/// `commit.interval.ms` under exactly-once: Kafka Streams' default there (ours too).
const EXACTLY_ONCE_COMMIT_INTERVAL_MS: u64 = 100;

/// One framework's run of a workload: its fastest timed pass, and the process's totals.
#[derive(Debug, Clone)]
pub(crate) struct Measured {
    /// Input records of the timed pass (tables included).
    pub(crate) records: u64,
    /// First record processed → every input offset committed.
    pub(crate) seconds: f64,
    /// The app's CPU seconds over `seconds`.
    pub(crate) cpu_s: f64,
    /// The app's CPU seconds from its start to its timed pass's close.
    pub(crate) cpu_total_s: f64,
    /// The app's peak RSS (MiB), read just before it exits.
    pub(crate) peak_rss_mb: f64,
    /// From the app counting its last record to this process seeing the commit.
    pub(crate) final_commit_ms: f64,
    /// The host's 1-minute load average when the timed pass ended (this run included).
    pub(crate) host_load_1m: f64,
    /// The error of a failed first attempt, when this is the second.
    pub(crate) first_error: Option<String>,
    /// The output topic's end offsets, summed: records written (plus one transaction marker
    /// per partition and transaction under exactly-once).
    pub(crate) output_offsets: i64,
    /// `seconds` of every timed pass, in order (the fields above are the fastest pass's).
    pub(crate) seconds_all: Vec<f64>,
    /// The median of `seconds_all`.
    pub(crate) seconds_median: f64,
}

impl Measured {
    /// Throughput.
    pub(crate) fn records_per_s(&self) -> f64 {
        self.records as f64 / self.seconds
    }

    /// CPU microseconds per input record.
    pub(crate) fn cpu_us_per_record(&self) -> f64 {
        self.cpu_s * 1e6 / self.records as f64
    }
}

/// The startup probe.
#[derive(Debug, Clone)]
pub(crate) struct Startup {
    /// Process start → the app's first Running.
    pub(crate) startup_ms: f64,
    /// `VmRSS` after 2 s of Running with no input (MiB).
    pub(crate) idle_rss_mb: f64,
}

/// Runs apps on the cluster.
pub(crate) struct Runner {
    /// The benchmark's settings.
    pub(crate) args: Args,
    /// Admin and metadata clients.
    pub(crate) cluster: Cluster,
    /// `bootstrap.servers` of the apps.
    pub(crate) bootstrap: String,
    /// The built Kafka Streams app, when `kafka-streams` is among the frameworks.
    pub(crate) kafka_streams: Option<KafkaStreamsApp>,
    /// This binary, which runs the `raw` and `streams` apps (`app` subcommand).
    pub(crate) exe: PathBuf,
    /// App logs (kept).
    pub(crate) work: PathBuf,
    /// The apps' state directories (each removed after its run).
    pub(crate) state: TempDir,
    /// Makes this invocation's topic names and application ids unique.
    pub(crate) run_id: u128,
    /// The broker's name in the output.
    pub(crate) broker: &'static str,
}

impl Runner {
    /// `commit.interval.ms` of `workload`'s apps.
    pub(crate) fn commit_interval_ms(&self, workload: &Workload) -> u64 {
        if workload.exactly_once {
            EXACTLY_ONCE_COMMIT_INTERVAL_MS
        } else {
            self.args.commit_interval_ms
        }
    }

    /// Runs `workload` (named `name`) with `framework`: a warm-up pass, then the timed ones.
    /// Each `attempt` gets its own topics and application ids.
    pub(crate) fn measure(
        &self,
        name: &str,
        workload: &Workload,
        framework: Framework,
        attempt: u32,
    ) -> Result<Measured, BoxError> {
        let mut base = format!("kb{}-{name}-{}", self.run_id, framework.name());
        if attempt > 1 {
            base.push_str(&format!("-a{attempt}"));
        }
        let result = self.measure_in(&base, name, workload, framework);
        if let Err(e) = self.cluster.delete_topics(&base) {
            eprintln!("[bench] could not delete the topics of {base}: {e}");
        }
        result
    }

    fn measure_in(
        &self,
        base: &str,
        name: &str,
        workload: &Workload,
        framework: Framework,
    ) -> Result<Measured, BoxError> {
        let args = &self.args;
        let mut passes = Vec::new();
        let warmup_records = args.warmup_records();
        if warmup_records > 0 {
            let warmup =
                workloads::workload(name, warmup_records, args.keys).ok_or("unknown workload")?;
            passes.push(self.prepare(&format!("{base}-warmup"), &warmup)?);
        }
        let mut timed = Vec::new();
        for repeat in 1..=args.repeat.max(1) {
            let prefix = format!("{base}-r{repeat}");
            let pass = self.prepare(&prefix, workload)?;
            let topics = Topics::new(&prefix);
            let inputs: Vec<String> = workload
                .feeds
                .iter()
                .map(|f| topics.input(f.name))
                .collect();
            timed.push(TimedPass::new(
                passes.len(),
                pass.expected,
                self.cluster
                    .watch_commits(&pass.app_id, self.cluster.end_offsets(&inputs)?)?,
            ));
            passes.push(pass);
        }
        let child = self.spawn(base, name, workload, framework, &passes)?;
        let supervised = supervise(&child, &mut timed, Duration::from_secs(args.timeout_secs));
        let finished = child.finish();
        let _ = std::fs::remove_dir_all(self.state_dir(base));
        let process = supervised?;
        finished?;
        let mut results = Vec::new();
        for (pass, result) in passes.iter().skip(passes.len() - timed.len()).zip(&timed) {
            let result = result.result().ok_or("a timed pass without its result")?;
            let output = self
                .cluster
                .end_offsets(&[Topics::new(&pass.prefix).output()])?;
            let output_offsets: i64 = output
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    rdkafka::Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .sum();
            results.push((result, output_offsets));
        }
        let seconds_all: Vec<f64> = results.iter().map(|(r, _)| r.seconds).collect();
        results.sort_by(|a, b| a.0.seconds.total_cmp(&b.0.seconds));
        let seconds_median = results
            .get(results.len() / 2)
            .map_or(f64::NAN, |(r, _)| r.seconds);
        let (best, output_offsets) = results.first().cloned().ok_or("no timed pass")?;
        Ok(Measured {
            records: best.records,
            seconds: best.seconds,
            cpu_s: best.cpu_s,
            cpu_total_s: process.cpu_total_s,
            peak_rss_mb: process.peak_rss_mb,
            final_commit_ms: best.final_commit_ms,
            host_load_1m: process.host_load_1m,
            first_error: None,
            output_offsets,
            seconds_all,
            seconds_median,
        })
    }

    /// Fresh topics for a pass with application id and topic prefix `prefix`, its inputs loaded.
    fn prepare(&self, prefix: &str, workload: &Workload) -> Result<Pass, BoxError> {
        let topics = Topics::new(prefix);
        let mut names: Vec<String> = workload
            .feeds
            .iter()
            .map(|f| topics.input(f.name))
            .collect();
        names.push(topics.output());
        self.cluster.create_topics(&names, self.args.partitions)?;
        self.cluster
            .load(workload, &topics, self.args.keys, self.args.value_bytes)?;
        Ok(Pass {
            app_id: prefix.to_string(),
            prefix: prefix.to_string(),
            expected: u64::try_from(workload.input_records())?,
        })
    }

    fn state_dir(&self, base: &str) -> PathBuf {
        self.state.path().join(base)
    }

    /// Starts `framework`'s app for `passes` of workload `name`.
    fn spawn(
        &self,
        base: &str,
        name: &str,
        workload: &Workload,
        framework: Framework,
        passes: &[Pass],
    ) -> Result<Child, BoxError> {
        let state_dir = self.state_dir(base);
        std::fs::create_dir_all(&state_dir)?;
        let mut command = match framework {
            // `STREAMS_BENCH_PERF=<dir>`: our app runs under `perf record` (call graphs), its
            // profile written to `<dir>/<run>.perf.data` (CPU and RSS figures then include perf).
            Framework::Streams if std::env::var_os("STREAMS_BENCH_PERF").is_some() => {
                let dir = PathBuf::from(std::env::var_os("STREAMS_BENCH_PERF").unwrap_or_default());
                let mut command = Command::new("perf");
                command
                    .args(["record", "-F", "999", "--call-graph", "dwarf,16384", "-o"])
                    .arg(dir.join(format!("{base}.perf.data")))
                    .arg("--")
                    .arg(&self.exe)
                    .arg("app")
                    .arg("--framework")
                    .arg(framework.name());
                command
            }
            Framework::Raw | Framework::Streams => {
                let mut command = Command::new(&self.exe);
                command.arg("app").arg("--framework").arg(framework.name());
                command
            }
            Framework::KafkaStreams => self
                .kafka_streams
                .as_ref()
                .ok_or("the Kafka Streams app is not built")?
                .command(&self.args.jvm_opts),
        };
        command
            .arg("--workload")
            .arg(name)
            .arg("--bootstrap")
            .arg(&self.bootstrap)
            .arg("--state-dir")
            .arg(&state_dir)
            .arg("--threads")
            .arg(workload.threads.to_string())
            .arg("--guarantee")
            .arg(workload.guarantee())
            .arg("--commit-interval-ms")
            .arg(self.commit_interval_ms(workload).to_string())
            .arg("--cache-bytes")
            .arg(self.args.cache_max_bytes.to_string());
        if framework == Framework::Streams {
            for property in &self.args.streams_properties {
                command.arg("--property").arg(property);
            }
        }
        for pass in passes {
            command.arg("--pass").arg(pass.arg());
        }
        Child::spawn(command, &self.work.join(format!("{base}.log")))
    }

    /// Process start → Running of `framework`'s `stream_count` app on empty topics, and its
    /// memory after a while idle.
    pub(crate) fn startup(&self, framework: Framework) -> Result<Startup, BoxError> {
        let base = format!("kb{}-startup-{}", self.run_id, framework.name());
        let result = self.startup_in(&base, framework);
        if let Err(e) = self.cluster.delete_topics(&base) {
            eprintln!("[bench] could not delete the topics of {base}: {e}");
        }
        result
    }

    fn startup_in(&self, base: &str, framework: Framework) -> Result<Startup, BoxError> {
        let workload = workloads::workload("stream_count", 0, self.args.keys)
            .ok_or("no stream_count workload")?;
        let pass = self.prepare(base, &workload)?;
        let child = self.spawn(base, "stream_count", &workload, framework, &[pass])?;
        let probe = || -> Result<Startup, BoxError> {
            let running = child.wait_for("running", Duration::from_secs(120))?;
            let running_us = running.unix_us.ok_or("a running event without a time")?;
            let idle_until = Instant::now() + IDLE;
            while Instant::now() < idle_until {
                if let Some(event) = child.next_event(Duration::from_millis(50))?
                    && event.kind == "error"
                {
                    return Err(child.failure(&event.message.unwrap_or_default()));
                }
            }
            Ok(Startup {
                startup_ms: running_us.saturating_sub(child.spawned_us) as f64 / 1e3,
                idle_rss_mb: child.status_mib("VmRSS")?,
            })
        };
        let startup = probe();
        let finished = child.finish();
        let _ = std::fs::remove_dir_all(self.state_dir(base));
        let startup = startup?;
        finished?;
        Ok(startup)
    }
}
