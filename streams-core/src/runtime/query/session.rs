//! [`ReadOnlySessionStoreView`]: interactive queries of a session store.

use std::sync::Arc;

use streams_state::SessionReader;

use super::ViewCore;
use crate::Result;
use crate::runtime::instance::{InstanceShared, QueryHandle};
use crate::serde::SharedSerde;
use crate::state::Session;

/// A read-only, typed view of one session store across the tasks of this instance (Kafka
/// Streams' `ReadOnlySessionStore`): values by key and session. Session-windowed aggregations
/// (`windowed_by(SessionWindows…)`) materialize one.
pub struct ReadOnlySessionStoreView<K, V> {
    core: ViewCore<K, V>,
}

impl<K, V> std::fmt::Debug for ReadOnlySessionStoreView<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadOnlySessionStoreView")
            .field("name", &self.core.name)
            .field("stale", &self.core.stale)
            .finish()
    }
}

impl<K: 'static, V: 'static> ReadOnlySessionStoreView<K, V> {
    pub(crate) fn new(
        name: &str,
        shared: Arc<InstanceShared>,
        serdes: (SharedSerde<K>, SharedSerde<V>),
    ) -> Self {
        ReadOnlySessionStoreView {
            core: ViewCore::new(name, shared, serdes),
        }
    }

    /// The same view, also answering from standby tasks' stores (possibly behind).
    pub fn with_stale_stores(mut self) -> Self {
        self.core.stale = true;
        self
    }

    /// The store's name.
    pub fn name(&self) -> &str {
        &self.core.name
    }

    fn readers(&self) -> Result<Vec<SessionReader>> {
        self.core
            .handles()?
            .into_iter()
            .map(|(_, handle)| match handle {
                QueryHandle::Session(reader) => Ok(reader),
                _ => Err(self.core.wrong_kind("session")),
            })
            .collect()
    }

    /// `key`'s sessions that end at or after `earliest_end` and start at or before
    /// `latest_start`, ordered by end then start.
    pub fn find_sessions(
        &self,
        key: &K,
        earliest_end: i64,
        latest_start: i64,
    ) -> Result<Vec<(Session, V)>> {
        let bytes = self.core.key_bytes(key)?;
        let mut out = Vec::new();
        for reader in self.readers()? {
            for entry in reader
                .find_sessions(&bytes, earliest_end, latest_start)
                .map_err(self.core.state_err())?
            {
                let session = Session {
                    start: entry.start,
                    end: entry.end,
                };
                out.push((session, self.core.value(&entry.value)?));
            }
        }
        out.sort_by_key(|(session, _)| (session.end, session.start));
        Ok(out)
    }

    /// Every retained session of `key` (Kafka Streams' `fetch(key)`).
    pub fn fetch(&self, key: &K) -> Result<Vec<(Session, V)>> {
        self.find_sessions(key, i64::MIN, i64::MAX)
    }
}
