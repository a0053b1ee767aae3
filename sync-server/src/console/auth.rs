//! Staff accounts, sessions, CSRF tokens and the audit trail of staff actions.
//!
//! Accounts live in `staff.db` in the data directory (plain SQLite: it holds only Argon2id
//! hashes, session-token hashes and the audit trail, no residents' data). A login gives a random
//! session token in an `HttpOnly; SameSite=Strict` cookie (only its SHA-256 is stored) that
//! expires after [`SESSION_TTL_MS`], and a per-session CSRF token every POST form must carry.
//! Five failed logins for one name within 15 minutes block that name for the rest of the window.
//! The audit trail names the staff member, the action and the record id; never personal data.

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
use rusqlite::{Connection, OptionalExtension, params};
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
    /// 社区办公室: everything, including devices, the roster and staff.
    Office,
    /// 网格长: the event loop, lookups, coverage and exports; not devices or the roster.
    GridLeader,
}

impl StaffRole {
    /// Stored name (the same names as device roles).
    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Office => "office",
            StaffRole::GridLeader => "grid_leader",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<StaffRole> {
        match s {
            "office" => Some(StaffRole::Office),
            "grid_leader" => Some(StaffRole::GridLeader),
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
    /// The session's CSRF token.
    pub csrf: String,
}

impl Staff {
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
    /// Opens (creating if needed) the staff database.
    pub fn open(path: &Path) -> Result<StaffDb> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "
            -- A crash never leaves a half-written page; readers do not wait for the writer.
            PRAGMA journal_mode = WAL;
            -- The CLI (staff-add) may write while the server runs.
            PRAGMA busy_timeout = 5000;
            PRAGMA foreign_keys = ON;
            CREATE TABLE IF NOT EXISTS staff (
                username   TEXT PRIMARY KEY,
                role       TEXT NOT NULL,
                pw_hash    TEXT NOT NULL,
                created_ms INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS sessions (
                token_hash BLOB PRIMARY KEY,
                username   TEXT NOT NULL REFERENCES staff (username) ON DELETE CASCADE,
                csrf       TEXT NOT NULL,
                expires_ms INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS login_failures (
                username TEXT NOT NULL,
                at_ms    INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS login_failures_name ON login_failures (username, at_ms);
            CREATE TABLE IF NOT EXISTS audit (
                seq      INTEGER PRIMARY KEY,
                at_ms    INTEGER NOT NULL,
                username TEXT NOT NULL,
                action   TEXT NOT NULL,
                target   TEXT NOT NULL
            );
            ",
        )?;
        Ok(StaffDb {
            conn: Mutex::new(conn),
            dummy: hash_password(&random_hex::<16>()?)?,
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a staff account, or sets a new role and password for an existing one.
    pub fn set_staff(&self, username: &str, role: StaffRole, password: &str) -> Result<()> {
        check_username(username)?;
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(Error::BadRequest(format!(
                "密码至少 {MIN_PASSWORD_CHARS} 个字符"
            )));
        }
        let hash = hash_password(password)?;
        let conn = self.conn();
        conn.execute(
            "INSERT INTO staff (username, role, pw_hash, created_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (username) DO UPDATE SET role = excluded.role, pw_hash = excluded.pw_hash",
            params![username, role.as_str(), hash, now_ms()],
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
        let row: Option<(String, String, String)> = self
            .conn()
            .query_row(
                "SELECT s.username, st.role, s.csrf FROM sessions s JOIN staff st USING (username)
                 WHERE s.token_hash = ?1 AND s.expires_ms > ?2",
                params![&sha256(token.as_bytes())[..], now_ms],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        Ok(row.and_then(|(username, role, csrf)| {
            Some(Staff {
                username,
                role: StaffRole::parse(&role)?,
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

/// Creates or updates a staff account in a data directory (the `staff-add` command).
pub fn staff_add(data_dir: &Path, username: &str, role: &str, password: &str) -> Result<()> {
    let role = StaffRole::parse(role)
        .ok_or_else(|| Error::BadRequest("--role must be office or grid_leader".into()))?;
    std::fs::create_dir_all(data_dir)?;
    StaffDb::open(&data_dir.join("staff.db"))?.set_staff(username, role, password)
}

/// Creates the demo's clerk (role office) with a fresh random password; returns the name and
/// the password to print.
pub fn demo_clerk(data_dir: &Path) -> Result<(String, String)> {
    let password = random_hex::<6>()?;
    staff_add(data_dir, "demo-clerk", "office", &password)?;
    Ok(("demo-clerk".into(), password))
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
            let cookie = format!(
                "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}",
                SESSION_TTL_MS / 1000
            );
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
            (
                header::SET_COOKIE,
                format!("{COOKIE}=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0"),
            ),
            (header::LOCATION, "/console/login".to_string()),
        ],
    )
        .into_response())
}
