//! [`TaskContext`]: what the nodes of one task share while it runs.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

use super::{RecordCollector, StreamsMetrics};
use crate::TaskId;
use crate::processor::RecordMetadata;
use crate::state::StoreRegistry;

/// Per-task state shared by the task's nodes: the current record's origin and timestamp, stream
/// time, stores, the record collector and metrics.
pub(crate) struct TaskContext {
    task_id: TaskId,
    label: Rc<str>,
    application_id: Rc<str>,
    metadata: RefCell<Option<RecordMetadata>>,
    timestamp: Rc<Cell<i64>>,
    stream_time: Cell<i64>,
    stores: StoreRegistry,
    collector: Rc<dyn RecordCollector>,
    metrics: Arc<StreamsMetrics>,
}

impl TaskContext {
    pub(crate) fn new(
        task_id: TaskId,
        application_id: &str,
        collector: Rc<dyn RecordCollector>,
        metrics: Arc<StreamsMetrics>,
    ) -> Self {
        let label: Rc<str> = Rc::from(task_id.to_string());
        TaskContext {
            task_id,
            label: label.clone(),
            application_id: Rc::from(application_id),
            metadata: RefCell::new(None),
            timestamp: Rc::new(Cell::new(-1)),
            stream_time: Cell::new(-1),
            stores: StoreRegistry::new(label),
            collector,
            metrics,
        }
    }

    pub(crate) fn task_id(&self) -> TaskId {
        self.task_id
    }

    pub(crate) fn label(&self) -> &Rc<str> {
        &self.label
    }

    pub(crate) fn application_id(&self) -> &str {
        &self.application_id
    }

    pub(crate) fn record_metadata(&self) -> Option<RecordMetadata> {
        self.metadata.borrow().clone()
    }

    pub(crate) fn set_record(&self, metadata: Option<RecordMetadata>, timestamp: i64) {
        *self.metadata.borrow_mut() = metadata;
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

    pub(crate) fn stores(&self) -> &StoreRegistry {
        &self.stores
    }

    pub(crate) fn stores_mut(&mut self) -> &mut StoreRegistry {
        &mut self.stores
    }

    pub(crate) fn collector(&self) -> &Rc<dyn RecordCollector> {
        &self.collector
    }

    pub(crate) fn metrics(&self) -> &StreamsMetrics {
        &self.metrics
    }
}
