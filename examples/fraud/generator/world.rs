//! The simulated world: cities, cards (holders at home, some on a trip) and merchants (shops
//! in cities, online businesses, and a few blocklisted ones that legit holders never use).

use rand::Rng;
use rand::distr::Distribution;
use rand_distr::LogNormal;

use super::{DAY_MS, HOUR_MS};
use crate::model::{CardProfile, Merchant};

/// A city: where holders live and shops are.
#[derive(Debug, Clone, Copy)]
pub(crate) struct City {
    /// Latitude of its centre.
    pub(crate) lat: f64,
    /// Longitude of its centre.
    pub(crate) lon: f64,
}

/// US cities: the farthest pair (Seattle–Miami) is about 4,400 km apart, so any hop between
/// them over [`super::QUIET_MS`] is slower than a jet and never looks impossible.
pub(crate) const CITIES: [City; 8] = [
    // New York
    City {
        lat: 40.7128,
        lon: -74.0060,
    },
    // Los Angeles
    City {
        lat: 34.0522,
        lon: -118.2437,
    },
    // Chicago
    City {
        lat: 41.8781,
        lon: -87.6298,
    },
    // Houston
    City {
        lat: 29.7604,
        lon: -95.3698,
    },
    // Seattle
    City {
        lat: 47.6062,
        lon: -122.3321,
    },
    // Miami
    City {
        lat: 25.7617,
        lon: -80.1918,
    },
    // Denver
    City {
        lat: 39.7392,
        lon: -104.9903,
    },
    // Boston
    City {
        lat: 42.3601,
        lon: -71.0589,
    },
];

const SHOP_CATEGORIES: [&str; 6] = [
    "grocery",
    "restaurant",
    "fuel",
    "electronics",
    "clothing",
    "pharmacy",
];
const ONLINE_CATEGORIES: [&str; 3] = ["online_retail", "streaming", "marketplace"];
const BLOCKED: [(&str, &str); 3] = [
    ("crypto_exchange", "chargebacks from a mule network"),
    ("gift_cards", "card-testing storefront"),
    ("offshore_gaming", "unlicensed, reported by the card scheme"),
];

/// A trip away from home: card-present payments happen in `city` from `start_ms` to
/// `end_ms` (offsets from the start of the simulation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Trip {
    /// Index into [`CITIES`].
    pub(crate) city: usize,
    /// When the holder arrives.
    pub(crate) start_ms: i64,
    /// When the holder is back home.
    pub(crate) end_ms: i64,
}

/// A card, its holder's habits and the profile the issuer publishes.
#[derive(Debug, Clone)]
pub(crate) struct Card {
    /// The published profile.
    pub(crate) profile: CardProfile,
    /// Index into [`CITIES`] of the holder's home.
    pub(crate) home: usize,
    /// How busy the card is, relative to others.
    pub(crate) weight: f64,
    /// A trip, if the holder takes one.
    pub(crate) trip: Option<Trip>,
}

impl Card {
    /// The city the holder is in at `t_ms` (offset from the start).
    pub(crate) fn city_at(&self, t_ms: i64) -> usize {
        match self.trip {
            Some(trip) if (trip.start_ms..trip.end_ms).contains(&t_ms) => trip.city,
            _ => self.home,
        }
    }

    /// Whether `t_ms` is while the holder travels between cities (no payments then).
    pub(crate) fn in_transit(&self, t_ms: i64) -> bool {
        self.trip.is_some_and(|trip| {
            [trip.start_ms, trip.end_ms]
                .iter()
                .any(|edge| (t_ms - edge).abs() < 4 * HOUR_MS)
        })
    }
}

/// A merchant and how payments reach it.
#[derive(Debug, Clone)]
pub(crate) struct Shop {
    /// The published merchant.
    pub(crate) merchant: Merchant,
    /// Index into [`CITIES`] of where it is (its seat, if online).
    pub(crate) city: usize,
    /// Sells online only: its payments are card-not-present.
    pub(crate) online: bool,
    /// On the blocklist (with the reason): legit holders never pay there.
    pub(crate) blocked: Option<&'static str>,
}

/// A point within about `km` of a city's centre.
fn near<R: Rng>(rng: &mut R, city: City, km: f64) -> (f64, f64) {
    let dlat = km / 111.0;
    let dlon = km / (111.0 * city.lat.to_radians().cos());
    (
        city.lat + rng.random_range(-dlat..dlat),
        city.lon + rng.random_range(-dlon..dlon),
    )
}

/// `n` cards, homes spread over the cities, trips for some, over `days` days.
pub(crate) fn cards<R: Rng>(rng: &mut R, n: usize, days: i64) -> Result<Vec<Card>, String> {
    // Typical payment: median $45, most between $15 and $150.
    let avg = LogNormal::new(4_500f64.ln(), 0.6).map_err(|e| e.to_string())?;
    let busy = LogNormal::new(0.0, 0.5).map_err(|e| e.to_string())?;
    let mut cards = Vec::with_capacity(n);
    for i in 0..n {
        let home = rng.random_range(0..CITIES.len());
        let (home_lat, home_lon) = near(rng, CITIES[home], 10.0);
        let avg_amount_cents = (avg.sample(rng) as u64).clamp(800, 40_000);
        // Limits well above what the holder spends (20–60x the average, whole dollars), so
        // the average rule, not the limit, is what legit spending stays under.
        let limit_cents = (avg_amount_cents * rng.random_range(20..=60)).div_ceil(100) * 100;
        let trip = (days >= 6 && rng.random_bool(0.15)).then(|| {
            let mut city = rng.random_range(0..CITIES.len() - 1);
            if city >= home {
                city += 1;
            }
            let start_ms = rng.random_range(DAY_MS..(days - 4) * DAY_MS);
            let end_ms = start_ms + rng.random_range(2 * DAY_MS..4 * DAY_MS);
            Trip {
                city,
                start_ms,
                end_ms,
            }
        });
        cards.push(Card {
            profile: CardProfile {
                card: format!("card-{i:05}"),
                home_lat,
                home_lon,
                avg_amount_cents,
                limit_cents,
            },
            home,
            weight: busy.sample(rng),
            trip,
        });
    }
    Ok(cards)
}

/// `n` merchants: shops in every city, online businesses, and `blocked` blocklisted ones
/// (online, the last ones).
pub(crate) fn shops<R: Rng>(rng: &mut R, n: usize, blocked: usize) -> Vec<Shop> {
    let legit = n.saturating_sub(blocked).max(2 * CITIES.len());
    let mut shops = Vec::with_capacity(legit + blocked);
    for i in 0..legit + blocked {
        let id = format!("m-{i:04}");
        let city = i % CITIES.len();
        let (lat, lon) = near(rng, CITIES[city], 15.0);
        let (category, online, reason) = if i >= legit {
            let (category, reason) = BLOCKED[(i - legit) % BLOCKED.len()];
            (category, true, Some(reason))
        } else if i < CITIES.len() || (i > CITIES.len() && rng.random_bool(0.8)) {
            // The first of each city is a shop, so every city has one; the next is online,
            // so there is always one.
            (
                SHOP_CATEGORIES[rng.random_range(0..SHOP_CATEGORIES.len())],
                false,
                None,
            )
        } else {
            (
                ONLINE_CATEGORIES[rng.random_range(0..ONLINE_CATEGORIES.len())],
                true,
                None,
            )
        };
        shops.push(Shop {
            merchant: Merchant {
                id,
                lat,
                lon,
                category: category.to_string(),
            },
            city,
            online,
            blocked: reason,
        });
    }
    shops
}
