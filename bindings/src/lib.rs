//! gridwalk-ffi: the thin uniffi layer the Android and iOS shells link.
//!
//! [`GridStore`] wraps one [`gridwalk_core::Store`]; every exported method is a one-line
//! delegation to it, so business rules live only in gridwalk-core. The records and enums
//! (households, residents, visits, answers…) are gridwalk-core's own types, which derive uniffi's
//! traits under core's `uniffi` feature; the generated Kotlin and Swift put them in the
//! `gridwalk_core` module and this crate's API in `gridwalk_ffi`. Failures arrive as one small
//! typed error, [`GridError`]. [`visible_fields`] tells the visit screen which fields to show, so
//! the shells never evaluate a form's conditions themselves.
//!
//! Calls of [`GridStore`] are blocking (SQLite with `synchronous=FULL`): run them off the UI
//! thread (a background dispatcher on Android, a background queue or task on iOS). Network calls
//! ([`SyncClient`], [`enrol`]) are async: suspend functions in Kotlin, `async` in Swift.

mod config;
mod demo;
mod error;
mod events;
mod form;
mod store;
mod sync;

pub use config::VisitPolicy;
pub use demo::demo_roster;
pub use error::GridError;
pub use form::visible_fields;
pub use store::GridStore;
pub use sync::{SyncClient, SyncListener, enrol};

uniffi::setup_scaffolding!();
