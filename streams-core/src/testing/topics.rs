//! Typed input and output topics of the test driver.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::driver::DriverCore;
use crate::processor::Headers;
use crate::serde::{SerdeError, SharedSerde, decode, encode};
use crate::{Error, Result};

/// A record as written to a topic: bytes, timestamp, headers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CapturedRecord {
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) timestamp: i64,
    pub(crate) headers: Headers,
}

/// A record read from an output topic.
///
/// Non-exhaustive: to compare with an expected record, build it with [`TestRecord::new`].
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct TestRecord<K, V> {
    /// The key.
    pub key: K,
    /// The value.
    pub value: V,
    /// The timestamp.
    pub timestamp: i64,
    /// The headers.
    pub headers: Headers,
}

impl<K, V> TestRecord<K, V> {
    /// A record of `key`, `value` and `timestamp`, without headers.
    pub fn new(key: K, value: V, timestamp: i64) -> Self {
        TestRecord {
            key,
            value,
            timestamp,
            headers: Headers::default(),
        }
    }

    /// The same record with `headers`.
    pub fn with_headers(mut self, headers: Headers) -> Self {
        self.headers = headers;
        self
    }
}

/// Pipes typed records into a topic of the driver.
pub struct TestInputTopic<K, V> {
    core: Rc<RefCell<DriverCore>>,
    topic: String,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K, V> std::fmt::Debug for TestInputTopic<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestInputTopic")
            .field("topic", &self.topic)
            .finish()
    }
}

fn serialize_err<'a>(topic: &'a str, field: &'static str) -> impl Fn(SerdeError) -> Error + 'a {
    move |source| Error::Serialization {
        topic: topic.to_string(),
        node: "test input".into(),
        field,
        source,
    }
}

impl<K: 'static, V: 'static> TestInputTopic<K, V> {
    pub(crate) fn new(
        core: Rc<RefCell<DriverCore>>,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        TestInputTopic {
            core,
            topic: topic.to_string(),
            key_serde,
            value_serde,
        }
    }

    /// Pipes one record with `timestamp` (ms) and processes it, and everything it causes,
    /// to the end.
    pub fn pipe_input(&self, key: K, value: V, timestamp: i64) -> Result<()> {
        self.pipe_with_headers(key, value, timestamp, Headers::new())
    }

    /// [`pipe_input`](Self::pipe_input) with headers.
    pub fn pipe_with_headers(
        &self,
        key: K,
        value: V,
        timestamp: i64,
        headers: Headers,
    ) -> Result<()> {
        let mut key_bytes = Vec::new();
        let mut value_bytes = Vec::new();
        let has_key = encode(&*self.key_serde, &key, &mut key_bytes)
            .map_err(serialize_err(&self.topic, "key"))?;
        let has_value = encode(&*self.value_serde, &value, &mut value_bytes)
            .map_err(serialize_err(&self.topic, "value"))?;
        self.core.borrow_mut().pipe(
            &self.topic,
            CapturedRecord {
                key: has_key.then_some(key_bytes),
                value: has_value.then_some(value_bytes),
                timestamp,
                headers,
            },
        )
    }

    /// Pipes raw bytes (for example a record that does not deserialize).
    pub fn pipe_raw(&self, key: Option<&[u8]>, value: Option<&[u8]>, timestamp: i64) -> Result<()> {
        self.core.borrow_mut().pipe(
            &self.topic,
            CapturedRecord {
                key: key.map(<[u8]>::to_vec),
                value: value.map(<[u8]>::to_vec),
                timestamp,
                headers: Headers::new(),
            },
        )
    }
}

/// Reads typed records from a topic the topology wrote to. Reading consumes.
pub struct TestOutputTopic<K, V> {
    core: Rc<RefCell<DriverCore>>,
    topic: String,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
}

impl<K, V> std::fmt::Debug for TestOutputTopic<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestOutputTopic")
            .field("topic", &self.topic)
            .finish()
    }
}

impl<K: 'static, V: 'static> TestOutputTopic<K, V> {
    pub(crate) fn new(
        core: Rc<RefCell<DriverCore>>,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        TestOutputTopic {
            core,
            topic: topic.to_string(),
            key_serde,
            value_serde,
        }
    }

    fn decode_err(&self, field: &'static str) -> impl Fn(SerdeError) -> Error + '_ {
        move |source| Error::Deserialization {
            topic: self.topic.clone(),
            partition: 0,
            offset: -1,
            field,
            source,
        }
    }

    /// The next record, if any.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// use streams_core::testing::{TestRecord, TopologyTestDriver};
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(Serdes::string(), Serdes::u64()))
    ///     .to("out");
    /// let driver = TopologyTestDriver::new(builder.build()?)?;
    /// let input = driver.input_topic("in", Serdes::string(), Serdes::u64());
    /// let output = driver.output_topic("out", Serdes::string(), Serdes::u64());
    /// input.pipe_input("k".to_string(), 7, 1_000)?;
    /// assert_eq!(
    ///     output.read_record()?,
    ///     Some(TestRecord::new("k".to_string(), 7, 1_000))
    /// );
    /// assert_eq!(output.read_record()?, None);
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn read_record(&self) -> Result<Option<TestRecord<K, V>>> {
        let Some(raw) = self.core.borrow_mut().read(&self.topic) else {
            return Ok(None);
        };
        Ok(Some(TestRecord {
            key: decode(&*self.key_serde, raw.key.as_deref()).map_err(self.decode_err("key"))?,
            value: decode(&*self.value_serde, raw.value.as_deref())
                .map_err(self.decode_err("value"))?,
            timestamp: raw.timestamp,
            headers: raw.headers,
        }))
    }

    /// Every remaining record.
    pub fn read_records(&self) -> Result<Vec<TestRecord<K, V>>> {
        let mut out = Vec::new();
        while let Some(record) = self.read_record()? {
            out.push(record);
        }
        Ok(out)
    }

    /// Every remaining record as `(key, value)`.
    pub fn read_key_values(&self) -> Result<Vec<(K, V)>> {
        Ok(self
            .read_records()?
            .into_iter()
            .map(|r| (r.key, r.value))
            .collect())
    }

    /// Every remaining record folded into the latest value per key, as a table.
    pub fn read_key_values_to_map(&self) -> Result<BTreeMap<K, V>>
    where
        K: Ord,
    {
        Ok(self.read_key_values()?.into_iter().collect())
    }

    /// Whether nothing is left to read.
    pub fn is_empty(&self) -> bool {
        self.core.borrow().remaining(&self.topic) == 0
    }

    /// How many records are left to read.
    pub fn len(&self) -> usize {
        self.core.borrow().remaining(&self.topic)
    }
}
