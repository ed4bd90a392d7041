//! `topology.optimization`: which rewrites [`StreamsBuilder::build_with`] applies to the
//! topology it builds, as Kafka Streams' `StreamsBuilder.build(Properties)` does.
//!
//! [`StreamsBuilder::build_with`]: crate::dsl::StreamsBuilder::build_with

use super::{StreamsConfig, TOPOLOGY_OPTIMIZATION};
use crate::{Error, Result};

/// `none`: no optimization (the default).
pub const NO_OPTIMIZATION: &str = "none";
/// `all`: every optimization.
pub const OPTIMIZE: &str = "all";
/// `reuse.ktable.source.topics`: a table read with `StreamsBuilder::table` keeps no
/// changelog topic; its store is restored from the input topic itself.
pub const REUSE_KTABLE_SOURCE_TOPICS: &str = "reuse.ktable.source.topics";
/// `merge.repartition.topics`: the repartition topics that one key-changing operation feeds
/// become one topic, right after that operation.
pub const MERGE_REPARTITION_TOPICS: &str = "merge.repartition.topics";
/// `single.store.self.join`: accepted, as Kafka Streams names it, and not applied: a stream
/// joined with itself keeps its two window stores.
pub const SINGLE_STORE_SELF_JOIN: &str = "single.store.self.join";

/// The optimizations `topology.optimization` asks for.
///
/// ```
/// use streams_core::StreamsConfig;
///
/// let mut config = StreamsConfig::new();
/// assert!(config.topology_optimization()?.is_none());
/// config.set("topology.optimization", "all");
/// let all = config.topology_optimization()?;
/// assert!(all.reuse_ktable_source_topics && all.merge_repartition_topics);
/// config.set("topology.optimization", "merge.repartition.topics");
/// assert!(!config.topology_optimization()?.reuse_ktable_source_topics);
/// config.set("topology.optimization", "all,none");
/// assert!(config.topology_optimization().is_err());
/// # Ok::<(), streams_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopologyOptimizations {
    /// [`REUSE_KTABLE_SOURCE_TOPICS`].
    pub reuse_ktable_source_topics: bool,
    /// [`MERGE_REPARTITION_TOPICS`].
    pub merge_repartition_topics: bool,
    /// [`SINGLE_STORE_SELF_JOIN`] (accepted; not applied).
    pub single_store_self_join: bool,
}

impl TopologyOptimizations {
    /// No optimization.
    pub fn none() -> Self {
        Self::default()
    }

    /// Every optimization.
    pub fn all() -> Self {
        TopologyOptimizations {
            reuse_ktable_source_topics: true,
            merge_repartition_topics: true,
            single_store_self_join: true,
        }
    }

    /// Whether nothing is asked for.
    pub fn is_none(&self) -> bool {
        *self == Self::none()
    }

    /// Parses a value of `topology.optimization` as Kafka Streams does: `none`, `all`, or a
    /// comma-separated list of the optimizations' names (spaces around commas allowed);
    /// `none` and `all` stand alone.
    pub fn parse(value: &str) -> Result<Self> {
        let names: Vec<&str> = value.split(',').map(str::trim).collect();
        let refuse = |reason: String| Error::Config {
            key: TOPOLOGY_OPTIMIZATION.into(),
            reason,
        };
        let alone = names
            .iter()
            .any(|n| *n == NO_OPTIMIZATION || *n == OPTIMIZE);
        if alone && names.len() > 1 {
            return Err(refuse(format!(
                "`{value}`: `{NO_OPTIMIZATION}` and `{OPTIMIZE}` cannot be listed with other values"
            )));
        }
        let mut chosen = Self::none();
        for name in names {
            match name {
                NO_OPTIMIZATION => {}
                OPTIMIZE => chosen = Self::all(),
                REUSE_KTABLE_SOURCE_TOPICS => chosen.reuse_ktable_source_topics = true,
                MERGE_REPARTITION_TOPICS => chosen.merge_repartition_topics = true,
                SINGLE_STORE_SELF_JOIN => chosen.single_store_self_join = true,
                other => {
                    return Err(refuse(format!(
                        "`{other}` is not an optimization: use `{NO_OPTIMIZATION}`, `{OPTIMIZE}` or a comma-separated list of `{REUSE_KTABLE_SOURCE_TOPICS}`, `{MERGE_REPARTITION_TOPICS}` and `{SINGLE_STORE_SELF_JOIN}`"
                    )));
                }
            }
        }
        Ok(chosen)
    }
}

impl StreamsConfig {
    /// `topology.optimization`: `none` (the default), `all`, or a comma-separated list of
    /// [`REUSE_KTABLE_SOURCE_TOPICS`], [`MERGE_REPARTITION_TOPICS`] and
    /// [`SINGLE_STORE_SELF_JOIN`]. It takes effect where the topology is built:
    /// [`StreamsBuilder::build_with`](crate::dsl::StreamsBuilder::build_with).
    pub fn topology_optimization(&self) -> Result<TopologyOptimizations> {
        self.get(TOPOLOGY_OPTIMIZATION).map_or(
            Ok(TopologyOptimizations::none()),
            TopologyOptimizations::parse,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_as_kafka_streams_parses_them() {
        let parse = |v: &str| TopologyOptimizations::parse(v);
        assert_eq!(parse("none").unwrap(), TopologyOptimizations::none());
        assert_eq!(parse("all").unwrap(), TopologyOptimizations::all());
        let both = parse("reuse.ktable.source.topics , merge.repartition.topics").unwrap();
        assert!(both.reuse_ktable_source_topics && both.merge_repartition_topics);
        assert!(!both.single_store_self_join);
        let one = parse("single.store.self.join").unwrap();
        assert!(one.single_store_self_join && !one.merge_repartition_topics);
        for bad in [
            "all,none",
            "none,merge.repartition.topics",
            "ALL",
            "",
            "merge",
        ] {
            let err = parse(bad).expect_err(bad);
            assert!(err.to_string().contains("topology.optimization"), "{err}");
        }
    }
}
