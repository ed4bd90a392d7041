//! Routes about the instance: health probes, metrics, topology, instances, tasks.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::error::ApiError;
use crate::runtime::State as StreamsState;

/// The instance's state as Kafka Streams spells it.
pub(crate) fn state_name(state: StreamsState) -> &'static str {
    match state {
        StreamsState::Created => "CREATED",
        StreamsState::Rebalancing => "REBALANCING",
        StreamsState::Running => "RUNNING",
        StreamsState::PendingShutdown => "PENDING_SHUTDOWN",
        StreamsState::NotRunning => "NOT_RUNNING",
        StreamsState::Error => "ERROR",
    }
}

pub(crate) async fn index(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({
        "application_server": app.host.as_ref().map(ToString::to_string),
        "state": state_name(app.streams.state()),
        "endpoints": [
            "/health/live", "/health/ready", "/metrics", "/topology", "/instances", "/tasks",
            "/stores", "/stores/{store}/keys/{key}", "/stores/{store}/keys/{key}?as_of={ms}",
            "/stores/{store}/keys/{key}/windows",
            "/stores/{store}/keys/{key}/sessions", "/stores/{store}/range", "/stores/{store}/all",
        ],
        "stores": app.stores.shapes(),
    }))
}

/// Liveness: the process works unless the instance failed (Kubernetes then restarts it).
pub(crate) async fn live(State(app): State<AppState>) -> Response {
    let state = app.streams.state();
    let status = if state == StreamsState::Error {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let mut body = json!({ "status": if status == StatusCode::OK { "UP" } else { "DOWN" }, "state": state_name(state) });
    if let Some(error) = app.streams.error() {
        body["error"] = json!(error.report().to_string());
    }
    (status, Json(body)).into_response()
}

/// Readiness: running, and not rebalancing or restoring (Kubernetes sends traffic only then).
pub(crate) async fn ready(State(app): State<AppState>) -> Response {
    let state = app.streams.state();
    let restoring = app
        .streams
        .task_statuses()
        .iter()
        .filter(|t| {
            t.kind == crate::runtime::TaskKind::Active
                && t.phase == crate::runtime::TaskPhase::Restoring
        })
        .count();
    let body = json!({ "state": state_name(state), "restoring_tasks": restoring });
    if state == StreamsState::Running && restoring == 0 {
        (StatusCode::OK, Json(body)).into_response()
    } else {
        let mut response = (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(super::error::RETRY_AFTER_SECS),
        );
        response
    }
}

pub(crate) async fn metrics(State(app): State<AppState>) -> Result<Response, ApiError> {
    let families = app.registry.gather();
    let text = prometheus::TextEncoder::new()
        .encode_to_string(&families)
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the metrics: {e}"),
            )
        })?;
    Ok(([(header::CONTENT_TYPE, prometheus::TEXT_FORMAT)], text).into_response())
}

#[derive(Debug, Deserialize)]
pub(crate) struct TopologyParams {
    format: Option<String>,
}

pub(crate) async fn topology(
    State(app): State<AppState>,
    Query(params): Query<TopologyParams>,
) -> Result<Response, ApiError> {
    let description = app.streams.topology().describe();
    let (content_type, text) = match params.format.as_deref().unwrap_or("text") {
        "text" => ("text/plain; charset=utf-8", description.to_string()),
        "mermaid" => ("text/plain; charset=utf-8", description.to_mermaid()),
        "dot" => ("text/vnd.graphviz; charset=utf-8", description.to_dot()),
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown format `{other}`: use text, mermaid or dot"
            )));
        }
    };
    Ok(([(header::CONTENT_TYPE, content_type)], text).into_response())
}

pub(crate) async fn instances(State(app): State<AppState>) -> Json<serde_json::Value> {
    let list: Vec<_> = app
        .streams
        .metadata_for_all_clients()
        .into_iter()
        .map(|m| {
            json!({
                "host": m.host.to_string(),
                "this": app.host.as_ref() == Some(&m.host),
                "active_tasks": m.active_tasks.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "standby_tasks": m.standby_tasks.iter().map(ToString::to_string).collect::<Vec<_>>(),
            })
        })
        .collect();
    Json(json!({ "instances": list }))
}

pub(crate) async fn tasks(State(app): State<AppState>) -> Json<serde_json::Value> {
    let tasks: Vec<_> = app
        .streams
        .task_statuses()
        .into_iter()
        .map(|t| {
            let lag = t.lag();
            let mut value = json!(t);
            value["lag"] = json!(lag);
            value
        })
        .collect();
    Json(json!({ "state": state_name(app.streams.state()), "tasks": tasks }))
}

pub(crate) async fn stores(State(app): State<AppState>) -> Json<serde_json::Value> {
    Json(json!({ "stores": app.stores.shapes() }))
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint: see / for the list")
}
