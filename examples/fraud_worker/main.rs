//! The fraud-detection app as a deployable worker: the same topology as the `fraud` demo, on
//! fixed topic names (`transactions`, `card-profiles`, `merchant-blocklist`, `alerts`), made a
//! binary by `#[streams_core::main]` with `run`, `describe` and `reset`, configuration from
//! flags, `STREAMS_*` variables and a properties file, and the HTTP server answering the
//! `card-risk` table and the `merchant-alerts` windowed counts.
//!
//! ```text
//! fraud-worker run --bootstrap-servers kafka:9092 --http-addr 0.0.0.0:8080 \
//!     --application-server worker-1:8080 --state-dir /var/lib/fraud
//! fraud-worker describe --format mermaid
//! ```

// The demo's modules; the worker uses the topology and its records, not the generator.
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

use model::CardRisk;
use streams_core::{StreamsConfig, Topology};

#[streams_core::main(
    application_id = "fraud-detection",
    key_value("card-risk", String, CardRisk),
    window("merchant-alerts", String, u64)
)]
fn fraud_topology(config: &StreamsConfig) -> streams_core::Result<Topology> {
    topology::topology_with(&rules::FraudConfig::with_prefix(""), config)
}
