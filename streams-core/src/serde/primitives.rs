//! Serdes for strings, bytes and integers, and [`Nullable`] for Kafka's null.

use super::{Serde, SerdeError, SharedSerde};

/// UTF-8 strings. Invalid UTF-8 is a deserialization error.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerde;

impl Serde<String> for StringSerde {
    fn serialize(&self, value: &String, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<String, SerdeError> {
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(SerdeError::deserialize::<String>)
    }
}

/// Raw bytes, passed through unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerde;

impl Serde<Vec<u8>> for BytesSerde {
    fn serialize(&self, value: &Vec<u8>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(value);
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Vec<u8>, SerdeError> {
        Ok(bytes.to_vec())
    }
}

fn eight_bytes<T>(bytes: &[u8]) -> Result<[u8; 8], SerdeError> {
    bytes
        .try_into()
        .map_err(|_| SerdeError::deserialize::<T>(format!("expected 8 bytes, got {}", bytes.len())))
}

/// `u64` as 8 bytes big-endian.
#[derive(Debug, Clone, Copy, Default)]
pub struct U64Serde;

impl Serde<u64> for U64Serde {
    fn serialize(&self, value: &u64, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(&value.to_be_bytes());
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<u64, SerdeError> {
        eight_bytes::<u64>(bytes).map(u64::from_be_bytes)
    }
}

/// `i64` as 8 bytes big-endian, compatible with Kafka's `Serdes.Long()`.
#[derive(Debug, Clone, Copy, Default)]
pub struct I64Serde;

impl Serde<i64> for I64Serde {
    fn serialize(&self, value: &i64, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(&value.to_be_bytes());
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<i64, SerdeError> {
        eight_bytes::<i64>(bytes).map(i64::from_be_bytes)
    }
}

/// `Option<T>` where `None` is Kafka's null (no key, or a tombstone value) and `Some` is
/// encoded by the inner serde.
pub struct Nullable<T> {
    inner: SharedSerde<T>,
}

impl<T> std::fmt::Debug for Nullable<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Nullable")
    }
}

impl<T> Nullable<T> {
    /// Accepts null around `inner`.
    pub fn new(inner: SharedSerde<T>) -> Self {
        Nullable { inner }
    }
}

impl<T: 'static> Serde<Option<T>> for Nullable<T> {
    fn serialize(&self, value: &Option<T>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        match value {
            Some(value) => self.inner.serialize(value, out),
            None => Ok(()),
        }
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Option<T>, SerdeError> {
        self.inner.deserialize(bytes).map(Some)
    }

    fn deserialize_null(&self) -> Result<Option<T>, SerdeError> {
        Ok(None)
    }

    /// `None` is null, and so is `Some(v)` where `v` is null to the inner serde: Kafka has one
    /// null, so `Some(None)` of a nested `Option` is written (and read back) as `None`.
    fn is_null(&self, value: &Option<T>) -> bool {
        value.as_ref().is_none_or(|v| self.inner.is_null(v))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::serde::{decode, encode};

    #[test]
    fn strings_round_trip_and_reject_bad_utf8() {
        let mut out = Vec::new();
        StringSerde
            .serialize(&"héllo".to_string(), &mut out)
            .unwrap();
        assert_eq!(StringSerde.deserialize(&out).unwrap(), "héllo");
        assert!(matches!(
            StringSerde.deserialize(&[0xff, 0xfe]),
            Err(SerdeError::Deserialize { .. })
        ));
    }

    #[test]
    fn integers_are_big_endian_and_length_checked() {
        let mut out = Vec::new();
        I64Serde.serialize(&-2, &mut out).unwrap();
        assert_eq!(out, (-2i64).to_be_bytes());
        assert_eq!(I64Serde.deserialize(&out).unwrap(), -2);
        assert!(U64Serde.deserialize(&[1, 2, 3]).is_err());
        assert_eq!(U64Serde.deserialize(&7u64.to_be_bytes()).unwrap(), 7);
    }

    #[test]
    fn bytes_pass_through() {
        let mut out = Vec::new();
        BytesSerde.serialize(&vec![0, 255], &mut out).unwrap();
        assert_eq!(BytesSerde.deserialize(&out).unwrap(), vec![0, 255]);
    }

    #[test]
    fn null_only_for_nullable() {
        assert!(matches!(
            decode(&StringSerde, None),
            Err(SerdeError::UnexpectedNull { .. })
        ));
        let nullable = Nullable::new(Arc::new(StringSerde));
        assert_eq!(decode(&nullable, None).unwrap(), None);
        assert_eq!(
            decode(&nullable, Some(b"x")).unwrap(),
            Some("x".to_string())
        );
        let mut buf = vec![9];
        assert!(!encode(&nullable, &None, &mut buf).unwrap());
        assert!(buf.is_empty());
        assert!(encode(&nullable, &Some("y".to_string()), &mut buf).unwrap());
        assert_eq!(buf, b"y");
    }
}
