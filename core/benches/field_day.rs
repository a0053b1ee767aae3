//! A grid worker's year in one store: 400 households, ~1200 residents, ~4800 visits.
//!
//! Prints one `metric value unit` line per figure. `baseline_plain_sqlite_visit_p99_us` saves the
//! same visit as plain rows in one transaction of an identically configured (encrypted, WAL,
//! synchronous=FULL) database, in the same run, so the cost of the document layer is visible.
#![allow(clippy::unwrap_used, missing_docs)]

use std::path::Path;
use std::time::Instant;

use gridwalk_core::demo::{self, Rng};
use gridwalk_core::{AnswerValue, Store, db};

const KEY: [u8; 32] = [3; 32];
const DAY: i64 = 86_400_000;
const HOUSEHOLDS: usize = 400;
const VISITS_PER_HOUSEHOLD: i64 = 12;
const SAMPLES: usize = 300;

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// CPU time of this thread: the work a save does, without the time spent waiting for fsync.
#[allow(unsafe_code)]
fn thread_cpu_us() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes only into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Child mode: open the store and list the grid, then report time and peak memory.
fn open_only(path: &Path) {
    let t = Instant::now();
    let store = Store::open(path, &KEY, "worker-1").unwrap();
    let list = store.grid_households("g1").unwrap();
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert_eq!(list.len(), HOUSEHOLDS);
    println!("open_store_grid_ms {ms:.1} ms");
    println!("open_store_peak_rss_mb {:.1} MB", peak_rss_mb());
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--open-only") {
        open_only(Path::new(&args[i + 1]));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("grid.db");
    let now = chrono::Utc::now().timestamp_millis();
    let mut rng = Rng::new(2026);
    let store = Store::open(&path, &KEY, "worker-1").unwrap();
    store.load_roster(&demo::roster(1, HOUSEHOLDS, 1)).unwrap();
    let households: Vec<String> = store
        .grid_households("g1")
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    let mut residents = 0;
    for h in &households {
        for r in demo::residents(&mut rng) {
            store.add_resident(h, &r).unwrap();
            residents += 1;
        }
    }
    let mut visits = 0;
    for m in 0..VISITS_PER_HOUSEHOLD {
        for h in &households {
            let at = now - (VISITS_PER_HOUSEHOLD - m) * 30 * DAY + rng.below(20) as i64 * DAY;
            store.record_visit(&demo::visit(&mut rng, h, at)).unwrap();
            visits += 1;
        }
    }
    // The day ends with a sync, after which the app compacts (off the save path).
    let t = Instant::now();
    let compacted = store.compact().unwrap();
    println!(
        "compact_after_sync_ms {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    eprintln!("compacted {compacted} documents");
    eprintln!(
        "built: {} households, {residents} residents, {visits} visits",
        households.len()
    );
    println!("grid_residents {residents} count");
    println!("grid_visits {visits} count");

    // One visit saved = one change + durable write + projection rows.
    let mut samples = Vec::with_capacity(SAMPLES);
    let mut cpu = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let h = rng.pick(&households).clone();
        let v = demo::visit(&mut rng, &h, now - DAY);
        let (t, c) = (Instant::now(), thread_cpu_us());
        store.record_visit(&v).unwrap();
        cpu.push(thread_cpu_us() - c);
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    visits += SAMPLES;
    println!(
        "record_visit_p50_us {:.0} us",
        percentile(samples.clone(), 0.5)
    );
    println!("record_visit_p99_us {:.0} us", percentile(samples, 0.99));
    println!(
        "record_visit_cpu_p50_us {:.0} us",
        percentile(cpu.clone(), 0.5)
    );
    println!("record_visit_cpu_p99_us {:.0} us", percentile(cpu, 0.99));

    // Baseline: the same visit as plain rows, one transaction, same database settings.
    let base = db::Db::open(&dir.path().join("plain.db"), &KEY).unwrap();
    base.write(|tx| {
        tx.execute_batch(
            "CREATE TABLE plain_visits (id TEXT PRIMARY KEY, household_id TEXT, worker TEXT, started INTEGER,
                ended INTEGER, outcome TEXT, lat REAL, lon REAL, form_id TEXT, form_version INTEGER, notes TEXT);
             CREATE INDEX plain_visits_h ON plain_visits(household_id, started);
             CREATE TABLE plain_answers (visit_id TEXT, field TEXT, value TEXT, PRIMARY KEY (visit_id, field));",
        )?;
        Ok(())
    })
    .unwrap();
    let mut samples = Vec::with_capacity(SAMPLES);
    let mut cpu = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES {
        let h = rng.pick(&households).clone();
        let v = demo::visit(&mut rng, &h, now - DAY);
        let (t, c) = (Instant::now(), thread_cpu_us());
        base.write(|tx| {
            let id = format!("{i:032x}");
            let loc = v.location.unwrap();
            tx.execute(
                "INSERT INTO plain_visits VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                rusqlite::params![
                    id,
                    v.household_id,
                    "worker-1",
                    v.started_ms,
                    v.ended_ms,
                    v.outcome.as_str(),
                    loc.lat,
                    loc.lon,
                    v.form_id,
                    v.form_version,
                    v.notes
                ],
            )?;
            for (field, value) in &v.answers {
                let text = match value {
                    AnswerValue::Choices(c) => c.join(","),
                    other => format!("{other:?}"),
                };
                tx.execute(
                    "INSERT INTO plain_answers VALUES (?1, ?2, ?3)",
                    rusqlite::params![id, field, text],
                )?;
            }
            Ok(())
        })
        .unwrap();
        cpu.push(thread_cpu_us() - c);
        samples.push(t.elapsed().as_secs_f64() * 1e6);
    }
    println!(
        "baseline_plain_sqlite_visit_p50_us {:.0} us",
        percentile(samples.clone(), 0.5)
    );
    println!(
        "baseline_plain_sqlite_visit_p99_us {:.0} us",
        percentile(samples, 0.99)
    );
    println!(
        "baseline_plain_sqlite_visit_cpu_p99_us {:.0} us",
        percentile(cpu, 0.99)
    );

    let t = Instant::now();
    let due = store.due_for_visit(Some("g1"), now).unwrap();
    println!("due_list_ms {:.2} ms", t.elapsed().as_secs_f64() * 1e3);
    eprintln!("due now: {} households", due.len());

    let mut samples = Vec::new();
    for h in households.iter().take(100) {
        store.clear_cache();
        let t = Instant::now();
        let hh = store.household(h).unwrap();
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        assert!(!hh.residents.is_empty());
    }
    println!("household_load_us {:.0} us", percentile(samples, 0.5));

    drop(store);
    // Fold the WAL into the database so the size is the store's, not the log's.
    let d = db::Db::open(&path, &KEY).unwrap();
    d.with_writer(|c| Ok(c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?))
        .unwrap();
    drop(d);
    let bytes = dir_bytes(dir.path())
        - std::fs::metadata(dir.path().join("plain.db"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "store_bytes_per_visit {:.0} bytes",
        bytes as f64 / visits as f64
    );
    println!("store_total_mb {:.1} MB", bytes as f64 / 1048576.0);

    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--open-only", path.to_str().unwrap()])
        .output()
        .unwrap();
    print!("{}", String::from_utf8_lossy(&out.stdout));
}
