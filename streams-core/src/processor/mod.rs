//! The Processor API: write a [`Processor`], add it to a [`Topology`](crate::Topology) by name,
//! and forward records to its children through the [`ProcessorContext`].
//!
//! ```
//! use streams_core::processor::{ProcessResult, Processor, ProcessorContext, Record};
//!
//! /// Forwards only values longer than a limit.
//! struct LongerThan(usize);
//!
//! impl Processor for LongerThan {
//!     type KeyIn = String;
//!     type ValueIn = String;
//!     type KeyOut = String;
//!     type ValueOut = String;
//!
//!     fn process(
//!         &mut self,
//!         ctx: &mut ProcessorContext<'_, String, String>,
//!         record: Record<String, String>,
//!     ) -> ProcessResult {
//!         if record.value.len() > self.0 {
//!             ctx.forward(record)?;
//!         }
//!         Ok(())
//!     }
//! }
//! ```

mod context;
mod fixed_key;
mod punctuation;
mod record;

pub use context::ProcessorContext;
pub(crate) use fixed_key::FixedKeyAdapter;
pub use fixed_key::{FixedKeyContext, FixedKeyProcessor, FixedKeyRecord};
pub(crate) use punctuation::Schedule;
pub use punctuation::{Cancellable, Punctuation, PunctuationType};
pub use record::{Header, Headers, Record, RecordMetadata};

pub use crate::error::BoxError;

/// What a [`Processor`]'s (or [`FixedKeyProcessor`]'s) methods return. Any error converts into
/// it with `?` — the processor's own errors as well as this crate's [`Error`](crate::Error)s
/// (from forwarding or stores, which keep their kind). The runtime names the node and applies
/// `processing.exception.handler` (fail, log and continue, or dead-letter) to the record.
pub type ProcessResult = std::result::Result<(), BoxError>;

/// A node of user code in a topology. One instance runs per task, on one thread, so it may keep
/// plain mutable state; state that must survive failures belongs in a state store.
pub trait Processor: 'static {
    /// Type of the input keys.
    type KeyIn: 'static;
    /// Type of the input values.
    type ValueIn: 'static;
    /// Type of the keys this processor forwards.
    type KeyOut: Clone + 'static;
    /// Type of the values this processor forwards.
    type ValueOut: Clone + 'static;

    /// Called once when the task starts, after its stores are restored: fetch store handles here.
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, Self::KeyOut, Self::ValueOut>,
    ) -> ProcessResult {
        let _ = ctx;
        Ok(())
    }

    /// Processes one record.
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, Self::KeyOut, Self::ValueOut>,
        record: Record<Self::KeyIn, Self::ValueIn>,
    ) -> ProcessResult;

    /// Called when a schedule made with [`ProcessorContext::schedule`] fires.
    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, Self::KeyOut, Self::ValueOut>,
        punctuation: Punctuation,
    ) -> ProcessResult {
        let _ = (ctx, punctuation);
        Ok(())
    }

    /// Called before each commit: a processor that buffers (as the DSL's cached tables do)
    /// forwards what it holds here.
    fn flush(
        &mut self,
        ctx: &mut ProcessorContext<'_, Self::KeyOut, Self::ValueOut>,
    ) -> ProcessResult {
        let _ = ctx;
        Ok(())
    }

    /// Called once when the task closes.
    fn close(
        &mut self,
        ctx: &mut ProcessorContext<'_, Self::KeyOut, Self::ValueOut>,
    ) -> ProcessResult {
        let _ = ctx;
        Ok(())
    }
}
