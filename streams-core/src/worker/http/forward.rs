//! Forwarding a query to the instance that owns the key (or to every instance, for scans).

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use crate::runtime::HostInfo;

/// `uri`'s path and query, sent to `host` with `local=true` so that it answers from its own
/// stores and never forwards again.
fn peer_url(host: &HostInfo, uri: &Uri) -> String {
    let query = uri
        .query()
        .map(|q| {
            q.split('&')
                .filter(|p| !p.starts_with("local="))
                .collect::<Vec<_>>()
                .join("&")
        })
        .filter(|q| !q.is_empty());
    let host = if host.host.contains(':') {
        format!("[{}]:{}", host.host, host.port)
    } else {
        host.to_string()
    };
    match query {
        Some(query) => format!("http://{host}{}?{query}&local=true", uri.path()),
        None => format!("http://{host}{}?local=true", uri.path()),
    }
}

fn unreachable(host: &HostInfo, e: &reqwest::Error) -> ApiError {
    ApiError {
        retry_after: true,
        ..ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("instance {host} that holds the key did not answer: {e}"),
        )
    }
}

/// Sends `host` the request `uri`, for its local answer.
async fn ask(app: &AppState, host: &HostInfo, uri: &Uri) -> Result<reqwest::Response, ApiError> {
    app.client
        .get(peer_url(host, uri))
        .send()
        .await
        .map_err(|e| unreachable(host, &e))
}

/// Asks `host` the same request and relays its answer (status, body, `Retry-After`).
pub(crate) async fn relay(
    app: &AppState,
    host: &HostInfo,
    uri: &Uri,
) -> Result<Response, ApiError> {
    let answer = ask(app, host, uri).await?;
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let retry_after = answer.headers().get("retry-after").cloned();
    let content_type = answer.headers().get("content-type").cloned();
    let body = answer.bytes().await.map_err(|e| unreachable(host, &e))?;
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    if let Some(value) = content_type.and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    if let Some(value) = retry_after.and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok()) {
        headers.insert(header::RETRY_AFTER, value);
    }
    if let Ok(value) = HeaderValue::from_str(&host.to_string()) {
        headers.insert("x-streams-served-by", value);
    }
    Ok(response)
}

/// Asks `host` for its local page of a scan; returns its JSON body.
pub(crate) async fn fetch_page(
    app: &AppState,
    host: &HostInfo,
    uri: &Uri,
) -> Result<Value, ApiError> {
    let answer = ask(app, host, uri).await?;
    let status = answer.status();
    let bytes = answer.bytes().await.map_err(|e| unreachable(host, &e))?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("instance {host} answered with something other than JSON: {e}"),
        )
    })?;
    if !status.is_success() {
        let message = body["error"].as_str().unwrap_or("no reason given");
        let mut error = ApiError::new(
            StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            format!("instance {host} could not answer its part: {message}"),
        );
        error.retry_after = status.as_u16() == 503;
        return Err(error);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_urls_ask_for_local_answers_only() {
        let host = HostInfo::new("10.0.0.2", 8080);
        let uri: Uri = "/stores/s/keys/k?stale=true&local=false"
            .parse()
            .unwrap_or_default();
        assert_eq!(
            peer_url(&host, &uri),
            "http://10.0.0.2:8080/stores/s/keys/k?stale=true&local=true"
        );
        let uri: Uri = "/stores/s/all".parse().unwrap_or_default();
        assert_eq!(
            peer_url(&host, &uri),
            "http://10.0.0.2:8080/stores/s/all?local=true"
        );
        let v6 = HostInfo::new("::1", 9000);
        assert_eq!(
            peer_url(&v6, &uri),
            "http://[::1]:9000/stores/s/all?local=true"
        );
    }
}
