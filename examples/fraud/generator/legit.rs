//! Legit payments: first when (per card, with a daily rhythm and a minimum gap), then — once
//! the scenarios have cleared their quiet periods — where and how much.

use std::collections::BTreeSet;

use rand::Rng;
use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::seq::IndexedRandom;
use rand_distr::LogNormal;

use super::world::{CITIES, Card, Shop};
use super::{DAY_MS, Draft, HOUR_MS, MIN_GAP_MS};

/// Relative share of payments per hour of the day: few at night, peaks at lunch and evening.
const HOUR_WEIGHTS: [f64; 24] = [
    1.0, 0.6, 0.4, 0.3, 0.3, 0.5, 1.2, 2.5, 3.5, 4.0, 4.5, 5.0, 6.0, 5.5, 5.0, 4.8, 5.0, 5.5, 6.0,
    6.0, 5.0, 4.0, 3.0, 2.0,
];
/// Share of payments made in person (the rest online).
const CARD_PRESENT_SHARE: f64 = 0.75;

/// About `n` payment times (offsets from the start), per card: busier cards pay more, at
/// least [`MIN_GAP_MS`] apart, never while the holder is travelling between cities.
pub(super) fn times<R: Rng>(
    rng: &mut R,
    cards: &[Card],
    n: usize,
    days: i64,
) -> Result<Vec<Vec<i64>>, String> {
    let card_index =
        WeightedIndex::new(cards.iter().map(|c| c.weight)).map_err(|e| e.to_string())?;
    let hour_index = WeightedIndex::new(HOUR_WEIGHTS).map_err(|e| e.to_string())?;
    let mut per_card = vec![Vec::new(); cards.len()];
    for _ in 0..n {
        let card = card_index.sample(rng);
        let day = rng.random_range(0..days);
        let hour = hour_index.sample(rng) as i64;
        per_card[card].push(day * DAY_MS + hour * HOUR_MS + rng.random_range(0..HOUR_MS));
    }
    let end = days * DAY_MS;
    for (card, times) in cards.iter().zip(per_card.iter_mut()) {
        times.sort_unstable();
        let mut spaced: Vec<i64> = Vec::with_capacity(times.len());
        for &t in times.iter() {
            let t = match spaced.last() {
                Some(&last) if t < last + MIN_GAP_MS => {
                    last + MIN_GAP_MS + rng.random_range(0..5 * 60_000)
                }
                _ => t,
            };
            if t < end && !card.in_transit(t) {
                spaced.push(t);
            }
        }
        *times = spaced;
    }
    Ok(per_card)
}

/// Where each card pays: shops (not blocklisted) per city, and online merchants.
pub(super) struct Venues {
    by_city: Vec<Vec<usize>>,
    online: Vec<usize>,
}

impl Venues {
    /// The legit venues among `shops`.
    pub(super) fn of(shops: &[Shop]) -> Result<Venues, String> {
        let mut by_city = vec![Vec::new(); CITIES.len()];
        let mut online = Vec::new();
        for (i, shop) in shops.iter().enumerate() {
            match (shop.blocked, shop.online) {
                (Some(_), _) => {}
                (None, true) => online.push(i),
                (None, false) => by_city[shop.city].push(i),
            }
        }
        if online.is_empty() || by_city.iter().any(Vec::is_empty) {
            return Err(
                "too few merchants: every city needs a shop, and one must be online".into(),
            );
        }
        Ok(Venues { by_city, online })
    }

    /// A shop in `city`.
    pub(super) fn shop_in<R: Rng>(&self, rng: &mut R, city: usize) -> usize {
        *self.by_city[city].choose(rng).unwrap_or(&0)
    }

    /// An online merchant.
    pub(super) fn online<R: Rng>(&self, rng: &mut R) -> usize {
        *self.online.choose(rng).unwrap_or(&0)
    }
}

/// The legit payments at `times`: in person in the city the holder is in, or online; the
/// amount log-normal around the card's average, between $1 and 5x the average.
pub(super) fn payments<R: Rng>(
    rng: &mut R,
    cards: &[Card],
    shops: &[Shop],
    times: &[Vec<i64>],
) -> Result<Vec<Draft>, String> {
    let venues = Venues::of(shops)?;
    let mut drafts = Vec::new();
    for (i, (card, times)) in cards.iter().zip(times).enumerate() {
        let avg = card.profile.avg_amount_cents;
        let amount = LogNormal::new((avg as f64).ln(), 0.5).map_err(|e| e.to_string())?;
        for &t_ms in times {
            let shop = if rng.random_bool(CARD_PRESENT_SHARE) {
                venues.shop_in(rng, card.city_at(t_ms))
            } else {
                venues.online(rng)
            };
            drafts.push(Draft {
                card: i,
                shop,
                amount_cents: (amount.sample(rng) as u64).clamp(100, 5 * avg),
                t_ms,
                rules: BTreeSet::new(),
            });
        }
    }
    Ok(drafts)
}
