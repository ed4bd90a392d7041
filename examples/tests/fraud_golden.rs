//! Golden test: the fraud example on a small seeded data set (embedded broker) alerts on
//! exactly the expected (transaction, rule) pairs, and scores at least 0.9 overall.
//!
//! To refresh the golden file after an intended change of the generator or the rules:
//! `cargo run --bin fraud -- --seed 7 --cards 50 --transactions 2000 --print-alerts`, and
//! copy the `alerts:` section.

use std::process::Command;

/// The `alerts:` section: its lines up to the end of the output.
fn alerts_section(stdout: &str) -> Option<String> {
    let (_, section) = stdout.split_once("\nalerts:\n")?;
    Some(section.to_string())
}

/// `precision` and `recall` of the `overall:` line.
fn overall(stdout: &str) -> Option<(f64, f64)> {
    let line = stdout.lines().find(|l| l.starts_with("overall:"))?;
    let value = |name: &str| -> Option<f64> {
        let (_, rest) = line.split_once(&format!("{name}="))?;
        rest.split_whitespace().next()?.parse().ok()
    };
    Some((value("precision")?, value("recall")?))
}

#[test]
fn fraud_alerts_match_the_golden_output() {
    let dir = env!("CARGO_MANIFEST_DIR");
    let state = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_fraud"))
        .args([
            "--seed",
            "7",
            "--cards",
            "50",
            "--transactions",
            "2000",
            "--timeout-secs",
            "50",
            "--print-alerts",
            "--http-addr",
            "127.0.0.1:0",
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
        stderr.contains("started an embedded Kafka broker"),
        "says it started a broker: {stderr}"
    );
    assert_eq!(stdout.matches("overall:").count(), 1, "{stdout}");
    let (precision, recall) = overall(&stdout).expect("an overall line");
    assert!(
        precision >= 0.9 && recall >= 0.9,
        "precision {precision}, recall {recall}:\n{stdout}"
    );
    let expected = std::fs::read_to_string(format!("{dir}/fraud/testdata/alerts-seed7.txt"))
        .expect("golden file");
    let alerts = alerts_section(&stdout).expect("an alerts section");
    assert_eq!(
        alerts, expected,
        "alerts differ from the golden file:\n{stdout}"
    );
}
