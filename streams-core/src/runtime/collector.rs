//! [`RecordCollector`]: where sinks and changelogs send their records.

use crate::Result;
use crate::processor::Headers;

/// Accepts output records. The Kafka runtime hands them to the producer; the test driver
/// appends them to in-memory topics.
pub(crate) trait RecordCollector {
    /// Sends one record. `partition: None` leaves the choice to the partitioner (murmur2 of the
    /// key bytes, as Kafka's Java clients do).
    fn send(
        &self,
        topic: &str,
        partition: Option<i32>,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: &Headers,
    ) -> Result<()>;
}
