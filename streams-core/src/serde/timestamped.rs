//! A serde for a value with its timestamp: 8 bytes big-endian, then the value (Kafka Streams'
//! `ValueAndTimestamp` layout).

use super::{Serde, SerdeError, SharedSerde};

/// Encodes `(value, timestamp)`.
pub(crate) struct TimestampedSerde<V> {
    inner: SharedSerde<V>,
}

impl<V> TimestampedSerde<V> {
    pub(crate) fn new(inner: SharedSerde<V>) -> Self {
        TimestampedSerde { inner }
    }
}

impl<V: 'static> Serde<(V, i64)> for TimestampedSerde<V> {
    fn serialize(&self, value: &(V, i64), out: &mut Vec<u8>) -> Result<(), SerdeError> {
        streams_state::push_timestamp(out, value.1);
        self.inner.serialize(&value.0, out)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<(V, i64), SerdeError> {
        let (ts, rest) = streams_state::split_timestamped(bytes)
            .ok_or_else(|| SerdeError::deserialize::<V>("shorter than its 8-byte timestamp"))?;
        Ok((self.inner.deserialize(rest)?, ts))
    }

    /// A null value with a timestamp is null (Kafka's `ValueAndTimestamp.make` of null).
    fn is_null(&self, value: &(V, i64)) -> bool {
        self.inner.is_null(&value.0)
    }
}
