//! The workloads: their inputs, topologies and settings, shared by the in-process benchmark
//! (`harness`, embedded or external broker) and the child-process apps of `--broker kafka`
//! (`app`; `java/kafka-streams-bench` mirrors each topology in Kafka Streams). Also the
//! in-process runners: the raw rdkafka baseline and a framework app.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams_core::dsl::{
    Consumed, JoinWindows, Materialized, StreamJoined, StreamsBuilder, TimeWindows,
};
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, StreamsConfig, Topology};

use crate::harness::{BoxError, Progress, Run, wait};

/// The topic names of one run of a workload: `<prefix>-<input name>` and `<prefix>-output`.
#[derive(Debug, Clone)]
pub(crate) struct Topics {
    prefix: String,
}

impl Topics {
    /// Topics named after `prefix` (a run's application id).
    pub(crate) fn new(prefix: impl Into<String>) -> Self {
        Topics {
            prefix: prefix.into(),
        }
    }

    /// The topic of input `name`.
    pub(crate) fn input(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// The output topic.
    pub(crate) fn output(&self) -> String {
        format!("{}-output", self.prefix)
    }
}

/// One input of a workload.
#[derive(Debug, Clone)]
pub(crate) struct Feed {
    /// Topic suffix: the topic is `<prefix>-<name>`.
    pub(crate) name: &'static str,
    /// Records written to it.
    pub(crate) records: usize,
    /// A table (one row per key), loaded before the clock starts even on the embedded broker;
    /// otherwise a stream, fed under the window there (on Apache Kafka every input is loaded
    /// before the clock).
    pub(crate) preload: bool,
}

/// A framework workload: its inputs, topology and settings.
pub(crate) struct Workload {
    /// Its inputs, in the order they are loaded.
    pub(crate) feeds: Vec<Feed>,
    /// Its topology over a run's topics.
    pub(crate) topology: fn(&Topics) -> Result<Topology, BoxError>,
    /// `num.stream.threads`.
    pub(crate) threads: usize,
    /// `processing.guarantee=exactly_once_v2` rather than `at_least_once`.
    pub(crate) exactly_once: bool,
    /// Properties only the embedded broker (librdkafka's mock cluster) needs.
    pub(crate) embedded_config: &'static [(&'static str, &'static str)],
}

impl Workload {
    /// `processing.guarantee`.
    pub(crate) fn guarantee(&self) -> &'static str {
        if self.exactly_once {
            "exactly_once_v2"
        } else {
            "at_least_once"
        }
    }

    /// Every input record, tables included.
    pub(crate) fn input_records(&self) -> usize {
        self.feeds.iter().map(|f| f.records).sum()
    }

    /// Properties set on top of the defaults by the in-process benchmark.
    pub(crate) fn config(&self, embedded: bool) -> Vec<(&'static str, String)> {
        let mut config = vec![
            ("num.stream.threads", self.threads.to_string()),
            ("processing.guarantee", self.guarantee().to_string()),
        ];
        if embedded {
            config.extend(
                self.embedded_config
                    .iter()
                    .map(|(k, v)| (*k, v.to_string())),
            );
        }
        config
    }
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

/// The framework workloads, in their default order.
pub(crate) const NAMES: &[&str] = &[
    "stream_process_with_sink",
    "stream_count",
    "stream_count_2_threads",
    "stream_count_eos",
    "stream_count_windowed",
    "stream_table_join",
    "table_table_join",
    "stream_stream_join",
];

/// Workload `name` for `records` streamed records and `keys` keys (`None`: no such workload).
pub(crate) fn workload(name: &str, records: usize, keys: usize) -> Option<Workload> {
    let mut workload = Workload {
        feeds: vec![stream("input", records)],
        topology: stream_count,
        threads: 1,
        exactly_once: false,
        embedded_config: &[],
    };
    match name {
        "stream_process_with_sink" => workload.topology = stream_process_with_sink,
        "stream_count" => {}
        "stream_count_eos" => workload.exactly_once = true,
        "stream_count_2_threads" => {
            workload.threads = 2;
            // The second thread joins a moment after the first, and the rebalance that gives
            // it its share waits for a heartbeat; the mock cluster also waits out a session
            // timeout for a member entry left by the join handshake (45 s by default), so both
            // are short there (a real broker refuses sessions under 6 s).
            workload.embedded_config = &[
                ("consumer.heartbeat.interval.ms", "100"),
                ("consumer.session.timeout.ms", "1000"),
            ];
        }
        "stream_count_windowed" => workload.topology = stream_count_windowed,
        "stream_table_join" => {
            workload.feeds = vec![table("table", keys), stream("input", records)];
            workload.topology = stream_table_join;
        }
        "table_table_join" => {
            workload.feeds = vec![table("right", keys), stream("left", records)];
            workload.topology = table_table_join;
        }
        "stream_stream_join" => {
            workload.feeds = vec![
                stream("left", records / 2),
                stream("right", records - records / 2),
            ];
            workload.topology = stream_stream_join;
        }
        _ => return None,
    }
    Some(workload)
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
    while consumed < run.bench.args.records() {
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
        crate::harness::send(&producer, record)?;
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
    extra: &[(&'static str, String)],
    done: &dyn Fn() -> Result<bool, BoxError>,
) -> Result<(), BoxError> {
    let state = tempfile::tempdir()?;
    let mut config: StreamsConfig = run.bench.config.clone();
    config
        .set("application.id", &run.app_id)
        .set("state.dir", state.path().to_string_lossy().to_string());
    for (key, value) in extra {
        config.set(*key, value);
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
fn stream_process_with_sink(topics: &Topics) -> Result<Topology, BoxError> {
    let builder = StreamsBuilder::new();
    bytes_stream(&builder, &topics.input("input"))
        .map_values(|mut value: Vec<u8>| {
            value.reverse();
            value
        })
        .to(&topics.output());
    Ok(builder.build()?)
}

/// `group_by_key().count()` into RocksDB with a changelog (record cache on, as by default).
pub(crate) fn stream_count(topics: &Topics) -> Result<Topology, BoxError> {
    let builder = StreamsBuilder::new();
    bytes_stream(&builder, &topics.input("input"))
        .group_by_key()
        .count(Materialized::as_("bench-counts"))
        .to_stream()
        .to(&topics.output());
    Ok(builder.build()?)
}

/// Counts in 1 s hopping windows advancing 500 ms.
fn stream_count_windowed(topics: &Topics) -> Result<Topology, BoxError> {
    let builder = StreamsBuilder::new();
    bytes_stream(&builder, &topics.input("input"))
        .group_by_key()
        .windowed_by(
            TimeWindows::of_size_with_no_grace(Duration::from_secs(1))
                .advance_by(Duration::from_millis(500)),
        )
        .count(Materialized::as_("bench-windowed"))
        .to_stream()
        .map(|w, count: Option<u64>| (w.key, count.unwrap_or(0)))
        .to(&topics.output());
    Ok(builder.build()?)
}

/// Each stream record joined with a table of one row per key.
fn stream_table_join(topics: &Topics) -> Result<Topology, BoxError> {
    let builder = StreamsBuilder::new();
    let table = builder.table(
        &topics.input("table"),
        Consumed::with(Serdes::string(), Serdes::bytes()),
        Materialized::as_("bench-table"),
    );
    bytes_stream(&builder, &topics.input("input"))
        .join_table(&table, |v: &Vec<u8>, t: &Vec<u8>| v.len() + t.len())
        .map_values(|n: usize| n as u64)
        .to(&topics.output());
    Ok(builder.build()?)
}

/// A table of streamed updates joined with a table of one row per key.
fn table_table_join(topics: &Topics) -> Result<Topology, BoxError> {
    let builder = StreamsBuilder::new();
    let left = builder.table(
        &topics.input("left"),
        Consumed::with(Serdes::string(), Serdes::bytes()),
        Materialized::as_("bench-left"),
    );
    let right = builder.table(
        &topics.input("right"),
        Consumed::with(Serdes::string(), Serdes::bytes()),
        Materialized::as_("bench-right"),
    );
    left.join(&right, |l: &Vec<u8>, r: &Vec<u8>| {
        (l.len() + r.len()) as u64
    })
    .to_stream()
    .to(&topics.output());
    Ok(builder.build()?)
}

/// Two streams joined within 10 s (each key recurs every `keys` ms of event time).
fn stream_stream_join(topics: &Topics) -> Result<Topology, BoxError> {
    let builder = StreamsBuilder::new();
    let left = bytes_stream(&builder, &topics.input("left"));
    let right = bytes_stream(&builder, &topics.input("right"));
    left.join(
        &right,
        |l: &Vec<u8>, r: &Vec<u8>| (l.len() + r.len()) as u64,
        JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(10)),
        StreamJoined::default(),
    )
    .to(&topics.output());
    Ok(builder.build()?)
}
