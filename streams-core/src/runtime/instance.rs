//! [`InstanceShared`]: what an application instance's threads and its public handle share:
//! the shutdown flag, thread states, the first fatal error, the tasks each thread runs, and read
//! handles on local stores for interactive queries.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::{Error, TaskId};

/// The state of an application instance, as in Kafka Streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum State {
    /// Built, not started.
    Created,
    /// Joining the group, rebalancing or restoring state.
    Rebalancing,
    /// Every thread has its tasks and is processing.
    Running,
    /// `close()` was called; threads are committing and closing their tasks.
    PendingShutdown,
    /// Closed.
    NotRunning,
    /// A stream thread stopped with an error; see [`KafkaStreams::close`](crate::KafkaStreams::close).
    Error,
}

/// The state of one stream thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThreadState {
    Starting,
    Rebalancing,
    Running,
    Dead,
    Failed,
}

pub(crate) use crate::state::QueryHandle;

/// A read handle on a store's storage engine (for RocksDB metrics).
pub(crate) type EngineHandle =
    std::sync::Arc<dyn streams_state::ReadOnlyKeyValueStore + Send + Sync>;

/// Called with `(new, old)` on every change of the instance's [`State`].
pub(crate) type StateListener = Box<dyn Fn(State, State) + Send + Sync>;

/// The listener and the state it was last told about.
struct Observed {
    last: State,
    listener: Option<StateListener>,
}

impl Default for Observed {
    fn default() -> Self {
        Observed {
            last: State::Created,
            listener: None,
        }
    }
}

#[derive(Default)]
struct Inner {
    threads: Vec<ThreadState>,
    tasks: Vec<BTreeSet<TaskId>>,
    error: Option<Arc<Error>>,
    /// Set when any thread (stream or global) failed.
    failed: bool,
    closing: bool,
    started: bool,
    closed: bool,
    /// Threads of the instance (stream, standby) that have not returned yet.
    threads_alive: usize,
}

/// Shared between the threads of one instance and its handle.
#[derive(Default)]
pub(crate) struct InstanceShared {
    shutdown: AtomicBool,
    inner: Mutex<Inner>,
    /// Signalled (with `inner`) when shutdown is requested.
    shutdown_signal: Condvar,
    /// Signalled (with `observed`) after each state change was told to the listener.
    state_changed: Condvar,
    /// Signalled (with `inner`) when a thread of the instance returns.
    thread_exited: Condvar,
    stores: Mutex<HashMap<(String, TaskId), QueryHandle>>,
    /// Read handles on the stores of standby tasks (stale reads only).
    standby_stores: Mutex<HashMap<(String, TaskId), QueryHandle>>,
    /// What each local task is doing, for `/tasks`.
    task_status: Mutex<std::collections::BTreeMap<TaskId, super::TaskStatus>>,
    /// Read handles on the storage engine of every store of the running tasks (window and
    /// session stores too), for the RocksDB metrics read at scrape time.
    engines: Mutex<HashMap<(String, TaskId), EngineHandle>>,
    observed: Mutex<Observed>,
    /// Tasks a stream thread is opening or runs: the standby thread keeps off them.
    claimed: Mutex<BTreeSet<TaskId>>,
    /// The instances serving queries, as the registry last told.
    instances: Mutex<Vec<super::StreamsMetadata>>,
}

impl InstanceShared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Plain data, updated in single steps: usable even if a holder panicked.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stores(&self) -> MutexGuard<'_, HashMap<(String, TaskId), QueryHandle>> {
        self.stores.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn standby_stores(&self) -> MutexGuard<'_, HashMap<(String, TaskId), QueryHandle>> {
        self.standby_stores
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    fn statuses(&self) -> MutexGuard<'_, std::collections::BTreeMap<TaskId, super::TaskStatus>> {
        self.task_status.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Tells the state listener, if the state changed since it was last told. Transitions
    /// reach it in order: the check and the call happen under one lock.
    fn notify(&self) {
        let mut observed = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        let now = self.state();
        if now != observed.last {
            let old = std::mem::replace(&mut observed.last, now);
            if let Some(listener) = &observed.listener {
                listener(now, old);
            }
            self.state_changed.notify_all();
        }
    }

    pub(crate) fn set_state_listener(&self, listener: StateListener) {
        self.observed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .listener = Some(listener);
    }

    pub(crate) fn start(&self, threads: usize) {
        {
            let mut inner = self.lock();
            inner.threads = vec![ThreadState::Starting; threads];
            inner.tasks = vec![BTreeSet::new(); threads];
            inner.started = true;
        }
        self.notify();
    }

    pub(crate) fn request_shutdown(&self) {
        self.shutdown.store(true, Ordering::Release);
        self.lock().closing = true;
        self.shutdown_signal.notify_all();
        self.notify();
    }

    /// Waits up to `timeout` for shutdown to be requested; returns whether it was.
    pub(crate) fn wait_for_shutdown(&self, timeout: std::time::Duration) -> bool {
        let guard = self.lock();
        let (_guard, _) = self
            .shutdown_signal
            .wait_timeout_while(guard, timeout, |_| !self.shutdown_requested())
            .unwrap_or_else(|p| p.into_inner());
        self.shutdown_requested()
    }

    /// Counts a thread as alive until the returned guard drops (when the thread returns, or
    /// unwinds): take it before spawning the thread and move it in.
    pub(crate) fn thread_alive(self: &Arc<Self>) -> ThreadAlive {
        self.lock().threads_alive += 1;
        ThreadAlive(self.clone())
    }

    /// Waits until every thread counted by [`thread_alive`](Self::thread_alive) returned, at
    /// most `timeout` (`None`: as long as it takes); returns whether they all did.
    pub(crate) fn wait_for_threads(&self, timeout: Option<std::time::Duration>) -> bool {
        let guard = self.lock();
        let guard = match timeout {
            Some(timeout) => {
                self.thread_exited
                    .wait_timeout_while(guard, timeout, |inner| inner.threads_alive > 0)
                    .unwrap_or_else(|p| p.into_inner())
                    .0
            }
            None => self
                .thread_exited
                .wait_while(guard, |inner| inner.threads_alive > 0)
                .unwrap_or_else(|p| p.into_inner()),
        };
        guard.threads_alive == 0
    }

    pub(crate) fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Ordering::Acquire)
    }

    pub(crate) fn mark_closed(&self) {
        self.lock().closed = true;
        self.notify();
    }

    pub(crate) fn set_thread_state(&self, thread: usize, state: ThreadState) {
        if let Some(slot) = self.lock().threads.get_mut(thread) {
            *slot = state;
        }
        self.notify();
    }

    pub(crate) fn set_thread_tasks(&self, thread: usize, tasks: BTreeSet<TaskId>) {
        if let Some(slot) = self.lock().tasks.get_mut(thread) {
            *slot = tasks;
        }
    }

    /// Records a thread's fatal error (the first one wins) and stops the instance's other
    /// threads: the instance goes to [`State::Error`].
    pub(crate) fn fail(&self, thread: usize, error: Error) {
        {
            let mut inner = self.lock();
            if let Some(slot) = inner.threads.get_mut(thread) {
                *slot = ThreadState::Failed;
            }
            inner.failed = true;
            inner.error.get_or_insert(Arc::new(error));
            self.shutdown.store(true, Ordering::Release);
        }
        self.shutdown_signal.notify_all();
        self.notify();
    }

    /// The fatal error, taken out: the error itself if no one else holds it, else the shared one
    /// wrapped.
    pub(crate) fn take_error(&self) -> Option<Error> {
        let error = self.lock().error.take()?;
        Some(Arc::try_unwrap(error).unwrap_or_else(Error::Failed))
    }

    pub(crate) fn error(&self) -> Option<Arc<Error>> {
        self.lock().error.clone()
    }

    pub(crate) fn state(&self) -> State {
        state_of(&self.lock())
    }

    /// Waits up to `timeout` until `done(state)`; returns the state it ended in. It sees the
    /// states as the state listener is told them, so a state the waiter returns on has
    /// reached the listener first.
    pub(crate) fn wait_for_state(
        &self,
        timeout: std::time::Duration,
        done: impl Fn(State) -> bool,
    ) -> State {
        let observed = self.observed.lock().unwrap_or_else(|p| p.into_inner());
        let (observed, _) = self
            .state_changed
            .wait_timeout_while(observed, timeout, |observed| !done(observed.last))
            .unwrap_or_else(|p| p.into_inner());
        observed.last
    }

    pub(crate) fn set_instances(&self, instances: Vec<super::StreamsMetadata>) {
        *self.instances.lock().unwrap_or_else(|p| p.into_inner()) = instances;
    }

    pub(crate) fn instances(&self) -> Vec<super::StreamsMetadata> {
        self.instances
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub(crate) fn claim(&self, task: TaskId) {
        self.claimed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(task);
    }

    pub(crate) fn unclaim(&self, task: TaskId) {
        self.claimed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&task);
    }

    /// Tasks the stream threads run or are opening.
    pub(crate) fn tasks_in_use(&self) -> BTreeSet<TaskId> {
        let mut tasks = self.tasks();
        tasks.extend(
            self.claimed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter(),
        );
        tasks
    }

    pub(crate) fn tasks(&self) -> BTreeSet<TaskId> {
        self.lock().tasks.iter().flatten().copied().collect()
    }

    pub(crate) fn register_stores(&self, task: TaskId, handles: Vec<(String, QueryHandle)>) {
        let mut stores = self.stores();
        for (name, handle) in handles {
            stores.insert((name, task), handle);
        }
    }

    pub(crate) fn unregister_stores(&self, task: TaskId) {
        self.stores().retain(|(_, t), _| *t != task);
        self.engines().retain(|(_, t), _| *t != task);
    }

    fn engines(&self) -> MutexGuard<'_, HashMap<(String, TaskId), EngineHandle>> {
        self.engines.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers engine handles of `task`'s stores (until [`unregister_stores`](Self::unregister_stores)).
    pub(crate) fn register_engines(&self, task: TaskId, handles: Vec<(String, EngineHandle)>) {
        let mut engines = self.engines();
        for (name, handle) in handles {
            engines.insert((name, task), handle);
        }
    }

    /// Every registered engine handle, by store and task. A copy: the caller reads the engines
    /// without holding the map's lock.
    pub(crate) fn engine_handles(&self) -> Vec<(String, TaskId, EngineHandle)> {
        let mut handles: Vec<_> = self
            .engines()
            .iter()
            .map(|((store, task), handle)| (store.clone(), *task, handle.clone()))
            .collect();
        handles.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        handles
    }

    /// Stream threads that are running, rebalancing or starting (not stopped or failed).
    pub(crate) fn alive_stream_threads(&self) -> usize {
        self.lock()
            .threads
            .iter()
            .filter(|t| !matches!(t, ThreadState::Dead | ThreadState::Failed))
            .count()
    }

    pub(crate) fn register_standby_stores(
        &self,
        task: TaskId,
        handles: Vec<(String, QueryHandle)>,
    ) {
        let mut stores = self.standby_stores();
        for (name, handle) in handles {
            stores.insert((name, task), handle);
        }
    }

    pub(crate) fn unregister_standby_stores(&self, task: TaskId) {
        self.standby_stores().retain(|(_, t), _| *t != task);
    }

    /// The local handles of store `name`, by task: active tasks' stores, and with `stale`
    /// also standby tasks' (possibly behind their active task).
    ///
    /// As in Kafka Streams, an active task's store answers only once the task is restored
    /// (else it would answer with the state of an earlier owner, or of this instance before
    /// a crash): while one is restoring, the query fails with [`Error::StoreUnavailable`],
    /// unless `stale` reads are asked for, which it answers too.
    pub(crate) fn store_handles(
        &self,
        name: &str,
        stale: bool,
    ) -> crate::Result<Vec<(TaskId, QueryHandle)>> {
        let include_standbys = stale;
        let pick = |stores: &HashMap<(String, TaskId), QueryHandle>| {
            stores
                .iter()
                .filter(|((store, _), _)| store == name)
                .map(|((_, task), handle)| (*task, handle.clone()))
                .collect::<Vec<_>>()
        };
        let mut handles = pick(&self.stores());
        if !stale {
            let statuses = self.statuses();
            if let Some((task, _)) = handles.iter().find(|(task, _)| {
                statuses
                    .get(task)
                    .is_none_or(|s| s.phase != super::TaskPhase::Running)
            }) {
                return Err(crate::Error::StoreUnavailable {
                    name: name.to_string(),
                    reason: format!(
                        "task {task} of this instance is restoring it; query it once the task runs, or with stale stores"
                    ),
                });
            }
        }
        if include_standbys {
            let active: BTreeSet<TaskId> = handles.iter().map(|(t, _)| *t).collect();
            handles.extend(
                pick(&self.standby_stores())
                    .into_iter()
                    .filter(|(t, _)| !active.contains(t)),
            );
        }
        handles.sort_by_key(|(task, _)| *task);
        Ok(handles)
    }

    /// Records what a local task is doing (`None`: it left this instance).
    pub(crate) fn set_task_status(&self, task: TaskId, status: Option<super::TaskStatus>) {
        let mut statuses = self.statuses();
        match status {
            Some(status) => statuses.insert(task, status),
            None => statuses.remove(&task),
        };
    }

    /// Updates a local task's status in place, if it has one.
    pub(crate) fn update_task_status(
        &self,
        task: TaskId,
        update: impl FnOnce(&mut super::TaskStatus),
    ) {
        if let Some(status) = self.statuses().get_mut(&task) {
            update(status);
        }
    }

    /// What the local tasks are doing.
    pub(crate) fn task_statuses(&self) -> Vec<super::TaskStatus> {
        self.statuses().values().cloned().collect()
    }
}

/// A thread of the instance, counted alive until this drops.
pub(crate) struct ThreadAlive(Arc<InstanceShared>);

impl Drop for ThreadAlive {
    fn drop(&mut self) {
        let mut inner = self.0.lock();
        inner.threads_alive = inner.threads_alive.saturating_sub(1);
        drop(inner);
        self.0.thread_exited.notify_all();
    }
}

/// The instance's state as `inner` tells it.
fn state_of(inner: &Inner) -> State {
    if inner.failed {
        State::Error
    } else if inner.closed {
        State::NotRunning
    } else if inner.closing {
        State::PendingShutdown
    } else if !inner.started {
        State::Created
    } else if inner.threads.iter().all(|t| *t == ThreadState::Running) {
        State::Running
    } else if inner.threads.iter().all(|t| *t == ThreadState::Dead) {
        State::NotRunning
    } else {
        State::Rebalancing
    }
}
