//! Twins of `StatelessTopologies.java`.

use streams_core::dsl::{Branched, Repartitioned, StreamsBuilder};
use streams_core::{Result, StreamsConfig, Topology};

use super::{S, first, show, strings};

pub(crate) fn filter_map_values(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .filter(|_k, v: &S| v.as_ref().is_none_or(|v| v.len() != 2))
        .filter_not(|k: &S, _v: &S| k.as_deref() == Some("a"))
        .map_values(|v: S| Some(v.map_or_else(|| "<null>".to_string(), |v| v.to_uppercase())))
        .peek(|_k: &S, _v: &S| {})
        .to("out");
    b.build_with(config)
}

pub(crate) fn map_select_key(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let input = b.stream("in", strings());
    input.map(|k: S, v: S| (v, k)).to("out");
    input
        .select_key(|_k: &S, v: &S| first(v))
        .map(|k: S, v: S| {
            let value = format!("{}:{}", show(&k), show(&v));
            (k, Some(value))
        })
        .to("out2");
    b.build_with(config)
}

pub(crate) fn flat_map(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let input = b.stream("in", strings());
    input
        .flat_map(|k: S, v: S| {
            v.map(|v| {
                v.chars()
                    .enumerate()
                    .map(|(i, c)| (Some(format!("{}{c}", show(&k))), Some(i.to_string())))
                    .collect::<Vec<(S, S)>>()
            })
            .unwrap_or_default()
        })
        .to("out");
    input
        .flat_map_values(|v: S| match v {
            None => Vec::new(),
            Some(v) => vec![Some(v.clone()), Some(format!("{v}{v}"))],
        })
        .to("out2");
    b.build_with(config)
}

pub(crate) fn branch_merge(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let branches = b
        .stream("in", strings())
        .split_named("b-")
        .branch(
            |_k: &S, v: &S| v.as_deref().is_some_and(|v| v.starts_with('a')),
            Branched::as_("a"),
        )
        .branch(
            |_k: &S, v: &S| v.as_deref().is_some_and(|v| v.len() == 1),
            Branched::as_("one"),
        )
        .default_branch(Branched::as_("rest"));
    branches["b-a"]
        .map_values(|v: S| Some(format!("A:{}", show(&v))))
        .merge(&branches["b-one"].map_values(|v: S| Some(format!("1:{}", show(&v)))))
        .merge(&b.stream("in2", strings()))
        .to("out");
    branches["b-rest"].to("out2");
    b.build_with(config)
}

pub(crate) fn repartition_explicit(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    b.stream("in", strings())
        .select_key(|_k: &S, v: &S| first(v))
        .repartition_with(Repartitioned::default().with_name("rekeyed"))
        .map(|k: S, v: S| {
            let value = format!("{}:{}", show(&k), show(&v));
            (k, Some(value))
        })
        .to("out");
    b.build_with(config)
}
