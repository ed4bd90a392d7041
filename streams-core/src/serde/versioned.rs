//! [`Versioned`]: state and record types that change shape while an application runs.
//!
//! A versioned value is written as its version number (2 bytes, big-endian) followed by that
//! version's fields. A program that knows versions 1 to N reads every one of them: an older
//! value is decoded as the version that wrote it and upgraded through `From`, one version at a
//! time. So a new release of an application can change the struct of its stored state or of
//! its topic records and still read its RocksDB stores, changelogs and topics written before.

use std::marker::PhantomData;
use std::sync::Arc;

use super::{Serde, SerdeError, SharedSerde};

/// A type whose serialized form carries its version. Derive it with
/// `#[derive(Versioned)]` (the `macros` feature) and read and write it with
/// [`Serdes::versioned`](super::Serdes::versioned).
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use streams_core::serde::{Serde, Serdes, Versioned};
///
/// /// What the first release kept per card.
/// #[derive(Serialize, Deserialize, Versioned)]
/// #[versioned(version = 1)]
/// struct CardStateV1 {
///     transactions: u64,
/// }
///
/// /// The next release also keeps the running total.
/// #[derive(Debug, PartialEq, Serialize, Deserialize, Versioned)]
/// #[versioned(version = 2, previous = CardStateV1)]
/// struct CardState {
///     transactions: u64,
///     total_cents: u64,
/// }
///
/// impl From<CardStateV1> for CardState {
///     fn from(old: CardStateV1) -> Self {
///         CardState { transactions: old.transactions, total_cents: 0 }
///     }
/// }
///
/// // What the first release wrote...
/// let mut written = Vec::new();
/// Serdes::versioned::<CardStateV1>().serialize(&CardStateV1 { transactions: 3 }, &mut written)?;
/// // ...the next one reads, upgraded.
/// let read = Serdes::versioned::<CardState>().deserialize(&written)?;
/// assert_eq!(read, CardState { transactions: 3, total_cents: 0 });
/// # Ok::<(), streams_core::serde::SerdeError>(())
/// ```
pub trait Versioned: Sized + 'static {
    /// This version's number (1, 2, …; each version higher than the one before).
    const VERSION: u16;

    /// Writes this version's fields (the version number is written before them).
    fn encode_payload(&self, out: &mut Vec<u8>) -> Result<(), SerdeError>;

    /// Decodes the fields written by version `version` (this one or an earlier one),
    /// upgrading an earlier version's value to this one.
    fn decode_version(version: u16, payload: &[u8]) -> Result<Self, SerdeError>;
}

/// The serde of a [`Versioned`] type: the version number, then the version's fields.
pub struct VersionedSerde<T>(PhantomData<fn() -> T>);

impl<T> std::fmt::Debug for VersionedSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "VersionedSerde<{}>", std::any::type_name::<T>())
    }
}

impl<T: Versioned> VersionedSerde<T> {
    /// The serde for `T`.
    pub fn new() -> Self {
        VersionedSerde(PhantomData)
    }

    /// The serde for `T`, shared.
    pub fn shared() -> SharedSerde<T> {
        Arc::new(Self::new())
    }
}

impl<T: Versioned> Default for VersionedSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Versioned> Serde<T> for VersionedSerde<T> {
    fn serialize(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(&T::VERSION.to_be_bytes());
        value.encode_payload(out)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        let (version, payload) = bytes
            .split_first_chunk::<2>()
            .ok_or_else(|| SerdeError::deserialize::<T>("shorter than its 2-byte version"))?;
        T::decode_version(u16::from_be_bytes(*version), payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Written by hand, as the derive writes it, to test the serde without the macro.
    #[derive(Debug, PartialEq)]
    struct Counter(u64);

    impl Versioned for Counter {
        const VERSION: u16 = 3;

        fn encode_payload(&self, out: &mut Vec<u8>) -> Result<(), SerdeError> {
            out.extend_from_slice(&self.0.to_be_bytes());
            Ok(())
        }

        fn decode_version(version: u16, payload: &[u8]) -> Result<Self, SerdeError> {
            match (version, payload.first_chunk::<8>()) {
                (3, Some(bytes)) => Ok(Counter(u64::from_be_bytes(*bytes))),
                _ => Err(SerdeError::deserialize::<Self>(format!(
                    "version {version}"
                ))),
            }
        }
    }

    #[test]
    fn writes_the_version_first_and_refuses_short_or_unknown_input() {
        let serde = VersionedSerde::<Counter>::new();
        let mut out = Vec::new();
        serde.serialize(&Counter(7), &mut out).expect("serialize");
        assert_eq!(&out[..2], &[0, 3]);
        assert_eq!(serde.deserialize(&out).expect("read back"), Counter(7));
        assert!(serde.deserialize(&[0]).is_err(), "no version");
        let mut newer = out.clone();
        newer[1] = 4;
        assert!(
            serde.deserialize(&newer).is_err(),
            "a version this program does not know"
        );
    }
}
