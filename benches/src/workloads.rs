//! The workloads: the raw rdkafka baseline and the framework's.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, StreamsConfig, Topology};

use crate::harness::{BoxError, Run, wait};

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
    consumer.subscribe(&[run.input.as_str()])?;
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
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
            }
        }
        consumed += 1;
        if consumed.is_multiple_of(1024) {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(120))?;
    wait(done)
}

fn run_app(
    run: &Run<'_>,
    topology: Topology,
    done: &dyn Fn() -> Result<bool, BoxError>,
) -> Result<(), BoxError> {
    let state = tempfile::tempdir()?;
    let mut config: StreamsConfig = run.bench.config.clone();
    config
        .set("application.id", &run.app_id)
        .set("state.dir", state.path().to_string_lossy().to_string());
    let mut streams = KafkaStreams::new(topology, &config)?;
    streams.start()?;
    let result = wait(done);
    streams.close()?;
    result
}

/// `stream(input).map_values(..).to(output)` with byte values.
pub(crate) fn stream_process_with_sink(
    run: &Run<'_>,
    done: &dyn Fn() -> Result<bool, BoxError>,
) -> Result<(), BoxError> {
    let builder = StreamsBuilder::new();
    builder
        .stream(&run.input, Consumed::with(Serdes::bytes(), Serdes::bytes()))
        .map_values(|mut value: Vec<u8>| {
            value.reverse();
            value
        })
        .to(&run.output);
    run_app(run, builder.build()?, done)
}

/// `stream(input).group_by_key().count()` into RocksDB with a changelog, updates to output.
pub(crate) fn stream_count(
    run: &Run<'_>,
    done: &dyn Fn() -> Result<bool, BoxError>,
) -> Result<(), BoxError> {
    let builder = StreamsBuilder::new();
    builder
        .stream(
            &run.input,
            Consumed::with(Serdes::string(), Serdes::bytes()),
        )
        .group_by_key()
        .count(Materialized::as_("bench-counts"))
        .to_stream()
        .to(&run.output);
    run_app(run, builder.build()?, done)
}
