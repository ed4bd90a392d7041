//! The error type of `streams-core`, and the handler policies that decide what an error does.

mod policy;

pub(crate) use policy::ErrorPolicies;
pub use policy::{
    DeserializationPolicy, ProcessingPolicy, ProductionPolicy, TimestampPolicy,
    UncaughtErrorResponse,
};

use crate::serde::SerdeError;

/// Any error, boxed: what user code inside processors and fallible DSL closures fails with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What went wrong, naming the topic, partition, offset, node, task or store involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A record's key or value could not be deserialized and the handler said fail.
    #[error("cannot deserialize the {field} of the record at {topic}-{partition}@{offset}")]
    Deserialization {
        /// Source topic.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Offset of the bad record.
        offset: i64,
        /// `"key"` or `"value"`.
        field: &'static str,
        /// The serde's error.
        #[source]
        source: SerdeError,
    },
    /// A record's timestamp is invalid (negative, or beyond what a window can hold) and
    /// `default.timestamp.extractor` said fail.
    #[error(
        "invalid timestamp {timestamp} of the record at {topic}-{partition}@{offset} in node `{node}`: {reason}"
    )]
    InvalidTimestamp {
        /// Source topic of the record (empty for punctuations).
        topic: String,
        /// Source partition (-1 if unknown).
        partition: i32,
        /// Offset of the record (-1 if unknown).
        offset: i64,
        /// The timestamp.
        timestamp: i64,
        /// The node that found it invalid.
        node: String,
        /// Why it is invalid.
        reason: String,
    },
    /// An output record could not be serialized.
    #[error("cannot serialize the {field} of a record for topic `{topic}` in node `{node}`")]
    Serialization {
        /// Destination topic.
        topic: String,
        /// The sink node.
        node: String,
        /// `"key"` or `"value"`.
        field: &'static str,
        /// The serde's error.
        #[source]
        source: SerdeError,
    },
    /// A store value could not be encoded or decoded.
    #[error("cannot encode or decode an entry of store `{store}`")]
    StoreSerde {
        /// The store.
        store: String,
        /// The serde's error.
        #[source]
        source: SerdeError,
    },
    /// A state store failed.
    #[error("state store error in task {task}")]
    State {
        /// The task owning the store.
        task: String,
        /// The store's error.
        #[source]
        source: streams_state::Error,
    },
    /// The topology is not well formed.
    #[error("invalid topology: {0}")]
    Topology(String),
    /// [`StreamsBuilder::build`](crate::dsl::StreamsBuilder::build) found errors in the DSL
    /// calls: every one, in the order the calls were made (see [`Error::errors`]).
    #[error("{}", list_errors(.0))]
    InvalidTopology(Vec<std::sync::Arc<Error>>),
    /// A configuration value is missing or invalid.
    #[error("invalid configuration `{key}`: {reason}")]
    Config {
        /// The property name.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Kafka (librdkafka) reported an error.
    #[error("Kafka error while {context}")]
    Kafka {
        /// What the runtime was doing.
        context: String,
        /// librdkafka's error.
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A record could not be produced and the production handler said fail.
    #[error("failed to produce to {topic}-{partition}: {reason}")]
    Production {
        /// Destination topic.
        topic: String,
        /// Destination partition (-1 if not yet chosen).
        partition: i32,
        /// librdkafka's reason.
        reason: String,
    },
    /// A topic, store or application name breaks Kafka's naming rules (1 to 249 ASCII
    /// letters, digits, `.`, `_` or `-`; not `.` or `..`).
    #[error("invalid {what} `{name}` (node `{node}`): {reason}")]
    InvalidName {
        /// What the name is for ("source topic", "sink topic", "store name").
        what: String,
        /// The name.
        name: String,
        /// The node (or store) it belongs to.
        node: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A sink topic does not exist and the broker will not create it on first write.
    #[error(
        "sink topic `{topic}` (node `{node}`) does not exist and will not be created automatically ({reason}); create it before starting the application"
    )]
    MissingSinkTopic {
        /// The topic.
        topic: String,
        /// The sink node writing it.
        node: String,
        /// Why it will not be created.
        reason: String,
    },
    /// A source topic does not exist.
    #[error("source topic `{0}` does not exist; create it before starting the application")]
    MissingSourceTopic(String),
    /// A state store was asked for with the wrong name or types.
    #[error("store `{name}`: {reason}")]
    StoreAccess {
        /// The store asked for.
        name: String,
        /// Why it cannot be handed out.
        reason: String,
    },
    /// A local instance of a state store cannot be queried now: its task is restoring it
    /// from the changelog (Kafka Streams' `InvalidStateStoreException`). Retry once the
    /// instance runs, or query with stale stores.
    #[error("store `{name}` cannot be queried now: {reason}")]
    StoreUnavailable {
        /// The store asked for.
        name: String,
        /// Why not, and until when.
        reason: String,
    },
    /// A file operation failed.
    #[error("I/O error on {path}")]
    Io {
        /// The file or directory.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// User code in a processor failed.
    #[error("processor `{node}` failed")]
    Processing {
        /// The node whose user code failed.
        node: String,
        /// The user's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A task failed on an input record (the processing policy said fail, or a store or the
    /// topology failed).
    #[error("task {task} failed in node `{node}` on the record at {topic}-{partition}@{offset}")]
    RecordFailed {
        /// The task.
        task: String,
        /// The node that failed.
        node: String,
        /// Source topic of the record.
        topic: String,
        /// Source partition.
        partition: i32,
        /// Offset of the record.
        offset: i64,
        /// What failed.
        #[source]
        source: Box<Error>,
    },
    /// Exactly-once: this thread's transactional producer was fenced (another instance owns
    /// its tasks now, or it stalled past the transaction timeout). The thread rejoins the
    /// group as a new member.
    #[error("the transactional producer was fenced while {0}")]
    Fenced(String),
    /// Exactly-once: the thread could not finish its transaction (commit or abort, and the
    /// rewind after an abort) within half of `max.poll.interval.ms`, as when the brokers are
    /// unreachable. Kafka Streams' `TaskMigratedException`: the thread drops its tasks
    /// (their stores keep only committed writes) and rejoins the group as a new member, whose
    /// producer fences the unfinished transaction; no record is lost (its offsets were not
    /// committed).
    #[error("the stream thread gave up its tasks: {0}")]
    TaskMigrated(String),
    /// A [`KafkaStreams`](crate::KafkaStreams) method was called in a state that does not
    /// allow it (for example a handler set after `start()`).
    #[error("{operation}() is not allowed in state {state:?}: {reason}")]
    InvalidState {
        /// The method called.
        operation: &'static str,
        /// The instance's state then.
        state: crate::State,
        /// What it needs.
        reason: &'static str,
    },
    /// Another instance of the application holds the state directory.
    #[error("another instance of `{application_id}` is running in state directory {dir}")]
    StateDirLocked {
        /// The application.
        application_id: String,
        /// The directory.
        dir: std::path::PathBuf,
        /// Why the lock could not be taken.
        #[source]
        source: std::io::Error,
    },
    /// A wait for a state ended without reaching it.
    #[error("{what} did not happen within {after:?} (state {state:?})")]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// How long.
        after: std::time::Duration,
        /// The state when the wait ended.
        state: crate::State,
    },
    /// The instance failed: its fatal error, shared with
    /// [`KafkaStreams::error`](crate::KafkaStreams::error).
    #[error("the instance failed")]
    Failed(#[source] std::sync::Arc<Error>),
    /// The worker's HTTP server (or a request it forwarded to another instance) failed.
    #[error("HTTP server: {what}")]
    Server {
        /// What failed, and where (the address, the peer).
        what: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A reset of an application was refused before it changed anything: its consumer group
    /// still has members, a topic or partition named does not exist, or the options do not
    /// fit the cluster (see [`reset`](crate::reset)).
    #[error("cannot reset application `{application_id}`: {reason}")]
    ResetRefused {
        /// The application (its consumer group).
        application_id: String,
        /// Why, naming the group, topics or partitions involved.
        reason: String,
    },
    /// An internal invariant did not hold: a bug in `streams`, please report it.
    #[error("{0}")]
    IllegalState(String),
}

impl Error {
    pub(crate) fn kafka(context: impl Into<String>, source: rdkafka::error::KafkaError) -> Self {
        Error::Kafka {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn io(path: impl Into<std::path::PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// The task whose store is corrupt, if this error (or the error it wraps) is a store
    /// reporting corruption: the runtime then wipes the task's state and rebuilds it.
    pub(crate) fn corrupted_task(&self) -> Option<crate::TaskId> {
        match self {
            Error::State { task, source } if source.is_corruption() => task.parse().ok(),
            Error::RecordFailed { source, .. } => source.corrupted_task(),
            Error::Processing { source, .. } => source
                .downcast_ref::<Error>()
                .and_then(Error::corrupted_task),
            _ => None,
        }
    }

    /// A short name of the kind of error, for logs and dead-letter headers.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Error::Deserialization { .. } => "Deserialization",
            Error::Serialization { .. } => "Serialization",
            Error::InvalidTimestamp { .. } => "InvalidTimestamp",
            Error::StoreSerde { .. } => "StoreSerde",
            Error::State { .. } => "State",
            Error::Topology(_) => "Topology",
            Error::InvalidTopology(_) => "InvalidTopology",
            Error::Config { .. } => "Config",
            Error::Kafka { .. } => "Kafka",
            Error::Production { .. } => "Production",
            Error::MissingSourceTopic(_) => "MissingSourceTopic",
            Error::InvalidName { .. } => "InvalidName",
            Error::MissingSinkTopic { .. } => "MissingSinkTopic",
            Error::StoreAccess { .. } => "StoreAccess",
            Error::StoreUnavailable { .. } => "StoreUnavailable",
            Error::Io { .. } => "Io",
            Error::Processing { .. } => "Processing",
            Error::RecordFailed { .. } => "RecordFailed",
            Error::Fenced(_) => "Fenced",
            Error::TaskMigrated(_) => "TaskMigrated",
            Error::InvalidState { .. } => "InvalidState",
            Error::StateDirLocked { .. } => "StateDirLocked",
            Error::Timeout { .. } => "Timeout",
            Error::Failed(error) => error.kind(),
            Error::Server { .. } => "Server",
            Error::ResetRefused { .. } => "ResetRefused",
            Error::IllegalState(_) => "IllegalState",
        }
    }

    /// The errors this error stands for: each of an [`Error::InvalidTopology`], else itself.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let input = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// input.to("bad topic");
    /// input.to("../worse");
    /// let error = builder.build().expect_err("two bad names");
    /// assert_eq!(error.errors().count(), 2);
    /// assert!(builder.build().is_err(), "a second build reports them again");
    /// ```
    pub fn errors(&self) -> impl Iterator<Item = &Error> {
        let many = match self {
            Error::InvalidTopology(errors) => errors.as_slice(),
            _ => &[],
        };
        let single = (!matches!(self, Error::InvalidTopology(_))).then_some(self);
        single.into_iter().chain(many.iter().map(|e| &**e))
    }

    /// This error and its sources, one after another (`error: cause: cause`): what logs and
    /// dead-letter headers print.
    pub fn report(&self) -> Report<'_> {
        Report(self)
    }

    /// The error of user code in processor `node`: an [`Error`] of this crate (from
    /// forwarding, stores or serdes) keeps its kind; any other error becomes
    /// [`Error::Processing`] naming the node.
    pub(crate) fn from_user(node: &str, error: BoxError) -> Self {
        match error.downcast::<Error>() {
            Ok(error) => *error,
            Err(source) => Error::Processing {
                node: node.to_string(),
                source,
            },
        }
    }

    /// Wraps an error raised by user code in processor `node`.
    pub fn processing(
        node: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Error::Processing {
            node: node.into(),
            source: source.into(),
        }
    }
}

/// The message of a caught panic, as an error message.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with a non-string payload".to_string());
    format!("panicked: {text}")
}

/// Result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The errors of a build, numbered, each with its sources.
fn list_errors(errors: &[std::sync::Arc<Error>]) -> String {
    match errors {
        [one] => one.report().to_string(),
        many => {
            let listed: Vec<String> = many
                .iter()
                .enumerate()
                .map(|(i, e)| format!("({}) {}", i + 1, e.report()))
                .collect();
            format!(
                "{} errors in the topology: {}",
                many.len(),
                listed.join("; ")
            )
        }
    }
}

/// An error and every source beneath it, printed `error: cause: cause` (see
/// [`Error::report`]). Errors of this crate print only their own message, and give their cause
/// through [`source`](std::error::Error::source), so that reporters print each cause once.
#[derive(Debug, Clone, Copy)]
pub struct Report<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_printed_once() {
        let io = std::io::Error::other("disk full");
        let error = Error::RecordFailed {
            task: "0_1".into(),
            node: "KSTREAM-MAP-0000000001".into(),
            topic: "in".into(),
            partition: 1,
            offset: 7,
            source: Box::new(Error::io("/tmp/x", io)),
        };
        let message = error.to_string();
        assert!(!message.contains("disk full"), "{message}");
        assert_eq!(
            error.report().to_string(),
            "task 0_1 failed in node `KSTREAM-MAP-0000000001` on the record at in-1@7: \
             I/O error on /tmp/x: disk full"
        );
        // A chain reporter walking `source()` sees each cause once.
        let mut chain = vec![error.to_string()];
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            chain.push(cause.to_string());
            source = cause.source();
        }
        let joined = chain.join(" | ");
        assert_eq!(joined.matches("disk full").count(), 1, "{joined}");
    }
}
