//! Reading changelogs into stores: one consumer, outside any group, reads changelog partitions
//! from a position (just after a checkpoint) and hands their records to the stores in batches.
//! Restoration (up to the end offset it started from) and standby replicas (with no end) both
//! read through a [`ChangelogReader`], as Kafka Streams' `StoreChangelogReader` serves both.
//! Global stores read their topics otherwise: each record goes through the deserialization
//! policy as it is applied (see `global_thread`).

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use streams_state::ChangelogRecord;
use tracing::{debug, warn};

use crate::{Error, Result};

/// Records applied to a store per batch.
const BATCH: usize = 1_000;
/// How long one poll of the consumer waits for records.
const POLL: Duration = Duration::from_millis(20);
/// How long rewinding a partition may take.
const SEEK_TIMEOUT: Duration = Duration::from_secs(10);
/// Records taken without waiting between two looks at the clock: such a poll takes about a
/// microsecond; the clock is also read after every poll that had to wait.
const CLOCK_EVERY: u32 = 64;
/// A record whose buffers hold more than this is not kept for reuse.
const SPARE_MAX_BYTES: usize = 4096;

/// A changelog partition: `(topic, partition)`.
pub(crate) type Changelog = (String, i32);

/// Where the reader is in one changelog partition.
#[derive(Debug)]
struct Position {
    /// The partition, as handed to `apply`.
    changelog: Changelog,
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
    /// Added since the last [`ChangelogReader::assign`]: the consumer is to start it at `next`.
    fresh: bool,
}

/// Reads changelog partitions and hands their records to the stores in batches.
///
/// The consumer's assignment changes incrementally: a whole new assignment would drop what the
/// consumer fetched ahead for every partition, and fetch it again, each time a task starts or
/// finishes restoring. A partition no longer read stays assigned, paused ("parked"), and is
/// rewound with a seek if it is read again; the assignment is dropped only when nothing is
/// read. A partition is thus never unassigned and assigned again while its fetcher stops, and
/// any failure of the incremental path falls back to a whole new assignment.
pub(crate) struct ChangelogReader {
    consumer: BaseConsumer,
    /// By topic, then partition: records are looked up by the borrowed topic name (a thread
    /// reads few topics, so comparing names beats hashing them for every record).
    positions: BTreeMap<String, BTreeMap<i32, Position>>,
    /// Applied records, whose buffers the next records read are copied into (at most
    /// [`BATCH`], each under [`SPARE_MAX_BYTES`]): reading allocates nothing per record once
    /// the first batches are applied.
    spare: Vec<ChangelogRecord>,
    /// What the consumer is assigned: the partitions read and the parked ones.
    assigned: HashSet<Changelog>,
    /// Restoration fails on a consumer error; a standby logs it and reads on.
    fail_on_error: bool,
}

impl ChangelogReader {
    /// A reader over `consumer` (created with `clients::changelog_reader`).
    pub(crate) fn new(consumer: BaseConsumer, fail_on_error: bool) -> Self {
        ChangelogReader {
            consumer,
            positions: BTreeMap::new(),
            spare: Vec::new(),
            assigned: HashSet::new(),
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
        let (topic, partition) = changelog.clone();
        self.positions.entry(topic).or_default().insert(
            partition,
            Position {
                changelog,
                next: from,
                end,
                batch: Vec::new(),
                last: from - 1,
                blocked: false,
                fresh: true,
            },
        );
    }

    fn get(&self, topic: &str, partition: i32) -> Option<&Position> {
        self.positions.get(topic)?.get(&partition)
    }

    fn get_mut(&mut self, topic: &str, partition: i32) -> Option<&mut Position> {
        self.positions.get_mut(topic)?.get_mut(&partition)
    }

    fn all(&self) -> impl Iterator<Item = &Position> {
        self.positions.values().flat_map(BTreeMap::values)
    }

    fn all_mut(&mut self) -> impl Iterator<Item = &mut Position> {
        self.positions.values_mut().flat_map(BTreeMap::values_mut)
    }

    /// Moves the end of `changelog` to `end` (only forward). A partition paused at its old end
    /// reads on from where it stopped.
    pub(crate) fn set_end(&mut self, changelog: &Changelog, end: i64) -> Result<()> {
        let (topic, partition) = changelog;
        let Some(position) = self.get_mut(topic, *partition) else {
            return Ok(());
        };
        if position.end.is_some_and(|old| old >= end) {
            return Ok(());
        }
        position.end = Some(end);
        if position.blocked && position.next < end {
            position.blocked = false;
            // Fetched records past the old end were dropped: fetch again from the next one.
            let next = position.next;
            self.rewind(topic, *partition, next)?;
        }
        Ok(())
    }

    /// Reads `partition` of `topic` again from `next`: seeking drops what was fetched ahead
    /// of it (past an old end, or while it was parked), and the partition is resumed.
    fn rewind(&self, topic: &str, partition: i32, next: i64) -> Result<()> {
        self.consumer
            .seek(topic, partition, Offset::Offset(next), SEEK_TIMEOUT)
            .map_err(|e| Error::kafka("rewinding a changelog partition", e))?;
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(topic, partition);
        self.consumer
            .resume(&tpl)
            .map_err(|e| Error::kafka("resuming a changelog partition", e))
    }

    /// Assigns `partitions` at their offsets, as the whole assignment or added to it
    /// (`incremental`), and resumes them (a partition paused before it was unassigned would
    /// stay paused).
    fn start(&self, partitions: &TopicPartitionList, incremental: bool) -> Result<()> {
        if incremental {
            self.consumer.incremental_assign(partitions)
        } else {
            self.consumer.assign(partitions)
        }
        .map_err(|e| Error::kafka("assigning changelog partitions", e))?;
        if partitions.count() > 0 {
            self.consumer
                .resume(partitions)
                .map_err(|e| Error::kafka("resuming changelog partitions", e))?;
        }
        Ok(())
    }

    /// The next offset to read of `changelog`.
    pub(crate) fn position(&self, changelog: &Changelog) -> Option<i64> {
        self.get(&changelog.0, changelog.1).map(|p| p.next)
    }

    /// Stops reading `changelog` (records read and not applied are dropped). Takes effect at
    /// the next [`assign`](Self::assign).
    pub(crate) fn remove(&mut self, changelog: &Changelog) {
        if let Some(partitions) = self.positions.get_mut(&changelog.0) {
            partitions.remove(&changelog.1);
            if partitions.is_empty() {
                self.positions.remove(&changelog.0);
            }
        }
    }

    /// Whether `changelog` was read up to its end.
    pub(crate) fn caught_up(&self, changelog: &Changelog) -> bool {
        self.get(&changelog.0, changelog.1)
            .is_some_and(|p| p.end.is_some_and(|end| p.next >= end))
    }

    /// Brings the consumer's assignment up to date: changelogs added since the last call start
    /// at their next offset (assigned if new to the consumer, rewound if parked), changelogs no
    /// longer read are parked, and the others read on undisturbed. See [`ChangelogReader`].
    pub(crate) fn assign(&mut self) -> Result<()> {
        if let Err(e) = self.assign_incrementally() {
            warn!(
                "changing the changelog reader's assignment incrementally failed ({e}); assigning anew"
            );
            return self.assign_anew();
        }
        Ok(())
    }

    fn assign_incrementally(&mut self) -> Result<()> {
        if self.positions.is_empty() {
            if !self.assigned.is_empty() {
                self.consumer
                    .unassign()
                    .map_err(|e| Error::kafka("unassigning changelog partitions", e))?;
                self.assigned.clear();
            }
            return Ok(());
        }
        let mut new = TopicPartitionList::new();
        let mut rewound = Vec::new();
        let mut parked = TopicPartitionList::new();
        for position in self.all().filter(|p| p.fresh) {
            let (topic, partition) = &position.changelog;
            if self.assigned.contains(&position.changelog) {
                rewound.push((position.changelog.clone(), position.next));
            } else {
                new.add_partition_offset(topic, *partition, Offset::Offset(position.next))
                    .map_err(|e| Error::kafka("assigning changelog partitions", e))?;
            }
        }
        for (topic, partition) in &self.assigned {
            if self.get(topic, *partition).is_none() {
                parked.add_partition(topic, *partition);
            }
        }
        if parked.count() > 0 {
            // Paused again each time: harmless, and a partition rewound since is paused anew.
            self.consumer
                .pause(&parked)
                .map_err(|e| Error::kafka("pausing changelog partitions", e))?;
        }
        if new.count() > 0 {
            self.start(&new, true)?;
            for element in new.elements() {
                self.assigned
                    .insert((element.topic().to_string(), element.partition()));
            }
        }
        for ((topic, partition), next) in rewound {
            self.rewind(&topic, partition, next)?;
        }
        for position in self.all_mut().filter(|p| p.fresh) {
            position.fresh = false;
            position.blocked = false;
        }
        Ok(())
    }

    /// Assigns the consumer every changelog being read, at its next offset (none paused).
    fn assign_anew(&mut self) -> Result<()> {
        let mut tpl = TopicPartitionList::new();
        for position in self.all_mut() {
            let (topic, partition) = &position.changelog;
            tpl.add_partition_offset(topic, *partition, Offset::Offset(position.next))
                .map_err(|e| Error::kafka("assigning changelog partitions", e))?;
            position.blocked = false;
            position.fresh = false;
        }
        self.start(&tpl, false)?;
        self.assigned = self.all().map(|p| p.changelog.clone()).collect();
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
        let mut polls = 0u32;
        let mut caught_up = self.all_caught_up();
        while !caught_up {
            if polls.is_multiple_of(CLOCK_EVERY) && started.elapsed() >= budget {
                break;
            }
            polls = polls.wrapping_add(1);
            // Without a wait first: a poll with a timeout looks at the clock once more, and
            // while restoring, records are nearly always queued.
            let polled = match self.consumer.poll(Duration::ZERO) {
                Some(polled) => polled,
                None => {
                    // A poll that waits (a standby's trickle) may take most of the budget:
                    // look at the clock after it.
                    polls = 0;
                    match self.consumer.poll(POLL) {
                        Some(polled) => polled,
                        None => {
                            self.skip_gaps()?;
                            break;
                        }
                    }
                }
            };
            let message = match polled {
                Ok(message) => message,
                // Brokers down or leaders moving: the reader reconnects and goes on.
                Err(e) if self.fail_on_error && !super::clients::is_transient(&e) => {
                    return Err(Error::kafka("reading a changelog", e));
                }
                Err(e) => {
                    debug!("changelog reader: {e}");
                    // An error may have come after a wait: look at the clock next time.
                    polls = 0;
                    continue;
                }
            };
            let Some(position) = self
                .positions
                .get_mut(message.topic())
                .and_then(|partitions| partitions.get_mut(&message.partition()))
            else {
                continue;
            };
            let offset = message.offset();
            if position.end.is_some_and(|end| offset >= end) {
                if !position.blocked {
                    // Nothing past the end is wanted yet: stop fetching it.
                    position.blocked = true;
                    let mut tpl = TopicPartitionList::new();
                    tpl.add_partition(message.topic(), message.partition());
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
                let record = self.spare.pop().unwrap_or_else(empty_record);
                position.batch.push(refill(
                    record,
                    key,
                    message.payload(),
                    message.timestamp().to_millis().unwrap_or(0),
                ));
            }
            if position.batch.len() >= BATCH {
                apply(&position.changelog, &position.batch, position.last)?;
                keep_spare(&mut self.spare, &mut position.batch);
            }
            if position.end.is_some_and(|end| position.next >= end) {
                caught_up = self.all_caught_up();
            }
        }
        for position in self.positions.values_mut().flat_map(BTreeMap::values_mut) {
            if !position.batch.is_empty() {
                apply(&position.changelog, &position.batch, position.last)?;
                keep_spare(&mut self.spare, &mut position.batch);
            }
        }
        if self.all_caught_up() {
            // Restoration is over (a standby never gets here): nothing to keep buffers for.
            self.spare = Vec::new();
        }
        Ok(())
    }

    /// Whether every changelog being read has an end and reached it.
    pub(crate) fn all_caught_up(&self) -> bool {
        self.all().all(|p| p.end.is_some_and(|end| p.next >= end))
    }

    /// Moves positions past offsets that carry no records (transaction markers, compacted
    /// gaps), which the consumer has passed.
    fn skip_gaps(&mut self) -> Result<()> {
        let positions = self
            .consumer
            .position()
            .map_err(|e| Error::kafka("reading changelog positions", e))?;
        for element in positions.elements() {
            if let (Offset::Offset(offset), Some(position)) = (
                element.offset(),
                self.get_mut(element.topic(), element.partition()),
            ) && offset > position.next
            {
                position.next = position.end.map_or(offset, |end| offset.min(end));
            }
        }
        Ok(())
    }
}

/// A record with no buffers yet.
fn empty_record() -> ChangelogRecord {
    ChangelogRecord::new(Vec::new(), None, 0)
}

/// `record` holding a copy of `key`, `value` and `timestamp`, in the buffers it already has.
fn refill(
    mut record: ChangelogRecord,
    key: &[u8],
    value: Option<&[u8]>,
    timestamp: i64,
) -> ChangelogRecord {
    record.key.clear();
    record.key.extend_from_slice(key);
    match (value, &mut record.value) {
        (Some(value), Some(buffer)) => {
            buffer.clear();
            buffer.extend_from_slice(value);
        }
        (value, slot) => *slot = value.map(<[u8]>::to_vec),
    }
    record.timestamp = timestamp;
    record
}

/// Empties `batch` (applied) into `spare`, keeping only the small records, up to [`BATCH`].
fn keep_spare(spare: &mut Vec<ChangelogRecord>, batch: &mut Vec<ChangelogRecord>) {
    let room = BATCH.saturating_sub(spare.len());
    spare.extend(batch.drain(..).take(room).filter(|record| {
        record.key.capacity() + record.value.as_ref().map_or(0, Vec::capacity) <= SPARE_MAX_BYTES
    }));
}

#[cfg(test)]
#[path = "changelog_reader_tests.rs"]
mod tests;
