//! Random and mutated bytes through every decoder that reads outside input
//! (`streams_core::fuzzing::TARGETS`: the public serdes, store and changelog codecs,
//! internal-topic codecs, checkpoint and registry parsers), and what each accepts through its
//! encoder and back (`streams_core::fuzzing::round_trip`). The coverage-guided fuzz targets in
//! `fuzz/` (cargo-fuzz) drive the same decoders.
//!
//! Each target's inputs run in a child process (this test binary again), so that an abort
//! (a failed allocation, a stack overflow) is counted instead of killing the test runner; the
//! child reports its progress through a small file, and after an abort the parent counts it and
//! resumes after the input that caused it. A counting allocator in the child records the
//! largest single allocation each input causes: more than 64 times the input plus 1 MiB (serde's
//! cap on speculative preallocation) counts as an over-allocation, and anything past 1 GiB is
//! refused outright (an abort).
//!
//! Every input is decided by (seed, target, index), so a failure names an input that can be
//! regenerated. Each target also runs its kept corpus (`tests/corpus/<target>.txt`, hex lines),
//! which holds the crafted inputs of past crashes.
//!
//! `STREAMS_FUZZ_INPUTS` sets the inputs per target (default 20,000; run with 100,000 or more on
//! demand: `STREAMS_FUZZ_INPUTS=100000 ./x test -p streams-core --test random_input -- --nocapture`),
//! `STREAMS_FUZZ_SEED` the seed (default 1).

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use streams_core::fuzzing as fuzz;

/// The largest allocation allowed at all in the child; bigger requests fail (and abort).
const HARD_CAP: usize = 1 << 30;

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
static CAP: AtomicUsize = AtomicUsize::new(usize::MAX);

fn note(size: usize) -> bool {
    LARGEST.fetch_max(size, Ordering::Relaxed);
    size <= CAP.load(Ordering::Relaxed)
}

// SAFETY: every call forwards to the system allocator with the caller's layout; refusing a
// request (null) is allowed by `GlobalAlloc`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !note(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !note(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !note(new_size) {
            return std::ptr::null_mut();
        }
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// splitmix64: a tiny deterministic generator, so inputs are reproducible by index.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, target: &str, index: u64) -> Self {
        let mut h = seed ^ 0x9e37_79b9_7f4a_7c15;
        for b in target.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h ^ index.wrapping_mul(0xbf58_476d_1ce4_e5b9))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Values that break length prefixes and varints: bincode's 0xfb-0xfd tags, sign bits, ends.
const INTERESTING: &[u8] = &[0, 1, 0x7f, 0x80, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff];

fn mutate(rng: &mut Rng, mut input: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(8) {
            0 if len > 0 => {
                let at = rng.below(len);
                input[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                input[at] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                // A huge varint length: 0xfd then a u64, little-endian.
                let at = rng.below(len + 1);
                let mut huge = vec![0xfd];
                let value = match rng.below(3) {
                    0 => u64::MAX - rng.below(16) as u64,
                    1 => 1 << (32 + rng.below(31)),
                    _ => rng.next(),
                };
                huge.extend_from_slice(&value.to_le_bytes());
                input.splice(at..at, huge);
            }
            3 if len > 0 => input.truncate(rng.below(len)),
            4 if len > 0 => {
                let from = rng.below(len);
                let to = from + rng.below(len - from + 1);
                let copy = input[from..to].to_vec();
                let at = rng.below(len + 1);
                input.splice(at..at, copy);
            }
            5 => {
                let at = rng.below(len + 1);
                let junk: Vec<u8> = (0..1 + rng.below(8)).map(|_| rng.next() as u8).collect();
                input.splice(at..at, junk);
            }
            6 if len >= 4 => {
                // A 4- or 8-byte big-endian field set to an extreme.
                let width = if len >= 8 && rng.below(2) == 0 { 8 } else { 4 };
                let at = rng.below(len - width + 1);
                let fill = INTERESTING[rng.below(INTERESTING.len())];
                input[at..at + width].fill(fill);
            }
            _ => input.push(rng.next() as u8),
        }
    }
    input
}

/// Input `index` of `target`: corpus entries first, then random or mutated bytes.
fn input(target: &str, seed: u64, index: usize, corpus: &[Vec<u8>], seeds: &[Vec<u8>]) -> Vec<u8> {
    if let Some(kept) = corpus.get(index) {
        return kept.clone();
    }
    let mut rng = Rng::new(seed, target, index as u64);
    if seeds.is_empty() || rng.below(4) == 0 {
        let len = match rng.below(4) {
            0 => rng.below(4),
            1 | 2 => rng.below(32),
            _ => rng.below(512),
        };
        return (0..len).map(|_| rng.next() as u8).collect();
    }
    let seed_input = seeds[rng.below(seeds.len())].clone();
    mutate(&mut rng, seed_input)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(format!("{target}.txt"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Vec::new();
    };
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let hex: String = l.split_whitespace().collect();
            (0..hex.len() / 2)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex corpus line"))
                .collect()
        })
        .collect()
}

fn allowed(input_len: usize) -> usize {
    input_len.saturating_mul(64) + (1 << 20)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(64).map(|b| format!("{b:02x}")).collect()
}

/// Progress the child writes after each input: next index, accepted, panics, oversized.
const PROGRESS_WORDS: usize = 4;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The child: decodes inputs `[from, to)` of one target, writing progress after each.
#[test]
#[ignore = "run by random_inputs_never_panic_abort_or_overallocate in a child process"]
fn random_input_child() {
    let Ok(target) = std::env::var("STREAMS_FUZZ_TARGET") else {
        return;
    };
    let seed = env_usize("STREAMS_FUZZ_SEED", 1) as u64;
    let from = env_usize("STREAMS_FUZZ_FROM", 0);
    let to = env_usize("STREAMS_FUZZ_TO", 0);
    let progress_path = std::env::var("STREAMS_FUZZ_PROGRESS").expect("progress file");
    let progress = std::fs::OpenOptions::new()
        .write(true)
        .open(&progress_path)
        .expect("progress file");
    let corpus = corpus(&target);
    let seeds = fuzz::seeds(&target);
    std::panic::set_hook(Box::new(|_| {}));
    let mut counts = [0u64; PROGRESS_WORDS];
    let mut largest_ratio = (0usize, 0usize);
    let mut report = String::new();
    CAP.store(HARD_CAP, Ordering::Relaxed);
    for index in from..to {
        let bytes = input(&target, seed, index, &corpus, &seeds);
        LARGEST.store(0, Ordering::Relaxed);
        // Decoded and, when accepted, encoded and decoded again: a value that does not
        // survive its own encoding counts as a panic.
        let outcome = std::panic::catch_unwind(|| {
            fuzz::round_trip(&target, &bytes)
                .map(|r| r.unwrap_or_else(|why| panic!("round trip: {why}")))
        });
        let largest = LARGEST.load(Ordering::Relaxed);
        match outcome {
            Ok(Some(true)) => counts[1] += 1,
            Ok(Some(false)) => {}
            Ok(None) => panic!("unknown target {target}"),
            Err(_) => {
                counts[2] += 1;
                report.push_str(&format!("panic at input {index}: {}\n", hex(&bytes)));
            }
        }
        if largest > allowed(bytes.len()) {
            counts[3] += 1;
            report.push_str(&format!(
                "over-allocation at input {index}: {largest} bytes for {} input bytes: {}\n",
                bytes.len(),
                hex(&bytes)
            ));
        }
        if largest.saturating_mul(largest_ratio.1.max(1))
            > largest_ratio.0.saturating_mul(bytes.len().max(1))
        {
            largest_ratio = (largest, bytes.len().max(1));
        }
        counts[0] = index as u64 + 1;
        let mut buf = [0u8; PROGRESS_WORDS * 8];
        for (i, c) in counts.iter().enumerate() {
            buf[i * 8..i * 8 + 8].copy_from_slice(&c.to_le_bytes());
        }
        progress.write_at(&buf, 0).expect("progress");
    }
    CAP.store(usize::MAX, Ordering::Relaxed);
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\n{report}");
    let _ = writeln!(out, "FUZZ-LARGEST {} {}", largest_ratio.0, largest_ratio.1);
}

#[derive(Debug, Default)]
struct Tally {
    inputs: u64,
    accepted: u64,
    panics: u64,
    aborts: u64,
    oversized: u64,
    largest: (usize, usize),
    report: Vec<String>,
}

fn run_target(target: &str, inputs: usize, seed: u64, scratch: &Path) -> Tally {
    let corpus = corpus(target);
    let seeds = fuzz::seeds(target);
    let total = inputs + corpus.len();
    let progress_path: PathBuf = scratch.join(format!("{target}.progress"));
    let mut tally = Tally::default();
    let mut from = 0;
    while from < total {
        std::fs::write(&progress_path, [0u8; PROGRESS_WORDS * 8]).expect("progress file");
        let output = Command::new(std::env::current_exe().expect("test binary"))
            .args(["--exact", "random_input_child", "--ignored", "--nocapture"])
            .args(["--test-threads", "1"])
            .env("STREAMS_FUZZ_TARGET", target)
            .env("STREAMS_FUZZ_SEED", seed.to_string())
            .env("STREAMS_FUZZ_FROM", from.to_string())
            .env("STREAMS_FUZZ_TO", total.to_string())
            .env("STREAMS_FUZZ_PROGRESS", &progress_path)
            .output()
            .expect("run the child");
        let progress = std::fs::read(&progress_path).expect("progress");
        let word = |i: usize| u64::from_le_bytes(progress[i * 8..i * 8 + 8].try_into().expect("8"));
        let (done, accepted, panics, oversized) = (word(0) as usize, word(1), word(2), word(3));
        tally.accepted += accepted;
        tally.panics += panics;
        tally.oversized += oversized;
        let stdout = String::from_utf8_lossy(&output.stdout);
        for line in stdout.lines() {
            if let Some(rest) = line.split("FUZZ-LARGEST ").nth(1) {
                let mut parts = rest.split(' ').filter_map(|p| p.parse::<usize>().ok());
                let (l, n) = (parts.next().unwrap_or(0), parts.next().unwrap_or(1).max(1));
                if l.saturating_mul(tally.largest.1.max(1)) > tally.largest.0.saturating_mul(n) {
                    tally.largest = (l, n);
                }
            } else if line.contains(" at input ") {
                tally.report.push(line.to_string());
            }
        }
        if output.status.success() && done == total {
            tally.inputs += (done - from) as u64;
            break;
        }
        // The child died on input `done` (the first not reported done): count it, go on after.
        let bytes = input(target, seed, done, &corpus, &seeds);
        tally.aborts += 1;
        tally.inputs += (done + 1 - from) as u64;
        tally.report.push(format!(
            "abort at input {done} ({}): {}",
            output.status,
            hex(&bytes)
        ));
        from = done + 1;
    }
    tally
}

#[test]
fn random_inputs_never_panic_abort_or_overallocate() {
    let inputs = env_usize("STREAMS_FUZZ_INPUTS", 20_000);
    let seed = env_usize("STREAMS_FUZZ_SEED", 1) as u64;
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut failed = Vec::new();
    for target in fuzz::TARGETS {
        let t = run_target(target, inputs, seed, scratch.path());
        println!(
            "{target:<24} {:>8} inputs {:>8} accepted {} panics {} aborts {} over-allocations; largest allocation {} B for a {} B input",
            t.inputs, t.accepted, t.panics, t.aborts, t.oversized, t.largest.0, t.largest.1
        );
        for line in t.report.iter().take(5) {
            println!("    {line}");
        }
        if t.panics + t.aborts + t.oversized > 0 {
            failed.push(*target);
        }
        assert!(
            t.inputs >= inputs as u64,
            "{target}: only {} inputs ran",
            t.inputs
        );
    }
    assert!(failed.is_empty(), "decoders that failed: {failed:?}");
}

#[test]
fn every_target_has_seeds_and_decodes_them() {
    for target in fuzz::TARGETS {
        let seeds = fuzz::seeds(target);
        assert!(!seeds.is_empty(), "{target} has no seeds");
        for seed in seeds {
            assert_eq!(
                fuzz::decode(target, &seed),
                Some(true),
                "{target} refuses its own seed {}",
                hex(&seed)
            );
        }
    }
}
