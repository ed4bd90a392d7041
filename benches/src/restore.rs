//! The `restore` workload: how fast an instance restores a store from its changelog, against
//! raw rdkafka reading the same changelog in the same run (the ceiling: restoring also writes
//! every record into RocksDB).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use streams_core::runtime::StateRestoreListener;
use streams_core::{KafkaStreams, StreamsConfig};

use crate::harness::{Bench, BoxError, Run};
use crate::report::JsonLine;

/// Adds up restored records, and times the restoration itself: from the first partition's
/// start to the last batch (group joining and task creation before it are not restoring).
#[derive(Clone, Default)]
struct Restored {
    records: Arc<AtomicU64>,
    /// When the first partition began, and when the latest batch landed.
    span: Arc<Mutex<(Option<Instant>, Option<Instant>)>>,
}

impl Restored {
    fn seconds(&self) -> Option<f64> {
        let span = self.span.lock().ok()?;
        Some(span.1?.saturating_duration_since(span.0?).as_secs_f64())
    }
}

impl StateRestoreListener for Restored {
    fn on_restore_start(&self, _: &str, _: i32, _: &str, _: i64, _: i64) {
        if let Ok(mut span) = self.span.lock() {
            span.0.get_or_insert_with(Instant::now);
        }
    }

    fn on_batch_restored(&self, _: &str, _: i32, _: &str, _: i64, restored: u64) {
        if let Ok(mut span) = self.span.lock() {
            span.1 = Some(Instant::now());
        }
        self.records.fetch_add(restored, Ordering::Relaxed);
    }
}

/// Writes `records` distinct keys into the changelog of the `stream_count` store, times raw
/// rdkafka reading them all, then times fresh instances restoring them (best of two, as for the
/// baseline); prints one JSON line.
pub(crate) fn measure(bench: &Bench, records: usize, timeout: Duration) -> Result<(), BoxError> {
    let run = Run::new(bench, "restore");
    let partitions = bench.args.partitions;
    let changelog = format!("{}-bench-counts-changelog", run.app_id);
    bench.create_topics(&[run.topic("input"), run.output.clone()], partitions, &[])?;
    // Compacted, as a changelog must be (a real broker's topic config is checked).
    bench.create_topics(
        std::slice::from_ref(&changelog),
        partitions,
        &[("cleanup.policy", "compact")],
    )?;
    let producer: BaseProducer = bench.client().set("linger.ms", "5").create()?;
    for i in 0..records {
        let key = format!("key-{i}");
        let value = 1u64.to_be_bytes();
        let partition = i32::try_from(i % partitions as usize).unwrap_or(0);
        let record = BaseRecord::<str, [u8]>::to(&changelog)
            .key(&key)
            .payload(&value)
            .partition(partition);
        crate::harness::send(&producer, record)?;
    }
    producer.flush(Duration::from_secs(60))?;

    // Baseline: read every changelog record with raw rdkafka, the best of two reads, each
    // timed from the assignment of a consumer that already has the topic's metadata (as the
    // restore consumer has when restoration starts).
    let mut baseline = f64::INFINITY;
    for attempt in 0..2 {
        baseline = baseline.min(raw_read(
            bench, &run, &changelog, records, attempt, timeout,
        )?);
    }

    // The framework: a fresh instance restoring the store before it processes anything, the
    // best of two as for the baseline (each into an empty state directory, so each restores
    // the whole changelog).
    let mut runs = Vec::new();
    for _ in 0..2 {
        runs.push(restore_once(bench, &run, records, timeout)?);
    }
    let (seconds, to_restored) = runs
        .iter()
        .copied()
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .ok_or("no restoration ran")?;
    let note = (bench.broker_kind() == "apache-kafka").then_some(
        "ours only, in the benchmark process: Kafka Streams has no counterpart run here",
    );
    JsonLine::new()
        .field("workload", "restore")
        .field("framework", "streams")
        .field("records", records)
        .number("seconds", seconds, 3)
        .field(
            "seconds_each",
            runs.iter()
                .map(|(s, _)| format!("{s:.3}"))
                .collect::<Vec<_>>()
                .join(" "),
        )
        .number("records_per_s", records as f64 / seconds, 0)
        .field("baseline", "raw rdkafka read of the changelog")
        .number("baseline_seconds", baseline, 3)
        .number("ratio_vs_raw_read", baseline / seconds, 3)
        .number("seconds_from_start", to_restored, 3)
        .field("partitions", partitions)
        .field("broker", bench.broker_kind())
        .field_opt("note", note)
        .print();
    Ok(())
}

/// A fresh instance, with an empty state directory, restoring the `records` of the store's
/// changelog: the seconds restoration took (see [`Restored`]) and the seconds from the start.
fn restore_once(
    bench: &Bench,
    run: &Run<'_>,
    records: usize,
    timeout: Duration,
) -> Result<(f64, f64), BoxError> {
    let state = tempfile::tempdir()?;
    let mut config: StreamsConfig = bench.config.clone();
    config
        .set("application.id", &run.app_id)
        .set("state.dir", state.path().to_string_lossy().to_string());
    let restored = Restored::default();
    let mut streams = KafkaStreams::new(crate::workloads::stream_count(&run.topics)?, &config)?;
    streams.set_global_state_restore_listener(restored.clone())?;
    let started = Instant::now();
    streams.start()?;
    while restored.records.load(Ordering::Relaxed) < records as u64 {
        if started.elapsed() > timeout {
            return Err("restoration timed out".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let to_restored = started.elapsed().as_secs_f64();
    streams.close()?;
    let seconds = restored
        .seconds()
        .ok_or("the restore listener saw no restoration")?;
    Ok((seconds, to_restored))
}

/// Seconds raw rdkafka takes to read the `records` records of `changelog` from the start.
fn raw_read(
    bench: &Bench,
    run: &Run<'_>,
    changelog: &str,
    records: usize,
    attempt: usize,
    timeout: Duration,
) -> Result<f64, BoxError> {
    let reader: BaseConsumer = bench
        .client()
        .set("group.id", format!("{}-raw-reader-{attempt}", run.app_id))
        // As our restore consumers are configured (see `StreamsConfig`).
        .set("fetch.queue.backoff.ms", "10")
        .set("enable.auto.commit", "false")
        .create()?;
    reader.fetch_metadata(Some(changelog), timeout)?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..bench.args.partitions {
        tpl.add_partition_offset(changelog, p, Offset::Beginning)?;
    }
    let started = Instant::now();
    reader.assign(&tpl)?;
    let mut read = 0;
    while read < records {
        if started.elapsed() > timeout {
            return Err("raw changelog read timed out".into());
        }
        if let Some(m) = reader.poll(Duration::from_millis(100)) {
            m?;
            read += 1;
        }
    }
    Ok(started.elapsed().as_secs_f64())
}
