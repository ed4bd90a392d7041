//! Topology optimization (`topology.optimization`), applied by
//! [`StreamsBuilder::build_with`](super::StreamsBuilder::build_with) to the topology the DSL
//! built, as Kafka Streams' `InternalStreamsBuilder` optimizes its graph before writing it:
//!
//! - `reuse`: a source table's store is restored from its input topic, with no changelog;
//! - `merge`: the repartition topics one key-changing operation feeds become one.
//!
//! The DSL lowers each operator straight onto the [`Topology`]; what the optimizations need to
//! know about the operators (which change keys or values, which merge streams, which
//! repartition topics could be merged, which tables read a topic) it notes in
//! [`OptimizationHints`] as it goes.

mod merge;
mod reuse;
#[cfg(test)]
mod tests;

use std::collections::HashSet;

use crate::config::TopologyOptimizations;
use crate::topology::SourceChangelog;
use crate::{Result, Topology};

/// What the DSL noted for the optimizations, by node name.
#[derive(Default)]
pub(crate) struct OptimizationHints {
    /// Operators that may change the key (`select_key`, `map`, `flat_map`, `group_by`'s key
    /// selection, `process`).
    pub(crate) key_changing: HashSet<String>,
    /// Operators that change values but not keys (`map_values`, `flat_map_values`,
    /// `process_values`): a repartition below one is not merged.
    pub(crate) value_changing: HashSet<String>,
    /// `merge` nodes, in the order they were added.
    pub(crate) merge_nodes: Vec<String>,
    /// Repartition topics a grouping or join inserted after a key change, in the order they
    /// were added (`repartition()` topics and a table's regrouping are never merged, as in
    /// Kafka Streams).
    pub(crate) repartitions: Vec<RepartitionHint>,
    /// The stores of `StreamsBuilder::table`, which can be restored from their input topics.
    pub(crate) table_sources: Vec<(String, SourceChangelog)>,
}

/// The nodes of one repartition topic: `filter` → `sink` → topic → `source`.
#[derive(Debug, Clone)]
pub(crate) struct RepartitionHint {
    pub(crate) topic: String,
    pub(crate) filter: String,
    pub(crate) sink: String,
    pub(crate) source: String,
}

/// `topology` with the optimizations of `chosen` applied.
pub(crate) fn optimize(
    topology: &Topology,
    hints: &OptimizationHints,
    chosen: TopologyOptimizations,
) -> Result<Topology> {
    let mut topology = topology.clone();
    if chosen.reuse_ktable_source_topics {
        reuse::reuse_source_topics(&mut topology, hints);
    }
    if chosen.merge_repartition_topics {
        topology = merge::merge_repartition_topics(&topology, hints)?;
    }
    // `single.store.self.join` is accepted and not applied: a self-join keeps two stores.
    Ok(topology)
}
