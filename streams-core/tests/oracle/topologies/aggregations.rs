//! Twins of `AggregationTopologies.java`.

use streams_core::dsl::{Grouped, Materialized, StreamsBuilder};
use streams_core::{Result, StreamsConfig, Topology};

use super::{S, first, show, strings};

pub(crate) fn count_by_key(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn reduce_by_key(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .group_by_key()
        .reduce(
            |agg: S, v: S| Some(format!("{}+{}", show(&agg), show(&v))),
            Materialized::as_("reduced"),
        )
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn aggregate_by_key(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .group_by_key()
        .aggregate(
            || 0i64,
            |_k: &S, v: S, agg: i64| agg + v.map_or(0, |v| v.len() as i64),
            Materialized::as_("sums"),
        )
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn group_by_count(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .group_by_with(|_k: &S, v: &S| v.clone(), Grouped::as_("by-value"))
        .count(Materialized::as_("value-counts"))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn group_by_aggregate(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .group_by_with(|_k: &S, v: &S| first(v), Grouped::as_("by-first"))
        .aggregate(
            String::new,
            |_k: &S, v: S, agg: String| agg + &show(&v),
            Materialized::as_("first-agg"),
        )
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn select_key_count(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .select_key(|k: &S, v: &S| first(v).or_else(|| k.clone()))
        .group_by_key_with(Grouped::as_("rekeyed"))
        .count(Materialized::as_("rekeyed-counts"))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn group_by_twice(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let rekeyed = b
        .stream("in", strings())
        .select_key(|_k: &S, v: &S| first(v));
    rekeyed
        .group_by_key_with(Grouped::as_("gt-count"))
        .count(Materialized::as_("gt-counts"))
        .to_stream()
        .to("out");
    rekeyed
        .group_by_key_with(Grouped::as_("gt-reduce"))
        .reduce(
            |agg: S, v: S| Some(format!("{}+{}", show(&agg), show(&v))),
            Materialized::as_("gt-reduced"),
        )
        .to_stream()
        .map_values(Option::flatten)
        .to("out2");
    b.build_with(config)
}
