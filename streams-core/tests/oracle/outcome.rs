//! What a run produced: every record of each output topic, the named stores' entries and an
//! error, if a step failed. Both sides' runs end up here, so they compare with `==`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use streams_core::StreamsConfig;
use streams_core::serde::Serdes;
use streams_core::testing::TopologyTestDriver;

use super::registry::{Def, ValueKind};
use super::scenario::{Scenario, Step};

/// An output record as bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rec {
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) ts: i64,
}

/// A run's result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Outcome {
    pub(crate) outputs: BTreeMap<String, Vec<Rec>>,
    pub(crate) stores: BTreeMap<String, Vec<String>>,
    pub(crate) error: Option<String>,
}

impl Outcome {
    /// Whether two runs agree: the same records in the same order on each output topic, the
    /// same store contents, and either both or neither failed (the messages differ between
    /// the two implementations).
    pub(crate) fn agrees_with(&self, other: &Outcome) -> bool {
        self.outputs == other.outputs
            && self.stores == other.stores
            && self.error.is_some() == other.error.is_some()
    }

    /// Leaves out of the comparison what an exclusion says not to compare (the stores named).
    pub(crate) fn without_stores(mut self, stores: &[&str]) -> Outcome {
        self.stores
            .retain(|name, _| !stores.contains(&name.as_str()));
        self
    }

    /// Reads the JVM's answer.
    pub(crate) fn from_jvm(answer: &Value) -> Result<Outcome, String> {
        let bytes = |v: &Value| -> Result<Option<Vec<u8>>, String> {
            match v {
                Value::Null => Ok(None),
                Value::String(hex) => (0..hex.len())
                    .step_by(2)
                    .map(|i| {
                        hex.get(i..i + 2)
                            .and_then(|b| u8::from_str_radix(b, 16).ok())
                            .ok_or_else(|| format!("bad hex `{hex}`"))
                    })
                    .collect::<Result<Vec<u8>, String>>()
                    .map(Some),
                other => Err(format!("expected hex or null, got {other}")),
            }
        };
        let mut outcome = Outcome::default();
        for (topic, records) in answer["outputs"].as_object().ok_or("no outputs")? {
            let mut list = Vec::new();
            for r in records.as_array().ok_or("outputs are not lists")? {
                list.push(Rec {
                    key: bytes(&r["key"])?,
                    value: bytes(&r["value"])?,
                    ts: r["ts"].as_i64().ok_or("no ts")?,
                });
            }
            outcome.outputs.insert(topic.clone(), list);
        }
        for (store, lines) in answer["stores"].as_object().ok_or("no stores")? {
            let lines = lines
                .as_array()
                .ok_or("stores are not lists")?
                .iter()
                .map(|l| l.as_str().unwrap_or_default().to_string())
                .collect();
            outcome.stores.insert(store.clone(), lines);
        }
        outcome.error = answer["error"].as_str().map(str::to_string);
        Ok(outcome)
    }

    /// Runs `scenario` through our TopologyTestDriver.
    pub(crate) fn from_rust(def: &Def, scenario: &Scenario) -> Outcome {
        let mut outcome = Outcome::default();
        let config = driver_config(def, scenario);
        let topology = match (def.build)(&config) {
            Ok(topology) => topology,
            Err(e) => {
                outcome.error = Some(format!("build: {e}"));
                return outcome;
            }
        };
        let driver = match TopologyTestDriver::with_config(topology, &config) {
            Ok(driver) => driver,
            Err(e) => {
                outcome.error = Some(format!("driver: {e}"));
                return outcome;
            }
        };
        let bytes = || Serdes::nullable(Serdes::bytes());
        for step in &scenario.steps {
            let result = match step {
                Step::Pipe {
                    topic,
                    key,
                    value,
                    ts,
                } => driver.input_topic(topic, bytes(), bytes()).pipe_raw(
                    key.as_ref().map(String::as_bytes),
                    value.as_ref().map(String::as_bytes),
                    *ts,
                ),
                Step::Advance(ms) => driver.advance_wall_clock_time(Duration::from_millis(
                    u64::try_from(*ms).unwrap_or(0),
                )),
            };
            if let Err(e) = result {
                outcome.error = Some(e.to_string());
                break;
            }
        }
        for (topic, _) in &def.outputs {
            let records = match driver.output_topic(topic, bytes(), bytes()).read_records() {
                Ok(records) => records,
                Err(e) => {
                    outcome.error.get_or_insert(format!("reading {topic}: {e}"));
                    Vec::new()
                }
            };
            let list = records
                .into_iter()
                .map(|r| Rec {
                    key: r.key,
                    value: r.value,
                    ts: r.timestamp,
                })
                .collect();
            outcome.outputs.insert(topic.to_string(), list);
        }
        for store in &def.stores {
            let mut lines =
                (store.dump)(&driver, store.name).unwrap_or_else(|e| vec![format!("error: {e}")]);
            lines.sort();
            outcome.stores.insert(store.name.to_string(), lines);
        }
        outcome
    }

    /// The outcome as text, values decoded per the topology's output kinds.
    pub(crate) fn render(&self, def: &Def) -> String {
        let mut text = String::new();
        for (topic, records) in &self.outputs {
            let kind = def
                .outputs
                .iter()
                .find(|(t, _)| t == topic)
                .map_or(ValueKind::Str, |(_, k)| *k);
            text.push_str(&format!("  {topic}:\n"));
            for r in records {
                text.push_str(&format!(
                    "    {} -> {} @{}\n",
                    show_bytes(r.key.as_deref(), ValueKind::Str),
                    show_bytes(r.value.as_deref(), kind),
                    r.ts
                ));
            }
        }
        for (store, lines) in &self.stores {
            text.push_str(&format!("  store {store}: {lines:?}\n"));
        }
        if let Some(error) = &self.error {
            text.push_str(&format!("  error: {error}\n"));
        }
        text
    }
}

/// The configuration our driver and topology get for `scenario` of `def`.
pub(crate) fn driver_config(def: &Def, scenario: &Scenario) -> StreamsConfig {
    let mut config = StreamsConfig::new();
    config.set("application.id", "oracle");
    for (k, v) in scenario
        .config()
        .into_iter()
        .chain(def.config.iter().copied())
    {
        config.set(k, v);
    }
    config
}

fn show_bytes(bytes: Option<&[u8]>, kind: ValueKind) -> String {
    match (bytes, kind) {
        (None, _) => "null".to_string(),
        (Some(b), ValueKind::Long) if b.len() == 8 => {
            let mut be = [0u8; 8];
            be.copy_from_slice(b);
            i64::from_be_bytes(be).to_string()
        }
        (Some(b), _) => match std::str::from_utf8(b) {
            Ok(s) => format!("{s:?}"),
            Err(_) => format!("{b:02x?}"),
        },
    }
}
