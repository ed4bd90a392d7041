//! The soak's waits: on the group's lag and offsets, and on time, each panicking (with the
//! instance's log) as soon as an instance has exited.

use std::time::{Duration, Instant};

use crate::support::soak::{GroupLag, Instance};

/// Waits until `lag` is at most `bound`; panics after `timeout` or if an instance exits.
pub(crate) fn wait_for_lag(
    lag: &GroupLag,
    bound: i64,
    timeout: Duration,
    instances: &mut [Option<Instance>],
    what: &str,
) {
    let deadline = Instant::now() + timeout;
    loop {
        check_running(instances);
        let now = lag.lag();
        if now.is_some_and(|l| l <= bound) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the lag is {now:?} after {timeout:?}, above {bound}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Sleeps for `how_long`, checking every 250 ms that every instance runs.
pub(crate) fn sleep_checking(how_long: Duration, instances: &mut [Option<Instance>]) {
    let until = Instant::now() + how_long;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        check_running(instances);
        std::thread::sleep(left.min(Duration::from_millis(250)));
    }
}

/// The group's committed offsets (summed) and lag, read again until the broker answers.
pub(crate) fn read_group(lag: &GroupLag) -> (i64, i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(read) = lag.read() {
            return read;
        }
        assert!(
            Instant::now() < deadline,
            "the broker did not tell the group's offsets for 60 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Panics (with its log) if an instance has exited.
pub(crate) fn check_running(instances: &mut [Option<Instance>]) {
    for (i, instance) in instances.iter_mut().enumerate() {
        if let Some(instance) = instance
            && let Some(status) = instance.exited()
        {
            panic!(
                "instance {i} exited with {status}:\n{}",
                instance.log_tail()
            );
        }
    }
}
