//! Devices: enrol (a one-time code shown as text and as a QR code), list, revoke. Office only.
//!
//! Codes come from [`crate::protocol::create_code`], the same mechanism as the CLI; only their
//! hash is stored, so a code is shown exactly once.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use maud::{Markup, PreEscaped, html};
use qrcode::QrCode;
use qrcode::render::svg;
use serde::Deserialize;

use super::auth::{CsrfForm, Staff};
use super::layout::{self, csrf, page, time};
use super::{ConsoleState, Fail, Page, blocking, see_other};
use crate::error::Error;
use crate::policy::Role;
use crate::protocol;

/// Roles the console enrols (the office replica is the office's only device).
const ENROL_ROLES: &[Role] = &[Role::GridWorker, Role::GridLeader, Role::BuildingLead];

/// The QR code of `data` as inline SVG (no text inside, so nothing to escape).
pub fn qr_svg(data: &str) -> Result<String, Error> {
    let code =
        QrCode::new(data.as_bytes()).map_err(|e| Error::Internal(format!("QR code: {e}")))?;
    let svg = code
        .render::<svg::Color<'_>>()
        .min_dimensions(220, 220)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    // Drop the XML declaration: the SVG is embedded in HTML.
    Ok(svg
        .find("<svg")
        .map_or(svg.clone(), |i| svg[i..].to_string()))
}

/// Percent-encodes a query value.
fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn enrol_form(staff: &Staff) -> Markup {
    html! {
        form method="post" action="/console/devices/enrol" {
            fieldset {
                legend { "登记新设备" }
                (csrf(staff))
                label for="person" { "人员编号" }
                input #person type="text" name="person" required maxlength="128";
                label for="role" { "角色" }
                select #role name="role" {
                    @for r in ENROL_ROLES { option value=(r.as_str()) { (layout::role_label(r.as_str())) } }
                }
                label for="scope" { "负责范围(网格或楼栋编号,逗号分隔)" }
                input #scope type="text" name="scope" required maxlength="1000";
                label for="hours" { "有效期(小时)" }
                input #hours type="number" name="hours" min="1" max="168" value="24";
                button type="submit" id="do-enrol" { "生成登记码" }
            }
        }
    }
}

/// `GET /console/devices`.
pub async fn list(State(st): State<ConsoleState>, staff: Staff) -> Page {
    staff.require_office()?;
    let c = st.clone();
    let devices = blocking(move || {
        let own = c.office().store().device_id().to_string();
        let mut d = c.hub().devices()?;
        d.retain(|d| d.device_id != own);
        Ok(d)
    })
    .await?;
    let body = html! {
        (enrol_form(&staff))
        table {
            caption { "已登记设备" }
            thead { tr { th scope="col" { "设备" } th scope="col" { "人员" } th scope="col" { "角色" }
                th scope="col" { "范围" } th scope="col" { "登记时间" } th scope="col" { "状态" } th scope="col" { "操作" } } }
            tbody {
                @if devices.is_empty() { tr { td colspan="7" { "尚无设备" } } }
                @for d in &devices {
                    tr {
                        td { code { (d.device_id.chars().take(12).collect::<String>()) } }
                        td { (d.person_id) }
                        td { (layout::role_label(d.role.as_str())) }
                        td { (d.scope.join(", ")) }
                        td { (time(d.enrolled_ms)) }
                        td { @if d.revoked { "已吊销" } @else { "正常" } }
                        td {
                            @if !d.revoked {
                                form.inline method="post" action=(format!("/console/devices/{}/revoke", d.device_id)) {
                                    (csrf(&staff))
                                    button.danger type="submit" aria-label=(format!("吊销 {} 的设备", d.person_id)) { "吊销" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page("设备管理", &staff, "/console/devices", body))
}

/// An enrolment request.
#[derive(Debug, Deserialize)]
pub struct EnrolForm {
    csrf: String,
    person: String,
    role: String,
    scope: String,
    #[serde(default)]
    hours: Option<i64>,
}

/// `POST /console/devices/enrol`: creates a one-time code and shows it once.
pub async fn enrol(
    State(st): State<ConsoleState>,
    staff: Staff,
    headers: HeaderMap,
    Form(f): Form<EnrolForm>,
) -> Page {
    staff.check_csrf(&f.csrf)?;
    staff.require_office()?;
    let role = Role::parse(&f.role)
        .filter(|r| ENROL_ROLES.contains(r))
        .ok_or_else(|| Fail(Error::BadRequest("请选择角色".into())))?;
    let scope: Vec<String> = f
        .scope
        .split([',', ',', ' ', '、'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    let hours = f.hours.unwrap_or(24).clamp(1, 168);
    let person = f.person.trim().to_string();
    let c = st.clone();
    let user = staff.username.clone();
    let p = person.clone();
    let code = blocking(move || {
        let code = protocol::create_code(c.hub().as_ref(), &p, role, &scope, hours * 3_600_000)
            .map_err(|e| match e {
                Error::BadRequest(_) => {
                    Error::BadRequest("人员编号或负责范围无效(网格和楼栋角色须填写范围)".into())
                }
                e => e,
            })?;
        c.staff().audit(&user, "enrol", role.as_str())?;
        Ok(code)
    })
    .await?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let payload = format!(
        "gridwalk://enrol?server={}&code={}",
        url_encode(&format!("http://{host}")),
        url_encode(&code)
    );
    let svg = qr_svg(&payload).map_err(Fail)?;
    let body = html! {
        (layout::notice("登记码已生成。请在手机上扫描二维码,或手动输入登记码。登记码只显示这一次。"))
        p { "人员:" (person) ",角色:" (layout::role_label(role.as_str())) ",有效期 " (hours) " 小时。" }
        p { "登记码:" span.code #enrol-code { (code) } }
        div.qr role="img" aria-label=(format!("登记二维码,内容为登记码 {code}")) { (PreEscaped(svg)) }
        p { a href="/console/devices" { "返回设备列表" } }
    };
    Ok(page("设备登记码", &staff, "/console/devices", body))
}

/// `POST /console/devices/{id}/revoke`.
pub async fn revoke(
    State(st): State<ConsoleState>,
    staff: Staff,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Page {
    staff.check_csrf(&f.csrf)?;
    staff.require_office()?;
    crate::policy::check_id("device", &id).map_err(Fail)?;
    let c = st.clone();
    let user = staff.username.clone();
    blocking(move || {
        if id == c.office().store().device_id() {
            return Err(Error::BadRequest("不能吊销办公室自身".into()));
        }
        if !c.hub().revoke(&id)? {
            return Err(Error::BadRequest("没有这台设备".into()));
        }
        c.staff().audit(&user, "revoke", &id)
    })
    .await?;
    Ok(see_other("/console/devices"))
}
