//! End-of-day sync, measured: bytes and round trips of a day, a new device's first sync, a no-op
//! sync, the day over a 2G link, and 100 devices syncing concurrently against a server process.
//!
//! Prints one `metric value unit` line per figure. `baseline_automerge_sync_bytes_up` runs
//! Automerge's own sync protocol, with per-document sync states persisted from the previous
//! sync, on the same documents in the same run.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use automerge::sync::{State, SyncDoc};
use automerge::{Automerge, Change};
use gridwalk_core::demo::{self, Rng};
use gridwalk_core::shim::SimulatedLink;
use gridwalk_core::store::Bundle;
use gridwalk_core::sync::{SyncReport, sync};
use gridwalk_core::{HouseholdPatch, RosterInput, Store};
use gridwalk_server::{Config, start};

#[path = "common/phone.rs"]
mod common;
use common::phone;

const DAY_MS: i64 = 86_400_000;

async fn run<T: gridwalk_core::sync::Transport>(store: &Store, t: &T) -> SyncReport {
    sync(store, t, &|_| {}, &AtomicBool::new(false))
        .await
        .unwrap()
}

/// The device's day: 40 visits (one change each) and 5 household edits.
fn work_a_day(store: &Store, households: &[String], rng: &mut Rng) {
    let now = chrono::Utc::now().timestamp_millis() - DAY_MS / 2;
    for (i, h) in households.iter().cycle().take(40).enumerate() {
        store
            .record_visit(&demo::visit(rng, h, now + i as i64 * 60_000))
            .unwrap();
    }
    for h in households.iter().skip(100).take(5) {
        store
            .update_household(
                h,
                &HouseholdPatch {
                    notes: Some("独居,子女每周探望".into()),
                    ..Default::default()
                },
            )
            .unwrap();
    }
}

fn docs_of(bundle: &Bundle) -> HashMap<String, Automerge> {
    bundle
        .docs
        .iter()
        .map(|d| {
            let mut doc = Automerge::new();
            let changes: Vec<Change> = d
                .changes
                .iter()
                .map(|c| Change::from_bytes(c.clone()).unwrap())
                .collect();
            doc.apply_changes(changes).unwrap();
            (d.id.clone(), doc)
        })
        .collect()
}

/// Runs Automerge's sync protocol between two documents to convergence; returns bytes a→b.
fn am_sync(a: &mut Automerge, sa: &mut State, b: &mut Automerge, sb: &mut State) -> (usize, usize) {
    let (mut up, mut messages) = (0, 0);
    for _ in 0..20 {
        let m1 = a.generate_sync_message(sa);
        if let Some(m) = m1.clone() {
            let bytes = m.encode();
            up += bytes.len();
            messages += 1;
            b.receive_sync_message(sb, automerge::sync::Message::decode(&bytes).unwrap())
                .unwrap();
        }
        let m2 = b.generate_sync_message(sb);
        if let Some(m) = m2.clone() {
            a.receive_sync_message(sa, automerge::sync::Message::decode(&m.encode()).unwrap())
                .unwrap();
        }
        if m1.is_none() && m2.is_none() {
            break;
        }
    }
    (up, messages)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("server"),
        tls: None,
        store: None,
        ..Config::default()
    })
    .await
    .unwrap();
    let office = server.office();
    let mut rng = Rng::new(11);
    let roster = demo::roster(1, 400, 2026);
    office.store().load_roster(&roster).unwrap();
    let households: Vec<String> = office
        .store()
        .grid_households("g1")
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    for h in households.iter().take(400) {
        for r in demo::residents(&mut rng).into_iter().take(2) {
            office.store().add_resident(h, &r).unwrap();
        }
    }
    server.office_sync().await.unwrap();

    // --- A device with its sync state: the morning sync, then a day.
    let (device, t) = phone(&server, dir.path(), "worker-1", &["g1"]).await;
    run(&device, &t).await;
    let device_before = device.export_all().unwrap();
    let office_before = office.store().export_all().unwrap();
    work_a_day(&device, &households, &mut rng);
    for h in households.iter().skip(200).take(3) {
        office
            .store()
            .update_household(
                h,
                &HouseholdPatch {
                    address: Some("安居苑小区(已更新门牌)".into()),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    server.office_sync().await.unwrap();
    let device_after = device.export_all().unwrap();
    let office_after = office.store().export_all().unwrap();
    let day = run(&device, &t).await;
    println!("day_sync_bytes_up {} bytes", day.bytes_up);
    println!("day_sync_bytes_down {} bytes", day.bytes_down);
    println!("day_sync_round_trips {} count", day.round_trips);
    assert_eq!(day.changes_down, 3, "the office's 3 changes arrive");

    // Baseline: Automerge's sync protocol per document, states persisted from the morning.
    {
        let mut dev = docs_of(&device_before);
        let mut srv = docs_of(&office_before);
        let mut states: HashMap<String, (Vec<u8>, Vec<u8>)> = HashMap::new();
        for (id, d) in dev.iter_mut() {
            let s = srv.get_mut(id).unwrap();
            let (mut a, mut b) = (State::new(), State::new());
            am_sync(d, &mut a, s, &mut b);
            states.insert(id.clone(), (a.encode(), b.encode()));
        }
        let dev_after = docs_of(&device_after);
        let srv_after = docs_of(&office_after);
        let (mut up, mut messages) = (0, 0);
        for (id, (sa, sb)) in &states {
            let mut d = dev_after.get(id).unwrap().clone();
            let mut s = srv_after.get(id).unwrap().clone();
            let (mut a, mut b) = (State::decode(sa).unwrap(), State::decode(sb).unwrap());
            let (u, m) = am_sync(&mut d, &mut a, &mut s, &mut b);
            up += u;
            messages += m;
        }
        println!("baseline_automerge_sync_bytes_up {up} bytes");
        println!("baseline_automerge_sync_messages_up {messages} count");
    }

    // --- Nothing changed: one small round trip.
    let noop = run(&device, &t).await;
    println!("noop_sync_bytes {} bytes", noop.bytes_up + noop.bytes_down);
    println!("noop_sync_round_trips {} count", noop.round_trips);

    // --- The same day over 2G (100 kbit/s, 500 ms RTT), simulated.
    work_a_day(&device, &households, &mut rng);
    let link = SimulatedLink::new(t, 100_000.0, Duration::from_millis(500));
    run(&device, &link).await;
    println!("day_sync_2g_seconds {:.2} s", link.elapsed().as_secs_f64());

    // --- A new device registers 400 households and records 40 visits, then syncs once.
    {
        let empty = RosterInput {
            households: Vec::new(),
            ..roster.clone()
        };
        let mut roster2 = empty.clone();
        roster2.grids[0].id = "g9".into();
        for b in &mut roster2.buildings {
            b.id = format!("n{}", b.id);
            b.grid_id = "g9".into();
        }
        office
            .store()
            .load_roster(&RosterInput {
                grids: [empty.grids.clone(), roster2.grids.clone()].concat(),
                buildings: [empty.buildings.clone(), roster2.buildings.clone()].concat(),
                ..empty
            })
            .unwrap();
        server.office_sync().await.unwrap();
        let (fresh, ft) = phone(&server, dir.path(), "worker-9", &["g9"]).await;
        run(&fresh, &ft).await;
        for h in &roster.households {
            let mut h = h.clone();
            h.id = None;
            h.building_id = format!("n{}", h.building_id);
            fresh.create_household(&h).unwrap();
        }
        let mine: Vec<String> = fresh
            .grid_households("g9")
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect();
        let now = chrono::Utc::now().timestamp_millis() - DAY_MS / 2;
        for (i, h) in mine.iter().take(40).enumerate() {
            fresh
                .record_visit(&demo::visit(&mut rng, h, now + i as i64 * 60_000))
                .unwrap();
        }
        let started = Instant::now();
        let first = run(&fresh, &ft).await;
        println!(
            "first_sync_440_docs_ms {:.0} ms",
            started.elapsed().as_secs_f64() * 1e3
        );
        println!("first_sync_440_docs_bytes_up {} bytes", first.bytes_up);
        println!("first_sync_requests {} count", first.round_trips);
    }

    // --- 100 devices, one grid each, sync a day at once against a server process.
    let grids = 100;
    let mut big = demo::roster(grids, 20, 7);
    big.households.truncate(grids * 20);
    let dir2 = tempfile::tempdir().unwrap();
    let server2 = start(Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir2.path().join("server"),
        tls: None,
        store: None,
        ..Config::default()
    })
    .await
    .unwrap();
    server2.office().store().load_roster(&big).unwrap();
    server2.office_sync().await.unwrap();
    let mut devices = Vec::new();
    for g in 0..grids {
        let grid = format!("g{}", g + 1);
        let (s, t) = phone(&server2, dir2.path(), &format!("w{g}"), &[grid.as_str()]).await;
        run(&s, &t).await;
        let hs: Vec<String> = s
            .grid_households(&grid)
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect();
        work_a_day(&s, &hs, &mut rng);
        // The simulated device's end-of-day request, built and compressed on the device side
        // beforehand so the timing below measures the server, not 100 clients sharing its cores.
        let (request, _) = s
            .sync_request(gridwalk_core::sync::MAX_PUSH_CHANGES)
            .unwrap();
        devices.push((
            gridwalk_core::sync::encode_compact(&request).unwrap(),
            t.token().to_string(),
            request.request_id,
        ));
    }
    server2.shutdown().await.unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gridwalk-server"))
        .args(["serve", "--addr", &addr.to_string(), "--data-dir"])
        .arg(dir2.path().join("server"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    while std::net::TcpStream::connect(addr).is_err() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    let tasks: Vec<_> = devices
        .into_iter()
        .map(|(body, token, request_id)| {
            let (client, url) = (client.clone(), format!("{base}/v1/sync"));
            tokio::spawn(async move {
                let resp = client
                    .post(url)
                    .bearer_auth(token)
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 200);
                let reply: gridwalk_core::sync::SyncReply =
                    gridwalk_core::sync::decode(&resp.bytes().await.unwrap()).unwrap();
                assert_eq!(reply.request_id, request_id);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let secs = started.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let rss = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmHWM:").map(|v| {
                v.trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .unwrap_or(0.0)
            })
        })
        .unwrap_or(0.0);
    let _ = child.kill();
    let _ = child.wait();
    println!("server_syncs_per_sec {:.1} syncs/s", grids as f64 / secs);
    println!(
        "server_syncs_per_sec_per_core {:.1} syncs/s",
        grids as f64 / secs / cores
    );
    println!("server_peak_rss_mb {:.1} MB", rss / 1024.0);
    let _ = server.shutdown().await;
}
