//! The worker's HTTP server: metrics, health probes, topology, instances, tasks and interactive
//! queries of the registered stores, answered for any key by any instance (keys owned by
//! another instance are fetched from it).
//!
//! It runs on a small tokio runtime of its own, beside the stream threads: handlers read stores
//! through the instance's thread-safe query handles (on tokio's blocking pool), never through
//! the record loop.
//!
//! | Route | Answer |
//! |-------|--------|
//! | `GET /health/live` | 200 unless the instance failed (state `ERROR`) |
//! | `GET /health/ready` | 200 when `RUNNING`; 503 while starting, rebalancing or restoring |
//! | `GET /metrics` | the instance's metrics, Prometheus text format |
//! | `GET /topology?format=text\|mermaid\|dot` | the topology's description |
//! | `GET /instances` | the application's instances and their tasks |
//! | `GET /tasks` | local active and standby tasks, restoration progress and lags |
//! | `GET /stores` | the queryable stores |
//! | `GET /stores/{store}/keys/{key}` | the key's value (a versioned store's latest, with its timestamp) |
//! | `GET /stores/{store}/keys/{key}?as_of=<ms>` | a versioned store's value as of that time, with its validity (400 on other stores) |
//! | `GET /stores/{store}/keys/{key}/windows?from=&to=` | the key's windows (window stores) |
//! | `GET /stores/{store}/keys/{key}/sessions` | the key's sessions (session stores) |
//! | `GET /stores/{store}/range?from=&to=&limit=&after=` | a page of keys in a range |
//! | `GET /stores/{store}/all?limit=&after=` | a page of all keys |
//!
//! Store queries take `stale=true` to let standby copies answer (possibly behind), and answer
//! 503 with `Retry-After` while the instance rebalances or the key's owner is unknown.

mod error;
mod forward;
mod queries;
mod routes;
mod stores;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::sync::oneshot;

pub use stores::{HttpKey, HttpValue, QueryableStores};
/// The store routes' parsing of their parameters, for `crate::fuzzing`.
#[cfg(feature = "fuzzing")]
pub(crate) use {
    queries::{Params, from_hex, to_hex},
    stores::parse_key,
};

use crate::runtime::{HostInfo, KafkaStreamsHandle};
use crate::{Error, Result};

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) streams: KafkaStreamsHandle,
    pub(crate) stores: Arc<QueryableStores>,
    pub(crate) registry: prometheus::Registry,
    pub(crate) client: reqwest::Client,
    /// This instance's `application.server` (keys it owns are answered here).
    pub(crate) host: Option<HostInfo>,
}

fn server_err(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Server {
        what,
        source: Box::new(source),
    }
}

/// A bound, not yet serving, HTTP listener: bind first to learn the port (with port 0), so that
/// `application.server` can name it before the instance starts.
#[derive(Debug)]
pub struct HttpListener {
    runtime: tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    addr: SocketAddr,
}

impl HttpListener {
    /// Binds `addr` (`host:port`; port 0 picks a free one).
    pub fn bind(addr: &str) -> Result<Self> {
        let listener = std::net::TcpListener::bind(addr)
            .map_err(server_err(format!("cannot listen on {addr}")))?;
        listener.set_nonblocking(true).map_err(server_err(format!(
            "cannot configure the listener on {addr}"
        )))?;
        let addr = listener
            .local_addr()
            .map_err(server_err(format!("no local address for {addr}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("streams-http")
            .enable_all()
            .build()
            .map_err(server_err("cannot start the HTTP runtime".into()))?;
        Ok(HttpListener {
            runtime,
            listener,
            addr,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves `streams` (its state, metrics in `registry`, and `stores`) until the returned
    /// server is shut down or dropped.
    pub fn serve(
        self,
        streams: KafkaStreamsHandle,
        stores: QueryableStores,
        registry: prometheus::Registry,
    ) -> Result<HttpServer> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Server {
                what: "cannot build the HTTP client that forwards queries".into(),
                source: Box::new(e),
            })?;
        let state = AppState {
            host: streams.application_server().cloned(),
            streams,
            stores: Arc::new(stores),
            registry,
            client,
        };
        let app = router(state);
        let (stop, stopped) = oneshot::channel::<()>();
        let addr = self.addr;
        let listener = {
            let _guard = self.runtime.enter();
            tokio::net::TcpListener::from_std(self.listener)
                .map_err(server_err(format!("cannot serve on {addr}")))?
        };
        let task = self.runtime.spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!("HTTP server on {addr} stopped: {e}");
            }
        });
        tracing::info!("HTTP server listening on http://{addr}");
        Ok(HttpServer {
            runtime: Some(self.runtime),
            stop: Some(stop),
            task: Some(task),
            addr,
        })
    }
}

/// A running HTTP server; [`shutdown`](Self::shutdown) (or dropping it) stops it.
#[derive(Debug)]
pub struct HttpServer {
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    addr: SocketAddr,
}

impl HttpServer {
    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops accepting requests, lets those in flight finish (up to a few seconds), and stops.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if tokio::runtime::Handle::try_current().is_ok() {
            // Dropped inside an async context, where blocking on the runtime would panic.
            if let Some(runtime) = self.runtime.take() {
                runtime.shutdown_background();
            }
            return;
        }
        if let (Some(runtime), Some(task)) = (self.runtime.take(), self.task.take()) {
            let _ = runtime.block_on(async {
                tokio::time::timeout(std::time::Duration::from_secs(5), task).await
            });
            runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop_now();
    }
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(routes::index))
        .route("/health/live", get(routes::live))
        .route("/health/ready", get(routes::ready))
        .route("/metrics", get(routes::metrics))
        .route("/topology", get(routes::topology))
        .route("/instances", get(routes::instances))
        .route("/tasks", get(routes::tasks))
        .route("/stores", get(routes::stores))
        .route("/stores/{store}/keys/{key}", get(queries::get_key))
        .route("/stores/{store}/keys/{key}/windows", get(queries::windows))
        .route(
            "/stores/{store}/keys/{key}/sessions",
            get(queries::sessions),
        )
        .route("/stores/{store}/range", get(queries::range))
        .route("/stores/{store}/all", get(queries::all))
        .fallback(routes::not_found)
        .with_state(state)
}
