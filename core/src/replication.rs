//! Replication: what one replica hands another, and the sync request/commit over it.
//!
//! Replicas exchange raw Automerge change chunks (never whole documents), resident keys and
//! deletion tombstones. Everything received is decoded strictly before anything is written and
//! applied in one transaction, so a damaged bundle changes nothing.

use std::collections::{HashMap, HashSet};

use automerge::{Change, ReadDoc};
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::docs::{self, DocKind, DocMeta, Editing};
use crate::error::{Error, Result};
use crate::privacy::ResidentKey;
use crate::store::{Store, Writer, set_meta};
use crate::sync::{Outbox, PROTOCOL_VERSION, SyncReply, SyncRequest};

/// Every change of one document, as raw Automerge change chunks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DocChanges {
    /// Document id.
    pub id: String,
    /// Kind name (`household`, `roster`, `config`, `event`).
    pub kind: String,
    /// Scope (`community`, `grid:<id>`, `building:<id>`).
    pub scope: String,
    /// Building, when the record has one.
    pub building_id: Option<String>,
    /// Raw change chunks.
    pub changes: Vec<Vec<u8>>,
}

/// A resident key travelling between replicas.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Resident.
    pub resident_id: String,
    /// Their household.
    pub household_id: String,
    /// The raw key.
    pub key: Vec<u8>,
}

/// A deleted resident: every replica destroys the key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tombstone {
    /// Resident.
    pub resident_id: String,
    /// Their household.
    pub household_id: String,
    /// When they were deleted.
    pub deleted_ms: i64,
}

/// What one replica hands another: documents' changes, resident keys and deletions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bundle {
    /// Document changes.
    pub docs: Vec<DocChanges>,
    /// Resident keys.
    pub keys: Vec<KeyRecord>,
    /// Deleted residents.
    pub tombstones: Vec<Tombstone>,
    /// Access-log entries (device → office only), with their chain hashes so the office can
    /// verify each device's chain.
    pub access: Vec<AccessRecord>,
}

/// One access-log entry as it travels to the office.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessRecord {
    /// Device whose log it is.
    pub device_id: String,
    /// Position in that device's chain.
    pub seq: i64,
    /// When.
    pub at_ms: i64,
    /// Who revealed.
    pub person_id: String,
    /// Whose data.
    pub resident_id: String,
    /// Which field.
    pub field: String,
    /// Stated purpose.
    pub purpose: String,
    /// Hash of the previous entry.
    pub prev_hash: Vec<u8>,
    /// This entry's hash.
    pub hash: Vec<u8>,
}

impl Store {
    /// Everything this replica holds, for another replica (in-process merging and tests; the
    /// network protocol sends only what the peer lacks).
    pub fn export_all(&self) -> Result<Bundle> {
        let ids: Vec<String> = self.db.read(|c| {
            let mut stmt = c.prepare("SELECT id FROM docs ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        let mut bundle = Bundle::default();
        for id in ids {
            let Some(doc) = self.read_doc(&id)? else {
                continue;
            };
            let Some(meta) = self.db.read(|c| docs::meta(c, &id))? else {
                continue;
            };
            bundle.docs.push(DocChanges {
                id,
                kind: meta.kind.as_str().into(),
                scope: meta.scope,
                building_id: meta.building_id,
                changes: doc
                    .get_changes(&[])
                    .iter()
                    .map(|c| c.raw_bytes().to_vec())
                    .collect(),
            });
        }
        self.db.read(|c| {
            let mut stmt = c.prepare("SELECT resident_id, household_id, key FROM resident_keys ORDER BY resident_id")?;
            bundle.keys = stmt
                .query_map([], |r| Ok(KeyRecord { resident_id: r.get(0)?, household_id: r.get(1)?, key: r.get(2)? }))?
                .collect::<rusqlite::Result<_>>()?;
            let mut stmt = c.prepare("SELECT resident_id, household_id, deleted_at FROM resident_tombstones ORDER BY resident_id")?;
            bundle.tombstones = stmt
                .query_map([], |r| Ok(Tombstone { resident_id: r.get(0)?, household_id: r.get(1)?, deleted_ms: r.get(2)? }))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(())
        })?;
        Ok(bundle)
    }

    /// Merges what another replica sent. All or nothing: a damaged change rejects the whole
    /// bundle and leaves the store as it was. Returns the number of new changes applied.
    pub fn import(&self, bundle: &Bundle) -> Result<usize> {
        let parsed = parse_bundle(bundle)?;
        let applied = self.write(|w| w.import(bundle, parsed))?;
        if !bundle.tombstones.is_empty() {
            self.scrub()?;
        }
        Ok(applied)
    }

    /// The next sync request: the cursor and up to `limit` unacknowledged changes (plus keys
    /// and tombstones), with the rows to mark uploaded once the server acknowledges them.
    pub fn sync_request(&self, limit: usize) -> Result<(SyncRequest, Outbox)> {
        self.db.read(|c| {
            let cursor = read_cursor(c)?;
            let mut outbox = Outbox::default();
            let mut push = Bundle::default();
            let mut stmt = c.prepare_cached(
                "SELECT c.seq, c.doc_id, c.bytes, d.kind, d.scope, d.building_id
                 FROM doc_changes c JOIN docs d ON d.id = c.doc_id
                 WHERE c.uploaded = 0 ORDER BY c.seq LIMIT ?1",
            )?;
            let mut rows = stmt.query([limit as i64 + 1])?;
            let mut index: HashMap<String, usize> = HashMap::new();
            while let Some(r) = rows.next()? {
                if outbox.change_seqs.len() == limit {
                    outbox.full = true;
                    break;
                }
                let doc_id: String = r.get(1)?;
                let i = match index.get(&doc_id) {
                    Some(i) => *i,
                    None => {
                        push.docs.push(DocChanges {
                            id: doc_id.clone(),
                            kind: r.get(3)?,
                            scope: r.get(4)?,
                            building_id: r.get(5)?,
                            changes: Vec::new(),
                        });
                        index.insert(doc_id, push.docs.len() - 1);
                        push.docs.len() - 1
                    }
                };
                push.docs[i].changes.push(r.get(2)?);
                outbox.change_seqs.push(r.get(0)?);
            }
            let mut stmt = c.prepare_cached(
                "SELECT resident_id, household_id, key FROM resident_keys WHERE uploaded = 0",
            )?;
            push.keys = stmt
                .query_map([], |r| {
                    Ok(KeyRecord { resident_id: r.get(0)?, household_id: r.get(1)?, key: r.get(2)? })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut stmt = c.prepare_cached(
                "SELECT resident_id, household_id, deleted_at FROM resident_tombstones WHERE uploaded = 0",
            )?;
            push.tombstones = stmt
                .query_map([], |r| {
                    Ok(Tombstone { resident_id: r.get(0)?, household_id: r.get(1)?, deleted_ms: r.get(2)? })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut stmt = c.prepare_cached(
                "SELECT seq, at, person_id, device_id, resident_id, field, purpose, prev_hash, hash
                 FROM access_log WHERE uploaded = 0 ORDER BY seq",
            )?;
            push.access = stmt
                .query_map([], |r| {
                    Ok(AccessRecord {
                        seq: r.get(0)?,
                        at_ms: r.get(1)?,
                        person_id: r.get(2)?,
                        device_id: r.get(3)?,
                        resident_id: r.get(4)?,
                        field: r.get(5)?,
                        purpose: r.get(6)?,
                        prev_hash: r.get(7)?,
                        hash: r.get(8)?,
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            outbox.access_seqs = push.access.iter().map(|a| a.seq).collect();
            outbox.key_ids = push.keys.iter().map(|k| k.resident_id.clone()).collect();
            outbox.tombstone_ids = push.tombstones.iter().map(|t| t.resident_id.clone()).collect();
            let mut id = [0u8; 8];
            crate::privacy::random_bytes(&mut id)?;
            Ok((
                SyncRequest { version: PROTOCOL_VERSION, request_id: u64::from_le_bytes(id), cursor, push },
                outbox,
            ))
        })
    }

    /// Applies a server's reply to a request built from `outbox`: marks the pushed rows
    /// uploaded, merges what came down and moves the cursor, in one transaction.
    /// Returns the number of new changes applied.
    pub fn sync_commit(&self, outbox: &Outbox, reply: &SyncReply) -> Result<usize> {
        let parsed = parse_bundle(&reply.pull)?;
        let applied = self.write(|w| {
            let mut stmt =
                w.tx.prepare_cached("UPDATE doc_changes SET uploaded = 1 WHERE seq = ?1")?;
            for seq in &outbox.change_seqs {
                stmt.execute([seq])?;
            }
            let mut stmt = w
                .tx
                .prepare_cached("UPDATE resident_keys SET uploaded = 1 WHERE resident_id = ?1")?;
            for id in &outbox.key_ids {
                stmt.execute([id])?;
            }
            let mut stmt = w.tx.prepare_cached(
                "UPDATE resident_tombstones SET uploaded = 1 WHERE resident_id = ?1",
            )?;
            for id in &outbox.tombstone_ids {
                stmt.execute([id])?;
            }
            let mut stmt =
                w.tx.prepare_cached("UPDATE access_log SET uploaded = 1 WHERE seq = ?1")?;
            for seq in &outbox.access_seqs {
                stmt.execute([seq])?;
            }
            let applied = w.import(&reply.pull, parsed)?;
            set_meta(w.tx, "sync_cursor", &reply.cursor.to_be_bytes())?;
            Ok(applied)
        })?;
        if !reply.pull.tombstones.is_empty() {
            self.scrub()?;
        }
        Ok(applied)
    }

    /// The last position of the server's sequence this replica has applied (0 before the first
    /// sync). The office console uses it to know how far the office replica has caught up.
    pub fn sync_cursor(&self) -> Result<u64> {
        self.db.read(read_cursor)
    }

    /// Whether every local change has been acknowledged by the server.
    pub fn everything_uploaded(&self) -> Result<bool> {
        self.db.read(|c| {
            let n: i64 = c.query_row(
                "SELECT (SELECT count(*) FROM doc_changes WHERE uploaded = 0)
                      + (SELECT count(*) FROM resident_keys WHERE uploaded = 0)
                      + (SELECT count(*) FROM resident_tombstones WHERE uploaded = 0)
                      + (SELECT count(*) FROM access_log WHERE uploaded = 0)",
                [],
                |r| r.get(0),
            )?;
            Ok(n == 0)
        })
    }
}

/// The stored sync cursor (0 before the first sync).
fn read_cursor(c: &rusqlite::Connection) -> Result<u64> {
    Ok(c.query_row(
        "SELECT value FROM meta WHERE key = 'sync_cursor'",
        [],
        |r| r.get::<_, Vec<u8>>(0),
    )
    .optional()?
    .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
    .map(u64::from_be_bytes)
    .unwrap_or(0))
}

/// Whether a record has reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
pub enum UploadStatus {
    /// The server acknowledged everything this device wrote to it.
    Uploaded,
    /// Saved on this device; some of it waits for the next sync.
    Pending,
}

/// A record with something not yet acknowledged by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PendingRecord {
    /// `household`, `event`, `roster`, `config` or `photo`.
    pub kind: String,
    /// Document id, or the photo's SHA-256.
    pub id: String,
    /// Local changes (for a photo: 1) waiting for the server.
    pub changes: u32,
}

impl Store {
    /// The upload status of one record: a household, visit, follow-up, resident, event, roster or
    /// config document, or a photo by hash. A record is uploaded when the server has acknowledged
    /// every change this device made to the document holding it (a visit, follow-up or resident
    /// lives in its household's document; a resident also needs its key acknowledged).
    pub fn upload_status(&self, record_id: &str) -> Result<UploadStatus> {
        self.db.read(|c| {
            let pending_doc = |doc: &str| -> Result<bool> {
                Ok(c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM doc_changes WHERE doc_id = ?1 AND uploaded = 0)",
                    [doc],
                    |r| r.get(0),
                )?)
            };
            let holder = |sql: &str| -> Result<Option<String>> {
                Ok(c.query_row(sql, [record_id], |r| r.get(0)).optional()?)
            };
            let pending = if let Some(doc) = holder("SELECT id FROM docs WHERE id = ?1")? {
                pending_doc(&doc)?
            } else if let Some(h) = holder("SELECT household_id FROM visits WHERE id = ?1")? {
                pending_doc(&h)?
            } else if let Some(h) = holder("SELECT household_id FROM followups WHERE id = ?1")? {
                pending_doc(&h)?
            } else if let Some(h) = holder("SELECT household_id FROM residents WHERE id = ?1")? {
                let key_pending: bool = c.query_row(
                    "SELECT EXISTS (SELECT 1 FROM resident_keys WHERE resident_id = ?1 AND uploaded = 0)",
                    [record_id],
                    |r| r.get(0),
                )?;
                key_pending || pending_doc(&h)?
            } else if let Some(up) = c
                .query_row("SELECT uploaded FROM photos WHERE hash = ?1", [record_id], |r| {
                    r.get::<_, bool>(0)
                })
                .optional()?
            {
                !up
            } else {
                return Err(Error::not_found("record", record_id));
            };
            Ok(if pending {
                UploadStatus::Pending
            } else {
                UploadStatus::Uploaded
            })
        })
    }

    /// Every record with something the server has not acknowledged yet: documents in the order
    /// they were first changed, then photos (the "waiting to upload" list).
    pub fn pending_uploads(&self) -> Result<Vec<PendingRecord>> {
        self.db.read(|c| {
            let mut out = Vec::new();
            let mut stmt = c.prepare(
                "SELECT d.kind, c.doc_id, count(*) FROM doc_changes c JOIN docs d ON d.id = c.doc_id
                 WHERE c.uploaded = 0 GROUP BY c.doc_id ORDER BY min(c.seq)",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(PendingRecord {
                    kind: r.get(0)?,
                    id: r.get(1)?,
                    changes: r.get(2)?,
                })
            })?;
            for r in rows {
                out.push(r?);
            }
            let mut stmt =
                c.prepare("SELECT hash FROM photos WHERE uploaded = 0 ORDER BY created_at, hash")?;
            let rows = stmt.query_map([], |r| {
                Ok(PendingRecord {
                    kind: "photo".into(),
                    id: r.get(0)?,
                    changes: 1,
                })
            })?;
            for r in rows {
                out.push(r?);
            }
            Ok(out)
        })
    }
}

impl Writer<'_, '_> {
    /// Merges a bundle from another replica (changes already decoded by [`parse_bundle`]).
    fn import(&mut self, bundle: &Bundle, parsed: Vec<(DocMeta, Vec<Change>)>) -> Result<usize> {
        let w = self;
        for t in &bundle.tombstones {
            w.tx.execute(
                "DELETE FROM resident_keys WHERE resident_id = ?1",
                [&t.resident_id],
            )?;
            w.tx.execute(
                    "INSERT OR IGNORE INTO resident_tombstones (resident_id, household_id, deleted_at, uploaded) VALUES (?1, ?2, ?3, 1)",
                    params![t.resident_id, t.household_id, t.deleted_ms],
                )?;
        }
        for k in &bundle.keys {
            ResidentKey::from_slice(&k.key)?;
            w.tx.execute(
                    "INSERT OR IGNORE INTO resident_keys (resident_id, household_id, key, uploaded)
                     SELECT ?1, ?2, ?3, 1 WHERE NOT EXISTS (SELECT 1 FROM resident_tombstones WHERE resident_id = ?1)",
                    params![k.resident_id, k.household_id, k.key],
                )?;
        }
        let mut applied = 0;
        for (meta, changes) in parsed {
            applied += w.apply_remote(meta, changes)?;
        }
        // Households whose keys came or went need their projections redone.
        let mut rehouse: HashSet<&str> = bundle
            .keys
            .iter()
            .map(|k| k.household_id.as_str())
            .collect();
        rehouse.extend(bundle.tombstones.iter().map(|t| t.household_id.as_str()));
        for hid in rehouse {
            if !w.touched.iter().any(|e| e.meta.id == hid)
                && let Some(e) = w.try_edit(hid)?
            {
                w.touched.push(e);
            }
        }
        Ok(applied)
    }

    /// Applies changes from another replica; stores only the ones that are new here.
    fn apply_remote(&mut self, meta: DocMeta, changes: Vec<Change>) -> Result<usize> {
        let mut e = match self.try_edit(&meta.id)? {
            Some(e) => e,
            None => Editing::create(&self.store.cache, &self.store.author, meta),
        };
        let fresh: Vec<Change> = changes
            .into_iter()
            .filter(|c| e.doc.get_change_by_hash(&c.hash()).is_none())
            .collect();
        if fresh.is_empty() {
            self.touched.push(e);
            return Ok(0);
        }
        let result = e.doc.apply_changes(fresh.clone());
        if let Err(err) = result {
            // The in-memory document may be partly changed; it is dropped (not cached) when the
            // transaction rolls back, so nothing half-applied survives.
            return Err(err.into());
        }
        for c in &fresh {
            e.persist_change(self.tx, c, true, self.now)?;
        }
        let n = fresh.len();
        self.touched.push(e);
        Ok(n)
    }
}

/// Decodes every change of a bundle strictly before anything is written.
fn parse_bundle(bundle: &Bundle) -> Result<Vec<(DocMeta, Vec<Change>)>> {
    let mut parsed = Vec::with_capacity(bundle.docs.len());
    for d in &bundle.docs {
        let kind = DocKind::parse(&d.kind).ok_or_else(|| {
            Error::field(
                "kind",
                "invalid",
                format!("unknown document kind in {}", d.id),
            )
        })?;
        let changes = d
            .changes
            .iter()
            .map(|b| docs::decode_change(b))
            .collect::<Result<Vec<_>>>()?;
        parsed.push((
            DocMeta {
                id: d.id.clone(),
                kind,
                scope: d.scope.clone(),
                building_id: d.building_id.clone(),
            },
            changes,
        ));
    }
    Ok(parsed)
}
