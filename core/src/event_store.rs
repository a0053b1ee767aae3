//! The store's event operations: reporting, the closed-loop steps, deadlines and lists.
//!
//! Deadlines are computed on the phone, offline, from the office's workday calendar and category
//! catalogue (both config documents; built-in defaults until the office publishes its own).

use automerge::Automerge;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::calendar::WorkdayCalendar;
use crate::docs::{self, DocKind, DocMeta};
use crate::error::{Error, Result};
use crate::events::{self, Action, Actor, Category, Event, EventInput, EventState, StepInput};
use crate::household::{field_error, finish};
use crate::photo::{PhotoOptions, process_photo};
use crate::privacy;
use crate::store::{Store, get_meta, now_ms, set_meta};

/// Document id of the category catalogue.
pub const CATALOGUE_DOC: &str = "config:categories";
/// Document id of the workday calendar.
pub const CALENDAR_DOC: &str = "config:workday_calendar";
/// Duplicate hints look back this far.
const DUPLICATE_WINDOW_MS: i64 = 7 * 86_400_000;
/// … and this close (metres) when there is no shared building.
const DUPLICATE_RADIUS_M: f64 = 50.0;

/// Who this device acts as (from enrolment): role and scope ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Identity {
    /// `grid_worker`, `grid_leader`, `building_lead` or `office`.
    pub role: String,
    /// Grid ids, or building ids for a building lead.
    pub scope: Vec<String>,
}

/// An event with its deadlines, as of a moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EventView {
    /// The event.
    pub event: Event,
    /// Respond by.
    pub response_due_ms: i64,
    /// Handle by.
    pub handle_due_ms: i64,
    /// Working minutes left to the handling deadline (negative: overdue by that much).
    pub working_minutes_left: i64,
    /// Past a deadline that is not met yet.
    pub overdue: bool,
}

/// An event in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EventSummary {
    /// Id.
    pub id: String,
    /// Grid.
    pub grid_id: String,
    /// Building.
    pub building_id: Option<String>,
    /// Category code.
    pub category: String,
    /// State.
    pub state: EventState,
    /// Reporter.
    pub reporter: String,
    /// Registered at.
    pub created_ms: i64,
    /// Respond by.
    pub response_due_ms: i64,
    /// Handle by.
    pub handle_due_ms: i64,
    /// Transitions flagged for review.
    pub flagged: u32,
}

/// A processed photo as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PhotoRef {
    /// SHA-256 of the stored JPEG (what records reference).
    pub hash: String,
    /// SHA-256 of the thumbnail.
    pub thumb_hash: String,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// The calendar in force (the office's, else the built-in 2026 schedule).
pub(crate) fn calendar_in(conn: &Connection) -> WorkdayCalendar {
    docs::load_from_db(conn, CALENDAR_DOC)
        .ok()
        .flatten()
        .and_then(|d| crate::am::str(&d, &automerge::ROOT, "json"))
        .and_then(|j| WorkdayCalendar::from_json(&j).ok())
        .unwrap_or_else(WorkdayCalendar::china_2026)
}

/// The catalogue in force.
pub(crate) fn catalogue_in(conn: &Connection) -> Vec<Category> {
    docs::load_from_db(conn, CATALOGUE_DOC)
        .ok()
        .flatten()
        .and_then(|d| crate::am::str(&d, &automerge::ROOT, "json"))
        .and_then(|j| serde_json::from_str::<Vec<Category>>(&j).ok())
        .unwrap_or_else(events::default_catalogue)
}

fn to_utc(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Deadlines of an event: (respond by, handle by).
fn deadlines(cal: &WorkdayCalendar, cats: &[Category], e: &Event) -> (i64, i64) {
    let cat = cats.iter().find(|c| c.code == e.category);
    let (hours, days) = cat
        .map(|c| (c.response_hours, c.handle_days))
        .unwrap_or((4, 5));
    let created = to_utc(e.created_ms);
    let respond = cal
        .add_working_minutes(created, i64::from(hours) * 60)
        .map(|t| t.timestamp_millis())
        .unwrap_or(e.created_ms);
    let handle = cal
        .add_working_days(created, days)
        .map(|t| t.timestamp_millis())
        .unwrap_or(e.created_ms);
    (respond, handle)
}

/// Rewrites the projection row of one event.
pub(crate) fn project_event(tx: &Transaction<'_>, doc: &Automerge) -> Result<()> {
    let e = events::read_event(doc)?;
    tx.prepare_cached("DELETE FROM photo_refs WHERE doc_id = ?1")?
        .execute([&e.id])?;
    let mut photos = e.photos.clone();
    photos.extend(e.transitions.iter().flat_map(|t| t.photos.iter().cloned()));
    crate::projection::add_photo_refs(tx, &e.id, &photos)?;
    let (respond, handle) = deadlines(&calendar_in(tx), &catalogue_in(tx), &e);
    tx.prepare_cached(
        "INSERT OR REPLACE INTO events (id, grid_id, building_id, category, source, state, level, reporter,
            assignee, created_at, response_due, handle_due, responded_at, closed_at, flagged, rating)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        e.id,
        e.grid_id,
        e.place.building_id,
        e.category,
        e.source.as_str(),
        e.state.as_str(),
        e.level.as_str(),
        e.reporter,
        e.assignee,
        e.created_ms,
        respond,
        handle,
        e.responded_ms,
        e.closed_ms,
        e.flagged,
        e.rating
    ])?;
    Ok(())
}

/// Re-projects every event (the calendar or the catalogue changed).
pub(crate) fn project_all_events(tx: &Transaction<'_>) -> Result<()> {
    let ids: Vec<String> = tx
        .prepare("SELECT id FROM docs WHERE kind = 'event'")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for id in ids {
        if let Some(doc) = docs::load_from_db(tx, &id)? {
            project_event(tx, &doc)?;
        }
    }
    Ok(())
}

const EVENT_SUMMARY_SQL: &str =
    "SELECT id, grid_id, building_id, category, state, reporter, created_at,
    response_due, handle_due, flagged FROM events";

fn summary_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventSummary> {
    Ok(EventSummary {
        id: r.get(0)?,
        grid_id: r.get(1)?,
        building_id: r.get(2)?,
        category: r.get(3)?,
        state: EventState::parse(&r.get::<_, String>(4)?).unwrap_or(EventState::Registered),
        reporter: r.get(5)?,
        created_ms: r.get(6)?,
        response_due_ms: r.get(7)?,
        handle_due_ms: r.get(8)?,
        flagged: r.get(9)?,
    })
}

impl Store {
    /// Records who this device acts as (after enrolment).
    pub fn set_identity(&self, id: &Identity) -> Result<()> {
        let json = serde_json::to_vec(id).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.db.write(|tx| set_meta(tx, "identity", &json))
    }

    /// Who this device acts as; a grid worker of no grid until enrolled.
    pub fn identity(&self) -> Result<Identity> {
        let raw = self.db.write(|tx| get_meta(tx, "identity"))?;
        Ok(raw
            .and_then(|r| serde_json::from_slice(&r).ok())
            .unwrap_or(Identity {
                role: "grid_worker".into(),
                scope: Vec::new(),
            }))
    }

    /// Processes a camera photo (orientation, ≤1600 px, JPEG q80, no metadata, thumbnail) and
    /// stores both by SHA-256; the same photo twice is stored once. Nothing is saved on error.
    pub fn add_camera_photo(&self, input: &[u8]) -> Result<PhotoRef> {
        let p = process_photo(input, &PhotoOptions::default())
            .map_err(|e| Error::field("photo", "invalid", e.to_string()))?;
        let hash = self.add_photo(&p.jpeg)?;
        let thumb_hash = self.add_photo(&p.thumbnail)?;
        Ok(PhotoRef {
            hash,
            thumb_hash,
            width: p.width,
            height: p.height,
        })
    }

    /// The category catalogue in force.
    pub fn catalogue(&self) -> Result<Vec<Category>> {
        self.db.read(|c| Ok(catalogue_in(c)))
    }

    /// The workday calendar in force.
    pub fn calendar(&self) -> Result<WorkdayCalendar> {
        self.db.read(|c| Ok(calendar_in(c)))
    }

    /// Publishes the category catalogue (office).
    pub fn set_catalogue(&self, cats: &[Category]) -> Result<()> {
        events::check_catalogue(cats)?;
        let json = serde_json::to_string(cats).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.put_config_json(CATALOGUE_DOC, &json)
    }

    /// Publishes the workday calendar (office; the schedule changes every November).
    pub fn set_calendar(&self, cal: &WorkdayCalendar) -> Result<()> {
        cal.check()
            .map_err(|e| Error::field("calendar", "invalid", e.to_string()))?;
        self.put_config_json(CALENDAR_DOC, &cal.to_json())
    }

    fn put_config_json(&self, id: &str, json: &str) -> Result<()> {
        self.write(|w| {
            let meta = DocMeta {
                id: id.into(),
                kind: DocKind::Config,
                scope: "community".into(),
                building_id: None,
            };
            w.change_or_create(meta, |tx| {
                crate::am::put_if_changed(tx, &automerge::ROOT, "json", json)?;
                Ok(())
            })?;
            project_all_events(w.tx)
        })
    }

    /// Registers an event (snap report, need or dispute).
    pub fn report_event(&self, input: &EventInput) -> Result<Event> {
        let me = self.identity()?;
        let cats = self.catalogue()?;
        let mut errors = Vec::new();
        if !cats.iter().any(|c| c.code == input.category) {
            errors.push(field_error("category", "unknown", "未知的事件类别"));
        }
        let desc = input.description.trim();
        if desc.is_empty() && input.photos.is_empty() {
            errors.push(field_error(
                "description",
                "required",
                "请描述问题或附上照片",
            ));
        }
        if desc.chars().count() > 2000 {
            errors.push(field_error("description", "too_long", "描述过长"));
        }
        match (input.place.lat, input.place.lon) {
            (Some(lat), Some(lon))
                if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) =>
            {
                errors.push(field_error("place", "out_of_range", "位置坐标无效"))
            }
            _ => {}
        }
        if me.role == "building_lead" {
            let ok = input
                .place
                .building_id
                .as_ref()
                .is_some_and(|b| me.scope.contains(b));
            if !ok {
                errors.push(field_error(
                    "place.building_id",
                    "forbidden",
                    "只能上报本楼栋的问题",
                ));
            }
        }
        let grid_known: Option<i64> = self.db.read(|c| {
            Ok(c.query_row(
                "SELECT 1 FROM places WHERE id = ?1 AND kind = 'grid'",
                [&input.grid_id],
                |r| r.get(0),
            )
            .optional()?)
        })?;
        if grid_known.is_none() {
            errors.push(field_error("grid_id", "unknown", "网格不在花名册中"));
        }
        for h in &input.photos {
            if self.photo(h).is_err() {
                errors.push(field_error("photos", "unknown", "照片未保存"));
                break;
            }
        }
        finish(errors)?;
        let id = privacy::new_id()?;
        self.write(|w| {
            let meta = DocMeta {
                id: id.clone(),
                kind: DocKind::Event,
                scope: format!("grid:{}", input.grid_id),
                building_id: input.place.building_id.clone(),
            };
            let (by, now) = (w.store.author.person_id.clone(), w.now);
            w.change_or_create(meta, |tx| events::put_event(tx, &id, input, &by, now))
        })?;
        self.event(&id).map(|v| v.event)
    }

    /// Opens an event for a need raised at a visit (困难需求), so the office follows it up in
    /// the closed loop; the follow-up stays linked through the household.
    pub fn event_from_need(&self, followup_id: &str) -> Result<Event> {
        let (household_id, description, building, grid): (String, String, String, String) = self
            .db
            .read(|c| {
                Ok(c.query_row(
                    "SELECT f.household_id, f.category || ': ' || f.description, h.building_id, h.grid_id
                     FROM followups f JOIN households h ON h.id = f.household_id WHERE f.id = ?1",
                    [followup_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()?)
            })?
            .ok_or_else(|| Error::not_found("follow-up", followup_id))?;
        self.report_event(&EventInput {
            grid_id: grid,
            source: events::EventSource::Need,
            category: "need".into(),
            place: events::EventPlace {
                building_id: Some(building),
                unit: None,
                text: String::new(),
                lat: None,
                lon: None,
            },
            description,
            photos: Vec::new(),
            household_id: Some(household_id),
            parties: Vec::new(),
        })
    }

    /// An event with deadlines as of now.
    pub fn event(&self, id: &str) -> Result<EventView> {
        self.event_at(id, now_ms())
    }

    /// An event with deadlines as of `now_ms`.
    pub fn event_at(&self, id: &str, now_ms: i64) -> Result<EventView> {
        let doc = self
            .read_doc(id)?
            .ok_or_else(|| Error::not_found("event", id))?;
        let event = events::read_event(&doc)?;
        let (cal, cats) = self.db.read(|c| Ok((calendar_in(c), catalogue_in(c))))?;
        let (response_due_ms, handle_due_ms) = deadlines(&cal, &cats, &event);
        let open = event.state != EventState::Closed;
        let overdue = open
            && (now_ms > handle_due_ms
                || (event.responded_ms.is_none() && now_ms > response_due_ms));
        let working_minutes_left =
            cal.working_minutes_between(to_utc(now_ms), to_utc(handle_due_ms));
        Ok(EventView {
            event,
            response_due_ms,
            handle_due_ms,
            working_minutes_left,
            overdue,
        })
    }

    /// Takes a step of the closed loop. The role and the current state are checked here, on
    /// the phone; a step that becomes inapplicable through a concurrent one is flagged later.
    pub fn step_event(&self, id: &str, action: Action, step: &StepInput) -> Result<Event> {
        let me = Actor {
            person_id: self.author.person_id.clone(),
            role: self.identity()?.role,
        };
        self.take_step(id, action, step, &me)
    }

    /// Takes a step on behalf of a staff member who acted in the office console: the
    /// transition names `actor` (person and role) instead of this store's owner, and every rule
    /// of [`Store::step_event`] applies to `actor` (what the role may do, verification not by
    /// the handler, required notes and handler). Only a store whose identity is `office` (the
    /// server's office replica) may do this, and only in one of the [`events::STAFF_ROLES`]: a
    /// phone cannot record a step in another person's name.
    pub fn step_event_as(
        &self,
        id: &str,
        action: Action,
        step: &StepInput,
        actor: &Actor,
    ) -> Result<Event> {
        if self.identity()?.role != "office" {
            return Err(Error::Forbidden(
                "only the office records a step in another person's name".into(),
            ));
        }
        if !events::STAFF_ROLES.contains(&actor.role.as_str()) {
            return Err(Error::Forbidden(format!(
                "the office records steps in a staff role only, not {}",
                actor.role
            )));
        }
        if !events::is_staff_person_id(&actor.person_id) {
            return Err(Error::field("person_id", "invalid", "人员编号无效"));
        }
        self.take_step(id, action, step, actor)
    }

    /// A step by `actor`, checked against the rules on this replica's copy of the event.
    fn take_step(
        &self,
        id: &str,
        action: Action,
        step: &StepInput,
        actor: &Actor,
    ) -> Result<Event> {
        let current = self.event(id)?.event;
        let person = actor.person_id.clone();
        if !events::role_may(&actor.role, action) {
            return Err(Error::Forbidden(format!(
                "a {} may not {}",
                actor.role,
                action.as_str()
            )));
        }
        match action {
            Action::Feedback => {
                if current.reporter != person {
                    return Err(Error::Forbidden("only the reporter rates an event".into()));
                }
                if !matches!(step.rating, Some(1..=5)) {
                    return Err(Error::field("rating", "out_of_range", "评分为 1–5"));
                }
            }
            Action::Dispatch if step.assignee.is_none() && step.department.is_none() => {
                return Err(Error::field("assignee", "required", "请选择处置人或部门"));
            }
            Action::Return | Action::Escalate if step.note.trim().is_empty() => {
                return Err(Error::field("note", "required", "请说明原因"));
            }
            Action::Verify => {
                let handler = current
                    .transitions
                    .iter()
                    .rev()
                    .find(|t| t.action == Action::Handle && t.flag.is_none());
                if handler.is_some_and(|t| t.by == person) {
                    return Err(Error::Forbidden(
                        "the handler cannot verify their own work".into(),
                    ));
                }
            }
            _ => {}
        }
        if actor.role == "grid_worker"
            && action == Action::Handle
            && let Some(a) = &current.assignee
            && a != &person
        {
            return Err(Error::Forbidden(
                "this event is dispatched to someone else".into(),
            ));
        }
        // Apply it to a copy first: an inapplicable step is refused now, not flagged later.
        let mut probe = self
            .read_doc(id)?
            .ok_or_else(|| Error::not_found("event", id))?;
        let tid = privacy::new_id()?;
        let now = now_ms();
        let mut t = probe.transaction();
        events::append_transition(
            &mut t,
            &tid,
            action,
            current.state,
            &person,
            &actor.role,
            now,
            step,
        )?;
        t.commit();
        let after = events::read_event(&probe)?;
        if after
            .transitions
            .iter()
            .any(|t| t.id == tid && t.flag.is_some())
        {
            return Err(Error::field(
                "action",
                "not_applicable",
                format!(
                    "cannot {} an event that is {}",
                    action.as_str(),
                    current.state.as_str()
                ),
            ));
        }
        self.write(|w| {
            let Some(e) = w.try_edit(id)? else {
                return Err(Error::not_found("event", id));
            };
            let role = actor.role.clone();
            w.change(e, |tx| {
                events::append_transition(
                    tx,
                    &tid,
                    action,
                    current.state,
                    &person,
                    &role,
                    now,
                    step,
                )
            })
        })?;
        self.event(id).map(|v| v.event)
    }

    /// Events (optionally of one grid and state), newest first.
    pub fn events(
        &self,
        grid_id: Option<&str>,
        state: Option<EventState>,
    ) -> Result<Vec<EventSummary>> {
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{EVENT_SUMMARY_SQL} WHERE (?1 IS NULL OR grid_id = ?1) AND (?2 IS NULL OR state = ?2)
                 ORDER BY created_at DESC, id"
            ))?;
            let rows = stmt.query_map(params![grid_id, state.map(|s| s.as_str())], summary_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Open events past a deadline at `now_ms` (optionally of one grid), most overdue first.
    pub fn overdue_events(&self, grid_id: Option<&str>, now_ms: i64) -> Result<Vec<EventSummary>> {
        self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{EVENT_SUMMARY_SQL} WHERE state != 'closed' AND (?1 IS NULL OR grid_id = ?1)
                   AND (handle_due < ?2 OR (responded_at IS NULL AND response_due < ?2))
                 ORDER BY min(handle_due, CASE WHEN responded_at IS NULL THEN response_due ELSE handle_due END), id"
            ))?;
            let rows = stmt.query_map(params![grid_id, now_ms], summary_row)?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Open events of the last 7 days that may be the same problem as `input`: same category,
    /// and the same building or within 50 m. Works offline.
    pub fn possible_duplicates(
        &self,
        input: &EventInput,
        now_ms: i64,
    ) -> Result<Vec<EventSummary>> {
        let candidates: Vec<EventSummary> = self.db.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{EVENT_SUMMARY_SQL} WHERE state != 'closed' AND category = ?1 AND created_at >= ?2
                 ORDER BY created_at DESC"
            ))?;
            let rows = stmt.query_map(
                params![input.category, now_ms - DUPLICATE_WINDOW_MS],
                summary_row,
            )?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })?;
        let mut out = Vec::new();
        for s in candidates {
            let same_building =
                input.place.building_id.is_some() && s.building_id == input.place.building_id;
            let near = match (input.place.lat, input.place.lon) {
                (Some(lat), Some(lon)) => {
                    let e = self.event_at(&s.id, now_ms)?.event;
                    matches!((e.place.lat, e.place.lon), (Some(a), Some(b)) if events::distance_m(lat, lon, a, b) <= DUPLICATE_RADIUS_M)
                }
                _ => false,
            };
            if same_building || near {
                out.push(s);
            }
        }
        Ok(out)
    }
}

/// The events projection table (schema version 3).
pub(crate) const UPGRADE_2_TO_3: &str = "
CREATE TABLE events (
    id           TEXT PRIMARY KEY,
    grid_id      TEXT NOT NULL,
    building_id  TEXT,
    category     TEXT NOT NULL,
    source       TEXT NOT NULL,
    state        TEXT NOT NULL,
    level        TEXT NOT NULL,
    reporter     TEXT NOT NULL,
    assignee     TEXT,
    created_at   INTEGER NOT NULL,
    response_due INTEGER NOT NULL,
    handle_due   INTEGER NOT NULL,
    responded_at INTEGER,
    closed_at    INTEGER,
    flagged      INTEGER NOT NULL,
    rating       INTEGER
) WITHOUT ROWID;
CREATE INDEX events_grid_state ON events(grid_id, state, created_at);
CREATE INDEX events_due ON events(state, handle_due);
";
