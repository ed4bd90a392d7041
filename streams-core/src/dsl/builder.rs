//! [`StreamsBuilder`]: the DSL's entry point.

use std::cell::RefCell;
use std::rc::Rc;

use std::sync::Arc;

use super::ops::table_source::TableMaterialize;
use super::{Consumed, KStream, KTable, Materialized};
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
        match consumed.extractor.clone() {
            None => state.add_source(
                &name,
                topic,
                consumed.key_serde.clone(),
                consumed.value_serde.clone(),
            ),
            Some(extractor) => {
                let result = state
                    .topology
                    .add_source_with_timestamp_extractor(
                        &name,
                        &[topic],
                        consumed.key_serde.clone(),
                        consumed.value_serde.clone(),
                        extractor,
                    )
                    .map(|_| ());
                state.record(result);
            }
        }
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
        state.add_source(&source, topic, consumed.key_serde.clone(), nullable);
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
            materialized.table_store_builder(store.clone(), key_serde, value_serde),
            &name,
        );
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

    /// The topology built so far, or the first error any DSL call ran into.
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
        let state = self.state.borrow();
        if !state.errors.is_empty() {
            return Err(Error::InvalidTopology(state.errors.clone()));
        }
        Ok(state.topology.clone())
    }
}
