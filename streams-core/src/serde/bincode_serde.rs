//! [`Bincode<T>`]: any serde type in bincode 2's standard encoding.

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
        let (value, read) = bincode::serde::decode_from_slice(bytes, bincode::config::standard())
            .map_err(SerdeError::deserialize::<T>)?;
        if read != bytes.len() {
            return Err(SerdeError::deserialize::<T>(format!(
                "{} trailing bytes after the value",
                bytes.len() - read
            )));
        }
        Ok(value)
    }
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
}
