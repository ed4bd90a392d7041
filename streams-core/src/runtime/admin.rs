//! Creating topics: the [`TopicAdmin`] seam, and its implementation over Kafka's admin API.
//!
//! The runtime creates internal topics (repartition topics and changelogs) through this trait.
//! It is a seam because librdkafka's mock cluster does not answer `CreateTopics` reliably; the
//! [`EmbeddedBroker`](crate::embedded::EmbeddedBroker) implements it with the mock's own call.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use crate::{Error, Result};

/// A topic to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    /// Full topic name.
    pub name: String,
    /// Number of partitions.
    pub partitions: i32,
    /// Replication factor; -1 for the broker's default.
    pub replication_factor: i32,
    /// Topic configs, such as `cleanup.policy=compact`.
    pub config: Vec<(String, String)>,
}

/// Creates topics for the runtime.
pub trait TopicAdmin: Send + Sync {
    /// Creates each topic that does not exist yet; existing topics are left alone.
    fn create_topics(&self, topics: &[TopicSpec]) -> Result<()>;
}

/// Creates `topics` (those missing) through `config`'s topic admin if it has one (the embedded
/// broker sets one), else through Kafka's admin API with `config`'s client properties.
pub fn create_topics(config: &crate::StreamsConfig, topics: &[TopicSpec]) -> Result<()> {
    match config.topic_admin() {
        Some(admin) => admin.create_topics(topics),
        None => {
            let mut client = ClientConfig::new();
            for (key, value) in config.client_properties(crate::config::ClientKind::Admin) {
                client.set(key, value);
            }
            KafkaTopicAdmin::new(&client)?.create_topics(topics)
        }
    }
}

impl TopicSpec {
    /// A topic with `partitions` partitions, the broker's default replication and no configs.
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        TopicSpec {
            name: name.into(),
            partitions,
            replication_factor: -1,
            config: Vec::new(),
        }
    }
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

impl TopicAdmin for KafkaTopicAdmin {
    fn create_topics(&self, topics: &[TopicSpec]) -> Result<()> {
        if topics.is_empty() {
            return Ok(());
        }
        let new_topics: Vec<NewTopic<'_>> = topics
            .iter()
            .map(|spec| {
                let replication = if spec.replication_factor < 0 {
                    TopicReplication::Fixed(-1)
                } else {
                    TopicReplication::Fixed(spec.replication_factor)
                };
                spec.config.iter().fold(
                    NewTopic::new(&spec.name, spec.partitions, replication),
                    |topic, (k, v)| topic.set(k, v),
                )
            })
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
        let results = futures::executor::block_on(self.client.create_topics(&new_topics, &options))
            .map_err(|e| Error::kafka("creating internal topics", e))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(Error::kafka(
                        format!("creating topic `{topic}`"),
                        rdkafka::error::KafkaError::AdminOp(code),
                    ));
                }
            }
        }
        Ok(())
    }
}
