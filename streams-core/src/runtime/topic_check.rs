//! Checking internal topics that already exist against what the topology needs: a changelog
//! or repartition topic with the wrong partition count, or a cleanup policy that would lose
//! records, is a clear error at start instead of silent corruption later.

use std::collections::BTreeMap;

use super::admin::TopicSpec;
use crate::{Error, Result};

fn policies(value: &str) -> Vec<&str> {
    value
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

/// Checks `spec` against the topic's partition count and (when known) configs.
pub(crate) fn check(
    spec: &TopicSpec,
    partitions: i32,
    configs: Option<&BTreeMap<String, String>>,
) -> Result<()> {
    if partitions != spec.partitions {
        return Err(Error::Topology(format!(
            "internal topic `{}` has {partitions} partitions but the topology needs {}: its tasks' state and keys would not line up; delete the topic (and reset the application) or fix the topology",
            spec.name, spec.partitions
        )));
    }
    let (Some(configs), Some((_, wanted))) = (
        configs,
        spec.config.iter().find(|(k, _)| k == "cleanup.policy"),
    ) else {
        return Ok(());
    };
    let actual = configs
        .get("cleanup.policy")
        .map_or("delete", String::as_str);
    let (wanted, found) = (policies(wanted), policies(actual));
    let ok = if wanted.contains(&"compact") {
        // A changelog: compaction keeps every key's latest value.
        found.contains(&"compact")
    } else {
        // A repartition topic: compaction would drop records not yet consumed.
        !found.contains(&"compact")
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Topology(format!(
            "internal topic `{}` has cleanup.policy={actual} but needs {}: fix the topic's config",
            spec.name,
            wanted.join(",")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(policy: &str) -> TopicSpec {
        TopicSpec {
            name: "app-store-changelog".into(),
            partitions: 4,
            replication_factor: -1,
            config: vec![("cleanup.policy".into(), policy.into())],
        }
    }

    fn configs(policy: &str) -> BTreeMap<String, String> {
        BTreeMap::from([("cleanup.policy".to_string(), policy.to_string())])
    }

    #[test]
    fn wrong_partition_counts_are_errors() {
        let err = check(&spec("compact"), 2, None).expect_err("2 != 4");
        assert!(
            err.to_string()
                .contains("has 2 partitions but the topology needs 4"),
            "{err}"
        );
        check(&spec("compact"), 4, None).expect("configs unknown: only the count is checked");
    }

    #[test]
    fn changelogs_must_be_compacted_and_repartition_topics_must_not() {
        check(&spec("compact"), 4, Some(&configs("compact"))).expect("compacted changelog");
        check(&spec("compact,delete"), 4, Some(&configs("delete,compact"))).expect("windowed");
        let err = check(&spec("compact"), 4, Some(&configs("delete"))).expect_err("not compacted");
        assert!(
            err.to_string()
                .contains("cleanup.policy=delete but needs compact"),
            "{err}"
        );
        check(&spec("delete"), 4, Some(&configs("delete"))).expect("repartition");
        check(&spec("delete"), 4, Some(&BTreeMap::new())).expect("broker default: delete");
        check(&spec("delete"), 4, Some(&configs("compact"))).expect_err("compacted repartition");
    }
}
