//! The rules' thresholds ([`FraudConfig`]) and their pure parts: distances, speeds, the spend
//! check and the alerts each rule writes. The topology wires them into operators; the
//! generator reads the same thresholds to build scenarios that cross them (and legit traffic
//! that does not).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use crate::model::{Alert, CardProfile, Rule, Transaction};

/// Topic names and thresholds of the topology.
#[derive(Debug, Clone)]
pub(crate) struct FraudConfig {
    /// Input: transactions keyed by card.
    pub(crate) transactions_topic: String,
    /// Input: card profiles keyed by card (compacted).
    pub(crate) profiles_topic: String,
    /// Input: blocklisted merchants keyed by merchant id, value the reason.
    pub(crate) blocklist_topic: String,
    /// Output: alerts keyed by card.
    pub(crate) alerts_topic: String,
    /// Velocity: the sliding window.
    pub(crate) velocity_window: Duration,
    /// Velocity: a card may make this many payments within the window; one more alerts.
    pub(crate) velocity_max: u64,
    /// Small-then-large: a "small" payment is below this.
    pub(crate) small_cents: u64,
    /// Small-then-large: a "large" payment is above this.
    pub(crate) large_cents: u64,
    /// Small-then-large: how long before the large payment the small one may be.
    pub(crate) small_large_window: Duration,
    /// Impossible travel: faster than this between card-present payments alerts.
    pub(crate) max_speed_kmh: f64,
    /// Impossible travel: shorter hops than this never alert (a city's merchants are close,
    /// and at a few seconds apart any distance is "fast").
    pub(crate) min_travel_km: f64,
    /// Spend vs profile: more than this many times the card's average payment alerts.
    pub(crate) spend_multiple: u64,
    /// How late (event time) a payment may arrive and still count in windows and joins.
    pub(crate) grace: Duration,
    /// If set, counts the transactions the topology has taken in (the demo's progress).
    pub(crate) processed: Option<Arc<AtomicU64>>,
}

impl FraudConfig {
    /// The default thresholds with topics named `<prefix>-transactions`, … (no prefix: the
    /// bare names).
    pub(crate) fn with_prefix(prefix: &str) -> FraudConfig {
        let name = |topic: &str| match prefix {
            "" => topic.to_string(),
            _ => format!("{prefix}-{topic}"),
        };
        FraudConfig {
            transactions_topic: name("transactions"),
            profiles_topic: name("card-profiles"),
            blocklist_topic: name("merchant-blocklist"),
            alerts_topic: name("alerts"),
            velocity_window: Duration::from_secs(120),
            velocity_max: 7,
            small_cents: 100,
            large_cents: 50_000,
            small_large_window: Duration::from_secs(60),
            max_speed_kmh: 1_000.0,
            min_travel_km: 100.0,
            spend_multiple: 10,
            grace: Duration::from_secs(60),
            processed: None,
        }
    }
}

impl Default for FraudConfig {
    fn default() -> Self {
        FraudConfig::with_prefix("")
    }
}

/// Great-circle distance in km between two points (haversine, mean Earth radius).
pub(crate) fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const EARTH_RADIUS_KM: f64 = 6_371.0;
    let (phi1, phi2) = (lat1.to_radians(), lat2.to_radians());
    let d_phi = (lat2 - lat1).to_radians();
    let d_lambda = (lon2 - lon1).to_radians();
    let a = (d_phi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (d_lambda / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_KM * a.sqrt().atan2((1.0 - a).sqrt())
}

/// Speed in km/h to cover `km` in `elapsed_ms` (infinite for no time at all).
pub(crate) fn speed_kmh(km: f64, elapsed_ms: i64) -> f64 {
    if elapsed_ms <= 0 {
        return f64::INFINITY;
    }
    km / (elapsed_ms as f64 / 3_600_000.0)
}

/// Where and when a card was last present, kept per card by the impossible-travel rule.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct LastSeen {
    /// The transaction.
    pub(crate) transaction: String,
    /// Its event time.
    pub(crate) timestamp_ms: i64,
    /// Its latitude.
    pub(crate) lat: f64,
    /// Its longitude.
    pub(crate) lon: f64,
}

impl LastSeen {
    /// Where `txn` puts its card.
    pub(crate) fn of(txn: &Transaction) -> LastSeen {
        LastSeen {
            transaction: txn.id.clone(),
            timestamp_ms: txn.timestamp_ms,
            lat: txn.lat,
            lon: txn.lon,
        }
    }
}

/// The impossible-travel alert for `txn` after the card was `last` seen, if the hop is long
/// enough and too fast.
pub(crate) fn travel_alert(last: &LastSeen, txn: &Transaction, cfg: &FraudConfig) -> Option<Alert> {
    let km = haversine_km(last.lat, last.lon, txn.lat, txn.lon);
    // Out of order: the hop is as impossible backwards as forwards.
    let elapsed = (txn.timestamp_ms - last.timestamp_ms).abs();
    let kmh = speed_kmh(km, elapsed);
    if km < cfg.min_travel_km || kmh <= cfg.max_speed_kmh {
        return None;
    }
    let evidence = format!(
        "{km:.0} km from {} in {:.1} min: {} km/h",
        last.transaction,
        elapsed as f64 / 60_000.0,
        if kmh.is_finite() {
            format!("{kmh:.0}")
        } else {
            "inf".into()
        }
    );
    // 1000 km/h is a jet; ten times that is certain.
    let score = (0.5 + 0.5 * (kmh / (10.0 * cfg.max_speed_kmh)).min(1.0)).min(1.0);
    Some(alert(txn, Rule::ImpossibleTravel, score, evidence))
}

/// The spend-vs-profile alert for `txn`, if it is more than `spend_multiple` times the card's
/// average or above its limit.
pub(crate) fn spend_alert(
    txn: &Transaction,
    profile: &CardProfile,
    cfg: &FraudConfig,
) -> Option<Alert> {
    let over_limit = txn.amount_cents > profile.limit_cents;
    let threshold = profile.avg_amount_cents.saturating_mul(cfg.spend_multiple);
    let over_average = txn.amount_cents > threshold;
    if !over_limit && !over_average {
        return None;
    }
    let ratio = txn.amount_cents as f64 / profile.avg_amount_cents.max(1) as f64;
    let evidence = format!(
        "{} cents = {ratio:.1}x the average {} cents (limit {} cents){}",
        txn.amount_cents,
        profile.avg_amount_cents,
        profile.limit_cents,
        if over_limit { ", over the limit" } else { "" }
    );
    let score = if over_limit {
        0.9
    } else {
        (0.5 + ratio / (10.0 * cfg.spend_multiple as f64)).min(0.95)
    };
    Some(alert(txn, Rule::SpendVsProfile, score, evidence))
}

/// The small-then-large alert on `large`, after the test charge `small`.
pub(crate) fn small_then_large_alert(small: &Transaction, large: &Transaction) -> Alert {
    let seconds = (large.timestamp_ms - small.timestamp_ms) as f64 / 1_000.0;
    let evidence = format!(
        "{} cents {seconds:.0} s after a {} cents charge ({})",
        large.amount_cents, small.amount_cents, small.id
    );
    alert(large, Rule::SmallThenLarge, 0.85, evidence)
}

/// The risky-merchant alert for `txn`, its merchant blocklisted for `reason`.
pub(crate) fn risky_merchant_alert(txn: &Transaction, reason: &str) -> Alert {
    let evidence = format!("merchant {} is blocklisted: {reason}", txn.merchant);
    alert(txn, Rule::RiskyMerchant, 0.9, evidence)
}

/// The velocity alert for the latest payment of a burst of `count` within `window`.
pub(crate) fn velocity_alert(txn: &Transaction, count: u64, window: Duration, max: u64) -> Alert {
    let evidence = format!(
        "{count} payments within {} s (at most {max} allowed)",
        window.as_secs()
    );
    let score = (0.5 + 0.1 * count.saturating_sub(max) as f64).min(1.0);
    alert(txn, Rule::Velocity, score, evidence)
}

/// An alert of `rule` about `txn`.
fn alert(txn: &Transaction, rule: Rule, score: f64, evidence: String) -> Alert {
    Alert {
        transaction: txn.id.clone(),
        card: txn.card.clone(),
        merchant: txn.merchant.clone(),
        rule,
        score,
        evidence,
        timestamp_ms: txn.timestamp_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(id: &str, amount_cents: u64, timestamp_ms: i64, lat: f64, lon: f64) -> Transaction {
        Transaction {
            id: id.into(),
            card: "card-1".into(),
            merchant: "m-1".into(),
            amount_cents,
            timestamp_ms,
            lat,
            lon,
            card_present: true,
        }
    }

    #[test]
    fn haversine_matches_known_distances() {
        // New York to Los Angeles: about 3,936 km.
        let km = haversine_km(40.7128, -74.0060, 34.0522, -118.2437);
        assert!((km - 3_936.0).abs() < 10.0, "{km}");
        assert_eq!(haversine_km(10.0, 20.0, 10.0, 20.0), 0.0);
        // A quarter of the equator.
        let quarter = haversine_km(0.0, 0.0, 0.0, 90.0);
        assert!((quarter - 10_007.5).abs() < 1.0, "{quarter}");
    }

    #[test]
    fn speed_of_no_time_is_infinite() {
        assert_eq!(speed_kmh(100.0, 3_600_000), 100.0);
        assert!(speed_kmh(1.0, 0).is_infinite());
    }

    #[test]
    fn travel_alerts_only_on_long_fast_hops() {
        let cfg = FraudConfig::default();
        let ny = LastSeen::of(&txn("a", 1_000, 0, 40.7128, -74.0060));
        // New York → Los Angeles in 30 min: ~7,900 km/h.
        let la = txn("b", 1_000, 1_800_000, 34.0522, -118.2437);
        let alert = travel_alert(&ny, &la, &cfg).expect("impossible");
        assert_eq!(alert.rule, Rule::ImpossibleTravel);
        assert_eq!(alert.transaction, "b");
        // The same hop in 5 h (~790 km/h) is a flight.
        let la_later = txn("c", 1_000, 5 * 3_600_000, 34.0522, -118.2437);
        assert!(travel_alert(&ny, &la_later, &cfg).is_none());
        // 50 km in a minute is fast but short: across town, not travel.
        let near = txn("d", 1_000, 60_000, 41.1, -74.0060);
        assert!(travel_alert(&ny, &near, &cfg).is_none());
    }

    #[test]
    fn spend_alerts_above_ten_times_average_or_limit() {
        let cfg = FraudConfig::default();
        let profile = CardProfile {
            card: "card-1".into(),
            home_lat: 0.0,
            home_lon: 0.0,
            avg_amount_cents: 5_000,
            limit_cents: 200_000,
        };
        let at = |cents| txn("t", cents, 0, 0.0, 0.0);
        assert!(
            spend_alert(&at(50_000), &profile, &cfg).is_none(),
            "exactly 10x"
        );
        assert!(spend_alert(&at(50_001), &profile, &cfg).is_some());
        let tight = CardProfile {
            limit_cents: 20_000,
            ..profile
        };
        let over = spend_alert(&at(20_001), &tight, &cfg).expect("over the limit");
        assert!(
            over.evidence.contains("over the limit"),
            "{}",
            over.evidence
        );
        assert!(spend_alert(&at(20_000), &tight, &cfg).is_none());
    }

    #[test]
    fn velocity_scores_grow_with_the_count() {
        let t = txn("t", 1_000, 0, 0.0, 0.0);
        let w = Duration::from_secs(120);
        assert!(velocity_alert(&t, 9, w, 7).score > velocity_alert(&t, 8, w, 7).score);
        assert!(velocity_alert(&t, 100, w, 7).score <= 1.0);
    }
}
