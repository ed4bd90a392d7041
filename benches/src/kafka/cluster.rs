//! What the driver asks of the cluster: fresh topics, loading inputs, their end offsets, a
//! group's committed offsets, and deleting a run's topics afterwards.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::Producer;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::harness::{BoxError, FeedProducer};
use crate::workloads::{Topics, Workload};

const TIMEOUT: Duration = Duration::from_secs(60);

/// Admin and metadata clients of the benchmark's cluster.
pub(crate) struct Cluster {
    bootstrap: String,
    admin: AdminClient<DefaultClientContext>,
    metadata: BaseConsumer,
}

impl Cluster {
    /// Clients of the cluster at `bootstrap`.
    pub(crate) fn new(bootstrap: &str) -> Result<Self, BoxError> {
        Ok(Cluster {
            bootstrap: bootstrap.to_string(),
            admin: client(bootstrap).create()?,
            metadata: client(bootstrap).create()?,
        })
    }

    /// Creates `names` with `partitions` partitions each (the broker's replication factor),
    /// kept whatever their records' age: the feeds are stamped in 2023, and the broker's
    /// 7-day time retention would delete them under the apps at its next check.
    pub(crate) fn create_topics(&self, names: &[String], partitions: i32) -> Result<(), BoxError> {
        let mut config = streams_core::StreamsConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        let names_str: Vec<&str> = names.iter().map(String::as_str).collect();
        streams_core::runtime::create_topics(
            &config,
            &names_str,
            partitions,
            &[("retention.ms", "-1")],
        )?;
        self.wait_until_led(names, partitions)
    }

    /// Waits until the broker's metadata shows every partition of `names` with a leader (a
    /// topic just created is not there at once, and an app started then may see
    /// `NotLeaderForPartition`).
    fn wait_until_led(&self, names: &[String], partitions: i32) -> Result<(), BoxError> {
        let deadline = std::time::Instant::now() + TIMEOUT;
        for name in names {
            loop {
                // Errors (NotLeaderForPartition, …) only mean "not yet".
                let metadata = self
                    .metadata
                    .fetch_metadata(Some(name), Duration::from_secs(5))
                    .ok();
                let led = metadata
                    .as_ref()
                    .and_then(|m| m.topics().first())
                    .is_some_and(|topic| {
                        topic.error().is_none()
                            && topic.partitions().len() == usize::try_from(partitions).unwrap_or(0)
                            && topic
                                .partitions()
                                .iter()
                                .all(|p| p.error().is_none() && p.leader() >= 0)
                    });
                if led {
                    break;
                }
                if std::time::Instant::now() > deadline {
                    return Err(format!("topic `{name}` has no leader after {TIMEOUT:?}").into());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        Ok(())
    }

    /// Deletes every topic named `<prefix>` or `<prefix>-…` (a run's inputs, output and
    /// internal topics).
    pub(crate) fn delete_topics(&self, prefix: &str) -> Result<(), BoxError> {
        let metadata = retrying(|| Ok(self.metadata.fetch_metadata(None, TIMEOUT)?))?;
        let dashed = format!("{prefix}-");
        let names: Vec<&str> = metadata
            .topics()
            .iter()
            .map(|t| t.name())
            .filter(|name| *name == prefix || name.starts_with(&dashed))
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
        for result in block_on(self.admin.delete_topics(&names, &options))? {
            if let Err((topic, code)) = result
                && code != RDKafkaErrorCode::UnknownTopicOrPartition
            {
                return Err(format!("deleting topic `{topic}`: {code}").into());
            }
        }
        Ok(())
    }

    /// Commits one offset for group `name` (on a topic `name`, deleted after), retrying until
    /// the group coordinator takes it: a fresh broker creates `__consumer_offsets` on the first
    /// group's first request and answers `NotCoordinator` meanwhile, which librdkafka waits
    /// out for ~3 s before joining again. The first app measured should not pay for that.
    pub(crate) fn start_group_coordinator(&self, name: &str) -> Result<(), BoxError> {
        self.create_topics(&[name.to_string()], 1)?;
        let consumer: BaseConsumer = client(&self.bootstrap)
            .set("group.id", name)
            .set("enable.auto.commit", "false")
            .create()?;
        let mut offsets = TopicPartitionList::new();
        offsets.add_partition_offset(name, 0, Offset::Offset(0))?;
        retrying(|| Ok(consumer.commit(&offsets, CommitMode::Sync)?))?;
        self.delete_topics(name)
    }

    /// Writes every input of `workload` to `topics` and waits until the broker has them all.
    pub(crate) fn load(
        &self,
        workload: &Workload,
        topics: &Topics,
        keys: usize,
        value_bytes: usize,
    ) -> Result<(), BoxError> {
        let producer = FeedProducer::new(
            client(&self.bootstrap)
                .set("linger.ms", "20")
                .set("queue.buffering.max.messages", "1000000"),
            keys,
            value_bytes,
        )?;
        for feed in &workload.feeds {
            producer.send(&topics.input(feed.name), 0..feed.records)?;
        }
        producer.producer.flush(TIMEOUT)?;
        for feed in &workload.feeds {
            let topic = topics.input(feed.name);
            let ends = self.end_offsets(std::slice::from_ref(&topic))?;
            let loaded: i64 = ends
                .elements()
                .iter()
                .filter_map(|e| match e.offset() {
                    Offset::Offset(o) => Some(o),
                    _ => None,
                })
                .sum();
            if usize::try_from(loaded).ok() != Some(feed.records) {
                return Err(
                    format!("loaded {loaded} of {} records into `{topic}`", feed.records).into(),
                );
            }
        }
        Ok(())
    }

    /// The end offset (high watermark) of every partition of `topics`.
    pub(crate) fn end_offsets(&self, topics: &[String]) -> Result<TopicPartitionList, BoxError> {
        let mut ends = TopicPartitionList::new();
        for topic in topics {
            let partitions = retrying(|| {
                Ok(self
                    .metadata
                    .fetch_metadata(Some(topic), TIMEOUT)?
                    .topics()
                    .first()
                    .map(|t| t.partitions().len())
                    .unwrap_or(0))
            })?;
            for partition in 0..i32::try_from(partitions)? {
                let (_, high) =
                    retrying(|| Ok(self.metadata.fetch_watermarks(topic, partition, TIMEOUT)?))?;
                ends.add_partition_offset(topic, partition, Offset::Offset(high))?;
            }
        }
        Ok(ends)
    }

    /// A watcher of group `group`'s committed offsets against `ends`.
    pub(crate) fn watch_commits(
        &self,
        group: &str,
        ends: TopicPartitionList,
    ) -> Result<CommitWatcher, BoxError> {
        let consumer: BaseConsumer = client(&self.bootstrap)
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            // Only committed offsets count; read_committed would make the broker answer
            // "unstable" (and librdkafka retry) while a transaction holds pending offsets.
            .set("isolation.level", "read_uncommitted")
            .create()?;
        Ok(CommitWatcher {
            consumer,
            ends,
            last_error: std::cell::RefCell::new(None),
        })
    }
}

/// Asks the group coordinator for a group's committed offsets, as any admin tool would: the
/// same measurement whichever framework runs the group.
pub(crate) struct CommitWatcher {
    consumer: BaseConsumer,
    ends: TopicPartitionList,
    /// The last failed ask, for the message if the run times out.
    last_error: std::cell::RefCell<Option<String>>,
}

impl CommitWatcher {
    /// The error of the last failed ask for the committed offsets, if one failed.
    pub(crate) fn last_error(&self) -> Option<String> {
        self.last_error.borrow().clone()
    }

    /// Whether the group has committed the end offset of every input partition (`false`
    /// too when the coordinator does not answer).
    pub(crate) fn caught_up(&self) -> Result<bool, BoxError> {
        let committed = match self
            .consumer
            .committed_offsets(self.ends.clone(), Duration::from_secs(5))
        {
            Ok(committed) => committed,
            // NotCoordinator, a timeout…: the coordinator is loading, moving or busy. Not yet;
            // the run's own timeout ends a failure that lasts.
            Err(e) => {
                *self.last_error.borrow_mut() = Some(e.to_string());
                return Ok(false);
            }
        };
        for end in self.ends.elements() {
            let Offset::Offset(end_offset) = end.offset() else {
                continue;
            };
            if end_offset == 0 {
                continue;
            }
            let reached = committed
                .find_partition(end.topic(), end.partition())
                .is_some_and(|c| matches!(c.offset(), Offset::Offset(o) if o >= end_offset));
            if !reached {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// `call`, again every 50 ms while it fails, for up to 30 s: metadata of a topic just created
/// or written can answer `NotLeaderForPartition` for a moment.
fn retrying<T>(mut call: impl FnMut() -> Result<T, BoxError>) -> Result<T, BoxError> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match call() {
            Ok(value) => return Ok(value),
            Err(e) if std::time::Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn client(bootstrap: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    client.set("bootstrap.servers", bootstrap);
    client
}

/// Runs an rdkafka admin future to its end on this thread (librdkafka's own threads complete
/// it; this only parks until they wake it).
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut context) {
            Poll::Ready(output) => return output,
            Poll::Pending => std::thread::park(),
        }
    }
}
