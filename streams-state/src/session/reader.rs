//! [`SessionReader`]: a session store read from other threads (interactive queries).

use std::sync::Arc;

use super::{SessionEntry, SessionStore};
use crate::Result;
use crate::cache::named::SharedCache;
use crate::segments::{Segments, SharedTimes};
use crate::store::ReadOnlyKeyValueStore;

/// A thread-safe reader of a [`SessionStore`] (see [`SessionStore::reader`]).
#[derive(Clone)]
pub struct SessionReader {
    pub(super) engine: Arc<dyn ReadOnlyKeyValueStore + Send + Sync>,
    pub(super) cache: Option<SharedCache>,
    pub(super) retention: i64,
    pub(super) times: Arc<SharedTimes>,
}

impl std::fmt::Debug for SessionReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionReader")
            .field("retention", &self.retention)
            .field("cached", &self.cache.is_some())
            .finish()
    }
}

impl SessionReader {
    /// `key`'s sessions with `end >= earliest_end` and `start <= latest_start`, ordered by end
    /// then start (`fetch(key, i64::MIN, i64::MAX)`: every retained session of `key`).
    pub fn find_sessions(
        &self,
        key: &[u8],
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<SessionEntry>> {
        let segments = Segments::snapshot(self.retention, &self.times);
        SessionStore::find_in(
            &*self.engine,
            self.cache.as_ref(),
            &segments,
            key,
            earliest_end,
            latest_start,
        )
    }
}
