//! The records of the fraud-detection app: what flows through its topics and stores (all JSON).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A card payment: the input record, keyed by `card` on the transactions topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Transaction {
    /// Unique id (`tx-0000001`): what alerts and the ground truth name.
    pub(crate) id: String,
    /// The card charged; also the record key, so a card's payments stay in order in one task.
    pub(crate) card: String,
    /// The merchant's id.
    pub(crate) merchant: String,
    /// Amount in cents.
    pub(crate) amount_cents: u64,
    /// Event time, ms since the epoch: the time every rule reasons in.
    pub(crate) timestamp_ms: i64,
    /// Where the payment happened (the merchant's location).
    pub(crate) lat: f64,
    /// Where the payment happened (the merchant's location).
    pub(crate) lon: f64,
    /// Whether the card was physically there (chip or swipe) rather than used online.
    pub(crate) card_present: bool,
}

/// What the issuer knows of a card: the compacted `card-profiles` topic, keyed by card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CardProfile {
    /// The card.
    pub(crate) card: String,
    /// The holder's home, latitude.
    pub(crate) home_lat: f64,
    /// The holder's home, longitude.
    pub(crate) home_lon: f64,
    /// The holder's typical payment, in cents.
    pub(crate) avg_amount_cents: u64,
    /// The card's credit limit per payment, in cents.
    pub(crate) limit_cents: u64,
}

/// A merchant: a shop in a city, or an online business (its location is its seat).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Merchant {
    /// Its id (`m-0001`).
    pub(crate) id: String,
    /// Latitude.
    pub(crate) lat: f64,
    /// Longitude.
    pub(crate) lon: f64,
    /// What it sells (`grocery`, `online_retail`, `crypto_exchange`, …).
    pub(crate) category: String,
}

/// The detection rules, one per technique of the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Rule {
    /// Too many payments of a card within a short sliding window.
    Velocity,
    /// A tiny "test" charge followed shortly by a large one.
    SmallThenLarge,
    /// Two card-present payments too far apart for the time between them.
    ImpossibleTravel,
    /// A payment far above the card's usual amount, or above its limit.
    SpendVsProfile,
    /// A payment at a blocklisted merchant.
    RiskyMerchant,
}

impl Rule {
    /// Every rule, in report order.
    pub(crate) const ALL: [Rule; 5] = [
        Rule::Velocity,
        Rule::SmallThenLarge,
        Rule::ImpossibleTravel,
        Rule::SpendVsProfile,
        Rule::RiskyMerchant,
    ];

    /// The snake_case name, as in the JSON.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Rule::Velocity => "velocity",
            Rule::SmallThenLarge => "small_then_large",
            Rule::ImpossibleTravel => "impossible_travel",
            Rule::SpendVsProfile => "spend_vs_profile",
            Rule::RiskyMerchant => "risky_merchant",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A suspicion raised by one rule about one transaction: the `alerts` topic, keyed by card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Alert {
    /// The transaction the alert is about.
    pub(crate) transaction: String,
    /// Its card.
    pub(crate) card: String,
    /// Its merchant (not in the brief's field list: the per-merchant counts re-key by it).
    pub(crate) merchant: String,
    /// The rule that fired.
    pub(crate) rule: Rule,
    /// How suspicious, in `[0, 1]`.
    pub(crate) score: f64,
    /// Why, for a human: the numbers the rule saw.
    pub(crate) evidence: String,
    /// The transaction's event time.
    pub(crate) timestamp_ms: i64,
}

/// A card's risk so far: the `card-risk` table, the aggregate of its alerts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct CardRisk {
    /// The card.
    pub(crate) card: String,
    /// Alerts seen.
    pub(crate) alerts: u64,
    /// Combined score: the chance that at least one alert is right, taking each alert's
    /// score as an independent probability, so it grows with every alert and stays below 1.
    pub(crate) score: f64,
    /// The rule of the latest alert.
    pub(crate) last_rule: Option<Rule>,
    /// Event time of the latest alert.
    pub(crate) last_alert_ms: i64,
}

impl CardRisk {
    /// This risk with `alert` added.
    pub(crate) fn with_alert(mut self, alert: &Alert) -> CardRisk {
        self.card.clone_from(&alert.card);
        self.alerts += 1;
        self.score = 1.0 - (1.0 - self.score) * (1.0 - alert.score.clamp(0.0, 1.0));
        self.last_rule = Some(alert.rule);
        self.last_alert_ms = self.last_alert_ms.max(alert.timestamp_ms);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_serialize_in_snake_case() {
        for rule in Rule::ALL {
            let json = serde_json::to_string(&rule).unwrap();
            assert_eq!(json, format!("\"{}\"", rule.name()));
            assert_eq!(serde_json::from_str::<Rule>(&json).unwrap(), rule);
        }
    }

    #[test]
    fn card_risk_combines_scores() {
        let alert = |score| Alert {
            transaction: "tx-1".into(),
            card: "card-1".into(),
            merchant: "m-1".into(),
            rule: Rule::Velocity,
            score,
            evidence: String::new(),
            timestamp_ms: 10,
        };
        let risk = CardRisk::default()
            .with_alert(&alert(0.5))
            .with_alert(&alert(0.5));
        assert_eq!(risk.card, "card-1");
        assert_eq!(risk.alerts, 2);
        assert!((risk.score - 0.75).abs() < 1e-9);
        assert_eq!(risk.last_rule, Some(Rule::Velocity));
    }
}
