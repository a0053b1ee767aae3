//! gridwalk-ffi: the thin uniffi layer the Android and iOS shells link.
//!
//! [`GridStore`] wraps one [`gridwalk_core::Store`]; every exported method is a one-line
//! delegation to it, so business rules live only in gridwalk-core. The records and enums
//! (households, residents, visits, answers…) are gridwalk-core's own types, which derive uniffi's
//! traits under core's `uniffi` feature; the generated Kotlin and Swift put them in the
//! `gridwalk_core` module and this crate's API in `gridwalk_ffi`. Failures arrive as one small
//! typed error, [`GridError`].
//!
//! Every call is blocking (SQLite with `synchronous=FULL`): run it off the UI thread (a
//! background dispatcher on Android, a background queue or task on iOS).

mod config;
mod demo;
mod error;
mod store;

pub use config::VisitPolicy;
pub use demo::demo_roster;
pub use error::GridError;
pub use store::GridStore;

uniffi::setup_scaffolding!();
