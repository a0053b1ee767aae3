//! The one public error of the bindings, mapped from the core's errors in one place.

use gridwalk_core::FieldError;
use gridwalk_core::form::FormError;
use gridwalk_core::sync::{SyncError, TransportError};

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
    /// The office revoked this device: wipe the store ([`crate::GridStore::wipe`]) and destroy
    /// its key. Nothing more will sync from it.
    #[error("this device was revoked by the office")]
    Revoked,
    /// The server could not be reached or failed (no network, timeout, TLS, a server error);
    /// nothing was lost, retry later.
    #[error("network: {reason}")]
    Network {
        /// What failed, for logs and support.
        reason: String,
    },
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

/// A sync or photo transfer that failed: the store's errors map as above.
impl From<SyncError> for GridError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::Revoked => GridError::Revoked,
            SyncError::Transport(t) => t.into(),
            SyncError::Store(e) => e.into(),
        }
    }
}

/// A request the server refused (401/403: credentials or scope), else a network failure.
impl From<TransportError> for GridError {
    fn from(e: TransportError) -> Self {
        let reason = e.to_string();
        match e {
            TransportError::Status {
                status: 401 | 403, ..
            } => GridError::Forbidden { reason },
            TransportError::Status { .. } | TransportError::Network(_) => {
                GridError::Network { reason }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_failures_map_to_what_the_app_must_do() {
        assert!(matches!(
            GridError::from(SyncError::Revoked),
            GridError::Revoked
        ));
        let refused = TransportError::Status {
            status: 401,
            message: "unknown credentials".into(),
        };
        assert!(matches!(
            GridError::from(SyncError::from(refused)),
            GridError::Forbidden { .. }
        ));
        let down = TransportError::Status {
            status: 503,
            message: "busy".into(),
        };
        assert!(matches!(GridError::from(down), GridError::Network { .. }));
        let offline = TransportError::Network("connection refused".into());
        assert!(matches!(
            GridError::from(offline),
            GridError::Network { .. }
        ));
        assert!(matches!(
            GridError::from(SyncError::Store(gridwalk_core::Error::Interrupted)),
            GridError::Interrupted
        ));
    }
}
