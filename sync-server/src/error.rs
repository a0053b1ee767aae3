//! The server's one error type and its mapping to HTTP answers.
//!
//! Every failure inside the server is an [`Error`]; [`Error::status`] maps it to an HTTP status in
//! this one place. Messages say what was wrong with the request and never carry personal data
//! (no names, ID numbers, phones or change contents); internal failures are logged by kind and
//! answered with a generic message.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Result alias used throughout the server.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while serving a request or running the office.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing, unknown or revoked credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The device may not touch what it tried to (403).
    #[error("{0}")]
    Forbidden(String),
    /// The request is malformed or breaks the protocol (400).
    #[error("{0}")]
    BadRequest(String),
    /// The request contradicts what the server already holds (409).
    #[error("{0}")]
    Conflict(String),
    /// Nothing is stored under that name (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is well-formed but its content fails a check, e.g. a photo whose bytes do
    /// not match its hash (422).
    #[error("{0}")]
    Unprocessable(String),
    /// The request is too large (413).
    #[error("{0}")]
    TooLarge(String),
    /// The server is busy; retry later (503).
    #[error("{0}")]
    Busy(String),
    /// The hub database failed.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// The city hub's PostgreSQL failed. Shown by SQLSTATE and the names of what it concerns,
    /// without the server's message and DETAIL, which quote row values (ids, keys, bytes).
    #[error("postgres error: {}", pg_summary(.0))]
    Pg(#[from] tokio_postgres::Error),
    /// The office replica (a core store) failed.
    #[error("office store error: {0}")]
    Core(#[from] gridwalk_core::Error),
    /// A file could not be read or written.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else that is the server's fault (a contained panic, a failed task).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::Conflict(_) => StatusCode::CONFLICT,
            Error::NotFound(_) => StatusCode::NOT_FOUND,
            Error::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Error::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Db(_) | Error::Pg(_) | Error::Core(_) | Error::Io(_) | Error::Internal(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    /// The text sent to the client: the request's fault is explained, the server's is not.
    pub fn public_message(&self) -> String {
        if self.status().is_server_error() && !matches!(self, Error::Busy(_)) {
            "internal server error".into()
        } else {
            self.to_string()
        }
    }
}

/// A PostgreSQL error for the log: severity, SQLSTATE and the constraint, table and column it
/// names; connection and protocol failures as the client describes them (they carry no rows).
fn pg_summary(e: &tokio_postgres::Error) -> String {
    let Some(db) = e.as_db_error() else {
        return e.to_string();
    };
    let mut s = format!("{} {}", db.severity(), db.code().code());
    for (what, name) in [
        ("constraint", db.constraint()),
        ("table", db.table()),
        ("column", db.column()),
    ] {
        if let Some(name) = name {
            s.push_str(&format!(" {what} {name}"));
        }
    }
    s
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            // Database and store messages name tables and constraints, never row contents.
            tracing::error!(error = %self, "request failed");
        }
        let message = self.public_message();
        if let Error::Unauthorized(why) = &self {
            // RFC 6750: the reason also travels in a header, so a HEAD request (which has no
            // body) still tells a revoked phone to wipe itself.
            let description: String = why
                .chars()
                .filter(|c| (c.is_ascii_graphic() || *c == ' ') && *c != '"' && *c != '\\')
                .collect();
            let challenge =
                format!("Bearer error=\"invalid_token\", error_description=\"{description}\"");
            return (
                status,
                [(axum::http::header::WWW_AUTHENTICATE, challenge)],
                message,
            )
                .into_response();
        }
        (status, message).into_response()
    }
}
