//! Projection rows: the list and search tables derived from the documents.
//!
//! A projection is a cache. It is written in the same transaction as the change that caused it,
//! and [`rebuild_all`] recreates every row from the documents alone; a test checks both agree.

use automerge::{Automerge, ObjType, ROOT};
use rusqlite::{Connection, Transaction, params};

use crate::am;
use crate::conflict;
use crate::docs::{self, DocKind};
use crate::error::Result;
use crate::household::{self, Keyring};
use crate::model::ResidentStatus;
use crate::privacy::ResidentKey;

/// The projection tables, in the order they are cleared and compared.
pub const TABLES: &[&str] = &[
    "places",
    "households",
    "residents",
    "visits",
    "followups",
    "events",
];

/// Loads the keys of a household's residents.
pub(crate) fn keyring(conn: &Connection, household_id: &str) -> Result<Keyring> {
    let mut stmt =
        conn.prepare_cached("SELECT resident_id, key FROM resident_keys WHERE household_id = ?1")?;
    let rows = stmt.query_map([household_id], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
    })?;
    let mut keys = Keyring::new();
    for row in rows {
        let (rid, key) = row?;
        keys.insert(rid, ResidentKey::from_slice(&key)?);
    }
    Ok(keys)
}

/// Rewrites every projection row of one household document.
pub(crate) fn project_household(
    tx: &Transaction<'_>,
    doc: &Automerge,
    keys: &Keyring,
) -> Result<()> {
    let h = household::read_household(doc, keys);
    if h.id.is_empty() {
        return Ok(());
    }
    clear_household(tx, &h.id)?;
    let visits = household::read_visits(doc);
    let last_visit = visits.iter().map(|v| v.started_ms).max();
    let head = h
        .residents
        .iter()
        .find(|r| r.relation == "户主" && r.status == ResidentStatus::Present)
        .or_else(|| {
            h.residents
                .iter()
                .find(|r| r.status == ResidentStatus::Present)
        })
        .map(|r| r.name.clone())
        .filter(|n| !n.is_empty());
    let present = h
        .residents
        .iter()
        .filter(|r| r.status == ResidentStatus::Present)
        .count();
    let conflicts = conflict::count(doc);
    let tags: Vec<&str> = h.care_tags.iter().map(|t| t.as_str()).collect();
    tx.prepare_cached(
        "INSERT INTO households (id, grid_id, building_id, unit, door, address, occupancy, care_tags,
            head_name, resident_count, last_visit_at, visit_count, conflict_count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        h.id,
        h.grid_id,
        h.building_id,
        h.unit,
        h.door,
        h.address,
        h.occupancy.as_str(),
        tags.join(","),
        head,
        present as i64,
        last_visit,
        visits.len() as i64,
        conflicts as i64,
    ])?;
    let residents = am::object(doc, &ROOT, "residents", ObjType::Map);
    for r in &h.residents {
        if r.status == ResidentStatus::Deleted {
            continue;
        }
        let phone = residents
            .as_ref()
            .and_then(|m| am::object(doc, m, &r.id, ObjType::Map))
            .and_then(|o| household::read_sealed(doc, &o, &r.id, "phone", keys))
            .unwrap_or_default();
        tx.prepare_cached(
            "INSERT INTO residents (id, household_id, name, phone, status) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?
        .execute(params![r.id, h.id, r.name, phone, r.status.as_str()])?;
    }
    for v in &visits {
        add_photo_refs(tx, &h.id, &v.photos)?;
        insert_visit(
            tx,
            &VisitRow {
                id: &v.id,
                household_id: &h.id,
                worker_id: &v.worker_id,
                started_ms: v.started_ms,
                ended_ms: v.ended_ms,
                outcome: v.outcome.as_str(),
                form_id: &v.form_id,
                form_version: v.form_version,
                need_count: v.followups.len(),
                photo_count: v.photos.len(),
            },
        )?;
    }
    for f in household::read_followups(doc) {
        insert_followup(tx, &h.id, &f)?;
    }
    Ok(())
}

/// Adds the rows of a newly recorded visit (the same rows [`project_household`] would derive).
pub(crate) fn add_visit(
    tx: &Transaction<'_>,
    visit_id: &str,
    worker: &str,
    v: &crate::model::VisitInput,
    followups: &[crate::model::FollowUp],
) -> Result<()> {
    insert_visit(
        tx,
        &VisitRow {
            id: visit_id,
            household_id: &v.household_id,
            worker_id: worker,
            started_ms: v.started_ms,
            ended_ms: v.ended_ms,
            outcome: v.outcome.as_str(),
            form_id: &v.form_id,
            form_version: v.form_version,
            need_count: followups.len(),
            photo_count: v.photos.len(),
        },
    )?;
    add_photo_refs(tx, &v.household_id, &v.photos)?;
    for f in followups {
        insert_followup(tx, &f.household_id, f)?;
    }
    tx.prepare_cached(
        "UPDATE households SET visit_count = visit_count + 1,
            last_visit_at = max(coalesce(last_visit_at, ?2), ?2)
         WHERE id = ?1",
    )?
    .execute(params![v.household_id, v.started_ms])?;
    Ok(())
}

/// One row of the `visits` projection.
struct VisitRow<'a> {
    id: &'a str,
    household_id: &'a str,
    worker_id: &'a str,
    started_ms: i64,
    ended_ms: i64,
    outcome: &'a str,
    form_id: &'a str,
    form_version: u32,
    need_count: usize,
    photo_count: usize,
}

fn insert_visit(tx: &Transaction<'_>, v: &VisitRow<'_>) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO visits (id, household_id, worker_id, started_at, ended_at, outcome, form_id,
            form_version, need_count, photo_count)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        v.id,
        v.household_id,
        v.worker_id,
        v.started_ms,
        v.ended_ms,
        v.outcome,
        v.form_id,
        v.form_version,
        v.need_count as i64,
        v.photo_count as i64
    ])?;
    Ok(())
}

fn insert_followup(
    tx: &Transaction<'_>,
    household_id: &str,
    f: &crate::model::FollowUp,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO followups (id, household_id, visit_id, category, description, urgency, due_at, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        f.id,
        household_id,
        f.visit_id,
        f.category,
        f.description,
        f.urgency.as_str(),
        f.due_ms,
        f.status
    ])?;
    Ok(())
}

/// Records that document `doc_id` references these photos.
pub(crate) fn add_photo_refs(tx: &Transaction<'_>, doc_id: &str, hashes: &[String]) -> Result<()> {
    let mut stmt =
        tx.prepare_cached("INSERT OR IGNORE INTO photo_refs (hash, doc_id) VALUES (?1, ?2)")?;
    for h in hashes {
        stmt.execute(params![h, doc_id])?;
    }
    Ok(())
}

fn clear_household(tx: &Transaction<'_>, id: &str) -> Result<()> {
    for sql in [
        "DELETE FROM photo_refs WHERE doc_id = ?1",
        "DELETE FROM households WHERE id = ?1",
        "DELETE FROM residents WHERE household_id = ?1",
        "DELETE FROM visits WHERE household_id = ?1",
        "DELETE FROM followups WHERE household_id = ?1",
    ] {
        tx.prepare_cached(sql)?.execute([id])?;
    }
    Ok(())
}

/// Rewrites the places table from the roster document.
pub(crate) fn project_roster(tx: &Transaction<'_>, doc: &Automerge) -> Result<()> {
    tx.execute("DELETE FROM places", [])?;
    let mut sort = 0i64;
    if let Some(grids) = am::object(doc, &ROOT, "grids", ObjType::Map) {
        for id in am::keys(doc, &grids) {
            if let Some(g) = am::object(doc, &grids, &id, ObjType::Map) {
                sort += 1;
                tx.execute(
                    "INSERT INTO places (id, kind, parent_id, name, sort) VALUES (?1, 'grid', NULL, ?2, ?3)",
                    params![id, am::string(doc, &g, "name"), sort],
                )?;
            }
        }
    }
    if let Some(buildings) = am::object(doc, &ROOT, "buildings", ObjType::Map) {
        for id in am::keys(doc, &buildings) {
            if let Some(b) = am::object(doc, &buildings, &id, ObjType::Map) {
                sort += 1;
                tx.execute(
                    "INSERT OR REPLACE INTO places (id, kind, parent_id, name, sort) VALUES (?1, 'building', ?2, ?3, ?4)",
                    params![id, am::string(doc, &b, "grid_id"), am::string(doc, &b, "name"), sort],
                )?;
            }
        }
    }
    Ok(())
}

/// Rewrites the projections of any document, by kind.
pub(crate) fn project(tx: &Transaction<'_>, kind: DocKind, doc: &Automerge) -> Result<()> {
    match kind {
        DocKind::Household => {
            let id = am::string(doc, &ROOT, "id");
            let keys = keyring(tx, &id)?;
            project_household(tx, doc, &keys)
        }
        DocKind::Roster => project_roster(tx, doc),
        DocKind::Event => crate::event_store::project_event(tx, doc),
        DocKind::Config => Ok(()),
    }
}

/// Drops every projection row and derives them all again from the stored documents.
pub(crate) fn rebuild_all(tx: &Transaction<'_>) -> Result<()> {
    for t in TABLES {
        tx.execute(&format!("DELETE FROM {t}"), [])?;
    }
    let ids: Vec<(String, String)> = {
        let mut stmt = tx.prepare("SELECT id, kind FROM docs ORDER BY id")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (id, kind) in ids {
        let Some(kind) = DocKind::parse(&kind) else {
            continue;
        };
        if let Some(doc) = docs::load_from_db(tx, &id)? {
            project(tx, kind, &doc)?;
        }
    }
    Ok(())
}

/// Every projection row, as text, table by table in a stable order (for comparisons).
pub fn dump(conn: &Connection) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for t in TABLES {
        let mut stmt = conn.prepare(&format!("SELECT * FROM {t} ORDER BY 1"))?;
        let cols = stmt.column_count();
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let mut line = String::from(*t);
            for i in 0..cols {
                let v: rusqlite::types::Value = row.get(i)?;
                line.push('|');
                line.push_str(&format!("{v:?}"));
            }
            out.push(line);
        }
    }
    Ok(out)
}
