//! [`KStream`]: a record stream and its operators.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::builder::SharedState;
use super::ops::branch::{Branch, PassThrough, Predicate};
use super::ops::flat_map::FlatMap;
use super::ops::foreach::Foreach;
use super::ops::stream_table_join::{StreamTableJoin, StreamTableJoiner};
use super::ops::{Filter, FlatMapValues, Map, MapValues, Peek};
use super::{
    Branched, Grouped, JoinWindows, KGroupedStream, KTable, Produced, Repartitioned, StreamJoined,
};
use crate::serde::SharedSerde;
use crate::state::StoreBuilder;

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
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let s = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string())).filter(|_k, _v| true);
    /// assert_eq!(s.node_name(), "KSTREAM-FILTER-0000000001");
    /// ```
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

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Replaces each record by zero or more records with new keys and values; a later
    /// grouping or join repartitions.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let per_word = stream.flat_map(|_k: String, line: String| {
    ///     line.split(' ').map(|w| (w.to_string(), 1u64)).collect::<Vec<_>>()
    /// });
    /// # let _ = per_word;
    /// ```
    pub fn flat_map<K2, V2, I, F>(&self, mapper: F) -> KStream<K2, V2>
    where
        K2: Clone + 'static,
        V2: Clone + 'static,
        I: IntoIterator<Item = (K2, V2)> + 'static,
        F: Fn(K, V) -> I + Send + Sync + 'static,
    {
        let mapper = Arc::new(mapper);
        let name = self.add("KSTREAM-FLATMAP", move || {
            FlatMap::<K, V, K2, V2, I, F>::new(mapper.clone())
        });
        self.child(name, None, None, true)
    }

    /// Replaces each record's key with `selector(key, value)`; a later grouping or join
    /// repartitions.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let by_first_letter = stream.select_key(|_k, v: &String| v.chars().next().unwrap_or(' ').to_string());
    /// # let _ = by_first_letter;
    /// ```
    pub fn select_key<K2, F>(&self, selector: F) -> KStream<K2, V>
    where
        K2: Clone + 'static,
        F: Fn(&K, &V) -> K2 + Send + Sync + 'static,
    {
        let mapper = Arc::new(move |k: K, v: V| (selector(&k, &v), v));
        let name = self.add("KSTREAM-KEY-SELECT", move || Map::new(mapper.clone()));
        self.child(name, None, self.value_serde.clone(), true)
    }

    /// Calls `action` on each record; nothing follows (a terminal operation).
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// stream.foreach(|k: &String, v: &String| println!("{k}: {v}"));
    /// ```
    pub fn foreach<F>(&self, action: F)
    where
        F: Fn(&K, &V) + Send + Sync + 'static,
    {
        let action = Arc::new(action);
        self.add("KSTREAM-FOREACH", move || Foreach::new(action.clone()));
    }

    /// Splits the stream into named branches by predicates: each record goes to the first
    /// branch whose predicate holds. Branch streams are named `<node name><branch name>`; see
    /// [`split_named`](Self::split_named) to choose the prefix.
    ///
    /// ```
    /// use streams_core::dsl::{Branched, Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let branches = builder
    ///     .stream("payments", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .split_named("payments-")
    ///     .branch(|_k, cents: &i64| *cents >= 100_000, Branched::as_("large"))
    ///     .branch(|_k, cents: &i64| *cents < 0, Branched::as_("refunds"))
    ///     .default_branch(Branched::as_("other"));
    /// branches["payments-large"].to("large-payments");
    /// assert_eq!(branches.len(), 3);
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn split(&self) -> BranchedKStream<K, V> {
        let prefix = self.state.borrow_mut().new_name("KSTREAM-BRANCH");
        BranchedKStream {
            stream: self.clone(),
            node: prefix.clone(),
            prefix,
            branches: Vec::new(),
        }
    }

    /// [`split`](Self::split) with `prefix` naming the split node and prefixing branch names.
    ///
    /// ```
    /// # use streams_core::dsl::{Branched, Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let branches = stream.split_named("sign-").branch(|_k, v: &i64| *v < 0, Branched::as_("negative")).no_default_branch();
    /// assert!(branches.contains_key("sign-negative"));
    /// ```
    pub fn split_named(&self, prefix: &str) -> BranchedKStream<K, V> {
        BranchedKStream {
            stream: self.clone(),
            node: prefix.to_string(),
            prefix: prefix.to_string(),
            branches: Vec::new(),
        }
    }

    /// Merges this stream with `other` (same types) into one: records of both flow on,
    /// each in its own order.
    ///
    /// ```
    /// # use streams_core::dsl::{Consumed, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # let builder = StreamsBuilder::new();
    /// let web = builder.stream("web-clicks", Consumed::with(Serdes::string(), Serdes::string()));
    /// let app = builder.stream("app-clicks", Consumed::with(Serdes::string(), Serdes::string()));
    /// web.merge(&app).to("all-clicks");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn merge(&self, other: &KStream<K, V>) -> KStream<K, V> {
        let mut state = self.state.borrow_mut();
        let name = state.new_name("KSTREAM-MERGE");
        state.add_processor_with_parents(
            &name,
            PassThrough::<K, V>::new,
            &[&self.node, &other.node],
        );
        drop(state);
        self.child(
            name,
            self.key_serde.clone().or_else(|| other.key_serde.clone()),
            self.value_serde
                .clone()
                .or_else(|| other.value_serde.clone()),
            self.repartition_required || other.repartition_required,
        )
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
        let Some(source) = super::repartition::add_repartition(
            &self.state,
            &self.node,
            &name,
            key_serde.clone(),
            value_serde.clone(),
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

    /// Runs a user [`Processor`](crate::processor::Processor) (one per task, made by
    /// `supplier`) with access to the named stores (added with
    /// [`StreamsBuilder::add_state_store`](super::StreamsBuilder::add_state_store)). It may
    /// change keys, so a later grouping or join repartitions.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::processor::{Processor, ProcessorContext, Record};
    /// use streams_core::serde::Serdes;
    /// use streams_core::Result;
    ///
    /// struct Swap;
    /// impl Processor for Swap {
    ///     type KeyIn = String;
    ///     type ValueIn = String;
    ///     type KeyOut = String;
    ///     type ValueOut = String;
    ///     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, String>, r: Record<String, String>) -> Result<()> {
    ///         let (k, v) = (r.key.clone(), r.value.clone());
    ///         ctx.forward(r.with_key(v).with_value(k))
    ///     }
    /// }
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .process(|| Swap, &[])
    ///     .to("out");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn process<P, S>(&self, supplier: S, stores: &[&str]) -> KStream<P::KeyOut, P::ValueOut>
    where
        P: crate::processor::Processor<KeyIn = K, ValueIn = V>,
        S: Fn() -> P + Send + Sync + 'static,
    {
        let name = self.add("KSTREAM-PROCESSOR", supplier);
        let mut state = self.state.borrow_mut();
        for store in stores {
            state.connect_store(&name, store);
        }
        drop(state);
        KStream::new(self.state.clone(), name, None, None, true)
    }

    /// Runs a user [`FixedKeyProcessor`](crate::processor::FixedKeyProcessor): it can change
    /// values but not keys, so no repartitioning follows.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::processor::{FixedKeyContext, FixedKeyProcessor, FixedKeyRecord};
    /// use streams_core::serde::Serdes;
    /// use streams_core::Result;
    ///
    /// struct Len;
    /// impl FixedKeyProcessor for Len {
    ///     type Key = String;
    ///     type ValueIn = String;
    ///     type ValueOut = u64;
    ///     fn process(&mut self, ctx: &mut FixedKeyContext<'_, '_, String, u64>, r: FixedKeyRecord<String, String>) -> Result<()> {
    ///         let len = r.value().len() as u64;
    ///         ctx.forward(r.with_value(len))
    ///     }
    /// }
    ///
    /// let builder = StreamsBuilder::new();
    /// builder
    ///     .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .process_values(|| Len, &[])
    ///     .to("lengths");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn process_values<P, S>(&self, supplier: S, stores: &[&str]) -> KStream<K, P::ValueOut>
    where
        P: crate::processor::FixedKeyProcessor<Key = K, ValueIn = V>,
        S: Fn() -> P + Send + Sync + 'static,
    {
        let name = self.add("KSTREAM-PROCESSVALUES", move || {
            crate::processor::FixedKeyAdapter(supplier())
        });
        let mut state = self.state.borrow_mut();
        for store in stores {
            state.connect_store(&name, store);
        }
        drop(state);
        self.child(
            name,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }
}

/// A stream being split into branches by [`KStream::split`]; finish with
/// [`default_branch`](Self::default_branch) or [`no_default_branch`](Self::no_default_branch).
pub struct BranchedKStream<K, V> {
    stream: KStream<K, V>,
    node: String,
    prefix: String,
    branches: Vec<(Option<Predicate<K, V>>, String)>,
}

impl<K, V> std::fmt::Debug for BranchedKStream<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BranchedKStream")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl<K: Clone + 'static, V: Clone + 'static> BranchedKStream<K, V> {
    /// Adds a branch taking the records (not taken by an earlier branch) that `predicate`
    /// accepts; unnamed branches are numbered from 1.
    ///
    /// ```
    /// use streams_core::dsl::{Branched, Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let branches = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .split_named("n-")
    ///     .branch(|_k, v: &i64| *v < 0, Branched::as_("negative"))
    ///     .branch(|_k, v: &i64| *v == 0, Branched::default())
    ///     .no_default_branch();
    /// assert!(branches.contains_key("n-negative") && branches.contains_key("n-2"));
    /// ```
    pub fn branch<F>(mut self, predicate: F, branched: Branched) -> Self
    where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let name = branched
            .name
            .unwrap_or_else(|| (self.branches.len() + 1).to_string());
        self.branches
            .push((Some(Arc::new(predicate)), format!("{}{name}", self.prefix)));
        self
    }

    /// Adds a branch for every remaining record (unnamed: `0`) and returns the branches by
    /// name.
    ///
    /// ```
    /// use streams_core::dsl::{Branched, Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let branches = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .split_named("n-")
    ///     .branch(|_k, v: &i64| *v < 0, Branched::as_("negative"))
    ///     .default_branch(Branched::as_("rest"));
    /// assert!(branches.contains_key("n-rest"));
    /// ```
    pub fn default_branch(mut self, branched: Branched) -> BTreeMap<String, KStream<K, V>> {
        let name = branched.name.unwrap_or_else(|| "0".to_string());
        self.branches.push((None, format!("{}{name}", self.prefix)));
        self.finish()
    }

    /// Returns the branches by name; records no branch takes are dropped.
    ///
    /// ```
    /// use streams_core::dsl::{Branched, Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let branches = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .split_named("n-")
    ///     .branch(|_k, v: &i64| *v < 0, Branched::as_("negative"))
    ///     .no_default_branch();
    /// assert_eq!(branches.len(), 1);
    /// ```
    pub fn no_default_branch(self) -> BTreeMap<String, KStream<K, V>> {
        self.finish()
    }

    fn finish(self) -> BTreeMap<String, KStream<K, V>> {
        let mut state = self.stream.state.borrow_mut();
        let branches = self.branches.clone();
        state.add_processor(
            &self.node,
            move || Branch::new(branches.clone()),
            &self.stream.node,
        );
        for (_, child) in &self.branches {
            state.add_processor(child, PassThrough::<K, V>::new, &self.node);
        }
        drop(state);
        self.branches
            .iter()
            .map(|(_, child)| {
                let stream = KStream::new(
                    self.stream.state.clone(),
                    child.clone(),
                    self.stream.key_serde.clone(),
                    self.stream.value_serde.clone(),
                    self.stream.repartition_required,
                );
                (child.clone(), stream)
            })
            .collect()
    }
}

/// A stream joiner in the internal form: `(this, other)`, `None` for no result.
type InternalJoiner<V, VO, VR> = Arc<dyn Fn(Option<&V>, Option<&VO>) -> Option<VR> + Send + Sync>;

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Joins with records of `other` with the same key within `windows`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, JoinWindows, StreamJoined, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let logins = builder.stream("logins", Consumed::with(Serdes::string(), Serdes::string()));
    /// let payments = builder.stream("payments", Consumed::with(Serdes::string(), Serdes::i64()));
    /// payments
    ///     .join(&logins, |cents: &i64, ip: &String| format!("{cents} from {ip}"),
    ///           JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)), StreamJoined::default())
    ///     .to("payments-with-login");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn join<VO, VR, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        let joiner = Arc::new(joiner);
        let (a, b) = (joiner.clone(), joiner);
        self.stream_join(
            other,
            windows,
            joined,
            (false, false),
            Arc::new(move |l: Option<&V>, r: Option<&VO>| Some(a(l?, r?))),
            Arc::new(move |r: Option<&VO>, l: Option<&V>| Some(b(l?, r?))),
        )
    }

    /// Like [`join`](Self::join), but every record of this stream produces a result: records
    /// that find no match are joined with `None` once their window closes (window end plus
    /// grace), not before.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, JoinWindows, StreamJoined, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.stream("orders", Consumed::with(Serdes::string(), Serdes::string()));
    /// let shipments = builder.stream("shipments", Consumed::with(Serdes::string(), Serdes::string()));
    /// orders
    ///     .left_join(&shipments, |order: &String, shipment: Option<&String>| format!("{order}: {}", shipment.is_some()),
    ///                JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(3600)), StreamJoined::default())
    ///     .to("order-status");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn left_join<VO, VR, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let joiner = Arc::new(joiner);
        let (a, b) = (joiner.clone(), joiner);
        self.stream_join(
            other,
            windows,
            joined,
            (true, false),
            Arc::new(move |l: Option<&V>, r: Option<&VO>| Some(a(l?, r))),
            Arc::new(move |r: Option<&VO>, l: Option<&V>| Some(b(l?, r))),
        )
    }

    /// Like [`join`](Self::join), but records of either side that find no match produce a
    /// result with `None` for the other side once their window closes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, JoinWindows, StreamJoined, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let a = builder.stream("a", Consumed::with(Serdes::string(), Serdes::string()));
    /// let b = builder.stream("b", Consumed::with(Serdes::string(), Serdes::string()));
    /// a.outer_join(&b, |x: Option<&String>, y: Option<&String>| format!("{x:?}/{y:?}"),
    ///              JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(5)), StreamJoined::default())
    ///  .to("pairs");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn outer_join<VO, VR, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let joiner = Arc::new(joiner);
        let (a, b) = (joiner.clone(), joiner);
        self.stream_join(
            other,
            windows,
            joined,
            (true, true),
            Arc::new(move |l: Option<&V>, r: Option<&VO>| Some(a(l, r))),
            Arc::new(move |r: Option<&VO>, l: Option<&V>| Some(b(l, r))),
        )
    }

    fn stream_join<VO, VR>(
        &self,
        other: &KStream<K, VO>,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
        (left_outer, right_outer): (bool, bool),
        left_joiner: InternalJoiner<V, VO, VR>,
        right_joiner: InternalJoiner<VO, V, VR>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        use super::ops::stream_stream_join::{JoinSide, Side, StreamStreamJoin};
        let state = &self.state;
        let broken = || KStream::new(self.state.clone(), self.node.clone(), None, None, true);
        state.borrow_mut().record(windows.validate());
        let (this_name, other_name) = {
            let mut st = state.borrow_mut();
            let this = st.new_name(if left_outer {
                "KSTREAM-OUTERTHIS"
            } else {
                "KSTREAM-JOINTHIS"
            });
            let other = st.new_name(if right_outer {
                "KSTREAM-OUTEROTHER"
            } else {
                "KSTREAM-JOINOTHER"
            });
            (this, other)
        };
        let base = joined
            .store_name
            .clone()
            .unwrap_or_else(|| this_name.clone());
        let what = format!("stream-stream join `{base}`");
        let (key_serde, left_serde, right_serde) = {
            let mut st = state.borrow_mut();
            (
                st.require_serde(
                    joined
                        .key_serde
                        .clone()
                        .or_else(|| self.key_serde.clone())
                        .or_else(|| other.key_serde.clone()),
                    &what,
                ),
                st.require_serde(
                    joined
                        .value_serde
                        .clone()
                        .or_else(|| self.value_serde.clone()),
                    &what,
                ),
                st.require_serde(
                    joined
                        .other_value_serde
                        .clone()
                        .or_else(|| other.value_serde.clone()),
                    &what,
                ),
            )
        };
        let (Some(key_serde), Some(left_serde), Some(right_serde)) =
            (key_serde, left_serde, right_serde)
        else {
            return broken();
        };
        let Some(left_parent) = super::repartition::repartition_if_required(
            state,
            &self.node,
            self.repartition_required,
            &format!("{base}-left"),
            key_serde.clone(),
            Some(left_serde.clone()),
        ) else {
            return broken();
        };
        let Some(right_parent) = super::repartition::repartition_if_required(
            state,
            &other.node,
            other.repartition_required,
            &format!("{base}-right"),
            key_serde.clone(),
            Some(right_serde.clone()),
        ) else {
            return broken();
        };
        let (left_store, right_store) = match &joined.store_name {
            Some(name) => (
                format!("{name}-this-join-store"),
                format!("{name}-other-join-store"),
            ),
            None => (format!("{this_name}-store"), format!("{other_name}-store")),
        };
        let outer_store = (left_outer || right_outer).then(|| match &joined.store_name {
            Some(name) => format!("{name}-outer-shared-join-store"),
            None => format!(
                "{}-store",
                this_name.replace("KSTREAM-OUTERTHIS", "KSTREAM-OUTERSHARED")
            ),
        });
        let retention = std::time::Duration::from_millis(
            u64::try_from(
                windows
                    .before
                    .saturating_add(windows.after)
                    .saturating_add(windows.grace),
            )
            .unwrap_or(0),
        );
        let left_spec = JoinSide {
            side: Side::Left,
            this_store: left_store.clone(),
            other_store: right_store.clone(),
            outer_store: outer_store.clone(),
            this_outer: left_outer,
            before: windows.before,
            after: windows.after,
            grace: windows.grace,
            joiner: left_joiner,
            key_serde: key_serde.clone(),
            this_serde: left_serde.clone(),
            other_serde: right_serde.clone(),
        };
        let right_spec = JoinSide {
            side: Side::Right,
            this_store: right_store.clone(),
            other_store: left_store.clone(),
            outer_store: outer_store.clone(),
            this_outer: right_outer,
            before: windows.after,
            after: windows.before,
            grace: windows.grace,
            joiner: right_joiner,
            key_serde: key_serde.clone(),
            this_serde: right_serde.clone(),
            other_serde: left_serde.clone(),
        };
        let mut st = state.borrow_mut();
        st.add_processor(
            &this_name,
            move || StreamStreamJoin::new(left_spec.clone()),
            &left_parent,
        );
        st.add_processor(
            &other_name,
            move || StreamStreamJoin::new(right_spec.clone()),
            &right_parent,
        );
        let nodes = [this_name.as_str(), other_name.as_str()];
        st.add_store_for(
            StoreBuilder::window(left_store, retention, true, key_serde.clone(), left_serde),
            &nodes,
        );
        st.add_store_for(
            StoreBuilder::window(right_store, retention, true, key_serde.clone(), right_serde),
            &nodes,
        );
        if let Some(outer) = outer_store {
            st.add_store_for(
                StoreBuilder::key_value(
                    outer,
                    crate::serde::Serdes::bytes(),
                    crate::serde::Serdes::bytes(),
                ),
                &nodes,
            );
        }
        st.mark_copartitioned(&this_name);
        let merge = st.new_name("KSTREAM-MERGE");
        st.add_processor_with_parents(&merge, PassThrough::<K, VR>::new, &nodes);
        drop(st);
        KStream::new(self.state.clone(), merge, Some(key_serde), None, false)
    }

    fn table_join<VT, VR>(
        &self,
        table: &KTable<K, VT>,
        left: bool,
        joiner: StreamTableJoiner<V, VT, VR>,
    ) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
    {
        let broken = || KStream::new(self.state.clone(), self.node.clone(), None, None, true);
        let Some(table) = table.ensure_materialized() else {
            return broken();
        };
        let Some(store) = table.store.clone() else {
            return broken();
        };
        let name = self.state.borrow_mut().new_name(if left {
            "KSTREAM-LEFTJOIN"
        } else {
            "KSTREAM-JOIN"
        });
        let key_serde = self.state.borrow_mut().require_serde(
            self.key_serde.clone().or_else(|| table.key_serde.clone()),
            &format!("stream-table join `{name}`"),
        );
        let Some(key_serde) = key_serde else {
            return broken();
        };
        let Some(parent) = super::repartition::repartition_if_required(
            &self.state,
            &self.node,
            self.repartition_required,
            &name,
            key_serde.clone(),
            self.value_serde.clone(),
        ) else {
            return broken();
        };
        let mut st = self.state.borrow_mut();
        let (store_name, ks) = (store.clone(), key_serde.clone());
        st.add_processor(
            &name,
            move || StreamTableJoin::new(store_name.clone(), ks.clone(), joiner.clone(), left),
            &parent,
        );
        st.connect_store(&name, &store);
        st.mark_copartitioned(&name);
        drop(st);
        KStream::new(self.state.clone(), name, Some(key_serde), None, false)
    }

    /// Joins each record with the table's current row for its key; records without a row
    /// are dropped. Table updates do not produce results.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let users = builder.table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::as_("users"));
    /// builder
    ///     .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .join_table(&users, |page: &String, name: &String| format!("{name} opened {page}"))
    ///     .to("named-clicks");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn join_table<VT, VR, F>(&self, table: &KTable<K, VT>, joiner: F) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VT) -> VR + Send + Sync + 'static,
    {
        self.table_join(
            table,
            false,
            Arc::new(move |v: &V, t: Option<&VT>| Some(joiner(v, t?))),
        )
    }

    /// Joins each record with the table's current row for its key, or `None` if there is
    /// none.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let limits = builder.table("limits", Consumed::with(Serdes::string(), Serdes::i64()), Materialized::default());
    /// builder
    ///     .stream("payments", Consumed::with(Serdes::string(), Serdes::i64()))
    ///     .left_join_table(&limits, |cents: &i64, limit: Option<&i64>| limit.is_some_and(|l| cents > l))
    ///     .filter(|_k, over: &bool| *over)
    ///     .map_values(|_| "over limit".to_string())
    ///     .to("over-limit");
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn left_join_table<VT, VR, F>(&self, table: &KTable<K, VT>, joiner: F) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
    {
        self.table_join(
            table,
            true,
            Arc::new(move |v: &V, t: Option<&VT>| Some(joiner(v, t))),
        )
    }
}
