//! Planning a reset from what the cluster says ([`build`]), and carrying the plan out
//! ([`apply`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use super::cluster::{Partition, ResetCluster};
use super::{ApplicationReset, ResetTo, local};
use crate::config::ClientKind;
use crate::{Error, Result};

/// One partition's committed offset for the group, and the one a reset commits.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OffsetChange {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The group's committed offset now (`None`: none committed).
    pub current: Option<i64>,
    /// The offset the reset commits.
    pub new: i64,
    /// Why `new` is not what was asked for, when it is not (an offset kept within the
    /// partition, no record at or after a time).
    pub note: Option<String>,
}

/// An internal topic a reset deletes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopicDeletion {
    /// The topic.
    pub name: String,
    /// Whether the topology given names it; `None` when none was given. A topic found only
    /// by its name (`<application.id>-…-changelog`) may be left from an older version of the
    /// application, or belong to another application whose id starts with this one's.
    pub in_topology: Option<bool>,
}

/// What a reset does: see [`ApplicationReset::plan`](super::ApplicationReset::plan). Its
/// `Display` is the report the worker's `reset` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResetPlan {
    /// The application, and its consumer group.
    pub application_id: String,
    /// The input partitions' offsets, in topic and partition order.
    pub input_offsets: Vec<OffsetChange>,
    /// The intermediate partitions' offsets (to their end).
    pub intermediate_offsets: Vec<OffsetChange>,
    /// The internal topics deleted.
    pub topics_to_delete: Vec<TopicDeletion>,
    /// The local state directory wiped, if it holds state and is not kept.
    pub local_state: Option<PathBuf>,
    /// What the input offsets were reset to, in words.
    target: String,
}

/// Milliseconds since the epoch of `time` (0 before it).
fn epoch_millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The names Kafka's reset tool takes for internal topics (`matchesInternalTopicFormat`), and
/// this runtime's instance registry, `<application.id>-instances`: under `<application.id>-`.
pub(crate) fn is_internal_topic_name(application_id: &str, topic: &str) -> bool {
    let Some(rest) = topic
        .strip_prefix(application_id)
        .and_then(|r| r.strip_prefix('-'))
    else {
        return false;
    };
    if rest == "instances" {
        return true;
    }
    let fk = |kind: &str| {
        topic
            .strip_suffix("-topic")
            .and_then(|t| t.rsplit_once('-'))
            .is_some_and(|(head, number)| {
                !number.is_empty()
                    && number.bytes().all(|b| b.is_ascii_digit())
                    && head
                        .strip_suffix(kind)
                        .is_some_and(|before| before.len() > 1 && before.ends_with('-'))
            })
    };
    topic.ends_with("-changelog")
        || topic.ends_with("-repartition")
        || topic.ends_with("-subscription-registration-topic")
        || topic.ends_with("-subscription-response-topic")
        || fk("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION")
        || fk("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE")
}

/// `offset` kept within `[low, high]`, as Kafka's reset tool keeps it (`checkOffsetRange`),
/// with a note when it moved.
fn within(offset: i64, (low, high): (i64, i64)) -> (i64, Option<String>) {
    if offset >= high {
        let note = (offset > high).then(|| format!("{offset} is past the end: the end"));
        (high, note)
    } else if offset < low {
        (
            low,
            Some(format!(
                "{offset} is before the earliest offset: the earliest"
            )),
        )
    } else {
        (offset, None)
    }
}

/// Where the application starts a partition without a committed offset.
fn starts_at_end(reset: &ApplicationReset) -> bool {
    reset
        .config
        .client_properties(ClientKind::Consumer)
        .get("auto.offset.reset")
        .is_some_and(|v| matches!(v.as_str(), "latest" | "largest" | "end"))
}

fn refused(reset: &ApplicationReset, reason: String) -> Error {
    Error::ResetRefused {
        application_id: reset.application_id.clone(),
        reason,
    }
}

/// The partitions of `topics`, refusing topics the cluster does not have (`what` names them).
fn partitions_of(
    reset: &ApplicationReset,
    topics: &[String],
    existing: &BTreeMap<String, i32>,
    what: &str,
) -> Result<Vec<Partition>> {
    let missing: Vec<&String> = topics
        .iter()
        .filter(|t| !existing.contains_key(*t))
        .collect();
    if !missing.is_empty() {
        return Err(refused(
            reset,
            format!("{what} {missing:?} do not exist in the cluster"),
        ));
    }
    let unique: BTreeSet<&String> = topics.iter().collect();
    Ok(unique
        .into_iter()
        .flat_map(|t| (0..existing[t]).map(move |p| (t.clone(), p)))
        .collect())
}

/// Plans `reset` from what `cluster` says, `now` being the time of the reset.
pub(crate) fn build(
    reset: &ApplicationReset,
    cluster: &dyn ResetCluster,
    now: SystemTime,
) -> Result<ResetPlan> {
    let group = &reset.application_id;
    let description = cluster.describe_group(group)?;
    if !description.members.is_empty() {
        let members: Vec<String> = description
            .members
            .iter()
            .map(|m| format!("{} from {}", m.client_id, m.host))
            .collect();
        return Err(refused(
            reset,
            format!(
                "consumer group `{group}` has {} active member(s) ({}; group state {}): stop every instance of the application first (a member that stopped without leaving the group is removed after its session.timeout.ms)",
                members.len(),
                members.join(", "),
                description.state
            ),
        ));
    }
    let existing = cluster.topics()?;
    let inputs: Vec<String> = match (&reset.input_topics, &reset.topology) {
        (Some(topics), _) => topics.clone(),
        (None, Some(topology)) => topology.sources.clone(),
        (None, None) => Vec::new(),
    };
    let input_partitions = partitions_of(reset, &inputs, &existing, "input topics")?;
    let intermediate_partitions = partitions_of(
        reset,
        &reset.intermediate_topics,
        &existing,
        "intermediate topics",
    )?;
    let all: Vec<Partition> = input_partitions
        .iter()
        .chain(&intermediate_partitions)
        .cloned()
        .collect();
    let committed = cluster.committed(&all)?;
    let mut watermarks = BTreeMap::new();
    for partition in &all {
        watermarks.insert(partition.clone(), cluster.watermarks(partition)?);
    }

    let (target, input_offsets) = input_offsets(
        reset,
        cluster,
        &input_partitions,
        &committed,
        &watermarks,
        now,
    )?;
    let intermediate_offsets = intermediate_partitions
        .iter()
        .map(|p| OffsetChange {
            topic: p.0.clone(),
            partition: p.1,
            current: committed.get(p).copied(),
            new: watermarks[p].1,
            note: None,
        })
        .collect();

    let topics_to_delete = internal_topics(reset, &existing, &inputs)?;
    let local_state = if reset.clean_up_local_state {
        let dir = local::app_dir(&reset.config)?;
        local::has_state(&dir)?.then_some(dir)
    } else {
        None
    };
    Ok(ResetPlan {
        application_id: reset.application_id.clone(),
        input_offsets,
        intermediate_offsets,
        topics_to_delete,
        local_state,
        target,
    })
}

/// The new offsets of the input partitions, and what they were reset to in words.
fn input_offsets(
    reset: &ApplicationReset,
    cluster: &dyn ResetCluster,
    partitions: &[Partition],
    committed: &BTreeMap<Partition, i64>,
    watermarks: &BTreeMap<Partition, (i64, i64)>,
    now: SystemTime,
) -> Result<(String, Vec<OffsetChange>)> {
    let change = |p: &Partition, (new, note): (i64, Option<String>)| OffsetChange {
        topic: p.0.clone(),
        partition: p.1,
        current: committed.get(p).copied(),
        new,
        note,
    };
    let by_time = |timestamp: i64| -> Result<Vec<OffsetChange>> {
        let found = cluster.offsets_for_time(partitions, timestamp)?;
        Ok(partitions
            .iter()
            .map(|p| match found.get(p).copied().flatten() {
                Some(offset) => change(p, (offset, None)),
                None => change(
                    p,
                    (
                        watermarks[p].1,
                        Some("no record at or after the time: the end".into()),
                    ),
                ),
            })
            .collect())
    };
    let datetime = |ms: i64| format!("{} ({ms} ms)", super::parse::format_datetime(ms));
    Ok(match &reset.to {
        ResetTo::Earliest => (
            "the earliest offset".into(),
            partitions
                .iter()
                .map(|p| change(p, (watermarks[p].0, None)))
                .collect(),
        ),
        ResetTo::Latest => (
            "the end".into(),
            partitions
                .iter()
                .map(|p| change(p, (watermarks[p].1, None)))
                .collect(),
        ),
        ResetTo::Datetime(time) => {
            let ms = epoch_millis(*time);
            (
                format!("the first record at or after {}", datetime(ms)),
                by_time(ms)?,
            )
        }
        ResetTo::Duration(duration) => {
            let ms = epoch_millis(now.checked_sub(*duration).unwrap_or(UNIX_EPOCH));
            (
                format!(
                    "the first record at or after {duration:?} before now, {}",
                    datetime(ms)
                ),
                by_time(ms)?,
            )
        }
        ResetTo::Offset(offset) => (
            format!("offset {offset}"),
            partitions
                .iter()
                .map(|p| change(p, within(*offset, watermarks[p])))
                .collect(),
        ),
        ResetTo::Offsets(offsets) => {
            let known: BTreeSet<&Partition> = partitions.iter().collect();
            let unknown: Vec<String> = offsets
                .keys()
                .filter(|p| !known.contains(p))
                .map(|(t, p)| format!("{t}-{p}"))
                .collect();
            if !unknown.is_empty() {
                return Err(refused(
                    reset,
                    format!(
                        "offsets are given for {unknown:?}, which are not partitions of the input topics"
                    ),
                ));
            }
            let unlisted: Vec<String> = partitions
                .iter()
                .filter(|p| !offsets.contains_key(*p))
                .map(|(t, p)| format!("{t}-{p}"))
                .collect();
            if !unlisted.is_empty() {
                return Err(refused(
                    reset,
                    format!(
                        "no offset is given for input partitions {unlisted:?}: list every partition, or name fewer input topics"
                    ),
                ));
            }
            (
                "the offsets given".into(),
                partitions
                    .iter()
                    .map(|p| change(p, within(offsets[p], watermarks[p])))
                    .collect(),
            )
        }
        ResetTo::ShiftBy(shift) => {
            let at_end = starts_at_end(reset);
            (
                format!("the committed offset shifted by {shift}"),
                partitions
                    .iter()
                    .map(|p| {
                        let (low, high) = watermarks[p];
                        let from =
                            committed
                                .get(p)
                                .copied()
                                .unwrap_or(if at_end { high } else { low });
                        change(p, within(from.saturating_add(*shift), (low, high)))
                    })
                    .collect(),
            )
        }
    })
}

/// The internal topics to delete: found by name (as Kafka's tool finds them) and named by the
/// topology, never an input or intermediate topic; only those asked for when some are.
fn internal_topics(
    reset: &ApplicationReset,
    existing: &BTreeMap<String, i32>,
    inputs: &[String],
) -> Result<Vec<TopicDeletion>> {
    let app = &reset.application_id;
    let user: BTreeSet<&String> = inputs.iter().chain(&reset.intermediate_topics).collect();
    let of_topology = reset.topology.as_ref().map(|t| &t.internal);
    let found: Vec<TopicDeletion> = existing
        .keys()
        .filter(|t| !user.contains(t))
        .filter(|t| {
            is_internal_topic_name(app, t) || of_topology.is_some_and(|names| names.contains(*t))
        })
        .map(|t| TopicDeletion {
            name: t.clone(),
            in_topology: of_topology.map(|names| names.contains(t)),
        })
        .collect();
    let Some(asked) = &reset.internal_topics else {
        return Ok(found);
    };
    let not_internal: Vec<&String> = asked
        .iter()
        .filter(|t| !found.iter().any(|f| &f.name == *t))
        .collect();
    if !not_internal.is_empty() {
        return Err(refused(
            reset,
            format!(
                "{not_internal:?} are not internal topics of the application in the cluster (a dry run without the internal topics named lists them)"
            ),
        ));
    }
    Ok(found
        .into_iter()
        .filter(|f| asked.contains(&f.name))
        .collect())
}

/// Carries out `plan` on the cluster: commits its offsets for the group, then deletes its
/// topics. (The caller wipes the local state.)
pub(crate) fn apply(plan: &ResetPlan, cluster: &dyn ResetCluster) -> Result<()> {
    let offsets: BTreeMap<Partition, i64> = plan
        .input_offsets
        .iter()
        .chain(&plan.intermediate_offsets)
        .map(|c| ((c.topic.clone(), c.partition), c.new))
        .collect();
    cluster.commit(&offsets)?;
    let topics: Vec<String> = plan
        .topics_to_delete
        .iter()
        .map(|t| t.name.clone())
        .collect();
    cluster.delete_topics(&topics)
}

impl fmt::Display for ResetPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let app = &self.application_id;
        writeln!(
            f,
            "Reset of application `{app}` (consumer group `{app}`: no active members)"
        )?;
        let offsets = |f: &mut fmt::Formatter<'_>, changes: &[OffsetChange]| -> fmt::Result {
            if changes.is_empty() {
                return writeln!(f, "  (none)");
            }
            for c in changes {
                let current = c.current.map_or("none".to_string(), |o| o.to_string());
                write!(f, "  {}-{}: {current} -> {}", c.topic, c.partition, c.new)?;
                match &c.note {
                    Some(note) => writeln!(f, " ({note})")?,
                    None => writeln!(f)?,
                }
            }
            Ok(())
        };
        writeln!(f, "Input topic offsets, to {}:", self.target)?;
        offsets(f, &self.input_offsets)?;
        if !self.intermediate_offsets.is_empty() {
            writeln!(f, "Intermediate topic offsets, to the end:")?;
            offsets(f, &self.intermediate_offsets)?;
        }
        writeln!(f, "Internal topics to delete:")?;
        if self.topics_to_delete.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for topic in &self.topics_to_delete {
            match topic.in_topology {
                Some(false) => writeln!(
                    f,
                    "  {} (found by its name; not a topic of the topology)",
                    topic.name
                )?,
                _ => writeln!(f, "  {}", topic.name)?,
            }
        }
        match &self.local_state {
            Some(dir) => writeln!(f, "Local state to wipe: {}", dir.display()),
            None => writeln!(f, "Local state to wipe: none"),
        }
    }
}

#[cfg(test)]
mod tests;
