//! [`ApiError`]: a refused server API call, answered with a status and the
//! JSON body `{"reason", "message"}` (`docs/app-proxy.md`, the error
//! table). The reason decides the status; the message says what was
//! expected and what arrived.

use std::fmt;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::ids::InvalidId;
use crate::service::HandleError;

/// Why a server API call was refused: the body's `reason`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ApiReason {
    /// 400: the path's key is not a valid session key.
    InvalidKey,
    /// 400: the body is not JSON of the route's shape.
    InvalidBody,
    /// 400: the query string is not the route's (`GET /sessions`).
    InvalidQuery,
    /// 401: no bearer token, or the wrong one.
    Unauthorized,
    /// 404: no such route (or not with this method).
    NotFound,
    /// 410: the task is not running.
    TaskGone,
    /// 413: the body is over the size limit.
    TooLarge,
    /// 422: the pushed change does not apply, or gives no valid state.
    InvalidChange,
    /// 503: the service is at its session limit.
    Capacity,
    /// 503: the service is shutting down.
    ShuttingDown,
    /// 503: the session stopped before it answered.
    SessionGone,
    /// 500: the session's store failed (or its state does not round-trip).
    StoreError,
}

impl ApiReason {
    /// The HTTP status that goes with the reason.
    pub(crate) fn status(self) -> StatusCode {
        match self {
            Self::InvalidKey | Self::InvalidBody | Self::InvalidQuery => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::TaskGone => StatusCode::GONE,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidChange => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Capacity | Self::ShuttingDown | Self::SessionGone => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::StoreError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// A refused call: its reason and a human message. Handlers return it as
/// their error; actix-web turns it into the response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ApiError {
    /// Why, for code.
    pub(crate) reason: ApiReason,
    /// Why, for people.
    pub(crate) message: String,
}

impl ApiError {
    /// A refusal with `reason` and `message`.
    pub(crate) fn new(reason: ApiReason, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    /// 400 `invalid_body`.
    pub(crate) fn invalid_body(message: impl Into<String>) -> Self {
        Self::new(ApiReason::InvalidBody, message)
    }

    /// 413 `too_large`: the body has more than `limit` bytes.
    pub(crate) fn too_large(limit: usize) -> Self {
        let message = format!("the body is over the limit of {limit} bytes");
        Self::new(ApiReason::TooLarge, message)
    }
}

impl From<InvalidId> for ApiError {
    fn from(e: InvalidId) -> Self {
        Self::new(ApiReason::InvalidKey, e.to_string())
    }
}

impl From<HandleError> for ApiError {
    fn from(e: HandleError) -> Self {
        let reason = match &e {
            HandleError::ShuttingDown => ApiReason::ShuttingDown,
            HandleError::Capacity => ApiReason::Capacity,
            HandleError::SessionGone => ApiReason::SessionGone,
            HandleError::Failed(why) => {
                tracing::error!(why, "a server API call failed in the session");
                ApiReason::StoreError
            }
            HandleError::TaskGone => ApiReason::TaskGone,
            HandleError::InvalidChange(_) => ApiReason::InvalidChange,
        };
        Self::new(reason, e.to_string())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.reason, self.message)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.reason.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        if self.reason == ApiReason::Unauthorized {
            // RFC 6750 section 3: a 401 names the scheme it wants.
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        response.json(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn golden_error_bodies_and_their_statuses() {
        let cases = [
            (ApiReason::InvalidKey, 400, "invalid_key"),
            (ApiReason::InvalidBody, 400, "invalid_body"),
            (ApiReason::Unauthorized, 401, "unauthorized"),
            (ApiReason::NotFound, 404, "not_found"),
            (ApiReason::TaskGone, 410, "task_gone"),
            (ApiReason::TooLarge, 413, "too_large"),
            (ApiReason::InvalidChange, 422, "invalid_change"),
            (ApiReason::Capacity, 503, "capacity"),
            (ApiReason::ShuttingDown, 503, "shutting_down"),
            (ApiReason::SessionGone, 503, "session_gone"),
            (ApiReason::StoreError, 500, "store_error"),
        ];
        for (reason, status, name) in cases {
            assert_eq!(reason.status().as_u16(), status, "{name}");
            let body = serde_json::to_value(ApiError::new(reason, "why"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(body, json!({"reason": name, "message": "why"}));
        }
    }

    #[test]
    fn every_handle_error_has_its_reason() {
        let cases = [
            (HandleError::ShuttingDown, "shutting_down"),
            (HandleError::Capacity, "capacity"),
            (HandleError::SessionGone, "session_gone"),
            (HandleError::Failed("disk".into()), "store_error"),
            (HandleError::TaskGone, "task_gone"),
            (
                HandleError::InvalidChange("no path".into()),
                "invalid_change",
            ),
        ];
        for (e, name) in cases {
            let body: Value =
                serde_json::to_value(ApiError::from(e)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(body["reason"], name);
        }
    }
}
