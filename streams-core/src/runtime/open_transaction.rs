//! Exactly-once restoration past a transaction left open on a changelog.
//!
//! A `read_committed` reader stops at a partition's last stable offset: the first record of the
//! oldest transaction still open on it. A zombie of an earlier owner of the task (a frozen or
//! killed instance whose transaction the coordinator has not aborted yet) can leave one open on
//! the changelog, and a later owner may have committed records after it before handing the task
//! on. Restoring only up to the last stable offset would then lose those committed records: the
//! task would process on from the group's committed offsets with a store that lacks their
//! effects. So a restoration whose unread part of the log may hold such records waits for the
//! transaction to end (committed or aborted; the coordinator aborts it at the latest after its
//! producer's `transaction.timeout.ms`), then reads on. Kafka Streams restores up to the last
//! stable offset and does not wait.

/// How often a restoration waiting for a transaction to end asks for the changelog's offsets.
pub(crate) const RECHECK_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// How long one restore step may spend asking for the offsets of waiting changelogs: the
/// requests block the stream thread, and a zombie's transaction often spans the changelogs of
/// many tasks.
pub(crate) const RECHECK_BUDGET: std::time::Duration = std::time::Duration::from_millis(100);

/// Whether records committed after an open transaction may lie unread in a changelog
/// partition, for a reader whose next offset is `next`, given the partition's last stable
/// offset `stable` (the end a `read_committed` reader sees) and its log end `log_end` (the high
/// watermark, past every record and transaction marker).
///
/// The reader reads everything before `stable` itself. Past it, offset `stable` is the open
/// transaction's first record, and a committed record after it takes two offsets at least
/// (the record, then its transaction's commit marker), both past `stable` and at or past
/// `next`. With fewer than two such offsets before the log end (as when a task's own last
/// record and commit marker end the log), nothing committed can be hidden.
pub(crate) fn may_hide_committed(next: i64, stable: i64, log_end: i64) -> bool {
    stable < log_end && log_end - next.max(stable + 1) >= 2
}

#[cfg(test)]
mod tests {
    use super::may_hide_committed;

    #[test]
    fn nothing_is_hidden_without_an_open_transaction() {
        // The last stable offset is the log end: a reader at or before it reads all.
        assert!(!may_hide_committed(0, 100, 100));
        assert!(!may_hide_committed(100, 100, 100));
    }

    #[test]
    fn records_after_an_open_transaction_may_be_committed() {
        // A transaction opened at 10; a record and a commit marker fit in 11..13.
        assert!(may_hide_committed(0, 10, 13));
        assert!(may_hide_committed(10, 10, 13));
        // The store's position is past the open transaction but the log goes on after it.
        assert!(may_hide_committed(20, 10, 30));
    }

    #[test]
    fn one_offset_after_the_open_transaction_holds_no_commit() {
        // The open transaction's record at 10 and one more offset: a record without its
        // marker, or the transaction's own second record.
        assert!(!may_hide_committed(0, 10, 12));
        assert!(!may_hide_committed(0, 10, 11));
    }

    #[test]
    fn a_store_at_the_log_end_needs_nothing() {
        // The task committed after the open transaction (its last record at 20, its commit
        // marker at 21): the store's next offset is 21 and the log ends at 22.
        assert!(!may_hide_committed(21, 10, 22));
        assert!(!may_hide_committed(22, 10, 22));
    }
}
