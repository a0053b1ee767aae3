//! The office console over HTTP: login, sessions, CSRF, roles and grid scopes, what arrived
//! since the clerk's mark, roster import, exports, reveal and escaping; the shared stories run on
//! both hubs (see `common`). (The browser story is in `tests/e2e`, run by
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
use gridwalk_server::console::auth::{COOKIE, SESSION_TTL_MS, StaffDb, StaffRole, staff_add};
use gridwalk_server::console::import::{parse_roster, read_csv};
use gridwalk_server::policy::Role;
use gridwalk_server::{Config, Server, TlsFiles, start};
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
        .set_staff("clerk", StaffRole::Office, &[], PASSWORD)
        .unwrap();
    staff
        .set_staff("leader", StaffRole::GridLeader, &["g1".into()], PASSWORD)
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
        // Plain HTTP: a Secure cookie would never come back.
        assert_eq!(
            cookie.contains("Secure"),
            self.server.base_url().starts_with("https")
        );
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

/// The transitions of an event as `(by, role, action)`.
fn log_of(store: &gridwalk_core::Store, id: &str) -> Vec<(String, String, String)> {
    store
        .event(id)
        .unwrap()
        .event
        .transitions
        .into_iter()
        .map(|t| (t.by, t.role, t.action.as_str().to_string()))
        .collect()
}

fn entry(by: &str, role: &str, action: &str) -> (String, String, String) {
    (by.into(), role.into(), action.into())
}

async fn console_steps_name_the_staff_member_in_the_events_own_log(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    let e = o
        .server
        .office()
        .store()
        .report_event(&event("g1", "路灯不亮"))
        .unwrap();
    o.server.office_sync().await.unwrap();
    // The grid leader's phone is enrolled under their console login; a worker's phone watches.
    let leader_phone = common::phone(
        &o.server,
        dir.path(),
        "leader",
        Role::GridLeader,
        &["g1"],
        None,
    )
    .await;
    leader_phone
        .store
        .set_identity(&gridwalk_core::event_store::Identity {
            role: "grid_leader".into(),
            scope: vec!["g1".into()],
        })
        .unwrap();
    let worker = common::phone(
        &o.server,
        dir.path(),
        "worker-1",
        Role::GridWorker,
        &["g1"],
        None,
    )
    .await;

    // The leader dispatches in the console, to themself.
    let leader = o.login("leader", PASSWORD).await.unwrap();
    let csrf = o.csrf(&leader).await;
    let act = format!("/console/events/{}/act", e.id);
    let (status, _) = o
        .post(
            &leader,
            &act,
            &[
                ("csrf", &csrf),
                ("action", "dispatch"),
                ("assignee", "leader"),
                ("note", "我去看看"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    let office = o.server.office();
    let office_store = office.store();
    assert_eq!(
        log_of(office_store, &e.id),
        vec![entry("leader", "grid_leader", "dispatch")]
    );
    let (_, page) = o.get(&leader, &format!("/console/events/{}", e.id)).await;
    assert!(page.contains("leader(网格长)"), "the page names the leader");
    assert!(!page.contains("office(社区办公室)"));
    // The hub took the office's push (the action synced it at once); a phone reads the same log.
    worker.sync().await.unwrap();
    assert_eq!(
        log_of(&worker.store, &e.id),
        vec![entry("leader", "grid_leader", "dispatch")]
    );

    // The leader handles it on the phone, then may not verify their own work in the console.
    leader_phone.sync().await.unwrap();
    leader_phone
        .store
        .step_event(
            &e.id,
            gridwalk_core::events::Action::Handle,
            &gridwalk_core::events::StepInput {
                note: "已更换灯泡".into(),
                ..Default::default()
            },
        )
        .unwrap();
    leader_phone.sync().await.unwrap();
    o.server.office_sync().await.unwrap();
    let (status, _) = o
        .post(
            &leader,
            &act,
            &[("csrf", &csrf), ("action", "verify"), ("note", "合格")],
        )
        .await;
    assert_eq!(status, 403, "the handler verifying their own work");
    assert_eq!(
        office_store.event(&e.id).unwrap().event.state.as_str(),
        "handled"
    );
    // The clerk verifies and closes: the log names the clerk, as office staff.
    let clerk = o.login("clerk", PASSWORD).await.unwrap();
    let clerk_csrf = o.csrf(&clerk).await;
    for (action, note) in [("verify", "电话回访,已修好"), ("close", "结案")] {
        let (status, _) = o
            .post(
                &clerk,
                &act,
                &[("csrf", &clerk_csrf), ("action", action), ("note", note)],
            )
            .await;
        assert_eq!(status, 303, "{action}");
    }
    let (_, page) = o.get(&clerk, &format!("/console/events/{}", e.id)).await;
    assert!(page.contains("clerk(社区办公室)"));
    let expected = vec![
        entry("leader", "grid_leader", "dispatch"),
        entry("leader", "grid_leader", "handle"),
        entry("clerk", "office", "verify"),
        entry("clerk", "office", "close"),
    ];
    worker.sync().await.unwrap();
    assert_eq!(log_of(&worker.store, &e.id), expected);
    assert_eq!(log_of(office_store, &e.id), expected);
    assert!(
        worker
            .store
            .event(&e.id)
            .unwrap()
            .event
            .transitions
            .iter()
            .all(|t| t.flag.is_none())
    );
    // The staff audit trail still records each console action.
    let audit = o.staff.audit_log(20).unwrap();
    for (user, action) in [
        ("leader", "dispatch"),
        ("clerk", "verify"),
        ("clerk", "close"),
    ] {
        assert!(
            audit
                .iter()
                .any(|a| a.username == user && a.action == action && a.target == e.id),
            "{user} {action}"
        );
    }
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
    // A month holds the events registered in it, not those after it.
    let last = last_month();
    let (_, bytes) = o
        .get_bytes(&token, &format!("/console/export/events.xlsx?month={last}"))
        .await;
    assert_eq!(sheet(bytes).height(), 1, "only the header");
    let pending = |bytes: Vec<u8>| {
        let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
        let r = wb.worksheet_range("考核指标").unwrap();
        assert_eq!(r.get((3, 0)), Some(&Data::String("待响应".into())));
        r.get((3, 1)).cloned()
    };
    let (_, bytes) = o.get_bytes(&token, "/console/export/coverage.xlsx").await;
    assert_eq!(
        pending(bytes),
        Some(Data::Float(3.0)),
        "this month's events"
    );
    let (_, bytes) = o
        .get_bytes(
            &token,
            &format!("/console/export/coverage.xlsx?month={last}"),
        )
        .await;
    assert_eq!(pending(bytes), Some(Data::Float(0.0)), "none last month");
    let (_, page) = o.get(&token, "/console/coverage").await;
    assert!(
        page.contains("0 超时 / 3 待响应"),
        "this month's three events"
    );
    let (_, page) = o
        .get(&token, &format!("/console/coverage?month={last}"))
        .await;
    assert!(page.contains("0 超时 / 0 待响应"), "none last month");
}

/// The month before this one (Asia/Shanghai), `YYYY-MM`.
fn last_month() -> String {
    use chrono::Datelike;
    let today = gridwalk_core::store::local_date(chrono::Utc::now().timestamp_millis());
    if today.month() == 1 {
        format!("{}-12", today.year() - 1)
    } else {
        format!("{}-{:02}", today.year(), today.month() - 1)
    }
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

/// A snap report of `grid` with one photo, registered on the office replica.
fn event_with_photo(o: &Office, grid: &str, seed: u8) -> (String, String) {
    let s = o.server.office();
    let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0];
    jpeg.extend_from_slice(&[seed; 64]);
    let hash = s.store().add_photo(&jpeg).unwrap();
    let mut input = event(grid, &format!("{grid} 的井盖破损"));
    input.photos = vec![hash.clone()];
    (s.store().report_event(&input).unwrap().id, hash)
}

async fn pages_show_the_photos_the_server_holds_and_say_which_have_not_arrived(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    o.server.office_sync().await.unwrap();
    let worker = common::phone(
        &o.server,
        dir.path(),
        "worker-1",
        Role::GridWorker,
        &["g1"],
        None,
    )
    .await;
    worker.sync().await.unwrap();
    // A snap report with two photos: the first uploaded to the server, the second not yet.
    let jpeg = |seed: u8| {
        let mut j = vec![0xFF, 0xD8, 0xFF, 0xE0];
        j.extend_from_slice(&[seed; 64]);
        j
    };
    let sent = worker.store.add_photo(&jpeg(1)).unwrap();
    let cancel = std::sync::atomic::AtomicBool::new(false);
    let up = gridwalk_core::photo_sync::upload_photos(&worker.store, &worker.transport, &cancel)
        .await
        .unwrap();
    assert_eq!(up.uploaded, 1);
    let waiting = worker.store.add_photo(&jpeg(2)).unwrap();
    let mut input = event("g1", "路灯不亮");
    input.photos = vec![sent.clone(), waiting.clone()];
    let snap = worker.store.report_event(&input).unwrap();
    worker.sync().await.unwrap();
    o.server.office_sync().await.unwrap();
    // And an event whose photo only the office replica holds.
    let (own, own_photo) = event_with_photo(&o, "g1", 3);

    let clerk = o.login("clerk", PASSWORD).await.unwrap();
    let img = |h: &str| format!("src=\"/console/photos/{h}\"");
    let (_, today) = o.get(&clerk, "/console/today?since=today").await;
    assert!(today.contains(&snap.id));
    assert!(today.contains(&img(&sent)) && !today.contains(&img(&waiting)));
    assert!(today.contains("照片尚未同步到办公室"));
    let (_, page) = o.get(&clerk, &format!("/console/events/{}", snap.id)).await;
    assert!(page.contains(&img(&sent)) && !page.contains(&img(&waiting)));
    assert!(page.contains("照片尚未同步到办公室"));
    let (_, page) = o.get(&clerk, &format!("/console/events/{own}")).await;
    assert!(page.contains(&img(&own_photo)) && !page.contains("照片尚未同步到办公室"));
    let (status, bytes) = o
        .get_bytes(&clerk, &format!("/console/photos/{sent}"))
        .await;
    assert_eq!((status, bytes), (200, jpeg(1)));
}

async fn a_grid_leader_sees_and_acts_on_only_their_grids(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    let s = o.server.office();
    let (mine, my_photo) = event_with_photo(&o, "g1", 1);
    let (theirs, their_photo) = event_with_photo(&o, "g2", 2);
    let h1 = s.store().grid_households("g1").unwrap()[0].clone();
    let h2 = s.store().grid_households("g2").unwrap()[0].clone();
    let r2 = s
        .store()
        .add_resident(
            &h2.id,
            &ResidentInput {
                name: "李桂兰".into(),
                gender: gridwalk_core::Gender::Female,
                birth_date: Some("1948-05-02".into()),
                id_number: None,
                phone: Some("13900139000".into()),
                ethnicity: None,
                relation: "户主".into(),
                employment: None,
                working_away: false,
                work_place: None,
                moved_in: None,
            },
        )
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let mut rng = Rng::new(9);
    for h in [&h1, &h2] {
        s.store()
            .record_visit(&demo::visit(&mut rng, &h.id, now - 3_600_000))
            .unwrap();
    }
    // In each grid, a household in care never visited: due for a visit.
    let due1 = s.store().grid_households("g1").unwrap()[1].clone();
    let due2 = s.store().grid_households("g2").unwrap()[1].clone();
    for (h, g) in [(&due1, "g1"), (&due2, "g2")] {
        s.store()
            .update_household(
                &h.id,
                &HouseholdPatch {
                    add_care_tags: vec![gridwalk_core::CareTag::ElderlyAlone],
                    ..HouseholdPatch::default()
                },
            )
            .unwrap();
        let due = s.store().due_for_visit(Some(g), now).unwrap();
        assert!(due.iter().any(|d| d.household.id == h.id));
    }
    let token = o.login("leader", PASSWORD).await.unwrap();
    let csrf = o.csrf(&token).await;

    // The board and its grid filter know only g1.
    let (status, board) = o.get(&token, "/console/board").await;
    assert_eq!(status, 200);
    assert!(board.contains(&format!("/console/events/{mine}")));
    assert!(!board.contains(&theirs));
    assert!(!board.contains("value=\"g2\""));
    assert!(
        !board.contains("/console/devices"),
        "office-only pages are not offered"
    );
    assert_eq!(o.get(&token, "/console/board?grid=g2").await.0, 403);
    let (status, board) = o.get(&token, "/console/board?grid=g1").await;
    assert_eq!(status, 200);
    assert!(board.contains(&mine) && !board.contains(&theirs));
    assert!(board.contains("共 1 件"));
    // Another grid's event, its photo and its actions are "not found", and nothing changes.
    assert_eq!(
        o.get(&token, &format!("/console/events/{mine}")).await.0,
        200
    );
    assert_eq!(
        o.get(&token, &format!("/console/events/{theirs}")).await.0,
        404
    );
    assert_eq!(
        o.get(&token, &format!("/console/photos/{my_photo}"))
            .await
            .0,
        200
    );
    assert_eq!(
        o.get(&token, &format!("/console/photos/{their_photo}"))
            .await
            .0,
        404
    );
    let (status, _) = o
        .post(
            &token,
            &format!("/console/events/{theirs}/act"),
            &[("csrf", &csrf), ("action", "close"), ("note", "越权结案")],
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        s.store().event(&theirs).unwrap().event.state.as_str(),
        "registered"
    );
    assert!(
        !o.staff
            .audit_log(20)
            .unwrap()
            .iter()
            .any(|a| a.target == theirs)
    );
    // Households: the list, the page and a reveal keep to g1; no access-log entry is written.
    let (_, list) = o.get(&token, "/console/households").await;
    assert!(list.contains(&h1.address) && !list.contains(&h2.address));
    let (_, found) = o
        .get(
            &token,
            &format!("/console/households?q={}", url_encode("李")),
        )
        .await;
    assert!(!found.contains(&h2.address));
    assert_eq!(
        o.get(&token, &format!("/console/households/{}", h1.id))
            .await
            .0,
        200
    );
    assert_eq!(
        o.get(&token, &format!("/console/households/{}", h2.id))
            .await
            .0,
        404
    );
    let (status, page) = o
        .post(
            &token,
            &format!("/console/households/{}/reveal", h2.id),
            &[
                ("csrf", &csrf),
                ("resident_id", &r2.id),
                ("field", "phone"),
                ("purpose", "紧急联系"),
            ],
        )
        .await;
    assert_eq!(status, 404);
    assert!(!page.contains("13900139000"));
    assert!(s.store().access_log().unwrap().is_empty());
    // Coverage and exports count g1 only: its grid row, its households due for a visit.
    let (_, coverage) = o.get(&token, "/console/coverage").await;
    assert!(!coverage.contains(&h2.address));
    assert!(!coverage.contains("<td>g2</td>"));
    assert!(coverage.contains("<td>第1网格</td>") && !coverage.contains("第2网格"));
    assert!(coverage.contains(&due1.address) && !coverage.contains(&due2.address));
    let sheet = |bytes: Vec<u8>| {
        let mut wb: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap();
        wb.worksheet_range_at(0).unwrap().unwrap()
    };
    let (_, bytes) = o.get_bytes(&token, "/console/export/events.xlsx").await;
    let r = sheet(bytes);
    assert_eq!(r.height(), 2, "header and the g1 event");
    assert_eq!(r.get((1, 0)), Some(&Data::String(mine.clone())));
    let (_, bytes) = o.get_bytes(&token, "/console/export/visits.xlsx").await;
    let r = sheet(bytes);
    assert_eq!(r.height(), 2, "header and the g1 visit");
    assert_eq!(r.get((1, 2)), Some(&Data::String(h1.address.clone())));
    let (_, bytes) = o.get_bytes(&token, "/console/export/coverage.xlsx").await;
    assert_eq!(sheet(bytes).height(), 2, "header and g1");
    // The office still sees both grids, or the one it picks.
    let clerk = o.login("clerk", PASSWORD).await.unwrap();
    let (_, board) = o.get(&clerk, "/console/board").await;
    assert!(board.contains(&mine) && board.contains(&theirs));
    let (_, board) = o.get(&clerk, "/console/board?grid=g2").await;
    assert!(board.contains(&theirs) && !board.contains(&mine));
    assert!(board.contains("共 1 件"));
    let (_, coverage) = o.get(&clerk, "/console/coverage").await;
    assert!(coverage.contains("<td>第1网格</td>") && coverage.contains("<td>第2网格</td>"));
    assert!(coverage.contains(&due1.address) && coverage.contains(&due2.address));
    assert_eq!(
        o.get(&clerk, &format!("/console/photos/{their_photo}"))
            .await
            .0,
        200
    );
}

async fn a_grid_worker_account_may_escalate_but_not_dispatch_or_close(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    o.staff
        .set_staff("worker", StaffRole::GridWorker, &["g1".into()], PASSWORD)
        .unwrap();
    let e = o
        .server
        .office()
        .store()
        .report_event(&event("g1", "垃圾堆放"))
        .unwrap();
    let token = o.login("worker", PASSWORD).await.unwrap();
    let csrf = o.csrf(&token).await;
    let (_, page) = o.get(&token, &format!("/console/events/{}", e.id)).await;
    assert!(page.contains("do-escalate") && !page.contains("do-dispatch"));
    let path = format!("/console/events/{}/act", e.id);
    for action in ["dispatch", "close"] {
        let (status, _) = o
            .post(
                &token,
                &path,
                &[("csrf", &csrf), ("action", action), ("note", "x")],
            )
            .await;
        assert_eq!(status, 403, "{action}");
    }
    let (status, _) = o
        .post(
            &token,
            &path,
            &[
                ("csrf", &csrf),
                ("action", "escalate"),
                ("note", "需社区协调"),
            ],
        )
        .await;
    assert_eq!(status, 303);
    assert_eq!(o.get(&token, "/console/devices").await.0, 403);
}

#[tokio::test]
async fn staff_scope_is_stored_with_the_account_and_checked_for_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let g = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    // A grid role needs grids; the office takes none; building leads have no console account.
    assert!(staff_add(&data, "a", "grid_leader", &[], PASSWORD).is_err());
    assert!(staff_add(&data, "a", "grid_leader", &g(&[" ", ""]), PASSWORD).is_err());
    assert!(staff_add(&data, "a", "office", &g(&["g1"]), PASSWORD).is_err());
    let lead = staff_add(&data, "a", "building_lead", &g(&["b1"]), PASSWORD).unwrap_err();
    assert!(lead.to_string().contains("phone"), "{lead}");
    staff_add(
        &data,
        "a",
        "grid_leader",
        &g(&["g2", " g1", "g2"]),
        PASSWORD,
    )
    .unwrap();
    let db = StaffDb::open(&data.join("staff.db")).unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    let t = db.create_session("a", now).unwrap();
    let staff = db.session(&t, now).unwrap().unwrap();
    assert_eq!(staff.role, StaffRole::GridLeader);
    assert_eq!(staff.scope, vec!["g1", "g2"]);
    assert_eq!(
        staff.grids(),
        Some(&["g1".to_string(), "g2".to_string()][..])
    );
    assert!(staff.sees_grid("g2") && !staff.sees_grid("g3"));
    // Saving the account again with other grids takes effect at the next login.
    staff_add(&data, "a", "grid_leader", &g(&["g3"]), PASSWORD).unwrap();
    let t = db.create_session("a", now).unwrap();
    assert_eq!(db.session(&t, now).unwrap().unwrap().scope, vec!["g3"]);
    staff_add(&data, "boss", "office", &[], PASSWORD).unwrap();
    let t = db.create_session("boss", now).unwrap();
    assert_eq!(db.session(&t, now).unwrap().unwrap().grids(), None);
}

/// The staff.db layout before versioning (user_version 0), as the first console created it.
const STAFF_DB_V1: &str = "
    CREATE TABLE staff (username TEXT PRIMARY KEY, role TEXT NOT NULL, pw_hash TEXT NOT NULL,
        created_ms INTEGER NOT NULL);
    CREATE TABLE sessions (token_hash BLOB PRIMARY KEY,
        username TEXT NOT NULL REFERENCES staff (username) ON DELETE CASCADE,
        csrf TEXT NOT NULL, expires_ms INTEGER NOT NULL);
    CREATE TABLE login_failures (username TEXT NOT NULL, at_ms INTEGER NOT NULL);
    CREATE INDEX login_failures_name ON login_failures (username, at_ms);
    CREATE TABLE audit (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL, username TEXT NOT NULL,
        action TEXT NOT NULL, target TEXT NOT NULL);
    INSERT INTO staff VALUES ('old-leader', 'grid_leader', 'x', 1);
    INSERT INTO audit (at_ms, username, action, target) VALUES (1, 'old-leader', 'login', '-');
";

/// Every table's and index's columns as (table, column, type, not null, default, pk).
fn schema_of(path: &Path) -> Vec<(String, String, String, bool, Option<String>, i64)> {
    let c = rusqlite::Connection::open(path).unwrap();
    let names: Vec<String> = c
        .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'index') ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut out = Vec::new();
    for n in names {
        let mut stmt = c
            .prepare(&format!(
                "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{n}')"
            ))
            .unwrap();
        let cols = stmt
            .query_map([], |r| {
                Ok((
                    n.clone(),
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })
            .unwrap();
        out.extend(cols.map(Result::unwrap));
        out.push((n, String::new(), String::new(), false, None, -1));
    }
    out
}

#[test]
fn an_unversioned_staff_db_upgrades_to_the_fresh_schema_and_its_grid_accounts_see_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.db");
    rusqlite::Connection::open(&old)
        .unwrap()
        .execute_batch(STAFF_DB_V1)
        .unwrap();
    let db = StaffDb::open(&old).unwrap();
    let fresh = dir.path().join("fresh.db");
    drop(StaffDb::open(&fresh).unwrap());
    assert_eq!(schema_of(&old), schema_of(&fresh));
    let version = |p: &Path| -> i64 {
        rusqlite::Connection::open(p)
            .unwrap()
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap()
    };
    assert_eq!(version(&old), version(&fresh));
    // Kept: the account and the audit trail. Its grids were never set, so it sees nothing
    // (never everything) until the office saves it with --scope.
    assert_eq!(db.audit_log(5).unwrap().len(), 1);
    let now = chrono::Utc::now().timestamp_millis();
    let t = db.create_session("old-leader", now).unwrap();
    let staff = db.session(&t, now).unwrap().unwrap();
    assert_eq!(staff.grids(), Some(&[][..]));
    assert!(!staff.sees_grid("g1"));
    // Opening again changes nothing.
    drop(db);
    drop(StaffDb::open(&old).unwrap());
    assert_eq!(schema_of(&old), schema_of(&fresh));
}

/// The self-signed certificate of a TLS server in `dir`.
fn tls_files(dir: &Path) -> TlsFiles {
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    TlsFiles {
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
    }
}

#[tokio::test]
async fn over_https_the_session_cookie_is_secure_httponly_and_strict() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = start(Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.clone(),
        tls: Some(tls_files(dir.path())),
        ..Config::default()
    })
    .await
    .unwrap();
    assert!(server.base_url().starts_with("https://"));
    let staff = StaffDb::open(&data.join("staff.db")).unwrap();
    staff
        .set_staff("clerk", StaffRole::Office, &[], PASSWORD)
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .redirect(Policy::none())
        .tls_danger_accept_invalid_certs(true)
        .build()
        .unwrap();
    let o = Office {
        server,
        staff,
        client,
    };
    // `login` checks HttpOnly, SameSite=Strict and Secure (the server is HTTPS).
    let token = o.login("clerk", PASSWORD).await.unwrap();
    let csrf = o.csrf(&token).await;
    let resp = o
        .client
        .post(o.url("/console/logout"))
        .header("cookie", format!("{COOKIE}={token}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("csrf", &csrf)]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 303);
    let cleared = resp.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("; Secure"),
        "{cleared}"
    );
    assert!(cleared.contains("HttpOnly") && cleared.contains("SameSite=Strict"));
}

/// The "自 … 以来" line of the today page.
fn since_line(page: &str) -> &str {
    let at = page.find("id=\"since-line\"").unwrap();
    &page[at..at + page[at..].find("</p>").unwrap()]
}

/// The hub position the today page's "mark as seen" form carries.
fn mark_upto(page: &str) -> String {
    let at = page.find("name=\"upto\" value=\"").unwrap() + 19;
    page[at..at + page[at..].find('"').unwrap()].to_string()
}

async fn today_lists_what_phones_synced_since_the_clerks_mark(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let o = office(b, dir.path()).await;
    o.staff
        .set_staff("leader2", StaffRole::GridLeader, &["g2".into()], PASSWORD)
        .unwrap();
    o.server.office_sync().await.unwrap();
    let worker = common::phone(
        &o.server,
        dir.path(),
        "worker-1",
        Role::GridWorker,
        &["g1"],
        None,
    )
    .await;
    worker.sync().await.unwrap();
    let clerk = o.login("clerk", PASSWORD).await.unwrap();
    let (_, page) = o.get(&clerk, "/console/today").await;
    // The log of office syncs began when this server first opened the console.
    assert!(
        since_line(&page).contains("办公台开始记录同步时间"),
        "{}",
        since_line(&page)
    );
    assert!(page.contains("没有新同步的内容"));
    assert!(!page.contains("mark-seen"), "nothing to mark yet");

    // The worker's afternoon: a visit with a need, a snap report and a dispute.
    let h = worker.store.grid_households("g1").unwrap()[0].clone();
    let mut v = common::visit(&mut Rng::new(4), &h.id);
    v.needs = vec![gridwalk_core::NeedInput {
        category: "房屋维修".into(),
        description: "卫生间漏水到楼下".into(),
        urgency: gridwalk_core::Urgency::Normal,
        due_ms: None,
    }];
    worker.store.record_visit(&v).unwrap();
    let snap = worker
        .store
        .report_event(&event("g1", "单元门禁损坏"))
        .unwrap();
    let mut d = event("g1", "邻里噪音纠纷");
    d.source = EventSource::Dispute;
    d.parties = vec!["301 住户".into(), "401 住户".into()];
    let dispute = worker.store.report_event(&d).unwrap();
    // The office registers something itself: not an arrival.
    let own = o
        .server
        .office()
        .store()
        .report_event(&event("g1", "办公室自己登记"))
        .unwrap();
    worker.sync().await.unwrap();
    o.server.office_sync().await.unwrap();

    let (status, page) = o.get(&clerk, "/console/today").await;
    assert_eq!(status, 200);
    for needle in [
        h.address.as_str(),
        "卫生间漏水到楼下",
        &snap.id,
        &dispute.id,
        "worker-1",
    ] {
        assert!(page.contains(needle), "today lacks {needle}");
    }
    assert!(
        !page.contains(&own.id),
        "the office's own event is not an arrival"
    );
    assert!(
        !page.contains("时间不详"),
        "every change has its office sync time"
    );
    // A grid leader of g2 sees none of it; the g1 leader sees it all.
    let other = o.login("leader2", PASSWORD).await.unwrap();
    let (_, page2) = o.get(&other, "/console/today").await;
    assert!(!page2.contains(&snap.id) && !page2.contains(&h.address));
    assert!(since_line(&page2).contains("仅您负责的网格"));
    let leader = o.login("leader", PASSWORD).await.unwrap();
    assert!(o.get(&leader, "/console/today").await.1.contains(&snap.id));

    // The clerk marks it all as seen: the page starts from there, for this clerk only.
    let csrf = o.csrf(&clerk).await;
    let upto = mark_upto(&page);
    let too_far = (upto.parse::<u64>().unwrap() + 1000).to_string();
    let (status, _) = o
        .post(
            &clerk,
            "/console/today/seen",
            &[("csrf", &csrf), ("upto", &too_far)],
        )
        .await;
    assert_eq!(status, 400, "a mark past what the office holds");
    let (status, _) = o
        .post(
            &clerk,
            "/console/today/seen",
            &[("csrf", "wrong"), ("upto", &upto)],
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = o
        .post(
            &clerk,
            "/console/today/seen",
            &[("csrf", &csrf), ("upto", &upto)],
        )
        .await;
    assert_eq!(status, 303);
    let (_, page) = o.get(&clerk, "/console/today").await;
    assert!(
        since_line(&page).contains("您上次标为已阅"),
        "{}",
        since_line(&page)
    );
    assert!(page.contains("没有新同步的内容") && !page.contains(&snap.id));
    assert!(o.get(&leader, "/console/today").await.1.contains(&snap.id));
    // "Today" still shows the day's arrivals; marking an older position later changes nothing.
    assert!(
        o.get(&clerk, "/console/today?since=today")
            .await
            .1
            .contains(&snap.id)
    );
    let (status, _) = o
        .post(
            &clerk,
            "/console/today/seen",
            &[("csrf", &csrf), ("upto", "1")],
        )
        .await;
    assert_eq!(status, 303);
    assert!(!o.get(&clerk, "/console/today").await.1.contains(&snap.id));

    // The office dispatches the snap; the worker handles it and visits again: only the new
    // visit and the step appear, the handled snap under "事件进展".
    let s = o.server.office();
    s.store()
        .step_event(
            &snap.id,
            gridwalk_core::events::Action::Dispatch,
            &gridwalk_core::events::StepInput {
                assignee: Some("worker-1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    o.server.office_sync().await.unwrap();
    worker.sync().await.unwrap();
    worker
        .store
        .step_event(
            &snap.id,
            gridwalk_core::events::Action::Handle,
            &gridwalk_core::events::StepInput {
                note: "已修复门禁".into(),
                ..Default::default()
            },
        )
        .unwrap();
    let h2 = worker.store.grid_households("g1").unwrap()[1].clone();
    worker
        .store
        .record_visit(&common::visit(&mut Rng::new(5), &h2.id))
        .unwrap();
    worker.sync().await.unwrap();
    o.server.office_sync().await.unwrap();
    let (_, page) = o.get(&clerk, "/console/today").await;
    assert!(page.contains(&h2.address), "the new visit");
    assert!(!page.contains("卫生间漏水到楼下"), "the old need was seen");
    let progress =
        &page[page.find("<h2>事件进展</h2>").unwrap()..page.find("<h2>困难需求</h2>").unwrap()];
    assert!(progress.contains(&snap.id) && progress.contains("已处置"));
    assert!(!page.contains(&dispute.id));
    let audit = o.staff.audit_log(20).unwrap();
    assert!(
        audit
            .iter()
            .any(|a| a.action == "today-seen" && a.target == upto)
    );
}

#[test]
fn the_office_sync_log_turns_times_into_hub_positions() {
    let dir = tempfile::tempdir().unwrap();
    let db = StaffDb::open(&dir.path().join("staff.db")).unwrap();
    let h = 3_600_000;
    // Before the log starts, a time maps to position 0.
    assert_eq!(db.hub_seq_before(5 * h).unwrap(), (0, 5 * h));
    db.start_sync_log(40, 10 * h).unwrap();
    db.start_sync_log(99, 11 * h).unwrap();
    db.log_office_sync(45, 12 * h, 3).unwrap();
    db.log_office_sync(52, 14 * h, 7).unwrap();
    db.log_office_sync(52, 15 * h, 7).unwrap();
    // A time before the log: the log's start, and the page says so by the later time.
    assert_eq!(db.hub_seq_before(9 * h).unwrap(), (40, 10 * h));
    assert_eq!(db.hub_seq_before(13 * h).unwrap(), (45, 13 * h));
    assert_eq!(db.hub_seq_before(20 * h).unwrap(), (52, 20 * h));
    let syncs = db.office_syncs(40, 52).unwrap();
    assert_eq!(
        syncs
            .iter()
            .map(|s| (s.hub_seq, s.changes))
            .collect::<Vec<_>>(),
        vec![(45, 3), (52, 7)]
    );
    // Marks only move forward.
    assert_eq!(db.seen_mark("clerk").unwrap(), None);
    db.set_staff("clerk", StaffRole::Office, &[], PASSWORD)
        .unwrap();
    db.set_seen_mark("clerk", 45, 12 * h).unwrap();
    db.set_seen_mark("clerk", 41, 13 * h).unwrap();
    let m = db.seen_mark("clerk").unwrap().unwrap();
    assert_eq!((m.hub_seq, m.at_ms), (45, 12 * h));
}

crate::on_both_stores!(
    a_wrong_password_gets_no_session_and_the_right_one_does,
    five_failed_logins_block_the_name_for_a_while,
    an_expired_session_leads_back_to_the_login,
    a_post_without_the_sessions_csrf_token_is_refused,
    a_grid_leader_runs_the_loop_but_not_devices_or_the_roster,
    console_steps_name_the_staff_member_in_the_events_own_log,
    the_office_enrols_a_device_with_a_code_and_qr_and_revokes_it,
    a_roster_with_bad_rows_gives_a_report_and_imports_nothing,
    reimporting_a_roster_updates_instead_of_duplicating,
    exports_open_as_xlsx_and_hold_the_rows,
    revealing_a_value_needs_a_purpose_and_writes_the_access_log,
    hostile_strings_are_escaped_on_every_page,
    a_grid_leader_sees_and_acts_on_only_their_grids,
    pages_show_the_photos_the_server_holds_and_say_which_have_not_arrived,
    a_grid_worker_account_may_escalate_but_not_dispatch_or_close,
    today_lists_what_phones_synced_since_the_clerks_mark,
);
