//! Store queries: served from local stores when this instance holds the key (or is asked for
//! its local part), otherwise forwarded to the key's owner; scans gather every instance's part.

use std::sync::Arc;

use axum::Json;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::forward;
use super::routes::state_name;
use super::stores::{StoreEndpoint, StoreShape};
use crate::runtime::{HostInfo, KafkaStreamsHandle, State as StreamsState, TaskKind};

/// The query parameters store routes take.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Params {
    /// Let standby copies answer (possibly behind the active task).
    #[serde(default)]
    stale: bool,
    /// Answer from this instance's stores only (set on forwarded requests).
    #[serde(default)]
    local: bool,
    /// Window fetches: start times from, to (epoch ms). Ranges: the first and last key.
    from: Option<String>,
    to: Option<String>,
    /// Scans: page size, and the cursor of the previous page's last entry.
    limit: Option<usize>,
    after: Option<String>,
    /// Versioned stores: the value as of this time (epoch ms) instead of the latest.
    as_of: Option<String>,
}

const DEFAULT_PAGE: usize = 100;
const MAX_PAGE: usize = 10_000;

impl Params {
    /// A versioned key query's `as_of` time (`None`: the latest value).
    pub(crate) fn as_of(&self) -> Result<Option<i64>, ApiError> {
        self.as_of
            .as_deref()
            .map(|v| time_param(Some(v), "as_of", 0))
            .transpose()
    }

    /// A window fetch's start times `[from, to]` (all time by default).
    pub(crate) fn window_range(&self) -> Result<(i64, i64), ApiError> {
        Ok((
            time_param(self.from.as_deref(), "from", i64::MIN)?,
            time_param(self.to.as_deref(), "to", i64::MAX)?,
        ))
    }

    /// A scan's page size (within `[1, MAX_PAGE]`) and the cursor to continue after.
    pub(crate) fn page(&self) -> Result<(usize, Option<Vec<u8>>), ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
        let after = self
            .after
            .as_deref()
            .map(|a| {
                from_hex(a).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`after={a}` is not a cursor from a previous page"
                    ))
                })
            })
            .transpose()?;
        Ok((limit, after))
    }
}

/// Where a key query is answered.
enum Route {
    Local,
    Forward(HostInfo),
}

fn endpoint(app: &AppState, store: &str) -> Result<Arc<dyn StoreEndpoint>, ApiError> {
    app.stores.get(store).cloned().ok_or_else(|| {
        let known: Vec<_> = app.stores.names().collect();
        ApiError::not_found(format!(
            "no queryable store `{store}` (this worker serves: {})",
            known.join(", ")
        ))
    })
}

/// Runs a store read on tokio's blocking pool: RocksDB reads block.
async fn blocking<T: Send + 'static>(
    read: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(read).await.map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("the store read failed: {e}"),
        )
    })?
}

fn not_queryable(state: StreamsState) -> ApiError {
    ApiError::unavailable(format!(
        "stores are not queryable while the instance is {} (ask again, or pass stale=true to read standby copies)",
        state_name(state)
    ))
}

/// Decides who answers a query of `raw` in `store`.
async fn route(
    app: &AppState,
    store: &str,
    endpoint: &Arc<dyn StoreEndpoint>,
    raw: &str,
    params: &Params,
) -> Result<Route, ApiError> {
    if endpoint.shape() == StoreShape::Global {
        return Ok(Route::Local);
    }
    let state = app.streams.state();
    if state != StreamsState::Running && !params.stale {
        return Err(not_queryable(state));
    }
    let (streams, ep, key, name) = (
        app.streams.clone(),
        endpoint.clone(),
        raw.to_string(),
        store.to_string(),
    );
    let (metadata, task) = blocking(move || {
        let bytes = ep.key_bytes(&streams, &key)?;
        Ok(streams.locate_key(&name, &bytes)?)
    })
    .await?;
    let local = app.streams.task_statuses();
    let held_here = |kind: Option<TaskKind>| {
        local
            .iter()
            .any(|t| t.id == task && kind.is_none_or(|k| t.kind == k))
    };
    if params.local || app.host.is_none() {
        // Asked by another instance (or a single instance without `application.server`).
        let kind = (!params.stale).then_some(TaskKind::Active);
        return if held_here(kind) {
            Ok(Route::Local)
        } else {
            Err(ApiError::unavailable(format!(
                "task {task} of this key is not {} on this instance (it is moving: ask again)",
                if params.stale { "held" } else { "active" }
            )))
        };
    }
    if params.stale && held_here(None) {
        return Ok(Route::Local);
    }
    match metadata.active {
        Some(host) if Some(&host) == app.host.as_ref() => {
            if held_here(Some(TaskKind::Active)) {
                Ok(Route::Local)
            } else {
                Err(ApiError::unavailable(format!(
                    "task {task} of this key is assigned here but not open yet"
                )))
            }
        }
        Some(host) => Ok(Route::Forward(host)),
        None => Err(ApiError::unavailable(format!(
            "no instance runs task {task} of this key right now (rebalancing)"
        ))),
    }
}

fn served(app: &AppState, mut body: Value) -> Response {
    body["served_by"] = json!(app.host.as_ref().map(ToString::to_string));
    Json(body).into_response()
}

/// Where a key query's answer goes in the response body.
#[derive(Clone, Copy)]
enum Answer {
    /// Under this field.
    Field(&'static str),
    /// Its fields beside `store` and `key` (a versioned value with its validity).
    Inline,
}

/// A query of one key: answered by the key's owner (relayed when that is another instance),
/// with `read`'s answer placed as `answer` says, or 404 when `read` finds nothing.
async fn key_query<F>(
    app: AppState,
    (store, key): (String, String),
    params: Params,
    uri: Uri,
    answer: Answer,
    read: F,
) -> Result<Response, ApiError>
where
    F: FnOnce(
            &dyn StoreEndpoint,
            &KafkaStreamsHandle,
            &str,
            bool,
        ) -> Result<Option<Value>, ApiError>
        + Send
        + 'static,
{
    let ep = endpoint(&app, &store)?;
    if let Route::Forward(host) = route(&app, &store, &ep, &key, &params).await? {
        return forward::relay(&app, &host, &uri).await;
    }
    let (streams, raw, stale) = (app.streams.clone(), key.clone(), params.stale);
    match blocking(move || read(&*ep, &streams, &raw, stale)).await? {
        Some(found) => {
            let mut body = json!({ "store": store, "key": key });
            match (answer, found) {
                (Answer::Field(field), found) => body[field] = found,
                (Answer::Inline, Value::Object(fields)) => {
                    for (name, value) in fields {
                        body[name] = value;
                    }
                }
                (Answer::Inline, found) => body["value"] = found,
            }
            Ok(served(&app, body))
        }
        None => Err(ApiError::not_found(format!(
            "store `{store}` has no value for key `{key}`"
        ))),
    }
}

pub(crate) async fn get_key(
    State(app): State<AppState>,
    Path(path): Path<(String, String)>,
    Query(params): Query<Params>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let as_of = params.as_of()?;
    let ep = endpoint(&app, &path.0)?;
    if ep.shape() == StoreShape::Versioned {
        return key_query(
            app,
            path,
            params,
            uri,
            Answer::Inline,
            move |ep, streams, raw, stale| ep.get_versioned(streams, raw, as_of, stale),
        )
        .await;
    }
    if as_of.is_some() {
        return Err(ApiError::bad_request(format!(
            "store `{}` is a {:?} store: `as_of` is for versioned stores",
            path.0,
            ep.shape()
        )));
    }
    key_query(
        app,
        path,
        params,
        uri,
        Answer::Field("value"),
        |ep, streams, raw, stale| ep.get(streams, raw, stale),
    )
    .await
}

fn time_param(value: Option<&str>, name: &str, default: i64) -> Result<i64, ApiError> {
    value.map_or(Ok(default), |v| {
        v.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!("`{name}={v}` is not a time in epoch milliseconds"))
        })
    })
}

pub(crate) async fn windows(
    State(app): State<AppState>,
    Path(path): Path<(String, String)>,
    Query(params): Query<Params>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    let (from, to) = params.window_range()?;
    key_query(
        app,
        path,
        params,
        uri,
        Answer::Field("windows"),
        move |ep, streams, raw, stale| ep.windows(streams, raw, from, to, stale).map(Some),
    )
    .await
}

pub(crate) async fn sessions(
    State(app): State<AppState>,
    Path(path): Path<(String, String)>,
    Query(params): Query<Params>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    key_query(
        app,
        path,
        params,
        uri,
        Answer::Field("sessions"),
        |ep, streams, raw, stale| ep.sessions(streams, raw, stale).map(Some),
    )
    .await
}

pub(crate) async fn range(
    State(app): State<AppState>,
    Path(store): Path<String>,
    Query(params): Query<Params>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    if params.from.is_none() && params.to.is_none() {
        return Err(ApiError::bad_request(
            "a range needs `from` and/or `to` (or ask for /all)",
        ));
    }
    scan(app, store, params, uri).await
}

pub(crate) async fn all(
    State(app): State<AppState>,
    Path(store): Path<String>,
    Query(mut params): Query<Params>,
    OriginalUri(uri): OriginalUri,
) -> Result<Response, ApiError> {
    params.from = None;
    params.to = None;
    scan(app, store, params, uri).await
}

pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A page of a scan: this instance's part, merged with every other instance's unless the
/// request is already another instance's (`local=true`) or the store is global.
async fn scan(
    app: AppState,
    store: String,
    params: Params,
    uri: Uri,
) -> Result<Response, ApiError> {
    let ep = endpoint(&app, &store)?;
    let state = app.streams.state();
    let global = ep.shape() == StoreShape::Global;
    if !global && state != StreamsState::Running && !params.stale {
        return Err(not_queryable(state));
    }
    let (limit, after) = params.page()?;
    let (streams, local_ep) = (app.streams.clone(), ep.clone());
    let (from, to, stale) = (params.from.clone(), params.to.clone(), params.stale);
    let mut entries: Vec<(Vec<u8>, Value, Value)> = blocking(move || {
        local_ep.scan(
            &streams,
            from.as_deref(),
            to.as_deref(),
            after.as_deref(),
            limit,
            stale,
        )
    })
    .await?;
    if params.local {
        let page: Vec<_> = entries
            .into_iter()
            .map(|(bytes, key, value)| json!({ "cursor": to_hex(&bytes), "key": key, "value": value }))
            .collect();
        return Ok(served(&app, json!({ "store": store, "entries": page })));
    }
    if !global && app.host.is_some() {
        for instance in app.streams.metadata_for_all_clients() {
            if Some(&instance.host) == app.host.as_ref() {
                continue;
            }
            let part = forward::fetch_page(&app, &instance.host, &uri).await?;
            for entry in part["entries"].as_array().into_iter().flatten() {
                let bytes = entry["cursor"].as_str().and_then(from_hex).ok_or_else(|| {
                    ApiError::new(
                        axum::http::StatusCode::BAD_GATEWAY,
                        format!("instance {} sent an entry without a cursor", instance.host),
                    )
                })?;
                entries.push((bytes, entry["key"].clone(), entry["value"].clone()));
            }
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|a, b| a.0 == b.0);
        entries.truncate(limit);
    }
    let next = (entries.len() == limit)
        .then(|| entries.last().map(|(bytes, _, _)| to_hex(bytes)))
        .flatten();
    let page: Vec<_> = entries
        .into_iter()
        .map(|(_, key, value)| json!({ "key": key, "value": value }))
        .collect();
    Ok(served(
        &app,
        json!({ "store": store, "entries": page, "next": next }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let bytes = vec![0u8, 1, 0xab, 0xff];
        assert_eq!(from_hex(&to_hex(&bytes)), Some(bytes));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
        assert_eq!(from_hex("é1"), None);
    }
}
