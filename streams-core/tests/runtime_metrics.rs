//! The instance's metrics on the embedded broker, read as a Prometheus server reads them: the
//! registry encoded in the text format and parsed back. A count app (with a punctuating
//! processor beside it) and a windowed count run at `metrics.recording.level=DEBUG`; the test
//! checks that every family is there with its labels and that counts and histograms move with
//! the input: records processed, dropped for each reason, store operations, commits, polls,
//! punctuations, RocksDB properties and consumer lag; then that a new instance restoring from
//! the changelogs counts what it restores.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{app_config, init_tracing, produce, produce_with_timestamps, wait_for};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder, TimeWindows};
use streams_core::embedded::EmbeddedBroker;
use streams_core::processor::{
    ProcessResult, Processor, ProcessorContext, Punctuation, PunctuationType, Record,
};
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, Topology};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Schedules a wall-clock punctuation that does nothing, so that punctuations are counted.
struct Ticker;

impl Processor for Ticker {
    type KeyIn = Option<String>;
    type ValueIn = u64;
    type KeyOut = Option<String>;
    type ValueOut = u64;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, Option<String>, u64>) -> ProcessResult {
        ctx.schedule(Duration::from_millis(20), PunctuationType::WallClockTime)?;
        Ok(())
    }

    fn process(
        &mut self,
        _: &mut ProcessorContext<'_, Option<String>, u64>,
        _: Record<Option<String>, u64>,
    ) -> ProcessResult {
        Ok(())
    }

    fn punctuate(
        &mut self,
        _: &mut ProcessorContext<'_, Option<String>, u64>,
        _: Punctuation,
    ) -> ProcessResult {
        Ok(())
    }
}

/// Task 0_0 counts `words` by (nullable) key; task 1_0 counts `clicks` per key and second.
fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    let words = builder.stream(
        "words",
        Consumed::with(Serdes::nullable(Serdes::string()), Serdes::u64()),
    );
    words.process(|| Ticker, &[]);
    words
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("word-counts");
    builder
        .stream("clicks", Consumed::with(Serdes::string(), Serdes::u64()))
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_secs(1),
            Duration::ZERO,
        ))
        .count(Materialized::as_("clicks-per-second"))
        .to_stream()
        .map(|w, count: Option<u64>| (w.key, count.unwrap_or(0)))
        .to("click-counts");
    builder.build().expect("topology")
}

/// One sample of the text format: `name{labels} value`.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses Prometheus' text exposition format (what `TextEncoder` writes and a Prometheus
/// server reads): the `# TYPE` of each family, and the samples.
fn parse(text: &str) -> (BTreeMap<String, String>, Vec<Sample>) {
    let mut types = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            types.insert(name.to_string(), kind.to_string());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().expect("a number"),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("closing brace");
                (name.to_string(), parse_labels(body))
            }
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    (types, samples)
}

/// `k="v",k2="v\"2"` → map, undoing the format's escapes (`\\`, `\"`, `\n`).
fn parse_labels(body: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    loop {
        let name: String = chars.by_ref().take_while(|&c| c != '=').collect();
        if name.is_empty() {
            break;
        }
        assert_eq!(chars.next(), Some('"'), "label value opens with a quote");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(other) => value.push(other),
                    None => panic!("dangling escape"),
                },
                '"' => break,
                c => value.push(c),
            }
        }
        labels.insert(name.trim_start_matches(',').to_string(), value);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

/// The instance's metrics as a scrape sees them.
struct Scrape {
    types: BTreeMap<String, String>,
    samples: Vec<Sample>,
}

impl Scrape {
    fn of(registry: &prometheus::Registry) -> Scrape {
        let text = prometheus::TextEncoder::new()
            .encode_to_string(&registry.gather())
            .expect("text format");
        let (types, samples) = parse(&text);
        Scrape { types, samples }
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
    }

    /// The sum of the samples of `name` with `labels`; fails if there are none.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let values: Vec<f64> = self.matching(name, labels).map(|s| s.value).collect();
        assert!(!values.is_empty(), "no sample {name} {labels:?}");
        values.iter().sum()
    }

    /// Whether there is a sample of `name` with `labels`.
    fn has(&self, name: &str, labels: &[(&str, &str)]) -> bool {
        self.matching(name, labels).next().is_some()
    }

    /// Checks the family's type and that every sample carries exactly `labels` (besides
    /// `application_id`, and `le` for histogram buckets).
    fn family(&self, name: &str, kind: &str, labels: &[&str]) {
        assert_eq!(
            self.types.get(name).map(String::as_str),
            Some(kind),
            "type of {name}"
        );
        let series = if kind == "histogram" {
            format!("{name}_count")
        } else {
            name.to_string()
        };
        let samples: Vec<&Sample> = self.matching(&series, &[]).collect();
        assert!(!samples.is_empty(), "no series of {name}");
        let mut want: BTreeSet<&str> = labels.iter().copied().collect();
        want.insert("application_id");
        for sample in samples {
            let got: BTreeSet<&str> = sample.labels.keys().map(String::as_str).collect();
            assert_eq!(got, want, "labels of {name}");
            assert_eq!(sample.labels["application_id"], "metrics-app");
        }
    }
}

#[test]
fn every_family_is_scraped_with_its_labels_and_moves_with_the_input() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    for topic in ["words", "clicks", "word-counts", "click-counts"] {
        broker.create_topic(topic, 1).expect("topic");
    }
    let state = tempfile::tempdir().expect("tempdir");
    let registry = prometheus::Registry::new();
    let mut config = app_config(&broker, "metrics-app", state.path());
    config
        .set("metrics.recording.level", "DEBUG")
        .set(
            "default.deserialization.exception.handler",
            "log_and_continue",
        )
        .set("consumer.statistics.interval.ms", "200")
        .set_metrics_registry(registry.clone());
    let mut streams = KafkaStreams::new(topology(), &config).expect("streams");
    streams.start().expect("start");
    streams.wait_until_running(TIMEOUT).expect("running");

    // 50 good words over 5 keys, a value that does not deserialize, a null key.
    let mut words: Vec<common::RawKv> = (0..50u64)
        .map(|i| {
            (
                Some(format!("w{}", i % 5).into_bytes()),
                Some(i.to_be_bytes().to_vec()),
            )
        })
        .collect();
    words.push((Some(b"w0".to_vec()), Some(b"bad".to_vec())));
    words.push((None, Some(7u64.to_be_bytes().to_vec())));
    produce(&broker, "words", &words);
    // The second click's window closed 98 s of stream time before it arrives: late.
    produce_with_timestamps(
        &broker,
        "clicks",
        &[
            (
                Some(b"c".to_vec()),
                Some(1u64.to_be_bytes().to_vec()),
                100_000,
            ),
            (
                Some(b"c".to_vec()),
                Some(1u64.to_be_bytes().to_vec()),
                1_000,
            ),
        ],
    );

    let thread_processed = |scrape: &Scrape| {
        scrape
            .matching("streams_stream_thread_process_total", &[])
            .map(|s| s.value)
            .sum::<f64>()
    };
    wait_for(
        "every record processed, committed, lag known",
        TIMEOUT,
        || {
            let scrape = Scrape::of(&registry);
            thread_processed(&scrape) >= 54.0
                && scrape.has(
                    "streams_consumer_records_lag",
                    &[("topic", "words"), ("partition", "0")],
                )
                && scrape.has(
                    "streams_consumer_records_lag",
                    &[("topic", "clicks"), ("partition", "0")],
                )
                && scrape
                    .matching("streams_stream_thread_commit_total", &[])
                    .any(|s| s.value >= 1.0)
        },
    );
    let scrape = Scrape::of(&registry);

    // Client.
    scrape.family("streams_client_state", "gauge", &["state"]);
    assert_eq!(
        scrape.value("streams_client_state", &[("state", "RUNNING")]),
        1.0
    );
    assert_eq!(scrape.matching("streams_client_state", &[]).count(), 6);
    assert_eq!(
        scrape
            .matching("streams_client_state", &[])
            .map(|s| s.value)
            .sum::<f64>(),
        1.0
    );
    scrape.family("streams_client_alive_stream_threads", "gauge", &[]);
    assert_eq!(
        scrape.value("streams_client_alive_stream_threads", &[]),
        1.0
    );
    scrape.family("streams_client_info", "gauge", &["version"]);
    assert_eq!(
        scrape.value(
            "streams_client_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    scrape.family("streams_client_threads_replaced_total", "counter", &[]);
    scrape.family("streams_client_threads_rejoined_total", "counter", &[]);

    // Stream thread: named as Kafka Streams names it.
    let thread = scrape
        .matching("streams_stream_thread_process_total", &[])
        .map(|s| s.labels["thread"].clone())
        .next()
        .expect("a thread");
    assert!(
        thread.starts_with("metrics-app-") && thread.ends_with("-StreamThread-1"),
        "{thread}"
    );
    let t = [("thread", thread.as_str())];
    for counter in [
        "process_total",
        "poll_total",
        "commit_total",
        "punctuate_total",
        "production_errors_total",
        "transactions_aborted_total",
        "tasks_corrupted_total",
    ] {
        scrape.family(
            &format!("streams_stream_thread_{counter}"),
            "counter",
            &["thread"],
        );
    }
    scrape.family("streams_stream_thread_process_rate", "gauge", &["thread"]);
    assert!(scrape.value("streams_stream_thread_process_total", &t) >= 54.0);
    assert!(scrape.value("streams_stream_thread_poll_total", &t) > 54.0);
    assert!(scrape.value("streams_stream_thread_punctuate_total", &t) >= 1.0);
    for histogram in ["process", "poll", "commit", "punctuate"] {
        let name = format!("streams_stream_thread_{histogram}_latency_seconds");
        scrape.family(&name, "histogram", &["thread"]);
        assert!(
            scrape.value(&format!("{name}_count"), &t) >= 1.0,
            "{name} observed nothing"
        );
        assert!(scrape.has(&format!("{name}_bucket"), &[("le", "0.00001")]));
        assert!(scrape.has(&format!("{name}_bucket"), &[("le", "10")]));
    }

    // Tasks.
    scrape.family("streams_task_process_total", "counter", &["thread", "task"]);
    let words_task = [("thread", thread.as_str()), ("task", "0_0")];
    let clicks_task = [("thread", thread.as_str()), ("task", "1_0")];
    assert_eq!(
        scrape.value("streams_task_process_total", &words_task),
        52.0
    );
    assert_eq!(
        scrape.value("streams_task_process_total", &clicks_task),
        2.0
    );
    scrape.family(
        "streams_task_dropped_records_total",
        "counter",
        &["thread", "task", "reason"],
    );
    let dropped = |task: &str, reason: &str| {
        scrape.value(
            "streams_task_dropped_records_total",
            &[("task", task), ("reason", reason)],
        )
    };
    assert_eq!(dropped("0_0", "bad_input"), 1.0);
    assert_eq!(dropped("0_0", "null_key"), 1.0);
    assert_eq!(dropped("0_0", "late"), 0.0);
    assert_eq!(dropped("1_0", "late"), 1.0);
    for reason in [
        "null_value",
        "negative_timestamp",
        "timestamp_out_of_range",
        "processing_error",
    ] {
        assert_eq!(dropped("0_0", reason), 0.0, "{reason}");
    }
    scrape.family(
        "streams_task_dead_lettered_total",
        "counter",
        &["thread", "task"],
    );
    scrape.family(
        "streams_task_record_e2e_latency_seconds",
        "histogram",
        &["thread", "task"],
    );
    assert!(scrape.value("streams_task_record_e2e_latency_seconds_count", &words_task) >= 1.0);

    // State stores, at DEBUG: the key-value store (through its cache) and the window store.
    for op in ["put", "get", "range", "delete"] {
        scrape.family(
            &format!("streams_state_{op}_latency_seconds"),
            "histogram",
            &["thread", "task", "store"],
        );
    }
    let counts = [("task", "0_0"), ("store", "counts")];
    let windows = [("task", "1_0"), ("store", "clicks-per-second")];
    assert!(scrape.value("streams_state_put_latency_seconds_count", &counts) >= 5.0);
    assert!(scrape.value("streams_state_get_latency_seconds_count", &counts) >= 50.0);
    assert!(scrape.value("streams_state_put_latency_seconds_count", &windows) >= 1.0);
    scrape.family(
        "streams_record_cache_hit_ratio",
        "gauge",
        &["thread", "task", "store"],
    );
    scrape.family(
        "streams_record_cache_hits_total",
        "counter",
        &["thread", "task", "store"],
    );
    scrape.family(
        "streams_record_cache_misses_total",
        "counter",
        &["thread", "task", "store"],
    );
    let reads = scrape.value("streams_record_cache_hits_total", &counts)
        + scrape.value("streams_record_cache_misses_total", &counts);
    assert!(reads >= 50.0, "{reads} cache reads");
    let ratio = scrape.value("streams_record_cache_hit_ratio", &counts);
    assert!((0.0..=1.0).contains(&ratio), "{ratio}");
    // The window store is cached too: each window's aggregate is read through its cache.
    let window_reads = scrape.value("streams_record_cache_hits_total", &windows)
        + scrape.value("streams_record_cache_misses_total", &windows);
    assert!(window_reads >= 1.0, "{window_reads} window cache reads");

    // RocksDB, read at scrape time.
    scrape.family("streams_rocksdb_block_cache_usage_bytes", "gauge", &[]);
    scrape.family("streams_rocksdb_block_cache_capacity_bytes", "gauge", &[]);
    assert_eq!(
        scrape.value("streams_rocksdb_block_cache_capacity_bytes", &[]),
        50.0 * 1024.0 * 1024.0
    );
    scrape.family(
        "streams_rocksdb_memtable_bytes",
        "gauge",
        &["task", "store"],
    );
    scrape.family(
        "streams_rocksdb_estimate_num_keys",
        "gauge",
        &["task", "store"],
    );
    assert!(scrape.value("streams_rocksdb_memtable_bytes", &counts) > 0.0);
    assert!(scrape.value("streams_rocksdb_estimate_num_keys", &counts) > 0.0);
    assert!(scrape.value("streams_rocksdb_memtable_bytes", &windows) > 0.0);
    // One write-buffer manager counts every store's memtables.
    scrape.family("streams_rocksdb_write_buffer_usage_bytes", "gauge", &[]);
    scrape.family("streams_rocksdb_write_buffer_limit_bytes", "gauge", &[]);
    assert_eq!(
        scrape.value("streams_rocksdb_write_buffer_limit_bytes", &[]),
        64.0 * 1024.0 * 1024.0
    );
    assert!(
        scrape.value("streams_rocksdb_write_buffer_usage_bytes", &[])
            >= scrape.value("streams_rocksdb_memtable_bytes", &counts)
    );

    // Consumer lag: the group committed everything it read.
    scrape.family(
        "streams_consumer_records_lag",
        "gauge",
        &["thread", "topic", "partition"],
    );
    let lag = scrape.value(
        "streams_consumer_records_lag",
        &[
            ("thread", thread.as_str()),
            ("topic", "words"),
            ("partition", "0"),
        ],
    );
    assert!((0.0..=52.0).contains(&lag), "{lag}");

    streams.close().expect("clean close");
    drop(streams);
    assert!(
        registry.gather().is_empty(),
        "a dropped instance leaves the user's registry"
    );

    // A new instance on an empty state directory restores both stores from their changelogs,
    // into a registry of its own.
    let fresh = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, "metrics-app", fresh.path());
    config.set("metrics.recording.level", "DEBUG");
    let mut streams = KafkaStreams::new(topology(), &config).expect("streams");
    let own = streams.metrics_registry();
    streams.start().expect("start");
    streams.wait_until_running(TIMEOUT).expect("running again");
    let scrape = Scrape::of(&own);
    scrape.family(
        "streams_restore_records_total",
        "counter",
        &["task", "store"],
    );
    let restored = scrape.value("streams_restore_records_total", &counts);
    assert!(
        (5.0..=50.0).contains(&restored),
        "{restored} changelog records of 5 keys' counts"
    );
    assert!(scrape.value("streams_restore_records_total", &windows) >= 1.0);
    assert!(
        !scrape.has("streams_restore_remaining_records", &counts),
        "a finished restoration has no remaining records"
    );
    streams.close().expect("clean close");
}

#[test]
fn restoration_progress_is_a_gauge_while_it_runs() {
    init_tracing();
    const RECORDS: u64 = 30_000;
    let broker = EmbeddedBroker::start(1).expect("broker");
    for topic in ["words", "clicks", "word-counts", "click-counts"] {
        broker.create_topic(topic, 1).expect("topic");
    }
    // A changelog that takes many restore batches: no record cache, one update per key.
    let records: Vec<common::RawKv> = (0..RECORDS)
        .map(|i| {
            (
                Some(format!("w{i}").into_bytes()),
                Some(i.to_be_bytes().to_vec()),
            )
        })
        .collect();
    produce(&broker, "words", &records);
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, "restore-gauge", state.path());
    config.set("statestore.cache.max.bytes", "0");
    let mut streams = KafkaStreams::new(topology(), &config).expect("streams");
    let registry = streams.metrics_registry();
    streams.start().expect("start");
    wait_for("every record processed", TIMEOUT, || {
        common::metric_sum(&registry, "streams_task_process_total", &[("task", "0_0")])
            >= RECORDS as f64
    });
    streams.close().expect("close");
    drop(streams);

    let fresh = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, "restore-gauge", fresh.path());
    config.set("statestore.cache.max.bytes", "0");
    let mut streams = KafkaStreams::new(topology(), &config).expect("streams");
    let registry = streams.metrics_registry();
    let counts = [("task", "0_0"), ("store", "counts")];
    streams.start().expect("start");
    // (remaining, restored) while the restoration runs, read as fast as gathering allows.
    let mut during = Vec::new();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        // Restored first: the remaining read after it can only be smaller than at that time.
        let restored = common::metric_sum(&registry, "streams_restore_records_total", &counts);
        let remaining = common::metric_sum(&registry, "streams_restore_remaining_records", &counts);
        if remaining > 0.0 {
            during.push((remaining, restored));
        }
        if restored >= RECORDS as f64 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not restored: {restored}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    streams.wait_until_running(TIMEOUT).expect("running");
    assert!(!during.is_empty(), "the remaining records were never seen");
    for (remaining, restored) in &during {
        assert!(
            remaining + restored <= RECORDS as f64,
            "remaining {remaining} + restored {restored} > the changelog's {RECORDS}"
        );
    }
    assert_eq!(
        common::metric_sum(&registry, "streams_restore_remaining_records", &counts),
        0.0,
        "the gauge goes once the restoration is done"
    );
    streams.close().expect("close");
}
