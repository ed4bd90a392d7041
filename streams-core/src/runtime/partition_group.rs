//! [`PartitionGroup`]: the buffered records of one task's input partitions, handed out in
//! timestamp order, as Kafka Streams' `PartitionGroup` does.
//!
//! A task reading several partitions (a join's two topics, a merge) processes the buffered
//! record with the smallest timestamp next. If a partition has nothing buffered, the task waits:
//! while the broker holds records of it not yet fetched (its lag is above 0), unless
//! `max.task.idle.ms` is -1; and, when it is caught up, for `max.task.idle.ms` more
//! (default 0: not at all), after which it processes what it has.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rdkafka::message::{Message, OwnedMessage};

struct Queue {
    topic: String,
    partition: i32,
    records: VecDeque<OwnedMessage>,
    /// Offset after the last record buffered (`None` before any).
    next_offset: Option<i64>,
    /// Until when the task waits for this partition, empty and caught up, before processing
    /// without it (`max.task.idle.ms` after it was first found so); cleared when it gets data.
    idle_deadline: Option<Instant>,
}

/// What the consumer knows of a partition's end, to tell if an empty queue is caught up.
pub(crate) trait LagOracle {
    /// Whether everything on the broker for `topic`-`partition` up to now has been delivered,
    /// given the offset after the last delivered record (if known).
    fn caught_up(&self, topic: &str, partition: i32, next_offset: Option<i64>) -> bool;
}

/// The input partitions of one task.
pub(crate) struct PartitionGroup {
    queues: Vec<Queue>,
}

fn timestamp(message: &OwnedMessage) -> i64 {
    message.timestamp().to_millis().unwrap_or(-1)
}

impl PartitionGroup {
    /// A group over `topics`, all at `partition`.
    pub(crate) fn new(topics: impl IntoIterator<Item = String>, partition: i32) -> Self {
        PartitionGroup {
            queues: topics
                .into_iter()
                .map(|topic| Queue {
                    topic,
                    partition,
                    records: VecDeque::new(),
                    next_offset: None,
                    idle_deadline: None,
                })
                .collect(),
        }
    }

    /// Whether the task reads a single partition (then records need no ordering).
    pub(crate) fn is_single(&self) -> bool {
        self.queues.len() == 1
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queues.iter().all(|q| q.records.is_empty())
    }

    /// How many records of `topic`-`partition` are buffered.
    pub(crate) fn buffered(&self, topic: &str, partition: i32) -> usize {
        self.queues
            .iter()
            .find(|q| q.partition == partition && q.topic == topic)
            .map_or(0, |q| q.records.len())
    }

    /// Buffers a fetched record.
    pub(crate) fn add(&mut self, message: OwnedMessage) {
        if let Some(queue) = self
            .queues
            .iter_mut()
            .find(|q| q.partition == message.partition() && q.topic == message.topic())
        {
            queue.next_offset = Some(message.offset() + 1);
            queue.idle_deadline = None;
            queue.records.push_back(message);
        }
    }

    /// Records a record processed straight away (not buffered), to keep track of positions.
    pub(crate) fn note_delivered(&mut self, topic: &str, partition: i32, offset: i64) {
        if let Some(queue) = self
            .queues
            .iter_mut()
            .find(|q| q.partition == partition && q.topic == topic)
        {
            queue.next_offset = Some(offset + 1);
        }
    }

    /// The next record to process, if the task may process now (`max_idle`: the
    /// `max.task.idle.ms` setting; -1 never waits).
    pub(crate) fn next_ready(
        &mut self,
        now: Instant,
        max_idle: i64,
        lag: &dyn LagOracle,
    ) -> Option<OwnedMessage> {
        if self.is_empty() {
            return None;
        }
        if max_idle >= 0 {
            let max_idle = Duration::from_millis(max_idle.unsigned_abs());
            for q in self.queues.iter_mut().filter(|q| q.records.is_empty()) {
                if !lag.caught_up(&q.topic, q.partition, q.next_offset) {
                    // Records of it are on the broker, not yet fetched: wait for them.
                    q.idle_deadline = None;
                    return None;
                }
                if now < *q.idle_deadline.get_or_insert(now + max_idle) {
                    return None;
                }
            }
        }
        let queue = self
            .queues
            .iter_mut()
            .filter(|q| !q.records.is_empty())
            .min_by_key(|q| q.records.front().map_or(i64::MAX, timestamp))?;
        queue.records.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;

    struct Lag(bool);

    impl LagOracle for Lag {
        fn caught_up(&self, _: &str, _: i32, _: Option<i64>) -> bool {
            self.0
        }
    }

    fn msg(topic: &str, offset: i64, ts: i64) -> OwnedMessage {
        OwnedMessage::new(
            None,
            None,
            topic.to_string(),
            Timestamp::CreateTime(ts),
            0,
            offset,
            None,
        )
    }

    #[test]
    fn hands_out_records_in_timestamp_order_once_every_partition_has_data() {
        let mut g = PartitionGroup::new(["stream".to_string(), "table".to_string()], 0);
        let now = Instant::now();
        g.add(msg("stream", 0, 1000));
        g.add(msg("stream", 1, 1001));
        assert!(
            g.next_ready(now, 0, &Lag(false)).is_none(),
            "the table partition has unfetched data"
        );
        g.add(msg("table", 0, 5));
        let order: Vec<_> = std::iter::from_fn(|| {
            g.next_ready(now, 0, &Lag(true))
                .map(|m| (m.topic().to_string(), timestamp(&m)))
        })
        .collect();
        assert_eq!(
            order,
            vec![
                ("table".into(), 5),
                ("stream".into(), 1000),
                ("stream".into(), 1001)
            ]
        );
    }

    #[test]
    fn waits_for_caught_up_partitions_only_max_task_idle_ms() {
        let mut g = PartitionGroup::new(["a".to_string(), "b".to_string()], 0);
        let now = Instant::now();
        let ms = Duration::from_millis;
        g.add(msg("a", 0, 10));
        assert!(
            g.next_ready(now, 100, &Lag(true)).is_none(),
            "waits up to 100 ms"
        );
        assert!(g.next_ready(now + ms(99), 100, &Lag(true)).is_none());
        assert!(g.next_ready(now + ms(100), 100, &Lag(true)).is_some());
        g.add(msg("a", 1, 11));
        assert!(
            g.next_ready(now + ms(101), 100, &Lag(true)).is_some(),
            "once waited out, records flow until the partition gets data"
        );
        g.add(msg("b", 0, 5));
        g.add(msg("a", 2, 12));
        assert_eq!(
            g.next_ready(now + ms(102), 100, &Lag(true))
                .map(|m| m.topic().to_string()),
            Some("b".into())
        );
        assert!(
            g.next_ready(now + ms(102), 100, &Lag(true)).is_none(),
            "b empty again: a new wait"
        );
        assert!(g.next_ready(now + ms(202), 100, &Lag(true)).is_some());
    }

    #[test]
    fn zero_never_waits_when_caught_up_and_minus_one_never_waits() {
        let mut g = PartitionGroup::new(["a".to_string(), "b".to_string()], 0);
        let now = Instant::now();
        g.add(msg("a", 0, 10));
        g.add(msg("a", 1, 11));
        assert!(
            g.next_ready(now, 0, &Lag(false)).is_none(),
            "0 still waits for unfetched data"
        );
        assert!(
            g.next_ready(now, 0, &Lag(true)).is_some(),
            "0: no wait when caught up"
        );
        assert!(
            g.next_ready(now, -1, &Lag(false)).is_some(),
            "-1: never waits"
        );
    }
}
