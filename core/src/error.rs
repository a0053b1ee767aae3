//! The core's internal error type.
//!
//! Every failure inside gridwalk-core is an [`Error`]. The FFI and HTTP edges map it to their own
//! small public enums in one place each; messages here never carry residents' personal data.

use crate::form::FieldError;

/// Result alias used throughout the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// One or more fields of the input are invalid; nothing was saved.
    #[error("invalid input: {}", describe_fields(.0))]
    Invalid(Vec<FieldError>),
    /// A record the caller named does not exist in this store.
    #[error("{kind} not found: {id}")]
    NotFound {
        /// What kind of record was looked up (household, resident, visit …).
        kind: &'static str,
        /// The id that was asked for.
        id: String,
    },
    /// The store key is wrong, or the file is not a gridwalk store.
    #[error("the store cannot be opened with this key (wrong key or not a gridwalk store)")]
    WrongKey,
    /// The store was written by a newer version of gridwalk.
    #[error("the store has schema version {found}, newer than this app supports ({supported})")]
    SchemaTooNew {
        /// Version found in the file.
        found: i64,
        /// Newest version this build knows.
        supported: i64,
    },
    /// A stored document or value could not be decoded.
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// A value's personal data was deleted (its key destroyed) and cannot be shown.
    #[error("personal data of resident {0} has been deleted")]
    Erased(String),
    /// The caller's role or scope does not allow this action.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The access log's hash chain is broken at this entry.
    #[error("the access log was altered at entry {0}")]
    TamperedLog(i64),
    /// A long-running call was interrupted by the caller.
    #[error("interrupted")]
    Interrupted,
    /// SQLite failed.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Automerge failed.
    #[error("document error: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    /// Reading or writing a file failed.
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// A single-field validation error.
    pub fn field(field: impl Into<String>, code: &str, message: impl Into<String>) -> Self {
        Error::Invalid(vec![FieldError {
            field: field.into(),
            code: code.to_string(),
            message: message.into(),
        }])
    }

    pub(crate) fn not_found(kind: &'static str, id: impl Into<String>) -> Self {
        Error::NotFound {
            kind,
            id: id.into(),
        }
    }
}

fn describe_fields(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(|e| format!("{} ({})", e.field, e.code))
        .collect::<Vec<_>>()
        .join(", ")
}
