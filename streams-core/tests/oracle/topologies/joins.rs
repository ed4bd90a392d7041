//! Twins of `JoinTopologies.java`.

use streams_core::dsl::{
    GlobalKTable, JoinWindows, KTable, Materialized, StreamJoined, StreamsBuilder, TimeWindows,
    Windowed,
};
use streams_core::{Result, StreamsConfig, Topology};

use super::{S, first, first_of, ms, pair, strings, table_strings, unwindow};

fn joined(name: &str) -> StreamJoined<S, S, S> {
    StreamJoined::default().with_store_name(name)
}

/// Joins two stream values that are never null (Kafka drops null values before joining).
fn pair_values(left: Option<&S>, right: Option<&S>) -> S {
    pair(
        left.and_then(|v| v.as_deref()),
        right.and_then(|v| v.as_deref()),
    )
}

pub(crate) fn ss_inner_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .join(
            &b.stream("in2", strings()),
            |l: &S, r: &S| pair_values(Some(l), Some(r)),
            JoinWindows::of_time_difference_and_grace(ms(5), ms(3)),
            joined("ssi"),
        )
        .to("out");
    b.build_with(config)
}

pub(crate) fn ss_left_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .left_join(
            &b.stream("in2", strings()),
            |l: &S, r: Option<&S>| pair_values(Some(l), r),
            JoinWindows::of_time_difference_and_grace(ms(4), ms(2)).after(ms(2)),
            joined("ssl"),
        )
        .to("out");
    b.build_with(config)
}

pub(crate) fn ss_outer_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .outer_join(
            &b.stream("in2", strings()),
            pair_values,
            JoinWindows::of_time_difference_and_grace(ms(5), ms(1)),
            joined("sso"),
        )
        .to("out");
    b.build_with(config)
}

fn table(b: &StreamsBuilder, topic: &str, store: &str) -> KTable<S, String> {
    b.table(topic, table_strings(), Materialized::as_(store))
}

pub(crate) fn st_inner_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .join_table(&table(&b, "table", "st-table"), |v: &S, t: &String| {
            pair(v.as_deref(), Some(t))
        })
        .to("out");
    b.build_with(config)
}

pub(crate) fn st_left_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .left_join_table(
            &table(&b, "table", "st-table"),
            |v: &S, t: Option<&String>| pair(v.as_deref(), t.map(String::as_str)),
        )
        .to("out");
    b.build_with(config)
}

fn table_pair(left: Option<&String>, right: Option<&String>) -> String {
    format!(
        "{}&{}",
        left.map_or("null", String::as_str),
        right.map_or("null", String::as_str)
    )
}

pub(crate) fn tt_inner_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    table(&b, "table", "tt-left")
        .join(
            &table(&b, "table2", "tt-right"),
            |a: &String, c: &String| table_pair(Some(a), Some(c)),
        )
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn tt_left_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    table(&b, "table", "tt-left")
        .left_join(
            &table(&b, "table2", "tt-right"),
            |a: &String, c: Option<&String>| table_pair(Some(a), c),
        )
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn tt_outer_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    table(&b, "table", "tt-left")
        .outer_join(&table(&b, "table2", "tt-right"), table_pair)
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn fk_inner_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    table(&b, "table", "fk-left")
        .join_foreign_key(
            &table(&b, "table2", "fk-right"),
            |v: &String| Some(first_of(v)),
            |l: &String, r: &String| table_pair(Some(l), Some(r)),
            Materialized::default(),
        )
        .to_stream()
        .to("out");
    b.build_with(config)
}

pub(crate) fn fk_left_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    table(&b, "table", "fk-left")
        .left_join_foreign_key(
            &table(&b, "table2", "fk-right"),
            |v: &String| Some(first_of(v)),
            |l: &String, r: Option<&String>| table_pair(Some(l), r),
            Materialized::default(),
        )
        .to_stream()
        .to("out");
    b.build_with(config)
}

/// Java's `JoinTopologies.globalKey`: values starting with "d" map to no key.
fn global_key(_key: &S, value: &S) -> S {
    value
        .as_deref()
        .filter(|v| !v.starts_with('d'))
        .and_then(first_of)
}

fn global(b: &StreamsBuilder) -> GlobalKTable<S, String> {
    b.global_table("global", table_strings(), Materialized::as_("global-store"))
}

pub(crate) fn global_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .join_global(&global(&b), global_key, |v: &S, g: &String| {
            pair(v.as_deref(), Some(g))
        })
        .to("out");
    b.build_with(config)
}

pub(crate) fn global_left_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .left_join_global(&global(&b), global_key, |v: &S, g: Option<&String>| {
            pair(v.as_deref(), g.map(String::as_str))
        })
        .to("out");
    b.build_with(config)
}

pub(crate) fn repartition_table_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .select_key(|_k: &S, v: &S| first(v))
        .join_table(&table(&b, "table", "rj-table"), |v: &S, t: &String| {
            pair(v.as_deref(), Some(t))
        })
        .to("out");
    b.build_with(config)
}

pub(crate) fn repartition_stream_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let left = b
        .stream("in", strings())
        .select_key(|_k: &S, v: &S| first(v));
    let right = b
        .stream("in2", strings())
        .select_key(|_k: &S, v: &S| first(v));
    left.join(
        &right,
        |l: &S, r: &S| pair_values(Some(l), Some(r)),
        JoinWindows::of_time_difference_and_grace(ms(5), ms(3)),
        joined("rsj"),
    )
    .to("out");
    b.build_with(config)
}

fn windowed_counts(b: &StreamsBuilder, topic: &str, store: &str) -> KTable<Windowed<S>, u64> {
    b.stream(topic, strings())
        .group_by_key()
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count(Materialized::as_(store))
}

pub(crate) fn windowed_table_join(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let joined = windowed_counts(&b, "in", "wtj-left").join(
        &windowed_counts(&b, "in2", "wtj-right"),
        |l: &u64, r: &u64| format!("{l}&{r}"),
    );
    unwindow(joined.to_stream()).to("out");
    b.build_with(config)
}

pub(crate) fn self_join_after_key_change(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let rekeyed = b
        .stream("in", strings())
        .select_key(|_k: &S, v: &S| first(v));
    let longer = rekeyed.filter(|_k: &S, v: &S| v.as_ref().is_some_and(|v| v.len() > 1));
    rekeyed
        .left_join(
            &longer,
            |l: &S, r: Option<&S>| pair_values(Some(l), r),
            JoinWindows::of_time_difference_and_grace(ms(5), ms(2)),
            joined("sj"),
        )
        .to("out");
    rekeyed
        .group_by_key()
        .count(Materialized::as_("sj-counts"))
        .to_stream()
        .to("out2");
    b.build_with(config)
}
