//! Reading changelogs into stores: one consumer, outside any group, reads changelog partitions
//! from a position (just after a checkpoint) and hands their records to the stores in batches.
//! Restoration (up to the end offset it started from) and standby replicas (with no end) both
//! read through a [`ChangelogReader`], as Kafka Streams' `StoreChangelogReader` serves both.
//! Global stores read their topics otherwise: each record goes through the deserialization
//! policy as it is applied (see `global_thread`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use streams_state::ChangelogRecord;
use tracing::debug;

use crate::{Error, Result};

/// Records applied to a store per batch.
const BATCH: usize = 1_000;
/// How long one poll of the consumer waits for records.
const POLL: Duration = Duration::from_millis(20);
/// How long rewinding a partition may take.
const SEEK_TIMEOUT: Duration = Duration::from_secs(10);

/// A changelog partition: `(topic, partition)`.
pub(crate) type Changelog = (String, i32);

/// Where the reader is in one changelog partition.
#[derive(Debug)]
struct Position {
    /// Next offset to read.
    next: i64,
    /// Offset to stop at (exclusive), if any.
    end: Option<i64>,
    /// Records read and not applied yet.
    batch: Vec<ChangelogRecord>,
    /// Offset of the last record read into `batch`.
    last: i64,
    /// A record at or past `end` came: the partition is paused until `end` moves (a standby
    /// reading a source table's input topic, up to the group's committed offset).
    blocked: bool,
}

/// Reads changelog partitions and hands their records to the stores in batches.
pub(crate) struct ChangelogReader {
    consumer: BaseConsumer,
    positions: HashMap<Changelog, Position>,
    /// Restoration fails on a consumer error; a standby logs it and reads on.
    fail_on_error: bool,
}

impl ChangelogReader {
    /// A reader over `consumer` (created with `clients::changelog_reader`).
    pub(crate) fn new(consumer: BaseConsumer, fail_on_error: bool) -> Self {
        ChangelogReader {
            consumer,
            positions: HashMap::new(),
            fail_on_error,
        }
    }

    /// The consumer, for watermarks.
    pub(crate) fn consumer(&self) -> &BaseConsumer {
        &self.consumer
    }

    /// Reads `changelog` from offset `from`, up to `end` (exclusive) if given. Takes effect at
    /// the next [`assign`](Self::assign).
    pub(crate) fn add(&mut self, changelog: Changelog, from: i64, end: Option<i64>) {
        self.positions.insert(
            changelog,
            Position {
                next: from,
                end,
                batch: Vec::new(),
                last: from - 1,
                blocked: false,
            },
        );
    }

    /// Moves the end of `changelog` to `end` (only forward). A partition paused at its old end
    /// reads on from where it stopped.
    pub(crate) fn set_end(&mut self, changelog: &Changelog, end: i64) -> Result<()> {
        let Some(position) = self.positions.get_mut(changelog) else {
            return Ok(());
        };
        if position.end.is_some_and(|old| old >= end) {
            return Ok(());
        }
        position.end = Some(end);
        if position.blocked && position.next < end {
            position.blocked = false;
            let (topic, partition) = changelog;
            // Fetched records past the old end were dropped: fetch again from the next one
            // (seeking discards what was prefetched), then resume.
            self.consumer
                .seek(
                    topic,
                    *partition,
                    Offset::Offset(position.next),
                    SEEK_TIMEOUT,
                )
                .map_err(|e| Error::kafka("rewinding a changelog partition", e))?;
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(topic, *partition);
            self.consumer
                .resume(&tpl)
                .map_err(|e| Error::kafka("resuming a changelog partition", e))?;
        }
        Ok(())
    }

    /// Stops reading `changelog` (records read and not applied are dropped). Takes effect at
    /// the next [`assign`](Self::assign).
    /// The next offset to read of `changelog`.
    pub(crate) fn position(&self, changelog: &Changelog) -> Option<i64> {
        self.positions.get(changelog).map(|p| p.next)
    }

    pub(crate) fn remove(&mut self, changelog: &Changelog) {
        self.positions.remove(changelog);
    }

    /// Whether `changelog` was read up to its end.
    pub(crate) fn caught_up(&self, changelog: &Changelog) -> bool {
        self.positions
            .get(changelog)
            .is_some_and(|p| p.end.is_some_and(|end| p.next >= end))
    }

    /// Assigns the consumer every changelog being read, at its next offset (none paused).
    pub(crate) fn assign(&mut self) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), position) in &mut self.positions {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(position.next))
                .map_err(|e| Error::kafka("assigning changelog partitions", e))?;
            position.blocked = false;
        }
        self.consumer
            .assign(&tpl)
            .map_err(|e| Error::kafka("assigning changelog partitions", e))?;
        if tpl.count() > 0 {
            self.consumer
                .resume(&tpl)
                .map_err(|e| Error::kafka("resuming changelog partitions", e))?;
        }
        Ok(())
    }

    /// Reads for up to `budget` (less once every changelog with an end reached it), handing
    /// each partition's records to `apply(changelog, records, last_offset)` every [`BATCH`]
    /// records and, at the end of the step, whatever was read since.
    pub(crate) fn read(
        &mut self,
        budget: Duration,
        mut apply: impl FnMut(&Changelog, &[ChangelogRecord], i64) -> Result<()>,
    ) -> Result<()> {
        let started = Instant::now();
        while started.elapsed() < budget && !self.all_caught_up() {
            let Some(polled) = self.consumer.poll(POLL) else {
                self.skip_gaps()?;
                break;
            };
            let message = match polled {
                Ok(message) => message,
                // Brokers down or leaders moving: the reader reconnects and goes on.
                Err(e) if self.fail_on_error && !super::clients::is_transient(&e) => {
                    return Err(Error::kafka("reading a changelog", e));
                }
                Err(e) => {
                    debug!("changelog reader: {e}");
                    continue;
                }
            };
            let changelog = (message.topic().to_string(), message.partition());
            let Some(position) = self.positions.get_mut(&changelog) else {
                continue;
            };
            let offset = message.offset();
            if position.end.is_some_and(|end| offset >= end) {
                if !position.blocked {
                    // Nothing past the end is wanted yet: stop fetching it.
                    position.blocked = true;
                    let mut tpl = TopicPartitionList::new();
                    tpl.add_partition(&changelog.0, changelog.1);
                    self.consumer
                        .pause(&tpl)
                        .map_err(|e| Error::kafka("pausing a changelog partition", e))?;
                }
                continue;
            }
            if offset < position.next {
                continue;
            }
            position.next = offset + 1;
            position.last = offset;
            // A changelog record without a key changes no store.
            if let Some(key) = message.key() {
                position.batch.push(ChangelogRecord::new(
                    key.to_vec(),
                    message.payload().map(<[u8]>::to_vec),
                    message.timestamp().to_millis().unwrap_or(0),
                ));
            }
            if position.batch.len() >= BATCH {
                apply(&changelog, &position.batch, position.last)?;
                position.batch.clear();
            }
        }
        for (changelog, position) in &mut self.positions {
            if !position.batch.is_empty() {
                apply(changelog, &position.batch, position.last)?;
                position.batch.clear();
            }
        }
        Ok(())
    }

    /// Whether every changelog being read has an end and reached it.
    pub(crate) fn all_caught_up(&self) -> bool {
        self.positions
            .values()
            .all(|p| p.end.is_some_and(|end| p.next >= end))
    }

    /// Moves positions past offsets that carry no records (transaction markers, compacted
    /// gaps), which the consumer has passed.
    fn skip_gaps(&mut self) -> Result<()> {
        let positions = self
            .consumer
            .position()
            .map_err(|e| Error::kafka("reading changelog positions", e))?;
        for element in positions.elements() {
            let changelog = (element.topic().to_string(), element.partition());
            if let (Offset::Offset(offset), Some(position)) =
                (element.offset(), self.positions.get_mut(&changelog))
                && offset > position.next
            {
                position.next = position.end.map_or(offset, |end| offset.min(end));
            }
        }
        Ok(())
    }
}
