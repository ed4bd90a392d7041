//! The fraud-detection topology: five rules, each a Kafka Streams technique, over one stream
//! of transactions keyed by card.
//!
//! | rule | technique |
//! |------|-----------|
//! | velocity | sliding-window aggregation (`windowed_by(SlidingWindows)`) |
//! | small-then-large | windowed stream–stream self-join (`join` with `JoinWindows`) |
//! | impossible travel | a key-value store per card (Processor API, `process_values`) |
//! | spend vs profile | stream–table join with the `card-profiles` table |
//! | risky merchant | stream–global-table join with the merchant blocklist |
//!
//! The alerts are merged and written to the alerts topic, then aggregated into the queryable
//! `card-risk` table and counted per merchant and hour (`merchant-alerts`).
//!
//! Every rule reads event time (the transaction's `timestamp_ms`), and every one is keyed by
//! card, so a card's payments meet in one task in order and the output does not depend on
//! partitioning or timing.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use streams_core::dsl::{
    Consumed, Grouped, JoinWindows, KStream, Materialized, Produced, SlidingWindows, StreamJoined,
    StreamsBuilder, TimeWindows, Windowed,
};
use streams_core::serde::Serdes;
use streams_core::state::StoreBuilder;
use streams_core::{StreamsConfig, Topology};

use crate::model::{Alert, CardProfile, CardRisk, Transaction};
use crate::processors::{DedupeAlerts, LAST_SEEN_STORE, STL_ALERTED_STORE, TravelCheck};
use crate::rules::{
    FraudConfig, risky_merchant_alert, small_then_large_alert, spend_alert, velocity_alert,
};

/// The queryable table of [`CardRisk`] per card.
pub(crate) const CARD_RISK_STORE: &str = "card-risk";
/// The queryable window store of alert counts per merchant and hour.
pub(crate) const MERCHANT_ALERTS_STORE: &str = "merchant-alerts";
/// The card profiles table's store.
pub(crate) const PROFILES_STORE: &str = "card-profiles";
/// The merchant blocklist's (global) store.
pub(crate) const BLOCKLIST_STORE: &str = "merchant-blocklist";
/// The velocity rule's sliding-window store.
pub(crate) const VELOCITY_STORE: &str = "velocity";
/// How long the per-merchant hourly counts are kept (the demo spans weeks of event time).
const MERCHANT_ALERTS_RETENTION: Duration = Duration::from_secs(60 * 86_400);

/// The velocity rule's aggregate over a sliding window: the count, and the latest payment
/// in the window, to which an alert is attributed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Burst {
    /// Payments in the window.
    pub(crate) count: u64,
    /// The latest of them.
    pub(crate) latest: Option<Transaction>,
}

impl Burst {
    /// This burst with `txn` added.
    fn with(mut self, txn: Transaction) -> Burst {
        self.count += 1;
        if self
            .latest
            .as_ref()
            .is_none_or(|l| l.timestamp_ms <= txn.timestamp_ms)
        {
            self.latest = Some(txn);
        }
        self
    }
}

/// The topology for `cfg`'s topics and thresholds.
pub(crate) fn topology(cfg: &FraudConfig) -> streams_core::Result<Topology> {
    topology_with(cfg, &StreamsConfig::new())
}

/// [`topology`], built with `config`'s `topology.optimization`.
pub(crate) fn topology_with(
    cfg: &FraudConfig,
    config: &StreamsConfig,
) -> streams_core::Result<Topology> {
    let builder = StreamsBuilder::new();
    let mut transactions = builder.stream(
        &cfg.transactions_topic,
        Consumed::with(Serdes::string(), Serdes::json::<Transaction>())
            .with_timestamp_extractor(|_card, txn: &Transaction, _kafka_ts| txn.timestamp_ms)
            .with_name("transactions"),
    );
    if let Some(processed) = cfg.processed.clone() {
        transactions = transactions.peek(move |_card, _txn| {
            processed.fetch_add(1, Ordering::Relaxed);
        });
    }

    let alerts = velocity(&transactions, cfg)
        .merge(&small_then_large(&builder, &transactions, cfg))
        .merge(&impossible_travel(&builder, &transactions, cfg))
        .merge(&spend_vs_profile(&builder, &transactions, cfg))
        .merge(&risky_merchant(&builder, &transactions, cfg));
    alerts.to_with(
        &cfg.alerts_topic,
        Produced::with(Serdes::string(), Serdes::json::<Alert>()),
    );

    // Views for interactive queries: risk per card, alerts per merchant and hour.
    alerts
        .group_by_key_with(
            Grouped::with(Serdes::string(), Serdes::json::<Alert>()).with_name("alerts-by-card"),
        )
        .aggregate(
            CardRisk::default,
            |_card: &String, alert: Alert, risk: CardRisk| risk.with_alert(&alert),
            Materialized::as_(CARD_RISK_STORE).with_value_serde(Serdes::json::<CardRisk>()),
        );
    alerts
        .group_by_with(
            |_card: &String, alert: &Alert| alert.merchant.clone(),
            Grouped::with(Serdes::string(), Serdes::json::<Alert>())
                .with_name("alerts-by-merchant"),
        )
        .windowed_by(TimeWindows::of_size_and_grace(
            Duration::from_secs(3_600),
            cfg.grace,
        ))
        .count(Materialized::as_(MERCHANT_ALERTS_STORE).with_retention(MERCHANT_ALERTS_RETENTION));
    builder.build_with(config)
}

/// Velocity: count each card's payments over sliding windows; alert when a payment's own
/// window (the one ending at it) holds more than `velocity_max`.
///
/// A sliding-window aggregation forwards an update for every window a payment falls in, so
/// one payment yields several updates (its own window, and the windows starting after
/// earlier payments). Only the window that ends at the payment — `window.end` equal to the
/// latest payment's time — counts exactly the payments in the `velocity_window` before it:
/// keeping just that update gives one alert per payment that pushes the count over the
/// limit, attributed to that payment. So the store is not cached: the record cache would keep
/// only a window's last update per commit, and a later payment's update of the window ending
/// at an earlier one would hide that payment's.
fn velocity(
    transactions: &KStream<String, Transaction>,
    cfg: &FraudConfig,
) -> KStream<String, Alert> {
    let (window, max) = (cfg.velocity_window, cfg.velocity_max);
    transactions
        .group_by_key()
        .windowed_by(SlidingWindows::of_time_difference_and_grace(
            window, cfg.grace,
        ))
        .aggregate(
            Burst::default,
            |_card: &String, txn: Transaction, burst: Burst| burst.with(txn),
            Materialized::as_(VELOCITY_STORE)
                .with_value_serde(Serdes::json::<Burst>())
                .with_caching_disabled(),
        )
        .to_stream()
        .flat_map(move |w: Windowed<String>, burst: Option<Burst>| {
            let burst = burst.filter(|b| b.count > max)?;
            let latest = burst.latest.filter(|l| l.timestamp_ms == w.window.end)?;
            Some((w.key, velocity_alert(&latest, burst.count, window, max)))
        })
}

/// Small-then-large: join the card's large payments with its small ones in the minute
/// before (a self-join of the stream: `before` = the window, `after` = 0).
fn small_then_large(
    builder: &StreamsBuilder,
    transactions: &KStream<String, Transaction>,
    cfg: &FraudConfig,
) -> KStream<String, Alert> {
    builder.add_state_store(StoreBuilder::key_value(
        STL_ALERTED_STORE,
        Serdes::string(),
        Serdes::string(),
    ));
    let (small_cents, large_cents) = (cfg.small_cents, cfg.large_cents);
    let small = transactions.filter(move |_card, t: &Transaction| t.amount_cents < small_cents);
    let large = transactions.filter(move |_card, t: &Transaction| t.amount_cents > large_cents);
    let windows = JoinWindows::of_time_difference_and_grace(cfg.small_large_window, cfg.grace)
        .after(Duration::ZERO);
    large
        .join(
            &small,
            |large: &Transaction, small: &Transaction| small_then_large_alert(small, large),
            windows,
            StreamJoined::with(
                Serdes::string(),
                Serdes::json::<Transaction>(),
                Serdes::json::<Transaction>(),
            )
            .with_store_name("small-then-large"),
        )
        .process_values(DedupeAlerts::default, &[STL_ALERTED_STORE])
}

/// Impossible travel: a store of where each card was last present, checked and updated by
/// a processor.
fn impossible_travel(
    builder: &StreamsBuilder,
    transactions: &KStream<String, Transaction>,
    cfg: &FraudConfig,
) -> KStream<String, Alert> {
    builder.add_state_store(StoreBuilder::key_value(
        LAST_SEEN_STORE,
        Serdes::string(),
        Serdes::json::<crate::rules::LastSeen>(),
    ));
    let cfg = cfg.clone();
    transactions
        .filter(|_card, t: &Transaction| t.card_present)
        .process_values(move || TravelCheck::new(cfg.clone()), &[LAST_SEEN_STORE])
}

/// Spend vs profile: join each payment with its card's profile (a table on the compacted
/// profiles topic, co-partitioned with the transactions by card).
fn spend_vs_profile(
    builder: &StreamsBuilder,
    transactions: &KStream<String, Transaction>,
    cfg: &FraudConfig,
) -> KStream<String, Alert> {
    let profiles = builder.table(
        &cfg.profiles_topic,
        Consumed::with(Serdes::string(), Serdes::json::<CardProfile>()),
        Materialized::as_(PROFILES_STORE),
    );
    let cfg = cfg.clone();
    transactions
        .join_table(
            &profiles,
            move |txn: &Transaction, profile: &CardProfile| spend_alert(txn, profile, &cfg),
        )
        .flat_map_values(|alert: Option<Alert>| alert)
}

/// Risky merchant: look each payment's merchant up in the blocklist, a global table (every
/// instance holds all of it, so no co-partitioning by merchant is needed).
fn risky_merchant(
    builder: &StreamsBuilder,
    transactions: &KStream<String, Transaction>,
    cfg: &FraudConfig,
) -> KStream<String, Alert> {
    let blocklist = builder.global_table(
        &cfg.blocklist_topic,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_(BLOCKLIST_STORE),
    );
    transactions.join_global(
        &blocklist,
        |_card, txn: &Transaction| txn.merchant.clone(),
        |txn: &Transaction, reason: &String| risky_merchant_alert(txn, reason),
    )
}
