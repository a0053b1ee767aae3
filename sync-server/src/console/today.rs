//! "What arrived" (今日动态): what the office received from phones since the clerk last looked.
//!
//! Arrival is read from the hub's sequence, the one order in which every change reached the
//! server: each clerk has a "seen up to" mark on it (in `staff.db`), set by the page's
//! "全部标为已阅" button, and the page lists the phones' changes after the mark up to the
//! position the office replica has applied (so everything listed can be shown, and marking never
//! skips anything that was not on screen). The changes are resolved to records by the core
//! ([`gridwalk_core::Store::arrivals`]): visits and needs created, events created, older events
//! moved on. The office's own changes are left out; so is everything outside the clerk's grids.
//!
//! When things arrived comes from the log of office syncs (an office sync follows every phone's
//! push within a fraction of a second): each sync that received something records the hub
//! position it reached and the time. The log also turns "today" and "the last 7 days" into hub
//! positions, for the page's other ranges and for a clerk who has never marked anything yet. It
//! starts with the position the office replica held when the console first opened; what came
//! before has no known arrival time, so a range reaching back past the log's start begins there
//! and the page says so.
//!
//! Why an explicit button and not "since my last visit to the page": a reload, a second tab or a
//! glance at the page would otherwise make the day's arrivals vanish before anyone dealt with them.

use std::collections::{BTreeMap, HashMap};

use axum::Form;
use axum::extract::{Query, State};
use gridwalk_core::events::EventSource;
use gridwalk_core::office_queries::{Arrivals, OfficeEvent, ReceivedChange};
use maud::html;
use rusqlite::{OptionalExtension, params};
use serde::Deserialize;

use super::auth::{Staff, StaffDb};
use super::layout::{self, csrf, page, time};
use super::pages::day_start;
use super::{ConsoleState, Page, blocking, now_ms, see_other};
use crate::error::{Error, Result};
use crate::hub::{FeedKind, FeedMeta, FeedSink, Visit};

/// Most changes one page reads from the hub (a week of a busy community is well below it); past
/// it the page says so and "mark as seen" stops at the last change shown.
pub const MAX_LISTED_CHANGES: usize = 20_000;
/// Most change bytes one page holds at once (a change may be up to 4 MiB): past it the page is
/// cut the same way, so a few reloads cannot exhaust the server's memory.
pub const MAX_LISTED_BYTES: usize = 32 << 20;
/// Office sync log rows are kept this long.
const SYNC_LOG_KEEP_MS: i64 = 400 * 86_400_000;

/// A clerk's "seen up to" mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeenMark {
    /// Hub position seen.
    pub hub_seq: u64,
    /// When it was set (ms since the epoch).
    pub at_ms: i64,
}

/// An office sync that received something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfficeSync {
    /// Hub position the office replica had applied after it.
    pub hub_seq: u64,
    /// When (ms since the epoch).
    pub at_ms: i64,
    /// Changes it received.
    pub changes: u32,
}

fn seq(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn sql_seq(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl StaffDb {
    /// The clerk's mark, if they ever set one.
    pub fn seen_mark(&self, username: &str) -> Result<Option<SeenMark>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT hub_seq, at_ms FROM seen_marks WHERE username = ?1",
                [username],
                |r| {
                    Ok(SeenMark {
                        hub_seq: seq(r.get(0)?),
                        at_ms: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    /// Moves the clerk's mark to `hub_seq` at `at_ms`; a mark never moves back (an old page
    /// submitted late changes nothing).
    pub fn set_seen_mark(&self, username: &str, hub_seq: u64, at_ms: i64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO seen_marks (username, hub_seq, at_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (username) DO UPDATE SET hub_seq = excluded.hub_seq, at_ms = excluded.at_ms
             WHERE excluded.hub_seq > seen_marks.hub_seq",
            params![username, sql_seq(hub_seq), at_ms],
        )?;
        Ok(())
    }

    /// Records an office sync that received `changes` and reached `hub_seq` at `at_ms`.
    pub fn log_office_sync(&self, hub_seq: u64, at_ms: i64, changes: u32) -> Result<()> {
        let conn = self.conn();
        conn.execute(
            "INSERT INTO office_syncs (hub_seq, at_ms, changes) VALUES (?1, ?2, ?3)
             ON CONFLICT (hub_seq) DO NOTHING",
            params![sql_seq(hub_seq), at_ms, changes],
        )?;
        conn.execute(
            "DELETE FROM office_syncs WHERE at_ms < ?1",
            [at_ms - SYNC_LOG_KEEP_MS],
        )?;
        Ok(())
    }

    /// Starts the log at the office replica's position `hub_seq` at `at_ms`, unless it has
    /// started already (positions up to it arrived at unknown times before).
    pub fn start_sync_log(&self, hub_seq: u64, at_ms: i64) -> Result<()> {
        self.conn().execute(
            "INSERT INTO office_syncs (hub_seq, at_ms, changes)
             SELECT ?1, ?2, 0 WHERE NOT EXISTS (SELECT 1 FROM office_syncs)",
            params![sql_seq(hub_seq), at_ms],
        )?;
        Ok(())
    }

    /// The hub position the office had reached before `at_ms`, and the time a range starting
    /// there really starts at: `at_ms`, or the log's start when the log starts later.
    pub fn hub_seq_before(&self, at_ms: i64) -> Result<(u64, i64)> {
        let conn = self.conn();
        let before: Option<i64> = conn.query_row(
            "SELECT max(hub_seq) FROM office_syncs WHERE at_ms < ?1",
            [at_ms],
            |r| r.get(0),
        )?;
        if let Some(s) = before {
            return Ok((seq(s), at_ms));
        }
        let start: Option<(i64, i64)> = conn
            .query_row(
                "SELECT hub_seq, at_ms FROM office_syncs ORDER BY hub_seq LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        Ok(match start {
            Some((s, t)) if t > at_ms => (seq(s), t),
            _ => (0, at_ms),
        })
    }

    /// The logged office syncs that reached a position in `(after, upto]`, in order. A phone's
    /// change at position p arrived in the first of them that reached p or beyond.
    pub fn office_syncs(&self, after: u64, upto: u64) -> Result<Vec<OfficeSync>> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT hub_seq, at_ms, changes FROM office_syncs
             WHERE hub_seq > ?1 AND hub_seq <= ?2 ORDER BY hub_seq",
        )?;
        let rows = stmt.query_map(params![sql_seq(after), sql_seq(upto)], |r| {
            Ok(OfficeSync {
                hub_seq: seq(r.get(0)?),
                at_ms: r.get(1)?,
                changes: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// One change read from the hub for the page.
struct Taken {
    seq: u64,
    doc_id: String,
    kind: String,
    actor: String,
    bytes: Vec<u8>,
}

/// Reads the phones' household and event changes of the staff member's grids in
/// `(after, upto]` from the hub's sequence (payloads only of what it keeps).
struct Walk<'a> {
    office_actor: &'a str,
    grids: Option<&'a [String]>,
    upto: u64,
    taken: Vec<Taken>,
    bytes: usize,
    truncated: bool,
}

impl Walk<'_> {
    fn wants(&self, m: &FeedMeta) -> bool {
        m.what == FeedKind::Change
            && m.actor != self.office_actor
            && matches!(m.doc.kind.as_str(), "household" | "event")
            && self.grids.is_none_or(|grids| {
                m.doc
                    .scope
                    .strip_prefix("grid:")
                    .is_some_and(|g| grids.iter().any(|x| x == g))
            })
    }
}

impl FeedSink for Walk<'_> {
    fn visit(&mut self, m: &FeedMeta) -> Visit {
        if m.seq > self.upto {
            return Visit::Stop;
        }
        if !self.wants(m) {
            return Visit::Skip;
        }
        if self.taken.len() >= MAX_LISTED_CHANGES
            || (!self.taken.is_empty() && self.bytes + m.len > MAX_LISTED_BYTES)
        {
            self.truncated = true;
            return Visit::Stop;
        }
        self.bytes += m.len;
        Visit::Take
    }

    fn take(&mut self, m: FeedMeta, payload: Vec<u8>) {
        self.taken.push(Taken {
            seq: m.seq,
            doc_id: m.doc.id,
            kind: m.doc.kind,
            actor: m.actor,
            bytes: payload,
        });
    }
}

/// Where the page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Since {
    /// The clerk's mark (today's midnight before the first mark).
    Seen,
    /// Local midnight.
    Today,
    /// Midnight six days ago.
    Week,
}

/// The page's range.
#[derive(Debug, Default, Deserialize)]
pub struct TodayQuery {
    /// `seen` (default), `today` or `week`.
    #[serde(default)]
    since: Option<String>,
}

/// Arrivals of one person in one office sync.
struct SyncRow {
    at_ms: Option<i64>,
    person: String,
    role: String,
    changes: usize,
}

/// What the page shows.
struct Window {
    since: Since,
    /// Start, in words, for the "自 … 以来" line.
    label: String,
    after: u64,
    upto: u64,
    /// Where "mark as seen" moves the mark.
    mark_to: u64,
    /// Phones' changes listed.
    listed: usize,
    truncated: bool,
    rows: Vec<SyncRow>,
    arrivals: Arrivals,
    /// The newest snap reports (documents, for their photos) …
    snaps: Vec<gridwalk_core::events::Event>,
    /// … and which of their first photos the office holds.
    photos: HashMap<String, bool>,
}

/// Photos shown per snap report on the page.
const PHOTOS_PER_SNAP: usize = 2;

fn load(c: &ConsoleState, staff: &Staff, since: Since, now: i64) -> Result<Window> {
    let store = c.office().store();
    let db = c.staff();
    let mark = db.seen_mark(&staff.username)?;
    // A range from a time: its hub position, and its label (the log's start when later).
    let from_time = |start: i64, what: &str| -> Result<(u64, String)> {
        let (after, real) = db.hub_seq_before(start)?;
        Ok(if real > start {
            (after, format!("{}(办公台开始记录同步时间)", time(real)))
        } else {
            (after, format!("{}{what}", time(start)))
        })
    };
    let midnight = day_start(now, 0);
    let (after, label) = match (since, mark) {
        (Since::Seen, Some(m)) => (m.hub_seq, format!("{}(您上次标为已阅)", time(m.at_ms))),
        (Since::Seen, None) => from_time(midnight, "(今天 0 点;您还没有标为已阅过)")?,
        (Since::Today, _) => from_time(midnight, "(今天 0 点)")?,
        (Since::Week, _) => from_time(day_start(now, 6), "")?,
    };
    let upto = store.sync_cursor()?.max(after);
    let office_actor = store.actor_id();
    let mut walk = Walk {
        office_actor: &office_actor,
        grids: staff.grids(),
        upto,
        taken: Vec::new(),
        bytes: 0,
        truncated: false,
    };
    if upto > after {
        c.hub().feed(after, &mut walk)?;
    }
    let mark_to = if walk.truncated {
        walk.taken.last().map_or(after, |t| t.seq)
    } else {
        upto
    };
    let changes: Vec<ReceivedChange<'_>> = walk
        .taken
        .iter()
        .map(|t| ReceivedChange {
            doc_id: &t.doc_id,
            kind: &t.kind,
            bytes: &t.bytes,
        })
        .collect();
    let arrivals = store.arrivals(&changes, staff.grids())?;
    // Snap reports with their photos: load the documents of the newest ones only.
    let snaps = arrivals
        .new_events
        .iter()
        .rev()
        .filter(|e| e.source == EventSource::Snap)
        .take(100)
        .map(|e| store.event(&e.id).map(|v| v.event))
        .collect::<gridwalk_core::Result<Vec<_>>>()?;
    let photos = snaps
        .iter()
        .flat_map(|e| e.photos.iter().take(PHOTOS_PER_SNAP))
        .map(|h| (h.clone(), matches!(c.has_photo(h), Ok(true))))
        .collect();
    // Who synced when: each change goes to the first logged office sync that reached it.
    let syncs = db.office_syncs(after, upto)?;
    let people: HashMap<String, (String, String)> = c
        .hub()
        .devices()?
        .into_iter()
        .map(|d| (d.actor, (d.person_id, d.role.as_str().to_string())))
        .collect();
    let mut groups: BTreeMap<(u64, String), usize> = BTreeMap::new();
    for t in &walk.taken {
        let at = syncs.partition_point(|s| s.hub_seq < t.seq);
        let key = syncs.get(at).map_or(u64::MAX, |s| s.hub_seq);
        *groups.entry((key, t.actor.clone())).or_default() += 1;
    }
    let rows = groups
        .into_iter()
        .map(|((key, actor), changes)| {
            let (person, role) = people
                .get(&actor)
                .cloned()
                .unwrap_or_else(|| ("未知设备".into(), String::new()));
            SyncRow {
                at_ms: syncs.iter().find(|s| s.hub_seq == key).map(|s| s.at_ms),
                person,
                role,
                changes,
            }
        })
        .collect();
    Ok(Window {
        since,
        label,
        after,
        upto,
        mark_to,
        listed: walk.taken.len(),
        truncated: walk.truncated,
        rows,
        arrivals,
        snaps,
        photos,
    })
}

/// `GET /console/today`: what the office received from phones since the clerk's mark.
pub async fn today(
    State(st): State<ConsoleState>,
    staff: Staff,
    Query(q): Query<TodayQuery>,
) -> Page {
    let since = match q.since.as_deref() {
        Some("today") => Since::Today,
        Some("week") => Since::Week,
        _ => Since::Seen,
    };
    let now = now_ms();
    let c = st.clone();
    let who = staff.clone();
    let w = blocking(move || load(&c, &who, since, now)).await?;
    let a = &w.arrivals;
    let disputes: Vec<&OfficeEvent> = a
        .new_events
        .iter()
        .filter(|e| e.source == EventSource::Dispute)
        .collect();
    let snap_count = a
        .new_events
        .iter()
        .filter(|e| e.source == EventSource::Snap)
        .count();
    let no_grids = staff.grids().is_some_and(<[String]>::is_empty);
    let body = html! {
        @if no_grids {
            p.error role="alert" { "您的账号尚未设置负责的网格,因此看不到任何内容。请联系社区办公室设置。" }
        }
        form method="get" action="/console/today" {
            label for="since" { "查看范围" }
            select #since name="since" {
                option value="seen" selected[w.since == Since::Seen] { "上次标为已阅以来" }
                option value="today" selected[w.since == Since::Today] { "今天 0 点以来" }
                option value="week" selected[w.since == Since::Week] { "近 7 天" }
            }
            button type="submit" { "查看" }
        }
        p #since-line .muted data-after=(w.after) data-upto=(w.upto) {
            "自 " (w.label) " 以来,办公室从手机同步收到的内容"
            @if staff.grids().is_some() { "(仅您负责的网格)" }
            "。"
        }
        @if w.truncated {
            p.notice role="status" {
                "内容较多,只列出了前 " (MAX_LISTED_CHANGES) " 项变更;标为已阅后可继续查看其余内容。"
            }
        }
        div.stats {
            div.stat { b { (a.visits.len()) } "次走访" }
            div.stat { b { (a.needs.len()) } "项困难需求" }
            div.stat { b { (disputes.len()) } "起矛盾纠纷" }
            div.stat { b { (snap_count) } "条随手拍" }
            div.stat { b { (a.new_events.len()) } "件新事件" }
            div.stat { b { (a.updated_events.len()) } "件事件有进展" }
        }
        // Only when something is listed: a button over "nothing new" would only confuse.
        @if w.listed > 0 && w.mark_to > w.after {
            form method="post" action="/console/today/seen" {
                (csrf(&staff))
                input type="hidden" name="upto" value=(w.mark_to);
                button #mark-seen type="submit" { "全部标为已阅" }
                " "
                span.muted { "下次打开本页将从此处开始列出新到的内容。" }
            }
        }
        table #syncs {
            caption { "同步记录" }
            thead { tr { th scope="col" { "办公室收到时间" } th scope="col" { "人员" } th scope="col" { "角色" } th scope="col" { "变更数" } } }
            tbody {
                @if w.rows.is_empty() { tr { td colspan="4" { "没有新同步的内容" } } }
                @for r in &w.rows {
                    tr {
                        td { @if let Some(at) = r.at_ms { (time(at)) } @else { "时间不详" } }
                        td { (r.person) }
                        td { (layout::role_label(&r.role)) }
                        td { (r.changes) }
                    }
                }
            }
        }
        h2 { "随手拍" }
        @if snap_count > w.snaps.len() { p.muted { "显示最新的 " (w.snaps.len()) " 条。" } }
        table {
            thead { tr { th scope="col" { "上报时间" } th scope="col" { "网格" } th scope="col" { "描述" }
                th scope="col" { "照片" } th scope="col" { "状态" } } }
            tbody {
                @if w.snaps.is_empty() { tr { td colspan="5" { "暂无" } } }
                @for e in &w.snaps {
                    tr {
                        td { (time(e.created_ms)) }
                        td { (e.grid_id) }
                        td { a href=(format!("/console/events/{}", e.id)) { (e.description) } }
                        td {
                            @for h in e.photos.iter().take(PHOTOS_PER_SNAP) {
                                @if w.photos.get(h).copied().unwrap_or(false) {
                                    img.thumb src=(format!("/console/photos/{h}")) alt="随手拍照片";
                                } @else {
                                    span.muted { "照片尚未同步到办公室 " }
                                }
                            }
                            (e.photos.len()) " 张"
                        }
                        td { (layout::state_label(e.state)) }
                    }
                }
            }
        }
        h2 { "矛盾纠纷" }
        table {
            thead { tr { th scope="col" { "登记时间" } th scope="col" { "网格" } th scope="col" { "状态" } } }
            tbody {
                @if disputes.is_empty() { tr { td colspan="3" { "暂无" } } }
                @for e in &disputes {
                    tr {
                        td { a href=(format!("/console/events/{}", e.id)) { (time(e.created_ms)) } }
                        td { (e.grid_id) }
                        td { (layout::state_label(e.state)) }
                    }
                }
            }
        }
        h2 { "事件进展" }
        table {
            thead { tr { th scope="col" { "登记时间" } th scope="col" { "网格" } th scope="col" { "来源" } th scope="col" { "当前状态" } } }
            tbody {
                @if a.updated_events.is_empty() { tr { td colspan="4" { "暂无" } } }
                @for e in &a.updated_events {
                    tr {
                        td { a href=(format!("/console/events/{}", e.id)) { (time(e.created_ms)) } }
                        td { (e.grid_id) }
                        td { (layout::source_label(e.source)) }
                        td { (layout::state_label(e.state)) }
                    }
                }
            }
        }
        h2 { "困难需求" }
        table {
            thead { tr { th scope="col" { "提出时间" } th scope="col" { "地址" } th scope="col" { "类别" }
                th scope="col" { "内容" } th scope="col" { "期限" } th scope="col" { "状态" } } }
            tbody {
                @if a.needs.is_empty() { tr { td colspan="6" { "暂无" } } }
                @for n in &a.needs {
                    tr {
                        td { (time(n.raised_ms)) }
                        td { a href=(format!("/console/households/{}", n.household_id)) { (n.address) } }
                        td { (n.category) }
                        td { (n.description) }
                        td { (time(n.due_ms)) }
                        td { @if n.status == "open" { "待跟进" } @else { "已办结" } }
                    }
                }
            }
        }
        h2 { "走访" }
        table {
            thead { tr { th scope="col" { "走访时间" } th scope="col" { "网格" } th scope="col" { "地址" }
                th scope="col" { "网格员" } th scope="col" { "结果" } th scope="col" { "需求" } th scope="col" { "照片" } } }
            tbody {
                @if a.visits.is_empty() { tr { td colspan="7" { "暂无" } } }
                @for v in a.visits.iter().rev().take(500) {
                    tr {
                        td { (time(v.started_ms)) }
                        td { (v.grid_id) }
                        td { a href=(format!("/console/households/{}", v.household_id)) { (v.address) } }
                        td { (v.worker_id) }
                        td { (layout::outcome_label(v.outcome)) }
                        td { (v.need_count) }
                        td { (v.photo_count) }
                    }
                }
            }
        }
    };
    Ok(page("今日动态", &staff, "/console/today", body))
}

/// The "mark as seen" form.
#[derive(Debug, Deserialize)]
pub struct SeenForm {
    csrf: String,
    /// The hub position the page showed up to.
    upto: u64,
}

/// `POST /console/today/seen`: moves the clerk's mark to what the page showed.
pub async fn mark_seen(
    State(st): State<ConsoleState>,
    staff: Staff,
    Form(f): Form<SeenForm>,
) -> Page {
    staff.check_csrf(&f.csrf)?;
    let c = st.clone();
    let user = staff.username.clone();
    blocking(move || {
        // Never past what the office replica holds: nothing unseen may be skipped.
        if f.upto > c.office().store().sync_cursor()? {
            return Err(Error::BadRequest("页面已过期,请刷新后再标为已阅".into()));
        }
        c.staff().set_seen_mark(&user, f.upto, now_ms())?;
        c.staff().audit(&user, "today-seen", &f.upto.to_string())
    })
    .await?;
    Ok(see_other("/console/today"))
}
