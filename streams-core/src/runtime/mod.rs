//! The runtime: tasks, stream threads over rdkafka, restoration, commits.
//!
//! `KafkaStreams` and what it runs: stream threads over rdkafka, their tasks (the task code is
//! shared with the test driver), restoration, commits, interactive queries.

mod admin;
mod changelog_reader;
pub(crate) mod clients;
mod collector;
mod consumer_stats;
pub(crate) mod dead_letter;
pub(crate) mod dir_lock;
mod fetch_watch;
mod global_thread;
mod handle;
pub(crate) mod instance;
mod kafka_streams;
mod membership;
mod metadata;
mod metrics;
pub(crate) mod node;
mod open_transaction;
mod partition_group;
pub(crate) mod plan;
mod producer;
mod query;
mod registry;
mod restore;
mod restore_listener;
mod send;
mod signal;
mod standby;
mod state_dir;
mod stream_thread;
mod task;
mod task_context;
mod task_manager;
mod task_status;
mod topic_check;

pub(crate) use admin::TopicAdmin;
#[cfg(feature = "embedded")]
pub(crate) use admin::TopicSpec;
pub use admin::create_topics;
pub(crate) use collector::RecordCollector;
pub use handle::KafkaStreamsHandle;
pub use instance::State;
pub use kafka_streams::KafkaStreams;
pub use metadata::{HostInfo, KeyQueryMetadata, StreamsMetadata};
pub(crate) use metrics::{DropReason, StoreMetrics, StreamsMetrics, TaskMetrics, ThreadMetrics};
pub(crate) use producer::production_failed;
pub use query::{
    ReadOnlyKeyValueStoreView, ReadOnlySessionStoreView, ReadOnlyVersionedKeyValueStoreView,
    ReadOnlyWindowStoreView,
};
#[cfg(feature = "fuzzing")]
pub(crate) use registry::{
    Member, apply_record, decode_announcement, live_members, members_metadata, place_standbys,
};
pub use restore_listener::StateRestoreListener;
pub use send::send_record;
pub use signal::ShutdownSignal;
#[cfg(feature = "test-util")]
pub(crate) use task::{Task, TaskEnv};
pub(crate) use task_context::{TaskContext, WallClock};
pub use task_status::{ChangelogProgress, TaskKind, TaskPhase, TaskStatus};
