//! Writing a [`KStream`] to topics: a fixed one (`to`, `to_with`) or one chosen per record
//! (`to_dynamic`).

use std::sync::Arc;

use super::KStream;
use crate::dsl::Produced;

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Writes the stream to `topic` with the serdes the stream carries (or built-in ones).
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .to("out");
    /// # builder.build().unwrap();
    /// ```
    pub fn to(&self, topic: &str) {
        self.to_with(topic, Produced::default());
    }

    /// Writes the stream to `topic` with `produced`'s serdes.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Produced, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// stream
    ///     .map_values(|v: String| v.len() as u64)
    ///     .to_with("lengths", Produced::with(Serdes::string(), Serdes::u64()));
    /// # builder.build().unwrap();
    /// ```
    pub fn to_with(&self, topic: &str, produced: Produced<K, V>) {
        let mut state = self.state.borrow_mut();
        let name = state.new_name("KSTREAM-SINK");
        let what = format!("sink `{name}` to `{topic}`");
        let key_serde =
            state.require_serde(produced.key_serde.or_else(|| self.key_serde.clone()), &what);
        let value_serde = state.require_serde(
            produced.value_serde.or_else(|| self.value_serde.clone()),
            &what,
        );
        if let (Some(k), Some(v)) = (key_serde, value_serde) {
            state.add_sink(&name, topic, k, v, &self.node);
        }
    }

    /// Writes each record to the topic `extractor` names for it (the topics must exist).
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Produced, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("events", Consumed::with(Serdes::string(), Serdes::string()));
    /// stream.to_dynamic(|_k, v: &String| format!("events-{}", v.len() % 2), Produced::default());
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn to_dynamic<F>(&self, extractor: F, produced: Produced<K, V>)
    where
        F: Fn(&K, &V) -> String + Send + Sync + 'static,
    {
        let mut state = self.state.borrow_mut();
        let name = state.new_name("KSTREAM-SINK");
        let what = format!("sink `{name}` with a topic extractor");
        let key_serde =
            state.require_serde(produced.key_serde.or_else(|| self.key_serde.clone()), &what);
        let value_serde = state.require_serde(
            produced.value_serde.or_else(|| self.value_serde.clone()),
            &what,
        );
        if let (Some(k), Some(v)) = (key_serde, value_serde) {
            state.add_sink_dynamic(&name, Arc::new(extractor), k, v, &self.node);
        }
    }
}
