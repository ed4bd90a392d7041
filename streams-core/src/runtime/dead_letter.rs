//! Sending an input record to the dead-letter topic, with headers that say where it came from
//! and what failed (the header names of Kafka Streams' KIP-1034).

use super::TaskContext;
use super::node::RawRecord;
use crate::processor::Headers;
use crate::{Error, Result};

/// Header naming the record's source topic.
pub(crate) const TOPIC_HEADER: &str = "__streams.errors.topic";
/// Header naming the record's source partition (decimal).
pub(crate) const PARTITION_HEADER: &str = "__streams.errors.partition";
/// Header naming the record's source offset (decimal).
pub(crate) const OFFSET_HEADER: &str = "__streams.errors.offset";
/// Header naming the kind of error.
pub(crate) const EXCEPTION_HEADER: &str = "__streams.errors.exception";
/// Header with the error's message.
pub(crate) const MESSAGE_HEADER: &str = "__streams.errors.message";

/// Sends `raw` as it was read (key, value, timestamp, headers) to the dead-letter topic, with
/// the error headers added, and counts it.
pub(crate) fn send(ctx: &TaskContext, raw: &RawRecord<'_>, error: &Error) -> Result<()> {
    let topic = ctx
        .policies()
        .dead_letter_topic
        .as_deref()
        .ok_or_else(|| Error::Config {
            key: crate::config::DEAD_LETTER_QUEUE_TOPIC.into(),
            reason: "is required by the `dead_letter` policy".into(),
        })?;
    let mut headers: Headers = raw.headers.clone();
    headers.add(TOPIC_HEADER, Some(raw.topic.as_bytes().to_vec()));
    headers.add(
        PARTITION_HEADER,
        Some(raw.partition.to_string().into_bytes()),
    );
    headers.add(OFFSET_HEADER, Some(raw.offset.to_string().into_bytes()));
    headers.add(EXCEPTION_HEADER, Some(error.kind().as_bytes().to_vec()));
    headers.add(
        MESSAGE_HEADER,
        Some(error.report().to_string().into_bytes()),
    );
    ctx.collector()
        .send(topic, None, raw.key, raw.value, raw.timestamp, &headers)?;
    ctx.metrics().dead_lettered();
    Ok(())
}
