//! Shared test setup: a real server on 127.0.0.1:0 with a small demo community loaded through
//! the office replica, and phones (core stores) enrolled over HTTP.
//!
//! Every server test runs on both hubs: [`on_both_stores!`] turns each `async fn(Backend)` into
//! `sqlite::name` and `postgres::name`. The PostgreSQL runs need `GRIDWALK_TEST_PG`, the URL of
//! a server `scripts/with-postgres.sh` started (each test gets a fresh database on it); without
//! it they say so and pass.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::AtomicBool;

use gridwalk_core::Store;
use gridwalk_core::demo::{self, Rng};
use gridwalk_core::http::{EnrolRequest, Enrolment, HttpTransport};
use gridwalk_core::sync::{SyncError, SyncReport};
use gridwalk_server::policy::Role;
use gridwalk_server::{Config, Server, TlsFiles, protocol, start};

pub const KEY: [u8; 32] = [7; 32];

/// Which hub a test's server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The embedded store in the server's data directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `GRIDWALK_TEST_PG`.
    Postgres,
}

/// The admin URL of the test PostgreSQL server, when one runs.
pub fn pg_admin() -> Option<String> {
    std::env::var("GRIDWALK_TEST_PG")
        .ok()
        .filter(|s| !s.is_empty())
}

/// A `--store` value for a new, empty hub of `backend` (`None`: SQLite in the data directory).
pub fn fresh_store(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let admin = pg_admin().expect("GRIDWALK_TEST_PG is set for PostgreSQL tests");
            let mut r = [0u8; 8];
            getrandom::fill(&mut r).unwrap();
            let name = format!("test_{}", hex::encode(r));
            Some(gridwalk_server::hub::postgres::create_database(&admin, &name, None).unwrap())
        }
    }
}

/// Runs each named `async fn(Backend)` as two tests, `sqlite::name` and `postgres::name`; the
/// latter passes with a note when no PostgreSQL server runs.
#[macro_export]
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::common::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if super::common::pg_admin().is_none() {
                        eprintln!("GRIDWALK_TEST_PG is unset: skipped on PostgreSQL");
                        return;
                    }
                    super::$name(super::common::Backend::Postgres).await
                }
            )*
        }
    };
}

pub struct Phone {
    pub store: Store,
    pub enrolment: Enrolment,
    pub transport: HttpTransport,
}

impl Phone {
    pub async fn sync(&self) -> Result<SyncReport, SyncError> {
        gridwalk_core::sync::sync(
            &self.store,
            &self.transport,
            &|_| {},
            &AtomicBool::new(false),
        )
        .await
    }
}

/// A server in `dir` on a fresh hub of `backend` (plain HTTP, or HTTPS with `tls`) with a
/// community of 2 grids of `per_grid` households, each with residents, already synced from the
/// office to the hub.
pub async fn server(
    backend: Backend,
    dir: &Path,
    per_grid: usize,
    tls: Option<TlsFiles>,
) -> Server {
    server_on(fresh_store(backend), dir, per_grid, tls).await
}

/// [`server`] on the hub `store` names.
pub async fn server_on(
    store: Option<String>,
    dir: &Path,
    per_grid: usize,
    tls: Option<TlsFiles>,
) -> Server {
    let server = start(Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.join("server"),
        tls,
        store,
        ..Config::default()
    })
    .await
    .unwrap();
    let office = server.office();
    let o = office.store();
    o.load_roster(&demo::roster(2, per_grid, 2026)).unwrap();
    let mut rng = Rng::new(7);
    for g in ["g1", "g2"] {
        for h in o.grid_households(g).unwrap() {
            for r in demo::residents(&mut rng).into_iter().take(2) {
                o.add_resident(&h.id, &r).unwrap();
            }
        }
    }
    server.office_sync().await.unwrap();
    server
}

pub fn code(server: &Server, person: &str, role: Role, scope: &[&str]) -> String {
    let scope: Vec<String> = scope.iter().map(|s| s.to_string()).collect();
    protocol::create_code(server.hub().as_ref(), person, role, &scope, 3_600_000).unwrap()
}

/// A phone enrolled with `role` over `scope`, trusting `ca` when the server runs HTTPS.
pub async fn phone(
    server: &Server,
    dir: &Path,
    name: &str,
    role: Role,
    scope: &[&str],
    ca: Option<&[u8]>,
) -> Phone {
    let store = Store::open(&dir.join(format!("{name}.db")), &KEY, name).unwrap();
    let base = server.base_url();
    let enrolment = gridwalk_core::http::enrol(
        &base,
        ca,
        &EnrolRequest {
            code: code(server, name, role, scope),
            device_id: store.device_id().to_string(),
            actor_id: store.actor_id(),
        },
    )
    .await
    .unwrap();
    let transport = HttpTransport::new(&base, &enrolment.token, ca).unwrap();
    Phone {
        store,
        enrolment,
        transport,
    }
}

/// Posts a raw body to the sync endpoint; returns the status and the reply body.
pub async fn post(server: &Server, token: Option<&str>, body: Vec<u8>) -> (u16, Vec<u8>) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/sync", server.base_url()))
        .body(body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.bytes().await.unwrap().to_vec())
}

/// The process's peak resident set (VmHWM) in kB.
pub fn peak_rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A visit now on `household_id`.
pub fn visit(rng: &mut Rng, household_id: &str) -> gridwalk_core::VisitInput {
    demo::visit(
        rng,
        household_id,
        chrono::Utc::now().timestamp_millis() - 3_600_000,
    )
}
