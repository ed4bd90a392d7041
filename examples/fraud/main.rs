//! Fraud detection: card payments checked by five rules, each a Kafka Streams technique
//! (sliding windows, a windowed self-join, a per-card store, a table join, a global-table
//! join), scored against generated ground truth.
//!
//! Generates cards, merchants and payments with labelled fraud scenarios (seeded), writes the
//! profiles and the blocklist, starts the app, writes the payments, waits until the app has
//! taken in every one, reads the alerts back and prints precision and recall per rule, then
//! the throughput. Exits non-zero if overall precision or recall is below 0.9.
//!
//! The app runs as a worker (`streams_core::worker`): its HTTP server answers interactive
//! queries of the `card-risk` table and the `merchant-alerts` windowed counts, `/metrics` and
//! the health probes. With `--instances 2` two instances share the work, and every card's risk
//! is asked of both over HTTP: each answers every card alike (forwarding the cards it does not
//! hold). With `--serve` it keeps running after the report, for `curl`.
//!
//! With no `--bootstrap-servers`, it starts an embedded broker (librdkafka's mock cluster) and
//! says so. Each run uses fresh topic names and application id, so reruns against a real
//! cluster do not mix.
//!
//! # Layout
//! - `model` — the records (transactions, profiles, alerts, card risk).
//! - `rules` — thresholds and the rules' pure parts.
//! - `processors` — the Processor API steps (impossible travel, alert dedupe).
//! - `topology` — the DSL topology.
//! - `generator` — the seeded data with ground truth.
//! - `produce` — writing the inputs.
//! - `verifier` — reading the alerts and scoring them.
//! - `instances` — the app's instances (workers with HTTP servers) and their cross-checks.
//! - `bench` — `--bench`: the app's throughput beside a raw rdkafka passthrough.

mod bench;
mod generator;
mod instances;
mod model;
mod processors;
mod produce;
mod rules;
mod topology;
mod verifier;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use streams_core::StreamsConfig;
use streams_core::embedded::EmbeddedBroker;
use streams_core::runtime::create_topics;

use instances::Instances;

use generator::{Dataset, GeneratorConfig};
use model::{CardProfile, CardRisk};
use rules::FraudConfig;
use topology::{CARD_RISK_STORE, PROFILES_STORE, topology};

/// Below this overall precision or recall, the run fails.
const PASS: f64 = 0.9;

#[derive(Parser, Debug)]
#[command(about = "Detects card fraud with streams and scores it against generated ground truth")]
pub(crate) struct Args {
    /// Kafka cluster to use; without it an embedded broker is started.
    #[arg(long, env = "BOOTSTRAP_SERVERS")]
    bootstrap_servers: Option<String>,
    /// Seed of the data generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Number of cards.
    #[arg(long, default_value_t = 2_000)]
    cards: usize,
    /// Number of merchants.
    #[arg(long, default_value_t = 300)]
    merchants: usize,
    /// About how many payments, legit and fraudulent.
    #[arg(long, default_value_t = 100_000)]
    transactions: usize,
    /// Days of event time the payments span.
    #[arg(long, default_value_t = 14)]
    days: i64,
    /// Partitions of the input and output topics.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Where the app keeps its state (default: a temporary directory).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Give up if a stage takes longer than this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// After the report, keep the app running until SIGTERM or Ctrl-C.
    #[arg(long)]
    serve: bool,
    /// Print the alerts (`transaction rule`, sorted) after the report.
    #[arg(long)]
    print_alerts: bool,
    /// Print the topology first.
    #[arg(long)]
    describe: bool,
    /// Where the (first) instance's HTTP server listens; further instances pick free ports.
    #[arg(long, default_value = "127.0.0.1:8080")]
    http_addr: String,
    /// How many instances of the app to run (each with its own state and HTTP server).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
    instances: u8,
    /// Load every payment before the app starts, time the app alone, then time a raw rdkafka
    /// passthrough of the same payments on the same broker; print one JSON line.
    #[arg(long)]
    bench: bool,
}

fn summarize(data: &Dataset) {
    let fraud: usize = data.truth.len();
    println!(
        "generated {} payments of {} cards at {} merchants ({} blocklisted); {fraud} fraudulent",
        data.transactions.len(),
        data.profiles.len(),
        data.merchants.len(),
        data.blocklist.len(),
    );
}

/// Waits until the app's profile table holds all `n` profiles, so that no payment is joined
/// before its card's profile is there.
fn wait_for_profiles(
    instances: &Instances,
    n: usize,
    timeout: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + timeout;
    loop {
        instances.check_running()?;
        let mut loaded = 0;
        for streams in instances.streams() {
            // A store still restoring cannot be queried yet: counted as not loaded.
            loaded += match streams
                .key_value_store::<String, CardProfile>(PROFILES_STORE)?
                .all()
            {
                Err(streams_core::Error::StoreUnavailable { .. }) => 0,
                result => result?.len(),
            };
        }
        if loaded >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("timed out loading profiles: {loaded} of {n}").into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until the app has taken in `n` payments.
fn wait_for_processing(
    instances: &Instances,
    processed: &AtomicU64,
    n: u64,
    timeout: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + timeout;
    while processed.load(Ordering::Relaxed) < n {
        instances.check_running()?;
        if Instant::now() > deadline {
            let done = processed.load(Ordering::Relaxed);
            return Err(format!("timed out processing: {done} of {n} payments").into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Prints the riskiest cards from the `card-risk` store (interactive queries of every
/// instance's part), once it has counted `alerts` alerts (it trails the alerts topic by a
/// repartition and a commit).
fn print_riskiest(
    instances: &Instances,
    alerts: u64,
    timeout: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let deadline = Instant::now() + timeout;
    let mut risks = loop {
        let mut risks: Vec<CardRisk> = Vec::new();
        for streams in instances.streams() {
            let store = streams.key_value_store::<String, CardRisk>(CARD_RISK_STORE)?;
            match store.all() {
                // Restoring: its part is read on a later try.
                Err(streams_core::Error::StoreUnavailable { .. }) if Instant::now() < deadline => {}
                result => risks.extend(result?.into_iter().map(|(_, r)| r)),
            }
        }
        if risks.iter().map(|r| r.alerts).sum::<u64>() >= alerts || Instant::now() > deadline {
            break risks;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Scores saturate near 1, so more alerts rank first among equals.
    risks.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| b.alerts.cmp(&a.alerts))
            .then_with(|| a.card.cmp(&b.card))
    });
    println!("riskiest cards (from the `{CARD_RISK_STORE}` store):");
    for risk in risks.iter().take(5) {
        let rule = risk.last_rule.map(|r| r.name()).unwrap_or("-");
        println!(
            "  {}  score {:.3}  {} alerts, last {rule}",
            risk.card, risk.score, risk.alerts
        );
    }
    Ok(())
}

fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let timeout = Duration::from_secs(args.timeout_secs);
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let app_id = format!("fraud-{run_id}");
    let processed = Arc::new(AtomicU64::new(0));
    let cfg = FraudConfig {
        processed: Some(processed.clone()),
        ..FraudConfig::with_prefix(&app_id)
    };
    let data = generator::generate(
        &GeneratorConfig {
            seed: args.seed,
            cards: args.cards,
            merchants: args.merchants,
            transactions: args.transactions,
            days: args.days,
        },
        &cfg,
    )?;
    summarize(&data);

    // Without --state-dir the state goes to a temporary directory removed at exit.
    let temp_state = tempfile::tempdir()?;
    let state_dir = args
        .state_dir
        .clone()
        .unwrap_or_else(|| temp_state.path().to_path_buf());
    let mut config = StreamsConfig::new();
    config
        .set("application.id", &app_id)
        .set("state.dir", state_dir.to_string_lossy().to_string())
        .set("commit.interval.ms", "500");
    if let Some(servers) = &args.bootstrap_servers {
        config.set("bootstrap.servers", servers);
    }
    let _broker = EmbeddedBroker::start_if_unconfigured(&mut config)?;
    let bootstrap = config.bootstrap_servers().unwrap_or_default().to_string();
    let inputs = [
        &cfg.transactions_topic,
        &cfg.blocklist_topic,
        &cfg.alerts_topic,
    ];
    create_topics(&config, &inputs.map(String::as_str), args.partitions, &[])?;
    create_topics(
        &config,
        &[&cfg.profiles_topic],
        args.partitions,
        &[("cleanup.policy", "compact")],
    )?;
    produce::reference_data(&bootstrap, &cfg, &data)?;

    if args.describe {
        println!("{}", topology(&cfg)?.describe());
    }
    let n = data.transactions.len() as u64;
    if args.bench {
        // Everything in the topic before the app starts: the app's rate alone.
        produce::transactions(
            &bootstrap,
            &cfg.transactions_topic,
            &data.transactions,
            &AtomicU64::new(n),
            timeout,
        )?;
    }
    let mut instances =
        Instances::start(&cfg, &config, &args.http_addr, args.instances, &state_dir)?;
    wait_for_profiles(&instances, data.profiles.len(), timeout)?;

    let started = Instant::now();
    if !args.bench {
        produce::transactions(
            &bootstrap,
            &cfg.transactions_topic,
            &data.transactions,
            &processed,
            timeout,
        )?;
    }
    wait_for_processing(&instances, &processed, n, timeout)?;
    let elapsed = started.elapsed();
    let alerts = verifier::read_alerts(
        &bootstrap,
        &cfg.alerts_topic,
        Duration::from_secs(2),
        timeout,
    )?;
    print_riskiest(&instances, alerts.len() as u64, Duration::from_secs(15))?;
    if args.instances > 1 {
        let cards: Vec<String> = data.profiles.iter().map(|p| p.card.clone()).collect();
        let answered = instances.cross_check(&cards, timeout)?;
        println!(
            "{} instances answered the risk of all {answered} cards identically over HTTP",
            args.instances
        );
    }
    instances.print_endpoints();

    let score = verifier::score(&alerts, &data.truth);
    print!("{}", verifier::render(&score));
    println!(
        "throughput: {n} transactions in {:.2} s = {:.0} records/s",
        elapsed.as_secs_f64(),
        n as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    if args.print_alerts {
        println!("alerts:");
        for (transaction, rule) in verifier::distinct(&alerts) {
            println!("{transaction} {rule}");
        }
    }
    let passed = score.overall.precision() >= PASS && score.overall.recall() >= PASS;
    if args.bench {
        let passthrough = bench::passthrough(&bootstrap, &cfg.transactions_topic, n, timeout)?;
        println!(
            "{}",
            bench::line(
                &args,
                n,
                elapsed,
                passthrough,
                args.bootstrap_servers.is_none()
            )
        );
    }
    if args.serve {
        eprintln!("serving until SIGTERM or Ctrl-C");
        instances.wait_for_signal()?;
    }
    instances.close()?;
    Ok(passed)
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("fraud: overall precision or recall below {PASS}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("fraud failed: {}", streams_core::error::Report(&*e));
            ExitCode::FAILURE
        }
    }
}
