//! Punctuation: scheduled calls into a processor on stream time or wall-clock time.

use std::cell::Cell;
use std::rc::Rc;

/// What drives a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PunctuationType {
    /// The task's stream time (the largest record timestamp seen): punctuations follow the
    /// data and are deterministic. The first fires with the first record; later ones when
    /// stream time reaches the next multiple of the interval (skipped intervals fire once).
    StreamTime,
    /// The wall clock: fires every interval of real time (in the test driver, of the driver's
    /// manual clock), whether or not records arrive.
    WallClockTime,
}

/// One scheduled call, as delivered to [`Processor::punctuate`](super::Processor::punctuate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Punctuation {
    /// The id of the schedule (see [`Cancellable::id`]).
    pub id: u64,
    /// What drives it.
    pub kind: PunctuationType,
    /// Stream time or wall-clock time at which it fires.
    pub timestamp: i64,
}

/// A handle on a schedule, to cancel it.
#[derive(Debug, Clone)]
pub struct Cancellable {
    pub(crate) id: u64,
    pub(crate) cancelled: Rc<Cell<bool>>,
}

impl Cancellable {
    /// Stops the schedule; it never fires again.
    pub fn cancel(&self) {
        self.cancelled.set(true);
    }

    /// The schedule's id, as in [`Punctuation::id`].
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// A schedule kept by the task.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) node: Rc<str>,
    pub(crate) id: u64,
    pub(crate) kind: PunctuationType,
    pub(crate) interval: i64,
    pub(crate) next: i64,
    pub(crate) cancelled: Rc<Cell<bool>>,
}

impl Schedule {
    /// Kafka Streams' rule: the next time after firing at `now`, skipping missed intervals.
    pub(crate) fn advance(&mut self, now: i64) {
        let mut next = self.next + self.interval;
        if now >= next {
            let missed = (now - self.next) / self.interval;
            next = self.next + (missed + 1) * self.interval;
        }
        self.next = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_intervals_fire_once() {
        let mut s = Schedule {
            node: Rc::from("n"),
            id: 1,
            kind: PunctuationType::StreamTime,
            interval: 10,
            next: 0,
            cancelled: Rc::default(),
        };
        s.advance(3);
        assert_eq!(s.next, 10);
        s.advance(47);
        assert_eq!(s.next, 50);
    }
}
