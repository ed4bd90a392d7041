//! Stream–stream windowed joins, following Kafka Streams' `KStreamKStreamJoin` (with its
//! spurious-result fix): each side's processor joins the arriving record with the other side's
//! buffered records in the window, then buffers the record in its own window store. For left
//! and outer joins, unmatched records wait in a shared "outer" store ordered by time (right
//! before left at equal times) and are emitted, joined with `None`, once stream time passes
//! their window end plus grace — looked for when a record arrives at the join's stream time and
//! the outer store may hold such records (see `tracker`), as Kafka Streams does.

mod lower;
mod tracker;

use std::sync::Arc;

use crate::Result;
use crate::processor::ProcessResult;
use crate::processor::{Processor, ProcessorContext, Record};
use crate::serde::{SerdeError, SharedSerde};
use crate::state::{KeyValueStoreHandle, WindowStoreHandle};
use streams_state::segments::{decode_time, encode_time};

pub(crate) use lower::lower;
use tracker::{TimeTracker, TimeTrackers};

/// The user's joiner oriented for one side: `(this value, other value)`; `None` where the
/// join kind gives no result.
pub(crate) type SideJoiner<V, VO, VOut> =
    Arc<dyn Fn(Option<&V>, Option<&VO>) -> Option<VOut> + Send + Sync>;

/// Which side of the join a processor handles; the left side's entries sort after the
/// right side's at equal times in the outer store, as in Kafka Streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Left,
    Right,
}

impl Side {
    fn byte(self) -> u8 {
        match self {
            Side::Right => 0,
            Side::Left => 1,
        }
    }
}

/// One side's settings.
pub(crate) struct JoinSide<K, V, VO, VOut> {
    pub(crate) side: Side,
    pub(crate) this_store: String,
    pub(crate) other_store: String,
    /// Shared store of unmatched records (left and outer joins).
    pub(crate) outer_store: Option<String>,
    /// Whether this side's unmatched records produce results.
    pub(crate) this_outer: bool,
    /// How far before / after a record of this side the other side's records join.
    pub(crate) before: i64,
    pub(crate) after: i64,
    pub(crate) grace: i64,
    pub(crate) joiner: SideJoiner<V, VO, VOut>,
    pub(crate) key_serde: SharedSerde<K>,
    pub(crate) this_serde: SharedSerde<V>,
    pub(crate) other_serde: SharedSerde<VO>,
    /// The join's time, per task, shared with the other side.
    pub(crate) trackers: TimeTrackers,
}

impl<K, V, VO, VOut> Clone for JoinSide<K, V, VO, VOut> {
    fn clone(&self) -> Self {
        JoinSide {
            side: self.side,
            this_store: self.this_store.clone(),
            other_store: self.other_store.clone(),
            outer_store: self.outer_store.clone(),
            this_outer: self.this_outer,
            before: self.before,
            after: self.after,
            grace: self.grace,
            joiner: self.joiner.clone(),
            key_serde: self.key_serde.clone(),
            this_serde: self.this_serde.clone(),
            other_serde: self.other_serde.clone(),
            trackers: self.trackers.clone(),
        }
    }
}

pub(crate) struct StreamStreamJoin<K, V, VO, VOut> {
    spec: JoinSide<K, V, VO, VOut>,
    this: Option<WindowStoreHandle<K, V>>,
    other: Option<WindowStoreHandle<K, VO>>,
    /// Outer store: `time | side | key` → length-prefixed values.
    outer: Option<KeyValueStoreHandle<Vec<u8>, Vec<u8>>>,
    tracker: Option<Arc<TimeTracker>>,
}

impl<K, V, VO, VOut> StreamStreamJoin<K, V, VO, VOut> {
    pub(crate) fn new(spec: JoinSide<K, V, VO, VOut>) -> Self {
        StreamStreamJoin {
            spec,
            this: None,
            other: None,
            outer: None,
            tracker: None,
        }
    }
}

fn outer_key(ts: i64, side: u8, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(9 + key.len());
    out.extend_from_slice(&encode_time(ts));
    out.push(side);
    out.extend_from_slice(key);
    out
}

fn split_values(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, rest)) = bytes.split_first_chunk::<4>() {
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            break;
        }
        out.push(&rest[..len]);
        bytes = &rest[len..];
    }
    out
}

impl<K, V, VO, VOut> StreamStreamJoin<K, V, VO, VOut>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VO: Clone + 'static,
    VOut: Clone + 'static,
{
    fn serde_err(&self) -> impl Fn(SerdeError) -> crate::Error + '_ {
        |source| crate::Error::StoreSerde {
            store: self.spec.outer_store.clone().unwrap_or_default(),
            source,
        }
    }

    fn key_bytes(&self, key: &K) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.spec
            .key_serde
            .serialize(key, &mut out)
            .map_err(self.serde_err())?;
        Ok(out)
    }

    /// Emits buffered unmatched records whose window has closed, in the outer store's order,
    /// and removes them. A left record at `t` closes once stream time exceeds
    /// `t + after + grace` (a right record: `t + before + grace`). As in Kafka Streams, the
    /// store is only scanned when its lower time bound, with this side's reach, has closed.
    fn emit_non_joined(
        &self,
        ctx: &mut ProcessorContext<'_, K, VOut>,
        tracker: &TimeTracker,
    ) -> Result<()> {
        let Some(outer) = &self.outer else {
            return Ok(());
        };
        let stream_time = tracker.stream_time();
        if tracker
            .min_time()
            .saturating_add(self.spec.after)
            .saturating_add(self.spec.grace)
            >= stream_time
        {
            return Ok(());
        }
        tracker.set_min_time(i64::MAX);
        let this_byte = self.spec.side.byte();
        let (mut this_open, mut other_open) = (false, false);
        let mut closed: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        // Kafka iterates the store one value at a time (a key buffered twice is two records)
        // and leaves the bound at the time of the record at which it stops, which comes after
        // both sides' windows were found open: the next key's, or this key's when it holds more
        // values.
        outer.visit(|key, values| {
            let Some(ts) = key.first_chunk::<8>().map(|b| decode_time(*b)) else {
                return Ok(true);
            };
            tracker.set_min_time(ts);
            if this_open && other_open {
                return Ok(false);
            }
            let is_this = key.get(8) == Some(&this_byte);
            // This side's records reach `after` into the future, the other side's `before`.
            let reach = if is_this {
                self.spec.after
            } else {
                self.spec.before
            };
            if ts.saturating_add(reach).saturating_add(self.spec.grace) >= stream_time {
                if is_this {
                    this_open = true
                } else {
                    other_open = true
                }
                // Kafka's next record is this key's second value: it stops there.
                let more_values = split_values(&values).len() > 1;
                return Ok(!(this_open && other_open && more_values));
            }
            closed.push((key, values));
            Ok(true)
        })?;
        for (key, values) in closed {
            outer.delete(&key)?;
            let ts = key
                .first_chunk::<8>()
                .map(|b| decode_time(*b))
                .unwrap_or_default();
            let is_this = key.get(8) == Some(&this_byte);
            let record_key = self
                .spec
                .key_serde
                .deserialize(&key[9..])
                .map_err(self.serde_err())?;
            for bytes in split_values(&values) {
                let joined = if is_this {
                    let v = self
                        .spec
                        .this_serde
                        .deserialize(bytes)
                        .map_err(self.serde_err())?;
                    (self.spec.joiner)(Some(&v), None)
                } else {
                    let v = self
                        .spec
                        .other_serde
                        .deserialize(bytes)
                        .map_err(self.serde_err())?;
                    (self.spec.joiner)(None, Some(&v))
                };
                if let Some(joined) = joined {
                    ctx.forward(Record::new(record_key.clone(), joined, ts))?;
                }
            }
        }
        Ok(())
    }

    fn buffer_unmatched(&self, key: &K, value: &V, ts: i64) -> Result<()> {
        let Some(outer) = &self.outer else {
            return Ok(());
        };
        let mut value_bytes = Vec::new();
        self.spec
            .this_serde
            .serialize(value, &mut value_bytes)
            .map_err(self.serde_err())?;
        let buffer_key = outer_key(ts, self.spec.side.byte(), &self.key_bytes(key)?);
        let mut list = outer.get(&buffer_key)?.unwrap_or_default();
        let len = u32::try_from(value_bytes.len())
            .map_err(|_| self.serde_err()(SerdeError::serialize::<V>("value longer than 4 GiB")))?;
        list.extend_from_slice(&len.to_be_bytes());
        list.extend_from_slice(&value_bytes);
        outer.put(&buffer_key, &list)
    }

    /// A match removes the other side's unmatched records at that time for that key.
    fn drop_matched(&self, key_bytes: &[u8], other_ts: i64) -> Result<()> {
        let Some(outer) = &self.outer else {
            return Ok(());
        };
        let other_byte = match self.spec.side {
            Side::Left => Side::Right.byte(),
            Side::Right => Side::Left.byte(),
        };
        outer.delete(&outer_key(other_ts, other_byte, key_bytes))
    }
}

impl<K, V, VO, VOut> Processor for StreamStreamJoin<K, V, VO, VOut>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VO: Clone + 'static,
    VOut: Clone + 'static,
{
    type KeyIn = K;
    type ValueIn = V;
    type KeyOut = K;
    type ValueOut = VOut;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VOut>) -> ProcessResult {
        self.this = Some(ctx.window_store(&self.spec.this_store)?);
        self.other = Some(ctx.window_store(&self.spec.other_store)?);
        if let Some(outer) = &self.spec.outer_store {
            self.outer = Some(ctx.key_value_store(outer)?);
        }
        self.tracker = Some(self.spec.trackers.get(ctx.task_id())?);
        Ok(())
    }

    fn close(&mut self, ctx: &mut ProcessorContext<'_, K, VOut>) -> ProcessResult {
        self.tracker = None;
        Ok(self.spec.trackers.remove(ctx.task_id())?)
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, VOut>,
        record: Record<K, V>,
    ) -> ProcessResult {
        let tracker = ctx.initialized(&self.tracker)?.clone();
        let ts = record.timestamp;
        // Every record moves the join's time, also one dropped below.
        tracker.advance_stream_time(ts);
        let stream_time = tracker.stream_time();
        if self.spec.this_serde.is_null(&record.value) {
            // As in Kafka Streams: a null value is "no record"; to the joiner `None` means "no
            // match", so null values are not joined at all.
            ctx.record_dropped(
                crate::runtime::DropReason::NullValue,
                "null value in a stream-stream join",
            );
            return Ok(());
        }
        if self.spec.key_serde.is_null(&record.key) {
            // KIP-962: outer sides join records without a key with nothing, at once.
            if !self.spec.this_outer {
                ctx.record_dropped(
                    crate::runtime::DropReason::NullKey,
                    "null key in a stream-stream join",
                );
            } else if let Some(joined) = (self.spec.joiner)(Some(&record.value), None) {
                ctx.forward(record.with_value(joined))?;
            }
            return Ok(());
        }
        let reach = self.spec.before.max(self.spec.after).max(0);
        if reach
            .checked_add(self.spec.grace)
            .and_then(|r| ts.checked_add(r))
            .is_none()
        {
            return Ok(ctx.unwindowable(ts, "a join window")?);
        }
        if self.outer.is_some() && ts == stream_time {
            self.emit_non_joined(ctx, &tracker)?;
        }
        let (from, to) = (
            (ts - self.spec.before).max(0),
            (ts + self.spec.after).max(0),
        );
        let matches = ctx.initialized(&self.other)?.fetch(&record.key, from, to)?;
        let key_bytes = if self.outer.is_some() {
            self.key_bytes(&record.key)?
        } else {
            Vec::new()
        };
        for (other_ts, other_value) in &matches {
            self.drop_matched(&key_bytes, *other_ts)?;
            if let Some(joined) = (self.spec.joiner)(Some(&record.value), Some(other_value)) {
                ctx.forward(Record {
                    key: record.key.clone(),
                    value: joined,
                    timestamp: ts.max(*other_ts),
                    headers: record.headers.clone(),
                })?;
            }
        }
        if self.spec.this_outer && matches.is_empty() {
            if self.outer.is_none() || to < stream_time {
                if let Some(joined) = (self.spec.joiner)(Some(&record.value), None) {
                    ctx.forward(Record {
                        key: record.key.clone(),
                        value: joined,
                        timestamp: ts,
                        headers: record.headers.clone(),
                    })?;
                }
            } else {
                tracker.lower_min_time(ts);
                self.buffer_unmatched(&record.key, &record.value, ts)?;
            }
        }
        if !ctx
            .initialized(&self.this)?
            .put(&record.key, &record.value, ts)?
        {
            ctx.record_late("join window past the store's retention");
        }
        Ok(())
    }
}
