//! Twins of `CogroupTopologies.java`.

use streams_core::dsl::{CogroupedKStream, Materialized, StreamsBuilder, TimeWindows};
use streams_core::{Result, StreamsConfig, Topology};

use super::{S, ms, show, strings, unwindow};

fn cogrouped(b: &StreamsBuilder) -> CogroupedKStream<S, String> {
    b.stream("in", strings())
        .group_by_key()
        .cogroup(|_k: &S, v: S, agg: String| agg + "1" + &show(&v))
        .cogroup(
            b.stream("in2", strings()).group_by_key(),
            |_k: &S, v: S, agg: String| agg + "2" + &show(&v),
        )
}

pub(crate) fn cogroup_aggregate(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    cogrouped(&b)
        .aggregate(String::new, Materialized::as_("cog"))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn cogroup_windowed(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = cogrouped(&b)
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .aggregate(String::new, Materialized::as_("cog-win"));
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}
