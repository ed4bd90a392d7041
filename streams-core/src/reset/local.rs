//! Wiping an application's local state: every task directory and the global stores under
//! `<state.dir>/<application.id>`, under the directory's lock, as Kafka Streams'
//! `StateDirectory.clean()` does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::runtime::dir_lock::DirLock;
use crate::{Error, Result, StreamsConfig};

/// Entries of an application directory that a clean-up keeps: its lock, and the process id
/// that makes a restarted instance the same member of the registry (Kafka keeps its process
/// file too).
const KEPT: &[&str] = &[".lock", ".process-id"];

/// The local state directory of `config`'s application: `<state.dir>/<application.id>`.
pub(crate) fn app_dir(config: &StreamsConfig) -> Result<PathBuf> {
    Ok(config.state_dir().join(config.application_id()?))
}

/// Whether `dir` holds state a clean-up would remove.
pub(crate) fn has_state(dir: &Path) -> Result<bool> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(Error::io(dir, e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if !KEPT.iter().any(|k| entry.file_name() == *k) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Locks `dir` (refused, naming the application, while an instance runs in it). `None` when
/// `dir` does not exist: there is nothing to lock or wipe.
pub(crate) fn lock(dir: &Path, application_id: &str) -> Result<Option<DirLock>> {
    if !dir.is_dir() {
        return Ok(None);
    }
    DirLock::acquire(dir, Duration::ZERO)
        .map(Some)
        .map_err(|source| Error::StateDirLocked {
            application_id: application_id.to_string(),
            dir: dir.to_path_buf(),
            source,
        })
}

/// Removes everything in `dir` but [`KEPT`]; the caller holds `dir`'s lock.
pub(crate) fn wipe(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if KEPT.iter().any(|k| entry.file_name() == *k) {
            continue;
        }
        let path = entry.path();
        let removed = if entry.file_type().map_err(|e| Error::io(&path, e))?.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// See [`reset::clean_up`](super::clean_up).
pub(crate) fn clean_up(config: &StreamsConfig) -> Result<bool> {
    let application_id = config.application_id()?;
    let dir = app_dir(config)?;
    let Some(_lock) = lock(&dir, application_id)? else {
        return Ok(false);
    };
    let had_state = has_state(&dir)?;
    if had_state {
        wipe(&dir)?;
        tracing::info!(
            "wiped the local state of `{application_id}` in {}",
            dir.display()
        );
    }
    Ok(had_state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(state: &Path) -> StreamsConfig {
        let mut config = StreamsConfig::new();
        config
            .set("application.id", "app")
            .set("state.dir", state.display().to_string());
        config
    }

    #[test]
    fn clean_up_wipes_tasks_and_globals_but_keeps_the_lock_and_process_id() -> Result<()> {
        let state = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let config = config(state.path());
        assert!(!clean_up(&config)?, "no directory: nothing to wipe");
        let dir = state.path().join("app");
        for sub in ["0_0/rocksdb/counts", "1_3", "global/rocksdb/g"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| Error::io(&dir, e))?;
        }
        for file in [".lock", ".process-id", "0_0/.checkpoint", "0_0/.lock"] {
            std::fs::write(dir.join(file), "x").map_err(|e| Error::io(&dir, e))?;
        }
        // Another application's directory beside it is not touched.
        let other = state.path().join("other/0_0");
        std::fs::create_dir_all(&other).map_err(|e| Error::io(&other, e))?;

        assert!(has_state(&dir)?);
        assert!(clean_up(&config)?, "state wiped");
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec![".lock", ".process-id"]);
        assert!(other.is_dir(), "other applications keep theirs");
        assert!(!clean_up(&config)?, "nothing left to wipe");
        Ok(())
    }

    #[test]
    fn clean_up_is_refused_while_the_directory_is_locked() -> Result<()> {
        let state = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let dir = state.path().join("app");
        std::fs::create_dir_all(dir.join("0_0")).map_err(|e| Error::io(&dir, e))?;
        let held = DirLock::acquire(&dir, Duration::ZERO).map_err(|e| Error::io(&dir, e))?;
        let err = clean_up(&config(state.path())).expect_err("locked");
        assert!(
            matches!(&err, Error::StateDirLocked { application_id, .. } if application_id == "app"),
            "{err}"
        );
        assert!(dir.join("0_0").is_dir(), "nothing wiped");
        drop(held);
        assert!(clean_up(&config(state.path()))?);
        Ok(())
    }
}
