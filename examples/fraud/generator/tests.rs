//! The generator: reproducible, labelled, and its legit traffic clear of every rule — checked
//! by a naive, in-memory evaluation of the five rules over the whole data set, which must
//! find exactly the ground truth.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::*;
use crate::rules::{LastSeen, spend_alert, travel_alert};

fn small(seed: u64) -> GeneratorConfig {
    GeneratorConfig {
        seed,
        cards: 200,
        merchants: 120,
        transactions: 8_000,
        days: 14,
    }
}

/// The rules as plain loops over each card's payments in time order.
fn reference(data: &Dataset, cfg: &FraudConfig) -> BTreeMap<String, BTreeSet<Rule>> {
    let profiles: HashMap<&str, &CardProfile> =
        data.profiles.iter().map(|p| (p.card.as_str(), p)).collect();
    let blocked: HashSet<&str> = data.blocklist.iter().map(|(m, _)| m.as_str()).collect();
    let mut per_card: BTreeMap<&str, Vec<&Transaction>> = BTreeMap::new();
    for t in &data.transactions {
        per_card.entry(&t.card).or_default().push(t);
    }
    let velocity_ms = cfg.velocity_window.as_millis() as i64;
    let stl_ms = cfg.small_large_window.as_millis() as i64;
    let mut found: BTreeMap<String, BTreeSet<Rule>> = BTreeMap::new();
    for txns in per_card.values() {
        let mut last_seen: Option<LastSeen> = None;
        for (i, t) in txns.iter().enumerate() {
            let mut rules = BTreeSet::new();
            let before = &txns[..i];
            let in_window = 1 + before
                .iter()
                .filter(|u| t.timestamp_ms - u.timestamp_ms <= velocity_ms)
                .count();
            if in_window as u64 > cfg.velocity_max {
                rules.insert(Rule::Velocity);
            }
            if t.amount_cents > cfg.large_cents
                && before.iter().any(|u| {
                    u.amount_cents < cfg.small_cents && t.timestamp_ms - u.timestamp_ms <= stl_ms
                })
            {
                rules.insert(Rule::SmallThenLarge);
            }
            if t.card_present {
                if last_seen
                    .as_ref()
                    .and_then(|l| travel_alert(l, t, cfg))
                    .is_some()
                {
                    rules.insert(Rule::ImpossibleTravel);
                }
                last_seen = Some(LastSeen::of(t));
            }
            if spend_alert(t, profiles[t.card.as_str()], cfg).is_some() {
                rules.insert(Rule::SpendVsProfile);
            }
            if blocked.contains(t.merchant.as_str()) {
                rules.insert(Rule::RiskyMerchant);
            }
            if !rules.is_empty() {
                found.insert(t.id.clone(), rules);
            }
        }
    }
    found
}

#[test]
fn the_same_seed_gives_the_same_data() {
    let cfg = FraudConfig::default();
    let a = generate(&small(7), &cfg).unwrap();
    let b = generate(&small(7), &cfg).unwrap();
    assert_eq!(a.transactions, b.transactions);
    assert_eq!(a.truth, b.truth);
    assert_eq!(a.profiles, b.profiles);
    let c = generate(&small(8), &cfg).unwrap();
    assert_ne!(a.transactions, c.transactions);
}

#[test]
fn every_rule_has_labelled_scenarios() {
    let data = generate(&small(42), &FraudConfig::default()).unwrap();
    let ids: HashSet<&str> = data.transactions.iter().map(|t| t.id.as_str()).collect();
    for rule in Rule::ALL {
        let labelled = data.truth.values().filter(|r| r.contains(&rule)).count();
        assert!(labelled >= 2, "{rule}: {labelled} labelled payments");
    }
    assert!(data.truth.keys().all(|id| ids.contains(id.as_str())));
    let total = data.transactions.len();
    assert!((7_000..=8_500).contains(&total), "{total} payments");
    assert!(
        data.transactions
            .windows(2)
            .all(|w| w[0].timestamp_ms <= w[1].timestamp_ms),
        "ordered by time"
    );
    assert!(data.blocklist.len() >= 3);
}

#[test]
fn the_rules_find_exactly_the_ground_truth() {
    let cfg = FraudConfig::default();
    for seed in [1, 7, 42] {
        let data = generate(&small(seed), &cfg).unwrap();
        assert_eq!(reference(&data, &cfg), data.truth, "seed {seed}");
    }
}

#[test]
fn unlabelled_payments_stay_under_five_averages() {
    let data = generate(&small(3), &FraudConfig::default()).unwrap();
    let profiles: HashMap<&str, &CardProfile> =
        data.profiles.iter().map(|p| (p.card.as_str(), p)).collect();
    for t in data
        .transactions
        .iter()
        .filter(|t| !data.truth.contains_key(&t.id))
    {
        let avg = profiles[t.card.as_str()].avg_amount_cents;
        // Legit ones are at least $1; scenarios' test charges (unlabelled) are less.
        assert!(t.amount_cents <= 5 * avg, "{t:?}");
    }
}
