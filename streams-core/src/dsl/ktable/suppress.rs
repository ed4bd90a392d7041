//! [`KTable::suppress`]: holding back a windowed table's updates until each window closes,
//! with its settings [`Suppressed`] and [`BufferConfig`].

use super::KTable;
use crate::Error;
use crate::dsl::Windowed;
use crate::dsl::ops::suppress::SuppressUntilWindowCloses;
use crate::state::{StoreBuilder, StoreEngine};

/// How [`KTable::suppress`] holds back updates.
#[derive(Debug, Clone)]
pub struct BufferConfig {
    _unbounded: (),
}

impl BufferConfig {
    /// No limit: memory (and the buffer's changelog) grows with the number of open windows.
    ///
    /// ```
    /// let buffer = streams_core::dsl::BufferConfig::unbounded();
    /// # let _ = buffer;
    /// ```
    pub fn unbounded() -> Self {
        BufferConfig { _unbounded: () }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KTable<Windowed<K>, V> {
    /// Holds back a windowed table's updates and emits one final result per window when it
    /// closes (window end + grace; for sessions + gap), as stream time passes that point.
    /// Deleted windows (merged sessions) are not emitted.
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
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn suppress(&self, suppressed: Suppressed) -> KTable<Windowed<K>, V> {
        let _ = suppressed;
        let mut st = self.state.borrow_mut();
        let name = st.new_name("KTABLE-SUPPRESS");
        if self.is_versioned() {
            // KIP-914: a suppression's buffer would hold out-of-order versions as latest.
            st.record::<()>(Err(Error::Topology(format!(
                "suppress `{name}`: suppress() is only supported for non-versioned KTables"
            ))));
            return self.derived(self.node.clone(), self.value_serde.clone(), None);
        }
        let Some(delay) = self.window_close_delay else {
            st.record::<()>(Err(Error::Topology(format!(
                "suppress `{name}`: until_window_closes needs a windowed aggregation upstream"
            ))));
            return self.derived(self.node.clone(), self.value_serde.clone(), None);
        };
        let what = format!("suppression `{name}`");
        let (Some(key_serde), Some(value_serde)) = (
            st.require_serde(self.key_serde.clone(), &what),
            st.require_serde(self.value_serde.clone(), &what),
        ) else {
            return self.derived(self.node.clone(), self.value_serde.clone(), None);
        };
        let store = format!("{name}-STATE-STORE");
        let (store_name, ks, vs) = (store.clone(), key_serde, value_serde.clone());
        st.add_processor(
            &name,
            move || {
                SuppressUntilWindowCloses::<K, V>::new(
                    store_name.clone(),
                    delay,
                    ks.clone(),
                    vs.clone(),
                )
            },
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

/// When a suppression emits. Only emit-final for windows so far.
#[derive(Debug, Clone)]
pub struct Suppressed {
    _buffer: BufferConfig,
}

impl Suppressed {
    /// Emit each window's final result once, when it closes.
    ///
    /// ```
    /// use streams_core::dsl::{BufferConfig, Suppressed};
    /// let s = Suppressed::until_window_closes(BufferConfig::unbounded());
    /// # let _ = s;
    /// ```
    pub fn until_window_closes(buffer: BufferConfig) -> Self {
        Suppressed { _buffer: buffer }
    }
}
