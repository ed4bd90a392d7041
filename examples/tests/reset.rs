//! Replay on Apache Kafka: an application counts its input through a repartition topic,
//! is reset (`streams_core::reset`, and the worker's `reset` subcommand), and reprocesses.
//!
//! - A reset is refused while an instance runs (library and worker alike, for groups of the
//!   classic and the KIP-848 protocol), and so is `KafkaStreams::clean_up`.
//! - The dry run reports each input partition's committed offset and the new one, the
//!   internal topics and the state directory, and changes none of them.
//! - After the reset to the earliest offsets, the second pass writes exactly what the first
//!   did (every count per key from 1 again) and ends with the same table.
//! - To a datetime, by a duration before now, and the topology's source topics by default:
//!   the committed offsets are the ones the records' timestamps call for.
//! - The `fraud-worker` binary prints its plan (its stream sources, not its global table's).

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
use streams_core::reset::{ApplicationReset, ResetTo};
use streams_core::serde::Serdes;
use streams_core::worker::Worker;
use streams_core::{Error, KafkaStreams, State, StreamsConfig, Topology};
use support::{KafkaCluster, one_at_a_time, unique};

const TIMEOUT: Duration = Duration::from_secs(120);

/// Counts `input`'s records per bucket of their value (`value-<i>` → `g<i % 7>`): a
/// repartition topic (`<app>-regroup-repartition`) and a changelog (`<app>-counts-changelog`).
fn count_topology(input: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    builder
        .stream(input, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_with(
            |_key, value: &String| {
                let i: u64 = value
                    .trim_start_matches("value-")
                    .parse()
                    .unwrap_or_default();
                format!("g{}", i % 7)
            },
            Grouped::as_("regroup"),
        )
        .count(Materialized::as_("counts"))
        .to_stream()
        .to(output);
    builder.build().expect("a well-formed topology")
}

fn app_config(broker: &KafkaCluster, app: &str, state: &Path) -> StreamsConfig {
    let mut config = StreamsConfig::new();
    config
        .set("bootstrap.servers", &broker.bootstrap)
        .set("application.id", app)
        .set("state.dir", state.display().to_string())
        .set("commit.interval.ms", "100")
        // Every update is written: the output of a pass is the same whatever the timing.
        .set("statestore.cache.max.bytes", "0")
        .set("consumer.session.timeout.ms", "6000")
        .set("consumer.heartbeat.interval.ms", "500");
    config
}

/// The group's committed offsets of `topic`'s partitions (`None` where it has none).
fn committed(broker: &KafkaCluster, group: &str, topic: &str, partitions: i32) -> Vec<Option<i64>> {
    let consumer: BaseConsumer = broker
        .client()
        .set("group.id", group)
        .create()
        .expect("consumer");
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(list, Duration::from_secs(30))
        .expect("committed offsets");
    (0..partitions)
        .map(
            |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => Some(o),
                _ => None,
            },
        )
        .collect()
}

/// The topics of the cluster.
fn topics(broker: &KafkaCluster) -> Vec<String> {
    let consumer: BaseConsumer = broker.client().create().expect("consumer");
    let metadata = consumer
        .fetch_metadata(None, Duration::from_secs(30))
        .expect("metadata");
    metadata
        .topics()
        .iter()
        .filter(|t| t.error().is_none())
        .map(|t| t.name().to_string())
        .collect()
}

/// The task directories under `<state>/<app>`.
fn task_dirs(state: &Path, app: &str) -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(state.join(app))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Each key's counts in the order they were written to `output` (one partition per key).
fn counts_per_key(
    broker: &KafkaCluster,
    output: &str,
    records: usize,
) -> BTreeMap<String, Vec<u64>> {
    let mut per_key: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (_, key, value) in
        broker.read_all(output, "read_uncommitted", TIMEOUT, |r| r.len() >= records)
    {
        let value: [u8; 8] = value.as_slice().try_into().expect("a u64 count");
        per_key
            .entry(key)
            .or_default()
            .push(u64::from_be_bytes(value));
    }
    per_key
}

fn store_contents(streams: &KafkaStreams) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match streams
            .key_value_store::<String, u64>("counts")
            .and_then(|store| store.all())
        {
            Ok(entries) => return entries.into_iter().collect(),
            Err(e) => {
                assert!(Instant::now() < deadline, "store never queryable: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn a_reset_application_reprocesses_its_input_into_the_same_output() {
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let (input, output) = (unique("reset-in"), unique("reset-out"));
    broker.create_topics(&[(&input, 2), (&output, 2)]);
    let app = unique("reset-app");
    let (repartition, changelog) = (
        format!("{app}-regroup-repartition"),
        format!("{app}-counts-changelog"),
    );
    let state = tempfile::tempdir().expect("state dir");
    let config = app_config(broker, &app, state.path());
    let records = 700;
    broker.produce(&input, 0, records, 20);
    let expected: BTreeMap<String, u64> = (0..7).map(|g| (format!("g{g}"), 100)).collect();

    // First pass.
    let mut streams = KafkaStreams::new(count_topology(&input, &output), &config).expect("app");
    streams.start().expect("start");
    let first = counts_per_key(broker, &output, records);
    assert_eq!(
        first.values().map(Vec::len).sum::<usize>(),
        records,
        "one count per record"
    );
    assert_eq!(store_contents(&streams), expected);

    // Refused while it runs: the reset, the worker's reset, and clean_up.
    let topology = count_topology(&input, &output);
    let refusal = ApplicationReset::new(&config)
        .expect("reset")
        .topology(&topology)
        .plan()
        .expect_err("refused while the instance runs");
    assert!(
        matches!(&refusal, Error::ResetRefused { application_id, .. } if *application_id == app)
            && refusal
                .to_string()
                .contains(&format!("consumer group `{app}` has 1 active member(s)")),
        "{refusal}"
    );
    let other_state = tempfile::tempdir().expect("state dir");
    let (worker_input, worker_output) = (input.clone(), output.clone());
    let worker = Worker::new(&app, move |_| {
        Ok(count_topology(&worker_input, &worker_output))
    });
    let refusal = worker
        .clone()
        .run_with_args([
            "worker",
            "reset",
            "--bootstrap-servers",
            &broker.bootstrap,
            "--state-dir",
            &other_state.path().display().to_string(),
        ])
        .expect_err("the worker's reset is refused too");
    assert!(refusal.to_string().contains("active member"), "{refusal}");
    let refusal = streams.clean_up().expect_err("clean_up while running");
    assert!(
        matches!(
            refusal,
            Error::InvalidState {
                operation: "clean_up",
                ..
            }
        ),
        "{refusal}"
    );
    streams.close().expect("close");
    assert_eq!(streams.state(), State::NotRunning);
    drop(streams);

    let offsets_before = committed(broker, &app, &input, 2);
    assert_eq!(
        offsets_before.iter().flatten().sum::<i64>(),
        records as i64,
        "{offsets_before:?}"
    );
    assert!(!task_dirs(state.path(), &app).is_empty(), "local state");

    // The dry run reports everything and changes nothing.
    let reset = ApplicationReset::new(&config)
        .expect("reset")
        .topology(&topology);
    let plan = reset.plan().expect("dry run");
    eprintln!("{plan}");
    let planned: Vec<(String, i32, Option<i64>, i64)> = plan
        .input_offsets
        .iter()
        .map(|c| (c.topic.clone(), c.partition, c.current, c.new))
        .collect();
    assert_eq!(
        planned,
        vec![
            (input.clone(), 0, offsets_before[0], 0),
            (input.clone(), 1, offsets_before[1], 0)
        ]
    );
    let deleted: Vec<(&str, Option<bool>)> = plan
        .topics_to_delete
        .iter()
        .map(|t| (t.name.as_str(), t.in_topology))
        .collect();
    assert_eq!(
        deleted,
        vec![
            (changelog.as_str(), Some(true)),
            (repartition.as_str(), Some(true))
        ]
    );
    assert_eq!(plan.local_state, Some(state.path().join(&app)));
    assert_eq!(
        committed(broker, &app, &input, 2),
        offsets_before,
        "dry run"
    );
    let existing = topics(broker);
    assert!(
        existing.contains(&changelog) && existing.contains(&repartition),
        "dry run"
    );
    assert!(!task_dirs(state.path(), &app).is_empty(), "dry run");

    // The reset.
    let done = reset.execute().expect("reset");
    assert_eq!(done, plan, "it does what the dry run said");
    assert_eq!(committed(broker, &app, &input, 2), vec![Some(0), Some(0)]);
    let existing = topics(broker);
    assert!(
        !existing.contains(&changelog) && !existing.contains(&repartition),
        "internal topics deleted"
    );
    assert_eq!(
        task_dirs(state.path(), &app),
        Vec::<String>::new(),
        "state wiped"
    );
    assert!(
        existing.contains(&input) && existing.contains(&output),
        "user topics stay"
    );

    // Second pass: the same counts again, after the first pass's.
    let mut streams = KafkaStreams::new(count_topology(&input, &output), &config).expect("app");
    streams.start().expect("start");
    let both = counts_per_key(broker, &output, 2 * records);
    assert_eq!(store_contents(&streams), expected, "the same final table");
    streams.close().expect("close");
    for (key, counts) in &both {
        let (pass1, pass2) = counts.split_at(counts.len() / 2);
        assert_eq!(
            pass1,
            first[key].as_slice(),
            "{key}: the first pass, unchanged"
        );
        assert_eq!(
            pass2, pass1,
            "{key}: the second pass writes what the first did"
        );
        assert_eq!(pass1, (1..=100).collect::<Vec<u64>>().as_slice(), "{key}");
    }
    assert_eq!(both.len(), 7);
}

/// A reset that keeps the local state (`--keep-local-state`) leaves checkpoints past the ends
/// of the recreated changelogs: the runtime sees it, wipes those tasks (as Kafka Streams treats
/// a restore out of range as corruption) and the second pass counts from zero again.
#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn state_kept_across_a_reset_is_wiped_when_its_changelog_was_made_anew() {
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let (input, output) = (unique("keep-in"), unique("keep-out"));
    broker.create_topics(&[(&input, 2), (&output, 2)]);
    let app = unique("keep-app");
    let state = tempfile::tempdir().expect("state dir");
    let config = app_config(broker, &app, state.path());
    let records = 700;
    broker.produce(&input, 0, records, 20);
    let expected: BTreeMap<String, u64> = (0..7).map(|g| (format!("g{g}"), 100)).collect();
    let mut streams = KafkaStreams::new(count_topology(&input, &output), &config).expect("app");
    streams.start().expect("start");
    counts_per_key(broker, &output, records);
    assert_eq!(store_contents(&streams), expected);
    streams.close().expect("close");
    drop(streams);

    let topology = count_topology(&input, &output);
    ApplicationReset::new(&config)
        .expect("reset")
        .topology(&topology)
        .keep_local_state()
        .execute()
        .expect("reset");
    assert!(
        !task_dirs(state.path(), &app).is_empty(),
        "local state kept"
    );

    let mut streams = KafkaStreams::new(count_topology(&input, &output), &config).expect("app");
    streams.start().expect("start");
    let both = counts_per_key(broker, &output, 2 * records);
    assert_eq!(
        store_contents(&streams),
        expected,
        "counted from zero, not on top of the kept state"
    );
    streams.close().expect("close");
    for (key, counts) in &both {
        let (_, pass2) = counts.split_at(counts.len() / 2);
        assert_eq!(pass2, (1..=100).collect::<Vec<u64>>().as_slice(), "{key}");
    }
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn a_group_of_the_consumer_protocol_is_refused_while_it_runs_and_reset_after() {
    // KIP-848 groups answer the classic DescribeGroups with "dead, no members": the reset must
    // see their members all the same.
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let (input, output) = (unique("kip848-in"), unique("kip848-out"));
    broker.create_topics(&[(&input, 2), (&output, 2)]);
    broker.produce(&input, 0, 70, 5);
    let app = unique("kip848-app");
    let state = tempfile::tempdir().expect("state dir");
    let mut config = app_config(broker, &app, state.path());
    config.set("group.protocol", "consumer");
    let mut streams = KafkaStreams::new(count_topology(&input, &output), &config).expect("app");
    streams.start().expect("start");
    streams.wait_until_running(TIMEOUT).expect("running");
    counts_per_key(broker, &output, 70);
    let reset = ApplicationReset::new(&config)
        .expect("reset")
        .topology(&count_topology(&input, &output));
    let refusal = reset.plan().expect_err("refused while the instance runs");
    assert!(
        refusal.to_string().contains("has 1 active member(s)"),
        "{refusal}"
    );
    streams.close().expect("close");
    drop(streams);
    // The member leaves the group on close.
    let deadline = Instant::now() + TIMEOUT;
    let plan = loop {
        match reset.plan() {
            Ok(plan) => break plan,
            Err(e) => {
                assert!(Instant::now() < deadline, "still refused after close: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    };
    assert_eq!(plan.topics_to_delete.len(), 2, "{plan}");
    reset.execute().expect("reset");
    assert_eq!(committed(broker, &app, &input, 2), vec![Some(0), Some(0)]);
    assert!(task_dirs(state.path(), &app).is_empty());
}

/// Writes `stamps[p]` to partition `p` of `topic`, one record per timestamp (ms).
fn produce_stamped(broker: &KafkaCluster, topic: &str, stamps: &[Vec<i64>]) {
    let producer: BaseProducer = broker.client().create().expect("producer");
    for (partition, stamps) in stamps.iter().enumerate() {
        for (i, stamp) in stamps.iter().enumerate() {
            let value = format!("value-{i}");
            let record = BaseRecord::to(topic)
                .partition(partition as i32)
                .key("k")
                .payload(&value)
                .timestamp(*stamp);
            streams_core::runtime::send_record(&producer, record).expect("produce");
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn the_worker_resets_to_a_datetime_by_a_duration_and_to_the_earliest() {
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let (fixed, recent, out) = (unique("fixed"), unique("recent"), unique("merged"));
    // Records from 2024 are kept however old.
    broker.create_topics_with(&[(&fixed, 2)], &[("retention.ms", "-1")]);
    broker.create_topics(&[(&recent, 2), (&out, 1)]);
    // `fixed`: one record a minute from 2024-03-01T12:00Z, in both partitions.
    let noon = 1_709_294_400_000i64;
    let minutes: Vec<i64> = (0..10).map(|i| noon + i * 60_000).collect();
    produce_stamped(broker, &fixed, &[minutes.clone(), minutes]);
    // `recent`: one record an hour, 10 hours ago to 1 hour ago; partition 1 only the first 3.
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let hours: Vec<i64> = (0..10).map(|i| now - (10 - i) * 3_600_000).collect();
    produce_stamped(broker, &recent, &[hours.clone(), hours[..3].to_vec()]);

    let app = unique("worker-reset");
    let state = tempfile::tempdir().expect("state dir");
    let (a, b, o) = (fixed.clone(), recent.clone(), out.clone());
    let worker = Worker::new(&app, move |_| {
        let builder = StreamsBuilder::new();
        let consumed = || Consumed::with(Serdes::string(), Serdes::string());
        builder
            .stream(&a, consumed())
            .merge(&builder.stream(&b, consumed()))
            .to(&o);
        builder.build()
    });
    let reset = |args: &[&str]| {
        let mut argv = vec![
            "worker".to_string(),
            "reset".into(),
            "--bootstrap-servers".into(),
            broker.bootstrap.clone(),
            "--state-dir".into(),
            state.path().display().to_string(),
        ];
        argv.extend(args.iter().map(|a| a.to_string()));
        worker.clone().run_with_args(argv)
    };

    reset(&["--to-datetime", "2024-03-01T12:03:30.000", "--dry-run"]).expect("dry run");
    assert_eq!(
        committed(broker, &app, &fixed, 2),
        vec![None, None],
        "dry run"
    );

    reset(&[
        "--input-topics",
        &fixed,
        "--to-datetime",
        "2024-03-01T13:03:30.000+01:00",
    ])
    .expect("to a datetime");
    // 12:03:30 falls between the 4th and 5th records: offset 4.
    assert_eq!(committed(broker, &app, &fixed, 2), vec![Some(4), Some(4)]);
    assert_eq!(
        committed(broker, &app, &recent, 2),
        vec![None, None],
        "not an input"
    );

    reset(&["--input-topics", &recent, "--by-duration", "PT5H30M"]).expect("by a duration");
    // 5.5 hours ago falls between the records of 6 and 5 hours ago (offset 5); partition 1's
    // last record is 8 hours old: its end, 3.
    assert_eq!(committed(broker, &app, &recent, 2), vec![Some(5), Some(3)]);

    reset(&[]).expect("to the earliest, the topology's source topics");
    assert_eq!(committed(broker, &app, &fixed, 2), vec![Some(0), Some(0)]);
    assert_eq!(committed(broker, &app, &recent, 2), vec![Some(0), Some(0)]);

    let err = reset(&["--input-topics", "no-such-topic"]).expect_err("no such topic");
    assert!(err.to_string().contains("no-such-topic"), "{err}");

    // The same through the library: by a duration, to the latest.
    let mut config = StreamsConfig::new();
    config
        .set("application.id", &app)
        .set("bootstrap.servers", &broker.bootstrap)
        .set("state.dir", state.path().display().to_string());
    let plan = ApplicationReset::new(&config)
        .expect("reset")
        .input_topics([recent.as_str()])
        .to(ResetTo::Duration(Duration::from_secs(2 * 3600 + 60)))
        .plan()
        .expect("plan");
    let news: Vec<i64> = plan.input_offsets.iter().map(|c| c.new).collect();
    assert_eq!(news, vec![8, 3], "{plan}");
    assert!(plan.input_offsets[1].note.is_some(), "{plan}");
}

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn the_worker_binary_prints_its_reset_plan() {
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    for topic in ["transactions", "card-profiles", "merchant-blocklist"] {
        if !topics(broker).iter().any(|t| t == topic) {
            broker.create_topics(&[(topic, 2)]);
        }
    }
    let app = unique("fraud-reset");
    let state = tempfile::tempdir().expect("state dir");
    let run = |extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_fraud-worker"))
            .args(["reset", "--bootstrap-servers", &broker.bootstrap])
            .args(["--application-id", &app])
            .arg("--state-dir")
            .arg(state.path())
            .args(extra)
            .output()
            .expect("fraud-worker reset");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{stdout}\n{stderr}");
        stdout
    };
    let plan = run(&["--dry-run"]);
    for line in [
        format!("Reset of application `{app}` (consumer group `{app}`: no active members)"),
        "Input topic offsets, to the earliest offset:".to_string(),
        "  card-profiles-0: none -> 0".to_string(),
        "  transactions-1: none -> 0".to_string(),
        "Dry run: nothing was changed.".to_string(),
    ] {
        assert!(
            plan.lines().any(|l| l == line),
            "no line {line:?} in\n{plan}"
        );
    }
    // A global table's topic has no group offsets: its store is rebuilt from the topic's
    // beginning on every start, and a reset wipes the store.
    assert!(!plan.contains("merchant-blocklist"), "{plan}");
    assert_eq!(committed(broker, &app, "transactions", 2), vec![None, None]);
    let done = run(&["--to-latest"]);
    assert!(done.contains("Input topic offsets, to the end:"), "{done}");
    assert!(done.contains("Done."), "{done}");
    assert_eq!(
        committed(broker, &app, "transactions", 2),
        vec![Some(0), Some(0)]
    );
}
