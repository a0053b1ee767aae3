//! gridwalk-core: the grid worker's offline store.
//!
//! Households (with residents, vehicles, visits and follow-ups), the roster and the office's
//! configuration are Automerge documents kept in an encrypted SQLite store ([`Store`]), with
//! projection tables for the phone's lists. Edits made offline on several devices merge; the same
//! field edited twice is kept as a visible [`model::Conflict`] until someone resolves it.

mod access_log;
mod am;
pub mod calendar;
pub mod config;
mod conflict;
pub mod db;
pub mod demo;
pub mod docs;
pub mod error;
pub mod event_store;
pub mod events;
pub mod form;
mod household;
pub mod http;
pub mod model;
pub mod office_queries;
pub mod photo;
pub mod photo_refs;
pub mod photo_sync;
pub mod privacy;
pub mod projection;
pub mod replication;
pub mod shim;
pub mod store;
pub mod sync;
pub mod validate;

pub use error::{Error, Result};
pub use form::{AnswerValue, FieldError, FormDefinition};
pub use model::*;
pub use store::{Bundle, Store};

// The records and enums derive uniffi's traits under the `uniffi` feature (for gridwalk-ffi);
// the derives need this crate's own scaffolding (its `UniFfiTag`).
#[cfg(feature = "uniffi")]
uniffi::setup_scaffolding!();
