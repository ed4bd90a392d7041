//! [`ApiError`]: what an HTTP request failed with, as a status code and a JSON body.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Seconds a client is asked to wait before retrying a query that cannot be answered yet.
pub(crate) const RETRY_AFTER_SECS: u64 = 1;

/// A failed request: its status, a message, and whether the client should retry later.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) retry_after: bool,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            retry_after: false,
        }
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 503 with `Retry-After`: the store cannot answer now (rebalancing, restoring, the key's
    /// owner unknown) but will.
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            retry_after: true,
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    pub(crate) fn internal(error: &crate::Error) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            error.report().to_string(),
        )
    }
}

impl From<crate::Error> for ApiError {
    fn from(error: crate::Error) -> Self {
        match &error {
            crate::Error::StoreAccess { .. } => {
                Self::new(StatusCode::BAD_REQUEST, error.report().to_string())
            }
            crate::Error::InvalidState { .. } | crate::Error::StoreUnavailable { .. } => {
                Self::unavailable(error.report().to_string())
            }
            _ => Self::internal(&error),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.message,
            "status": self.status.as_u16(),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}
