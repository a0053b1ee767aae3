//! The office console on an old PC: the event board with 10 000 events.
//!
//! Fills the office replica with 10 000 events across the closed loop (registered, dispatched,
//! handled, verified, closed), logs a clerk in, and times `GET /console/board` over HTTP
//! through the real router. Prints `console_board_10k_ms <median> ms` (and the slowest run);
//! the goal is ≤ 200 ms. `GRIDWALK_BENCH_EVENTS` changes the count.
#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use gridwalk_core::demo;
use gridwalk_core::events::{Action, EventInput, EventPlace, EventSource, StepInput};
use gridwalk_server::console::auth::{COOKIE, StaffDb, StaffRole};
use gridwalk_server::{Config, start};

const RUNS: usize = 15;

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("GRIDWALK_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let server = start(Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: data.clone(),
        ..Config::default()
    })
    .await
    .unwrap();
    let office = server.office();
    let filled = Instant::now();
    tokio::task::spawn_blocking(move || {
        let s = office.store();
        s.load_roster(&demo::roster(8, 24, 2026)).unwrap();
        let cats = [
            "environment",
            "facility",
            "noise",
            "safety",
            "occupation",
            "other",
        ];
        for i in 0..n {
            let g = format!("g{}", i % 8 + 1);
            let e = s
                .report_event(&EventInput {
                    grid_id: g,
                    source: if i % 10 == 0 {
                        EventSource::Dispute
                    } else {
                        EventSource::Snap
                    },
                    category: cats[i % cats.len()].into(),
                    place: EventPlace {
                        building_id: None,
                        unit: None,
                        text: format!("小区第{i}处"),
                        lat: None,
                        lon: None,
                    },
                    description: format!("基准事件 {i}"),
                    photos: Vec::new(),
                    household_id: None,
                    parties: Vec::new(),
                })
                .unwrap();
            // Spread the events over the loop's states.
            let step = |a| StepInput {
                note: "基准".into(),
                assignee: (a == Action::Dispatch).then(|| "worker-1".to_string()),
                ..StepInput::default()
            };
            let steps: &[Action] = match i % 5 {
                0 => &[],
                1 => &[Action::Dispatch],
                2 => &[Action::Dispatch, Action::Close],
                3 => &[Action::Close],
                _ => &[Action::Escalate],
            };
            for a in steps {
                s.step_event(
                    &e.id,
                    *a,
                    &StepInput {
                        note: "上报原因".into(),
                        ..step(*a)
                    },
                )
                .unwrap();
            }
        }
    })
    .await
    .unwrap();
    eprintln!(
        "filled {n} events in {:.1} s",
        filled.elapsed().as_secs_f64()
    );

    let staff = StaffDb::open(&data.join("staff.db")).unwrap();
    staff
        .set_staff("bench", StaffRole::Office, &[], "bench-password")
        .unwrap();
    let token = staff
        .create_session("bench", chrono::Utc::now().timestamp_millis())
        .unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let url = format!("{}/console/board", server.base_url());
    let mut times = Vec::new();
    for i in 0..RUNS + 1 {
        let t = Instant::now();
        let resp = client
            .get(&url)
            .header("cookie", format!("{COOKIE}={token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.unwrap();
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(
            body.contains(&format!("共 {n} 件")),
            "the board does not count every event"
        );
        // The first request warms the caches; it is reported apart.
        if i == 0 {
            eprintln!("first board request {ms:.1} ms, {} bytes", body.len());
        } else {
            times.push(ms);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!("console_board_10k_ms {:.1} ms", times[times.len() / 2]);
    println!("console_board_10k_max_ms {:.1} ms", times[times.len() - 1]);
    server.shutdown().await.unwrap();
}
