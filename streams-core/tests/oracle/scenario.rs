//! Scenarios: what is piped into a topology, step by step, and how they are generated.
//!
//! A scenario is a list of steps: a record piped into an input topic (key and value may be
//! null, the timestamp is in ms) or an advance of the driver's wall clock. The generator walks a
//! "stream time" cursor forward and draws each record's timestamp around it: mostly in order or
//! equal, sometimes a little out of order (within the topologies' grace periods), sometimes late
//! (past them), sometimes far ahead (a burst past grace that closes windows); it also repeats
//! the previous record exactly (duplicates) and advances the wall clock (punctuation). Keys come
//! from a four-letter alphabet so that records meet; values are one to three letters of it.

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Value, json};

/// One thing the driver is told to do.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Step {
    /// A record into `topic`.
    Pipe {
        topic: String,
        key: Option<String>,
        value: Option<String>,
        ts: i64,
    },
    /// The wall clock moves forward by this many ms.
    Advance(i64),
}

/// A topology's run: its steps and the driver's configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scenario {
    pub(crate) topology: String,
    /// `statestore.cache.max.bytes` > 0.
    pub(crate) caching: bool,
    pub(crate) steps: Vec<Step>,
}

/// The record cache size with caching on (Kafka's default, 10 MiB).
const CACHE_BYTES: &str = "10485760";

impl Scenario {
    /// The driver configuration both sides run with.
    pub(crate) fn config(&self) -> Vec<(&'static str, &'static str)> {
        vec![(
            "statestore.cache.max.bytes",
            if self.caching { CACHE_BYTES } else { "0" },
        )]
    }

    /// Human-readable JSON, as printed on a mismatch and read back by
    /// `STREAMS_ORACLE_REPLAY`.
    pub(crate) fn to_json(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|step| match step {
                Step::Pipe {
                    topic,
                    key,
                    value,
                    ts,
                } => json!({"topic": topic, "key": key, "value": value, "ts": ts}),
                Step::Advance(ms) => json!({ "advance": ms }),
            })
            .collect();
        json!({"topology": self.topology, "caching": self.caching, "steps": steps})
    }

    /// Reads what [`to_json`](Self::to_json) wrote.
    pub(crate) fn from_json(value: &Value) -> Result<Scenario, String> {
        let text = |v: &Value| -> Result<Option<String>, String> {
            match v {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s.clone())),
                other => Err(format!("expected a string or null, got {other}")),
            }
        };
        let mut steps = Vec::new();
        for step in value["steps"].as_array().ok_or("no steps")? {
            if let Some(ms) = step.get("advance") {
                steps.push(Step::Advance(ms.as_i64().ok_or("advance is not a number")?));
            } else {
                steps.push(Step::Pipe {
                    topic: step["topic"].as_str().ok_or("no topic")?.to_string(),
                    key: text(&step["key"])?,
                    value: text(&step["value"])?,
                    ts: step["ts"].as_i64().ok_or("no ts")?,
                });
            }
        }
        Ok(Scenario {
            topology: value["topology"].as_str().ok_or("no topology")?.to_string(),
            caching: value["caching"].as_bool().unwrap_or(false),
            steps,
        })
    }

    /// The request line for the JVM (keys and values as hex bytes), with the topology's own
    /// `config` besides the scenario's.
    pub(crate) fn request(
        &self,
        id: u64,
        config: &[(&str, &str)],
        outputs: &[&str],
        stores: &[&str],
    ) -> String {
        let hex = |s: &Option<String>| -> Value {
            s.as_ref().map_or(Value::Null, |s| {
                Value::String(s.bytes().map(|b| format!("{b:02x}")).collect())
            })
        };
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|step| match step {
                Step::Pipe {
                    topic,
                    key,
                    value,
                    ts,
                } => json!({"topic": topic, "key": hex(key), "value": hex(value), "ts": ts}),
                Step::Advance(ms) => json!({ "advance": ms }),
            })
            .collect();
        let config: serde_json::Map<String, Value> = self
            .config()
            .into_iter()
            .chain(config.iter().copied())
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect();
        json!({
            "id": id,
            "topology": self.topology,
            "config": config,
            "outputs": outputs,
            "stores": stores,
            "steps": steps,
        })
        .to_string()
    }
}

/// What the generator may produce for one topology.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    /// Input topics of streams (and of global tables).
    pub(crate) streams: Vec<&'static str>,
    /// Input topics of tables: a null value is a tombstone.
    pub(crate) tables: Vec<&'static str>,
    /// Whether stream records may have null values.
    pub(crate) null_values: bool,
    /// Whether records may have null keys.
    pub(crate) null_keys: bool,
    /// Whether a table record may repeat the key and timestamp of an earlier one.
    pub(crate) same_timestamp_table_updates: bool,
}

/// How a step is drawn before timestamps are laid out.
#[derive(Debug, Clone)]
enum Draw {
    Pipe {
        topic: &'static str,
        key: Option<&'static str>,
        value: Option<String>,
        /// Offset from the stream-time cursor.
        delta: i64,
    },
    Duplicate,
    Advance(i64),
}

const KEYS: [&str; 4] = ["a", "b", "c", "d"];

fn delta() -> impl Strategy<Value = i64> {
    prop_oneof![
        10 => 0i64..=4,   // in order, or at the same time
        3 => -6i64..=-1,  // out of order, mostly within grace
        1 => -40i64..=-7, // late: past grace
        1 => 15i64..=60,  // a burst ahead: closes windows
    ]
}

fn draw(shape: &Shape) -> impl Strategy<Value = Draw> + use<> {
    let topics: Vec<(&'static str, bool)> = shape
        .streams
        .iter()
        .map(|t| (*t, false))
        .chain(shape.tables.iter().map(|t| (*t, true)))
        .collect();
    let null_key_weight = u32::from(shape.null_keys);
    let null_values = shape.null_values;
    let key = prop_oneof![
        8 => select(&KEYS[..]).prop_map(Some),
        null_key_weight => Just(None),
    ];
    let value = "[abcd]{1,3}";
    let pipe = (select(topics), key, value, any::<u8>(), delta()).prop_map(
        move |((topic, table), key, value, coin, delta)| {
            // Tombstones for tables; null values for streams only where allowed.
            let null = if table {
                coin % 4 == 0
            } else {
                null_values && coin % 8 == 0
            };
            Draw::Pipe {
                topic,
                key,
                value: (!null).then_some(value),
                delta,
            }
        },
    );
    prop_oneof![
        12 => pipe,
        1 => Just(Draw::Duplicate),
        1 => select(&[1i64, 3, 10, 25, 100][..]).prop_map(Draw::Advance),
    ]
}

/// Scenarios for a topology of `shape`.
pub(crate) fn steps(shape: &Shape) -> impl Strategy<Value = Vec<Step>> + use<> {
    let tables = shape.tables.clone();
    let repeats = shape.same_timestamp_table_updates;
    proptest::collection::vec(draw(shape), 1..=30).prop_map(move |draws| {
        let steps = lay_out(draws);
        if repeats {
            steps
        } else {
            without_same_timestamp_table_updates(steps, &tables)
        }
    })
}

/// Drops each table record whose topic, key and timestamp an earlier record had.
fn without_same_timestamp_table_updates(steps: Vec<Step>, tables: &[&str]) -> Vec<Step> {
    let mut seen = std::collections::HashSet::new();
    steps
        .into_iter()
        .filter(|step| match step {
            Step::Pipe { topic, key, ts, .. } if tables.contains(&topic.as_str()) => {
                seen.insert((topic.clone(), key.clone(), *ts))
            }
            _ => true,
        })
        .collect()
}

/// Turns draws into steps: timestamps around a cursor that only moves forward.
fn lay_out(draws: Vec<Draw>) -> Vec<Step> {
    let mut cursor = 0i64;
    let mut last: Option<Step> = None;
    let mut steps = Vec::with_capacity(draws.len());
    for draw in draws {
        let step = match draw {
            Draw::Pipe {
                topic,
                key,
                value,
                delta,
            } => {
                let ts = (cursor + delta).max(0);
                cursor = cursor.max(ts);
                Step::Pipe {
                    topic: topic.to_string(),
                    key: key.map(str::to_string),
                    value,
                    ts,
                }
            }
            Draw::Duplicate => match &last {
                Some(previous) => previous.clone(),
                None => continue,
            },
            Draw::Advance(ms) => Step::Advance(ms),
        };
        if matches!(step, Step::Pipe { .. }) {
            last = Some(step.clone());
        }
        steps.push(step);
    }
    steps
}
