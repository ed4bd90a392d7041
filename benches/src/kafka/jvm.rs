//! The Kafka Streams app (`java/kafka-streams-bench`): built with Maven whenever its pom or a
//! source changes, into the cache outside the clone (`$STREAMS_CACHE`, default
//! `~/.cache/streams`, under `kafka-streams-bench/<hash of pom and sources>`), and started as
//! a user would start it: `java <--jvm-opts> -cp <jar>:<deps> dev.streams.bench.KafkaStreamsBench`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::BoxError;

/// The Maven project, in the clone this binary was built from.
const PROJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../java/kafka-streams-bench");
const MAIN_CLASS: &str = "dev.streams.bench.KafkaStreamsBench";

/// A built Kafka Streams app.
#[derive(Debug, Clone)]
pub(crate) struct KafkaStreamsApp {
    dir: PathBuf,
}

impl KafkaStreamsApp {
    /// The app built from the current sources, building it first if the cache lacks it.
    pub(crate) fn build() -> Result<Self, BoxError> {
        let project = Path::new(PROJECT);
        let hash = source_hash(project)?;
        let root = cache_root().join("kafka-streams-bench");
        let dir = root.join(format!("{hash:016x}"));
        if dir.join("kafka-streams-bench.jar").is_file() {
            return Ok(KafkaStreamsApp { dir });
        }
        eprintln!(
            "[bench] building the Kafka Streams app into {}",
            dir.display()
        );
        std::fs::create_dir_all(&root)?;
        let scratch = root.join(format!("build-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&scratch);
        let output = Command::new("mvn")
            .args(["-q", "-B", "-Dstyle.color=never", "-f"])
            .arg(project.join("pom.xml"))
            .arg(format!("-Dbench.build.dir={}", scratch.display()))
            .arg("package")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                format!("running mvn (needed once to build the Kafka Streams app): {e}")
            })?;
        if !output.status.success() {
            let _ = std::fs::remove_dir_all(&scratch);
            return Err(format!(
                "mvn package of {PROJECT} failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
            .into());
        }
        if std::fs::rename(&scratch, &dir).is_err() {
            // Another build won the race: keep its copy.
            let _ = std::fs::remove_dir_all(&scratch);
        }
        Ok(KafkaStreamsApp { dir })
    }

    /// `java <jvm options> -cp … KafkaStreamsBench`; the app's arguments follow.
    pub(crate) fn command(&self, jvm_opts: &str) -> Command {
        let mut command = Command::new(java());
        command
            .args(jvm_opts.split_whitespace())
            .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=warn")
            .arg("-cp")
            .arg(format!(
                "{}:{}/*",
                self.dir.join("kafka-streams-bench.jar").display(),
                self.dir.join("lib").display()
            ))
            .arg(MAIN_CLASS);
        command
    }
}

/// `$JAVA`, else `$JAVA_HOME/bin/java`, else `java` on the path (as `kafka.sh` picks it).
fn java() -> PathBuf {
    if let Some(java) = std::env::var_os("JAVA") {
        return PathBuf::from(java);
    }
    if let Some(home) = std::env::var_os("JAVA_HOME") {
        let java = Path::new(&home).join("bin/java");
        if java.is_file() {
            return java;
        }
    }
    PathBuf::from("java")
}

/// `$STREAMS_CACHE`, else `~/.cache/streams` (as `./x` and `kafka.sh` use).
fn cache_root() -> PathBuf {
    if let Some(cache) = std::env::var_os("STREAMS_CACHE") {
        return PathBuf::from(cache);
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(".cache/streams")
}

/// FNV-1a over the pom and every file under `src/`, with their relative paths, in path order:
/// stable across Rust releases (unlike `DefaultHasher`), which a cache key must be.
fn source_hash(project: &Path) -> Result<u64, BoxError> {
    let mut files = vec![project.join("pom.xml")];
    let mut dirs = vec![project.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    let mut hash = Fnv1a::default();
    for file in files {
        let relative = file.strip_prefix(project).unwrap_or(&file);
        hash.write(relative.to_string_lossy().as_bytes());
        hash.write(&[0]);
        hash.write(&std::fs::read(&file)?);
        hash.write(&[0]);
    }
    Ok(hash.0)
}

/// The 64-bit FNV-1a hash.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Fnv1a(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_reference_values() {
        let hash = |s: &str| {
            let mut h = Fnv1a::default();
            h.write(s.as_bytes());
            h.0
        };
        assert_eq!(hash(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(hash("a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(hash("foobar"), 0x8594_4171_f739_67e8);
    }
}
