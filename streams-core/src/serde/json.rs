//! [`Json<T>`]: any serde type as JSON text.

use std::marker::PhantomData;

use super::{Serde, SerdeError};

/// Encodes any `serde` type as JSON.
pub struct Json<T>(PhantomData<fn() -> T>);

impl<T> Json<T> {
    /// A JSON serde for `T`.
    pub fn new() -> Self {
        Json(PhantomData)
    }
}

impl<T> Default for Json<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for Json<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Json<{}>", std::any::type_name::<T>())
    }
}

impl<T> Serde<T> for Json<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    fn serialize(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        serde_json::to_writer(out, value).map_err(SerdeError::serialize::<T>)
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        serde_json::from_slice(bytes).map_err(SerdeError::deserialize::<T>)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Alert {
        account: String,
        score: u32,
    }

    #[test]
    fn round_trips_and_rejects_garbage() {
        let serde = Json::<Alert>::new();
        let alert = Alert {
            account: "a".into(),
            score: 9,
        };
        let mut out = Vec::new();
        serde.serialize(&alert, &mut out).unwrap();
        assert_eq!(out, br#"{"account":"a","score":9}"#);
        assert_eq!(serde.deserialize(&out).unwrap(), alert);
        assert!(serde.deserialize(b"{not json").is_err());
    }
}
