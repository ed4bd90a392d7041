//! The workloads: the raw rdkafka baseline and the framework's.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams_core::dsl::{
    Consumed, JoinWindows, Materialized, StreamJoined, StreamsBuilder, TimeWindows,
};
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, StreamsConfig, Topology};

use crate::harness::{BoxError, Feed, Progress, Run, wait};

/// A framework workload: its inputs and its topology.
pub(crate) struct Workload {
    pub(crate) feeds: Vec<Feed>,
    pub(crate) topology: fn(&Run<'_>) -> Result<Topology, BoxError>,
    /// Properties set on top of the defaults.
    pub(crate) config: &'static [(&'static str, &'static str)],
}

fn stream(name: &'static str, records: usize) -> Feed {
    Feed {
        name,
        records,
        preload: false,
    }
}

fn table(name: &'static str, records: usize) -> Feed {
    Feed {
        name,
        records,
        preload: true,
    }
}

/// The inputs of each workload for `records` streamed records and `keys` keys.
pub(crate) fn workload(name: &str, records: usize, keys: usize) -> Option<Workload> {
    let (feeds, topology): (Vec<Feed>, fn(&Run<'_>) -> Result<Topology, BoxError>) = match name {
        "stream_process_with_sink" => (vec![stream("input", records)], stream_process_with_sink),
        "stream_count" => (vec![stream("input", records)], stream_count),
        "stream_count_eos" => {
            return Some(Workload {
                feeds: vec![stream("input", records)],
                topology: stream_count,
                config: &[("processing.guarantee", "exactly_once_v2")],
            });
        }
        "stream_count_2_threads" => {
            return Some(Workload {
                feeds: vec![stream("input", records)],
                topology: stream_count,
                // The second thread joins a moment after the first, and the rebalance that
                // gives it its share waits for a heartbeat; the mock cluster also waits out a
                // session timeout for a member entry left by the join handshake (45 s by
                // default), so both are short here.
                config: &[
                    ("num.stream.threads", "2"),
                    ("consumer.heartbeat.interval.ms", "100"),
                    ("consumer.session.timeout.ms", "1000"),
                ],
            });
        }
        "stream_count_windowed" => (vec![stream("input", records)], stream_count_windowed),
        "stream_table_join" => (
            vec![table("table", keys), stream("input", records)],
            stream_table_join,
        ),
        "table_table_join" => (
            vec![table("right", keys), stream("left", records)],
            table_table_join,
        ),
        "stream_stream_join" => (
            vec![
                stream("left", records / 2),
                stream("right", records - records / 2),
            ],
            stream_stream_join,
        ),
        _ => return None,
    };
    Some(Workload {
        feeds,
        topology,
        config: &[],
    })
}

/// Raw rdkafka: consume each input record and produce it unchanged to the output, in one loop
/// on one thread, like a stream thread without the framework.
pub(crate) fn passthrough(
    run: &Run<'_>,
    done: &dyn Fn() -> Result<bool, BoxError>,
) -> Result<(), BoxError> {
    let consumer: BaseConsumer = run
        .bench
        .client()
        .set("group.id", &run.app_id)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    let producer: BaseProducer = run
        .bench
        .client()
        .set("partitioner", "murmur2_random")
        .create()?;
    consumer.subscribe(&[run.topic("input").as_str()])?;
    let mut consumed = 0usize;
    while consumed < run.bench.args.records {
        let Some(message) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let message = message?;
        let mut record = BaseRecord::<[u8], [u8]>::to(&run.output)
            .timestamp(message.timestamp().to_millis().unwrap_or(0));
        if let Some(key) = message.key() {
            record = record.key(key);
        }
        if let Some(value) = message.payload() {
            record = record.payload(value);
        }
        crate::harness::send_retrying(&producer, record);
        consumed += 1;
        if consumed.is_multiple_of(1024) {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(120))?;
    wait(done)
}

/// Runs a framework workload's topology until its inputs are processed and committed.
pub(crate) fn run_app(
    run: &Run<'_>,
    topology: Topology,
    extra: &[(&str, &str)],
    done: &dyn Fn() -> Result<bool, BoxError>,
) -> Result<(), BoxError> {
    let state = tempfile::tempdir()?;
    let mut config: StreamsConfig = run.bench.config.clone();
    config
        .set("application.id", &run.app_id)
        .set("state.dir", state.path().to_string_lossy().to_string());
    for (key, value) in extra {
        config.set(*key, *value);
    }
    config.set_metrics_registry(run.registry.clone());
    let mut streams = KafkaStreams::new(topology, &config)?;
    streams.start()?;
    let result = wait(done);
    streams.close()?;
    result
}

pub(crate) const PROGRESS: Progress = Progress::Processed;

fn bytes_stream(
    builder: &StreamsBuilder,
    topic: &str,
) -> streams_core::dsl::KStream<String, Vec<u8>> {
    builder.stream(topic, Consumed::with(Serdes::string(), Serdes::bytes()))
}

/// `stream(input).map_values(..).to(output)`.
fn stream_process_with_sink(run: &Run<'_>) -> Result<Topology, BoxError> {
    let builder = StreamsBuilder::new();
    bytes_stream(&builder, &run.topic("input"))
        .map_values(|mut value: Vec<u8>| {
            value.reverse();
            value
        })
        .to(&run.output);
    Ok(builder.build()?)
}

/// `group_by_key().count()` into RocksDB with a changelog (record cache on, as by default).
pub(crate) fn stream_count(run: &Run<'_>) -> Result<Topology, BoxError> {
    let builder = StreamsBuilder::new();
    bytes_stream(&builder, &run.topic("input"))
        .group_by_key()
        .count(Materialized::as_("bench-counts"))
        .to_stream()
        .to(&run.output);
    Ok(builder.build()?)
}

/// Counts in 1 s hopping windows advancing 500 ms.
fn stream_count_windowed(run: &Run<'_>) -> Result<Topology, BoxError> {
    let builder = StreamsBuilder::new();
    bytes_stream(&builder, &run.topic("input"))
        .group_by_key()
        .windowed_by(
            TimeWindows::of_size_with_no_grace(Duration::from_secs(1))
                .advance_by(Duration::from_millis(500)),
        )
        .count(Materialized::as_("bench-windowed"))
        .to_stream()
        .map(|w, count: Option<u64>| (w.key, count.unwrap_or(0)))
        .to(&run.output);
    Ok(builder.build()?)
}

/// Each stream record joined with a table of one row per key.
fn stream_table_join(run: &Run<'_>) -> Result<Topology, BoxError> {
    let builder = StreamsBuilder::new();
    let table = builder.table(
        &run.topic("table"),
        Consumed::with(Serdes::string(), Serdes::bytes()),
        Materialized::as_("bench-table"),
    );
    bytes_stream(&builder, &run.topic("input"))
        .join_table(&table, |v: &Vec<u8>, t: &Vec<u8>| v.len() + t.len())
        .map_values(|n: usize| n as u64)
        .to(&run.output);
    Ok(builder.build()?)
}

/// A table of streamed updates joined with a table of one row per key.
fn table_table_join(run: &Run<'_>) -> Result<Topology, BoxError> {
    let builder = StreamsBuilder::new();
    let left = builder.table(
        &run.topic("left"),
        Consumed::with(Serdes::string(), Serdes::bytes()),
        Materialized::as_("bench-left"),
    );
    let right = builder.table(
        &run.topic("right"),
        Consumed::with(Serdes::string(), Serdes::bytes()),
        Materialized::as_("bench-right"),
    );
    left.join(&right, |l: &Vec<u8>, r: &Vec<u8>| {
        (l.len() + r.len()) as u64
    })
    .to_stream()
    .to(&run.output);
    Ok(builder.build()?)
}

/// Two streams joined within 10 s (each key recurs every `keys` ms of event time).
fn stream_stream_join(run: &Run<'_>) -> Result<Topology, BoxError> {
    let builder = StreamsBuilder::new();
    let left = bytes_stream(&builder, &run.topic("left"));
    let right = bytes_stream(&builder, &run.topic("right"));
    left.join(
        &right,
        |l: &Vec<u8>, r: &Vec<u8>| (l.len() + r.len()) as u64,
        JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(10)),
        StreamJoined::default(),
    )
    .to(&run.output);
    Ok(builder.build()?)
}
