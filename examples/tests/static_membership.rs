//! Static membership on Apache Kafka: two `count_worker` instances under exactly-once, each with
//! a `group.instance.id` of its own. One is stopped (SIGTERM) and started again with its state
//! directory: it does not leave the group, gets back the very tasks whose state it kept and so
//! restores nothing but their tails, and the committed count updates stay exact. Without static
//! membership the `range` assignor orders members by member id, new at every start, so a
//! restarted instance would as likely take its neighbour's tasks and restore their changelogs
//! whole (what the 30-minute soak showed).

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{
    CountTopics, KafkaCluster, Worker, check_count_sequences, one_at_a_time, restored_records,
    unique,
};

const TIMEOUT: Duration = Duration::from_secs(180);

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn a_restarted_static_member_keeps_its_tasks_and_restores_only_their_tails() {
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let topics = CountTopics::create(broker, "static", 4);
    let app = unique("static");
    let dirs = tempfile::tempdir().expect("state dirs");
    let worker_args = |id: &'static str| {
        topics.args(&[
            "--guarantee",
            "exactly_once_v2",
            "--property",
            id,
            // Longer than the restart: the broker keeps the stopped member's partitions.
            "--property",
            "consumer.session.timeout.ms=30000",
        ])
    };
    let (dir_a, dir_b) = (dirs.path().join("a"), dirs.path().join("b"));
    let a = Worker::start(broker, &app, &dir_a, &worker_args("group.instance.id=a"));
    let b = Worker::start(broker, &app, &dir_b, &worker_args("group.instance.id=b"));

    // 8,000 updates of 400 keys: about 2,000 changelog records per task, which an instance
    // taking its neighbour's tasks would restore.
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for (k, v) in broker.produce(&topics.events, 0, 8_000, 400) {
        *expected.entry(k).or_insert(0) += v;
    }
    let first = 8_000;
    let done = broker.read_all(&topics.copies, "read_committed", TIMEOUT, |r| {
        r.len() >= first
    });
    assert_eq!(
        done.len(),
        first,
        "every record processed before the restart"
    );
    assert_eq!(broker.group_members(&app), 2, "both instances are members");

    let first_life_end = a.log_len();
    a.stop();
    // A dynamic member's close sends LeaveGroup; a static one's does not, and the broker keeps
    // it (and its partitions) until its session times out.
    assert_eq!(
        broker.group_members(&app),
        2,
        "the stopped static member stays in the group\n{}",
        Worker::log_of(&dir_a)
    );
    let a = Worker::start(broker, &app, &dir_a, &worker_args("group.instance.id=a"));
    a.wait_for_log("-> Running", TIMEOUT);

    for (k, v) in broker.produce(&topics.events, first, 2_000, 400) {
        *expected.entry(k).or_insert(0) += v;
    }
    let total = first + 2_000;
    let all_counts = broker.read_all(&topics.counts, "read_committed", TIMEOUT, |r| {
        r.len() >= total
    });
    if let Err(e) = check_count_sequences(&all_counts, &expected) {
        panic!(
            "exact count updates: {e}\n{}{}",
            Worker::log_of(&dir_a),
            Worker::log_of(&dir_b)
        );
    }
    let second_life = a.log_since(first_life_end);
    let again = restored_records(&second_life);
    eprintln!("the restarted instance restored {again} records");
    assert!(
        again < 100,
        "a restarted static member restores only its own tasks' tails: {again} records\n{second_life}"
    );
    a.stop();
    b.stop();
}
