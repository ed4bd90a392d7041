//! The parts of librdkafka's consumer statistics the stream thread reads: its consumer emits
//! them every `statistics.interval.ms` (5 s unless the user set it), and its context parses
//! each JSON once for the consumer-lag metric and the [`FetchWatch`](super::fetch_watch).
//! serde skips the rest of the JSON without keeping it.

use std::collections::HashMap;

use serde::Deserialize;

/// One statistics JSON, as far as it is read.
#[derive(Deserialize, Default)]
pub(crate) struct Statistics {
    #[serde(default)]
    pub(crate) topics: HashMap<String, TopicStatistics>,
}

/// A topic's entry of [`Statistics`].
#[derive(Deserialize)]
pub(crate) struct TopicStatistics {
    #[serde(default)]
    pub(crate) partitions: HashMap<String, PartitionStatistics>,
}

/// A partition's entry of [`TopicStatistics`] (librdkafka's `STATISTICS.md`).
#[derive(Deserialize)]
pub(crate) struct PartitionStatistics {
    /// -1 for librdkafka's internal partition (messages not yet assigned one).
    pub(crate) partition: i32,
    /// The end (high watermark, or last stable offset under `read_committed`) minus the
    /// committed offset; -1 when unknown.
    #[serde(default = "unknown")]
    pub(crate) consumer_lag: i64,
    /// The broker the partition is fetched from (-1: none).
    #[serde(default = "unknown_i32")]
    pub(crate) broker: i32,
    /// The partition's leader, as the client's metadata says (-1: unknown).
    #[serde(default = "unknown_i32")]
    pub(crate) leader: i32,
    /// `none`, `stopped`, `offset-query`, `active`, …
    #[serde(default)]
    pub(crate) fetch_state: String,
    /// The offset the next fetch starts at.
    #[serde(default = "unknown")]
    pub(crate) next_offset: i64,
}

fn unknown() -> i64 {
    -1
}

fn unknown_i32() -> i32 {
    -1
}

/// Parses one statistics JSON.
pub(crate) fn parse(stats: &[u8]) -> serde_json::Result<Statistics> {
    serde_json::from_slice(stats)
}

impl Statistics {
    /// Every partition entry with its topic, librdkafka's internal partition (-1) left out.
    pub(crate) fn partitions(&self) -> impl Iterator<Item = (&str, &PartitionStatistics)> {
        self.topics.iter().flat_map(|(topic, t)| {
            t.partitions
                .values()
                .filter(|p| p.partition >= 0)
                .map(move |p| (topic.as_str(), p))
        })
    }
}
