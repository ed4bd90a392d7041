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

/// Checks that librdkafka knows every property each kind of client would get (a mistyped
/// Streams or client property lands here), naming the first it refuses as set by the user
/// (with its client prefix, if it had one).
pub(crate) fn check_client_properties(config: &StreamsConfig) -> crate::Result<()> {
    for kind in [
        ClientKind::Consumer,
        ClientKind::Producer,
        ClientKind::RestoreConsumer,
        ClientKind::Admin,
    ] {
        if let Err(rdkafka::error::KafkaError::ClientConfig(_, reason, key, _)) =
            client_config(config, kind).create_native_config()
        {
            let prefixed = format!("{}{key}", kind.prefix());
            let key = if config.get(&prefixed).is_some() {
                prefixed
            } else {
                key
            };
            return Err(crate::Error::Config { key, reason });
        }
    }
    Ok(())
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

/// Exactly-once: a client to ask the brokers for the ends of changelog logs
/// (`read_uncommitted`: the high watermarks). The restore consumer reads `read_committed`, and
/// so sees a changelog end at its last stable offset, which a transaction left open on the
/// changelog (by a zombie of an earlier owner) holds back before records committed after it:
/// to that consumer a store position past those looks like a changelog made anew, and a
/// restoration up to it would miss them (see `open_transaction`).
///
/// Made on first use ([`LogEndReader::consumer`]), when a stream thread first creates a task:
/// a thread without stateful tasks does without the client's threads and connections.
pub(crate) fn log_end_reader(config: &StreamsConfig, client_id: &str) -> LogEndReader {
    let mut client = client_config(config, ClientKind::RestoreConsumer);
    client
        .set("client.id", client_id)
        .set("isolation.level", "read_uncommitted")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    let mut stable = client.clone();
    stable
        .set("client.id", format!("{client_id}-stable"))
        .set("isolation.level", "read_committed");
    LogEndReader {
        config: client,
        consumer: std::cell::OnceCell::new(),
        stable_config: stable,
        stable: std::cell::OnceCell::new(),
    }
}

/// The clients of [`log_end_reader`], each created when first asked for.
pub(crate) struct LogEndReader {
    config: ClientConfig,
    consumer: std::cell::OnceCell<BaseConsumer>,
    stable_config: ClientConfig,
    stable: std::cell::OnceCell<BaseConsumer>,
}

impl LogEndReader {
    /// The `read_uncommitted` client (the logs' ends), created now if it was not yet.
    pub(crate) fn consumer(&self) -> Result<&BaseConsumer> {
        Self::get_or_create(&self.consumer, &self.config)
    }

    /// A `read_committed` client that never fetches (the last stable offsets), created now if
    /// it was not yet. A restoration waiting for a transaction open on a changelog asks it
    /// rather than the restore consumer, whose requests for offsets wait behind the fetch the
    /// broker holds open at the changelog's end.
    pub(crate) fn stable_consumer(&self) -> Result<&BaseConsumer> {
        Self::get_or_create(&self.stable, &self.stable_config)
    }

    fn get_or_create<'a>(
        cell: &'a std::cell::OnceCell<BaseConsumer>,
        config: &ClientConfig,
    ) -> Result<&'a BaseConsumer> {
        if let Some(consumer) = cell.get() {
            return Ok(consumer);
        }
        let consumer = config
            .create()
            .map_err(|e| Error::kafka("creating a changelog end reader", e))?;
        Ok(cell.get_or_init(|| consumer))
    }
}

/// How long a request for offsets is retried while its errors are transient (a leader moving
/// or down, a broker unreachable), as Kafka Streams' `task.timeout.ms` (5 minutes) bounds it.
const WATERMARKS_RETRY_FOR: Duration = Duration::from_secs(300);

/// The low and high watermarks of `topic`-`partition`, asked of the broker; transient errors
/// (a partition without a leader, its leader down or moving) are retried for up to five
/// minutes, as Kafka Streams retries them until `task.timeout.ms`.
pub(crate) fn watermarks(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64)> {
    let deadline = std::time::Instant::now() + WATERMARKS_RETRY_FOR;
    let mut backoff = Duration::from_millis(100);
    loop {
        match consumer.fetch_watermarks(topic, partition, Duration::from_secs(30)) {
            Ok(watermarks) => return Ok(watermarks),
            Err(e) if is_transient(&e) && std::time::Instant::now() < deadline => {
                tracing::warn!(
                    "reading the offsets of {topic}-{partition} failed ({e}); retrying in {backoff:?}"
                );
                if leader_moved(&e) {
                    // The request went to the leader the client had cached: ask for the
                    // topic's leaders anew rather than wait for librdkafka's own refresh
                    // (its periodic one runs every `topic.metadata.refresh.interval.ms`).
                    let _ = consumer.fetch_metadata(Some(topic), Duration::from_secs(5));
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
            Err(e) => {
                return Err(Error::kafka(
                    format!("reading the offsets of {topic}-{partition}"),
                    e,
                ));
            }
        }
    }
}

/// How long one request for a partition's offsets may wait for the broker.
const WATERMARKS_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The low and high watermarks of `topic`-`partition`, asked of the broker once, waiting at
/// most a few seconds: for the stream thread, which must keep polling and retries on a later
/// turn of its loop (see [`is_transient`]). A refusal from a former leader has the
/// client ask for the topic's leaders anew, so that the next try goes to the new one.
pub(crate) fn watermarks_once(
    consumer: &BaseConsumer,
    topic: &str,
    partition: i32,
) -> Result<(i64, i64)> {
    consumer
        .fetch_watermarks(topic, partition, WATERMARKS_REQUEST_TIMEOUT)
        .map_err(|e| {
            if leader_moved(&e) {
                let _ = consumer.fetch_metadata(Some(topic), WATERMARKS_REQUEST_TIMEOUT);
            }
            Error::kafka(format!("reading the offsets of {topic}-{partition}"), e)
        })
}

/// Whether `error` says the client's view of the partition is wrong: its leader is not the
/// broker the request went to, or the client does not know the partition at all
/// (librdkafka's local `UnknownPartition`). The latter was seen for minutes after a leader
/// was killed, on a client whose topic metadata had lost the partition and that only
/// refreshes it every `topic.metadata.refresh.interval.ms` (5 minutes) while it reads nothing
/// from the topic: a task could not be created for that long.
fn leader_moved(error: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(
            Code::NotLeaderForPartition
                | Code::LeaderNotAvailable
                | Code::FencedLeaderEpoch
                | Code::UnknownLeaderEpoch
                | Code::UnknownPartition
                | Code::UnknownTopicOrPartition
        )
    )
}

/// Whether `error` is one a retry may clear: the partition's leader is moving, down or not
/// yet known (a cluster restarting), a broker is unreachable, or the request timed out.
pub(crate) fn is_transient(error: &rdkafka::error::KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(
            Code::NotLeaderForPartition
                | Code::LeaderNotAvailable
                | Code::BrokerNotAvailable
                | Code::BrokerTransportFailure
                | Code::AllBrokersDown
                | Code::RequestTimedOut
                | Code::OperationTimedOut
                | Code::NotCoordinator
                | Code::FencedLeaderEpoch
                | Code::UnknownLeaderEpoch
                | Code::OffsetNotAvailable
                | Code::NetworkException
                | Code::ReplicaNotAvailable
                | Code::KafkaStorageError
                | Code::UnknownPartition
                | Code::UnknownTopicOrPartition
        )
    )
}

/// The low and high watermarks of `topic`-`partition` as `consumer` last saw them in fetch
/// responses: no request to the broker. `None` before the first fetch.
pub(crate) fn cached_watermarks<C: rdkafka::consumer::ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &std::ffi::CStr,
    partition: i32,
) -> Option<(i64, i64)> {
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client handle is alive for the borrow; the call only reads the watermarks
    // librdkafka cached from fetch responses into the two out-parameters.
    let err = unsafe {
        rdkafka_sys::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            partition,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some((low, high))
}

#[cfg(test)]
mod property_tests {
    use super::*;

    fn config(extra: &[(&str, &str)]) -> StreamsConfig {
        let mut config = StreamsConfig::new();
        config
            .set("application.id", "app")
            .set("bootstrap.servers", "localhost:9092");
        for (k, v) in extra {
            config.set(*k, *v);
        }
        config
    }

    #[test]
    fn a_mistyped_property_is_named() {
        let refused = |extra: &[(&str, &str)]| match check_client_properties(&config(extra)) {
            Err(crate::Error::Config { key, .. }) => Some(key),
            _ => None,
        };
        assert_eq!(refused(&[]), None, "the defaults pass");
        assert_eq!(
            refused(&[("num.stream.thread", "2")]).as_deref(),
            Some("num.stream.thread"),
            "a Streams property one letter short"
        );
        assert_eq!(
            refused(&[("consumer.sesion.timeout.ms", "6000")]).as_deref(),
            Some("consumer.sesion.timeout.ms"),
            "named with its client prefix"
        );
        assert_eq!(
            refused(&[("consumer.session.timeout.ms", "6000"), ("linger.ms", "5")]),
            None,
            "real client properties pass"
        );
        assert!(
            crate::KafkaStreams::new(
                crate::Topology::new(),
                &config(&[("comit.interval.ms", "100")])
            )
            .is_err_and(|e| e.to_string().contains("comit.interval.ms")),
            "KafkaStreams::new refuses it"
        );
    }
}
