//! Reprocessing: resetting an application so that it processes its input again, and wiping
//! an instance's local state — Kafka's `kafka-streams-application-reset` tool and
//! `KafkaStreams.cleanUp()`.
//!
//! [`ApplicationReset`] does, for the consumer group `application.id`:
//!
//! 1. refuses while the group has members (stop every instance first);
//! 2. moves the group's committed offsets of the **input topics** (by default those the
//!    topology reads) to where reprocessing starts ([`ResetTo`]: the earliest offset by
//!    default, the end, a datetime, a duration before now, explicit offsets, or a shift), and
//!    those of **intermediate topics** (topics the application writes and reads back) to
//!    their end;
//! 3. deletes the application's **internal topics**: its changelogs, repartition topics,
//!    foreign-key subscription topics and instance registry, found as Kafka's tool finds them
//!    (names that start with `<application.id>-` and end like an internal topic), and, with
//!    [`topology`](ApplicationReset::topology), the ones the topology names;
//! 4. wipes this machine's local state, `<state.dir>/<application.id>` ([`clean_up`]).
//!
//! [`plan`](ApplicationReset::plan) is the dry run: it returns the [`ResetPlan`] (each
//! partition's committed offset and the new one, the topics to delete, the directory to wipe)
//! and changes nothing. Output topics are never touched. Another machine that ran an instance
//! keeps its own state directory: wipe it there too ([`clean_up`],
//! [`KafkaStreams::clean_up`](crate::KafkaStreams::clean_up) or the worker's `reset`) before
//! starting an instance on it.
//!
//! ```no_run
//! use streams_core::reset::{ApplicationReset, ResetTo};
//! use streams_core::StreamsConfig;
//! # fn topology() -> streams_core::Topology { streams_core::Topology::new() }
//!
//! let mut config = StreamsConfig::new();
//! config
//!     .set("application.id", "word-count")
//!     .set("bootstrap.servers", "kafka:9092")
//!     .set("state.dir", "/var/lib/word-count");
//! let reset = ApplicationReset::new(&config)?
//!     .topology(&topology())
//!     .to(ResetTo::Duration(std::time::Duration::from_secs(24 * 3600)));
//! println!("{}", reset.plan()?); // the dry run
//! reset.execute()?;
//! # Ok::<(), streams_core::Error>(())
//! ```

mod cluster;
mod group;
mod local;
mod parse;
mod plan;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime};

pub use parse::{parse_datetime, parse_duration, parse_offsets_csv};
pub use plan::{OffsetChange, ResetPlan, TopicDeletion};

use crate::{Error, Result, StreamsConfig, Topology};

/// Where a reset moves the committed offsets of the input topics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResetTo {
    /// The earliest offset still in each partition (Kafka's default).
    #[default]
    Earliest,
    /// The end of each partition: only records written after the reset are processed.
    Latest,
    /// The first record whose timestamp is at or after this time; the end where there is
    /// none.
    Datetime(SystemTime),
    /// [`Datetime`](Self::Datetime) of this long before the reset.
    Duration(Duration),
    /// This offset in every partition, kept within the partition's earliest and end offsets.
    Offset(i64),
    /// These offsets, one for every partition of the input topics, each kept within its
    /// partition's earliest and end offsets (Kafka's `--from-file`).
    Offsets(BTreeMap<(String, i32), i64>),
    /// The committed offset moved by this many records (back when negative), within the
    /// partition's earliest and end offsets. A partition without a committed offset moves
    /// from where the application would start (`auto.offset.reset`, earliest by default).
    ShiftBy(i64),
}

/// The topics a topology reads and owns, for a reset's defaults.
#[derive(Debug, Clone, Default)]
struct TopologyTopics {
    /// The user topics it reads.
    sources: Vec<String>,
    /// Its internal topics, by their physical names: changelogs and repartition topics.
    internal: BTreeSet<String>,
}

/// A reset of an application for reprocessing; see the [module docs](self).
#[derive(Debug, Clone)]
pub struct ApplicationReset {
    config: StreamsConfig,
    application_id: String,
    input_topics: Option<Vec<String>>,
    intermediate_topics: Vec<String>,
    internal_topics: Option<Vec<String>>,
    topology: Option<TopologyTopics>,
    to: ResetTo,
    clean_up_local_state: bool,
}

impl ApplicationReset {
    /// A reset of `config`'s application (`application.id`), on its cluster
    /// (`bootstrap.servers` and the clients' security settings), wiping its `state.dir`.
    /// Connects to nothing until [`plan`](Self::plan) or [`execute`](Self::execute).
    pub fn new(config: &StreamsConfig) -> Result<Self> {
        let application_id = config.application_id()?.to_string();
        config.bootstrap_servers().ok_or_else(|| Error::Config {
            key: crate::config::BOOTSTRAP_SERVERS.into(),
            reason: "is required to reset an application".into(),
        })?;
        if config.topic_admin().is_some() {
            return Err(Error::Config {
                key: crate::config::BOOTSTRAP_SERVERS.into(),
                reason: "points at the embedded broker, which cannot describe groups or delete \
                         topics: a reset needs a Kafka cluster (the embedded broker keeps \
                         nothing between runs; clean_up wipes the local state)"
                    .into(),
            });
        }
        crate::runtime::clients::check_client_properties(config)?;
        Ok(ApplicationReset {
            config: config.clone(),
            application_id,
            input_topics: None,
            intermediate_topics: Vec::new(),
            internal_topics: None,
            topology: None,
            to: ResetTo::default(),
            clean_up_local_state: true,
        })
    }

    /// The application's topology: its source topics are the input topics unless
    /// [`input_topics`](Self::input_topics) says otherwise, and its changelog and repartition
    /// topics are deleted (with those found by name).
    pub fn topology(mut self, topology: &Topology) -> Self {
        let app = &self.application_id;
        let internal_names = topology.internal_topics();
        let subtopologies = topology.subtopologies();
        let sources: BTreeSet<String> = subtopologies
            .iter()
            .flat_map(|s| s.source_topics.iter())
            .filter(|t| !internal_names.contains(*t))
            .cloned()
            .collect();
        let mut internal: BTreeSet<String> = internal_names
            .iter()
            .map(|t| topology.physical_topic(app, t))
            .collect();
        internal.extend(
            subtopologies
                .iter()
                .flat_map(|s| s.stores.iter())
                // A source table's store may be restored from its input topic (optimization):
                // then it has no changelog of its own to delete.
                .filter(|store| topology.store_has_own_changelog(store))
                .map(|store| Topology::changelog_topic(app, store)),
        );
        self.topology = Some(TopologyTopics {
            sources: sources.into_iter().collect(),
            internal,
        });
        self
    }

    /// The input topics whose offsets are reset (default: the [topology](Self::topology)'s
    /// source topics; none without a topology).
    pub fn input_topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.input_topics = Some(topics.into_iter().map(Into::into).collect());
        self
    }

    /// Intermediate topics: user topics the application writes and reads back; their
    /// offsets go to the end, so that what the first run wrote there is not read again.
    pub fn intermediate_topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.intermediate_topics = topics.into_iter().map(Into::into).collect();
        self
    }

    /// Deletes only these internal topics, each of which must be one the reset finds
    /// (Kafka's `--internal-topics`); by default all it finds are deleted.
    pub fn internal_topics<I, S>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.internal_topics = Some(topics.into_iter().map(Into::into).collect());
        self
    }

    /// Where the input offsets go (default [`ResetTo::Earliest`]).
    pub fn to(mut self, to: ResetTo) -> Self {
        self.to = to;
        self
    }

    /// Leaves this machine's state directory alone (it is wiped by default). An instance
    /// started on a kept directory holds state the reset input no longer explains: wipe it
    /// with [`clean_up`] before starting one.
    pub fn keep_local_state(mut self) -> Self {
        self.clean_up_local_state = false;
        self
    }

    /// The dry run: what [`execute`](Self::execute) would do, read from the cluster, with
    /// nothing changed. Refused ([`Error::ResetRefused`]) while the group has members, or
    /// when a topic or partition named does not exist.
    pub fn plan(&self) -> Result<ResetPlan> {
        let cluster = cluster::KafkaResetCluster::new(&self.config, &self.application_id)?;
        plan::build(self, &cluster, SystemTime::now())
    }

    /// Resets the application: plans as [`plan`](Self::plan) does, then commits the new
    /// offsets for the group, deletes the internal topics and wipes the local state. Returns
    /// the plan it carried out.
    pub fn execute(&self) -> Result<ResetPlan> {
        let cluster = cluster::KafkaResetCluster::new(&self.config, &self.application_id)?;
        let dir = local::app_dir(&self.config)?;
        // Held from before the plan: an instance starting here now cannot open what is wiped.
        let _lock = if self.clean_up_local_state {
            local::lock(&dir, &self.application_id)?
        } else {
            None
        };
        let plan = plan::build(self, &cluster, SystemTime::now())?;
        plan::apply(&plan, &cluster)?;
        if let Some(dir) = &plan.local_state {
            local::wipe(dir)?;
        }
        tracing::info!(
            application_id = %self.application_id,
            inputs = plan.input_offsets.len(),
            deleted = plan.topics_to_delete.len(),
            "reset the application"
        );
        Ok(plan)
    }
}

/// Wipes the local state of `config`'s application, `<state.dir>/<application.id>` (every
/// task's stores, checkpoints and the global stores), as Kafka's `KafkaStreams.cleanUp()`:
/// the next start restores every store from its changelog. Refused
/// ([`Error::StateDirLocked`]) while an instance runs in that directory. Returns whether
/// there was state to wipe.
///
/// ```
/// use streams_core::StreamsConfig;
/// let state = tempfile::tempdir()?;
/// let mut config = StreamsConfig::new();
/// config
///     .set("application.id", "word-count")
///     .set("state.dir", state.path().display().to_string());
/// std::fs::create_dir_all(state.path().join("word-count/0_0/rocksdb"))?;
/// assert!(streams_core::reset::clean_up(&config)?);
/// assert!(!state.path().join("word-count/0_0").exists());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn clean_up(config: &StreamsConfig) -> Result<bool> {
    local::clean_up(config)
}
