//! Restoration's writes to RocksDB on a helper thread. Inserting a batch into the memtables is
//! the costliest part of restoring a store; handed to a helper, it runs while the thread that
//! reads the changelog polls and copies the next batch, as Kafka Streams restores on a thread
//! of its own.
//!
//! Each thread that restores gets one helper, spawned at its first restoring write and ended
//! when that thread ends. A store counts its writes in flight ([`InFlight`]) and waits for
//! them before anything else touches its database, so reads, flushes, checkpoints and closes
//! see every write handed over before them, and a failed write is reported by the store's
//! next call.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use rocksdb::{DB, WriteBatch, WriteOptions};
use tracing::warn;

/// Batches handed over and not yet taken by the helper: with the one it writes, the reading
/// thread runs at most this many batches (plus one) ahead of the store.
const QUEUED: usize = 2;

/// A store's writes in flight, and the first of them that failed.
#[derive(Clone, Default)]
pub(crate) struct InFlight(Arc<Shared>);

#[derive(Default)]
struct Shared {
    /// Whether a write is in flight or a failure waits to be reported: lets [`InFlight::wait`]
    /// return at once, without the lock, on every call of a store that is not restoring.
    busy: AtomicBool,
    state: Mutex<State>,
    settled: Condvar,
}

#[derive(Default)]
struct State {
    pending: usize,
    failed: Option<rocksdb::Error>,
}

impl InFlight {
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn begin(&self) {
        let mut state = self.state();
        state.pending += 1;
        self.0.busy.store(true, Ordering::Release);
    }

    fn finish(&self, result: Result<(), rocksdb::Error>) {
        let mut state = self.state();
        state.pending = state.pending.saturating_sub(1);
        if let Err(e) = result {
            state.failed.get_or_insert(e);
        }
        if state.pending == 0 && state.failed.is_none() {
            self.0.busy.store(false, Ordering::Release);
        }
        self.0.settled.notify_all();
    }

    /// The first write that failed, if one did (once), without waiting for the others.
    pub(crate) fn take_failure(&self) -> Result<(), rocksdb::Error> {
        if !self.0.busy.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut state = self.state();
        let failed = state.failed.take();
        if state.pending == 0 {
            self.0.busy.store(false, Ordering::Release);
        }
        failed.map_or(Ok(()), Err)
    }

    /// Waits until every write handed over has been applied; the first that failed, once.
    pub(crate) fn wait(&self) -> Result<(), rocksdb::Error> {
        if !self.0.busy.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut state = self.state();
        while state.pending > 0 {
            state = self
                .0
                .settled
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        self.0.busy.store(false, Ordering::Release);
        state.failed.take().map_or(Ok(()), Err)
    }
}

/// A batch for the helper to write into `db`, counted in `in_flight`.
struct Job {
    db: Arc<DB>,
    batch: WriteBatch,
    in_flight: InFlight,
}

thread_local! {
    /// This thread's helper, once it restored something (`None` after a failed spawn: it then
    /// writes itself).
    static HELPER: RefCell<Option<Option<SyncSender<Job>>>> = const { RefCell::new(None) };
}

/// Hands `batch` to this thread's helper to write into `db`, counted in `in_flight`; gives the
/// batch back when there is no helper to take it (the caller then writes it).
pub(crate) fn submit(
    db: &Arc<DB>,
    batch: WriteBatch,
    in_flight: &InFlight,
) -> Result<(), WriteBatch> {
    HELPER.with(|helper| {
        let mut helper = helper.borrow_mut();
        let Some(sender) = helper.get_or_insert_with(spawn) else {
            return Err(batch);
        };
        in_flight.begin();
        let job = Job {
            db: db.clone(),
            batch,
            in_flight: in_flight.clone(),
        };
        sender.send(job).map_err(|returned| {
            // The helper is gone: write here from now on.
            *helper = Some(None);
            let job = returned.0;
            job.in_flight.finish(Ok(()));
            job.batch
        })
    })
}

fn spawn() -> Option<SyncSender<Job>> {
    let (sender, jobs) = sync_channel::<Job>(QUEUED);
    let name = format!(
        "{}-restore",
        std::thread::current().name().unwrap_or("streams")
    );
    let spawned = std::thread::Builder::new().name(name).spawn(move || {
        let mut options = WriteOptions::default();
        // As every write of a store: the changelog is its log.
        options.disable_wal(true);
        for job in jobs {
            let result = job.db.write_opt(job.batch, &options);
            job.in_flight.finish(result);
        }
    });
    match spawned {
        Ok(_) => Some(sender),
        Err(e) => {
            warn!("no thread to write restored batches ({e}); writing them in place");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_handed_over_are_applied_before_wait_returns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut options = rocksdb::Options::default();
        options.create_if_missing(true);
        let db = Arc::new(DB::open(&options, dir.path()).expect("open"));
        let in_flight = InFlight::default();
        for round in 0u32..20 {
            let mut batch = WriteBatch::default();
            for i in 0u32..500 {
                batch.put((round * 500 + i).to_be_bytes(), round.to_be_bytes());
            }
            assert!(submit(&db, batch, &in_flight).is_ok(), "a helper takes it");
        }
        in_flight.wait().expect("written");
        for key in [0u32, 4_999, 9_999] {
            let value = db.get(key.to_be_bytes()).expect("get");
            assert_eq!(value, Some((key / 500).to_be_bytes().to_vec()));
        }
        assert!(!in_flight.0.busy.load(Ordering::Acquire));
    }

    #[test]
    fn a_failed_write_is_reported_once() {
        let in_flight = InFlight::default();
        in_flight.begin();
        let dir = tempfile::tempdir().expect("tempdir");
        let mut options = rocksdb::Options::default();
        options.create_if_missing(false);
        let Err(error) = DB::open(&options, dir.path().join("absent")) else {
            panic!("opening a missing database fails");
        };
        in_flight.begin();
        in_flight.finish(Err(error));
        assert!(
            in_flight.take_failure().is_err(),
            "reported while one is in flight"
        );
        assert!(in_flight.take_failure().is_ok(), "reported once");
        in_flight.finish(Ok(()));
        assert!(in_flight.wait().is_ok());
        assert!(!in_flight.0.busy.load(Ordering::Acquire));
    }
}
