//! The checkpoint file: the changelog offsets that a task's stores are known to reflect.
//!
//! The format is Kafka Streams' `OffsetCheckpoint`: a version line (`0`), a count line, then one
//! `topic partition offset` line per changelog partition. The offset is that of the last
//! changelog record the stores hold; restoration resumes just after it. The file is written to a
//! temporary name, synced and renamed, so a crash leaves either the old file or the new one.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// Changelog offsets by `(topic, partition)`.
pub type ChangelogOffsets = BTreeMap<(String, i32), i64>;

const VERSION: &str = "0";

/// A checkpoint file at a fixed path.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    path: PathBuf,
}

impl Checkpoint {
    /// The checkpoint file at `path` (it need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Checkpoint { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The offsets in the file; empty if there is no file.
    pub fn read(&self) -> Result<ChangelogOffsets> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ChangelogOffsets::new());
            }
            Err(e) => return Err(Error::io(&self.path, e)),
        };
        let text =
            std::str::from_utf8(&bytes).map_err(|e| self.corrupt(format!("not UTF-8: {e}")))?;
        self.parse(text)
    }

    /// Parses checkpoint text as [`Checkpoint::read`] does (for random-input tests).
    #[doc(hidden)]
    pub fn parse_bytes(bytes: &[u8]) -> Result<ChangelogOffsets> {
        let checkpoint = Checkpoint::new("<bytes>");
        let text = std::str::from_utf8(bytes)
            .map_err(|e| checkpoint.corrupt(format!("not UTF-8: {e}")))?;
        checkpoint.parse(text)
    }

    fn corrupt(&self, reason: impl Into<String>) -> Error {
        Error::CorruptCheckpoint {
            path: self.path.clone(),
            reason: reason.into(),
        }
    }

    fn parse(&self, text: &str) -> Result<ChangelogOffsets> {
        let mut lines = text.lines();
        match lines.next() {
            Some(VERSION) => {}
            other => return Err(self.corrupt(format!("unknown version line {other:?}"))),
        }
        let count: usize = lines
            .next()
            .and_then(|line| line.trim().parse().ok())
            .ok_or_else(|| self.corrupt("missing or bad entry count"))?;
        let mut offsets = ChangelogOffsets::new();
        for (index, line) in lines.enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [topic, partition, offset] = fields[..] else {
                return Err(self.corrupt(format!(
                    "line {}: expected `topic partition offset`",
                    index + 3
                )));
            };
            let partition = partition.parse().map_err(|_| {
                self.corrupt(format!("line {}: bad partition {partition:?}", index + 3))
            })?;
            let offset = offset
                .parse()
                .map_err(|_| self.corrupt(format!("line {}: bad offset {offset:?}", index + 3)))?;
            offsets.insert((topic.to_string(), partition), offset);
        }
        if offsets.len() != count {
            return Err(self.corrupt(format!(
                "header says {count} entries, found {}",
                offsets.len()
            )));
        }
        Ok(offsets)
    }

    /// Replaces the file's contents with `offsets`, atomically.
    pub fn write(&self, offsets: &ChangelogOffsets) -> Result<()> {
        let text = render(offsets);
        let tmp = self.path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut file = File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| Error::io(&self.path, e))
    }

    /// Removes the file, if any.
    pub fn delete(&self) -> Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&self.path, e)),
            _ => Ok(()),
        }
    }
}

/// The file's text for `offsets`: what [`Checkpoint::write`] writes and `parse` reads back.
pub(crate) fn render(offsets: &ChangelogOffsets) -> String {
    let mut text = format!("{VERSION}\n{}\n", offsets.len());
    for ((topic, partition), offset) in offsets {
        text.push_str(&format!("{topic} {partition} {offset}\n"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_reads_missing_as_empty() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let checkpoint = Checkpoint::new(dir.path().join(".checkpoint"));
        assert!(checkpoint.read()?.is_empty());
        let mut offsets = ChangelogOffsets::new();
        offsets.insert(("app-counts-changelog".to_string(), 3), 41);
        offsets.insert(("app-other-changelog".to_string(), 0), 7);
        checkpoint.write(&offsets)?;
        assert_eq!(checkpoint.read()?, offsets);
        let text = fs::read_to_string(checkpoint.path()).map_err(|e| Error::io("read", e))?;
        assert_eq!(
            text,
            "0\n2\napp-counts-changelog 3 41\napp-other-changelog 0 7\n"
        );
        checkpoint.delete()?;
        assert!(checkpoint.read()?.is_empty());
        Ok(())
    }

    #[test]
    fn rejects_corrupt_files() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let checkpoint = Checkpoint::new(dir.path().join(".checkpoint"));
        for bad in [
            "",
            "1\n0\n",
            "0\n2\nt 0 1\n",
            "0\n1\nt x 1\n",
            "0\n1\nt 0\n",
        ] {
            fs::write(checkpoint.path(), bad).map_err(|e| Error::io("write", e))?;
            assert!(
                matches!(checkpoint.read(), Err(Error::CorruptCheckpoint { .. })),
                "accepted {bad:?}"
            );
        }
        Ok(())
    }
}
