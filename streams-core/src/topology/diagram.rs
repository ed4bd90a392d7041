//! Rendering a [`TopologyDescription`] as a diagram: Mermaid (for Markdown viewers) or
//! Graphviz DOT.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::{NodeKindDescription, TopologyDescription};

fn id(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

impl TopologyDescription {
    /// A Mermaid flowchart: one subgraph per sub-topology, topics as stadiums, stores as
    /// cylinders, edges from topics to sources, sinks to topics and processors to stores.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
    ///     .group_by_key().count(Materialized::as_("counts")).to_stream().to("out");
    /// let mermaid = builder.build()?.describe().to_mermaid();
    /// assert!(mermaid.starts_with("flowchart LR"));
    /// assert!(mermaid.contains("store_counts[(counts)]"));
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let mut topics = BTreeSet::new();
        let mut stores = BTreeSet::new();
        let mut edges = Vec::new();
        for sub in &self.subtopologies {
            let _ = writeln!(out, "  subgraph sub{}[\"Sub-topology {}\"]", sub.id, sub.id);
            for node in &sub.nodes {
                let _ = writeln!(out, "    {}[\"{}\"]", id(&node.name), node.name);
                for successor in &node.successors {
                    edges.push(format!("  {} --> {}", id(&node.name), id(successor)));
                }
                match &node.kind {
                    NodeKindDescription::Source { topics: ts } => {
                        for t in ts {
                            topics.insert(t.clone());
                            edges.push(format!("  topic_{} --> {}", id(t), id(&node.name)));
                        }
                    }
                    NodeKindDescription::Sink { topic } => {
                        topics.insert(topic.clone());
                        edges.push(format!("  {} --> topic_{}", id(&node.name), id(topic)));
                    }
                    NodeKindDescription::Processor { stores: ss } => {
                        for s in ss {
                            stores.insert(s.clone());
                            edges.push(format!("  {} -.- store_{}", id(&node.name), id(s)));
                        }
                    }
                }
            }
            out.push_str("  end\n");
        }
        for g in &self.global_stores {
            topics.insert(g.topic.clone());
            stores.insert(g.store.clone());
            edges.push(format!(
                "  topic_{} --> store_{}",
                id(&g.topic),
                id(&g.store)
            ));
        }
        for t in &topics {
            let _ = writeln!(out, "  topic_{}([{}])", id(t), t);
        }
        for s in &stores {
            let _ = writeln!(out, "  store_{}[({})]", id(s), s);
        }
        for e in edges {
            out.push_str(&e);
            out.push('\n');
        }
        out
    }

    /// A Graphviz DOT digraph (`dot -Tsvg` renders it), with the same shapes as
    /// [`to_mermaid`](Self::to_mermaid).
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    ///
    /// let builder = StreamsBuilder::new();
    /// builder.stream("in", Consumed::with(Serdes::string(), Serdes::string())).to("out");
    /// let dot = builder.build()?.describe().to_dot();
    /// assert!(dot.contains("\"topic:in\" -> \"KSTREAM-SOURCE-0000000000\""));
    /// # Ok::<(), streams_core::Error>(())
    /// ```
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph topology {\n  rankdir=LR;\n");
        for sub in &self.subtopologies {
            let _ = writeln!(
                out,
                "  subgraph cluster_{} {{\n    label=\"Sub-topology {}\";",
                sub.id, sub.id
            );
            for node in &sub.nodes {
                let _ = writeln!(out, "    \"{}\" [shape=box];", node.name);
            }
            out.push_str("  }\n");
            for node in &sub.nodes {
                for successor in &node.successors {
                    let _ = writeln!(out, "  \"{}\" -> \"{}\";", node.name, successor);
                }
                match &node.kind {
                    NodeKindDescription::Source { topics } => {
                        for t in topics {
                            let _ =
                                writeln!(out, "  \"topic:{t}\" [shape=ellipse, label=\"{t}\"];");
                            let _ = writeln!(out, "  \"topic:{t}\" -> \"{}\";", node.name);
                        }
                    }
                    NodeKindDescription::Sink { topic } => {
                        let _ = writeln!(
                            out,
                            "  \"topic:{topic}\" [shape=ellipse, label=\"{topic}\"];"
                        );
                        let _ = writeln!(out, "  \"{}\" -> \"topic:{topic}\";", node.name);
                    }
                    NodeKindDescription::Processor { stores } => {
                        for s in stores {
                            let _ =
                                writeln!(out, "  \"store:{s}\" [shape=cylinder, label=\"{s}\"];");
                            let _ = writeln!(
                                out,
                                "  \"{}\" -> \"store:{s}\" [style=dashed, dir=none];",
                                node.name
                            );
                        }
                    }
                }
            }
        }
        for g in &self.global_stores {
            let _ = writeln!(
                out,
                "  \"topic:{}\" [shape=ellipse, label=\"{}\"];",
                g.topic, g.topic
            );
            let _ = writeln!(
                out,
                "  \"store:{}\" [shape=cylinder, label=\"{} (global)\"];",
                g.store, g.store
            );
            let _ = writeln!(out, "  \"topic:{}\" -> \"store:{}\";", g.topic, g.store);
        }
        out.push_str("}\n");
        out
    }
}
