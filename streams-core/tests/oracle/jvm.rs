//! The Java side: `java/kafka-streams-oracle`, built with Maven whenever its pom or a source
//! changes into the cache outside the clone (`$STREAMS_CACHE`, default `~/.cache/streams`,
//! under `kafka-streams-oracle/<hash of pom and sources>`), as `benches/src/kafka/jvm.rs` builds
//! the benchmark's Kafka Streams app, and run once for the whole test: scenarios go in as JSON
//! lines on stdin, answers come back in order on stdout.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::Value;

/// The Maven project, in the clone this test was built from.
const PROJECT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../java/kafka-streams-oracle");
const MAIN_CLASS: &str = "dev.streams.oracle.Oracle";
const JAR: &str = "kafka-streams-oracle.jar";

/// What to tell someone whose machine lacks Java or Maven.
const INSTALL_HINT: &str = "the differential oracle runs Kafka Streams' own TopologyTestDriver and \
needs a JDK (17+) and Maven on the PATH: run `./x java` (installs openjdk-17-jdk-headless and maven \
with apt-get) or install them yourself, then run the test again";

/// A running oracle JVM.
pub(crate) struct Jvm {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Jvm {
    /// Builds the oracle if the cache lacks this version of it, and starts it.
    pub(crate) fn start() -> Result<Jvm, String> {
        for (tool, arg) in [(java(), "-version"), (PathBuf::from("mvn"), "-v")] {
            let ok = Command::new(&tool)
                .arg(arg)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(format!(
                    "`{} {arg}` did not run: {INSTALL_HINT}",
                    tool.display()
                ));
            }
        }
        let dir = build()?;
        let mut child = Command::new(java())
            .args(["-Xmx256m", "-XX:+UseSerialGC"])
            // Kafka's logging is off: the errors a scenario provokes on purpose (a suppression
            // buffer that shuts down when full) come back in the answers, and a JVM that dies
            // still prints its exception to stderr.
            .arg("-Dorg.slf4j.simpleLogger.defaultLogLevel=off")
            .arg("-cp")
            .arg(format!(
                "{}:{}/*",
                dir.join(JAR).display(),
                dir.join("lib").display()
            ))
            .arg(MAIN_CLASS)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the oracle JVM: {e} ({INSTALL_HINT})"))?;
        let stdin = child.stdin.take();
        let stdout = child
            .stdout
            .take()
            .map(BufReader::new)
            .ok_or("the oracle JVM has no stdout")?;
        Ok(Jvm {
            child,
            stdin,
            stdout,
        })
    }

    /// Sends every request (from a thread, so that the JVM's answers never back up while we
    /// write), then runs `meanwhile` (the Rust side of the same scenarios) and returns its
    /// result with the JVM's answers, in request order.
    pub(crate) fn batch<T>(
        &mut self,
        requests: Vec<String>,
        meanwhile: impl FnOnce() -> T,
    ) -> Result<(T, Vec<Value>), String> {
        let count = requests.len();
        let mut stdin = self.stdin.take().ok_or("the oracle JVM's stdin is gone")?;
        let writer = std::thread::spawn(move || -> std::io::Result<ChildStdin> {
            for line in requests {
                stdin.write_all(line.as_bytes())?;
                stdin.write_all(b"\n")?;
            }
            stdin.flush()?;
            Ok(stdin)
        });
        let ours = meanwhile();
        let mut answers = Vec::with_capacity(count);
        for _ in 0..count {
            answers.push(self.read()?);
        }
        let stdin = writer
            .join()
            .map_err(|_| "the oracle's writer thread panicked".to_string())?
            .map_err(|e| format!("writing to the oracle JVM: {e}"))?;
        self.stdin = Some(stdin);
        Ok((ours, answers))
    }

    /// One request, one answer (for shrinking).
    pub(crate) fn ask(&mut self, request: &str) -> Result<Value, String> {
        let stdin = self
            .stdin
            .as_mut()
            .ok_or("the oracle JVM's stdin is gone")?;
        stdin
            .write_all(request.as_bytes())
            .and_then(|()| stdin.write_all(b"\n"))
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("writing to the oracle JVM: {e}"))?;
        self.read()
    }

    fn read(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        let n = self
            .stdout
            .read_line(&mut line)
            .map_err(|e| format!("reading from the oracle JVM: {e}"))?;
        if n == 0 {
            return Err("the oracle JVM exited early (its stderr is above)".into());
        }
        serde_json::from_str(&line).map_err(|e| format!("the oracle JVM answered `{line}`: {e}"))
    }
}

impl Drop for Jvm {
    fn drop(&mut self) {
        // Closing stdin ends the JVM's loop; it deletes its state directories and exits.
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

/// The oracle built from the current sources, building it first if the cache lacks it.
fn build() -> Result<PathBuf, String> {
    let project = Path::new(PROJECT);
    let hash = source_hash(project).map_err(|e| format!("reading {PROJECT}: {e}"))?;
    let root = cache_root().join("kafka-streams-oracle");
    let dir = root.join(format!("{hash:016x}"));
    if dir.join(JAR).is_file() {
        return Ok(dir);
    }
    eprintln!(
        "[oracle] building the Kafka Streams oracle into {}",
        dir.display()
    );
    std::fs::create_dir_all(&root).map_err(|e| format!("creating {}: {e}", root.display()))?;
    let scratch = root.join(format!("build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let output = Command::new("mvn")
        .args(["-q", "-B", "-Dstyle.color=never", "-f"])
        .arg(project.join("pom.xml"))
        .arg(format!("-Doracle.build.dir={}", scratch.display()))
        .arg("package")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running mvn: {e} ({INSTALL_HINT})"))?;
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&scratch);
        return Err(format!(
            "mvn package of {PROJECT} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    if std::fs::rename(&scratch, &dir).is_err() {
        // Another build won the race: keep its copy.
        let _ = std::fs::remove_dir_all(&scratch);
    }
    Ok(dir)
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
fn source_hash(project: &Path) -> std::io::Result<u64> {
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
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut write = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for file in files {
        let relative = file.strip_prefix(project).unwrap_or(&file);
        write(relative.to_string_lossy().as_bytes());
        write(&[0]);
        write(&std::fs::read(&file)?);
        write(&[0]);
    }
    Ok(hash)
}
