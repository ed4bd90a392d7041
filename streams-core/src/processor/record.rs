//! [`Record`], [`Headers`] and [`RecordMetadata`]: what flows through a topology.

use std::rc::Rc;

/// A record in a topology: key, value, timestamp (ms since the epoch) and headers.
#[derive(Debug, Clone, PartialEq)]
pub struct Record<K, V> {
    /// The key.
    pub key: K,
    /// The value.
    pub value: V,
    /// Event time in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// Kafka record headers.
    pub headers: Headers,
}

impl<K, V> Record<K, V> {
    /// A record with no headers.
    pub fn new(key: K, value: V, timestamp: i64) -> Self {
        Record {
            key,
            value,
            timestamp,
            headers: Headers::default(),
        }
    }

    /// The same record with another key.
    pub fn with_key<K2>(self, key: K2) -> Record<K2, V> {
        Record {
            key,
            value: self.value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another value.
    pub fn with_value<V2>(self, value: V2) -> Record<K, V2> {
        Record {
            key: self.key,
            value,
            timestamp: self.timestamp,
            headers: self.headers,
        }
    }

    /// The same record with another timestamp.
    pub fn with_timestamp(mut self, timestamp: i64) -> Self {
        self.timestamp = timestamp;
        self
    }

    /// The same record with other headers.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }
}

/// One Kafka header: a key and an optional value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name.
    pub key: String,
    /// Header value; `None` is Kafka's null.
    pub value: Option<Vec<u8>>,
}

/// Kafka record headers, in order; keys may repeat.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers(Vec::new())
    }

    /// Appends a header.
    pub fn add(&mut self, key: impl Into<String>, value: Option<Vec<u8>>) -> &mut Self {
        self.0.push(Header {
            key: key.into(),
            value,
        });
        self
    }

    /// The last header named `key`.
    pub fn last(&self, key: &str) -> Option<&Header> {
        self.0.iter().rev().find(|h| h.key == key)
    }

    /// Removes every header named `key`.
    pub fn remove(&mut self, key: &str) -> &mut Self {
        self.0.retain(|h| h.key != key);
        self
    }

    /// All headers in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.0.iter()
    }

    /// Number of headers.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Where the record being processed came from. Absent in punctuations.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordMetadata {
    /// Source topic (for internal topics, the full name with the application id).
    pub topic: Rc<str>,
    /// Source partition.
    pub partition: i32,
    /// Offset in the source partition.
    pub offset: i64,
}
