//! [`EmitStrategy`]: when a windowed aggregation forwards its results (Kafka's KIP-825).

/// When a windowed aggregation forwards results downstream, as Kafka Streams'
/// `EmitStrategy`: on every update of a window (the default), or once per window when it
/// closes (its end plus grace has passed in stream time).
///
/// With [`on_window_close`](Self::on_window_close) the aggregation emits each closed window's
/// final result once, in window-time order, without old values, and without the record cache
/// (the store is not cached, as in Kafka Streams). Emissions are throttled by wall-clock time:
/// closed windows are looked for at most once per
/// [`__emit.interval.ms.kstreams.windowed.aggregation__`](crate::config::EMIT_INTERVAL_MS_KSTREAMS_WINDOWED_AGGREGATION)
/// (1000 ms unless set), so a window may be emitted a little after it closed, with a later
/// record.
///
/// ```
/// use std::time::Duration;
/// use streams_core::dsl::{Consumed, EmitStrategy, Materialized, StreamsBuilder, TimeWindows};
/// use streams_core::serde::Serdes;
///
/// let builder = StreamsBuilder::new();
/// let per_minute = builder
///     .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
///     .group_by_key()
///     .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(60)))
///     .emit_strategy(EmitStrategy::on_window_close())
///     .count(Materialized::as_("clicks-per-minute"));
/// # let _ = per_minute;
/// # builder.build()?;
/// # Ok::<(), streams_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmitStrategy {
    /// Forward every update of a window (Kafka's `ON_WINDOW_UPDATE`), through the record cache
    /// when the store is cached.
    #[default]
    OnWindowUpdate,
    /// Forward each window's result once, when the window closes (Kafka's `ON_WINDOW_CLOSE`).
    OnWindowClose,
}

impl EmitStrategy {
    /// Emit every update of a window: Kafka's `EmitStrategy.onWindowUpdate()`.
    pub fn on_window_update() -> Self {
        EmitStrategy::OnWindowUpdate
    }

    /// Emit each window's final result once it closes: Kafka's `EmitStrategy.onWindowClose()`.
    pub fn on_window_close() -> Self {
        EmitStrategy::OnWindowClose
    }

    /// Whether results wait for the window to close.
    pub fn is_on_window_close(self) -> bool {
        self == EmitStrategy::OnWindowClose
    }
}
