//! [`DirLock`]: an exclusive lock on a state directory (`<dir>/.lock`), so that two instances
//! or two threads never open the same stores. The operating system releases it when the
//! holder closes it or its process dies, so a crash leaves no stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::time::{Duration, Instant};

/// A held lock; dropping it releases it.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Locks `dir`, retrying for up to `wait` while someone else holds it (a task directory
    /// its previous owner is still closing).
    pub(crate) fn acquire(dir: &Path, wait: Duration) -> std::io::Result<DirLock> {
        let path = dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(DirLock { _file: file }),
                Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::WouldBlock,
                        format!("{} is locked by another holder", path.display()),
                    ));
                }
                Err(TryLockError::Error(e)) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_waits_then_fails_and_gets_it_once_released() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = DirLock::acquire(dir.path(), Duration::ZERO).expect("first");
        let err = DirLock::acquire(dir.path(), Duration::from_millis(50)).expect_err("held");
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
        drop(first);
        DirLock::acquire(dir.path(), Duration::ZERO).expect("released");
    }
}
