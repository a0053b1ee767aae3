//! Opening the SQLite store: one initializer, one writer, one reader.
//!
//! Every database opens through [`Db::open`]: `prepare` sets the PRAGMAs, `init` creates a fresh
//! schema at the latest version, `upgrade_from` moves an older file forward one version at a time
//! under `PRAGMA user_version`, inside an IMMEDIATE transaction. Writes go through the single
//! writer connection ([`Db::write`]); reads use a separate reader connection ([`Db::read`]) so a
//! list screen never waits behind a sync.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, InterruptHandle, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{Error, Result};

/// The schema version this build creates and understands.
pub const SCHEMA_VERSION: i64 = 4;

/// Length of the store key in bytes (a raw 256-bit SQLCipher key).
pub const KEY_LEN: usize = 32;

/// The store's two connections.
pub struct Db {
    writer: Mutex<Connection>,
    reader: Mutex<Connection>,
    interrupt: InterruptHandle,
}

impl Db {
    /// Opens (creating if needed) the encrypted database at `path` with the raw `key`.
    pub fn open(path: &Path, key: &[u8]) -> Result<Db> {
        if key.len() != KEY_LEN {
            return Err(Error::field(
                "key",
                "invalid",
                format!("the store key must be {KEY_LEN} bytes"),
            ));
        }
        let mut writer = Connection::open(path)?;
        prepare(&writer, key)?;
        migrate(&mut writer)?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        prepare_reader(&reader, key)?;
        let interrupt = writer.get_interrupt_handle();
        Ok(Db {
            writer: Mutex::new(writer),
            reader: Mutex::new(reader),
            interrupt,
        })
    }

    /// Runs `f` in one IMMEDIATE transaction on the writer; commits only if `f` succeeds.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` with the writer connection outside any transaction (checkpoints, VACUUM).
    pub fn with_writer<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer);
        f(&mut conn)
    }

    /// Runs `f` on the reader connection.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = lock(&self.reader);
        f(&conn)
    }

    /// Interrupts whatever the writer is running now; the call fails with an interrupted error.
    pub fn interrupt(&self) {
        self.interrupt.interrupt();
    }
}

/// A poisoned lock only means another thread panicked mid-call; SQLite rolled its transaction
/// back, so the connection is still consistent and we keep using it.
fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn apply_key(conn: &Connection, key: &[u8]) -> Result<()> {
    // A wrong key is reported as Error::WrongKey; SQLCipher's own stderr log would only add noise.
    conn.execute_batch("PRAGMA cipher_log_level = NONE;")?;
    // A raw key (x'…') skips SQLCipher's PBKDF2: the key already comes from the platform
    // keystore, and the KDF would cost ~100 ms on every open.
    conn.execute_batch(&format!("PRAGMA key = \"x'{}'\";", hex::encode(key)))?;
    // HMAC-SHA256 instead of SQLCipher's default SHA512: phones' ARMv8 crypto extensions
    // accelerate SHA-256 but not SHA-512, and every page read and write is authenticated.
    conn.execute_batch("PRAGMA cipher_hmac_algorithm = HMAC_SHA256;")?;
    // The first read is where a wrong key shows up ("file is not a database").
    match conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
        r.get::<_, i64>(0)
    }) {
        Ok(_) => Ok(()),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            Err(Error::WrongKey)
        }
        Err(e) => Err(e.into()),
    }
}

fn prepare(conn: &Connection, key: &[u8]) -> Result<()> {
    apply_key(conn, key)?;
    conn.execute_batch(
        "
        -- Readers never block the writer and a crash never leaves a half-written page.
        PRAGMA journal_mode = WAL;
        -- FULL: a write is acknowledged only after the WAL is fsynced (a dead battery loses nothing acknowledged).
        PRAGMA synchronous = FULL;
        -- Phones have no tmp partition and temp files would escape the encryption.
        PRAGMA temp_store = MEMORY;
        PRAGMA foreign_keys = ON;
        -- Deleted personal data is overwritten, not left in free pages.
        PRAGMA secure_delete = ON;
        -- Keep the WAL bounded on small devices.
        PRAGMA journal_size_limit = 4194304;
        -- Another process (the crash test, a second opener) may hold the lock briefly.
        PRAGMA busy_timeout = 5000;
        ",
    )?;
    Ok(())
}

fn prepare_reader(conn: &Connection, key: &[u8]) -> Result<()> {
    apply_key(conn, key)?;
    conn.execute_batch(
        "
        PRAGMA temp_store = MEMORY;
        PRAGMA busy_timeout = 5000;
        ",
    )?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(Error::SchemaTooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if version == 0 {
        init(&tx)?;
    } else {
        for from in version..SCHEMA_VERSION {
            upgrade_from(&tx, from)?;
        }
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

/// Creates a fresh schema at [`SCHEMA_VERSION`]: every step applied in order.
fn init(tx: &Transaction<'_>) -> Result<()> {
    tx.execute_batch(SCHEMA_V1)?;
    for from in 1..SCHEMA_VERSION {
        upgrade_from(tx, from)?;
    }
    Ok(())
}

/// Moves the schema from version `from` to `from + 1`.
fn upgrade_from(tx: &Transaction<'_>, from: i64) -> Result<()> {
    match from {
        1 => tx.execute_batch(UPGRADE_1_TO_2)?,
        2 => tx.execute_batch(crate::event_store::UPGRADE_2_TO_3)?,
        3 => tx.execute_batch(UPGRADE_3_TO_4)?,
        _ => {
            return Err(Error::Corrupt(format!(
                "no upgrade path from schema version {from}"
            )));
        }
    }
    Ok(())
}

/// Version 1: documents, their changes, photos and the list/search projections.
pub(crate) const SCHEMA_V1: &str = "
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;

-- One row per Automerge document: the compacted snapshot. Changes made or received since the
-- snapshot live in doc_changes; loading applies both.
CREATE TABLE docs (
    id          TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    scope       TEXT NOT NULL,
    building_id TEXT,
    snapshot    BLOB NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX docs_kind ON docs(kind);

-- Changes. `in_snapshot` = 0: made or received since the snapshot, applied when loading.
-- `uploaded` = 0: a local change the server has not acknowledged yet (the sync outbox); such a
-- row is kept even after compaction folded it into the snapshot.
CREATE TABLE doc_changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id      TEXT NOT NULL REFERENCES docs(id),
    hash        BLOB NOT NULL,
    bytes       BLOB NOT NULL,
    uploaded    INTEGER NOT NULL DEFAULT 0,
    in_snapshot INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX doc_changes_doc ON doc_changes(doc_id, in_snapshot);
CREATE INDEX doc_changes_pending ON doc_changes(uploaded) WHERE uploaded = 0;

-- Per-resident keys for personal fields (see privacy.rs). Deleting a resident deletes the key.
CREATE TABLE resident_keys (
    resident_id  TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    key          BLOB NOT NULL,
    uploaded     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE resident_tombstones (
    resident_id  TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    deleted_at   INTEGER NOT NULL,
    uploaded     INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Photos by SHA-256 of their bytes: the same photo twice is stored once.
CREATE TABLE photos (
    hash       TEXT PRIMARY KEY,
    bytes      BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    uploaded   INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Projections: a cache of the documents for list and search screens, rebuilt at will.
CREATE TABLE places (
    id        TEXT PRIMARY KEY,
    kind      TEXT NOT NULL,
    parent_id TEXT,
    name      TEXT NOT NULL,
    sort      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE households (
    id             TEXT PRIMARY KEY,
    grid_id        TEXT NOT NULL,
    building_id    TEXT NOT NULL,
    unit           TEXT NOT NULL,
    door           TEXT NOT NULL,
    address        TEXT NOT NULL,
    occupancy      TEXT NOT NULL,
    care_tags      TEXT NOT NULL,
    head_name      TEXT,
    resident_count INTEGER NOT NULL,
    last_visit_at  INTEGER,
    visit_count    INTEGER NOT NULL,
    conflict_count INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX households_place ON households(building_id, unit, door);
CREATE INDEX households_grid ON households(grid_id);
CREATE TABLE residents (
    id           TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    name         TEXT NOT NULL,
    phone        TEXT NOT NULL,
    status       TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX residents_name ON residents(name);
CREATE INDEX residents_phone ON residents(phone);
CREATE INDEX residents_household ON residents(household_id);
CREATE TABLE visits (
    id           TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    worker_id    TEXT NOT NULL,
    started_at   INTEGER NOT NULL,
    ended_at     INTEGER NOT NULL,
    outcome      TEXT NOT NULL,
    form_id      TEXT NOT NULL,
    form_version INTEGER NOT NULL,
    need_count   INTEGER NOT NULL,
    photo_count  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX visits_household ON visits(household_id, started_at);
CREATE INDEX visits_started ON visits(started_at);
CREATE TABLE followups (
    id           TEXT PRIMARY KEY,
    household_id TEXT NOT NULL,
    visit_id     TEXT NOT NULL,
    category     TEXT NOT NULL,
    description  TEXT NOT NULL,
    urgency      TEXT NOT NULL,
    due_at       INTEGER NOT NULL,
    status       TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX followups_open ON followups(status, due_at);
";

/// Version 2: the hash-chained access log of revealed personal data.
pub(crate) const UPGRADE_1_TO_2: &str = "
CREATE TABLE access_log (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    person_id   TEXT NOT NULL,
    device_id   TEXT NOT NULL,
    resident_id TEXT NOT NULL,
    field       TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL,
    uploaded    INTEGER NOT NULL DEFAULT 0
);
";

/// Version 4: which records reference which photos (who may download a photo, what to fetch).
pub(crate) const UPGRADE_3_TO_4: &str = "
CREATE TABLE photo_refs (
    hash   TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    PRIMARY KEY (hash, doc_id)
) WITHOUT ROWID;
CREATE INDEX photo_refs_doc ON photo_refs(doc_id);
";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const KEY: [u8; KEY_LEN] = [7; KEY_LEN];

    fn schema(conn: &Connection) -> Vec<(String, String)> {
        let mut stmt = conn
            .prepare("SELECT name, ifnull(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    #[test]
    fn a_version_1_store_upgraded_equals_a_fresh_store() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.db");
        {
            let conn = Connection::open(&old).unwrap();
            prepare(&conn, &KEY).unwrap();
            conn.execute_batch(SCHEMA_V1).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute("INSERT INTO meta VALUES ('k', x'01')", [])
                .unwrap();
        }
        let upgraded = Db::open(&old, &KEY).unwrap();
        let fresh = Db::open(&dir.path().join("fresh.db"), &KEY).unwrap();
        let a = upgraded.read(|c| Ok(schema(c))).unwrap();
        let b = fresh.read(|c| Ok(schema(c))).unwrap();
        assert_eq!(a, b);
        let v: i64 = upgraded
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        let kept: Vec<u8> = upgraded
            .read(|c| Ok(c.query_row("SELECT value FROM meta WHERE key='k'", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(kept, vec![1]);
    }

    #[test]
    fn opening_with_the_wrong_key_is_a_clear_error_and_leaves_the_store_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let db = Db::open(&path, &KEY).unwrap();
            db.write(|tx| {
                tx.execute("INSERT INTO meta VALUES ('x', x'02')", [])?;
                Ok(())
            })
            .unwrap();
        }
        assert!(matches!(
            Db::open(&path, &[9; KEY_LEN]),
            Err(Error::WrongKey)
        ));
        let db = Db::open(&path, &KEY).unwrap();
        let n: i64 = db
            .read(|c| Ok(c.query_row("SELECT count(*) FROM meta", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_store_from_a_newer_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        {
            let conn = Connection::open(&path).unwrap();
            prepare(&conn, &KEY).unwrap();
            conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
                .unwrap();
        }
        assert!(matches!(
            Db::open(&path, &KEY),
            Err(Error::SchemaTooNew { .. })
        ));
    }

    #[test]
    fn a_short_key_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Db::open(&dir.path().join("s.db"), &[1; 5]),
            Err(Error::Invalid(_))
        ));
    }
}
