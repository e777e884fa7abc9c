//! The error a handler sees from a session operation, and the response it becomes.

use std::sync::Arc;

use axum::response::{IntoResponse, Response};
use http::StatusCode;

use crate::store::StoreError;

/// A session operation failed, or there is no session to operate on.
///
/// As an axum rejection or handler error it becomes a plain-text response: `503 Service
/// Unavailable` when the store failed, `500 Internal Server Error` otherwise (a store that
/// lacks the operation asked for, such as the per-owner index, included). The response body
/// never includes the store's own error text, which is logged instead.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    /// The route is not behind a [`SessionLayer`](crate::SessionLayer).
    #[error("no session: the route is not behind a SessionLayer")]
    MissingLayer,
    /// The request path does not start with the session cookie's `Path`, so, as in express,
    /// the request has no session.
    #[error("no session: the request path is outside the session cookie path `{0}`")]
    OutsidePath(String),
    /// The store failed when the session was loaded; the request runs without a session.
    #[error("no session: the session store was unavailable: {0}")]
    Unavailable(Arc<StoreError>),
    /// A store call made for this operation failed.
    #[error("session store error: {0}")]
    Store(Arc<StoreError>),
    /// The session was destroyed or unset earlier in this request.
    #[error("the session was destroyed or unset earlier in this request")]
    Ended,
    /// The session is no longer in the store: another request destroyed or regenerated it,
    /// or it expired, after this request loaded it. `reload` and `save` report this; the
    /// session is not written back.
    #[error("the session no longer exists in the store")]
    NotFound,
    /// The session is larger than
    /// [`max_session_size`](crate::SessionLayerBuilder::max_session_size) allows; nothing was
    /// written, and the stored session is as it was.
    #[error("the session is {size} bytes, over the limit of {limit}; not saved")]
    TooLarge {
        /// The session's [`Record::encoded_size`](crate::store::Record::encoded_size).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The session does not fit in its cookie (a [`CookieStore`](crate::CookieStore) session):
    /// sealed, with the cookie's name, it would be `size` bytes, over the `limit` browsers keep
    /// ([`MAX_COOKIE_LEN`](crate::MAX_COOKIE_LEN)). Nothing was sent; the client keeps
    /// the cookie it had.
    #[error(
        "the session would make a {size}-byte cookie, over the {limit} bytes browsers keep; not saved"
    )]
    CookieTooLarge {
        /// The cookie's name and sealed value, in bytes.
        size: usize,
        /// The most a browser keeps.
        limit: usize,
    },
    /// Two schemas used under one layer store different things under one name (or both mark
    /// an owner field): a programming error, reported the first time the second schema is
    /// extracted (and logged then), instead of one schema reading the other's bytes. Give one of
    /// them a `#[session(namespace = "...")]`.
    #[error("session schema conflict: {0}")]
    SchemaConflict(Arc<str>),
}

impl From<StoreError> for SessionError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Gone => Self::NotFound,
            error => Self::Store(Arc::new(error)),
        }
    }
}

impl IntoResponse for SessionError {
    fn into_response(self) -> Response {
        let (status, body) = match &self {
            Self::Store(error) if matches!(**error, StoreError::Unsupported { .. }) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the session store does not support this operation",
            ),
            Self::Unavailable(_) | Self::Store(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "session store unavailable")
            }
            Self::MissingLayer => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "no session layer on this route",
            ),
            Self::OutsidePath(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "no session for this path",
            ),
            Self::Ended => (StatusCode::INTERNAL_SERVER_ERROR, "session already ended"),
            Self::NotFound => (StatusCode::INTERNAL_SERVER_ERROR, "session not found"),
            Self::TooLarge { .. } | Self::CookieTooLarge { .. } => {
                (StatusCode::INTERNAL_SERVER_ERROR, "session too large")
            }
            Self::SchemaConflict(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "session schemas conflict",
            ),
        };
        tracing::error!(error = %self, "session error response");
        (status, body).into_response()
    }
}
