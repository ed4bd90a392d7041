//! The versioned store's behaviour, ported from Kafka Streams' `RocksDBVersionedStoreTest`
//! (same retention, segment interval and cases; each test names the Kafka test it ports), on
//! the in-memory engine and on RocksDB.

use std::cell::RefCell;
use std::rc::Rc;

use super::*;
use crate::{InMemoryKeyValueStore, RocksDbKeyValueStore};

const HISTORY_RETENTION: i64 = 300_000;
const GRACE_PERIOD: i64 = HISTORY_RETENTION;
const SEGMENT_INTERVAL: i64 = HISTORY_RETENTION / 3;
const BASE: i64 = 10;
const SI: i64 = SEGMENT_INTERVAL;

/// A store with string keys and values, and assertions in the shape of Kafka's test helpers.
struct Fixture {
    store: VersionedStore,
    _dir: Option<tempfile::TempDir>,
}

fn in_memory(retention: i64) -> Fixture {
    let engine = InMemoryKeyValueStore::new("versioned");
    Fixture {
        store: VersionedStore::open(Box::new(engine), retention, SEGMENT_INTERVAL).expect("open"),
        _dir: None,
    }
}

fn rocks(retention: i64) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = RocksDbKeyValueStore::open("versioned", dir.path()).expect("rocksdb");
    Fixture {
        store: VersionedStore::open(Box::new(engine), retention, SEGMENT_INTERVAL).expect("open"),
        _dir: Some(dir),
    }
}

/// Runs `case` on both engines.
fn on_both(case: impl Fn(&mut Fixture)) {
    case(&mut in_memory(HISTORY_RETENTION));
    case(&mut rocks(HISTORY_RETENTION));
}

/// Kafka's `PUT_RETURN_CODE_VALID_TO_UNDEFINED`.
const LATEST: i64 = -1;
/// Kafka's `PUT_RETURN_CODE_NOT_PUT`.
const NOT_PUT: i64 = i64::MIN;

impl Fixture {
    fn put(&mut self, key: &str, value: Option<&str>, ts: i64, expected: i64) {
        let outcome = self
            .store
            .put(key.as_bytes(), value.map(str::as_bytes), ts)
            .expect("put");
        assert_eq!(
            outcome.kafka_code(),
            expected,
            "put({key}, {value:?}, {ts}) returned {outcome:?}"
        );
    }

    fn delete(&mut self, key: &str, ts: i64) -> Option<(String, i64)> {
        self.store
            .delete(key.as_bytes(), ts)
            .expect("delete")
            .map(|r| (String::from_utf8_lossy(&r.value).into_owned(), r.timestamp))
    }

    fn latest_is(&self, key: &str, value: &str, ts: i64) {
        let got = self.store.get(key.as_bytes()).expect("get");
        assert_eq!(
            got,
            Some(VersionedRecord::new(value.as_bytes().to_vec(), ts, None)),
            "latest of {key}"
        );
    }

    fn latest_is_none(&self, key: &str) {
        assert_eq!(
            self.store.get(key.as_bytes()).expect("get"),
            None,
            "latest of {key}"
        );
    }

    /// As of `at`: `value` valid from `from` to `to` (`LATEST`: still valid).
    fn as_of_is(&self, key: &str, at: i64, value: &str, from: i64, to: i64) {
        let got = self.store.get_as_of(key.as_bytes(), at).expect("get_as_of");
        let valid_to = (to != LATEST).then_some(to);
        assert_eq!(
            got,
            Some(VersionedRecord::new(
                value.as_bytes().to_vec(),
                from,
                valid_to
            )),
            "{key} as of {at}"
        );
    }

    fn as_of_is_none(&self, key: &str, at: i64) {
        assert_eq!(
            self.store.get_as_of(key.as_bytes(), at).expect("get_as_of"),
            None,
            "{key} as of {at}"
        );
    }
}

#[test]
fn should_put_latest() {
    // Kafka: RocksDBVersionedStoreTest.shouldPutLatest
    on_both(|f| {
        f.put("k", Some("v"), BASE, LATEST);
        f.put("k", Some("v2"), BASE + 1, LATEST);
        f.latest_is("k", "v2", BASE + 1);
        f.as_of_is("k", BASE, "v", BASE, BASE + 1);
        f.as_of_is("k", BASE + 1, "v2", BASE + 1, LATEST);
        f.as_of_is("k", BASE + 2, "v2", BASE + 1, LATEST);
    });
}

#[test]
fn should_put_null_as_latest() {
    // Kafka: RocksDBVersionedStoreTest.shouldPutNullAsLatest
    on_both(|f| {
        f.put("k", None, BASE, LATEST);
        f.put("k", None, BASE + 1, LATEST);
        f.latest_is_none("k");
        for at in BASE..BASE + 3 {
            f.as_of_is_none("k", at);
        }
    });
}

#[test]
fn should_put_older_with_non_null_latest() {
    // Kafka: RocksDBVersionedStoreTest.shouldPutOlderWithNonNullLatest
    on_both(|f| {
        f.put("k", Some("v"), BASE, LATEST);
        f.put("k", Some("v2"), BASE - 2, BASE);
        f.put("k", Some("v1"), BASE - 1, BASE);
        f.put("k", Some("v4"), BASE - 4, BASE - 2);
        f.latest_is("k", "v", BASE);
        f.as_of_is("k", BASE, "v", BASE, LATEST);
        f.as_of_is("k", BASE - 1, "v1", BASE - 1, BASE);
        f.as_of_is("k", BASE - 2, "v2", BASE - 2, BASE - 1);
        f.as_of_is("k", BASE - 3, "v4", BASE - 4, BASE - 2);
    });
}

#[test]
fn should_put_older_with_null_latest() {
    // Kafka: RocksDBVersionedStoreTest.shouldPutOlderWithNullLatest
    on_both(|f| {
        f.put("k", None, BASE, LATEST);
        f.put("k", Some("v2"), BASE - 2, BASE);
        f.put("k", Some("v1"), BASE - 1, BASE);
        f.put("k", Some("v4"), BASE - 4, BASE - 2);
        f.latest_is_none("k");
        f.as_of_is_none("k", BASE);
        f.as_of_is("k", BASE - 1, "v1", BASE - 1, BASE);
        f.as_of_is("k", BASE - 2, "v2", BASE - 2, BASE - 1);
        f.as_of_is("k", BASE - 3, "v4", BASE - 4, BASE - 2);
    });
}

#[test]
fn should_put_older_null_with_non_null_latest() {
    // Kafka: RocksDBVersionedStoreTest.shouldPutOlderNullWithNonNullLatest
    on_both(|f| {
        f.put("k", Some("v"), BASE, LATEST);
        f.put("k", None, BASE - 2, BASE);
        f.put("k", None, BASE - 1, BASE);
        f.put("k", None, BASE - 4, BASE - 2);
        f.put("k", Some("v5"), BASE - 5, BASE - 4);
        f.put("k", Some("v3"), BASE - 3, BASE - 2);
        f.put("k", None, BASE - 6, BASE - 5);
        f.latest_is("k", "v", BASE);
        f.as_of_is("k", BASE, "v", BASE, LATEST);
        f.as_of_is_none("k", BASE - 1);
        f.as_of_is_none("k", BASE - 2);
        f.as_of_is("k", BASE - 3, "v3", BASE - 3, BASE - 2);
        f.as_of_is_none("k", BASE - 4);
        f.as_of_is("k", BASE - 5, "v5", BASE - 5, BASE - 4);
        f.as_of_is_none("k", BASE - 6);
    });
}

#[test]
fn should_put_older_null_with_null_latest() {
    // Kafka: RocksDBVersionedStoreTest.shouldPutOlderNullWithNullLatest
    on_both(|f| {
        f.put("k", None, BASE, LATEST);
        f.put("k", None, BASE - 2, BASE);
        f.put("k", None, BASE - 1, BASE);
        f.put("k", None, BASE - 4, BASE - 2);
        f.put("k", Some("v3"), BASE - 3, BASE - 2);
        f.put("k", Some("v5"), BASE - 5, BASE - 4);
        f.put("k", None, BASE - 6, BASE - 5);
        f.latest_is_none("k");
        f.as_of_is_none("k", BASE);
        f.as_of_is_none("k", BASE - 1);
        f.as_of_is_none("k", BASE - 2);
        f.as_of_is("k", BASE - 3, "v3", BASE - 3, BASE - 2);
        f.as_of_is_none("k", BASE - 4);
        f.as_of_is("k", BASE - 5, "v5", BASE - 5, BASE - 4);
        f.as_of_is_none("k", BASE - 6);
    });
}

#[test]
fn should_put_repeat_timestamp_as_latest() {
    // Kafka: RocksDBVersionedStoreTest.shouldPutRepeatTimestampAsLatest
    on_both(|f| {
        f.put("k", Some("to_be_replaced"), BASE, LATEST);
        f.put("k", Some("b"), BASE, LATEST);
        f.latest_is("k", "b", BASE);
        f.as_of_is("k", BASE, "b", BASE, LATEST);
        f.as_of_is_none("k", BASE - 1);
        f.put("k", None, BASE, LATEST);
        f.latest_is_none("k");
        f.as_of_is_none("k", BASE);
        f.as_of_is_none("k", BASE - 1);
        f.put("k", None, BASE, LATEST);
        f.latest_is_none("k");
        f.as_of_is_none("k", BASE);
        f.put("k", Some("b"), BASE, LATEST);
        f.latest_is("k", "b", BASE);
        f.as_of_is("k", BASE, "b", BASE, LATEST);
        f.as_of_is_none("k", BASE - 1);
    });
}

/// The history `should_put_repeat_timestamps`, its restore twin and the two `…with_nulls` cases
/// end with.
fn check_repeat_timestamps(f: &Fixture) {
    f.latest_is_none("k");
    f.as_of_is_none("k", SI + 30);
    f.as_of_is_none("k", SI + 15);
    f.as_of_is("k", SI + 6, "vp5", SI + 5, SI + 10);
    f.as_of_is_none("k", SI + 2);
    f.as_of_is_none("k", SI);
    f.as_of_is_none("k", SI - 1);
    f.as_of_is("k", SI - 5, "vn5", SI - 5, SI - 1);
    f.as_of_is("k", SI - 6, "vn6", SI - 6, SI - 5);
    f.as_of_is_none("k", SI - 8);
}

#[test]
fn should_put_repeat_timestamps() {
    // Kafka: RocksDBVersionedStoreTest.shouldPutRepeatTimestamps
    on_both(|f| {
        f.put("k", Some("to_be_replaced"), SI + 20, LATEST);
        f.put("k", None, SI - 10, SI + 20);
        f.put("k", Some("to_be_replaced"), SI - 10, SI + 20);
        f.put("k", None, SI - 10, SI + 20);
        f.put("k", Some("to_be_replaced"), SI - 1, SI + 20);
        f.put("k", Some("to_be_replaced"), SI + 1, SI + 20);
        f.put("k", None, SI - 1, SI + 1);
        f.put("k", None, SI + 1, SI + 20);
        f.put("k", None, SI + 10, SI + 20);
        f.put("k", None, SI + 5, SI + 10);
        f.put("k", Some("vp5"), SI + 5, SI + 10);
        f.put("k", Some("to_be_replaced"), SI - 5, SI - 1);
        f.put("k", Some("vn5"), SI - 5, SI - 1);
        f.put("k", None, SI + 20, LATEST);
        f.put("k", None, SI + 20, LATEST);
        f.put("k", Some("vn6"), SI - 6, SI - 5);
        check_repeat_timestamps(f);
    });
}

#[test]
fn should_put_into_multiple_segments() {
    // Kafka: RocksDBVersionedStoreTest.shouldPutIntoMultipleSegments
    on_both(|f| {
        f.put("k", None, SI - 20, LATEST);
        f.put("k", Some("vn10"), SI - 10, LATEST);
        f.put("k", None, SI - 1, LATEST);
        f.put("k", None, SI + 1, LATEST);
        f.put("k", Some("vp10"), SI + 10, LATEST);
        f.put("k", None, SI + 20, LATEST);
        f.latest_is_none("k");
        f.as_of_is_none("k", SI + 30);
        f.as_of_is("k", SI + 15, "vp10", SI + 10, SI + 20);
        f.as_of_is_none("k", SI + 5);
        f.as_of_is_none("k", SI + 2);
        f.as_of_is_none("k", SI);
        f.as_of_is_none("k", SI - 1);
        f.as_of_is("k", SI - 5, "vn10", SI - 10, SI - 1);
        f.as_of_is_none("k", SI - 15);
    });
}

/// The history `should_move_record_to_older_segment_during_put` and `should_restore` end with.
fn check_moved_to_older_segment(f: &Fixture) {
    f.latest_is("k", "vp20", SI + 20);
    f.as_of_is("k", SI + 30, "vp20", SI + 20, LATEST);
    f.as_of_is("k", SI + 15, "vp10", SI + 10, SI + 20);
    f.as_of_is("k", SI + 5, "vp1", SI + 1, SI + 10);
    f.as_of_is("k", SI, "vn1", SI - 1, SI + 1);
    f.as_of_is("k", SI - 1, "vn1", SI - 1, SI + 1);
    f.as_of_is("k", SI - 2, "vn2", SI - 2, SI - 1);
    f.as_of_is("k", SI - 5, "vn10", SI - 10, SI - 2);
}

#[test]
fn should_move_record_to_older_segment_during_put() {
    // Kafka: RocksDBVersionedStoreTest.shouldMoveRecordToOlderSegmentDuringPut
    on_both(|f| {
        f.put("k", Some("vp20"), SI + 20, LATEST);
        f.put("k", Some("vp10"), SI + 10, SI + 20);
        f.put("k", Some("vn10"), SI - 10, SI + 10);
        f.put("k", Some("vn2"), SI - 2, SI + 10);
        f.put("k", Some("vn1"), SI - 1, SI + 10);
        f.put("k", Some("vp1"), SI + 1, SI + 10);
        check_moved_to_older_segment(f);
    });
}

#[test]
fn should_move_record_to_older_segment_with_nulls_during_put() {
    // Kafka: RocksDBVersionedStoreTest.shouldMoveRecordToOlderSegmentWithNullsDuringPut
    on_both(|f| {
        f.put("k", None, SI + 20, LATEST);
        f.put("k", None, SI - 1, SI + 20);
        f.put("k", None, SI + 1, SI + 20);
        f.put("k", None, SI - 10, SI - 1);
        f.put("k", None, SI + 10, SI + 20);
        f.put("k", Some("vp5"), SI + 5, SI + 10);
        f.put("k", Some("vn5"), SI - 5, SI - 1);
        f.put("k", Some("vn6"), SI - 6, SI - 5);
        check_repeat_timestamps(f);
    });
}

#[test]
fn should_fall_through_to_existing_older_segment_as_latest_during_put() {
    // Kafka: RocksDBVersionedStoreTest.shouldFallThroughToExistingOlderSegmentAsLatestDuringPut
    on_both(|f| {
        f.put("k", None, SI - 5, LATEST);
        f.put("k", Some("vn6"), SI - 6, SI - 5);
        f.put("k", Some("vp20"), SI + 20, LATEST);
        f.put("k", None, SI + 10, SI + 20);
        f.put("k", None, SI - 1, SI + 10);
        f.put("k", Some("vn2"), SI - 2, SI - 1);
        f.latest_is("k", "vp20", SI + 20);
        f.as_of_is("k", SI + 30, "vp20", SI + 20, LATEST);
        f.as_of_is_none("k", SI + 12);
        f.as_of_is_none("k", SI);
        f.as_of_is_none("k", SI - 1);
        f.as_of_is("k", SI - 2, "vn2", SI - 2, SI - 1);
        f.as_of_is_none("k", SI - 5);
        f.as_of_is("k", SI - 6, "vn6", SI - 6, SI - 5);
    });
}

#[test]
fn should_put_non_latest_tombstone_into_new_segment_with_valid_to() {
    // Kafka: RocksDBVersionedStoreTest.shouldPutNonLatestTombstoneIntoNewSegmentWithValidTo
    on_both(|f| {
        f.put("k", Some("vp30"), SI + 30, LATEST);
        f.put("k", None, SI - 10, SI + 30);
        f.put("k", Some("vn5"), SI - 5, SI + 30);
        f.put("k", Some("vn1"), SI - 1, SI + 30);
        f.put("k", None, SI - 2, SI - 1);
        f.latest_is("k", "vp30", SI + 30);
        f.as_of_is("k", SI + 10, "vn1", SI - 1, SI + 30);
        f.as_of_is("k", SI - 1, "vn1", SI - 1, SI + 30);
        f.as_of_is_none("k", SI - 2);
        f.as_of_is("k", SI - 5, "vn5", SI - 5, SI - 2);
        f.as_of_is_none("k", SI - 10);
    });
}

#[test]
fn should_delete() {
    // Kafka: RocksDBVersionedStoreTest.shouldDelete
    on_both(|f| {
        f.put("k", Some("vp20"), SI + 20, LATEST);
        f.put("k", Some("vp10"), SI + 10, SI + 20);
        f.put("k", Some("vn10"), SI - 10, SI + 10);
        f.put("k", Some("vn2"), SI - 2, SI + 10);
        assert_eq!(f.delete("k", SI - 5), Some(("vn10".into(), SI - 10)));
        assert_eq!(f.delete("k", SI + 10), Some(("vp10".into(), SI + 10)));
        assert_eq!(f.delete("k", SI + 10), None, "already deleted at that time");
        assert_eq!(f.delete("k", SI + 25), Some(("vp20".into(), SI + 20)));
        f.latest_is_none("k");
        f.as_of_is("k", SI + 22, "vp20", SI + 20, SI + 25);
    });
}

#[test]
fn should_not_put_expired() {
    // Kafka: RocksDBVersionedStoreTest.shouldNotPutExpired
    on_both(|f| {
        f.put("k", Some("v"), HISTORY_RETENTION + 10, LATEST);
        f.put(
            "k1",
            Some("v1"),
            HISTORY_RETENTION + 10 - GRACE_PERIOD,
            LATEST,
        );
        f.latest_is("k1", "v1", HISTORY_RETENTION + 10 - GRACE_PERIOD);
        f.put(
            "k2",
            Some("v2"),
            HISTORY_RETENTION + 9 - GRACE_PERIOD,
            NOT_PUT,
        );
        f.latest_is_none("k2");
    });
}

#[test]
fn should_not_delete_expired() {
    // Kafka: RocksDBVersionedStoreTest.shouldNotDeleteExpired
    on_both(|f| {
        f.put("k1", Some("v1"), 1, LATEST);
        f.put("k2", Some("v2"), 1, LATEST);
        f.put("kother", Some("vother"), HISTORY_RETENTION + 10, LATEST);
        assert_eq!(
            f.delete("k1", HISTORY_RETENTION + 10 - GRACE_PERIOD),
            Some(("v1".into(), 1))
        );
        f.latest_is_none("k1");
        assert_eq!(f.delete("k2", HISTORY_RETENTION + 9 - GRACE_PERIOD), None);
        f.latest_is("k2", "v2", 1);
    });
}

#[test]
fn should_get_from_older_segments() {
    // Kafka: RocksDBVersionedStoreTest.shouldGetFromOlderSegments
    on_both(|f| {
        f.put("ko", None, SI - 10, LATEST);
        f.put("ko", None, 2 * SI - 10, LATEST);
        f.put("ko", None, 3 * SI - 10, LATEST);
        f.as_of_is_none("k", SI - 20);
        f.put("k", Some("v"), SI - 20, LATEST);
        f.put("k", None, SI - 10, LATEST);
        f.as_of_is_none("k", SI - 30);
        f.as_of_is("k", SI - 15, "v", SI - 20, SI - 10);
        f.as_of_is_none("k", SI - 5);
        f.put("k", Some("v2"), 3 * SI - 20, LATEST);
        f.put("k", None, 3 * SI - 10, LATEST);
        f.as_of_is_none("k", SI - 30);
        f.as_of_is("k", SI - 15, "v", SI - 20, SI - 10);
        f.as_of_is_none("k", SI - 5);
        f.as_of_is("k", 3 * SI - 15, "v2", 3 * SI - 20, 3 * SI - 10);
    });
}

#[test]
fn should_not_get_expired() {
    // Kafka: RocksDBVersionedStoreTest.shouldNotGetExpired
    on_both(|f| {
        f.put("k", Some("v_old"), 0, LATEST);
        f.put("k", Some("v"), SI - 10, LATEST);
        f.as_of_is("k", SI - 11, "v_old", 0, SI - 10);
        f.put("ko", Some("vo"), HISTORY_RETENTION + SI - 11, LATEST);
        f.as_of_is("k", SI - 11, "v_old", 0, SI - 10);
        f.put("ko", Some("vo2"), HISTORY_RETENTION + SI - 10, LATEST);
        f.as_of_is_none("k", SI - 11);
    });
}

#[test]
fn should_get_expired_if_latest_value() {
    // Kafka: RocksDBVersionedStoreTest.shouldGetExpiredIfLatestValue
    on_both(|f| {
        f.put("k", Some("v"), 1, LATEST);
        f.put("ko", Some("vo_old"), 1, LATEST);
        f.put("ko", Some("vo_new"), HISTORY_RETENTION + 12, LATEST);
        f.as_of_is("k", 10, "v", 1, LATEST);
        f.as_of_is_none("ko", 10);
    });
}

#[test]
fn should_distinguish_empty_and_null() {
    // Kafka: RocksDBVersionedStoreTest.shouldDistinguishEmptyAndNull
    on_both(|f| {
        f.put("k", None, SI + 20, LATEST);
        f.put("k", None, SI - 10, SI + 20);
        f.put("k", None, SI - 1, SI + 20);
        f.put("k", None, SI + 1, SI + 20);
        f.put("k", None, SI + 10, SI + 20);
        f.put("k", Some(""), SI + 5, SI + 10);
        f.put("k", Some(""), SI - 5, SI - 1);
        f.put("k", Some(""), SI - 6, SI - 5);
        f.latest_is_none("k");
        f.as_of_is_none("k", SI + 30);
        f.as_of_is_none("k", SI + 15);
        f.as_of_is("k", SI + 6, "", SI + 5, SI + 10);
        f.as_of_is_none("k", SI + 2);
        f.as_of_is_none("k", SI);
        f.as_of_is_none("k", SI - 1);
        f.as_of_is("k", SI - 5, "", SI - 5, SI - 1);
        f.as_of_is("k", SI - 6, "", SI - 6, SI - 5);
        f.as_of_is_none("k", SI - 8);
    });
}

#[test]
fn should_allow_zero_history_retention() {
    // Kafka: RocksDBVersionedStoreTest.shouldAllowZeroHistoryRetention
    for mut f in [in_memory(0), rocks(0)] {
        f.put("k", Some("v"), BASE, LATEST);
        f.latest_is("k", "v", BASE);
        f.as_of_is("k", BASE, "v", BASE, LATEST);
        f.as_of_is("k", BASE + 1, "v", BASE, LATEST);
        f.put("k", Some("updated"), BASE, LATEST);
        f.latest_is("k", "updated", BASE);
        f.put("k", Some("v2"), BASE + 2, LATEST);
        f.as_of_is("k", BASE + 2, "v2", BASE + 2, LATEST);
        f.as_of_is_none("k", BASE + 1);
        f.delete("k", BASE + 3);
        f.latest_is_none("k");
        f.put("k2", Some("v"), BASE + 2, NOT_PUT);
        f.latest_is_none("k2");
    }
}

fn changelog(records: &[(&str, Option<&str>, i64)]) -> Vec<ChangelogRecord> {
    records
        .iter()
        .map(|(k, v, ts)| {
            ChangelogRecord::new(k.as_bytes().to_vec(), v.map(|v| v.as_bytes().to_vec()), *ts)
        })
        .collect()
}

#[test]
fn should_restore() {
    // Kafka: RocksDBVersionedStoreTest.shouldRestore
    on_both(|f| {
        let records = changelog(&[
            ("k", Some("vp20"), SI + 20),
            ("k", Some("vp10"), SI + 10),
            ("k", Some("vn10"), SI - 10),
            ("k", Some("vn2"), SI - 2),
            ("k", Some("vn1"), SI - 1),
            ("k", Some("vp1"), SI + 1),
        ]);
        f.store.restore_batch(&records).expect("restore");
        check_moved_to_older_segment(f);
    });
}

#[test]
fn should_restore_with_nulls() {
    // Kafka: RocksDBVersionedStoreTest.shouldRestoreWithNulls
    on_both(|f| {
        let records = changelog(&[
            ("k", None, SI + 20),
            ("k", None, SI - 1),
            ("k", None, SI + 1),
            ("k", None, SI - 10),
            ("k", None, SI + 10),
            ("k", Some("vp5"), SI + 5),
            ("k", Some("vn5"), SI - 5),
            ("k", Some("vn6"), SI - 6),
        ]);
        f.store.restore_batch(&records).expect("restore");
        check_repeat_timestamps(f);
    });
}

#[test]
fn should_restore_with_nulls_and_repeat_timestamps() {
    // Kafka: RocksDBVersionedStoreTest.shouldRestoreWithNullsAndRepeatTimestamps
    on_both(|f| {
        let records = changelog(&[
            ("k", Some("to_be_replaced"), SI + 20),
            ("k", None, SI - 10),
            ("k", Some("to_be_replaced"), SI - 10),
            ("k", None, SI - 10),
            ("k", Some("to_be_replaced"), SI - 1),
            ("k", Some("to_be_replaced"), SI + 1),
            ("k", None, SI - 1),
            ("k", None, SI + 1),
            ("k", None, SI + 10),
            ("k", None, SI + 5),
            ("k", Some("vp5"), SI + 5),
            ("k", Some("to_be_replaced"), SI - 5),
            ("k", Some("vn5"), SI - 5),
            ("k", None, SI + 20),
            ("k", None, SI + 20),
            ("k", Some("vn6"), SI - 6),
        ]);
        f.store.restore_batch(&records).expect("restore");
        check_repeat_timestamps(f);
    });
}

#[test]
fn should_restore_multiple_batches() {
    // Kafka: RocksDBVersionedStoreTest.shouldRestoreMultipleBatches
    on_both(|f| {
        let first = changelog(&[
            ("k", None, SI - 20),
            ("k", Some("vn10"), SI - 10),
            ("k", None, SI - 1),
        ]);
        let second = changelog(&[
            ("k", None, SI + 1),
            ("k", Some("vp10"), SI + 10),
            ("k", None, SI + 20),
        ]);
        f.store.restore_batch(&first).expect("restore");
        f.store.restore_batch(&second).expect("restore");
        f.latest_is_none("k");
        f.as_of_is_none("k", SI + 30);
        f.as_of_is("k", SI + 15, "vp10", SI + 10, SI + 20);
        f.as_of_is_none("k", SI + 5);
        f.as_of_is_none("k", SI);
        f.as_of_is("k", SI - 5, "vn10", SI - 10, SI - 1);
        f.as_of_is_none("k", SI - 15);
    });
}

#[test]
fn should_not_restore_expired() {
    // Kafka: RocksDBVersionedStoreTest.shouldNotRestoreExpired
    on_both(|f| {
        let records = changelog(&[
            ("k", Some("v"), HISTORY_RETENTION + 10),
            ("k1", Some("v1"), HISTORY_RETENTION + 10 - GRACE_PERIOD),
            ("k2", Some("v2"), HISTORY_RETENTION + 9 - GRACE_PERIOD),
        ]);
        f.store.restore_batch(&records).expect("restore");
        f.latest_is("k", "v", HISTORY_RETENTION + 10);
        f.latest_is("k1", "v1", HISTORY_RETENTION + 10 - GRACE_PERIOD);
        f.latest_is_none("k2");
    });
}

#[test]
fn should_restore_even_if_record_would_be_expired_by_end_of_batch() {
    // Kafka: RocksDBVersionedStoreTest.shouldRestoreEvenIfRecordWouldBeExpiredByEndOfBatch
    on_both(|f| {
        let records = changelog(&[
            ("k2", Some("v2"), HISTORY_RETENTION - GRACE_PERIOD),
            ("k", Some("v"), HISTORY_RETENTION + 10),
        ]);
        f.store.restore_batch(&records).expect("restore");
        f.latest_is("k2", "v2", HISTORY_RETENTION - GRACE_PERIOD);
        f.latest_is("k", "v", HISTORY_RETENTION + 10);
    });
}

type Logged = Rc<RefCell<Vec<(Vec<u8>, Option<Vec<u8>>, Option<i64>)>>>;

struct Sink(Logged);

impl ChangelogSink for Sink {
    fn send(&self, _: &str, key: &[u8], value: Option<&[u8]>, ts: Option<i64>) -> Result<()> {
        self.0
            .borrow_mut()
            .push((key.to_vec(), value.map(<[u8]>::to_vec), ts));
        Ok(())
    }
}

#[test]
fn puts_and_deletes_are_logged_with_their_timestamps_and_replay_into_the_same_history() -> Result<()>
{
    let logged = Logged::default();
    let mut store = VersionedStore::open(Box::new(InMemoryKeyValueStore::new("v")), 1_000, 100)?
        .with_changelog(Box::new(Sink(logged.clone())));
    store.put(b"k", Some(b"a"), 100)?;
    store.put(b"k", Some(b"c"), 300)?;
    store.put(b"k", Some(b"b"), 200)?;
    store.delete(b"k", 400)?;
    assert_eq!(store.put(b"k", Some(b"late"), -5_000)?, PutOutcome::NotPut);
    let expected: Vec<(Vec<u8>, Option<Vec<u8>>, Option<i64>)> = vec![
        (b"k".to_vec(), Some(b"a".to_vec()), Some(100)),
        (b"k".to_vec(), Some(b"c".to_vec()), Some(300)),
        (b"k".to_vec(), Some(b"b".to_vec()), Some(200)),
        (b"k".to_vec(), None, Some(400)),
    ];
    assert_eq!(*logged.borrow(), expected, "refused puts are not logged");

    let mut restored = VersionedStore::open(Box::new(InMemoryKeyValueStore::new("v")), 1_000, 100)?;
    let records: Vec<ChangelogRecord> = logged
        .borrow()
        .iter()
        .map(|(k, v, ts)| ChangelogRecord::new(k.clone(), v.clone(), ts.unwrap_or_default()))
        .collect();
    restored.restore_batch(&records)?;
    for at in [50, 100, 150, 200, 250, 300, 350, 400, 450] {
        assert_eq!(
            restored.get_as_of(b"k", at)?,
            store.get_as_of(b"k", at)?,
            "as of {at}"
        );
    }
    assert_eq!(restored.observed_stream_time(), 400);
    Ok(())
}

#[test]
fn expired_history_is_dropped_with_its_segments_but_latest_values_stay() -> Result<()> {
    let engine = InMemoryKeyValueStore::new("v");
    let mut store = VersionedStore::open(Box::new(engine.clone()), 1_000, 100)?;
    store.put(b"old", Some(b"1"), 0)?;
    store.put(b"old", Some(b"2"), 50)?;
    store.put(b"gone", None, 60)?;
    // Hours of stream time later (segments are dropped an hour of event time at a time).
    store.put(b"other", Some(b"x"), 10_000_000)?;
    assert_eq!(
        store.get(b"old")?.map(|r| (r.value, r.timestamp)),
        Some((b"2".to_vec(), 50))
    );
    assert_eq!(store.get_as_of(b"old", 10)?, None, "expired history");
    assert_eq!(
        store.get_as_of(b"old", 60)?.map(|r| r.value),
        Some(b"2".to_vec()),
        "the latest value never expires"
    );
    // Only the latest values of `old` and `other` and the stream time's metadata remain.
    assert!(engine.approximate_num_entries()? <= 3);
    Ok(())
}

#[test]
fn a_reopened_rocksdb_store_keeps_history_and_refuses_what_it_refused() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("temp", e))?;
    {
        let engine = RocksDbKeyValueStore::open("v", dir.path())?;
        let mut store = VersionedStore::open(Box::new(engine), 1_000, 100)?;
        store.put(b"k", Some(b"a"), 5_000)?;
        store.put(b"k", Some(b"b"), 6_000)?;
        store.close()?;
    }
    let engine = RocksDbKeyValueStore::open("v", dir.path())?;
    let mut store = VersionedStore::open(Box::new(engine), 1_000, 100)?;
    assert_eq!(store.observed_stream_time(), 6_000);
    assert_eq!(
        store.get_as_of(b"k", 5_500)?.map(|r| r.value),
        Some(b"a".to_vec())
    );
    assert_eq!(store.put(b"k", Some(b"late"), 4_000)?, PutOutcome::NotPut);
    assert_eq!(
        store.put(b"k", Some(b"ok"), 5_000)?,
        PutOutcome::ValidTo(6_000)
    );
    Ok(())
}

#[test]
fn readers_on_other_threads_see_latest_and_history() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("temp", e))?;
    let engine = RocksDbKeyValueStore::open("v", dir.path())?;
    let mut store = VersionedStore::open(Box::new(engine), 10_000, 1_000)?;
    store.put(b"k", Some(b"a"), 1_000)?;
    store.put(b"k", Some(b"b"), 2_000)?;
    let reader = store
        .reader()
        .ok_or_else(|| Error::Closed { store: "v".into() })?;
    let (latest, as_of) =
        std::thread::spawn(move || (reader.get(b"k"), reader.get_as_of(b"k", 1_500)))
            .join()
            .map_err(|_| Error::Closed { store: "v".into() })?;
    assert_eq!(latest?.map(|r| r.value), Some(b"b".to_vec()));
    assert_eq!(
        as_of?,
        Some(VersionedRecord::new(b"a".to_vec(), 1_000, Some(2_000)))
    );
    Ok(())
}

#[test]
fn closing_twice_is_not_an_error() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::io("temp", e))?;
    let engine = RocksDbKeyValueStore::open("v", dir.path())?;
    let mut store = VersionedStore::open(Box::new(engine), 1_000, 100)?;
    store.put(b"k", Some(b"v"), 1)?;
    store.close()?;
    store.close()?;
    assert!(matches!(store.get(b"k"), Err(Error::Closed { .. })));
    Ok(())
}
