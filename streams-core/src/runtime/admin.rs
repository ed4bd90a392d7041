//! Creating topics: the [`TopicAdmin`] seam, and its implementation over Kafka's admin API.
//!
//! The runtime creates internal topics (repartition topics and changelogs) through this trait.
//! It is a seam because librdkafka's mock cluster does not answer `CreateTopics` reliably; the
//! embedded broker implements it with the mock's own call and installs itself in the
//! configuration it is given (`EmbeddedBroker::configure`). The seam is crate-private;
//! applications create their own topics with [`create_topics`], which goes through the same
//! admin.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::{Error, Result};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicSpec {
    /// Full topic name.
    pub(crate) name: String,
    /// Number of partitions.
    pub(crate) partitions: i32,
    /// Replication factor; -1 for the broker's default.
    pub(crate) replication_factor: i32,
    /// Topic configs, such as `cleanup.policy=compact`.
    pub(crate) config: Vec<(String, String)>,
}

/// Creates topics for the runtime.
pub(crate) trait TopicAdmin: Send + Sync {
    /// Creates each topic that does not exist yet; existing topics are left alone.
    fn create_topics(&self, topics: &[TopicSpec]) -> Result<()>;

    /// The configs of the existing `topics` (topic → key → value), to check internal topics
    /// against the topology; `None` when this admin cannot read configs (the default).
    fn describe_topic_configs(
        &self,
        topics: &[String],
    ) -> Result<Option<BTreeMap<String, BTreeMap<String, String>>>> {
        let _ = topics;
        Ok(None)
    }

    /// Whether the cluster creates a missing topic on its first write (the brokers'
    /// `auto.create.topics.enable`); `None` when this admin cannot tell (the default).
    fn auto_creates_topics(&self) -> Result<Option<bool>> {
        Ok(None)
    }
}

/// Creates `names` (those that do not exist yet) with `partitions` partitions each, the
/// broker's default replication factor and the topic configs `topic_config`: an application's
/// own input and output topics, created as the runtime creates its internal ones — through
/// Kafka's admin API with `config`'s `admin.` client properties, or on the embedded broker when
/// `config` points at one ([`EmbeddedBroker::configure`](crate::embedded::EmbeddedBroker)).
///
/// ```no_run
/// use streams_core::StreamsConfig;
/// let mut config = StreamsConfig::new();
/// config.set("bootstrap.servers", "localhost:9092");
/// streams_core::runtime::create_topics(&config, &["payments", "alerts"], 4, &[])?;
/// # Ok::<(), streams_core::Error>(())
/// ```
pub fn create_topics(
    config: &crate::StreamsConfig,
    names: &[&str],
    partitions: i32,
    topic_config: &[(&str, &str)],
) -> Result<()> {
    let specs: Vec<TopicSpec> = names
        .iter()
        .map(|name| TopicSpec {
            name: name.to_string(),
            partitions,
            replication_factor: -1,
            config: topic_config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        })
        .collect();
    admin_for(config)?.create_topics(&specs)
}

/// `config`'s topic admin (the embedded broker installs one), or one over Kafka's admin API
/// with `config`'s client properties.
pub(crate) fn admin_for(config: &crate::StreamsConfig) -> Result<Arc<dyn TopicAdmin>> {
    if let Some(admin) = config.topic_admin() {
        return Ok(admin.clone());
    }
    let mut client = ClientConfig::new();
    for (key, value) in config.client_properties(crate::config::ClientKind::Admin) {
        client.set(key, value);
    }
    Ok(Arc::new(KafkaTopicAdmin::new(&client)?))
}

/// [`TopicAdmin`] over Kafka's `CreateTopics` API.
pub(crate) struct KafkaTopicAdmin {
    client: AdminClient<DefaultClientContext>,
}

impl KafkaTopicAdmin {
    pub(crate) fn new(config: &ClientConfig) -> Result<Self> {
        let client = config
            .create()
            .map_err(|e| Error::kafka("creating the admin client", e))?;
        Ok(KafkaTopicAdmin { client })
    }
}

impl KafkaTopicAdmin {
    /// Sends one `CreateTopics`; returns the topics refused for their replication factor.
    fn create(
        &self,
        topics: &[TopicSpec],
        replication: impl Fn(&TopicSpec) -> i32,
    ) -> Result<Vec<TopicSpec>> {
        let new_topics: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|spec| {
                spec.config.iter().fold(
                    NewTopic::new(
                        &spec.name,
                        spec.partitions,
                        TopicReplication::Fixed(replication(spec)),
                    ),
                    |topic, (k, v)| topic.set(k, v),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = futures::executor::block_on(self.client.create_topics(&new_topics, &options))
            .map_err(|e| Error::kafka("creating internal topics", e))?;
        let mut refused = Vec::new();
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, RDKafkaErrorCode::InvalidReplicationFactor)) => {
                    refused.extend(topics.iter().filter(|s| s.name == topic).cloned());
                }
                Err((topic, code)) => {
                    return Err(Error::kafka(
                        format!("creating topic `{topic}`"),
                        rdkafka::error::KafkaError::AdminOp(code),
                    ));
                }
            }
        }
        Ok(refused)
    }
}

impl TopicAdmin for KafkaTopicAdmin {
    fn create_topics(&self, topics: &[TopicSpec]) -> Result<()> {
        if topics.is_empty() {
            return Ok(());
        }
        let refused = self.create(topics, |spec| spec.replication_factor)?;
        // "The broker's default" (-1) needs Kafka 2.4+; a broker without it gets the cluster
        // size, up to 3.
        let (defaulted, explicit): (Vec<TopicSpec>, Vec<TopicSpec>) =
            refused.into_iter().partition(|s| s.replication_factor < 0);
        let invalid = |name: &str, factor: i32| {
            Error::kafka(
                format!("creating topic `{name}` with replication factor {factor}"),
                rdkafka::error::KafkaError::AdminOp(RDKafkaErrorCode::InvalidReplicationFactor),
            )
        };
        if let Some(spec) = explicit.first() {
            return Err(invalid(&spec.name, spec.replication_factor));
        }
        if defaulted.is_empty() {
            return Ok(());
        }
        let brokers = self
            .client
            .inner()
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(|e| Error::kafka("counting brokers", e))?
            .brokers()
            .len();
        let factor = i32::try_from(brokers.clamp(1, 3)).unwrap_or(1);
        tracing::info!("the broker has no default replication factor: using {factor}");
        match self.create(&defaulted, |_| factor)?.first() {
            Some(spec) => Err(invalid(&spec.name, factor)),
            None => Ok(()),
        }
    }

    fn describe_topic_configs(
        &self,
        topics: &[String],
    ) -> Result<Option<BTreeMap<String, BTreeMap<String, String>>>> {
        if topics.is_empty() {
            return Ok(Some(BTreeMap::new()));
        }
        let resources: Vec<ResourceSpecifier<'_>> = topics
            .iter()
            .map(|t| ResourceSpecifier::Topic(t.as_str()))
            .collect();
        let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
        let results =
            futures::executor::block_on(self.client.describe_configs(&resources, &options))
                .map_err(|e| Error::kafka("reading internal topic configs", e))?;
        let mut out = BTreeMap::new();
        for (topic, result) in topics.iter().zip(results) {
            let resource = result.map_err(|code| {
                Error::kafka(
                    format!("reading the configs of `{topic}`"),
                    rdkafka::error::KafkaError::AdminOp(code),
                )
            })?;
            let entries = resource
                .entries
                .into_iter()
                .filter_map(|e| e.value.map(|v| (e.name, v)))
                .collect();
            out.insert(topic.clone(), entries);
        }
        Ok(Some(out))
    }

    fn auto_creates_topics(&self) -> Result<Option<bool>> {
        let metadata = self
            .client
            .inner()
            .fetch_metadata(None, Duration::from_secs(30))
            .map_err(|e| Error::kafka("listing brokers", e))?;
        let Some(broker) = metadata.brokers().first().map(|b| b.id()) else {
            return Ok(None);
        };
        let options = AdminOptions::new().request_timeout(Some(Duration::from_secs(30)));
        let results = futures::executor::block_on(
            self.client
                .describe_configs(&[ResourceSpecifier::Broker(broker)], &options),
        )
        .map_err(|e| Error::kafka("reading the broker's configs", e))?;
        let Some(Ok(resource)) = results.into_iter().next() else {
            return Ok(None);
        };
        Ok(resource
            .entries
            .into_iter()
            .find(|e| e.name == "auto.create.topics.enable")
            .and_then(|e| e.value)
            .map(|v| v == "true"))
    }
}
