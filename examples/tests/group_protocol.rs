//! The next-generation consumer group protocol (KIP-848, `group.protocol=consumer`) on Apache
//! Kafka: does the broker's server-side `range` assignor keep the same partition number of
//! co-partitioned topics on one member, as a stream task needs (a join reads partition p of
//! both its inputs)? Checked with plain consumers, as members join and leave; then a join
//! app under it, exactly-once, while instances come and go; and the processing pause when a
//! third instance joins, under each protocol (figures printed, not asserted).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
use streams_core::serde::Serdes;
use streams_core::{KafkaStreams, StreamsConfig};
use support::{KafkaCluster, Worker, one_at_a_time, unique};

/// One member's assignment: partition numbers per topic.
fn assignment(consumer: &BaseConsumer) -> BTreeMap<String, BTreeSet<i32>> {
    let mut out: BTreeMap<String, BTreeSet<i32>> = BTreeMap::new();
    for e in consumer.assignment().expect("assignment").elements() {
        out.entry(e.topic().to_string())
            .or_default()
            .insert(e.partition());
    }
    out
}

/// Polls every member until each has joined (holds partitions: there are more partitions than
/// members) and their assignments cover every partition of `topics` exactly once, and stay so
/// for two seconds; returns them.
fn settle(
    members: &[BaseConsumer],
    topics: &[&str],
    partitions: i32,
) -> Vec<BTreeMap<String, BTreeSet<i32>>> {
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut stable_since: Option<(Instant, Vec<BTreeMap<String, BTreeSet<i32>>>)> = None;
    loop {
        for m in members {
            let _ = m.poll(Duration::from_millis(20));
        }
        let now: Vec<_> = members.iter().map(assignment).collect();
        let complete = now.iter().all(|a| !a.is_empty())
            && topics.iter().all(|t| {
                let mut all: Vec<i32> = now
                    .iter()
                    .flat_map(|a| a.get(*t).into_iter().flatten().copied())
                    .collect();
                all.sort_unstable();
                all == (0..partitions).collect::<Vec<_>>()
            });
        match &stable_since {
            Some((since, last)) if complete && *last == now => {
                if since.elapsed() > Duration::from_secs(2) {
                    return now;
                }
            }
            _ => stable_since = complete.then(|| (Instant::now(), now.clone())),
        }
        assert!(
            Instant::now() < deadline,
            "the group never settled: {now:?}"
        );
    }
}

fn member(broker: &KafkaCluster, group: &str, topics: &[&str]) -> BaseConsumer {
    let consumer: BaseConsumer = broker
        .client()
        .set("group.id", group)
        .set("group.protocol", "consumer")
        .set("group.remote.assignor", "range")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(topics).expect("subscribe");
    consumer
}

/// Whether every member holds the same partition numbers of every topic.
fn co_partitioned(assignments: &[BTreeMap<String, BTreeSet<i32>>], topics: &[&str]) -> bool {
    assignments.iter().all(|a| {
        let numbers: Vec<BTreeSet<i32>> = topics
            .iter()
            .map(|t| a.get(*t).cloned().unwrap_or_default())
            .collect();
        numbers.windows(2).all(|w| w[0] == w[1])
    })
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn the_servers_range_assignor_keeps_co_partitioned_topics_together() {
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let partitions = 6;
    let (left, right) = (unique("left"), unique("right"));
    broker.create_topics(&[(&left, partitions), (&right, partitions)]);
    let topics = [left.as_str(), right.as_str()];
    let group = unique("copartition");

    let mut members = Vec::new();
    // Members join one at a time, then one leaves.
    for n in 1..=4 {
        members.push(member(broker, &group, &topics));
        let assignments = settle(&members, &topics, partitions);
        eprintln!("{n} members: {assignments:?}");
        assert!(
            co_partitioned(&assignments, &topics),
            "with {n} members a member holds different partitions of the two topics: {assignments:?}"
        );
    }
    members.remove(1);
    let assignments = settle(&members, &topics, partitions);
    eprintln!("after one left: {assignments:?}");
    assert!(
        co_partitioned(&assignments, &topics),
        "after a member left: {assignments:?}"
    );
}

/// A stream–table join app instance (the table preloaded, so every stream record has its row)
/// under `protocol` and exactly-once.
fn join_instance(
    broker: &KafkaCluster,
    protocol: &str,
    app: &str,
    state: &std::path::Path,
    topics: (&str, &str, &str),
) -> KafkaStreams {
    let (stream, table, output) = topics;
    let builder = StreamsBuilder::new();
    let rows = builder.table(
        table,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("rows"),
    );
    builder
        .stream(stream, Consumed::with(Serdes::string(), Serdes::string()))
        .join_table(&rows, |s: &String, t: &String| format!("{s}+{t}"))
        .to(output);
    let mut config = StreamsConfig::new();
    config
        .set("bootstrap.servers", &broker.bootstrap)
        .set("application.id", app)
        .set("state.dir", state.to_string_lossy().to_string())
        .set("processing.guarantee", "exactly_once_v2")
        .set("commit.interval.ms", "100")
        .set("group.protocol", protocol);
    let mut streams =
        KafkaStreams::new(builder.build().expect("topology"), &config).expect("instance");
    streams.start().expect("start");
    streams
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn a_join_is_exact_under_the_next_generation_protocol_while_instances_come_and_go() {
    join_while_instances_come_and_go("consumer");
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn a_join_is_exact_under_the_classic_protocol_while_instances_come_and_go() {
    join_while_instances_come_and_go("classic");
}

fn join_while_instances_come_and_go(protocol: &str) {
    let _serial = one_at_a_time();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_test_writer()
        .try_init();
    let broker = KafkaCluster::shared();
    let partitions = 6;
    let (stream, table, output) = (unique("clicks"), unique("rows"), unique("joined"));
    broker.create_topics(&[
        (&stream, partitions),
        (&table, partitions),
        (&output, partitions),
    ]);
    let keys = 60;
    broker.produce(&table, 0, keys, keys);
    let app = unique(&format!("join-{protocol}"));
    let dirs = tempfile::tempdir().expect("state dirs");
    let topics = (stream.as_str(), table.as_str(), output.as_str());
    let start = |name: &str| join_instance(broker, protocol, &app, &dirs.path().join(name), topics);

    let mut a = start("a");
    let mut b = start("b");
    a.wait_until_running(Duration::from_secs(90))
        .expect("a running");
    let mut total = 0;
    let mut c = None;
    for batch in 0..10 {
        broker.produce(&stream, total, 300, keys);
        total += 300;
        std::thread::sleep(Duration::from_millis(700));
        match batch {
            3 => c = Some(start("c")),
            6 => a.close().expect("a closes"),
            _ => {}
        }
    }
    let joined = broker.read_all(&output, "read_committed", Duration::from_secs(120), |r| {
        r.len() >= total
    });
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (_, key, value) in &joined {
        *seen
            .entry(format!("{key} {}", String::from_utf8_lossy(value)))
            .or_default() += 1;
    }
    let expected: BTreeSet<String> = (0..total)
        .map(|i| format!("key-{k} value-{i}+value-{k}", k = i % keys))
        .collect();
    let missing: Vec<_> = expected
        .iter()
        .filter(|e| !seen.contains_key(*e))
        .take(5)
        .collect();
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).take(5).collect();
    let unexpected: Vec<_> = seen
        .keys()
        .filter(|s| !expected.contains(*s))
        .take(5)
        .collect();
    if !(missing.is_empty() && doubled.is_empty() && unexpected.is_empty()) {
        let raw = broker.read_all(&output, "read_uncommitted", Duration::from_secs(5), |_| {
            false
        });
        panic!(
            "{} joined for {total} inputs ({} in the log, committed or not): missing {missing:?}, twice {doubled:?}, unexpected {unexpected:?}",
            joined.len(),
            raw.len()
        );
    }
    b.close().expect("b closes");
    if let Some(mut c) = c {
        c.close().expect("c closes");
    }
}

/// What a count app's output shows while two instances run and a third joins.
struct JoinPace {
    /// Records emitted per 100 ms (by the broker's append time of the output), from 2 s
    /// before the join to 8 s after.
    series: Vec<usize>,
    /// The longest time from producing an input to its copy's append, for inputs produced
    /// in the 2 s before the join and in the 8 s after it, in ms.
    worst_before_ms: i64,
    worst_after_ms: i64,
    copies: usize,
}

/// Runs two `count_worker` instances under `protocol` (at-least-once, 100 ms commits) on
/// 2,000 records/s, starts a third after 4 s, and reads what came out.
fn pace_across_a_join(broker: &KafkaCluster, protocol: &str) -> JoinPace {
    let (input, copies, counts) = (
        unique("pace-in"),
        unique("pace-copies"),
        unique("pace-counts"),
    );
    broker.create_topics(&[(&input, 6), (&counts, 6)]);
    broker.create_topics_with(
        &[(&copies, 6)],
        &[("message.timestamp.type", "LogAppendTime")],
    );
    let app = unique(&format!("pace-{protocol}"));
    let dirs = tempfile::tempdir().expect("state dirs");
    let args = [
        "--input",
        &input,
        "--copies",
        &copies,
        "--counts",
        &counts,
        "--group-protocol",
        protocol,
        "--commit-interval-ms",
        "100",
    ];
    let start = |name: &str| Worker::start(broker, &app, &dirs.path().join(name), &args);
    let a = start("a");
    let b = start("b");
    a.wait_for_log("-> Running", Duration::from_secs(90));
    b.wait_for_log("-> Running", Duration::from_secs(90));
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    };
    // 100 records every 50 ms, for 4 s before the join and 8 s after; batch b holds inputs
    // 100b..100b+99, produced at produced_at[b].
    let mut produced_at = Vec::new();
    let mut joined_at = 0;
    let mut c = None;
    let began = Instant::now();
    while began.elapsed() < Duration::from_secs(12) {
        if c.is_none() && began.elapsed() >= Duration::from_secs(4) {
            joined_at = now_ms();
            c = Some(start("c"));
        }
        let sent = now_ms();
        broker.produce(&input, produced_at.len() * 100, 100, 100);
        produced_at.push(sent);
        std::thread::sleep(Duration::from_millis(50));
    }
    let produced = produced_at.len() * 100;
    let reader: BaseConsumer = broker
        .client()
        .set("group.id", unique("pace-reader"))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("reader");
    reader.subscribe(&[&copies]).expect("subscribe");
    let mut series = vec![0usize; 100];
    let mut seen = BTreeSet::new();
    let (mut worst_before_ms, mut worst_after_ms, mut copies_read) = (0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(90);
    while seen.len() < produced && Instant::now() < deadline {
        let Some(Ok(m)) = reader.poll(Duration::from_millis(100)) else {
            continue;
        };
        copies_read += 1;
        let value = String::from_utf8_lossy(m.payload().unwrap_or_default()).to_string();
        let (Some(appended), Some(i)) = (
            m.timestamp().to_millis(),
            value
                .strip_prefix("VALUE-")
                .and_then(|i| i.parse::<usize>().ok()),
        ) else {
            continue;
        };
        seen.insert(i);
        let bucket = (appended - joined_at + 2_000).div_euclid(100);
        if (0..100).contains(&bucket) {
            series[bucket as usize] += 1;
        }
        let sent = produced_at[i / 100];
        let latency = appended - sent;
        if (joined_at - 2_000..joined_at).contains(&sent) {
            worst_before_ms = worst_before_ms.max(latency);
        } else if (joined_at..joined_at + 8_000).contains(&sent) {
            worst_after_ms = worst_after_ms.max(latency);
        }
    }
    for worker in [Some(a), Some(b), c].into_iter().flatten() {
        worker.stop();
    }
    assert_eq!(
        seen.len(),
        produced,
        "under {protocol} every input was copied (at least once)"
    );
    JoinPace {
        series,
        worst_before_ms,
        worst_after_ms,
        copies: copies_read,
    }
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn processing_across_a_third_instance_joining_under_each_protocol() {
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    for protocol in ["classic", "consumer"] {
        let pace = pace_across_a_join(broker, protocol);
        let after = &pace.series[20..];
        let before: usize = pace.series[..20].iter().sum();
        eprintln!(
            "{protocol}: records per 100 ms from 2 s before the third instance joins to 8 s after: {:?}",
            pace.series
        );
        eprintln!(
            "{protocol}: {} copies; {:.0} records/s before the join; slowest 100 ms after it {} records; longest input-to-output time {} ms before the join, {} ms after",
            pace.copies,
            before as f64 / 2.0,
            after.iter().min().copied().unwrap_or(0),
            pace.worst_before_ms,
            pace.worst_after_ms
        );
    }
}
