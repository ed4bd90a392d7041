//! What a reset asks of the cluster, as a trait ([`ResetCluster`]) so that planning is tested
//! without a broker, and its implementation over librdkafka ([`KafkaResetCluster`]): a
//! consumer whose `group.id` is the application id (it reads and commits the group's offsets
//! without joining the group) and an admin client.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use super::group::{GroupDescription, describe_group};
use crate::config::ClientKind;
use crate::runtime::clients::client_config;
use crate::{Error, Result, StreamsConfig};

/// A topic and a partition.
pub(crate) type Partition = (String, i32);

/// How long each request to the cluster may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The calls a reset makes.
pub(crate) trait ResetCluster {
    /// The members of consumer group `group`.
    fn describe_group(&self, group: &str) -> Result<GroupDescription>;
    /// Every topic and its partition count.
    fn topics(&self) -> Result<BTreeMap<String, i32>>;
    /// The earliest and the end offset of a partition.
    fn watermarks(&self, partition: &Partition) -> Result<(i64, i64)>;
    /// The group's committed offsets of `partitions` (absent where it has none).
    fn committed(&self, partitions: &[Partition]) -> Result<BTreeMap<Partition, i64>>;
    /// The first offset of each partition whose record's timestamp is at or after
    /// `timestamp_ms`; `None` where there is none.
    fn offsets_for_time(
        &self,
        partitions: &[Partition],
        timestamp_ms: i64,
    ) -> Result<BTreeMap<Partition, Option<i64>>>;
    /// Commits `offsets` for the group.
    fn commit(&self, offsets: &BTreeMap<Partition, i64>) -> Result<()>;
    /// Deletes `topics` (those already gone are not an error).
    fn delete_topics(&self, topics: &[String]) -> Result<()>;
}

/// [`ResetCluster`] over librdkafka.
pub(crate) struct KafkaResetCluster {
    consumer: BaseConsumer,
    admin: AdminClient<DefaultClientContext>,
}

/// Group-membership settings that must not reach a consumer that only commits: it commits as
/// a non-member (generation -1), which the broker accepts only for a group with no members.
const MEMBERSHIP: &[&str] = &[
    "group.protocol",
    "group.remote.assignor",
    crate::config::GROUP_INSTANCE_ID,
    "partition.assignment.strategy",
];

impl KafkaResetCluster {
    /// Clients for `config`'s cluster with its security settings; the consumer's group is
    /// `application_id`.
    pub(crate) fn new(config: &StreamsConfig, application_id: &str) -> Result<Self> {
        let mut consumer = client_config(config, ClientKind::Consumer);
        for key in MEMBERSHIP {
            consumer.remove(key);
        }
        consumer
            .set("group.id", application_id)
            .set("client.id", format!("{application_id}-reset"))
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", "false");
        let consumer: BaseConsumer = consumer
            .create()
            .map_err(|e| Error::kafka("creating the reset's consumer", e))?;
        let admin = client_config(config, ClientKind::Admin)
            .set("client.id", format!("{application_id}-reset-admin"))
            .create()
            .map_err(|e| Error::kafka("creating the reset's admin client", e))?;
        Ok(KafkaResetCluster { consumer, admin })
    }

    fn list(
        partitions: &[Partition],
        offset: impl Fn(&Partition) -> Offset,
    ) -> Result<TopicPartitionList> {
        let mut list = TopicPartitionList::new();
        for p in partitions {
            list.add_partition_offset(&p.0, p.1, offset(p))
                .map_err(|e| Error::kafka(format!("listing {}-{}", p.0, p.1), e))?;
        }
        Ok(list)
    }

    fn metadata_topics(&self) -> Result<BTreeMap<String, i32>> {
        let metadata = self
            .consumer
            .fetch_metadata(None, TIMEOUT)
            .map_err(|e| Error::kafka("listing the cluster's topics", e))?;
        Ok(metadata
            .topics()
            .iter()
            .filter(|t| t.error().is_none())
            .map(|t| (t.name().to_string(), t.partitions().len() as i32))
            .collect())
    }
}

impl ResetCluster for KafkaResetCluster {
    fn describe_group(&self, group: &str) -> Result<GroupDescription> {
        describe_group(&self.admin, group, TIMEOUT)
    }

    fn topics(&self) -> Result<BTreeMap<String, i32>> {
        self.metadata_topics()
    }

    fn watermarks(&self, (topic, partition): &Partition) -> Result<(i64, i64)> {
        crate::runtime::clients::watermarks(&self.consumer, topic, *partition)
    }

    fn committed(&self, partitions: &[Partition]) -> Result<BTreeMap<Partition, i64>> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let list = Self::list(partitions, |_| Offset::Invalid)?;
        let committed = self
            .consumer
            .committed_offsets(list, TIMEOUT)
            .map_err(|e| Error::kafka("reading the group's committed offsets", e))?;
        let mut out = BTreeMap::new();
        for element in committed.elements() {
            if let Err(e) = element.error() {
                return Err(Error::kafka(
                    format!(
                        "reading the committed offset of {}-{}",
                        element.topic(),
                        element.partition()
                    ),
                    e,
                ));
            }
            if let Offset::Offset(offset) = element.offset() {
                out.insert((element.topic().to_string(), element.partition()), offset);
            }
        }
        Ok(out)
    }

    fn offsets_for_time(
        &self,
        partitions: &[Partition],
        timestamp_ms: i64,
    ) -> Result<BTreeMap<Partition, Option<i64>>> {
        if partitions.is_empty() {
            return Ok(BTreeMap::new());
        }
        let list = Self::list(partitions, |_| Offset::Offset(timestamp_ms))?;
        let found = self
            .consumer
            .offsets_for_times(list, TIMEOUT)
            .map_err(|e| Error::kafka(format!("looking up offsets at {timestamp_ms} ms"), e))?;
        let mut out = BTreeMap::new();
        for element in found.elements() {
            if let Err(e) = element.error() {
                return Err(Error::kafka(
                    format!(
                        "looking up the offset of {}-{} at {timestamp_ms} ms",
                        element.topic(),
                        element.partition()
                    ),
                    e,
                ));
            }
            let offset = match element.offset() {
                Offset::Offset(offset) => Some(offset),
                _ => None,
            };
            out.insert((element.topic().to_string(), element.partition()), offset);
        }
        Ok(out)
    }

    fn commit(&self, offsets: &BTreeMap<Partition, i64>) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let partitions: Vec<Partition> = offsets.keys().cloned().collect();
        let list = Self::list(&partitions, |p| {
            Offset::Offset(offsets.get(p).copied().unwrap_or_default())
        })?;
        self.consumer
            .commit(&list, CommitMode::Sync)
            .map_err(|e| Error::kafka("committing the reset offsets for the group", e))?;
        // A partition the broker refused is not reported by the call: read them back.
        let committed = self.committed(&partitions)?;
        for (partition, offset) in offsets {
            if committed.get(partition) != Some(offset) {
                return Err(Error::kafka(
                    format!(
                        "committing offset {offset} of {}-{} for the group (the broker kept {:?})",
                        partition.0,
                        partition.1,
                        committed.get(partition)
                    ),
                    rdkafka::error::KafkaError::ConsumerCommit(RDKafkaErrorCode::Fail),
                ));
            }
        }
        Ok(())
    }

    fn delete_topics(&self, topics: &[String]) -> Result<()> {
        if topics.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
        let results = futures::executor::block_on(self.admin.delete_topics(&names, &options))
            .map_err(|e| Error::kafka("deleting internal topics", e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
                Err((topic, code)) => {
                    return Err(Error::kafka(
                        format!("deleting topic `{topic}`"),
                        rdkafka::error::KafkaError::AdminOp(code),
                    ));
                }
            }
        }
        // Deletion reaches every broker's metadata a little later; an instance started right
        // after the reset must not find the old topics and their partitions.
        let deleted: BTreeSet<&String> = topics.iter().collect();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left: Vec<String> = self
                .metadata_topics()?
                .into_keys()
                .filter(|t| deleted.contains(t))
                .collect();
            if left.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::Topology(format!(
                    "topics {left:?} are still in the cluster's metadata {TIMEOUT:?} after their deletion"
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
