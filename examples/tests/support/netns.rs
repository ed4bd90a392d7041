//! Separate hosts on one machine: a Linux bridge with an address of this machine, and network
//! namespaces behind it, each with its own address on a veth pair into the bridge, as machines
//! on one LAN whose links can be cut (`ip link set … down` on the bridge side: packets vanish,
//! no connection is reset) and restored. Everything is removed on drop, also when the test
//! panics; what a killed test process left behind (its namespaces, the processes still in them,
//! its links) is removed by the next one.
//!
//! Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2's `ip`. Whether the machine has them is decided when
//! the test binary is built (`examples/build.rs` sets `netns_available`, and sets it under CI
//! regardless, so that a CI machine without them fails the test, with
//! [`Lan::unavailable`]'s reason, instead of skipping it).
#![allow(dead_code, unreachable_pub)]

use std::process::Command;

/// Names of what a test process creates start with these, then its pid.
const BRIDGE_PREFIX: &str = "strbr";
const NS_PREFIX: &str = "strns";
const VETH_PREFIX: &str = "strv";

/// Runs `ip` with `args`; the error says what failed.
fn ip(args: &[&str]) -> Result<String, String> {
    let output = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).to_string())
    } else {
        Err(format!(
            "ip {}: {}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// Runs `ip` with `args`, panicking on failure.
fn ip_ok(args: &[&str]) -> String {
    ip(args).unwrap_or_else(|e| panic!("{e}"))
}

/// The pid a name made by a test process carries (`strbr1234`, `strns1234-2`, `strv1234h2`).
fn owner_pid(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// One namespace: a host of the LAN.
#[derive(Debug)]
pub struct Host {
    /// The namespace's name (`ip netns exec <ns> …`).
    pub ns: String,
    /// Its address on the LAN.
    pub addr: String,
    /// The bridge side of its veth pair: down cuts the host off.
    veth: String,
}

/// A bridge and its hosts, removed on drop.
#[derive(Debug)]
pub struct Lan {
    bridge: String,
    /// This machine's address on the bridge, which every host reaches.
    pub gateway: String,
    /// The hosts, in the order made.
    pub hosts: Vec<Host>,
}

impl Lan {
    /// Why namespaces cannot be made here (`None` when they can): not root (no CAP_NET_ADMIN
    /// and CAP_SYS_ADMIN), or no `ip`.
    pub fn unavailable() -> Option<String> {
        let caps = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|status| {
                let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
                u64::from_str_radix(hex.trim(), 16).ok()
            })
            .unwrap_or(0);
        if caps & (1 << 12) == 0 || caps & (1 << 21) == 0 {
            return Some(format!(
                "network namespaces need root: CAP_NET_ADMIN and CAP_SYS_ADMIN (effective \
                 capabilities {caps:#x})"
            ));
        }
        if let Err(e) = ip(&["netns", "list"]) {
            return Some(format!("`ip netns` does not work (install iproute2): {e}"));
        }
        None
    }

    /// A bridge with `hosts` namespaces on a /24 of 10.77.0.0/16 that no interface here uses:
    /// this machine is `.1`, the hosts `.11`, `.12`, …
    pub fn create(hosts: usize) -> Lan {
        if let Some(reason) = Lan::unavailable() {
            panic!("cannot make separate hosts: {reason}");
        }
        sweep_leftovers();
        let pid = std::process::id();
        let net = free_subnet(pid);
        let bridge = format!("{BRIDGE_PREFIX}{pid}");
        let gateway = format!("{net}.1");
        // Built up in `lan` so that a failure half-way removes what exists.
        let mut lan = Lan {
            bridge: bridge.clone(),
            gateway: gateway.clone(),
            hosts: Vec::new(),
        };
        ip_ok(&["link", "add", &bridge, "type", "bridge"]);
        ip_ok(&["addr", "add", &format!("{gateway}/24"), "dev", &bridge]);
        ip_ok(&["link", "set", &bridge, "up"]);
        for i in 1..=hosts {
            let ns = format!("{NS_PREFIX}{pid}-{i}");
            let veth = format!("{VETH_PREFIX}{pid}h{i}");
            let peer = format!("{VETH_PREFIX}{pid}n{i}");
            let addr = format!("{net}.{}", 10 + i);
            ip_ok(&["netns", "add", &ns]);
            lan.hosts.push(Host {
                ns: ns.clone(),
                addr: addr.clone(),
                veth: veth.clone(),
            });
            ip_ok(&["link", "add", &veth, "type", "veth", "peer", "name", &peer]);
            ip_ok(&["link", "set", &peer, "netns", &ns]);
            ip_ok(&["link", "set", &veth, "master", &bridge, "up"]);
            ip_ok(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                &peer,
            ]);
            ip_ok(&["-n", &ns, "link", "set", &peer, "up"]);
            ip_ok(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        lan
    }

    /// A command that runs `program` in host `i`'s namespace (0-based).
    pub fn command(&self, i: usize, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.hosts[i].ns])
            .arg(program);
        command
    }

    /// Cuts host `i` off: its link goes down on the bridge side.
    pub fn cut(&self, i: usize) {
        ip_ok(&["link", "set", &self.hosts[i].veth, "down"]);
    }

    /// Brings host `i`'s link back up.
    pub fn restore(&self, i: usize) {
        ip_ok(&["link", "set", &self.hosts[i].veth, "up"]);
    }
}

/// SIGKILLs whatever still runs in namespace `ns` (a namespace outlives its name while
/// processes are in it).
fn kill_processes_in(ns: &str) {
    for pid in ip(&["netns", "pids", ns])
        .unwrap_or_default()
        .split_whitespace()
    {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes its end of the veth pair, and so the pair.
        for host in &self.hosts {
            kill_processes_in(&host.ns);
            let _ = ip(&["netns", "del", &host.ns]);
            let _ = ip(&["link", "del", &host.veth]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}

/// Removes the bridges, veths and namespaces of test processes that no longer run.
fn sweep_leftovers() {
    for line in ip(&["netns", "list"]).unwrap_or_default().lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        if owner_pid(name, NS_PREFIX).is_some_and(|pid| !process_alive(pid)) {
            kill_processes_in(name);
            let _ = ip(&["netns", "del", name]);
        }
    }
    for line in ip(&["-o", "link", "show"]).unwrap_or_default().lines() {
        // `7: strbr1234: <…>` or `9: strv1234h1@if8: <…>`
        let Some(name) = line.split(": ").nth(1) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or_default();
        let stale = [BRIDGE_PREFIX, VETH_PREFIX]
            .iter()
            .any(|prefix| owner_pid(name, prefix).is_some_and(|pid| !process_alive(pid)));
        if stale {
            let _ = ip(&["link", "del", name]);
        }
    }
}

/// `10.77.<n>` for a `<n>` that no address or route of this machine is in, starting from one
/// derived from `pid` (so that concurrent test processes pick different ones).
fn free_subnet(pid: u32) -> String {
    let used = format!(
        "{}\n{}",
        ip(&["-o", "-4", "addr", "show"]).unwrap_or_default(),
        ip(&["-4", "route", "show", "table", "all"]).unwrap_or_default()
    );
    let start = pid % 200;
    (0..200)
        .map(|k| format!("10.77.{}", 20 + (start + k) % 200))
        .find(|net| !used.contains(&format!("{net}.")))
        .unwrap_or_else(|| panic!("no free 10.77.x.0/24 subnet:\n{used}"))
}
