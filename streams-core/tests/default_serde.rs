//! `#[derive(DefaultSerde)]`: types that carry their serde format, so `Consumed`, `Produced`
//! and `Materialized` need no serde arguments for them.

use serde::{Deserialize, Serialize};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::serde::{DefaultSerde, Serdes};
use streams_core::testing::TopologyTestDriver;
use streams_core::{Error, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DefaultSerde)]
#[default_serde(format = "json")]
struct Payment {
    card: String,
    cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, DefaultSerde)]
#[default_serde(format = "bincode")]
struct Flagged {
    card: String,
    cents: u64,
    reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NoDefault(u64);

#[test]
fn derived_types_need_no_serde_arguments_anywhere() -> Result<()> {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, Payment>("payments", Consumed::default())
        .filter(|_, p| p.cents > 100_000)
        // The output type is only known here: its serde is found by type.
        .map_values(|p: Payment| Flagged {
            card: p.card,
            cents: p.cents,
            reason: "large".into(),
        })
        .to("flagged");
    builder
        .stream::<String, Payment>("payments-2", Consumed::default())
        .map_values(|p: Payment| p)
        .group_by_key()
        .reduce(
            |a: Payment, b: Payment| Payment {
                card: a.card,
                cents: a.cents + b.cents,
            },
            Materialized::as_("totals"),
        );
    let driver = TopologyTestDriver::new(builder.build()?)?;
    let payments = driver.input_topic("payments", Serdes::string(), Payment::default_serde());
    payments.pipe_input(
        "c1".into(),
        Payment {
            card: "c1".into(),
            cents: 500,
        },
        1,
    )?;
    payments.pipe_input(
        "c2".into(),
        Payment {
            card: "c2".into(),
            cents: 250_000,
        },
        2,
    )?;
    // The input was JSON: the format the derive chose.
    let raw = driver.input_topic("payments", Serdes::string(), Serdes::bytes());
    raw.pipe_input("c3".into(), br#"{"card":"c3","cents":900000}"#.to_vec(), 3)?;
    let out = driver.output_topic("flagged", Serdes::string(), Serdes::bytes());
    let records = out.read_key_values()?;
    assert_eq!(records.len(), 2);
    // The output is bincode, Flagged's format.
    let bincode = Serdes::bincode::<Flagged>();
    assert_eq!(
        bincode
            .deserialize(&records[0].1)
            .map_err(|source| Error::StoreSerde {
                store: "flagged".into(),
                source
            })?,
        Flagged {
            card: "c2".into(),
            cents: 250_000,
            reason: "large".into()
        }
    );
    assert!(
        Serdes::json::<Flagged>()
            .deserialize(&records[1].1)
            .is_err()
    );

    let totals = driver.input_topic("payments-2", Serdes::string(), Payment::default_serde());
    totals.pipe_input(
        "c1".into(),
        Payment {
            card: "c1".into(),
            cents: 5,
        },
        1,
    )?;
    totals.pipe_input(
        "c1".into(),
        Payment {
            card: "c1".into(),
            cents: 7,
        },
        2,
    )?;
    let store = driver.key_value_store::<String, Payment>("totals")?;
    assert_eq!(store.get(&"c1".to_string())?.map(|p| p.cents), Some(12));
    Ok(())
}

#[test]
fn a_type_without_a_default_serde_is_a_clear_build_error() {
    let builder = StreamsBuilder::new();
    builder
        .stream::<String, Payment>("payments", Consumed::default())
        .map_values(|p: Payment| NoDefault(p.cents))
        .to("out");
    let error = builder
        .build()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("NoDefault"), "{error}");
}
