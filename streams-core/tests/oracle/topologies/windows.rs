//! Twins of `WindowTopologies.java`.

use streams_core::dsl::{
    BufferConfig, EmitStrategy, KGroupedStream, Materialized, SessionWindows, SlidingWindows,
    StreamsBuilder, Suppressed, TimeWindows,
};
use streams_core::{Result, StreamsConfig, Topology};

use super::{S, ms, show, strings, unwindow};

fn grouped(b: &StreamsBuilder) -> KGroupedStream<S, S> {
    b.stream("in", strings()).group_by_key()
}

pub(crate) fn tumbling_count(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("tumbling-counts"));
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}

pub(crate) fn hopping_aggregate(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(3)).advance_by(ms(5)))
        .aggregate(
            String::new,
            |_k: &S, v: S, agg: String| agg + &show(&v),
            Materialized::as_("hopping-agg"),
        );
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}

pub(crate) fn tumbling_reduce_no_grace(config: &StreamsConfig) -> Result<Topology> {
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
    b.build_with(config)
}

pub(crate) fn sliding_count(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(SlidingWindows::of_time_difference_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("sliding-counts"));
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}

pub(crate) fn sliding_aggregate(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(SlidingWindows::of_time_difference_with_no_grace(ms(6)))
        .aggregate(
            String::new,
            |_k: &S, v: S, agg: String| agg + &show(&v),
            Materialized::as_("sliding-agg"),
        );
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}

pub(crate) fn session_count(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(5), ms(3)))
        .count(Materialized::as_("session-counts"));
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}

pub(crate) fn session_aggregate(config: &StreamsConfig) -> Result<Topology> {
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
    b.build_with(config)
}

pub(crate) fn suppress_tumbling(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("supp-counts"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}

pub(crate) fn suppress_session(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(5), ms(2)))
        .count(Materialized::as_("supp-sessions"))
        .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}

pub(crate) fn tumbling_count_emit_final(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .emit_strategy(EmitStrategy::on_window_close())
        .count(Materialized::as_("tumbling-final"));
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}

pub(crate) fn sliding_count_emit_final(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(SlidingWindows::of_time_difference_and_grace(ms(10), ms(5)))
        .emit_strategy(EmitStrategy::on_window_close())
        .count(Materialized::as_("sliding-final"));
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}

pub(crate) fn session_count_emit_final(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(5), ms(3)))
        .emit_strategy(EmitStrategy::on_window_close())
        .count(Materialized::as_("session-final"));
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}

/// [`session_count_emit_final`] with a store retention far past gap and grace.
pub(crate) fn session_count_emit_final_retained(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(5), ms(3)))
        .emit_strategy(EmitStrategy::on_window_close())
        .count(Materialized::as_("session-final-retained").with_retention(ms(100)));
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}

pub(crate) fn suppress_window_close_bounded(config: &StreamsConfig) -> Result<Topology> {
    let b = StreamsBuilder::new();
    let table = grouped(&b)
        .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
        .count(Materialized::as_("supp-bounded"))
        .suppress(Suppressed::until_window_closes(
            BufferConfig::max_records(3).shut_down_when_full(),
        ));
    unwindow(table.to_stream()).to("out");
    b.build_with(config)
}
