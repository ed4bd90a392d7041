//! Unit tests of the session store without a cache: reads, restoration, and the times it
//! keeps across a reopen and a restore.

use std::cell::RefCell;
use std::rc::Rc;

use super::*;
use crate::InMemoryKeyValueStore;

pub(super) fn log_key(key: &[u8], start: i64, end: i64) -> Vec<u8> {
    let mut out = key.to_vec();
    out.extend_from_slice(&encode_time(end));
    out.extend_from_slice(&encode_time(start));
    out
}

/// A changelog that keeps what it is sent: `(key, value, timestamp)`.
pub(super) type Logged = Rc<RefCell<Vec<(Vec<u8>, Option<Vec<u8>>, Option<i64>)>>>;

pub(super) struct Recording(pub(super) Logged);

impl ChangelogSink for Recording {
    fn send(
        &self,
        _store: &str,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: Option<i64>,
    ) -> Result<()> {
        self.0
            .borrow_mut()
            .push((key.to_vec(), value.map(<[u8]>::to_vec), timestamp));
        Ok(())
    }
}

pub(super) fn as_changelog(logged: &Logged) -> Vec<ChangelogRecord> {
    logged
        .borrow()
        .iter()
        .map(|(k, v, ts)| ChangelogRecord::new(k.clone(), v.clone(), ts.unwrap_or(-1)))
        .collect()
}

#[test]
fn finds_overlapping_sessions() -> Result<()> {
    let mut s = SessionStore::new(Box::new(InMemoryKeyValueStore::new("s")), 10_000_000);
    s.put(b"k", 0, 10, Some(b"a"))?;
    s.put(b"k", 100, 150, Some(b"b"))?;
    s.put(b"k", 500, 500, Some(b"c"))?;
    s.put(b"kk", 100, 100, Some(b"other key"))?;
    // A record at 120 with gap 30 merges with sessions ending >= 90 and starting <= 150.
    let found = s.find_sessions(b"k", 90, 150)?;
    assert_eq!(
        found.iter().map(|e| (e.start, e.end)).collect::<Vec<_>>(),
        vec![(100, 150)]
    );
    let found = s.find_sessions(b"k", 0, 1_000)?;
    assert_eq!(found.len(), 3);
    s.put(b"k", 100, 150, None)?;
    assert_eq!(s.fetch_session(b"k", 100, 150)?, None);
    assert_eq!(s.fetch_session(b"k", 500, 500)?, Some(b"c".to_vec()));
    assert_eq!(s.all()?.len(), 3);
    Ok(())
}

#[test]
fn restores_from_changelog_keys() -> Result<()> {
    let mut s = SessionStore::new(Box::new(InMemoryKeyValueStore::new("s")), 10_000_000);
    s.restore_batch(&[ChangelogRecord::new(
        log_key(b"k", 5, 20),
        Some(b"v".to_vec()),
        20,
    )])?;
    assert_eq!(s.fetch_session(b"k", 5, 20)?, Some(b"v".to_vec()));
    Ok(())
}

#[test]
fn a_reopened_store_keeps_its_times_and_its_sessions() -> Result<()> {
    let engine = InMemoryKeyValueStore::new("s");
    let mut s = SessionStore::open(Box::new(engine.clone()), 1_000)?;
    s.put_with_record_time(b"k", 0, 10, Some(b"old"), Some(10))?;
    s.put_with_record_time(b"k", 130_000, 130_000, Some(b"new"), Some(130_000))?;
    s.flush()?;
    drop(s);
    let mut s = SessionStore::open(Box::new(engine), 1_000)?;
    assert_eq!(s.stream_time(), Some(130_000));
    assert_eq!(
        s.fetch_session(b"k", 130_000, 130_000)?,
        Some(b"new".to_vec())
    );
    assert_eq!(
        s.find_sessions(b"k", 0, i64::MAX)?.len(),
        1,
        "[0,10] expired"
    );
    // Segments are 60 s long: [20,20] falls in a segment dropped at 130 s, so it is refused;
    // [129_000,129_000] falls in a live segment, so it lands (as in Kafka Streams' segmented
    // store) but reads, bound by retention, do not return it.
    assert!(
        !s.put(b"k", 20, 20, Some(b"late"))?,
        "still expired after the reopen"
    );
    assert!(s.put(b"k", 129_000, 129_000, Some(b"late"))?);
    assert_eq!(s.find_sessions(b"k", 0, i64::MAX)?.len(), 1);
    assert_eq!(s.all()?.len(), 1, "the persisted times are not a session");
    Ok(())
}

#[test]
fn a_store_restored_from_its_changelog_has_the_times_of_the_original() -> Result<()> {
    let logged = Logged::default();
    let mut original = SessionStore::new(Box::new(InMemoryKeyValueStore::new("s")), 1_000)
        .with_changelog(Box::new(Recording(logged.clone())));
    original.put_with_record_time(b"k", 100, 300, Some(b"a"), Some(300))?;
    // A record inside the session rewrites it: the changelog's last record for that session
    // carries the earlier timestamp, but the session's end still tells the stream time.
    original.put_with_record_time(b"k", 100, 300, None, Some(200))?;
    original.put_with_record_time(b"k", 100, 300, Some(b"b"), Some(200))?;
    let mut restored = SessionStore::new(Box::new(InMemoryKeyValueStore::new("r")), 1_000);
    let compacted: Vec<ChangelogRecord> = as_changelog(&logged).split_off(2);
    restored.restore_batch(&compacted)?;
    assert_eq!(restored.stream_time(), Some(300));
    assert_eq!(restored.stream_time(), original.stream_time());
    assert_eq!(restored.fetch_session(b"k", 100, 300)?, Some(b"b".to_vec()));
    Ok(())
}

#[test]
fn sessions_ending_between_come_by_end_then_start_then_key() -> Result<()> {
    // Kafka's time-first session key schema: end | start | key (the order in which a
    // session aggregation emitting on window close emits; differential oracle,
    // session_count_emit_final).
    let mut s = SessionStore::new(Box::new(InMemoryKeyValueStore::new("s")), 10_000_000);
    s.put(b"a", 1, 1, Some(b"1"))?;
    s.put(b"b", 0, 1, Some(b"2"))?;
    s.put(b"c", 0, 1, Some(b"3"))?;
    s.put(b"a", 0, 0, Some(b"4"))?;
    let found: Vec<_> = s
        .sessions_ending_between(0, 1)?
        .into_iter()
        .map(|e| (e.key, e.start, e.end))
        .collect();
    assert_eq!(
        found,
        vec![
            (b"a".to_vec(), 0, 0),
            (b"b".to_vec(), 0, 1),
            (b"c".to_vec(), 0, 1),
            (b"a".to_vec(), 1, 1)
        ]
    );
    Ok(())
}
