//! [`Bincode<T>`]: any serde type in bincode 2's standard encoding, decoded within a memory
//! limit derived from the input's length.
//!
//! bincode allocates a string's or byte buffer's memory from its length prefix before it reads
//! the bytes, so without a limit a 13-byte record claiming a 16 TiB string aborts the process.
//! Its limit is a const generic that counts the in-memory size of what is decoded (a `u64`
//! varint of one byte counts 8, a `u128` 16, a string its length), so that size is at most 16
//! times the input's length; the limit is the next step of a power-of-four ladder above it.
//! A prefix claiming more than that fails with an error, before any allocation.

use std::marker::PhantomData;

use super::{Serde, SerdeError};

/// Encodes any `serde` type with bincode (standard configuration). Trailing bytes after a
/// value are an error, so a truncated or padded record is not silently accepted.
pub struct Bincode<T>(PhantomData<fn() -> T>);

impl<T> Bincode<T> {
    /// A bincode serde for `T`.
    pub fn new() -> Self {
        Bincode(PhantomData)
    }
}

impl<T> Default for Bincode<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for Bincode<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bincode<{}>", std::any::type_name::<T>())
    }
}

impl<T> Serde<T> for Bincode<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    fn serialize(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        bincode::serde::encode_into_std_write(value, out, bincode::config::standard())
            .map(|_| ())
            .map_err(SerdeError::serialize::<T>)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        let (value, read) = decode_bounded::<T>(bytes).map_err(|e| match e {
            bincode::error::DecodeError::LimitExceeded => {
                SerdeError::deserialize::<T>("a length prefix claims more than the record holds")
            }
            other => SerdeError::deserialize::<T>(other),
        })?;
        if read != bytes.len() {
            return Err(SerdeError::deserialize::<T>(format!(
                "{} trailing bytes after the value",
                bytes.len() - read
            )));
        }
        Ok(value)
    }
}

/// Decodes with a limit on claimed memory of at least 16 × `bytes.len()`: the smallest power of
/// four from 1 KiB up that holds it (inputs past 1 GiB are refused).
fn decode_bounded<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    macro_rules! ladder {
        ($($limit:literal),*) => {{
            let needed = bytes.len().saturating_mul(16);
            $(
                if needed <= $limit {
                    return bincode::serde::decode_from_slice(
                        bytes,
                        bincode::config::standard().with_limit::<$limit>(),
                    );
                }
            )*
            Err(bincode::error::DecodeError::LimitExceeded)
        }};
    }
    ladder!(
        1024,
        4096,
        16384,
        65536,
        262144,
        1048576,
        4194304,
        16777216,
        67108864,
        268435456,
        1073741824,
        4294967296,
        17179869184
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Payment {
        account: String,
        cents: i64,
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let serde = Bincode::<Payment>::new();
        let payment = Payment {
            account: "a-1".into(),
            cents: -250,
        };
        let mut out = Vec::new();
        serde.serialize(&payment, &mut out).unwrap();
        assert_eq!(serde.deserialize(&out).unwrap(), payment);
        out.push(0);
        assert!(serde.deserialize(&out).is_err());
        assert!(serde.deserialize(&[0xff]).is_err());
    }

    #[test]
    fn a_length_prefix_beyond_the_input_is_an_error_not_an_allocation() {
        // A string claiming 2^44 bytes (16 TiB): varint tag 253 then a u64 little-endian.
        let mut poison = vec![253u8];
        poison.extend_from_slice(&(1u64 << 44).to_le_bytes());
        poison.extend_from_slice(b"abcd");
        assert_eq!(poison.len(), 13);
        let err = Bincode::<Payment>::new()
            .deserialize(&poison)
            .expect_err("refused");
        assert!(err.to_string().contains("claims more"), "{err}");
        // Close to usize::MAX: bincode would panic with "capacity overflow".
        let mut poison = vec![253u8];
        poison.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(Bincode::<String>::new().deserialize(&poison).is_err());
        assert!(Bincode::<Vec<u8>>::new().deserialize(&poison).is_err());
    }

    #[test]
    fn values_whose_memory_outgrows_their_encoding_still_decode() {
        // One-byte varints that decode to 16-byte integers: the most memory per input byte.
        let serde = Bincode::<Vec<u128>>::new();
        let values: Vec<u128> = (0..1000).map(|i| i % 200).collect();
        let mut out = Vec::new();
        serde.serialize(&values, &mut out).unwrap();
        assert_eq!(serde.deserialize(&out).unwrap(), values);
        let strings = Bincode::<Vec<String>>::new();
        let values: Vec<String> = (0..500).map(|i| "x".repeat(i % 7)).collect();
        out.clear();
        strings.serialize(&values, &mut out).unwrap();
        assert_eq!(strings.deserialize(&out).unwrap(), values);
    }
}
