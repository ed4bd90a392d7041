//! The differential oracle: the same named topologies run through Kafka Streams' own
//! `TopologyTestDriver` (a JVM, `java/kafka-streams-oracle`) and through ours, on generated
//! scenarios, and their outputs and stores are compared exactly.
//!
//! # Layout
//! - `registry` — the named topologies: inputs, outputs, stores.
//! - `topologies` — our twins of the Java topologies.
//! - `scenario` — scenarios and their proptest generator.
//! - `outcome` — running a scenario through our driver; reading the JVM's answer; comparing.
//! - `dump` — reading our stores as the Java side prints them.
//! - `exclusions` — shapes kept out of the default run, with reasons.
//! - `jvm` — building and running the Java side.
//!
//! # Environment
//! - `STREAMS_ORACLE_CASES` — scenarios per topology (default 10; `./x oracle` runs 200).
//! - `STREAMS_ORACLE_SEED` — the generator's seed (default 1).
//! - `STREAMS_ORACLE_ONLY` — comma-separated topology names to run.
//! - `STREAMS_ORACLE_EXCLUDED=1` — generate the excluded shapes too.
//! - `STREAMS_ORACLE_REPLAY=<file>` — run the scenarios of a file (JSON lines, as printed on a
//!   mismatch) and print both sides' outcomes.
//! - `STREAMS_ORACLE_SHRINK_STEPS` — how many shrinking steps a mismatch gets (default 400).

mod dump;
mod exclusions;
mod jvm;
mod outcome;
mod registry;
mod scenario;
mod topologies;

use std::collections::BTreeMap;
use std::io::Write;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

use exclusions::{EXCLUDED, Excluded, is_excluded};
use jvm::Jvm;
use outcome::Outcome;
use registry::Def;
use scenario::{Scenario, Shape};

/// A run's settings, from the environment.
struct Settings {
    cases: u64,
    seed: u64,
    shrink_steps: u64,
    include_excluded: bool,
}

impl Settings {
    fn from_env() -> Settings {
        Settings {
            cases: env_u64("STREAMS_ORACLE_CASES", 10),
            seed: env_u64("STREAMS_ORACLE_SEED", 1),
            shrink_steps: env_u64("STREAMS_ORACLE_SHRINK_STEPS", 400),
            include_excluded: std::env::var("STREAMS_ORACLE_EXCLUDED").is_ok_and(|v| v == "1"),
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={v}: not a number")),
        Err(_) => default,
    }
}

/// The steps of case `index` of `def`: its own RNG, so a case can be generated again.
fn tree(
    def: &Def,
    shape: &Shape,
    seed: u64,
    index: u64,
) -> impl ValueTree<Value = Vec<scenario::Step>> + use<> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&index.to_le_bytes());
    for (i, b) in def.name.bytes().enumerate() {
        bytes[16 + i % 16] ^= b.rotate_left(i as u32 / 16);
    }
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &bytes);
    let mut runner = TestRunner::new_with_rng(Config::default(), rng);
    match scenario::steps(shape).new_tree(&mut runner) {
        Ok(tree) => tree,
        Err(e) => panic!("generating case {index} of {}: {e}", def.name),
    }
}

/// The stores of `def` an exclusion keeps out of the comparison of `scenario`.
fn uncompared_stores(def: &Def, scenario: &Scenario, include_excluded: bool) -> Vec<&'static str> {
    let excluded = |what| !include_excluded && is_excluded(def.name, what).is_some();
    let windows = excluded(Excluded::WindowStoreContents)
        || (scenario.caching && excluded(Excluded::CachedWindowStoreContents));
    def.stores
        .iter()
        .filter(|s| windows && s.windowed)
        .map(|s| s.name)
        .collect()
}

/// The generator's shape for `def`, with the exclusions applied unless `include_excluded`.
fn shape(def: &Def, include_excluded: bool) -> Shape {
    let mut shape = def.shape.clone();
    if !include_excluded && is_excluded(def.name, Excluded::NullKeys).is_some() {
        shape.null_keys = false;
    }
    shape
}

/// Both sides' outcomes, with what is not compared left out.
fn comparable(
    def: &Def,
    scenario: &Scenario,
    include_excluded: bool,
    kafka: Outcome,
    ours: Outcome,
) -> (Outcome, Outcome) {
    let skip = uncompared_stores(def, scenario, include_excluded);
    (kafka.without_stores(&skip), ours.without_stores(&skip))
}

/// Runs one scenario on both sides, one JVM request.
fn run_both(
    jvm: &mut Jvm,
    def: &Def,
    scenario: &Scenario,
    include_excluded: bool,
) -> (Outcome, Outcome) {
    let request = scenario.request(0, &def.config, &def.output_names(), &def.store_names());
    let answer = jvm.ask(&request).unwrap_or_else(|e| panic!("{e}"));
    let kafka = Outcome::from_jvm(&answer).unwrap_or_else(|e| panic!("{e}"));
    let ours = Outcome::from_rust(def, scenario);
    comparable(def, scenario, include_excluded, kafka, ours)
}

fn report_mismatch(def: &Def, label: &str, scenario: &Scenario, kafka: &Outcome, ours: &Outcome) {
    let mut text = format!(
        "\n=== MISMATCH in `{}` ({label}, caching {}) ===\nscenario: {}\n--- Kafka Streams:\n{}--- streams:\n{}",
        def.name,
        if scenario.caching { "on" } else { "off" },
        scenario.to_json(),
        kafka.render(def),
        ours.render(def),
    );
    text.push_str(&format!("topology:\n{}", topology_text(def, scenario)));
    eprintln!("{text}");
}

fn topology_text(def: &Def, scenario: &Scenario) -> String {
    match (def.build)(&outcome::driver_config(def, scenario)) {
        Ok(t) => t.describe().to_string(),
        Err(e) => format!("(does not build: {e})\n"),
    }
}

/// Shrinks a failing case: proptest's simplify/complicate walk, each candidate run on both
/// sides. Returns the smallest failing scenario found.
fn shrink(jvm: &mut Jvm, settings: &Settings, def: &Def, index: u64, caching: bool) -> Scenario {
    let shape = shape(def, settings.include_excluded);
    let mut tree = tree(def, &shape, settings.seed, index);
    let scenario_of = |steps| Scenario {
        topology: def.name.to_string(),
        caching,
        steps,
    };
    let mut smallest = scenario_of(tree.current());
    let mut steps = 0;
    if !tree.simplify() {
        return smallest;
    }
    while steps < settings.shrink_steps {
        steps += 1;
        let candidate = scenario_of(tree.current());
        let (kafka, ours) = run_both(jvm, def, &candidate, settings.include_excluded);
        if kafka.agrees_with(&ours) {
            if !tree.complicate() {
                break;
            }
        } else {
            smallest = candidate;
            if !tree.simplify() {
                break;
            }
        }
    }
    smallest
}

fn mismatch_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("oracle-mismatches.jsonl")
}

/// Replays the scenarios of a file and prints both sides' outcomes.
fn replay(jvm: &mut Jvm, defs: &[Def], path: &str, include_excluded: bool) -> usize {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let mut mismatches = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{path}: {e}: {line}"));
        let scenario = Scenario::from_json(&value).unwrap_or_else(|e| panic!("{path}: {e}"));
        let def = defs
            .iter()
            .find(|d| d.name == scenario.topology)
            .unwrap_or_else(|| panic!("no topology named {}", scenario.topology));
        let (kafka, ours) = run_both(jvm, def, &scenario, include_excluded);
        let agree = kafka.agrees_with(&ours);
        mismatches += usize::from(!agree);
        eprintln!(
            "=== {} ({}) ===\nscenario: {}\n--- Kafka Streams:\n{}--- streams:\n{}",
            def.name,
            if agree { "agree" } else { "MISMATCH" },
            scenario.to_json(),
            kafka.render(def),
            ours.render(def)
        );
    }
    mismatches
}

/// The whole test: see the module docs.
pub(crate) fn run() {
    let settings = Settings::from_env();
    let Settings {
        cases,
        seed,
        include_excluded,
        ..
    } = settings;
    let only: Option<Vec<String>> = std::env::var("STREAMS_ORACLE_ONLY")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let mut defs = registry::all();
    if let Some(only) = &only {
        for name in only {
            assert!(
                defs.iter().any(|d| d.name == name),
                "STREAMS_ORACLE_ONLY names `{name}`, which is no topology"
            );
        }
        defs.retain(|d| only.iter().any(|n| n == d.name));
    }
    let mut jvm = Jvm::start().unwrap_or_else(|e| panic!("{e}"));

    if let Ok(path) = std::env::var("STREAMS_ORACLE_REPLAY") {
        let mismatches = replay(&mut jvm, &defs, &path, include_excluded);
        assert_eq!(mismatches, 0, "{mismatches} replayed scenarios disagree");
        return;
    }
    // Topologies kept out of the default run (unless named or asked for).
    if only.is_none() && !include_excluded {
        defs.retain(|d| is_excluded(d.name, Excluded::Topology).is_none());
    }

    // Generate every case, send them all to the JVM at once, and run ours meanwhile.
    let mut scenarios = Vec::new();
    for (d, def) in defs.iter().enumerate() {
        let shape = shape(def, include_excluded);
        let caching_allowed =
            include_excluded || is_excluded(def.name, Excluded::CachingOn).is_none();
        for index in 0..cases {
            let scenario = Scenario {
                topology: def.name.to_string(),
                caching: caching_allowed && index % 2 == 0,
                steps: tree(def, &shape, seed, index).current(),
            };
            scenarios.push((d, index, scenario));
        }
    }
    let requests = scenarios
        .iter()
        .enumerate()
        .map(|(id, (d, _, s))| {
            let def = &defs[*d];
            s.request(
                id as u64,
                &def.config,
                &def.output_names(),
                &def.store_names(),
            )
        })
        .collect();
    let started = std::time::Instant::now();
    let mut ours_took = std::time::Duration::ZERO;
    let (ours, answers) = jvm
        .batch(requests, || {
            let ours = scenarios
                .iter()
                .map(|(d, _, s)| Outcome::from_rust(&defs[*d], s))
                .collect::<Vec<_>>();
            ours_took = started.elapsed();
            ours
        })
        .unwrap_or_else(|e| panic!("{e}"));

    let mut compared: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    let mut failing: Vec<(usize, u64, bool)> = Vec::new();
    for (((d, index, scenario), ours), answer) in scenarios.iter().zip(&ours).zip(&answers) {
        let def = &defs[*d];
        let kafka = Outcome::from_jvm(answer).unwrap_or_else(|e| panic!("{e}"));
        let (kafka, ours) = comparable(def, scenario, include_excluded, kafka, ours.clone());
        let ours = &ours;
        let entry = compared.entry(def.name).or_default();
        entry.0 += 1;
        if !kafka.agrees_with(ours) {
            entry.1 += 1;
            // One report (and one shrink) per topology and caching mode.
            if !failing
                .iter()
                .any(|(fd, _, c)| fd == d && *c == scenario.caching)
            {
                report_mismatch(def, &format!("case {index}"), scenario, &kafka, ours);
                failing.push((*d, *index, scenario.caching));
            }
        }
    }
    let elapsed = started.elapsed();

    let mut minimal = Vec::new();
    for (d, index, caching) in &failing {
        let def = &defs[*d];
        let smallest = shrink(&mut jvm, &settings, def, *index, *caching);
        let (kafka, ours) = run_both(&mut jvm, def, &smallest, include_excluded);
        report_mismatch(
            def,
            &format!("case {index}, shrunk"),
            &smallest,
            &kafka,
            &ours,
        );
        minimal.push(smallest.to_json().to_string());
    }
    if !minimal.is_empty() {
        let path = mismatch_file();
        let written = std::fs::File::create(&path)
            .and_then(|mut f| f.write_all((minimal.join("\n") + "\n").as_bytes()));
        match written {
            Ok(()) => eprintln!(
                "the shrunk scenarios are in {0}: rerun them with STREAMS_ORACLE_REPLAY={0}",
                path.display()
            ),
            Err(e) => eprintln!("writing {}: {e}", path.display()),
        }
    }

    let total: u64 = compared.values().map(|(n, _)| n).sum();
    let mismatched: u64 = compared.values().map(|(_, m)| m).sum();
    for (name, (n, m)) in &compared {
        println!("oracle: {name}: {n} scenarios, {m} mismatches");
    }
    for exclusion in EXCLUDED {
        println!(
            "oracle: {} {:?} for {}: {}",
            if include_excluded {
                "included (normally excluded)"
            } else {
                "excluded"
            },
            exclusion.what,
            exclusion.topologies.join(", "),
            exclusion.why
        );
    }
    println!(
        "oracle: {} topologies, {total} scenarios compared, {mismatched} mismatches \
         (seed {seed}; both sides {:.1} s, ours alone {:.1} s)",
        compared.len(),
        elapsed.as_secs_f64(),
        ours_took.as_secs_f64()
    );
    assert_eq!(
        mismatched, 0,
        "Kafka Streams and streams disagree on {mismatched} of {total} scenarios (reports above)"
    );
}
