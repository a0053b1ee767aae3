//! The page shell, Chinese labels for the core's codes, and time formatting.
//!
//! Every page goes through [`page`]: `lang="zh-CN"`, a skip link, one `<main>`, the navigation
//! with the current page marked, and the logout form carrying the CSRF token. `maud` escapes
//! every interpolated value, so hostile strings in records (a description with `<script>`)
//! render as text.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::TimeZone;
use gridwalk_core::events::{Action, EventSource, EventState, Level};
use gridwalk_core::store::shanghai;
use gridwalk_core::{CareTag, Occupancy, VisitOutcome};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::auth::{Staff, StaffRole};

/// The navigation: path, label, office only.
const NAV: &[(&str, &str, bool)] = &[
    ("/console/today", "今日动态", false),
    ("/console/board", "事件看板", false),
    ("/console/households", "住户查询", false),
    ("/console/coverage", "走访统计", false),
    ("/console/devices", "设备管理", true),
    ("/console/roster", "花名册导入", true),
    ("/console/export", "报表导出", false),
];

/// A whole page for a logged-in staff member; `current` is the navigation path to mark.
pub fn page(title: &str, staff: &Staff, current: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="zh-CN" {
            (head(title))
            body {
                a.skip href="#main" { "跳到主要内容" }
                header.top {
                    span.brand { "网格通 · 社区办公台" }
                    nav aria-label="主导航" {
                        ul {
                            @for (path, label, office_only) in NAV {
                                @if !*office_only || staff.role == StaffRole::Office {
                                    li {
                                        @if *path == current {
                                            a href=(path) aria-current="page" { (label) }
                                        } @else {
                                            a href=(path) { (label) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    form.logout method="post" action="/console/logout" {
                        span { (staff.username) "(" (role_label(staff.role.as_str())) ")" }
                        input type="hidden" name="csrf" value=(staff.csrf);
                        button type="submit" { "退出登录" }
                    }
                }
                main #main tabindex="-1" {
                    h1 { (title) }
                    (body)
                }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

/// A page without navigation (login, errors).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="zh-CN" {
            (head(title))
            body {
                main #main.narrow {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " - 网格通社区办公台" }
            link rel="stylesheet" href="/console/assets/console.css";
        }
    }
}

/// The error page.
pub fn error_page(status: StatusCode, lines: &[String]) -> Html<String> {
    let title = match status.as_u16() {
        400 => "提交的内容有误",
        401 => "请先登录",
        403 => "无权访问",
        404 => "未找到",
        _ => "出错了",
    };
    Html(
        bare(
            title,
            html! {
                div.error role="alert" {
                    ul { @for l in lines { li { (l) } } }
                }
                p { a href="/console/today" { "返回首页" } }
            },
        )
        .into_string(),
    )
}

/// A flash message (role=status so screen readers announce it).
pub fn notice(text: &str) -> Markup {
    html! { p.notice role="status" { (text) } }
}

/// The hidden CSRF field of every POST form.
pub fn csrf(staff: &Staff) -> Markup {
    html! { input type="hidden" name="csrf" value=(staff.csrf); }
}

/// Local time (Asia/Shanghai) as `YYYY-MM-DD HH:MM`.
pub fn time(ms: i64) -> String {
    shanghai()
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// Optional local time, "—" when absent.
pub fn time_opt(ms: Option<i64>) -> String {
    ms.map(time).unwrap_or_else(|| "—".into())
}

/// Time left to a deadline in words: "剩 3 小时 20 分" or "超期 1 天 2 小时".
pub fn time_left(due_ms: i64, now_ms: i64) -> String {
    let d = due_ms - now_ms;
    let mins = d.abs() / 60_000;
    let (days, hours, m) = (mins / 1440, (mins % 1440) / 60, mins % 60);
    let span = if days > 0 {
        format!("{days} 天 {hours} 小时")
    } else if hours > 0 {
        format!("{hours} 小时 {m} 分")
    } else {
        format!("{m} 分")
    };
    if d >= 0 {
        format!("剩 {span}")
    } else {
        format!("超期 {span}")
    }
}

/// Chinese name of an event state.
pub fn state_label(s: EventState) -> &'static str {
    match s {
        EventState::Registered => "待派遣",
        EventState::Dispatched => "已派遣",
        EventState::Handled => "已处置",
        EventState::Verified => "已核实",
        EventState::Closed => "已结案",
    }
}

/// Chinese name of an action.
pub fn action_label(a: Action) -> &'static str {
    match a {
        Action::Dispatch => "派遣",
        Action::Handle => "处置",
        Action::Verify => "核实",
        Action::Close => "结案",
        Action::Return => "退回",
        Action::Escalate => "上报",
        Action::Feedback => "评价",
    }
}

/// Chinese name of an event source.
pub fn source_label(s: EventSource) -> &'static str {
    match s {
        EventSource::Snap => "随手拍",
        EventSource::Need => "困难需求",
        EventSource::Dispute => "矛盾纠纷",
    }
}

/// Chinese name of a level.
pub fn level_label(l: Level) -> &'static str {
    match l {
        Level::Grid => "网格",
        Level::Community => "社区",
        Level::Street => "街道",
    }
}

/// Chinese name of a role.
pub fn role_label(r: &str) -> &'static str {
    match r {
        "grid_worker" => "网格员",
        "grid_leader" => "网格长",
        "building_lead" => "楼长",
        "office" => "社区办公室",
        _ => "未知角色",
    }
}

/// Chinese name of a care tag.
pub fn care_tag_label(t: CareTag) -> &'static str {
    match t {
        CareTag::ElderlyAlone => "独居/空巢老人",
        CareTag::LeftBehindChild => "留守儿童",
        CareTag::Disabled => "残疾人",
        CareTag::Dibao => "低保户",
        CareTag::Wubao => "五保户",
        CareTag::SevereIllness => "重病",
        CareTag::Other => "其他关爱对象",
    }
}

/// Chinese name of an occupancy.
pub fn occupancy_label(o: Occupancy) -> &'static str {
    match o {
        Occupancy::Owner => "自住",
        Occupancy::Rented => "出租",
        Occupancy::Vacant => "空置",
    }
}

/// Chinese name of a visit outcome.
pub fn outcome_label(o: VisitOutcome) -> &'static str {
    match o {
        VisitOutcome::Met => "见到住户",
        VisitOutcome::NobodyHome => "无人在家",
        VisitOutcome::Refused => "拒绝",
        VisitOutcome::MovedAway => "已搬离",
    }
}

/// A percentage with one decimal, or "—" without a denominator.
pub fn percent(num: u64, den: u64) -> String {
    if den == 0 {
        "—".into()
    } else {
        format!("{:.1}%", num as f64 * 100.0 / den as f64)
    }
}

/// Masks a name for lists: the surname stays, the rest becomes `*`.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

/// The stylesheet: plain, high-contrast, large targets; works on old browsers.
pub async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        PreEscaped(CSS).into_string(),
    )
        .into_response()
}

const CSS: &str = r#"
body{font-family:"Microsoft YaHei","PingFang SC","Noto Sans CJK SC",sans-serif;margin:0;color:#1a1a1a;background:#f4f5f7;font-size:15px}
a{color:#0b57a4}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:6px;z-index:9}
header.top{background:#0b3d6e;color:#fff;display:flex;flex-wrap:wrap;align-items:center;gap:12px;padding:6px 12px}
header.top a{color:#fff;text-decoration:none;padding:6px 8px;display:inline-block}
header.top a[aria-current=page]{background:#fff;color:#0b3d6e;border-radius:3px}
header.top ul{list-style:none;margin:0;padding:0;display:flex;flex-wrap:wrap}
.brand{font-weight:bold}
.logout{margin-left:auto;display:flex;gap:8px;align-items:center}
main{padding:12px 16px}main.narrow{max-width:420px;margin:40px auto;background:#fff;padding:20px;border-radius:4px}
h1{font-size:22px;margin:6px 0 12px}h2{font-size:18px;margin:18px 0 8px}
table{border-collapse:collapse;background:#fff;width:100%;margin-bottom:12px}
th,td{border:1px solid #c9ced6;padding:5px 7px;text-align:left;vertical-align:top}
th{background:#e8ecf2}caption{text-align:left;font-weight:bold;padding:4px 0}
.board{display:grid;grid-template-columns:repeat(5,1fr);gap:8px}
.col{background:#fff;border:1px solid #c9ced6;border-radius:4px;padding:6px}
.col h2{font-size:16px;margin:2px 0 6px}
.card{border:1px solid #c9ced6;border-left:4px solid #5b8bd0;padding:5px;margin:5px 0;background:#fbfcfe}
.card.overdue,.overdue{border-left-color:#c0392b;background:#fdecea}
.tag-overdue{color:#a61b0f;font-weight:bold}
.flag{color:#8a5300;font-weight:bold}
form.inline{display:inline}
fieldset{border:1px solid #c9ced6;background:#fff;margin:8px 0;padding:8px}
label{display:inline-block;margin:4px 8px 4px 0}
input,select,textarea,button{font:inherit;padding:4px 6px}
button{background:#0b57a4;color:#fff;border:1px solid #0b3d6e;border-radius:3px;cursor:pointer;padding:5px 12px}
button.danger{background:#a61b0f;border-color:#6e1208}
:focus{outline:3px solid #f0a500;outline-offset:1px}
.notice{background:#e7f5e9;border:1px solid #5aa469;padding:8px}
.error{background:#fdecea;border:1px solid #c0392b;padding:8px}
.code{font-size:32px;letter-spacing:4px;font-family:monospace;background:#fff;padding:8px;display:inline-block;border:2px dashed #0b3d6e}
.qr svg{width:220px;height:220px;background:#fff}
.stats{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:8px}.stat{background:#fff;border:1px solid #c9ced6;padding:8px 12px}
.stat b{font-size:22px;display:block}
img.photo{max-width:240px;max-height:240px;border:1px solid #c9ced6;margin:4px}
img.thumb{max-width:96px;max-height:96px;border:1px solid #c9ced6;margin:2px;vertical-align:middle}
.muted{color:#555}
@media (max-width:900px){.board{grid-template-columns:1fr 1fr}}
"#;
