//! The policies that decide what an error does: Kafka Streams' exception handlers.
//!
//! | Error | Setting | Policies |
//! |---|---|---|
//! | input that does not deserialize | `default.deserialization.exception.handler` | `fail`, `log_and_continue`, `dead_letter` |
//! | a negative timestamp, or one a window cannot hold | `default.timestamp.extractor` | `fail`, `log_and_skip`, `use_partition_time` |
//! | user code failing in a processor | `processing.exception.handler` | `fail`, `log_and_continue`, `dead_letter` |
//! | output that cannot be serialized or produced | `production.exception.handler` | `fail`, `continue` |
//! | anything else that stops a stream thread | [`KafkaStreams::set_uncaught_error_handler`](crate::KafkaStreams::set_uncaught_error_handler) | [`UncaughtErrorResponse`] |
//!
//! `dead_letter` sends the input record as it was read (key, value, timestamp, headers) to the
//! topic `errors.dead.letter.queue.topic.name`, with headers naming where it came from and what
//! failed (the names of Kafka Streams' KIP-1034):
//! `__streams.errors.topic`, `__streams.errors.partition`, `__streams.errors.offset`,
//! `__streams.errors.exception` (the kind of error) and `__streams.errors.message`.
//! The dead letter goes through the stream thread's producer, so the input offset is committed
//! only once it is delivered: a record is processed, dead-lettered, or left uncommitted.

use crate::config::{
    DEAD_LETTER_QUEUE_TOPIC, DESERIALIZATION_EXCEPTION_HANDLER,
    DESERIALIZATION_EXCEPTION_HANDLER_NEW, PROCESSING_EXCEPTION_HANDLER,
    PRODUCTION_EXCEPTION_HANDLER, PRODUCTION_EXCEPTION_HANDLER_OLD, TIMESTAMP_EXTRACTOR,
};
use crate::{Error, Result, StreamsConfig};

/// What to do with a record whose bytes do not deserialize
/// (`default.deserialization.exception.handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DeserializationPolicy {
    /// Stop the stream thread with an error; the record's offset is not committed.
    #[default]
    Fail,
    /// Log the record's topic, partition and offset at warn level, count it, and go on.
    LogAndContinue,
    /// Send the record to the dead-letter topic, log and count it, and go on. (Global stores,
    /// which have no producer, log and continue.)
    DeadLetter,
}

/// What to do with a record whose timestamp is invalid (`default.timestamp.extractor`, after
/// Kafka Streams' extractors of the same names): negative, as the record carries it or as a
/// custom extractor returned it, or too close to `i64::MAX` for a windowed operator to hold
/// it in a window (its end, plus grace, must fit in an `i64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimestampPolicy {
    /// Stop the stream thread with an error naming the record; its offset is not committed
    /// (Kafka's `FailOnInvalidTimestamp`, the default).
    #[default]
    Fail,
    /// Log the record's topic, partition and offset, count it, and go on
    /// (`LogAndSkipOnInvalidTimestamp`).
    LogAndSkip,
    /// Use the partition's time (the highest valid timestamp seen on it) instead; fail if no
    /// valid timestamp was seen yet (`UsePartitionTimeOnInvalidTimestamp`). A timestamp that
    /// only a windowed operator finds invalid is skipped and counted, as under `LogAndSkip`.
    UsePartitionTime,
}

/// What to do when user code in a processor fails on a record (`processing.exception.handler`).
///
/// A processor fails by returning [`Error::Processing`] (see [`Error::processing`]) or by
/// panicking. Under `log_and_continue` and `dead_letter` the rest of that record's processing
/// is skipped (outputs already forwarded for it stay) and the task goes on with the next record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProcessingPolicy {
    /// Stop the stream thread with the error; the record's offset is not committed.
    #[default]
    Fail,
    /// Log the error with the record's topic, partition and offset, count it, and go on.
    LogAndContinue,
    /// Send the input record to the dead-letter topic, log and count it, and go on.
    DeadLetter,
}

/// What to do with an output record that cannot be serialized or produced
/// (`production.exception.handler`): librdkafka has already retried what can be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ProductionPolicy {
    /// Stop the stream thread with the error; offsets are not committed past it.
    #[default]
    Fail,
    /// Log and count the lost output record, and go on.
    Continue,
}

/// What happens when a stream thread stops with an error no policy above absorbed, as
/// Kafka Streams' `StreamsUncaughtExceptionHandler` decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UncaughtErrorResponse {
    /// Start a new stream thread in its place (a new group member, whose tasks restore from
    /// their changelogs and resume from the committed offsets); the instance stays up.
    ReplaceThread,
    /// Stop every thread of this instance; the instance ends in [`State::Error`](crate::State).
    #[default]
    ShutdownClient,
}

/// The policies of one instance, read from its configuration.
#[derive(Debug, Clone, Default)]
pub(crate) struct ErrorPolicies {
    pub(crate) deserialization: DeserializationPolicy,
    pub(crate) timestamp: TimestampPolicy,
    pub(crate) processing: ProcessingPolicy,
    pub(crate) production: ProductionPolicy,
    pub(crate) dead_letter_topic: Option<String>,
}

fn invalid(key: &str, value: &str, allowed: &str) -> Error {
    Error::Config {
        key: key.into(),
        reason: format!("`{value}` is not one of {allowed}"),
    }
}

impl ErrorPolicies {
    pub(crate) fn from_config(config: &StreamsConfig) -> Result<Self> {
        let deserialization = match config.get_either([
            DESERIALIZATION_EXCEPTION_HANDLER,
            DESERIALIZATION_EXCEPTION_HANDLER_NEW,
        ])? {
            None => DeserializationPolicy::Fail,
            Some((_, v)) if v == "fail" || v.ends_with("LogAndFailExceptionHandler") => {
                DeserializationPolicy::Fail
            }
            Some((_, v))
                if v == "log_and_continue" || v.ends_with("LogAndContinueExceptionHandler") =>
            {
                DeserializationPolicy::LogAndContinue
            }
            Some((_, "dead_letter")) => DeserializationPolicy::DeadLetter,
            Some((key, v)) => {
                return Err(invalid(key, v, "`fail`, `log_and_continue`, `dead_letter`"));
            }
        };
        let timestamp = match config.get(TIMESTAMP_EXTRACTOR) {
            None => TimestampPolicy::Fail,
            Some(v) if v == "fail" || v.ends_with("FailOnInvalidTimestamp") => {
                TimestampPolicy::Fail
            }
            Some(v) if v == "log_and_skip" || v.ends_with("LogAndSkipOnInvalidTimestamp") => {
                TimestampPolicy::LogAndSkip
            }
            Some(v)
                if v == "use_partition_time"
                    || v.ends_with("UsePartitionTimeOnInvalidTimestamp") =>
            {
                TimestampPolicy::UsePartitionTime
            }
            Some(v) => {
                return Err(invalid(
                    TIMESTAMP_EXTRACTOR,
                    v,
                    "`fail`, `log_and_skip`, `use_partition_time`",
                ));
            }
        };
        let processing = match config.get(PROCESSING_EXCEPTION_HANDLER) {
            None | Some("fail") => ProcessingPolicy::Fail,
            Some("log_and_continue") => ProcessingPolicy::LogAndContinue,
            Some("dead_letter") => ProcessingPolicy::DeadLetter,
            Some(v) => {
                return Err(invalid(
                    PROCESSING_EXCEPTION_HANDLER,
                    v,
                    "`fail`, `log_and_continue`, `dead_letter`",
                ));
            }
        };
        let production = match config.get_either([
            PRODUCTION_EXCEPTION_HANDLER,
            PRODUCTION_EXCEPTION_HANDLER_OLD,
        ])? {
            None | Some((_, "fail")) => ProductionPolicy::Fail,
            Some((_, "continue")) => ProductionPolicy::Continue,
            Some((key, v)) => return Err(invalid(key, v, "`fail`, `continue`")),
        };
        let dead_letter_topic = config
            .get(DEAD_LETTER_QUEUE_TOPIC)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let wants_dlq = deserialization == DeserializationPolicy::DeadLetter
            || processing == ProcessingPolicy::DeadLetter;
        if wants_dlq && dead_letter_topic.is_none() {
            return Err(Error::Config {
                key: DEAD_LETTER_QUEUE_TOPIC.into(),
                reason: "is required by the `dead_letter` policy".into(),
            });
        }
        Ok(ErrorPolicies {
            deserialization,
            timestamp,
            processing,
            production,
            dead_letter_topic,
        })
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn kafka_streams_4_and_3_names_of_the_handlers_both_work() {
        let mut config = StreamsConfig::new();
        config.set("deserialization.exception.handler", "log_and_continue");
        config.set("default.production.exception.handler", "continue");
        let policies = ErrorPolicies::from_config(&config).expect("valid");
        assert_eq!(
            policies.deserialization,
            DeserializationPolicy::LogAndContinue
        );
        assert_eq!(policies.production, ProductionPolicy::Continue);
        config.set("default.deserialization.exception.handler", "fail");
        assert!(
            ErrorPolicies::from_config(&config)
                .is_err_and(|e| e.to_string().contains("deserialization.exception.handler")),
            "both names with different values"
        );
    }

    use super::*;

    #[test]
    fn reads_policies_and_requires_a_topic_for_dead_letters() {
        let mut config = StreamsConfig::new();
        let default = ErrorPolicies::from_config(&config).expect("defaults");
        assert_eq!(default.deserialization, DeserializationPolicy::Fail);
        assert_eq!(default.processing, ProcessingPolicy::Fail);
        assert_eq!(default.production, ProductionPolicy::Fail);

        config.set(PROCESSING_EXCEPTION_HANDLER, "dead_letter");
        let err = ErrorPolicies::from_config(&config).expect_err("no topic");
        assert!(err.to_string().contains(DEAD_LETTER_QUEUE_TOPIC), "{err}");
        config.set(DEAD_LETTER_QUEUE_TOPIC, "app-dlq");
        config.set(DESERIALIZATION_EXCEPTION_HANDLER, "log_and_continue");
        config.set(PRODUCTION_EXCEPTION_HANDLER, "continue");
        let p = ErrorPolicies::from_config(&config).expect("valid");
        assert_eq!(p.processing, ProcessingPolicy::DeadLetter);
        assert_eq!(p.deserialization, DeserializationPolicy::LogAndContinue);
        assert_eq!(p.production, ProductionPolicy::Continue);
        assert_eq!(p.dead_letter_topic.as_deref(), Some("app-dlq"));

        assert_eq!(p.timestamp, TimestampPolicy::Fail);
        config.set(TIMESTAMP_EXTRACTOR, "UsePartitionTimeOnInvalidTimestamp");
        let p = ErrorPolicies::from_config(&config).expect("valid");
        assert_eq!(p.timestamp, TimestampPolicy::UsePartitionTime);
        config.set(TIMESTAMP_EXTRACTOR, "log_and_skip");
        let p = ErrorPolicies::from_config(&config).expect("valid");
        assert_eq!(p.timestamp, TimestampPolicy::LogAndSkip);
        config.set(TIMESTAMP_EXTRACTOR, "wall_clock");
        let err = ErrorPolicies::from_config(&config).expect_err("unknown");
        assert!(err.to_string().contains(TIMESTAMP_EXTRACTOR), "{err}");
        config.remove(TIMESTAMP_EXTRACTOR);

        config.set(PRODUCTION_EXCEPTION_HANDLER, "retry");
        let err = ErrorPolicies::from_config(&config).expect_err("unknown policy");
        assert!(err.to_string().contains("retry"), "{err}");
    }
}
