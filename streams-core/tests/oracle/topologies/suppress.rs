//! Twins of `SuppressTopologies.java`.

use streams_core::dsl::{BufferConfig, KTable, Materialized, StreamsBuilder, Suppressed};
use streams_core::{Result, StreamsConfig, Topology};

use super::{S, ms, show, strings, table_strings};

fn counts(b: &StreamsBuilder, store: &str) -> KTable<S, u64> {
    b.stream("in", strings())
        .group_by_key()
        .count(Materialized::as_(store))
}

pub(crate) fn suppress_time_limit(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    counts(&b, "tl-counts")
        .suppress(Suppressed::until_time_limit(
            ms(5),
            BufferConfig::unbounded(),
        ))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn suppress_max_records(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    counts(&b, "mr-counts")
        .suppress(Suppressed::until_time_limit(
            ms(10),
            BufferConfig::max_records(2).emit_early_when_full(),
        ))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn suppress_max_bytes(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .group_by_key()
        .reduce(
            |agg: S, v: S| Some(format!("{}+{}", show(&agg), show(&v))),
            Materialized::as_("mb-reduced"),
        )
        .suppress(Suppressed::until_time_limit(
            ms(10),
            BufferConfig::max_bytes(150).emit_early_when_full(),
        ))
        .to_stream()
        .map_values(Option::flatten)
        .to("out");
    b.build_with(config)
}

pub(crate) fn suppress_shut_down_when_full(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    counts(&b, "sd-counts")
        .suppress(Suppressed::until_time_limit(
            ms(20),
            BufferConfig::max_records(3).shut_down_when_full(),
        ))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn suppress_table_source(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.table("table", table_strings(), Materialized::as_("sts-source"))
        .suppress(Suppressed::until_time_limit(
            ms(3),
            BufferConfig::unbounded(),
        ))
        .to_stream()
        .to("out");
    b.build_with(config)
}
