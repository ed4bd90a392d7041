//! A line the producer refuses for good (larger than `message.max.bytes`) ends the word count
//! example with an error naming the cause, instead of a send loop that retries forever.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn an_oversized_line_ends_word_count_with_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.txt");
    let long_line = "word ".repeat(400_000); // 2 MB, twice librdkafka's default message.max.bytes
    std::fs::write(&input, format!("a first line\n{long_line}\na last line\n")).expect("input");
    let mut child = Command::new(env!("CARGO_BIN_EXE_word_count"))
        .arg("--input")
        .arg(&input)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .env_remove("BOOTSTRAP_SERVERS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run word_count");
    // A hang guard, not a timing assertion: the old send loop never returned.
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("word_count still runs after 300 s: the refused line is being retried");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let output = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "word_count failed: {stderr}");
    assert!(
        stderr.contains("2000000 bytes") && stderr.contains("too large"),
        "names the line and the cause: {stderr}"
    );
}
