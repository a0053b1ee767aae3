//! gridwalk-server: the community office server.
//!
//! For now it runs the offline-day demo in process: the office loads the roster, two grid
//! workers take copies, edit overlapping households offline, and every copy is merged through
//! the office. The HTTP sync server, enrolment and the console build on this (see the issues).

use std::path::PathBuf;
use std::process::ExitCode;

use gridwalk_core::demo::{self, Rng};
use gridwalk_core::{HouseholdPatch, Occupancy, ResidentPatch, Store};

const DAY_MS: i64 = 86_400_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let data_dir = args
        .windows(2)
        .find(|w| w[0] == "--data-dir")
        .map(|w| PathBuf::from(&w[1]))
        .unwrap_or_else(|| PathBuf::from("./data"));
    match args.first().map(String::as_str) {
        Some("demo") => match run_demo(&data_dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("demo failed: {e}");
                ExitCode::FAILURE
            }
        },
        _ => {
            eprintln!("usage: gridwalk-server demo [--data-dir DIR]");
            ExitCode::from(2)
        }
    }
}

/// A demo store key. Real devices take theirs from the platform keystore.
const DEMO_KEY: [u8; 32] = [0x5a; 32];

fn run_demo(dir: &std::path::Path) -> gridwalk_core::Result<()> {
    let dir = dir.join("demo");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    let office = Store::open(&dir.join("office.db"), &DEMO_KEY, "office")?;
    let report = office.load_roster(&demo::roster(2, 48, 2026))?;
    let mut rng = Rng::new(7);
    for h in office
        .grid_households("g1")?
        .iter()
        .chain(office.grid_households("g2")?.iter())
    {
        for r in demo::residents(&mut rng) {
            office.add_resident(&h.id, &r)?;
        }
    }
    println!(
        "office: roster loaded, {} households in 2 grids",
        report.created
    );

    let wang = Store::open(&dir.join("wang.db"), &DEMO_KEY, "网格员-王")?;
    let li = Store::open(&dir.join("li.db"), &DEMO_KEY, "网格员-李")?;
    wang.import(&office.export_all()?)?;
    li.import(&office.export_all()?)?;
    println!("morning: both phones hold the grid");

    // Offline: each walks their grid; both touch the shared household at the grid boundary.
    let now = chrono::Utc::now().timestamp_millis() - DAY_MS / 2;
    let shared = office.grid_households("g1")?[0].id.clone();
    for (store, grid) in [(&wang, "g1"), (&li, "g2")] {
        for (i, h) in store.grid_households(grid)?.iter().take(20).enumerate() {
            store.record_visit(&demo::visit(&mut rng, &h.id, now + i as i64 * 600_000))?;
        }
    }
    wang.update_household(
        &shared,
        &HouseholdPatch {
            notes: Some("独居老人,子女在外地".into()),
            ..Default::default()
        },
    )?;
    li.update_household(
        &shared,
        &HouseholdPatch {
            occupancy: Some(Occupancy::Rented),
            ..Default::default()
        },
    )?;
    let head = wang
        .household(&shared)?
        .residents
        .first()
        .map(|r| r.id.clone());
    if let Some(rid) = &head {
        wang.update_resident(
            rid,
            &ResidentPatch {
                phone: Some("13700001111".into()),
                ..Default::default()
            },
        )?;
        li.update_resident(
            rid,
            &ResidentPatch {
                phone: Some("13700002222".into()),
                ..Default::default()
            },
        )?;
    }
    println!("day: 40 visits recorded offline; both workers edited household {shared}");

    // Evening: each phone merges with the office, then takes the office's merged state.
    office.import(&wang.export_all()?)?;
    office.import(&li.export_all()?)?;
    wang.import(&office.export_all()?)?;
    li.import(&office.export_all()?)?;
    let same = office.projection_dump()? == wang.projection_dump()?
        && wang.projection_dump()? == li.projection_dump()?;
    let h = office.household(&shared)?;
    let visits: u32 = office
        .grid_households("g1")?
        .iter()
        .chain(office.grid_households("g2")?.iter())
        .map(|h| h.visit_count)
        .sum();
    println!("evening: all three replicas identical: {same}");
    println!("  visits at the office: {visits}");
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
    println!("stores written to {}", dir.display());
    Ok(())
}
