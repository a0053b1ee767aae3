//! Staff accounts, sessions, CSRF tokens and the audit trail of staff actions.
//!
//! Accounts live in `staff.db` in the data directory (plain SQLite: it holds only Argon2id
//! hashes, session-token hashes, the audit trail, each clerk's "seen up to" mark and the log of
//! office syncs; no residents' data). A login gives a random session token in an
//! `HttpOnly; SameSite=Strict` cookie, `Secure` too when the server runs HTTPS (only its
//! SHA-256 is stored), that expires after [`SESSION_TTL_MS`], and a per-session CSRF token every
//! POST form must carry. Five failed logins for one name within 15 minutes block that name for
//! the rest of the window. The audit trail names the staff member, the action and the record id;
//! never personal data.
//!
//! Staff have the device roles' names and scopes: the office sees the whole community; a grid
//! leader or grid worker only the grids stored with their account ([`Staff::grids`]), which
//! every page and action enforces on the server. Building leads get no console account: they are
//! resident volunteers who file and follow their reports on the phone, and the console's pages
//! are about households and residents they must not see.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;
use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Deserialize;

use super::{ConsoleState, Fail, Page, blocking, layout, now_ms};
use crate::audit::{Caller, CallerSlot};
use crate::error::{Error, Result};
use crate::protocol::sha256;

/// Sessions end this long after login (a working day).
pub const SESSION_TTL_MS: i64 = 8 * 3_600_000;
/// The session cookie's name.
pub const COOKIE: &str = "gw_session";
/// Failed logins for one name that block it …
const MAX_FAILURES: i64 = 5;
/// … within this window.
const FAILURE_WINDOW_MS: i64 = 15 * 60_000;
/// Shortest password accepted.
const MIN_PASSWORD_CHARS: usize = 8;

/// What a staff member may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffRole {
    /// 社区办公室: everything, including devices, the roster and staff; every grid.
    Office,
    /// 网格长: the event loop, lookups, coverage and exports of their grids; not devices or the
    /// roster.
    GridLeader,
    /// 网格员 at the office desk: lookups, coverage and exports of their grids, and the event
    /// steps a grid worker may take (escalate); not dispatch, verify or close.
    GridWorker,
}

impl StaffRole {
    /// Stored name (the same names as device roles).
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Office => "office",
            StaffRole::GridLeader => "grid_leader",
            StaffRole::GridWorker => "grid_worker",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<StaffRole> {
        match s {
            "office" => Some(StaffRole::Office),
            "grid_leader" => Some(StaffRole::GridLeader),
            "grid_worker" => Some(StaffRole::GridWorker),
            _ => None,
        }
    }
}

/// A logged-in staff member (the extractor of every console page).
#[derive(Debug, Clone)]
pub struct Staff {
    /// Login name.
    pub username: String,
    /// Role.
    pub role: StaffRole,
    /// Grid ids the account works on (empty for the office, which sees every grid).
    pub scope: Vec<String>,
    /// The session's CSRF token.
    pub csrf: String,
}

impl Staff {
    /// The grids this person may see: `None` for the office (every grid), else their scope (an
    /// empty scope sees nothing). Pass it to every office query.
    pub fn grids(&self) -> Option<&[String]> {
        match self.role {
            StaffRole::Office => None,
            StaffRole::GridLeader | StaffRole::GridWorker => Some(&self.scope),
        }
    }

    /// Whether this person may see records of `grid`.
    pub fn sees_grid(&self, grid: &str) -> bool {
        self.grids().is_none_or(|g| g.iter().any(|x| x == grid))
    }

    /// Answers "not found" for a record of a grid this person may not see: the same answer as
    /// for a record that does not exist, so ids of other grids cannot be probed.
    pub fn check_grid(&self, grid: &str, kind: &'static str) -> std::result::Result<(), Fail> {
        if self.sees_grid(grid) {
            Ok(())
        } else {
            Err(Fail(Error::Core(gridwalk_core::Error::NotFound {
                kind,
                id: String::new(),
            })))
        }
    }

    /// Refuses a POST whose CSRF token is not this session's.
    pub fn check_csrf(&self, sent: &str) -> std::result::Result<(), Fail> {
        if constant_time_eq(sent.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(Fail(Error::Forbidden(
                "表单已失效(安全校验未通过),请刷新页面后重试".into(),
            )))
        }
    }

    /// Refuses anyone but the office.
    pub fn require_office(&self) -> std::result::Result<(), Fail> {
        if self.role == StaffRole::Office {
            Ok(())
        } else {
            Err(Fail(Error::Forbidden("此操作仅限社区办公室人员".into())))
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// When.
    pub at_ms: i64,
    /// Staff member.
    pub username: String,
    /// What they did (`login`, `dispatch`, `reveal`, `enrol` …).
    pub action: String,
    /// The record acted on (an id; never personal data).
    pub target: String,
}

/// The staff database.
pub struct StaffDb {
    conn: Mutex<Connection>,
    /// A hash of a random password, checked for unknown names so timing does not tell which
    /// names exist.
    dummy: String,
}

fn hash_password(password: &str) -> Result<String> {
    let mut salt_bytes = [0u8; 16];
    getrandom::fill(&mut salt_bytes).map_err(|e| Error::Internal(format!("random: {e}")))?;
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| Error::Internal(format!("salt: {e}")))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| Error::Internal(format!("argon2: {e}")))?
        .to_string())
}

fn random_hex<const N: usize>() -> Result<String> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Error::Internal(format!("random: {e}")))?;
    Ok(hex::encode(b))
}

/// The staff database's schema version (`PRAGMA user_version`). Version 1 is the layout before
/// versioning (user_version 0 with a `staff` table).
const SCHEMA_VERSION: i64 = 2;

fn prepare(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "
        -- A crash never leaves a half-written page; readers do not wait for the writer.
        PRAGMA journal_mode = WAL;
        -- The CLI (staff-add) may write while the server runs: wait for the lock.
        PRAGMA busy_timeout = 5000;
        -- Sessions name an account that exists.
        PRAGMA foreign_keys = ON;
        ",
    )?;
    Ok(())
}

/// The latest schema, for a new database.
fn init(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(
        "
        CREATE TABLE staff (
            username   TEXT PRIMARY KEY,
            role       TEXT NOT NULL,
            pw_hash    TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            scope      TEXT NOT NULL DEFAULT '[]'
        );
        CREATE TABLE sessions (
            token_hash BLOB PRIMARY KEY,
            username   TEXT NOT NULL REFERENCES staff (username) ON DELETE CASCADE,
            csrf       TEXT NOT NULL,
            expires_ms INTEGER NOT NULL
        );
        CREATE TABLE login_failures (
            username TEXT NOT NULL,
            at_ms    INTEGER NOT NULL
        );
        CREATE INDEX login_failures_name ON login_failures (username, at_ms);
        CREATE TABLE audit (
            seq      INTEGER PRIMARY KEY,
            at_ms    INTEGER NOT NULL,
            username TEXT NOT NULL,
            action   TEXT NOT NULL,
            target   TEXT NOT NULL
        );
        ",
    )?;
    create_v2_tables(tx)
}

/// Tables version 2 added: each clerk's "seen up to" mark on the hub's sequence and the log of
/// office syncs that received something (see `console::today`).
fn create_v2_tables(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(
        "
        CREATE TABLE seen_marks (
            username TEXT PRIMARY KEY REFERENCES staff (username) ON DELETE CASCADE,
            hub_seq  INTEGER NOT NULL,
            at_ms    INTEGER NOT NULL
        );
        CREATE TABLE office_syncs (
            hub_seq INTEGER PRIMARY KEY,
            at_ms   INTEGER NOT NULL,
            changes INTEGER NOT NULL
        );
        CREATE INDEX office_syncs_at ON office_syncs (at_ms);
        ",
    )?;
    Ok(())
}

/// One step per schema version.
fn upgrade_from(tx: &Transaction<'_>, version: i64) -> Result<()> {
    match version {
        // Staff scope (accounts from before it get none: a grid role sees nothing until the
        // office sets its grids with staff-add), the seen marks and the office sync log.
        1 => {
            tx.execute_batch("ALTER TABLE staff ADD COLUMN scope TEXT NOT NULL DEFAULT '[]';")?;
            create_v2_tables(tx)
        }
        v => Err(Error::Internal(format!(
            "staff database version {v} has no upgrade path"
        ))),
    }
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::Internal(format!(
            "staff.db has schema version {version}, newer than this server ({SCHEMA_VERSION})"
        )));
    }
    if version == 0 {
        let unversioned: bool = tx.query_row(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'staff')",
            [],
            |r| r.get(0),
        )?;
        if unversioned {
            version = 1;
        } else {
            init(&tx)?;
            version = SCHEMA_VERSION;
        }
    }
    while version < SCHEMA_VERSION {
        upgrade_from(&tx, version)?;
        version += 1;
    }
    tx.pragma_update(None, "user_version", version)?;
    tx.commit()?;
    Ok(())
}

fn scope_to_text(scope: &[String]) -> Result<String> {
    serde_json::to_string(scope).map_err(|e| Error::Internal(format!("scope: {e}")))
}

fn scope_from_text(s: &str) -> Vec<String> {
    // A damaged scope is an empty one: the account then sees nothing, never everything.
    serde_json::from_str(s).unwrap_or_default()
}

/// Checks a staff account's scope for its role and returns it cleaned (trimmed, sorted, no
/// duplicates): the office has none, a grid role needs at least one grid id.
pub fn check_scope(role: StaffRole, scope: &[String]) -> Result<Vec<String>> {
    let mut clean: Vec<String> = scope
        .iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    clean.sort();
    clean.dedup();
    for id in &clean {
        crate::policy::check_id("grid", id)?;
    }
    match role {
        StaffRole::Office if !clean.is_empty() => Err(Error::BadRequest(
            "社区办公室账号看全部网格,不设负责范围(office accounts take no scope)".into(),
        )),
        StaffRole::GridLeader | StaffRole::GridWorker if clean.is_empty() => {
            Err(Error::BadRequest(
                "网格长、网格员账号须填写负责的网格编号(grid roles need --scope with grid ids)"
                    .into(),
            ))
        }
        _ => Ok(clean),
    }
}

fn check_username(u: &str) -> Result<()> {
    if u.is_empty()
        || u.chars().count() > 64
        || u.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(Error::BadRequest("用户名须为 1–64 个字符,不含空格".into()));
    }
    Ok(())
}

impl StaffDb {
    /// Opens (creating or upgrading if needed) the staff database.
    pub fn open(path: &Path) -> Result<StaffDb> {
        let mut conn = Connection::open(path)?;
        prepare(&conn)?;
        migrate(&mut conn)?;
        Ok(StaffDb {
            conn: Mutex::new(conn),
            dummy: hash_password(&random_hex::<16>()?)?,
        })
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a staff account, or sets a new role, scope (grid ids; none for the office) and
    /// password for an existing one.
    pub fn set_staff(
        &self,
        username: &str,
        role: StaffRole,
        scope: &[String],
        password: &str,
    ) -> Result<()> {
        check_username(username)?;
        let scope = check_scope(role, scope)?;
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(Error::BadRequest(format!(
                "密码至少 {MIN_PASSWORD_CHARS} 个字符"
            )));
        }
        let hash = hash_password(password)?;
        let conn = self.conn();
        conn.execute(
            "INSERT INTO staff (username, role, pw_hash, created_ms, scope) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (username) DO UPDATE
             SET role = excluded.role, pw_hash = excluded.pw_hash, scope = excluded.scope",
            params![username, role.as_str(), hash, now_ms(), scope_to_text(&scope)?],
        )?;
        // A new password ends every open session of the account.
        conn.execute("DELETE FROM sessions WHERE username = ?1", [username])?;
        Ok(())
    }

    /// Checks a login at `now_ms`: `Ok(Some(role))` on success, `Ok(None)` for a wrong name or
    /// password, an error when the name is blocked by too many failures.
    pub fn verify_login(
        &self,
        username: &str,
        password: &str,
        now_ms: i64,
    ) -> Result<Option<StaffRole>> {
        let (failures, row): (i64, Option<(String, String)>) = {
            let conn = self.conn();
            let failures = conn.query_row(
                "SELECT count(*) FROM login_failures WHERE username = ?1 AND at_ms > ?2",
                params![username, now_ms - FAILURE_WINDOW_MS],
                |r| r.get(0),
            )?;
            let row = conn
                .query_row(
                    "SELECT role, pw_hash FROM staff WHERE username = ?1",
                    [username],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            (failures, row)
        };
        if failures >= MAX_FAILURES {
            return Err(Error::Forbidden("登录失败次数过多,请 15 分钟后再试".into()));
        }
        // Hash even for an unknown name, so timing does not tell which names exist.
        let stored = row
            .as_ref()
            .map_or(self.dummy.as_str(), |(_, h)| h.as_str());
        let ok = PasswordHash::new(stored)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        match row {
            Some((role, _)) if ok => Ok(StaffRole::parse(&role)),
            _ => {
                let conn = self.conn();
                conn.execute(
                    "INSERT INTO login_failures (username, at_ms) VALUES (?1, ?2)",
                    params![username, now_ms],
                )?;
                conn.execute(
                    "DELETE FROM login_failures WHERE at_ms < ?1",
                    [now_ms - FAILURE_WINDOW_MS],
                )?;
                Ok(None)
            }
        }
    }

    /// Opens a session for `username` at `now_ms`; returns the cookie token.
    pub fn create_session(&self, username: &str, now_ms: i64) -> Result<String> {
        let token = random_hex::<32>()?;
        let csrf = random_hex::<32>()?;
        let conn = self.conn();
        conn.execute("DELETE FROM sessions WHERE expires_ms <= ?1", [now_ms])?;
        conn.execute(
            "INSERT INTO sessions (token_hash, username, csrf, expires_ms) VALUES (?1, ?2, ?3, ?4)",
            params![
                &sha256(token.as_bytes())[..],
                username,
                csrf,
                now_ms + SESSION_TTL_MS
            ],
        )?;
        Ok(token)
    }

    /// The staff member of a live session at `now_ms`.
    pub fn session(&self, token: &str, now_ms: i64) -> Result<Option<Staff>> {
        let row: Option<(String, String, String, String)> = self
            .conn()
            .query_row(
                "SELECT s.username, st.role, st.scope, s.csrf
                 FROM sessions s JOIN staff st USING (username)
                 WHERE s.token_hash = ?1 AND s.expires_ms > ?2",
                params![&sha256(token.as_bytes())[..], now_ms],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        Ok(row.and_then(|(username, role, scope, csrf)| {
            Some(Staff {
                username,
                role: StaffRole::parse(&role)?,
                scope: scope_from_text(&scope),
                csrf,
            })
        }))
    }

    /// Ends a session.
    pub fn end_session(&self, token: &str) -> Result<()> {
        self.conn().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            [&sha256(token.as_bytes())[..]],
        )?;
        Ok(())
    }

    /// Appends to the audit trail (and the server log, without personal data).
    pub fn audit(&self, username: &str, action: &str, target: &str) -> Result<()> {
        tracing::info!(staff = %username, action, target, "console action");
        self.conn().execute(
            "INSERT INTO audit (at_ms, username, action, target) VALUES (?1, ?2, ?3, ?4)",
            params![now_ms(), username, action, target],
        )?;
        Ok(())
    }

    /// The newest `limit` audit entries, newest first.
    pub fn audit_log(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT at_ms, username, action, target FROM audit ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| {
            Ok(AuditEntry {
                at_ms: r.get(0)?,
                username: r.get(1)?,
                action: r.get(2)?,
                target: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Creates or updates a staff account in a data directory (the `staff-add` command); `scope`
/// is the grid ids of a grid role, empty for the office.
pub fn staff_add(
    data_dir: &Path,
    username: &str,
    role: &str,
    scope: &[String],
    password: &str,
) -> Result<()> {
    let role = StaffRole::parse(role).ok_or_else(|| {
        Error::BadRequest(if role == "building_lead" {
            "building leads have no console account: they file and follow their reports on the \
             phone (--role must be office, grid_leader or grid_worker)"
                .into()
        } else {
            "--role must be office, grid_leader or grid_worker".into()
        })
    })?;
    std::fs::create_dir_all(data_dir)?;
    StaffDb::open(&data_dir.join("staff.db"))?.set_staff(username, role, scope, password)
}

/// Creates the demo's clerk (role office) with a fresh random password; returns the name and
/// the password to print.
pub fn demo_clerk(data_dir: &Path) -> Result<(String, String)> {
    let password = random_hex::<6>()?;
    staff_add(data_dir, "demo-clerk", "office", &[], &password)?;
    Ok(("demo-clerk".into(), password))
}

/// The `Set-Cookie` value carrying session `token` for `max_age_s` seconds (an empty token with
/// 0 ends it): never readable by scripts, never sent from another site, and over HTTPS never
/// sent over plain HTTP.
pub fn cookie_header(token: &str, max_age_s: i64, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict{secure}; Max-Age={max_age_s}"
    )
}

/// The session token from the request's cookies.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

impl FromRequestParts<ConsoleState> for Staff {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        st: &ConsoleState,
    ) -> std::result::Result<Staff, Response> {
        let to_login = || Redirect::to("/console/login").into_response();
        let Some(token) = session_cookie(&parts.headers) else {
            return Err(to_login());
        };
        let c = st.clone();
        match blocking(move || c.staff().session(&token, now_ms())).await {
            Ok(Some(staff)) => {
                crate::audit::note(&parts.extensions, Caller::Staff(staff.username.clone()));
                Ok(staff)
            }
            Ok(None) => Err(to_login()),
            Err(f) => Err(f.into_response()),
        }
    }
}

/// The login form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

fn login_markup(error: Option<&str>, username: &str) -> Html<String> {
    Html(
        layout::bare(
            "工作人员登录",
            html! {
                @if let Some(e) = error { p.error role="alert" { (e) } }
                form method="post" action="/console/login" {
                    p {
                        label for="username" { "用户名" }
                        br;
                        input #username type="text" name="username" value=(username)
                            autocomplete="username" required autofocus;
                    }
                    p {
                        label for="password" { "密码" }
                        br;
                        input #password type="password" name="password"
                            autocomplete="current-password" required;
                    }
                    button type="submit" { "登录" }
                }
            },
        )
        .into_string(),
    )
}

/// `GET /console/login`.
pub async fn login_page() -> Html<String> {
    login_markup(None, "")
}

/// `POST /console/login`.
pub async fn login(
    State(st): State<ConsoleState>,
    caller: CallerSlot,
    Form(f): Form<LoginForm>,
) -> Page {
    let username = f.username.trim().to_string();
    let c = st.clone();
    let name = username.clone();
    let outcome = blocking(move || {
        let now = now_ms();
        match c.staff().verify_login(&name, &f.password, now) {
            Ok(Some(_)) => {
                let token = c.staff().create_session(&name, now)?;
                c.staff().audit(&name, "login", "-")?;
                Ok(Ok(token))
            }
            Ok(None) => Ok(Err("用户名或密码错误".to_string())),
            Err(Error::Forbidden(m)) => Ok(Err(m)),
            Err(e) => Err(e),
        }
    })
    .await?;
    match outcome {
        Ok(token) => {
            // Only a name that logged in is recorded: a failed attempt's "name" may be anything
            // (a mistyped password, someone else's name).
            caller.set(Caller::Staff(username.clone()));
            let cookie = cookie_header(&token, SESSION_TTL_MS / 1000, st.https());
            Ok((
                StatusCode::SEE_OTHER,
                [
                    (header::SET_COOKIE, cookie),
                    (header::LOCATION, "/console/today".to_string()),
                ],
            )
                .into_response())
        }
        Err(msg) => {
            tracing::info!("console login refused");
            Ok((
                StatusCode::UNAUTHORIZED,
                login_markup(Some(&msg), &username),
            )
                .into_response())
        }
    }
}

/// A form that carries only the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    /// The session's CSRF token.
    pub csrf: String,
}

/// `POST /console/logout`.
pub async fn logout(
    State(st): State<ConsoleState>,
    staff: Staff,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Page {
    staff.check_csrf(&f.csrf)?;
    if let Some(token) = session_cookie(&headers) {
        let c = st.clone();
        let name = staff.username.clone();
        blocking(move || {
            c.staff().end_session(&token)?;
            c.staff().audit(&name, "logout", "-")
        })
        .await?;
    }
    Ok((
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, cookie_header("", 0, st.https())),
            (header::LOCATION, "/console/login".to_string()),
        ],
    )
        .into_response())
}
