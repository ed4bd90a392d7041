//! [`QueryableStores`]: the stores the HTTP server answers for, with their key and value types
//! erased behind JSON: a key arrives as a URL segment and is parsed into the store's key type
//! (then serialized by the store's own key serde to find its partition), values leave as JSON
//! through the types' `serde::Serialize`.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::error::ApiError;
use crate::runtime::KafkaStreamsHandle;

/// The shape of a queryable store, as the HTTP API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum StoreShape {
    KeyValue,
    Window,
    Session,
    Global,
    Versioned,
}

/// One entry of a scan: the serialized key (which orders entries across instances and pages),
/// the key and the value as JSON.
pub(crate) type ScanEntry = (Vec<u8>, Value, Value);

/// A store the HTTP server can read, whatever its types.
pub(crate) trait StoreEndpoint: Send + Sync {
    fn shape(&self) -> StoreShape;

    /// The key named by a URL segment, serialized by the store's key serde.
    fn key_bytes(&self, streams: &KafkaStreamsHandle, raw: &str) -> Result<Vec<u8>, ApiError>;

    /// The local value under the key.
    fn get(
        &self,
        streams: &KafkaStreamsHandle,
        raw: &str,
        stale: bool,
    ) -> Result<Option<Value>, ApiError>;

    /// A versioned store's local value under the key as of `as_of` (the latest with `None`),
    /// with the time it became valid and, for an older version, until when.
    fn get_versioned(
        &self,
        streams: &KafkaStreamsHandle,
        raw: &str,
        as_of: Option<i64>,
        stale: bool,
    ) -> Result<Option<Value>, ApiError>;

    /// A page of local entries with keys in `[from, to]` after `after`.
    fn scan(
        &self,
        streams: &KafkaStreamsHandle,
        from: Option<&str>,
        to: Option<&str>,
        after: Option<&[u8]>,
        limit: usize,
        stale: bool,
    ) -> Result<Vec<ScanEntry>, ApiError>;

    /// The key's windows starting in `[from, to]`.
    fn windows(
        &self,
        streams: &KafkaStreamsHandle,
        raw: &str,
        from: i64,
        to: i64,
        stale: bool,
    ) -> Result<Value, ApiError>;

    /// The key's sessions.
    fn sessions(
        &self,
        streams: &KafkaStreamsHandle,
        raw: &str,
        stale: bool,
    ) -> Result<Value, ApiError>;
}

/// The stores registered for HTTP queries, by name.
#[derive(Clone, Default)]
pub struct QueryableStores {
    stores: BTreeMap<String, Arc<dyn StoreEndpoint>>,
}

impl std::fmt::Debug for QueryableStores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.stores.iter().map(|(name, e)| (name, e.shape())))
            .finish()
    }
}

/// Bounds of a store's key type for HTTP queries: parsed from a URL, written as JSON.
pub trait HttpKey: Serialize + DeserializeOwned + Send + Sync + 'static {}
impl<T: Serialize + DeserializeOwned + Send + Sync + 'static> HttpKey for T {}

/// Bounds of a store's value type for HTTP queries: written as JSON.
pub trait HttpValue: Serialize + Send + Sync + 'static {}
impl<T: Serialize + Send + Sync + 'static> HttpValue for T {}

impl QueryableStores {
    /// No stores.
    pub fn new() -> Self {
        Self::default()
    }

    fn add<E: StoreEndpoint + 'static>(&mut self, name: &str, endpoint: E) -> &mut Self {
        self.stores.insert(name.to_string(), Arc::new(endpoint));
        self
    }

    /// Serves key-value store `name` (a `KTable`'s store, a count, an aggregate) with keys `K`
    /// and values `V`.
    pub fn key_value<K: HttpKey, V: HttpValue>(&mut self, name: &str) -> &mut Self {
        self.add(name, Typed::<K, V>::new(name, StoreShape::KeyValue))
    }

    /// Serves window store `name` (a windowed aggregation's store).
    pub fn window<K: HttpKey, V: HttpValue>(&mut self, name: &str) -> &mut Self {
        self.add(name, Typed::<K, V>::new(name, StoreShape::Window))
    }

    /// Serves session store `name` (a session-windowed aggregation's store).
    pub fn session<K: HttpKey, V: HttpValue>(&mut self, name: &str) -> &mut Self {
        self.add(name, Typed::<K, V>::new(name, StoreShape::Session))
    }

    /// Serves versioned key-value store `name` (a table materialized with
    /// `Materialized::as_versioned`): `GET /stores/{name}/keys/{key}` answers the latest value
    /// and `?as_of=<epoch ms>` the value as of that time, each with its validity.
    pub fn versioned<K: HttpKey, V: HttpValue>(&mut self, name: &str) -> &mut Self {
        self.add(name, Typed::<K, V>::new(name, StoreShape::Versioned))
    }

    /// Serves global store `name` (a `GlobalKTable`'s store: every instance holds all of it).
    pub fn global<K: HttpKey, V: HttpValue>(&mut self, name: &str) -> &mut Self {
        self.add(name, Typed::<K, V>::new(name, StoreShape::Global))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Arc<dyn StoreEndpoint>> {
        self.stores.get(name)
    }

    /// Store names with their shapes.
    pub(crate) fn shapes(&self) -> BTreeMap<String, StoreShape> {
        self.stores
            .iter()
            .map(|(name, e)| (name.clone(), e.shape()))
            .collect()
    }

    /// The names of the stores served.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.stores.keys().map(String::as_str)
    }
}

/// Parses a key from a URL segment: as JSON first (`42`, `"a b"`, `{"id":1}`), else as a
/// plain string (`card-17`), so string keys need no quotes.
pub(crate) fn parse_key<K: DeserializeOwned>(raw: &str) -> Result<K, ApiError> {
    serde_json::from_str::<K>(raw)
        .or_else(|_| serde_json::from_value::<K>(Value::String(raw.to_string())))
        .map_err(|e| {
            ApiError::bad_request(format!(
                "`{raw}` is not a key of type {}: {e}",
                std::any::type_name::<K>()
            ))
        })
}

fn json<T: Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot write a {} as JSON: {e}", std::any::type_name::<T>()),
        )
    })
}

/// The endpoint of a store of keys `K` and values `V`.
struct Typed<K, V> {
    name: String,
    shape: StoreShape,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Typed<K, V> {
    fn new(name: &str, shape: StoreShape) -> Self {
        Typed {
            name: name.to_string(),
            shape,
            types: PhantomData,
        }
    }

    fn wrong_shape(&self, asked: &str) -> ApiError {
        ApiError::bad_request(format!(
            "store `{}` is a {:?} store: it has no {asked}",
            self.name, self.shape
        ))
    }
}

impl<K: HttpKey, V: HttpValue> StoreEndpoint for Typed<K, V> {
    fn shape(&self) -> StoreShape {
        self.shape
    }

    fn key_bytes(&self, streams: &KafkaStreamsHandle, raw: &str) -> Result<Vec<u8>, ApiError> {
        let key: K = parse_key(raw)?;
        if self.shape == StoreShape::Global {
            return Ok(streams.global_store::<K, V>(&self.name)?.key_bytes(&key)?);
        }
        Ok(streams.store_key_bytes::<K, V>(&self.name, &key)?)
    }

    fn get(
        &self,
        streams: &KafkaStreamsHandle,
        raw: &str,
        stale: bool,
    ) -> Result<Option<Value>, ApiError> {
        let key: K = parse_key(raw)?;
        let value = match self.shape {
            StoreShape::KeyValue => {
                let mut view = streams.key_value_store::<K, V>(&self.name)?;
                if stale {
                    view = view.with_stale_stores();
                }
                view.get(&key)?
            }
            StoreShape::Global => streams.global_store::<K, V>(&self.name)?.get(&key)?,
            StoreShape::Versioned => return self.get_versioned(streams, raw, None, stale),
            _ => {
                return Err(
                    self.wrong_shape("single value per key: ask for its windows or sessions")
                );
            }
        };
        value.as_ref().map(json).transpose()
    }

    fn get_versioned(
        &self,
        streams: &KafkaStreamsHandle,
        raw: &str,
        as_of: Option<i64>,
        stale: bool,
    ) -> Result<Option<Value>, ApiError> {
        if self.shape != StoreShape::Versioned {
            return Err(self.wrong_shape("history: `as_of` is for versioned stores"));
        }
        let key: K = parse_key(raw)?;
        let mut view = streams.versioned_key_value_store::<K, V>(&self.name)?;
        if stale {
            view = view.with_stale_stores();
        }
        let found = match as_of {
            Some(at) => view.get_as_of(&key, at)?,
            None => view.get(&key)?,
        };
        found
            .map(|record| {
                Ok(serde_json::json!({
                    "value": json(&record.value)?,
                    "timestamp": record.timestamp,
                    "valid_to": record.valid_to,
                }))
            })
            .transpose()
    }

    fn scan(
        &self,
        streams: &KafkaStreamsHandle,
        from: Option<&str>,
        to: Option<&str>,
        after: Option<&[u8]>,
        limit: usize,
        stale: bool,
    ) -> Result<Vec<ScanEntry>, ApiError> {
        let entries = match self.shape {
            StoreShape::KeyValue => {
                let mut view = streams.key_value_store::<K, V>(&self.name)?;
                if stale {
                    view = view.with_stale_stores();
                }
                let from = from.map(|raw| self.key_bytes(streams, raw)).transpose()?;
                let to = to.map(|raw| self.key_bytes(streams, raw)).transpose()?;
                view.scan(from.as_deref(), to.as_deref(), after, limit)?
            }
            StoreShape::Global => {
                if from.is_some() || to.is_some() {
                    return Err(self.wrong_shape("key ranges (page through `all`)"));
                }
                streams
                    .global_store::<K, V>(&self.name)?
                    .scan(after, limit)?
            }
            StoreShape::Versioned => {
                return Err(self.wrong_shape(
                    "scans (Kafka Streams' versioned stores answer key queries only)",
                ));
            }
            _ => return Err(self.wrong_shape("key-value entries to scan")),
        };
        entries
            .into_iter()
            .map(|(bytes, key, value)| Ok((bytes, json(&key)?, json(&value)?)))
            .collect()
    }

    fn windows(
        &self,
        streams: &KafkaStreamsHandle,
        raw: &str,
        from: i64,
        to: i64,
        stale: bool,
    ) -> Result<Value, ApiError> {
        if self.shape != StoreShape::Window {
            return Err(self.wrong_shape("windows"));
        }
        let key: K = parse_key(raw)?;
        let mut view = streams.window_store::<K, V>(&self.name)?;
        if stale {
            view = view.with_stale_stores();
        }
        let windows = view
            .fetch(&key, from, to)?
            .into_iter()
            .map(|(start, value)| Ok(serde_json::json!({ "start": start, "value": json(&value)? })))
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(Value::Array(windows))
    }

    fn sessions(
        &self,
        streams: &KafkaStreamsHandle,
        raw: &str,
        stale: bool,
    ) -> Result<Value, ApiError> {
        if self.shape != StoreShape::Session {
            return Err(self.wrong_shape("sessions"));
        }
        let key: K = parse_key(raw)?;
        let mut view = streams.session_store::<K, V>(&self.name)?;
        if stale {
            view = view.with_stale_stores();
        }
        let sessions = view
            .fetch(&key)?
            .into_iter()
            .map(|(session, value)| {
                Ok(serde_json::json!({
                    "start": session.start,
                    "end": session.end,
                    "value": json(&value)?,
                }))
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(Value::Array(sessions))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_as_json_or_as_plain_strings() {
        assert_eq!(
            parse_key::<String>("card-17").ok(),
            Some("card-17".to_string())
        );
        assert_eq!(parse_key::<String>("\"a b\"").ok(), Some("a b".to_string()));
        assert_eq!(parse_key::<String>("42").ok(), Some("42".to_string()));
        assert_eq!(parse_key::<u64>("42").ok(), Some(42));
        let bad = parse_key::<u64>("forty-two").err();
        assert!(
            bad.is_some_and(|e| e.status == axum::http::StatusCode::BAD_REQUEST
                && e.message.contains("forty-two"))
        );
    }
}
