//! [`TopologyDescription`]: a readable account of a topology, printed like Kafka Streams'.

use std::fmt;

use super::{NodeKind, Topology};

/// Sub-topologies with their nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TopologyDescription {
    /// The sub-topologies, by id.
    pub subtopologies: Vec<SubtopologyDescription>,
    /// Global stores, numbered after the sub-topologies; they run on every instance and
    /// generate no tasks.
    pub global_stores: Vec<GlobalStoreDescription>,
}

/// A global store and the nodes that keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GlobalStoreDescription {
    /// Its id, after the sub-topologies'.
    pub id: u32,
    /// The source node's name.
    pub source: String,
    /// The topic it copies.
    pub topic: String,
    /// The processor node's name.
    pub processor: String,
    /// The store's name.
    pub store: String,
}

/// One sub-topology.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubtopologyDescription {
    /// Its id (tasks are named `<id>_<partition>`).
    pub id: u32,
    /// Its nodes, parents before children.
    pub nodes: Vec<NodeDescription>,
}

/// One node.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeDescription {
    /// Node name.
    pub name: String,
    /// Kind, with topics or stores.
    pub kind: NodeKindDescription,
    /// Names of the nodes it forwards to.
    pub successors: Vec<String>,
    /// Names of the nodes that forward to it.
    pub predecessors: Vec<String>,
}

/// The kind of a node and what it touches.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NodeKindDescription {
    /// Reads topics.
    Source {
        /// Topic names as in the topology (internal ones without the application id).
        topics: Vec<String>,
    },
    /// Runs code, possibly with stores.
    Processor {
        /// Connected stores.
        stores: Vec<String>,
    },
    /// Writes a topic.
    Sink {
        /// Topic name as in the topology.
        topic: String,
    },
}

pub(super) fn describe(topology: &Topology) -> TopologyDescription {
    let nodes = topology.nodes();
    let names = |ids: &[usize]| ids.iter().map(|&i| nodes[i].name.clone()).collect();
    let subtopologies: Vec<SubtopologyDescription> = topology
        .subtopologies()
        .into_iter()
        .map(|sub| SubtopologyDescription {
            id: sub.id,
            nodes: sub
                .nodes
                .iter()
                .map(|&id| {
                    let node = &nodes[id];
                    NodeDescription {
                        name: node.name.clone(),
                        kind: match &node.kind {
                            NodeKind::Source { topics } => NodeKindDescription::Source {
                                topics: topics.clone(),
                            },
                            NodeKind::Processor => NodeKindDescription::Processor {
                                stores: node.stores.clone(),
                            },
                            NodeKind::Sink { topic } => NodeKindDescription::Sink {
                                topic: topic.clone(),
                            },
                        },
                        successors: names(&node.children),
                        predecessors: names(&node.parents),
                    }
                })
                .collect(),
        })
        .collect();
    let first_global = subtopologies.len() as u32;
    let global_stores = topology
        .global_stores()
        .iter()
        .enumerate()
        .map(|(i, g)| GlobalStoreDescription {
            id: first_global + i as u32,
            source: g.source_name.clone(),
            topic: g.topic.clone(),
            processor: g.processor_name.clone(),
            store: g.store.name().to_string(),
        })
        .collect();
    TopologyDescription {
        subtopologies,
        global_stores,
    }
}

impl fmt::Display for TopologyDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Topologies:")?;
        for sub in &self.subtopologies {
            writeln!(f, "   Sub-topology: {}", sub.id)?;
            for node in &sub.nodes {
                match &node.kind {
                    NodeKindDescription::Source { topics } => writeln!(
                        f,
                        "    Source: {} (topics: [{}])",
                        node.name,
                        topics.join(", ")
                    )?,
                    NodeKindDescription::Processor { stores } => writeln!(
                        f,
                        "    Processor: {} (stores: [{}])",
                        node.name,
                        stores.join(", ")
                    )?,
                    NodeKindDescription::Sink { topic } => {
                        writeln!(f, "    Sink: {} (topic: {})", node.name, topic)?
                    }
                }
                if !matches!(node.kind, NodeKindDescription::Sink { .. }) {
                    let successors = if node.successors.is_empty() {
                        "none".to_string()
                    } else {
                        node.successors.join(", ")
                    };
                    writeln!(f, "      --> {successors}")?;
                }
                if !node.predecessors.is_empty() {
                    writeln!(f, "      <-- {}", node.predecessors.join(", "))?;
                }
            }
            writeln!(f)?;
        }
        for g in &self.global_stores {
            writeln!(
                f,
                "   Sub-topology: {} for global store (will not generate tasks)",
                g.id
            )?;
            writeln!(f, "    Source: {} (topics: [{}])", g.source, g.topic)?;
            writeln!(f, "      --> {}", g.processor)?;
            writeln!(f, "    Processor: {} (stores: [{}])", g.processor, g.store)?;
            writeln!(f, "      --> none")?;
            writeln!(f, "      <-- {}", g.source)?;
            writeln!(f)?;
        }
        Ok(())
    }
}
