//! The API error model: every failure answers `{code, message, details, correlation_id}`.
//!
//! # Invariants
//! - `code()` is stable snake_case; clients branch on it, never on `message`.
//! - 5xx bodies are generic: the cause is logged (with the correlation id), never returned.
//! - A message or details quote at most a bounded prefix of any client value
//!   ([`super::echo`]).
//! - The correlation id is filled in by [`super::http::finish_errors`], which knows the request;
//!   handlers only return an [`ApiError`].

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::echo;
use crate::{marvin, walle};

/// What went wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON (or not valid JSON).
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The JSON is well-formed but does not match the expected shape or types.
    #[error("invalid body: {0}")]
    InvalidBody(String),
    /// A query string or path parameter is unusable.
    #[error("invalid parameter: {0}")]
    InvalidParam(String),
    /// The request is understood but refused (a bad value).
    #[error("{message}")]
    Invalid {
        /// Stable code (`invalid_component`, `invalid_timeframe`, …).
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// A refused value, with structured details (for example the CSV line and column).
    #[error("{message}")]
    InvalidAt {
        /// Stable code (`invalid_csv`, …).
        code: &'static str,
        /// Human text.
        message: String,
        /// Where the problem is (`{"line": 3, "column": "close"}`).
        details: serde_json::Value,
    },
    /// The body's media type is not accepted here.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// The body exceeds the configured limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// No such entity.
    #[error("{entity} {id} not found")]
    NotFound {
        /// Entity name.
        entity: &'static str,
        /// The id asked for.
        id: String,
    },
    /// No such entity, with a code of its own (`shadow_not_found`).
    #[error("{message}")]
    Missing {
        /// Stable code.
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// No such route.
    #[error("no route for this path")]
    RouteNotFound,
    /// The route exists but not for this method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Missing or wrong `X-API-Key`.
    #[error("missing or invalid API key (X-API-Key)")]
    Unauthorized,
    /// The Host header is not in the allow-list (DNS rebinding defence).
    #[error("host not allowed")]
    HostNotAllowed,
    /// A state-changing request a browser sent from another site (CSRF defence).
    #[error(
        "cross-site request refused: state-changing requests are accepted only from this server's own pages"
    )]
    CrossSiteRefused,
    /// The client's address is not in `WEAVER_ALLOWED_IPS`.
    #[error("client address not allowed")]
    IpNotAllowed,
    /// The request conflicts with the current state (for example deleting a strategy in use).
    #[error("{message}")]
    Conflict {
        /// Stable code.
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// What was asked for existed once and is gone for good (for example events deleted by
    /// retention after a client's cursor).
    #[error("{message}")]
    Gone {
        /// Stable code.
        code: &'static str,
        /// Human text.
        message: String,
        /// What the client can do instead.
        details: serde_json::Value,
    },
    /// A dependency is not ready (database unreachable, migrations missing); the cause (logged
    /// only) and details for the client (the store fault in force, or `null`).
    #[error("not ready: {0}")]
    NotReady(String, serde_json::Value),
    /// An outside service the request needs cannot be reached now (a venue); nothing was done.
    #[error("{message}")]
    Unavailable {
        /// Stable code.
        code: &'static str,
        /// Human text.
        message: String,
    },
    /// A store failure; the cause is logged, the client gets a generic message.
    #[error("internal error")]
    Store(#[source] walle::Error),
    /// Any other server-side failure; logged, generic to the client.
    #[error("internal error")]
    Internal(String),
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Stable snake_case code.
    pub code: String,
    /// Human-readable text.
    pub message: String,
    /// Structured details (may be `null`).
    #[schema(value_type = Option<Object>)]
    pub details: serde_json::Value,
    /// The request's `X-Request-Id` (echoed in the response header too).
    pub correlation_id: String,
}

impl ApiError {
    /// Stable snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidBody(_) => "invalid_body",
            ApiError::InvalidParam(_) => "invalid_parameter",
            ApiError::Invalid { code, .. }
            | ApiError::InvalidAt { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Missing { code, .. }
            | ApiError::Gone { code, .. }
            | ApiError::Unavailable { code, .. } => code,
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::NotFound { .. } => "not_found",
            ApiError::RouteNotFound => "route_not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Unauthorized => "unauthorized",
            ApiError::HostNotAllowed => "host_not_allowed",
            ApiError::CrossSiteRefused => "cross_site_refused",
            ApiError::IpNotAllowed => "ip_not_allowed",
            ApiError::NotReady(..) => "not_ready",
            ApiError::Store(_) | ApiError::Internal(_) => "internal_error",
        }
    }

    /// HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MalformedJson(_) | ApiError::InvalidParam(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidBody(_) | ApiError::Invalid { .. } | ApiError::InvalidAt { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound { .. } | ApiError::Missing { .. } | ApiError::RouteNotFound => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::HostNotAllowed | ApiError::CrossSiteRefused | ApiError::IpNotAllowed => {
                StatusCode::FORBIDDEN
            }
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::NotReady(..) | ApiError::Unavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A generic error for a status produced outside the handlers (body limit, 405, …).
    pub fn for_status(status: StatusCode) -> ApiError {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::NOT_FOUND => ApiError::RouteNotFound,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                ApiError::UnsupportedMediaType("see the API documentation".into())
            }
            s if s.is_server_error() => ApiError::Internal(format!("status {s}")),
            s => ApiError::Invalid {
                code: "bad_request",
                message: s.canonical_reason().unwrap_or("bad request").to_owned(),
            },
        }
    }
}

/// The body before the correlation id is known; carried as a response extension.
#[derive(Debug, Clone)]
pub(crate) struct PendingError {
    pub code: &'static str,
    pub message: String,
    pub details: serde_json::Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // The cause goes to the log only; the span carries the correlation id.
            let cause = match &self {
                ApiError::Store(e) => format!("{} ({})", e, e.code()),
                ApiError::Internal(m) | ApiError::NotReady(m, _) => m.clone(),
                other => other.to_string(),
            };
            tracing::error!(code = self.code(), %cause, "request failed");
        }
        // Client input quoted in a message or details is cut to a bounded prefix (echo.rs).
        let message = match &self {
            ApiError::NotReady(..) => "not ready".to_owned(),
            e => echo::bound_text(&e.to_string()),
        };
        let details = match &self {
            ApiError::NotFound { entity, id } => serde_json::json!({"entity": entity, "id": id}),
            ApiError::InvalidAt { details, .. } | ApiError::Gone { details, .. } => {
                echo::bound_json(details)
            }
            ApiError::NotReady(_, details) => details.clone(),
            _ => serde_json::Value::Null,
        };
        let pending = PendingError {
            code: self.code(),
            message,
            details,
        };
        let mut resp = status.into_response();
        resp.extensions_mut().insert(pending);
        resp
    }
}

impl From<walle::Error> for ApiError {
    fn from(e: walle::Error) -> Self {
        match e {
            walle::Error::NotFound { entity, key } => ApiError::NotFound { entity, id: key },
            walle::Error::Invalid(m) => ApiError::Invalid {
                code: "invalid_input",
                message: m,
            },
            walle::Error::Conflict { code, message } => ApiError::Conflict { code, message },
            other => ApiError::Store(other),
        }
    }
}

impl From<marvin::Error> for ApiError {
    fn from(e: marvin::Error) -> Self {
        match e {
            marvin::Error::Io(_) | marvin::Error::Internal(_) => ApiError::Internal(e.to_string()),
            e => ApiError::Invalid {
                code: e.code(),
                message: e.to_string(),
            },
        }
    }
}
