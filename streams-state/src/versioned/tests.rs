//! The versioned store's behaviour, ported from Kafka Streams' `RocksDBVersionedStoreTest`
//! (same retention, segment interval and cases; each test names the Kafka test it ports), on
//! the in-memory engine and on RocksDB.

use super::*;
use crate::{InMemoryKeyValueStore, RocksDbKeyValueStore};

pub(super) const HISTORY_RETENTION: i64 = 300_000;
pub(super) const GRACE_PERIOD: i64 = HISTORY_RETENTION;
pub(super) const SEGMENT_INTERVAL: i64 = HISTORY_RETENTION / 3;
pub(super) const BASE: i64 = 10;
pub(super) const SI: i64 = SEGMENT_INTERVAL;

/// A store with string keys and values, and assertions in the shape of Kafka's test helpers.
pub(super) struct Fixture {
    pub(super) store: VersionedStore,
    pub(super) _dir: Option<tempfile::TempDir>,
}

pub(super) fn in_memory(retention: i64) -> Fixture {
    let engine = InMemoryKeyValueStore::new("versioned");
    Fixture {
        store: VersionedStore::open(Box::new(engine), retention, SEGMENT_INTERVAL).expect("open"),
        _dir: None,
    }
}

pub(super) fn rocks(retention: i64) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let engine = RocksDbKeyValueStore::open("versioned", dir.path()).expect("rocksdb");
    Fixture {
        store: VersionedStore::open(Box::new(engine), retention, SEGMENT_INTERVAL).expect("open"),
        _dir: Some(dir),
    }
}

/// Runs `case` on both engines.
pub(super) fn on_both(case: impl Fn(&mut Fixture)) {
    case(&mut in_memory(HISTORY_RETENTION));
    case(&mut rocks(HISTORY_RETENTION));
}

/// Kafka's `PUT_RETURN_CODE_VALID_TO_UNDEFINED`.
pub(super) const LATEST: i64 = -1;
/// Kafka's `PUT_RETURN_CODE_NOT_PUT`.
pub(super) const NOT_PUT: i64 = i64::MIN;

impl Fixture {
    pub(super) fn put(&mut self, key: &str, value: Option<&str>, ts: i64, expected: i64) {
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

    pub(super) fn delete(&mut self, key: &str, ts: i64) -> Option<(String, i64)> {
        self.store
            .delete(key.as_bytes(), ts)
            .expect("delete")
            .map(|r| (String::from_utf8_lossy(&r.value).into_owned(), r.timestamp))
    }

    pub(super) fn latest_is(&self, key: &str, value: &str, ts: i64) {
        let got = self.store.get(key.as_bytes()).expect("get");
        assert_eq!(
            got,
            Some(VersionedRecord::new(value.as_bytes().to_vec(), ts, None)),
            "latest of {key}"
        );
    }

    pub(super) fn latest_is_none(&self, key: &str) {
        assert_eq!(
            self.store.get(key.as_bytes()).expect("get"),
            None,
            "latest of {key}"
        );
    }

    /// As of `at`: `value` valid from `from` to `to` (`LATEST`: still valid).
    pub(super) fn as_of_is(&self, key: &str, at: i64, value: &str, from: i64, to: i64) {
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

    pub(super) fn as_of_is_none(&self, key: &str, at: i64) {
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
pub(super) fn check_repeat_timestamps(f: &Fixture) {
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
pub(super) fn check_moved_to_older_segment(f: &Fixture) {
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
