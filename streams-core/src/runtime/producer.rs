//! The producer side of a stream thread: a [`KafkaCollector`] that sinks and changelogs send
//! through, and a [`DeliveryTracker`] that learns changelog offsets and failures from delivery
//! reports.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header as KafkaHeader, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, ProducerContext};

use tracing::warn;

use prometheus::IntCounter;

use super::RecordCollector;
use crate::error::ProductionPolicy;
use crate::processor::Headers;
use crate::{Error, Result};

/// Applies `production.exception.handler` to an output record that could not be serialized or
/// produced. Changelog records (`changelog`) always fail: skipping one would silently lose
/// state.
pub(crate) fn production_failed(
    policy: ProductionPolicy,
    errors: &IntCounter,
    error: Error,
    changelog: bool,
) -> Result<()> {
    errors.inc();
    match policy {
        ProductionPolicy::Continue if !changelog => {
            warn!("dropping an output record: {}", error.report());
            Ok(())
        }
        _ => Err(error),
    }
}

#[derive(Default)]
struct DeliveryState {
    /// Highest delivered offset per changelog partition.
    changelog_offsets: HashMap<String, HashMap<i32, i64>>,
    /// The first delivery that failed.
    failure: Option<Error>,
}

/// Producer context recording what delivery reports say.
pub(crate) struct DeliveryTracker {
    state: Mutex<DeliveryState>,
    policy: ProductionPolicy,
    /// The thread's `production_errors_total`.
    errors: IntCounter,
    /// The application's changelog topics, from its topic plan.
    changelogs: Arc<std::collections::HashSet<String>>,
}

impl DeliveryTracker {
    pub(crate) fn new(
        policy: ProductionPolicy,
        errors: IntCounter,
        changelogs: Arc<std::collections::HashSet<String>>,
    ) -> Self {
        DeliveryTracker {
            state: Mutex::default(),
            policy,
            errors,
            changelogs,
        }
    }

    fn lock(&self) -> MutexGuard<'_, DeliveryState> {
        // The state is plain data updated in single steps; a panic elsewhere cannot leave it
        // half-written, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The first failed delivery since the last call, if any.
    pub(crate) fn take_failure(&self) -> Option<Error> {
        self.lock().failure.take()
    }

    /// Highest delivered offset per changelog partition so far.
    pub(crate) fn changelog_offsets(&self) -> BTreeMap<(String, i32), i64> {
        let state = self.lock();
        state
            .changelog_offsets
            .iter()
            .flat_map(|(topic, parts)| parts.iter().map(move |(p, o)| ((topic.clone(), *p), *o)))
            .collect()
    }
}

impl ClientContext for DeliveryTracker {}

impl ProducerContext for DeliveryTracker {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(message) if self.changelogs.contains(message.topic()) => {
                let mut state = self.lock();
                let parts = match state.changelog_offsets.get_mut(message.topic()) {
                    Some(parts) => parts,
                    None => state
                        .changelog_offsets
                        .entry(message.topic().to_string())
                        .or_default(),
                };
                let offset = parts.entry(message.partition()).or_insert(-1);
                *offset = (*offset).max(message.offset());
            }
            Ok(_) => {}
            Err((error, message)) => {
                let error = Error::Production {
                    topic: message.topic().to_string(),
                    partition: message.partition(),
                    reason: error.to_string(),
                };
                let changelog = self.changelogs.contains(message.topic());
                if let Err(error) = production_failed(self.policy, &self.errors, error, changelog) {
                    self.lock().failure.get_or_insert(error);
                }
            }
        }
    }
}

/// The stream thread's producer.
pub(crate) type StreamsProducer = BaseProducer<DeliveryTracker>;

/// Sends records through the thread's producer.
pub(crate) struct KafkaCollector {
    producer: Arc<StreamsProducer>,
    /// Records handed to the producer so far.
    sent: std::cell::Cell<u64>,
    /// Whether a send was refused because the producer's transaction has failed (librdkafka's
    /// `_STATE`), since [`take_refused`](Self::take_refused) last said.
    refused: std::cell::Cell<bool>,
}

impl KafkaCollector {
    pub(crate) fn new(producer: Arc<StreamsProducer>) -> Self {
        KafkaCollector {
            producer,
            sent: std::cell::Cell::new(0),
            refused: std::cell::Cell::new(false),
        }
    }

    /// How many records were handed to the producer so far.
    pub(crate) fn sent(&self) -> u64 {
        self.sent.get()
    }

    /// Whether a send was refused since the last call because the transaction had already
    /// failed: once a transaction is in an abortable error (records timed out, a partition
    /// refused), librdkafka refuses every send with `_STATE` until it is aborted. The error
    /// that reached the thread is then the transaction's, not the record's.
    pub(crate) fn take_refused(&self) -> bool {
        self.refused.replace(false)
    }
}

impl RecordCollector for KafkaCollector {
    fn send(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: &Headers,
    ) -> Result<()> {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).timestamp(timestamp);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        if let Some(partition) = partition {
            record = record.partition(partition);
        }
        if !headers.is_empty() {
            let owned = headers.iter().fold(OwnedHeaders::new(), |acc, h| {
                acc.insert(KafkaHeader {
                    key: &h.key,
                    value: h.value.as_deref(),
                })
            });
            record = record.headers(owned);
        }
        match super::send_record(&self.producer, record) {
            Ok(()) => {
                self.sent.set(self.sent.get() + 1);
                Ok(())
            }
            Err(error) => {
                if matches!(
                    error,
                    KafkaError::MessageProduction(RDKafkaErrorCode::State)
                ) {
                    self.refused.set(true);
                }
                Err(Error::Production {
                    topic: topic.to_string(),
                    partition: partition.unwrap_or(-1),
                    reason: error.to_string(),
                })
            }
        }
    }
}
