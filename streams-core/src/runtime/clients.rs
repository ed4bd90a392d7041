//! The Kafka clients the runtime creates, configured from the [`StreamsConfig`].

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::config::ClientKind;
use crate::{Error, Result, StreamsConfig};

/// The librdkafka properties of a client of `kind`.
pub(crate) fn client_config(config: &StreamsConfig, kind: ClientKind) -> ClientConfig {
    let mut client = ClientConfig::new();
    for (key, value) in config.client_properties(kind) {
        client.set(key, value);
    }
    client
}

/// A consumer that reads changelogs or global topics by assignment, outside any group
/// (restoration, standbys, the global thread): restore-consumer properties, no commits, no
/// end-of-partition events. `what` names it in errors.
pub(crate) fn changelog_reader(
    config: &StreamsConfig,
    client_id: &str,
    group_id: &str,
    what: &str,
) -> Result<BaseConsumer> {
    let mut client = client_config(config, ClientKind::RestoreConsumer);
    client
        .set("client.id", client_id)
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    client
        .create()
        .map_err(|e| Error::kafka(format!("creating the {what}"), e))
}

/// The low and high watermarks of `topic`-`partition`, asked of the broker.
pub(crate) fn watermarks(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64)> {
    consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(30))
        .map_err(|e| Error::kafka(format!("reading the offsets of {topic}-{partition}"), e))
}
