//! Golden test: the word_count example over a small text prints exactly the expected counts.

use std::process::Command;

#[test]
fn word_count_matches_the_golden_output() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let state = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_word_count"))
        .args([
            "--input",
            &format!("{dir}/word_count/testdata/input.txt"),
            "--top",
            "4",
        ])
        .arg("--state-dir")
        .arg(state.path())
        .env_remove("BOOTSTRAP_SERVERS")
        .output()
        .expect("run word_count");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "word_count failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stderr.contains("started an embedded Kafka broker"),
        "says it started a broker: {stderr}"
    );
    let expected =
        std::fs::read_to_string(format!("{dir}/word_count/testdata/expected.txt")).expect("golden");
    let results = stdout
        .split_once("words, ")
        .map(|(before, after)| {
            format!("{}words, {after}", before.rsplit('\n').next().unwrap_or(""))
        })
        .expect("a results section");
    assert_eq!(results, expected);
    assert!(
        stdout.contains("Sub-topology: 1"),
        "prints the topology first"
    );
}
