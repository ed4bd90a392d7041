//! Source nodes: decode raw Kafka records, apply the timestamp extractor and the
//! deserialization and timestamp policies, and forward.

use std::cell::RefCell;
use std::rc::Rc;

use tracing::warn;

use super::{BuiltNode, ChildNode, SourceNode, downcast_children};
use crate::error::{DeserializationPolicy, TimestampPolicy};
use crate::processor::{Headers, ProcessorContext, Record};
use crate::runtime::{DropReason, TaskContext};
use crate::serde::{SerdeError, SharedSerde, decode};
use crate::topology::TimestampExtractor;
use crate::topology::node::{
    BuildContext, ErasedChild, ErasedNode, NodeFactory, SourceFactory, TypePair,
};
use crate::{Error, Result};

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
                task.metrics().dropped(DropReason::NegativeTimestamp);
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
        match task.policies().deserialization {
            DeserializationPolicy::LogAndContinue => {
                warn!(task = %task.task_id(), node = %self.name, "skipping record: {}", error.report());
                task.metrics().dropped(DropReason::BadInput);
                Ok(())
            }
            DeserializationPolicy::DeadLetter => {
                warn!(task = %task.task_id(), node = %self.name, "dead-lettering record: {}", error.report());
                // Dropped from processing, as Kafka Streams counts a dead-lettered record too.
                task.metrics().dropped(DropReason::BadInput);
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
    ) -> Result<ErasedNode> {
        let node = Rc::new(RefCell::new(Source {
            name: Rc::from(name),
            partition_times: Vec::new(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            extractor: self.extractor.clone(),
            children: downcast_children(name, children)?,
        }));
        Ok(Box::new(BuiltNode {
            as_child: None,
            lifecycle: None,
            source: Some(node),
        }))
    }
}
