//! Tasks whose creation waits for the brokers, as Kafka Streams handles a `TimeoutException`
//! while it initializes a task (KIP-572): a task whose changelog offsets (or committed
//! offsets) cannot be read yet — a leader moving or down, the cluster restarting — is not
//! created now. Its input partitions stay paused, and the stream thread goes on polling and
//! processing its other tasks, trying again on later turns of its loop with a growing pause
//! between tries. Past [`TASK_TIMEOUT`] (Kafka Streams' `task.timeout.ms`, 5 minutes) the
//! last error stops the thread. A shutdown never waits for the brokers: each try is one
//! request of a few seconds at most, and the loop checks for a shutdown between tries.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, ConsumerContext};
use tracing::{error, warn};

use super::TaskManager;
use crate::{Error, Result, TaskId};

/// How long a task may wait for the brokers before its error stops the thread: Kafka
/// Streams' `task.timeout.ms` default.
pub(super) const TASK_TIMEOUT: Duration = Duration::from_secs(300);

/// The pause after a task's first failed try; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The longest pause between two tries of a task.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A task not created yet because the brokers did not answer.
#[derive(Debug)]
pub(super) struct Awaiting {
    /// When its first try failed.
    since: Instant,
    /// When it is tried next.
    next_try: Instant,
    /// The pause before the next try.
    backoff: Duration,
    /// Its input partitions (paused meanwhile).
    partitions: Vec<(String, i32)>,
    /// A record of one of its partitions was polled and dropped while it waited: its input is
    /// rewound to the last commit when it is created.
    dropped: bool,
}

impl Awaiting {
    /// Whether records of its partitions were dropped while it waited.
    pub(super) fn dropped(&self) -> bool {
        self.dropped
    }
}

/// Task `id` (input `partitions`) could not be created because of `error`, which a retry may
/// clear: it waits in `awaiting` (see the module), unless it has waited [`TASK_TIMEOUT`]
/// already (`earlier`: its wait so far), when `error` is returned. The caller pauses
/// `partitions`.
pub(super) fn defer(
    awaiting: &mut BTreeMap<TaskId, Awaiting>,
    id: TaskId,
    partitions: Vec<(String, i32)>,
    earlier: Option<Awaiting>,
    error: Error,
) -> Result<()> {
    let now = Instant::now();
    let (since, backoff, dropped) = match earlier {
        Some(a) => (a.since, (a.backoff * 2).min(MAX_BACKOFF), a.dropped),
        None => (now, FIRST_BACKOFF, false),
    };
    if now.duration_since(since) >= TASK_TIMEOUT {
        error!(
            task = %id,
            "the task could not be created within {} s (task.timeout.ms): {}",
            TASK_TIMEOUT.as_secs(),
            error.report()
        );
        return Err(error);
    }
    warn!(
        task = %id,
        "the task cannot be created yet ({}); trying again in {} ms while the thread polls",
        error.report(),
        backoff.as_millis()
    );
    awaiting.insert(
        id,
        Awaiting {
            since,
            next_try: now + backoff,
            backoff,
            partitions,
            dropped,
        },
    );
    Ok(())
}

impl TaskManager {
    /// A record of task `id`'s partition was polled while the task waits: it is dropped
    /// (its offset stays uncommitted); returns whether `id` waits.
    pub(super) fn note_dropped(&mut self, id: TaskId) -> bool {
        match self.awaiting.get_mut(&id) {
            Some(a) => {
                a.dropped = true;
                true
            }
            None => false,
        }
    }

    /// Whether a task waits to be created.
    pub(crate) fn is_awaiting(&self) -> bool {
        !self.awaiting.is_empty()
    }

    /// Tries again to create the waiting tasks whose pause is over.
    pub(crate) fn retry_awaiting<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<()> {
        let now = Instant::now();
        let mut due = TopicPartitionList::new();
        for a in self.awaiting.values().filter(|a| a.next_try <= now) {
            for (topic, partition) in &a.partitions {
                due.add_partition(topic, *partition);
            }
        }
        if due.count() == 0 {
            return Ok(());
        }
        self.assign(consumer, &due)
    }

    /// Forgets the waiting tasks with a partition in `revoked`.
    pub(super) fn forget_awaiting(&mut self, revoked: &TopicPartitionList) {
        self.awaiting.retain(|_, a| {
            !a.partitions
                .iter()
                .any(|(topic, partition)| revoked.find_partition(topic, *partition).is_some())
        });
    }
}
