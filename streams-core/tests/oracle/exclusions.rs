//! Scenario shapes kept out of the default run, each with the reason. An excluded shape is
//! not generated unless `STREAMS_ORACLE_EXCLUDED=1`, which generates it anyway (and then its
//! mismatches fail the run like any other): that is how to check whether an exclusion is still
//! needed. The test prints this list with its report, so nothing is skipped silently.

/// What is kept out of a topology's scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Excluded {
    /// With caching on, the contents of window and session stores are not compared (outputs
    /// still are).
    CachedWindowStoreContents,
    /// The topology runs with caching off only.
    CachingOn,
    /// Records with a null key are not generated.
    NullKeys,
    /// The contents of window and session stores are never compared (outputs are).
    WindowStoreContents,
    /// The whole topology is kept out of the default run.
    Topology,
}

/// One exclusion.
#[derive(Debug)]
pub(crate) struct Exclusion {
    pub(crate) topologies: &'static [&'static str],
    pub(crate) what: Excluded,
    pub(crate) why: &'static str,
}

/// Every exclusion.
pub(crate) const EXCLUDED: &[Exclusion] = &[
    Exclusion {
        topologies: &["table_filter"],
        what: Excluded::CachingOn,
        why: "Kafka materializes a source table only when it is named or an operator downstream \
              needs its store; we always materialize it, with a record cache. Under caching a \
              tombstone for a key the table never had stops at our cache, while Kafka's \
              unmaterialized source forwards it, and its filter writes it out. Minimal case: \
              table_filter, caching on, table a:null@0: Kafka outputs a -> null, we output \
              nothing.",
    },
    Exclusion {
        topologies: &["tumbling_count_emit_final"],
        what: Excluded::CachingOn,
        why: "a deliberate difference (guide, Semantics: windowed aggregations): a store of an \
              aggregation emitting on window close is never cached here; Kafka caches the \
              tumbling/hopping one and emits through the cache, which still hands out a window \
              its store's retention already hides. Minimal case: caching on, a:null@0 then \
              a:null@20 (window 10, grace 5): Kafka emits a@0/10 -> 1, we emit nothing (and \
              Kafka, with caching off, nothing either).",
    },
    Exclusion {
        topologies: &[
            "tumbling_count_emit_final",
            "sliding_count_emit_final",
            "session_count_emit_final",
        ],
        what: Excluded::WindowStoreContents,
        why: "Kafka keeps the windows of an aggregation emitting on window close in a \
              time-ordered store whose reads keep a window exactly `retention` behind stream \
              time; ours is the usual window store, whose reads drop it (its emissions follow \
              Kafka's rule; owned by the emit-strategy work). Minimal case: \
              sliding_count_emit_final, a:a@10, c:a@24, c:a@25: Kafka's store still holds \
              a@0/10 at stream time 25 (retention 25), ours not (outputs agree).",
    },
    Exclusion {
        topologies: &["versioned_stream_table_left_join_grace"],
        what: Excluded::NullKeys,
        why: "Kafka Streams 4.4 fails the task on a record with a null key in a left \
              stream-table join with a grace period (NullPointerException 'key cannot be null' \
              from the grace buffer); ours joins it with nothing at once, as without a grace \
              period. Minimal case: in null:a@0: Kafka throws, we output null -> a&null.",
    },
];

/// Whether `what` is excluded for `topology`.
pub(crate) fn is_excluded(topology: &str, what: Excluded) -> Option<&'static Exclusion> {
    EXCLUDED
        .iter()
        .find(|e| e.what == what && e.topologies.contains(&topology))
}
