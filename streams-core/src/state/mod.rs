//! State stores as processors see them: [`StoreBuilder`] describes a store in a topology, and
//! [`KeyValueStoreHandle`] is the typed view a processor gets from its context.
//!
//! The byte-level engines and layers live in the `streams-state` crate; this module adds the
//! serde layer on top and wires the changelogging layer to the task's record collector.

mod builder;
mod handle;
mod registry;

pub(crate) use builder::ChangelogTarget;
pub use builder::{StoreBuilder, StoreEngine};
pub use handle::KeyValueStoreHandle;
pub(crate) use registry::{StoreRegistry, TaskStore};
