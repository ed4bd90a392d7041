//! `merge.repartition.topics`: when one key-changing operation feeds several repartition
//! topics (several aggregations, joins), they become one, written right after that operation,
//! as Kafka Streams' `mergeRepartitionTopics` does.
//!
//! Kafka Streams' rules, on our graph of processor nodes:
//! - a repartition topic belongs to the first key- or value-changing operation above it, if
//!   that one changes keys (a `map_values` in between keeps it apart);
//! - a key-changing operation whose repartition topics are all below one `merge` (which is
//!   below it) hands them to that merge node, so that the other merged stream is repartitioned
//!   too;
//! - the merged topic takes the name and serdes of the first of them; what lay between the
//!   operation and each topic (filters, peeks) moves after the merged topic, and what read
//!   each topic reads from there.
//!
//! Two rules of ours keep the rewrite from changing what records meet: a topic is not merged
//! when a node between the operation and it has another parent (a `merge` with another
//! stream, which Kafka Streams would let skip the repartitioning), and the merged topic must
//! carry the operation's own key and value types (Kafka Streams takes the first topic's
//! serdes even when an operator it does not count as value-changing sits in between).

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{OptimizationHints, RepartitionHint};
use crate::topology::rewrite::TopologyEditor;
use crate::{Result, Topology};

/// A repartition topic's nodes, by id in the editor.
#[derive(Debug, Clone, Copy)]
struct Repartition<'a> {
    hint: &'a RepartitionHint,
    filter: usize,
    sink: usize,
    source: usize,
}

/// One merge: the node the merged topic follows, and the topics merged.
struct Group<'a> {
    anchor: usize,
    members: Vec<Repartition<'a>>,
}

pub(super) fn merge_repartition_topics(
    topology: &Topology,
    hints: &OptimizationHints,
) -> Result<Topology> {
    let mut editor = TopologyEditor::new(topology);
    let repartitions: Vec<Repartition<'_>> = hints
        .repartitions
        .iter()
        .filter_map(|hint| {
            Some(Repartition {
                hint,
                filter: editor.id(&hint.filter)?,
                sink: editor.id(&hint.sink)?,
                source: editor.id(&hint.source)?,
            })
        })
        .collect();
    let groups = groups(&editor, hints, &repartitions);
    let mut merged_any = false;
    for group in groups {
        merged_any |= merge_group(&mut editor, group);
    }
    if !merged_any {
        return Ok(topology.clone());
    }
    editor.finish()
}

/// Kafka Streams' `findParentNodeMatching`: `start` if it matches, else the first parent that
/// does, else what the search from the last parent found (memoized: the answer from a node
/// never changes).
fn find_matching(
    editor: &TopologyEditor,
    start: usize,
    matches: &dyn Fn(usize) -> bool,
    memo: &mut HashMap<usize, Option<usize>>,
) -> Option<usize> {
    if matches(start) {
        return Some(start);
    }
    if let Some(&known) = memo.get(&start) {
        return known;
    }
    let mut found = None;
    for &parent in editor.parents(start) {
        if matches(parent) {
            memo.insert(start, Some(parent));
            return Some(parent);
        }
        found = find_matching(editor, parent, matches, memo);
    }
    memo.insert(start, found);
    found
}

/// The key-changing operation (or merge node) each mergeable repartition topic belongs to, in
/// the order the operations were added.
fn groups<'a>(
    editor: &TopologyEditor,
    hints: &OptimizationHints,
    repartitions: &[Repartition<'a>],
) -> Vec<Group<'a>> {
    let name_in = |set: &HashSet<String>, id: usize| set.contains(editor.name(id));
    let key_changing = |id: usize| name_in(&hints.key_changing, id);
    let changing =
        |id: usize| name_in(&hints.key_changing, id) || name_in(&hints.value_changing, id);
    let mut by_anchor: BTreeMap<usize, Vec<Repartition<'a>>> = BTreeMap::new();
    let (mut memo_changing, mut memo_key) = (HashMap::new(), HashMap::new());
    for r in repartitions {
        let first = find_matching(editor, r.filter, &changing, &mut memo_changing);
        let key = find_matching(editor, r.filter, &key_changing, &mut memo_key);
        if let (Some(first), Some(key)) = (first, key)
            && first == key
        {
            by_anchor.entry(key).or_default().push(*r);
        }
    }
    // A merge node below a key-changing operation and above all its topics takes them over
    // (the latest such merge first: it is the one nearest the topics).
    let below = |node: usize, ancestor: usize| {
        find_matching(
            editor,
            node,
            &|n| editor.parents(n).contains(&ancestor),
            &mut HashMap::new(),
        )
        .is_some()
    };
    let mut merges: Vec<usize> = hints
        .merge_nodes
        .iter()
        .filter_map(|n| editor.id(n))
        .collect();
    merges.reverse();
    for merge in merges {
        let taken: Vec<usize> = by_anchor
            .iter()
            .filter(|(anchor, members)| {
                **anchor != merge
                    && below(merge, **anchor)
                    && members.iter().all(|r| below(r.filter, merge))
            })
            .map(|(anchor, _)| *anchor)
            .collect();
        for anchor in taken {
            let members = by_anchor.remove(&anchor).unwrap_or_default();
            by_anchor.entry(merge).or_default().extend(members);
        }
    }
    by_anchor
        .into_iter()
        .map(|(anchor, members)| Group { anchor, members })
        .collect()
}

/// The nodes from just below `anchor` down to `r`'s filter (excluded), if they form one
/// chain: each with a single parent, the first a child of `anchor`. Empty when the filter
/// hangs off `anchor` itself.
fn chain(editor: &TopologyEditor, anchor: usize, r: &Repartition<'_>) -> Option<Vec<usize>> {
    let mut path = Vec::new();
    let mut node = r.filter;
    loop {
        let [parent] = editor.parents(node) else {
            return None;
        };
        if *parent == anchor {
            path.reverse();
            return Some(path);
        }
        node = *parent;
        path.push(node);
    }
}

/// Merges `group`'s topics into the first one that carries the anchor's types; returns
/// whether it merged anything.
fn merge_group(editor: &mut TopologyEditor, group: Group<'_>) -> bool {
    let anchor = group.anchor;
    let anchor_types = editor.output_types(anchor);
    let members: Vec<(Repartition<'_>, Vec<usize>)> = group
        .members
        .into_iter()
        .filter_map(|r| Some((r, chain(editor, anchor, &r)?)))
        .collect();
    // Kafka Streams names the merged topic after the first one; ours is the first one that
    // carries the operation's types (the first one, unless an operator in between changed
    // them: what lay in between moves below the merged topic, so it must carry those types).
    let Some(k) = members
        .iter()
        .position(|(r, _)| editor.output_types(r.source) == anchor_types)
    else {
        return false;
    };
    if members.len() < 2 && members[0].1.is_empty() {
        // One topic right after the operation: nothing to merge or move.
        return false;
    }
    let kept = members[k].0;
    // What each topic's source fed, and what fed its filter, before any edge moves.
    let readers: Vec<Vec<usize>> = members
        .iter()
        .map(|(r, _)| editor.children(r.source).to_vec())
        .collect();
    let tails: Vec<Vec<usize>> = members
        .iter()
        .map(|(r, _)| editor.parents(r.filter).to_vec())
        .collect();
    // Detach the kept topic's nodes: they become the merged topic.
    for &parent in &tails[k] {
        editor.remove_edge(parent, kept.filter);
    }
    for &child in &readers[k] {
        editor.remove_edge(kept.source, child);
    }
    for (i, (r, path)) in members.iter().enumerate() {
        let ends = match path.first() {
            // The topic hung off the operation: its readers read the merged topic.
            None => vec![kept.source],
            // What lay in between moves below the merged topic; the topic's readers read
            // from the end of it.
            Some(&head) => {
                editor.remove_edge(anchor, head);
                editor.add_edge(kept.source, head);
                tails[i].clone()
            }
        };
        if i != k {
            for node in [r.filter, r.sink, r.source] {
                editor.remove_node(node);
            }
            editor.remove_internal_topic(&r.hint.topic);
        }
        for &reader in &readers[i] {
            for &end in &ends {
                editor.add_edge(end, reader);
            }
        }
    }
    // Kafka Streams adds the merged topic's readers in the order the DSL made them: what lay
    // in between (made before the joins and aggregations that read the topics) comes first,
    // and with it the order in which a record reaches them (a self-join's right side first).
    editor.sort_children(kept.source);
    editor.add_edge(anchor, kept.filter);
    editor.place_after(anchor, &[kept.filter, kept.sink, kept.source]);
    true
}
