//! The office console over HTTP: login, sessions, CSRF, roles, roster import, exports, reveal
//! and escaping, each on both hubs (see `common`). (The browser story is in `tests/e2e`, run by
//! `scripts/test-console.sh`.)
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::Backend;

use std::io::Cursor;
use std::path::Path;

use calamine::{Data, Reader, Xlsx};
use gridwalk_core::demo::{self, Rng};
use gridwalk_core::events::{EventInput, EventPlace, EventSource};
use gridwalk_core::{HouseholdPatch, ResidentInput};
use gridwalk_server::console::auth::{COOKIE, SESSION_TTL_MS, StaffDb, StaffRole};
use gridwalk_server::console::import::{parse_roster, read_csv};
use gridwalk_server::{Config, Server, start};
use reqwest::redirect::Policy;

const PASSWORD: &str = "correct horse battery";

struct Office {
    server: Server,
    staff: StaffDb,
    client: reqwest::Client,
}

/// A server on a fresh hub of `backend` with a small community in its office replica, and
/// two staff accounts.
async fn office(backend: Backend, dir: &Path) -> Office {
    let data = dir.join("server");
    let server = start(Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.clone(),
        store: common::fresh_store(backend),
        ..Config::default()
    })
    .await
    .unwrap();
    let o = server.office();
    o.store().load_roster(&demo::roster(2, 6, 2026)).unwrap();
    let staff = StaffDb::open(&data.join("staff.db")).unwrap();
    staff
        .set_staff("clerk", StaffRole::Office, PASSWORD)
        .unwrap();
    staff
        .set_staff("leader", StaffRole::GridLeader, PASSWORD)
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    Office {
        server,
        staff,
        client,
    }
}

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

fn form(fields: &[(&str, &str)]) -> String {
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

impl Office {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base_url())
    }

    /// Logs in over HTTP; returns the session cookie value.
    async fn login(&self, user: &str, password: &str) -> Option<String> {
        let resp = self
            .client
            .post(self.url("/console/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("username", user), ("password", password)]))
            .send()
            .await
            .unwrap();
        let cookie = resp
            .headers()
            .get("set-cookie")?
            .to_str()
            .unwrap()
            .to_string();
        assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
        let v = cookie.split(';').next()?.split_once('=')?.1.to_string();
        Some(v)
    }

    async fn get(&self, token: &str, path: &str) -> (u16, String) {
        let resp = self
            .client
            .get(self.url(path))
            .header("cookie", format!("{COOKIE}={token}"))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    async fn get_bytes(&self, token: &str, path: &str) -> (u16, Vec<u8>) {
        let resp = self
            .client
            .get(self.url(path))
            .header("cookie", format!("{COOKIE}={token}"))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.bytes().await.unwrap().to_vec())
    }

    async fn post(&self, token: &str, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let resp = self
            .client
            .post(self.url(path))
            .header("cookie", format!("{COOKIE}={token}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    async fn upload(&self, token: &str, csrf: &str, name: &str, file: &[u8]) -> (u16, String) {
        let b = "----gridwalkboundary7";
        let mut body = Vec::new();
        body.extend_from_slice(
            format!("--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(
            format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
                 Content-Type: application/octet-stream\r\n\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
        let resp = self
            .client
            .post(self.url("/console/roster"))
            .header("cookie", format!("{COOKIE}={token}"))
            .header("content-type", format!("multipart/form-data; boundary={b}"))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    /// The CSRF token of the session, as a page carries it.
    async fn csrf(&self, token: &str) -> String {
        let (_, page) = self.get(token, "/console/today").await;
        let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
        page[at..at + 64].to_string()
    }

    fn households(&self) -> usize {
        let s = self.server.office();
        ["g1", "g2", "g3"]
            .iter()
            .map(|g| s.store().grid_households(g).unwrap().len())
            .sum()
    }
}

fn event(grid: &str, description: &str) -> EventInput {
    EventInput {
        grid_id: grid.into(),
        source: EventSource::Snap,
        category: "facility".into(),
        place: EventPlace {
            building_id: Some("b1".into()),
            unit: None,
            text: "东门".into(),
            lat: None,
            lon: None,
        },
        description: description.into(),
        photos: Vec::new(),
        household_id: None,
        parties: Vec::new(),
    }
}

async fn a_wrong_password_gets_no_session_and_the_right_one_does(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    assert!(o.login("clerk", "wrong password").await.is_none());
    assert!(o.login("nobody", PASSWORD).await.is_none());
    let token = o.login("clerk", PASSWORD).await.unwrap();
    let (status, page) = o.get(&token, "/console/board").await;
    assert_eq!(status, 200);
    assert!(page.contains("事件看板"));
    // Without a cookie every page leads to the login.
    let resp = o.client.get(o.url("/console/board")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/console/login");
}

async fn five_failed_logins_block_the_name_for_a_while(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    for _ in 0..5 {
        assert!(o.login("clerk", "guess").await.is_none());
    }
    assert!(o.login("clerk", PASSWORD).await.is_none());
    assert!(o.login("leader", PASSWORD).await.is_some());
}

async fn an_expired_session_leads_back_to_the_login(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    let now = chrono::Utc::now().timestamp_millis();
    let old = o
        .staff
        .create_session("clerk", now - SESSION_TTL_MS - 1)
        .unwrap();
    let resp = o
        .client
        .get(o.url("/console/today"))
        .header("cookie", format!("{COOKIE}={old}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    assert_eq!(resp.headers()["location"], "/console/login");
    let fresh = o.staff.create_session("clerk", now).unwrap();
    assert_eq!(o.get(&fresh, "/console/today").await.0, 200);
}

async fn a_post_without_the_sessions_csrf_token_is_refused(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    let e = o
        .server
        .office()
        .store()
        .report_event(&event("g1", "路灯坏了"))
        .unwrap();
    let token = o.login("clerk", PASSWORD).await.unwrap();
    let other = o.login("clerk", PASSWORD).await.unwrap();
    let foreign = o.csrf(&other).await;
    let path = format!("/console/events/{}/act", e.id);
    for bad in ["", "0000", foreign.as_str()] {
        let (status, _) = o
            .post(
                &token,
                &path,
                &[("csrf", bad), ("action", "close"), ("note", "x")],
            )
            .await;
        assert_eq!(status, 403, "csrf {bad:?}");
    }
    let state = o.server.office().store().event(&e.id).unwrap().event.state;
    assert_eq!(state.as_str(), "registered");
    let csrf = o.csrf(&token).await;
    let (status, _) = o
        .post(
            &token,
            &path,
            &[("csrf", &csrf), ("action", "close"), ("note", "已解决")],
        )
        .await;
    assert_eq!(status, 303);
    let state = o.server.office().store().event(&e.id).unwrap().event.state;
    assert_eq!(state.as_str(), "closed");
    let audit = o.staff.audit_log(10).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "close" && a.target == e.id)
    );
}

async fn a_grid_leader_runs_the_loop_but_not_devices_or_the_roster(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    let e = o
        .server
        .office()
        .store()
        .report_event(&event("g1", "垃圾堆放"))
        .unwrap();
    let token = o.login("leader", PASSWORD).await.unwrap();
    let csrf = o.csrf(&token).await;
    assert_eq!(o.get(&token, "/console/devices").await.0, 403);
    assert_eq!(o.get(&token, "/console/roster").await.0, 403);
    let (status, _) = o
        .post(
            &token,
            "/console/devices/enrol",
            &[
                ("csrf", &csrf),
                ("person", "p1"),
                ("role", "grid_worker"),
                ("scope", "g1"),
            ],
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = o
        .upload(&token, &csrf, "r.csv", "网格编号\n".as_bytes())
        .await;
    assert_eq!(status, 403);
    let (status, _) = o
        .post(
            &token,
            &format!("/console/events/{}/act", e.id),
            &[
                ("csrf", &csrf),
                ("action", "dispatch"),
                ("department", "物业"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(o.get(&token, "/console/coverage").await.0, 200);
}

async fn the_office_enrols_a_device_with_a_code_and_qr_and_revokes_it(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    let token = o.login("clerk", PASSWORD).await.unwrap();
    let csrf = o.csrf(&token).await;
    let (status, page) = o
        .post(
            &token,
            "/console/devices/enrol",
            &[
                ("csrf", &csrf),
                ("person", "worker-9"),
                ("role", "grid_worker"),
                ("scope", "g1, g2"),
                ("hours", "4"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("<svg"));
    let at = page.find("id=\"enrol-code\">").unwrap() + 16;
    let code = &page[at..at + 11];
    let store = gridwalk_core::Store::open(&dir.path().join("p.db"), &[1; 32], "worker-9").unwrap();
    let e = gridwalk_core::http::enrol(
        &o.server.base_url(),
        None,
        &gridwalk_core::http::EnrolRequest {
            code: code.into(),
            device_id: store.device_id().into(),
            actor_id: store.actor_id(),
        },
    )
    .await
    .unwrap();
    assert_eq!(e.scope, vec!["g1", "g2"]);
    let (_, list) = o.get(&token, "/console/devices").await;
    assert!(list.contains("worker-9"));
    let (status, _) = o
        .post(
            &token,
            &format!("/console/devices/{}/revoke", store.device_id()),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(status, 303);
    let (_, list) = o.get(&token, "/console/devices").await;
    assert!(list.contains("已吊销"));
}

const HEADER: &str =
    "网格编号,网格名称,楼栋编号,楼栋名称,单元,门牌号,地址,面积,居住状态,关爱标签\n";

async fn a_roster_with_bad_rows_gives_a_report_and_imports_nothing(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    let before = o.households();
    let token = o.login("clerk", PASSWORD).await.unwrap();
    let csrf = o.csrf(&token).await;
    let csv = format!(
        "{HEADER}g3,第三网格,b9,9号楼,1,101,安居苑9号楼1单元101室,80,自住,低保\n\
         g3,第三网格,b9,9号楼,1,102,,80,自住,\n\
         g3,第三网格,b9,9号楼,1,101,安居苑9号楼1单元101室(重复),80,自住,\n\
         g3,第三网格,b9,9号楼,2,201,安居苑9号楼2单元201室,很大,租住,外星人\n"
    );
    let (status, page) = o.upload(&token, &csrf, "roster.csv", csv.as_bytes()).await;
    assert_eq!(status, 422);
    assert!(page.contains("未导入任何数据"));
    for needle in [
        "地址",
        "与第 2 行重复",
        "面积须为",
        "居住状态须为",
        "外星人",
    ] {
        assert!(page.contains(needle), "report lacks {needle}");
    }
    assert_eq!(o.households(), before);
    // A missing column is reported as such.
    let (status, page) = o
        .upload(&token, &csrf, "r.csv", "网格编号,地址\ng1,x\n".as_bytes())
        .await;
    assert_eq!(status, 422);
    assert!(page.contains("缺少此列"));
}

async fn reimporting_a_roster_updates_instead_of_duplicating(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    let before = o.households();
    let token = o.login("clerk", PASSWORD).await.unwrap();
    let csrf = o.csrf(&token).await;
    let rows = |area: &str| {
        format!(
            "{HEADER}g3,第三网格,b9,9号楼,1,101,安居苑9号楼1单元101室,{area},自住,独居老人\n\
             g3,第三网格,b9,9号楼,1,102,安居苑9号楼1单元102室,66,出租,\n"
        )
    };
    let (status, page) = o
        .upload(&token, &csrf, "r.csv", rows("80").as_bytes())
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("新增 2 户"));
    assert_eq!(o.households(), before + 2);
    let (_, page) = o
        .upload(&token, &csrf, "r.csv", rows("80").as_bytes())
        .await;
    assert!(page.contains("新增 0 户") && page.contains("未变化 2 户"));
    // The same roster as .xlsx, with one area changed: an update, no new household.
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    for (r, line) in rows("85.5").lines().enumerate() {
        for (c, cell) in line.split(',').enumerate() {
            let (r, c) = (r as u32, c as u16);
            match cell.parse::<f64>() {
                Ok(n) if r > 0 && c == 7 => ws.write_number(r, c, n).map(|_| ()),
                _ => ws.write_string(r, c, cell).map(|_| ()),
            }
            .unwrap();
        }
    }
    let xlsx = wb.save_to_buffer().unwrap();
    let (status, page) = o.upload(&token, &csrf, "r.xlsx", &xlsx).await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("新增 0 户") && page.contains("更新 1 户"),
        "{page}"
    );
    assert_eq!(o.households(), before + 2);
    let h = o.server.office().store().grid_households("g3").unwrap();
    let full = o.server.office().store().household(&h[0].id).unwrap();
    assert_eq!(full.area_m2, Some(85.5));
}

#[test]
fn csv_parsing_handles_quotes_gbk_and_blank_lines() {
    let rows = read_csv("a,\"b,c\",\"say \"\"hi\"\"\"\r\n\r\nx,y,z\n");
    assert_eq!(rows[0], vec!["a", "b,c", "say \"hi\""]);
    assert_eq!(rows[2], vec!["x", "y", "z"]);
    let (gbk, _, _) = encoding_rs::GBK.encode(HEADER);
    let text = gridwalk_server::console::import::decode_text(&gbk);
    assert!(text.starts_with("网格编号,网格名称"));
    let table = read_csv(&format!(
        "{HEADER}g1,一,b1,1号楼,2,301,地址,,空置,残疾人、低保\n"
    ));
    let (roster, rows) = parse_roster(&table, "社区").unwrap();
    assert_eq!(rows, vec![2]);
    assert_eq!(roster.buildings[0].units, 2);
    assert_eq!(roster.households[0].care_tags.len(), 2);
}

async fn exports_open_as_xlsx_and_hold_the_rows(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    let s = o.server.office();
    for i in 0..3 {
        s.store()
            .report_event(&event("g1", &format!("事件{i}")))
            .unwrap();
    }
    let mut rng = Rng::new(3);
    let h = s.store().grid_households("g1").unwrap();
    s.store()
        .record_visit(&demo::visit(
            &mut rng,
            &h[0].id,
            chrono::Utc::now().timestamp_millis() - 3_600_000,
        ))
        .unwrap();
    let token = o.login("clerk", PASSWORD).await.unwrap();
    let sheet = |bytes: Vec<u8>| {
        let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
        wb.worksheet_range_at(0).unwrap().unwrap()
    };
    let (status, bytes) = o.get_bytes(&token, "/console/export/events.xlsx").await;
    assert_eq!(status, 200);
    let r = sheet(bytes);
    assert_eq!(r.height(), 4);
    assert_eq!(r.get((0, 0)), Some(&Data::String("事件编号".into())));
    let (_, bytes) = o.get_bytes(&token, "/console/export/visits.xlsx").await;
    let r = sheet(bytes);
    assert_eq!(r.height(), 2);
    assert_eq!(r.get((1, 2)), Some(&Data::String(h[0].address.clone())));
    let (_, bytes) = o.get_bytes(&token, "/console/export/coverage.xlsx").await;
    let r = sheet(bytes);
    assert_eq!(r.height(), 3, "two grids");
    assert_eq!(o.get(&token, "/console/export/secrets.xlsx").await.0, 400);
}

async fn revealing_a_value_needs_a_purpose_and_writes_the_access_log(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    let s = o.server.office();
    let h = &s.store().grid_households("g1").unwrap()[0];
    let r = s
        .store()
        .add_resident(
            &h.id,
            &ResidentInput {
                name: "王秀英".into(),
                gender: gridwalk_core::Gender::Female,
                birth_date: Some("1950-03-07".into()),
                id_number: Some(demo::id_number(&mut Rng::new(1), "19500307")),
                phone: Some("13800138000".into()),
                ethnicity: Some("回族".into()),
                relation: "户主".into(),
                employment: None,
                working_away: false,
                work_place: None,
                moved_in: None,
            },
        )
        .unwrap();
    let token = o.login("clerk", PASSWORD).await.unwrap();
    let csrf = o.csrf(&token).await;
    let (_, page) = o
        .get(&token, &format!("/console/households/{}", h.id))
        .await;
    assert!(page.contains("138****8000"));
    assert!(!page.contains("13800138000"));
    let path = format!("/console/households/{}/reveal", h.id);
    let (status, _) = o
        .post(
            &token,
            &path,
            &[
                ("csrf", &csrf),
                ("resident_id", &r.id),
                ("field", "phone"),
                ("purpose", "随便看看"),
            ],
        )
        .await;
    assert_eq!(status, 400);
    assert!(s.store().access_log().unwrap().is_empty());
    let (status, page) = o
        .post(
            &token,
            &path,
            &[
                ("csrf", &csrf),
                ("resident_id", &r.id),
                ("field", "phone"),
                ("purpose", "紧急联系"),
                ("detail", "老人摔倒联系家属"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert!(page.contains("13800138000"));
    let log = s.store().access_log().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].field, "phone");
    assert_eq!(log[0].resident_id, r.id);
    assert!(log[0].purpose.contains("紧急联系") && log[0].purpose.contains("clerk"));
    let audit = o.staff.audit_log(5).unwrap();
    assert_eq!(audit[0].action, "reveal:phone");
    assert!(!audit.iter().any(|a| a.target.contains("1380")));
}

async fn hostile_strings_are_escaped_on_every_page(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    let s = o.server.office();
    let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
    let e = s.store().report_event(&event("g1", hostile)).unwrap();
    let h = &s.store().grid_households("g1").unwrap()[0];
    s.store()
        .update_household(
            &h.id,
            &HouseholdPatch {
                address: Some(format!("幸福路{hostile}")),
                ..HouseholdPatch::default()
            },
        )
        .unwrap();
    let token = o.login("clerk", PASSWORD).await.unwrap();
    for path in [
        format!("/console/events/{}", e.id),
        "/console/today".to_string(),
        format!("/console/households/{}", h.id),
        format!("/console/households?q={}", url_encode("<script>")),
        format!("/console/board?grid={}", url_encode(hostile)),
    ] {
        let (status, page) = o.get(&token, &path).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            !page.contains("<script>"),
            "{path} carries a raw script tag"
        );
        assert!(!page.contains("<img src=x"), "{path} carries a raw img tag");
    }
    let (_, page) = o.get(&token, &format!("/console/events/{}", e.id)).await;
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
}

crate::on_both_stores!(
    a_wrong_password_gets_no_session_and_the_right_one_does,
    five_failed_logins_block_the_name_for_a_while,
    an_expired_session_leads_back_to_the_login,
    a_post_without_the_sessions_csrf_token_is_refused,
    a_grid_leader_runs_the_loop_but_not_devices_or_the_roster,
    the_office_enrols_a_device_with_a_code_and_qr_and_revokes_it,
    a_roster_with_bad_rows_gives_a_report_and_imports_nothing,
    reimporting_a_roster_updates_instead_of_duplicating,
    exports_open_as_xlsx_and_hold_the_rows,
    revealing_a_value_needs_a_purpose_and_writes_the_access_log,
    hostile_strings_are_escaped_on_every_page,
);
