//! Word count: the walking skeleton of `streams`, end to end.
//!
//! Feeds a text into an input topic (one record per line), counts words with the DSL
//! (`flat_map_values` → `group_by` → `count`, which repartitions by word and keeps counts in
//! RocksDB backed by a changelog topic), then prints the top words twice: from the output
//! topic, and from the app's local state store (an interactive query). Exits when every word
//! of the text is counted.
//!
//! With no `--bootstrap-servers`, it starts an embedded broker (librdkafka's mock cluster) and
//! says so. Each run uses fresh topic names and application id, so reruns against a real
//! cluster do not mix.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams_core::embedded::EmbeddedBroker;
use streams_core::runtime::{create_topics, send_record};
use streams_core::{KafkaStreams, StreamsConfig};

mod topology;
use topology::{STORE, topology, words};

const DEFAULT_TEXT: &str = include_str!("tale_of_two_cities.txt");

#[derive(Parser, Debug)]
#[command(about = "Counts the words of a text with streams and prints the most frequent ones")]
struct Args {
    /// Kafka cluster to use; without it an embedded broker is started.
    #[arg(long, env = "BOOTSTRAP_SERVERS")]
    bootstrap_servers: Option<String>,
    /// Text file to count (default: the opening of A Tale of Two Cities).
    #[arg(long)]
    input: Option<PathBuf>,
    /// How many words to print.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Partitions of the input topic.
    #[arg(long, default_value_t = 4)]
    partitions: i32,
    /// Where the app keeps its state (default: a temporary directory).
    #[arg(long)]
    state_dir: Option<PathBuf>,
    /// Give up if counting takes longer than this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
}

/// Most frequent first; ties in alphabetical order.
fn top(counts: &BTreeMap<String, u64>, n: usize) -> Vec<(String, u64)> {
    let mut sorted: Vec<_> = counts.iter().map(|(w, c)| (w.clone(), *c)).collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted.truncate(n);
    sorted
}

fn produce_lines(
    bootstrap: &str,
    topic: &str,
    text: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let record = BaseRecord::<(), str>::to(topic).payload(line);
        send_record(&producer, record)
            .map_err(|e| format!("producing a line of {} bytes to `{topic}`: {e}", line.len()))?;
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(())
}

/// Reads the output topic until the counts add up to `total` words; returns the latest count
/// per word.
fn read_counts(
    bootstrap: &str,
    topic: &str,
    total: u64,
    timeout: Duration,
) -> Result<BTreeMap<String, u64>, Box<dyn std::error::Error>> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{topic}-reader"))
        .set("auto.offset.reset", "earliest")
        .create()?;
    consumer.subscribe(&[topic])?;
    let mut latest = BTreeMap::new();
    let deadline = Instant::now() + timeout;
    while latest.values().sum::<u64>() < total {
        if Instant::now() > deadline {
            return Err(format!(
                "timed out: counted {} of {total} words",
                latest.values().sum::<u64>()
            )
            .into());
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message?;
            let word = String::from_utf8(message.key().unwrap_or_default().to_vec())?;
            let count = match message.payload() {
                Some(bytes) => u64::from_be_bytes(bytes.try_into()?),
                None => 0,
            };
            latest.insert(word, count);
        }
    }
    Ok(latest)
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let text = match &args.input {
        Some(path) => std::fs::read_to_string(path)?,
        None => DEFAULT_TEXT.to_string(),
    };
    let total: u64 = text.lines().map(|l| words(l).len() as u64).sum();
    let run_id = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis();
    let app_id = format!("word-count-{run_id}");
    let (input, output) = (format!("{app_id}-lines"), format!("{app_id}-counts"));
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
        .set("commit.interval.ms", "200");
    if let Some(servers) = &args.bootstrap_servers {
        config.set("bootstrap.servers", servers);
    }
    let _broker = EmbeddedBroker::start_if_unconfigured(&mut config)?;
    let bootstrap = config.bootstrap_servers().unwrap_or_default().to_string();
    // As an application creates its input and output topics (on the embedded broker too).
    create_topics(&config, &[&input, &output], args.partitions, &[])?;

    let topology = topology(&input, &output)?;
    println!("{}", topology.describe());
    produce_lines(&bootstrap, &input, &text)?;

    let mut streams = KafkaStreams::new(topology, &config)?;
    streams.start()?;
    let timeout = Duration::from_secs(args.timeout_secs);
    let from_topic = read_counts(&bootstrap, &output, total, timeout)?;

    let store = streams.key_value_store::<String, u64>(STORE)?;
    let deadline = Instant::now() + timeout;
    let from_store: BTreeMap<String, u64> = loop {
        // A store still restoring cannot be queried yet (`StoreUnavailable`): ask again.
        let snapshot: BTreeMap<_, _> = match store.all() {
            Err(streams_core::Error::StoreUnavailable { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            result => result?.into_iter().collect(),
        };
        if snapshot == from_topic || Instant::now() > deadline {
            break snapshot;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    streams.close()?;

    println!("{total} words, {} distinct", from_topic.len());
    println!("top {} words from the output topic:", args.top);
    for (word, count) in top(&from_topic, args.top) {
        println!("{count:>6}  {word}");
    }
    println!("top {} words from the local store:", args.top);
    for (word, count) in top(&from_store, args.top) {
        println!("{count:>6}  {word}");
    }
    if from_store != from_topic {
        return Err("the local store disagrees with the output topic".into());
    }
    Ok(())
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("word_count failed: {}", streams_core::error::Report(&*e));
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_words_like_a_reader_would() {
        assert_eq!(
            words("It was the best of times, it was"),
            ["it", "was", "the", "best", "of", "times", "it", "was"]
        );
        assert_eq!(
            words("'Tis the season's end -- 'quoted'"),
            ["tis", "the", "season's", "end", "quoted"]
        );
    }

    #[test]
    fn top_orders_by_count_then_word() {
        let counts = BTreeMap::from([
            ("b".to_string(), 2),
            ("a".to_string(), 2),
            ("c".to_string(), 5),
        ]);
        assert_eq!(
            top(&counts, 2),
            vec![("c".to_string(), 5), ("a".to_string(), 2)]
        );
    }
}
