//! Kafka's naming rules, applied to what becomes a topic name or a directory: topics,
//! application ids and store names (internal topics are `<application.id>-<store>-changelog`
//! and `<application.id>-<name>-repartition`, and stores live in directories named after them).
//!
//! A legal name is 1 to 249 ASCII letters, digits, `.`, `_` or `-`, and not `.` or `..`
//! (Kafka's `Topic.validate`). Such a name is a single path component that cannot leave its
//! parent directory.

use std::path::{Component, Path, PathBuf};

use crate::{Error, Result};

/// Kafka's longest topic name.
pub(crate) const MAX_NAME_LENGTH: usize = 249;

/// Why `name` is not a legal topic name, if it is not.
pub(crate) fn topic_name_problem(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("it is empty".into());
    }
    if name == "." || name == ".." {
        return Some("`.` and `..` are not allowed".into());
    }
    if name.len() > MAX_NAME_LENGTH {
        return Some(format!(
            "it is {} characters long, more than Kafka's {MAX_NAME_LENGTH}",
            name.len()
        ));
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "{bad:?} is not allowed (only ASCII letters, digits, '.', '_' and '-')"
        ));
    }
    None
}

/// Checks a topic name used by node `node` (`what`: "source topic", "sink topic", ...).
pub(crate) fn check_topic(what: &str, node: &str, name: &str) -> Result<()> {
    match topic_name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidName {
            what: what.to_string(),
            name: name.to_string(),
            node: node.to_string(),
            reason,
        }),
    }
}

/// Checks a store name: it names a directory and is part of its changelog topic's name.
pub(crate) fn check_store(name: &str) -> Result<()> {
    match topic_name_problem(name) {
        None => Ok(()),
        Some(reason) => Err(Error::InvalidName {
            what: "store name".into(),
            name: name.to_string(),
            node: name.to_string(),
            reason,
        }),
    }
}

/// `base/name`, proven to stay inside `base`: `name` must be exactly one normal path
/// component (no separators, no `.` or `..`, not absolute).
pub(crate) fn child_dir(base: &Path, name: &str) -> std::io::Result<PathBuf> {
    let mut components = Path::new(name).components();
    match (components.next(), components.next()) {
        (Some(Component::Normal(part)), None) if part == std::ffi::OsStr::new(name) => {
            Ok(base.join(part))
        }
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("`{name}` would leave the directory {}", base.display()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kafka_topic_rules() {
        for good in ["a", "orders", "app-store_1.v2", &"x".repeat(249)] {
            assert_eq!(topic_name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "with space",
            "a/b",
            "../../x",
            "/abs",
            "ümlaut",
            "tab\t",
            &"x".repeat(250),
        ] {
            assert!(topic_name_problem(bad).is_some(), "{bad:?} accepted");
        }
    }

    #[test]
    fn child_dirs_stay_inside() {
        let base = Path::new("/state/app");
        assert_eq!(
            child_dir(base, "store").expect("plain"),
            Path::new("/state/app/store")
        );
        for bad in ["", ".", "..", "../x", "a/b", "/etc", "a/.."] {
            assert!(child_dir(base, bad).is_err(), "{bad:?} accepted");
        }
    }
}
