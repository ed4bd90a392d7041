//! Nodes, typed inside and erased at the graph's seams.
//!
//! A task's nodes are typed: a node that forwards `(K, V)` holds its children as
//! `Rc<RefCell<dyn Node<K, V>>>`, so records move from node to node without boxing. The topology
//! keeps each node as an erased [`NodeFactory`]; when a task is built, children are built first
//! and handed to their parents as `Rc<dyn Any>`, which each parent downcasts to the child type it
//! forwards. A mismatch is a topology error, caught when the node is added.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use tracing::warn;

use crate::error::{DeserializationPolicy, TimestampPolicy};
use crate::processor::{Headers, Processor, ProcessorContext, Punctuation, Record};
use crate::runtime::TaskContext;
use crate::serde::{SerdeError, SharedSerde, decode, encode};
use crate::{Error, Result};

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

/// A node that receives typed records.
pub(crate) trait Node<K, V> {
    fn process(&mut self, task: &TaskContext, record: Record<K, V>) -> Result<()>;
}

/// Init, punctuation, flush and close, for every processor node once per task.
pub(crate) trait Lifecycle {
    fn name(&self) -> &str;
    fn init(&mut self, task: &TaskContext) -> Result<()>;
    fn punctuate(&mut self, task: &TaskContext, punctuation: Punctuation) -> Result<()>;
    fn flush(&mut self, task: &TaskContext) -> Result<()>;
    fn close(&mut self, task: &TaskContext) -> Result<()>;
}

/// A source: decodes raw Kafka records and forwards them.
pub(crate) trait SourceNode {
    fn process_raw(&mut self, task: &TaskContext, raw: &RawRecord<'_>) -> Result<()>;
}

/// A record as it comes from Kafka (or the test driver), before deserialization.
#[derive(Debug, Clone)]
pub(crate) struct RawRecord<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: Headers,
}

/// A parent's link to one child.
pub(crate) struct ChildNode<K, V> {
    pub(crate) name: Rc<str>,
    node: Rc<RefCell<dyn Node<K, V>>>,
}

impl<K, V> Clone for ChildNode<K, V> {
    fn clone(&self) -> Self {
        ChildNode {
            name: self.name.clone(),
            node: self.node.clone(),
        }
    }
}

impl<K, V> ChildNode<K, V> {
    pub(crate) fn process(&self, task: &TaskContext, record: Record<K, V>) -> Result<()> {
        task.set_timestamp(record.timestamp);
        let mut node = self.node.try_borrow_mut().map_err(|_| {
            Error::Topology(format!(
                "node `{}` was re-entered: the topology has a cycle",
                self.name
            ))
        })?;
        let previous = task.enter_node(&self.name);
        let result = node.process(task, record);
        if result.is_ok() {
            task.leave_node(previous);
        }
        result
    }
}

/// Settings a node needs when a task builds it.
pub(crate) struct BuildContext<'a> {
    /// Physical topic names of internal topics, by their name in the topology.
    pub(crate) internal_topics: &'a HashMap<String, String>,
}

impl BuildContext<'_> {
    fn physical_topic(&self, topic: &str) -> String {
        self.internal_topics
            .get(topic)
            .cloned()
            .unwrap_or_else(|| topic.to_string())
    }
}

/// What building one node yields.
#[derive(Default)]
pub(crate) struct BuiltNode {
    /// `Rc<ChildNode<KIn, VIn>>` erased, for the node's parents; `None` for sources.
    pub(crate) as_child: Option<Rc<dyn Any>>,
    pub(crate) lifecycle: Option<Rc<RefCell<dyn Lifecycle>>>,
    pub(crate) source: Option<Rc<RefCell<dyn SourceNode>>>,
}

/// A built child, erased, ready for a parent to downcast.
pub(crate) type ErasedChild = Rc<dyn Any>;

fn downcast_children<K: 'static, V: 'static>(
    node: &str,
    children: &[ErasedChild],
) -> Result<Vec<ChildNode<K, V>>> {
    children
        .iter()
        .map(|child| {
            child
                .downcast_ref::<ChildNode<K, V>>()
                .cloned()
                .ok_or_else(|| {
                    Error::Topology(format!(
                        "node `{node}` forwards {} but one of its children accepts other types",
                        TypePair::of::<K, V>()
                    ))
                })
        })
        .collect()
}

fn erase_child<K: 'static, V: 'static, N: Node<K, V> + 'static>(
    name: &str,
    node: Rc<RefCell<N>>,
) -> ErasedChild {
    let node: Rc<RefCell<dyn Node<K, V>>> = node;
    Rc::new(ChildNode {
        name: Rc::from(name),
        node,
    })
}

/// A recipe for one node, kept in the topology and run once per task.
pub(crate) trait NodeFactory: Send + Sync {
    /// Types the node accepts; `None` for sources.
    fn input_types(&self) -> Option<TypePair>;
    /// Types the node forwards; `None` for sinks.
    fn output_types(&self) -> Option<TypePair>;
    fn build(
        &self,
        name: &str,
        ctx: &BuildContext<'_>,
        children: &[ErasedChild],
    ) -> Result<BuiltNode>;
}

// ---- processors ----

pub(crate) struct ProcessorFactory<P, F> {
    supplier: F,
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

struct ProcessorNode<P: Processor> {
    name: Rc<str>,
    processor: P,
    children: Vec<ChildNode<P::KeyOut, P::ValueOut>>,
}

impl<P: Processor> Node<P::KeyIn, P::ValueIn> for ProcessorNode<P> {
    fn process(&mut self, task: &TaskContext, record: Record<P::KeyIn, P::ValueIn>) -> Result<()> {
        let mut ctx = ProcessorContext::new(task, &self.name, &self.children);
        self.processor.process(&mut ctx, record)
    }
}

impl<P: Processor> Lifecycle for ProcessorNode<P> {
    fn name(&self) -> &str {
        &self.name
    }

    fn init(&mut self, task: &TaskContext) -> Result<()> {
        let mut ctx = ProcessorContext::new(task, &self.name, &self.children);
        self.processor.init(&mut ctx)
    }

    fn punctuate(&mut self, task: &TaskContext, punctuation: Punctuation) -> Result<()> {
        task.set_metadata(None);
        task.set_timestamp(punctuation.timestamp);
        let mut ctx = ProcessorContext::new(task, &self.name, &self.children);
        self.processor.punctuate(&mut ctx, punctuation)
    }

    fn flush(&mut self, task: &TaskContext) -> Result<()> {
        let mut ctx = ProcessorContext::new(task, &self.name, &self.children);
        self.processor.flush(&mut ctx)
    }

    fn close(&mut self, task: &TaskContext) -> Result<()> {
        let mut ctx = ProcessorContext::new(task, &self.name, &self.children);
        self.processor.close(&mut ctx)
    }
}

impl<P, F> NodeFactory for ProcessorFactory<P, F>
where
    P: Processor,
    F: Fn() -> P + Send + Sync,
{
    fn input_types(&self) -> Option<TypePair> {
        Some(TypePair::of::<P::KeyIn, P::ValueIn>())
    }

    fn output_types(&self) -> Option<TypePair> {
        Some(TypePair::of::<P::KeyOut, P::ValueOut>())
    }

    fn build(
        &self,
        name: &str,
        _: &BuildContext<'_>,
        children: &[ErasedChild],
    ) -> Result<BuiltNode> {
        let node = Rc::new(RefCell::new(ProcessorNode {
            name: Rc::from(name),
            processor: (self.supplier)(),
            children: downcast_children(name, children)?,
        }));
        Ok(BuiltNode {
            as_child: Some(erase_child(name, node.clone())),
            lifecycle: Some(node),
            source: None,
        })
    }
}

// ---- sources ----

/// Extracts a record's event time from its key, value and Kafka timestamp.
pub type TimestampExtractor<K, V> = Arc<dyn Fn(&K, &V, i64) -> i64 + Send + Sync>;

pub(crate) struct SourceFactory<K, V> {
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    extractor: Option<TimestampExtractor<K, V>>,
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

struct Source<K, V> {
    name: Rc<str>,
    /// Under `use_partition_time`: the highest valid timestamp seen per input topic (this
    /// task reads one partition of each).
    partition_times: Vec<(String, i64)>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    extractor: Option<TimestampExtractor<K, V>>,
    children: Vec<ChildNode<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> Source<K, V> {
    /// Applies `default.timestamp.extractor` to a record's (extracted) timestamp: the
    /// timestamp to use, or `None` to skip the record.
    fn valid_timestamp(
        &mut self,
        task: &TaskContext,
        raw: &RawRecord<'_>,
        timestamp: i64,
    ) -> Result<Option<i64>> {
        let policy = task.policies().timestamp;
        if timestamp >= 0 {
            if policy == TimestampPolicy::UsePartitionTime {
                match self
                    .partition_times
                    .iter_mut()
                    .find(|(t, _)| t == raw.topic)
                {
                    Some((_, time)) => *time = (*time).max(timestamp),
                    None => self
                        .partition_times
                        .push((raw.topic.to_string(), timestamp)),
                }
            }
            return Ok(Some(timestamp));
        }
        task.metrics().invalid_timestamps.inc();
        let at = format!("{}-{}@{}", raw.topic, raw.partition, raw.offset);
        let reason = if self.extractor.is_some() {
            "the timestamp extractor returned a negative timestamp"
        } else {
            "the record's timestamp is negative"
        };
        let error = |reason: &str| Error::InvalidTimestamp {
            topic: raw.topic.to_string(),
            partition: raw.partition,
            offset: raw.offset,
            timestamp,
            node: self.name.to_string(),
            reason: reason.to_string(),
        };
        match policy {
            TimestampPolicy::LogAndSkip => {
                warn!(task = %task.task_id(), node = %self.name, record = %at, "skipping record: {reason} ({timestamp})");
                task.metrics().record_skipped();
                Ok(None)
            }
            TimestampPolicy::UsePartitionTime => {
                let known = self
                    .partition_times
                    .iter()
                    .find(|(t, _)| t == raw.topic)
                    .map(|(_, time)| *time);
                match known {
                    Some(time) => {
                        warn!(task = %task.task_id(), node = %self.name, record = %at, "{reason} ({timestamp}): using the partition time {time}");
                        Ok(Some(time))
                    }
                    None => Err(error(&format!(
                        "{reason}, and the partition time is not known yet to replace it"
                    ))),
                }
            }
            _ => Err(error(reason)),
        }
    }

    /// Applies the deserialization policy: `Ok(())` means skip the record.
    fn bad_record(
        &self,
        task: &TaskContext,
        raw: &RawRecord<'_>,
        field: &'static str,
        source: SerdeError,
    ) -> Result<()> {
        let error = Error::Deserialization {
            topic: raw.topic.to_string(),
            partition: raw.partition,
            offset: raw.offset,
            field,
            source,
        };
        task.metrics().deserialization_errors.inc();
        match task.policies().deserialization {
            DeserializationPolicy::LogAndContinue => {
                warn!(task = %task.task_id(), node = %self.name, "skipping record: {error}");
                task.metrics().record_skipped();
                Ok(())
            }
            DeserializationPolicy::DeadLetter => {
                warn!(task = %task.task_id(), node = %self.name, "dead-lettering record: {error}");
                crate::runtime::dead_letter::send(task, raw, &error)
            }
            _ => Err(error),
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> SourceNode for Source<K, V> {
    fn process_raw(&mut self, task: &TaskContext, raw: &RawRecord<'_>) -> Result<()> {
        task.enter_node(&self.name);
        let key = match decode(&*self.key_serde, raw.key) {
            Ok(key) => key,
            Err(e) => return self.bad_record(task, raw, "key", e),
        };
        let value = match decode(&*self.value_serde, raw.value) {
            Ok(value) => value,
            Err(e) => return self.bad_record(task, raw, "value", e),
        };
        let timestamp = match &self.extractor {
            Some(extract) => extract(&key, &value, raw.timestamp),
            None => raw.timestamp,
        };
        let Some(timestamp) = self.valid_timestamp(task, raw, timestamp)? else {
            return Ok(());
        };
        task.set_record_timestamp(timestamp);
        let record = Record {
            key,
            value,
            timestamp,
            headers: raw.headers.clone(),
        };
        let mut ctx = ProcessorContext::new(task, &self.name, &self.children);
        ctx.forward(record)
    }
}

impl<K: Clone + 'static, V: Clone + 'static> NodeFactory for SourceFactory<K, V> {
    fn input_types(&self) -> Option<TypePair> {
        None
    }

    fn output_types(&self) -> Option<TypePair> {
        Some(TypePair::of::<K, V>())
    }

    fn build(
        &self,
        name: &str,
        _ctx: &BuildContext<'_>,
        children: &[ErasedChild],
    ) -> Result<BuiltNode> {
        let node = Rc::new(RefCell::new(Source {
            name: Rc::from(name),
            partition_times: Vec::new(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            extractor: self.extractor.clone(),
            children: downcast_children(name, children)?,
        }));
        Ok(BuiltNode {
            as_child: None,
            lifecycle: None,
            source: Some(node),
        })
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

pub(crate) struct SinkFactory<K, V> {
    topic: SinkTopic<K, V>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    partitioner: Option<SinkPartitioner<K, V>>,
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

struct Sink<K, V> {
    name: Rc<str>,
    topic: SinkTopic<K, V>,
    partitioner: Option<SinkPartitioner<K, V>>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    key_buf: Vec<u8>,
    value_buf: Vec<u8>,
}

impl<K: 'static, V: 'static> Node<K, V> for Sink<K, V> {
    fn process(&mut self, task: &TaskContext, record: Record<K, V>) -> Result<()> {
        let topic = match &self.topic {
            SinkTopic::Fixed(topic) => std::borrow::Cow::Borrowed(topic.as_str()),
            SinkTopic::Dynamic(extract) => {
                std::borrow::Cow::Owned(extract(&record.key, &record.value))
            }
        };
        if let SinkTopic::Dynamic(_) = &self.topic
            && let Some(reason) = super::names::topic_name_problem(&topic)
        {
            // Kafka would refuse it; the record fails under the production policy.
            let error = Error::Production {
                topic: topic.to_string(),
                partition: -1,
                reason: format!(
                    "the topic name extractor of `{}` chose an invalid topic name: {reason}",
                    self.name
                ),
            };
            return crate::runtime::production_failed(
                task.policies().production,
                task.metrics(),
                error,
                false,
            );
        }
        let serialization = |field, source| Error::Serialization {
            topic: topic.to_string(),
            node: self.name.to_string(),
            field,
            source,
        };
        let sent = encode(&*self.key_serde, &record.key, &mut self.key_buf)
            .map_err(|e| serialization("key", e))
            .and_then(|has_key| {
                let has_value = encode(&*self.value_serde, &record.value, &mut self.value_buf)
                    .map_err(|e| serialization("value", e))?;
                let partition = self
                    .partitioner
                    .as_ref()
                    .and_then(|p| p(&record.key, &record.value));
                task.collector().send(
                    &topic,
                    partition,
                    has_key.then_some(self.key_buf.as_slice()),
                    has_value.then_some(self.value_buf.as_slice()),
                    record.timestamp,
                    &record.headers,
                )
            });
        match sent {
            // A sink writes the user's output, never a changelog (whatever its topic's name).
            Err(error @ (Error::Serialization { .. } | Error::Production { .. })) => {
                crate::runtime::production_failed(
                    task.policies().production,
                    task.metrics(),
                    error,
                    false,
                )
            }
            other => other,
        }
    }
}

impl<K: 'static, V: 'static> NodeFactory for SinkFactory<K, V> {
    fn input_types(&self) -> Option<TypePair> {
        Some(TypePair::of::<K, V>())
    }

    fn output_types(&self) -> Option<TypePair> {
        None
    }

    fn build(&self, name: &str, ctx: &BuildContext<'_>, _: &[ErasedChild]) -> Result<BuiltNode> {
        let topic = match &self.topic {
            SinkTopic::Fixed(topic) => SinkTopic::Fixed(ctx.physical_topic(topic)),
            dynamic => dynamic.clone(),
        };
        let node = Rc::new(RefCell::new(Sink {
            name: Rc::from(name),
            topic,
            partitioner: self.partitioner.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            key_buf: Vec::new(),
            value_buf: Vec::new(),
        }));
        Ok(BuiltNode {
            as_child: Some(erase_child(name, node)),
            lifecycle: None,
            source: None,
        })
    }
}

/// A factory shared by the topology and every task built from it.
pub(crate) type SharedFactory = Arc<dyn NodeFactory>;
