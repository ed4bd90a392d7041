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
    pub(crate) deserialization_errors: IntCounter,
    pub(crate) invalid_timestamps: IntCounter,
    pub(crate) processing_errors: IntCounter,
    pub(crate) production_errors: IntCounter,
    pub(crate) dead_lettered: IntCounter,
    pub(crate) threads_replaced: IntCounter,
    pub(crate) transactions_aborted: IntCounter,
    pub(crate) tasks_corrupted: IntCounter,
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
            deserialization_errors: counter(
                app_id,
                "deserialization_errors_total",
                "Input records that did not deserialize, whatever the policy did with them.",
            )?,
            invalid_timestamps: counter(
                app_id,
                "invalid_timestamps_total",
                "Records with a negative timestamp or one no window can hold, whatever the policy did with them.",
            )?,
            processing_errors: counter(
                app_id,
                "processing_errors_total",
                "Records on which user code failed, whatever the policy did with them.",
            )?,
            production_errors: counter(
                app_id,
                "production_errors_total",
                "Output records that could not be serialized or produced.",
            )?,
            dead_lettered: counter(
                app_id,
                "records_dead_lettered_total",
                "Input records sent to the dead-letter topic.",
            )?,
            threads_replaced: counter(
                app_id,
                "threads_replaced_total",
                "Stream threads replaced after an uncaught error.",
            )?,
            transactions_aborted: counter(
                app_id,
                "transactions_aborted_total",
                "Exactly-once transactions aborted (their tasks rolled back and restored).",
            )?,
            tasks_corrupted: counter(
                app_id,
                "tasks_corrupted_total",
                "Tasks whose state was found corrupt while running, wiped and restored from their changelogs.",
            )?,
        })
    }

    pub(crate) fn register(&self, registry: &Registry) -> Result<()> {
        for c in [
            &self.processed,
            &self.skipped,
            &self.commits,
            &self.restored,
            &self.deserialization_errors,
            &self.invalid_timestamps,
            &self.processing_errors,
            &self.production_errors,
            &self.dead_lettered,
            &self.threads_replaced,
            &self.transactions_aborted,
            &self.tasks_corrupted,
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
