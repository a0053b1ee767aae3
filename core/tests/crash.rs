//! Crash safety: a child process writing visits is killed with SIGKILL at random points, over and
//! over. Every visit the store acknowledged must be there afterwards, and SQLite's integrity check
//! must pass.
#![allow(clippy::unwrap_used, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gridwalk_core::demo::{self, Rng};
use gridwalk_core::{Store, db};

const KEY: [u8; 32] = [5; 32];
const CHILD_ENV: &str = "GRIDWALK_CRASH_CHILD_STORE";
const ROUNDS: usize = 200;

/// Runs only inside the child process: writes visits until killed, printing each acknowledged id.
#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(std::path::Path::new(&path), &KEY, "worker-1").unwrap();
    let households: Vec<String> = store
        .grid_households("g1")
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    let seed = std::process::id() as u64;
    let mut rng = Rng::new(seed);
    let mut out = std::io::stdout().lock();
    let now = chrono::Utc::now().timestamp_millis() - 3_600_000;
    loop {
        let h = rng.pick(&households).clone();
        let v = store.record_visit(&demo::visit(&mut rng, &h, now)).unwrap();
        writeln!(out, "ACK {} {}", h, v.id).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn killing_the_writer_at_random_points_loses_no_acknowledged_visit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    Store::open(&path, &KEY, "office")
        .unwrap()
        .load_roster(&demo::roster(1, 24, 1))
        .unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = Rng::new(77);
    let mut acked: Vec<(String, String)> = Vec::new();
    for _ in 0..ROUNDS {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("ACK ") {
                    let mut parts = rest.split(' ');
                    let (h, v) = (
                        parts.next().unwrap().to_string(),
                        parts.next().unwrap().to_string(),
                    );
                    if tx.send((h, v)).is_err() {
                        break;
                    }
                }
            }
        });
        // Wait for the first acknowledgement (the child is up and writing), then a random
        // extra delay so the kill lands anywhere: mid-transaction, mid-fsync, between writes.
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("child wrote nothing");
        acked.push(first);
        let deadline = Instant::now() + Duration::from_micros(rng.below(40_000));
        while Instant::now() < deadline {
            std::hint::spin_loop();
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        reader.join().unwrap();
        acked.extend(rx.try_iter());
    }
    let store = Store::open(&path, &KEY, "office").unwrap();
    for (h, v) in &acked {
        let visits = store.visit_history(h).unwrap();
        assert!(
            visits.iter().any(|x| &x.id == v),
            "acknowledged visit {v} of {h} is missing"
        );
    }
    let total: u32 = store
        .grid_households("g1")
        .unwrap()
        .iter()
        .map(|h| h.visit_count)
        .sum();
    assert!(total as usize >= acked.len());
    let db = db::Db::open(&path, &KEY).unwrap();
    let check: String = db
        .read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
        .unwrap();
    assert_eq!(check, "ok");
    store.rebuild_projections().unwrap();
    let rebuilt: u32 = store
        .grid_households("g1")
        .unwrap()
        .iter()
        .map(|h| h.visit_count)
        .sum();
    assert_eq!(
        rebuilt, total,
        "projections agree with the documents after the crashes"
    );
    eprintln!(
        "crash test: {ROUNDS} kills, {} acknowledged visits all present",
        acked.len()
    );
}
