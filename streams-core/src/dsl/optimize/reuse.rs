//! `reuse.ktable.source.topics`: the store of a table read from a topic gets no changelog
//! topic; it is restored from the input topic itself (up to the committed input offset), and
//! nothing is written for it but the store.

use super::OptimizationHints;
use crate::Topology;

/// Marks every source table's store as restored from its input topic.
pub(super) fn reuse_source_topics(topology: &mut Topology, hints: &OptimizationHints) {
    for (store, changelog) in &hints.table_sources {
        if topology.store(store).is_some() {
            topology.set_source_changelog(store, changelog.clone());
        }
    }
}
