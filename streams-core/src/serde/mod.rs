//! Serializers and deserializers ("serdes") between typed keys and values and Kafka's bytes.
//!
//! A [`Serde<T>`] turns a `T` into bytes and back, returning errors rather than panicking: bad
//! input reaches the deserialization handler, which logs it with its topic, partition and offset.
//! Kafka's null (an absent key or value) is modelled by [`Nullable`], a serde for `Option<T>`.
//!
//! ```
//! use streams_core::serde::{Serde, Serdes};
//!
//! let serde = Serdes::u64();
//! let mut bytes = Vec::new();
//! serde.serialize(&42, &mut bytes).unwrap();
//! assert_eq!(bytes, 42u64.to_be_bytes());
//! assert_eq!(serde.deserialize(&bytes).unwrap(), 42);
//! assert!(serde.deserialize(b"short").is_err());
//! ```

#[cfg(feature = "bincode")]
mod bincode_serde;
mod change;
mod default_serde;
mod defaults;
#[cfg(feature = "json")]
mod json;
mod primitives;
mod timestamped;
mod versioned;

use std::sync::Arc;

#[doc(hidden)]
pub use crate::__register_default_serde;
#[cfg(feature = "bincode")]
#[cfg_attr(docsrs, doc(cfg(feature = "bincode")))]
pub use bincode_serde::Bincode;
pub(crate) use change::ChangeSerde;
pub use default_serde::{DefaultSerde, DefaultSerdeRegistration};
pub(crate) use defaults::builtin_serde;
#[cfg(feature = "json")]
#[cfg_attr(docsrs, doc(cfg(feature = "json")))]
pub use json::Json;
pub use primitives::{BytesSerde, I64Serde, Nullable, StringSerde, U64Serde};
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use streams_macros::DefaultSerde;
#[cfg(feature = "macros")]
#[cfg_attr(docsrs, doc(cfg(feature = "macros")))]
pub use streams_macros::Versioned;
pub(crate) use timestamped::TimestampedSerde;
pub use versioned::{Versioned, VersionedSerde};

/// Why a value could not be turned into bytes or back.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SerdeError {
    /// The bytes are not a valid encoding of the type.
    #[error("cannot deserialize {type_name}: {reason}")]
    Deserialize {
        /// The type that was expected.
        type_name: &'static str,
        /// What was wrong with the bytes.
        reason: String,
    },
    /// The value could not be encoded.
    #[error("cannot serialize {type_name}: {reason}")]
    Serialize {
        /// The type being encoded.
        type_name: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// The record had no key or value (Kafka's null) where the serde needs one. Use
    /// [`Nullable`] for fields that may be null.
    #[error(
        "got null where a {type_name} was required (wrap the serde in Nullable to accept null)"
    )]
    UnexpectedNull {
        /// The type that was expected.
        type_name: &'static str,
    },
}

impl SerdeError {
    /// A deserialization error for type `T`.
    pub fn deserialize<T: ?Sized>(reason: impl ToString) -> Self {
        SerdeError::Deserialize {
            type_name: std::any::type_name::<T>(),
            reason: reason.to_string(),
        }
    }

    /// A serialization error for type `T`.
    pub fn serialize<T: ?Sized>(reason: impl ToString) -> Self {
        SerdeError::Serialize {
            type_name: std::any::type_name::<T>(),
            reason: reason.to_string(),
        }
    }
}

/// Converts values of type `T` to and from bytes.
///
/// Implementations must be deterministic: equal values give equal bytes, because keys are
/// compared and partitioned as bytes.
pub trait Serde<T>: Send + Sync + 'static {
    /// Appends the encoding of `value` to `out`.
    fn serialize(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError>;

    /// Decodes a value from `bytes`.
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError>;

    /// The value that Kafka's null (an absent key or value) stands for, or an error if this serde
    /// does not accept null. Only [`Nullable`] accepts it.
    fn deserialize_null(&self) -> Result<T, SerdeError> {
        Err(SerdeError::UnexpectedNull {
            type_name: std::any::type_name::<T>(),
        })
    }

    /// Whether `value` is written as Kafka's null rather than as bytes.
    fn is_null(&self, _value: &T) -> bool {
        false
    }
}

/// A shared, type-erased-by-trait-object serde, as stored in topologies.
pub type SharedSerde<T> = Arc<dyn Serde<T>>;

/// Decodes an optional byte field, mapping absence to [`Serde::deserialize_null`].
pub(crate) fn decode<T: 'static>(
    serde: &dyn Serde<T>,
    bytes: Option<&[u8]>,
) -> Result<T, SerdeError> {
    match bytes {
        Some(bytes) => serde.deserialize(bytes),
        None => serde.deserialize_null(),
    }
}

/// Encodes `value` into `buf` (cleared first); `false` means it is Kafka's null.
pub(crate) fn encode<T: 'static>(
    serde: &dyn Serde<T>,
    value: &T,
    buf: &mut Vec<u8>,
) -> Result<bool, SerdeError> {
    buf.clear();
    if serde.is_null(value) {
        return Ok(false);
    }
    serde.serialize(value, buf)?;
    Ok(true)
}

/// Constructors for the built-in serdes, in Kafka's `Serdes.String()` manner.
#[derive(Debug, Clone, Copy)]
pub struct Serdes;

impl Serdes {
    /// UTF-8 strings.
    pub fn string() -> SharedSerde<String> {
        Arc::new(StringSerde)
    }
    /// Raw bytes, unchanged.
    pub fn bytes() -> SharedSerde<Vec<u8>> {
        Arc::new(BytesSerde)
    }
    /// `u64`, 8 bytes big-endian.
    pub fn u64() -> SharedSerde<u64> {
        Arc::new(U64Serde)
    }
    /// `i64`, 8 bytes big-endian (Kafka's `LongSerde`).
    pub fn i64() -> SharedSerde<i64> {
        Arc::new(I64Serde)
    }
    /// Any serde type in bincode's standard encoding.
    #[cfg(feature = "bincode")]
    #[cfg_attr(docsrs, doc(cfg(feature = "bincode")))]
    pub fn bincode<T>() -> SharedSerde<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        Arc::new(Bincode::<T>::new())
    }
    /// Any serde type as JSON.
    #[cfg(feature = "json")]
    #[cfg_attr(docsrs, doc(cfg(feature = "json")))]
    pub fn json<T>() -> SharedSerde<T>
    where
        T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        Arc::new(Json::<T>::new())
    }
    /// A [`Versioned`] type: its version, then that version's fields; older versions are read
    /// and upgraded.
    pub fn versioned<T: Versioned>() -> SharedSerde<T> {
        VersionedSerde::<T>::shared()
    }
    /// `Option<T>` where `None` is Kafka's null, around any serde for `T`.
    pub fn nullable<T: 'static>(inner: SharedSerde<T>) -> SharedSerde<Option<T>> {
        Arc::new(Nullable::new(inner))
    }
}
