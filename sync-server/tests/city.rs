//! A city: two server processes on one PostgreSQL. Phones make offline edits and sync at the same
//! time, each to whichever server it happens to reach, round after round; at the end every
//! replica (phones and both offices) is identical, and nothing a server acknowledged is lost.
//!
//! This is the test that catches a wrong sequence design: if a pull could see position n+1
//! before a concurrent push's position n committed, the puller's cursor would step past n and
//! that phone would never converge. Runs when `GRIDWALK_TEST_PG` is set (scripts/with-postgres.sh).
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::Backend;
use gridwalk_core::demo::Rng;
use gridwalk_core::http::HttpTransport;
use gridwalk_core::{HouseholdPatch, Store};
use gridwalk_server::policy::Role;
use gridwalk_server::{Config, start};

const PHONES: usize = 6;
const ROUNDS: usize = 12;

struct Device {
    store: Store,
    /// One transport per server.
    via: [HttpTransport; 2],
}

fn visit_ids(store: &Store, households: &[String]) -> BTreeSet<String> {
    households
        .iter()
        .flat_map(|h| store.visit_history(h).unwrap().into_iter().map(|v| v.id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_postgres_converge_while_phones_switch_between_them() {
    if common::pg_admin().is_none() {
        eprintln!("GRIDWALK_TEST_PG is unset: the two-server test needs PostgreSQL, skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = common::fresh_store(Backend::Postgres);
    // Server A loads the community through its office replica; server B is a second process on
    // the same database, with an office replica of its own.
    let a = common::server_on(store.clone(), &dir.path().join("a"), 10, None).await;
    let b = start(Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("b").join("server"),
        tls: None,
        store,
        ..Config::default()
    })
    .await
    .unwrap();
    let servers = [&a, &b];
    let mut devices = Vec::new();
    for i in 0..PHONES {
        // Enrolled on either server: any process authenticates any device.
        let p = common::phone(
            servers[i % 2],
            dir.path(),
            &format!("phone{i}"),
            Role::GridWorker,
            &["g1", "g2"],
            None,
        )
        .await;
        p.sync().await.unwrap(); // the morning: the phone takes the grids
        let token = p.enrolment.token.clone();
        devices.push(Arc::new(Device {
            store: p.store,
            via: [
                HttpTransport::new(&a.base_url(), &token, None).unwrap(),
                HttpTransport::new(&b.base_url(), &token, None).unwrap(),
            ],
        }));
    }
    let households: Vec<String> = ["g1", "g2"]
        .iter()
        .flat_map(|g| {
            a.office()
                .store()
                .grid_households(g)
                .unwrap()
                .into_iter()
                .map(|h| h.id)
        })
        .collect();
    let mut rng = Rng::new(77);
    let mut made: BTreeSet<String> = BTreeSet::new();
    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    let mut made_by: Vec<BTreeSet<String>> = vec![BTreeSet::new(); PHONES];
    let mut switches = 0;
    let mut last = [usize::MAX; PHONES];
    for round in 0..ROUNDS {
        for (i, d) in devices.iter().enumerate() {
            for _ in 0..(1 + rng.below(3)) {
                let h = rng.pick(&households).clone();
                let v = d.store.record_visit(&common::visit(&mut rng, &h)).unwrap();
                made.insert(v.id.clone());
                made_by[i].insert(v.id);
            }
            if rng.chance(0.5) {
                let h = rng.pick(&households).clone();
                let patch = HouseholdPatch {
                    notes: Some(format!("第{round}轮 手机{i}")),
                    ..Default::default()
                };
                d.store.update_household(&h, &patch).unwrap();
            }
        }
        // Every phone syncs at once, each with a server picked at random.
        let tasks: Vec<_> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let pick = rng.below(2) as usize;
                if last[i] != usize::MAX && last[i] != pick {
                    switches += 1;
                }
                last[i] = pick;
                let (d, before) = (d.clone(), made_by[i].clone());
                tokio::spawn(async move {
                    let r = gridwalk_core::sync::sync(
                        &d.store,
                        &d.via[pick],
                        &|_| {},
                        &AtomicBool::new(false),
                    )
                    .await
                    .unwrap();
                    (r, before)
                })
            })
            .collect();
        for t in tasks {
            let (report, before) = t.await.unwrap();
            if report.everything_uploaded {
                acknowledged.extend(before);
            }
        }
    }
    assert!(
        switches >= PHONES,
        "phones switched servers {switches} times"
    );

    // Quiet: everyone syncs until nothing moves, alternating servers.
    for pass in 0..3 {
        for (i, d) in devices.iter().enumerate() {
            gridwalk_core::sync::sync(
                &d.store,
                &d.via[(i + pass) % 2],
                &|_| {},
                &AtomicBool::new(false),
            )
            .await
            .unwrap();
        }
    }
    a.office_sync().await.unwrap();
    b.office_sync().await.unwrap();

    assert!(acknowledged.is_subset(&made));
    let first = devices[0].store.projection_dump().unwrap();
    for d in &devices {
        assert!(d.store.everything_uploaded().unwrap());
        let missing = made.difference(&visit_ids(&d.store, &households)).count();
        assert_eq!(missing, 0, "a phone never received {missing} visits");
        assert_eq!(
            d.store.projection_dump().unwrap(),
            first,
            "phones are identical"
        );
    }
    for server in servers {
        let office = server.office();
        let held = visit_ids(office.store(), &households);
        assert!(
            held == made,
            "an office lacks {} visits",
            made.difference(&held).count()
        );
        for h in &households {
            assert_eq!(
                office.store().household(h).unwrap(),
                devices[0].store.household(h).unwrap(),
                "office and phone agree on {h}"
            );
        }
    }
    eprintln!(
        "city test: {} visits, {} acknowledged mid-way, {switches} server switches",
        made.len(),
        acknowledged.len()
    );
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}
