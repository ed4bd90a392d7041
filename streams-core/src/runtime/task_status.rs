//! [`TaskStatus`]: what each local task is doing (active or standby, restoring or running, how
//! far its changelogs are read), as [`KafkaStreams::task_statuses`](super::KafkaStreams::task_statuses)
//! and the worker's `/tasks` endpoint report it.

use serde::Serialize;

use crate::TaskId;

/// Whether a task processes records here or keeps a warm copy of another instance's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum TaskKind {
    /// Processes its input partitions on a stream thread of this instance.
    Active,
    /// Follows the changelogs of a task active elsewhere (`num.standby.replicas`).
    Standby,
}

/// What a local task is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum TaskPhase {
    /// Restoring its stores from their changelogs before it processes.
    Restoring,
    /// Processing (active) or following its changelogs (standby).
    Running,
}

/// How far a task has read one of its changelog partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ChangelogProgress {
    /// The store the changelog backs.
    pub store: String,
    /// The changelog topic.
    pub topic: String,
    /// Its partition.
    pub partition: i32,
    /// The next offset to read (everything before it is in the store).
    pub position: i64,
    /// The offset restoration reads up to, or for a standby the partition's end as last
    /// fetched; `None` when not known yet.
    pub end: Option<i64>,
}

impl ChangelogProgress {
    /// Records between the store and the changelog's end (0 when caught up or unknown).
    pub fn lag(&self) -> i64 {
        self.end.map_or(0, |end| (end - self.position).max(0))
    }
}

/// A local task, active or standby.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TaskStatus {
    /// The task, as `<sub-topology>_<partition>`.
    #[serde(serialize_with = "display")]
    pub id: TaskId,
    /// Active or standby.
    pub kind: TaskKind,
    /// Restoring or running.
    pub phase: TaskPhase,
    /// The stream thread running an active task.
    pub thread: Option<String>,
    /// Its changelog partitions being restored or followed (empty for a stateless task, or
    /// once an active task's stores are restored).
    pub changelogs: Vec<ChangelogProgress>,
}

impl TaskStatus {
    pub(crate) fn new(id: TaskId, kind: TaskKind, thread: Option<String>) -> Self {
        TaskStatus {
            id,
            kind,
            phase: match kind {
                TaskKind::Active => TaskPhase::Restoring,
                TaskKind::Standby => TaskPhase::Running,
            },
            thread,
            changelogs: Vec::new(),
        }
    }

    /// Records between the task's stores and their changelogs' ends, over all of them.
    pub fn lag(&self) -> i64 {
        self.changelogs.iter().map(ChangelogProgress::lag).sum()
    }

    /// The progress of `topic`-`partition`, added if new.
    pub(crate) fn changelog(
        &mut self,
        store: &str,
        topic: &str,
        partition: i32,
    ) -> &mut ChangelogProgress {
        let at = match self
            .changelogs
            .iter()
            .position(|c| c.topic == topic && c.partition == partition)
        {
            Some(at) => at,
            None => {
                self.changelogs.push(ChangelogProgress {
                    store: store.to_string(),
                    topic: topic.to_string(),
                    partition,
                    position: 0,
                    end: None,
                });
                self.changelogs.len() - 1
            }
        };
        &mut self.changelogs[at]
    }
}

fn display<S: serde::Serializer>(id: &TaskId, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_sums_changelogs_and_ignores_unknown_ends() {
        let mut status = TaskStatus::new(TaskId::new(0, 1), TaskKind::Standby, None);
        status.changelog("s", "t", 1).position = 10;
        status.changelog("s", "t", 1).end = Some(25);
        status.changelog("s2", "t2", 1).position = 3;
        assert_eq!(status.changelogs.len(), 2);
        assert_eq!(status.lag(), 15);
        let json = serde_json::to_value(&status).unwrap_or_default();
        assert_eq!(json["id"], "0_1");
        assert_eq!(json["kind"], "STANDBY");
    }
}
