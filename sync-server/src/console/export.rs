//! Exports to .xlsx for reporting upward: visits, events and coverage of one month.
//!
//! The workbooks carry ids, places and counts; no ID numbers, phones or residents' names. Staff
//! of some grids export only those grids.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use gridwalk_core::Store;
use maud::html;
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::auth::Staff;
use super::layout::{self, page, time, time_opt};
use super::pages::{MonthQuery, compliance, dispute_resolution, month_range};
use super::{ConsoleState, Fail, Page, blocking, now_ms};
use crate::error::{Error, Result};

/// The exports: file stem, Chinese title.
pub const EXPORTS: &[(&str, &str)] = &[
    ("visits", "走访记录"),
    ("events", "事件办理"),
    ("coverage", "走访覆盖与考核"),
];

fn xerr(e: XlsxError) -> Error {
    Error::Internal(format!("xlsx: {e}"))
}

/// Writes a header row and text rows into a sheet named `name`.
fn sheet(wb: &mut Workbook, name: &str, header: &[&str], rows: &[Vec<Cell>]) -> Result<()> {
    let bold = Format::new().set_bold();
    let ws: &mut Worksheet = wb.add_worksheet();
    ws.set_name(name).map_err(xerr)?;
    for (c, h) in header.iter().enumerate() {
        let c = u16::try_from(c).map_err(|_| Error::Internal("too many columns".into()))?;
        ws.write_string_with_format(0, c, *h, &bold).map_err(xerr)?;
        ws.set_column_width(c, 16).map_err(xerr)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let r = u32::try_from(r + 1).map_err(|_| Error::Internal("too many rows".into()))?;
        for (c, cell) in row.iter().enumerate() {
            let c = u16::try_from(c).map_err(|_| Error::Internal("too many columns".into()))?;
            match cell {
                Cell::Text(s) => ws.write_string(r, c, s).map(|_| ()),
                Cell::Num(n) => ws.write_number(r, c, *n).map(|_| ()),
            }
            .map_err(xerr)?;
        }
    }
    ws.set_freeze_panes(1, 0).map_err(xerr)?;
    Ok(())
}

/// A cell value.
pub enum Cell {
    /// Text.
    Text(String),
    /// Number.
    Num(f64),
}

fn t(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

fn n(v: impl Into<f64>) -> Cell {
    Cell::Num(v.into())
}

/// Builds one export for the month `[from, to)` at `now`, of `grids` (every grid when `None`).
pub fn build(
    store: &Store,
    name: &str,
    from: i64,
    to: i64,
    now: i64,
    grids: Option<&[String]>,
) -> Result<Vec<u8>> {
    let mut wb = Workbook::new();
    let grid_names: HashMap<String, String> = store
        .places()?
        .into_iter()
        .filter(|p| p.kind == "grid")
        .map(|p| (p.id, p.name))
        .collect();
    let gname = |g: &str| grid_names.get(g).cloned().unwrap_or_else(|| g.to_string());
    match name {
        "visits" => {
            let rows: Vec<Vec<Cell>> = store
                .visits_between(from, to, grids)?
                .into_iter()
                .map(|v| {
                    vec![
                        t(time(v.started_ms)),
                        t(gname(&v.grid_id)),
                        t(v.address),
                        t(v.worker_id),
                        t(layout::outcome_label(v.outcome)),
                        n(v.need_count),
                        n(v.photo_count),
                        t(v.id),
                    ]
                })
                .collect();
            sheet(
                &mut wb,
                "走访记录",
                &[
                    "走访时间",
                    "网格",
                    "地址",
                    "网格员",
                    "结果",
                    "需求数",
                    "照片数",
                    "走访编号",
                ],
                &rows,
            )?;
        }
        "events" => {
            let cats: HashMap<String, String> = store
                .catalogue()?
                .into_iter()
                .map(|c| (c.code, c.name))
                .collect();
            let rows: Vec<Vec<Cell>> = store
                .office_events(Some(from), Some(to), grids)?
                .into_iter()
                .map(|e| {
                    let overdue = e.is_overdue(now);
                    vec![
                        t(e.id.clone()),
                        t(time(e.created_ms)),
                        t(gname(&e.grid_id)),
                        t(cats.get(&e.category).cloned().unwrap_or(e.category.clone())),
                        t(layout::source_label(e.source)),
                        t(layout::state_label(e.state)),
                        t(layout::level_label(e.level)),
                        t(time(e.response_due_ms)),
                        t(time_opt(e.responded_ms)),
                        t(time(e.handle_due_ms)),
                        t(time_opt(e.closed_ms)),
                        t(if overdue { "是" } else { "否" }),
                        e.rating.map_or(t(""), n),
                    ]
                })
                .collect();
            sheet(
                &mut wb,
                "事件办理",
                &[
                    "事件编号",
                    "登记时间",
                    "网格",
                    "类别",
                    "来源",
                    "状态",
                    "层级",
                    "响应时限",
                    "首次响应",
                    "办结时限",
                    "结案时间",
                    "是否超期",
                    "评分",
                ],
                &rows,
            )?;
        }
        "coverage" => {
            let rows: Vec<Vec<Cell>> = store
                .office_grid_counts(now, grids)?
                .into_iter()
                .map(|g| {
                    let rate = if g.households == 0 {
                        0.0
                    } else {
                        f64::from(g.visited_this_month) / f64::from(g.households)
                    };
                    vec![
                        t(gname(&g.grid_id)),
                        n(g.households),
                        n(g.visited_this_month),
                        n((rate * 1000.0).round() / 10.0),
                    ]
                })
                .collect();
            sheet(
                &mut wb,
                "网格覆盖",
                &["网格", "户数", "本月已走访户数", "覆盖率(%)"],
                &rows,
            )?;
            let rows: Vec<Vec<Cell>> = store
                .worker_coverage(from, to, grids)?
                .into_iter()
                .map(|w| vec![t(w.worker_id), n(w.visits), n(w.households)])
                .collect();
            sheet(
                &mut wb,
                "网格员走访",
                &["网格员", "走访次数", "走访户数"],
                &rows,
            )?;
            let events = store.office_events(Some(from), Some(to), grids)?;
            let (on_time, late, pending) = compliance(&events, now);
            let (disputes, resolved) = dispute_resolution(&events);
            let rows = vec![
                vec![t("响应达标"), n(on_time as f64)],
                vec![t("响应超时"), n(late as f64)],
                vec![t("待响应"), n(pending as f64)],
                vec![
                    t("响应时限达标率"),
                    t(layout::percent(on_time, on_time + late)),
                ],
                vec![t("矛盾纠纷"), n(disputes as f64)],
                vec![t("已化解"), n(resolved as f64)],
                vec![t("矛盾纠纷化解率"), t(layout::percent(resolved, disputes))],
            ];
            sheet(&mut wb, "考核指标", &["指标", "数值"], &rows)?;
        }
        _ => return Err(Error::BadRequest("没有这种报表".into())),
    }
    wb.save_to_buffer().map_err(xerr)
}

/// `GET /console/export`.
pub async fn index(staff: Staff, axum::extract::Query(q): Query<MonthQuery>) -> Page {
    let (_, _, label) = month_range(q.month.as_deref(), now_ms());
    let body = html! {
        p { "导出的报表不含身份证号、电话等个人敏感信息。" }
        @for (stem, title) in EXPORTS {
            form method="get" action=(format!("/console/export/{stem}.xlsx")) {
                fieldset {
                    legend { (title) }
                    label for=(format!("month-{stem}")) { "月份" }
                    input id=(format!("month-{stem}")) type="month" name="month" value=(label);
                    button type="submit" { "导出 " (title) " (.xlsx)" }
                }
            }
        }
    };
    Ok(page("报表导出", &staff, "/console/export", body))
}

/// `GET /console/export/{name}.xlsx`.
pub async fn download(
    State(st): State<ConsoleState>,
    staff: Staff,
    Path(file): Path<String>,
    Query(q): Query<MonthQuery>,
) -> Page {
    let stem = file
        .strip_suffix(".xlsx")
        .filter(|s| EXPORTS.iter().any(|(e, _)| e == s))
        .ok_or_else(|| Fail(Error::BadRequest("没有这种报表".into())))?
        .to_string();
    let now = now_ms();
    let (from, to, label) = month_range(q.month.as_deref(), now);
    let c = st.clone();
    let user = staff.username.clone();
    let s = stem.clone();
    let grids = staff.grids().map(<[String]>::to_vec);
    let bytes = blocking(move || {
        let b = build(c.office().store(), &s, from, to, now, grids.as_deref())?;
        c.staff().audit(&user, "export", &s)?;
        Ok(b)
    })
    .await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string(),
            ),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{stem}-{label}.xlsx\""),
            ),
        ],
        bytes,
    )
        .into_response())
}
