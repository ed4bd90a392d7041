//! Operator parameters: [`Consumed`], [`Produced`], [`Grouped`], [`Repartitioned`], [`Branched`].

use crate::serde::{DefaultSerde, SharedSerde};

/// How a source reads its topic: key and value serdes, and optionally the source node's name.
///
/// ```
/// use streams_core::dsl::Consumed;
/// use streams_core::serde::Serdes;
///
/// let consumed = Consumed::with(Serdes::string(), Serdes::i64()).with_name("payments-source");
/// # let _ = consumed;
/// ```
pub struct Consumed<K, V> {
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) name: Option<String>,
    pub(crate) extractor: Option<crate::topology::TimestampExtractor<K, V>>,
}

impl<K, V> std::fmt::Debug for Consumed<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumed")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<K: DefaultSerde, V: DefaultSerde> Default for Consumed<K, V> {
    /// Reads keys and values with their types' [default serdes](DefaultSerde).
    fn default() -> Self {
        Consumed::with(K::default_serde(), V::default_serde())
    }
}

impl<K, V> Consumed<K, V> {
    /// Reads keys and values with these serdes.
    ///
    /// ```
    /// use streams_core::dsl::Consumed;
    /// use streams_core::serde::Serdes;
    /// let c = Consumed::with(Serdes::string(), Serdes::bytes());
    /// # let _ = c;
    /// ```
    pub fn with(key_serde: SharedSerde<K>, value_serde: SharedSerde<V>) -> Self {
        Consumed {
            key_serde,
            value_serde,
            name: None,
            extractor: None,
        }
    }

    /// Takes each record's event time from `extractor(key, value, kafka_timestamp)` instead of
    /// the Kafka timestamp; a negative time is handled by `default.timestamp.extractor`.
    ///
    /// ```
    /// use streams_core::dsl::Consumed;
    /// use streams_core::serde::Serdes;
    /// // Event time is the value itself (ms since the epoch).
    /// let c = Consumed::with(Serdes::string(), Serdes::i64()).with_timestamp_extractor(|_k, v: &i64, _kafka_ts| *v);
    /// # let _ = c;
    /// ```
    pub fn with_timestamp_extractor<F>(mut self, extractor: F) -> Self
    where
        F: Fn(&K, &V, i64) -> i64 + Send + Sync + 'static,
    {
        self.extractor = Some(std::sync::Arc::new(extractor));
        self
    }

    /// Names the source node.
    ///
    /// ```
    /// use streams_core::dsl::Consumed;
    /// use streams_core::serde::Serdes;
    /// let c = Consumed::with(Serdes::string(), Serdes::string()).with_name("orders-source");
    /// # let _ = c;
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// How a sink writes: key and value serdes (else those the stream carries, else built-ins).
///
/// ```
/// use streams_core::dsl::Produced;
/// use streams_core::serde::Serdes;
///
/// let produced = Produced::with(Serdes::string(), Serdes::u64());
/// # let _ = produced;
/// ```
pub struct Produced<K, V> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
}

impl<K, V> std::fmt::Debug for Produced<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Produced").finish_non_exhaustive()
    }
}

impl<K, V> Default for Produced<K, V> {
    fn default() -> Self {
        Produced {
            key_serde: None,
            value_serde: None,
        }
    }
}

impl<K, V> Produced<K, V> {
    /// Writes keys and values with these serdes.
    ///
    /// ```
    /// use streams_core::dsl::Produced;
    /// use streams_core::serde::Serdes;
    /// let p = Produced::with(Serdes::string(), Serdes::json::<Vec<u32>>());
    /// # let _ = p;
    /// ```
    pub fn with(key_serde: SharedSerde<K>, value_serde: SharedSerde<V>) -> Self {
        Produced {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
        }
    }
}

/// How records are grouped: serdes for the repartition topic, and a name for it.
///
/// ```
/// use streams_core::dsl::Grouped;
/// use streams_core::serde::Serdes;
///
/// let grouped = Grouped::with(Serdes::string(), Serdes::string()).with_name("by-word");
/// # let _ = grouped;
/// ```
pub struct Grouped<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
}

impl<K, V> std::fmt::Debug for Grouped<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grouped")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<K, V> Default for Grouped<K, V> {
    fn default() -> Self {
        Grouped {
            name: None,
            key_serde: None,
            value_serde: None,
        }
    }
}

impl<K, V> Grouped<K, V> {
    /// Names the grouping: a repartition topic is then `<name>-repartition`.
    ///
    /// ```
    /// use streams_core::dsl::Grouped;
    /// let g: Grouped<String, String> = Grouped::as_("by-user");
    /// # let _ = g;
    /// ```
    pub fn as_(name: impl Into<String>) -> Self {
        Grouped {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// Groups with these serdes.
    ///
    /// ```
    /// use streams_core::dsl::Grouped;
    /// use streams_core::serde::Serdes;
    /// let g = Grouped::with(Serdes::string(), Serdes::i64());
    /// # let _ = g;
    /// ```
    pub fn with(key_serde: SharedSerde<K>, value_serde: SharedSerde<V>) -> Self {
        Grouped {
            name: None,
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
        }
    }

    /// Sets the name.
    ///
    /// ```
    /// use streams_core::dsl::Grouped;
    /// use streams_core::serde::Serdes;
    /// let g = Grouped::with(Serdes::string(), Serdes::i64()).with_name("by-user");
    /// # let _ = g;
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// How [`KStream::repartition_with`](super::KStream::repartition_with) repartitions: the topic's
/// name (`<name>-repartition`), partition count and serdes.
///
/// ```
/// use streams_core::dsl::Repartitioned;
/// use streams_core::serde::Serdes;
///
/// let r = Repartitioned::with(Serdes::string(), Serdes::i64()).with_name("by-account").with_partitions(8);
/// # let _ = r;
/// ```
pub struct Repartitioned<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) partitions: Option<i32>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
}

impl<K, V> std::fmt::Debug for Repartitioned<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repartitioned")
            .field("name", &self.name)
            .field("partitions", &self.partitions)
            .finish_non_exhaustive()
    }
}

impl<K, V> Default for Repartitioned<K, V> {
    fn default() -> Self {
        Repartitioned {
            name: None,
            partitions: None,
            key_serde: None,
            value_serde: None,
        }
    }
}

impl<K, V> Repartitioned<K, V> {
    /// Repartitions with these serdes.
    ///
    /// ```
    /// use streams_core::dsl::Repartitioned;
    /// use streams_core::serde::Serdes;
    /// let r = Repartitioned::with(Serdes::string(), Serdes::bytes());
    /// # let _ = r;
    /// ```
    pub fn with(key_serde: SharedSerde<K>, value_serde: SharedSerde<V>) -> Self {
        Repartitioned {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Self::default()
        }
    }

    /// Names the repartition topic `<name>-repartition`.
    ///
    /// ```
    /// use streams_core::dsl::Repartitioned;
    /// let r: Repartitioned<String, String> = Repartitioned::default().with_name("by-merchant");
    /// # let _ = r;
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Fixes the repartition topic's partition count (default: that of the input).
    ///
    /// ```
    /// use streams_core::dsl::Repartitioned;
    /// let r: Repartitioned<String, String> = Repartitioned::default().with_partitions(12);
    /// # let _ = r;
    /// ```
    pub fn with_partitions(mut self, partitions: i32) -> Self {
        self.partitions = Some(partitions);
        self
    }
}

/// A branch of [`KStream::split`](super::KStream::split): its name.
///
/// ```
/// use streams_core::dsl::Branched;
/// let b = Branched::as_("large");
/// # let _ = b;
/// ```
#[derive(Debug, Clone, Default)]
pub struct Branched {
    pub(crate) name: Option<String>,
}

impl Branched {
    /// A branch named `name` (its stream is found under `<split prefix><name>`).
    ///
    /// ```
    /// let b = streams_core::dsl::Branched::as_("large");
    /// # let _ = b;
    /// ```
    pub fn as_(name: impl Into<String>) -> Self {
        Branched {
            name: Some(name.into()),
        }
    }
}
