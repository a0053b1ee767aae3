//! The hub in embedded SQLite: one community, one process, zero setup.
//!
//! One writer connection (every push is one IMMEDIATE transaction, fsynced before the reply) and
//! a small pool of reader connections (each pull reads one WAL snapshot, so pulls never wait
//! behind pushes). The file is plain SQLite: the workspace's rusqlite is SQLCipher-enabled, and
//! without a key SQLCipher behaves as stock SQLite.
//!
//! A deletion's old bytes leave the WAL through a `wal_checkpoint(TRUNCATE)`, which cannot
//! finish while a pull still reads an older snapshot. So it runs off the request path: a push
//! that deleted something only asks ([`HubStore::schedule_purge`]), and one background thread
//! checkpoints shortly after, without waiting for readers, trying again until no snapshot is in
//! the way, and once more when the hub is closed.

use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::{
    DeviceInfo, DocRow, FeedKind, FeedMeta, FeedSink, HubStore, HubTx, KeyRow, NewChange, NewCode,
    NewDevice, Visit,
};
use gridwalk_core::replication::{AccessRecord, KeyRecord, Tombstone};

use crate::error::{Error, Result};
use crate::policy::{Principal, Role};

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 1;
/// Reader connections kept open between pulls.
const READERS_KEPT: usize = 4;
/// How long a write waits for another connection's lock (the CLI's enrol and revoke write while
/// the server runs) before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause between a deletion and its purge, so a burst of deletions costs one checkpoint.
const PURGE_DEBOUNCE: Duration = Duration::from_millis(50);
/// First pause after a reader kept the WAL; it doubles up to [`PURGE_RETRY_MAX`].
const PURGE_RETRY_MIN: Duration = Duration::from_millis(50);
/// Longest pause between two tries of a purge readers keep blocking.
const PURGE_RETRY_MAX: Duration = Duration::from_secs(1);
/// A purge still blocked after this long is logged (once, as a warning).
const PURGE_WARN_AFTER: Duration = Duration::from_secs(30);

/// The embedded hub.
pub struct SqliteHub {
    path: std::path::PathBuf,
    writer: Arc<Mutex<Connection>>,
    readers: Mutex<Vec<Connection>>,
    purge: Arc<Purge>,
    /// The purge thread, joined when the hub is dropped.
    purger: Option<JoinHandle<()>>,
}

/// What the purge thread is asked to do.
#[derive(Default)]
struct Purge {
    state: Mutex<PurgeState>,
    wake: Condvar,
}

#[derive(Default)]
struct PurgeState {
    /// Purges asked for so far.
    asked: u64,
    /// The value of `asked` when the last successful checkpoint began: every deletion
    /// committed before then is purged.
    done: u64,
    /// The hub is being dropped: purge what is pending once more and stop.
    closing: bool,
}

/// A poisoned lock only means another request panicked mid-call; SQLite rolled its transaction
/// back when the panic dropped it, so the connection is consistent and stays in use.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn prepare(conn: &Connection) -> Result<()> {
    conn.execute_batch(
        "
        -- Pulls read a snapshot while a push writes; a crash never leaves a half-written page.
        PRAGMA journal_mode = WAL;
        -- A push is acknowledged only after its commit is fsynced (an acknowledged change is never lost).
        PRAGMA synchronous = FULL;
        -- Every change row names a document that exists.
        PRAGMA foreign_keys = ON;
        -- Sorting a pull's feed needs no temp files.
        PRAGMA temp_store = MEMORY;
        -- Keep the WAL from growing without bound between checkpoints.
        PRAGMA journal_size_limit = 67108864;
        -- A deleted resident key is overwritten with zeros, not left in a free page or cell
        -- (the WAL's older page versions go with the purge after it, see the module docs).
        PRAGMA secure_delete = ON;
        ",
    )?;
    // The CLI (enrol, revoke) writes while the server runs: wait for the lock instead of failing.
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(())
}

/// Copies the WAL into the database and truncates it to nothing, so no older version of a page
/// (say, one holding a key deleted since) stays in the file. `Ok(false)` when a reader's
/// snapshot kept the WAL past the busy timeout.
fn checkpoint_truncate(conn: &Connection) -> Result<bool> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    Ok(busy == 0)
}

/// [`checkpoint_truncate`] without waiting: `Ok(false)` at once when a reader's snapshot or
/// another process's lock is in the way. A checkpoint waiting for readers keeps new writers
/// out, so waiting here would hold up every push behind it.
fn checkpoint_truncate_now(conn: &Connection) -> Result<bool> {
    conn.busy_timeout(Duration::ZERO)?;
    let done = checkpoint_truncate(conn);
    conn.busy_timeout(BUSY_TIMEOUT)?;
    match done {
        Err(Error::Db(rusqlite::Error::SqliteFailure(e, _)))
            if matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            Ok(false)
        }
        other => other,
    }
}

/// Waits on `wake` for `pause`, or until `keep_waiting` turns false; a poisoned lock is taken
/// over (the state is a few counters, consistent at every step).
fn pause_while<'a>(
    wake: &Condvar,
    guard: MutexGuard<'a, PurgeState>,
    pause: Duration,
    keep_waiting: impl FnMut(&mut PurgeState) -> bool,
) -> MutexGuard<'a, PurgeState> {
    match wake.wait_timeout_while(guard, pause, keep_waiting) {
        Ok((g, _)) => g,
        Err(p) => p.into_inner().0,
    }
}

/// The purge thread: waits until a purge is asked for, lets a burst of deletions settle, and
/// checkpoints, trying again (with a growing pause) while readers keep the WAL. Each try holds
/// the writer lock only for the checkpoint itself.
fn purge_loop(writer: &Mutex<Connection>, purge: &Purge) {
    let mut st = lock(&purge.state);
    'idle: loop {
        st = match purge
            .wake
            .wait_while(st, |s| s.asked == s.done && !s.closing)
        {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if st.closing {
            break;
        }
        st = pause_while(&purge.wake, st, PURGE_DEBOUNCE, |s| !s.closing);
        let started = Instant::now();
        let mut retry = PURGE_RETRY_MIN;
        let mut warned = false;
        loop {
            if st.closing {
                break 'idle;
            }
            let target = st.asked;
            drop(st);
            let purged = checkpoint_truncate_now(&lock(writer));
            st = lock(&purge.state);
            match purged {
                Ok(true) => {
                    st.done = target;
                    if warned {
                        tracing::info!("deleted rows purged from the hub's files");
                    }
                    continue 'idle;
                }
                Ok(false) => tracing::debug!("hub purge waits for a reader"),
                Err(e) if !warned => {
                    tracing::warn!(error = %e, "hub purge failed; trying again");
                    warned = true;
                }
                Err(_) => {}
            }
            if !warned && started.elapsed() >= PURGE_WARN_AFTER {
                tracing::warn!(
                    "deleted rows not yet purged from the hub's files: readers keep the WAL"
                );
                warned = true;
            }
            st = pause_while(&purge.wake, st, retry, |s| !s.closing);
            retry = (retry * 2).min(PURGE_RETRY_MAX);
        }
    }
    // Closing: nothing reads through this hub any more, so waiting for another process's reader
    // (up to the busy timeout) holds up nobody.
    if st.asked != st.done {
        drop(st);
        match checkpoint_truncate(&lock(writer)) {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                "deleted rows not purged at close: a reader kept the WAL; they go at the next start"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "hub purge at close failed; it runs at the next start")
            }
        }
    }
}

fn init(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(
        "
        CREATE TABLE counter (id INTEGER PRIMARY KEY CHECK (id = 0), seq INTEGER NOT NULL);
        INSERT INTO counter (id, seq) VALUES (0, 0);
        CREATE TABLE docs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            scope TEXT NOT NULL,
            building_id TEXT
        ) WITHOUT ROWID;
        CREATE TABLE changes (
            seq INTEGER PRIMARY KEY,
            doc_id TEXT NOT NULL REFERENCES docs (id),
            hash BLOB NOT NULL UNIQUE,
            actor TEXT NOT NULL,
            bytes BLOB NOT NULL
        );
        CREATE TABLE resident_keys (
            resident_id TEXT PRIMARY KEY,
            household_id TEXT NOT NULL REFERENCES docs (id),
            key BLOB NOT NULL,
            actor TEXT NOT NULL,
            seq INTEGER NOT NULL UNIQUE
        );
        CREATE TABLE tombstones (
            resident_id TEXT PRIMARY KEY,
            household_id TEXT NOT NULL REFERENCES docs (id),
            deleted_ms INTEGER NOT NULL,
            actor TEXT NOT NULL,
            seq INTEGER NOT NULL UNIQUE
        );
        CREATE TABLE access_records (
            device_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            at_ms INTEGER NOT NULL,
            person_id TEXT NOT NULL,
            resident_id TEXT NOT NULL,
            field TEXT NOT NULL,
            purpose TEXT NOT NULL,
            prev_hash BLOB NOT NULL,
            hash BLOB NOT NULL,
            PRIMARY KEY (device_id, seq)
        );
        CREATE TABLE devices (
            id TEXT PRIMARY KEY,
            person_id TEXT NOT NULL,
            role TEXT NOT NULL,
            scope TEXT NOT NULL,
            actor TEXT NOT NULL UNIQUE,
            token_hash BLOB NOT NULL UNIQUE,
            revoked INTEGER NOT NULL DEFAULT 0,
            enrolled_ms INTEGER NOT NULL
        );
        CREATE TABLE enrolment_codes (
            code_hash BLOB PRIMARY KEY,
            person_id TEXT NOT NULL,
            role TEXT NOT NULL,
            scope TEXT NOT NULL,
            expires_ms INTEGER NOT NULL,
            used_ms INTEGER
        );
        ",
    )?;
    Ok(())
}

/// One step per schema version (none yet: version 1 is the first).
fn upgrade_from(_tx: &Transaction<'_>, version: i64) -> Result<()> {
    Err(Error::Internal(format!(
        "hub schema version {version} has no upgrade path"
    )))
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::Internal(format!(
            "the hub has schema version {version}, newer than this server ({SCHEMA_VERSION})"
        )));
    }
    if version == 0 {
        init(&tx)?;
        version = SCHEMA_VERSION;
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

fn scope_from_text(s: &str) -> rusqlite::Result<Vec<String>> {
    serde_json::from_str(s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn role_from_text(s: &str) -> rusqlite::Result<Role> {
    Role::parse(s).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            "unknown role".into(),
        )
    })
}

fn next_seq(tx: &Transaction<'_>) -> Result<i64> {
    Ok(tx
        .prepare_cached("UPDATE counter SET seq = seq + 1 WHERE id = 0 RETURNING seq")?
        .query_row([], |r| r.get(0))?)
}

impl SqliteHub {
    /// Opens (creating if needed) the hub database at `path`.
    pub fn open(path: &Path) -> Result<SqliteHub> {
        let mut writer = Connection::open(path)?;
        prepare(&writer)?;
        migrate(&mut writer)?;
        // Old page versions left in the WAL by a crash after a deletion go now.
        checkpoint_truncate(&writer)?;
        let writer = Arc::new(Mutex::new(writer));
        let purge = Arc::new(Purge::default());
        let purger = {
            let (writer, purge) = (writer.clone(), purge.clone());
            std::thread::Builder::new()
                .name("hub-purge".into())
                .spawn(move || purge_loop(&writer, &purge))?
        };
        Ok(SqliteHub {
            path: path.to_path_buf(),
            writer,
            readers: Mutex::new(Vec::new()),
            purge,
            purger: Some(purger),
        })
    }

    fn reader(&self) -> Result<Connection> {
        if let Some(c) = lock(&self.readers).pop() {
            return Ok(c);
        }
        let c = Connection::open(&self.path)?;
        prepare(&c)?;
        Ok(c)
    }

    fn give_back(&self, c: Connection) {
        let mut pool = lock(&self.readers);
        if pool.len() < READERS_KEPT {
            pool.push(c);
        }
    }

    fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

struct Tx<'a, 'c> {
    tx: &'a Transaction<'c>,
}

/// The batch calls are loops over cached statements: in process, a statement costs no round trip.
impl HubTx for Tx<'_, '_> {
    fn docs(&mut self, ids: &[&str]) -> Result<Vec<DocRow>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT kind, scope, building_id FROM docs WHERE id = ?1")?;
        let mut out = Vec::new();
        for id in ids {
            let row = stmt
                .query_row([id], |r| {
                    Ok(DocRow {
                        id: id.to_string(),
                        kind: r.get(0)?,
                        scope: r.get(1)?,
                        building_id: r.get(2)?,
                    })
                })
                .optional()?;
            out.extend(row);
        }
        Ok(out)
    }

    fn change_docs(&mut self, hashes: &[[u8; 32]]) -> Result<Vec<([u8; 32], String)>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT doc_id FROM changes WHERE hash = ?1")?;
        let mut out = Vec::new();
        for h in hashes {
            if let Some(doc) = stmt.query_row([&h[..]], |r| r.get(0)).optional()? {
                out.push((*h, doc));
            }
        }
        Ok(out)
    }

    fn keys(&mut self, resident_ids: &[&str]) -> Result<Vec<(String, KeyRow)>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT household_id, key FROM resident_keys WHERE resident_id = ?1")?;
        let mut out = Vec::new();
        for id in resident_ids {
            let row = stmt
                .query_row([id], |r| {
                    Ok(KeyRow {
                        household_id: r.get(0)?,
                        key: r.get(1)?,
                    })
                })
                .optional()?;
            out.extend(row.map(|k| (id.to_string(), k)));
        }
        Ok(out)
    }

    fn tombstoned(&mut self, resident_ids: &[&str]) -> Result<Vec<String>> {
        let mut stmt = self
            .tx
            .prepare_cached("SELECT 1 FROM tombstones WHERE resident_id = ?1")?;
        let mut out = Vec::new();
        for id in resident_ids {
            if stmt.query_row([id], |_| Ok(())).optional()?.is_some() {
                out.push(id.to_string());
            }
        }
        Ok(out)
    }

    /// The single writer (an IMMEDIATE transaction behind the writer lock) already holds it.
    fn lock_sequence(&mut self) -> Result<()> {
        Ok(())
    }

    fn insert_docs(&mut self, docs: &[&DocRow]) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO docs (id, kind, scope, building_id) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for d in docs {
            stmt.execute(params![d.id, d.kind, d.scope, d.building_id])?;
        }
        Ok(())
    }

    fn insert_changes(&mut self, actor: &str, changes: &[NewChange<'_>]) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO changes (seq, doc_id, hash, actor, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for c in changes {
            let seq = next_seq(self.tx)?;
            stmt.execute(params![seq, c.doc_id, &c.hash[..], actor, c.bytes])?;
        }
        Ok(())
    }

    fn insert_keys(&mut self, actor: &str, keys: &[&KeyRecord]) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO resident_keys (resident_id, household_id, key, actor, seq)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for k in keys {
            let seq = next_seq(self.tx)?;
            stmt.execute(params![k.resident_id, k.household_id, k.key, actor, seq])?;
        }
        Ok(())
    }

    fn insert_tombstones(&mut self, actor: &str, tombstones: &[&Tombstone]) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT INTO tombstones (resident_id, household_id, deleted_ms, actor, seq)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        // The hub forgets the key too: the deleted resident's data is unreadable everywhere.
        let mut forget = self
            .tx
            .prepare_cached("DELETE FROM resident_keys WHERE resident_id = ?1")?;
        for t in tombstones {
            let seq = next_seq(self.tx)?;
            stmt.execute(params![
                t.resident_id,
                t.household_id,
                t.deleted_ms,
                actor,
                seq
            ])?;
            forget.execute([&t.resident_id])?;
        }
        Ok(())
    }

    fn insert_access(&mut self, records: &[AccessRecord]) -> Result<()> {
        let mut stmt = self.tx.prepare_cached(
            "INSERT OR IGNORE INTO access_records
             (device_id, seq, at_ms, person_id, resident_id, field, purpose, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for a in records {
            stmt.execute(params![
                a.device_id,
                a.seq,
                a.at_ms,
                a.person_id,
                a.resident_id,
                a.field,
                a.purpose,
                a.prev_hash,
                a.hash
            ])?;
        }
        Ok(())
    }
}

const PRINCIPAL_SQL: &str = "SELECT id, person_id, role, scope, actor";

fn principal_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Principal> {
    Ok(Principal {
        device_id: r.get(0)?,
        person_id: r.get(1)?,
        role: role_from_text(&r.get::<_, String>(2)?)?,
        scope: scope_from_text(&r.get::<_, String>(3)?)?,
        actor: r.get(4)?,
        office_replica: false,
    })
}

/// Every entry after ?1 up to ?2, in sequence order, with the place of its document; without
/// those sent by actor ?3 and, when ?4 (a JSON list) is not null, those outside scopes ?4 (the
/// reader's [`super::FeedFilter`]).
const FEED_SQL: &str = "
    SELECT c.seq, 0, c.doc_id, d.kind, d.scope, d.building_id, c.actor, length(c.bytes), NULL, NULL
      FROM changes c JOIN docs d ON d.id = c.doc_id
     WHERE c.seq > ?1 AND c.seq <= ?2 AND c.actor IS NOT ?3
       AND (?4 IS NULL OR d.scope IN (SELECT value FROM json_each(?4)))
    UNION ALL
    SELECT k.seq, 1, k.household_id, d.kind, d.scope, d.building_id, k.actor, length(k.key), k.resident_id, NULL
      FROM resident_keys k JOIN docs d ON d.id = k.household_id
     WHERE k.seq > ?1 AND k.seq <= ?2 AND k.actor IS NOT ?3
       AND (?4 IS NULL OR d.scope IN (SELECT value FROM json_each(?4)))
    UNION ALL
    SELECT t.seq, 2, t.household_id, d.kind, d.scope, d.building_id, t.actor, 0, t.resident_id, t.deleted_ms
      FROM tombstones t JOIN docs d ON d.id = t.household_id
     WHERE t.seq > ?1 AND t.seq <= ?2 AND t.actor IS NOT ?3
       AND (?4 IS NULL OR d.scope IN (SELECT value FROM json_each(?4)))
    ORDER BY 1";

fn feed_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FeedMeta> {
    let what = match r.get::<_, i64>(1)? {
        0 => FeedKind::Change,
        1 => FeedKind::Key,
        _ => FeedKind::Tombstone,
    };
    Ok(FeedMeta {
        seq: r.get::<_, i64>(0)? as u64,
        what,
        doc: DocRow {
            id: r.get(2)?,
            kind: r.get(3)?,
            scope: r.get(4)?,
            building_id: r.get(5)?,
        },
        actor: r.get(6)?,
        len: r.get::<_, i64>(7)? as usize,
        resident_id: r.get(8)?,
        deleted_ms: r.get(9)?,
    })
}

impl HubStore for SqliteHub {
    fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<(Principal, bool)>> {
        let c = self.reader()?;
        let p = c
            .prepare_cached(&format!(
                "{PRINCIPAL_SQL}, revoked FROM devices WHERE token_hash = ?1"
            ))?
            .query_row([&token_hash[..]], |r| {
                Ok((principal_row(r)?, r.get::<_, bool>(5)?))
            })
            .optional();
        self.give_back(c);
        Ok(p?)
    }

    fn add_code(&self, code: &NewCode) -> Result<()> {
        let scope = scope_to_text(&code.scope)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO enrolment_codes (code_hash, person_id, role, scope, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    &code.code_hash[..],
                    code.person_id,
                    code.role.as_str(),
                    scope,
                    code.expires_ms
                ],
            )?;
            Ok(())
        })
    }

    fn redeem(&self, d: &NewDevice) -> Result<Principal> {
        self.write(|tx| {
            let code: Option<(String, String, String)> = tx
                .query_row(
                    "SELECT person_id, role, scope FROM enrolment_codes
                     WHERE code_hash = ?1 AND used_ms IS NULL AND expires_ms > ?2",
                    params![&d.code_hash[..], d.now_ms],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((person_id, role, scope)) = code else {
                return Err(Error::Unauthorized(
                    "enrolment code is unknown, used or expired".into(),
                ));
            };
            let taken: Option<i64> = tx
                .query_row("SELECT 1 FROM devices WHERE id = ?1", [&d.device_id], |r| {
                    r.get(0)
                })
                .optional()?;
            if taken.is_some() {
                return Err(Error::Conflict("this device is already enrolled".into()));
            }
            let bound: Option<i64> = tx
                .query_row("SELECT 1 FROM devices WHERE actor = ?1", [&d.actor], |r| {
                    r.get(0)
                })
                .optional()?;
            if bound.is_some() {
                return Err(Error::Conflict(
                    "this actor id is already bound to another device".into(),
                ));
            }
            tx.execute(
                "INSERT INTO devices (id, person_id, role, scope, actor, token_hash, enrolled_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    d.device_id,
                    person_id,
                    role,
                    scope,
                    d.actor,
                    &d.token_hash[..],
                    d.now_ms
                ],
            )?;
            tx.execute(
                "UPDATE enrolment_codes SET used_ms = ?2 WHERE code_hash = ?1",
                params![&d.code_hash[..], d.now_ms],
            )?;
            Ok(tx.query_row(
                &format!("{PRINCIPAL_SQL} FROM devices WHERE id = ?1"),
                [&d.device_id],
                principal_row,
            )?)
        })
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        let conn = self.reader()?;
        let out = {
            let mut stmt = conn.prepare(
                "SELECT id, person_id, role, scope, enrolled_ms, revoked, actor FROM devices
                 ORDER BY enrolled_ms DESC, id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(DeviceInfo {
                    device_id: r.get(0)?,
                    person_id: r.get(1)?,
                    role: role_from_text(&r.get::<_, String>(2)?)?,
                    scope: scope_from_text(&r.get::<_, String>(3)?)?,
                    actor: r.get(6)?,
                    enrolled_ms: r.get(4)?,
                    revoked: r.get::<_, i64>(5)? != 0,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        self.give_back(conn);
        Ok(out)
    }

    fn revoke(&self, device_id: &str) -> Result<bool> {
        self.write(|tx| {
            Ok(tx.execute("UPDATE devices SET revoked = 1 WHERE id = ?1", [device_id])? > 0)
        })
    }

    fn bind_office(&self, device_id: &str, actor: &str) -> Result<Principal> {
        let mut token = [0u8; 32];
        getrandom::fill(&mut token).map_err(|e| Error::Internal(format!("random: {e}")))?;
        let token_hash = crate::protocol::sha256(&token);
        self.write(|tx| {
            // The office talks to the hub in process; its token exists only to fill the column.
            tx.execute(
                "INSERT INTO devices (id, person_id, role, scope, actor, token_hash, enrolled_ms)
                 VALUES (?1, 'office', 'office', '[]', ?2, ?3, ?4)
                 ON CONFLICT (id) DO UPDATE SET actor = excluded.actor, revoked = 0",
                params![
                    device_id,
                    actor,
                    &token_hash[..],
                    chrono::Utc::now().timestamp_millis()
                ],
            )?;
            let p = tx.query_row(
                &format!("{PRINCIPAL_SQL} FROM devices WHERE id = ?1"),
                [device_id],
                principal_row,
            )?;
            Ok(Principal {
                office_replica: true,
                ..p
            })
        })
    }

    fn push(&self, f: &mut dyn FnMut(&mut dyn HubTx) -> Result<()>) -> Result<()> {
        self.write(|tx| f(&mut Tx { tx }))
    }

    fn feed(&self, after: u64, sink: &mut dyn FeedSink) -> Result<u64> {
        let mut c = self.reader()?;
        let out = feed_on(&mut c, after, sink);
        self.give_back(c);
        out
    }

    fn head(&self) -> Result<u64> {
        let c = self.reader()?;
        let head = c.query_row("SELECT seq FROM counter", [], |r| r.get::<_, i64>(0));
        self.give_back(c);
        Ok(head? as u64)
    }

    fn schedule_purge(&self) {
        lock(&self.purge.state).asked += 1;
        self.purge.wake.notify_one();
    }
}

impl Drop for SqliteHub {
    /// Stops the purge thread after it has run a pending purge once more (see [`purge_loop`]).
    fn drop(&mut self) {
        lock(&self.purge.state).closing = true;
        self.purge.wake.notify_one();
        if let Some(t) = self.purger.take()
            && t.join().is_err()
        {
            tracing::error!("the hub purge thread panicked");
        }
    }
}

fn feed_on(c: &mut Connection, after: u64, sink: &mut dyn FeedSink) -> Result<u64> {
    // One read transaction: the head and every row come from the same WAL snapshot.
    let tx = c.transaction()?;
    let head: i64 = tx.query_row("SELECT seq FROM counter", [], |r| r.get(0))?;
    {
        let mut stmt = tx.prepare_cached(FEED_SQL)?;
        let mut change_bytes = tx.prepare_cached("SELECT bytes FROM changes WHERE seq = ?1")?;
        let mut key_bytes = tx.prepare_cached("SELECT key FROM resident_keys WHERE seq = ?1")?;
        let filter = sink.filter();
        let scopes = filter.scopes.map(scope_to_text).transpose()?;
        let mut rows = stmt.query(params![after as i64, head, filter.not_actor, scopes])?;
        while let Some(r) = rows.next()? {
            let meta = feed_row(r)?;
            match sink.visit(&meta) {
                Visit::Skip => continue,
                Visit::Stop => break,
                Visit::Take => {}
            }
            let seq = meta.seq as i64;
            let payload = match meta.what {
                FeedKind::Change => change_bytes.query_row([seq], |r| r.get(0))?,
                FeedKind::Key => key_bytes.query_row([seq], |r| r.get(0))?,
                FeedKind::Tombstone => Vec::new(),
            };
            sink.take(meta, payload);
        }
    }
    tx.commit()?;
    Ok(head as u64)
}
