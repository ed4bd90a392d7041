//! The record loop of a [`TaskManager`]: polled records go to their task at once or through
//! its [`PartitionGroup`] (timestamp order), with fetching paused while buffers are full.

use std::time::Instant;

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::{BorrowedMessage, Headers as _, Message};
use tracing::debug;

use super::TaskManager;
use crate::processor::Headers;
use crate::runtime::node::RawRecord;
use crate::runtime::partition_group::{LagOracle, PartitionGroup};
use crate::{Error, Result, TaskId};

impl TaskManager {
    /// Takes one polled record: processes it at once when its task reads a single partition
    /// and has nothing buffered, else buffers it and processes whatever the task's partition
    /// group releases in timestamp order.
    pub(crate) fn process<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        message: &BorrowedMessage<'_>,
    ) -> Result<()> {
        // Read once: each call measures and validates librdkafka's C string.
        let topic = message.topic();
        let Some(id) = self.task_of(topic, message.partition()) else {
            return Ok(());
        };
        self.begin_transaction()?;
        let (Some(task), Some(group)) = (self.tasks.get_mut(&id), self.groups.get_mut(&id)) else {
            // Revoked since it was fetched: its offset stays uncommitted for the new owner. Or
            // its task waits for the brokers: it is fetched again once the task exists.
            self.note_dropped(id);
            return Ok(());
        };
        if task.is_initialized()
            && ((group.is_single() && group.is_empty())
                || group.may_process_directly(
                    topic,
                    message.partition(),
                    Instant::now(),
                    self.settings.max_task_idle_ms,
                    &ConsumerLag { consumer },
                ))
        {
            group.note_delivered(topic, message.partition(), message.offset());
            let _span = task.span().clone().entered();
            return task.process(&raw_record(message, topic));
        }
        group.add(message.detach());
        if task.is_initialized() {
            let partition = message.partition();
            if self
                .settings
                .max_buffered
                .is_some_and(|cap| group.buffered(topic, partition) >= cap)
            {
                self.pause(consumer, vec![(topic.to_string(), partition)])?;
            } else if self.buffered_bytes() > self.settings.max_buffered_bytes {
                // Stop fetching every partition the thread holds records of until it has
                // worked through them, as Kafka Streams does past `input.buffer.max.bytes`.
                let holding = self
                    .groups
                    .values()
                    .flat_map(PartitionGroup::non_empty)
                    .map(|(topic, partition)| (topic.to_string(), partition))
                    .collect();
                self.pause(consumer, holding)?;
            }
        }
        self.drain(consumer, id)
    }

    /// Bytes of records buffered in this thread's partition groups.
    fn buffered_bytes(&self) -> usize {
        self.groups.values().map(PartitionGroup::bytes).sum()
    }

    /// Pauses fetching `partitions` (those not paused yet) until their buffers drain.
    fn pause<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        partitions: Vec<(String, i32)>,
    ) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for (topic, partition) in partitions {
            if !self.full.contains(&(topic.clone(), partition)) {
                tpl.add_partition(&topic, partition);
                self.full.insert((topic, partition));
            }
        }
        if tpl.count() == 0 {
            return Ok(());
        }
        consumer
            .pause(&tpl)
            .map_err(|e| Error::kafka("pausing input partitions with full buffers", e))?;
        debug!(
            partitions = tpl.count(),
            "input partitions paused: their buffers are full"
        );
        Ok(())
    }

    /// Processes what task `id`'s partition group releases now, then resumes the partitions
    /// whose buffers have room again.
    fn drain<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>, id: TaskId) -> Result<()> {
        let (Some(task), Some(group)) = (self.tasks.get_mut(&id), self.groups.get_mut(&id)) else {
            return Ok(());
        };
        if !task.is_initialized() {
            return Ok(());
        }
        let oracle = ConsumerLag { consumer };
        let now = Instant::now();
        let span = task.span().clone().entered();
        while let Some(message) = group.next_ready(now, self.settings.max_task_idle_ms, &oracle) {
            task.process(&raw_record(&message, message.topic()))?;
        }
        drop(span);
        if self.full.is_empty() {
            return Ok(());
        }
        // A partition with nothing buffered resumes whatever the thread holds: its task may be
        // waiting for its records to process the others (keeping it paused would deadlock).
        let room = self.buffered_bytes() <= self.settings.max_buffered_bytes;
        let mut resume = TopicPartitionList::new();
        let full = std::mem::take(&mut self.full);
        for (topic, partition) in full {
            let buffered = self
                .task_of(&topic, partition)
                .and_then(|task| self.groups.get(&task))
                .map_or(0, |group| group.buffered(&topic, partition));
            let below_cap = self.settings.max_buffered.is_none_or(|cap| buffered < cap);
            if buffered == 0 || (room && below_cap) {
                resume.add_partition(&topic, partition);
            } else {
                self.full.insert((topic, partition));
            }
        }
        if resume.count() > 0 {
            debug!(
                partitions = resume.count(),
                "input partitions resumed: buffers drained"
            );
            consumer
                .resume(&resume)
                .map_err(|e| Error::kafka("resuming drained partitions", e))?;
        }
        Ok(())
    }

    /// Processes what every task's partition group releases now (waits may have expired).
    pub(super) fn drain_all<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        let ids: Vec<TaskId> = self
            .groups
            .iter()
            .filter(|(_, g)| !g.is_empty())
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.drain(consumer, id)?;
        }
        Ok(())
    }
}

/// The consumer's view of partition ends, from its last fetch responses (no request).
struct ConsumerLag<'a, C: ConsumerContext> {
    consumer: &'a BaseConsumer<C>,
}

impl<C: ConsumerContext> LagOracle for ConsumerLag<'_, C> {
    fn watermarks(&self, topic: &std::ffi::CStr, partition: i32) -> Option<(i64, i64)> {
        crate::runtime::clients::cached_watermarks(self.consumer, topic, partition)
    }

    fn position(&self, topic: &std::ffi::CStr, partition: i32) -> Option<i64> {
        let topic = topic.to_str().ok()?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        // SAFETY: both handles are alive for the call; librdkafka writes the position into
        // the list's one element.
        let err = unsafe {
            rdkafka_sys::rd_kafka_position(self.consumer.client().native_ptr(), tpl.ptr())
        };
        if err != rdkafka_sys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        match tpl.find_partition(topic, partition)?.offset() {
            rdkafka::Offset::Offset(offset) => Some(offset),
            _ => None,
        }
    }
}

/// A polled message as its task's source nodes read it.
fn raw_record<'a, M: Message>(message: &'a M, topic: &'a str) -> RawRecord<'a> {
    let mut headers = Headers::new();
    if let Some(kafka_headers) = message.headers() {
        for header in kafka_headers.iter() {
            headers.add(header.key, header.value.map(<[u8]>::to_vec));
        }
    }
    RawRecord {
        topic,
        partition: message.partition(),
        offset: message.offset(),
        timestamp: message.timestamp().to_millis().unwrap_or(-1),
        key: message.key(),
        value: message.payload(),
        headers,
    }
}
