//! Finds out whether Apache Kafka can be started by the tests (a JVM, and the broker's jars
//! resolved by `./x kafka fetch` into the cache): sets `cfg(kafka_available)` if so. Tests that
//! need the broker are ignored without it, so cargo reports them as skipped, never as passed;
//! under CI (`CI` set) a missing broker fails the build instead.
//!
//! Likewise `cfg(netns_available)`: this build runs as root (with the capabilities to make
//! network namespaces) with iproute2's `ip`, so the tests can put app instances in network
//! namespaces of their own (`tests/support/netns.rs`). Under CI it is set regardless: there the
//! test runs, and fails saying what is missing.

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

/// Sets `netns_available` when this process may make network namespaces and links (root's
/// CAP_NET_ADMIN and CAP_SYS_ADMIN) and has a working `ip netns`, or under CI.
fn netns() {
    println!("cargo::rustc-check-cfg=cfg(netns_available)");
    let capable = namespace_capabilities();
    let ip = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .is_ok_and(|o| o.status.success());
    if (capable && ip) || std::env::var_os("CI").is_some() {
        println!("cargo::rustc-cfg=netns_available");
    } else {
        println!(
            "cargo::warning=tests that need network namespaces are ignored: {}",
            if capable {
                "no working `ip netns` (install iproute2)"
            } else {
                "not root (no CAP_NET_ADMIN and CAP_SYS_ADMIN)"
            }
        );
    }
}

/// Whether the effective capabilities (`CapEff` in /proc/self/status) hold CAP_NET_ADMIN (12)
/// and CAP_SYS_ADMIN (21), which `ip netns add` and `ip link add` need.
fn namespace_capabilities() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
            u64::from_str_radix(hex.trim(), 16).ok()
        })
        .is_some_and(|caps| caps & (1 << 12) != 0 && caps & (1 << 21) != 0)
}
