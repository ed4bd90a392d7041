//! The client group, read at scrape time from the instance's shared state:
//! `streams_client_state{state}` (Kafka Streams' `state` metric, one series per state, 1 for
//! the current one) and `streams_client_alive_stream_threads`.

use std::sync::{Mutex, Weak};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntGauge, IntGaugeVec, Opts};

use crate::Result;
use crate::runtime::State;
use crate::runtime::instance::InstanceShared;

/// Every state, in Kafka Streams' spelling (the `state` label).
const STATES: [State; 6] = [
    State::Created,
    State::Rebalancing,
    State::Running,
    State::PendingShutdown,
    State::NotRunning,
    State::Error,
];

/// The `state` label of `state`, as Kafka Streams names its `KafkaStreams.State`.
pub(crate) fn state_label(state: State) -> &'static str {
    match state {
        State::Created => "CREATED",
        State::Rebalancing => "REBALANCING",
        State::Running => "RUNNING",
        State::PendingShutdown => "PENDING_SHUTDOWN",
        State::NotRunning => "NOT_RUNNING",
        State::Error => "ERROR",
    }
}

/// The value of each state's series when the instance is in `current`: 1 for it, 0 for the
/// others, so that `streams_client_state == 1` selects the current state and every state has a
/// series to alert on.
pub(crate) fn state_values(current: State) -> [(&'static str, i64); STATES.len()] {
    STATES.map(|state| (state_label(state), i64::from(state == current)))
}

/// Reads the client's state and alive threads when scraped. It holds the instance weakly: a
/// registry that outlives the instance reports nothing for it.
pub(crate) struct ClientCollector {
    shared: Weak<InstanceShared>,
    /// Filled at each scrape (under the lock, so that concurrent scrapes do not mix).
    state: Mutex<(IntGaugeVec, IntGauge)>,
    descs: Vec<Desc>,
}

impl ClientCollector {
    pub(crate) fn new(application_id: &str, shared: Weak<InstanceShared>) -> Result<Self> {
        let opts = |name: &str, help: &str| {
            Opts::new(name, help)
                .namespace("streams")
                .subsystem("client")
                .const_label("application_id", application_id)
        };
        let error = |e: prometheus::Error| crate::Error::Config {
            key: "metrics registry".into(),
            reason: e.to_string(),
        };
        let state = IntGaugeVec::new(
            opts(
                "state",
                "1 for the instance's current state (label `state`), 0 for the others.",
            ),
            &["state"],
        )
        .map_err(error)?;
        let alive = IntGauge::with_opts(opts(
            "alive_stream_threads",
            "Stream threads that are running or starting (not stopped or failed).",
        ))
        .map_err(error)?;
        let descs = state
            .desc()
            .into_iter()
            .chain(alive.desc())
            .cloned()
            .collect();
        Ok(ClientCollector {
            shared,
            state: Mutex::new((state, alive)),
            descs,
        })
    }
}

impl Collector for ClientCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(shared) = self.shared.upgrade() else {
            return Vec::new();
        };
        let (current, alive_threads) = (shared.state(), shared.alive_stream_threads());
        drop(shared);
        let guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (state, alive) = &*guard;
        for (label, value) in state_values(current) {
            state.with_label_values(&[label]).set(value);
        }
        alive.set(i64::try_from(alive_threads).unwrap_or(i64::MAX));
        let mut families = state.collect();
        families.extend(alive.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_series_per_state_and_only_the_current_one_is_1() {
        for current in STATES {
            let values = state_values(current);
            assert_eq!(values.iter().filter(|(_, v)| *v == 1).count(), 1);
            assert!(values.contains(&(state_label(current), 1)));
        }
        assert_eq!(
            state_values(State::Running).map(|(label, _)| label),
            [
                "CREATED",
                "REBALANCING",
                "RUNNING",
                "PENDING_SHUTDOWN",
                "NOT_RUNNING",
                "ERROR"
            ]
        );
    }

    #[test]
    fn a_collector_of_a_dropped_instance_reports_nothing() {
        let shared = std::sync::Arc::new(InstanceShared::default());
        let collector =
            ClientCollector::new("app", std::sync::Arc::downgrade(&shared)).expect("collector");
        let families = collector.collect();
        let state = families
            .iter()
            .find(|f| f.name() == "streams_client_state")
            .expect("state family");
        let created = state
            .get_metric()
            .iter()
            .find(|m| m.get_label().iter().any(|l| l.value() == "CREATED"))
            .expect("CREATED series");
        assert_eq!(created.get_gauge().get_value(), 1.0);
        drop(shared);
        assert!(collector.collect().is_empty());
    }
}
