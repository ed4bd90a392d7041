//! Soak-test support: app instances as child processes that are restarted on their state
//! directory (their pid changes), their resident memory read from `/proc`, a consumer
//! group's lag on a topic (committed offsets against high watermarks), and the samples of a
//! run printed as a table with the figures the checks use.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use rdkafka::consumer::BaseConsumer;

use super::KafkaCluster;

/// One life of an instance: a child process with its arguments, logging (appended, across
/// lives) to `<state_dir>.log`.
pub struct Instance {
    child: Child,
    /// Where its HTTP server listens.
    pub http: String,
    log: PathBuf,
}

impl Instance {
    /// Starts `bin` with `args`, then `--state-dir <state_dir> --http-addr <a free port>`,
    /// and `env` on top of the test's environment without its `STREAMS_*` variables (a
    /// worker reads those as properties: `STREAMS_SOAK_SECS` would be `soak.secs`).
    pub fn start(bin: &Path, args: &[&str], state_dir: &Path, env: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let http = format!("127.0.0.1:{port}");
        let log = state_dir.with_extension("log");
        let mut command = Command::new(bin);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("STREAMS_") {
                command.env_remove(name);
            }
        }
        command
            .args(args)
            .arg("--state-dir")
            .arg(state_dir)
            .args(["--http-addr", &http])
            .envs(env.iter().copied());
        let child = super::spawn_logged(command, &log);
        Instance { child, http, log }
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The process id of this life.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether `GET /health/ready` answers 200 (running, nothing restoring).
    pub fn ready(&self, client: &reqwest::blocking::Client) -> bool {
        client
            .get(format!("http://{}/health/ready", self.http))
            .send()
            .is_ok_and(|r| r.status().as_u16() == 200)
    }

    /// Waits until the instance is ready; an error (with its log) if it exits or `timeout`
    /// passes first.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<Duration, String> {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        while !self.ready(&client) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("exited with {status}:\n{}", self.log_tail()));
            }
            if started.elapsed() > timeout {
                return Err(format!("not ready after {timeout:?}:\n{}", self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        Ok(started.elapsed())
    }

    /// SIGTERM, then waits for the exit; its status and how long the close took.
    pub fn stop(mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let status = self.child.wait().expect("wait for the instance");
        (status, started.elapsed())
    }

    /// The last lines of the log of every life of this instance, for failure messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.log, 60)
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The last `lines` lines of the file at `path`.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let from = all.len().saturating_sub(lines);
    format!("--- {} ---\n{}", path.display(), all[from..].join("\n"))
}

/// The lines of the log at `path` from the last shutdown signal on: the last close of the
/// instance, phase by phase.
pub fn last_close(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    let from = all
        .iter()
        .rposition(|l| l.contains("shutdown signal received"))
        .unwrap_or(all.len());
    all[from..].join("\n")
}

/// The resident set size of process `pid` in KiB (`VmRSS` of `/proc/<pid>/status`); `None`
/// once it has exited.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Reads a consumer group's lag on a topic without joining the group.
pub struct GroupLag {
    consumer: BaseConsumer,
    topic: String,
    partitions: i32,
}

impl GroupLag {
    /// The lag of group `group` on the `partitions` partitions of `topic`.
    pub fn new(broker: &KafkaCluster, group: &str, topic: &str, partitions: i32) -> Self {
        let consumer = broker
            .client()
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .create()
            .expect("lag reader");
        GroupLag {
            consumer,
            topic: topic.to_string(),
            partitions,
        }
    }

    /// Records in the topic not yet committed by the group, summed over partitions (a
    /// partition with no committed offset counts from its low watermark); `None` if the
    /// broker did not answer.
    pub fn lag(&self) -> Option<i64> {
        self.read().map(|(_, lag)| lag)
    }

    /// The group's committed offsets summed over partitions (a partition with none counts
    /// its low watermark) and its lag; `None` if the broker did not answer. The committed sum
    /// grows by the records the group processed.
    pub fn read(&self) -> Option<(i64, i64)> {
        let committed =
            super::kafka::committed(&self.consumer, &self.topic, self.partitions).ok()?;
        let watermarks =
            super::kafka::watermarks(&self.consumer, &self.topic, self.partitions).ok()?;
        let (mut done, mut lag) = (0, 0);
        for (at, (low, high)) in committed.into_iter().zip(watermarks) {
            let at = at.unwrap_or(low);
            done += at;
            lag += (high - at).max(0);
        }
        Some((done, lag))
    }
}

/// One sample of a run: seconds since its start, each instance's RSS in KiB (`None` while it
/// is down) with its pid, and the group's lag.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Seconds since the run started.
    pub secs: f64,
    /// Per instance: (pid, RSS in KiB), `None` while it is restarting.
    pub rss: Vec<Option<(u32, u64)>>,
    /// Input records not yet committed, `None` if unknown.
    pub lag: Option<i64>,
    /// A note (a restart, its recovery).
    pub note: String,
}

/// The median of `values` (0 for none).
pub fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    match values.len() {
        0 => 0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2,
    }
}

/// The samples as a table: time, each instance's RSS in MiB (with `*` where a new process
/// took over since the row before), lag; then the per-process peaks.
pub fn render_curve(samples: &[Sample]) -> String {
    let instances = samples.iter().map(|s| s.rss.len()).max().unwrap_or(0);
    let mut out = format!("{:>7}", "t/s");
    for i in 0..instances {
        out += &format!(" {:>10}", format!("rss{i}/MiB"));
    }
    out += &format!(" {:>9}  note\n", "lag");
    let mut last_pid: Vec<Option<u32>> = vec![None; instances];
    for s in samples {
        out += &format!("{:>7.0}", s.secs);
        for (i, rss) in s.rss.iter().enumerate() {
            let cell = match rss {
                Some((pid, kib)) => {
                    let new = last_pid[i].is_some_and(|p| p != *pid);
                    last_pid[i] = Some(*pid);
                    format!("{:.0}{}", *kib as f64 / 1024.0, if new { "*" } else { "" })
                }
                None => "-".to_string(),
            };
            out += &format!(" {cell:>10}");
        }
        let lag = s.lag.map_or("?".to_string(), |l| l.to_string());
        out += &format!(" {lag:>9}  {}\n", s.note);
    }
    out
}

/// RSS figures of a run: the median of the total RSS (all instances) over the first third of
/// the samples after `warm_up` seconds and over the last third, and their ratio. Only rows
/// where every instance was up count (a restarting instance would halve the total).
#[derive(Debug, Clone, Copy)]
pub struct RssTrend {
    /// Median total RSS in KiB, first third.
    pub first: u64,
    /// Median total RSS in KiB, last third.
    pub last: u64,
    /// Rows used in each third.
    pub rows: usize,
}

impl RssTrend {
    /// The trend of `samples`, or `None` with fewer than 3 full rows after `warm_up`.
    pub fn of(samples: &[Sample], warm_up: f64) -> Option<RssTrend> {
        let totals: Vec<u64> = samples
            .iter()
            .filter(|s| s.secs >= warm_up && s.rss.iter().all(Option::is_some))
            .map(|s| s.rss.iter().flatten().map(|(_, kib)| kib).sum())
            .collect();
        let third = totals.len() / 3;
        if third == 0 {
            return None;
        }
        Some(RssTrend {
            first: median(&mut totals[..third].to_vec()),
            last: median(&mut totals[totals.len() - third..].to_vec()),
            rows: third,
        })
    }

    /// last / first.
    pub fn growth(&self) -> f64 {
        self.last as f64 / self.first.max(1) as f64
    }
}
