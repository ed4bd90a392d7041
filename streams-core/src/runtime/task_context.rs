//! [`TaskContext`]: what the nodes of one task share while it runs.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use super::{RecordCollector, TaskMetrics};
use crate::TaskId;
use crate::error::ErrorPolicies;
use crate::processor::{RecordMetadata, Schedule};
use crate::state::{GlobalStores, StoreRegistry};

/// Where wall-clock time comes from: the system, or the test driver's manual clock.
#[derive(Debug, Clone)]
pub(crate) enum WallClock {
    System,
    /// Only the test driver runs on a manual clock.
    #[cfg_attr(not(feature = "test-util"), allow(dead_code))]
    Manual(Rc<Cell<i64>>),
}

impl WallClock {
    pub(crate) fn now_ms(&self) -> i64 {
        match self {
            WallClock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
            WallClock::Manual(now) => now.get(),
        }
    }
}

/// Per-task state shared by the task's nodes: the current record's origin and timestamp, stream
/// time, stores, schedules, the record collector and metrics.
pub(crate) struct TaskContext {
    task_id: TaskId,
    application_id: Rc<str>,
    metadata: RefCell<Option<RecordMetadata>>,
    /// The node running now: set on entry, restored when it returns `Ok`; after an error or a
    /// panic it names the node that failed.
    current_node: RefCell<Rc<str>>,
    timestamp: Rc<Cell<i64>>,
    stream_time: Cell<i64>,
    stores: StoreRegistry,
    collector: Rc<dyn RecordCollector>,
    metrics: TaskMetrics,
    clock: WallClock,
    globals: Arc<GlobalStores>,
    policies: Rc<ErrorPolicies>,
    emit_intervals: crate::config::EmitIntervals,
    schedules: RefCell<Vec<Schedule>>,
    next_schedule_id: Cell<u64>,
    /// Whether the table change being forwarded is the latest version of its key (Kafka
    /// Streams' `Change.isLatest`): set by a versioned table's materialization around its
    /// forward, read by the joins and groupings below it (see
    /// `ProcessorContext::forward_change`).
    change_is_latest: Cell<bool>,
}

impl TaskContext {
    pub(crate) fn new(task_id: TaskId, env: &super::task::TaskEnv<'_>) -> Self {
        let application_id = env.application_id;
        let collector = env.collector.clone();
        let metrics = TaskMetrics::new(&env.metrics, task_id);
        let clock = env.clock.clone();
        let globals = env.globals.clone();
        let policies = env.policies.clone();
        let emit_intervals = env.emit_intervals;
        let label: Rc<str> = Rc::from(task_id.to_string());
        let timestamp = Rc::new(Cell::new(-1));
        TaskContext {
            task_id,
            application_id: Rc::from(application_id),
            metadata: RefCell::new(None),
            current_node: RefCell::new(Rc::from("")),
            timestamp: timestamp.clone(),
            stream_time: Cell::new(-1),
            stores: StoreRegistry::new(label, timestamp),
            collector,
            metrics,
            clock,
            globals,
            policies,
            emit_intervals,
            schedules: RefCell::new(Vec::new()),
            next_schedule_id: Cell::new(1),
            change_is_latest: Cell::new(true),
        }
    }

    pub(crate) fn task_id(&self) -> TaskId {
        self.task_id
    }

    pub(crate) fn application_id(&self) -> &str {
        &self.application_id
    }

    pub(crate) fn record_metadata(&self) -> Option<RecordMetadata> {
        self.metadata.borrow().clone()
    }

    /// Marks `node` as running; returns the node to restore when it returns.
    pub(crate) fn enter_node(&self, node: &Rc<str>) -> Rc<str> {
        self.current_node.replace(node.clone())
    }

    /// Restores the node that ran before (call only when the inner node succeeded).
    pub(crate) fn leave_node(&self, previous: Rc<str>) {
        *self.current_node.borrow_mut() = previous;
    }

    /// The node that ran last: after a failure, the one that failed.
    pub(crate) fn current_node(&self) -> Rc<str> {
        self.current_node.borrow().clone()
    }

    pub(crate) fn set_metadata(&self, metadata: Option<RecordMetadata>) {
        *self.metadata.borrow_mut() = metadata;
    }

    /// Sets the timestamp of the record entering the task, advancing stream time.
    pub(crate) fn set_record_timestamp(&self, timestamp: i64) {
        self.timestamp.set(timestamp);
        if timestamp > self.stream_time.get() {
            self.stream_time.set(timestamp);
        }
    }

    pub(crate) fn set_timestamp(&self, timestamp: i64) {
        self.timestamp.set(timestamp);
    }

    pub(crate) fn timestamp_cell(&self) -> &Rc<Cell<i64>> {
        &self.timestamp
    }

    pub(crate) fn stream_time(&self) -> i64 {
        self.stream_time.get()
    }

    pub(crate) fn wall_clock_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    pub(crate) fn globals(&self) -> &GlobalStores {
        &self.globals
    }

    pub(crate) fn stores(&self) -> &StoreRegistry {
        &self.stores
    }

    pub(crate) fn stores_mut(&mut self) -> &mut StoreRegistry {
        &mut self.stores
    }

    pub(crate) fn collector(&self) -> &Rc<dyn RecordCollector> {
        &self.collector
    }

    /// The instance's error policies.
    pub(crate) fn policies(&self) -> &ErrorPolicies {
        &self.policies
    }

    pub(crate) fn emit_intervals(&self) -> crate::config::EmitIntervals {
        self.emit_intervals
    }

    pub(crate) fn metrics(&self) -> &TaskMetrics {
        &self.metrics
    }

    /// Sets whether the table change about to be forwarded is its key's latest version;
    /// returns what it was.
    pub(crate) fn set_change_is_latest(&self, latest: bool) -> bool {
        self.change_is_latest.replace(latest)
    }

    pub(crate) fn change_is_latest(&self) -> bool {
        self.change_is_latest.get()
    }

    pub(crate) fn next_schedule_id(&self) -> u64 {
        let id = self.next_schedule_id.get();
        self.next_schedule_id.set(id + 1);
        id
    }

    pub(crate) fn add_schedule(&self, schedule: Schedule) {
        self.schedules.borrow_mut().push(schedule);
    }

    pub(crate) fn has_schedules(&self) -> bool {
        !self.schedules.borrow().is_empty()
    }

    /// Schedules of `kind` due at `now`, advanced past it; cancelled ones are dropped.
    pub(crate) fn take_due(
        &self,
        kind: crate::processor::PunctuationType,
        now: i64,
    ) -> Vec<Schedule> {
        let mut schedules = self.schedules.borrow_mut();
        schedules.retain(|s| !s.cancelled.get());
        let mut due = Vec::new();
        for schedule in schedules.iter_mut() {
            if schedule.kind == kind && schedule.next <= now {
                due.push(schedule.clone());
                schedule.advance(now);
            }
        }
        due
    }

    pub(crate) fn clear_schedules(&self) {
        self.schedules.borrow_mut().clear();
    }
}
