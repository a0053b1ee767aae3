//! Automerge documents in SQLite: a compacted snapshot plus incremental changes.
//!
//! Every syncable record is one document (`docs` row). A local edit is one Automerge change,
//! appended to `doc_changes` in the same transaction as the projection rows it affects; the
//! snapshot is rewritten only when enough acknowledged changes have piled up. Changes the server
//! has not acknowledged stay as rows (`uploaded = 0`): they are the sync outbox.
//!
//! A small cache keeps recently used documents loaded. A document is taken out of the cache
//! while it is being changed and put back only after the transaction commits, so a failed write
//! can never leave the cache ahead of the store.

use std::collections::HashMap;
use std::sync::Mutex;

use automerge::transaction::{CommitOptions, Transaction as AmTransaction};
use automerge::{ActorId, Automerge, Change, ChangeHash, ReadDoc};
use rusqlite::{OptionalExtension, Transaction, params};

use crate::error::{Error, Result};

/// A save folds the changes into the snapshot only past this many: compaction belongs off the
/// save path ([`compact_pending`], run after a sync or when the app is idle), this is the backstop.
const COMPACT_AFTER: i64 = 64;
/// [`compact_pending`] folds documents with at least this many changes beside the snapshot.
const COMPACT_IDLE_AFTER: i64 = 2;
/// Documents kept loaded: a whole grid (~400 households) fits, so a day's walk never reloads.
const CACHE_CAPACITY: usize = 512;

/// What a document is; decides its shape and its projections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    /// The community's roster: grids and buildings.
    Roster,
    /// A household with its residents, vehicles and visit log.
    Household,
    /// An office configuration document (forms, visit policy, calendar, categories).
    Config,
    /// An event (snap report, need follow-up, dispute).
    Event,
}

impl DocKind {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DocKind::Roster => "roster",
            DocKind::Household => "household",
            DocKind::Config => "config",
            DocKind::Event => "event",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "roster" => DocKind::Roster,
            "household" => DocKind::Household,
            "config" => DocKind::Config,
            "event" => DocKind::Event,
            _ => return None,
        })
    }
}

/// Where a document belongs: decides who may receive and change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocMeta {
    /// Document id.
    pub id: String,
    /// Document kind.
    pub kind: DocKind,
    /// `community`, `grid:<id>` or `building:<id>`.
    pub scope: String,
    /// Building the record belongs to, when it has one (building leads see by building).
    pub building_id: Option<String>,
}

/// Loaded documents, least recently used evicted first.
#[derive(Default)]
pub(crate) struct DocCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    tick: u64,
    docs: HashMap<String, (u64, Automerge)>,
}

impl DocCache {
    fn take(&self, id: &str) -> Option<Automerge> {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.docs.remove(id).map(|(_, d)| d)
    }

    fn peek_clone(&self, id: &str) -> Option<Automerge> {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.tick += 1;
        let tick = c.tick;
        c.docs.get_mut(id).map(|(t, d)| {
            *t = tick;
            d.clone()
        })
    }

    pub(crate) fn put(&self, id: &str, doc: Automerge) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.tick += 1;
        let tick = c.tick;
        if c.docs.len() >= CACHE_CAPACITY
            && !c.docs.contains_key(id)
            && let Some(oldest) = c
                .docs
                .iter()
                .min_by_key(|(_, (t, _))| *t)
                .map(|(k, _)| k.clone())
        {
            c.docs.remove(&oldest);
        }
        c.docs.insert(id.to_string(), (tick, doc));
    }

    pub(crate) fn clear(&self) {
        let mut c = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        c.docs.clear();
    }
}

/// Reads a document straight from SQLite (snapshot, then every change row).
pub(crate) fn load_from_db(conn: &rusqlite::Connection, id: &str) -> Result<Option<Automerge>> {
    let snapshot: Option<Vec<u8>> = conn
        .query_row("SELECT snapshot FROM docs WHERE id = ?1", [id], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(snapshot) = snapshot else {
        return Ok(None);
    };
    let mut doc = Automerge::load(&snapshot)
        .map_err(|e| Error::Corrupt(format!("document {id} does not load: {e}")))?;
    let mut stmt = conn.prepare_cached(
        "SELECT bytes FROM doc_changes WHERE doc_id = ?1 AND in_snapshot = 0 ORDER BY seq",
    )?;
    let mut rows = stmt.query([id])?;
    while let Some(row) = rows.next()? {
        let bytes: Vec<u8> = row.get(0)?;
        doc.load_incremental(&bytes)
            .map_err(|e| Error::Corrupt(format!("a change of document {id} does not load: {e}")))?;
    }
    Ok(Some(doc))
}

/// Loads a document for reading: from the cache, else from the store (and caches it).
pub(crate) fn load_for_read(
    cache: &DocCache,
    conn: &rusqlite::Connection,
    id: &str,
) -> Result<Option<Automerge>> {
    if let Some(doc) = cache.peek_clone(id) {
        return Ok(Some(doc));
    }
    let doc = load_from_db(conn, id)?;
    if let Some(d) = &doc {
        cache.put(id, d.clone());
    }
    Ok(doc)
}

/// Metadata of a stored document.
pub(crate) fn meta(conn: &rusqlite::Connection, id: &str) -> Result<Option<DocMeta>> {
    conn.query_row(
        "SELECT kind, scope, building_id FROM docs WHERE id = ?1",
        [id],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        },
    )
    .optional()?
    .map(|(kind, scope, building_id)| {
        Ok(DocMeta {
            id: id.to_string(),
            kind: DocKind::parse(&kind)
                .ok_or_else(|| Error::Corrupt(format!("document {id} has unknown kind")))?,
            scope,
            building_id,
        })
    })
    .transpose()
}

/// Who is writing: the device's actor id and the person behind it.
#[derive(Debug, Clone)]
pub(crate) struct Author {
    pub actor: ActorId,
    pub person_id: String,
}

/// A document checked out of the cache for one write transaction.
pub(crate) struct Editing<'a> {
    cache: &'a DocCache,
    pub meta: DocMeta,
    pub doc: Automerge,
    is_new: bool,
    /// Set when the caller already brought the projection rows up to date incrementally, so
    /// the full re-projection at the end of the write is skipped.
    pub projected: bool,
}

impl<'a> Editing<'a> {
    /// Checks out an existing document.
    pub fn open(
        cache: &'a DocCache,
        tx: &Transaction<'_>,
        author: &Author,
        id: &str,
    ) -> Result<Option<Editing<'a>>> {
        let Some(meta) = meta(tx, id)? else {
            return Ok(None);
        };
        let doc = match cache.take(id) {
            Some(d) => d,
            None => load_from_db(tx, id)?
                .ok_or_else(|| Error::Corrupt(format!("document {id} vanished")))?,
        };
        Ok(Some(Editing {
            cache,
            meta,
            doc: doc.with_actor(author.actor.clone()),
            is_new: false,
            projected: false,
        }))
    }

    /// Starts a new, empty document.
    pub fn create(cache: &'a DocCache, author: &Author, meta: DocMeta) -> Editing<'a> {
        Editing {
            cache,
            meta,
            doc: Automerge::new().with_actor(author.actor.clone()),
            is_new: true,
            projected: false,
        }
    }

    /// Makes one change (one user action = one change) and appends it to the store.
    /// Returns the change's hash, or `None` when `f` changed nothing.
    pub fn change<T>(
        &mut self,
        tx: &Transaction<'_>,
        author: &Author,
        now_ms: i64,
        f: impl FnOnce(&mut AmTransaction<'_>) -> Result<T>,
    ) -> Result<(T, Option<ChangeHash>)> {
        let mut am_tx = self.doc.transaction();
        let out = match f(&mut am_tx) {
            Ok(v) => v,
            Err(e) => {
                am_tx.rollback();
                return Err(e);
            }
        };
        let (hash, _) = am_tx.commit_with(
            CommitOptions::default()
                .with_message(author.person_id.clone())
                .with_time(now_ms),
        );
        let Some(hash) = hash else {
            return Ok((out, None));
        };
        let change = self
            .doc
            .get_change_by_hash(&hash)
            .ok_or_else(|| Error::Corrupt("the change just made is missing".into()))?;
        self.persist_change(tx, &change, false, now_ms)?;
        Ok((out, Some(hash)))
    }

    /// Stores a change that came from elsewhere (already applied to `self.doc`).
    pub fn persist_change(
        &mut self,
        tx: &Transaction<'_>,
        change: &Change,
        uploaded: bool,
        now_ms: i64,
    ) -> Result<()> {
        if self.is_new {
            tx.execute(
                "INSERT INTO docs (id, kind, scope, building_id, snapshot, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    self.meta.id,
                    self.meta.kind.as_str(),
                    self.meta.scope,
                    self.meta.building_id,
                    Automerge::new().save(),
                    now_ms
                ],
            )?;
            self.is_new = false;
        } else {
            // Only when the scope moved: rewriting the row would rewrite the snapshot's pages too.
            tx.prepare_cached(
                "UPDATE docs SET updated_at = ?2, scope = ?3, building_id = ?4
                 WHERE id = ?1 AND (scope IS NOT ?3 OR building_id IS NOT ?4)",
            )?
            .execute(params![
                self.meta.id,
                now_ms,
                self.meta.scope,
                self.meta.building_id
            ])?;
        }
        tx.prepare_cached(
            "INSERT INTO doc_changes (doc_id, hash, bytes, uploaded) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            self.meta.id,
            change.hash().0.as_slice(),
            change.raw_bytes(),
            uploaded
        ])?;
        Ok(())
    }

    /// Folds the changes into the snapshot when enough have piled up.
    pub fn maybe_compact(&self, tx: &Transaction<'_>) -> Result<()> {
        let pending: i64 = tx
            .prepare_cached(
                "SELECT count(*) FROM doc_changes WHERE doc_id = ?1 AND in_snapshot = 0",
            )?
            .query_row([&self.meta.id], |r| r.get(0))?;
        if pending >= COMPACT_AFTER {
            compact(tx, &self.meta.id, &self.doc)?;
        }
        Ok(())
    }

    /// Returns the document to the cache; call only after the transaction committed.
    pub fn finish(self) {
        self.cache.put(&self.meta.id, self.doc);
    }
}

/// Compacts every document with changes piled up beside its snapshot (off the save path: loading
/// one snapshot is much cheaper than applying many small changes). Returns how many were compacted.
pub(crate) fn compact_pending(tx: &Transaction<'_>, cache: &DocCache) -> Result<usize> {
    let ids: Vec<String> = tx
        .prepare(
            "SELECT doc_id FROM doc_changes WHERE in_snapshot = 0
             GROUP BY doc_id HAVING count(*) >= ?1",
        )?
        .query_map([COMPACT_IDLE_AFTER], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in &ids {
        let doc = match cache.peek_clone(id) {
            Some(d) => d,
            None => load_from_db(tx, id)?
                .ok_or_else(|| Error::Corrupt(format!("document {id} vanished")))?,
        };
        compact(tx, id, &doc)?;
    }
    Ok(ids.len())
}

/// Rewrites a document's snapshot; acknowledged change rows it now contains are dropped, and
/// unacknowledged ones stay as the outbox (marked so loading skips them).
pub(crate) fn compact(tx: &Transaction<'_>, id: &str, doc: &Automerge) -> Result<()> {
    tx.prepare_cached("UPDATE docs SET snapshot = ?2 WHERE id = ?1")?
        .execute(params![id, doc.save()])?;
    tx.prepare_cached("DELETE FROM doc_changes WHERE doc_id = ?1 AND uploaded = 1")?
        .execute([id])?;
    tx.prepare_cached("UPDATE doc_changes SET in_snapshot = 1 WHERE doc_id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Magic bytes at the start of every Automerge chunk.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];

/// Decodes one change chunk from another replica, strictly: it must be a single change whose
/// checksum matches its content (Automerge's own decoder does not check it, so a flipped bit
/// would otherwise turn into a different, valid-looking change).
pub fn decode_change(bytes: &[u8]) -> Result<Change> {
    if bytes.len() < 9 || bytes[..4] != CHUNK_MAGIC {
        return Err(Error::Corrupt("not an Automerge change".into()));
    }
    // Chunk types: 0 = document, 1 = change, 2 = compressed change, 3+ = bundles. Only plain
    // changes are accepted: a peer never sends whole documents, and Automerge inflates a
    // compressed change with no size limit (a small chunk could expand to gigabytes).
    if bytes[8] != 1 {
        return Err(Error::Corrupt(
            "only individual uncompressed changes are accepted".into(),
        ));
    }
    let change = Change::from_bytes(bytes.to_vec())
        .map_err(|e| Error::Corrupt(format!("change does not decode: {e}")))?;
    if change.hash().0[..4] != bytes[4..8] {
        return Err(Error::Corrupt("change checksum does not match".into()));
    }
    Ok(change)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;

    fn a_change() -> Vec<u8> {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "address", "安居苑小区1号楼1单元101室")
            .unwrap();
        tx.put(automerge::ROOT, "notes", "x".repeat(400)).unwrap();
        tx.commit();
        doc.get_changes(&[])[0].raw_bytes().to_vec()
    }

    #[test]
    fn every_single_bit_flip_of_a_change_is_refused_or_decodes_to_the_same_change() {
        let good = a_change();
        let original = decode_change(&good).unwrap().hash();
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good.clone();
                bad[i] ^= 1 << bit;
                if let Ok(c) = decode_change(&bad) {
                    panic!(
                        "flip at byte {i} bit {bit} accepted (same hash: {})",
                        c.hash() == original
                    );
                }
            }
        }
    }

    #[test]
    fn a_compressed_change_is_refused() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "notes", "老人独居".repeat(2000))
            .unwrap();
        tx.commit();
        let mut change = doc.get_changes(&[])[0].clone();
        let compressed = change.bytes().to_vec();
        assert_eq!(compressed[8], 2, "large changes compress");
        assert!(decode_change(&compressed).is_err());
        assert!(decode_change(change.raw_bytes()).is_ok());
    }

    #[test]
    fn truncated_changes_and_whole_documents_are_refused() {
        let good = a_change();
        for n in 0..good.len() {
            assert!(decode_change(&good[..n]).is_err());
        }
        let mut doc = Automerge::new();
        doc.transaction().commit();
        assert!(decode_change(&doc.save()).is_err());
    }
}
