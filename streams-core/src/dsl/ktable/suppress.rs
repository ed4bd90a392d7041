//! [`KTable::suppress`]: holding back a table's updates, until each window closes or for a time
//! limit, with its settings [`Suppressed`] and [`BufferConfig`].

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::KTable;
use crate::Error;
use crate::dsl::Windowed;
use crate::dsl::ops::suppress::{BufferTime, Suppress, SuppressSpec};
use crate::state::{StoreBuilder, StoreEngine};

/// What a full buffer does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WhenFull {
    /// Forward the earliest entries early (Kafka's `emitEarlyWhenFull`).
    EmitEarly,
    /// Fail the task (Kafka's `shutDownWhenFull`).
    ShutDown,
}

/// The buffer of a [`Suppressed`]: how many records and bytes it may hold, and what it does
/// when full. Kafka Streams' `Suppressed.BufferConfig`.
///
/// ```
/// use streams_core::dsl::BufferConfig;
///
/// // At most 10,000 keys; when full, forward the earliest ones early.
/// let eager = BufferConfig::max_records(10_000);
/// // At most 64 MiB; when full, fail rather than forward anything early.
/// let strict = BufferConfig::max_bytes(64 << 20).shut_down_when_full();
/// # let _ = (eager, strict);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferConfig {
    max_records: u64,
    max_bytes: u64,
    when_full: WhenFull,
}

impl BufferConfig {
    /// No limit: memory (and the buffer's changelog) grows with the number of buffered keys.
    /// Strict: never forwards early.
    ///
    /// ```
    /// let buffer = streams_core::dsl::BufferConfig::unbounded();
    /// # let _ = buffer;
    /// ```
    pub fn unbounded() -> Self {
        BufferConfig {
            max_records: u64::MAX,
            max_bytes: u64::MAX,
            when_full: WhenFull::ShutDown,
        }
    }

    /// At most `records` buffered keys; when full, the earliest are forwarded early.
    pub fn max_records(records: u64) -> Self {
        BufferConfig {
            max_records: records,
            max_bytes: u64::MAX,
            when_full: WhenFull::EmitEarly,
        }
    }

    /// At most `bytes` buffered (counted as Kafka Streams counts them: keys, old and new
    /// values, record metadata); when full, the earliest are forwarded early.
    pub fn max_bytes(bytes: u64) -> Self {
        BufferConfig {
            max_records: u64::MAX,
            max_bytes: bytes,
            when_full: WhenFull::EmitEarly,
        }
    }

    /// Also limits the number of keys.
    pub fn with_max_records(mut self, records: u64) -> Self {
        self.max_records = records;
        self
    }

    /// Also limits the bytes.
    pub fn with_max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Removes both limits (keeping what a full buffer would do).
    pub fn with_no_bound(mut self) -> Self {
        self.max_records = u64::MAX;
        self.max_bytes = u64::MAX;
        self
    }

    /// When full, forward the earliest entries early (the default of the bounded buffers).
    pub fn emit_early_when_full(mut self) -> Self {
        self.when_full = WhenFull::EmitEarly;
        self
    }

    /// When full, fail the task (and, as Kafka's `shutDownWhenFull`, the thread) rather than
    /// forward anything early: a strict buffer, as [`Suppressed::until_window_closes`] needs.
    pub fn shut_down_when_full(mut self) -> Self {
        self.when_full = WhenFull::ShutDown;
        self
    }

    fn is_strict(&self) -> bool {
        self.when_full == WhenFull::ShutDown
    }
}

/// When [`KTable::suppress`] forwards a key's buffered update: Kafka Streams' `Suppressed`.
pub struct Suppressed<K> {
    time: BufferTime<K>,
    /// `None`: the upstream windows' grace (and gap), found when suppressing.
    wait: Option<Duration>,
    buffer: BufferConfig,
    name: Option<String>,
    final_results: bool,
    _key: PhantomData<fn(K)>,
}

impl<K> std::fmt::Debug for Suppressed<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suppressed")
            .field("wait", &self.wait)
            .field("buffer", &self.buffer)
            .field("name", &self.name)
            .field("final_results", &self.final_results)
            .finish()
    }
}

impl<K: 'static> Suppressed<Windowed<K>> {
    /// Emit each window's final result once, when it closes (window end plus grace; for
    /// sessions, plus the gap), as stream time passes that point. Deleted windows (merged
    /// sessions) are not emitted. The buffer must be strict (unbounded, or shut down when
    /// full): a final result is never forwarded early.
    ///
    /// ```
    /// use streams_core::dsl::{BufferConfig, Suppressed, Windowed};
    /// let s: Suppressed<Windowed<String>> = Suppressed::until_window_closes(BufferConfig::unbounded());
    /// # let _ = s;
    /// ```
    pub fn until_window_closes(buffer: BufferConfig) -> Self {
        Suppressed {
            time: BufferTime::WindowEnd(Arc::new(|key: &Windowed<K>| key.window.end)),
            wait: None,
            buffer,
            name: None,
            final_results: true,
            _key: PhantomData,
        }
    }
}

impl<K> Suppressed<K> {
    /// Hold each key's updates until `wait` of stream time has passed since the key's first
    /// buffered update, then forward its latest (deletes included), on any table.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{BufferConfig, Suppressed};
    /// let s: Suppressed<String> =
    ///     Suppressed::until_time_limit(Duration::from_secs(60), BufferConfig::max_records(1_000));
    /// # let _ = s;
    /// ```
    pub fn until_time_limit(wait: Duration, buffer: BufferConfig) -> Self {
        Suppressed {
            time: BufferTime::Record,
            wait: Some(wait),
            buffer,
            name: None,
            final_results: false,
            _key: PhantomData,
        }
    }

    /// Names the suppression's node (and its buffer store, `<name>-store`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    /// Holds back this table's updates in a buffer and forwards each key's latest change
    /// later: when its window closes ([`Suppressed::until_window_closes`], windowed tables
    /// only) or after a time limit ([`Suppressed::until_time_limit`], any table). Changes
    /// keep their old values. The buffer is an in-memory store with a changelog, so it
    /// survives restarts.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{BufferConfig, Consumed, Materialized, StreamsBuilder, Suppressed, TimeWindows};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key()
    ///     .windowed_by(TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(10)))
    ///     .count(Materialized::as_("clicks-per-minute"))
    ///     .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
    ///     .to_stream()
    ///     .map(|w, count| (w.key, count))
    ///     .to("final-click-counts");
    /// // Any table: at most one update per user and minute of stream time.
    /// builder
    ///     .table("profiles", Consumed::with(Serdes::string(), Serdes::string()), Materialized::default())
    ///     .suppress(Suppressed::until_time_limit(Duration::from_secs(60), BufferConfig::max_records(10_000)))
    ///     .to_stream()
    ///     .to("profile-updates");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn suppress(&self, suppressed: Suppressed<K>) -> KTable<K, V> {
        // The buffer keeps each key's prior value: it asks for old values, as Kafka's does.
        self.enable_sending_old_values();
        let mut st = self.state.borrow_mut();
        let name = suppressed
            .name
            .clone()
            .unwrap_or_else(|| st.new_name("KTABLE-SUPPRESS"));
        let fail = |st: &mut crate::dsl::builder::BuilderState, reason: String| {
            st.record::<()>(Err(Error::Topology(format!("suppress `{name}`: {reason}"))));
        };
        if self.is_versioned() {
            // KIP-914: a suppression's buffer would hold out-of-order versions as latest.
            fail(
                &mut st,
                "suppress() is only supported for non-versioned KTables".into(),
            );
            return self.derived(self.node.clone(), self.value_serde.clone(), None);
        }
        let wait = match suppressed.wait {
            Some(wait) => ms(wait),
            None => match self.window_close_delay {
                Some(delay) => delay,
                None => {
                    fail(
                        &mut st,
                        "until_window_closes needs a windowed aggregation upstream".into(),
                    );
                    return self.derived(self.node.clone(), self.value_serde.clone(), None);
                }
            },
        };
        if suppressed.final_results && !suppressed.buffer.is_strict() {
            fail(
                &mut st,
                "until_window_closes needs a strict buffer (unbounded, or shut_down_when_full): \
                 a final result is never emitted early"
                    .into(),
            );
            return self.derived(self.node.clone(), self.value_serde.clone(), None);
        }
        let what = format!("suppression `{name}`");
        let (Some(key_serde), Some(value_serde)) = (
            st.require_serde(self.key_serde.clone(), &what),
            st.require_serde(self.value_serde.clone(), &what),
        ) else {
            return self.derived(self.node.clone(), self.value_serde.clone(), None);
        };
        let store = match &suppressed.name {
            Some(name) => format!("{name}-store"),
            None => format!("{name}-STATE-STORE"),
        };
        let spec = SuppressSpec {
            time: suppressed.time.clone(),
            wait,
            max_records: suppressed.buffer.max_records,
            max_bytes: suppressed.buffer.max_bytes,
            shut_down_when_full: suppressed.buffer.is_strict(),
            drop_tombstones: suppressed.final_results,
        };
        let (store_name, ks, vs) = (store.clone(), key_serde, value_serde.clone());
        st.add_processor(
            &name,
            move || Suppress::<K, V>::new(store_name.clone(), spec.clone(), ks.clone(), vs.clone()),
            &self.node,
        );
        let buffer = StoreBuilder::key_value(
            store,
            crate::serde::Serdes::bytes(),
            crate::serde::Serdes::bytes(),
        )
        .with_engine(StoreEngine::InMemory);
        st.add_store(buffer, &name);
        drop(st);
        self.derived(name, Some(value_serde), None)
    }
}
