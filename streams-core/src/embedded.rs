//! [`EmbeddedBroker`]: librdkafka's in-process mock cluster, so examples, benchmarks and tests
//! run with no Kafka installed.
//!
//! The mock speaks the Kafka protocol on a loopback port: producers, consumer groups, commits
//! and rebalances work. Its limits: it keeps only the last 5 MiB of each partition (older
//! record batches are dropped, so a longer changelog cannot be fully restored from it), topics
//! are created through its own call (it does not answer the admin `CreateTopics` request
//! reliably), it never compacts, and its transactions are partial, so it cannot prove
//! exactly-once. Data lives in memory and is gone when it drops.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rdkafka::ClientConfig;
use rdkafka::client::Client;
use rdkafka::producer::{BaseProducer, Producer};
use rdkafka::types::RDKafkaRespErr;

use crate::runtime::{TopicAdmin, TopicSpec};
use crate::{Error, Result, StreamsConfig};

/// An in-process Kafka-protocol broker (librdkafka's mock cluster).
pub struct EmbeddedBroker {
    // The mock cluster lives as long as the client that created it.
    handle: BaseProducer,
    bootstrap_servers: String,
    /// What the broker reports as its `auto.create.topics.enable`.
    auto_create_topics: AtomicBool,
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("bootstrap_servers", &self.bootstrap_servers)
            .field("auto_create_topics", &self.auto_create_topics)
            .finish()
    }
}

impl EmbeddedBroker {
    /// Starts a mock cluster of `brokers` brokers on loopback.
    pub fn start(brokers: u32) -> Result<Arc<Self>> {
        let handle: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", brokers.to_string())
            .create()
            .map_err(|e| Error::kafka("starting the embedded broker", e))?;
        let cluster = handle.client().mock_cluster().ok_or_else(|| {
            Error::IllegalState("librdkafka did not create a mock cluster".into())
        })?;
        let bootstrap_servers = cluster.bootstrap_servers();
        drop(cluster);
        set_initial_rebalance_delay(handle.client(), 0);
        Ok(Arc::new(EmbeddedBroker {
            handle,
            bootstrap_servers,
            auto_create_topics: AtomicBool::new(true),
        }))
    }

    /// Fault injection for tests: the broker answers the next `errors.len()` requests of kind
    /// `api` with these errors, in order.
    pub fn inject_request_errors(
        &self,
        api: rdkafka::types::RDKafkaApiKey,
        errors: &[RDKafkaRespErr],
    ) -> Result<()> {
        self.mock()?.request_errors(api, errors);
        Ok(())
    }

    /// Fault injection for tests: drops the errors
    /// [`inject_request_errors`](Self::inject_request_errors) queued for requests of kind `api` and not yet answered.
    pub fn clear_request_errors(&self, api: rdkafka::types::RDKafkaApiKey) -> Result<()> {
        self.mock()?.clear_request_errors(api);
        Ok(())
    }

    /// Fault injection for tests: broker `id` refuses connections until
    /// [`broker_up`](Self::broker_up) (its partitions keep their leaders).
    pub fn broker_down(&self, id: i32) -> Result<()> {
        self.mock()?
            .broker_down(id)
            .map_err(|e| Error::kafka(format!("taking mock broker {id} down"), e))
    }

    /// Fault injection for tests: broker `id` accepts connections again.
    pub fn broker_up(&self, id: i32) -> Result<()> {
        self.mock()?
            .broker_up(id)
            .map_err(|e| Error::kafka(format!("bringing mock broker {id} up"), e))
    }

    /// Fault injection for tests: broker `id` coordinates consumer group `group`.
    pub fn set_group_coordinator(&self, group: &str, id: i32) -> Result<()> {
        self.mock()?
            .coordinator(rdkafka::mocking::MockCoordinator::Group(group.into()), id)
            .map_err(|e| Error::kafka(format!("moving the coordinator of group {group}"), e))
    }

    /// Fault injection for tests: broker `id` leads partition `partition` of `topic`.
    pub fn set_partition_leader(&self, topic: &str, partition: i32, id: i32) -> Result<()> {
        self.mock()?
            .partition_leader(topic, partition, Some(id))
            .map_err(|e| Error::kafka(format!("moving the leader of {topic}-{partition}"), e))
    }

    /// Fault injection for tests: the leader of partition `partition` of `topic` sends
    /// fetching consumers to broker `id` (`None`: to none), as a broker sends a consumer of a
    /// rack to a follower there (KIP-392). Unlike a real broker, the mock does so whether or not
    /// the consumer named its rack (`client.rack`), so a consumer without one ends up fetching
    /// from a broker that is not the leader.
    pub fn set_partition_follower(
        &self,
        topic: &str,
        partition: i32,
        id: Option<i32>,
    ) -> Result<()> {
        self.mock()?
            .partition_follower(topic, partition, id.unwrap_or(-1))
            .map_err(|e| {
                Error::kafka(
                    format!("sending fetches of {topic}-{partition} to a follower"),
                    e,
                )
            })
    }

    fn mock(
        &self,
    ) -> Result<rdkafka::mocking::MockCluster<'_, rdkafka::producer::DefaultProducerContext>> {
        self.handle
            .client()
            .mock_cluster()
            .ok_or_else(|| Error::IllegalState("the embedded broker's mock cluster is gone".into()))
    }

    /// Whether the broker says it creates a missing topic on its first write (the brokers'
    /// `auto.create.topics.enable`; `true`, as the mock does, until set): set `false` to play a
    /// cluster that does not, where an application whose sink topics are missing fails to
    /// start. It changes what applications configured by [`configure`](Self::configure) are
    /// told, not the mock, which still creates a topic written to. A testing knob: with the
    /// `test-util` feature.
    #[cfg(feature = "test-util")]
    #[cfg_attr(docsrs, doc(cfg(feature = "test-util")))]
    pub fn set_auto_create_topics(&self, enabled: bool) {
        self.auto_create_topics.store(enabled, Ordering::Relaxed);
    }

    /// The brokers' addresses, for `bootstrap.servers`.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// Creates `topic` with `partitions` partitions; an existing topic is left as is.
    pub fn create_topic(&self, topic: &str, partitions: i32) -> Result<()> {
        match self.mock()?.create_topic(topic, partitions, 1) {
            Ok(()) => Ok(()),
            Err(rdkafka::error::KafkaError::MockCluster(code))
                if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS.into() =>
            {
                Ok(())
            }
            Err(e) => Err(Error::kafka(
                format!("creating topic `{topic}` on the embedded broker"),
                e,
            )),
        }
    }

    /// Points `config` at this broker: sets `bootstrap.servers`, and makes applications run
    /// with `config` create their internal topics (changelogs, repartition topics) through the
    /// mock's own call, as its admin API is incomplete. Configure every application that uses
    /// this broker this way; create input and output topics with
    /// [`create_topic`](Self::create_topic).
    pub fn configure(self: &Arc<Self>, config: &mut StreamsConfig) {
        config.set(
            crate::config::BOOTSTRAP_SERVERS,
            self.bootstrap_servers.clone(),
        );
        config.set_topic_admin(self.clone());
    }

    /// If `config` names no `bootstrap.servers`, starts an embedded broker, points `config` at
    /// it and says so on stderr. Returns the broker, which must outlive the application.
    pub fn start_if_unconfigured(config: &mut StreamsConfig) -> Result<Option<Arc<Self>>> {
        if config.bootstrap_servers().is_some() {
            return Ok(None);
        }
        let broker = Self::start(1)?;
        eprintln!(
            "no bootstrap.servers given: started an embedded Kafka broker (librdkafka mock \
             cluster) at {}; its data lives in memory and ends with this process",
            broker.bootstrap_servers()
        );
        broker.configure(config);
        Ok(Some(broker))
    }
}

impl TopicAdmin for EmbeddedBroker {
    fn create_topics(&self, topics: &[TopicSpec]) -> Result<()> {
        topics
            .iter()
            .try_for_each(|t| self.create_topic(&t.name, t.partitions))
    }

    /// The mock cluster creates topics on first write (unless told to say otherwise).
    fn auto_creates_topics(&self) -> Result<Option<bool>> {
        Ok(Some(self.auto_create_topics.load(Ordering::Relaxed)))
    }
}

/// The mock makes a new group wait 3 s before its first rebalance (Kafka's
/// `group.initial.rebalance.delay.ms`); tests and examples should not.
fn set_initial_rebalance_delay<C: rdkafka::ClientContext>(client: &Client<C>, delay_ms: i32) {
    // SAFETY: `client` is a live client handle; `rd_kafka_handle_mock_cluster` returns the mock
    // cluster it owns (or null, checked) and the setter only stores an integer in it.
    unsafe {
        let cluster = rdkafka_sys::rd_kafka_handle_mock_cluster(client.native_ptr());
        if !cluster.is_null() {
            rdkafka_sys::rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, delay_ms);
        }
    }
}
