//! A consumer left fetching a partition from a broker that is not its leader, with no
//! progress (confluentinc/librdkafka#5593 leaves it there after a leader change, and no error
//! reaches the application), is renewed: the stream thread commits, closes its tasks and
//! rejoins with a new consumer, which fetches from the leader.
//!
//! The embedded broker stands in for the bug: its leader sends consumers to a follower even
//! when they name no rack, which no real broker does, so a consumer without `client.rack`
//! ends up on a broker other than the leader.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::{app_config, init_tracing, merge, metric_sum, produce_keyed, wait_for};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, Topology};

const TIMEOUT: Duration = Duration::from_secs(90);

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("events", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("counts-out");
    builder.build().expect("topology")
}

fn counts(streams: &KafkaStreams) -> BTreeMap<String, u64> {
    streams
        .key_value_store::<String, u64>("counts")
        .and_then(|s| s.all())
        .map(|all| all.into_iter().collect())
        .unwrap_or_default()
}

#[test]
fn a_consumer_stuck_on_a_non_leader_is_renewed_and_nothing_is_lost_or_counted_twice() {
    init_tracing();
    let broker = EmbeddedBroker::start(2).expect("broker");
    for topic in ["events", "counts-out"] {
        broker.create_topic(topic, 1).expect("topic");
        broker.set_partition_leader(topic, 0, 1).expect("leader");
    }
    let registry = prometheus::Registry::new();
    let state = tempfile::tempdir().expect("tempdir");
    let mut config = app_config(&broker, "stuck-fetch", state.path());
    // Six statistics in a row make a partition stuck: 1.2 s here, 30 s by default.
    config
        .set("consumer.statistics.interval.ms", "200")
        .set_metrics_registry(registry.clone());
    let mut streams = KafkaStreams::new(topology(), &config).expect("streams");
    streams.start().expect("start");
    streams.wait_until_running(TIMEOUT).expect("running");
    let mut expected = produce_keyed(&broker, "events", 0, 50, 5);
    wait_for("the first counts", TIMEOUT, || counts(&streams) == expected);
    let rejoined = || metric_sum(&registry, "streams_client_threads_rejoined_total", &[]);
    assert_eq!(rejoined(), 0.0, "no rejoin while fetching from the leader");

    // The consumer follows the leader to broker 2, and stays there with nothing to fetch.
    broker
        .set_partition_follower("events", 0, Some(2))
        .expect("follower");
    wait_for(
        "the thread to renew a consumer that fetches from a broker other than the leader",
        TIMEOUT,
        || rejoined() >= 1.0,
    );
    broker
        .set_partition_follower("events", 0, None)
        .expect("no follower");
    merge(&mut expected, produce_keyed(&broker, "events", 50, 50, 5));
    wait_for("the counts after the renewal", TIMEOUT, || {
        counts(&streams) == expected
    });
    // Exact, not only reached: nothing was counted twice across the renewal.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(counts(&streams), expected);
    streams.close().expect("clean close");
}
