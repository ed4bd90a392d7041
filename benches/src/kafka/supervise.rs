//! Following an app process through its passes: the timed passes' first records (the app's
//! events), their last commits (the group coordinator, asked every 10 ms) and the app's CPU time
//! at both moments; then the process's peak memory and total CPU before it exits.

use std::time::{Duration, Instant};

use super::child::Child;
use super::cluster::CommitWatcher;
use crate::app::unix_us;
use crate::harness::BoxError;

/// How often the group's committed offsets are asked for.
const COMMIT_POLL: Duration = Duration::from_millis(10);

/// One timed pass of an app: what it expects, and what was seen of it.
pub(crate) struct TimedPass {
    /// Its index among the app's passes.
    index: u64,
    records: u64,
    watcher: CommitWatcher,
    /// The app's first-record time (µs since the epoch) and its CPU seconds then.
    first: Option<(u64, f64)>,
    /// When the commit of every input offset was seen, and the CPU seconds then.
    end: Option<(u64, f64)>,
    processed_us: Option<u64>,
    closed: bool,
}

/// A timed pass's measurement.
#[derive(Debug, Clone)]
pub(crate) struct PassResult {
    /// Input records.
    pub(crate) records: u64,
    /// First record processed → every input offset committed.
    pub(crate) seconds: f64,
    /// The app's CPU seconds over `seconds`.
    pub(crate) cpu_s: f64,
    /// From the app counting its last record to the commit being seen.
    pub(crate) final_commit_ms: f64,
}

/// The app process as a whole, read just before it exits.
#[derive(Debug, Clone)]
pub(crate) struct ProcessResult {
    /// CPU seconds from its start to the end of its last pass's close.
    pub(crate) cpu_total_s: f64,
    /// `VmHWM`, MiB.
    pub(crate) peak_rss_mb: f64,
    /// The host's 1-minute load average then.
    pub(crate) host_load_1m: f64,
}

impl TimedPass {
    /// Pass `index` of an app, expecting `records`, its group's commits watched by `watcher`.
    pub(crate) fn new(index: usize, records: u64, watcher: CommitWatcher) -> Self {
        TimedPass {
            index: u64::try_from(index).unwrap_or(u64::MAX),
            records,
            watcher,
            first: None,
            end: None,
            processed_us: None,
            closed: false,
        }
    }

    /// Its measurement, once it has one.
    pub(crate) fn result(&self) -> Option<PassResult> {
        let ((first_us, first_cpu), (end_us, end_cpu)) = (self.first?, self.end?);
        Some(PassResult {
            records: self.records,
            seconds: end_us.saturating_sub(first_us) as f64 / 1e6,
            cpu_s: end_cpu - first_cpu,
            final_commit_ms: self
                .processed_us
                .map_or(f64::NAN, |p| end_us.saturating_sub(p) as f64 / 1e3),
        })
    }
}

/// Follows `child` until it reports `done`, measuring each of `timed`.
pub(crate) fn supervise(
    child: &Child,
    timed: &mut [TimedPass],
    timeout: Duration,
) -> Result<ProcessResult, BoxError> {
    let deadline = Instant::now() + timeout * u32::try_from(timed.len().max(1))?;
    let mut last_poll: Option<Instant> = None;
    loop {
        if Instant::now() > deadline {
            let stuck = timed.iter().find(|t| t.end.is_none());
            return Err(child.failure(&format!(
                "not done in time (pass {}: first record seen: {}, last failed commit query: {})",
                stuck.map_or(0, |t| t.index),
                stuck.is_some_and(|t| t.first.is_some()),
                stuck
                    .and_then(|t| t.watcher.last_error())
                    .unwrap_or_else(|| "none".into())
            )));
        }
        if let Some(event) = child.next_event(Duration::from_millis(2))? {
            let pass = timed.iter_mut().find(|t| Some(t.index) == event.pass);
            match (event.kind.as_str(), pass) {
                ("first", Some(pass)) => {
                    let at = event.unix_us.ok_or("a first event without a time")?;
                    pass.first = Some((at, child.cpu_seconds()?));
                }
                ("processed", Some(pass)) => pass.processed_us = event.unix_us,
                ("closed", Some(pass)) => pass.closed = true,
                ("done", _) => break,
                ("error", _) => return Err(child.failure(&event.message.unwrap_or_default())),
                _ => {}
            }
        }
        // Passes run one after the other: at most one has started and is not committed yet.
        let due = last_poll.is_none_or(|at| at.elapsed() >= COMMIT_POLL);
        if let Some(pass) = timed
            .iter_mut()
            .find(|t| t.first.is_some() && t.end.is_none() && (due || t.closed))
        {
            last_poll = Some(Instant::now());
            if pass.watcher.caught_up()? {
                pass.end = Some((unix_us(), child.cpu_seconds()?));
            } else if pass.closed {
                return Err(child.failure(&format!(
                    "the app closed pass {} with input offsets left uncommitted",
                    pass.index
                )));
            }
        }
    }
    if let Some(pass) = timed.iter().find(|t| t.result().is_none()) {
        return Err(child.failure(&format!(
            "the app finished without pass {}'s first record or commit",
            pass.index
        )));
    }
    Ok(ProcessResult {
        cpu_total_s: child.cpu_seconds()?,
        peak_rss_mb: child.status_mib("VmHWM")?,
        host_load_1m: load_average(),
    })
}

/// The first field of `/proc/loadavg` (NaN if unreadable).
fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}
