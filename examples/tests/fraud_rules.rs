//! The fraud example's rules through the `TopologyTestDriver`: each fires on a hand-written
//! case and stays silent on a near miss, and the alerts reach the `card-risk` table and the
//! per-merchant counts.

#[allow(dead_code)]
#[path = "../fraud/model.rs"]
mod model;
#[allow(dead_code)]
#[path = "../fraud/processors.rs"]
mod processors;
#[allow(dead_code)]
#[path = "../fraud/rules.rs"]
mod rules;
#[allow(dead_code)]
#[path = "../fraud/topology.rs"]
mod topology;

use model::{Alert, CardProfile, CardRisk, Rule, Transaction};
use rules::FraudConfig;
use streams_core::Result;
use streams_core::serde::Serdes;
use streams_core::testing::{TestInputTopic, TestOutputTopic, TopologyTestDriver};

/// 2024-03-01T00:00:00Z.
const T0: i64 = 1_709_251_200_000;
const SECOND: i64 = 1_000;
const MINUTE: i64 = 60 * SECOND;
const NEW_YORK: (f64, f64) = (40.7128, -74.0060);
const LOS_ANGELES: (f64, f64) = (34.0522, -118.2437);

struct Harness {
    driver: TopologyTestDriver,
    payments: TestInputTopic<String, Transaction>,
    blocklist: TestInputTopic<String, String>,
    alerts: TestOutputTopic<String, Alert>,
}

impl Harness {
    /// The topology with profiles for `card-1`…`card-3` (average $100; `card-3` with a $500
    /// limit, the others $2,000) and `m-bad` on the blocklist.
    fn new() -> Result<Harness> {
        let cfg = FraudConfig::default();
        let driver = TopologyTestDriver::new(topology::topology(&cfg)?)?;
        let profiles = driver.input_topic(
            &cfg.profiles_topic,
            Serdes::string(),
            Serdes::json::<CardProfile>(),
        );
        for (card, limit_cents) in [("card-1", 200_000), ("card-2", 200_000), ("card-3", 50_000)] {
            let profile = CardProfile {
                card: card.into(),
                home_lat: NEW_YORK.0,
                home_lon: NEW_YORK.1,
                avg_amount_cents: 10_000,
                limit_cents,
            };
            profiles.pipe_input(card.into(), profile, T0 - 1)?;
        }
        let blocklist =
            driver.input_topic(&cfg.blocklist_topic, Serdes::string(), Serdes::string());
        blocklist.pipe_input("m-bad".into(), "card-testing storefront".into(), T0 - 1)?;
        Ok(Harness {
            payments: driver.input_topic(
                &cfg.transactions_topic,
                Serdes::string(),
                Serdes::json::<Transaction>(),
            ),
            alerts: driver.output_topic(
                &cfg.alerts_topic,
                Serdes::string(),
                Serdes::json::<Alert>(),
            ),
            blocklist,
            driver,
        })
    }

    fn pay(&self, txn: Transaction) -> Result<()> {
        self.payments
            .pipe_input(txn.card.clone(), txn.clone(), txn.timestamp_ms)
    }

    /// The alerts written since the last call, as `(transaction, rule)`; checks their keys.
    fn alerts(&self) -> Result<Vec<(String, Rule)>> {
        Ok(self
            .alerts
            .read_records()?
            .into_iter()
            .map(|r| {
                assert_eq!(r.key, r.value.card, "alerts are keyed by card");
                (r.value.transaction, r.value.rule)
            })
            .collect())
    }
}

/// An online $20 payment of `card` at `m-good` at `t`.
fn payment(id: &str, card: &str, t: i64) -> Transaction {
    Transaction {
        id: id.into(),
        card: card.into(),
        merchant: "m-good".into(),
        amount_cents: 2_000,
        timestamp_ms: t,
        lat: NEW_YORK.0,
        lon: NEW_YORK.1,
        card_present: false,
    }
}

fn amount(txn: Transaction, amount_cents: u64) -> Transaction {
    Transaction {
        amount_cents,
        ..txn
    }
}

fn present_at(txn: Transaction, (lat, lon): (f64, f64)) -> Transaction {
    Transaction {
        lat,
        lon,
        card_present: true,
        ..txn
    }
}

fn alert(id: &str, rule: Rule) -> (String, Rule) {
    (id.to_string(), rule)
}

#[test]
fn velocity_alerts_on_each_payment_past_seven_in_two_minutes() -> Result<()> {
    let h = Harness::new()?;
    // Near miss: 7 payments in a minute, the 8th just over 2 minutes after the first.
    for i in 0..7 {
        h.pay(payment(&format!("a{i}"), "card-1", T0 + i * 10 * SECOND))?;
    }
    h.pay(payment("a7", "card-1", T0 + 2 * MINUTE + 1))?;
    assert_eq!(h.alerts()?, vec![]);
    // A burst on another card: the 8th and 9th within 2 minutes alert, each once.
    let start = T0 + 10 * MINUTE;
    for i in 0..9 {
        h.pay(payment(&format!("b{i}"), "card-2", start + i * 10 * SECOND))?;
    }
    assert_eq!(
        h.alerts()?,
        vec![alert("b7", Rule::Velocity), alert("b8", Rule::Velocity)]
    );
    Ok(())
}

#[test]
fn small_then_large_alerts_on_the_large_payment_within_a_minute() -> Result<()> {
    let h = Harness::new()?;
    // Two test charges, then $600: one alert despite two matching pairs.
    h.pay(amount(payment("s1", "card-1", T0), 50))?;
    h.pay(amount(payment("s2", "card-1", T0 + 5 * SECOND), 99))?;
    h.pay(amount(payment("large", "card-1", T0 + 40 * SECOND), 60_000))?;
    assert_eq!(h.alerts()?, vec![alert("large", Rule::SmallThenLarge)]);
    // Near misses: the large one 61 s after the small one; a large one before a small one;
    // $1.00 is not small.
    let t = T0 + 10 * MINUTE;
    h.pay(amount(payment("s3", "card-2", t), 50))?;
    h.pay(amount(payment("late", "card-2", t + 61 * SECOND), 60_000))?;
    h.pay(amount(payment("first", "card-2", t + 20 * MINUTE), 60_000))?;
    h.pay(amount(
        payment("s4", "card-2", t + 20 * MINUTE + SECOND),
        50,
    ))?;
    h.pay(amount(payment("dollar", "card-2", t + 40 * MINUTE), 100))?;
    h.pay(amount(
        payment("after", "card-2", t + 40 * MINUTE + SECOND),
        60_000,
    ))?;
    assert_eq!(h.alerts()?, vec![]);
    Ok(())
}

#[test]
fn impossible_travel_alerts_on_a_hop_faster_than_a_jet() -> Result<()> {
    let h = Harness::new()?;
    h.pay(present_at(payment("ny", "card-1", T0), NEW_YORK))?;
    // Online payments do not place the card.
    h.pay(Transaction {
        lat: LOS_ANGELES.0,
        lon: LOS_ANGELES.1,
        ..payment("web", "card-1", T0 + MINUTE)
    })?;
    h.pay(present_at(
        payment("la", "card-1", T0 + 30 * MINUTE),
        LOS_ANGELES,
    ))?;
    assert_eq!(h.alerts()?, vec![alert("la", Rule::ImpossibleTravel)]);
    // Near miss: the same ~3,940 km in 4.5 h is ~875 km/h, a flight.
    h.pay(present_at(payment("ny2", "card-2", T0), NEW_YORK))?;
    h.pay(present_at(
        payment("la2", "card-2", T0 + 270 * MINUTE),
        LOS_ANGELES,
    ))?;
    assert_eq!(h.alerts()?, vec![]);
    Ok(())
}

#[test]
fn spend_alerts_above_ten_averages_or_the_limit() -> Result<()> {
    let h = Harness::new()?;
    h.pay(amount(payment("ten", "card-1", T0), 100_000))?;
    h.pay(amount(payment("more", "card-1", T0 + MINUTE), 100_001))?;
    h.pay(amount(payment("limit", "card-3", T0), 50_000))?;
    h.pay(amount(payment("over", "card-3", T0 + MINUTE), 50_001))?;
    // No profile, no join: nothing to compare with.
    h.pay(amount(payment("unknown", "card-9", T0), 10_000_000))?;
    assert_eq!(
        h.alerts()?,
        vec![
            alert("more", Rule::SpendVsProfile),
            alert("over", Rule::SpendVsProfile)
        ]
    );
    Ok(())
}

#[test]
fn risky_merchant_alerts_on_blocklisted_merchants_as_the_list_changes() -> Result<()> {
    let h = Harness::new()?;
    h.pay(Transaction {
        merchant: "m-bad".into(),
        ..payment("bad", "card-1", T0)
    })?;
    h.pay(Transaction {
        merchant: "m-later".into(),
        ..payment("not-yet", "card-1", T0 + MINUTE)
    })?;
    assert_eq!(h.alerts()?, vec![alert("bad", Rule::RiskyMerchant)]);
    h.blocklist
        .pipe_input("m-later".into(), "reported".into(), T0 + 2 * MINUTE)?;
    h.pay(Transaction {
        merchant: "m-later".into(),
        ..payment("now", "card-1", T0 + 3 * MINUTE)
    })?;
    assert_eq!(h.alerts()?, vec![alert("now", Rule::RiskyMerchant)]);
    Ok(())
}

#[test]
fn alerts_feed_card_risk_and_merchant_counts() -> Result<()> {
    let h = Harness::new()?;
    let bad = |id: &str, t| Transaction {
        merchant: "m-bad".into(),
        ..payment(id, "card-1", t)
    };
    h.pay(bad("x1", T0))?;
    h.pay(amount(bad("x2", T0 + MINUTE), 200_000))?;
    assert_eq!(
        h.alerts()?.len(),
        3,
        "two risky-merchant alerts, one spend alert"
    );
    let risk = h
        .driver
        .key_value_store::<String, CardRisk>(topology::CARD_RISK_STORE)?
        .get(&"card-1".to_string())?
        .expect("card-1 has a risk");
    assert_eq!(risk.alerts, 3);
    assert!(risk.score > 0.9, "{risk:?}");
    let counts = h
        .driver
        .window_store::<String, (u64, i64)>(topology::MERCHANT_ALERTS_STORE)?
        .fetch(&"m-bad".to_string(), T0 - 3_600_000, T0 + 3_600_000)?;
    let total: u64 = counts.iter().map(|(_, (count, _))| count).sum();
    assert_eq!(total, 3);
    Ok(())
}
