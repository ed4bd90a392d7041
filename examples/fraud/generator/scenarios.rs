//! Fraud scenarios, one card each, labelled with the rule they should trigger. Each crosses
//! its own rule's threshold and stays clear of the others' (amounts between the small and
//! the spend thresholds, online where location would matter), so a payment's label is the
//! one rule a correct detector fires on it.

use std::collections::BTreeSet;

use rand::Rng;
use rand::seq::{IndexedRandom, SliceRandom};

use super::legit::Venues;
use super::world::{CITIES, Card, Shop};
use super::{DAY_MS, Draft, MINUTE_MS, QUIET_MS};
use crate::model::Rule;
use crate::rules::{FraudConfig, haversine_km};

/// Far enough that minutes between two payments make an impossible journey.
const FAR_KM: f64 = 1_500.0;

/// Injects `per_rule` scenarios of every rule on distinct cards; clears each scenario's card
/// of legit `times` within [`QUIET_MS`] of it. Returns the scenarios' payments.
pub(super) fn inject<R: Rng>(
    rng: &mut R,
    cards: &[Card],
    shops: &[Shop],
    per_rule: usize,
    days: i64,
    rules: &FraudConfig,
    times: &mut [Vec<i64>],
) -> Result<Vec<Draft>, String> {
    let venues = Venues::of(shops)?;
    let blocked: Vec<usize> = (0..shops.len())
        .filter(|&i| shops[i].blocked.is_some())
        .collect();
    let mut order: Vec<usize> = (0..cards.len()).collect();
    order.shuffle(rng);
    // Small-then-large needs a card whose profile allows a large payment (else it would be a
    // spend-vs-profile case too): pick those first.
    let (mut eligible, mut others): (Vec<usize>, Vec<usize>) = order
        .into_iter()
        .partition(|&c| large_cap(&cards[c], rules) > rules.large_cents + 10_000);
    let take = per_rule.min(eligible.len());
    let stl_cards: Vec<usize> = eligible.drain(..take).collect();
    others.extend(eligible);
    let mut assignments: Vec<(Rule, usize)> = stl_cards
        .into_iter()
        .map(|c| (Rule::SmallThenLarge, c))
        .collect();
    let mut rest = others.into_iter();
    for rule in [
        Rule::Velocity,
        Rule::ImpossibleTravel,
        Rule::SpendVsProfile,
        Rule::RiskyMerchant,
    ] {
        assignments.extend(rest.by_ref().take(per_rule).map(|c| (rule, c)));
    }

    let mut drafts = Vec::new();
    for (rule, c) in assignments {
        let card = &cards[c];
        let t0 = rng.random_range(QUIET_MS..days * DAY_MS - QUIET_MS - MINUTE_MS * 60);
        let scenario = Scenario {
            card: c,
            avg: card.profile.avg_amount_cents,
            t0,
        };
        let payments = match rule {
            Rule::Velocity => scenario.velocity(rng, &venues, rules),
            Rule::SmallThenLarge => scenario.small_then_large(rng, &venues, card, rules),
            Rule::ImpossibleTravel => scenario.impossible_travel(rng, &venues, shops, card),
            Rule::SpendVsProfile => scenario.spend(rng, &venues, card, rules),
            Rule::RiskyMerchant => scenario.risky(rng, &blocked),
        };
        let end = payments.iter().map(|d| d.t_ms).max().unwrap_or(t0);
        times[c].retain(|&t| t < t0 - QUIET_MS || t > end + QUIET_MS);
        drafts.extend(payments);
    }
    Ok(drafts)
}

/// The largest amount a card may pay without crossing its profile: 10x the average, or
/// the limit.
fn large_cap(card: &Card, rules: &FraudConfig) -> u64 {
    (card.profile.avg_amount_cents * rules.spend_multiple).min(card.profile.limit_cents)
}

/// One scenario's card, its average, and when it starts.
struct Scenario {
    card: usize,
    avg: u64,
    t0: i64,
}

impl Scenario {
    fn draft(&self, shop: usize, amount_cents: u64, t_ms: i64, rule: Option<Rule>) -> Draft {
        Draft {
            card: self.card,
            shop,
            amount_cents,
            t_ms,
            rules: rule.into_iter().collect::<BTreeSet<_>>(),
        }
    }

    /// An ordinary amount for this card: half to twice its average.
    fn ordinary<R: Rng>(&self, rng: &mut R) -> u64 {
        rng.random_range(self.avg / 2..=self.avg * 2)
    }

    /// Card testing by a bot: 8–12 online payments a few seconds apart at one merchant.
    /// Labelled: each payment whose window (the `velocity_window` up to it) holds more than
    /// `velocity_max` payments.
    fn velocity<R: Rng>(&self, rng: &mut R, venues: &Venues, rules: &FraudConfig) -> Vec<Draft> {
        let shop = venues.online(rng);
        let n = rng.random_range(rules.velocity_max + 1..=rules.velocity_max + 5) as usize;
        let window = i64::try_from(rules.velocity_window.as_millis()).unwrap_or(i64::MAX);
        let mut at = Vec::with_capacity(n);
        let mut t = self.t0;
        for _ in 0..n {
            at.push(t);
            t += rng.random_range(2_000..9_000);
        }
        at.iter()
            .map(|&t| {
                let in_window = at.iter().filter(|&&u| u <= t && t - u <= window).count();
                let rule = (in_window as u64 > rules.velocity_max).then_some(Rule::Velocity);
                let amount = rng.random_range(rules.small_cents.max(100)..=self.avg * 2);
                self.draft(shop, amount, t, rule)
            })
            .collect()
    }

    /// One or two online charges under $1, then within the minute a large one. Labelled:
    /// the large one.
    fn small_then_large<R: Rng>(
        &self,
        rng: &mut R,
        venues: &Venues,
        card: &Card,
        rules: &FraudConfig,
    ) -> Vec<Draft> {
        let mut drafts = vec![self.draft(
            venues.online(rng),
            rng.random_range(1..rules.small_cents),
            self.t0,
            None,
        )];
        if rng.random_bool(0.5) {
            let t = self.t0 + rng.random_range(3_000..15_000);
            drafts.push(self.draft(
                venues.online(rng),
                rng.random_range(1..rules.small_cents),
                t,
                None,
            ));
        }
        let window = i64::try_from(rules.small_large_window.as_millis()).unwrap_or(i64::MAX);
        let t = self.t0 + rng.random_range(20_000..window.clamp(20_001, 55_000));
        let amount = rng.random_range(rules.large_cents + 1..large_cap(card, rules));
        drafts.push(self.draft(venues.online(rng), amount, t, Some(Rule::SmallThenLarge)));
        drafts
    }

    /// The card in person at home, then minutes later in person in a city at least
    /// [`FAR_KM`] away (a cloned card). Labelled: the second.
    fn impossible_travel<R: Rng>(
        &self,
        rng: &mut R,
        venues: &Venues,
        shops: &[Shop],
        card: &Card,
    ) -> Vec<Draft> {
        let here = card.city_at(self.t0);
        let far: Vec<usize> = (0..CITIES.len())
            .filter(|&c| {
                let (a, b) = (CITIES[here], CITIES[c]);
                haversine_km(a.lat, a.lon, b.lat, b.lon) >= FAR_KM
            })
            .collect();
        let there = *far.choose(rng).unwrap_or(&here);
        let anchor = venues.shop_in(rng, here);
        let clone = venues.shop_in(rng, there);
        let t = self.t0 + rng.random_range(5 * MINUTE_MS..40 * MINUTE_MS);
        debug_assert!(!shops[clone].online && shops[clone].city == there);
        vec![
            self.draft(anchor, self.ordinary(rng), self.t0, None),
            self.draft(clone, self.ordinary(rng), t, Some(Rule::ImpossibleTravel)),
        ]
    }

    /// One payment far above the card's habits: 12–30x its average, or over its limit; in
    /// person where the holder is, or online. Labelled: that payment.
    fn spend<R: Rng>(
        &self,
        rng: &mut R,
        venues: &Venues,
        card: &Card,
        rules: &FraudConfig,
    ) -> Vec<Draft> {
        let shop = if rng.random_bool(0.5) {
            venues.shop_in(rng, card.city_at(self.t0))
        } else {
            venues.online(rng)
        };
        let amount = if rng.random_bool(0.5) {
            self.avg * rng.random_range(rules.spend_multiple + 2..=rules.spend_multiple * 3)
        } else {
            let limit = card.profile.limit_cents;
            limit + rng.random_range(1..=limit / 2)
        };
        vec![self.draft(shop, amount, self.t0, Some(Rule::SpendVsProfile))]
    }

    /// One ordinary payment at a blocklisted merchant. Labelled: that payment.
    fn risky<R: Rng>(&self, rng: &mut R, blocked: &[usize]) -> Vec<Draft> {
        let shop = *blocked.choose(rng).unwrap_or(&0);
        vec![self.draft(shop, self.ordinary(rng), self.t0, Some(Rule::RiskyMerchant))]
    }
}
