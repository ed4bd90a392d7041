//! Finds out whether Apache Kafka can be started by the tests (a JVM, and the broker's jars
//! resolved by `./x kafka fetch` into the cache): sets `cfg(kafka_available)` if so. Tests that
//! need the broker are ignored without it, so cargo reports them as skipped, never as passed;
//! under CI (`CI` set) a missing broker fails the build instead.
//!
//! Likewise `cfg(netns_available)`: this build runs as root with iproute2's `ip`, so the tests
//! can put app instances in network namespaces of their own (`tests/support/netns.rs`). Under
//! CI it is set regardless: there the test runs, and fails saying what is missing.

use std::path::PathBuf;
use std::process::Command;

/// Must match `KAFKA_VERSION` in `java/kafka-broker/kafka.sh`.
const KAFKA_VERSION: &str = "4.4.0";

fn main() {
    netns();
    println!("cargo::rustc-check-cfg=cfg(kafka_available)");
    for var in [
        "KAFKA_LIBS",
        "STREAMS_CACHE",
        "HOME",
        "JAVA",
        "JAVA_HOME",
        "CI",
    ] {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let libs = std::env::var_os("KAFKA_LIBS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("STREAMS_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                        .join(".cache/streams")
                });
            cache.join("kafka").join(KAFKA_VERSION).join("libs")
        });
    println!("cargo::rerun-if-changed={}", libs.join(".stamp").display());
    let jars = libs
        .join(format!("kafka_2.13-{KAFKA_VERSION}.jar"))
        .is_file();
    let java = std::env::var_os("JAVA")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("JAVA_HOME").map(|h| PathBuf::from(h).join("bin/java")))
        .unwrap_or_else(|| PathBuf::from("java"));
    let jvm = Command::new(&java)
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if jars && jvm {
        println!("cargo::rustc-cfg=kafka_available");
        return;
    }
    let missing = if jvm {
        format!(
            "no Kafka jars in {} (run `./x kafka fetch`)",
            libs.display()
        )
    } else {
        format!("no JVM (`{} -version` failed)", java.display())
    };
    if std::env::var_os("CI").is_some() {
        panic!("the tests need Apache Kafka under CI: {missing}");
    }
    println!("cargo::warning=tests that need Apache Kafka are ignored: {missing}");
}

/// Sets `netns_available` when running as root with a working `ip netns`, or under CI.
fn netns() {
    println!("cargo::rustc-check-cfg=cfg(netns_available)");
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let ip = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success());
    if (root && ip) || std::env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=netns_available");
    } else {
        println!(
            "cargo::warning=tests that need network namespaces are ignored: {}",
            if root {
                "no working `ip netns` (install iproute2)"
            } else {
                "not root"
            }
        );
    }
}
