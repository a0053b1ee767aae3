//! Personal data on the server, checked on the real `gridwalk-server serve` binary.
//!
//! The server runs with the most verbose logging there is (`RUST_LOG=trace`) over HTTPS. Two
//! phones of one grid are enrolled; phone A adds canary residents (unique name, phone, valid
//! ID number) and a visit with a photo; both sync; office staff log in, import a roster, search
//! and open the household and reveal values with a purpose. Then A deletes one canary resident
//! and everyone syncs. After that:
//! - the captured log and every audit file hold no canary in any spelling (and the audit log
//!   records exactly the requests made, by route template, device or staff member);
//! - no file of phone A, phone B or the server's data directory holds the deleted resident's
//!   canaries or key, within seconds while the server runs and after it stops (on SQLite: the
//!   hub's database and WAL included, purged in the background; PostgreSQL keeps dead rows
//!   until VACUUM, so there the hub is checked to hold no key row);
//! - audit files older than the retention are deleted at start, newer ones kept.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, KEY};
use gridwalk_core::demo::Rng;
use gridwalk_core::http::{EnrolRequest, HttpTransport};
use gridwalk_core::photo_sync::{CHUNK_BYTES, upload_photos};
use gridwalk_core::store::local_date;
use gridwalk_core::sync::SyncReport;
use gridwalk_core::{Gender, ResidentInput, Store};
use reqwest::redirect::Policy;

const BIN: &str = env!("CARGO_BIN_EXE_gridwalk-server");
const PASSWORD: &str = "correct horse battery";
const STAFF: &str = "clerk";

/// The resident deleted on phone A.
const GONE_NAME: &str = "司徒金丝雀删";
const GONE_PHONE: &str = "13912348765";
const GONE_BIRTH: &str = "1949-12-31";
/// A resident who stays (their data must still never be logged or stored in plaintext).
const KEPT_NAME: &str = "欧阳金丝雀留";
const KEPT_PHONE: &str = "13787654321";
const KEPT_BIRTH: &str = "1956-07-15";
/// A note in the imported roster: household notes are not sealed, so it may sit in the hub,
/// but it must never reach a log.
const NOTE_CANARY: &str = "金丝雀备注七号";
/// Workers' person ids (personal: never logged).
const PERSON_A: &str = "worker-canary-7c41e9";
const PERSON_B: &str = "worker-canary-52d0aa";
const ADDRESS: &str = "安居苑1号楼1单元101室";
/// Size of the photo phone A takes.
const PHOTO_BYTES: usize = 150_000;

/// A valid GB 11643 ID number born on `birth` (`YYYY-MM-DD`).
fn id_number(area: &str, birth: &str, seq: &str) -> String {
    let first17 = format!("{area}{}{seq}", birth.replace('-', ""));
    let check = gridwalk_core::validate::id_check_char(&first17).unwrap();
    let id = format!("{first17}{check}");
    let today = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    assert_eq!(
        gridwalk_core::validate::check_id_number(&id, today).unwrap(),
        id
    );
    id
}

fn resident(name: &str, birth: &str, id: &str, phone: &str, relation: &str) -> ResidentInput {
    ResidentInput {
        name: name.into(),
        gender: Gender::Female,
        birth_date: Some(birth.into()),
        id_number: Some(id.into()),
        phone: Some(phone.into()),
        ethnicity: Some("回族".into()),
        relation: relation.into(),
        employment: None,
        working_away: false,
        work_place: None,
        moved_in: None,
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

fn percent(s: &str, upper: bool) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ if upper => format!("%{b:02X}"),
            _ => format!("%{b:02x}"),
        })
        .collect()
}

/// Every spelling of a text canary a log line could carry: UTF-8, GBK, percent-encoded, JSON
/// `\u` escapes; digits also grouped as people write phone numbers; an ID's `x` in lowercase.
fn spellings(canary: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = vec![(canary.to_string(), canary.as_bytes().to_vec())];
    if !canary.is_ascii() {
        let (gbk, _, _) = encoding_rs::GBK.encode(canary);
        out.push((format!("{canary} (GBK)"), gbk.to_vec()));
        for upper in [true, false] {
            out.push((
                format!("{canary} (percent-encoded)"),
                percent(canary, upper).into_bytes(),
            ));
        }
        let escaped: String = canary
            .encode_utf16()
            .map(|u| format!("\\u{u:04x}"))
            .collect();
        out.push((format!("{canary} (JSON escaped)"), escaped.into_bytes()));
    }
    if canary.len() == 11 && canary.bytes().all(|b| b.is_ascii_digit()) {
        let (a, b, c) = (&canary[..3], &canary[3..7], &canary[7..]);
        out.push((canary.into(), format!("{a}-{b}-{c}").into_bytes()));
        out.push((canary.into(), format!("{a} {b} {c}").into_bytes()));
    }
    if canary.ends_with('X') {
        out.push((canary.into(), canary.to_lowercase().into_bytes()));
    }
    out
}

/// A key as bytes, hex and the `Debug` list a careless log line would print.
fn key_spellings(key: &[u8]) -> Vec<(String, Vec<u8>)> {
    vec![
        ("resident key (raw)".into(), key.to_vec()),
        ("resident key (hex)".into(), hex::encode(key).into_bytes()),
        (
            "resident key (HEX)".into(),
            hex::encode_upper(key).into_bytes(),
        ),
        (
            "resident key (debug)".into(),
            format!("{:?}", &key[..8])
                .trim_end_matches(']')
                .to_string()
                .into_bytes(),
        ),
    ]
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// How many files are under `dir`, and the first that holds a needle, said in words.
fn find_trace(what: &str, dir: &Path, needles: &[(String, Vec<u8>)]) -> (usize, Option<String>) {
    let files = files_under(dir);
    for f in &files {
        let bytes = match std::fs::read(f) {
            Ok(b) => b,
            // A file can go between the listing and the read (the WAL at a checkpoint).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{what}: {}: {e}", f.display()),
        };
        if let Some((label, _)) = needles.iter().find(|(_, n)| contains(&bytes, n)) {
            let name = f.strip_prefix(dir).unwrap().display();
            return (files.len(), Some(format!("{what}: {name} holds {label}")));
        }
    }
    (files.len(), None)
}

/// Asserts no file under `dir` holds any needle; returns how many files were read.
fn assert_no_trace(what: &str, dir: &Path, needles: &[(String, Vec<u8>)]) -> usize {
    let (files, found) = find_trace(what, dir, needles);
    assert!(found.is_none(), "{}", found.unwrap_or_default());
    files
}

/// Waits (at most `within`) until no file under `dir` holds any needle: for what a server
/// scrubs in the background while it runs.
async fn assert_no_trace_within(
    what: &str,
    dir: &Path,
    needles: &[(String, Vec<u8>)],
    within: Duration,
) {
    let deadline = Instant::now() + within;
    while let (_, Some(found)) = find_trace(what, dir, needles) {
        assert!(Instant::now() < deadline, "{found} after {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs a CLI command of the server binary to completion; returns its standard output.
fn cli(args: &[&str], data: &Path, store: Option<&str>, stdin: Option<&str>) -> String {
    let mut cmd = Command::new(BIN);
    cmd.args(args).arg("--data-dir").arg(data);
    if let Some(s) = store {
        cmd.args(["--store", s]);
    }
    let mut child = clean_env(&mut cmd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The server's settings come from the test alone, not from the environment it runs in.
fn clean_env(cmd: &mut Command) -> &mut Command {
    for v in [
        "GRIDWALK_ADDR",
        "GRIDWALK_DATA_DIR",
        "GRIDWALK_TLS_CERT",
        "GRIDWALK_TLS_KEY",
        "GRIDWALK_STORE",
        "GRIDWALK_AUDIT_RETENTION_DAYS",
    ] {
        cmd.env_remove(v);
    }
    cmd.env("NO_COLOR", "1")
}

/// A `gridwalk-server serve` child process whose standard output and error go to a file.
struct Running {
    child: Child,
    addr: String,
}

fn serve(data: &Path, log: &Path, args: &[&str], env: &[(&str, &str)]) -> Running {
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let from = out.metadata().unwrap().len() as usize;
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .args(args);
    let mut child = clean_env(&mut cmd)
        .env("RUST_LOG", "trace")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read(log).unwrap();
        let text = String::from_utf8_lossy(&text[from..]);
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("gridwalk-server listening"))
        {
            let at = line.find("addr=").unwrap() + 5;
            let addr = line[at..].split_whitespace().next().unwrap().to_string();
            return Running { child, addr };
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the server exited ({status}):\n{text}");
        }
        assert!(
            Instant::now() < deadline,
            "the server did not start:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Running {
    /// Ctrl-C (SIGINT): the server stops gracefully and writes out its audit log.
    fn stop(mut self) {
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the server stopped with {status}");
                return;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the server did not stop on SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A logged-in office clerk, counting the requests made.
struct Console {
    base: String,
    client: reqwest::Client,
    cookie: String,
    csrf: String,
    requests: AtomicUsize,
}

impl Console {
    async fn login(base: &str, ca: &[u8]) -> Console {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .tls_certs_merge([reqwest::Certificate::from_pem(ca).unwrap()])
            .build()
            .unwrap();
        let resp = client
            .post(format!("{base}/console/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!(
                "username={STAFF}&password={}",
                percent(PASSWORD, true)
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303);
        let set = resp.headers()["set-cookie"].to_str().unwrap();
        let cookie = set.split(';').next().unwrap().to_string();
        let mut c = Console {
            base: base.to_string(),
            client,
            cookie,
            csrf: String::new(),
            requests: AtomicUsize::new(1),
        };
        let (_, page) = c.get("/console/today").await;
        let at = page.find("name=\"csrf\" value=\"").unwrap() + 19;
        c.csrf = page[at..at + 64].to_string();
        c
    }

    async fn get(&self, path: &str) -> (u16, String) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let body = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", percent(v, true)))
            .collect::<Vec<_>>()
            .join("&");
        let resp = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    async fn upload_roster(&self, csv: &str) -> (u16, String) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let b = "----gridwalkprivacy";
        let body = format!(
            "--{b}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{}\r\n\
             --{b}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"roster.csv\"\r\n\
             Content-Type: text/csv\r\n\r\n{csv}\r\n--{b}--\r\n",
            self.csrf
        );
        let resp = self
            .client
            .post(format!("{}/console/roster", self.base))
            .header("cookie", &self.cookie)
            .header("content-type", format!("multipart/form-data; boundary={b}"))
            .body(body)
            .send()
            .await
            .unwrap();
        (resp.status().as_u16(), resp.text().await.unwrap())
    }

    /// Waits until the household page (the office replica) satisfies `ok`.
    async fn household_until(&self, hid: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, page) = self.get(&format!("/console/households/{hid}")).await;
            if status == 200 && ok(&page) {
                return page;
            }
            assert!(
                Instant::now() < deadline,
                "the office replica did not catch up"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// A phone enrolled with a code from the `enrol` command.
struct Phone {
    store: Store,
    transport: HttpTransport,
    round_trips: usize,
}

impl Phone {
    async fn enrol(dir: &Path, base: &str, ca: &[u8], code: &str, person: &str) -> Phone {
        std::fs::create_dir_all(dir).unwrap();
        let store = Store::open(&dir.join("store.db"), &KEY, person).unwrap();
        let enrolment = gridwalk_core::http::enrol(
            base,
            Some(ca),
            &EnrolRequest {
                code: code.trim().to_string(),
                device_id: store.device_id().to_string(),
                actor_id: store.actor_id(),
            },
        )
        .await
        .unwrap();
        let transport = HttpTransport::new(base, &enrolment.token, Some(ca)).unwrap();
        Phone {
            store,
            transport,
            round_trips: 0,
        }
    }

    async fn sync(&mut self) -> SyncReport {
        let r = gridwalk_core::sync::sync(
            &self.store,
            &self.transport,
            &|_| {},
            &AtomicBool::new(false),
        )
        .await
        .unwrap();
        self.round_trips += r.round_trips as usize;
        r
    }
}

fn photo(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend((4..len).map(|_| rng.below(256) as u8));
    b
}

/// The audit records of every file in `data/audit`.
fn audit_records(data: &Path) -> Vec<serde_json::Value> {
    let dir = data.join("audit");
    let files = files_under(&dir);
    assert!(!files.is_empty(), "no audit file was written");
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn canaries_reach_no_log_and_a_deleted_resident_leaves_no_bytes(backend: Backend) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let log = dir.path().join("server.log");
    let store = common::fresh_store(backend);
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let ca = cert.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &ca).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let gone_id = id_number("110105", GONE_BIRTH, "002");
    let kept_id = id_number("620102", KEPT_BIRTH, "338");

    cli(
        &[
            "staff-add",
            "--user",
            STAFF,
            "--role",
            "office",
            "--password-stdin",
        ],
        &data,
        None,
        Some(&format!("{PASSWORD}\n")),
    );
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    let mut args = vec![
        "--tls-cert",
        cert_path.to_str().unwrap(),
        "--tls-key",
        key_path.to_str().unwrap(),
    ];
    if let Some(s) = &store {
        args.extend(["--store", s.as_str()]);
    }
    let server = serve(&data, &log, &args, &[]);
    let base = format!("https://{}", server.addr);

    // The office imports its roster (one household note is a canary) …
    let console = Console::login(&base, ca.as_bytes()).await;
    let csv = format!(
        "网格编号,网格名称,楼栋编号,楼栋名称,单元,门牌号,地址,面积,居住状态,关爱标签,备注\n\
         g1,第一网格,b1,1号楼,1,101,{ADDRESS},80,自住,独居老人,{NOTE_CANARY}\n\
         g1,第一网格,b1,1号楼,1,102,安居苑1号楼1单元102室,66,出租,,\n"
    );
    let (status, page) = console.upload_roster(&csv).await;
    assert_eq!(status, 200, "{page}");

    // … and enrols two phones of grid g1.
    let code = |person: &str| {
        cli(
            &[
                "enrol",
                "--person",
                person,
                "--role",
                "grid_worker",
                "--scope",
                "g1",
            ],
            &data,
            store.as_deref(),
            None,
        )
    };
    let (code_a, code_b) = (code(PERSON_A), code(PERSON_B));
    let mut a = Phone::enrol(
        &dir.path().join("phone-a"),
        &base,
        ca.as_bytes(),
        &code_a,
        PERSON_A,
    )
    .await;
    let mut b = Phone::enrol(
        &dir.path().join("phone-b"),
        &base,
        ca.as_bytes(),
        &code_b,
        PERSON_B,
    )
    .await;
    a.sync().await;
    let hid = a
        .store
        .grid_households("g1")
        .unwrap()
        .into_iter()
        .find(|h| h.address == ADDRESS)
        .expect("phone A received the imported household")
        .id;

    // Phone A records the canary residents and a visit with a photo.
    let gone = a
        .store
        .add_resident(
            &hid,
            &resident(GONE_NAME, GONE_BIRTH, &gone_id, GONE_PHONE, "户主"),
        )
        .unwrap();
    a.store
        .add_resident(
            &hid,
            &resident(KEPT_NAME, KEPT_BIRTH, &kept_id, KEPT_PHONE, "配偶"),
        )
        .unwrap();
    let jpeg = photo(PHOTO_BYTES, 3);
    let hash = a.store.add_photo(&jpeg).unwrap();
    let mut v = common::visit(&mut Rng::new(5), &hid);
    v.photos = vec![hash.clone()];
    a.store.record_visit(&v).unwrap();
    a.sync().await;
    let uploaded = upload_photos(&a.store, &a.transport, &AtomicBool::new(false))
        .await
        .unwrap();
    assert_eq!(uploaded.uploaded, 1);
    b.sync().await;
    let on_b = b.store.household(&hid).unwrap();
    assert!(on_b.residents.iter().any(|r| r.name == GONE_NAME));
    let gone_key = a
        .store
        .export_all()
        .unwrap()
        .keys
        .into_iter()
        .find(|k| k.resident_id == gone.id)
        .unwrap()
        .key;
    assert_eq!(gone_key.len(), 32);

    // The office looks the household up by a canary name, opens it and reveals values.
    let page = console
        .household_until(&hid, |p| p.contains(GONE_NAME) && p.contains(KEPT_NAME))
        .await;
    assert!(!page.contains(GONE_PHONE), "masked until revealed");
    let (status, found) = console
        .get(&format!(
            "/console/households?q={}",
            percent(GONE_NAME, true)
        ))
        .await;
    assert_eq!(status, 200);
    assert!(found.contains(&format!("/console/households/{hid}")));
    let reveal = format!("/console/households/{hid}/reveal");
    let kept_rid = b
        .store
        .household(&hid)
        .unwrap()
        .residents
        .into_iter()
        .find(|r| r.name == KEPT_NAME)
        .unwrap()
        .id;
    for (rid, field, value) in [
        (gone.id.as_str(), "phone", GONE_PHONE),
        (gone.id.as_str(), "id_number", gone_id.as_str()),
        (kept_rid.as_str(), "id_number", kept_id.as_str()),
    ] {
        let (status, page) = console
            .post(
                &reveal,
                &[
                    ("csrf", &console.csrf),
                    ("resident_id", rid),
                    ("field", field),
                    ("purpose", "入户核实"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{page}");
        assert!(page.contains(value));
    }

    // Phone A deletes one resident; A, B and the office sync.
    a.store.delete_resident(&gone.id).unwrap();
    a.sync().await;
    b.sync().await;
    assert!(matches!(
        b.store.reveal(&gone.id, "phone", "核对"),
        Err(gridwalk_core::Error::Erased(_))
    ));
    let page = console
        .household_until(&hid, |p| p.contains("信息已删除") && !p.contains(GONE_NAME))
        .await;
    assert!(page.contains(KEPT_NAME));
    a.sync().await;
    b.sync().await;

    let gone_needles: Vec<(String, Vec<u8>)> = [GONE_NAME, GONE_PHONE, gone_id.as_str()]
        .iter()
        .flat_map(|c| spellings(c))
        .chain(key_spellings(&gone_key))
        .collect();
    let kept_needles: Vec<(String, Vec<u8>)> = [KEPT_NAME, KEPT_PHONE, kept_id.as_str()]
        .iter()
        .flat_map(|c| spellings(c))
        .collect();
    // While the server runs, its files soon hold no trace of the deleted resident: the hub
    // purges deleted rows in the background, as soon as no pull's snapshot needs them.
    if backend == Backend::Sqlite {
        assert_no_trace_within(
            "server (running)",
            &data,
            &gone_needles,
            Duration::from_secs(20),
        )
        .await;
    }
    server.stop();

    // (a) The log and the audit log: no canary in any spelling.
    let log_bytes = std::fs::read(&log).unwrap();
    let log_text = String::from_utf8_lossy(&log_bytes);
    assert!(
        log_text.contains("TRACE") && log_text.contains("DEBUG"),
        "the server logged at its most verbose"
    );
    assert!(log_text.contains(": sync "), "the log has the sync lines");
    let log_needles: Vec<(String, Vec<u8>)> = gone_needles
        .iter()
        .cloned()
        .chain(kept_needles.iter().cloned())
        .chain(spellings(NOTE_CANARY))
        .chain(spellings(PERSON_A))
        .chain(spellings(PERSON_B))
        .collect();
    for (label, n) in &log_needles {
        assert!(!contains(&log_bytes, n), "the server log holds {label}");
    }
    assert!(assert_no_trace("audit log", &data.join("audit"), &log_needles) >= 1);

    // The audit log holds exactly the requests made, by route template and caller.
    let records = audit_records(&data);
    let (dev_a, dev_b) = (a.store.device_id(), b.store.device_id());
    let count = |method: &str, route: &str| {
        records
            .iter()
            .filter(|r| r["method"] == method && r["route"] == route)
            .count()
    };
    let syncs = a.round_trips + b.round_trips;
    let puts = PHOTO_BYTES.div_ceil(CHUNK_BYTES);
    assert_eq!(count("POST", "/v1/enrol"), 2);
    assert_eq!(count("POST", "/v1/sync"), syncs);
    assert_eq!(count("HEAD", "/v1/photos/{hash}"), 1);
    assert_eq!(count("PUT", "/v1/photos/{hash}"), puts);
    assert_eq!(count("POST", "/console/login"), 1);
    assert_eq!(count("POST", "/console/roster"), 1);
    assert_eq!(count("GET", "/console/households"), 1);
    assert_eq!(count("POST", "/console/households/{id}/reveal"), 3);
    let console_requests = console.requests.load(Ordering::SeqCst);
    assert_eq!(
        records
            .iter()
            .filter(|r| r["route"].as_str().unwrap().starts_with("/console/"))
            .count(),
        console_requests
    );
    assert_eq!(records.len(), 2 + syncs + 1 + puts + console_requests);
    for r in &records {
        let route = r["route"].as_str().unwrap();
        assert!(!route.contains(&hid) && !route.contains('?') && !route.contains(&hash));
        assert!(r["time"].as_str().unwrap().ends_with("+08:00"));
        assert!(r["duration_ms"].is_u64() && r["bytes_out"].is_u64());
        if route.starts_with("/v1/") {
            assert!(r.get("staff").is_none());
            assert!(
                r["device"] == dev_a || r["device"] == dev_b,
                "a device request names its device: {r}"
            );
            assert!(r["status"].as_u64().unwrap() < 300, "{r}");
        } else {
            assert_eq!(r["staff"], STAFF, "{r}");
            assert!(r.get("device").is_none());
        }
    }
    let sync = records
        .iter()
        .find(|r| r["route"] == "/v1/sync" && r["device"] == dev_a)
        .unwrap();
    assert!(sync["bytes_in"].as_u64().unwrap() > 0 && sync["bytes_out"].as_u64().unwrap() > 0);
    assert_eq!(
        records
            .iter()
            .filter(|r| r["route"] == "/v1/photos/{hash}" && r["method"] == "PUT")
            .map(|r| r["bytes_in"].as_u64().unwrap())
            .sum::<u64>(),
        PHOTO_BYTES as u64
    );

    // (b) No file of either phone or the server holds the deleted resident's data or key; the
    // kept resident's data is never in plaintext at rest either.
    let mut at_rest = gone_needles.clone();
    at_rest.extend(kept_needles.iter().cloned());
    assert!(assert_no_trace("phone A", &dir.path().join("phone-a"), &at_rest) >= 1);
    assert!(assert_no_trace("phone B", &dir.path().join("phone-b"), &at_rest) >= 1);
    let scanned = assert_no_trace("server", &data, &at_rest);
    let names: Vec<String> = files_under(&data)
        .iter()
        .map(|f| f.strip_prefix(&data).unwrap().display().to_string())
        .collect();
    for expected in ["office.db", "office.key", "staff.db"] {
        assert!(names.iter().any(|n| n == expected), "{names:?}");
    }
    assert!(names.iter().any(|n| n.starts_with("blobs/")), "{names:?}");
    assert!(names.iter().any(|n| n.starts_with("audit/")), "{names:?}");
    if backend == Backend::Sqlite {
        assert!(names.iter().any(|n| n == "hub.db"), "{names:?}");
        assert!(scanned >= 5);
    }

    // The hub holds a tombstone and no key for the deleted resident (on PostgreSQL this is the
    // check: dead rows stay in its files until VACUUM), and still the kept resident's key.
    let hub = gridwalk_server::hub::open(&data, store.as_deref()).unwrap();
    let (mut gone_key_row, mut tombstoned, mut kept_key_row) = (None, false, None);
    hub.push(&mut |tx| {
        gone_key_row = tx.keys(&[gone.id.as_str()])?.pop();
        tombstoned = tx.tombstoned(&[gone.id.as_str()])? == [gone.id.clone()];
        kept_key_row = tx.keys(&[kept_rid.as_str()])?.pop();
        Ok(())
    })
    .unwrap();
    assert!(gone_key_row.is_none() && tombstoned);
    assert!(kept_key_row.is_some());
}

crate::on_both_stores!(canaries_reach_no_log_and_a_deleted_resident_leaves_no_bytes);

#[test]
fn audit_files_past_the_retention_are_deleted_at_start_and_newer_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    let audit = data.join("audit");
    std::fs::create_dir_all(&audit).unwrap();
    let today = local_date(chrono::Utc::now().timestamp_millis());
    let file = |days_ago: i64| {
        audit.join(gridwalk_server::audit::file_name(
            today - chrono::Duration::days(days_ago),
        ))
    };
    for days_ago in [400, 200, 184, 183, 100, 1] {
        std::fs::write(file(days_ago), b"{}\n").unwrap();
    }
    let log = dir.path().join("server.log");

    // The default: about six months.
    serve(&data, &log, &[], &[]).stop();
    for gone in [400, 200, 184] {
        assert!(!file(gone).exists(), "{gone} days old survived");
    }
    for kept in [183, 100, 1] {
        assert!(file(kept).exists(), "{kept} days old was deleted");
    }

    // The environment, then the flag (which wins over it).
    serve(
        &data,
        &log,
        &[],
        &[("GRIDWALK_AUDIT_RETENTION_DAYS", "150")],
    )
    .stop();
    assert!(!file(183).exists() && file(100).exists());
    serve(
        &data,
        &log,
        &["--audit-retention-days", "30"],
        &[("GRIDWALK_AUDIT_RETENTION_DAYS", "150")],
    )
    .stop();
    assert!(!file(100).exists() && file(1).exists());

    // A retention of no days is refused before anything starts.
    let mut cmd = Command::new(BIN);
    cmd.args([
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--audit-retention-days",
        "0",
        "--data-dir",
    ])
    .arg(&data);
    let out = clean_env(&mut cmd).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let mut text = String::new();
    out.stderr.as_slice().read_to_string(&mut text).unwrap();
    assert!(text.contains("--audit-retention-days"));
}
