//! [`RunningWorker`]: a started application instance with its HTTP server (and, with no
//! `bootstrap.servers`, the embedded broker it runs on).

use std::net::SocketAddr;
#[cfg(feature = "embedded")]
use std::sync::Arc;

use super::cli::{DEFAULT_HTTP_ADDR, HTTP_ADDR, RunArgs};
use super::http::{HttpListener, HttpServer};
use super::{Worker, user_topics};
use crate::runtime::{KafkaStreamsHandle, ShutdownSignal};
use crate::{Error, KafkaStreams, Result};

/// Partitions of the input and output topics created on an embedded broker.
#[cfg(feature = "embedded")]
const EMBEDDED_PARTITIONS: i32 = 4;

/// A running worker: the instance, its HTTP server, and the embedded broker it may run on.
/// [`close`](Self::close) stops them in that order (dropping does too).
pub struct RunningWorker {
    streams: KafkaStreams,
    server: Option<HttpServer>,
    registry: prometheus::Registry,
    #[cfg(feature = "embedded")]
    broker: Option<Arc<crate::embedded::EmbeddedBroker>>,
    bootstrap_servers: String,
}

impl std::fmt::Debug for RunningWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningWorker")
            .field("streams", &self.streams)
            .field("http", &self.http_addr())
            .field("bootstrap_servers", &self.bootstrap_servers)
            .finish()
    }
}

impl RunningWorker {
    pub(super) fn start(worker: &Worker, run: &RunArgs) -> Result<Self> {
        let mut config = worker.config(&run.config)?;
        let http_addr = run
            .http_addr
            .clone()
            .or_else(|| config.get(HTTP_ADDR).map(str::to_string))
            .unwrap_or_else(|| DEFAULT_HTTP_ADDR.to_string());
        // The worker's own settings are not Kafka Streams' or the clients'.
        config.remove(HTTP_ADDR);
        let listener = match http_addr.as_str() {
            "off" | "none" => None,
            addr => Some(HttpListener::bind(addr)?),
        };
        if let Some(listener) = &listener
            && config.get(crate::config::APPLICATION_SERVER).is_none()
            && !listener.local_addr().ip().is_unspecified()
        {
            // Other instances reach this one where it listens.
            config.set(
                crate::config::APPLICATION_SERVER,
                listener.local_addr().to_string(),
            );
        }
        #[cfg(feature = "embedded")]
        let broker = crate::embedded::EmbeddedBroker::start_if_unconfigured(&mut config)?;
        let topology = (worker.topology)(&config)?;
        #[cfg(feature = "embedded")]
        if let Some(broker) = &broker {
            for topic in user_topics(&topology) {
                broker.create_topic(&topic, EMBEDDED_PARTITIONS)?;
            }
        }
        #[cfg(not(feature = "embedded"))]
        let _ = user_topics;
        let bootstrap_servers = config
            .bootstrap_servers()
            .ok_or_else(|| Error::Config {
                key: crate::config::BOOTSTRAP_SERVERS.into(),
                reason: "is required (this build has no embedded broker)".into(),
            })?
            .to_string();
        let mut streams = KafkaStreams::new(topology, &config)?;
        let registry = streams.metrics_registry();
        let server = listener
            .map(|l| l.serve(streams.handle(), worker.stores.clone(), registry.clone()))
            .transpose()?;
        streams.start()?;
        Ok(RunningWorker {
            streams,
            server,
            registry,
            #[cfg(feature = "embedded")]
            broker,
            bootstrap_servers,
        })
    }

    /// Where the HTTP server listens (`None` with `--http-addr off`).
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.server.as_ref().map(HttpServer::local_addr)
    }

    /// The brokers the instance uses (the embedded broker's address when it started one).
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap_servers
    }

    /// The instance.
    pub fn streams(&self) -> &KafkaStreams {
        &self.streams
    }

    /// A thread-safe handle on the instance.
    pub fn handle(&self) -> KafkaStreamsHandle {
        self.streams.handle()
    }

    /// The registry `/metrics` serves.
    pub fn metrics_registry(&self) -> &prometheus::Registry {
        &self.registry
    }

    /// Blocks until SIGTERM or SIGINT (or until the instance stops by itself).
    pub fn wait_for_signal(&mut self) -> Result<()> {
        let signal = ShutdownSignal::install()?;
        signal.wait(&self.streams);
        Ok(())
    }

    /// Closes the instance (commit, checkpoint, leave the group), then stops the HTTP server
    /// and the embedded broker. Returns the error the instance failed with, if it did.
    pub fn close(mut self) -> Result<()> {
        let result = self.streams.close();
        if let Some(server) = self.server.take() {
            server.shutdown();
        }
        #[cfg(feature = "embedded")]
        drop(self.broker.take());
        result
    }
}
