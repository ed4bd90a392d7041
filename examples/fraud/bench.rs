//! `--bench`: the app's throughput beside a raw rdkafka passthrough of the same payments on
//! the same broker in the same run (consume, produce to another topic, commit): the ratio says
//! what the framework and the five rules cost over moving the bytes.

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use crate::Args;

type BoxError = Box<dyn std::error::Error>;

/// Copies the `n` records of `topic` to `<topic>-passthrough` with plain rdkafka; returns
/// records per second.
pub(crate) fn passthrough(
    bootstrap: &str,
    topic: &str,
    n: u64,
    timeout: Duration,
) -> Result<f64, BoxError> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", format!("{topic}-passthrough"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()?;
    let sink = format!("{topic}-passthrough");
    consumer.subscribe(&[topic])?;
    let started = Instant::now();
    let mut copied = 0u64;
    while copied < n {
        if started.elapsed() > timeout {
            return Err(format!("passthrough: copied {copied} of {n} records in time").into());
        }
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        let mut record = BaseRecord::<[u8], [u8]>::to(&sink);
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(payload) = message.payload() {
            record = record.payload(payload);
        }
        streams_core::runtime::send_record(&producer, record)?;
        copied += 1;
        if copied.is_multiple_of(1_000) {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(timeout)?;
    consumer.commit_consumer_state(CommitMode::Sync)?;
    Ok(n as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// The benchmark's JSON line.
pub(crate) fn line(args: &Args, n: u64, app: Duration, passthrough: f64, embedded: bool) -> String {
    let app_rate = n as f64 / app.as_secs_f64().max(1e-9);
    serde_json::json!({
        "workload": "fraud",
        "broker": if embedded { "embedded" } else { "external" },
        "records": n,
        "partitions": args.partitions,
        "instances": args.instances,
        "records_per_sec": app_rate.round(),
        "passthrough_records_per_sec": passthrough.round(),
        "ratio_to_passthrough": (app_rate / passthrough * 100.0).round() / 100.0,
    })
    .to_string()
}
