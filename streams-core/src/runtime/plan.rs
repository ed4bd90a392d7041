//! Planning topics before start: how many partitions (and so tasks) each sub-topology has, and
//! which internal topics to create with how many partitions.
//!
//! As in Kafka Streams: a sub-topology has as many tasks as its source topics' largest partition
//! count; a repartition topic gets the task count of the sub-topology that writes it; a changelog
//! gets the task count of the sub-topology that owns its store.

use std::collections::HashMap;

use super::admin::TopicSpec;
use crate::state::StoreKind;
use crate::topology::{Subtopology, Topology};
use crate::{Error, Result};

/// The result of planning.
#[derive(Debug, Clone)]
pub(crate) struct TopicPlan {
    /// Sub-topology reading each physical source topic.
    pub(crate) topic_to_subtopology: rustc_hash::FxHashMap<String, u32>,
    /// Physical source topics, to subscribe to.
    pub(crate) source_topics: Vec<String>,
    /// Internal topics to create.
    pub(crate) internal_topics: Vec<TopicSpec>,
    /// Physical names of internal topics, by topology name.
    pub(crate) internal_names: HashMap<String, String>,
    /// How many tasks (partitions) each sub-topology has.
    pub(crate) task_counts: std::collections::BTreeMap<u32, i32>,
    /// The changelog topics of this application's stores (not recognised by their names: a
    /// user's topic may end in `-changelog` too).
    pub(crate) changelog_topics: std::collections::HashSet<String>,
}

/// Plans the topics of `topology` for application `app_id`; `partitions` looks up the partition
/// count of an existing topic (`None` if it does not exist).
pub(crate) fn plan(
    topology: &Topology,
    app_id: &str,
    replication_factor: i32,
    mut partitions: impl FnMut(&str) -> Result<Option<i32>>,
) -> Result<TopicPlan> {
    let subs = topology.subtopologies();
    let internal = topology.internal_topics();
    let mut counts: HashMap<String, i32> = HashMap::new();
    for sub in &subs {
        for topic in sub.source_topics.iter().filter(|t| !internal.contains(*t)) {
            let count =
                partitions(topic)?.ok_or_else(|| Error::MissingSourceTopic(topic.clone()))?;
            counts.insert(topic.clone(), count);
        }
    }
    // Resolve internal topics from their writers, as Kafka Streams does: a topic gets the
    // largest partition count among the known source topics of the sub-topologies writing it.
    // Iterate to a fixpoint, so chains and cycles (foreign-key joins) settle; counts only grow.
    let task_count = |sub: &Subtopology, counts: &HashMap<String, i32>| -> Option<i32> {
        sub.source_topics
            .iter()
            .filter_map(|t| counts.get(t).copied())
            .max()
    };
    for _ in 0..=subs.len() + internal.len() {
        let mut changed = false;
        for topic in internal {
            let resolved = match topology.internal_topic_partitions(topic) {
                Some(fixed) => Some(fixed),
                None => subs
                    .iter()
                    .filter(|s| s.sink_topics.contains(topic))
                    .filter_map(|s| task_count(s, &counts))
                    .max(),
            };
            if let Some(n) = resolved
                && counts.get(topic) != Some(&n)
            {
                counts.insert(topic.clone(), n);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    // Joined inputs must be co-partitioned: user topics must agree, and repartition topics
    // feeding a join take their partition count (as Kafka Streams' copartitioning enforcer).
    for id in topology.copartitioned_subtopologies(&subs) {
        let Some(sub) = subs.iter().find(|s| s.id == id) else {
            continue;
        };
        let user: Vec<(&String, i32)> = sub
            .source_topics
            .iter()
            .filter(|t| !internal.contains(*t))
            .filter_map(|t| counts.get(t).map(|c| (t, *c)))
            .collect();
        if user.windows(2).any(|w| w[0].1 != w[1].1) {
            let listed: Vec<String> = user
                .iter()
                .map(|(t, c)| format!("{t} ({c} partitions)"))
                .collect();
            return Err(Error::Topology(format!(
                "topics [{}] are joined in sub-topology {id} but are not co-partitioned: they must have the same number of partitions",
                listed.join(", ")
            )));
        }
        let target = match user.first() {
            Some((_, c)) => *c,
            None => sub
                .source_topics
                .iter()
                .filter_map(|t| counts.get(t))
                .copied()
                .max()
                .unwrap_or(1),
        };
        for topic in sub.source_topics.iter().filter(|t| internal.contains(*t)) {
            if topology.internal_topic_partitions(topic).is_none() {
                counts.insert(topic.clone(), target);
            }
        }
    }
    let mut topic_to_subtopology = rustc_hash::FxHashMap::default();
    let mut source_topics = Vec::new();
    let mut internal_topics = Vec::new();
    let mut task_counts = std::collections::BTreeMap::new();
    for sub in &subs {
        let count = task_count(sub, &counts).ok_or_else(|| {
            Error::Topology(format!(
                "cannot tell how many partitions sub-topology {} has: an internal topic it reads is written by no sub-topology with known partitions",
                sub.id
            ))
        })?;
        task_counts.insert(sub.id, count);
        for topic in &sub.source_topics {
            let physical = topology.physical_topic(app_id, topic);
            topic_to_subtopology.insert(physical.clone(), sub.id);
            source_topics.push(physical);
        }
        // A source table's store restored from its input topic has no topic to create: the
        // input topic is the user's.
        for store in &sub.stores {
            if let Some(builder) = topology
                .store(store)
                .filter(|_| topology.store_has_own_changelog(store))
            {
                internal_topics.push(TopicSpec {
                    name: Topology::changelog_topic(app_id, store),
                    partitions: count,
                    replication_factor,
                    config: changelog_config(builder.kind()),
                });
            }
        }
    }
    for topic in internal {
        let count = counts.get(topic).copied().ok_or_else(|| {
            Error::Topology(format!("no sub-topology writes internal topic `{topic}`"))
        })?;
        internal_topics.push(TopicSpec {
            name: topology.physical_topic(app_id, topic),
            partitions: count,
            replication_factor,
            config: vec![("cleanup.policy".into(), "delete".into())],
        });
    }
    internal_topics.sort_by(|a, b| a.name.cmp(&b.name));
    let changelog_topics = topology
        .subtopologies()
        .iter()
        .flat_map(|sub| sub.stores.iter())
        .filter(|store| topology.store_has_own_changelog(store))
        .map(|store| Topology::changelog_topic(app_id, store))
        .collect();
    Ok(TopicPlan {
        changelog_topics,
        topic_to_subtopology,
        source_topics,
        internal_topics,
        internal_names: topology.internal_topic_names(app_id),
        task_counts,
    })
}

/// Kafka Streams' `windowstore.changelog.additional.retention.ms` default: a windowed
/// changelog keeps records this long past the store's retention.
const WINDOWED_CHANGELOG_EXTRA_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// A changelog's topic configs: compacted; a windowed or session store's also deletes what
/// its store no longer keeps; a versioned store's keeps every record at least its history
/// retention plus a day before compaction may drop it, so older versions survive in the log
/// (as Kafka Streams configures them).
fn changelog_config(kind: StoreKind) -> Vec<(String, String)> {
    match kind {
        StoreKind::KeyValue { .. } => vec![("cleanup.policy".into(), "compact".into())],
        StoreKind::Versioned {
            history_retention_ms,
            ..
        } => vec![
            ("cleanup.policy".into(), "compact".into()),
            (
                "min.compaction.lag.ms".into(),
                history_retention_ms
                    .saturating_add(WINDOWED_CHANGELOG_EXTRA_RETENTION_MS)
                    .to_string(),
            ),
        ],
        StoreKind::Window { retention_ms, .. } | StoreKind::Session { retention_ms } => vec![
            ("cleanup.policy".into(), "compact,delete".into()),
            (
                "retention.ms".into(),
                retention_ms
                    .saturating_add(WINDOWED_CHANGELOG_EXTRA_RETENTION_MS)
                    .to_string(),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{Consumed, Materialized, StreamsBuilder};
    use crate::serde::Serdes;

    #[test]
    fn repartition_and_changelog_topics_follow_the_writers() {
        let builder = StreamsBuilder::new();
        builder
            .stream("words", Consumed::with(Serdes::string(), Serdes::string()))
            .group_by(|_k, v: &String| v.clone())
            .count(Materialized::as_("counts"))
            .to_stream()
            .to("out");
        let topology = builder.build().unwrap();
        let plan = plan(&topology, "app", -1, |t| Ok((t == "words").then_some(6))).unwrap();
        let names: Vec<_> = plan
            .internal_topics
            .iter()
            .map(|t| (t.name.as_str(), t.partitions))
            .collect();
        assert_eq!(
            names,
            vec![("app-counts-changelog", 6), ("app-counts-repartition", 6)]
        );
        assert_eq!(
            plan.topic_to_subtopology.get("app-counts-repartition"),
            Some(&1)
        );
        let missing = super::plan(&topology, "app", -1, |_| Ok(None));
        assert!(matches!(missing, Err(Error::MissingSourceTopic(t)) if t == "words"));
    }

    #[test]
    fn joined_topics_must_be_co_partitioned_and_repartition_topics_follow() {
        let builder = StreamsBuilder::new();
        let table = builder.table(
            "users",
            Consumed::with(Serdes::string(), Serdes::string()),
            Materialized::default(),
        );
        builder
            .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
            .join_table(&table, |a: &String, b: &String| format!("{a}{b}"))
            .to("out");
        let topology = builder.build().unwrap();
        let err = plan(&topology, "app", -1, |t| {
            Ok(Some(if t == "users" { 4 } else { 6 }))
        })
        .unwrap_err();
        assert!(err.to_string().contains("not co-partitioned"), "{err}");
        assert!(err.to_string().contains("users (4 partitions)"), "{err}");
        assert!(plan(&topology, "app", -1, |_| Ok(Some(4))).is_ok());

        // A re-keyed stream joining a 3-partition table repartitions into 3 partitions.
        let builder = StreamsBuilder::new();
        let table = builder.table(
            "users",
            Consumed::with(Serdes::string(), Serdes::string()),
            Materialized::default(),
        );
        builder
            .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
            .select_key(|_k, v: &String| v.clone())
            .join_table(&table, |a: &String, b: &String| format!("{a}{b}"))
            .to("out");
        let topology = builder.build().unwrap();
        let plan = plan(&topology, "app", -1, |t| {
            Ok(Some(if t == "users" { 3 } else { 8 }))
        })
        .unwrap();
        let repartition = plan
            .internal_topics
            .iter()
            .find(|t| t.name.ends_with("-repartition"))
            .unwrap();
        assert_eq!(repartition.partitions, 3);
    }

    #[test]
    fn a_versioned_store_changelog_keeps_records_its_history_retention_plus_a_day() {
        // Kafka Streams' VersionedChangelogTopicConfig: compacted, with a minimum compaction
        // lag of the history retention plus 24 h; the grace buffer is a plain compacted log.
        let builder = StreamsBuilder::new();
        let rates = builder.table(
            "rates",
            Consumed::with(Serdes::string(), Serdes::i64()),
            Materialized::as_versioned("rates", std::time::Duration::from_secs(600)),
        );
        builder
            .stream("payments", Consumed::with(Serdes::string(), Serdes::i64()))
            .join_table_with(
                &rates,
                |a: &i64, b: &i64| a * b,
                crate::dsl::Joined::as_("convert")
                    .with_grace_period(std::time::Duration::from_secs(1)),
            )
            .to("out");
        let topology = builder.build().unwrap();
        let plan = plan(&topology, "app", -1, |_| Ok(Some(2))).unwrap();
        let config = |name: &str| {
            plan.internal_topics
                .iter()
                .find(|t| t.name == name)
                .map(|t| t.config.clone())
        };
        assert_eq!(
            config("app-rates-changelog"),
            Some(vec![
                ("cleanup.policy".to_string(), "compact".to_string()),
                ("min.compaction.lag.ms".to_string(), "87000000".to_string()),
            ])
        );
        assert_eq!(
            config("app-convert-Buffer-changelog"),
            Some(vec![("cleanup.policy".to_string(), "compact".to_string())])
        );
    }
}
