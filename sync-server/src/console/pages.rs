//! Household lookup (masked, with purpose-logged reveal) and coverage, each limited to the staff
//! member's grids; the day and month ranges the pages share.

use axum::Form;
use axum::extract::{Path, Query, State};
use chrono::{Datelike, TimeZone};
use gridwalk_core::events::{EventSource, EventState};
use gridwalk_core::office_queries::OfficeEvent;
use gridwalk_core::store::{local_date, shanghai};
use maud::html;
use serde::Deserialize;

use super::auth::Staff;
use super::layout::{self, csrf, page, percent, time, time_opt};
use super::{ConsoleState, Fail, Page, blocking, now_ms};
use crate::error::Error;

/// Start of the local (Asia/Shanghai) day of `ms`, `back_days` days earlier.
pub fn day_start(ms: i64, back_days: i64) -> i64 {
    let d = local_date(ms) - chrono::Duration::days(back_days);
    shanghai()
        .with_ymd_and_hms(d.year(), d.month(), d.day(), 0, 0, 0)
        .single()
        .map_or(0, |t| t.timestamp_millis())
}

/// `[start, end)` of a local month, `YYYY-MM`; the month of `now_ms` when `month` is absent or
/// malformed.
pub fn month_range(month: Option<&str>, now_ms: i64) -> (i64, i64, String) {
    let today = local_date(now_ms);
    let (y, m) = month
        .and_then(|s| {
            let (y, m) = s.split_once('-')?;
            let (y, m): (i32, u32) = (y.parse().ok()?, m.parse().ok()?);
            ((2000..=2100).contains(&y) && (1..=12).contains(&m)).then_some((y, m))
        })
        .unwrap_or((today.year(), today.month()));
    let start = |y: i32, m: u32| {
        shanghai()
            .with_ymd_and_hms(y, m, 1, 0, 0, 0)
            .single()
            .map_or(0, |t| t.timestamp_millis())
    };
    let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
    (start(y, m), start(ny, nm), format!("{y:04}-{m:02}"))
}

/// Household search.
#[derive(Debug, Default, Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

/// `GET /console/households`: by address, door or head's name; residents by name or phone; in
/// the staff member's grids only.
pub async fn households(
    State(st): State<ConsoleState>,
    staff: Staff,
    Query(q): Query<SearchQuery>,
) -> Page {
    let query: String = q.q.trim().chars().take(64).collect();
    let c = st.clone();
    let qq = query.clone();
    let grids = staff.grids().map(<[String]>::to_vec);
    let (hs, residents) = blocking(move || {
        let s = c.office().store();
        let hs = s.find_households(&qq, grids.as_deref(), 100)?;
        let rs = if qq.is_empty() {
            Vec::new()
        } else {
            s.office_search_residents(&qq, grids.as_deref())?
        };
        Ok((hs, rs))
    })
    .await?;
    let body = html! {
        form method="get" action="/console/households" role="search" {
            label for="q" { "地址、门牌号或姓名" }
            input #q type="search" name="q" value=(query) maxlength="64";
            button type="submit" { "查询" }
        }
        @if !residents.is_empty() {
            table {
                caption { "居民" }
                thead { tr { th scope="col" { "姓名" } th scope="col" { "电话" } th scope="col" { "地址" } } }
                tbody {
                    @for r in &residents {
                        tr {
                            td { a href=(format!("/console/households/{}", r.household_id)) { (layout::mask_name(&r.name)) } }
                            td { (r.phone_masked.as_deref().unwrap_or("—")) }
                            td { (r.address) }
                        }
                    }
                }
            }
        }
        table {
            caption { "住户(最多显示 100 户)" }
            thead { tr { th scope="col" { "地址" } th scope="col" { "网格" } th scope="col" { "户主" }
                th scope="col" { "人数" } th scope="col" { "关爱标签" } th scope="col" { "最近走访" } } }
            tbody {
                @if hs.is_empty() { tr { td colspan="6" { "没有找到住户" } } }
                @for h in &hs {
                    tr {
                        td { a href=(format!("/console/households/{}", h.id)) { (h.address) } }
                        td { (h.grid_id) }
                        td { (h.head_name.as_deref().map(layout::mask_name).unwrap_or_default()) }
                        td { (h.resident_count) }
                        td { (h.care_tags.iter().map(|t| layout::care_tag_label(*t)).collect::<Vec<_>>().join("、")) }
                        td { (time_opt(h.last_visit_ms)) }
                    }
                }
            }
        }
    };
    Ok(page("住户查询", &staff, "/console/households", body))
}

/// Fields that are shown masked and can be revealed.
const REVEALABLE: &[(&str, &str)] = &[("id_number", "身份证号"), ("phone", "联系电话")];
/// Purposes offered for a reveal.
const PURPOSES: &[&str] = &[
    "入户核实",
    "政策待遇办理",
    "紧急联系",
    "矛盾纠纷调处",
    "其他",
];

fn household_markup(
    staff: &Staff,
    h: &gridwalk_core::Household,
    visits: &[gridwalk_core::Visit],
    revealed: Option<(&str, &str, &str)>,
) -> maud::Markup {
    html! {
        @if let Some((rid, field, value)) = revealed {
            div.notice role="status" {
                "已查看 " (REVEALABLE.iter().find(|(f, _)| *f == field).map_or(field, |(_, l)| *l))
                "(居民 " (h.residents.iter().find(|r| r.id == rid).map(|r| r.name.as_str()).unwrap_or("")) "):"
                strong #revealed-value { (value) }
                " —— 本次查看已记入访问日志。"
            }
        }
        p { a href="/console/households" { "← 返回住户查询" } }
        table {
            caption { "房屋" }
            tbody {
                tr { th scope="row" { "地址" } td { (h.address) } }
                tr { th scope="row" { "网格 / 楼栋 / 单元 / 门牌" } td { (h.grid_id) " / " (h.building_id) " / " (h.unit) " / " (h.door) } }
                tr { th scope="row" { "面积" } td { (h.area_m2.map(|a| format!("{a} ㎡")).unwrap_or_else(|| "—".into())) } }
                tr { th scope="row" { "居住状态" } td { (layout::occupancy_label(h.occupancy)) } }
                tr { th scope="row" { "关爱标签" } td { (h.care_tags.iter().map(|t| layout::care_tag_label(*t)).collect::<Vec<_>>().join("、")) } }
            }
        }
        table {
            caption { "居民(个人信息已脱敏;查看完整信息需说明用途并记录)" }
            thead { tr { th scope="col" { "姓名" } th scope="col" { "与户主关系" } th scope="col" { "出生年份" }
                th scope="col" { "身份证号" } th scope="col" { "电话" } th scope="col" { "状态" } th scope="col" { "查看完整信息" } } }
            tbody {
                @if h.residents.is_empty() { tr { td colspan="7" { "暂无居民信息" } } }
                @for r in &h.residents {
                    tr {
                        td { (r.name) }
                        td { (r.relation) }
                        td { (r.birth_date.as_deref().map(|d| d.chars().take(4).collect::<String>()).unwrap_or_default()) }
                        td { (r.id_number_masked.as_deref().unwrap_or("—")) }
                        td { (r.phone_masked.as_deref().unwrap_or("—")) }
                        td { (match r.status {
                            gridwalk_core::ResidentStatus::Present => "在住",
                            gridwalk_core::ResidentStatus::MovedOut => "已迁出",
                            gridwalk_core::ResidentStatus::Deceased => "已故",
                            gridwalk_core::ResidentStatus::Deleted => "信息已删除",
                        }) }
                        td {
                            @if r.status != gridwalk_core::ResidentStatus::Deleted
                                && (r.id_number_masked.is_some() || r.phone_masked.is_some()) {
                                form method="post" action=(format!("/console/households/{}/reveal", h.id)) {
                                    (csrf(staff))
                                    input type="hidden" name="resident_id" value=(r.id);
                                    label for=(format!("field-{}", r.id)) { "项目" }
                                    select id=(format!("field-{}", r.id)) name="field" {
                                        @for (f, l) in REVEALABLE { option value=(f) { (l) } }
                                    }
                                    label for=(format!("purpose-{}", r.id)) { "用途" }
                                    select id=(format!("purpose-{}", r.id)) name="purpose" required {
                                        @for p in PURPOSES { option value=(p) { (p) } }
                                    }
                                    label for=(format!("detail-{}", r.id)) { "说明" }
                                    input id=(format!("detail-{}", r.id)) type="text" name="detail" maxlength="200";
                                    button type="submit" { "查看" }
                                }
                            }
                        }
                    }
                }
            }
        }
        table {
            caption { "走访记录" }
            thead { tr { th scope="col" { "时间" } th scope="col" { "网格员" } th scope="col" { "结果" }
                th scope="col" { "需求" } th scope="col" { "备注" } } }
            tbody {
                @if visits.is_empty() { tr { td colspan="5" { "尚未走访" } } }
                @for v in visits {
                    tr {
                        td { (time(v.started_ms)) }
                        td { (v.worker_id) }
                        td { (layout::outcome_label(v.outcome)) }
                        td { @for f in &v.followups { (f.category) ":" (f.description) br; } }
                        td { (v.notes) }
                    }
                }
            }
        }
    }
}

/// `GET /console/households/{id}`.
pub async fn household(
    State(st): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
) -> Page {
    crate::policy::check_id("household", &id).map_err(Fail)?;
    let c = st.clone();
    let h = blocking(move || Ok(c.office().store().household(&id)?)).await?;
    staff.check_grid(&h.grid_id, "household")?;
    let c = st.clone();
    let hid = h.id.clone();
    let visits = blocking(move || Ok(c.office().store().visit_history(&hid)?)).await?;
    let body = household_markup(&staff, &h, &visits, None);
    Ok(page(
        &format!("住户:{}", h.address),
        &staff,
        "/console/households",
        body,
    ))
}

/// A reveal request.
#[derive(Debug, Deserialize)]
pub struct RevealForm {
    csrf: String,
    resident_id: String,
    field: String,
    purpose: String,
    #[serde(default)]
    detail: String,
}

/// `POST /console/households/{id}/reveal`: shows one full value once, for a stated purpose,
/// and leaves an entry in the office's hash-chained access log (which syncs to the hub).
pub async fn reveal(
    State(st): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(f): Form<RevealForm>,
) -> Page {
    staff.check_csrf(&f.csrf)?;
    crate::policy::check_id("household", &id).map_err(Fail)?;
    crate::policy::check_id("resident", &f.resident_id).map_err(Fail)?;
    if !REVEALABLE.iter().any(|(k, _)| *k == f.field) {
        return Err(Fail(Error::BadRequest("不能查看该项目".into())));
    }
    if !PURPOSES.contains(&f.purpose.as_str()) {
        return Err(Fail(Error::BadRequest("请选择查看用途".into())));
    }
    let detail: String = f.detail.trim().chars().take(200).collect();
    if f.purpose == "其他" && detail.chars().count() < 2 {
        return Err(Fail(Error::BadRequest("用途为“其他”时请填写说明".into())));
    }
    let purpose = if detail.is_empty() {
        format!("{}(操作员 {})", f.purpose, staff.username)
    } else {
        format!("{}:{}(操作员 {})", f.purpose, detail, staff.username)
    };
    let c = st.clone();
    let user = staff.username.clone();
    let (hid, rid, field) = (id.clone(), f.resident_id.clone(), f.field.clone());
    let who = staff.clone();
    let (h, visits, value) = blocking(move || {
        let s = c.office().store();
        let h = s.household(&hid)?;
        // Another grid's household: refused before anything is revealed or logged.
        who.check_grid(&h.grid_id, "household").map_err(|f| f.0)?;
        if !h.residents.iter().any(|r| r.id == rid) {
            return Err(Error::BadRequest("该居民不属于此户".into()));
        }
        let value = s.reveal(&rid, &field, &purpose)?;
        c.staff().audit(&user, &format!("reveal:{field}"), &rid)?;
        // The access-log entry travels to the hub with the next office sync.
        c.office().sync()?;
        Ok((h, s.visit_history(&hid)?, value))
    })
    .await?;
    let body = household_markup(
        &staff,
        &h,
        &visits,
        Some((&f.resident_id, &f.field, &value)),
    );
    Ok(page(
        &format!("住户:{}", h.address),
        &staff,
        "/console/households",
        body,
    ))
}

/// Response-deadline compliance of events: (on time, late, still within the deadline).
pub fn compliance(events: &[OfficeEvent], now_ms: i64) -> (u64, u64, u64) {
    let (mut on_time, mut late, mut pending) = (0, 0, 0);
    for e in events {
        match e.responded_ms {
            Some(r) if r <= e.response_due_ms => on_time += 1,
            Some(_) => late += 1,
            None if now_ms > e.response_due_ms => late += 1,
            None => pending += 1,
        }
    }
    (on_time, late, pending)
}

/// Disputes and how many of them are closed.
pub fn dispute_resolution(events: &[OfficeEvent]) -> (u64, u64) {
    let disputes = events.iter().filter(|e| e.source == EventSource::Dispute);
    let (mut total, mut closed) = (0, 0);
    for e in disputes {
        total += 1;
        if e.state == EventState::Closed {
            closed += 1;
        }
    }
    (total, closed)
}

/// Coverage filter.
#[derive(Debug, Default, Deserialize)]
pub struct MonthQuery {
    /// `YYYY-MM`.
    #[serde(default)]
    pub month: Option<String>,
}

/// `GET /console/coverage`.
pub async fn coverage(
    State(st): State<ConsoleState>,
    staff: Staff,
    Query(q): Query<MonthQuery>,
) -> Page {
    let now = now_ms();
    let (from, to, label) = month_range(q.month.as_deref(), now);
    let c = st.clone();
    let who = staff.clone();
    let (grids, names, workers, due, events) = blocking(move || {
        let s = c.office().store();
        let mine = who.grids();
        let grids = s.office_grid_counts(now, mine)?;
        let names: std::collections::HashMap<String, String> = s
            .places()?
            .into_iter()
            .filter(|p| p.kind == "grid")
            .map(|p| (p.id, p.name))
            .collect();
        let workers = s.worker_coverage(from, to, mine)?;
        let mut due = s.office_due_for_visit(now, mine)?;
        due.retain(|d| !d.household.care_tags.is_empty());
        let events = s.office_events(Some(from), Some(to), mine)?;
        Ok((grids, names, workers, due, events))
    })
    .await?;
    let (on_time, late, pending) = compliance(&events, now);
    let (disputes, resolved) = dispute_resolution(&events);
    let body = html! {
        form method="get" action="/console/coverage" {
            label for="month" { "月份" }
            input #month type="month" name="month" value=(label);
            button type="submit" { "查看" }
        }
        div.stats {
            div.stat { b { (percent(on_time, on_time + late)) } "响应时限达标率(" (on_time) " 达标 / " (late) " 超时 / " (pending) " 待响应)" }
            div.stat { b { (percent(resolved, disputes)) } "矛盾纠纷化解率(" (resolved) " / " (disputes) ")" }
            div.stat { b { (due.len()) } "户关爱对象超期未走访" }
        }
        table {
            caption { "本月各网格走访覆盖(按当前月份统计)" }
            thead { tr { th scope="col" { "网格" } th scope="col" { "户数" } th scope="col" { "本月已走访" } th scope="col" { "覆盖率" } } }
            tbody {
                @for g in &grids {
                    tr {
                        td { (names.get(&g.grid_id).map_or(g.grid_id.as_str(), String::as_str)) }
                        td { (g.households) }
                        td { (g.visited_this_month) }
                        td { (percent(u64::from(g.visited_this_month), u64::from(g.households))) }
                    }
                }
            }
        }
        table {
            caption { (label) " 各网格员走访" }
            thead { tr { th scope="col" { "网格员" } th scope="col" { "走访次数" } th scope="col" { "走访户数" } } }
            tbody {
                @if workers.is_empty() { tr { td colspan="3" { "暂无走访" } } }
                @for w in &workers { tr { td { (w.worker_id) } td { (w.visits) } td { (w.households) } } }
            }
        }
        table {
            caption { "关爱对象超期未走访(最多显示 200 户)" }
            thead { tr { th scope="col" { "地址" } th scope="col" { "网格" } th scope="col" { "关爱标签" }
                th scope="col" { "走访周期" } th scope="col" { "上次走访" } } }
            tbody {
                @if due.is_empty() { tr { td colspan="5" { "没有超期户" } } }
                @for d in due.iter().take(200) {
                    tr.overdue {
                        td { a href=(format!("/console/households/{}", d.household.id)) { (d.household.address) } }
                        td { (d.household.grid_id) }
                        td { (d.household.care_tags.iter().map(|t| layout::care_tag_label(*t)).collect::<Vec<_>>().join("、")) }
                        td { (d.interval_days) " 天" }
                        td { (time_opt(d.household.last_visit_ms)) }
                    }
                }
            }
        }
    };
    Ok(page("走访统计", &staff, "/console/coverage", body))
}
