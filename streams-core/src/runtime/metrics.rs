//! Counters of an application instance, registered in a user-supplied prometheus registry.

use prometheus::{IntCounter, Opts, Registry};

use crate::{Error, Result};

/// The instance's counters. Cheap to bump from the record loop (one relaxed atomic add).
#[derive(Debug, Clone)]
pub(crate) struct StreamsMetrics {
    pub(crate) processed: IntCounter,
    pub(crate) skipped: IntCounter,
    pub(crate) commits: IntCounter,
    pub(crate) restored: IntCounter,
}

fn counter(app_id: &str, name: &str, help: &str) -> Result<IntCounter> {
    let opts = Opts::new(name, help)
        .namespace("streams")
        .const_label("application_id", app_id);
    IntCounter::with_opts(opts).map_err(|e| Error::Config {
        key: "application.id".into(),
        reason: format!("cannot label metrics with it: {e}"),
    })
}

impl StreamsMetrics {
    pub(crate) fn new(app_id: &str) -> Result<Self> {
        Ok(StreamsMetrics {
            processed: counter(
                app_id,
                "records_processed_total",
                "Records processed by source nodes.",
            )?,
            skipped: counter(
                app_id,
                "records_skipped_total",
                "Records dropped by policy: undeserializable input, null keys in aggregations.",
            )?,
            commits: counter(app_id, "commits_total", "Commits of offsets and state.")?,
            restored: counter(
                app_id,
                "records_restored_total",
                "Changelog records restored into stores.",
            )?,
        })
    }

    pub(crate) fn register(&self, registry: &Registry) -> Result<()> {
        for c in [
            &self.processed,
            &self.skipped,
            &self.commits,
            &self.restored,
        ] {
            registry
                .register(Box::new(c.clone()))
                .map_err(|e| Error::Config {
                    key: "metrics registry".into(),
                    reason: e.to_string(),
                })?;
        }
        Ok(())
    }

    pub(crate) fn record_skipped(&self) {
        self.skipped.inc();
    }
}
