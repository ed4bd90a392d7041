//! Editing a built topology's graph: moving edges, dropping nodes and internal topics, then
//! laying the nodes out again parents-first. The DSL's optimizations (`dsl::optimize`) rewrite
//! topologies this way, as Kafka Streams rewrites its graph before building.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::Topology;
use super::node::TypePair;
use crate::{Error, Result};

/// A topology being edited: node ids stay those of the original until [`finish`](Self::finish).
pub(crate) struct TopologyEditor {
    topology: Topology,
    removed: Vec<bool>,
    /// Where a node goes in the new layout: by default its old position; a node placed after
    /// another takes that node's position, then its order among the nodes placed there.
    rank: Vec<(usize, usize)>,
}

impl TopologyEditor {
    pub(crate) fn new(topology: &Topology) -> Self {
        let count = topology.nodes.len();
        TopologyEditor {
            topology: topology.clone(),
            removed: vec![false; count],
            rank: (0..count).map(|i| (i, 0)).collect(),
        }
    }

    pub(crate) fn id(&self, name: &str) -> Option<usize> {
        self.topology
            .by_name
            .get(name)
            .copied()
            .filter(|&id| !self.removed[id])
    }

    pub(crate) fn parents(&self, id: usize) -> &[usize] {
        &self.topology.nodes[id].parents
    }

    pub(crate) fn children(&self, id: usize) -> &[usize] {
        &self.topology.nodes[id].children
    }

    pub(crate) fn name(&self, id: usize) -> &str {
        &self.topology.nodes[id].name
    }

    pub(crate) fn output_types(&self, id: usize) -> Option<TypePair> {
        self.topology.nodes[id].factory.output_types()
    }

    /// Adds the edge `parent` → `child` (after `parent`'s other children), if absent.
    pub(crate) fn add_edge(&mut self, parent: usize, child: usize) {
        let nodes = &mut self.topology.nodes;
        if !nodes[parent].children.contains(&child) {
            nodes[parent].children.push(child);
        }
        if !nodes[child].parents.contains(&parent) {
            nodes[child].parents.push(parent);
        }
    }

    /// Orders `id`'s children as they were created, as Kafka Streams builds a graph node's
    /// children (in creation order), whatever order edges were added in.
    pub(crate) fn sort_children(&mut self, id: usize) {
        self.topology.nodes[id].children.sort_unstable();
    }

    /// Removes the edge `parent` → `child`, if present.
    pub(crate) fn remove_edge(&mut self, parent: usize, child: usize) {
        let nodes = &mut self.topology.nodes;
        nodes[parent].children.retain(|&c| c != child);
        nodes[child].parents.retain(|&p| p != parent);
    }

    /// Removes node `id` with its edges.
    pub(crate) fn remove_node(&mut self, id: usize) {
        for parent in self.topology.nodes[id].parents.clone() {
            self.remove_edge(parent, id);
        }
        for child in self.topology.nodes[id].children.clone() {
            self.remove_edge(id, child);
        }
        self.removed[id] = true;
    }

    /// Lays `nodes` out right after `anchor`, in this order.
    pub(crate) fn place_after(&mut self, anchor: usize, nodes: &[usize]) {
        let at = self.rank[anchor].0;
        let base = self.rank[anchor].1;
        for (i, &id) in nodes.iter().enumerate() {
            self.rank[id] = (at, base + 1 + i);
        }
    }

    /// Forgets internal topic `topic` (no node reads or writes it any more).
    pub(crate) fn remove_internal_topic(&mut self, topic: &str) {
        self.topology.internal_topics.remove(topic);
        self.topology.internal_partitions.remove(topic);
    }

    /// The edited topology: nodes laid out parents first (each where its rank puts it, as
    /// early as its parents allow), every edge checked to carry the types both ends expect.
    pub(crate) fn finish(self) -> Result<Topology> {
        let TopologyEditor {
            mut topology,
            removed,
            rank,
        } = self;
        let old = std::mem::take(&mut topology.nodes);
        let mut waiting: Vec<usize> = old.iter().map(|n| n.parents.len()).collect();
        let mut ready: BinaryHeap<Reverse<((usize, usize), usize)>> = old
            .iter()
            .enumerate()
            .filter(|(id, n)| !removed[*id] && n.parents.is_empty())
            .map(|(id, _)| Reverse((rank[id], id)))
            .collect();
        let mut order = Vec::with_capacity(old.len());
        while let Some(Reverse((_, id))) = ready.pop() {
            order.push(id);
            for &child in &old[id].children {
                waiting[child] -= 1;
                if waiting[child] == 0 {
                    ready.push(Reverse((rank[child], child)));
                }
            }
        }
        let live = removed.iter().filter(|r| !**r).count();
        if order.len() != live {
            return Err(Error::Topology(
                "rewriting the topology made a cycle of nodes".into(),
            ));
        }
        let new_id: HashMap<usize, usize> = order
            .iter()
            .enumerate()
            .map(|(new, &old)| (old, new))
            .collect();
        let remap = |ids: &[usize]| -> Vec<usize> { ids.iter().map(|i| new_id[i]).collect() };
        let mut old: Vec<Option<super::NodeDef>> = old.into_iter().map(Some).collect();
        topology.by_name.clear();
        for &id in &order {
            let Some(mut node) = old[id].take() else {
                continue;
            };
            node.parents = remap(&node.parents);
            node.children = remap(&node.children);
            topology
                .by_name
                .insert(node.name.clone(), topology.nodes.len());
            topology.nodes.push(node);
        }
        for node in &topology.nodes {
            let input = node.factory.input_types();
            for &parent in &node.parents {
                let output = topology.nodes[parent].factory.output_types();
                if output.is_none() || output != input {
                    return Err(Error::Topology(format!(
                        "rewriting the topology connected `{}` to `{}`, which do not agree on types",
                        topology.nodes[parent].name, node.name
                    )));
                }
            }
            if input.is_some() && node.parents.is_empty() {
                return Err(Error::Topology(format!(
                    "rewriting the topology left `{}` without a parent",
                    node.name
                )));
            }
        }
        Ok(topology)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dsl::{Consumed, StreamsBuilder};
    use crate::serde::Serdes;

    #[test]
    fn moved_nodes_are_laid_out_after_their_new_parents() {
        let builder = StreamsBuilder::new();
        let source = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
        source.filter(|_, _| true).to("a");
        source.peek(|_, _| {}).to("b");
        let topology = builder.build().unwrap();
        let mut editor = TopologyEditor::new(&topology);
        let id = |e: &TopologyEditor, n: &str| e.id(n).unwrap();
        let (src, filter, peek) = (
            id(&editor, "KSTREAM-SOURCE-0000000000"),
            id(&editor, "KSTREAM-FILTER-0000000001"),
            id(&editor, "KSTREAM-PEEK-0000000003"),
        );
        // The filter now reads after the peek: it must come after it in the layout.
        editor.remove_edge(src, filter);
        editor.add_edge(peek, filter);
        let sink_b = id(&editor, "KSTREAM-SINK-0000000004");
        editor.remove_node(sink_b);
        let rewritten = editor.finish().unwrap();
        let names: Vec<&str> = rewritten.nodes().iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "KSTREAM-SOURCE-0000000000",
                "KSTREAM-PEEK-0000000003",
                "KSTREAM-FILTER-0000000001",
                "KSTREAM-SINK-0000000002",
            ]
        );
        let text = rewritten.describe().to_string();
        assert!(text.contains("<-- KSTREAM-PEEK-0000000003"), "{text}");
    }

    #[test]
    fn edges_between_nodes_of_other_types_are_refused() {
        let builder = StreamsBuilder::new();
        let source = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
        source.map_values(|v: String| v.len() as u64).to("lengths");
        source.to("copy");
        let topology = builder.build().unwrap();
        let mut editor = TopologyEditor::new(&topology);
        let (map, copy) = (
            editor.id("KSTREAM-MAPVALUES-0000000001").unwrap(),
            editor.id("KSTREAM-SINK-0000000003").unwrap(),
        );
        let src = editor.id("KSTREAM-SOURCE-0000000000").unwrap();
        editor.remove_edge(src, copy);
        editor.add_edge(map, copy);
        let err = editor.finish().map(|_| ()).unwrap_err();
        assert!(err.to_string().contains("do not agree on types"), "{err}");
    }
}
