//! [`WindowReader`]: a window store read from other threads (interactive queries).

use std::sync::Arc;

use super::{WindowEntry, WindowStore};
use crate::Result;
use crate::cache::named::SharedCache;
use crate::segments::{Segments, SharedTimes};
use crate::store::ReadOnlyKeyValueStore;

/// A thread-safe reader of a [`WindowStore`] (see [`WindowStore::reader`]).
#[derive(Clone)]
pub struct WindowReader {
    pub(super) engine: Arc<dyn ReadOnlyKeyValueStore + Send + Sync>,
    pub(super) cache: Option<SharedCache>,
    pub(super) retention: i64,
    pub(super) times: Arc<SharedTimes>,
}

impl std::fmt::Debug for WindowReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowReader")
            .field("retention", &self.retention)
            .field("cached", &self.cache.is_some())
            .finish()
    }
}

impl WindowReader {
    fn scan(&self, key: Option<&[u8]>, from: i64, to: i64) -> Result<Vec<WindowEntry>> {
        let segments = Segments::snapshot(self.retention, &self.times);
        let mut out = Vec::new();
        WindowStore::scan(
            &*self.engine,
            self.cache.as_ref(),
            &segments,
            key,
            from,
            to,
            &mut out,
        )?;
        Ok(out)
    }

    /// `key`'s windows starting in `[from, to]`, by start time.
    pub fn fetch(&self, key: &[u8], from: i64, to: i64) -> Result<Vec<(i64, Vec<u8>)>> {
        Ok(self
            .scan(Some(key), from, to)?
            .into_iter()
            .map(|e| (e.start, e.value))
            .collect())
    }

    /// Every key's windows starting in `[from, to]`.
    pub fn fetch_all(&self, from: i64, to: i64) -> Result<Vec<WindowEntry>> {
        self.scan(None, from, to)
    }
}
