//! A seeded generator of card payments with labelled fraud.
//!
//! Legit traffic: cards whose holders live in a few US cities, pay mostly near home (now and
//! then on a trip), with log-normal amounts around their own average, following a daily
//! rhythm, at least [`MIN_GAP_MS`] apart. Fraud: scenarios injected for randomly chosen
//! cards, each labelled with the rule it should trigger (the ground truth).
//!
//! Legit traffic stays clear of every rule by construction, so that a perfect detector has
//! precision 1: amounts between $1 and 5x the card's average (the profile rule fires above
//! 10x; "small" charges are below $1), payments of a card minutes apart (velocity needs 8 in
//! 2 minutes), journeys between cities with hours of travel, never a blocklisted merchant.
//! Around each scenario the card is quiet for [`QUIET_MS`], so a scenario does not mix with
//! its card's own traffic (a fraudulent payment in another city would otherwise make the
//! holder's next real payment look like impossible travel back).
//!
//! # Layout
//! - `world` — cities, cards, merchants.
//! - `legit` — legit payments.
//! - `scenarios` — the fraud scenarios and their labels.

mod legit;
mod scenarios;
#[cfg(test)]
mod tests;
mod world;

use std::collections::{BTreeMap, BTreeSet};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::model::{CardProfile, Merchant, Rule, Transaction};
use crate::rules::FraudConfig;

/// The simulation starts on 2024-03-01T00:00:00Z (event time).
pub(crate) const EPOCH_MS: i64 = 1_709_251_200_000;
/// A minute in ms.
pub(crate) const MINUTE_MS: i64 = 60_000;
/// An hour in ms.
pub(crate) const HOUR_MS: i64 = 60 * MINUTE_MS;
/// A day in ms.
pub(crate) const DAY_MS: i64 = 24 * HOUR_MS;
/// Legit payments of a card are at least this far apart.
pub(crate) const MIN_GAP_MS: i64 = 10 * MINUTE_MS;
/// A scenario's card makes no legit payment within this of the scenario.
pub(crate) const QUIET_MS: i64 = 8 * HOUR_MS;

/// What to generate.
#[derive(Debug, Clone)]
pub(crate) struct GeneratorConfig {
    /// Seed of the random generator: the same seed, the same data.
    pub(crate) seed: u64,
    /// Number of cards.
    pub(crate) cards: usize,
    /// Number of merchants (a few of them blocklisted).
    pub(crate) merchants: usize,
    /// About how many payments in all (legit and fraud).
    pub(crate) transactions: usize,
    /// Days of event time the payments span.
    pub(crate) days: i64,
}

/// A generated data set.
#[derive(Debug, Clone)]
pub(crate) struct Dataset {
    /// All payments, by event time.
    pub(crate) transactions: Vec<Transaction>,
    /// One profile per card.
    pub(crate) profiles: Vec<CardProfile>,
    /// Every merchant.
    pub(crate) merchants: Vec<Merchant>,
    /// Blocklisted merchants: id and reason.
    pub(crate) blocklist: Vec<(String, String)>,
    /// Ground truth: the rules each fraudulent payment should trigger.
    pub(crate) truth: BTreeMap<String, BTreeSet<Rule>>,
}

/// A payment before it has an id: offsets from [`EPOCH_MS`], indexes into cards and shops.
#[derive(Debug, Clone)]
struct Draft {
    card: usize,
    shop: usize,
    amount_cents: u64,
    t_ms: i64,
    rules: BTreeSet<Rule>,
}

/// Generates a data set for `cfg`, with scenarios that cross `rules`' thresholds.
pub(crate) fn generate(cfg: &GeneratorConfig, rules: &FraudConfig) -> Result<Dataset, String> {
    if cfg.cards < 5 || cfg.days < 1 {
        return Err(format!(
            "need at least 5 cards and 1 day, got {} cards and {} days",
            cfg.cards, cfg.days
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let cards = world::cards(&mut rng, cfg.cards, cfg.days)?;
    let blocked = (cfg.merchants / 30).max(3);
    let shops = world::shops(&mut rng, cfg.merchants, blocked);
    // About 1% of cards per rule, at least 3; each scenario's card is used once.
    let per_rule = (cfg.cards / 100).max(3).min(cfg.cards / 5);
    // A scenario makes about 3.5 payments on average (a burst of 8–12, the rest 1–3).
    let fraud_estimate = per_rule * 18;
    let mut times = legit::times(
        &mut rng,
        &cards,
        cfg.transactions.saturating_sub(fraud_estimate),
        cfg.days,
    )?;
    let mut drafts = scenarios::inject(
        &mut rng, &cards, &shops, per_rule, cfg.days, rules, &mut times,
    )?;
    drafts.extend(legit::payments(&mut rng, &cards, &shops, &times)?);
    // By time, then card, then as generated: a total order, so ids are reproducible.
    drafts.sort_by_key(|d| (d.t_ms, d.card));

    let mut transactions = Vec::with_capacity(drafts.len());
    let mut truth = BTreeMap::new();
    for (i, draft) in drafts.into_iter().enumerate() {
        let id = format!("tx-{:07}", i + 1);
        let shop = &shops[draft.shop];
        if !draft.rules.is_empty() {
            truth.insert(id.clone(), draft.rules);
        }
        transactions.push(Transaction {
            id,
            card: cards[draft.card].profile.card.clone(),
            merchant: shop.merchant.id.clone(),
            amount_cents: draft.amount_cents,
            timestamp_ms: EPOCH_MS + draft.t_ms,
            lat: shop.merchant.lat,
            lon: shop.merchant.lon,
            card_present: !shop.online,
        });
    }
    Ok(Dataset {
        transactions,
        profiles: cards.iter().map(|c| c.profile.clone()).collect(),
        merchants: shops.iter().map(|s| s.merchant.clone()).collect(),
        blocklist: shops
            .iter()
            .filter_map(|s| Some((s.merchant.id.clone(), s.blocked?.to_string())))
            .collect(),
        truth,
    })
}
