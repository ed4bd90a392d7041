//! [`Topology`]: the graph of sources, processors, sinks and state stores that an application
//! runs, built with the Processor API directly or by the DSL's
//! [`StreamsBuilder`](crate::dsl::StreamsBuilder).
//!
//! Nodes connected by edges or by a shared store form a *sub-topology*; a sub-topology runs as
//! one task per partition of its source topics. Internal topics (repartition topics the DSL
//! inserts, and store changelogs) are named in the topology without the application id, and
//! prefixed with it at runtime.
//!
//! ```
//! use streams_core::processor::{ProcessResult, Processor, ProcessorContext, Record};
//! use streams_core::serde::Serdes;
//! use streams_core::{Result, Topology};
//!
//! struct Upper;
//! impl Processor for Upper {
//!     type KeyIn = String;
//!     type ValueIn = String;
//!     type KeyOut = String;
//!     type ValueOut = String;
//!     fn process(&mut self, ctx: &mut ProcessorContext<'_, String, String>,
//!                record: Record<String, String>) -> ProcessResult {
//!         let upper = record.value.to_uppercase();
//!         ctx.forward(record.with_value(upper))?;
//!         Ok(())
//!     }
//! }
//!
//! let mut topology = Topology::new();
//! topology
//!     .add_source("in", &["words"], Serdes::string(), Serdes::string())?
//!     .add_processor("upper", || Upper, &["in"])?
//!     .add_sink("out", "shouted", Serdes::string(), Serdes::string(), &["upper"])?;
//! let text = topology.describe().to_string();
//! assert!(text.contains("Source: in (topics: [words])"));
//! assert!(text.contains("Sink: out (topic: shouted)"));
//! # Ok::<(), streams_core::Error>(())
//! ```

mod changelogs;
mod describe;
mod diagram;
pub(crate) mod names;
pub(crate) mod node;
pub(crate) mod rewrite;
mod subtopology;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

pub(crate) use changelogs::{RecodeError, RestoreRecode, SourceChangelog, StoreChangelog};
pub use describe::{
    GlobalStoreDescription, NodeDescription, NodeKindDescription, SubtopologyDescription,
    TopologyDescription,
};
use node::{NodeFactory, ProcessorFactory, SharedFactory, SinkFactory, SinkTopic, SourceFactory};
pub use node::{TimestampExtractor, TopicNameExtractor};
pub(crate) use subtopology::Subtopology;

/// How a sink that picks its topic per record is described.
pub(crate) const DYNAMIC_SINK_TOPIC: &str = "<topic name extractor>";

use crate::processor::Processor;
use crate::serde::SharedSerde;
use crate::state::{GlobalStoreDef, StoreBuilder};
use crate::{Error, Result};

/// What a node is.
#[derive(Debug, Clone)]
pub(crate) enum NodeKind {
    Source { topics: Vec<String> },
    Processor,
    Sink { topic: String },
}

/// One node of the graph.
#[derive(Clone)]
pub(crate) struct NodeDef {
    pub(crate) name: String,
    pub(crate) kind: NodeKind,
    pub(crate) parents: Vec<usize>,
    pub(crate) children: Vec<usize>,
    pub(crate) stores: Vec<String>,
    pub(crate) factory: SharedFactory,
}

/// A processing graph: sources, processors, sinks and state stores.
#[derive(Clone, Default)]
pub struct Topology {
    nodes: Vec<NodeDef>,
    by_name: HashMap<String, usize>,
    stores: Vec<StoreBuilder>,
    internal_topics: BTreeSet<String>,
    /// Partition counts fixed by the user for internal topics (`repartition()`).
    internal_partitions: HashMap<String, i32>,
    /// Nodes whose sub-topology joins its inputs, which must therefore be co-partitioned.
    copartitioned_nodes: Vec<String>,
    /// Global stores: full copies of topics on every instance.
    global_stores: Vec<GlobalStoreDef>,
    /// Stores restored from their table's input topic (`reuse.ktable.source.topics`), by name.
    source_changelogs: BTreeMap<String, SourceChangelog>,
    /// The optimizations the DSL applied, for a topology a `StreamsBuilder` built.
    built_with: Option<crate::config::TopologyOptimizations>,
}

impl std::fmt::Debug for Topology {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.describe())
    }
}

impl Topology {
    /// An empty topology.
    pub fn new() -> Self {
        Self::default()
    }

    fn add_node(
        &mut self,
        name: &str,
        kind: NodeKind,
        factory: SharedFactory,
        parents: &[&str],
    ) -> Result<&mut Self> {
        if name.is_empty() {
            return Err(Error::Topology("node names must not be empty".into()));
        }
        if self.by_name.contains_key(name) {
            return Err(Error::Topology(format!("node `{name}` is already added")));
        }
        let input = factory.input_types();
        let mut parent_ids = Vec::with_capacity(parents.len());
        for parent in parents {
            let &id = self.by_name.get(*parent).ok_or_else(|| {
                Error::Topology(format!("parent `{parent}` of `{name}` is not added yet"))
            })?;
            let parent_def = &self.nodes[id];
            let Some(output) = parent_def.factory.output_types() else {
                return Err(Error::Topology(format!(
                    "`{parent}` is a sink and cannot have children"
                )));
            };
            if input != Some(output) {
                return Err(Error::Topology(format!(
                    "`{parent}` forwards {output} but `{name}` accepts {}",
                    input.map_or("nothing".to_string(), |t| t.to_string())
                )));
            }
            if parent_ids.contains(&id) {
                return Err(Error::Topology(format!(
                    "`{parent}` is named twice as a parent of `{name}`"
                )));
            }
            parent_ids.push(id);
        }
        if input.is_some() && parents.is_empty() {
            return Err(Error::Topology(format!(
                "`{name}` needs at least one parent"
            )));
        }
        let id = self.nodes.len();
        for &parent in &parent_ids {
            self.nodes[parent].children.push(id);
        }
        self.nodes.push(NodeDef {
            name: name.to_string(),
            kind,
            parents: parent_ids,
            children: Vec::new(),
            stores: Vec::new(),
            factory,
        });
        self.by_name.insert(name.to_string(), id);
        Ok(self)
    }

    /// Adds a source node reading `topics` with the given serdes; records keep their Kafka
    /// timestamps.
    pub fn add_source<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: &str,
        topics: &[&str],
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Result<&mut Self> {
        self.add_source_inner(
            name,
            topics,
            SourceFactory::new(key_serde, value_serde, None),
        )
    }

    /// Adds a source node whose records' timestamps come from `extractor` (given the key, the
    /// value and the Kafka timestamp). A negative result is handled by
    /// `default.timestamp.extractor` (fail, by default).
    pub fn add_source_with_timestamp_extractor<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: &str,
        topics: &[&str],
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        extractor: TimestampExtractor<K, V>,
    ) -> Result<&mut Self> {
        self.add_source_inner(
            name,
            topics,
            SourceFactory::new(key_serde, value_serde, Some(extractor)),
        )
    }

    fn add_source_inner<K: Clone + 'static, V: Clone + 'static>(
        &mut self,
        name: &str,
        topics: &[&str],
        factory: SourceFactory<K, V>,
    ) -> Result<&mut Self> {
        if topics.is_empty() {
            return Err(Error::Topology(format!("source `{name}` names no topics")));
        }
        for topic in topics {
            names::check_topic("source topic", name, topic)?;
            if let Some(other) = self.source_of(topic) {
                return Err(Error::Topology(format!(
                    "topic `{topic}` is already read by source `{other}`"
                )));
            }
        }
        let kind = NodeKind::Source {
            topics: topics.iter().map(|t| t.to_string()).collect(),
        };
        self.add_node(name, kind, Arc::new(factory), &[])
    }

    /// Adds a processor made by `supplier` (called once per task) as a child of `parents`.
    pub fn add_processor<P, F>(
        &mut self,
        name: &str,
        supplier: F,
        parents: &[&str],
    ) -> Result<&mut Self>
    where
        P: Processor,
        F: Fn() -> P + Send + Sync + 'static,
    {
        self.add_node(
            name,
            NodeKind::Processor,
            Arc::new(ProcessorFactory::new(supplier)),
            parents,
        )
    }

    /// Adds a sink node writing to `topic` with the given serdes.
    pub fn add_sink<K: 'static, V: 'static>(
        &mut self,
        name: &str,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        parents: &[&str],
    ) -> Result<&mut Self> {
        names::check_topic("sink topic", name, topic)?;
        let kind = NodeKind::Sink {
            topic: topic.to_string(),
        };
        let factory = SinkFactory::new(SinkTopic::Fixed(topic.to_string()), key_serde, value_serde);
        self.add_node(name, kind, Arc::new(factory), parents)
    }

    /// Adds a sink whose records go to the partitions `partitioner` picks (internal use).
    pub(crate) fn add_partitioned_sink<K: 'static, V: 'static>(
        &mut self,
        name: &str,
        topic: &str,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        partitioner: node::SinkPartitioner<K, V>,
        parents: &[&str],
    ) -> Result<&mut Self> {
        names::check_topic("sink topic", name, topic)?;
        let kind = NodeKind::Sink {
            topic: topic.to_string(),
        };
        let factory = SinkFactory::new(SinkTopic::Fixed(topic.to_string()), key_serde, value_serde)
            .with_partitioner(partitioner);
        self.add_node(name, kind, Arc::new(factory), parents)
    }

    /// Adds a sink node writing each record to the topic `extractor` names for it. The topics
    /// must exist.
    pub fn add_sink_with_topic_extractor<K: 'static, V: 'static>(
        &mut self,
        name: &str,
        extractor: TopicNameExtractor<K, V>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        parents: &[&str],
    ) -> Result<&mut Self> {
        let kind = NodeKind::Sink {
            topic: DYNAMIC_SINK_TOPIC.to_string(),
        };
        let factory = SinkFactory::new(SinkTopic::Dynamic(extractor), key_serde, value_serde);
        self.add_node(name, kind, Arc::new(factory), parents)
    }

    /// Adds a state store and connects it to `processors`.
    pub fn add_state_store(
        &mut self,
        store: StoreBuilder,
        processors: &[&str],
    ) -> Result<&mut Self> {
        names::check_store(store.name())?;
        if self.stores.iter().any(|s| s.name() == store.name()) {
            return Err(Error::Topology(format!(
                "store `{}` is already added",
                store.name()
            )));
        }
        let name = store.name().to_string();
        self.stores.push(store);
        for processor in processors {
            self.connect_processor_and_state_store(processor, &name)?;
        }
        Ok(self)
    }

    /// Gives processor `processor` access to the already added store `store`.
    pub fn connect_processor_and_state_store(
        &mut self,
        processor: &str,
        store: &str,
    ) -> Result<&mut Self> {
        if !self.stores.iter().any(|s| s.name() == store) {
            return Err(Error::Topology(format!("store `{store}` is not added")));
        }
        let &id = self
            .by_name
            .get(processor)
            .ok_or_else(|| Error::Topology(format!("processor `{processor}` is not added")))?;
        let node = &mut self.nodes[id];
        if !matches!(node.kind, NodeKind::Processor) {
            return Err(Error::Topology(format!("`{processor}` is not a processor")));
        }
        if !node.stores.iter().any(|s| s == store) {
            node.stores.push(store.to_string());
        }
        Ok(self)
    }

    /// Describes the sub-topologies, nodes, stores and topics, as Kafka Streams'
    /// `TopologyDescription` does.
    pub fn describe(&self) -> TopologyDescription {
        describe::describe(self)
    }

    /// Marks `topic` as internal: named here without the application id, created by the runtime.
    pub(crate) fn add_internal_topic(&mut self, topic: &str) {
        self.internal_topics.insert(topic.to_string());
    }

    /// Adds a global store kept from `def.topic` on every instance.
    pub(crate) fn add_global_store(&mut self, def: GlobalStoreDef) -> Result<()> {
        if self.stores.iter().any(|s| s.name() == def.store.name())
            || self
                .global_stores
                .iter()
                .any(|g| g.store.name() == def.store.name())
        {
            return Err(Error::Topology(format!(
                "store `{}` is already added",
                def.store.name()
            )));
        }
        if let Some(other) = self.source_of(&def.topic) {
            return Err(Error::Topology(format!(
                "topic `{}` is already read by source `{other}`",
                def.topic
            )));
        }
        self.global_stores.push(def);
        Ok(())
    }

    pub(crate) fn global_stores(&self) -> &[GlobalStoreDef] {
        &self.global_stores
    }

    pub(crate) fn add_copartitioned_node(&mut self, node: &str) {
        self.copartitioned_nodes.push(node.to_string());
    }

    /// Ids of the sub-topologies that join their inputs.
    pub(crate) fn copartitioned_subtopologies(&self, subs: &[Subtopology]) -> Vec<u32> {
        subs.iter()
            .filter(|s| {
                s.nodes
                    .iter()
                    .any(|&n| self.copartitioned_nodes.contains(&self.nodes[n].name))
            })
            .map(|s| s.id)
            .collect()
    }

    pub(crate) fn set_internal_topic_partitions(&mut self, topic: &str, partitions: i32) {
        self.internal_partitions
            .insert(topic.to_string(), partitions);
    }

    pub(crate) fn internal_topic_partitions(&self, topic: &str) -> Option<i32> {
        self.internal_partitions.get(topic).copied()
    }

    /// Notes that a `StreamsBuilder` built this topology with `optimizations` applied.
    pub(crate) fn set_built_with(&mut self, optimizations: crate::config::TopologyOptimizations) {
        self.built_with = Some(optimizations);
    }

    /// The optimizations applied, if a `StreamsBuilder` built this topology.
    pub(crate) fn built_with(&self) -> Option<crate::config::TopologyOptimizations> {
        self.built_with
    }

    pub(crate) fn internal_topics(&self) -> &BTreeSet<String> {
        &self.internal_topics
    }

    /// The topics the application writes that are not its own internal topics, each with a
    /// sink node writing it (sinks choosing their topic per record are not listed).
    pub(crate) fn user_sink_topics(&self) -> BTreeMap<String, String> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Sink { topic }
                    if topic != DYNAMIC_SINK_TOPIC && !self.internal_topics.contains(topic) =>
                {
                    Some((topic.clone(), n.name.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Checks the names derived from `app_id`: internal topics must stay within Kafka's
    /// length limit.
    pub(crate) fn check_derived_names(&self, app_id: &str) -> Result<()> {
        let changelogs = self
            .stores
            .iter()
            .filter(|s| self.store_has_own_changelog(s.name()))
            .map(|s| {
                (
                    Self::changelog_topic(app_id, s.name()),
                    s.name().to_string(),
                )
            });
        let internal = self
            .internal_topics
            .iter()
            .map(|t| (self.physical_topic(app_id, t), t.clone()));
        for (topic, owner) in changelogs.chain(internal) {
            if let Some(reason) = names::topic_name_problem(&topic) {
                return Err(Error::Config {
                    key: crate::config::APPLICATION_ID.into(),
                    reason: format!(
                        "`{app_id}` makes the internal topic of `{owner}` invalid (`{topic}`): {reason}"
                    ),
                });
            }
        }
        Ok(())
    }

    pub(crate) fn nodes(&self) -> &[NodeDef] {
        &self.nodes
    }

    pub(crate) fn store(&self, name: &str) -> Option<&StoreBuilder> {
        self.stores.iter().find(|s| s.name() == name)
    }

    fn source_of(&self, topic: &str) -> Option<&str> {
        self.nodes
            .iter()
            .find_map(|n| match &n.kind {
                NodeKind::Source { topics } if topics.iter().any(|t| t == topic) => {
                    Some(n.name.as_str())
                }
                _ => None,
            })
            .or_else(|| {
                self.global_stores
                    .iter()
                    .find(|g| g.topic == topic)
                    .map(|g| g.source_name.as_str())
            })
    }

    /// The sub-topologies, numbered in the order of their first node.
    pub(crate) fn subtopologies(&self) -> Vec<Subtopology> {
        subtopology::split(self)
    }

    /// The physical name of `topic` for application `app_id`.
    pub(crate) fn physical_topic(&self, app_id: &str, topic: &str) -> String {
        if self.internal_topics.contains(topic) {
            format!("{app_id}-{topic}")
        } else {
            topic.to_string()
        }
    }

    /// Physical names of the internal topics, by their topology names.
    pub(crate) fn internal_topic_names(&self, app_id: &str) -> HashMap<String, String> {
        self.internal_topics
            .iter()
            .map(|t| (t.clone(), self.physical_topic(app_id, t)))
            .collect()
    }

    /// The changelog topic of store `store` for application `app_id`.
    pub(crate) fn changelog_topic(app_id: &str, store: &str) -> String {
        format!("{app_id}-{store}-changelog")
    }

    pub(crate) fn factory(&self, id: usize) -> &dyn NodeFactory {
        &*self.nodes[id].factory
    }
}
