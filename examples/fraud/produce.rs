//! Writes the generated data to the input topics, as the issuer's systems would: profiles and
//! the blocklist (reference data, timestamped before any payment), then the payments.

use std::time::Duration;

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

/// Writes the payments in order, keyed by card, timestamped with their event time.
pub(crate) fn transactions(
    bootstrap: &str,
    topic: &str,
    transactions: &[Transaction],
) -> Result<(), Box<dyn std::error::Error>> {
    let producer = producer(bootstrap)?;
    for (i, txn) in transactions.iter().enumerate() {
        send_json(&producer, topic, &txn.card, txn, txn.timestamp_ms)?;
        // Serve delivery reports now and then, so they do not pile up.
        if i % 1_000 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(())
}
