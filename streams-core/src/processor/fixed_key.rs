//! [`FixedKeyProcessor`]: a processor that cannot change keys, for
//! [`KStream::process_values`](crate::dsl::KStream::process_values). Because keys stay put,
//! no repartitioning follows it.

use crate::processor::ProcessResult;
use std::time::Duration;

use super::{
    Cancellable, Headers, Processor, ProcessorContext, Punctuation, PunctuationType, Record,
    RecordMetadata,
};
use crate::state::{KeyValueStoreHandle, SessionStoreHandle, WindowStoreHandle};
use crate::{Result, TaskId};

/// A record whose key cannot be replaced.
#[derive(Debug, Clone, PartialEq)]
pub struct FixedKeyRecord<K, V> {
    inner: Record<K, V>,
}

impl<K, V> FixedKeyRecord<K, V> {
    pub(crate) fn new(inner: Record<K, V>) -> Self {
        FixedKeyRecord { inner }
    }

    /// The key.
    pub fn key(&self) -> &K {
        &self.inner.key
    }

    /// The value.
    pub fn value(&self) -> &V {
        &self.inner.value
    }

    /// The value, by value.
    pub fn into_value(self) -> V {
        self.inner.value
    }

    /// The timestamp.
    pub fn timestamp(&self) -> i64 {
        self.inner.timestamp
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.inner.headers
    }

    /// The same record with another value.
    pub fn with_value<V2>(self, value: V2) -> FixedKeyRecord<K, V2> {
        FixedKeyRecord {
            inner: self.inner.with_value(value),
        }
    }

    /// The same record with another timestamp.
    pub fn with_timestamp(self, timestamp: i64) -> Self {
        FixedKeyRecord {
            inner: self.inner.with_timestamp(timestamp),
        }
    }

    /// The same record with other headers.
    pub fn with_headers(self, headers: Headers) -> Self {
        FixedKeyRecord {
            inner: self.inner.with_headers(headers),
        }
    }
}

/// The context of a [`FixedKeyProcessor`]: forwards [`FixedKeyRecord`]s only.
pub struct FixedKeyContext<'c, 'a, K, V> {
    inner: &'c mut ProcessorContext<'a, K, V>,
}

impl<K, V> std::fmt::Debug for FixedKeyContext<'_, '_, K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

impl<K: Clone + 'static, V: Clone + 'static> FixedKeyContext<'_, '_, K, V> {
    /// Sends `record` to every child.
    pub fn forward(&mut self, record: FixedKeyRecord<K, V>) -> Result<()> {
        self.inner.forward(record.inner)
    }

    /// The typed key-value store `name`.
    pub fn key_value_store<SK: 'static, SV: 'static>(
        &self,
        name: &str,
    ) -> Result<KeyValueStoreHandle<SK, SV>> {
        self.inner.key_value_store(name)
    }

    /// The typed window store `name`.
    pub fn window_store<SK: 'static, SV: 'static>(
        &self,
        name: &str,
    ) -> Result<WindowStoreHandle<SK, SV>> {
        self.inner.window_store(name)
    }

    /// The typed session store `name`.
    pub fn session_store<SK: 'static, SV: 'static>(
        &self,
        name: &str,
    ) -> Result<SessionStoreHandle<SK, SV>> {
        self.inner.session_store(name)
    }

    /// Schedules calls to [`FixedKeyProcessor::punctuate`].
    pub fn schedule(&mut self, interval: Duration, kind: PunctuationType) -> Result<Cancellable> {
        self.inner.schedule(interval, kind)
    }

    /// Where the current record came from.
    pub fn record_metadata(&self) -> Option<RecordMetadata> {
        self.inner.record_metadata()
    }

    /// The task running this processor.
    pub fn task_id(&self) -> TaskId {
        self.inner.task_id()
    }

    /// The task's stream time.
    pub fn stream_time(&self) -> i64 {
        self.inner.stream_time()
    }
}

/// A processor over records whose keys it cannot change.
pub trait FixedKeyProcessor: 'static {
    /// Key type (in and out).
    type Key: Clone + 'static;
    /// Input value type.
    type ValueIn: 'static;
    /// Output value type.
    type ValueOut: Clone + 'static;

    /// Called once when the task starts.
    fn init(
        &mut self,
        ctx: &mut FixedKeyContext<'_, '_, Self::Key, Self::ValueOut>,
    ) -> ProcessResult {
        let _ = ctx;
        Ok(())
    }

    /// Processes one record.
    fn process(
        &mut self,
        ctx: &mut FixedKeyContext<'_, '_, Self::Key, Self::ValueOut>,
        record: FixedKeyRecord<Self::Key, Self::ValueIn>,
    ) -> ProcessResult;

    /// Called when a schedule fires.
    fn punctuate(
        &mut self,
        ctx: &mut FixedKeyContext<'_, '_, Self::Key, Self::ValueOut>,
        punctuation: Punctuation,
    ) -> ProcessResult {
        let _ = (ctx, punctuation);
        Ok(())
    }

    /// Called once when the task closes.
    fn close(
        &mut self,
        ctx: &mut FixedKeyContext<'_, '_, Self::Key, Self::ValueOut>,
    ) -> ProcessResult {
        let _ = ctx;
        Ok(())
    }
}

/// Runs a [`FixedKeyProcessor`] as a [`Processor`].
pub(crate) struct FixedKeyAdapter<P>(pub(crate) P);

impl<P: FixedKeyProcessor> Processor for FixedKeyAdapter<P> {
    type KeyIn = P::Key;
    type ValueIn = P::ValueIn;
    type KeyOut = P::Key;
    type ValueOut = P::ValueOut;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, P::Key, P::ValueOut>) -> ProcessResult {
        self.0.init(&mut FixedKeyContext { inner: ctx })
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, P::Key, P::ValueOut>,
        record: Record<P::Key, P::ValueIn>,
    ) -> ProcessResult {
        self.0.process(
            &mut FixedKeyContext { inner: ctx },
            FixedKeyRecord::new(record),
        )
    }

    fn punctuate(
        &mut self,
        ctx: &mut ProcessorContext<'_, P::Key, P::ValueOut>,
        punctuation: Punctuation,
    ) -> ProcessResult {
        self.0
            .punctuate(&mut FixedKeyContext { inner: ctx }, punctuation)
    }

    fn close(&mut self, ctx: &mut ProcessorContext<'_, P::Key, P::ValueOut>) -> ProcessResult {
        self.0.close(&mut FixedKeyContext { inner: ctx })
    }
}
