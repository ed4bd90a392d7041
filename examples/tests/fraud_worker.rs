//! The fraud app as a worker binary (`#[streams_core::main]`): two instances on the embedded
//! broker of the `fraud` demo answer every card's risk alike over HTTP (forwarding), and the
//! `fraud-worker` binary describes its topology, lists its reset flags, runs, answers its
//! probes and closes cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn two_instances_answer_every_cards_query_identically() {
    let state = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_fraud"))
        .args([
            "--seed",
            "7",
            "--cards",
            "60",
            "--transactions",
            "3000",
            "--instances",
            "2",
            "--http-addr",
            "127.0.0.1:0",
            "--timeout-secs",
            "60",
        ])
        .arg("--state-dir")
        .arg(state.path())
        .env_remove("BOOTSTRAP_SERVERS")
        .output()
        .expect("run fraud");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "fraud failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("2 instances answered the risk of all 60 cards identically over HTTP"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("HTTP: http://127.0.0.1:").count(),
        2,
        "{stdout}"
    );
    assert!(
        stdout.contains("overall: precision=1.00 recall=1.00"),
        "{stdout}"
    );
}

#[test]
fn the_worker_binary_describes_runs_and_stops_on_sigterm() {
    let describe = Command::new(env!("CARGO_BIN_EXE_fraud-worker"))
        .args(["describe", "--format", "mermaid"])
        .output()
        .expect("describe");
    assert!(describe.status.success());
    let mermaid = String::from_utf8_lossy(&describe.stdout);
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains("card-risk"), "{mermaid}");

    // Without a cluster there is nothing to reset (an embedded broker keeps nothing between
    // runs); tests/reset.rs resets on Apache Kafka.
    let reset = Command::new(env!("CARGO_BIN_EXE_fraud-worker"))
        .arg("reset")
        .env_remove("STREAMS_BOOTSTRAP_SERVERS")
        .output()
        .expect("reset");
    let stderr = String::from_utf8_lossy(&reset.stderr);
    assert!(!reset.status.success(), "reset needs bootstrap.servers");
    assert!(
        stderr.contains("bootstrap.servers") && stderr.contains("reset needs the cluster"),
        "{stderr}"
    );
    let help = Command::new(env!("CARGO_BIN_EXE_fraud-worker"))
        .args(["reset", "--help"])
        .output()
        .expect("reset --help");
    let help = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--input-topics",
        "--intermediate-topics",
        "--to-earliest",
        "--to-latest",
        "--to-datetime",
        "--by-duration",
        "--to-offset",
        "--from-file",
        "--shift-by",
        "--dry-run",
    ] {
        assert!(help.contains(flag), "no {flag} in\n{help}");
    }

    // A free port for the worker's HTTP server.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let state = tempfile::tempdir().expect("tempdir");
    let child = Command::new(env!("CARGO_BIN_EXE_fraud-worker"))
        .args(["run", "--http-addr", &format!("127.0.0.1:{port}")])
        .arg("--state-dir")
        .arg(state.path())
        .env_remove("STREAMS_BOOTSTRAP_SERVERS")
        .env("STREAMS_COMMIT_INTERVAL_MS", "200")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fraud-worker");
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = loop {
        let answer = client
            .get(format!("http://127.0.0.1:{port}/health/ready"))
            .send()
            .map(|r| r.status().as_u16());
        if answer.ok() == Some(200) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let risk = client
        .get(format!(
            "http://127.0.0.1:{port}/stores/card-risk/keys/card-1"
        ))
        .send()
        .map(|r| r.status().as_u16());
    // SIGTERM: a clean close and exit code 0.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let output = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(ready, "the worker got ready: {stderr}");
    assert_eq!(risk.ok(), Some(404), "no alerts yet for card-1");
    assert!(output.status.success(), "clean exit on SIGTERM: {stderr}");
    assert!(
        stderr.contains("started an embedded Kafka broker"),
        "{stderr}"
    );
    assert!(stderr.contains("shutdown signal received"), "{stderr}");
}
