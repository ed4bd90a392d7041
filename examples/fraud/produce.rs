//! Writes the generated data to the input topics, as the issuer's systems would: profiles and
//! the blocklist (reference data, timestamped before any payment), then the payments.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde::Serialize;
use streams_core::runtime::send_record;

use crate::generator::{Dataset, EPOCH_MS};
use crate::model::Transaction;
use crate::rules::FraudConfig;

/// A producer for `bootstrap`. One configuration for every input, so that the profiles and
/// the payments of a card land in partitions of the same number (the stream–table join needs
/// them co-partitioned).
fn producer(bootstrap: &str) -> Result<BaseProducer, Box<dyn std::error::Error>> {
    Ok(ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "5")
        .create()?)
}

/// Sends `key` → JSON of `value` at event time `timestamp_ms`.
fn send_json<T: Serialize>(
    producer: &BaseProducer,
    topic: &str,
    key: &str,
    value: &T,
    timestamp_ms: i64,
) -> Result<(), Box<dyn std::error::Error>> {
    let payload = serde_json::to_vec(value)?;
    let record = BaseRecord::<str, [u8]>::to(topic)
        .key(key)
        .payload(&payload)
        .timestamp(timestamp_ms);
    send_record(producer, record).map_err(|e| format!("producing `{key}` to `{topic}`: {e}"))?;
    Ok(())
}

/// Writes the card profiles and the merchant blocklist, and waits until the broker has them.
/// They are timestamped just before the first payment: reference data valid from the start.
pub(crate) fn reference_data(
    bootstrap: &str,
    cfg: &FraudConfig,
    data: &Dataset,
) -> Result<(), Box<dyn std::error::Error>> {
    let producer = producer(bootstrap)?;
    for profile in &data.profiles {
        send_json(
            &producer,
            &cfg.profiles_topic,
            &profile.card,
            profile,
            EPOCH_MS - 1,
        )?;
    }
    for (merchant, reason) in &data.blocklist {
        let record = BaseRecord::<str, str>::to(&cfg.blocklist_topic)
            .key(merchant.as_str())
            .payload(reason.as_str())
            .timestamp(EPOCH_MS - 1);
        send_record(&producer, record)
            .map_err(|e| format!("producing `{merchant}` to `{}`: {e}", cfg.blocklist_topic))?;
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(())
}

/// Payments written ahead of what the app has taken in, at most. The embedded broker keeps
/// only the last 5 MiB of each partition: an app lagging further behind would find its next
/// records deleted. 10,000 payments are about 2.5 MB, under the limit even on one partition.
const MAX_AHEAD: u64 = 10_000;

/// Writes the payments in order, keyed by card, timestamped with their event time, staying
/// at most [`MAX_AHEAD`] payments ahead of `processed`; an error after `timeout` without
/// progress.
pub(crate) fn transactions(
    bootstrap: &str,
    topic: &str,
    transactions: &[Transaction],
    processed: &AtomicU64,
    timeout: Duration,
) -> Result<(), Box<dyn std::error::Error>> {
    let producer = producer(bootstrap)?;
    for (i, txn) in (0u64..).zip(transactions) {
        let mut waiting_since = None;
        while i.saturating_sub(processed.load(Ordering::Relaxed)) >= MAX_AHEAD {
            let since = *waiting_since.get_or_insert_with(Instant::now);
            if since.elapsed() > timeout {
                let done = processed.load(Ordering::Relaxed);
                return Err(
                    format!("the app is stuck: took in {done} of {i} payments written").into(),
                );
            }
            producer.poll(Duration::from_millis(5));
        }
        send_json(&producer, topic, &txn.card, txn, txn.timestamp_ms)?;
        // Serve delivery reports now and then, so they do not pile up.
        if i % 1_000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(())
}
