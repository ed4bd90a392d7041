//! A task directory's health: a `.topology` file records which stores the directory holds, so
//! that state left by another topology (or another application) is not read as this one's;
//! such a directory, or one whose stores cannot be opened, is wiped and rebuilt from the
//! changelogs when every store has one.

use std::path::Path;

use tracing::warn;

use crate::state::StoreKind;
use crate::topology::{Subtopology, Topology};
use crate::{Error, Result, TaskId};

const FINGERPRINT_FILE: &str = ".topology";

/// What a task directory of `sub` holds: its application and each store's name and shape.
pub(crate) fn fingerprint(topology: &Topology, sub: &Subtopology, application_id: &str) -> String {
    let mut text = format!("application {application_id}\n");
    for name in &sub.stores {
        let shape = match topology.store(name).map(|b| b.kind()) {
            Some(StoreKind::KeyValue { timestamped: false }) => "key-value",
            Some(StoreKind::KeyValue { timestamped: true }) => "timestamped-key-value",
            Some(StoreKind::Window {
                retain_duplicates: false,
                ..
            }) => "window",
            Some(StoreKind::Window {
                retain_duplicates: true,
                ..
            }) => "window-with-duplicates",
            Some(StoreKind::Session { .. }) => "session",
            Some(StoreKind::Versioned { .. }) => "versioned-key-value",
            None => "unknown",
        };
        // A store restored from its table's input topic holds what that topic says, not what
        // a changelog of its own says: switching between them rebuilds it.
        match topology.source_changelog(name) {
            Some(source) => text.push_str(&format!(
                "store {name} {shape} restored from {}\n",
                source.topic
            )),
            None => text.push_str(&format!("store {name} {shape}\n")),
        }
    }
    text
}

/// Removes everything in `dir` but its lock file.
pub(crate) fn wipe(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        if entry.file_name() == ".lock" {
            continue;
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| Error::io(&path, e))?;
    }
    Ok(())
}

/// Whether `dir` holds anything besides its lock and topology files.
pub(crate) fn has_state(dir: &Path) -> Result<bool> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        if name != ".lock" && name != FINGERPRINT_FILE {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Checks `dir` against `expected`: a directory written for something else is wiped (when
/// `rebuildable`, that is every store has a changelog) or refused. Records `expected`.
pub(crate) fn check(dir: &Path, task: TaskId, expected: &str, rebuildable: bool) -> Result<()> {
    let path = dir.join(FINGERPRINT_FILE);
    // Read as bytes: a marker that is not UTF-8 (a torn or corrupted write) is foreign too.
    match std::fs::read(&path) {
        Ok(found) if found == expected.as_bytes() => return Ok(()),
        Ok(found) => {
            let found = String::from_utf8_lossy(&found);
            if !rebuildable {
                return Err(Error::IllegalState(format!(
                    "state directory {} of task {task} holds other stores ({}) than the topology's ({}), and some have no changelog to rebuild from: remove it or fix the topology",
                    dir.display(),
                    found.trim().replace('\n', "; "),
                    expected.trim().replace('\n', "; ")
                )));
            }
            warn!(
                %task,
                "state directory {} holds other stores ({}) than the topology's ({}): wiping it to rebuild from the changelogs",
                dir.display(),
                found.trim().replace('\n', "; "),
                expected.trim().replace('\n', "; ")
            );
            wipe(dir)?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&path, e)),
    }
    std::fs::write(&path, expected).map_err(|e| Error::io(&path, e))
}

fn is_process_id(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|id| {
        let id = id.trim();
        !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// This instance's process id, kept in `<app_dir>/.process-id` so that a restarted instance
/// is the same member of the [registry](super::registry) (and keeps its standbys).
pub(crate) fn process_id(app_dir: &Path) -> Result<String> {
    let path = app_dir.join(".process-id");
    match std::fs::read(&path) {
        // A damaged id (empty, not UTF-8, not hex) is replaced: the instance joins as new.
        Ok(id) if is_process_id(&id) => {
            return Ok(String::from_utf8_lossy(&id).trim().to_string());
        }
        Ok(_) => warn!("replacing the unreadable process id in {}", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&path, e)),
    }
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    let id = format!("{:016x}", hasher.finish());
    std::fs::write(&path, &id).map_err(|e| Error::io(&path, e))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_foreign_directory_is_wiped_only_when_rebuildable() {
        let dir = tempfile::tempdir().expect("tempdir");
        let task = TaskId::new(0, 0);
        std::fs::write(dir.path().join(".lock"), "").expect("lock");
        check(dir.path(), task, "store a key-value\n", true).expect("fresh");
        std::fs::write(dir.path().join("data"), "a's data").expect("data");
        check(dir.path(), task, "store a key-value\n", true).expect("same");
        assert!(
            dir.path().join("data").exists(),
            "kept for the same topology"
        );

        let err = check(dir.path(), task, "store b session\n", false).expect_err("refused");
        assert!(err.to_string().contains("store a key-value"), "{err}");
        assert!(
            dir.path().join("data").exists(),
            "kept when not rebuildable"
        );

        check(dir.path(), task, "store b session\n", true).expect("wiped");
        assert!(!dir.path().join("data").exists(), "wiped");
        assert!(dir.path().join(".lock").exists(), "the lock stays");
        let recorded = std::fs::read_to_string(dir.path().join(FINGERPRINT_FILE)).expect("read");
        assert_eq!(recorded, "store b session\n");
    }

    #[test]
    fn a_marker_that_is_not_utf8_is_foreign_not_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let task = TaskId::new(0, 0);
        std::fs::write(dir.path().join(FINGERPRINT_FILE), [0xff, 0xfe, 0x00, 0x80])
            .expect("marker");
        std::fs::write(dir.path().join("data"), "old").expect("data");
        check(dir.path(), task, "store a key-value\n", true).expect("wiped and rebuilt");
        assert!(!dir.path().join("data").exists(), "wiped");
        let err = {
            std::fs::write(dir.path().join(FINGERPRINT_FILE), [0xc3, 0x28]).expect("marker");
            check(dir.path(), task, "store a key-value\n", false).expect_err("refused")
        };
        assert!(err.to_string().contains("holds other stores"), "{err}");
    }
}
