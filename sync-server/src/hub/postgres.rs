//! The hub on PostgreSQL: a city, several stateless server processes on one shared database.
//!
//! Each process keeps a small pool of connections. The client is `tokio-postgres`, its socket
//! tasks driven by a one-thread runtime the hub owns; the futures of queries only talk to those
//! tasks over channels, so the synchronous [`HubStore`] calls simply block on them with a plain
//! executor, from a blocking thread or an async test alike.
//!
//! # One sequence, several writers
//!
//! Changes, keys and tombstones share one cursor sequence, and a device's cursor only moves
//! forward: a reader must never see position n+1 before n is visible, or the device would step
//! past n forever (the classic sequence-gap problem of `SERIAL` columns, whose values are handed
//! out at insert time but become visible at commit time, in any order).
//!
//! Every push that adds something therefore locks the single `counter` row (`SELECT … FOR
//! UPDATE`) and holds that row lock until it commits: the writing parts of pushes from every
//! process run one after another, each numbers its rows from the counter it read and moves the
//! counter on before it commits. So commit order is sequence order, and every snapshot holds a
//! gap-free prefix of the sequence whose end is the counter it reads in the same snapshot (pulls
//! read in one REPEATABLE READ transaction, and plain reads never wait for the row lock).
//!
//! The lock covers only the writing part (`postgres/push.rs`). A push first reads, without it and
//! outside any transaction, everything it needs to decide ([`crate::protocol::apply_push`]): its
//! documents and every change hash and dependency it names, one `= ANY($1)` statement each,
//! whatever its size; pushes from all processes do this at once, and a retry that adds nothing
//! never takes the lock. Then `BEGIN`, the lock, one insert per table (numbering its rows from
//! the counter and moving it on) and `COMMIT` go out pipelined, in one round trip: the lock is
//! held for the inserts and the commit, not for round trips. Documents and changes are only ever
//! added, so what the push found still holds; one that another push stored meanwhile makes an
//! insert fail, and the push runs again and finds it.
//!
//! Allocating at commit time from a counter without the lock would let two pushes both insert
//! the same new change or resurrect a deleted resident's key; reading only up to the lowest
//! in-flight position needs a registry of in-flight transactions.

mod push;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, GenericClient, IsolationLevel, NoTls, Row, Statement};

use super::{
    DeviceInfo, DocRow, FeedKind, FeedMeta, FeedSink, HubStore, HubTx, NewCode, NewDevice, Visit,
};

use crate::error::{Error, Result};
use crate::policy::{Principal, Role};

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;
/// Connections kept open between calls (more are opened under load and closed after).
const CONNECTIONS_KEPT: usize = 8;
/// Feed rows read per query: a pull from zero over a whole city never holds the city's metadata.
const FEED_PAGE: i64 = 2000;
/// Advisory lock taken while migrating, so processes starting together migrate once.
const MIGRATION_LOCK: i64 = 0x6772_6964_7761_6c6b;

/// One step per schema version: `MIGRATIONS[v]` takes a database at version `v` to `v + 1`.
/// Steps are append-only; a released step is never edited.
const MIGRATIONS: &[&str] = &[
    // Version 1: the hub as the embedded store holds it.
    "
    CREATE TABLE counter (id INTEGER PRIMARY KEY CHECK (id = 0), seq BIGINT NOT NULL);
    INSERT INTO counter (id, seq) VALUES (0, 0);
    CREATE TABLE docs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        scope TEXT NOT NULL,
        building_id TEXT
    );
    CREATE TABLE changes (
        seq BIGINT PRIMARY KEY,
        doc_id TEXT NOT NULL REFERENCES docs (id),
        hash BYTEA NOT NULL UNIQUE,
        actor TEXT NOT NULL,
        bytes BYTEA NOT NULL
    );
    CREATE TABLE resident_keys (
        resident_id TEXT PRIMARY KEY,
        household_id TEXT NOT NULL REFERENCES docs (id),
        key BYTEA NOT NULL,
        actor TEXT NOT NULL,
        seq BIGINT NOT NULL UNIQUE
    );
    CREATE TABLE tombstones (
        resident_id TEXT PRIMARY KEY,
        household_id TEXT NOT NULL REFERENCES docs (id),
        deleted_ms BIGINT NOT NULL,
        actor TEXT NOT NULL,
        seq BIGINT NOT NULL UNIQUE
    );
    CREATE TABLE access_records (
        device_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        at_ms BIGINT NOT NULL,
        person_id TEXT NOT NULL,
        resident_id TEXT NOT NULL,
        field TEXT NOT NULL,
        purpose TEXT NOT NULL,
        prev_hash BYTEA NOT NULL,
        hash BYTEA NOT NULL,
        PRIMARY KEY (device_id, seq)
    );
    CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        person_id TEXT NOT NULL,
        role TEXT NOT NULL,
        scope TEXT NOT NULL,
        actor TEXT NOT NULL UNIQUE,
        token_hash BYTEA NOT NULL UNIQUE,
        revoked BOOLEAN NOT NULL DEFAULT FALSE,
        enrolled_ms BIGINT NOT NULL
    );
    CREATE TABLE enrolment_codes (
        code_hash BYTEA PRIMARY KEY,
        person_id TEXT NOT NULL,
        role TEXT NOT NULL,
        scope TEXT NOT NULL,
        expires_ms BIGINT NOT NULL,
        used_ms BIGINT
    );
    ",
];

/// Waits for a client future on the calling thread (the socket side runs on the hub's runtime).
fn wait<F: Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

/// A poisoned pool lock only means a panic happened while a connection was taken or returned;
/// the list itself is intact.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection with the statements it has prepared (each is parsed once per connection).
struct Conn {
    client: Client,
    stmts: HashMap<&'static str, Statement>,
}

/// Prepares `sql` on the connection behind `c` once and reuses it after.
fn prep<C: GenericClient>(
    c: &C,
    stmts: &mut HashMap<&'static str, Statement>,
    sql: &'static str,
) -> Result<Statement> {
    if let Some(s) = stmts.get(sql) {
        return Ok(s.clone());
    }
    let s = wait(c.prepare(sql))?;
    stmts.insert(sql, s.clone());
    Ok(s)
}

/// Connections to one database, opened on demand.
struct Pool {
    url: String,
    /// The runtime driving the connections' sockets; `None` only while dropping.
    rt: Option<tokio::runtime::Runtime>,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    fn new(url: &str) -> Result<Pool> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("gridwalk-pg")
            .enable_all()
            .build()?;
        Ok(Pool {
            url: url.to_string(),
            rt: Some(rt),
            idle: Mutex::new(Vec::new()),
        })
    }

    fn connect(&self) -> Result<Conn> {
        let rt = self
            .rt
            .as_ref()
            .ok_or_else(|| Error::Internal("the postgres pool is closed".into()))?;
        let url = self.url.clone();
        let client = wait(rt.spawn(async move {
            let (client, connection) = tokio_postgres::connect(&url, NoTls).await?;
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!(error = %e, "postgres connection closed");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        }))
        .map_err(|e| Error::Internal(format!("postgres connect task: {e}")))??;
        Ok(Conn {
            client,
            stmts: HashMap::new(),
        })
    }

    /// Runs `f` on a pooled connection; a connection that broke is not kept.
    fn with<T>(&self, f: impl FnOnce(&mut Conn) -> Result<T>) -> Result<T> {
        let reused = {
            let mut idle = lock(&self.idle);
            let mut found = None;
            while let Some(c) = idle.pop() {
                if !c.client.is_closed() {
                    found = Some(c);
                    break;
                }
            }
            found
        };
        let mut c = match reused {
            Some(c) => c,
            None => self.connect()?,
        };
        let out = f(&mut c);
        if !c.client.is_closed() {
            let mut idle = lock(&self.idle);
            if idle.len() < CONNECTIONS_KEPT {
                idle.push(c);
            }
        }
        out
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        lock(&self.idle).clear();
        // Dropping a runtime blocks, which async callers may not do; let its thread wind down.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The URL of database `name` on the same server as `url` (same user, host and options).
pub fn database_url(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    // The database is the path after the authority; without one, it is appended.
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let root = match base[after_scheme..].find('/') {
        Some(i) => &base[..after_scheme + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// Creates an empty database `name` (or a copy of `template`) on the server `admin_url` points
/// at, and returns its URL. Tests and benchmarks give each run a database of its own with it.
pub fn create_database(admin_url: &str, name: &str, template: Option<&str>) -> Result<String> {
    let plain = |s: &str| {
        !s.is_empty()
            && s.len() < 60
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    };
    if !plain(name) || !template.is_none_or(plain) {
        return Err(Error::BadRequest(
            "database names are lowercase letters, digits and _".into(),
        ));
    }
    let sql = match template {
        Some(t) => format!("CREATE DATABASE {name} TEMPLATE {t}"),
        None => format!("CREATE DATABASE {name}"),
    };
    Pool::new(admin_url)?.with(|c| Ok(wait(c.client.batch_execute(&sql))?))?;
    Ok(database_url(admin_url, name))
}

/// Brings the schema to [`SCHEMA_VERSION`] (or to `target`, for the migration tests), one step
/// per version, in one transaction under an advisory lock.
fn migrate(client: &mut Client, target: i32) -> Result<()> {
    let tx = wait(client.transaction())?;
    wait(tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]))?;
    wait(tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS schema_version (
             id INTEGER PRIMARY KEY CHECK (id = 0),
             version INTEGER NOT NULL
         )",
    ))?;
    let mut version: i32 = match wait(tx.query_opt("SELECT version FROM schema_version", &[]))? {
        Some(r) => r.try_get(0)?,
        None => 0,
    };
    if version > SCHEMA_VERSION {
        return Err(Error::Internal(format!(
            "the hub has schema version {version}, newer than this server ({SCHEMA_VERSION})"
        )));
    }
    while version < target {
        let step = MIGRATIONS
            .get(version as usize)
            .ok_or_else(|| Error::Internal(format!("no migration from version {version}")))?;
        wait(tx.batch_execute(step))?;
        version += 1;
    }
    wait(tx.execute(
        "INSERT INTO schema_version (id, version) VALUES (0, $1)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version",
        &[&version],
    ))?;
    wait(tx.commit())?;
    Ok(())
}

/// The hub on PostgreSQL.
pub struct PgHub {
    pool: Pool,
}

impl PgHub {
    /// Connects to `url` (`postgres://user@host:port/db`) and brings the schema up to date.
    pub fn open(url: &str) -> Result<PgHub> {
        let pool = Pool::new(url)?;
        pool.with(|c| migrate(&mut c.client, SCHEMA_VERSION))?;
        Ok(PgHub { pool })
    }
}

fn scope_to_text(scope: &[String]) -> Result<String> {
    serde_json::to_string(scope).map_err(|e| Error::Internal(format!("scope: {e}")))
}

fn principal(r: &Row) -> Result<Principal> {
    let role: String = r.try_get(2)?;
    let scope: String = r.try_get(3)?;
    Ok(Principal {
        device_id: r.try_get(0)?,
        person_id: r.try_get(1)?,
        role: Role::parse(&role)
            .ok_or_else(|| Error::Internal("a stored device has an unknown role".into()))?,
        scope: serde_json::from_str(&scope)
            .map_err(|e| Error::Internal(format!("a stored device scope: {e}")))?,
        actor: r.try_get(4)?,
        office_replica: false,
    })
}

const PRINCIPAL_COLUMNS: &str = "id, person_id, role, scope, actor";

/// Every entry after $1 up to $2, in sequence order, at most $3 of them, with the place of its
/// document; without those sent by actor $4 and, when $5 is not null, those outside scopes $5
/// (the reader's [`super::FeedFilter`]: rows it would skip never leave the database).
const FEED_SQL: &str = "
    SELECT c.seq, 0, c.doc_id, d.kind, d.scope, d.building_id, c.actor,
           octet_length(c.bytes)::BIGINT, NULL::TEXT, NULL::BIGINT
      FROM changes c JOIN docs d ON d.id = c.doc_id
     WHERE c.seq > $1 AND c.seq <= $2 AND c.actor IS DISTINCT FROM $4::TEXT
       AND ($5::TEXT[] IS NULL OR d.scope = ANY($5))
    UNION ALL
    SELECT k.seq, 1, k.household_id, d.kind, d.scope, d.building_id, k.actor,
           octet_length(k.key)::BIGINT, k.resident_id, NULL::BIGINT
      FROM resident_keys k JOIN docs d ON d.id = k.household_id
     WHERE k.seq > $1 AND k.seq <= $2 AND k.actor IS DISTINCT FROM $4::TEXT
       AND ($5::TEXT[] IS NULL OR d.scope = ANY($5))
    UNION ALL
    SELECT t.seq, 2, t.household_id, d.kind, d.scope, d.building_id, t.actor,
           0::BIGINT, t.resident_id, t.deleted_ms
      FROM tombstones t JOIN docs d ON d.id = t.household_id
     WHERE t.seq > $1 AND t.seq <= $2 AND t.actor IS DISTINCT FROM $4::TEXT
       AND ($5::TEXT[] IS NULL OR d.scope = ANY($5))
    ORDER BY 1 LIMIT $3";

/// The last position handed out.
const HEAD_SQL: &str = "SELECT seq FROM counter WHERE id = 0";

/// The payloads of the taken entries of one feed page.
const PAYLOAD_SQL: &str = "
    SELECT seq, bytes FROM changes WHERE seq = ANY($1)
    UNION ALL
    SELECT seq, key FROM resident_keys WHERE seq = ANY($1)";

fn feed_row(r: &Row) -> Result<FeedMeta> {
    let what = match r.try_get::<_, i32>(1)? {
        0 => FeedKind::Change,
        1 => FeedKind::Key,
        _ => FeedKind::Tombstone,
    };
    Ok(FeedMeta {
        seq: r.try_get::<_, i64>(0)? as u64,
        what,
        doc: DocRow {
            id: r.try_get(2)?,
            kind: r.try_get(3)?,
            scope: r.try_get(4)?,
            building_id: r.try_get(5)?,
        },
        actor: r.try_get(6)?,
        len: r.try_get::<_, i64>(7)? as usize,
        resident_id: r.try_get(8)?,
        deleted_ms: r.try_get(9)?,
    })
}

fn feed_on(c: &mut Conn, after: u64, sink: &mut dyn FeedSink) -> Result<u64> {
    let Conn { client, stmts } = c;
    // One snapshot: the head and every row come from the same moment, and since pushes commit
    // in sequence order (see the module docs) the snapshot holds every position up to the head.
    let tx = wait(
        client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start(),
    )?;
    let head = prep(&tx, stmts, HEAD_SQL)?;
    let head: i64 = wait(tx.query_one(&head, &[]))?.try_get(0)?;
    let feed = prep(&tx, stmts, FEED_SQL)?;
    let payloads = prep(&tx, stmts, PAYLOAD_SQL)?;
    let filter = sink.filter();
    let not_actor = filter.not_actor.map(str::to_string);
    let scopes = filter.scopes.map(<[String]>::to_vec);
    let mut from = i64::try_from(after).unwrap_or(i64::MAX);
    loop {
        let rows = wait(tx.query(&feed, &[&from, &head, &FEED_PAGE, &not_actor, &scopes]))?;
        let full_page = rows.len() as i64 == FEED_PAGE;
        let mut taken = Vec::new();
        let mut stopped = false;
        for r in &rows {
            let meta = feed_row(r)?;
            from = meta.seq as i64;
            match sink.visit(&meta) {
                Visit::Skip => {}
                Visit::Stop => {
                    stopped = true;
                    break;
                }
                Visit::Take => taken.push(meta),
            }
        }
        let seqs: Vec<i64> = taken
            .iter()
            .filter(|m| m.what != FeedKind::Tombstone)
            .map(|m| m.seq as i64)
            .collect();
        let mut bytes: HashMap<i64, Vec<u8>> = HashMap::with_capacity(seqs.len());
        if !seqs.is_empty() {
            for r in wait(tx.query(&payloads, &[&seqs]))? {
                bytes.insert(r.try_get(0)?, r.try_get(1)?);
            }
        }
        for meta in taken {
            let payload = match meta.what {
                FeedKind::Tombstone => Vec::new(),
                _ => bytes
                    .remove(&(meta.seq as i64))
                    .ok_or_else(|| Error::Internal("a feed entry lost its payload".into()))?,
            };
            sink.take(meta, payload);
        }
        if stopped || !full_page {
            break;
        }
    }
    wait(tx.commit())?;
    Ok(head as u64)
}

fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

impl HubStore for PgHub {
    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        self.pool.with(|c| {
            let rows = wait(c.client.query(
                "SELECT id, person_id, role, scope, actor, enrolled_ms, revoked FROM devices
                 ORDER BY enrolled_ms DESC, id",
                &[],
            ))?;
            rows.iter()
                .map(|r| {
                    let p = principal(r)?;
                    Ok(DeviceInfo {
                        device_id: p.device_id,
                        person_id: p.person_id,
                        role: p.role,
                        scope: p.scope,
                        actor: p.actor,
                        enrolled_ms: r.try_get(5)?,
                        revoked: r.try_get(6)?,
                    })
                })
                .collect()
        })
    }

    fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<(Principal, bool)>> {
        self.pool.with(|c| {
            let s = prep(
                &c.client,
                &mut c.stmts,
                "SELECT id, person_id, role, scope, actor, revoked FROM devices WHERE token_hash = $1",
            )?;
            wait(c.client.query_opt(&s, &[&&token_hash[..]]))?
                .map(|r| Ok((principal(&r)?, r.try_get::<_, bool>(5)?)))
                .transpose()
        })
    }

    fn add_code(&self, code: &NewCode) -> Result<()> {
        let scope = scope_to_text(&code.scope)?;
        self.pool.with(|c| {
            wait(c.client.execute(
                "INSERT INTO enrolment_codes (code_hash, person_id, role, scope, expires_ms)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &&code.code_hash[..],
                    &code.person_id,
                    &code.role.as_str(),
                    &scope,
                    &code.expires_ms,
                ],
            ))?;
            Ok(())
        })
    }

    fn redeem(&self, d: &NewDevice) -> Result<Principal> {
        self.pool.with(|c| {
            let tx = wait(c.client.transaction())?;
            // FOR UPDATE: two processes redeeming one code at once queue here, and the second
            // finds it used.
            let code = wait(tx.query_opt(
                "SELECT person_id, role, scope FROM enrolment_codes
                 WHERE code_hash = $1 AND used_ms IS NULL AND expires_ms > $2 FOR UPDATE",
                &[&&d.code_hash[..], &d.now_ms],
            ))?;
            let Some(code) = code else {
                return Err(Error::Unauthorized(
                    "enrolment code is unknown, used or expired".into(),
                ));
            };
            let (person_id, role, scope): (String, String, String) =
                (code.try_get(0)?, code.try_get(1)?, code.try_get(2)?);
            if wait(tx.query_opt("SELECT 1 FROM devices WHERE id = $1", &[&d.device_id]))?
                .is_some()
            {
                return Err(Error::Conflict("this device is already enrolled".into()));
            }
            if wait(tx.query_opt("SELECT 1 FROM devices WHERE actor = $1", &[&d.actor]))?
                .is_some()
            {
                return Err(Error::Conflict(
                    "this actor id is already bound to another device".into(),
                ));
            }
            let inserted = wait(tx.query_one(
                &format!(
                    "INSERT INTO devices (id, person_id, role, scope, actor, token_hash, enrolled_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {PRINCIPAL_COLUMNS}"
                ),
                &[
                    &d.device_id,
                    &person_id,
                    &role,
                    &scope,
                    &d.actor,
                    &&d.token_hash[..],
                    &d.now_ms,
                ],
            ));
            let row = match inserted {
                Ok(r) => r,
                // Another process enrolled the same device or actor a moment earlier.
                Err(e) if is_unique_violation(&e) => {
                    return Err(Error::Conflict(
                        "this device or actor id is already enrolled".into(),
                    ));
                }
                Err(e) => return Err(e.into()),
            };
            wait(tx.execute(
                "UPDATE enrolment_codes SET used_ms = $2 WHERE code_hash = $1",
                &[&&d.code_hash[..], &d.now_ms],
            ))?;
            let p = principal(&row)?;
            wait(tx.commit())?;
            Ok(p)
        })
    }

    fn revoke(&self, device_id: &str) -> Result<bool> {
        self.pool.with(|c| {
            Ok(wait(c.client.execute(
                "UPDATE devices SET revoked = TRUE WHERE id = $1",
                &[&device_id],
            ))? > 0)
        })
    }

    fn bind_office(&self, device_id: &str, actor: &str) -> Result<Principal> {
        let mut token = [0u8; 32];
        getrandom::fill(&mut token).map_err(|e| Error::Internal(format!("random: {e}")))?;
        let token_hash = crate::protocol::sha256(&token);
        let now = chrono::Utc::now().timestamp_millis();
        self.pool.with(|c| {
            // The office talks to the hub in process; its token exists only to fill the column.
            let row = wait(c.client.query_one(
                &format!(
                    "INSERT INTO devices (id, person_id, role, scope, actor, token_hash, enrolled_ms)
                     VALUES ($1, 'office', 'office', '[]', $2, $3, $4)
                     ON CONFLICT (id) DO UPDATE SET actor = excluded.actor, revoked = FALSE
                     RETURNING {PRINCIPAL_COLUMNS}"
                ),
                &[&device_id, &actor, &&token_hash[..], &now],
            ))?;
            Ok(Principal {
                office_replica: true,
                ..principal(&row)?
            })
        })
    }

    fn push(&self, f: &mut dyn FnMut(&mut dyn HubTx) -> Result<()>) -> Result<()> {
        self.pool.with(|c| push::push(c, f))
    }

    fn feed(&self, after: u64, sink: &mut dyn FeedSink) -> Result<u64> {
        self.pool.with(|c| feed_on(c, after, sink))
    }

    fn head(&self) -> Result<u64> {
        self.pool.with(|c| {
            let s = prep(&c.client, &mut c.stmts, HEAD_SQL)?;
            Ok(wait(c.client.query_one(&s, &[]))?.try_get::<_, i64>(0)? as u64)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    //! Migration tests; they need a PostgreSQL server (`GRIDWALK_TEST_PG`, set by
    //! `scripts/with-postgres.sh`) and pass trivially without one.
    use super::*;

    fn fresh_db() -> Option<String> {
        let admin = std::env::var("GRIDWALK_TEST_PG").ok()?;
        let mut r = [0u8; 6];
        getrandom::fill(&mut r).unwrap();
        Some(create_database(&admin, &format!("mig_{}", hex::encode(r)), None).unwrap())
    }

    /// Tables, columns, types, constraints and indexes: what a migration must get right.
    fn schema_of(url: &str) -> Vec<String> {
        Pool::new(url)
            .unwrap()
            .with(|c| {
                let mut out = Vec::new();
                for r in wait(c.client.query(
                    "SELECT table_name || '.' || column_name || ' ' || data_type || ' '
                            || is_nullable || ' ' || coalesce(column_default, '')
                       FROM information_schema.columns WHERE table_schema = 'public'
                      ORDER BY table_name, column_name",
                    &[],
                ))? {
                    out.push(r.try_get(0)?);
                }
                for r in wait(c.client.query(
                    "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY indexname",
                    &[],
                ))? {
                    out.push(r.try_get(0)?);
                }
                for r in wait(c.client.query(
                    "SELECT conrelid::regclass::text || ' ' || pg_get_constraintdef(oid)
                       FROM pg_constraint WHERE connamespace = 'public'::regnamespace
                      ORDER BY 1",
                    &[],
                ))? {
                    out.push(r.try_get(0)?);
                }
                Ok(out)
            })
            .unwrap()
    }

    fn version_of(url: &str) -> i32 {
        Pool::new(url)
            .unwrap()
            .with(|c| {
                Ok(wait(
                    c.client
                        .query_one("SELECT version FROM schema_version", &[]),
                )?
                .try_get(0)?)
            })
            .unwrap()
    }

    #[test]
    fn every_older_schema_upgrades_to_the_fresh_one_keeping_its_data() {
        let Some(fresh) = fresh_db() else {
            eprintln!("GRIDWALK_TEST_PG is unset: PostgreSQL migration test skipped");
            return;
        };
        let hub = PgHub::open(&fresh).unwrap();
        drop(hub);
        assert_eq!(version_of(&fresh), SCHEMA_VERSION);
        let want = schema_of(&fresh);
        for from in 0..SCHEMA_VERSION {
            let url = fresh_db().unwrap();
            Pool::new(&url)
                .unwrap()
                .with(|c| migrate(&mut c.client, from))
                .unwrap();
            assert_eq!(version_of(&url), from);
            let hub = PgHub::open(&url).unwrap();
            assert_eq!(version_of(&url), SCHEMA_VERSION);
            assert_eq!(schema_of(&url), want, "upgraded from version {from}");
            // The upgraded hub works: a code stored and redeemed.
            hub.add_code(&NewCode {
                code_hash: [1; 32],
                person_id: "p".into(),
                role: Role::GridWorker,
                scope: vec!["g1".into()],
                expires_ms: i64::MAX,
            })
            .unwrap();
            let p = hub
                .redeem(&NewDevice {
                    code_hash: [1; 32],
                    device_id: "d1".into(),
                    actor: "aa".into(),
                    token_hash: [2; 32],
                    now_ms: 0,
                })
                .unwrap();
            assert_eq!(p.scope, vec!["g1".to_string()]);
            drop(hub);
            // Opening again changes nothing and keeps the data.
            let hub = PgHub::open(&url).unwrap();
            assert_eq!(schema_of(&url), want);
            assert!(hub.device_by_token(&[2; 32]).unwrap().is_some());
        }
    }

    #[test]
    fn processes_starting_together_migrate_once_and_newer_schemas_are_refused() {
        let Some(url) = fresh_db() else {
            eprintln!("GRIDWALK_TEST_PG is unset: PostgreSQL migration test skipped");
            return;
        };
        let opened: Vec<_> = (0..4)
            .map(|_| {
                let url = url.clone();
                std::thread::spawn(move || PgHub::open(&url).map(|_| ()))
            })
            .collect();
        for t in opened {
            t.join().unwrap().unwrap();
        }
        assert_eq!(version_of(&url), SCHEMA_VERSION);
        Pool::new(&url)
            .unwrap()
            .with(|c| {
                Ok(wait(c.client.execute(
                    "UPDATE schema_version SET version = version + 1",
                    &[],
                ))?)
            })
            .unwrap();
        assert!(PgHub::open(&url).is_err(), "a newer schema is refused");
    }

    #[test]
    fn database_urls_keep_the_server_and_options() {
        assert_eq!(
            database_url("postgres://u@127.0.0.1:5433/postgres", "t1"),
            "postgres://u@127.0.0.1:5433/t1"
        );
        assert_eq!(
            database_url("postgres://u@h:1/db?sslmode=disable", "t2"),
            "postgres://u@h:1/t2?sslmode=disable"
        );
        assert_eq!(
            database_url("postgres://u@h:1", "t3"),
            "postgres://u@h:1/t3"
        );
    }
}
