//! Finding which instance holds a key, on the embedded broker: two instances with their
//! `application.server` share a count over 4 partitions; each one's answer to
//! `query_metadata_for_key` names the instance whose local store holds the key.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{app_config, init_tracing, produce_keyed};
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::embedded::EmbeddedBroker;
use streams_core::runtime::HostInfo;
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, Topology};

fn topology() -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream("clicks", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key()
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("click-counts");
    builder.build().expect("topology")
}

fn local_counts(streams: &KafkaStreams) -> BTreeMap<String, u64> {
    streams
        .key_value_store::<String, u64>("counts")
        .and_then(|store| store.all())
        .map(|entries| entries.into_iter().collect())
        .unwrap_or_default()
}

#[test]
fn each_instance_names_the_instance_whose_store_holds_a_key() {
    init_tracing();
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("clicks", 4).expect("input");
    broker.create_topic("click-counts", 4).expect("output");
    let dirs = [
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    ];
    let hosts = [
        HostInfo::new("a.local", 7001),
        HostInfo::new("b.local", 7002),
    ];
    let mut instances: Vec<KafkaStreams> = dirs
        .iter()
        .zip(&hosts)
        .map(|(dir, host)| {
            let mut config = app_config(&broker, "key-metadata", dir.path());
            config.set("application.server", host.to_string());
            let mut streams = KafkaStreams::new(topology(), &config).expect("new");
            streams.start().expect("start");
            streams
        })
        .collect();

    // Both hold their tasks and have heard each other before records flow: a rebalance while
    // counting would reprocess uncommitted records (the embedded broker refuses commits during
    // a rebalance), and this test is about where keys are, not about at-least-once.
    let settled = |what: &str, ready: &dyn Fn() -> bool| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready() {
            assert!(Instant::now() < deadline, "never {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    settled("split the tasks and announced them", &|| {
        instances.iter().all(|s| {
            let announced: usize = s
                .metadata_for_all_clients()
                .iter()
                .map(|m| m.active_tasks.len())
                .sum();
            s.local_tasks().len() == 2 && announced == 4
        })
    });
    let expected = produce_keyed(&broker, "clicks", 0, 400, 40);
    settled("counted every record", &|| {
        let mut held = BTreeMap::new();
        for streams in &instances {
            held.extend(local_counts(streams));
        }
        held == expected
    });

    let locals: Vec<BTreeMap<String, u64>> = instances.iter().map(local_counts).collect();
    for key in expected.keys() {
        let holder = locals
            .iter()
            .position(|local| local.contains_key(key))
            .expect("some instance holds it");
        for asking in &instances {
            let meta = asking
                .query_metadata_for_key("counts", key, &Serdes::string())
                .expect("metadata");
            assert_eq!(
                meta.active.as_ref(),
                Some(&hosts[holder]),
                "owner of {key} (partition {})",
                meta.partition
            );
            assert!(meta.standbys.is_empty(), "no standby replicas configured");
        }
    }
    let all = instances[1].metadata_for_all_clients();
    let mut announced_hosts: Vec<_> = all.iter().map(|m| m.host.clone()).collect();
    announced_hosts.sort();
    assert_eq!(announced_hosts, hosts.to_vec());
    assert!(
        instances[0]
            .query_metadata_for_key("no-such-store", &"k".to_string(), &Serdes::string())
            .is_err()
    );
    for streams in &mut instances {
        streams.close().expect("close");
    }
}
