//! Standby failover on Apache Kafka: two `count_worker` instances under exactly-once with one
//! standby replica each; one is SIGKILLed while records flow. The survivor takes its tasks
//! over from its warm standbys, restoring only the changelogs' tails (without standbys it
//! would restore them whole), and the committed count updates stay exact.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::{
    KafkaCluster, Worker, check_count_sequences, one_at_a_time, restored_records, unique,
};

const TIMEOUT: Duration = Duration::from_secs(180);

#[test]
#[cfg_attr(
    not(kafka_available),
    ignore = "needs Apache Kafka (see support::kafka)"
)]
fn a_killed_instances_tasks_resume_from_warm_standbys_with_exact_output() {
    let _serial = one_at_a_time();
    let broker = KafkaCluster::shared();
    let (events, copies, counts) = (unique("events"), unique("copies"), unique("counts"));
    broker.create_topics(&[(&events, 4), (&copies, 4), (&counts, 4)]);
    let app = unique("standby");
    let dirs = tempfile::tempdir().expect("state dirs");
    let args = [
        "--input",
        &events,
        "--copies",
        &copies,
        "--counts",
        &counts,
        "--guarantee",
        "exactly_once_v2",
        "--standbys",
        "1",
    ];
    let (dir_a, dir_b) = (dirs.path().join("a"), dirs.path().join("b"));
    let a = Worker::start(broker, &app, &dir_a, &args);
    let b = Worker::start(broker, &app, &dir_b, &args);

    // 16,000 updates of 400 keys (without standbys the survivor restores about 3,300 of them
    // taking the killed instance's tasks over).
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for batch in 0..8 {
        for (k, v) in broker.produce(&events, batch * 2_000, 2_000, 400) {
            *expected.entry(k).or_insert(0) += v;
        }
    }
    let first = 16_000;
    let done = broker.read_all(&copies, "read_committed", TIMEOUT, |r| r.len() >= first);
    assert_eq!(done.len(), first, "every record processed before the kill");
    // Standbys read the changelogs continuously; give them a moment to reach the end.
    std::thread::sleep(Duration::from_secs(3));
    let b_log_at_kill = b.log_len();
    a.kill();

    for (k, v) in broker.produce(&events, first, 2_000, 400) {
        *expected.entry(k).or_insert(0) += v;
    }
    let total = first + 2_000;
    let all_counts = broker.read_all(&counts, "read_committed", TIMEOUT, |r| r.len() >= total);
    if let Err(e) = check_count_sequences(&all_counts, &expected) {
        panic!(
            "exact count updates: {e}\n{}{}",
            Worker::log_of(&dir_a),
            Worker::log_of(&dir_b)
        );
    }
    let after_kill = b.log_since(b_log_at_kill);
    let took_over = restored_records(&after_kill);
    eprintln!("the survivor restored {took_over} records taking over");
    assert!(
        after_kill.contains("count_worker: restored"),
        "the survivor took the tasks over:\n{after_kill}"
    );
    assert!(
        took_over < 500,
        "taking over from warm standbys restores only the tails: {took_over} records\n{after_kill}"
    );
    b.stop();
}
