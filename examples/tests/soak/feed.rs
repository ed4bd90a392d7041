//! The soak's input: one generated data set of payments (the fraud generator, with its
//! labelled ground truth) replayed in rounds, written by an idempotent producer at a given
//! rate, and the alerts the rounds written should raise.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientContext, Message};

use crate::generator::{self, DAY_MS, Dataset, EPOCH_MS, GeneratorConfig};
use crate::model::{Rule, Transaction};
use crate::rules::FraudConfig;
use crate::support::KafkaCluster;
/// One generated data set, replayed in rounds.
pub(crate) struct Feed {
    data: Dataset,
    /// How far each round's event times are from the round before's.
    shift_ms: i64,
}

impl Feed {
    pub(crate) fn new() -> Feed {
        let data = generator::generate(
            &GeneratorConfig {
                seed: 7,
                cards: 1_000,
                merchants: 200,
                transactions: 20_000,
                days: 7,
            },
            &FraudConfig::default(),
        )
        .expect("generated data");
        let last = data.transactions.iter().map(|t| t.timestamp_ms).max();
        let span_days = (last.unwrap_or(EPOCH_MS) - EPOCH_MS) / DAY_MS + 1;
        Feed {
            data,
            shift_ms: (span_days + 3) * DAY_MS,
        }
    }

    pub(crate) fn per_round(&self) -> u64 {
        self.data.transactions.len() as u64
    }

    /// Payment `i` of round `round`.
    pub(crate) fn payment(&self, round: u64, i: usize) -> Transaction {
        let mut txn = self.data.transactions[i].clone();
        txn.id = format!("{}-r{round}", txn.id);
        txn.timestamp_ms += self.shift_ms * round as i64;
        txn
    }

    /// The (transaction, rule) pairs `rounds` rounds should alert.
    pub(crate) fn expected(&self, rounds: u64) -> BTreeSet<(String, Rule)> {
        (0..rounds)
            .flat_map(|round| {
                self.data.truth.iter().flat_map(move |(id, rules)| {
                    rules.iter().map(move |r| (format!("{id}-r{round}"), *r))
                })
            })
            .collect()
    }
}

/// An idempotent producer: a retried batch does not write a payment twice. The profiles and
/// the payments go through the same partitioner, co-partitioned for the table join.
/// The feed's producer: it counts the payments whose delivery failed (librdkafka reports
/// them only to a delivery callback), so that a payment lost by the producer is named as
/// such, at once, not found missing at the end.
pub(crate) type FeedProducer = BaseProducer<Deliveries>;

/// Failed deliveries of the feed's producer: how many, and the first one's error.
#[derive(Default)]
pub(crate) struct Deliveries {
    failed: AtomicU64,
    first: Mutex<Option<String>>,
}

impl Deliveries {
    /// Panics if a delivery failed.
    fn check(&self) {
        let failed = self.failed.load(Ordering::SeqCst);
        if failed > 0 {
            let first = self.first.lock().expect("first failure").clone();
            panic!(
                "the feed's producer failed to deliver {failed} payments; the first: {}",
                first.unwrap_or_default()
            );
        }
    }
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, message)) = result
            && self.failed.fetch_add(1, Ordering::SeqCst) == 0
        {
            *self.first.lock().expect("first failure") = Some(format!(
                "{error} ({}-{})",
                message.topic(),
                message.partition()
            ));
        }
    }
}

pub(crate) fn producer(broker: &KafkaCluster) -> FeedProducer {
    broker
        .client()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .create_with_context(Deliveries::default())
        .expect("producer")
}

fn send(producer: &FeedProducer, topic: &str, key: &str, payload: &[u8], timestamp_ms: i64) {
    let record = BaseRecord::<str, [u8]>::to(topic)
        .key(key)
        .payload(payload)
        .timestamp(timestamp_ms);
    if let Err(e) = streams_core::runtime::send_record(producer, record) {
        panic!("producing to {topic}: {e}");
    }
}

/// The profiles and the blocklist, timestamped before the first payment.
pub(crate) fn reference_data(producer: &FeedProducer, feed: &Feed) {
    for p in &feed.data.profiles {
        let json = serde_json::to_vec(p).expect("json");
        send(producer, "card-profiles", &p.card, &json, EPOCH_MS - 1);
    }
    for (merchant, reason) in &feed.data.blocklist {
        send(
            producer,
            "merchant-blocklist",
            merchant,
            reason.as_bytes(),
            EPOCH_MS - 1,
        );
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    producer.context().check();
}

/// Writes rounds from `first` on, at `rate` payments a second (`None`: as fast as it goes),
/// until `last` rounds are written or, at the end of a round, `stop` is set; returns the
/// rounds written. Falling more than a second behind the pace, it forgets the debt rather
/// than catching up in a burst.
pub(crate) fn produce(
    producer: &FeedProducer,
    feed: &Feed,
    first: u64,
    last: Option<u64>,
    rate: Option<f64>,
    stop: &AtomicBool,
    produced: &AtomicU64,
) -> u64 {
    let mut started = Instant::now();
    let mut sent = 0u64;
    let mut round = first;
    while last.is_none_or(|l| round < l) && !stop.load(Ordering::SeqCst) {
        for i in 0..feed.data.transactions.len() {
            if let Some(rate) = rate {
                let due = started + Duration::from_secs_f64(sent as f64 / rate);
                let now = Instant::now();
                if now > due + Duration::from_secs(1) {
                    started = now;
                    sent = 0;
                }
                while let Some(wait) = due.checked_duration_since(Instant::now()) {
                    producer.poll(wait.min(Duration::from_millis(5)));
                }
            }
            let txn = feed.payment(round, i);
            let json = serde_json::to_vec(&txn).expect("json");
            send(producer, "transactions", &txn.card, &json, txn.timestamp_ms);
            sent += 1;
            produced.fetch_add(1, Ordering::Relaxed);
            if sent.is_multiple_of(500) {
                producer.poll(Duration::ZERO);
                producer.context().check();
            }
        }
        round += 1;
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    producer.context().check();
    round - first
}
