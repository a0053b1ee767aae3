//! Five phones make random offline edits over many rounds and sync through a network that drops,
//! duplicates, delays, truncates, corrupts and replays, while the server process is killed with
//! SIGKILL mid-request and restarted. At the end every replica is identical, every acknowledged
//! visit is everywhere, and nothing appears that no phone made.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::Backend;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gridwalk_core::demo::Rng;
use gridwalk_core::http::HttpTransport;
use gridwalk_core::shim::{FaultPlan, FaultyTransport};
use gridwalk_core::{HouseholdPatch, Occupancy};
use gridwalk_server::policy::Role;
use gridwalk_server::{Config, start};

const PHONES: usize = 5;
const ROUNDS: usize = 20;

struct ServerProcess {
    data_dir: PathBuf,
    store: Option<String>,
    addr: String,
    child: Option<Child>,
}

impl ServerProcess {
    fn start(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gridwalk-server"));
        cmd.args(["serve", "--addr", &self.addr, "--data-dir"])
            .arg(&self.data_dir);
        if let Some(store) = &self.store {
            cmd.args(["--store", store]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&self.addr).is_err() {
            assert!(Instant::now() < deadline, "server did not come back");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill(); // SIGKILL
            let _ = c.wait();
        }
    }
}

fn free_addr() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

fn visit_ids(store: &gridwalk_core::Store, households: &[String]) -> BTreeSet<String> {
    households
        .iter()
        .flat_map(|h| store.visit_history(h).unwrap().into_iter().map(|v| v.id))
        .collect()
}

async fn settle(phones: &[(gridwalk_core::Store, HttpTransport)]) {
    for _ in 0..3 {
        for (store, t) in phones {
            gridwalk_core::sync::sync(store, t, &|_| {}, &AtomicBool::new(false))
                .await
                .unwrap();
        }
    }
}

async fn five_phones_converge_through_a_hostile_network_and_server_crashes(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("server");
    // Set up the community and enrol the phones in process, then hand the data to a real
    // server process that the test can kill.
    let store = common::fresh_store(b);
    let server = common::server_on(store.clone(), dir.path(), 12, None).await;
    let mut enrolled = Vec::new();
    for i in 0..PHONES {
        let p = common::phone(
            &server,
            dir.path(),
            &format!("phone{i}"),
            Role::GridWorker,
            &["g1", "g2"],
            None,
        )
        .await;
        p.sync().await.unwrap(); // the morning: the phone holds the grid
        enrolled.push(p);
    }
    let households: Vec<String> = ["g1", "g2"]
        .iter()
        .flat_map(|g| {
            server
                .office()
                .store()
                .grid_households(g)
                .unwrap()
                .into_iter()
                .map(|h| h.id)
        })
        .collect();
    server.shutdown().await.unwrap();

    let addr = free_addr();
    let base = format!("http://{addr}");
    let proc = Arc::new(Mutex::new(ServerProcess {
        data_dir: data_dir.clone(),
        store: store.clone(),
        addr,
        child: None,
    }));
    proc.lock().unwrap().start();

    let phones: Vec<(gridwalk_core::Store, FaultyTransport<HttpTransport>)> = enrolled
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let t = HttpTransport::new(&base, &p.enrolment.token, None).unwrap();
            (
                p.store,
                FaultyTransport::new(t, FaultPlan::hostile(), 100 + i as u64),
            )
        })
        .collect();
    let mut rng = Rng::new(2026);
    let mut made: BTreeSet<String> = BTreeSet::new();
    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    let mut made_by: Vec<BTreeSet<String>> = vec![BTreeSet::new(); PHONES];
    let mut kills = 0;
    let mut failed_syncs = 0;
    for round in 0..ROUNDS {
        for (i, (store, transport)) in phones.iter().enumerate() {
            // Offline edits: visits, and household fields others may be editing too.
            for _ in 0..(1 + rng.below(3)) {
                let h = rng.pick(&households).clone();
                let v = store.record_visit(&common::visit(&mut rng, &h)).unwrap();
                made.insert(v.id.clone());
                made_by[i].insert(v.id);
            }
            if rng.chance(0.5) {
                let h = rng.pick(&households).clone();
                let patch = if rng.chance(0.5) {
                    HouseholdPatch {
                        notes: Some(format!("第{round}轮 手机{i}")),
                        ..Default::default()
                    }
                } else {
                    HouseholdPatch {
                        occupancy: Some(if rng.chance(0.5) {
                            Occupancy::Rented
                        } else {
                            Occupancy::Owner
                        }),
                        ..Default::default()
                    }
                };
                store.update_household(&h, &patch).unwrap();
            }
            // Sometimes the server dies in the middle of this phone's sync.
            let killer = if rng.chance(0.3) {
                kills += 1;
                let p = proc.clone();
                let after = Duration::from_millis(rng.below(30));
                Some(std::thread::spawn(move || {
                    std::thread::sleep(after);
                    p.lock().unwrap().kill();
                }))
            } else {
                None
            };
            let uploaded_before: BTreeSet<String> = made_by[i].clone();
            match gridwalk_core::sync::sync(store, transport, &|_| {}, &AtomicBool::new(false))
                .await
            {
                Ok(report) if report.everything_uploaded => acknowledged.extend(uploaded_before),
                Ok(_) => {}
                Err(_) => failed_syncs += 1,
            }
            if let Some(k) = killer {
                k.join().unwrap();
                proc.lock().unwrap().start();
            }
        }
    }
    assert!(kills >= 5, "the server was killed {kills} times");
    assert!(failed_syncs > 0, "faults were injected");

    // The network heals: everyone syncs until quiet.
    let healed: Vec<(gridwalk_core::Store, HttpTransport)> = phones
        .into_iter()
        .map(|(s, t)| {
            assert!(t.counts().faults > 0, "every phone met faults");
            (s, t.into_inner())
        })
        .collect();
    settle(&healed).await;
    proc.lock().unwrap().kill();

    // Open the office replica from the same data directory.
    let server = start(Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir,
        tls: None,
        store,
        ..Config::default()
    })
    .await
    .unwrap();
    server.office_sync().await.unwrap();
    let office = server.office();
    let office_visits = visit_ids(office.store(), &households);
    assert_eq!(
        office_visits, made,
        "the office holds exactly the visits the phones made"
    );
    assert!(acknowledged.is_subset(&office_visits));
    let first = healed[0].0.projection_dump().unwrap();
    for (store, _) in &healed {
        assert!(store.everything_uploaded().unwrap());
        assert_eq!(visit_ids(store, &households), made);
        assert_eq!(
            store.projection_dump().unwrap(),
            first,
            "phones are identical"
        );
    }
    for h in &households {
        let o = office.store().household(h).unwrap();
        assert_eq!(
            healed[0].0.household(h).unwrap(),
            o,
            "phone and office agree on {h}"
        );
    }
    eprintln!(
        "faults test: {} visits, {} acknowledged mid-way, {kills} server kills, {failed_syncs} failed syncs",
        made.len(),
        acknowledged.len()
    );
    server.shutdown().await.unwrap();
}

crate::on_both_stores!(five_phones_converge_through_a_hostile_network_and_server_crashes,);
