//! The reader against the embedded broker: changelogs added, removed (parked) and added again
//! between reads are each read exactly from their offset to their end, however the assignment
//! changed.

use std::collections::BTreeMap;

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::*;
use crate::embedded::EmbeddedBroker;

const RECORDS: i64 = 200;

fn reader(broker: &EmbeddedBroker) -> ChangelogReader {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .set("group.id", "changelog-reader-test")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.queue.backoff.ms", "10")
        .create()
        .expect("consumer");
    ChangelogReader::new(consumer, true)
}

fn producer(broker: &EmbeddedBroker) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap_servers())
        .create()
        .expect("producer")
}

/// What was read of each changelog: the offsets, in the order applied (each batch's records
/// end at its `last`; every offset of the test topic holds a record).
type Read = BTreeMap<Changelog, Vec<i64>>;

/// Reads until every changelog reached its end.
fn read_to_ends(reader: &mut ChangelogReader, read: &mut Read) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reader.all_caught_up() {
        assert!(Instant::now() < deadline, "not caught up: {read:?}");
        reader
            .read(Duration::from_millis(50), |changelog, records, last| {
                let offsets = read.entry(changelog.clone()).or_default();
                let first = last + 1 - records.len() as i64;
                offsets.extend(first..=last);
                Ok(())
            })
            .expect("read");
    }
}

fn changelog(partition: i32) -> Changelog {
    ("log".to_string(), partition)
}

#[test]
fn changelogs_added_and_removed_between_reads_are_read_from_their_offsets_to_their_ends() {
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("log", 3).expect("topic");
    let producer = producer(&broker);
    for partition in 0..3 {
        for i in 0..RECORDS {
            let key = format!("k{i}");
            producer
                .send(
                    BaseRecord::to("log")
                        .key(&key)
                        .payload("v")
                        .partition(partition),
                )
                .expect("send");
        }
    }
    producer.flush(Duration::from_secs(10)).expect("flush");

    let mut reader = reader(&broker);
    let mut read = Read::new();
    // Partition 0 alone for a step, then partition 1 joins while 0 is being read.
    reader.add(changelog(0), 10, Some(RECORDS));
    reader.assign().expect("assign");
    reader
        .read(Duration::from_millis(100), |changelog, records, last| {
            let first = last + 1 - records.len() as i64;
            read.entry(changelog.clone())
                .or_default()
                .extend(first..=last);
            Ok(())
        })
        .expect("read");
    reader.add(changelog(1), 0, Some(RECORDS / 2));
    reader.assign().expect("assign");
    read_to_ends(&mut reader, &mut read);
    assert_eq!(read[&changelog(0)], (10..RECORDS).collect::<Vec<_>>());
    assert_eq!(read[&changelog(1)], (0..RECORDS / 2).collect::<Vec<_>>());

    // Partition 0 removed and added again from an earlier offset (a task wiped and restored
    // anew), partition 1's end moved on, partition 2 added: each read from where it is asked.
    read.clear();
    reader.remove(&changelog(0));
    reader.add(changelog(0), 150, Some(RECORDS));
    reader.add(changelog(2), 190, Some(RECORDS));
    reader.set_end(&changelog(1), RECORDS).expect("end");
    reader.assign().expect("assign");
    read_to_ends(&mut reader, &mut read);
    assert_eq!(read[&changelog(0)], (150..RECORDS).collect::<Vec<_>>());
    assert_eq!(
        read[&changelog(1)],
        (RECORDS / 2..RECORDS).collect::<Vec<_>>()
    );
    assert_eq!(read[&changelog(2)], (190..RECORDS).collect::<Vec<_>>());

    // Partition 2 removed (parked: still assigned, paused) while the others read on, then
    // added again from an earlier offset: rewound, read from there, nothing else of it.
    read.clear();
    reader.remove(&changelog(2));
    reader.add(changelog(1), 0, Some(10));
    reader.assign().expect("assign");
    assert_eq!(
        reader.consumer().assignment().expect("assignment").count(),
        3
    );
    read_to_ends(&mut reader, &mut read);
    assert!(
        !read.contains_key(&changelog(2)),
        "parked partition read: {read:?}"
    );
    reader.add(changelog(2), 180, Some(RECORDS));
    reader.assign().expect("assign");
    read_to_ends(&mut reader, &mut read);
    assert_eq!(read[&changelog(1)], (0..10).collect::<Vec<_>>());
    assert_eq!(read[&changelog(2)], (180..RECORDS).collect::<Vec<_>>());

    // Every changelog removed: nothing left assigned.
    for partition in 0..3 {
        reader.remove(&changelog(partition));
    }
    reader.assign().expect("assign");
    assert!(reader.consumer().assignment().expect("assignment").count() == 0);
}

/// Record `i` of the content test: its key (none for every 97th), value (a tombstone for every
/// 5th, lengths varying from empty past the largest buffer kept for reuse) and timestamp.
fn mixed(i: usize) -> (Option<String>, Option<Vec<u8>>, i64) {
    let key = (!i.is_multiple_of(97)).then(|| format!("key-{i}"));
    let value = (!i.is_multiple_of(5)).then(|| {
        let len = match i % 7 {
            0 => 0,
            1 => SPARE_MAX_BYTES + 1,
            n => n * 13,
        };
        vec![(i % 251) as u8; len]
    });
    (key, value, 1_000 + i as i64)
}

#[test]
fn records_are_handed_over_whole_whatever_buffers_they_reuse() {
    // More than two batches of records whose puts, tombstones and value sizes alternate, so
    // that each reused buffer once held a longer, a shorter or no value.
    let count = 2 * BATCH + 357;
    let broker = EmbeddedBroker::start(1).expect("broker");
    broker.create_topic("mixed", 1).expect("topic");
    let producer = producer(&broker);
    for i in 0..count {
        let (key, value, timestamp) = mixed(i);
        let mut record = BaseRecord::<String, Vec<u8>>::to("mixed")
            .partition(0)
            .timestamp(timestamp);
        if let Some(key) = &key {
            record = record.key(key);
        }
        if let Some(value) = &value {
            record = record.payload(value);
        }
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(10)).expect("flush");

    let mut reader = reader(&broker);
    reader.add(("mixed".to_string(), 0), 0, Some(count as i64));
    reader.assign().expect("assign");
    let mut applied = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !reader.all_caught_up() {
        assert!(Instant::now() < deadline, "not caught up");
        reader
            .read(Duration::from_millis(50), |_, records, _| {
                applied.extend(records.iter().cloned());
                Ok(())
            })
            .expect("read");
    }
    let expected: Vec<ChangelogRecord> = (0..count)
        .map(mixed)
        .filter_map(|(key, value, timestamp)| {
            Some(ChangelogRecord::new(key?.into_bytes(), value, timestamp))
        })
        .collect();
    assert_eq!(applied.len(), expected.len());
    for (i, (got, want)) in applied.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "record {i} of those with a key");
    }
    assert!(reader.spare.is_empty(), "buffers kept after the end");
}
