//! The office console: server-rendered pages in Chinese under `/console`.
//!
//! Staff log in ([`auth`]); everything they see is read from the office replica's projections
//! (a core [`gridwalk_core::Store`] synced with the hub in process), and every action they take
//! is an ordinary store call under the office's actor followed by an office sync, so phones
//! receive it at their next sync. Business rules stay in the core: the console only renders
//! and forwards. Pages are built with `maud`, which escapes every interpolated value.
//!
//! Staff see and act on only the grids of their account ([`auth::Staff::grids`]): every query
//! takes them and every record page checks its grid, on the server.
//!
//! Modules: [`auth`] (staff accounts, scopes, sessions, CSRF, audit), [`layout`] (page shell,
//! labels, time formatting), [`today`] (what arrived since the clerk last looked), [`board`]
//! (event board, event page and actions), [`pages`] (households, coverage), [`devices`]
//! (enrolment codes with QR, revocation), [`import`] (roster from .xlsx/.csv), [`export`]
//! (.xlsx reports).

pub mod auth;
pub mod board;
pub mod devices;
pub mod export;
pub mod import;
pub mod layout;
pub mod pages;
pub mod today;

use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use gridwalk_core::event_store::Identity;

use crate::blobs::BlobStore;
use crate::error::{Error, Result};
use crate::hub::HubStore;
use crate::office::Office;

/// Where the console lives in the server's URL space.
pub const PREFIX: &str = "/console";
/// Largest roster upload accepted (a 30 000-household roster is a few megabytes).
const MAX_UPLOAD_BYTES: usize = 16 << 20;

/// Everything the console's handlers share.
pub struct Console {
    hub: Arc<dyn HubStore>,
    office: Arc<Office>,
    blobs: Arc<dyn BlobStore>,
    staff: Arc<auth::StaffDb>,
    https: bool,
}

/// The handlers' state.
pub type ConsoleState = Arc<Console>;

impl Console {
    /// Opens the console's staff database in `data_dir`, makes sure the office replica acts
    /// with the office's role and starts logging the office's syncs (for [`today`]). `https`:
    /// the server answers over TLS, so session cookies are marked `Secure`.
    pub fn open(
        data_dir: &Path,
        hub: Arc<dyn HubStore>,
        office: Arc<Office>,
        blobs: Arc<dyn BlobStore>,
        https: bool,
    ) -> Result<Console> {
        let staff = Arc::new(auth::StaffDb::open(&data_dir.join("staff.db"))?);
        staff.start_sync_log(office.store().sync_cursor()?, now_ms())?;
        let log = staff.clone();
        office.on_synced(Box::new(move |hub_seq, report| {
            if let Err(e) = log.log_office_sync(hub_seq, now_ms(), report.changes_down) {
                tracing::error!(error = %e, "could not log the office sync");
            }
        }));
        let me = office.store().identity()?;
        if me.role != "office" {
            office.store().set_identity(&Identity {
                role: "office".into(),
                scope: Vec::new(),
            })?;
        }
        Ok(Console {
            hub,
            office,
            blobs,
            staff,
            https,
        })
    }

    /// Whether the server answers over HTTPS (session cookies are then `Secure`).
    pub fn https(&self) -> bool {
        self.https
    }

    /// The staff accounts, sessions and audit trail.
    pub fn staff(&self) -> &auth::StaffDb {
        &self.staff
    }

    /// The office replica.
    pub fn office(&self) -> &Arc<Office> {
        &self.office
    }

    /// A photo by SHA-256: from the office replica, else from the photos devices uploaded.
    pub fn photo(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        match self.office.store().photo(hash) {
            Ok(b) => Ok(Some(b)),
            Err(gridwalk_core::Error::NotFound { .. }) => self.blobs.read(hash),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a photo is held (for pages that show it or say it has not arrived yet), without
    /// reading its bytes: the blob store answers from file metadata, the office replica by an
    /// existence query on its photos.
    pub fn has_photo(&self, hash: &str) -> Result<bool> {
        if crate::blobs::is_photo_hash(hash) && self.blobs.exists(hash)? {
            return Ok(true);
        }
        Ok(self.office.store().has_photo(hash)?)
    }

    /// The hub (devices, enrolment codes).
    pub fn hub(&self) -> &Arc<dyn HubStore> {
        &self.hub
    }
}

/// The console's routes, all under [`PREFIX`].
pub fn router(console: ConsoleState) -> Router {
    let r = Router::new()
        .route("/", get(|| async { Redirect::to("/console/today") }))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/assets/console.css", get(layout::stylesheet))
        .route("/today", get(today::today))
        .route("/today/seen", post(today::mark_seen))
        .route("/board", get(board::board))
        .route("/events/{id}", get(board::event_page))
        .route("/events/{id}/act", post(board::act))
        .route("/photos/{hash}", get(board::photo))
        .route("/households", get(pages::households))
        .route("/households/{id}", get(pages::household))
        .route("/households/{id}/reveal", post(pages::reveal))
        .route("/coverage", get(pages::coverage))
        .route("/devices", get(devices::list))
        .route("/devices/enrol", post(devices::enrol))
        .route("/devices/{id}/revoke", post(devices::revoke))
        .route(
            "/roster",
            get(import::form)
                .post(import::upload)
                .layer(DefaultBodyLimit::max(MAX_UPLOAD_BYTES)),
        )
        .route("/export", get(export::index))
        .route("/export/{name}", get(export::download))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(console);
    Router::new().nest(PREFIX, r)
}

/// Headers every console answer carries: no framing, no sniffing, no referrer, scripts and
/// styles from the console only, nothing cached (pages show personal data).
async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    let set = |h: &mut axum::http::HeaderMap, k: header::HeaderName, v: &'static str| {
        if !h.contains_key(&k) {
            h.insert(k, HeaderValue::from_static(v));
        }
    };
    set(
        h,
        header::CONTENT_SECURITY_POLICY,
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
         frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "no-referrer");
    set(h, header::CACHE_CONTROL, "no-store");
    resp
}

/// A failed console request, answered with a Chinese error page.
#[derive(Debug)]
pub struct Fail(pub Error);

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail(e)
    }
}

impl From<gridwalk_core::Error> for Fail {
    fn from(e: gridwalk_core::Error) -> Fail {
        Fail(Error::Core(e))
    }
}

/// A console handler's answer.
pub type Page = std::result::Result<Response, Fail>;

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        use gridwalk_core::Error as C;
        let (status, lines): (StatusCode, Vec<String>) = match &self.0 {
            Error::Core(C::Invalid(fields)) => (
                StatusCode::BAD_REQUEST,
                fields.iter().map(|f| f.message.clone()).collect(),
            ),
            Error::Core(C::NotFound { .. }) => (StatusCode::NOT_FOUND, vec!["未找到该记录".into()]),
            Error::Core(C::Forbidden(_)) => (StatusCode::FORBIDDEN, vec!["无权执行此操作".into()]),
            Error::Core(C::Erased(_)) => (
                StatusCode::GONE,
                vec!["该居民的个人信息已删除,无法查看".into()],
            ),
            e => {
                let status = e.status();
                if status.is_server_error() {
                    tracing::error!(error = %e, "console request failed");
                }
                let text = match e {
                    Error::Unauthorized(_) => "请先登录".to_string(),
                    Error::Forbidden(m) | Error::BadRequest(m) | Error::Conflict(m) => m.clone(),
                    Error::TooLarge(_) => "上传的文件过大".to_string(),
                    _ => "服务器内部错误,请稍后重试".to_string(),
                };
                (status, vec![text])
            }
        };
        (status, layout::error_page(status, &lines)).into_response()
    }
}

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> std::result::Result<T, Fail> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Fail(Error::Internal(format!("blocking task: {e}"))))?
        .map_err(Fail)
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Redirect after a successful POST (303: the browser follows with GET).
pub(crate) fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}
