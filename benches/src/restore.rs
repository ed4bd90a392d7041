//! The `restore` workload: how fast an instance restores a store from its changelog, against
//! raw rdkafka reading the same changelog in the same run (the ceiling: restoring also writes
//! every record into RocksDB).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use streams_core::runtime::{StateRestoreListener, TopicSpec, create_topics};
use streams_core::{KafkaStreams, StreamsConfig};

use crate::harness::{Bench, BoxError, Run};

/// Adds up restored records.
#[derive(Clone, Default)]
struct Restored(Arc<AtomicU64>);

impl StateRestoreListener for Restored {
    fn on_batch_restored(&self, _: &str, _: i32, _: &str, _: i64, restored: u64) {
        self.0.fetch_add(restored, Ordering::Relaxed);
    }
}

/// Writes `records` distinct keys into the changelog of the `stream_count` store, times raw
/// rdkafka reading them all, then times a fresh instance restoring them; prints one JSON line.
pub(crate) fn measure(bench: &Bench, records: usize, timeout: Duration) -> Result<(), BoxError> {
    let run = Run::new(bench, "restore");
    let partitions = bench.args.partitions;
    let changelog = format!("{}-bench-counts-changelog", run.app_id);
    create_topics(
        &bench.config,
        &[
            TopicSpec::new(run.topic("input"), partitions),
            TopicSpec::new(&run.output, partitions),
            TopicSpec::new(&changelog, partitions),
        ],
    )?;
    let producer: BaseProducer = bench.client().set("linger.ms", "5").create()?;
    for i in 0..records {
        let key = format!("key-{i}");
        let value = 1u64.to_be_bytes();
        let partition = i32::try_from(i % partitions as usize).unwrap_or(0);
        let mut record = BaseRecord::<str, [u8]>::to(&changelog)
            .key(&key)
            .payload(&value)
            .partition(partition);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
    }
    producer.flush(Duration::from_secs(60))?;

    // Baseline: read every changelog record with raw rdkafka.
    let reader: BaseConsumer = bench
        .client()
        .set("group.id", format!("{}-raw-reader", run.app_id))
        .set("enable.auto.commit", "false")
        .create()?;
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(&changelog, p, Offset::Beginning)?;
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
    let baseline = started.elapsed().as_secs_f64();
    drop(reader);

    // The framework: a fresh instance restoring the store before it processes anything.
    let state = tempfile::tempdir()?;
    let mut config: StreamsConfig = bench.config.clone();
    config
        .set("application.id", &run.app_id)
        .set("state.dir", state.path().to_string_lossy().to_string());
    let restored = Restored::default();
    let mut streams = KafkaStreams::new(crate::workloads::stream_count(&run)?, &config)?;
    streams.set_global_state_restore_listener(restored.clone())?;
    let started = Instant::now();
    streams.start()?;
    while restored.0.load(Ordering::Relaxed) < records as u64 {
        if started.elapsed() > timeout {
            return Err("restoration timed out".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let seconds = started.elapsed().as_secs_f64();
    streams.close()?;
    println!(
        "{{\"workload\":\"restore\",\"records\":{records},\"seconds\":{seconds:.3},\"records_per_s\":{:.0},\"baseline\":\"raw rdkafka read of the changelog\",\"baseline_seconds\":{baseline:.3},\"ratio_vs_raw_read\":{:.3},\"partitions\":{partitions},\"broker\":\"{}\"}}",
        records as f64 / seconds,
        baseline / seconds,
        bench.broker_kind()
    );
    Ok(())
}
