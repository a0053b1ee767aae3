//! The event board, the event page and the closed-loop actions the clerk takes there.
//!
//! The board groups every event by state, with counts, and shows the [`BOARD_PER_STATE`] most
//! urgent of each column (nearest deadline first; overdue ones marked in colour and in words),
//! so it answers quickly with 10 000 events. An action is [`gridwalk_core::Store::step_event_as`]
//! on the office replica in the name of the staff member who took it (the core checks their role
//! and the state) followed by an office sync, so the event's own log, on the phones too, says who
//! dispatched, verified or closed. Staff of some grids see, open and act on only those grids'
//! events; another grid's event (or its photo) answers 404 as if it did not exist.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use gridwalk_core::events::{Action, Actor, EventState, Level, StepInput, role_may};
use gridwalk_core::office_queries::OfficeEvent;
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::Staff;
use super::layout::{self, csrf, page, state_label, time, time_left};
use super::{ConsoleState, Fail, Page, blocking, now_ms, see_other};
use crate::error::Error;

/// Cards shown per state column.
pub const BOARD_PER_STATE: usize = 30;
/// The board's columns, in loop order.
const COLUMNS: [EventState; 5] = [
    EventState::Registered,
    EventState::Dispatched,
    EventState::Handled,
    EventState::Verified,
    EventState::Closed,
];

/// Board filters.
#[derive(Debug, Default, Deserialize)]
pub struct BoardQuery {
    /// Only this grid.
    #[serde(default)]
    grid: Option<String>,
    /// Only overdue events.
    #[serde(default)]
    overdue: Option<String>,
}

/// One column of the board, computed.
pub struct Column {
    /// State.
    pub state: EventState,
    /// Events in it.
    pub count: usize,
    /// Overdue events in it.
    pub overdue: usize,
    /// The most urgent ones.
    pub top: Vec<OfficeEvent>,
}

/// Groups events into the board's columns at `now_ms`: open columns by nearest deadline,
/// the closed column by latest closing.
pub fn columns(events: Vec<OfficeEvent>, now_ms: i64, overdue_only: bool) -> Vec<Column> {
    let mut by_state: HashMap<EventState, Vec<OfficeEvent>> = HashMap::new();
    for e in events {
        if overdue_only && !e.is_overdue(now_ms) {
            continue;
        }
        by_state.entry(e.state).or_default().push(e);
    }
    COLUMNS
        .iter()
        .map(|&state| {
            let mut list = by_state.remove(&state).unwrap_or_default();
            let count = list.len();
            let overdue = list.iter().filter(|e| e.is_overdue(now_ms)).count();
            let key = |e: &OfficeEvent| {
                if state == EventState::Closed {
                    -e.closed_ms.unwrap_or(e.created_ms)
                } else {
                    e.next_due_ms()
                }
            };
            if list.len() > BOARD_PER_STATE {
                list.select_nth_unstable_by_key(BOARD_PER_STATE, key);
                list.truncate(BOARD_PER_STATE);
            }
            list.sort_by_key(|e| (key(e), e.created_ms));
            Column {
                state,
                count,
                overdue,
                top: list,
            }
        })
        .collect()
}

/// The catalogue's names by code.
fn category_names(c: &ConsoleState) -> HashMap<String, String> {
    c.office()
        .store()
        .catalogue()
        .unwrap_or_default()
        .into_iter()
        .map(|c| (c.code, c.name))
        .collect()
}

/// `GET /console/board`.
pub async fn board(
    State(st): State<ConsoleState>,
    staff: Staff,
    Query(q): Query<BoardQuery>,
) -> Page {
    let now = now_ms();
    let grid = q.grid.filter(|g| !g.is_empty());
    if let Some(g) = &grid
        && !staff.sees_grid(g)
    {
        return Err(Fail(Error::Forbidden(
            "您只能查看自己负责网格的事件".into(),
        )));
    }
    let overdue_only = q.overdue.is_some();
    let c = st.clone();
    let g = grid.clone();
    let who = staff.clone();
    let (cols, grids, names) = blocking(move || {
        let store = c.office().store();
        // One grid asked for (one the staff member sees, checked above), else all of theirs.
        let one = g.map(|g| vec![g]);
        let events = store.office_events(None, None, one.as_deref().or(who.grids()))?;
        let grids: Vec<(String, String)> = store
            .places()?
            .into_iter()
            .filter(|p| p.kind == "grid" && who.sees_grid(&p.id))
            .map(|p| (p.id, p.name))
            .collect();
        Ok((
            columns(events, now, overdue_only),
            grids,
            category_names(&c),
        ))
    })
    .await?;
    let total: usize = cols.iter().map(|c| c.count).sum();
    let overdue: usize = cols.iter().map(|c| c.overdue).sum();
    let body = html! {
        form method="get" action="/console/board" {
            label for="grid" { "网格" }
            select #grid name="grid" {
                option value="" { @if staff.grids().is_some() { "我负责的全部网格" } @else { "全部网格" } }
                @for (id, name) in &grids {
                    option value=(id) selected[grid.as_deref() == Some(id.as_str())] { (name) }
                }
            }
            label { input type="checkbox" name="overdue" value="1" checked[overdue_only]; " 只看超期" }
            button type="submit" { "筛选" }
        }
        p.muted { "共 " (total) " 件,其中超期 " span.tag-overdue { (overdue) } " 件。每列按时限先后显示前 " (BOARD_PER_STATE) " 件。" }
        div.board {
            @for col in &cols {
                section.col aria-labelledby=(format!("col-{}", col.state.as_str())) {
                    h2 id=(format!("col-{}", col.state.as_str())) {
                        (state_label(col.state)) " (" (col.count) ")"
                    }
                    @if col.overdue > 0 { p.tag-overdue { "超期 " (col.overdue) " 件" } }
                    @for e in &col.top { (card(e, now, &names)) }
                    @if col.count > col.top.len() {
                        p.muted { "另有 " (col.count - col.top.len()) " 件未显示" }
                    }
                }
            }
        }
    };
    Ok(page("事件看板", &staff, "/console/board", body))
}

fn card(e: &OfficeEvent, now: i64, names: &HashMap<String, String>) -> Markup {
    let overdue = e.is_overdue(now);
    let cat = names
        .get(&e.category)
        .map_or(e.category.as_str(), String::as_str);
    html! {
        article.card.overdue[overdue] {
            a href=(format!("/console/events/{}", e.id)) { (cat) }
            br;
            span.muted { (layout::source_label(e.source)) " · " (e.grid_id) " · " (time(e.created_ms)) }
            br;
            @if e.state == EventState::Closed {
                span { "结案 " (layout::time_opt(e.closed_ms)) }
                @if let Some(r) = e.rating { " · 评分 " (r) }
            } @else if overdue {
                span.tag-overdue { (time_left(e.next_due_ms(), now)) }
            } @else {
                span { (time_left(e.next_due_ms(), now)) }
            }
            @if e.flagged > 0 { br; span.flag { "有 " (e.flagged) " 条冲突待复核" } }
        }
    }
}

/// Flash after an action.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: Option<String>,
}

/// The actions that can apply to an event in `state` at `level` (the core decides in the end).
fn candidate_actions(state: EventState, level: Level) -> Vec<Action> {
    use EventState::*;
    let mut out = match state {
        Registered => vec![Action::Dispatch],
        Dispatched => vec![Action::Return],
        Handled => vec![Action::Verify, Action::Return],
        Verified => vec![Action::Close, Action::Return],
        Closed => vec![],
    };
    if state != Closed {
        if level != Level::Street {
            out.push(Action::Escalate);
        }
        if state != Verified {
            out.push(Action::Close);
        }
    }
    out
}

/// `GET /console/events/{id}`.
pub async fn event_page(
    State(st): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Page {
    crate::policy::check_id("event", &id).map_err(Fail)?;
    let c = st.clone();
    let who = staff.clone();
    let (view, names, departments, have_photo) = blocking(move || {
        let store = c.office().store();
        let view = store.event(&id)?;
        who.check_grid(&view.event.grid_id, "event")
            .map_err(|f| f.0)?;
        let cats = store.catalogue()?;
        let mut departments: Vec<String> = cats.iter().map(|c| c.department.clone()).collect();
        departments.sort();
        departments.dedup();
        let mut photos: Vec<String> = view.event.photos.clone();
        photos.extend(view.event.transitions.iter().flat_map(|t| t.photos.clone()));
        let have: HashMap<String, bool> = photos
            .into_iter()
            .map(|h| {
                let ok = matches!(c.has_photo(&h), Ok(true));
                (h, ok)
            })
            .collect();
        Ok((view, category_names(&c), departments, have))
    })
    .await?;
    let e = &view.event;
    let cat = names
        .get(&e.category)
        .map_or(e.category.as_str(), String::as_str);
    let role = staff.role.as_str();
    let actions: Vec<Action> = candidate_actions(e.state, e.level)
        .into_iter()
        .filter(|a| role_may(role, *a))
        .collect();
    let done = q.done.as_deref().and_then(Action::parse);
    let photo = |h: &String| -> Markup {
        html! {
            @if have_photo.get(h).copied().unwrap_or(false) {
                img.photo src=(format!("/console/photos/{h}")) alt="事件照片";
            } @else {
                span.muted { "照片尚未同步到办公室" }
            }
        }
    };
    let body = html! {
        @if let Some(a) = done { (layout::notice(&format!("已{},将在手机下次同步时送达。", layout::action_label(a)))) }
        p { a href="/console/board" { "← 返回事件看板" } }
        table {
            caption { "事件信息" }
            tbody {
                tr { th scope="row" { "状态" } td #event-state data-state=(e.state.as_str()) { (state_label(e.state)) } }
                tr { th scope="row" { "类别" } td { (cat) } }
                tr { th scope="row" { "来源" } td { (layout::source_label(e.source)) } }
                tr { th scope="row" { "层级" } td { (layout::level_label(e.level)) } }
                tr { th scope="row" { "网格" } td { (e.grid_id) } }
                tr { th scope="row" { "地点" } td {
                    @if let Some(b) = &e.place.building_id { (b) " " }
                    @if let Some(u) = &e.place.unit { (u) "单元 " }
                    (e.place.text)
                } }
                tr { th scope="row" { "描述" } td { (e.description) } }
                @if !e.parties.is_empty() {
                    tr { th scope="row" { "当事方" } td { (e.parties.join("、")) } }
                }
                tr { th scope="row" { "上报人" } td { (e.reporter) } }
                tr { th scope="row" { "登记时间" } td { (time(e.created_ms)) } }
                tr { th scope="row" { "响应时限" } td { (time(view.response_due_ms)) } }
                tr.overdue[view.overdue] { th scope="row" { "办结时限" } td {
                    (time(view.handle_due_ms)) " "
                    @if e.state != EventState::Closed {
                        @if view.overdue { span.tag-overdue { "(已超期)" } }
                        " 剩余工作时间 " (view.working_minutes_left / 60) " 小时 " (view.working_minutes_left.rem_euclid(60)) " 分"
                    }
                } }
                @if let Some(a) = &e.assignee { tr { th scope="row" { "处置人" } td { (a) } } }
                @if let Some(d) = &e.department { tr { th scope="row" { "处置部门" } td { (d) } } }
                @if let Some(r) = e.rating { tr { th scope="row" { "居民评分" } td { (r) " / 5" } } }
            }
        }
        @if !e.photos.is_empty() {
            h2 { "照片" }
            div { @for h in &e.photos { (photo(h)) } }
        }
        h2 { "流转记录" }
        table {
            thead { tr { th scope="col" { "时间" } th scope="col" { "操作" } th scope="col" { "操作人" }
                th scope="col" { "之后状态" } th scope="col" { "说明" } th scope="col" { "复核" } } }
            tbody {
                @if e.transitions.is_empty() { tr { td colspan="6" { "尚无流转" } } }
                @for t in &e.transitions {
                    tr {
                        td { (time(t.at_ms)) }
                        td { (layout::action_label(t.action)) }
                        td { (t.by) "(" (layout::role_label(&t.role)) ")" }
                        td { (state_label(t.state_after)) }
                        td {
                            (t.note)
                            @if let Some(a) = &t.assignee { " → " (a) }
                            @if let Some(d) = &t.department { " → " (d) }
                            @if let Some(r) = t.rating { " 评分 " (r) }
                            @for h in &t.photos { br; (photo(h)) }
                        }
                        td { @if let Some(f) = &t.flag { span.flag { (f) } } }
                    }
                }
            }
        }
        h2 { "办理" }
        @if actions.is_empty() { p { "当前状态下没有可执行的操作。" } }
        @for a in &actions { (action_form(&staff, &e.id, *a, &departments)) }
    };
    Ok(page(&format!("事件:{cat}"), &staff, "/console/board", body))
}

fn action_form(staff: &Staff, id: &str, a: Action, departments: &[String]) -> Markup {
    let name = a.as_str();
    let note_required = matches!(a, Action::Return | Action::Escalate);
    let note_label = match a {
        Action::Return => "退回原因(必填)",
        Action::Escalate => "上报原因(必填)",
        Action::Dispatch => "派遣说明",
        Action::Verify => "核实意见",
        Action::Close => "结案说明",
        _ => "说明",
    };
    html! {
        form method="post" action=(format!("/console/events/{id}/act")) {
            fieldset {
                legend { (layout::action_label(a)) }
                (csrf(staff))
                input type="hidden" name="action" value=(name);
                @if a == Action::Dispatch {
                    label for="assignee" { "处置人(人员编号)" }
                    input #assignee type="text" name="assignee" maxlength="128";
                    label for="department" { "或处置部门" }
                    select #department name="department" {
                        option value="" { "(不指定部门)" }
                        @for d in departments { option value=(d) { (d) } }
                    }
                }
                label for=(format!("note-{name}")) { (note_label) }
                input id=(format!("note-{name}")) type="text" name="note" maxlength="2000" size="40" required[note_required];
                button.danger[a == Action::Return] type="submit" id=(format!("do-{name}")) { (layout::action_label(a)) }
            }
        }
    }
}

/// An action form as posted.
#[derive(Debug, Deserialize)]
pub struct ActForm {
    csrf: String,
    action: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    department: String,
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

/// Who a staff member is in an event's log: their login name as the person id (the staff
/// database has no other name, and a login is never renamed) and their staff role. A staff
/// member who also carries an enrolled phone should log in under that phone's person id, so the
/// log, and the rule that the handler does not verify their own work, see one person.
pub fn staff_actor(staff: &Staff) -> Actor {
    Actor {
        person_id: staff.username.clone(),
        role: staff.role.as_str().to_string(),
    }
}

/// `POST /console/events/{id}/act`.
pub async fn act(
    State(st): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(f): Form<ActForm>,
) -> Page {
    staff.check_csrf(&f.csrf)?;
    crate::policy::check_id("event", &id).map_err(Fail)?;
    let action = Action::parse(&f.action)
        .filter(|a| *a != Action::Feedback && *a != Action::Handle)
        .ok_or_else(|| Fail(Error::BadRequest("未知的操作".into())))?;
    if !role_may(staff.role.as_str(), action) {
        return Err(Fail(Error::Forbidden("您的角色不能执行此操作".into())));
    }
    let step = StepInput {
        note: f.note.trim().to_string(),
        assignee: non_empty(&f.assignee),
        department: non_empty(&f.department),
        rating: None,
        photos: Vec::new(),
    };
    if let Some(a) = &step.assignee {
        crate::policy::check_id("person", a).map_err(Fail)?;
    }
    let c = st.clone();
    let (event_id, user) = (id.clone(), staff.username.clone());
    let who = staff.clone();
    blocking(move || {
        let grid = c.office().store().event(&event_id)?.event.grid_id;
        // Another grid's event: refused before anything changes.
        who.check_grid(&grid, "event").map_err(|f| f.0)?;
        c.office()
            .store()
            .step_event_as(&event_id, action, &step, &staff_actor(&who))?;
        c.staff().audit(&user, action.as_str(), &event_id)?;
        // Into the hub at once, so the phones receive it at their next sync.
        c.office().sync()?;
        Ok(())
    })
    .await?;
    Ok(see_other(&format!(
        "/console/events/{id}?done={}",
        action.as_str()
    )))
}

/// `GET /console/photos/{hash}`: a photo the office replica holds. Staff of some grids get only
/// photos a record of their grids references.
pub async fn photo(State(st): State<ConsoleState>, staff: Staff, Path(hash): Path<String>) -> Page {
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Fail(Error::BadRequest("无效的照片编号".into())));
    }
    let c = st.clone();
    let bytes = blocking(move || {
        if staff.grids().is_some() {
            let holders = c.office().store().docs_referencing_photo(&hash)?;
            let mine = holders.iter().any(|h| {
                h.scope
                    .strip_prefix("grid:")
                    .is_some_and(|g| staff.sees_grid(g))
            });
            if !mine {
                return Err(Error::Core(gridwalk_core::Error::NotFound {
                    kind: "photo",
                    id: String::new(),
                }));
            }
        }
        c.photo(&hash)?.ok_or_else(|| {
            Error::Core(gridwalk_core::Error::NotFound {
                kind: "photo",
                id: String::new(),
            })
        })
    })
    .await?;
    let resp: Response = (
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, max-age=86400"),
        ],
        bytes,
    )
        .into_response();
    Ok(resp)
}
