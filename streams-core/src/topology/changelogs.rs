//! Where each store's changelog is: its own compacted topic `<application.id>-<store>-changelog`
//! (when logging is on), or, for a source table under `reuse.ktable.source.topics`, the input
//! topic the table reads, which the application never writes.

use std::sync::Arc;

use streams_state::ChangelogRecord;

use super::Topology;

/// Turns a record of a table's input topic into the changelog record its store restores:
/// decoded with the source's serdes and encoded with the store's, so the store holds what
/// processing the record would have written. `Ok(None)` for a record the table ignores (a
/// null key).
pub(crate) type RestoreRecode =
    Arc<dyn Fn(&ChangelogRecord) -> Result<Option<ChangelogRecord>, RecodeError> + Send + Sync>;

/// Why a record of a table's input topic cannot be restored.
#[derive(Debug)]
pub(crate) enum RecodeError {
    /// Its key or value does not decode: processing skipped it (or failed on it), so restoring
    /// skips it too.
    Decode {
        /// `"key"` or `"value"`.
        field: &'static str,
        source: crate::serde::SerdeError,
    },
    /// The store's serde cannot encode what the source's decoded.
    Encode(crate::Error),
}

/// A store restored from the input topic its table reads.
#[derive(Clone)]
pub(crate) struct SourceChangelog {
    /// The input topic, as named in the topology (a user topic).
    pub(crate) topic: String,
    pub(crate) recode: RestoreRecode,
}

impl std::fmt::Debug for SourceChangelog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceChangelog")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// A store's changelog, as the runtime restores it.
pub(crate) enum StoreChangelog<'a> {
    /// Its own topic (physical name), written as the store changes.
    Own(String),
    /// The input topic of its table (physical name), read only.
    Source(String, &'a RestoreRecode),
}

impl Topology {
    /// Restores `store` from its table's input topic instead of a changelog of its own.
    pub(crate) fn set_source_changelog(&mut self, store: &str, changelog: SourceChangelog) {
        self.source_changelogs.insert(store.to_string(), changelog);
    }

    /// Whether `store` is restored from its table's input topic.
    pub(crate) fn source_changelog(&self, store: &str) -> Option<&SourceChangelog> {
        self.source_changelogs.get(store)
    }

    /// Where `store` of application `app_id` is restored from, if anywhere.
    pub(crate) fn store_changelog(&self, app_id: &str, store: &str) -> Option<StoreChangelog<'_>> {
        if let Some(source) = self.source_changelogs.get(store) {
            return Some(StoreChangelog::Source(
                self.physical_topic(app_id, &source.topic),
                &source.recode,
            ));
        }
        self.store(store)
            .filter(|s| s.logging_enabled())
            .map(|_| StoreChangelog::Own(Self::changelog_topic(app_id, store)))
    }

    /// Whether `store` can be rebuilt: it has a changelog, its own or its input topic.
    pub(crate) fn store_rebuildable(&self, store: &str) -> bool {
        self.source_changelogs.contains_key(store)
            || self.store(store).is_some_and(|s| s.logging_enabled())
    }

    /// Whether `store` writes a changelog topic of its own (which the application creates).
    pub(crate) fn store_has_own_changelog(&self, store: &str) -> bool {
        !self.source_changelogs.contains_key(store)
            && self.store(store).is_some_and(|s| s.logging_enabled())
    }
}
