//! Server throughput as the server grows: 200 devices, one grid each, push a day of work at once
//! against one process on the embedded SQLite hub, one process on PostgreSQL, and two processes
//! sharing that PostgreSQL (devices split between them).
//!
//! Prints `server_syncs_per_sec_sqlite`, `server_syncs_per_sec_pg_1` and
//! `server_syncs_per_sec_pg_2` as `metric value unit` lines. The PostgreSQL lines need a server:
//! run `scripts/with-postgres.sh cargo bench -p gridwalk-server --bench scale`; without
//! `GRIDWALK_TEST_PG` they are skipped with a note, never guessed.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use gridwalk_core::demo::{self, Rng};
use gridwalk_core::sync::{MAX_PUSH_CHANGES, encode_compact, sync};
use gridwalk_server::hub::postgres::create_database;
use gridwalk_server::{Config, start};

#[path = "common/phone.rs"]
mod common;
use common::phone;

const DEVICES: usize = 200;
const PER_GRID: usize = 20;
const DAY_MS: i64 = 86_400_000;

/// A device's end-of-day request, built and compressed beforehand so the timing measures the
/// servers, not 200 clients sharing their cores.
struct Body {
    bytes: Vec<u8>,
    token: String,
    request_id: u64,
}

/// A community of 200 grids on the hub `store` names, 200 enrolled devices that took their
/// grid in the morning and worked a day offline; returns their evening requests.
async fn prepare(root: &Path, store: Option<String>) -> Vec<Body> {
    let server = start(Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: root.join("server"),
        tls: None,
        store,
        ..Config::default()
    })
    .await
    .unwrap();
    let mut roster = demo::roster(DEVICES, PER_GRID, 7);
    roster.households.truncate(DEVICES * PER_GRID);
    server.office().store().load_roster(&roster).unwrap();
    server.office_sync().await.unwrap();
    std::fs::create_dir_all(root.join("phones")).unwrap();
    let mut rng = Rng::new(11);
    let mut bodies = Vec::new();
    let now = chrono::Utc::now().timestamp_millis() - DAY_MS / 2;
    for g in 0..DEVICES {
        let grid = format!("g{}", g + 1);
        let (s, t) = phone(
            &server,
            &root.join("phones"),
            &format!("w{g}"),
            &[grid.as_str()],
        )
        .await;
        sync(&s, &t, &|_| {}, &AtomicBool::new(false))
            .await
            .unwrap();
        let hs: Vec<String> = s
            .grid_households(&grid)
            .unwrap()
            .into_iter()
            .map(|h| h.id)
            .collect();
        // The day: 40 visits.
        for (i, h) in hs.iter().cycle().take(40).enumerate() {
            s.record_visit(&demo::visit(&mut rng, h, now + i as i64 * 60_000))
                .unwrap();
        }
        let (request, _) = s.sync_request(MAX_PUSH_CHANGES).unwrap();
        bodies.push(Body {
            bytes: encode_compact(&request).unwrap(),
            token: t.token().to_string(),
            request_id: request.request_id,
        });
    }
    server.shutdown().await.unwrap();
    bodies
}

/// A `gridwalk-server serve` child process.
struct Process {
    child: Child,
    base: String,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server process on `data_dir` and returns once its office replica has caught up
/// with the hub, so the measurement sees only the devices' load.
fn serve(data_dir: &Path, store: Option<&str>) -> Process {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gridwalk-server"));
    cmd.args(["serve", "--addr", &addr.to_string(), "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn,gridwalk_server::server=debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(s) = store {
        cmd.args(["--store", s]);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (synced, wait) = mpsc::channel();
    std::thread::spawn(move || {
        // Keeps draining the log so the server never blocks on a full pipe.
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("office replica synced") {
                let _ = synced.send(());
            }
        }
    });
    wait.recv_timeout(Duration::from_secs(300))
        .expect("the server's office replica caught up");
    Process {
        child,
        base: format!("http://{addr}"),
    }
}

/// All devices post their day at once, device i to process i mod n; returns syncs per second.
async fn measure(processes: &[Process], bodies: Vec<Body>) -> f64 {
    let client = reqwest::Client::new();
    let n = bodies.len();
    let started = Instant::now();
    let tasks: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let url = format!("{}/v1/sync", processes[i % processes.len()].base);
            let client = client.clone();
            tokio::spawn(async move {
                let resp = client
                    .post(url)
                    .bearer_auth(b.token)
                    .body(b.bytes)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), 200);
                let reply: gridwalk_core::sync::SyncReply =
                    gridwalk_core::sync::decode(&resp.bytes().await.unwrap()).unwrap();
                assert_eq!(reply.request_id, b.request_id);
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// A copy of the prepared database (its connections may take a moment to close).
fn copy_database(admin: &str, name: &str, template: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match create_database(admin, name, Some(template)) {
            Ok(url) => return url,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for the template database: {e}");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => panic!("copying the prepared database: {e}"),
        }
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tmp = tempfile::tempdir().unwrap();
    let root: PathBuf = tmp.path().to_path_buf();

    // One community process on the embedded store.
    let sqlite = root.join("sqlite");
    let bodies = prepare(&sqlite, None).await;
    let p = serve(&sqlite.join("server"), None);
    let rate = measure(std::slice::from_ref(&p), bodies).await;
    drop(p);
    println!("server_syncs_per_sec_sqlite {rate:.1} syncs/s");

    let Some(admin) = std::env::var("GRIDWALK_TEST_PG")
        .ok()
        .filter(|s| !s.is_empty())
    else {
        eprintln!(
            "GRIDWALK_TEST_PG is unset: server_syncs_per_sec_pg_1 and _pg_2 need PostgreSQL; \
             run scripts/with-postgres.sh cargo bench -p gridwalk-server --bench scale"
        );
        return;
    };
    let mut r = [0u8; 4];
    getrandom::fill(&mut r).unwrap();
    let tag = hex::encode(r);
    // Prepared once; each run starts from its own copy of the same database.
    let template = format!("scale_{tag}");
    let prepared_url = create_database(&admin, &template, None).unwrap();
    let pg = root.join("pg");
    let bodies = prepare(&pg, Some(prepared_url)).await;
    let copies: Vec<Vec<Body>> = (0..2)
        .map(|_| {
            bodies
                .iter()
                .map(|b| Body {
                    bytes: b.bytes.clone(),
                    token: b.token.clone(),
                    request_id: b.request_id,
                })
                .collect()
        })
        .collect();
    let mut copies = copies.into_iter();

    for processes in [1, 2] {
        let url = copy_database(&admin, &format!("scale_{tag}_{processes}"), &template);
        // The first process keeps the prepared office replica; others start their own, which
        // catches up from the hub before the measurement.
        let first = root.join(format!("pg{processes}-a"));
        copy_dir(&pg.join("server"), &first);
        let mut running = vec![serve(&first, Some(&url))];
        for i in 1..processes {
            running.push(serve(&root.join(format!("pg{processes}-{i}")), Some(&url)));
        }
        let rate = measure(&running, copies.next().unwrap()).await;
        drop(running);
        println!("server_syncs_per_sec_pg_{processes} {rate:.1} syncs/s");
    }
}
