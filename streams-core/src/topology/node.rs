//! Nodes as the topology describes them: the types crossing each edge, and a recipe per node
//! ([`NodeFactory`]): a processor's supplier, a source's serdes, a sink's topic and serdes.
//!
//! The runtime builds the recipes into typed nodes once per task (`runtime::node`). The
//! topology sees what they build only erased, so that it depends on nothing that executes.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use crate::Result;
use crate::serde::SharedSerde;

/// The Rust types of the keys and values crossing an edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TypePair {
    key: TypeId,
    value: TypeId,
    key_name: &'static str,
    value_name: &'static str,
}

impl TypePair {
    pub(crate) fn of<K: 'static, V: 'static>() -> Self {
        TypePair {
            key: TypeId::of::<K>(),
            value: TypeId::of::<V>(),
            key_name: std::any::type_name::<K>(),
            value_name: std::any::type_name::<V>(),
        }
    }
}

impl std::fmt::Display for TypePair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "({}, {})", self.key_name, self.value_name)
    }
}

/// A recipe for one node, kept in the topology and run once per task.
///
/// The runtime implements it for the recipes below (`runtime::node`): what `build` yields is
/// the runtime's node handles, erased here (the runtime downcasts them).
pub(crate) trait NodeFactory: Send + Sync {
    /// Types the node accepts; `None` for sources.
    fn input_types(&self) -> Option<TypePair>;
    /// Types the node forwards; `None` for sinks.
    fn output_types(&self) -> Option<TypePair>;
    /// Builds the node for one task, its children built already.
    fn build(
        &self,
        name: &str,
        ctx: &BuildContext<'_>,
        children: &[ErasedChild],
    ) -> Result<ErasedNode>;
}

/// A factory shared by the topology and every task built from it.
pub(crate) type SharedFactory = Arc<dyn NodeFactory>;

/// Settings a node needs when a task builds it.
pub(crate) struct BuildContext<'a> {
    /// Physical topic names of internal topics, by their name in the topology.
    pub(crate) internal_topics: &'a HashMap<String, String>,
}

impl BuildContext<'_> {
    /// The physical name of `topic`: internal topics carry the application id.
    pub(crate) fn physical_topic(&self, topic: &str) -> String {
        self.internal_topics
            .get(topic)
            .cloned()
            .unwrap_or_else(|| topic.to_string())
    }
}

/// A built child, erased, ready for a parent to downcast.
pub(crate) type ErasedChild = Rc<dyn Any>;

/// A built node, erased: the runtime's node handles.
pub(crate) type ErasedNode = Box<dyn Any>;

// ---- processors ----

/// A processor node: made by `supplier`, once per task.
pub(crate) struct ProcessorFactory<P, F> {
    pub(crate) supplier: F,
    _processor: PhantomData<fn() -> P>,
}

impl<P, F> ProcessorFactory<P, F> {
    pub(crate) fn new(supplier: F) -> Self {
        ProcessorFactory {
            supplier,
            _processor: PhantomData,
        }
    }
}

// ---- sources ----

/// Extracts a record's event time from its key, value and Kafka timestamp.
pub type TimestampExtractor<K, V> = Arc<dyn Fn(&K, &V, i64) -> i64 + Send + Sync>;

/// A source node: decodes with these serdes; timestamps come from `extractor` if any.
pub(crate) struct SourceFactory<K, V> {
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) extractor: Option<TimestampExtractor<K, V>>,
}

impl<K, V> SourceFactory<K, V> {
    pub(crate) fn new(
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
        extractor: Option<TimestampExtractor<K, V>>,
    ) -> Self {
        SourceFactory {
            key_serde,
            value_serde,
            extractor,
        }
    }
}

// ---- sinks ----

/// Chooses a sink's topic per record.
pub type TopicNameExtractor<K, V> = Arc<dyn Fn(&K, &V) -> String + Send + Sync>;

/// Where a sink writes.
pub(crate) enum SinkTopic<K, V> {
    Fixed(String),
    Dynamic(TopicNameExtractor<K, V>),
}

impl<K, V> Clone for SinkTopic<K, V> {
    fn clone(&self) -> Self {
        match self {
            SinkTopic::Fixed(t) => SinkTopic::Fixed(t.clone()),
            SinkTopic::Dynamic(f) => SinkTopic::Dynamic(f.clone()),
        }
    }
}

/// Chooses a sink record's partition (`None`: the producer's partitioner, murmur2 of the key).
pub(crate) type SinkPartitioner<K, V> = Arc<dyn Fn(&K, &V) -> Option<i32> + Send + Sync>;

/// A sink node: encodes with these serdes and writes to `topic`, in the partition
/// `partitioner` picks if any.
pub(crate) struct SinkFactory<K, V> {
    pub(crate) topic: SinkTopic<K, V>,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) partitioner: Option<SinkPartitioner<K, V>>,
}

impl<K, V> SinkFactory<K, V> {
    pub(crate) fn new(
        topic: SinkTopic<K, V>,
        key_serde: SharedSerde<K>,
        value_serde: SharedSerde<V>,
    ) -> Self {
        SinkFactory {
            topic,
            key_serde,
            value_serde,
            partitioner: None,
        }
    }

    pub(crate) fn with_partitioner(mut self, partitioner: SinkPartitioner<K, V>) -> Self {
        self.partitioner = Some(partitioner);
        self
    }
}
