//! The grid worker's store: the one entry point the app (through the bindings) talks to.
//!
//! Every write is one user action: it loads the document, makes one Automerge change, appends
//! the change and rewrites the affected projection rows in one SQLite transaction, and returns
//! only after that transaction is durable.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use automerge::{ActorId, Automerge, ROOT};
use chrono::TimeZone;
use rusqlite::{OptionalExtension, Transaction, params};

use sha2::{Digest, Sha256};

use crate::access_log;
use crate::am;
use crate::config::{self, VisitPolicy};
use crate::conflict;
use crate::db::Db;
use crate::docs::{self, Author, DocCache, DocKind, DocMeta, Editing};
use crate::error::{Error, Result};
use crate::form::{Answers, FieldError, FormDefinition};
use crate::household::{self, field_error, finish};
use crate::model::*;
use crate::privacy::{self, ResidentKey};
use crate::projection;
pub use crate::replication::{Bundle, DocChanges, KeyRecord, Tombstone};

/// Asia/Shanghai: UTC+8 all year (China has no daylight saving time).
pub fn shanghai() -> chrono::FixedOffset {
    #[allow(clippy::unwrap_used)] // 8 h is a valid offset; checked by every test that opens a store
    chrono::FixedOffset::east_opt(8 * 3600).unwrap()
}

/// The local calendar date of an instant, in Asia/Shanghai.
pub fn local_date(ms: i64) -> chrono::NaiveDate {
    shanghai()
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.date_naive())
        .unwrap_or_default()
}

/// Milliseconds in a day.
pub(crate) const DAY_MS: i64 = 86_400_000;
/// A visit may end at most this far in the future (phone clocks drift).
const CLOCK_SKEW_MS: i64 = 10 * 60 * 1000;
/// The roster document's id.
pub const ROSTER_DOC: &str = "roster";

/// The offline store of one device.
pub struct Store {
    pub(crate) db: Db,
    pub(crate) cache: DocCache,
    pub(crate) author: Author,
    device_id: String,
    path: std::path::PathBuf,
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn today() -> chrono::NaiveDate {
    local_date(now_ms())
}

impl Store {
    /// Opens (or creates) the store at `path`, encrypted with the 32-byte `key` the app keeps in
    /// the platform keystore, for the person `person_id` using this device.
    pub fn open(path: &Path, key: &[u8], person_id: &str) -> Result<Store> {
        if person_id.trim().is_empty() {
            return Err(Error::field(
                "person_id",
                "required",
                "person id is required",
            ));
        }
        let db = Db::open(path, key)?;
        let (device_id, actor) = db.write(|tx| {
            let device_id = match get_meta(tx, "device_id")? {
                Some(v) => String::from_utf8(v).map_err(|_| Error::Corrupt("device id".into()))?,
                None => {
                    let id = privacy::new_id()?;
                    set_meta(tx, "device_id", id.as_bytes())?;
                    id
                }
            };
            let actor = match get_meta(tx, "actor")? {
                Some(v) => ActorId::from(v.as_slice()),
                None => {
                    let mut b = [0u8; 16];
                    privacy::random_bytes(&mut b)?;
                    set_meta(tx, "actor", &b)?;
                    ActorId::from(&b[..])
                }
            };
            Ok((device_id, actor))
        })?;
        Ok(Store {
            db,
            cache: DocCache::default(),
            author: Author {
                actor,
                person_id: person_id.to_string(),
            },
            device_id,
            path: path.to_path_buf(),
        })
    }

    /// Closes the store and deletes every file it wrote (database, WAL, shared memory): what a
    /// revoked device does at its next contact with the office. The data was encrypted at rest
    /// anyway; the app also destroys the key in the keystore.
    pub fn wipe(self) -> Result<()> {
        let path = self.path.clone();
        drop(self);
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut p = path.clone().into_os_string();
            p.push(suffix);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// This device's id.
    pub fn device_id(&self) -> &str {
        &self.device_id
    }

    /// The Automerge actor id this device writes with (hex).
    pub fn actor_id(&self) -> String {
        self.author.actor.to_hex_string()
    }

    /// The person using this store.
    pub fn person_id(&self) -> &str {
        &self.author.person_id
    }

    /// Interrupts a long-running write (rebuild, import) in progress on another thread.
    pub fn interrupt(&self) {
        self.db.interrupt();
    }

    /// Runs one write: `f` changes documents through `w`; the projections of every touched
    /// document are rewritten; then the transaction commits and the documents go back to the cache.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Writer<'_, '_>) -> Result<T>) -> Result<T> {
        let mut touched: Vec<Editing<'_>> = Vec::new();
        let out = self.db.write(|tx| {
            let mut w = Writer {
                store: self,
                tx,
                touched: &mut touched,
                now: now_ms(),
            };
            let out = f(&mut w)?;
            for e in w.touched.iter() {
                if !e.projected {
                    projection::project(tx, e.meta.kind, &e.doc)?;
                }
                e.maybe_compact(tx)?;
            }
            Ok(out)
        });
        if out.is_ok() {
            for e in touched {
                e.finish();
            }
        }
        out
    }

    // ---------------------------------------------------------------- roster and households

    /// Loads the community roster: grids, buildings and households. Re-loading updates what
    /// changed and creates nothing twice (households match by id, else by building/unit/door).
    pub fn load_roster(&self, roster: &RosterInput) -> Result<RosterReport> {
        check_roster(roster)?;
        self.write(|w| {
            let meta = DocMeta {
                id: ROSTER_DOC.into(),
                kind: DocKind::Roster,
                scope: "community".into(),
                building_id: None,
            };
            w.change_or_create(meta, |tx| {
                am::put_if_changed(tx, &ROOT, "kind", "roster")?;
                am::put_if_changed(tx, &ROOT, "community_name", roster.community_name.as_str())?;
                let grids = am::ensure_map(tx, &ROOT, "grids")?;
                for g in &roster.grids {
                    let o = am::ensure_map(tx, &grids, &g.id)?;
                    am::put_if_changed(tx, &o, "name", g.name.as_str())?;
                }
                let buildings = am::ensure_map(tx, &ROOT, "buildings")?;
                for b in &roster.buildings {
                    let o = am::ensure_map(tx, &buildings, &b.id)?;
                    am::put_if_changed(tx, &o, "name", b.name.as_str())?;
                    am::put_if_changed(tx, &o, "grid_id", b.grid_id.as_str())?;
                    am::put_if_changed(tx, &o, "units", i64::from(b.units))?;
                }
                Ok(())
            })?;
            let grid_of: HashMap<&str, &str> = roster
                .buildings
                .iter()
                .map(|b| (b.id.as_str(), b.grid_id.as_str()))
                .collect();
            let mut report = RosterReport {
                created: 0,
                updated: 0,
                unchanged: 0,
            };
            for h in &roster.households {
                let grid = grid_of
                    .get(h.building_id.as_str())
                    .copied()
                    .unwrap_or_default();
                match w.upsert_household(h, grid)?.0 {
                    Upsert::Created => report.created += 1,
                    Upsert::Updated => report.updated += 1,
                    Upsert::Unchanged => report.unchanged += 1,
                }
            }
            Ok(report)
        })
    }

    /// Grids and buildings of the roster.
    pub fn places(&self) -> Result<Vec<Place>> {
        self.db.read(|c| {
            let mut stmt =
                c.prepare("SELECT id, kind, parent_id, name FROM places ORDER BY sort")?;
            let rows = stmt.query_map([], |r| {
                Ok(Place {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    parent_id: r.get(2)?,
                    name: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Registers one household in a building of the roster.
    pub fn create_household(&self, h: &HouseholdInput) -> Result<HouseholdSummary> {
        household::check_household(h)?;
        let id = self.write(|w| {
            let grid = w.grid_of_building(&h.building_id)?;
            Ok(w.upsert_household(h, &grid)?.1)
        })?;
        self.household_summary(&id)
    }

    /// Changes some fields of a household; the fields not named are left for others to edit.
    pub fn update_household(&self, id: &str, patch: &HouseholdPatch) -> Result<Household> {
        household::check_household_patch(patch)?;
        self.write(|w| {
            let e = w.edit_household(id)?;
            w.change(e, |tx| household::patch_household(tx, patch))
        })?;
        self.household(id)
    }

    /// A household with its residents (personal values masked), vehicles and open conflicts.
    pub fn household(&self, id: &str) -> Result<Household> {
        let doc = self
            .read_doc(id)?
            .ok_or_else(|| Error::not_found("household", id))?;
        let keys = self.db.read(|c| projection::keyring(c, id))?;
        let mut h = household::read_household(&doc, &keys);
        h.conflicts = conflict::list(&doc, &keys);
        Ok(h)
    }

    fn household_summary(&self, id: &str) -> Result<HouseholdSummary> {
        self.db.read(|c| {
            c.query_row(&format!("{SUMMARY_SQL} WHERE id = ?1"), [id], summary_row)
                .optional()?
                .ok_or_else(|| Error::not_found("household", id))
        })
    }

    /// Households of a building (optionally one unit), by unit and door, with their last visit.
    pub fn households_in(
        &self,
        building_id: &str,
        unit: Option<&str>,
    ) -> Result<Vec<HouseholdSummary>> {
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{SUMMARY_SQL} WHERE building_id = ?1 AND (?2 IS NULL OR unit = ?2)
                 ORDER BY unit, length(door), door"
            ))?;
            let rows = stmt.query_map(params![building_id, unit], summary_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Every household of a grid, by building, unit and door.
    pub fn grid_households(&self, grid_id: &str) -> Result<Vec<HouseholdSummary>> {
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{SUMMARY_SQL} WHERE grid_id = ?1 ORDER BY building_id, unit, length(door), door"
            ))?;
            let rows = stmt.query_map([grid_id], summary_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    // ---------------------------------------------------------------- residents

    /// Adds a resident to a household.
    pub fn add_resident(&self, household_id: &str, r: &ResidentInput) -> Result<Resident> {
        let t = today();
        let personal = household::check_personal(
            Some(&r.name),
            r.birth_date.as_deref(),
            r.id_number.as_deref(),
            r.phone.as_deref(),
            r.ethnicity.as_deref(),
            r.employment.as_deref(),
            r.work_place.as_deref(),
            t,
        )?;
        if let Some(d) = &r.moved_in {
            let mut errors = Vec::new();
            check_iso_date("moved_in", d, t, &mut errors);
            finish(errors)?;
        }
        if r.relation.trim().is_empty() {
            return Err(Error::field("relation", "required", "请填写与户主关系"));
        }
        let rid = privacy::new_id()?;
        let key = ResidentKey::generate()?;
        self.write(|w| {
            let e = w.edit_household(household_id)?;
            w.tx.execute(
                "INSERT INTO resident_keys (resident_id, household_id, key) VALUES (?1, ?2, ?3)",
                params![rid, household_id, key.as_bytes()],
            )?;
            let (now, by) = (w.now, w.store.author.person_id.clone());
            w.change(e, |tx| {
                household::add_resident(tx, &rid, &key, r, &personal, &t.to_string(), now, &by)
            })
        })?;
        self.resident(&rid)
    }

    /// Changes some fields of a resident.
    pub fn update_resident(&self, resident_id: &str, p: &ResidentPatch) -> Result<Resident> {
        let personal = household::check_personal(
            p.name.as_deref(),
            p.birth_date.as_deref(),
            p.id_number.as_deref(),
            p.phone.as_deref(),
            p.ethnicity.as_deref(),
            p.employment.as_deref(),
            p.work_place.as_deref(),
            today(),
        )?;
        self.write(|w| {
            let (hid, key) = w.resident_key(resident_id)?;
            let e = w.edit_household(&hid)?;
            w.change(e, |tx| {
                household::patch_resident(tx, resident_id, &key, p, &personal)
            })
        })?;
        self.resident(resident_id)
    }

    /// Records that a resident moved out, died, or (back) in, on `date` (`YYYY-MM-DD`);
    /// the earlier history stays.
    pub fn set_resident_status(
        &self,
        resident_id: &str,
        status: ResidentStatus,
        date: &str,
    ) -> Result<Resident> {
        if status == ResidentStatus::Deleted {
            return Err(Error::field(
                "status",
                "invalid",
                "use delete_resident to delete personal data",
            ));
        }
        let mut errors = Vec::new();
        check_iso_date("date", date, today(), &mut errors);
        finish(errors)?;
        self.write(|w| {
            let (hid, _) = w.resident_key(resident_id)?;
            let e = w.edit_household(&hid)?;
            let (now, by) = (w.now, w.store.author.person_id.clone());
            w.change(e, |tx| {
                household::set_resident_status(tx, resident_id, status, date, now, &by)
            })
        })?;
        self.resident(resident_id)
    }

    /// Deletes a resident's personal data on this replica: the sealed fields leave the current
    /// document, the resident's key is destroyed (so every historical copy of the ciphertext is
    /// unreadable), and a tombstone tells the other replicas to destroy theirs at the next sync.
    pub fn delete_resident(&self, resident_id: &str) -> Result<()> {
        self.write(|w| {
            let (hid, _) = w.resident_key(resident_id)?;
            let e = w.edit_household(&hid)?;
            let (now, by) = (w.now, w.store.author.person_id.clone());
            w.change(e, |tx| {
                household::erase_resident(tx, resident_id)?;
                household::set_resident_status(tx, resident_id, ResidentStatus::Deleted, &local_date(now).to_string(), now, &by)
            })?;
            w.tx.execute("DELETE FROM resident_keys WHERE resident_id = ?1", [resident_id])?;
            w.tx.execute(
                "INSERT OR REPLACE INTO resident_tombstones (resident_id, household_id, deleted_at) VALUES (?1, ?2, ?3)",
                params![resident_id, hid, now],
            )?;
            Ok(())
        })?;
        self.scrub()
    }

    /// Flushes the WAL into the (secure-deleting) database and truncates it, so no old page
    /// holding deleted data stays behind in the log.
    pub(crate) fn scrub(&self) -> Result<()> {
        self.db.with_writer(|c| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }

    /// A resident, personal values masked.
    pub fn resident(&self, resident_id: &str) -> Result<Resident> {
        let hid = self.household_of_resident(resident_id)?;
        let h = self.household(&hid)?;
        h.residents
            .into_iter()
            .find(|r| r.id == resident_id)
            .ok_or_else(|| Error::not_found("resident", resident_id))
    }

    fn household_of_resident(&self, resident_id: &str) -> Result<String> {
        self.db.read(|c| {
            let hid: Option<String> = c
                .query_row(
                    "SELECT household_id FROM resident_keys WHERE resident_id = ?1
                     UNION SELECT household_id FROM resident_tombstones WHERE resident_id = ?1",
                    [resident_id],
                    |r| r.get(0),
                )
                .optional()?;
            hid.ok_or_else(|| Error::not_found("resident", resident_id))
        })
    }

    /// The full value of a personal field (e.g. `id_number`, `phone`), for a stated purpose.
    /// Every call leaves an entry in the hash-chained access log.
    pub fn reveal(&self, resident_id: &str, field: &str, purpose: &str) -> Result<String> {
        if !household::SEALED_FIELDS.contains(&field) {
            return Err(Error::field("field", "invalid", "not a personal field"));
        }
        if purpose.trim().chars().count() < 2 {
            return Err(Error::field("purpose", "required", "请说明查看用途"));
        }
        let hid = self.household_of_resident(resident_id)?;
        let doc = self
            .read_doc(&hid)?
            .ok_or_else(|| Error::not_found("household", &hid))?;
        let keys = self.db.read(|c| projection::keyring(c, &hid))?;
        if !keys.contains_key(resident_id) {
            return Err(Error::Erased(resident_id.to_string()));
        }
        let obj = household::resident_obj(&doc, resident_id)
            .ok_or_else(|| Error::not_found("resident", resident_id))?;
        let value = household::read_sealed(&doc, &obj, resident_id, field, &keys)
            .ok_or_else(|| Error::not_found("value", field))?;
        self.db.write(|tx| {
            access_log::append(
                tx,
                &self.device_id,
                now_ms(),
                &self.author.person_id,
                resident_id,
                field,
                purpose.trim(),
            )?;
            Ok(())
        })?;
        Ok(value)
    }

    /// The access log, oldest first.
    pub fn access_log(&self) -> Result<Vec<AccessEntry>> {
        self.db.read(access_log::entries)
    }

    /// Verifies the access log's hash chain; returns the number of entries.
    pub fn verify_access_log(&self) -> Result<usize> {
        self.db.read(access_log::verify)
    }

    /// Adds a vehicle to a household.
    pub fn add_vehicle(&self, household_id: &str, plate: &str, note: &str) -> Result<Vehicle> {
        let plate = plate.trim();
        if plate.chars().count() < 5 || plate.chars().count() > 10 {
            return Err(Error::field("plate", "invalid", "车牌号格式不正确"));
        }
        let id = privacy::new_id()?;
        self.write(|w| {
            let e = w.edit_household(household_id)?;
            w.change(e, |tx| household::add_vehicle(tx, &id, plate, note))
        })?;
        Ok(Vehicle {
            id,
            plate: plate.to_string(),
            note: note.to_string(),
        })
    }

    // ---------------------------------------------------------------- photos and visits

    /// Stores a JPEG photo by the SHA-256 of its bytes; the same photo twice is stored once.
    pub fn add_photo(&self, jpeg: &[u8]) -> Result<String> {
        if jpeg.len() < 4 || jpeg[..3] != [0xFF, 0xD8, 0xFF] {
            return Err(Error::field("photo", "invalid", "照片不是 JPEG 格式"));
        }
        let hash = hex::encode(Sha256::digest(jpeg));
        self.db.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO photos (hash, bytes, created_at) VALUES (?1, ?2, ?3)",
                params![hash, jpeg, now_ms()],
            )?;
            Ok(())
        })?;
        Ok(hash)
    }

    /// A stored photo's bytes.
    pub fn photo(&self, hash: &str) -> Result<Vec<u8>> {
        self.db.read(|c| {
            c.query_row("SELECT bytes FROM photos WHERE hash = ?1", [hash], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| Error::not_found("photo", hash))
        })
    }

    /// Whether a photo is stored, without reading its bytes (for a page that says whether a
    /// photo has arrived).
    pub fn has_photo(&self, hash: &str) -> Result<bool> {
        self.db.read(|c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM photos WHERE hash = ?1)",
                [hash],
                |r| r.get(0),
            )?)
        })
    }

    /// Records a visit with its four-question answers; each need raised becomes an open follow-up.
    pub fn record_visit(&self, v: &VisitInput) -> Result<Visit> {
        let now = now_ms();
        let form = self.form(&v.form_id, v.form_version)?;
        let mut errors = check_visit_shape(v, now);
        let answers: Answers = v
            .answers
            .iter()
            .map(|(k, a)| (k.clone(), a.clone()))
            .collect();
        if v.outcome == VisitOutcome::Met {
            errors.extend(
                form.validate(&answers, local_date(now))
                    .into_iter()
                    .map(|mut e| {
                        e.field = format!("answers.{}", e.field);
                        e
                    }),
            );
        } else if !answers.is_empty() {
            errors.push(field_error(
                "answers",
                "not_applicable",
                "未见到住户时不应填写四问",
            ));
        }
        finish(errors)?;
        let visit_id = privacy::new_id()?;
        let followups = v
            .needs
            .iter()
            .map(|n| {
                Ok(FollowUp {
                    id: privacy::new_id()?,
                    household_id: v.household_id.clone(),
                    visit_id: visit_id.clone(),
                    category: n.category.trim().to_string(),
                    description: n.description.trim().to_string(),
                    urgency: n.urgency,
                    due_ms: n
                        .due_ms
                        .unwrap_or(v.ended_ms + n.urgency.default_days() * DAY_MS),
                    status: "open".into(),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.write(|w| {
            let Some(e) = w.try_edit(&v.household_id)? else {
                return Err(Error::field("household_id", "unknown", "没有这一户"));
            };
            let mut errors = Vec::new();
            for p in &v.present {
                if household::resident_obj(&e.doc, p).is_none() {
                    errors.push(field_error("present", "unknown", "在场人员不是本户居民"));
                    break;
                }
            }
            for h in &v.photos {
                let known: Option<i64> =
                    w.tx.prepare_cached("SELECT 1 FROM photos WHERE hash = ?1")?
                        .query_row([h], |r| r.get(0))
                        .optional()?;
                if known.is_none() {
                    errors.push(field_error("photos", "unknown", "照片未保存"));
                    break;
                }
            }
            finish(errors)?;
            let worker = w.store.author.person_id.clone();
            w.change(e, |tx| {
                household::put_visit(tx, &visit_id, &worker, v, &followups)
            })?;
            // Saving a visit is the hot path: add its rows instead of re-projecting the household.
            projection::add_visit(w.tx, &visit_id, &worker, v, &followups)?;
            if let Some(e) = w.touched.last_mut() {
                e.projected = true;
            }
            Ok(())
        })?;
        Ok(Visit {
            id: visit_id,
            household_id: v.household_id.clone(),
            worker_id: self.author.person_id.clone(),
            started_ms: v.started_ms,
            ended_ms: v.ended_ms,
            outcome: v.outcome,
            present: v.present.clone(),
            location: v.location,
            form_id: v.form_id.clone(),
            form_version: v.form_version,
            answers: v.answers.clone(),
            followups,
            photos: v.photos.clone(),
            notes: v.notes.clone(),
        })
    }

    /// A household's visits, newest first.
    pub fn visit_history(&self, household_id: &str) -> Result<Vec<Visit>> {
        let doc = self
            .read_doc(household_id)?
            .ok_or_else(|| Error::not_found("household", household_id))?;
        Ok(household::read_visits(&doc))
    }

    /// Closes a follow-up with a note.
    pub fn close_followup(&self, followup_id: &str, note: &str) -> Result<()> {
        let hid: String = self
            .db
            .read(|c| {
                c.query_row(
                    "SELECT household_id FROM followups WHERE id = ?1",
                    [followup_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(Error::from)
            })?
            .ok_or_else(|| Error::not_found("follow-up", followup_id))?;
        self.write(|w| {
            let e = w.edit_household(&hid)?;
            let (now, by) = (w.now, w.store.author.person_id.clone());
            w.change(e, |tx| {
                household::close_followup(tx, followup_id, note, now, &by)
            })
        })
    }

    /// Open follow-ups, soonest due first (optionally of one grid).
    pub fn open_followups(&self, grid_id: Option<&str>) -> Result<Vec<FollowUp>> {
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT f.id, f.household_id, f.visit_id, f.category, f.description, f.urgency, f.due_at, f.status
                 FROM followups f JOIN households h ON h.id = f.household_id
                 WHERE f.status = 'open' AND (?1 IS NULL OR h.grid_id = ?1)
                 ORDER BY f.due_at, f.id",
            )?;
            let rows = stmt.query_map([grid_id], |r| {
                Ok(FollowUp {
                    id: r.get(0)?,
                    household_id: r.get(1)?,
                    visit_id: r.get(2)?,
                    category: r.get(3)?,
                    description: r.get(4)?,
                    urgency: Urgency::parse(&r.get::<_, String>(5)?).unwrap_or(Urgency::Normal),
                    due_ms: r.get(6)?,
                    status: r.get(7)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Households due for a visit at `now_ms` (optionally of one grid), most overdue first.
    /// Never-visited households come first; the interval is the shortest of the care tags'.
    pub fn due_for_visit(&self, grid_id: Option<&str>, now_ms: i64) -> Result<Vec<DueHousehold>> {
        let one = grid_id.map(|g| [g.to_string()]);
        self.office_due_for_visit(now_ms, one.as_ref().map(|g| &g[..]))
    }

    /// Residents whose name or phone starts with `query` (at most 50).
    pub fn search_residents(&self, query: &str) -> Result<Vec<ResidentHit>> {
        self.office_search_residents(query, None)
    }

    /// Per grid: households, and households visited in the calendar month of `now_ms` (Asia/Shanghai).
    pub fn grid_counts(&self, now_ms: i64) -> Result<Vec<GridCounts>> {
        self.office_grid_counts(now_ms, None)
    }

    // ---------------------------------------------------------------- conflicts

    /// Unresolved concurrent edits of a household.
    pub fn conflicts(&self, household_id: &str) -> Result<Vec<Conflict>> {
        Ok(self.household(household_id)?.conflicts)
    }

    /// Resolves a conflict by keeping the value at index `choice` of [`Conflict::values`].
    pub fn resolve_conflict(&self, household_id: &str, path: &str, choice: u32) -> Result<()> {
        self.write(|w| {
            let e = w.edit_household(household_id)?;
            w.change(e, |tx| conflict::resolve(tx, path, choice as usize))
        })
    }

    // ---------------------------------------------------------------- configuration

    /// A form definition: the published version from its config document, or the built-in
    /// four-questions form when no document publishes it.
    pub fn form(&self, form_id: &str, version: u32) -> Result<FormDefinition> {
        if let Some(doc) = self.read_doc(&config::form_doc_id(form_id))?
            && let Some(f) = config::read_form(&doc, version)
        {
            return Ok(f);
        }
        let builtin = FormDefinition::four_questions();
        if builtin.id == form_id && builtin.version == version {
            return Ok(builtin);
        }
        Err(Error::field(
            "form_id",
            "unknown",
            format!("form {form_id} version {version} is not available"),
        ))
    }

    /// The newest version of a form.
    pub fn current_form(&self, form_id: &str) -> Result<FormDefinition> {
        if let Some(doc) = self.read_doc(&config::form_doc_id(form_id))?
            && let Some(v) = config::latest_form_version(&doc)
        {
            return self.form(form_id, v);
        }
        self.form(form_id, FormDefinition::four_questions().version)
    }

    /// Publishes a form version (a config document; no code change for new forms).
    pub fn publish_form(&self, def: &FormDefinition) -> Result<()> {
        def.check()
            .map_err(|e| Error::field("form", "invalid", e.to_string()))?;
        self.write(|w| {
            let meta = DocMeta {
                id: config::form_doc_id(&def.id),
                kind: DocKind::Config,
                scope: "community".into(),
                building_id: None,
            };
            w.change_or_create(meta, |tx| config::put_form(tx, def))
        })
    }

    /// The visit policy (built-in default until the office publishes one).
    pub fn visit_policy(&self) -> Result<VisitPolicy> {
        Ok(self
            .read_doc(config::VISIT_POLICY_DOC)?
            .map(|d| config::read_visit_policy(&d))
            .unwrap_or_default())
    }

    /// Sets the visit policy.
    pub fn set_visit_policy(&self, p: &VisitPolicy) -> Result<()> {
        p.check()?;
        self.write(|w| {
            let meta = DocMeta {
                id: config::VISIT_POLICY_DOC.into(),
                kind: DocKind::Config,
                scope: "community".into(),
                building_id: None,
            };
            w.change_or_create(meta, |tx| config::put_visit_policy(tx, p))
        })
    }

    // ---------------------------------------------------------------- projections

    /// Folds piled-up changes into document snapshots so later loads are fast. Call it off the
    /// save path: after a sync, or when the app is idle. Returns the number of documents compacted.
    pub fn compact(&self) -> Result<usize> {
        self.db.write(|tx| docs::compact_pending(tx, &self.cache))
    }

    /// Drops and rebuilds every projection row from the documents.
    pub fn rebuild_projections(&self) -> Result<()> {
        self.db.write(projection::rebuild_all)
    }

    /// Every projection row as text, for comparing a rebuild with the live tables.
    pub fn projection_dump(&self) -> Result<Vec<String>> {
        self.db.read(projection::dump)
    }

    pub(crate) fn read_doc(&self, id: &str) -> Result<Option<Automerge>> {
        self.db.read(|c| docs::load_for_read(&self.cache, c, id))
    }

    /// Drops the loaded-document cache (tests use it to prove the store alone holds the truth).
    pub fn clear_cache(&self) {
        self.cache.clear();
    }
}

enum Upsert {
    Created,
    Updated,
    Unchanged,
}

/// The state of one write transaction.
pub(crate) struct Writer<'s, 't> {
    pub(crate) store: &'s Store,
    pub(crate) tx: &'t Transaction<'t>,
    pub(crate) touched: &'t mut Vec<Editing<'s>>,
    pub(crate) now: i64,
}

impl<'s> Writer<'s, '_> {
    /// Checks a document out for editing (reusing one already checked out in this write).
    pub(crate) fn try_edit(&mut self, id: &str) -> Result<Option<Editing<'s>>> {
        if let Some(i) = self.touched.iter().position(|e| e.meta.id == id) {
            return Ok(Some(self.touched.swap_remove(i)));
        }
        Editing::open(&self.store.cache, self.tx, &self.store.author, id)
    }

    fn edit_household(&mut self, id: &str) -> Result<Editing<'s>> {
        match self.try_edit(id)? {
            Some(e) if e.meta.kind == DocKind::Household => Ok(e),
            Some(e) => {
                self.touched.push(e);
                Err(Error::not_found("household", id))
            }
            None => Err(Error::not_found("household", id)),
        }
    }

    /// Makes one change to a checked-out document and keeps it for projection and caching.
    pub(crate) fn change<T>(
        &mut self,
        mut e: Editing<'s>,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let r = e.change(self.tx, &self.store.author, self.now, f);
        self.touched.push(e);
        Ok(r?.0)
    }

    pub(crate) fn change_or_create<T>(
        &mut self,
        meta: DocMeta,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let e = match self.try_edit(&meta.id)? {
            Some(e) => e,
            None => Editing::create(&self.store.cache, &self.store.author, meta),
        };
        self.change(e, f)
    }

    fn grid_of_building(&self, building_id: &str) -> Result<String> {
        self.tx
            .query_row(
                "SELECT parent_id FROM places WHERE id = ?1 AND kind = 'building'",
                [building_id],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| Error::field("building_id", "unknown", "楼栋不在花名册中"))
    }

    fn household_id_for(&self, h: &HouseholdInput) -> Result<String> {
        if let Some(id) = &h.id {
            return Ok(id.clone());
        }
        self.tx
            .query_row(
                "SELECT id FROM households WHERE building_id = ?1 AND unit = ?2 AND door = ?3",
                params![h.building_id, h.unit, h.door],
                |r| r.get(0),
            )
            .optional()?
            .ok_or_else(|| {
                Error::not_found(
                    "household",
                    format!("{}-{}-{}", h.building_id, h.unit, h.door),
                )
            })
    }

    fn upsert_household(&mut self, h: &HouseholdInput, grid_id: &str) -> Result<(Upsert, String)> {
        let id = match self.household_id_for(h) {
            Ok(id) => id,
            Err(Error::NotFound { .. }) => privacy::new_id()?,
            Err(e) => return Err(e),
        };
        let meta = DocMeta {
            id: id.clone(),
            kind: DocKind::Household,
            scope: format!("grid:{grid_id}"),
            building_id: Some(h.building_id.clone()),
        };
        let (e, created) = match self.try_edit(&id)? {
            Some(mut e) => {
                e.meta.scope = meta.scope;
                e.meta.building_id = meta.building_id;
                (e, false)
            }
            None => (
                Editing::create(&self.store.cache, &self.store.author, meta),
                true,
            ),
        };
        let mut e = e;
        let (_, hash) = e.change(self.tx, &self.store.author, self.now, |tx| {
            household::put_household(tx, &id, grid_id, h)
        })?;
        self.touched.push(e);
        let outcome = match (created, hash) {
            (true, _) => Upsert::Created,
            (false, Some(_)) => Upsert::Updated,
            (false, None) => Upsert::Unchanged,
        };
        Ok((outcome, id))
    }

    fn resident_key(&self, resident_id: &str) -> Result<(String, ResidentKey)> {
        let row: Option<(String, Vec<u8>)> = self
            .tx
            .query_row(
                "SELECT household_id, key FROM resident_keys WHERE resident_id = ?1",
                [resident_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match row {
            Some((hid, key)) => Ok((hid, ResidentKey::from_slice(&key)?)),
            None => {
                let erased: Option<i64> = self
                    .tx
                    .query_row(
                        "SELECT 1 FROM resident_tombstones WHERE resident_id = ?1",
                        [resident_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                match erased {
                    Some(_) => Err(Error::Erased(resident_id.to_string())),
                    None => Err(Error::not_found("resident", resident_id)),
                }
            }
        }
    }
}

/// `query` with LIKE's wildcards escaped by a backslash (`LIKE … ESCAPE`): a query of "%" must not
/// match everyone.
pub(crate) fn like_escape(query: &str) -> String {
    query
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

pub(crate) const SUMMARY_SQL: &str =
    "SELECT id, grid_id, building_id, unit, door, address, head_name, care_tags,
    resident_count, last_visit_at, visit_count, conflict_count FROM households";

pub(crate) fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<HouseholdSummary> {
    let tags: String = r.get(7)?;
    Ok(HouseholdSummary {
        id: r.get(0)?,
        grid_id: r.get(1)?,
        building_id: r.get(2)?,
        unit: r.get(3)?,
        door: r.get(4)?,
        address: r.get(5)?,
        head_name: r.get(6)?,
        care_tags: tags.split(',').filter_map(CareTag::parse).collect(),
        resident_count: r.get(8)?,
        last_visit_ms: r.get(9)?,
        visit_count: r.get(10)?,
        conflict_count: r.get(11)?,
    })
}

pub(crate) fn get_meta(tx: &Transaction<'_>, key: &str) -> Result<Option<Vec<u8>>> {
    Ok(tx
        .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
        .optional()?)
}

pub(crate) fn set_meta(tx: &Transaction<'_>, key: &str, value: &[u8]) -> Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)",
        params![key, value],
    )?;
    Ok(())
}

fn check_iso_date(field: &str, s: &str, today: chrono::NaiveDate, errors: &mut Vec<FieldError>) {
    match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) if d > today => errors.push(field_error(field, "future_date", "日期不能晚于今天")),
        Ok(_) => {}
        Err(_) => errors.push(field_error(field, "invalid", "日期格式应为 YYYY-MM-DD")),
    }
}

fn check_roster(r: &RosterInput) -> Result<()> {
    let mut errors = Vec::new();
    let grids: HashSet<&str> = r.grids.iter().map(|g| g.id.as_str()).collect();
    if grids.len() != r.grids.len() || r.grids.iter().any(|g| g.id.trim().is_empty()) {
        errors.push(field_error("grids", "invalid", "网格编号为空或重复"));
    }
    let buildings: HashSet<&str> = r.buildings.iter().map(|b| b.id.as_str()).collect();
    if buildings.len() != r.buildings.len() || r.buildings.iter().any(|b| b.id.trim().is_empty()) {
        errors.push(field_error("buildings", "invalid", "楼栋编号为空或重复"));
    }
    for (i, b) in r.buildings.iter().enumerate() {
        if !grids.contains(b.grid_id.as_str()) {
            errors.push(field_error(
                &format!("buildings[{i}].grid_id"),
                "unknown",
                "楼栋所属网格不存在",
            ));
        }
    }
    let mut doors = HashSet::new();
    for (i, h) in r.households.iter().enumerate() {
        if let Err(Error::Invalid(es)) = household::check_household(h) {
            errors.extend(es.into_iter().map(|mut e| {
                e.field = format!("households[{i}].{}", e.field);
                e
            }));
        }
        if !buildings.contains(h.building_id.as_str()) {
            errors.push(field_error(
                &format!("households[{i}].building_id"),
                "unknown",
                "户所在楼栋不存在",
            ));
        }
        if !doors.insert((&h.building_id, &h.unit, &h.door)) {
            errors.push(field_error(
                &format!("households[{i}].door"),
                "duplicate",
                "同一楼栋单元门牌号重复",
            ));
        }
    }
    finish(errors)
}

fn check_visit_shape(v: &VisitInput, now: i64) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if v.household_id.trim().is_empty() {
        errors.push(field_error("household_id", "required", "请选择走访的户"));
    }
    if v.ended_ms < v.started_ms {
        errors.push(field_error(
            "ended_ms",
            "out_of_range",
            "结束时间早于开始时间",
        ));
    }
    if v.ended_ms > now + CLOCK_SKEW_MS || v.started_ms > now + CLOCK_SKEW_MS {
        errors.push(field_error(
            "started_ms",
            "future_date",
            "走访时间不能晚于现在",
        ));
    }
    if v.ended_ms - v.started_ms > DAY_MS {
        errors.push(field_error(
            "ended_ms",
            "out_of_range",
            "一次走访不超过 24 小时",
        ));
    }
    if let Some(l) = v.location {
        let ok = l.lat.is_finite()
            && l.lon.is_finite()
            && (-90.0..=90.0).contains(&l.lat)
            && (-180.0..=180.0).contains(&l.lon)
            && l.accuracy_m.is_finite()
            && l.accuracy_m >= 0.0;
        if !ok {
            errors.push(field_error("location", "out_of_range", "位置坐标无效"));
        }
    }
    for (i, n) in v.needs.iter().enumerate() {
        if n.category.trim().is_empty() {
            errors.push(field_error(
                &format!("needs[{i}].category"),
                "required",
                "请选择需求类别",
            ));
        }
        if n.description.chars().count() > 1000 {
            errors.push(field_error(
                &format!("needs[{i}].description"),
                "too_long",
                "需求描述过长",
            ));
        }
    }
    if v.notes.chars().count() > 2000 {
        errors.push(field_error("notes", "too_long", "备注过长"));
    }
    errors
}
