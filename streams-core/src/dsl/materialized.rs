//! [`Materialized`]: how a table's store is built (name, serdes, engine, logging, caching,
//! retention, versioning).

use crate::serde::SharedSerde;
use crate::state::{StoreBuilder, StoreEngine};

/// How a table is stored: store name (which also names its changelog, and a repartition topic
/// before it), serdes, engine and logging, and whether it keeps its history
/// ([`as_versioned`](Self::as_versioned)).
///
/// ```
/// use streams_core::dsl::Materialized;
/// use streams_core::state::StoreEngine;
///
/// let m: Materialized<String, u64> =
///     Materialized::as_("counts").with_engine(StoreEngine::InMemory).with_logging_disabled();
/// # let _ = m;
/// ```
pub struct Materialized<K, V> {
    pub(crate) name: Option<String>,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) engine: StoreEngine,
    pub(crate) logging: bool,
    pub(crate) caching: bool,
    pub(crate) retention: Option<std::time::Duration>,
    /// A versioned store's history retention and segment interval.
    pub(crate) versioned: Option<(std::time::Duration, Option<std::time::Duration>)>,
}

impl<K, V> std::fmt::Debug for Materialized<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Materialized")
            .field("name", &self.name)
            .field("engine", &self.engine)
            .field("logging", &self.logging)
            .field("versioned", &self.versioned)
            .field("caching", &self.caching)
            .finish_non_exhaustive()
    }
}

/// What a versioned table keeps: its store's history retention and segment interval, in ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct VersionedSpec {
    pub(crate) history_retention_ms: i64,
    pub(crate) segment_interval_ms: i64,
}

impl<K, V> Default for Materialized<K, V> {
    fn default() -> Self {
        Materialized {
            name: None,
            key_serde: None,
            value_serde: None,
            engine: StoreEngine::default(),
            logging: true,
            caching: true,
            retention: None,
            versioned: None,
        }
    }
}

impl<K, V> Materialized<K, V> {
    /// A store named `name` (queryable under that name).
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, u64> = Materialized::as_("counts");
    /// # let _ = m;
    /// ```
    pub fn as_(name: impl Into<String>) -> Self {
        Materialized {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// A versioned store named `name` keeping each key's values by timestamp for
    /// `history_retention` (Kafka Streams'
    /// `Materialized.as(Stores.persistentVersionedKeyValueStore(name, historyRetention))`).
    ///
    /// A table materialized so is *versioned* (KIP-914), and so are the tables derived from it
    /// without another materialization (`filter`, `map_values`):
    /// - stream–table joins look its value up as of each stream record's timestamp, and may
    ///   wait for late table updates ([`Joined::with_grace_period`](super::Joined::with_grace_period));
    /// - an update older than its key's latest (out of order) still reaches `to_stream`, but
    ///   table–table and foreign-key joins and `group_by` ignore it;
    /// - `filter` forwards a delete for every update that fails it;
    /// - an update older than the history retention behind the table's stream time is dropped;
    /// - it has no record cache, and `suppress` refuses it.
    ///
    /// The history retention is also the grace period of the table: how late an update may be.
    /// Interactive queries read the latest value or the value as of a time
    /// ([`KafkaStreams::versioned_key_value_store`](crate::KafkaStreams::versioned_key_value_store)).
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Joined, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// // Exchange rates by currency (in millionths), with a day of history.
    /// let rates = builder.table(
    ///     "rates",
    ///     Consumed::with(Serdes::string(), Serdes::i64()),
    ///     Materialized::as_versioned("rates", Duration::from_secs(86_400)),
    /// );
    /// // Each payment converts at the rate valid when it was made, waiting up to a minute for
    /// // late rate updates.
    /// builder
    ///     .stream("payments", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .join_table_with(
    ///         &rates,
    ///         |cents: &i64, rate: &i64| cents * rate / 1_000_000,
    ///         Joined::default().with_grace_period(Duration::from_secs(60)),
    ///     )
    ///     .to("payments-in-eur");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn as_versioned(name: impl Into<String>, history_retention: std::time::Duration) -> Self {
        Materialized {
            name: Some(name.into()),
            versioned: Some((history_retention, None)),
            ..Self::default()
        }
    }

    /// Keeps a versioned store's older versions in segments of `interval` (Kafka Streams'
    /// `persistentVersionedKeyValueStore(name, historyRetention, segmentInterval)`); by default
    /// the interval Kafka Streams picks for the retention. No effect on other stores.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, i64> = Materialized::as_versioned("rates", Duration::from_secs(86_400))
    ///     .with_segment_interval(Duration::from_secs(3_600));
    /// # let _ = m;
    /// ```
    pub fn with_segment_interval(mut self, interval: std::time::Duration) -> Self {
        if let Some((_, segment)) = &mut self.versioned {
            *segment = Some(interval);
        }
        self
    }

    /// The versioned store these settings ask for, if any.
    pub(crate) fn versioned_spec(&self) -> Option<VersionedSpec> {
        let (history, segment) = self.versioned?;
        let history_retention_ms = i64::try_from(history.as_millis()).unwrap_or(i64::MAX);
        Some(VersionedSpec {
            history_retention_ms,
            segment_interval_ms: segment.map_or_else(
                || streams_state::default_segment_interval(history_retention_ms),
                |s| i64::try_from(s.as_millis()).unwrap_or(i64::MAX).max(1),
            ),
        })
    }

    /// A store with a generated name and these serdes.
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// use streams_core::serde::Serdes;
    /// let m = Materialized::with(Serdes::string(), Serdes::u64());
    /// # let _ = m;
    /// ```
    pub fn with(key_serde: SharedSerde<K>, value_serde: SharedSerde<V>) -> Self {
        Materialized {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Self::default()
        }
    }

    /// Sets the key serde.
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// use streams_core::serde::Serdes;
    /// let m: Materialized<String, u64> = Materialized::as_("c").with_key_serde(Serdes::string());
    /// # let _ = m;
    /// ```
    pub fn with_key_serde(mut self, serde: SharedSerde<K>) -> Self {
        self.key_serde = Some(serde);
        self
    }

    /// Sets the value serde.
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// use streams_core::serde::Serdes;
    /// let m: Materialized<String, u64> = Materialized::as_("c").with_value_serde(Serdes::u64());
    /// # let _ = m;
    /// ```
    pub fn with_value_serde(mut self, serde: SharedSerde<V>) -> Self {
        self.value_serde = Some(serde);
        self
    }

    /// Chooses the engine (RocksDB by default).
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// use streams_core::state::StoreEngine;
    /// let m: Materialized<String, u64> = Materialized::as_("c").with_engine(StoreEngine::InMemory);
    /// # let _ = m;
    /// ```
    pub fn with_engine(mut self, engine: StoreEngine) -> Self {
        self.engine = engine;
        self
    }

    /// Turns the changelog off.
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, u64> = Materialized::as_("scratch").with_logging_disabled();
    /// # let _ = m;
    /// ```
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// How long a window or session store keeps windows (at least size + grace, the default).
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, u64> = Materialized::as_("per-minute").with_retention(Duration::from_secs(86_400));
    /// # let _ = m;
    /// ```
    pub fn with_retention(mut self, retention: std::time::Duration) -> Self {
        self.retention = Some(retention);
        self
    }

    /// Applies engine, logging and caching to a window or session store builder.
    pub(crate) fn configure(&self, mut builder: StoreBuilder) -> StoreBuilder {
        builder = builder.with_engine(self.engine);
        if !self.logging {
            builder = builder.with_logging_disabled();
        }
        if self.caching {
            builder = builder.with_caching_enabled();
        }
        builder
    }

    /// Turns the record cache off: every update is written and forwarded at once.
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, u64> = Materialized::as_("c").with_caching_disabled();
    /// # let _ = m;
    /// ```
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }

    /// The store builder of a table for these settings: versioned when asked for
    /// ([`as_versioned`](Self::as_versioned)), else timestamped.
    pub(crate) fn table_store_builder(
        &self,
        name: String,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> StoreBuilder
    where
        K: 'static,
        V: 'static,
    {
        let Some(spec) = self.versioned_spec() else {
            return self.store_builder(name, key_serde, value_serde);
        };
        let builder =
            versioned_store_builder(name, spec, key_serde, value_serde).with_engine(self.engine);
        if self.logging {
            builder
        } else {
            builder.with_logging_disabled()
        }
    }

    /// Puts the record cache (`statestore.cache.max.bytes`) in front of the store, the default
    /// as in Kafka Streams: between commits, updates of a key, of a window or of a session
    /// become one store write and one downstream update, forwarded when the cache is flushed
    /// (at a commit) or evicts it.
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, u64> = Materialized::as_("c").with_caching_enabled();
    /// # let _ = m;
    /// ```
    pub fn with_caching_enabled(mut self) -> Self {
        self.caching = true;
        self
    }

    /// The store builder for these settings (a timestamped key-value store).
    pub(crate) fn store_builder(
        &self,
        name: String,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> StoreBuilder
    where
        K: 'static,
        V: 'static,
    {
        let mut builder = StoreBuilder::timestamped_key_value(name, key_serde, value_serde)
            .with_engine(self.engine);
        if !self.logging {
            builder = builder.with_logging_disabled();
        }
        if self.caching {
            builder = builder.with_caching_enabled();
        }
        builder
    }
}

/// A versioned store builder for a table keeping `spec`'s history.
pub(crate) fn versioned_store_builder<K: 'static, V: 'static>(
    name: String,
    spec: VersionedSpec,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
) -> StoreBuilder {
    StoreBuilder::versioned_key_value(
        name,
        std::time::Duration::from_millis(u64::try_from(spec.history_retention_ms).unwrap_or(0)),
        key_serde,
        value_serde,
    )
    .with_segment_interval(std::time::Duration::from_millis(
        u64::try_from(spec.segment_interval_ms).unwrap_or(1),
    ))
}
