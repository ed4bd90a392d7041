//! The worker's command line and how its configuration is layered: a properties file, then
//! environment variables, then flags (each overriding the one before), all in Kafka Streams'
//! property names.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{Error, Result, StreamsConfig};

/// Environment variables that name properties start with this: `STREAMS_BOOTSTRAP_SERVERS`
/// sets `bootstrap.servers` (lower case, `_` for `.`).
pub(crate) const ENV_PREFIX: &str = "STREAMS_";

/// `STREAMS_*` variables that are not properties.
const NOT_PROPERTIES: &[&str] = &["STREAMS_CONFIG_FILE", "STREAMS_CACHE"];

/// The worker's own properties (not passed to Kafka Streams or the clients).
pub(crate) const HTTP_ADDR: &str = "worker.http.addr";

/// The default HTTP address: loopback only, as a probe and query port should be until the
/// operator opens it.
pub(crate) const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:8080";

#[derive(Debug, Parser)]
#[command(version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Runs the application: joins its consumer group, processes, serves HTTP until SIGTERM or
    /// SIGINT, then closes cleanly.
    Run(RunArgs),
    /// Prints the topology (text, Mermaid or Graphviz DOT) without connecting to anything.
    Describe(DescribeArgs),
    /// Resets the application for reprocessing, as Kafka's kafka-streams-application-reset:
    /// moves the group's input offsets (to the earliest by default), deletes the internal
    /// topics and wipes this machine's local state; refused while an instance runs.
    Reset(ResetArgs),
}

/// Configuration shared by every subcommand.
#[derive(Debug, Args, Default, Clone)]
pub(crate) struct ConfigArgs {
    /// A Java properties file of Kafka Streams (and librdkafka) properties
    /// [env: STREAMS_CONFIG_FILE].
    #[arg(
        long = "config",
        short = 'c',
        value_name = "FILE",
        env = "STREAMS_CONFIG_FILE"
    )]
    pub(crate) config_file: Option<PathBuf>,
    /// `application.id`: the consumer group, and the prefix of internal topics.
    #[arg(long, value_name = "ID")]
    pub(crate) application_id: Option<String>,
    /// `bootstrap.servers`; without it the worker starts an embedded broker.
    #[arg(long, value_name = "HOSTS")]
    pub(crate) bootstrap_servers: Option<String>,
    /// `state.dir`: where stores keep their data.
    #[arg(long, value_name = "DIR")]
    pub(crate) state_dir: Option<PathBuf>,
    /// `num.stream.threads`.
    #[arg(long, value_name = "N")]
    pub(crate) num_stream_threads: Option<usize>,
    /// `application.server`: the host:port other instances reach this one's HTTP server at
    /// (default: the HTTP address, when it is not a wildcard).
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) application_server: Option<String>,
    /// Any property, as KEY=VALUE (repeatable).
    #[arg(long = "set", short = 'D', value_name = "KEY=VALUE")]
    pub(crate) set: Vec<String>,
}

#[derive(Debug, Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Where the HTTP server listens (`off` for none) [property: worker.http.addr]
    /// [default: 127.0.0.1:8080].
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) http_addr: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default)]
pub(crate) enum Format {
    /// Kafka Streams' `TopologyDescription` text.
    #[default]
    Text,
    /// A Mermaid flowchart.
    Mermaid,
    /// A Graphviz digraph.
    Dot,
}

#[derive(Debug, Args)]
pub(crate) struct DescribeArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) format: Format,
}

#[derive(Debug, Args)]
pub(crate) struct ResetArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
    /// Input topics whose offsets are reset, comma-separated [default: the topology's source
    /// topics].
    #[arg(long, value_delimiter = ',', value_name = "TOPICS")]
    pub(crate) input_topics: Option<Vec<String>>,
    /// Intermediate topics (written and read back by the application), comma-separated: their
    /// offsets go to the end.
    #[arg(long, value_delimiter = ',', value_name = "TOPICS")]
    pub(crate) intermediate_topics: Vec<String>,
    /// Internal topics to delete, comma-separated: a subset of those found [default: every
    /// internal topic of the application].
    #[arg(long, value_delimiter = ',', value_name = "TOPICS")]
    pub(crate) internal_topics: Option<Vec<String>>,
    #[command(flatten)]
    pub(crate) target: ResetTarget,
    /// Prints what the reset would do, and changes nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Leaves this machine's state directory alone.
    #[arg(long)]
    pub(crate) keep_local_state: bool,
}

/// Where the input offsets go: at most one of these (`--to-earliest` when none).
#[derive(Debug, Args, Default)]
#[group(multiple = false)]
pub(crate) struct ResetTarget {
    /// To the earliest offset (the default).
    #[arg(long)]
    pub(crate) to_earliest: bool,
    /// To the end: only records written after the reset are processed.
    #[arg(long)]
    pub(crate) to_latest: bool,
    /// To the first record at or after a time, YYYY-MM-DDTHH:mm:SS.sss (UTC unless a zone
    /// follows: Z, +hh:mm).
    #[arg(long, value_name = "DATETIME")]
    pub(crate) to_datetime: Option<String>,
    /// To the first record at or after this long before now, ISO-8601: PnDTnHnMnS (P1D, PT6H).
    #[arg(long, value_name = "DURATION")]
    pub(crate) by_duration: Option<String>,
    /// To this offset in every partition (kept within each partition's offsets).
    #[arg(long, value_name = "OFFSET")]
    pub(crate) to_offset: Option<i64>,
    /// To the offsets of a file of TOPIC,PARTITION,OFFSET lines, one for every input
    /// partition.
    #[arg(long, value_name = "FILE")]
    pub(crate) from_file: Option<PathBuf>,
    /// The committed offsets moved by N records (back when negative).
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub(crate) shift_by: Option<i64>,
}

impl ResetTarget {
    /// The reset these flags ask for.
    pub(crate) fn reset_to(&self) -> Result<crate::reset::ResetTo> {
        use crate::reset::{ResetTo, parse_datetime, parse_duration, parse_offsets_csv};
        Ok(if self.to_latest {
            ResetTo::Latest
        } else if let Some(datetime) = &self.to_datetime {
            ResetTo::Datetime(parse_datetime(datetime)?)
        } else if let Some(duration) = &self.by_duration {
            ResetTo::Duration(parse_duration(duration)?)
        } else if let Some(offset) = self.to_offset {
            ResetTo::Offset(offset)
        } else if let Some(path) = &self.from_file {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            ResetTo::Offsets(parse_offsets_csv(&text)?)
        } else if let Some(shift) = self.shift_by {
            ResetTo::ShiftBy(shift)
        } else {
            ResetTo::Earliest
        })
    }
}

/// The configuration: `base` (or an empty one), then `defaults` for what is unset, then the
/// properties file, then `env` (`STREAMS_*`), then the flags.
pub(crate) fn layered_config(
    base: Option<StreamsConfig>,
    args: &ConfigArgs,
    defaults: &[(String, String)],
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<StreamsConfig> {
    let mut config = base.unwrap_or_default();
    for (key, value) in defaults {
        if config.get(key).is_none() {
            config.set(key, value);
        }
    }
    if let Some(path) = &args.config_file {
        for (key, value) in StreamsConfig::from_properties_file(path)?.properties() {
            config.set(key, value);
        }
    }
    config.set_from_vars(
        ENV_PREFIX,
        env.into_iter()
            .filter(|(name, _)| !NOT_PROPERTIES.contains(&name.as_str())),
    );
    let flags = [
        (crate::config::APPLICATION_ID, args.application_id.clone()),
        (
            crate::config::BOOTSTRAP_SERVERS,
            args.bootstrap_servers.clone(),
        ),
        (
            crate::config::STATE_DIR,
            args.state_dir.as_ref().map(|d| d.display().to_string()),
        ),
        (
            crate::config::NUM_STREAM_THREADS,
            args.num_stream_threads.map(|n| n.to_string()),
        ),
        (
            crate::config::APPLICATION_SERVER,
            args.application_server.clone(),
        ),
    ];
    for (key, value) in flags {
        if let Some(value) = value {
            config.set(key, value);
        }
    }
    for pair in &args.set {
        let (key, value) = pair.split_once('=').ok_or_else(|| Error::Config {
            key: pair.clone(),
            reason: "`--set` takes KEY=VALUE".into(),
        })?;
        config.set(key.trim(), value.trim());
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reset_args(args: &[&str]) -> std::result::Result<ResetArgs, clap::Error> {
        let cli = Cli::try_parse_from(["worker", "reset"].iter().chain(args))?;
        match cli.command {
            Command::Reset(reset) => Ok(reset),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn reset_flags_are_kafkas() -> Result<()> {
        use crate::reset::ResetTo;
        use std::time::{Duration, UNIX_EPOCH};
        let parsed = |args: &[&str]| -> Result<(ResetArgs, ResetTo)> {
            let args = reset_args(args).map_err(|e| Error::Config {
                key: "command line".into(),
                reason: e.to_string(),
            })?;
            let to = args.target.reset_to()?;
            Ok((args, to))
        };
        let (args, to) = parsed(&[])?;
        assert_eq!(to, ResetTo::Earliest);
        assert_eq!(args.input_topics, None, "the topology's by default");
        assert!(!args.dry_run && !args.keep_local_state);

        let (args, to) = parsed(&[
            "--input-topics",
            "a,b",
            "--intermediate-topics",
            "c",
            "--internal-topics",
            "app-s-changelog",
            "--to-latest",
            "--dry-run",
            "--bootstrap-servers",
            "kafka:9092",
        ])?;
        assert_eq!(to, ResetTo::Latest);
        assert_eq!(args.input_topics, Some(vec!["a".into(), "b".into()]));
        assert_eq!(args.intermediate_topics, vec!["c".to_string()]);
        assert_eq!(args.internal_topics, Some(vec!["app-s-changelog".into()]));
        assert!(args.dry_run);
        assert_eq!(args.config.bootstrap_servers.as_deref(), Some("kafka:9092"));

        let (_, to) = parsed(&["--to-datetime", "2024-03-01T12:00:00.000"])?;
        assert_eq!(
            to,
            ResetTo::Datetime(UNIX_EPOCH + Duration::from_millis(1_709_294_400_000))
        );
        let (_, to) = parsed(&["--by-duration", "PT6H"])?;
        assert_eq!(to, ResetTo::Duration(Duration::from_secs(6 * 3600)));
        let (_, to) = parsed(&["--to-offset", "42"])?;
        assert_eq!(to, ResetTo::Offset(42));
        let (_, to) = parsed(&["--shift-by", "-5"])?;
        assert_eq!(to, ResetTo::ShiftBy(-5));

        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let plan = dir.path().join("plan.csv");
        std::fs::write(&plan, "a,0,3\na,1,4\n").map_err(|e| Error::io(&plan, e))?;
        let (_, to) = parsed(&["--from-file", &plan.display().to_string()])?;
        assert_eq!(
            to,
            ResetTo::Offsets(
                [(("a".to_string(), 0), 3), (("a".to_string(), 1), 4)]
                    .into_iter()
                    .collect()
            )
        );

        assert!(
            reset_args(&["--to-earliest", "--to-latest"]).is_err(),
            "one target at most"
        );
        assert!(reset_args(&["--to-offset", "1", "--by-duration", "PT1H"]).is_err());
        assert!(
            parsed(&["--by-duration", "6h"])
                .is_err_and(|e| e.to_string().contains("--by-duration"))
        );
        assert!(parsed(&["--to-datetime", "2024-02-30T00:00:00"]).is_err());
        assert!(parsed(&["--from-file", "/nonexistent/plan.csv"]).is_err());
        Ok(())
    }

    #[test]
    fn flags_override_environment_override_file_override_defaults() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", e))?;
        let file = dir.path().join("app.properties");
        std::fs::write(
            &file,
            "application.id=from-file\nnum.stream.threads=3\ncommit.interval.ms=500\n",
        )
        .map_err(|e| Error::io(&file, e))?;
        let args = ConfigArgs {
            config_file: Some(file),
            application_id: Some("from-flag".into()),
            set: vec!["linger.ms = 7".into()],
            ..ConfigArgs::default()
        };
        let defaults = vec![
            ("application.id".to_string(), "default".to_string()),
            (
                "processing.guarantee".to_string(),
                "at_least_once".to_string(),
            ),
        ];
        let env = vec![
            ("STREAMS_NUM_STREAM_THREADS".to_string(), "2".to_string()),
            ("STREAMS_APPLICATION_ID".to_string(), "from-env".to_string()),
            ("PATH".to_string(), "/bin".to_string()),
            (
                "STREAMS_CACHE".to_string(),
                "/tmp/not-a-property".to_string(),
            ),
            (
                "STREAMS_WORKER_HTTP_ADDR".to_string(),
                "127.0.0.1:0".to_string(),
            ),
        ];
        let config = layered_config(None, &args, &defaults, env)?;
        assert_eq!(config.get("application.id"), Some("from-flag"));
        assert_eq!(config.get("num.stream.threads"), Some("2"));
        assert_eq!(config.get("commit.interval.ms"), Some("500"));
        assert_eq!(config.get("processing.guarantee"), Some("at_least_once"));
        assert_eq!(config.get("linger.ms"), Some("7"));
        assert_eq!(config.get(HTTP_ADDR), Some("127.0.0.1:0"));
        assert_eq!(config.get("cache"), None);
        assert!(
            layered_config(
                None,
                &ConfigArgs {
                    set: vec!["nokey".into()],
                    ..ConfigArgs::default()
                },
                &[],
                Vec::new()
            )
            .is_err()
        );
        Ok(())
    }
}
