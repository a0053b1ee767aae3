//! The HTTP server: routes, TLS, the office replica and its background sync.
//!
//! `POST /v1/enrol` (JSON) trades a one-time code for a bearer credential; `POST /v1/sync`
//! (bearer; body = the core's encoded `SyncRequest`) pushes and pulls in one round trip. Database
//! work runs on blocking threads; no lock is held across an `.await`. Every request, photo and
//! console ones included, passes the [`crate::audit`] layer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::post;
use gridwalk_core::http::{ENROL_PATH, EnrolRequest, Enrolment, SYNC_PATH};
use gridwalk_core::sync::{MAX_BODY_BYTES, SyncReport};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;

use crate::audit::{AuditLog, CallerSlot};
use crate::blobs::{BlobStore, FsBlobStore};
use crate::error::{Error, Result};
use crate::hub::HubStore;
use crate::office::Office;
use crate::protocol;

/// Default listening address: loopback; a reverse proxy or `--addr` opens it up.
pub const DEFAULT_ADDR: &str = "127.0.0.1:7878";
/// Pause after a device's push before the office syncs, so a burst of devices costs one sync.
const OFFICE_SYNC_DEBOUNCE: Duration = Duration::from_millis(200);
/// Syncs decoded at once: each may hold a body inflated to the core's cap, so memory stays bounded.
const CONCURRENT_SYNCS: usize = 4;
/// Enrolment bodies are a few hundred bytes.
const MAX_ENROL_BYTES: usize = 16 << 10;

/// Certificate and key PEM files for HTTPS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// How to run the server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Address to listen on (port 0: any free port).
    pub addr: SocketAddr,
    /// Where the hub, the office replica and its key live.
    pub data_dir: PathBuf,
    /// HTTPS when set, plain HTTP otherwise.
    pub tls: Option<TlsFiles>,
    /// The hub: `None` (or `sqlite`) for the embedded store in the data directory, or a
    /// `postgres://…` URL shared by several server processes.
    pub store: Option<String>,
    /// Days the request audit log (`data_dir/audit`) is kept.
    pub audit_retention_days: u32,
}

impl Default for Config {
    /// Loopback on the default port, `./data`, plain HTTP, the embedded store.
    fn default() -> Config {
        Config {
            addr: DEFAULT_ADDR
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 7878))),
            data_dir: PathBuf::from("./data"),
            tls: None,
            store: None,
            audit_retention_days: crate::audit::DEFAULT_RETENTION_DAYS,
        }
    }
}

#[derive(Clone)]
struct AppState {
    hub: Arc<dyn HubStore>,
    nudge: Arc<Notify>,
    permits: Arc<Semaphore>,
}

/// Opens the hub of a data directory (for the CLI's enrol and revoke as well as the server).
pub fn open_hub(data_dir: &std::path::Path) -> Result<Arc<dyn HubStore>> {
    crate::hub::open(data_dir, None)
}

/// A running server.
pub struct Server {
    addr: SocketAddr,
    tls: bool,
    hub: Arc<dyn HubStore>,
    office: Arc<Office>,
    audit: Arc<AuditLog>,
    handle: axum_server::Handle<SocketAddr>,
    serving: JoinHandle<std::io::Result<()>>,
    syncer: JoinHandle<()>,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("blocking task: {e}")))?
}

/// Starts the server: opens the hub and the office replica, binds, and serves in the background.
pub async fn start(config: Config) -> Result<Server> {
    let (data_dir, store) = (config.data_dir.clone(), config.store.clone());
    let retention = config.audit_retention_days;
    let (hub, office, blobs, audit) = blocking(move || {
        let hub = crate::hub::open(&data_dir, store.as_deref())?;
        let office = Office::open(&data_dir, hub.clone())?;
        let blobs: Arc<dyn BlobStore> = Arc::new(FsBlobStore::open(&data_dir.join("blobs"))?);
        let audit = AuditLog::open(&data_dir, retention)?;
        Ok((hub, Arc::new(office), blobs, audit))
    })
    .await?;
    let console = {
        let (dir, hub, office, blobs) = (
            config.data_dir.clone(),
            hub.clone(),
            office.clone(),
            blobs.clone(),
        );
        let https = config.tls.is_some();
        Arc::new(
            blocking(move || crate::console::Console::open(&dir, hub, office, blobs, https))
                .await?,
        )
    };
    let nudge = Arc::new(Notify::new());
    let state = AppState {
        hub: hub.clone(),
        nudge: nudge.clone(),
        permits: Arc::new(Semaphore::new(CONCURRENT_SYNCS)),
    };
    let app = Router::new()
        .route(
            SYNC_PATH,
            post(sync_handler).layer(DefaultBodyLimit::max(MAX_BODY_BYTES)),
        )
        .route(
            ENROL_PATH,
            post(enrol_handler).layer(DefaultBodyLimit::max(MAX_ENROL_BYTES)),
        )
        .with_state(state)
        .merge(crate::photos::router(hub.clone(), blobs, office.clone()))
        .merge(crate::console::router(console))
        .layer(axum::middleware::from_fn_with_state(
            audit.clone(),
            crate::audit::layer,
        ));

    let listener = std::net::TcpListener::bind(config.addr)?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = axum_server::Handle::new();
    let service = app.into_make_service();
    let serving = match &config.tls {
        Some(tls) => {
            // One process-wide provider (ring); a second install is refused harmlessly.
            let _ = rustls::crypto::ring::default_provider().install_default();
            let rustls_config =
                axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                    .await
                    .map_err(|e| Error::Internal(format!("TLS certificate or key: {e}")))?;
            let server = axum_server::tls_rustls::from_tcp_rustls(listener, rustls_config)?
                .handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
        None => {
            let server = axum_server::from_tcp(listener)?.handle(handle.clone());
            tokio::spawn(server.serve(service))
        }
    };
    let syncer = tokio::spawn(office_syncer(office.clone(), nudge.clone()));
    // Whatever arrived while the office replica was away is taken in at once.
    nudge.notify_one();
    tracing::info!(%addr, tls = config.tls.is_some(), "gridwalk-server listening");
    Ok(Server {
        addr,
        tls: config.tls.is_some(),
        hub,
        office,
        audit,
        handle,
        serving,
        syncer,
    })
}

impl Server {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL devices use (`http://…` or `https://…`).
    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The hub's storage.
    pub fn hub(&self) -> Arc<dyn HubStore> {
        self.hub.clone()
    }

    /// The office replica.
    pub fn office(&self) -> Arc<Office> {
        self.office.clone()
    }

    /// Syncs the office replica now (after an office action, or to see devices' pushes at once).
    pub async fn office_sync(&self) -> Result<SyncReport> {
        let office = self.office.clone();
        blocking(move || office.sync()).await
    }

    /// Runs until the listener fails (or the process is stopped).
    pub async fn wait(&mut self) -> Result<()> {
        (&mut self.serving)
            .await
            .map_err(|e| Error::Internal(format!("server task: {e}")))??;
        Ok(())
    }

    /// Waits until every request answered so far is in the audit log's file.
    pub async fn flush_audit(&self) -> Result<()> {
        let audit = self.audit.clone();
        blocking(move || {
            audit.flush();
            Ok(())
        })
        .await
    }

    /// Stops accepting requests, lets running ones finish (up to a few seconds), stops the
    /// office's background sync and writes out the audit log.
    pub async fn shutdown(self) -> Result<()> {
        self.handle.graceful_shutdown(Some(Duration::from_secs(5)));
        let served = self.serving.await;
        self.syncer.abort();
        let _ = self.syncer.await;
        let audit = self.audit.clone();
        blocking(move || {
            audit.close();
            Ok(())
        })
        .await?;
        served.map_err(|e| Error::Internal(format!("server task: {e}")))??;
        Ok(())
    }
}

async fn office_syncer(office: Arc<Office>, nudge: Arc<Notify>) {
    loop {
        nudge.notified().await;
        tokio::time::sleep(OFFICE_SYNC_DEBOUNCE).await;
        let o = office.clone();
        match blocking(move || o.sync()).await {
            Ok(r) => tracing::debug!(
                changes_down = r.changes_down,
                changes_up = r.changes_up,
                "office replica synced"
            ),
            Err(e) => tracing::error!(error = %e, "office sync failed"),
        }
    }
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty())
        .then(|| token.trim().to_string())
}

async fn sync_handler(
    State(st): State<AppState>,
    caller: CallerSlot,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse> {
    let Some(token) = bearer(&headers) else {
        tracing::info!(status = 401, "sync refused: no credentials");
        return Err(Error::Unauthorized("missing bearer credentials".into()));
    };
    let permit = st
        .permits
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| Error::Busy("the server is shutting down".into()))?;
    let hub = st.hub.clone();
    let bytes_up = body.len();
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let p = match hub.device_by_token(&protocol::token_hash(&token)) {
            Ok(Some((p, false))) => p,
            // The word "revoked" tells the phone to wipe its store (core's SyncError::Revoked).
            Ok(Some((p, true))) => {
                let e = Error::Unauthorized("this device was revoked by the office".into());
                return Err((Some(p.device_id), Box::new(e)));
            }
            Ok(None) => {
                let e = Error::Unauthorized("unknown credentials".into());
                return Err((None, Box::new(e)));
            }
            Err(e) => return Err((None, Box::new(e))),
        };
        match protocol::handle_sync(hub.as_ref(), &p, &body) {
            Ok((reply, outcome)) => Ok((reply, outcome, p.device_id)),
            Err(e) => Err((Some(p.device_id), Box::new(e))),
        }
    })
    .await
    .unwrap_or_else(|e| {
        Err((
            None,
            Box::new(Error::Internal(format!("blocking task: {e}"))),
        ))
    });
    match &result {
        Ok((_, _, device)) | Err((Some(device), _)) => caller.device(device),
        Err((None, _)) => {}
    }
    match result {
        Ok((reply, outcome, device)) => {
            tracing::info!(
                device = %device,
                bytes_up,
                bytes_down = reply.len(),
                changes_up = outcome.pushed_changes,
                changes_new = outcome.fresh_changes,
                items_down = outcome.pulled,
                more = outcome.more,
                "sync"
            );
            if outcome.fresh_changes > 0 {
                st.nudge.notify_one();
            }
            Ok((
                [(header::CONTENT_TYPE, "application/x-gridwalk-sync")],
                reply,
            ))
        }
        Err((device, e)) => {
            tracing::info!(
                device = device.as_deref().unwrap_or("-"),
                status = e.status().as_u16(),
                reason = %e.public_message(),
                "sync refused"
            );
            Err(*e)
        }
    }
}

async fn enrol_handler(
    State(st): State<AppState>,
    caller: CallerSlot,
    Json(req): Json<EnrolRequest>,
) -> Result<Json<Enrolment>> {
    let hub = st.hub.clone();
    match blocking(move || protocol::enrol(hub.as_ref(), &req)).await {
        Ok((enrolment, p)) => {
            caller.device(&p.device_id);
            tracing::info!(device = %p.device_id, role = %p.role, "device enrolled");
            Ok(Json(enrolment))
        }
        Err(e) => {
            tracing::info!(status = e.status().as_u16(), reason = %e.public_message(), "enrolment refused");
            Err(e)
        }
    }
}
