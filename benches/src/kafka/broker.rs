//! The Apache Kafka broker of `--broker kafka`: one KRaft node started by
//! `java/kafka-broker/kafka.sh` in a temporary directory, stopped when dropped (and by the
//! script's watchdog if this process dies first).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use crate::harness::BoxError;

/// The broker script, in the clone this binary was built from.
const KAFKA_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../java/kafka-broker/kafka.sh");

/// Broker JVM flags for throughput (the script's default stops the JIT at C1, which slows the
/// broker); `KAFKA_JVM_OPTS` in the environment wins.
const JVM_OPTS: &str = "-XX:+UseSerialGC -XX:ReservedCodeCacheSize=64m -XX:MaxMetaspaceSize=128m";
/// Broker heap; `KAFKA_HEAP_OPTS` in the environment wins.
const HEAP_OPTS: &str = "-Xms256m -Xmx512m";
/// Broker properties; `KAFKA_EXTRA_CONFIG` in the environment wins. A node whose controller
/// misses its heartbeats for `broker.session.timeout.ms` (9 s) fences itself, and its
/// partitions lose their leader: on a shared box a stalled JVM got there, so it waits longer.
/// Deleted topics' files go after 1 s rather than 60 (they sit in RAM on tmpfs).
const EXTRA_CONFIG: &str = "broker.session.timeout.ms=30000\nfile.delete.delay.ms=1000";

/// A running single-node Apache Kafka.
#[derive(Debug)]
pub(crate) struct Broker {
    dir: TempDir,
    bootstrap: String,
    /// Where the broker's log is copied when it stops (its directory is deleted).
    keep_log: PathBuf,
}

impl Broker {
    /// Starts a fresh node on a free port of 127.0.0.1 (the controller on the next port), its
    /// data under `data_dir`; its log is copied to `keep_log` when it stops.
    pub(crate) fn start(data_dir: &Path, keep_log: PathBuf) -> Result<Self, BoxError> {
        let dir = tempfile::Builder::new()
            .prefix(&format!("streams-bench-{}-kafka-", std::process::id()))
            .tempdir_in(data_dir)?;
        let port = free_port_pair()?;
        let mut command = Command::new("bash");
        command
            .arg(KAFKA_SH)
            .arg("start")
            .arg(dir.path())
            .arg(port.to_string())
            .env("KAFKA_WATCH_PID", std::process::id().to_string())
            .stdin(Stdio::null())
            .stderr(Stdio::inherit());
        for (key, default) in [
            ("KAFKA_JVM_OPTS", JVM_OPTS),
            ("KAFKA_HEAP_OPTS", HEAP_OPTS),
            ("KAFKA_EXTRA_CONFIG", EXTRA_CONFIG),
        ] {
            if std::env::var_os(key).is_none() {
                command.env(key, default);
            }
        }
        let output = command.output()?;
        if !output.status.success() {
            // It may have started a JVM before giving up; stop it while its pid file exists.
            stop(dir.path());
            return Err(format!(
                "{KAFKA_SH} start failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stdout).trim()
            )
            .into());
        }
        eprintln!("[bench] {}", String::from_utf8_lossy(&output.stdout).trim());
        Ok(Broker {
            dir,
            bootstrap: format!("127.0.0.1:{port}"),
            keep_log,
        })
    }

    /// `host:port` of the broker.
    pub(crate) fn bootstrap(&self) -> &str {
        &self.bootstrap
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        stop(self.dir.path());
        let _ = std::fs::copy(self.dir.path().join("kafka.log"), &self.keep_log);
    }
}

/// `kafka.sh stop <dir>`.
fn stop(dir: &Path) {
    let _ = Command::new("bash")
        .arg(KAFKA_SH)
        .arg("stop")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status();
}

/// A port `p` of 127.0.0.1 such that `p` and `p + 1` are both free just now.
fn free_port_pair() -> Result<u16, BoxError> {
    for _ in 0..100 {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", next)).is_ok() {
            return Ok(port);
        }
    }
    Err("found no two consecutive free ports on 127.0.0.1".into())
}
