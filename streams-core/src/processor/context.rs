//! [`ProcessorContext`]: what a processor can do besides computing, forward records, open stores
//! and learn where the current record came from.

use std::rc::Rc;
use std::time::Duration;

use super::{Cancellable, PunctuationType, Record, RecordMetadata, Schedule};
use crate::runtime::node::ChildNode;
use crate::runtime::{DropReason, TaskContext};
use crate::state::{
    GlobalStoreHandle, KeyValueStoreHandle, SessionStoreHandle, TableStore,
    VersionedKeyValueStoreHandle, WindowStoreHandle,
};
use crate::{Error, Result, TaskId};

/// The context handed to a processor's `init`, `process` and `close`.
pub struct ProcessorContext<'a, KOut, VOut> {
    task: &'a TaskContext,
    node: &'a Rc<str>,
    children: &'a [ChildNode<KOut, VOut>],
}

impl<KOut, VOut> std::fmt::Debug for ProcessorContext<'_, KOut, VOut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessorContext")
            .field("task", &self.task.task_id())
            .field("node", &self.node)
            .finish()
    }
}

impl<'a, KOut: Clone + 'static, VOut: Clone + 'static> ProcessorContext<'a, KOut, VOut> {
    pub(crate) fn new(
        task: &'a TaskContext,
        node: &'a Rc<str>,
        children: &'a [ChildNode<KOut, VOut>],
    ) -> Self {
        ProcessorContext {
            task,
            node,
            children,
        }
    }

    /// Sends `record` to every child of this node, in the order they were connected.
    pub fn forward(&mut self, record: Record<KOut, VOut>) -> Result<()> {
        let Some((last, rest)) = self.children.split_last() else {
            return Ok(());
        };
        for child in rest {
            child.process(self.task, record.clone())?;
        }
        last.process(self.task, record)
    }

    /// Forwards a table change, telling the processors below whether it is its key's latest
    /// version (Kafka Streams' `Change.isLatest`, KIP-914). Only a versioned table's
    /// materialization says `false`, for an update older than the key's latest; stateless table
    /// operators pass changes on within this call, and the joins and groupings of a versioned
    /// table read the answer with [`change_is_latest`](Self::change_is_latest).
    pub(crate) fn forward_change(
        &mut self,
        record: Record<KOut, VOut>,
        is_latest: bool,
    ) -> Result<()> {
        let before = self.task.set_change_is_latest(is_latest);
        let result = self.forward(record);
        self.task.set_change_is_latest(before);
        result
    }

    /// Whether the table change being processed is its key's latest version: `false` only
    /// for an out-of-order update of a versioned table (see
    /// [`forward_change`](Self::forward_change)).
    pub(crate) fn change_is_latest(&self) -> bool {
        self.task.change_is_latest()
    }

    /// Sends `record` to the child named `child` only.
    pub fn forward_to(&mut self, child: &str, record: Record<KOut, VOut>) -> Result<()> {
        let target = self
            .children
            .iter()
            .find(|c| &*c.name == child)
            .ok_or_else(|| {
                Error::Topology(format!("node `{}` has no child named `{child}`", self.node))
            })?;
        target.process(self.task, record)
    }

    /// The typed key-value store `name`, which must be connected to this processor.
    pub fn key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<KeyValueStoreHandle<K, V>> {
        self.task.stores().key_value(name, Some(self.node))
    }

    /// The typed versioned key-value store `name` (built with
    /// [`StoreBuilder::versioned_key_value`](crate::state::StoreBuilder::versioned_key_value), or
    /// a table materialized with
    /// [`Materialized::as_versioned`](crate::dsl::Materialized::as_versioned)), which must be
    /// connected to this processor.
    pub fn versioned_key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<VersionedKeyValueStoreHandle<K, V>> {
        self.task.stores().versioned(name, Some(self.node))
    }

    /// The store of a DSL table, timestamped or versioned.
    pub(crate) fn table_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<TableStore<K, V>> {
        self.task.stores().table_store(name, Some(self.node))
    }

    /// The typed window store `name`, which must be connected to this processor.
    pub fn window_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<WindowStoreHandle<K, V>> {
        self.task.stores().window(name, Some(self.node))
    }

    /// The typed session store `name`, which must be connected to this processor.
    pub fn session_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<SessionStoreHandle<K, V>> {
        self.task.stores().session(name, Some(self.node))
    }

    /// A read-only view of the global store `name` (a full copy of its topic on this instance).
    pub fn global_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Result<GlobalStoreHandle<K, V>> {
        self.task.globals().handle(name)
    }

    /// Schedules calls to this processor's [`punctuate`](super::Processor::punctuate) every
    /// `interval` of stream time or wall-clock time, until cancelled or the task closes.
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> Result<Cancellable> {
        let interval = i64::try_from(interval.as_millis()).unwrap_or(i64::MAX);
        if interval < 1 {
            return Err(Error::IllegalState(format!(
                "node `{}` scheduled a punctuation with an interval under 1 ms",
                self.node
            )));
        }
        let next = match kind {
            // Aligned to 0, so the first record fires it (Kafka Streams' StreamTask.schedule).
            PunctuationType::StreamTime => 0,
            PunctuationType::WallClockTime => self.task.wall_clock_ms() + interval,
        };
        let id = self.task.next_schedule_id();
        let cancellable = Cancellable {
            id,
            cancelled: Rc::default(),
        };
        self.task.add_schedule(Schedule {
            node: self.node.clone(),
            id,
            kind,
            interval,
            next,
            cancelled: cancellable.cancelled.clone(),
        });
        Ok(cancellable)
    }

    /// The wall-clock time in ms (in the test driver, its manual clock).
    pub fn current_system_time_ms(&self) -> i64 {
        self.task.wall_clock_ms()
    }

    /// Topic, partition and offset of the record being processed (none in punctuations).
    pub fn record_metadata(&self) -> Option<RecordMetadata> {
        self.task.record_metadata()
    }

    /// The task running this processor.
    pub fn task_id(&self) -> TaskId {
        self.task.task_id()
    }

    /// The application's id (`application.id`).
    pub fn application_id(&self) -> &str {
        self.task.application_id()
    }

    /// The task's stream time: the largest record timestamp it has seen (-1 before any).
    pub fn stream_time(&self) -> i64 {
        self.task.stream_time()
    }

    /// The name of the node this context belongs to.
    pub fn node_name(&self) -> &str {
        self.node
    }

    /// Whether store `name` has a record cache in front of it.
    /// A row getter on a table's window or session store (windowed aggregations' tables).
    pub(crate) fn row_getter<K, V>(
        &self,
        lookup: &crate::dsl::ops::TableLookup<K, V>,
    ) -> Result<crate::dsl::ops::RowGetter<K, V>> {
        lookup(self.task.stores(), self.node)
    }

    /// Kafka Streams' internal emission throttles, from the configuration.
    pub(crate) fn emit_intervals(&self) -> crate::config::EmitIntervals {
        self.task.emit_intervals()
    }

    pub(crate) fn store_is_cached(&self, name: &str) -> bool {
        self.task.stores().get(name).is_some_and(|s| s.cached)
    }

    /// The store handle a processor opened in `init`, or an error naming the node if `init`
    /// has not run.
    pub(crate) fn initialized<'h, T>(&self, handle: &'h Option<T>) -> Result<&'h T> {
        handle.as_ref().ok_or_else(|| {
            Error::IllegalState(format!(
                "`{}` processed before it was initialized",
                self.node
            ))
        })
    }

    /// Counts a record too late for its window (and logs it at debug level: late data is
    /// expected, and the metric says how much).
    pub(crate) fn record_late(&self, reason: &str) {
        let origin = self.task.record_metadata();
        tracing::debug!(
            task = %self.task.task_id(),
            node = %self.node,
            topic = origin.as_ref().map(|m| &*m.topic),
            partition = origin.as_ref().map(|m| m.partition),
            offset = origin.as_ref().map(|m| m.offset),
            "dropping late record: {reason}"
        );
        self.task.metrics().dropped(DropReason::Late);
    }

    /// Applies the timestamp policy to a record whose `timestamp` this windowed operator
    /// cannot hold in a window (`what` says which): an error under `fail`, else the record
    /// is skipped, logged and counted.
    pub(crate) fn unwindowable(&self, timestamp: i64, what: &str) -> Result<()> {
        let origin = self.task.record_metadata();
        if self.task.policies().timestamp == crate::error::TimestampPolicy::Fail {
            return Err(crate::Error::InvalidTimestamp {
                topic: origin
                    .as_ref()
                    .map_or_else(String::new, |m| m.topic.to_string()),
                partition: origin.as_ref().map_or(-1, |m| m.partition),
                offset: origin.as_ref().map_or(-1, |m| m.offset),
                timestamp,
                node: self.node.to_string(),
                reason: format!("too close to the end of time for {what}"),
            });
        }
        tracing::warn!(
            task = %self.task.task_id(),
            node = %self.node,
            topic = origin.as_ref().map(|m| &*m.topic),
            partition = origin.as_ref().map(|m| m.partition),
            offset = origin.as_ref().map(|m| m.offset),
            "skipping record: timestamp {timestamp} is too close to the end of time for {what}"
        );
        self.task.metrics().dropped(DropReason::TimestampOutOfRange);
        Ok(())
    }

    /// Counts (under `reason`) and logs (saying `why`) a record dropped on purpose (a null key
    /// in an aggregation, ...), naming where it came from.
    pub(crate) fn record_dropped(&self, reason: DropReason, why: &str) {
        let origin = self.task.record_metadata();
        tracing::warn!(
            task = %self.task.task_id(),
            node = %self.node,
            topic = origin.as_ref().map(|m| &*m.topic),
            partition = origin.as_ref().map(|m| m.partition),
            offset = origin.as_ref().map(|m| m.offset),
            "dropping record: {why}"
        );
        self.task.metrics().dropped(reason);
    }
}
