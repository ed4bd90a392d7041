//! [`StreamsBuilder`]: the DSL's entry point.

use std::cell::RefCell;
use std::rc::Rc;

use std::sync::Arc;

use super::ops::table_source::{TableMaterialize, restore_recode};
use super::optimize::{OptimizationHints, RepartitionHint};
use super::{Consumed, KStream, KTable, Materialized};
use crate::StreamsConfig;
use crate::config::TopologyOptimizations;
use crate::processor::Processor;
use crate::serde::Nullable;
use crate::serde::{SharedSerde, builtin_serde};
use crate::state::StoreBuilder;
use crate::{Error, Result, Topology};

/// The topology under construction, shared by every handle of one builder.
pub(crate) struct BuilderState {
    topology: Topology,
    next_index: usize,
    errors: Vec<std::sync::Arc<Error>>,
    /// What the optimizations need to know about the operators added so far.
    hints: OptimizationHints,
}

/// Shared access to the builder state.
pub(crate) type SharedState = Rc<RefCell<BuilderState>>;

impl BuilderState {
    /// A node name in Kafka Streams' style: `KSTREAM-FILTER-0000000003`.
    pub(crate) fn new_name(&mut self, prefix: &str) -> String {
        let name = format!("{prefix}-{:010}", self.next_index);
        self.next_index += 1;
        name
    }

    /// Keeps the error of a DSL call; [`StreamsBuilder::build`] reports them all.
    pub(crate) fn record<T>(&mut self, result: Result<T>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.errors.push(std::sync::Arc::new(e));
                None
            }
        }
    }

    /// Notes that node `name` may change keys (a later grouping or join repartitions).
    pub(crate) fn mark_key_changing(&mut self, name: &str) {
        self.hints.key_changing.insert(name.to_string());
    }

    /// Notes that node `name` changes values, not keys.
    pub(crate) fn mark_value_changing(&mut self, name: &str) {
        self.hints.value_changing.insert(name.to_string());
    }

    /// Notes that node `name` merges streams.
    pub(crate) fn mark_merge(&mut self, name: &str) {
        self.hints.merge_nodes.push(name.to_string());
    }

    /// Notes a repartition topic that `merge.repartition.topics` may merge.
    pub(crate) fn note_mergeable_repartition(&mut self, hint: RepartitionHint) {
        self.hints.repartitions.push(hint);
    }

    pub(crate) fn add_processor<P, F>(&mut self, name: &str, supplier: F, parent: &str)
    where
        P: Processor,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let result = self
            .topology
            .add_processor(name, supplier, &[parent])
            .map(|_| ());
        self.record(result);
    }

    pub(crate) fn add_processor_with_parents<P, F>(
        &mut self,
        name: &str,
        supplier: F,
        parents: &[&str],
    ) where
        P: Processor,
        F: Fn() -> P + Send + Sync + 'static,
    {
        let result = self
            .topology
            .add_processor(name, supplier, parents)
            .map(|_| ());
        self.record(result);
    }

    pub(crate) fn connect_store(&mut self, processor: &str, store: &str) {
        let result = self
            .topology
            .connect_processor_and_state_store(processor, store)
            .map(|_| ());
        self.record(result);
    }

    pub(crate) fn add_sink_dynamic<K: 'static, V: 'static>(
        &mut self,
        name: &str,
        extractor: crate::topology::TopicNameExtractor<K, V>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        parent: &str,
    ) {
        let result = self
            .topology
            .add_sink_with_topic_extractor(name, extractor, key_serde, value_serde, &[parent])
            .map(|_| ());
        self.record(result);
    }

    pub(crate) fn set_internal_topic_partitions(&mut self, topic: &str, partitions: i32) {
        self.topology
            .set_internal_topic_partitions(topic, partitions);
    }

    pub(crate) fn add_source<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: &str,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) {
        let result = self
            .topology
            .add_source(name, &[topic], key_serde, value_serde)
            .map(|_| ());
        self.record(result);
    }

    /// A source node, with a timestamp extractor when one is given.
    pub(crate) fn add_source_with<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: &str,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        extractor: Option<crate::topology::TimestampExtractor<K, V>>,
    ) {
        let Some(extractor) = extractor else {
            return self.add_source(name, topic, key_serde, value_serde);
        };
        let result = self
            .topology
            .add_source_with_timestamp_extractor(name, &[topic], key_serde, value_serde, extractor)
            .map(|_| ());
        self.record(result);
    }

    pub(crate) fn add_sink<K: 'static, V: 'static>(
        &mut self,
        name: &str,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        parent: &str,
    ) {
        let result = self
            .topology
            .add_sink(name, topic, key_serde, value_serde, &[parent])
            .map(|_| ());
        self.record(result);
    }

    pub(crate) fn add_store(&mut self, store: StoreBuilder, processor: &str) {
        let result = self
            .topology
            .add_state_store(store, &[processor])
            .map(|_| ());
        self.record(result);
    }

    /// Adds a store connected to several processors.
    pub(crate) fn add_store_for(&mut self, store: StoreBuilder, processors: &[&str]) {
        let result = self.topology.add_state_store(store, processors).map(|_| ());
        self.record(result);
    }

    /// Marks the sub-topology of `node` as joining its inputs: they must be co-partitioned.
    pub(crate) fn mark_copartitioned(&mut self, node: &str) {
        self.topology.add_copartitioned_node(node);
    }

    pub(crate) fn topology_mut(&mut self) -> &mut Topology {
        &mut self.topology
    }

    pub(crate) fn add_internal_topic(&mut self, topic: &str) {
        self.topology.add_internal_topic(topic);
    }

    /// Records an error if `materialized` asks for a versioned store where only a table's
    /// store may be one (`what` names the operation, as Kafka Streams' messages do).
    pub(crate) fn refuse_versioned<K, V>(&mut self, materialized: &Materialized<K, V>, what: &str) {
        if materialized.versioned.is_some() {
            self.record::<()>(Err(Error::Topology(format!(
                "{what} cannot be versioned: Materialized::as_versioned is for key-value tables \
                 (table sources, filters, aggregations and foreign-key join results)"
            ))));
        }
    }

    /// The serde to use where one is needed: the given one, else the built-in one for the type,
    /// else an error naming what needs it.
    pub(crate) fn require_serde<T: 'static>(
        &mut self,
        given: Option<SharedSerde<T>>,
        what: &str,
    ) -> Option<SharedSerde<T>> {
        let serde = given.or_else(builtin_serde::<T>).ok_or_else(|| {
            Error::Topology(format!(
                "{what} needs a serde for {}: there is no built-in one, so pass it \
                 (Produced::with, Grouped::with or Materialized::with) or derive DefaultSerde \
                 for the type",
                std::any::type_name::<T>()
            ))
        });
        self.record(serde)
    }
}

/// Builds a [`Topology`] with the typed DSL.
///
/// ```
/// use streams_core::dsl::{Consumed, StreamsBuilder};
/// use streams_core::serde::Serdes;
///
/// let builder = StreamsBuilder::new();
/// builder
///     .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
///     .filter(|_k, v: &String| !v.is_empty())
///     .to("out");
/// let topology = builder.build()?;
/// assert!(topology.describe().to_string().contains("KSTREAM-FILTER-0000000001"));
/// # Ok::<(), streams_core::Error>(())
/// ```
#[derive(Clone)]
pub struct StreamsBuilder {
    pub(crate) state: SharedState,
}

impl std::fmt::Debug for StreamsBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamsBuilder").finish_non_exhaustive()
    }
}

impl Default for StreamsBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamsBuilder {
    /// An empty builder.
    ///
    /// ```
    /// let builder = streams_core::dsl::StreamsBuilder::new();
    /// assert!(builder.build().is_ok());
    /// ```
    pub fn new() -> Self {
        StreamsBuilder {
            state: Rc::new(RefCell::new(BuilderState {
                topology: Topology::new(),
                next_index: 0,
                errors: Vec::new(),
                hints: OptimizationHints::default(),
            })),
        }
    }

    /// A stream of the records of `topic`, decoded with `consumed`'s serdes.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let payments = builder.stream("payments", Consumed::with(Serdes::string(), Serdes::i64()));
    /// assert_eq!(payments.node_name(), "KSTREAM-SOURCE-0000000000");
    /// ```
    pub fn stream<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
    ) -> KStream<K, V> {
        let mut state = self.state.borrow_mut();
        let name = consumed
            .name
            .clone()
            .unwrap_or_else(|| state.new_name("KSTREAM-SOURCE"));
        state.add_source_with(
            &name,
            topic,
            consumed.key_serde.clone(),
            consumed.value_serde.clone(),
            consumed.extractor.clone(),
        );
        drop(state);
        KStream::new(
            self.state.clone(),
            name,
            Some(consumed.key_serde),
            Some(consumed.value_serde),
            false,
        )
    }

    /// A table of the latest value per key of `topic` (a record with no value deletes its
    /// key), materialized in a store (named by `materialized`, or generated). A versioned
    /// store ([`Materialized::as_versioned`]) keeps each key's history and makes the table
    /// versioned.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// let users = builder.table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::as_("users"));
    /// assert_eq!(users.queryable_store_name(), Some("users"));
    /// # builder.build()?;
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn table<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: &str,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> KTable<K, V> {
        let mut state = self.state.borrow_mut();
        let source = consumed
            .name
            .clone()
            .unwrap_or_else(|| state.new_name("KSTREAM-SOURCE"));
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| state.new_name(&format!("{topic}-STATE-STORE")));
        let nullable: SharedSerde<Option<V>> =
            Arc::new(Nullable::new(consumed.value_serde.clone()));
        // The table's source reads tombstones too: the extractor sees the values there are;
        // a tombstone keeps its Kafka timestamp.
        let extractor = consumed.extractor.clone().map(|inner| {
            let extract: crate::topology::TimestampExtractor<K, Option<V>> = Arc::new(
                move |key: &K, value: &Option<V>, kafka_ts: i64| match value {
                    Some(value) => inner(key, value, kafka_ts),
                    None => kafka_ts,
                },
            );
            extract
        });
        state.add_source_with(
            &source,
            topic,
            consumed.key_serde.clone(),
            nullable.clone(),
            extractor,
        );
        let name = state.new_name("KTABLE-SOURCE");
        let (store_name, key_serde) = (store.clone(), consumed.key_serde.clone());
        state.add_processor(
            &name,
            move || TableMaterialize::<K, Option<V>, V>::new(store_name.clone(), key_serde.clone()),
            &source,
        );
        let key_serde = materialized
            .key_serde
            .clone()
            .unwrap_or_else(|| consumed.key_serde.clone());
        let value_serde = materialized
            .value_serde
            .clone()
            .unwrap_or_else(|| consumed.value_serde.clone());
        state.add_store(
            materialized.table_store_builder(store.clone(), key_serde.clone(), value_serde.clone()),
            &name,
        );
        // A versioned store keeps its own changelog even under `reuse.ktable.source.topics`:
        // restoring from an input topic writes plain and timestamped stores only.
        if materialized.versioned.is_none() {
            let recode = restore_recode(
                store.clone(),
                consumed.key_serde.clone(),
                nullable,
                key_serde,
                value_serde,
            );
            state.hints.table_sources.push((
                store.clone(),
                crate::topology::SourceChangelog {
                    topic: topic.to_string(),
                    recode,
                },
            ));
        }
        drop(state);
        KTable::new(
            self.state.clone(),
            name,
            Some(consumed.key_serde),
            Some(consumed.value_serde),
            Some(store),
        )
        .with_versioned(materialized.versioned_spec())
    }

    /// Adds a state store that processors added with [`KStream::process`] can name.
    ///
    /// ```
    /// use streams_core::dsl::StreamsBuilder;
    /// use streams_core::serde::Serdes;
    /// use streams_core::state::StoreBuilder;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder.add_state_store(StoreBuilder::key_value("dedup", Serdes::string(), Serdes::i64()));
    /// ```
    pub fn add_state_store(&self, store: crate::state::StoreBuilder) -> &Self {
        let mut state = self.state.borrow_mut();
        let result = state.topology.add_state_store(store, &[]).map(|_| ());
        state.record(result);
        drop(state);
        self
    }

    /// The topology built so far, without optimizations, or the errors the DSL calls ran
    /// into.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// builder.stream("in", Consumed::with(Serdes::string(), Serdes::string())).to("out");
    /// let topology = builder.build()?;
    /// assert_eq!(topology.describe().subtopologies.len(), 1);
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    ///
    /// Every error of the DSL calls so far comes back at once, as
    /// [`Error::InvalidTopology`] (iterate them with [`Error::errors`]); calling `build` again
    /// reports them again.
    pub fn build(&self) -> Result<Topology> {
        self.build_optimized(TopologyOptimizations::none())
    }

    /// The topology built so far, with the optimizations `config`'s `topology.optimization`
    /// asks for (as Kafka Streams' `StreamsBuilder.build(Properties)`): `none` (the default)
    /// builds what [`build`](Self::build) builds; `all`, or a comma-separated list of
    /// `reuse.ktable.source.topics` and `merge.repartition.topics`, rewrites it:
    ///
    /// - `reuse.ktable.source.topics`: a table read with [`table`](Self::table) gets no
    ///   changelog topic; its store is restored from the input topic itself, up to the
    ///   group's committed offset, and the input topic is never written;
    /// - `merge.repartition.topics`: the repartition topics that one key-changing operation
    ///   feeds (several aggregations, joins) become one topic, named after the first,
    ///   written right after that operation.
    ///
    /// `single.store.self.join` is accepted and not applied. Pass the same configuration to
    /// [`KafkaStreams::new`](crate::KafkaStreams::new).
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// use streams_core::StreamsConfig;
    ///
    /// let builder = StreamsBuilder::new();
    /// let by_user = builder
    ///     .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .select_key(|_k, user: &String| user.clone());
    /// by_user.group_by_key().count(Materialized::as_("clicks-per-user"));
    /// by_user.group_by_key().reduce(|_, last| last, Materialized::as_("last-click"));
    ///
    /// let topics = |t: &streams_core::Topology| t.describe().to_string().matches("-repartition)").count();
    /// assert_eq!(topics(&builder.build()?), 2);
    /// let mut config = StreamsConfig::new();
    /// config.set("topology.optimization", "all");
    /// assert_eq!(topics(&builder.build_with(&config)?), 1);
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn build_with(&self, config: &StreamsConfig) -> Result<Topology> {
        self.build_optimized(config.topology_optimization()?)
    }

    fn build_optimized(&self, optimizations: TopologyOptimizations) -> Result<Topology> {
        let state = self.state.borrow();
        if !state.errors.is_empty() {
            return Err(Error::InvalidTopology(state.errors.clone()));
        }
        let mut topology = if optimizations.is_none() {
            state.topology.clone()
        } else {
            super::optimize::optimize(&state.topology, &state.hints, optimizations)?
        };
        topology.set_built_with(optimizations);
        Ok(topology)
    }
}
