//! The record cache of window and session stores, and the stream time window and session
//! stores keep across restarts, through the test driver. Each scenario names the Kafka Streams
//! test it is ported from; expected outputs marked "Kafka 4.4" are what Kafka Streams 4.4's
//! own TopologyTestDriver produces on the same input (which commits, so flushes the caches,
//! after every record, as ours does).

use std::sync::Arc;
use std::time::Duration;

use streams_core::dsl::{
    Consumed, KTable, Materialized, Produced, SessionWindows, SlidingWindows, StreamsBuilder,
    TimeWindows, Windowed, WindowedSerde,
};
use streams_core::processor::{ProcessResult, Processor, ProcessorContext, Record};
use streams_core::serde::{Serdes, SharedSerde};
use streams_core::state::{StoreBuilder, WindowStoreHandle};
use streams_core::testing::TopologyTestDriver;
use streams_core::{Result, StreamsConfig, Topology};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config(cache: bool) -> StreamsConfig {
    let mut config = StreamsConfig::new();
    config.set(
        "statestore.cache.max.bytes",
        if cache { "10485760" } else { "0" },
    );
    config
}

fn session_key() -> SharedSerde<Windowed<String>> {
    Arc::new(WindowedSerde::session(Serdes::string()))
}

fn time_key(size: u64) -> SharedSerde<Windowed<String>> {
    Arc::new(WindowedSerde::time(Serdes::string(), ms(size)))
}

/// Counts per key and session of `gap` (no grace).
fn session_counts(builder: &StreamsBuilder, gap: u64) -> KTable<Windowed<String>, u64> {
    builder
        .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .windowed_by(SessionWindows::of_inactivity_gap_with_no_grace(ms(gap)))
        .count(Materialized::as_("sessions"))
}

/// Writes `table` to "output" as `[key@start/end] value @ts` lines.
fn to_output(table: KTable<Windowed<String>, u64>, key: SharedSerde<Windowed<String>>) {
    table.to_stream().to_with(
        "output",
        Produced::with(key, Serdes::nullable(Serdes::u64())),
    );
}

/// Pipes `inputs` (key, timestamp) into "input" of a driver over `topology`, and reads the
/// output lines and the dropped records.
fn run(
    driver: &TopologyTestDriver,
    key: SharedSerde<Windowed<String>>,
    inputs: &[(&str, i64)],
) -> Result<(Vec<String>, u64)> {
    let input = driver.input_topic("input", Serdes::string(), Serdes::string());
    for (k, ts) in inputs {
        input.pipe_input(k.to_string(), "x".to_string(), *ts)?;
    }
    let lines = driver
        .output_topic("output", key, Serdes::nullable(Serdes::u64()))
        .read_records()?
        .into_iter()
        .map(|r| {
            let value = r.value.map_or("null".to_string(), |v| v.to_string());
            format!("{} {} @{}", r.key, value, r.timestamp)
        })
        .collect();
    Ok((lines, driver.dropped_records()))
}

#[test]
fn sessions_of_many_keys_merge_as_in_kafka_with_and_without_the_cache() -> Result<()> {
    // KStreamSessionWindowAggregateProcessorTest.shouldHandleMultipleSessionsAndMerging (gap
    // 5 minutes, from a base time): the same output cached or not (Kafka 4.4).
    const G: i64 = 300_000;
    const B: i64 = 1_000_000;
    let inputs = [
        ("a", B),
        ("b", B),
        ("c", B),
        ("d", B),
        ("d", B + G / 2),
        ("a", B + G + 1),
        ("b", B + G + 1),
        ("a", B + G + 1 + G / 2),
        ("c", B + G + 1 + G / 2),
    ];
    let expected = [
        "[a@1000000/1000000] 1 @1000000",
        "[b@1000000/1000000] 1 @1000000",
        "[c@1000000/1000000] 1 @1000000",
        "[d@1000000/1000000] 1 @1000000",
        "[d@1000000/1000000] null @1000000",
        "[d@1000000/1150000] 2 @1150000",
        "[a@1300001/1300001] 1 @1300001",
        "[b@1300001/1300001] 1 @1300001",
        "[a@1300001/1300001] null @1300001",
        "[a@1300001/1450001] 2 @1450001",
        "[c@1450001/1450001] 1 @1450001",
    ];
    for cache in [true, false] {
        let builder = StreamsBuilder::new();
        to_output(session_counts(&builder, G as u64), session_key());
        let driver = TopologyTestDriver::with_config(builder.build()?, &config(cache))?;
        let (lines, _) = run(&driver, session_key(), &inputs)?;
        assert_eq!(lines, expected, "cache {cache}");
    }
    Ok(())
}

#[test]
fn a_record_inside_its_session_is_one_update_with_the_cache() -> Result<()> {
    // KStreamSessionWindowAggregateProcessorTest.shouldUpdateSessionIfTheSameTime, through
    // the cache: the record merges with [0,10] into the same session; the removal and the
    // put of one session key become one cached write, one update downstream (Kafka 4.4).
    let inputs = [("k", 0), ("k", 10), ("k", 5), ("k", 5)];
    let cached = [
        "[k@0/0] 1 @0",
        "[k@0/0] null @0",
        "[k@0/10] 2 @10",
        "[k@0/10] 3 @10",
        "[k@0/10] 4 @10",
    ];
    let uncached = [
        "[k@0/0] 1 @0",
        "[k@0/0] null @0",
        "[k@0/10] 2 @10",
        "[k@0/10] null @10",
        "[k@0/10] 3 @10",
        "[k@0/10] null @10",
        "[k@0/10] 4 @10",
    ];
    for (cache, expected) in [(true, &cached[..]), (false, &uncached[..])] {
        let builder = StreamsBuilder::new();
        to_output(session_counts(&builder, 10), session_key());
        let driver = TopologyTestDriver::with_config(builder.build()?, &config(cache))?;
        let (lines, _) = run(&driver, session_key(), &inputs)?;
        assert_eq!(lines, expected, "cache {cache}");
    }
    Ok(())
}

/// Counts every record in a cached window store (Processor API), checking before each put
/// that the store holds exactly one window per record so far: cache and store never both
/// return one window.
struct CountingWindows {
    store: Option<WindowStoreHandle<String, String>>,
    processed: usize,
}

impl Processor for CountingWindows {
    type KeyIn = String;
    type ValueIn = String;
    type KeyOut = String;
    type ValueOut = String;

    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> ProcessResult {
        let store = ctx.window_store("store-name")?;
        assert_eq!(store.all()?.len(), 0);
        self.store = Some(store);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, String>,
        record: Record<String, String>,
    ) -> ProcessResult {
        let store = self.store.as_ref().expect("initialized");
        assert_eq!(store.all()?.len(), self.processed);
        store.put(&record.value, &record.value, record.timestamp)?;
        self.processed += 1;
        Ok(ctx.forward(record)?)
    }
}

#[test]
fn a_cached_window_store_never_returns_a_window_twice() -> Result<()> {
    // CachingPersistentWindowStoreTest.shouldNotReturnDuplicatesInRanges: a user processor's
    // cached window store, read whole before each put, across commits (wall-clock advances).
    let mut topology = Topology::new();
    topology
        .add_source("src", &["topic"], Serdes::string(), Serdes::string())?
        .add_processor(
            "counting",
            || CountingWindows {
                store: None,
                processed: 0,
            },
            &["src"],
        )?
        .add_state_store(
            StoreBuilder::window(
                "store-name",
                Duration::from_secs(3600),
                false,
                Serdes::string(),
                Serdes::string(),
            )
            .with_caching_enabled(),
            &["counting"],
        )?;
    let driver = TopologyTestDriver::with_config(topology, &config(true))?;
    let input = driver.input_topic("topic", Serdes::string(), Serdes::string());
    let mut ts = 0;
    for round in 0..4 {
        for i in 0..5 {
            input.pipe_input(format!("k{round}{i}"), format!("v{round}{i}"), ts)?;
        }
        driver.advance_wall_clock_time(Duration::from_secs(10))?;
        ts += 10_000;
    }
    assert_eq!(
        driver
            .window_store::<String, String>("store-name")?
            .all()?
            .len(),
        20
    );
    Ok(())
}

#[test]
fn hopping_windows_give_the_same_updates_cached_or_not() -> Result<()> {
    // KStreamWindowAggregateTest.testAggBasic with inputWithCache true and false: the driver
    // flushes after every record, so caching changes nothing here.
    let inputs = [
        ("A", 0),
        ("B", 1),
        ("A", 4),
        ("A", 5),
        ("B", 6),
        ("A", 10),
        ("B", 3),
        ("B", 2),
        ("B", 9),
    ];
    let mut outputs = Vec::new();
    for cache in [true, false] {
        let builder = StreamsBuilder::new();
        let table = builder
            .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
            .group_by_key()
            .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(100)).advance_by(ms(5)))
            .count(Materialized::as_("counts"));
        to_output(table, time_key(10));
        let driver = TopologyTestDriver::with_config(builder.build()?, &config(cache))?;
        outputs.push(run(&driver, time_key(10), &inputs)?);
    }
    assert_eq!(outputs[0], outputs[1]);
    assert_eq!(outputs[0].0.len(), 13);
    Ok(())
}

/// A windowed count of each kind, for the restart scenarios: the table and its key serde.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Tumbling,
    Sliding,
    Session,
}

fn windowed_counts(kind: Kind, builder: &StreamsBuilder) -> SharedSerde<Windowed<String>> {
    let grouped = builder
        .stream("input", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key();
    let (table, key) = match kind {
        Kind::Tumbling => (
            grouped
                .windowed_by(TimeWindows::of_size_and_grace(ms(10), ms(5)))
                .count(Materialized::as_("counts")),
            time_key(10),
        ),
        Kind::Sliding => (
            grouped
                .windowed_by(SlidingWindows::of_time_difference_and_grace(ms(10), ms(5)))
                .count(Materialized::as_("counts")),
            time_key(10),
        ),
        Kind::Session => (
            grouped
                .windowed_by(SessionWindows::of_inactivity_gap_and_grace(ms(10), ms(5)))
                .count(Materialized::as_("counts")),
            session_key(),
        ),
    };
    to_output(table, key.clone());
    key
}

fn persistent_config(cache: bool, dir: &std::path::Path) -> StreamsConfig {
    let mut config = config(cache);
    config
        .set("state.dir", dir.to_string_lossy().to_string())
        .set("application.id", "restarted");
    config
}

#[test]
fn late_records_after_a_restart_are_dropped_as_without_it() -> Result<()> {
    // Stream time survives the restart (the stores keep it): the late records at 50 and 60
    // are dropped, and the windows go on counting, exactly as in one uninterrupted run. (No
    // record here reaches a session past retention: one still cached would merge, as in Kafka
    // Streams, and a restart empties the cache.)
    let before = [("k", 100), ("k", 103), ("j", 120)];
    let after = [("k", 50), ("k", 130), ("k", 60), ("j", 121), ("k", 131)];
    for kind in [Kind::Tumbling, Kind::Sliding, Kind::Session] {
        for cache in [true, false] {
            let whole = {
                let dir = tempfile::tempdir().expect("tempdir");
                let builder = StreamsBuilder::new();
                let key = windowed_counts(kind, &builder);
                let driver = TopologyTestDriver::with_config(
                    builder.build()?,
                    &persistent_config(cache, dir.path()),
                )?;
                let all: Vec<_> = before.iter().chain(&after).copied().collect();
                run(&driver, key, &all)?
            };
            let dir = tempfile::tempdir().expect("tempdir");
            let builder = StreamsBuilder::new();
            let key = windowed_counts(kind, &builder);
            let first = TopologyTestDriver::with_config(
                builder.build()?,
                &persistent_config(cache, dir.path()),
            )?;
            let (mut lines, mut dropped) = run(&first, key, &before)?;
            first.close()?;
            let builder = StreamsBuilder::new();
            let key = windowed_counts(kind, &builder);
            let second = TopologyTestDriver::with_config(
                builder.build()?,
                &persistent_config(cache, dir.path()),
            )?;
            let (more, more_dropped) = run(&second, key, &after)?;
            lines.extend(more);
            dropped += more_dropped;
            assert_eq!((lines, dropped), whole, "{kind:?}, cache {cache}");
            // Both late records (a sliding aggregation also counts each closed window a
            // record would have updated).
            assert!(whole.1 >= 2, "{kind:?}: {} dropped", whole.1);
        }
    }
    Ok(())
}
