//! Sink nodes: encode records and hand them to the task's record collector, applying the
//! production policy to what cannot be written.

use std::cell::RefCell;
use std::rc::Rc;

use super::{BuiltNode, Node, erase_child};
use crate::processor::Record;
use crate::runtime::TaskContext;
use crate::serde::{SharedSerde, encode};
use crate::topology::names::topic_name_problem;
use crate::topology::node::{
    BuildContext, ErasedChild, ErasedNode, NodeFactory, SinkFactory, SinkPartitioner, SinkTopic,
    TypePair,
};
use crate::{Error, Result};

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
            && let Some(reason) = topic_name_problem(&topic)
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
                task.metrics().production_errors(),
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
                    task.metrics().production_errors(),
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

    fn build(&self, name: &str, ctx: &BuildContext<'_>, _: &[ErasedChild]) -> Result<ErasedNode> {
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
        Ok(Box::new(BuiltNode {
            as_child: Some(erase_child(name, node)),
            lifecycle: None,
            source: None,
        }))
    }
}
