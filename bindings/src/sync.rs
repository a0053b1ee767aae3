//! Sync from the apps: [`SyncClient`] (the end-of-day sync and photo transfers over HTTPS),
//! [`SyncListener`] (progress, implemented by the shell) and [`enrol`] (trading the office's
//! one-time code for a credential). Each is a thin adapter over `gridwalk_core::sync`,
//! `gridwalk_core::photo_sync` and `gridwalk_core::http`.
//!
//! These calls are `async`: suspend functions in Kotlin, `async` functions in Swift. They run on
//! a tokio runtime inside the library, so the caller's thread is never blocked; cancelling the
//! coroutine or task stops the call at its next step, like [`SyncClient::cancel`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gridwalk_core::event_store::Identity;
use gridwalk_core::http::{self, EnrolRequest, Enrolment, HttpTransport};
use gridwalk_core::photo_sync::{self, PhotoReport};
use gridwalk_core::sync::{self, SyncProgress, SyncReport};

use crate::error::GridError;
use crate::store::GridStore;

/// Receives a sync's progress; implemented by the shell (to drive a progress bar or a
/// notification).
#[uniffi::export(with_foreign)]
pub trait SyncListener: Send + Sync {
    /// Called after each step of a sync, from a library thread: return quickly, and hop to the
    /// UI thread before touching views.
    fn on_progress(&self, progress: SyncProgress);
}

/// The connection to the community office's server for one enrolled device.
///
/// Its calls are suspend functions in Kotlin and `async` in Swift. A store syncs through one
/// client at a time.
#[derive(uniffi::Object)]
pub struct SyncClient {
    transport: HttpTransport,
    /// Checked by the core between steps; set by [`SyncClient::cancel`].
    cancel: AtomicBool,
}

impl SyncClient {
    /// Clears an earlier [`SyncClient::cancel`]: it stops the transfers running then, not the
    /// next ones.
    fn start(&self) -> &AtomicBool {
        self.cancel.store(false, Ordering::Relaxed);
        &self.cancel
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl SyncClient {
    /// A client of the server at `base_url` (`https://office.example:7878`) with the bearer
    /// `token` from [`enrol`], trusting the office's certificate `ca_pem` (PEM bytes) in addition
    /// to the system's roots. A certificate that does not parse fails with
    /// [`GridError::Network`]. Does no I/O.
    #[uniffi::constructor]
    pub fn new(
        base_url: String,
        token: String,
        ca_pem: Option<Vec<u8>>,
    ) -> Result<Arc<Self>, GridError> {
        let transport = HttpTransport::new(&base_url, &token, ca_pem.as_deref())?;
        Ok(Arc::new(SyncClient {
            transport,
            cancel: AtomicBool::new(false),
        }))
    }

    /// Syncs `store` with the server until both sides are up to date (usually one or two round
    /// trips), reporting progress to `listener`, then compacts the store. Safe to retry after any
    /// failure: nothing is lost or duplicated. Fails with [`GridError::Network`] when the server
    /// cannot be reached (retry later), [`GridError::Revoked`] when the office revoked this device
    /// (wipe the store with [`GridStore::wipe`] and destroy its key), [`GridError::Interrupted`]
    /// after [`SyncClient::cancel`].
    pub async fn sync(
        &self,
        store: Arc<GridStore>,
        listener: Arc<dyn SyncListener>,
    ) -> Result<SyncReport, GridError> {
        let store = store.shared()?;
        let progress = move |p: SyncProgress| listener.on_progress(p);
        Ok(sync::sync(&store, &self.transport, &progress, self.start()).await?)
    }

    /// Uploads the photos the server does not have yet, in chunks, resuming where an earlier
    /// upload stopped. Call it after [`SyncClient::sync`] (on Wi-Fi, if the app prefers).
    pub async fn upload_photos(&self, store: Arc<GridStore>) -> Result<PhotoReport, GridError> {
        let store = store.shared()?;
        Ok(photo_sync::upload_photos(&store, &self.transport, self.start()).await?)
    }

    /// Downloads the photos that records on this device reference but it does not hold.
    pub async fn download_photos(&self, store: Arc<GridStore>) -> Result<PhotoReport, GridError> {
        let store = store.shared()?;
        Ok(photo_sync::download_photos(&store, &self.transport, self.start()).await?)
    }

    /// Stops a sync or photo transfer of this client at its next step; it fails with
    /// [`GridError::Interrupted`] and leaves the store consistent (the next sync resumes).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }
}

/// Enrols this device: trades the office's one-time `code` (shown as text and QR) for a
/// credential at `base_url`, binding `store`'s device and actor ids to it, and records the
/// enrolment's role and scope as the store's identity. Keep [`Enrolment::token`] in the
/// keystore/keychain and pass it to [`SyncClient::new`]. A used, expired or unknown code fails
/// with [`GridError::Forbidden`]; an unreachable server with [`GridError::Network`].
/// A suspend function in Kotlin, `async` in Swift.
#[uniffi::export(async_runtime = "tokio")]
pub async fn enrol(
    base_url: String,
    ca_pem: Option<Vec<u8>>,
    code: String,
    store: Arc<GridStore>,
) -> Result<Enrolment, GridError> {
    let request = EnrolRequest {
        code,
        device_id: store.device_id()?,
        actor_id: store.actor_id()?,
    };
    let enrolment = http::enrol(&base_url, ca_pem.as_deref(), &request).await?;
    store.set_identity(Identity {
        role: enrolment.role.clone(),
        scope: enrolment.scope.clone(),
    })?;
    Ok(enrolment)
}
