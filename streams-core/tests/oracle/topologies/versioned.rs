//! Twins of `VersionedTopologies.java`.

use streams_core::dsl::{Grouped, Joined, KTable, Materialized, StreamsBuilder};
use streams_core::{Result, StreamsConfig, Topology};

use super::{S, first_of, ms, pair, strings, table_strings};

fn versioned(b: &StreamsBuilder, topic: &str, store: &str) -> KTable<S, String> {
    b.table(
        topic,
        table_strings(),
        Materialized::as_versioned(store, ms(30)),
    )
}

pub(crate) fn versioned_table_source(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    versioned(&b, "table", "vt-source").to_stream().to("out");
    b.build_with(config)
}

pub(crate) fn versioned_stream_table_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .join_table(&versioned(&b, "table", "vj-table"), |v: &S, t: &String| {
            pair(v.as_deref(), Some(t))
        })
        .to("out");
    b.build_with(config)
}

pub(crate) fn versioned_stream_table_left_join_grace(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .left_join_table_with(
            &versioned(&b, "table", "vg-table"),
            |v: &S, t: Option<&String>| pair(v.as_deref(), t.map(String::as_str)),
            Joined::default().with_grace_period(ms(5)),
        )
        .to("out");
    b.build_with(config)
}

pub(crate) fn versioned_table_group_by(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    versioned(&b, "table", "vgb-source")
        .group_by(
            |_k: &S, v: &String| (first_of(v), v.clone()),
            Grouped::as_("vgb"),
        )
        .count(Materialized::as_("vgb-counts"))
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn versioned_table_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    versioned(&b, "table", "vtj-left")
        .join(
            &versioned(&b, "table2", "vtj-right"),
            |l: &String, r: &String| format!("{l}&{r}"),
        )
        .to_stream()
        .to("out");
    b.build_with(config)
}
