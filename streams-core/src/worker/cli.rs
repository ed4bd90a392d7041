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
    /// Resets the application for reprocessing (input offsets, internal topics, local state).
    Reset(ConfigArgs),
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
