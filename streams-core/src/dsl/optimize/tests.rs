//! The optimizations against Kafka Streams' own: the topologies of
//! `tests/data/optimization/OptimizationReference.java`, built here, must split into the same
//! sub-topologies (source topics, sink topics, stores) and create the same internal topics as
//! Kafka Streams 4.4.0's, without and with `topology.optimization=all`.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::dsl::{Consumed, Materialized, Produced, StreamsBuilder, TimeWindows};
use crate::serde::Serdes;
use crate::{StreamsConfig, Topology};

/// Kafka Streams' output (see the README next to it).
const KAFKA: &str = include_str!("../../../tests/data/optimization/kafka-streams-4.4.0.txt");

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

fn table_join_and_two_aggregations(b: &StreamsBuilder) {
    let users = b.table("users", strings(), Materialized::as_("users-store"));
    let clicks = b.stream("clicks", strings());
    clicks
        .join_table(&users, |page: &String, user: &String| {
            format!("{page}@{user}")
        })
        .to("enriched");
    let by_page = clicks.select_key(|_user, page: &String| page.clone());
    by_page
        .group_by_key()
        .count(Materialized::as_("page-views"))
        .to_stream()
        .to_with(
            "page-view-counts",
            Produced::with(Serdes::string(), Serdes::nullable(Serdes::u64())),
        );
    by_page
        .group_by_key()
        .reduce(|_older, newer| newer, Materialized::as_("page-last-click"))
        .to_stream()
        .to("page-last-clicks");
}

fn filter_between(b: &StreamsBuilder) {
    let by_page = b
        .stream("clicks", strings())
        .select_key(|_user, page: &String| page.clone());
    by_page
        .filter(|_page, user: &String| !user.is_empty())
        .group_by_key()
        .count(Materialized::as_("a"));
    by_page
        .group_by_key()
        .reduce(|_older, newer| newer, Materialized::as_("b"));
}

fn map_values_between(b: &StreamsBuilder) {
    let by_page = b
        .stream("clicks", strings())
        .select_key(|_user, page: &String| page.clone());
    by_page
        .map_values(|user: String| user.to_uppercase())
        .group_by_key()
        .count(Materialized::as_("a"));
    by_page
        .group_by_key()
        .reduce(|_older, newer| newer, Materialized::as_("b"));
    by_page.group_by_key().count(Materialized::as_("c"));
}

fn merged_streams(b: &StreamsBuilder) {
    let web = b
        .stream("web", strings())
        .select_key(|_user, page: &String| page.clone());
    let merged = web.merge(&b.stream("app", strings()));
    merged.group_by_key().count(Materialized::as_("a"));
    merged
        .group_by_key()
        .reduce(|_older, newer| newer, Materialized::as_("b"));
}

fn windowed_and_plain(b: &StreamsBuilder) {
    let by_page = b
        .stream("clicks", strings())
        .select_key(|_user, page: &String| page.clone());
    by_page
        .group_by_key()
        .windowed_by(TimeWindows::of_size_with_no_grace(Duration::from_secs(300)))
        .count(Materialized::as_("w"));
    by_page
        .group_by(|_page, user: &String| user.clone())
        .count(Materialized::as_("by-user"));
    by_page.group_by_key().count(Materialized::as_("c"));
}

type Build = fn(&StreamsBuilder);

const TOPOLOGIES: [(&str, Build); 5] = [
    (
        "table_join_and_two_aggregations",
        table_join_and_two_aggregations,
    ),
    ("filter_between", filter_between),
    ("map_values_between", map_values_between),
    ("merged_streams", merged_streams),
    ("windowed_and_plain", windowed_and_plain),
];

fn build(topology: Build, optimization: &str) -> Topology {
    let builder = StreamsBuilder::new();
    topology(&builder);
    let mut config = StreamsConfig::new();
    config.set("topology.optimization", optimization);
    builder.build_with(&config).expect("the topology builds")
}

fn list(items: &BTreeSet<String>) -> String {
    format!("[{}]", items.iter().cloned().collect::<Vec<_>>().join(", "))
}

/// One line per sub-topology, sorted, and the internal topics to create, as the Java program
/// prints them.
fn canonical(topology: &Topology) -> String {
    let mut lines: Vec<String> = topology
        .subtopologies()
        .iter()
        .map(|sub| {
            format!(
                "sources={} sinks={} stores={}",
                list(&sub.source_topics),
                list(&sub.sink_topics),
                list(&sub.stores)
            )
        })
        .collect();
    lines.sort();
    let plan =
        crate::runtime::plan::plan(topology, "app", -1, |_| Ok(Some(1))).expect("the topics plan");
    let created: BTreeSet<String> = plan.internal_topics.into_iter().map(|t| t.name).collect();
    lines.push(format!("created={}", list(&created)));
    lines.join("\n")
}

/// Kafka Streams' canonical lines for topology `name` under `optimization`.
fn kafka(name: &str, optimization: &str) -> String {
    let header = format!("### {name} topology.optimization={optimization}");
    let section = KAFKA
        .split("### ")
        .find(|s| format!("### {s}").starts_with(&header))
        .unwrap_or_else(|| panic!("no `{header}` in the reference"));
    section
        .lines()
        .filter(|l| l.starts_with("sources=") || l.starts_with("created="))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sub_topologies_and_internal_topics_are_kafka_streams_ones() {
    for (name, topology) in TOPOLOGIES {
        for optimization in ["none", "all"] {
            assert_eq!(
                canonical(&build(topology, optimization)),
                kafka(name, optimization),
                "{name} with topology.optimization={optimization}"
            );
        }
    }
}

#[test]
fn optimizations_can_be_chosen_one_by_one() {
    let topics = |optimization: &str| {
        let topology = build(table_join_and_two_aggregations, optimization);
        crate::runtime::plan::plan(&topology, "app", -1, |_| Ok(Some(1)))
            .unwrap()
            .internal_topics
            .into_iter()
            .map(|t| t.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        topics("reuse.ktable.source.topics"),
        [
            "app-page-last-click-changelog",
            "app-page-last-click-repartition",
            "app-page-views-changelog",
            "app-page-views-repartition",
        ]
    );
    assert_eq!(
        topics("merge.repartition.topics"),
        [
            "app-page-last-click-changelog",
            "app-page-views-changelog",
            "app-page-views-repartition",
            "app-users-store-changelog",
        ]
    );
    assert_eq!(
        topics("single.store.self.join").len(),
        5,
        "accepted, not applied"
    );
    assert_eq!(
        topics("merge.repartition.topics,reuse.ktable.source.topics"),
        topics("all")
    );
}

#[test]
fn build_keeps_the_unoptimized_topology_and_build_with_checks_the_value() {
    let builder = StreamsBuilder::new();
    table_join_and_two_aggregations(&builder);
    let plain = builder.build().unwrap();
    let mut config = StreamsConfig::new();
    config.set("topology.optimization", "none");
    assert_eq!(
        builder.build_with(&config).unwrap().describe(),
        plain.describe()
    );
    config.set("topology.optimization", "all,reuse.ktable.source.topics");
    let err = builder.build_with(&config).unwrap_err();
    assert!(err.to_string().contains("topology.optimization"), "{err}");
}

#[test]
fn what_lay_between_moves_after_the_merged_topic() {
    let topology = build(filter_between, "all");
    let text = topology.describe().to_string();
    // As Kafka Streams lays it out: the key change writes the merged topic directly, and the
    // filter reads it, before the count.
    assert!(
        text.contains(
            "Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])\n      --> a-repartition-filter\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("Source: a-repartition-source (topics: [a-repartition])\n      --> KSTREAM-FILTER-0000000002, KSTREAM-REDUCE-"),
        "{text}"
    );
}

#[test]
fn a_topic_below_a_merge_with_another_stream_is_not_merged() {
    // `merged.group_by_key()` needs its topic: the app stream's records must be repartitioned
    // too. Kafka Streams would merge it into the key change's other topic and let them skip it.
    let builder = StreamsBuilder::new();
    let by_page = builder
        .stream("web", strings())
        .select_key(|_user, page: &String| page.clone());
    by_page.group_by_key().count(Materialized::as_("a"));
    by_page
        .merge(&builder.stream("app", strings()))
        .group_by_key()
        .count(Materialized::as_("b"));
    let mut config = StreamsConfig::new();
    config.set("topology.optimization", "all");
    let optimized = builder.build_with(&config).unwrap();
    let text = optimized.describe().to_string();
    assert!(text.contains("(topic: a-repartition)"), "{text}");
    assert!(text.contains("(topic: b-repartition)"), "{text}");
}
