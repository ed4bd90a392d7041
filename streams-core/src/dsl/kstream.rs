//! [`KStream`]: a record stream and its operators.

use std::sync::Arc;

use super::builder::SharedState;
use super::ops::{Filter, FlatMapValues, Map, MapValues, Peek};
use super::{Grouped, KGroupedStream, Produced};
use crate::serde::SharedSerde;

/// An unbounded stream of key-value records. Cheap to clone; each operator returns a new handle.
pub struct KStream<K, V> {
    pub(crate) state: SharedState,
    pub(crate) node: String,
    pub(crate) key_serde: Option<SharedSerde<K>>,
    pub(crate) value_serde: Option<SharedSerde<V>>,
    /// Set once an operator may have changed the key: grouping then repartitions.
    pub(crate) repartition_required: bool,
}

impl<K, V> Clone for KStream<K, V> {
    fn clone(&self) -> Self {
        KStream {
            state: self.state.clone(),
            node: self.node.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

impl<K, V> std::fmt::Debug for KStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KStream")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    pub(crate) fn new(
        state: SharedState,
        node: String,
        key_serde: Option<SharedSerde<K>>,
        value_serde: Option<SharedSerde<V>>,
        repartition_required: bool,
    ) -> Self {
        KStream {
            state,
            node,
            key_serde,
            value_serde,
            repartition_required,
        }
    }

    /// The name of the node this handle points at.
    pub fn node_name(&self) -> &str {
        &self.node
    }

    fn child<K2: Clone + 'static, V2: Clone + 'static>(
        &self,
        node: String,
        key_serde: Option<SharedSerde<K2>>,
        value_serde: Option<SharedSerde<V2>>,
        repartition_required: bool,
    ) -> KStream<K2, V2> {
        KStream::new(
            self.state.clone(),
            node,
            key_serde,
            value_serde,
            repartition_required,
        )
    }

    fn add<P, F>(&self, prefix: &str, supplier: F) -> String
    where
        P: crate::processor::Processor,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let mut state = self.state.borrow_mut();
        let name = state.new_name(prefix);
        state.add_processor(&name, supplier, &self.node);
        name
    }

    /// Keeps the records for which `predicate` is true.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let large = stream.filter(|_account, cents: &i64| *cents > 10_000);
    /// # let _ = large;
    /// ```
    pub fn filter<F>(&self, predicate: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        let name = self.add("KSTREAM-FILTER", move || {
            Filter::new(predicate.clone(), true)
        });
        self.child(
            name,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Drops the records for which `predicate` is true.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let non_empty = stream.filter_not(|_k, v: &String| v.is_empty());
    /// # let _ = non_empty;
    /// ```
    pub fn filter_not<F>(&self, predicate: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let predicate = Arc::new(predicate);
        let name = self.add("KSTREAM-FILTER", move || {
            Filter::new(predicate.clone(), false)
        });
        self.child(
            name,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

    /// Replaces each record's key and value. The key may change, so a later grouping
    /// repartitions.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let by_value = stream.map(|k: String, v: String| (v, k.len() as u64));
    /// # let _ = by_value;
    /// ```
    pub fn map<K2, V2, F>(&self, mapper: F) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        F: Fn(K, V) -> (K2, V2) + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        let name = self.add("KSTREAM-MAP", move || Map::new(mapper.clone()));
        self.child(name, None, None, true)
    }

    /// Replaces each record's value; the key stays, so no repartitioning follows.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let lengths = stream.map_values(|v: String| v.len() as u64);
    /// # let _ = lengths;
    /// ```
    pub fn map_values<V2, F>(&self, mapper: F) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        F: Fn(V) -> V2 + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        let name = self.add("KSTREAM-MAPVALUES", move || {
            MapValues::<K, V, V2, F>::new(mapper.clone())
        });
        self.child(
            name,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Replaces each record by zero or more records with the same key and the values `mapper`
    /// yields.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let words = stream.flat_map_values(|line: String| {
    ///     line.split_whitespace().map(String::from).collect::<Vec<_>>()
    /// });
    /// # let _ = words;
    /// ```
    pub fn flat_map_values<V2, I, F>(&self, mapper: F) -> KStream<K, V2>
    where
        V2: Clone + 'static,
        I: IntoIterator<Item = V2> + 'static,
        F: Fn(V) -> I + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        let name = self.add("KSTREAM-FLATMAPVALUES", move || {
            FlatMapValues::<K, V, V2, I, F>::new(mapper.clone())
        });
        self.child(
            name,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }

    /// Calls `action` on each record and passes it on unchanged.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let logged = stream.peek(|k: &String, v: &String| println!("{k} -> {v}"));
    /// # let _ = logged;
    /// ```
    pub fn peek<F>(&self, action: F) -> KStream<K, V>
    where
        F: Fn(&K, &V) + Send + Sync + 'static,
    {
        let action = Arc::new(action);
        let name = self.add("KSTREAM-PEEK", move || Peek::new(action.clone()));
        self.child(
            name,
            self.key_serde.clone(),
            self.value_serde.clone(),
            self.repartition_required,
        )
    }

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
        let selector = Arc::new(move |k: K, v: V| (selector(&k, &v), v));
        let name = self.add("KSTREAM-KEY-SELECT", move || Map::new(selector.clone()));
        let selected = self.child(name, None, self.value_serde.clone(), true);
        KGroupedStream::new(selected, grouped)
    }
}
