//! The one public error of the bindings, mapped from the core's errors in one place.

use gridwalk_core::FieldError;
use gridwalk_core::form::FormError;

/// What went wrong in a call. Messages never carry residents' personal data.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum GridError {
    /// The input has invalid fields; nothing was saved. Show each error next to its field.
    #[error("invalid input: {} field(s)", errors.len())]
    InvalidInput {
        /// One entry per invalid field (`field` id, machine `code`, short Chinese `message`).
        errors: Vec<FieldError>,
    },
    /// A record that was named does not exist here (or its personal data was deleted).
    #[error("not found: {reason}")]
    NotFound {
        /// What was looked up.
        reason: String,
    },
    /// The key does not open the store (wrong key, or not a gridwalk store); the file is untouched.
    #[error("wrong key or not a gridwalk store")]
    WrongKey,
    /// The person's role or scope does not allow this.
    #[error("not allowed: {reason}")]
    Forbidden {
        /// Why.
        reason: String,
    },
    /// The call was interrupted with [`crate::GridStore::interrupt`].
    #[error("interrupted")]
    Interrupted,
    /// The store failed (disk, damaged data, a newer schema, an altered access log).
    #[error("storage error: {reason}")]
    Storage {
        /// What failed, for logs and support.
        reason: String,
    },
    /// The store was closed with [`crate::GridStore::close_store`]; open it again.
    #[error("the store is closed")]
    Closed,
}

/// The one mapping from the core's error to the public one.
impl From<gridwalk_core::Error> for GridError {
    fn from(e: gridwalk_core::Error) -> Self {
        use gridwalk_core::Error as E;
        let reason = e.to_string();
        match e {
            E::Invalid(errors) => GridError::InvalidInput { errors },
            E::NotFound { .. } | E::Erased(_) => GridError::NotFound { reason },
            E::WrongKey => GridError::WrongKey,
            E::Forbidden(_) => GridError::Forbidden { reason },
            E::Interrupted => GridError::Interrupted,
            E::SchemaTooNew { .. }
            | E::Corrupt(_)
            | E::TamperedLog(_)
            | E::Sqlite(_)
            | E::Automerge(_)
            | E::Io(_) => GridError::Storage { reason },
        }
    }
}

/// A form definition given as JSON that does not parse or is not well formed.
impl From<FormError> for GridError {
    fn from(e: FormError) -> Self {
        GridError::InvalidInput {
            errors: vec![FieldError {
                field: "form".to_owned(),
                code: "invalid".to_owned(),
                message: e.to_string(),
            }],
        }
    }
}
