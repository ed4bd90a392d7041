//! The global thread: keeps the instance's global stores (full copies of their topics) up to
//! date. `start` first catches up with every partition (so tasks start with complete tables,
//! as in Kafka Streams), then follows the topics on its own thread, checkpointing offsets.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use streams_state::{ChangelogOffsets, Checkpoint};
use tracing::{error, info};

use super::StateRestoreListener;
use super::instance::InstanceShared;
use crate::state::RocksDbEnv;
use crate::state::{GlobalStores, GlobalUpdater};
use crate::{Error, Result, StreamsConfig, Topology};

/// A running global thread.
pub(crate) struct GlobalThread {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<()>,
}

impl GlobalThread {
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Release);
        if self.handle.join().is_err() {
            error!("the global thread panicked");
        }
    }
}

struct Follower {
    consumer: BaseConsumer,
    stores: Stores,
}

/// The stores and the offsets they reflect.
struct Stores {
    updater: GlobalUpdater,
    checkpoint: Checkpoint,
    /// Last applied offset per partition.
    offsets: ChangelogOffsets,
}

impl Stores {
    fn apply<M: Message>(&mut self, message: &M) -> Result<()> {
        self.updater.apply(
            message.topic(),
            message.partition(),
            message.offset(),
            message.key(),
            message.payload(),
            message.timestamp().to_millis().unwrap_or(0),
        )?;
        self.offsets.insert(
            (message.topic().to_string(), message.partition()),
            message.offset(),
        );
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<()> {
        self.updater.flush()?;
        self.checkpoint
            .write(&self.offsets)
            .map_err(|source| Error::State {
                task: "global".into(),
                source,
            })
    }
}

/// Opens and restores the global stores, then starts following their topics. Returns the
/// stores' read handles (empty, and no thread, when the topology has none). The stores live on
/// the global thread; `start` waits until it has caught up.
pub(crate) fn start(
    topology: &Topology,
    config: &StreamsConfig,
    rocksdb: &RocksDbEnv,
    shared: Arc<InstanceShared>,
    listener: Arc<dyn StateRestoreListener>,
) -> Result<(Arc<GlobalStores>, Option<GlobalThread>)> {
    if topology.global_stores().is_empty() {
        return Ok((Arc::default(), None));
    }
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<Arc<GlobalStores>>>();
    let stop = Arc::new(AtomicBool::new(false));
    let stop_flag = stop.clone();
    let (topology, config, rocksdb) = (topology.clone(), config.clone(), rocksdb.clone());
    let handle = std::thread::Builder::new()
        .name("global-thread".into())
        .spawn(move || {
            let mut follower = match bootstrap(&topology, &config, &rocksdb, listener.as_ref()) {
                Ok(follower) => follower,
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let commit_interval = config.commit_interval().unwrap_or(Duration::from_secs(30));
            let _ = ready_tx.send(Ok(Arc::new(follower.stores.updater.readers().clone())));
            if let Err(e) = follow(&mut follower, &stop_flag, commit_interval) {
                error!("global thread failed: {}", e.report());
                shared.fail(usize::MAX, e);
            }
            if let Err(e) = follower
                .stores
                .checkpoint()
                .and_then(|()| follower.stores.updater.close())
            {
                error!("closing global stores failed: {}", e.report());
            }
        })
        .map_err(|e| Error::io("global-thread", e))?;
    let readers = ready_rx
        .recv()
        .map_err(|_| Error::IllegalState("the global thread stopped before restoring".into()))??;
    Ok((readers, Some(GlobalThread { stop, handle })))
}

/// Records restored per partition between two `on_batch_restored` calls.
const RESTORE_BATCH: u64 = 1_000;

fn bootstrap(
    topology: &Topology,
    config: &StreamsConfig,
    rocksdb: &RocksDbEnv,
    listener: &dyn StateRestoreListener,
) -> Result<Follower> {
    let app_id = config.application_id()?;
    let dir = config.state_dir().join(app_id).join("global");
    let updater = GlobalUpdater::open(
        topology.global_stores(),
        &dir,
        config.deserialization_policy()?,
        rocksdb,
    )?;
    let checkpoint = Checkpoint::new(dir.join(".checkpoint"));
    let offsets = checkpoint.read().map_err(|source| Error::State {
        task: "global".into(),
        source,
    })?;
    let consumer = super::clients::changelog_reader(
        config,
        &format!("{app_id}-global-consumer"),
        &format!("{app_id}-global-unused"),
        "global consumer",
    )?;

    let mut assignment = TopicPartitionList::new();
    let mut ends: BTreeMap<(String, i32), i64> = BTreeMap::new();
    // Per partition with records to restore, for the restore listener: records since the last
    // reported batch, records in all, last offset.
    let mut restoring: BTreeMap<(String, i32), (u64, u64, i64)> = BTreeMap::new();
    for topic in updater.topics() {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(30))
            .map_err(|e| Error::kafka(format!("reading metadata of global topic `{topic}`"), e))?;
        let partitions = metadata
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map(|t| t.partitions().len() as i32)
            .filter(|n| *n > 0)
            .ok_or_else(|| Error::MissingSourceTopic(topic.clone()))?;
        for partition in 0..partitions {
            let checkpointed = offsets
                .get(&(topic.clone(), partition))
                .map(|last| last + 1);
            let start = checkpointed.map_or(Offset::Beginning, Offset::Offset);
            assignment
                .add_partition_offset(topic, partition, start)
                .map_err(|e| Error::kafka("assigning global partitions", e))?;
            let (low, high) = super::clients::watermarks(&consumer, topic, partition)?;
            ends.insert((topic.clone(), partition), high);
            let from = checkpointed.unwrap_or(low).max(low);
            if from < high {
                listener.on_restore_start(topic, partition, updater.store_of(topic), from, high);
                restoring.insert((topic.clone(), partition), (0, 0, from - 1));
            }
        }
    }
    consumer
        .assign(&assignment)
        .map_err(|e| Error::kafka("assigning global partitions", e))?;
    let mut follower = Follower {
        consumer,
        stores: Stores {
            updater,
            checkpoint,
            offsets,
        },
    };

    // Catch up before any task starts.
    let started = Instant::now();
    let mut restored = 0u64;
    loop {
        let applied_all = ends.iter().all(|(tp, end)| {
            follower
                .stores
                .offsets
                .get(tp)
                .map_or(*end == 0, |last| last + 1 >= *end)
        });
        let positioned_all = follower.consumer.position().is_ok_and(|p| {
            ends.iter().all(|((t, part), end)| {
                matches!(p.find_partition(t, *part).map(|e| e.offset()), Some(Offset::Offset(o)) if o >= *end)
            })
        });
        if applied_all || positioned_all {
            break;
        }
        if let Some(polled) = follower.consumer.poll(Duration::from_millis(100)) {
            let message = polled.map_err(|e| Error::kafka("reading a global topic", e))?;
            follower.stores.apply(&message)?;
            restored += 1;
            let (topic, partition) = (message.topic(), message.partition());
            let Some(entry) = restoring.get_mut(&(topic.to_string(), partition)) else {
                continue;
            };
            *entry = (entry.0 + 1, entry.1 + 1, message.offset());
            if entry.0 >= RESTORE_BATCH {
                let store = follower.stores.updater.store_of(topic);
                listener.on_batch_restored(topic, partition, store, entry.2, entry.0);
                entry.0 = 0;
            }
        }
    }
    follower.stores.checkpoint()?;
    for ((topic, partition), (pending, total, last)) in restoring {
        let store = follower.stores.updater.store_of(&topic);
        if pending > 0 {
            listener.on_batch_restored(&topic, partition, store, last, pending);
        }
        listener.on_restore_end(&topic, partition, store, total);
    }
    info!(
        records = restored,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "global stores restored"
    );
    Ok(follower)
}

fn follow(follower: &mut Follower, stop: &AtomicBool, commit_interval: Duration) -> Result<()> {
    let mut last_checkpoint = Instant::now();
    while !stop.load(Ordering::Acquire) {
        if let Some(polled) = follower.consumer.poll(Duration::from_millis(50)) {
            match polled {
                Ok(message) => follower.stores.apply(&message)?,
                Err(e) => tracing::warn!("global consumer error: {e}"),
            }
        }
        if last_checkpoint.elapsed() >= commit_interval {
            follower.stores.checkpoint()?;
            last_checkpoint = Instant::now();
        }
    }
    Ok(())
}
