//! The topologies both sides know by name, with what the test needs to know about each: its
//! input topics (and so what the generator may pipe), its output topics, and its named stores
//! with how to read them from our driver. The Java twins are in
//! `java/kafka-streams-oracle/src/main/java/dev/streams/oracle/`.
//!
//! Adding a topology: write it in a file of `topologies/` and its twin in Java, and add one
//! entry to [`all`].

use streams_core::testing::TopologyTestDriver;
use streams_core::{Result, StreamsConfig, Topology};

use super::scenario::Shape;
use super::topologies::{
    aggregations, cogroup, joins, processors, stateless, suppress, tables, versioned, windows,
};

/// How to show an output topic's values in a report (the comparison is on bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ValueKind {
    /// UTF-8 text.
    Str,
    /// Kafka's LongSerde: 8 bytes big-endian.
    Long,
}

/// Reads a store of our driver as the sorted text lines the Java side prints.
pub(crate) type Dump = Box<dyn Fn(&TopologyTestDriver, &str) -> Result<Vec<String>>>;

/// One named topology.
pub(crate) struct Def {
    pub(crate) name: &'static str,
    /// Builds the topology with the driver's configuration (`topology.optimization` applies).
    pub(crate) build: fn(&StreamsConfig) -> Result<Topology>,
    pub(crate) shape: Shape,
    pub(crate) outputs: Vec<(&'static str, ValueKind)>,
    pub(crate) stores: Vec<StoreDef>,
    /// Configuration both drivers get besides the scenario's (for example
    /// `topology.optimization`; the Java side builds its topology with it too).
    pub(crate) config: Vec<(&'static str, &'static str)>,
}

/// A store whose contents are compared.
pub(crate) struct StoreDef {
    pub(crate) name: &'static str,
    pub(crate) dump: Dump,
    /// A window or session store.
    pub(crate) windowed: bool,
}

impl Def {
    fn new(name: &'static str, build: fn(&StreamsConfig) -> Result<Topology>) -> Def {
        Def {
            name,
            build,
            shape: Shape {
                streams: Vec::new(),
                tables: Vec::new(),
                null_values: true,
                null_keys: true,
                same_timestamp_table_updates: true,
            },
            outputs: Vec::new(),
            stores: Vec::new(),
            config: Vec::new(),
        }
    }

    /// Runs with `key=value` in both drivers' configuration.
    fn config(mut self, key: &'static str, value: &'static str) -> Def {
        self.config.push((key, value));
        self
    }

    /// Reads streams (or a global table) from these topics.
    fn streams(mut self, topics: &[&'static str]) -> Def {
        self.shape.streams.extend_from_slice(topics);
        self
    }

    /// Reads tables from these topics (null values are tombstones).
    fn tables(mut self, topics: &[&'static str]) -> Def {
        self.shape.tables.extend_from_slice(topics);
        self
    }

    fn out(mut self, topic: &'static str) -> Def {
        self.outputs.push((topic, ValueKind::Str));
        self
    }

    fn out_long(mut self, topic: &'static str) -> Def {
        self.outputs.push((topic, ValueKind::Long));
        self
    }

    fn store(mut self, name: &'static str, dump: Dump) -> Def {
        self.stores.push(StoreDef {
            name,
            dump,
            windowed: false,
        });
        self
    }

    fn windowed_store(mut self, name: &'static str, dump: Dump) -> Def {
        self.stores.push(StoreDef {
            name,
            dump,
            windowed: true,
        });
        self
    }

    /// The output and store names, for the JVM request.
    pub(crate) fn output_names(&self) -> Vec<&'static str> {
        self.outputs.iter().map(|(t, _)| *t).collect()
    }

    pub(crate) fn store_names(&self) -> Vec<&'static str> {
        self.stores.iter().map(|s| s.name).collect()
    }
}

/// Every topology, in the order they run.
pub(crate) fn all() -> Vec<Def> {
    use super::dump::{kv, kv_ts, session, versioned, window};
    const OPTIMIZE: (&str, &str) = ("topology.optimization", "all");
    type S = Option<String>;
    vec![
        // Stateless.
        Def::new("filter_map_values", stateless::filter_map_values)
            .streams(&["in"])
            .out("out"),
        Def::new("map_select_key", stateless::map_select_key)
            .streams(&["in"])
            .out("out")
            .out("out2"),
        Def::new("flat_map", stateless::flat_map)
            .streams(&["in"])
            .out("out")
            .out("out2"),
        Def::new("branch_merge", stateless::branch_merge)
            .streams(&["in", "in2"])
            .out("out")
            .out("out2"),
        Def::new("repartition_explicit", stateless::repartition_explicit)
            .streams(&["in"])
            .out("out"),
        // Stream aggregations.
        Def::new("count_by_key", aggregations::count_by_key)
            .streams(&["in"])
            .out_long("out")
            .store("counts", kv_ts::<S, u64>()),
        Def::new("reduce_by_key", aggregations::reduce_by_key)
            .streams(&["in"])
            .out("out")
            .store("reduced", kv_ts::<S, S>()),
        Def::new("aggregate_by_key", aggregations::aggregate_by_key)
            .streams(&["in"])
            .out_long("out")
            .store("sums", kv_ts::<S, i64>()),
        Def::new("group_by_count", aggregations::group_by_count)
            .streams(&["in"])
            .out_long("out")
            .store("value-counts", kv_ts::<S, u64>()),
        Def::new("group_by_aggregate", aggregations::group_by_aggregate)
            .streams(&["in"])
            .out("out")
            .store("first-agg", kv_ts::<S, String>()),
        Def::new("select_key_count", aggregations::select_key_count)
            .streams(&["in"])
            .out_long("out")
            .store("rekeyed-counts", kv_ts::<S, u64>()),
        // Tables.
        Def::new("table_source", tables::table_source)
            .tables(&["table"])
            .out("out")
            .store("table-store", kv_ts::<S, String>()),
        Def::new("table_filter", tables::table_filter)
            .tables(&["table"])
            .out("out"),
        Def::new(
            "table_filter_materialized",
            tables::table_filter_materialized,
        )
        .tables(&["table"])
        .out("out")
        .store("filtered", kv_ts::<S, String>()),
        Def::new("table_map_values", tables::table_map_values)
            .tables(&["table"])
            .out("out")
            .store("tm-source", kv_ts::<S, String>()),
        Def::new("table_filter_group_by", tables::table_filter_group_by)
            .tables(&["table"])
            .out_long("out")
            .store("tfg-counts", kv_ts::<S, u64>()),
        Def::new(
            "table_filter_grouped_and_streamed",
            tables::table_filter_grouped_and_streamed,
        )
        .tables(&["table"])
        .out("out")
        .out_long("out2")
        .store("tfgs-counts", kv_ts::<S, u64>()),
        Def::new("table_filter_join", tables::table_filter_join)
            .tables(&["table", "table2"])
            .out("out")
            .store("tfj-right", kv_ts::<S, String>()),
        Def::new("table_group_by_count", tables::table_group_by_count)
            .tables(&["table"])
            .out_long("out")
            .store("tg-counts", kv_ts::<S, u64>()),
        Def::new("table_group_by_aggregate", tables::table_group_by_aggregate)
            .tables(&["table"])
            .out_long("out")
            .store("tg-sums", kv_ts::<S, i64>()),
        Def::new("table_group_by_reduce", tables::table_group_by_reduce)
            .tables(&["table"])
            .out("out")
            .store("tg-reduced", kv_ts::<S, String>()),
        // Windows.
        Def::new("tumbling_count", windows::tumbling_count)
            .streams(&["in"])
            .out_long("out")
            .windowed_store("tumbling-counts", window::<S, u64>(10)),
        Def::new("hopping_aggregate", windows::hopping_aggregate)
            .streams(&["in"])
            .out("out")
            .windowed_store("hopping-agg", window::<S, String>(10)),
        Def::new(
            "tumbling_reduce_no_grace",
            windows::tumbling_reduce_no_grace,
        )
        .streams(&["in"])
        .out("out")
        .windowed_store("tumbling-reduce", window::<S, S>(8)),
        Def::new("sliding_count", windows::sliding_count)
            .streams(&["in"])
            .out_long("out")
            .windowed_store("sliding-counts", window::<S, u64>(10)),
        Def::new("sliding_aggregate", windows::sliding_aggregate)
            .streams(&["in"])
            .out("out")
            .windowed_store("sliding-agg", window::<S, String>(6)),
        Def::new("session_count", windows::session_count)
            .streams(&["in"])
            .out_long("out")
            .windowed_store("session-counts", session::<S, u64>()),
        Def::new("session_aggregate", windows::session_aggregate)
            .streams(&["in"])
            .out("out")
            .windowed_store("session-agg", session::<S, String>()),
        Def::new("suppress_tumbling", windows::suppress_tumbling)
            .streams(&["in"])
            .out_long("out")
            .windowed_store("supp-counts", window::<S, u64>(10)),
        Def::new("suppress_session", windows::suppress_session)
            .streams(&["in"])
            .out_long("out")
            .windowed_store("supp-sessions", session::<S, u64>()),
        // Joins.
        Def::new("ss_inner_join", joins::ss_inner_join)
            .streams(&["in", "in2"])
            .out("out"),
        Def::new("ss_left_join", joins::ss_left_join)
            .streams(&["in", "in2"])
            .out("out"),
        Def::new("ss_outer_join", joins::ss_outer_join)
            .streams(&["in", "in2"])
            .out("out"),
        Def::new("st_inner_join", joins::st_inner_join)
            .streams(&["in"])
            .tables(&["table"])
            .out("out")
            .store("st-table", kv_ts::<S, String>()),
        Def::new("st_left_join", joins::st_left_join)
            .streams(&["in"])
            .tables(&["table"])
            .out("out")
            .store("st-table", kv_ts::<S, String>()),
        Def::new("tt_inner_join", joins::tt_inner_join)
            .tables(&["table", "table2"])
            .out("out")
            .store("tt-left", kv_ts::<S, String>())
            .store("tt-right", kv_ts::<S, String>()),
        Def::new("tt_left_join", joins::tt_left_join)
            .tables(&["table", "table2"])
            .out("out")
            .store("tt-left", kv_ts::<S, String>())
            .store("tt-right", kv_ts::<S, String>()),
        Def::new("tt_outer_join", joins::tt_outer_join)
            .tables(&["table", "table2"])
            .out("out")
            .store("tt-left", kv_ts::<S, String>())
            .store("tt-right", kv_ts::<S, String>()),
        Def::new("fk_inner_join", joins::fk_inner_join)
            .tables(&["table", "table2"])
            .out("out")
            .store("fk-left", kv_ts::<S, String>())
            .store("fk-right", kv_ts::<S, String>()),
        Def::new("fk_left_join", joins::fk_left_join)
            .tables(&["table", "table2"])
            .out("out")
            .store("fk-left", kv_ts::<S, String>())
            .store("fk-right", kv_ts::<S, String>()),
        Def::new("global_join", joins::global_join)
            .streams(&["in", "global"])
            .out("out"),
        Def::new("global_left_join", joins::global_left_join)
            .streams(&["in", "global"])
            .out("out"),
        Def::new("repartition_table_join", joins::repartition_table_join)
            .streams(&["in"])
            .tables(&["table"])
            .out("out")
            .store("rj-table", kv_ts::<S, String>()),
        Def::new("repartition_stream_join", joins::repartition_stream_join)
            .streams(&["in", "in2"])
            .out("out"),
        // The Processor API.
        Def::new("punctuate_wall_clock", processors::punctuate_wall_clock)
            .streams(&["in"])
            .out("out")
            .store("counts", kv::<String, i64>()),
        Def::new("punctuate_stream_time", processors::punctuate_stream_time)
            .streams(&["in"])
            .out("out")
            .store("counts", kv::<String, i64>()),
        // Emit strategies (KIP-825) and bounded suppression of windows.
        Def::new(
            "tumbling_count_emit_final",
            windows::tumbling_count_emit_final,
        )
        .streams(&["in"])
        .out_long("out")
        .windowed_store("tumbling-final", window::<S, u64>(10)),
        Def::new(
            "sliding_count_emit_final",
            windows::sliding_count_emit_final,
        )
        .streams(&["in"])
        .out_long("out")
        .windowed_store("sliding-final", window::<S, u64>(10)),
        Def::new(
            "session_count_emit_final",
            windows::session_count_emit_final,
        )
        .streams(&["in"])
        .out_long("out")
        .windowed_store("session-final", session::<S, u64>()),
        Def::new(
            "session_count_emit_final_retained",
            windows::session_count_emit_final_retained,
        )
        .streams(&["in"])
        .out_long("out")
        .windowed_store("session-final-retained", session::<S, u64>()),
        Def::new(
            "suppress_window_close_bounded",
            windows::suppress_window_close_bounded,
        )
        .streams(&["in"])
        .out_long("out")
        .windowed_store("supp-bounded", window::<S, u64>(10)),
        // Suppression of tables with a time limit and each kind of buffer.
        Def::new("suppress_time_limit", suppress::suppress_time_limit)
            .streams(&["in"])
            .out_long("out")
            .store("tl-counts", kv_ts::<S, u64>()),
        Def::new("suppress_max_records", suppress::suppress_max_records)
            .streams(&["in"])
            .out_long("out")
            .store("mr-counts", kv_ts::<S, u64>()),
        Def::new("suppress_max_bytes", suppress::suppress_max_bytes)
            .streams(&["in"])
            .out("out")
            .store("mb-reduced", kv_ts::<S, S>()),
        Def::new(
            "suppress_shut_down_when_full",
            suppress::suppress_shut_down_when_full,
        )
        .streams(&["in"])
        .out_long("out")
        .store("sd-counts", kv_ts::<S, u64>()),
        Def::new("suppress_table_source", suppress::suppress_table_source)
            .tables(&["table"])
            .out("out")
            .store("sts-source", kv_ts::<S, String>()),
        // Versioned tables (KIP-889, KIP-914, KIP-923).
        Def::new("versioned_table_source", versioned::versioned_table_source)
            .tables(&["table"])
            .out("out")
            .store("vt-source", versioned::<String>()),
        Def::new(
            "versioned_stream_table_join",
            versioned::versioned_stream_table_join,
        )
        .streams(&["in"])
        .tables(&["table"])
        .out("out")
        .store("vj-table", versioned::<String>()),
        Def::new(
            "versioned_stream_table_left_join_grace",
            versioned::versioned_stream_table_left_join_grace,
        )
        .streams(&["in"])
        .tables(&["table"])
        .out("out")
        .store("vg-table", versioned::<String>()),
        Def::new(
            "versioned_table_group_by",
            versioned::versioned_table_group_by,
        )
        .tables(&["table"])
        .out_long("out")
        .store("vgb-source", versioned::<String>())
        .store("vgb-counts", kv_ts::<S, u64>()),
        Def::new("versioned_table_join", versioned::versioned_table_join)
            .tables(&["table", "table2"])
            .out("out")
            .store("vtj-left", versioned::<String>())
            .store("vtj-right", versioned::<String>()),
        // Cogroup (KIP-150) and joins of windowed tables.
        Def::new("cogroup_aggregate", cogroup::cogroup_aggregate)
            .streams(&["in", "in2"])
            .out("out")
            .store("cog", kv_ts::<S, String>()),
        Def::new("cogroup_windowed", cogroup::cogroup_windowed)
            .streams(&["in", "in2"])
            .out("out")
            .windowed_store("cog-win", window::<S, String>(10)),
        Def::new("windowed_table_join", joins::windowed_table_join)
            .streams(&["in", "in2"])
            .out("out")
            .windowed_store("wtj-left", window::<S, u64>(10))
            .windowed_store("wtj-right", window::<S, u64>(10)),
        Def::new(
            "self_join_after_key_change",
            joins::self_join_after_key_change,
        )
        .streams(&["in"])
        .out("out")
        .out_long("out2")
        .store("sj-counts", kv_ts::<S, u64>()),
        // topology.optimization=all: the same topologies, built optimized on both sides.
        Def::new(
            "self_join_after_key_change_optimized",
            joins::self_join_after_key_change,
        )
        .config(OPTIMIZE.0, OPTIMIZE.1)
        .streams(&["in"])
        .out("out")
        .out_long("out2")
        .store("sj-counts", kv_ts::<S, u64>()),
        Def::new("group_by_twice", aggregations::group_by_twice)
            .streams(&["in"])
            .out_long("out")
            .out("out2")
            .store("gt-counts", kv_ts::<S, u64>())
            .store("gt-reduced", kv_ts::<S, S>()),
        Def::new("group_by_twice_optimized", aggregations::group_by_twice)
            .config(OPTIMIZE.0, OPTIMIZE.1)
            .streams(&["in"])
            .out_long("out")
            .out("out2")
            .store("gt-counts", kv_ts::<S, u64>())
            .store("gt-reduced", kv_ts::<S, S>()),
        Def::new("select_key_count_optimized", aggregations::select_key_count)
            .config(OPTIMIZE.0, OPTIMIZE.1)
            .streams(&["in"])
            .out_long("out")
            .store("rekeyed-counts", kv_ts::<S, u64>()),
        Def::new(
            "table_group_by_count_optimized",
            tables::table_group_by_count,
        )
        .config(OPTIMIZE.0, OPTIMIZE.1)
        .tables(&["table"])
        .out_long("out")
        .store("tg-counts", kv_ts::<S, u64>()),
        Def::new(
            "repartition_stream_join_optimized",
            joins::repartition_stream_join,
        )
        .config(OPTIMIZE.0, OPTIMIZE.1)
        .streams(&["in", "in2"])
        .out("out"),
    ]
}
