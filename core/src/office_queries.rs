//! Read-only queries for the community office's console: lists across the whole community that
//! a phone never needs (every event with its deadlines, visits and needs in a time window,
//! household lookup by address, coverage per worker).
//!
//! They read only the projection tables, so they stay fast on 10 000 events and never touch a
//! document; none of them writes anything.

use rusqlite::params;
use serde::{Deserialize, Serialize};

use crate::Store;
use crate::error::Result;
use crate::events::{EventSource, EventState, Level};
use crate::model::{CareTag, HouseholdSummary, Urgency, VisitOutcome};

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

impl Store {
    /// Every event registered at or after `since_ms` (all when `None`), oldest first.
    pub fn office_events(&self, since_ms: Option<i64>) -> Result<Vec<OfficeEvent>> {
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{EVENT_SQL} WHERE (?1 IS NULL OR created_at >= ?1) ORDER BY created_at, id"
            ))?;
            let rows = stmt.query_map([since_ms], event_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Visits started in `[from_ms, to_ms)`, oldest first, with their household's grid and address.
    pub fn visits_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<OfficeVisit>> {
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT v.id, v.household_id, h.grid_id, h.address, v.worker_id, v.started_at,
                        v.ended_at, v.outcome, v.need_count, v.photo_count
                 FROM visits v JOIN households h ON h.id = v.household_id
                 WHERE v.started_at >= ?1 AND v.started_at < ?2
                 ORDER BY v.started_at, v.id",
            )?;
            let rows = stmt.query_map(params![from_ms, to_ms], |r| {
                Ok(OfficeVisit {
                    id: r.get(0)?,
                    household_id: r.get(1)?,
                    grid_id: r.get(2)?,
                    address: r.get(3)?,
                    worker_id: r.get(4)?,
                    started_ms: r.get(5)?,
                    ended_ms: r.get(6)?,
                    outcome: VisitOutcome::parse(&r.get::<_, String>(7)?)
                        .unwrap_or(VisitOutcome::Met),
                    need_count: r.get(8)?,
                    photo_count: r.get(9)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Needs raised at visits started in `[from_ms, to_ms)`, oldest first.
    pub fn needs_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<OfficeNeed>> {
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT f.id, f.household_id, h.grid_id, h.address, f.category, f.description,
                        f.urgency, f.due_at, f.status, v.started_at
                 FROM followups f JOIN visits v ON v.id = f.visit_id
                      JOIN households h ON h.id = f.household_id
                 WHERE v.started_at >= ?1 AND v.started_at < ?2
                 ORDER BY v.started_at, f.id",
            )?;
            let rows = stmt.query_map(params![from_ms, to_ms], |r| {
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
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Visits and distinct households per worker for visits started in `[from_ms, to_ms)`.
    pub fn worker_coverage(&self, from_ms: i64, to_ms: i64) -> Result<Vec<WorkerCoverage>> {
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT worker_id, count(*), count(DISTINCT household_id) FROM visits
                 WHERE started_at >= ?1 AND started_at < ?2
                 GROUP BY worker_id ORDER BY worker_id",
            )?;
            let rows = stmt.query_map(params![from_ms, to_ms], |r| {
                Ok(WorkerCoverage {
                    worker_id: r.get(0)?,
                    visits: r.get(1)?,
                    households: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Households whose address, door number or head's name contains `query` (at most `limit`),
    /// by grid, building, unit and door. An empty query lists the first households.
    pub fn find_households(&self, query: &str, limit: u32) -> Result<Vec<HouseholdSummary>> {
        // LIKE with escaped wildcards: a query of "%" must not match everyone.
        let q = query.trim();
        let pattern = format!(
            "%{}%",
            q.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, grid_id, building_id, unit, door, address, head_name, care_tags,
                        resident_count, last_visit_at, visit_count, conflict_count FROM households
                 WHERE address LIKE ?1 ESCAPE '\\' OR door LIKE ?1 ESCAPE '\\'
                       OR head_name LIKE ?1 ESCAPE '\\'
                 ORDER BY grid_id, building_id, unit, length(door), door LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![pattern, limit], |r| {
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
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }
}

impl Store {
    /// The community's name from the roster, once a roster was loaded.
    pub fn community_name(&self) -> Result<Option<String>> {
        Ok(self
            .read_doc(crate::store::ROSTER_DOC)?
            .and_then(|d| crate::am::str(&d, &automerge::ROOT, "community_name")))
    }
}
