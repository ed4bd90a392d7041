//! Join parameters: [`JoinWindows`] for stream–stream joins, [`StreamJoined`] for their stores,
//! [`Joined`] for stream–table joins.

use std::time::Duration;

use crate::serde::SharedSerde;
use crate::{Error, Result};

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Which records of two streams join: a left record at `t` joins right records with
/// `t - before <= t' <= t + after` (both inclusive). Unmatched records of left and outer joins
/// are emitted once stream time passes their window end plus grace.
///
/// ```
/// use std::time::Duration;
/// use streams_core::dsl::JoinWindows;
///
/// let windows = JoinWindows::of_time_difference_and_grace(Duration::from_secs(10), Duration::from_secs(1))
///     .after(Duration::from_secs(30));
/// # let _ = windows;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    pub(crate) before: i64,
    pub(crate) after: i64,
    pub(crate) grace: i64,
}

impl JoinWindows {
    /// Records at most `difference` apart join, in either order; no grace period.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = streams_core::dsl::JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(5));
    /// # let _ = w;
    /// ```
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// Records at most `difference` apart join; late records are accepted for `grace`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = streams_core::dsl::JoinWindows::of_time_difference_and_grace(Duration::from_secs(5), Duration::from_secs(1));
    /// # let _ = w;
    /// ```
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        JoinWindows {
            before: ms(difference),
            after: ms(difference),
            grace: ms(grace),
        }
    }

    /// How far before a left record a right record may be.
    ///
    /// ```
    /// use std::time::Duration;
    /// // Only right records up to 5 s *after* a left record join it.
    /// let w = streams_core::dsl::JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(5)).before(Duration::ZERO);
    /// # let _ = w;
    /// ```
    pub fn before(mut self, before: Duration) -> Self {
        self.before = ms(before);
        self
    }

    /// How far after a left record a right record may be.
    ///
    /// ```
    /// use std::time::Duration;
    /// // Only right records up to 5 s *before* a left record join it.
    /// let w = streams_core::dsl::JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(5)).after(Duration::ZERO);
    /// # let _ = w;
    /// ```
    pub fn after(mut self, after: Duration) -> Self {
        self.after = ms(after);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.before.saturating_add(self.after) < 0 || self.grace < 0 {
            return Err(Error::Topology(format!(
                "JoinWindows need before + after >= 0 and grace >= 0; got before {} ms, after {} ms, grace {} ms",
                self.before, self.after, self.grace
            )));
        }
        if self
            .before
            .checked_add(self.after)
            .and_then(|size| size.checked_add(self.grace))
            .is_none()
        {
            return Err(Error::Topology(format!(
                "JoinWindows of before {} ms, after {} ms and grace {} ms: their sum overflows the time range",
                self.before, self.after, self.grace
            )));
        }
        Ok(())
    }
}

/// Serdes and store names of a stream–stream join.
///
/// ```
/// use streams_core::dsl::StreamJoined;
/// use streams_core::serde::Serdes;
///
/// let joined = StreamJoined::with(Serdes::string(), Serdes::i64(), Serdes::string()).with_store_name("payments-logins");
/// # let _ = joined;
/// ```
pub struct StreamJoined<K, V, VO> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) other_value_serde: Option<SharedSerde<VO>>,
    pub(crate) store_name: Option<String>,
}

impl<K, V, VO> std::fmt::Debug for StreamJoined<K, V, VO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamJoined")
            .field("store_name", &self.store_name)
            .finish_non_exhaustive()
    }
}

impl<K, V, VO> Default for StreamJoined<K, V, VO> {
    fn default() -> Self {
        StreamJoined {
            key_serde: None,
            value_serde: None,
            other_value_serde: None,
            store_name: None,
        }
    }
}

impl<K, V, VO> StreamJoined<K, V, VO> {
    /// Joins with these serdes for the key and the two values.
    ///
    /// ```
    /// use streams_core::dsl::StreamJoined;
    /// use streams_core::serde::Serdes;
    /// let j = StreamJoined::with(Serdes::string(), Serdes::i64(), Serdes::bytes());
    /// # let _ = j;
    /// ```
    pub fn with(
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        other_value_serde: SharedSerde<VO>,
    ) -> Self {
        StreamJoined {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            other_value_serde: Some(other_value_serde),
            store_name: None,
        }
    }

    /// Names the join's stores `<name>-this-join-store`, `<name>-other-join-store` (and
    /// `<name>-outer-shared-join-store` for left and outer joins).
    ///
    /// ```
    /// use streams_core::dsl::StreamJoined;
    /// let j: StreamJoined<String, i64, String> = StreamJoined::default().with_store_name("payment-logins");
    /// # let _ = j;
    /// ```
    pub fn with_store_name(mut self, name: impl Into<String>) -> Self {
        self.store_name = Some(name.into());
        self
    }
}

/// How a stream joins a table ([`KStream::join_table_with`](super::KStream::join_table_with)):
/// serdes for the key and the two values (for a repartition topic before the join and the
/// grace buffer), a name for the join (which also names its repartition topic and buffer), and
/// a grace period (Kafka Streams' `Joined`).
///
/// With a grace period (KIP-923, a versioned table only), stream records wait in a buffer
/// until stream time passes their timestamp plus the grace, then join, in timestamp order,
/// with the table as of their timestamp: table updates that arrive late (within the grace)
/// still meet the stream records they precede.
///
/// ```
/// use std::time::Duration;
/// use streams_core::dsl::Joined;
/// use streams_core::serde::Serdes;
///
/// let joined = Joined::with(Serdes::string(), Serdes::i64(), Serdes::i64())
///     .with_name("convert")
///     .with_grace_period(Duration::from_secs(30));
/// # let _ = joined;
/// ```
pub struct Joined<K, V, VO> {
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    pub(crate) other_value_serde: Option<SharedSerde<VO>>,
    pub(crate) name: Option<String>,
    pub(crate) grace: Option<Duration>,
}

impl<K, V, VO> std::fmt::Debug for Joined<K, V, VO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Joined")
            .field("name", &self.name)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl<K, V, VO> Default for Joined<K, V, VO> {
    fn default() -> Self {
        Joined {
            key_serde: None,
            value_serde: None,
            other_value_serde: None,
            name: None,
            grace: None,
        }
    }
}

impl<K, V, VO> Joined<K, V, VO> {
    /// Joins with these serdes for the key, the stream's values and the table's values.
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// use streams_core::serde::Serdes;
    /// let j = Joined::with(Serdes::string(), Serdes::i64(), Serdes::string());
    /// # let _ = j;
    /// ```
    pub fn with(
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        other_value_serde: SharedSerde<VO>,
    ) -> Self {
        Joined {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            other_value_serde: Some(other_value_serde),
            name: None,
            grace: None,
        }
    }

    /// A join named `name` (Kafka Streams' `Joined.as`).
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// let j: Joined<String, i64, String> = Joined::as_("enrich");
    /// # let _ = j;
    /// ```
    pub fn as_(name: impl Into<String>) -> Self {
        Joined {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// Names the join processor; a repartition topic before it is then `<name>-repartition`
    /// and a grace buffer `<name>-Buffer`.
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// let j: Joined<String, i64, String> = Joined::default().with_name("enrich");
    /// # let _ = j;
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Waits `grace` for late table updates: each stream record joins once stream time
    /// passes its timestamp plus `grace` (records already that late join at once). The
    /// table must be versioned, with a history retention of at least `grace`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::Joined;
    /// let j: Joined<String, i64, String> = Joined::default().with_grace_period(Duration::from_millis(500));
    /// # let _ = j;
    /// ```
    pub fn with_grace_period(mut self, grace: Duration) -> Self {
        self.grace = Some(grace);
        self
    }

    /// Sets the key serde.
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// use streams_core::serde::Serdes;
    /// let j: Joined<String, i64, String> = Joined::default().with_key_serde(Serdes::string());
    /// # let _ = j;
    /// ```
    pub fn with_key_serde(mut self, serde: SharedSerde<K>) -> Self {
        self.key_serde = Some(serde);
        self
    }

    /// Sets the serde of the stream's values.
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// use streams_core::serde::Serdes;
    /// let j: Joined<String, i64, String> = Joined::default().with_value_serde(Serdes::i64());
    /// # let _ = j;
    /// ```
    pub fn with_value_serde(mut self, serde: SharedSerde<V>) -> Self {
        self.value_serde = Some(serde);
        self
    }

    /// Sets the serde of the table's values.
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// use streams_core::serde::Serdes;
    /// let j: Joined<String, i64, String> = Joined::default().with_other_value_serde(Serdes::string());
    /// # let _ = j;
    /// ```
    pub fn with_other_value_serde(mut self, serde: SharedSerde<VO>) -> Self {
        self.other_value_serde = Some(serde);
        self
    }
}
