//! An app in a child process: its events (JSON lines on its stdout, see `app`), its CPU time
//! and memory (from `/proc/<pid>`, so they are the app's alone), its stderr in a log file.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use crate::app::unix_us;
use crate::harness::BoxError;

/// One event an app reported.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    /// `running`, `first`, `processed`, `closed`, `done` or `error`.
    pub(crate) kind: String,
    /// The pass it is about.
    pub(crate) pass: Option<u64>,
    /// When it happened, by the app's clock (the same host's wall clock as ours).
    pub(crate) unix_us: Option<u64>,
    /// An error's message.
    pub(crate) message: Option<String>,
}

/// A running app.
#[derive(Debug)]
pub(crate) struct Child {
    child: std::process::Child,
    events: Receiver<Event>,
    /// When it was spawned (µs since the epoch).
    pub(crate) spawned_us: u64,
    log: PathBuf,
}

impl Child {
    /// Spawns `command`, its stdin a pipe that [`finish`](Self::finish) closes, its stderr in
    /// `log`.
    pub(crate) fn spawn(mut command: Command, log: &Path) -> Result<Self, BoxError> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(log)?);
        let spawned_us = unix_us();
        let mut child = command.spawn()?;
        let stdout = child.stdout.take().ok_or("the app has no stdout")?;
        let (sender, events) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue; // not an event: a library printing to stdout
                };
                let event = Event {
                    kind: value["event"].as_str().unwrap_or_default().to_string(),
                    pass: value["pass"].as_u64(),
                    unix_us: value["unix_us"].as_u64(),
                    message: value["message"].as_str().map(str::to_string),
                };
                if sender.send(event).is_err() {
                    break;
                }
            }
        });
        Ok(Child {
            child,
            events,
            spawned_us,
            log: log.to_path_buf(),
        })
    }

    /// The next event within `timeout` (`None`: none yet); an error once the app's stdout
    /// closed (it exited).
    pub(crate) fn next_event(&self, timeout: Duration) -> Result<Option<Event>, BoxError> {
        match self.events.recv_timeout(timeout) {
            Ok(event) => Ok(Some(event)),
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(self.failure("the app exited")),
        }
    }

    /// Waits for event `kind` (failing on an `error` event, on exit or after `timeout`).
    pub(crate) fn wait_for(&self, kind: &str, timeout: Duration) -> Result<Event, BoxError> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            match self.next_event(Duration::from_millis(50))? {
                Some(event) if event.kind == kind => return Ok(event),
                Some(event) if event.kind == "error" => {
                    return Err(self.failure(&event.message.unwrap_or_default()));
                }
                _ => {}
            }
        }
        Err(self.failure(&format!("no `{kind}` event within {timeout:?}")))
    }

    /// User + system CPU seconds of the process so far, all its threads, live and ended.
    pub(crate) fn cpu_seconds(&self) -> Result<f64, BoxError> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name, which is parenthesized and may hold spaces: the
        // state is field 3, utime field 14 and stime field 15.
        let after = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or("unexpected /proc/<pid>/stat")?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| -> Result<u64, BoxError> {
            Ok(fields
                .get(i)
                .ok_or("short /proc/<pid>/stat")?
                .parse::<u64>()?)
        };
        Ok((ticks(11)? + ticks(12)?) as f64 / clock_ticks_per_second())
    }

    /// A `kB` line of `/proc/<pid>/status`, such as `VmHWM` (peak RSS) or `VmRSS`, in MiB.
    pub(crate) fn status_mib(&self, key: &str) -> Result<f64, BoxError> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .ok_or_else(|| format!("no {key} in /proc/<pid>/status"))?;
        let kib: u64 = line
            .split_whitespace()
            .next()
            .ok_or("empty status line")?
            .parse()?;
        Ok(kib as f64 / 1024.0)
    }

    /// Closes its stdin (the app closes and exits) and waits for it; kills it after a minute.
    pub(crate) fn finish(mut self) -> Result<(), BoxError> {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait()? {
                if status.success() {
                    return Ok(());
                }
                return Err(self.failure(&format!("the app exited with {status}")));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(self.failure("the app did not exit within 60 s of its stdin closing"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// An error with `what` and the end of the app's log.
    pub(crate) fn failure(&self, what: &str) -> BoxError {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        format!("{what} (log {}):\n{tail}", self.log.display()).into()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `getconf CLK_TCK`: the unit of `/proc/<pid>/stat` times (100 on Linux).
fn clock_ticks_per_second() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}
