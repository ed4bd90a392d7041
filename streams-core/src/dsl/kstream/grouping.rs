//! Grouping a [`KStream`] for aggregation (`group_by_key`, `group_by`) and repartitioning it
//! (`repartition`): both bring the records of a key together in one task.

use std::sync::Arc;

use super::KStream;
use crate::dsl::ops::Map;
use crate::dsl::repartition::add_repartition;
use crate::dsl::{Grouped, KGroupedStream, Repartitioned};

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Groups records by their current key, for aggregation. If an earlier operator may have
    /// changed the key, the aggregation reads through a repartition topic.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let counts = stream.group_by_key().count(Materialized::as_("counts-by-key"));
    /// # let _ = counts;
    /// ```
    pub fn group_by_key(&self) -> KGroupedStream<K, V> {
        self.group_by_key_with(Grouped::default())
    }

    /// [`group_by_key`](Self::group_by_key) with a name and serdes for the repartition topic.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let grouped = stream.group_by_key_with(Grouped::as_("by-key"));
    /// # let _ = grouped;
    /// ```
    pub fn group_by_key_with(&self, grouped: Grouped<K, V>) -> KGroupedStream<K, V> {
        KGroupedStream::new(self.clone(), grouped)
    }

    /// Groups records by a new key computed from each record; the aggregation reads through a
    /// repartition topic so that each key lands on one task.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let per_word = stream
    ///     .group_by(|_k, word: &String| word.to_lowercase())
    ///     .count(Materialized::as_("per-word"));
    /// # let _ = per_word;
    /// ```
    pub fn group_by<K2, F>(&self, selector: F) -> KGroupedStream<K2, V>
    where
        K2: Clone + 'static,
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
    {
        self.group_by_with(selector, Grouped::default())
    }

    /// [`group_by`](Self::group_by) with a name and serdes for the repartition topic.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Grouped, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let grouped = stream.group_by_with(
    ///     |_k, v: &String| v.clone(),
    ///     Grouped::with(Serdes::string(), Serdes::string()).with_name("by-value"),
    /// );
    /// # let _ = grouped;
    /// ```
    pub fn group_by_with<K2, F>(
        &self,
        selector: F,
        grouped: Grouped<K2, V>,
    ) -> KGroupedStream<K2, V>
    where
        K2: Clone + 'static,
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
    {
        let selector =
            Arc::new(move |k: K, v: V| Ok::<_, std::convert::Infallible>((selector(&k, &v), v)));
        let name = self.add_key_changing("KSTREAM-KEY-SELECT", move || Map::new(selector.clone()));
        let selected = self.child(name, None, self.value_serde.clone(), true);
        KGroupedStream::new(selected, grouped)
    }

    /// Writes the stream through a new internal topic keyed by the current key, so that
    /// records of a key meet in one task downstream.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let rekeyed = stream.select_key(|_k, v: &String| v.clone()).repartition();
    /// # let _ = rekeyed;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn repartition(&self) -> KStream<K, V> {
        self.repartition_with(Repartitioned::default())
    }

    /// [`repartition`](Self::repartition) with a topic name, partition count and serdes.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, Repartitioned, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let spread = stream.repartition_with(Repartitioned::default().with_name("spread").with_partitions(12));
    /// # let _ = spread;
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn repartition_with(&self, repartitioned: Repartitioned<K, V>) -> KStream<K, V> {
        let name = repartitioned
            .name
            .clone()
            .unwrap_or_else(|| self.state.borrow_mut().new_name("KSTREAM-REPARTITION"));
        let key_serde = self.state.borrow_mut().require_serde(
            repartitioned
                .key_serde
                .clone()
                .or_else(|| self.key_serde.clone()),
            &format!("repartition `{name}`"),
        );
        let value_serde = repartitioned
            .value_serde
            .clone()
            .or_else(|| self.value_serde.clone());
        let Some(key_serde) = key_serde else {
            return self.clone();
        };
        let Some(source) = add_repartition(
            &self.state,
            &self.node,
            &name,
            key_serde.clone(),
            value_serde.clone(),
            true,
        ) else {
            return self.clone();
        };
        if let Some(partitions) = repartitioned.partitions {
            self.state
                .borrow_mut()
                .set_internal_topic_partitions(&format!("{name}-repartition"), partitions);
        }
        self.child(source, Some(key_serde), value_serde, false)
    }
}
