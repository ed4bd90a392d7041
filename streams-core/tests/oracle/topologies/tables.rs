//! Twins of `TableTopologies.java`.

use streams_core::dsl::{Grouped, Materialized, StreamsBuilder};
use streams_core::{Result, StreamsConfig, Topology};

use super::{S, first_of, show, table_strings};

pub(crate) fn table_source(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.table("table", table_strings(), Materialized::as_("table-store"))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn table_filter(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.table("table", table_strings(), Materialized::default())
        .filter(|_k: &S, v: &String| v.len() != 2)
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn table_filter_materialized(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.table("table", table_strings(), Materialized::default())
        .filter_materialized(
            |_k: &S, v: &String| v.len() != 2,
            Materialized::as_("filtered"),
        )
        .map_values(|_k: &S, v: String| v.to_uppercase())
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn table_map_values(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.table("table", table_strings(), Materialized::as_("tm-source"))
        .map_values(|k: &S, v: String| format!("{}={v}", show(k)))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn table_filter_group_by(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.table("table", table_strings(), Materialized::default())
        .filter(|_k: &S, v: &String| v.len() != 2)
        .group_by(
            |_k: &S, v: &String| (first_of(v), v.clone()),
            Grouped::as_("tfg"),
        )
        .count(Materialized::as_("tfg-counts"))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn table_filter_grouped_and_streamed(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let filtered = b
        .table("table", table_strings(), Materialized::default())
        .filter(|_k: &S, v: &String| v.len() != 2);
    filtered.to_stream().to("out");
    filtered
        .group_by(
            |_k: &S, v: &String| (first_of(v), v.clone()),
            Grouped::as_("tfgs"),
        )
        .count(Materialized::as_("tfgs-counts"))
        .to_stream()
        .to("out2");
    b.build_with(config)
}

pub(crate) fn table_filter_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let right = b.table("table2", table_strings(), Materialized::as_("tfj-right"));
    b.table("table", table_strings(), Materialized::default())
        .filter(|_k: &S, v: &String| v.len() != 2)
        .join(&right, |l: &String, r: &String| format!("{l}&{r}"))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn table_group_by_count(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.table("table", table_strings(), Materialized::default())
        .group_by(
            |_k: &S, v: &String| (first_of(v), v.clone()),
            Grouped::as_("tg"),
        )
        .count(Materialized::as_("tg-counts"))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn table_group_by_aggregate(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.table("table", table_strings(), Materialized::default())
        .group_by(
            |_k: &S, v: &String| (first_of(v), v.clone()),
            Grouped::as_("tga"),
        )
        .aggregate(
            || 0i64,
            |_k: &S, v: String, agg: i64| agg + v.len() as i64,
            |_k: &S, v: String, agg: i64| agg - v.len() as i64,
            Materialized::as_("tg-sums"),
        )
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn table_group_by_reduce(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.table("table", table_strings(), Materialized::default())
        .group_by(
            |k: &S, v: &String| (first_of(v), show(k)),
            Grouped::as_("tgr"),
        )
        .reduce(
            |agg: String, v: String| agg + &v,
            |agg: String, v: String| agg.replacen(&v, "", 1),
            Materialized::as_("tg-reduced"),
        )
        .to_stream()
        .to("out");
    b.build_with(config)
}
