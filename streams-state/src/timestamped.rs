//! The layout of a timestamped value, as Kafka Streams' `ValueAndTimestamp` stores it: the
//! record's timestamp in 8 bytes big-endian, then the value's bytes. The DSL's tables keep their
//! values so, in their stores and changelogs; every encoder and decoder of it calls these two.

/// Appends the 8-byte timestamp that starts a timestamped value; the value's bytes follow it.
pub fn push_timestamp(out: &mut Vec<u8>, timestamp: i64) {
    out.extend_from_slice(&timestamp.to_be_bytes());
}

/// Splits a timestamped value into its timestamp and value bytes; `None` if it is shorter than
/// its timestamp.
pub fn split_timestamped(value: &[u8]) -> Option<(i64, &[u8])> {
    let (ts, rest) = value.split_first_chunk::<8>()?;
    Some((i64::from_be_bytes(*ts), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_short_value() {
        let mut out = Vec::new();
        push_timestamp(&mut out, -7);
        out.extend_from_slice(b"value");
        assert_eq!(split_timestamped(&out), Some((-7, b"value".as_slice())));
        assert_eq!(split_timestamped(&out[..7]), None);
        assert_eq!(split_timestamped(&out[..8]), Some((-7, b"".as_slice())));
    }
}
