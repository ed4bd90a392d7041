//! [`TaskId`]: which sub-topology and partition a task runs.

use std::fmt;
use std::str::FromStr;

/// A task: one sub-topology over one partition number of its source topics. Printed as
/// `<subtopology>_<partition>`, as in Kafka Streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId {
    /// The sub-topology's id.
    pub subtopology: u32,
    /// The partition number.
    pub partition: i32,
}

impl TaskId {
    /// The task for `subtopology` and `partition`.
    pub fn new(subtopology: u32, partition: i32) -> Self {
        TaskId {
            subtopology,
            partition,
        }
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}", self.subtopology, self.partition)
    }
}

impl FromStr for TaskId {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (sub, partition) = s
            .split_once('_')
            .ok_or_else(|| format!("task id `{s}` is not `<subtopology>_<partition>`"))?;
        Ok(TaskId {
            subtopology: sub
                .parse()
                .map_err(|_| format!("bad sub-topology in task id `{s}`"))?,
            partition: partition
                .parse()
                .map_err(|_| format!("bad partition in task id `{s}`"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_and_parses() {
        let id = TaskId::new(1, 3);
        assert_eq!(id.to_string(), "1_3");
        assert_eq!("1_3".parse::<TaskId>(), Ok(id));
        assert!("13".parse::<TaskId>().is_err());
        assert!("a_3".parse::<TaskId>().is_err());
    }
}
