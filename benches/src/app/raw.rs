//! The raw baseline: rdkafka consume → produce, no framework. Each thread owns a consumer and
//! a producer and a fixed share of the input partitions (partition `p` of every input goes to
//! thread `p % threads`, as co-partitioned tasks would): no group membership, no rebalance. It
//! commits as an app must: every commit interval and at the end, the producer flushed first
//! (at-least-once), or in a transaction with the consumed offsets (exactly-once). Its clients
//! run with librdkafka's defaults but for `fetch.queue.backoff.ms` (see `worker`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::{AppArgs, Pass, event, monitor};
use crate::harness::{BoxError, send};
use crate::workloads::{Topics, Workload};

const TIMEOUT: Duration = Duration::from_secs(60);

/// What every thread of a pass shares.
struct Shared {
    bootstrap: String,
    group: String,
    output: String,
    exactly_once: bool,
    commit_interval: Duration,
    processed: AtomicU64,
    stop: AtomicBool,
}

/// Runs pass `index`; `Ok(false)` when stdin closed before it completed.
pub(super) fn run_pass(
    args: &AppArgs,
    workload: &Workload,
    index: usize,
    pass: &Pass,
    stdin_closed: &AtomicBool,
) -> Result<bool, BoxError> {
    let topics = Topics::new(&pass.prefix);
    let inputs: Vec<String> = workload
        .feeds
        .iter()
        .map(|f| topics.input(f.name))
        .collect();
    let threads = args.threads.max(1);
    let mut assignments: Vec<TopicPartitionList> =
        (0..threads).map(|_| TopicPartitionList::new()).collect();
    let metadata: BaseConsumer = client(&args.bootstrap).create()?;
    for topic in &inputs {
        let partitions = metadata
            .fetch_metadata(Some(topic), TIMEOUT)?
            .topics()
            .first()
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        for p in 0..partitions {
            let partition = i32::try_from(p)?;
            assignments[p % threads].add_partition_offset(topic, partition, Offset::Beginning)?;
        }
    }
    let shared = Arc::new(Shared {
        bootstrap: args.bootstrap.clone(),
        group: pass.app_id.clone(),
        output: topics.output(),
        exactly_once: args.exactly_once(),
        commit_interval: Duration::from_millis(args.commit_interval_ms),
        processed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
    });
    let workers: Vec<_> = assignments
        .into_iter()
        .enumerate()
        .map(|(thread, assignment)| {
            let shared = shared.clone();
            std::thread::spawn(move || worker(&shared, thread, &assignment))
        })
        .collect();
    event("running", index).print();
    let watched = monitor(
        index,
        pass,
        stdin_closed,
        || shared.processed.load(Ordering::Relaxed),
        || {
            workers
                .iter()
                .any(|w| w.is_finished())
                .then(|| "a raw worker stopped early".to_string())
        },
    );
    shared.stop.store(true, Ordering::Relaxed);
    let mut failed = None;
    for worker in workers {
        match worker.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failed = Some(e),
            Err(_) => failed = Some("a raw worker panicked".into()),
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let completed = watched?;
    event("closed", index).print();
    Ok(completed)
}

fn client(bootstrap: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", bootstrap);
    client
}

/// One thread: consumes `assignment`, produces every record unchanged to the output.
fn worker(shared: &Shared, thread: usize, assignment: &TopicPartitionList) -> Result<(), BoxError> {
    let mut consumer_config = client(&shared.bootstrap);
    consumer_config
        .set("group.id", &shared.group)
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        // librdkafka stops fetching a partition for this long (1 s by default) whenever its
        // local queue is full; a consumer that drains it in milliseconds then idles, and the
        // raw baseline ran at 40 % of what it does at 10 ms (324k rec/s against 814k). The
        // ceiling should not be held back by a default.
        .set("fetch.queue.backoff.ms", "10");
    if shared.exactly_once {
        consumer_config.set("isolation.level", "read_committed");
    }
    let consumer: BaseConsumer = consumer_config.create()?;
    consumer.assign(assignment)?;
    let mut producer_config = client(&shared.bootstrap);
    producer_config.set("partitioner", "murmur2_random");
    if shared.exactly_once {
        producer_config.set("transactional.id", format!("{}-raw-{thread}", shared.group));
    }
    let producer: BaseProducer = producer_config.create()?;
    if shared.exactly_once {
        producer.init_transactions(TIMEOUT)?;
        producer.begin_transaction()?;
    }
    let mut last_commit = Instant::now();
    let mut unpolled = 0u32;
    while !shared.stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(10)) {
            Some(message) => {
                let message = message?;
                let mut record = BaseRecord::<[u8], [u8]>::to(&shared.output)
                    .timestamp(message.timestamp().to_millis().unwrap_or(0));
                if let Some(key) = message.key() {
                    record = record.key(key);
                }
                if let Some(value) = message.payload() {
                    record = record.payload(value);
                }
                send(&producer, record)?;
                shared.processed.fetch_add(1, Ordering::Relaxed);
                unpolled += 1;
                if unpolled >= 1024 {
                    producer.poll(Duration::ZERO);
                    unpolled = 0;
                }
            }
            None => producer.poll(Duration::ZERO),
        }
        if last_commit.elapsed() >= shared.commit_interval {
            commit(shared, &consumer, &producer, true)?;
            last_commit = Instant::now();
        }
    }
    commit(shared, &consumer, &producer, false)
}

/// Commits what was consumed: the producer's records first, then the offsets (in one
/// transaction under exactly-once; `begin_next` opens the next one).
fn commit(
    shared: &Shared,
    consumer: &BaseConsumer,
    producer: &BaseProducer,
    begin_next: bool,
) -> Result<(), BoxError> {
    let mut offsets = TopicPartitionList::new();
    for element in consumer.position()?.elements() {
        if let Offset::Offset(offset) = element.offset() {
            offsets.add_partition_offset(
                element.topic(),
                element.partition(),
                Offset::Offset(offset),
            )?;
        }
    }
    if shared.exactly_once {
        if offsets.count() > 0 {
            let group = consumer
                .group_metadata()
                .ok_or("the raw consumer has no group metadata")?;
            producer.send_offsets_to_transaction(&offsets, &group, TIMEOUT)?;
        }
        producer.commit_transaction(TIMEOUT)?;
        if begin_next {
            producer.begin_transaction()?;
        }
    } else {
        flush(producer)?;
        if offsets.count() > 0 {
            consumer.commit(&offsets, CommitMode::Sync)?;
        }
    }
    Ok(())
}

/// Waits until every produced record is delivered. rdkafka's `flush` serves delivery reports
/// in 100 ms polls that run to their end (a 100 ms floor under each commit); this polls in
/// 1 ms slices, as our runtime's commit does.
fn flush(producer: &BaseProducer) -> Result<(), BoxError> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        // With a zero timeout this is one `rd_kafka_flush(0)`: lingering batches go now.
        match producer.flush(Duration::ZERO) {
            Ok(()) => return Ok(()),
            Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut))
                if Instant::now() < deadline =>
            {
                producer.poll(Duration::from_millis(1));
            }
            Err(e) => return Err(e.into()),
        }
    }
}
