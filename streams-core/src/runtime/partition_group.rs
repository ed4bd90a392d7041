//! [`PartitionGroup`]: the buffered records of one task's input partitions, handed out in
//! timestamp order, as Kafka Streams' `PartitionGroup` does.
//!
//! A task reading several partitions (a join's two topics, a merge) processes the buffered
//! record with the smallest timestamp next. If a partition has nothing buffered, the task waits:
//! while the broker holds records of it not yet fetched (its lag is above 0), unless
//! `max.task.idle.ms` is -1; and, when it is caught up, for `max.task.idle.ms` more
//! (default 0: not at all), after which it processes what it has.

use std::collections::VecDeque;
use std::ffi::{CStr, CString};
use std::time::{Duration, Instant};

use rdkafka::message::{Message, OwnedMessage};

struct Queue {
    topic: String,
    /// `topic` for librdkafka calls, made once rather than per lag check.
    topic_c: CString,
    partition: i32,
    records: VecDeque<OwnedMessage>,
    /// Offset after the last record buffered (`None` before any).
    next_offset: Option<i64>,
    /// Until when the task waits for this partition, empty and caught up, before processing
    /// without it (`max.task.idle.ms` after it was first found so); cleared when it gets data.
    idle_deadline: Option<Instant>,
    /// The partition's offsets `(low, high)` last read from the consumer, and when: reused for
    /// [`WATERMARK_REFRESH`], as Kafka Streams reuses the lag its consumer learnt at the last
    /// poll. Reading them takes librdkafka's partition lock, contended by its fetcher thread,
    /// which cost a third of a join's throughput when done per record.
    watermarks: Option<((i64, i64), Instant)>,
}

/// How long a partition's cached watermarks stand for the consumer's current view.
const WATERMARK_REFRESH: Duration = Duration::from_millis(1);

impl Queue {
    /// Whether everything on the broker for this partition, as far as the consumer knows,
    /// has been delivered.
    fn caught_up(&mut self, now: Instant, lag: &dyn LagOracle) -> bool {
        let ((low, high), refreshed) = match self.watermarks {
            Some((known, at)) if now.saturating_duration_since(at) < WATERMARK_REFRESH => {
                (known, false)
            }
            _ => match lag.watermarks(&self.topic_c, self.partition) {
                Some(known) => {
                    self.watermarks = Some((known, now));
                    (known, true)
                }
                // Not fetched yet: records may be there.
                None => return false,
            },
        };
        let delivered = match self.next_offset {
            Some(next) => next >= high,
            None => high <= low.max(0),
        };
        if delivered || !refreshed {
            return delivered;
        }
        // Under read_committed a transaction's commit marker follows its last record: the
        // consumer's position moves past it, the records delivered do not. Asked at most once
        // per watermark refresh; once past the end, the position stands for the next offset.
        match lag.position(&self.topic_c, self.partition) {
            Some(position) if position >= high => {
                self.next_offset = Some(position);
                true
            }
            _ => false,
        }
    }
}

/// What the consumer knows of a partition's offsets, to tell if an empty queue is caught up.
pub(crate) trait LagOracle {
    /// The low and high watermarks of `topic`-`partition` from the consumer's last fetch
    /// responses, `None` while unknown.
    fn watermarks(&self, topic: &CStr, partition: i32) -> Option<(i64, i64)>;

    /// The consumer's position in `topic`-`partition` (past control records such as
    /// transaction markers), `None` while unknown.
    fn position(&self, _topic: &CStr, _partition: i32) -> Option<i64> {
        None
    }
}

/// The input partitions of one task.
pub(crate) struct PartitionGroup {
    queues: Vec<Queue>,
    /// Bytes of the buffered records, as [`record_bytes`] counts them.
    bytes: usize,
}

/// What a buffered record counts against `input.buffer.max.bytes`: its key, value, headers
/// and topic name, plus its offset, timestamp and partition (as Kafka Streams counts them).
fn record_bytes(message: &OwnedMessage) -> usize {
    use rdkafka::message::Headers;
    let headers: usize = message.headers().map_or(0, |headers| {
        headers
            .iter()
            .map(|h| h.key.len() + h.value.map_or(0, <[u8]>::len))
            .sum()
    });
    message.key().map_or(0, <[u8]>::len)
        + message.payload().map_or(0, <[u8]>::len)
        + headers
        + message.topic().len()
        + 20
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
                    // A topic name never holds a NUL byte (Kafka allows [a-zA-Z0-9._-]).
                    topic_c: CString::new(topic.replace('\0', "")).unwrap_or_default(),
                    topic,
                    partition,
                    records: VecDeque::new(),
                    next_offset: None,
                    idle_deadline: None,
                    watermarks: None,
                })
                .collect(),
            bytes: 0,
        }
    }

    /// Whether the task reads a single partition (then records need no ordering).
    pub(crate) fn is_single(&self) -> bool {
        self.queues.len() == 1
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.queues.iter().all(|q| q.records.is_empty())
    }

    /// Bytes of the buffered records.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// The partitions with records buffered.
    pub(crate) fn non_empty(&self) -> impl Iterator<Item = (&str, i32)> {
        self.queues
            .iter()
            .filter(|q| !q.records.is_empty())
            .map(|q| (q.topic.as_str(), q.partition))
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
            self.bytes += record_bytes(&message);
            queue.records.push_back(message);
        }
    }

    /// Where the task starts reading `topic`-`partition` (its committed offset): until a
    /// record of it arrives, the partition is caught up once that reaches the end. Without
    /// it a partition whose records were all processed before (by an earlier owner of the
    /// task) would count as never fetched, and a join would wait for it forever.
    pub(crate) fn start_at(&mut self, topic: &str, partition: i32, offset: i64) {
        if let Some(queue) = self
            .queues
            .iter_mut()
            .find(|q| q.partition == partition && q.topic == topic)
        {
            queue.next_offset.get_or_insert(offset);
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

    /// Whether a record just fetched from `topic`-`partition` may be processed at once, with
    /// nothing buffered anywhere in the group: every other partition is empty too, so this
    /// record is the earliest the task has, and the task would not wait for any of them
    /// (caught up and `max.task.idle.ms` 0, or -1). Longer idle settings take the buffered path,
    /// which keeps the deadlines.
    pub(crate) fn may_process_directly(
        &mut self,
        topic: &str,
        partition: i32,
        now: Instant,
        max_idle: i64,
        lag: &dyn LagOracle,
    ) -> bool {
        if !self.is_empty() {
            return false;
        }
        match max_idle {
            i64::MIN..=-1 => true,
            0 => self
                .queues
                .iter_mut()
                .filter(|q| q.partition != partition || q.topic != topic)
                .all(|q| q.caught_up(now, lag)),
            _ => false,
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
                if !q.caught_up(now, lag) {
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
        let message = queue.records.pop_front()?;
        self.bytes = self.bytes.saturating_sub(record_bytes(&message));
        Some(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;

    /// `Lag(true)`: every partition is at its end (high watermark 0); `Lag(false)`: the broker
    /// holds records not yet fetched (high watermark beyond any offset).
    struct Lag(bool);

    impl LagOracle for Lag {
        fn watermarks(&self, _: &CStr, _: i32) -> Option<(i64, i64)> {
            Some((0, if self.0 { 0 } else { i64::MAX }))
        }
    }

    /// The consumer does not know the partition's offsets yet.
    struct Unknown;

    impl LagOracle for Unknown {
        fn watermarks(&self, _: &CStr, _: i32) -> Option<(i64, i64)> {
            None
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
            g.next_ready(now + WATERMARK_REFRESH, 0, &Lag(true))
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

    /// The broker holds offsets 0..60 of every partition.
    struct Sixty;

    impl LagOracle for Sixty {
        fn watermarks(&self, _: &CStr, _: i32) -> Option<(i64, i64)> {
            Some((0, 60))
        }
    }

    #[test]
    fn a_partition_consumed_to_its_end_before_the_task_moved_here_is_caught_up() {
        // A join task taken over after a rebalance: its table partition was read to offset 60
        // by the previous owner and has nothing new; stream records arrive.
        let mut g = PartitionGroup::new(["stream".to_string(), "table".to_string()], 0);
        let now = Instant::now();
        g.add(msg("stream", 0, 1000));
        assert!(
            g.next_ready(now, 0, &Sixty).is_none(),
            "without its start offset the table partition looks unread"
        );
        g.start_at("table", 0, 60);
        g.start_at("stream", 0, 0);
        assert!(
            g.next_ready(now + WATERMARK_REFRESH, 0, &Sixty).is_some(),
            "committed at its end: caught up"
        );
        let mut behind = PartitionGroup::new(["stream".to_string(), "table".to_string()], 0);
        behind.add(msg("stream", 0, 1000));
        behind.start_at("table", 0, 59);
        assert!(
            behind.next_ready(now, 0, &Sixty).is_none(),
            "one record left to fetch: waits for it"
        );
    }

    /// Offsets 0..60 on the broker, the last one a transaction's commit marker the consumer
    /// has moved past.
    struct PastMarker;

    impl LagOracle for PastMarker {
        fn watermarks(&self, _: &CStr, _: i32) -> Option<(i64, i64)> {
            Some((0, 60))
        }
        fn position(&self, _: &CStr, _: i32) -> Option<i64> {
            Some(60)
        }
    }

    #[test]
    fn a_commit_marker_after_the_last_record_does_not_hold_the_task() {
        let mut g = PartitionGroup::new(["stream".to_string(), "table".to_string()], 0);
        let now = Instant::now();
        g.add(msg("table", 58, 5));
        assert!(
            g.next_ready(now, 0, &PastMarker).is_some(),
            "the table record"
        );
        g.add(msg("stream", 0, 1000));
        assert!(
            g.next_ready(now + WATERMARK_REFRESH, 0, &PastMarker)
                .is_some(),
            "record 58 was the table partition's last; 59 is a marker"
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
        let later = now + WATERMARK_REFRESH;
        assert!(
            g.next_ready(later, 0, &Lag(true)).is_some(),
            "0: no wait when caught up"
        );
        assert!(
            g.next_ready(later, -1, &Lag(false)).is_some(),
            "-1: never waits"
        );
    }

    #[test]
    fn a_record_skips_the_buffer_only_when_it_would_be_next_anyway() {
        let mut g = PartitionGroup::new(["a".to_string(), "b".to_string()], 0);
        let now = Instant::now();
        assert!(g.may_process_directly("a", 0, now, 0, &Lag(true)));
        let later = now + WATERMARK_REFRESH;
        assert!(
            !g.may_process_directly("a", 0, later, 0, &Lag(false)),
            "b has unfetched records that may be earlier"
        );
        assert!(g.may_process_directly("a", 0, later, -1, &Lag(false)));
        assert!(
            !g.may_process_directly("a", 0, later, 100, &Lag(true)),
            "a positive idle time keeps its deadline on the buffered path"
        );
        g.add(msg("b", 0, 5));
        assert!(
            !g.may_process_directly("a", 0, later, -1, &Lag(true)),
            "something is buffered: it goes first or in order"
        );
    }

    #[test]
    fn watermarks_are_read_at_most_once_per_refresh_interval() {
        let mut g = PartitionGroup::new(["a".to_string(), "b".to_string()], 0);
        let now = Instant::now();
        assert!(
            !g.may_process_directly("a", 0, now, 0, &Unknown),
            "b's end is unknown: it may hold earlier records"
        );
        assert!(g.may_process_directly("a", 0, now, 0, &Lag(true)));
        let within = now + WATERMARK_REFRESH / 2;
        assert!(
            g.may_process_directly("a", 0, within, 0, &Lag(false)),
            "the view read at `now` stands within the interval"
        );
        assert!(
            !g.may_process_directly("a", 0, now + WATERMARK_REFRESH, 0, &Lag(false)),
            "then it is read again"
        );
    }

    #[test]
    fn counts_the_bytes_it_buffers() {
        let mut g = PartitionGroup::new(["a".to_string(), "b".to_string()], 0);
        let record = |topic: &str, offset: i64| {
            OwnedMessage::new(
                Some(vec![0; 100]),
                Some(b"key".to_vec()),
                topic.to_string(),
                Timestamp::CreateTime(offset),
                0,
                offset,
                None,
            )
        };
        g.add(record("a", 0));
        g.add(record("b", 1));
        assert_eq!(g.bytes(), 2 * (100 + 3 + 1 + 20));
        assert_eq!(g.non_empty().count(), 2);
        let now = Instant::now();
        assert!(g.next_ready(now, 0, &Lag(true)).is_some());
        assert_eq!(g.bytes(), 100 + 3 + 1 + 20);
        assert_eq!(g.non_empty().collect::<Vec<_>>(), vec![("b", 0)]);
        assert!(g.next_ready(now, 0, &Lag(true)).is_some());
        assert_eq!(g.bytes(), 0);
    }
}
