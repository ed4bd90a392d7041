//! Splitting a topology into sub-topologies: connected components over edges and shared stores.

use std::collections::{BTreeSet, HashMap};

use super::{NodeKind, Topology};

/// One connected part of a topology, run as one task per partition.
#[derive(Debug, Clone)]
pub(crate) struct Subtopology {
    pub(crate) id: u32,
    /// Node indices in insertion order (parents before children).
    pub(crate) nodes: Vec<usize>,
    /// Topics read by its sources, as named in the topology.
    pub(crate) source_topics: BTreeSet<String>,
    /// Topics written by its sinks, as named in the topology.
    pub(crate) sink_topics: BTreeSet<String>,
    /// Stores used by its processors.
    pub(crate) stores: BTreeSet<String>,
}

fn find(parent: &mut [usize], mut x: usize) -> usize {
    while parent[x] != x {
        parent[x] = parent[parent[x]];
        x = parent[x];
    }
    x
}

fn union(parent: &mut [usize], a: usize, b: usize) {
    let (ra, rb) = (find(parent, a), find(parent, b));
    if ra != rb {
        // Keep the smaller index as root so components are named by their first node.
        let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
        parent[hi] = lo;
    }
}

pub(super) fn split(topology: &Topology) -> Vec<Subtopology> {
    let nodes = topology.nodes();
    let mut parent: Vec<usize> = (0..nodes.len()).collect();
    let mut store_owner: HashMap<&str, usize> = HashMap::new();
    for (id, node) in nodes.iter().enumerate() {
        for &p in &node.parents {
            union(&mut parent, id, p);
        }
        for store in &node.stores {
            match store_owner.get(store.as_str()) {
                Some(&other) => union(&mut parent, id, other),
                None => {
                    store_owner.insert(store, id);
                }
            }
        }
    }
    let mut roots: Vec<usize> = Vec::new();
    let mut groups: HashMap<usize, Subtopology> = HashMap::new();
    for (id, node) in nodes.iter().enumerate() {
        let root = find(&mut parent, id);
        let group = groups.entry(root).or_insert_with(|| {
            roots.push(root);
            Subtopology {
                id: 0,
                nodes: Vec::new(),
                source_topics: BTreeSet::new(),
                sink_topics: BTreeSet::new(),
                stores: BTreeSet::new(),
            }
        });
        group.nodes.push(id);
        match &node.kind {
            NodeKind::Source { topics } => group.source_topics.extend(topics.iter().cloned()),
            NodeKind::Sink { topic } if topic != super::DYNAMIC_SINK_TOPIC => {
                group.sink_topics.insert(topic.clone());
            }
            NodeKind::Sink { .. } => {}
            NodeKind::Processor => {}
        }
        group.stores.extend(node.stores.iter().cloned());
    }
    roots.sort_unstable();
    roots
        .into_iter()
        .enumerate()
        .filter_map(|(index, root)| {
            let mut group = groups.remove(&root)?;
            group.id = index as u32;
            Some(group)
        })
        .collect()
}
