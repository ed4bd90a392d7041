//! [`Task`]: one sub-topology over one partition, with its nodes and stores. The same code runs
//! under the Kafka runtime and the test driver; only the record collector and clock differ.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;

use streams_state::{CacheBudget, ChangelogOffsets, Checkpoint};
use tracing::{debug, info, warn};

use super::node::{Lifecycle, RawRecord, SourceNode, build_node};
use super::task_context::WallClock;
use super::{DropReason, RecordCollector, TaskContext, ThreadMetrics};
use crate::error::{ErrorPolicies, ProcessingPolicy};
use crate::processor::{Punctuation, PunctuationType, RecordMetadata};
use crate::state::{ChangelogTarget, TaskStore};
use crate::topology::node::{BuildContext, ErasedChild};
use crate::topology::{NodeKind, StoreChangelog, Subtopology, Topology};
use crate::{Error, Result, TaskId};

mod changelog;

pub(crate) use changelog::ChangelogPartition;
use changelog::checkpointable;

/// How long a new owner waits for a task directory still locked by its previous owner (a
/// thread of this instance closing it, or the standby thread handing it over).
pub(crate) const TASK_DIR_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What a task needs from its thread.
pub(crate) struct TaskEnv<'a> {
    pub(crate) application_id: &'a str,
    /// `state.dir/application.id`: task directories go below it.
    pub(crate) app_dir: &'a Path,
    pub(crate) collector: Rc<dyn RecordCollector>,
    /// The thread's metrics, which the task's series are made from.
    pub(crate) metrics: ThreadMetrics,
    pub(crate) policies: Rc<ErrorPolicies>,
    /// Kafka Streams' internal emission throttles.
    pub(crate) emit_intervals: crate::config::EmitIntervals,
    pub(crate) internal_topics: &'a HashMap<String, String>,
    /// The thread's record cache budget; `None` when `statestore.cache.max.bytes` is 0.
    pub(crate) cache: Option<&'a CacheBudget>,
    pub(crate) clock: WallClock,
    pub(crate) globals: Arc<crate::state::GlobalStores>,
    /// The instance's RocksDB block cache and config setter.
    pub(crate) rocksdb: &'a crate::state::RocksDbEnv,
    /// How long to wait for the task directory's lock when another holder has it.
    pub(crate) lock_wait: std::time::Duration,
    /// Exactly-once: RocksDB stores are transactional (uncommitted writes stay in memory, and
    /// each commit writes the changelog position with the data), so an abort or a crash rolls
    /// a task back without wiping it.
    pub(crate) exactly_once: bool,
}

struct SourceEntry {
    topic: Rc<str>,
    node: Rc<RefCell<dyn SourceNode>>,
}

/// One running task.
pub(crate) struct Task {
    ctx: TaskContext,
    sources: rustc_hash::FxHashMap<String, SourceEntry>,
    lifecycles: Vec<Rc<RefCell<dyn Lifecycle>>>,
    /// Next offset to commit, per input partition.
    consumed: Vec<(Rc<str>, i32, i64)>,
    changelogs: Vec<ChangelogPartition>,
    /// The last changelog offset the stores reflect, per changelog partition.
    changelog_offsets: ChangelogOffsets,
    checkpointed: ChangelogOffsets,
    checkpoint: Checkpoint,
    initialized: bool,
    closed: bool,
    /// Whether every store has a changelog to rebuild it from.
    rebuildable: bool,
    /// `task{task=…}`, entered around the task's work (a batch of records, a restore batch,
    /// punctuation, a flush). At DEBUG level: a record processed on its own enters it too, and
    /// a disabled span costs nothing to enter.
    span: tracing::Span,
    /// The task directory's lock, released after the stores (declared last: dropped last).
    _lock: Option<super::dir_lock::DirLock>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.ctx.task_id())
            .finish()
    }
}

impl Task {
    /// Builds the nodes of `sub` and opens its stores for `partition`. Stores are not restored
    /// and processors not initialized yet.
    ///
    /// A task directory left by another topology, or whose stores cannot be opened, is wiped
    /// and rebuilt from the changelogs, if every store has one.
    pub(crate) fn new(
        topology: &Topology,
        sub: &Subtopology,
        partition: i32,
        env: &TaskEnv<'_>,
    ) -> Result<Task> {
        let id = TaskId::new(sub.id, partition);
        let dir = env.app_dir.join(id.to_string());
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        // Its previous owner (another thread of this instance) may still be closing it.
        let lock = super::dir_lock::DirLock::acquire(&dir, env.lock_wait)
            .map_err(|e| Error::io(&dir, e))?;
        let rebuildable = sub.stores.iter().all(|s| topology.store_rebuildable(s));
        let fingerprint = super::state_dir::fingerprint(topology, sub, env.application_id);
        super::state_dir::check(&dir, id, &fingerprint, rebuildable)?;
        // Under exactly-once the stores are transactional: what they hold was committed, and
        // each says up to which changelog offset. A directory without a checkpoint whose
        // stores do not all say so was left by a version whose stores took uncommitted
        // writes: it is rebuilt from the committed changelogs.
        let unproven = env.exactly_once
            && !sub.stores.is_empty()
            && !dir.join(".checkpoint").exists()
            && super::state_dir::has_state(&dir)?;
        let mut task = match Self::open(topology, sub, partition, env, &dir) {
            Err(Error::State { source, .. }) if rebuildable && !sub.stores.is_empty() => {
                warn!(
                    task = %id,
                    "state directory {} cannot be used ({source}): wiping it to rebuild from the changelogs",
                    dir.display()
                );
                super::state_dir::wipe(&dir)?;
                super::state_dir::check(&dir, id, &fingerprint, rebuildable)?;
                Self::open(topology, sub, partition, env, &dir)?
            }
            other => other?,
        };
        if unproven && !task.positions_committed()? {
            info!(task = %id, "no checkpoint and no committed positions under exactly-once: wiping {} to restore from the changelogs", dir.display());
            task.close(false)?;
            drop(task);
            super::state_dir::wipe(&dir)?;
            super::state_dir::check(&dir, id, &fingerprint, rebuildable)?;
            task = Self::open(topology, sub, partition, env, &dir)?;
        }
        task._lock = Some(lock);
        task.rebuildable = rebuildable;
        Ok(task)
    }

    /// Opens the stores in `dir` and builds the nodes.
    fn open(
        topology: &Topology,
        sub: &Subtopology,
        partition: i32,
        env: &TaskEnv<'_>,
        dir: &Path,
    ) -> Result<Task> {
        let id = TaskId::new(sub.id, partition);
        let mut ctx = TaskContext::new(id, env);
        let state_err = |source| Error::State {
            task: id.to_string(),
            source,
        };

        let mut changelogs = Vec::new();
        for store_name in &sub.stores {
            let builder = topology
                .store(store_name)
                .ok_or_else(|| Error::Topology(format!("store `{store_name}` is not added")))?;
            let persistent = builder.engine() == crate::state::StoreEngine::RocksDb;
            let changelog = match topology.store_changelog(env.application_id, store_name) {
                Some(StoreChangelog::Own(topic)) => {
                    changelogs.push(ChangelogPartition {
                        store: store_name.clone(),
                        topic: topic.clone(),
                        partition,
                        persistent,
                        source: None,
                    });
                    Some(ChangelogTarget {
                        collector: env.collector.clone(),
                        topic,
                        partition,
                        timestamp: ctx.timestamp_cell().clone(),
                    })
                }
                // The table's input topic: read back on restore, never written.
                Some(StoreChangelog::Source(topic, recode)) => {
                    changelogs.push(ChangelogPartition {
                        store: store_name.clone(),
                        topic,
                        partition,
                        persistent,
                        source: Some(recode.clone()),
                    });
                    None
                }
                None => None,
            };
            let (store, txn) = builder
                .open(
                    dir,
                    changelog,
                    env.cache,
                    env.rocksdb,
                    ctx.metrics().store(store_name),
                    env.exactly_once,
                )
                .map_err(state_err)?;
            let nodes = sub
                .nodes
                .iter()
                .map(|&n| &topology.nodes()[n])
                .filter(|n| n.stores.iter().any(|s| s == store_name))
                .map(|n| n.name.clone())
                .collect();
            ctx.stores_mut().insert(TaskStore {
                builder: builder.clone(),
                cached: builder.cacheable() && env.cache.is_some() && store.is_cached(),
                store,
                nodes,
                txn,
            });
        }

        let build_ctx = BuildContext {
            internal_topics: env.internal_topics,
        };
        let mut built: HashMap<usize, ErasedChild> = HashMap::new();
        let mut lifecycles = Vec::new();
        let mut sources = rustc_hash::FxHashMap::default();
        for &node_id in sub.nodes.iter().rev() {
            let def = &topology.nodes()[node_id];
            let children: Vec<ErasedChild> = def
                .children
                .iter()
                .map(|c| {
                    built.get(c).cloned().ok_or_else(|| {
                        Error::Topology(format!("child {c} of `{}` was not built first", def.name))
                    })
                })
                .collect::<Result<_>>()?;
            let node = build_node(topology.factory(node_id), &def.name, &build_ctx, &children)?;
            if let Some(child) = node.as_child {
                built.insert(node_id, child);
            }
            if let Some(lifecycle) = node.lifecycle {
                lifecycles.push(lifecycle);
            }
            if let (Some(source), NodeKind::Source { topics }) = (node.source, &def.kind) {
                for topic in topics {
                    let physical = topology.physical_topic(env.application_id, topic);
                    sources.insert(
                        physical.clone(),
                        SourceEntry {
                            topic: Rc::from(physical.as_str()),
                            node: source.clone(),
                        },
                    );
                }
            }
        }
        lifecycles.reverse();

        let checkpoint = Checkpoint::new(dir.join(".checkpoint"));
        let mut checkpointed = checkpoint.read().map_err(state_err)?;
        // A checkpoint written before only persistent stores were checkpointed may name an
        // in-memory store's changelog: its data is gone, so it restores from the beginning.
        checkpointed.retain(|changelog, _| checkpointable(&changelogs, changelog));
        // A transactional store's position was committed with its data: it says exactly what
        // the store reflects (the checkpoint may be older).
        for c in changelogs.iter().filter(|c| c.persistent) {
            let Some(txn) = ctx.stores().get(&c.store).and_then(|e| e.txn.as_ref()) else {
                continue;
            };
            match txn.position().map_err(state_err)? {
                Some(position) if position >= 0 => {
                    checkpointed.insert((c.topic.clone(), c.partition), position);
                }
                Some(_) => {
                    checkpointed.remove(&(c.topic.clone(), c.partition));
                }
                None => {}
            }
        }
        Ok(Task {
            ctx,
            sources,
            lifecycles,
            consumed: Vec::new(),
            changelogs,
            changelog_offsets: checkpointed.clone(),
            checkpointed,
            checkpoint,
            initialized: false,
            closed: false,
            rebuildable: false,
            span: tracing::debug_span!("task", task = %id),
            _lock: None,
        })
    }

    pub(crate) fn id(&self) -> TaskId {
        self.ctx.task_id()
    }

    /// The task's tracing span (enter a clone: `task.span().clone().entered()`).
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Records processed since the last call, for the thread's counter.
    pub(crate) fn take_processed(&self) -> u64 {
        self.ctx.metrics().take_processed()
    }

    /// Whether every store of the task has a changelog, so its state can be rebuilt.
    pub(crate) fn rebuildable(&self) -> bool {
        self.rebuildable
    }

    fn state_err(&self) -> impl Fn(streams_state::Error) -> Error + '_ {
        |source| Error::State {
            task: self.id().to_string(),
            source,
        }
    }

    /// Initializes the processors; call after restoration.
    pub(crate) fn initialize(&mut self) -> Result<()> {
        for node in &self.lifecycles {
            node.borrow_mut().init(&self.ctx)?;
        }
        self.initialized = true;
        debug!(task = %self.id(), "task initialized");
        Ok(())
    }

    pub(crate) fn is_initialized(&self) -> bool {
        self.initialized
    }

    /// Processes one input record end to end, then fires stream-time punctuations it made due.
    pub(crate) fn process(&mut self, raw: &RawRecord<'_>) -> Result<()> {
        let entry = self.sources.get(raw.topic).ok_or_else(|| {
            Error::IllegalState(format!(
                "task {} has no source for topic `{}`",
                self.id(),
                raw.topic
            ))
        })?;
        self.ctx.set_metadata(Some(RecordMetadata {
            topic: entry.topic.clone(),
            partition: raw.partition,
            offset: raw.offset,
        }));
        let topic = entry.topic.clone();
        let node = entry.node.clone();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            node.borrow_mut().process_raw(&self.ctx, raw)
        }))
        .unwrap_or_else(|panic| {
            // The node running when it panicked is the one that failed.
            Err(Error::processing(
                self.ctx.current_node().to_string(),
                crate::error::panic_message(&*panic),
            ))
        });
        match outcome {
            Ok(()) => {}
            // A corrupt store is never skipped past: the runtime rebuilds the task.
            Err(error) if error.corrupted_task().is_some() => {
                return Err(self.record_failed(raw, error));
            }
            Err(error @ Error::Processing { .. }) => self.processing_failed(raw, error)?,
            // These name the record (and node) already, or are not about this record.
            Err(
                error @ (Error::Deserialization { .. }
                | Error::InvalidTimestamp { .. }
                | Error::RecordFailed { .. }
                | Error::Serialization { .. }
                | Error::Production { .. }
                | Error::Fenced(_)
                | Error::TaskMigrated(_)
                | Error::Kafka { .. }),
            ) => return Err(error),
            Err(error) => return Err(self.record_failed(raw, error)),
        }
        self.ctx
            .metrics()
            .record_processed(raw.timestamp, || self.ctx.wall_clock_ms());
        let next = raw.offset + 1;
        match self
            .consumed
            .iter_mut()
            .find(|(t, p, _)| Rc::ptr_eq(t, &topic) && *p == raw.partition)
        {
            Some(slot) => slot.2 = next,
            None => self.consumed.push((topic, raw.partition, next)),
        }
        if self.ctx.has_schedules() {
            self.punctuate(PunctuationType::StreamTime, self.ctx.stream_time())?;
        }
        Ok(())
    }

    /// Applies `processing.exception.handler` to a processor's failure on `raw`.
    fn processing_failed(&self, raw: &RawRecord<'_>, error: Error) -> Result<()> {
        let at = format!("{}-{}@{}", raw.topic, raw.partition, raw.offset);
        match self.ctx.policies().processing {
            ProcessingPolicy::LogAndContinue => {
                warn!(task = %self.id(), record = %at, "skipping the rest of the record: {}", error.report());
                self.ctx.metrics().dropped(DropReason::ProcessingError);
                Ok(())
            }
            ProcessingPolicy::DeadLetter => {
                warn!(task = %self.id(), record = %at, "dead-lettering the record: {}", error.report());
                self.ctx.metrics().dropped(DropReason::ProcessingError);
                super::dead_letter::send(&self.ctx, raw, &error)
            }
            _ => Err(self.record_failed(raw, error)),
        }
    }

    /// `error` of the node that failed on `raw`, with the task, node and record named.
    fn record_failed(&self, raw: &RawRecord<'_>, error: Error) -> Error {
        let node = match &error {
            Error::Processing { node, .. } => node.clone(),
            _ => self.ctx.current_node().to_string(),
        };
        Error::RecordFailed {
            task: self.id().to_string(),
            node,
            topic: raw.topic.to_string(),
            partition: raw.partition,
            offset: raw.offset,
            source: Box::new(error),
        }
    }

    /// Fires the punctuations of `kind` due at `now`.
    pub(crate) fn punctuate(&mut self, kind: PunctuationType, now: i64) -> Result<()> {
        if !self.initialized || now < 0 {
            return Ok(());
        }
        for schedule in self.ctx.take_due(kind, now) {
            let Some(node) = self
                .lifecycles
                .iter()
                .find(|n| n.borrow().name() == &*schedule.node)
            else {
                continue;
            };
            let punctuation = Punctuation {
                id: schedule.id,
                kind,
                timestamp: now,
            };
            let started = std::time::Instant::now();
            node.borrow_mut().punctuate(&self.ctx, punctuation)?;
            self.ctx.metrics().punctuated(started);
        }
        Ok(())
    }

    /// Fires wall-clock punctuations due now.
    pub(crate) fn punctuate_wall_clock(&mut self) -> Result<()> {
        if !self.ctx.has_schedules() {
            return Ok(());
        }
        let now = self.ctx.wall_clock_ms();
        self.punctuate(PunctuationType::WallClockTime, now)
    }

    /// Before a commit: processors forward what they buffer (cached table updates), then every
    /// record cache writes its dirty entries through to its store and changelog.
    pub(crate) fn flush(&mut self) -> Result<()> {
        if !self.initialized {
            return Ok(());
        }
        for node in &self.lifecycles {
            node.borrow_mut().flush(&self.ctx)?;
        }
        for entry in self.ctx.stores().iter() {
            entry.store.flush_cache().map_err(self.state_err())?;
        }
        Ok(())
    }

    /// The input offsets to commit: the next offset of each partition processed from.
    pub(crate) fn committable_offsets(&self) -> impl Iterator<Item = (&str, i32, i64)> + '_ {
        self.consumed.iter().map(|(t, p, o)| (&**t, *p, *o))
    }

    /// Closes processors and stores. A clean close checkpoints first; a dirty one (after an
    /// error) leaves the last checkpoint, so the next owner restores from there.
    pub(crate) fn close(&mut self, clean: bool) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        self.ctx.clear_schedules();
        let mut first_error = None;
        if self.initialized {
            for node in &self.lifecycles {
                if let Err(e) = node.borrow_mut().close(&self.ctx) {
                    first_error.get_or_insert(e);
                }
            }
        }
        // A task closed while still restoring checkpoints what it restored so far. Under
        // exactly-once the stores then commit what their flush wrote (their stream times),
        // before closing drops whatever is pending.
        if clean
            && first_error.is_none()
            && let Err(e) = self
                .maybe_checkpoint(true)
                .and_then(|()| self.commit_stores())
        {
            first_error.get_or_insert(e);
        }
        for entry in self.ctx.stores().iter() {
            let closed = if clean {
                entry.store.close()
            } else {
                // Not committed: what the cache holds is redone by the next owner.
                entry.store.close_dirty()
            };
            if let Err(e) = closed {
                first_error.get_or_insert(self.state_err()(e));
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A typed handle on key-value store `name`, if this task has it (for the test driver: no
    /// processor-connection check).
    #[cfg(feature = "test-util")]
    pub(crate) fn key_value_store<K: 'static, V: 'static>(
        &self,
        name: &str,
    ) -> Option<Result<crate::state::KeyValueStoreHandle<K, V>>> {
        self.ctx.stores().get(name)?;
        Some(self.ctx.stores().key_value(name, None))
    }

    /// The task's context, for store access from the test driver.
    #[cfg(feature = "test-util")]
    pub(crate) fn context(&self) -> &TaskContext {
        &self.ctx
    }

    /// Read handles on the storage engines of this task's stores, by store name (for metrics).
    pub(crate) fn engine_handles(&self) -> Vec<(String, super::instance::EngineHandle)> {
        self.ctx
            .stores()
            .iter()
            .filter_map(|s| Some((s.builder.name().to_string(), s.store.engine_handle()?)))
            .collect()
    }

    /// Read handles on this task's stores, for interactive queries from other threads.
    pub(crate) fn query_handles(&self) -> Vec<(String, super::instance::QueryHandle)> {
        self.ctx
            .stores()
            .iter()
            .filter_map(|s| {
                let handle = s.store.query_handle()?;
                Some((s.builder.name().to_string(), handle))
            })
            .collect()
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if !self.closed {
            let _ = self.close(false);
        }
    }
}
