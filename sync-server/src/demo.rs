//! The demo: a community office and two grid workers' phones through an offline day.
//!
//! The office loads a demo community through its replica; two grid workers' phones (core stores)
//! enrol over HTTP, take their grids in the morning, record visits offline with overlapping edits
//! (a household field each, the same resident's phone on both), and sync in the evening through
//! the real HTTP transport. The demo then shows what converged and which conflict is kept.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use gridwalk_core::demo::{self, Rng};
use gridwalk_core::http::{EnrolRequest, HttpTransport};
use gridwalk_core::sync::SyncReport;
use gridwalk_core::{HouseholdPatch, Occupancy, ResidentPatch, Store};

use crate::error::{Error, Result};
use crate::policy::Role;
use crate::protocol;
use crate::server::Server;

const DAY_MS: i64 = 86_400_000;
/// A demo phone's store key. Real phones take theirs from the platform keystore.
const DEMO_KEY: [u8; 32] = [0x5a; 32];

/// What the demo found.
#[derive(Debug, Clone)]
pub struct DemoReport {
    /// Every household both phones hold is identical on them and at the office.
    pub identical: bool,
    /// Visits the office sees after the evening sync.
    pub visits_at_office: u32,
    /// Conflicts kept on the shared household.
    pub conflicts: usize,
    /// Round trips of each evening sync.
    pub evening_round_trips: Vec<u32>,
}

/// A demo phone: its store and its credential.
struct Phone {
    name: &'static str,
    store: Store,
    transport: HttpTransport,
}

fn net(e: impl std::fmt::Display) -> Error {
    Error::Internal(format!("demo: {e}"))
}

async fn enrol_phone(
    server: &Server,
    dir: &Path,
    name: &'static str,
    person: &str,
    grids: &[&str],
) -> Result<Phone> {
    let store = Store::open(&dir.join(format!("{name}.db")), &DEMO_KEY, person)?;
    let scope: Vec<String> = grids.iter().map(|g| g.to_string()).collect();
    let code = protocol::create_code(
        server.hub().as_ref(),
        person,
        Role::GridWorker,
        &scope,
        3_600_000,
    )?;
    let base = server.base_url();
    let enrolment = gridwalk_core::http::enrol(
        &base,
        None,
        &EnrolRequest {
            code,
            device_id: store.device_id().to_string(),
            actor_id: store.actor_id(),
        },
    )
    .await
    .map_err(net)?;
    let transport = HttpTransport::new(&base, &enrolment.token, None).map_err(net)?;
    Ok(Phone {
        name,
        store,
        transport,
    })
}

async fn sync_phone(phone: &Phone) -> Result<SyncReport> {
    let cancel = AtomicBool::new(false);
    gridwalk_core::sync::sync(&phone.store, &phone.transport, &|_| {}, &cancel)
        .await
        .map_err(net)
}

/// Runs the offline day against a running `server` (its office replica must be empty); the
/// phones' stores are written to `phones_dir`. Prints what happens.
pub async fn run(server: &Server, phones_dir: &Path) -> Result<DemoReport> {
    std::fs::create_dir_all(phones_dir)?;
    let office = server.office();
    let loaded = office.store().load_roster(&demo::roster(2, 48, 2026))?;
    let mut rng = Rng::new(7);
    let mut households = office.store().grid_households("g1")?;
    households.extend(office.store().grid_households("g2")?);
    for h in &households {
        for r in demo::residents(&mut rng) {
            office.store().add_resident(&h.id, &r)?;
        }
    }
    server.office_sync().await?;
    println!(
        "office: roster loaded through the office replica, {} households in 2 grids",
        loaded.created
    );

    let wang = enrol_phone(server, phones_dir, "wang", "网格员-王", &["g1"]).await?;
    let li = enrol_phone(server, phones_dir, "li", "网格员-李", &["g1", "g2"]).await?;
    println!("office: enrolled 王 (grid g1) and 李 (grids g1, g2) with one-time codes");
    for p in [&wang, &li] {
        let r = sync_phone(p).await?;
        let held = p.store.grid_households("g1")?.len() + p.store.grid_households("g2")?.len();
        println!(
            "morning: {}'s phone synced ({} round trip(s), {} KB down): holds {held} households",
            p.name,
            r.round_trips,
            r.bytes_down / 1024
        );
    }

    // Offline: each walks a grid; both touch the same household of grid g1.
    let now = chrono::Utc::now().timestamp_millis() - DAY_MS / 2;
    let shared = wang.store.grid_households("g1")?[0].id.clone();
    for (p, grid) in [(&wang, "g1"), (&li, "g2")] {
        for (i, h) in p.store.grid_households(grid)?.iter().take(20).enumerate() {
            p.store
                .record_visit(&demo::visit(&mut rng, &h.id, now + i as i64 * 600_000))?;
        }
    }
    wang.store.update_household(
        &shared,
        &HouseholdPatch {
            notes: Some("独居老人,子女在外地".into()),
            ..Default::default()
        },
    )?;
    li.store.update_household(
        &shared,
        &HouseholdPatch {
            occupancy: Some(Occupancy::Rented),
            ..Default::default()
        },
    )?;
    if let Some(head) = wang.store.household(&shared)?.residents.first() {
        for (p, phone) in [(&wang, "13700001111"), (&li, "13700002222")] {
            p.store.update_resident(
                &head.id,
                &ResidentPatch {
                    phone: Some(phone.into()),
                    ..Default::default()
                },
            )?;
        }
    }
    println!("day: 40 visits recorded offline; both workers edited household {shared}");

    // Evening: each phone syncs over HTTP; 王 syncs once more to take 李's edits.
    let mut evening_round_trips = Vec::new();
    for p in [&wang, &li, &wang] {
        let r = sync_phone(p).await?;
        evening_round_trips.push(r.round_trips);
        println!(
            "evening: {} synced: {} change(s) up, {} down, {} round trip(s), {} B up / {} B down",
            p.name, r.changes_up, r.changes_down, r.round_trips, r.bytes_up, r.bytes_down
        );
    }
    server.office_sync().await?;

    let o = office.store();
    let mut identical = true;
    for (grid, phones) in [("g1", vec![&wang, &li]), ("g2", vec![&li])] {
        for h in o.grid_households(grid)? {
            let at_office = (o.household(&h.id)?, o.visit_history(&h.id)?);
            for p in &phones {
                identical &=
                    (p.store.household(&h.id)?, p.store.visit_history(&h.id)?) == at_office;
            }
        }
    }
    let wang_sees_g2 = !wang.store.grid_households("g2")?.is_empty();
    let visits_at_office: u32 = o
        .grid_households("g1")?
        .iter()
        .chain(o.grid_households("g2")?.iter())
        .map(|h| h.visit_count)
        .sum();
    let h = o.household(&shared)?;
    println!("evening: every household identical on the phones and at the office: {identical}");
    println!("  王's phone holds grid g2: {wang_sees_g2} (scope enforced by the server)");
    println!("  visits at the office: {visits_at_office}");
    println!(
        "  household {shared}: notes {:?}, occupancy {:?} (different fields merged)",
        h.notes, h.occupancy
    );
    for c in &h.conflicts {
        let values: Vec<String> = c
            .values
            .iter()
            .map(|v| format!("{} by {}", v.value, v.by))
            .collect();
        println!(
            "  conflict kept for review at {}: {}",
            c.path,
            values.join(" / ")
        );
    }
    Ok(DemoReport {
        identical: identical && !wang_sees_g2,
        visits_at_office,
        conflicts: h.conflicts.len(),
        evening_round_trips,
    })
}
