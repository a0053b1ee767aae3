//! Read-only queries for the community office's console: lists across the whole community that
//! a phone never needs (every event with its deadlines, visits and needs in a time window,
//! household lookup by address, coverage per grid and per worker, and what a run of received
//! changes brought).
//!
//! Every list takes `grids`: `None` for the whole community (the office), or the grid ids a
//! staff member works on, applied in SQL so limits count only what that person may see.
//! They read only the projection tables, so they stay fast on 10 000 events and never touch a
//! document; none of them writes anything.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::ObjType;
use automerge::legacy::{Key, OpType};
use chrono::{Datelike, TimeZone};
use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::error::{Error, Result};
use crate::events::{EventSource, EventState, Level};
use crate::model::{DueHousehold, GridCounts, HouseholdSummary, Urgency, VisitOutcome};
use crate::store::{DAY_MS, SUMMARY_SQL, like_escape, local_date, shanghai, summary_row};

/// An event as the office lists it: the projection row with its deadlines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficeEvent {
    /// Id.
    pub id: String,
    /// Grid.
    pub grid_id: String,
    /// Building.
    pub building_id: Option<String>,
    /// Category code.
    pub category: String,
    /// Where it came from.
    pub source: EventSource,
    /// Folded state.
    pub state: EventState,
    /// Level handling it.
    pub level: Level,
    /// Reporter (person id).
    pub reporter: String,
    /// Current handler (person id), if dispatched to a person.
    pub assignee: Option<String>,
    /// Registered at.
    pub created_ms: i64,
    /// Respond by.
    pub response_due_ms: i64,
    /// Handle by.
    pub handle_due_ms: i64,
    /// First response.
    pub responded_ms: Option<i64>,
    /// Closed at.
    pub closed_ms: Option<i64>,
    /// Transitions flagged for review.
    pub flagged: u32,
    /// Reporter's rating.
    pub rating: Option<u8>,
}

impl OfficeEvent {
    /// The deadline that matters now: the response deadline until someone responded, then the
    /// handling deadline.
    pub fn next_due_ms(&self) -> i64 {
        if self.responded_ms.is_none() {
            self.response_due_ms.min(self.handle_due_ms)
        } else {
            self.handle_due_ms
        }
    }

    /// Open and past a deadline at `now_ms` (the same rule as [`Store::overdue_events`]).
    pub fn is_overdue(&self, now_ms: i64) -> bool {
        self.state != EventState::Closed
            && (now_ms > self.handle_due_ms
                || (self.responded_ms.is_none() && now_ms > self.response_due_ms))
    }
}

/// A visit in an office list, with its household's place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficeVisit {
    /// Visit id.
    pub id: String,
    /// Household.
    pub household_id: String,
    /// Grid of the household.
    pub grid_id: String,
    /// Household address.
    pub address: String,
    /// Worker (person id).
    pub worker_id: String,
    /// Start.
    pub started_ms: i64,
    /// End.
    pub ended_ms: i64,
    /// Outcome.
    pub outcome: VisitOutcome,
    /// Needs raised.
    pub need_count: u32,
    /// Photos attached.
    pub photo_count: u32,
}

/// A need raised at a visit, with the household's place and when it was raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfficeNeed {
    /// Follow-up id.
    pub id: String,
    /// Household.
    pub household_id: String,
    /// Grid.
    pub grid_id: String,
    /// Address.
    pub address: String,
    /// Category.
    pub category: String,
    /// Description.
    pub description: String,
    /// Urgency.
    pub urgency: Urgency,
    /// Due.
    pub due_ms: i64,
    /// "open" or "closed".
    pub status: String,
    /// Start of the visit that raised it.
    pub raised_ms: i64,
}

/// One worker's visits in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerCoverage {
    /// Worker (person id).
    pub worker_id: String,
    /// Visits recorded.
    pub visits: u32,
    /// Distinct households visited.
    pub households: u32,
}

const EVENT_SQL: &str = "SELECT id, grid_id, building_id, category, source, state, level, reporter,
    assignee, created_at, response_due, handle_due, responded_at, closed_at, flagged, rating FROM events";

fn event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OfficeEvent> {
    Ok(OfficeEvent {
        id: r.get(0)?,
        grid_id: r.get(1)?,
        building_id: r.get(2)?,
        category: r.get(3)?,
        source: EventSource::parse(&r.get::<_, String>(4)?).unwrap_or(EventSource::Snap),
        state: EventState::parse(&r.get::<_, String>(5)?).unwrap_or(EventState::Registered),
        level: Level::parse(&r.get::<_, String>(6)?).unwrap_or(Level::Grid),
        reporter: r.get(7)?,
        assignee: r.get(8)?,
        created_ms: r.get(9)?,
        response_due_ms: r.get(10)?,
        handle_due_ms: r.get(11)?,
        responded_ms: r.get(12)?,
        closed_ms: r.get(13)?,
        flagged: r.get(14)?,
        rating: r
            .get::<_, Option<i64>>(15)?
            .and_then(|v| u8::try_from(v).ok()),
    })
}

/// A list of ids or grid ids as one SQL parameter, read back with `json_each` (so the statement
/// stays cached whatever the list's length). `None` stays NULL: "no filter".
fn id_list(ids: Option<&[String]>) -> Result<Option<String>> {
    ids.map(|l| serde_json::to_string(l).map_err(|e| Error::Corrupt(format!("id list: {e}"))))
        .transpose()
}

/// SQL: `column` is one of the grids in parameter `n`, or that parameter is NULL.
fn in_grids(column: &str, n: u8) -> String {
    format!("(?{n} IS NULL OR {column} IN (SELECT value FROM json_each(?{n})))")
}

const VISIT_SQL: &str = "SELECT v.id, v.household_id, h.grid_id, h.address, v.worker_id,
    v.started_at, v.ended_at, v.outcome, v.need_count, v.photo_count
    FROM visits v JOIN households h ON h.id = v.household_id";

fn visit_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OfficeVisit> {
    Ok(OfficeVisit {
        id: r.get(0)?,
        household_id: r.get(1)?,
        grid_id: r.get(2)?,
        address: r.get(3)?,
        worker_id: r.get(4)?,
        started_ms: r.get(5)?,
        ended_ms: r.get(6)?,
        outcome: VisitOutcome::parse(&r.get::<_, String>(7)?).unwrap_or(VisitOutcome::Met),
        need_count: r.get(8)?,
        photo_count: r.get(9)?,
    })
}

const NEED_SQL: &str = "SELECT f.id, f.household_id, h.grid_id, h.address, f.category,
    f.description, f.urgency, f.due_at, f.status, v.started_at
    FROM followups f JOIN visits v ON v.id = f.visit_id
         JOIN households h ON h.id = f.household_id";

fn need_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OfficeNeed> {
    Ok(OfficeNeed {
        id: r.get(0)?,
        household_id: r.get(1)?,
        grid_id: r.get(2)?,
        address: r.get(3)?,
        category: r.get(4)?,
        description: r.get(5)?,
        urgency: Urgency::parse(&r.get::<_, String>(6)?).unwrap_or(Urgency::Normal),
        due_ms: r.get(7)?,
        status: r.get(8)?,
        raised_ms: r.get(9)?,
    })
}

/// A change another replica made, as the hub's sequence hands it over.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedChange<'a> {
    /// Document it belongs to.
    pub doc_id: &'a str,
    /// The document's kind name (`household`, `event`, …).
    pub kind: &'a str,
    /// The raw change chunk.
    pub bytes: &'a [u8],
}

/// The records a run of received changes brought: what the office's "what arrived" page lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Arrivals {
    /// Visits the changes recorded, oldest first.
    pub visits: Vec<OfficeVisit>,
    /// Needs the changes raised, oldest first.
    pub needs: Vec<OfficeNeed>,
    /// Events the changes created (snap reports, disputes, needs), oldest first.
    pub new_events: Vec<OfficeEvent>,
    /// Events created earlier that the changes moved on (handled, rated, escalated …).
    pub updated_events: Vec<OfficeEvent>,
    /// Changes that did not decode (counted, never fatal: the page still shows the rest).
    pub undecodable: usize,
}

impl Store {
    /// Every event registered in `[since_ms, until_ms)` (either side open when `None`) in
    /// `grids` (all when `None`), oldest first.
    pub fn office_events(
        &self,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        grids: Option<&[String]>,
    ) -> Result<Vec<OfficeEvent>> {
        let grids = id_list(grids)?;
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{EVENT_SQL} WHERE (?1 IS NULL OR created_at >= ?1)
                   AND (?2 IS NULL OR created_at < ?2) AND {}
                 ORDER BY created_at, id",
                in_grids("grid_id", 3)
            ))?;
            let rows = stmt.query_map(params![since_ms, until_ms, grids], event_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Visits started in `[from_ms, to_ms)` in `grids` (all when `None`), oldest first, with
    /// their household's grid and address.
    pub fn visits_between(
        &self,
        from_ms: i64,
        to_ms: i64,
        grids: Option<&[String]>,
    ) -> Result<Vec<OfficeVisit>> {
        let grids = id_list(grids)?;
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{VISIT_SQL} WHERE v.started_at >= ?1 AND v.started_at < ?2 AND {}
                 ORDER BY v.started_at, v.id",
                in_grids("h.grid_id", 3)
            ))?;
            let rows = stmt.query_map(params![from_ms, to_ms, grids], visit_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// What a run of changes received from other replicas brought, in `grids` (all when
    /// `None`): the visits and needs they created (their ids are the keys the changes made in
    /// a household's `visits` and `followups` maps), the events they created (a document's first
    /// change has no dependencies) and the older events they moved on. Records this replica
    /// does not hold (yet) are left out.
    pub fn arrivals(
        &self,
        changes: &[ReceivedChange<'_>],
        grids: Option<&[String]>,
    ) -> Result<Arrivals> {
        let mut made_keys: BTreeSet<String> = BTreeSet::new();
        let mut created: BTreeSet<&str> = BTreeSet::new();
        let mut touched: BTreeSet<&str> = BTreeSet::new();
        let mut undecodable = 0;
        for c in changes {
            let Ok(change) = crate::docs::decode_change(c.bytes) else {
                undecodable += 1;
                continue;
            };
            match c.kind {
                "household" => {
                    // Automerge's expansion panics on an op type it does not know, which a
                    // hostile phone could have sent: such a change is skipped and counted.
                    let Ok(expanded) = catch_unwind(AssertUnwindSafe(|| change.decode())) else {
                        undecodable += 1;
                        continue;
                    };
                    for op in expanded.operations {
                        if let (OpType::Make(ObjType::Map), Key::Map(k)) = (&op.action, &op.key) {
                            made_keys.insert(k.to_string());
                        }
                    }
                }
                "event" if change.deps().is_empty() => {
                    created.insert(c.doc_id);
                }
                "event" => {
                    touched.insert(c.doc_id);
                }
                _ => {}
            }
        }
        let updated: Vec<String> = touched
            .difference(&created)
            .map(|s| s.to_string())
            .collect();
        let created: Vec<String> = created.into_iter().map(String::from).collect();
        let keys: Vec<String> = made_keys.into_iter().collect();
        let (keys, created, updated) = (
            id_list(Some(&keys))?,
            id_list(Some(&created))?,
            id_list(Some(&updated))?,
        );
        let grids = id_list(grids)?;
        self.db.read(|c| {
            let visits = c
                .prepare_cached(&format!(
                    "{VISIT_SQL} WHERE v.id IN (SELECT value FROM json_each(?1)) AND {}
                     ORDER BY v.started_at, v.id",
                    in_grids("h.grid_id", 2)
                ))?
                .query_map(params![keys, grids], visit_row)?
                .collect::<rusqlite::Result<_>>()?;
            let needs = c
                .prepare_cached(&format!(
                    "{NEED_SQL} WHERE f.id IN (SELECT value FROM json_each(?1)) AND {}
                     ORDER BY v.started_at, f.id",
                    in_grids("h.grid_id", 2)
                ))?
                .query_map(params![keys, grids], need_row)?
                .collect::<rusqlite::Result<_>>()?;
            let mut events = c.prepare_cached(&format!(
                "{EVENT_SQL} WHERE id IN (SELECT value FROM json_each(?1)) AND {}
                 ORDER BY created_at, id",
                in_grids("grid_id", 2)
            ))?;
            let new_events = events
                .query_map(params![created, grids], event_row)?
                .collect::<rusqlite::Result<_>>()?;
            let updated_events = events
                .query_map(params![updated, grids], event_row)?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Arrivals {
                visits,
                needs,
                new_events,
                updated_events,
                undecodable,
            })
        })
    }

    /// Visits and distinct households per worker for visits started in `[from_ms, to_ms)` at
    /// households in `grids` (all when `None`).
    pub fn worker_coverage(
        &self,
        from_ms: i64,
        to_ms: i64,
        grids: Option<&[String]>,
    ) -> Result<Vec<WorkerCoverage>> {
        let grids = id_list(grids)?;
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT v.worker_id, count(*), count(DISTINCT v.household_id)
                 FROM visits v JOIN households h ON h.id = v.household_id
                 WHERE v.started_at >= ?1 AND v.started_at < ?2 AND {}
                 GROUP BY v.worker_id ORDER BY v.worker_id",
                in_grids("h.grid_id", 3)
            ))?;
            let rows = stmt.query_map(params![from_ms, to_ms, grids], |r| {
                Ok(WorkerCoverage {
                    worker_id: r.get(0)?,
                    visits: r.get(1)?,
                    households: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Households of `grids` (all when `None`) due for a visit at `now_ms`, most overdue first.
    /// Never-visited households come first; the interval is the shortest of the care tags'.
    pub fn office_due_for_visit(
        &self,
        now_ms: i64,
        grids: Option<&[String]>,
    ) -> Result<Vec<DueHousehold>> {
        let policy = self.visit_policy()?;
        let grids = id_list(grids)?;
        let all = self.db.read(|c| {
            let mut stmt =
                c.prepare_cached(&format!("{SUMMARY_SQL} WHERE {}", in_grids("grid_id", 1)))?;
            let rows = stmt.query_map([grids], summary_row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })?;
        let mut due: Vec<DueHousehold> = all
            .into_iter()
            .filter_map(|h| {
                let interval = policy.interval_days(&h.care_tags);
                let due_ms = h.last_visit_ms.map(|l| l + i64::from(interval) * DAY_MS);
                match due_ms {
                    Some(d) if d > now_ms => None,
                    _ => Some(DueHousehold {
                        household: h,
                        interval_days: interval,
                        due_ms,
                    }),
                }
            })
            .collect();
        due.sort_by(|a, b| (a.due_ms, &a.household.id).cmp(&(b.due_ms, &b.household.id)));
        Ok(due)
    }

    /// Per grid of `grids` (all when `None`): households, and households visited in the
    /// calendar month of `now_ms` (Asia/Shanghai), by grid id. A grid without households has no
    /// row.
    pub fn office_grid_counts(
        &self,
        now_ms: i64,
        grids: Option<&[String]>,
    ) -> Result<Vec<GridCounts>> {
        let d = local_date(now_ms);
        let month_start = shanghai()
            .with_ymd_and_hms(d.year(), d.month(), 1, 0, 0, 0)
            .single()
            .map(|t| t.timestamp_millis())
            .unwrap_or(0);
        let grids = id_list(grids)?;
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT grid_id, count(*), sum(last_visit_at >= ?1) FROM households
                 WHERE {} GROUP BY grid_id ORDER BY grid_id",
                in_grids("grid_id", 2)
            ))?;
            let rows = stmt.query_map(params![month_start, grids], |r| {
                Ok(GridCounts {
                    grid_id: r.get(0)?,
                    households: r.get(1)?,
                    visited_this_month: r.get::<_, Option<u32>>(2)?.unwrap_or(0),
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Households in `grids` (all when `None`) whose address, door number or head's name
    /// contains `query` (at most `limit`), by grid, building, unit and door. An empty query lists
    /// the first households.
    pub fn find_households(
        &self,
        query: &str,
        grids: Option<&[String]>,
        limit: u32,
    ) -> Result<Vec<HouseholdSummary>> {
        let pattern = format!("%{}%", like_escape(query.trim()));
        let grids = id_list(grids)?;
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{SUMMARY_SQL}
                 WHERE (address LIKE ?1 ESCAPE '\\' OR door LIKE ?1 ESCAPE '\\'
                        OR head_name LIKE ?1 ESCAPE '\\') AND {}
                 ORDER BY grid_id, building_id, unit, length(door), door LIMIT ?2",
                in_grids("grid_id", 3)
            ))?;
            let rows = stmt.query_map(params![pattern, limit, grids], summary_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

impl Store {
    /// Residents in `grids` (all when `None`) whose name or phone starts with `query` (at most
    /// 50, phones masked), like [`Store::search_residents`] but limited to the grids first.
    pub fn office_search_residents(
        &self,
        query: &str,
        grids: Option<&[String]>,
    ) -> Result<Vec<crate::model::ResidentHit>> {
        let q = query.trim();
        if q.is_empty() {
            return Ok(Vec::new());
        }
        let pattern = format!("{}%", like_escape(q));
        let grids = id_list(grids)?;
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT r.id, r.household_id, r.name, r.phone, h.address
                 FROM residents r JOIN households h ON h.id = r.household_id
                 WHERE (r.name LIKE ?1 ESCAPE '\\' OR r.phone LIKE ?1 ESCAPE '\\') AND {}
                 ORDER BY r.name, r.id LIMIT 50",
                in_grids("h.grid_id", 2)
            ))?;
            let rows = stmt.query_map(params![pattern, grids], |r| {
                let phone: String = r.get(3)?;
                Ok(crate::model::ResidentHit {
                    resident_id: r.get(0)?,
                    household_id: r.get(1)?,
                    name: r.get(2)?,
                    phone_masked: (!phone.is_empty()).then(|| crate::validate::mask_phone(&phone)),
                    address: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// The community's name from the roster, once a roster was loaded.
    pub fn community_name(&self) -> Result<Option<String>> {
        Ok(self
            .read_doc(crate::store::ROSTER_DOC)?
            .and_then(|d| crate::am::str(&d, &automerge::ROOT, "community_name")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::demo::{self, Rng};
    use crate::event_store::Identity;
    use crate::events::{Action, EventInput, EventPlace, StepInput};
    use crate::model::NeedInput;

    fn store(dir: &tempfile::TempDir, name: &str, role: &str, scope: &[&str]) -> Store {
        let s = Store::open(&dir.path().join(format!("{name}.db")), &[3; 32], name).unwrap();
        s.set_identity(&Identity {
            role: role.into(),
            scope: scope.iter().map(|x| x.to_string()).collect(),
        })
        .unwrap();
        s
    }

    fn snap(grid: &str) -> EventInput {
        EventInput {
            grid_id: grid.into(),
            source: EventSource::Snap,
            category: "facility".into(),
            place: EventPlace {
                building_id: None,
                unit: None,
                text: "东门".into(),
                lat: None,
                lon: None,
            },
            description: "路灯不亮".into(),
            photos: Vec::new(),
            household_id: None,
            parties: Vec::new(),
        }
    }

    /// The changes `from` made that `to` has just imported, as the hub would hand them over.
    fn made_by(from: &Store) -> Vec<(String, String, Vec<u8>)> {
        let actor = from.actor_id();
        let mut out = Vec::new();
        for d in from.export_all().unwrap().docs {
            for c in d.changes {
                let change = crate::docs::decode_change(&c).unwrap();
                if change.actor_id().to_hex_string() == actor {
                    out.push((d.id.clone(), d.kind.clone(), c));
                }
            }
        }
        out
    }

    fn received(v: &[(String, String, Vec<u8>)]) -> Vec<ReceivedChange<'_>> {
        v.iter()
            .map(|(id, kind, bytes)| ReceivedChange {
                doc_id: id,
                kind,
                bytes,
            })
            .collect()
    }

    #[test]
    fn lists_keep_to_the_grids_they_are_given() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, "office", "office", &[]);
        s.load_roster(&demo::roster(2, 3, 2026)).unwrap();
        let now = chrono::Utc::now().timestamp_millis();
        let mut rng = Rng::new(5);
        for g in ["g1", "g2"] {
            let h = &s.grid_households(g).unwrap()[0];
            s.record_visit(&demo::visit(&mut rng, &h.id, now - 3_600_000))
                .unwrap();
            s.report_event(&snap(g)).unwrap();
        }
        let g2 = ["g2".to_string()];
        let none: [String; 0] = [];
        assert_eq!(s.office_events(None, None, None).unwrap().len(), 2);
        let only = s.office_events(None, None, Some(&g2)).unwrap();
        assert_eq!(only.len(), 1);
        assert_eq!(only[0].grid_id, "g2");
        assert!(s.office_events(None, None, Some(&none)).unwrap().is_empty());
        let v = s.visits_between(0, i64::MAX, Some(&g2)).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].grid_id, "g2");
        assert_eq!(
            s.worker_coverage(0, i64::MAX, Some(&g2)).unwrap()[0].visits,
            1
        );
        // Per-grid counts: each grid visited once this month; another grid's row is left out.
        assert_eq!(s.office_grid_counts(now, None).unwrap().len(), 2);
        assert_eq!(
            s.office_grid_counts(now, Some(&g2)).unwrap(),
            vec![GridCounts {
                grid_id: "g2".into(),
                households: 3,
                visited_this_month: 1,
            }]
        );
        assert!(s.office_grid_counts(now, Some(&none)).unwrap().is_empty());
        // Due for a visit: the two never-visited households of each grid; only g2's when asked.
        assert_eq!(s.office_due_for_visit(now, None).unwrap().len(), 4);
        let due = s.office_due_for_visit(now, Some(&g2)).unwrap();
        assert_eq!(due.len(), 2);
        assert!(due.iter().all(|d| d.household.grid_id == "g2"));
        assert!(s.office_due_for_visit(now, Some(&none)).unwrap().is_empty());
        assert_eq!(s.find_households("", None, 100).unwrap().len(), 6);
        let hs = s.find_households("", Some(&g2), 100).unwrap();
        assert_eq!(hs.len(), 3);
        assert!(hs.iter().all(|h| h.grid_id == "g2"));
        // A limit counts only what the grids allow.
        assert_eq!(
            s.find_households("", Some(&g2), 2).unwrap()[0].grid_id,
            "g2"
        );
    }

    #[test]
    fn an_event_list_ends_before_its_until_bound() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, "office", "office", &[]);
        s.load_roster(&demo::roster(1, 1, 2026)).unwrap();
        let first = s.report_event(&snap("g1")).unwrap();
        // Registration times are the clock's: wait so the second event is registered later.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = s.report_event(&snap("g1")).unwrap();
        let ids = |since: Option<i64>, until: Option<i64>| -> Vec<String> {
            s.office_events(since, until, None)
                .unwrap()
                .into_iter()
                .map(|e| e.id)
                .collect()
        };
        let all = s.office_events(None, None, None).unwrap();
        let t = all[1].created_ms;
        assert_eq!(all[1].id, second.id);
        assert!(all[0].created_ms < t, "registered a few milliseconds apart");
        // The second event registered exactly at `until` is out; a millisecond before it, in.
        assert_eq!(ids(None, Some(t)), vec![first.id.clone()]);
        assert_eq!(
            ids(None, Some(t + 1)),
            vec![first.id.clone(), second.id.clone()]
        );
        assert_eq!(ids(Some(t), Some(t + 1)), vec![second.id.clone()]);
        assert!(ids(Some(t), Some(t)).is_empty());
        assert_eq!(ids(Some(t), None), vec![second.id]);
    }

    #[test]
    fn has_photo_says_whether_a_photo_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir, "office", "office", &[]);
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
        jpeg.extend_from_slice(&[7; 64]);
        let hash = s.add_photo(&jpeg).unwrap();
        assert!(s.has_photo(&hash).unwrap());
        assert!(!s.has_photo(&"0".repeat(64)).unwrap());
        assert!(!s.has_photo("").unwrap());
    }

    #[test]
    fn arrivals_name_the_visits_needs_and_events_a_phone_sent() {
        let dir = tempfile::tempdir().unwrap();
        let office = store(&dir, "office", "office", &[]);
        office.load_roster(&demo::roster(2, 3, 2026)).unwrap();
        let worker = store(&dir, "worker", "grid_worker", &["g1"]);
        worker.import(&office.export_all().unwrap()).unwrap();
        // An event the office registered earlier and the worker will handle.
        let older = office.report_event(&snap("g1")).unwrap();
        office
            .step_event(
                &older.id,
                Action::Dispatch,
                &StepInput {
                    assignee: Some("worker".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        worker.import(&office.export_all().unwrap()).unwrap();
        // The worker's day: a visit with a need, a new snap report, the older event handled.
        let h = &worker.grid_households("g1").unwrap()[0];
        let mut v = demo::visit(
            &mut Rng::new(1),
            &h.id,
            chrono::Utc::now().timestamp_millis() - 3_600_000,
        );
        v.needs = vec![NeedInput {
            category: "房屋维修".into(),
            description: "屋顶漏水".into(),
            urgency: crate::model::Urgency::Normal,
            due_ms: None,
        }];
        let visit = worker.record_visit(&v).unwrap();
        let fresh = worker.report_event(&snap("g1")).unwrap();
        worker
            .step_event(&older.id, Action::Handle, &StepInput::default())
            .unwrap();
        office.import(&worker.export_all().unwrap()).unwrap();
        let changes = made_by(&worker);
        let a = office.arrivals(&received(&changes), None).unwrap();
        assert_eq!(a.visits.len(), 1);
        assert_eq!(a.visits[0].id, visit.id);
        assert_eq!(a.needs.len(), 1);
        assert_eq!(a.needs[0].description, "屋顶漏水");
        assert_eq!(a.new_events.len(), 1);
        assert_eq!(a.new_events[0].id, fresh.id);
        assert_eq!(a.updated_events.len(), 1);
        assert_eq!(a.updated_events[0].id, older.id);
        assert_eq!(a.undecodable, 0);
        // Another grid's staff sees none of it; a damaged change is counted, not fatal.
        let g2 = ["g2".to_string()];
        let mut bad = received(&changes);
        bad.push(ReceivedChange {
            doc_id: "x",
            kind: "event",
            bytes: b"not a change",
        });
        let a = office.arrivals(&bad, Some(&g2)).unwrap();
        assert!(a.visits.is_empty() && a.needs.is_empty());
        assert!(a.new_events.is_empty() && a.updated_events.is_empty());
        assert_eq!(a.undecodable, 1);
    }
}
