//! Window definitions ([`TimeWindows`], [`SlidingWindows`], [`SessionWindows`]), windowed keys
//! ([`Windowed`]) and their serdes.

use std::time::Duration;

use crate::serde::{Serde, SerdeError, SharedSerde};
use crate::{Error, Result};

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A window's bounds in ms. For time windows the end is exclusive (`[start, end)`); for
/// sliding and session windows it is inclusive (`[start, end]`), as in Kafka Streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    /// Start time.
    pub start: i64,
    /// End time.
    pub end: i64,
}

/// A key within a window: what windowed aggregations are keyed by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Windowed<K> {
    /// The record key.
    pub key: K,
    /// The window.
    pub window: Window,
}

impl<K: std::fmt::Display> std::fmt::Display for Windowed<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}@{}/{}]",
            self.key, self.window.start, self.window.end
        )
    }
}

/// Tumbling or hopping windows of fixed size, with a grace period for late records.
///
/// A record at `t` belongs to every window with `start <= t < start + size`, starts being
/// multiples of the advance (never negative). A window accepts records until stream time
/// reaches `end + grace`; later ones are dropped, logged and counted.
///
/// ```
/// use std::time::Duration;
/// use streams_core::dsl::TimeWindows;
///
/// let hopping = TimeWindows::of_size_and_grace(Duration::from_secs(10), Duration::from_secs(2))
///     .advance_by(Duration::from_secs(5));
/// let starts: Vec<i64> = hopping.windows_for(12_000).iter().map(|w| w.start).collect();
/// assert_eq!(starts, vec![5_000, 10_000]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    pub(crate) size: i64,
    pub(crate) advance: i64,
    pub(crate) grace: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size` with no grace period.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = streams_core::dsl::TimeWindows::of_size_with_no_grace(Duration::from_secs(60));
    /// assert_eq!(w.windows_for(61_000).len(), 1);
    /// ```
    pub fn of_size_with_no_grace(size: Duration) -> Self {
        Self::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` accepting records up to `grace` after they end.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = streams_core::dsl::TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(5));
    /// # let _ = w;
    /// ```
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> Self {
        TimeWindows {
            size: ms(size),
            advance: ms(size),
            grace: ms(grace),
        }
    }

    /// Hopping windows: a new window every `advance` (at most the size).
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = streams_core::dsl::TimeWindows::of_size_with_no_grace(Duration::from_secs(60)).advance_by(Duration::from_secs(30));
    /// assert_eq!(w.windows_for(61_000).len(), 2);
    /// ```
    pub fn advance_by(mut self, advance: Duration) -> Self {
        self.advance = ms(advance);
        self
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.size <= 0 || self.advance <= 0 || self.advance > self.size || self.grace < 0 {
            return Err(Error::Topology(format!(
                "TimeWindows need 0 < advance <= size and grace >= 0; got size {} ms, advance {} ms, grace {} ms",
                self.size, self.advance, self.grace
            )));
        }
        if self.size.checked_add(self.grace).is_none() {
            return Err(Error::Topology(format!(
                "TimeWindows of size {} ms and grace {} ms: their sum overflows the time range",
                self.size, self.grace
            )));
        }
        Ok(())
    }

    /// The windows a record at `timestamp` belongs to, by ascending start.
    ///
    /// Empty when the record cannot be windowed: a negative timestamp, or one so close to
    /// `i64::MAX` that a window's end (or its end plus grace) would not fit in an `i64`.
    /// Windowed operators hand such records to the timestamp policy
    /// (`default.timestamp.extractor`).
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = streams_core::dsl::TimeWindows::of_size_with_no_grace(Duration::from_millis(10));
    /// assert_eq!(w.windows_for(25).iter().map(|w| (w.start, w.end)).collect::<Vec<_>>(), vec![(20, 30)]);
    /// assert!(w.windows_for(i64::MAX - 5).is_empty());
    /// ```
    pub fn windows_for(&self, timestamp: i64) -> Vec<Window> {
        let mut out = Vec::new();
        if timestamp < 0 || self.advance <= 0 || self.size <= 0 {
            return out;
        }
        // The latest window holding the record ends after it; if that end (plus grace) does
        // not fit, the record cannot be windowed.
        let Some(_) = timestamp
            .checked_add(self.size)
            .and_then(|end| end.checked_add(self.grace.max(0)))
        else {
            return out;
        };
        let first = timestamp
            .saturating_sub(self.size)
            .saturating_add(self.advance);
        let mut start = (first.max(0) / self.advance) * self.advance;
        while start <= timestamp {
            out.push(Window {
                start,
                end: start + self.size,
            });
            match start.checked_add(self.advance) {
                Some(next) => start = next,
                None => break,
            }
        }
        out
    }
}

/// Sliding windows: for each record a window `[t - difference, t]` and, when it would hold
/// records, `[t + 1, t + 1 + difference]`; both ends inclusive. Aggregates over every distinct
/// set of records no further apart than the time difference.
///
/// ```
/// use std::time::Duration;
/// use streams_core::dsl::SlidingWindows;
///
/// let windows = SlidingWindows::of_time_difference_and_grace(Duration::from_secs(5), Duration::ZERO);
/// # let _ = windows;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    pub(crate) difference: i64,
    pub(crate) grace: i64,
}

impl SlidingWindows {
    /// Sliding windows with no grace period.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = streams_core::dsl::SlidingWindows::of_time_difference_with_no_grace(Duration::from_secs(10));
    /// # let _ = w;
    /// ```
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// Sliding windows accepting records up to `grace` after a window ends.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = streams_core::dsl::SlidingWindows::of_time_difference_and_grace(Duration::from_secs(10), Duration::from_secs(2));
    /// # let _ = w;
    /// ```
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        SlidingWindows {
            difference: ms(difference),
            grace: ms(grace),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.difference <= 0 || self.grace < 0 {
            return Err(Error::Topology(format!(
                "SlidingWindows need a time difference > 0 and grace >= 0; got {} ms and {} ms",
                self.difference, self.grace
            )));
        }
        if self.reach().is_none() {
            return Err(Error::Topology(format!(
                "SlidingWindows of time difference {} ms and grace {} ms: twice the difference plus grace overflows the time range",
                self.difference, self.grace
            )));
        }
        Ok(())
    }

    /// How far past a record's timestamp its windows (and their grace) reach: the right
    /// window ends at `t + 1 + difference`, its retention adds another difference and grace.
    pub(crate) fn reach(&self) -> Option<i64> {
        self.difference
            .checked_mul(2)?
            .checked_add(self.grace)?
            .checked_add(1)
    }
}

/// Session windows: records of a key no more than `gap` apart belong to one session
/// (`[first, last]`, inclusive); a record that bridges sessions merges them.
///
/// ```
/// use std::time::Duration;
/// use streams_core::dsl::SessionWindows;
///
/// let sessions = SessionWindows::of_inactivity_gap_and_grace(Duration::from_secs(300), Duration::from_secs(60));
/// # let _ = sessions;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    pub(crate) gap: i64,
    pub(crate) grace: i64,
}

impl SessionWindows {
    /// Sessions split by `gap` of inactivity, with no grace period.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = streams_core::dsl::SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(300));
    /// # let _ = w;
    /// ```
    pub fn of_inactivity_gap_with_no_grace(gap: Duration) -> Self {
        Self::of_inactivity_gap_and_grace(gap, Duration::ZERO)
    }

    /// Sessions split by `gap` of inactivity, accepting records up to `grace` late.
    ///
    /// ```
    /// use std::time::Duration;
    /// let w = streams_core::dsl::SessionWindows::of_inactivity_gap_and_grace(Duration::from_secs(300), Duration::from_secs(30));
    /// # let _ = w;
    /// ```
    pub fn of_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> Self {
        SessionWindows {
            gap: ms(gap),
            grace: ms(grace),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.gap <= 0 || self.grace < 0 {
            return Err(Error::Topology(format!(
                "SessionWindows need a gap > 0 and grace >= 0; got {} ms and {} ms",
                self.gap, self.grace
            )));
        }
        if self.reach().is_none() {
            return Err(Error::Topology(format!(
                "SessionWindows of gap {} ms and grace {} ms: their sum overflows the time range",
                self.gap, self.grace
            )));
        }
        Ok(())
    }

    /// How far past a record's timestamp its session (and grace) reach.
    pub(crate) fn reach(&self) -> Option<i64> {
        self.gap.checked_add(self.grace)
    }
}

/// How a windowed key is encoded: Kafka Streams' formats, so that Java consumers can read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WindowedFormat {
    /// `key | start` (8 bytes); the end is `start + size` (Kafka's `TimeWindowedSerde`).
    Time { size: i64 },
    /// `key | end | start` (Kafka's `SessionWindowedSerde`).
    Session,
}

/// Serde for [`Windowed`] keys around a serde for the key.
pub struct WindowedSerde<K> {
    inner: SharedSerde<K>,
    format: WindowedFormat,
}

impl<K> std::fmt::Debug for WindowedSerde<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowedSerde")
            .field("format", &self.format)
            .finish()
    }
}

impl<K> WindowedSerde<K> {
    /// Time-windowed keys (`key | start`), windows of `size`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::WindowedSerde;
    /// use streams_core::serde::Serdes;
    /// let serde = WindowedSerde::time(Serdes::string(), Duration::from_secs(60));
    /// # let _ = serde;
    /// ```
    pub fn time(inner: SharedSerde<K>, size: Duration) -> Self {
        WindowedSerde {
            inner,
            format: WindowedFormat::Time { size: ms(size) },
        }
    }

    pub(crate) fn time_ms(inner: SharedSerde<K>, size: i64) -> Self {
        WindowedSerde {
            inner,
            format: WindowedFormat::Time { size },
        }
    }

    /// Session-windowed keys (`key | end | start`).
    ///
    /// ```
    /// use streams_core::dsl::WindowedSerde;
    /// use streams_core::serde::Serdes;
    /// let serde = WindowedSerde::session(Serdes::string());
    /// # let _ = serde;
    /// ```
    pub fn session(inner: SharedSerde<K>) -> Self {
        WindowedSerde {
            inner,
            format: WindowedFormat::Session,
        }
    }
}

impl<K: 'static> Serde<Windowed<K>> for WindowedSerde<K> {
    fn serialize(&self, value: &Windowed<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        self.inner.serialize(&value.key, out)?;
        match self.format {
            WindowedFormat::Time { .. } => out.extend_from_slice(&value.window.start.to_be_bytes()),
            WindowedFormat::Session => {
                out.extend_from_slice(&value.window.end.to_be_bytes());
                out.extend_from_slice(&value.window.start.to_be_bytes());
            }
        }
        Ok(())
    }

    fn deserialize(&self, bytes: &[u8]) -> Result<Windowed<K>, SerdeError> {
        let short = || SerdeError::deserialize::<Windowed<K>>("too short for its window");
        let read = |at: usize| -> Result<i64, SerdeError> {
            let slice: [u8; 8] = bytes
                .get(at..at + 8)
                .ok_or_else(short)?
                .try_into()
                .map_err(|_| short())?;
            Ok(i64::from_be_bytes(slice))
        };
        match self.format {
            WindowedFormat::Time { size } => {
                let at = bytes.len().checked_sub(8).ok_or_else(short)?;
                let start = read(at)?;
                Ok(Windowed {
                    key: self.inner.deserialize(&bytes[..at])?,
                    window: Window {
                        start,
                        end: start.saturating_add(size),
                    },
                })
            }
            WindowedFormat::Session => {
                let at = bytes.len().checked_sub(16).ok_or_else(short)?;
                Ok(Windowed {
                    key: self.inner.deserialize(&bytes[..at])?,
                    window: Window {
                        end: read(at)?,
                        start: read(at + 8)?,
                    },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::Serdes;
    use std::sync::Arc;

    #[test]
    fn hopping_windows_follow_kafka() {
        let w = TimeWindows::of_size_with_no_grace(Duration::from_millis(12))
            .advance_by(Duration::from_millis(5));
        let starts: Vec<i64> = w.windows_for(21).iter().map(|w| w.start).collect();
        assert_eq!(starts, vec![10, 15, 20]);
        let w = TimeWindows::of_size_with_no_grace(Duration::from_millis(6))
            .advance_by(Duration::from_millis(5));
        assert_eq!(w.windows_for(7), vec![Window { start: 5, end: 11 }]);
        let w = TimeWindows::of_size_with_no_grace(Duration::from_millis(12));
        assert_eq!(w.windows_for(21), vec![Window { start: 12, end: 24 }]);
        let w = TimeWindows::of_size_with_no_grace(Duration::from_millis(10))
            .advance_by(Duration::from_millis(5));
        assert_eq!(
            w.windows_for(3),
            vec![Window { start: 0, end: 10 }],
            "no negative starts"
        );
        assert!(w.windows_for(-1).is_empty());
        assert!(
            TimeWindows::of_size_with_no_grace(Duration::from_millis(5))
                .advance_by(Duration::from_millis(6))
                .validate()
                .is_err()
        );
    }

    #[test]
    fn windowed_serdes_use_kafka_layouts() {
        let time = WindowedSerde::time(Serdes::string(), Duration::from_millis(100));
        let key = Windowed {
            key: "k".to_string(),
            window: Window {
                start: 300,
                end: 400,
            },
        };
        let mut out = Vec::new();
        time.serialize(&key, &mut out).unwrap();
        assert_eq!(out.len(), 1 + 8);
        assert_eq!(time.deserialize(&out).unwrap(), key);
        let session: WindowedSerde<String> =
            WindowedSerde::session(Arc::new(crate::serde::StringSerde));
        let key = Windowed {
            key: "k".to_string(),
            window: Window { start: 5, end: 20 },
        };
        out.clear();
        session.serialize(&key, &mut out).unwrap();
        assert_eq!(&out[1..9], &20i64.to_be_bytes());
        assert_eq!(session.deserialize(&out).unwrap(), key);
        assert!(session.deserialize(b"short").is_err());
    }
}
