//! [`JoinBuffer`]: where a stream–table join with a grace period (KIP-923) keeps stream
//! records until stream time passes their timestamp plus the grace, as Kafka Streams'
//! `RocksDBTimeOrderedKeyValueBuffer` does.
//!
//! Entries are keyed `time | key | seq` (time sign-flipped big-endian, `seq` 4 bytes
//! big-endian), so that they leave in Kafka's order: by timestamp, then by serialized key, then
//! by arrival. The value holds the record's headers, then its value. The buffer's stream time
//! (the largest timestamp it took) is kept beside the entries, so that a restored buffer goes
//! on refusing what it refused.

use crate::processor::{Headers, Record};
use crate::serde::{SerdeError, SharedSerde};
use crate::state::KeyValueStoreHandle;
use crate::{Error, Result};
use streams_state::segments::{decode_time, encode_time};

/// Kafka Streams' `ConsumerRecord.NO_TIMESTAMP`.
const NO_TIMESTAMP: i64 = -1;
const SEQ_LEN: usize = 4;

/// Above every entry's key (entries start with a timestamp below `i64::MAX`).
fn observed_key() -> Vec<u8> {
    let mut key = vec![0xFF; 9];
    key.extend_from_slice(b"observed-stream-time");
    key
}

/// The stream records a join holds back, in a store of their own.
pub(crate) struct JoinBuffer<K, V> {
    name: String,
    store: KeyValueStoreHandle<Vec<u8>, Vec<u8>>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    grace: i64,
    /// The largest timestamp put (`-1` before any).
    observed: i64,
    observed_dirty: bool,
    seq: u32,
}

impl<K, V> std::fmt::Debug for JoinBuffer<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinBuffer")
            .field("name", &self.name)
            .field("grace", &self.grace)
            .field("observed", &self.observed)
            .finish()
    }
}

impl<K: 'static, V: 'static> JoinBuffer<K, V> {
    /// The buffer in `store` (restored, if the task restarted), holding records for `grace`
    /// ms of stream time.
    pub(crate) fn open(
        store: KeyValueStoreHandle<Vec<u8>, Vec<u8>>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        grace: i64,
    ) -> Result<Self> {
        let name = store.name().to_string();
        let meta = observed_key();
        let mut observed = NO_TIMESTAMP;
        let mut seq = 0;
        store.visit(|key, value| {
            if key == meta {
                let bytes: [u8; 8] = value.as_slice().try_into().map_err(|_| corrupt(&name))?;
                observed = observed.max(i64::from_be_bytes(bytes));
            } else {
                let (time, _, entry_seq) = split_key(&key).ok_or_else(|| corrupt(&name))?;
                observed = observed.max(time);
                seq = seq.max(entry_seq);
            }
            Ok(true)
        })?;
        Ok(JoinBuffer {
            name,
            store,
            key_serde,
            value_serde,
            grace,
            observed,
            observed_dirty: false,
            seq,
        })
    }

    fn serde_err(&self) -> impl Fn(SerdeError) -> Error + '_ {
        |source| Error::StoreSerde {
            store: self.name.clone(),
            source,
        }
    }

    /// Holds `record` back, unless it is already later than the grace period (then it should
    /// join at once: `false`).
    pub(crate) fn put(&mut self, record: &Record<K, V>) -> Result<bool> {
        if self.observed.saturating_sub(self.grace) > record.timestamp {
            return Ok(false);
        }
        self.seq = (self.seq + 1) & 0x7FFF_FFFF;
        let mut key = encode_time(record.timestamp).to_vec();
        self.key_serde
            .serialize(&record.key, &mut key)
            .map_err(self.serde_err())?;
        key.extend_from_slice(&self.seq.to_be_bytes());
        let mut value = encode_headers(&record.headers);
        self.value_serde
            .serialize(&record.value, &mut value)
            .map_err(self.serde_err())?;
        self.store.put(&key, &value)?;
        if record.timestamp > self.observed {
            self.observed = record.timestamp;
            self.observed_dirty = true;
        }
        Ok(true)
    }

    /// Takes out every record whose timestamp is at most the buffer's stream time minus the
    /// grace, in timestamp order.
    pub(crate) fn evict(&mut self) -> Result<Vec<Record<K, V>>> {
        let limit = self.observed.saturating_sub(self.grace);
        let Some(above) = limit.checked_add(1) else {
            return Ok(Vec::new());
        };
        // Keys at or above `above`'s 8 bytes have later timestamps (or are the metadata).
        let due = self
            .store
            .range(&Vec::new(), &encode_time(above).to_vec())?;
        let mut out = Vec::with_capacity(due.len());
        for (key, value) in due {
            let (timestamp, key_bytes, _) = split_key(&key).ok_or_else(|| corrupt(&self.name))?;
            if timestamp > limit {
                continue;
            }
            let (headers, value_bytes) =
                decode_headers(&value).ok_or_else(|| corrupt(&self.name))?;
            let record_key = self
                .key_serde
                .deserialize(key_bytes)
                .map_err(self.serde_err())?;
            let record_value = self
                .value_serde
                .deserialize(value_bytes)
                .map_err(self.serde_err())?;
            self.store.delete(&key)?;
            out.push(Record::new(record_key, record_value, timestamp).with_headers(headers));
        }
        Ok(out)
    }

    /// Writes the buffer's stream time beside its entries, if it moved (before a commit).
    pub(crate) fn flush(&mut self) -> Result<()> {
        if self.observed_dirty {
            self.store
                .put(&observed_key(), &self.observed.to_be_bytes().to_vec())?;
            self.observed_dirty = false;
        }
        Ok(())
    }
}

fn corrupt(store: &str) -> Error {
    Error::State {
        task: format!("join buffer `{store}`"),
        source: streams_state::Error::Corrupt {
            store: store.to_string(),
            reason: "an entry not in the join buffer's layout".into(),
        },
    }
}

/// An entry key's timestamp, serialized record key and sequence number.
fn split_key(key: &[u8]) -> Option<(i64, &[u8], u32)> {
    let (time, rest) = key.split_first_chunk::<8>()?;
    let (record_key, seq) = rest.split_last_chunk::<SEQ_LEN>()?;
    Some((decode_time(*time), record_key, u32::from_be_bytes(*seq)))
}

/// Headers as `count (4) | (name length (4) | name | flag (1) [| value length (4) | value])*`.
fn encode_headers(headers: &Headers) -> Vec<u8> {
    let mut out = Vec::new();
    let len = |n: usize| u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes();
    out.extend_from_slice(&len(headers.len()));
    for header in headers {
        out.extend_from_slice(&len(header.key.len()));
        out.extend_from_slice(header.key.as_bytes());
        match &header.value {
            Some(value) => {
                out.push(1);
                out.extend_from_slice(&len(value.len()));
                out.extend_from_slice(value);
            }
            None => out.push(0),
        }
    }
    out
}

/// Headers and the value bytes after them.
fn decode_headers(bytes: &[u8]) -> Option<(Headers, &[u8])> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (bytes.get(..n)?, bytes.get(n..)?);
        *bytes = rest;
        Some(head)
    }
    fn len(bytes: &mut &[u8]) -> Option<usize> {
        let raw: [u8; 4] = take(bytes, 4)?.try_into().ok()?;
        usize::try_from(u32::from_be_bytes(raw)).ok()
    }
    let mut rest = bytes;
    let mut headers = Headers::new();
    for _ in 0..len(&mut rest)? {
        let name_len = len(&mut rest)?;
        let name = std::str::from_utf8(take(&mut rest, name_len)?).ok()?;
        let value = match take(&mut rest, 1)? {
            [1] => {
                let value_len = len(&mut rest)?;
                Some(take(&mut rest, value_len)?.to_vec())
            }
            _ => None,
        };
        headers.add(name, value);
    }
    Some((headers, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_before_the_value() {
        let mut headers = Headers::new();
        headers
            .add("trace", Some(b"abc".to_vec()))
            .add("empty", None);
        let mut bytes = encode_headers(&headers);
        bytes.extend_from_slice(b"value");
        let (decoded, value) = decode_headers(&bytes).expect("decodes");
        assert_eq!(decoded, headers);
        assert_eq!(value, b"value");
        assert!(decode_headers(&bytes[..6]).is_none());
        let empty = encode_headers(&Headers::new());
        let (none, rest) = decode_headers(&empty).expect("decodes");
        assert!(none.is_empty() && rest.is_empty());
    }

    #[test]
    fn keys_split_into_time_key_and_sequence() {
        let mut key = encode_time(42).to_vec();
        key.extend_from_slice(b"k");
        key.extend_from_slice(&7u32.to_be_bytes());
        assert_eq!(split_key(&key), Some((42, b"k".as_slice(), 7)));
        assert_eq!(split_key(b"short"), None);
        assert!(observed_key() > encode_time(i64::MAX - 1).to_vec());
    }
}
