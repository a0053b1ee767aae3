//! The office replica: the server is also a peer.
//!
//! The office keeps its own core [`Store`] (`office.db`, encrypted with a key generated once into
//! `office.key`) and syncs it with the hub in process, through [`HubTransport`], as the office
//! principal (full scope). Office actions are ordinary store calls (Automerge changes under the
//! office's actor) followed by [`Office::sync`]; the console reads this store. A console step
//! names the staff member who took it ([`Store::step_event_as`]); the hub accepts steps in
//! another person's name from this principal only ([`Principal::office_replica`]). After devices push,
//! a debounced background sync keeps it fresh. An observer ([`Office::on_synced`]) hears of
//! every sync that brought something, so the console can tell when things arrived.

use std::future::Future;
use std::io::Write;
use std::path::Path;
use std::pin::pin;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use gridwalk_core::Store;
use gridwalk_core::sync::{SyncReport, Transport, TransportError};

use crate::error::{Error, Result};
use crate::hub::HubStore;
use crate::policy::Principal;
use crate::protocol;

/// Person id written into the office's changes.
const OFFICE_PERSON: &str = "office";

/// Reads the office store key, generating it once (owner-only file) on first start.
pub fn load_or_create_key(path: &Path) -> Result<[u8; 32]> {
    match std::fs::read(path) {
        Ok(bytes) => bytes
            .try_into()
            .map_err(|_| Error::Internal("the office key file is damaged".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            getrandom::fill(&mut key).map_err(|e| Error::Internal(format!("random: {e}")))?;
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            let mut f = opts.open(path)?;
            f.write_all(&key)?;
            f.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(e.into()),
    }
}

/// Syncs the office store with the hub directly, as the office principal.
pub struct HubTransport {
    hub: Arc<dyn HubStore>,
    principal: Principal,
}

impl Transport for HubTransport {
    async fn round_trip(&self, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        protocol::handle_sync(self.hub.as_ref(), &self.principal, &body)
            .map(|(reply, _)| reply)
            .map_err(|e| TransportError::Status {
                status: e.status().as_u16(),
                message: e.public_message(),
            })
    }
}

/// Hears of an office sync that received changes: the hub position the office replica has now
/// applied, and the sync's report. Runs on the syncing thread, in sync order; must be quick.
pub type SyncObserver = Box<dyn Fn(u64, &SyncReport) + Send + Sync>;

/// The office peer.
pub struct Office {
    store: Store,
    transport: HubTransport,
    /// One office sync at a time.
    syncing: Mutex<()>,
    observer: OnceLock<SyncObserver>,
}

impl Office {
    /// Opens the office replica in `data_dir` and binds its actor in the hub.
    pub fn open(data_dir: &Path, hub: Arc<dyn HubStore>) -> Result<Office> {
        let key = load_or_create_key(&data_dir.join("office.key"))?;
        let store = Store::open(&data_dir.join("office.db"), &key, OFFICE_PERSON)?;
        // The office's principal carries the store's own device id, so its access-log entries
        // (which name that device) pass the same check as every phone's.
        let principal = hub.bind_office(store.device_id(), &store.actor_id())?;
        Ok(Office {
            store,
            transport: HubTransport { hub, principal },
            syncing: Mutex::new(()),
            observer: OnceLock::new(),
        })
    }

    /// The office's store: the console reads it; office actions are calls on it followed by
    /// [`Office::sync`].
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Sets the observer of syncs that received something; false when one is already set.
    pub fn on_synced(&self, f: SyncObserver) -> bool {
        self.observer.set(f).is_ok()
    }

    /// Syncs the office store with the hub (blocking: call it off the async threads).
    pub fn sync(&self) -> Result<SyncReport> {
        let _one = self.syncing.lock().unwrap_or_else(|p| p.into_inner());
        let cancel = AtomicBool::new(false);
        let fut = gridwalk_core::sync::sync(&self.store, &self.transport, &|_| {}, &cancel);
        match run_ready(fut) {
            Some(Ok(report)) => {
                if report.changes_down > 0
                    && let Some(observe) = self.observer.get()
                {
                    // Still under the sync lock, so observers hear of syncs in order. The sync
                    // itself succeeded: a failure here is logged, never reported as the sync's
                    // (a clerk would retry a step that is already in the hub).
                    match self.store.sync_cursor() {
                        Ok(cursor) => observe(cursor, &report),
                        Err(e) => tracing::warn!(error = %e, "office sync log: cursor unreadable"),
                    }
                }
                Ok(report)
            }
            Some(Err(e)) => Err(Error::Internal(format!("office sync: {e}"))),
            None => Err(Error::Internal("office sync did not complete".into())),
        }
    }
}

/// Runs a future that never waits (the in-process transport answers at once) to completion.
fn run_ready<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}
