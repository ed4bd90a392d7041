//! A record the producer refuses for good (larger than `message.max.bytes`) ends the benchmark
//! with an error naming the cause, instead of a send loop that retries forever.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn an_oversized_record_ends_the_benchmark_with_an_error() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_streams-bench"))
        .args([
            "--records",
            "10",
            "--value-bytes",
            "2000000",
            "--workloads",
            "stream_process_with_sink",
            "--timeout-secs",
            "120",
        ])
        .env_remove("BOOTSTRAP_SERVERS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run streams-bench");
    // A hang guard, not a timing assertion: the old send loop never returned.
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the benchmark still runs after 300 s: the refused record is being retried");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the benchmark failed: {stderr}");
    assert!(
        stderr.contains("too large") || stderr.contains("MessageSizeTooLarge"),
        "names the cause: {stderr}"
    );
}
