//! Twins of `WindowTopologies.java`.

use streams_core::dsl::{
    BufferConfig, KGroupedStream, Materialized, SessionWindows, SlidingWindows, StreamsBuilder,
    Suppressed, TimeWindows,
};
use streams_core::{Result, Topology};

use super::{S, ms, show, strings, unwindow};

fn grouped(b: &StreamsBuilder) -> KGroupedStream<S, S> {
    b.stream("in", strings()).group_by_key()
}

pub(crate) fn tumbling_count() -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("tumbling-counts"));
    unwindow(table.to_stream()).to("out");
    b.build()
}

pub(crate) fn hopping_aggregate() -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(3)).advance_by(ms(5)))
        .aggregate(
            String::new,
            |_k: &S, v: S, agg: String| agg + &show(&v),
            Materialized::as_("hopping-agg"),
        );
    unwindow(table.to_stream()).to("out");
    b.build()
}

pub(crate) fn tumbling_reduce_no_grace() -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(TimeWindows::of_size_with_no_grace(ms(8)))
        .reduce(
            |agg: S, v: S| Some(format!("{}+{}", show(&agg), show(&v))),
            Materialized::as_("tumbling-reduce"),
        );
    // The table's values are themselves nullable: a tombstone and a null aggregate are both
    // Java's null.
    unwindow(table.to_stream().map_values(Option::flatten)).to("out");
    b.build()
}

pub(crate) fn sliding_count() -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(SlidingWindows::of_time_difference_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("sliding-counts"));
    unwindow(table.to_stream()).to("out");
    b.build()
}

pub(crate) fn sliding_aggregate() -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(SlidingWindows::of_time_difference_with_no_grace(ms(6)))
        .aggregate(
            String::new,
            |_k: &S, v: S, agg: String| agg + &show(&v),
            Materialized::as_("sliding-agg"),
        );
    unwindow(table.to_stream()).to("out");
    b.build()
}

pub(crate) fn session_count() -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(5), ms(3)))
        .count(Materialized::as_("session-counts"));
    unwindow(table.to_stream()).to("out");
    b.build()
}

pub(crate) fn session_aggregate() -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(4)))
        .aggregate(
            String::new,
            |_k: &S, v: S, agg: String| agg + &show(&v),
            |_k: &S, left: String, right: String| format!("{left}|{right}"),
            Materialized::as_("session-agg"),
        );
    unwindow(table.to_stream()).to("out");
    b.build()
}

pub(crate) fn suppress_tumbling() -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("supp-counts"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    unwindow(table.to_stream()).to("out");
    b.build()
}

pub(crate) fn suppress_session() -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(5), ms(2)))
        .count(Materialized::as_("supp-sessions"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    unwindow(table.to_stream()).to("out");
    b.build()
}
