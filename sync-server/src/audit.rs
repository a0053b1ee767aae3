//! The request audit log: one JSON line per HTTP request, in daily files kept for a configurable
//! time (PIPL asks for an access trail; GB/T 35273 for a retention limit on it).
//!
//! A record says when, which route (the template, e.g. `/console/households/{id}`: never the
//! raw path or query, which can carry a searched name), who (the enrolled device's id or the
//! console staff member's login name, never a resident's or worker's name), the status, the
//! bytes in and out and how long the request took until its answer was sent:
//!
//! ```text
//! {"time":"2026-11-24T16:15:02.123+08:00","method":"POST","route":"/v1/sync","device":"3f0c…",
//!  "status":200,"bytes_in":5120,"bytes_out":20480,"duration_ms":12}
//! ```
//!
//! Files are `data_dir/audit/YYYY-MM-DD.jsonl` by the local (Asia/Shanghai) date. [`layer`] is
//! an axum middleware: it counts the bodies and emits the record when the answer's body is done
//! (or dropped); a request whose client went away before the answer is recorded with status 0.
//! Handlers and extractors that know who is calling say so through the [`CallerSlot`] the
//! middleware puts into the request's extensions. Records go through a
//! channel to one writer thread, so a request never waits for the disk; the writer flushes
//! whenever the channel runs dry and on [`AuditLog::close`]. Files older than the retention
//! ([`DEFAULT_RETENTION_DAYS`], about six months) are deleted when the log opens and whenever
//! the local date changes.

use std::convert::Infallible;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::Extensions;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::Response;
use chrono::{NaiveDate, SecondsFormat, TimeZone};
use gridwalk_core::store::{local_date, shanghai};
use http_body::{Frame, SizeHint};
use serde::Serialize;

use crate::error::{Error, Result};

/// Days an audit file is kept by default: six months.
pub const DEFAULT_RETENTION_DAYS: u32 = 183;
/// The directory under the data directory.
pub const DIR: &str = "audit";
/// The route recorded for a request no route matched.
pub const NO_ROUTE: &str = "-";
/// How often the writer looks at the clock when idle (for the daily clean-up).
const IDLE_WAKE: Duration = Duration::from_secs(600);

/// Who made a request, as far as the server could authenticate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// An enrolled device (its random id).
    Device(String),
    /// A console staff member (their login name).
    Staff(String),
}

/// Where a handler or extractor records who is calling; the middleware reads it once the
/// answer is sent. Outside the middleware (a router without the layer) it records nothing.
#[derive(Debug, Clone, Default)]
pub struct CallerSlot(Arc<OnceLock<Caller>>);

impl CallerSlot {
    /// Records the caller (the first one recorded wins).
    pub fn set(&self, caller: Caller) {
        let _ = self.0.set(caller);
    }

    /// Records an enrolled device.
    pub fn device(&self, device_id: &str) {
        self.set(Caller::Device(device_id.to_string()));
    }

    /// The caller recorded so far.
    pub fn get(&self) -> Option<&Caller> {
        self.0.get()
    }
}

/// Records the caller of the request whose extensions these are (for extractors).
pub fn note(extensions: &Extensions, caller: Caller) {
    if let Some(slot) = extensions.get::<CallerSlot>() {
        slot.set(caller);
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CallerSlot {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<CallerSlot, Infallible> {
        Ok(parts
            .extensions
            .get::<CallerSlot>()
            .cloned()
            .unwrap_or_default())
    }
}

/// One request, as the writer receives it.
#[derive(Debug, Clone)]
struct Record {
    at_ms: i64,
    method: String,
    route: String,
    caller: Option<Caller>,
    status: u16,
    bytes_in: u64,
    bytes_out: u64,
    duration_ms: u64,
}

/// A record as written: one JSON object per line.
#[derive(Serialize)]
struct Line<'a> {
    time: String,
    method: &'a str,
    route: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    device: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    staff: Option<&'a str>,
    status: u16,
    bytes_in: u64,
    bytes_out: u64,
    duration_ms: u64,
}

impl Record {
    fn to_line(&self) -> Result<String> {
        let time = shanghai()
            .timestamp_millis_opt(self.at_ms)
            .single()
            .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, false))
            .unwrap_or_default();
        let (device, staff) = match &self.caller {
            Some(Caller::Device(d)) => (Some(d.as_str()), None),
            Some(Caller::Staff(s)) => (None, Some(s.as_str())),
            None => (None, None),
        };
        serde_json::to_string(&Line {
            time,
            method: &self.method,
            route: &self.route,
            device,
            staff,
            status: self.status,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            duration_ms: self.duration_ms,
        })
        .map_err(|e| Error::Internal(format!("audit record: {e}")))
    }
}

enum Msg {
    Record(Record),
    /// Flush, then answer.
    Flush(mpsc::SyncSender<()>),
    /// Flush and end the writer.
    Stop,
}

/// The audit log of one server process.
pub struct AuditLog {
    tx: mpsc::Sender<Msg>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// The name of the file for `date`.
pub fn file_name(date: NaiveDate) -> String {
    format!("{}.jsonl", date.format("%Y-%m-%d"))
}

/// Deletes the audit files in `dir` dated more than `days` days before `today`; returns how
/// many. Other files are left alone.
pub fn prune(dir: &Path, today: NaiveDate, days: u32) -> Result<usize> {
    let oldest_kept = today - chrono::Duration::days(i64::from(days));
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(date) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        else {
            continue;
        };
        if date < oldest_kept {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

fn today() -> NaiveDate {
    local_date(chrono::Utc::now().timestamp_millis())
}

impl AuditLog {
    /// Opens the audit log in `data_dir/audit`, deletes files older than `retention_days` (at
    /// least 1) and starts the writer thread.
    pub fn open(data_dir: &Path, retention_days: u32) -> Result<Arc<AuditLog>> {
        let dir = data_dir.join(DIR);
        std::fs::create_dir_all(&dir)?;
        let days = retention_days.max(1);
        let removed = prune(&dir, today(), days)?;
        tracing::info!(retention_days = days, removed, "request audit log open");
        let (tx, rx) = mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("gridwalk-audit".into())
            .spawn(move || Writer::new(dir, days).run(rx))?;
        Ok(Arc::new(AuditLog {
            tx,
            writer: Mutex::new(Some(writer)),
        }))
    }

    fn send(&self, r: Record) {
        // After close the writer is gone; a late request is not recorded (it cannot be).
        let _ = self.tx.send(Msg::Record(r));
    }

    /// Waits until every record sent so far is in the file (for tests and backups).
    pub fn flush(&self) {
        let (ack, done) = mpsc::sync_channel(1);
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv();
        }
    }

    /// Writes what is pending, syncs the file and stops the writer (blocking; idempotent).
    pub fn close(&self) {
        let handle = self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(h) = handle {
            let _ = self.tx.send(Msg::Stop);
            let _ = h.join();
        }
    }
}

impl Drop for AuditLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread's state.
struct Writer {
    dir: PathBuf,
    days: u32,
    file: Option<(NaiveDate, BufWriter<File>)>,
    pruned: NaiveDate,
    /// A failure is logged once until writing works again.
    failing: bool,
}

impl Writer {
    fn new(dir: PathBuf, days: u32) -> Writer {
        Writer {
            dir,
            days,
            file: None,
            pruned: today(),
            failing: false,
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        loop {
            let first = match rx.recv_timeout(IDLE_WAKE) {
                Ok(m) => Some(m),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut stop = false;
            let mut acks = Vec::new();
            // Take everything queued, then flush once.
            for m in first
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
            {
                match m {
                    Msg::Record(r) => self.write(&r),
                    Msg::Flush(ack) => acks.push(ack),
                    Msg::Stop => {
                        stop = true;
                        break;
                    }
                }
            }
            self.flush(stop);
            for ack in acks {
                let _ = ack.send(());
            }
            self.daily();
            if stop {
                return;
            }
        }
        self.flush(true);
    }

    fn write(&mut self, r: &Record) {
        let date = local_date(r.at_ms);
        let outcome = (|| -> Result<()> {
            let line = r.to_line()?;
            if self.file.as_ref().is_none_or(|(d, _)| *d != date) {
                if let Some((_, mut old)) = self.file.take() {
                    old.flush()?;
                }
                self.file = Some((date, BufWriter::new(open_append(&self.dir, date)?)));
            }
            if let Some((_, f)) = self.file.as_mut() {
                f.write_all(line.as_bytes())?;
                f.write_all(b"\n")?;
            }
            Ok(())
        })();
        self.report(outcome);
    }

    fn flush(&mut self, sync: bool) {
        let outcome = match self.file.as_mut() {
            Some((_, f)) => f.flush().and_then(|()| {
                if sync {
                    f.get_ref().sync_data()
                } else {
                    Ok(())
                }
            }),
            None => Ok(()),
        };
        self.report(outcome.map_err(Error::from));
    }

    /// Deletes expired files once per local day.
    fn daily(&mut self) {
        let today = today();
        if today != self.pruned {
            self.pruned = today;
            let outcome = prune(&self.dir, today, self.days).map(|removed| {
                tracing::info!(removed, "expired audit files deleted");
            });
            self.report(outcome);
        }
    }

    fn report(&mut self, outcome: Result<()>) {
        match outcome {
            Ok(()) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    tracing::error!(error = %e, "the request audit log cannot be written");
                }
                self.failing = true;
                // Reopen on the next record.
                self.file = None;
            }
        }
    }
}

fn open_append(dir: &Path, date: NaiveDate) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Who did what when is for the office's eyes.
        opts.mode(0o600);
    }
    opts.open(dir.join(file_name(date)))
}

/// The middleware: counts the request body, lets the handlers record the caller, and emits one
/// record when the answer's body is finished (or dropped).
pub async fn layer(State(log): State<Arc<AuditLog>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let at_ms = chrono::Utc::now().timestamp_millis();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or(NO_ROUTE, MatchedPath::as_str)
        .to_string();
    let slot = CallerSlot::default();
    let bytes_in = Arc::new(AtomicU64::new(0));
    let (mut parts, body) = req.into_parts();
    parts.extensions.insert(slot.clone());
    let body = Body::new(CountIn {
        inner: body,
        n: bytes_in.clone(),
    });
    // Emitted when dropped: with status 0 if the client went away before the answer (the
    // server drops the handler then), else when the answer's body is done.
    let mut pending = Pending {
        log,
        started,
        record: Record {
            at_ms,
            method,
            route,
            caller: None,
            status: 0,
            bytes_in: 0,
            bytes_out: 0,
            duration_ms: 0,
        },
        slot,
        bytes_in,
    };
    let resp = next.run(Request::from_parts(parts, body)).await;
    pending.record.status = resp.status().as_u16();
    resp.map(|inner| Body::new(CountOut { inner, pending }))
}

/// A request body that counts what the handler read.
struct CountIn {
    inner: Body,
    n: Arc<AtomicU64>,
}

impl http_body::Body for CountIn {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.n.fetch_add(data.len() as u64, Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The record of a request whose answer is on its way.
struct Pending {
    log: Arc<AuditLog>,
    started: Instant,
    record: Record,
    slot: CallerSlot,
    bytes_in: Arc<AtomicU64>,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let r = &mut self.record;
        r.caller = self.slot.get().cloned();
        r.bytes_in = self.bytes_in.load(Ordering::Relaxed);
        r.duration_ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.log.send(r.clone());
    }
}

/// A response body that counts what was sent; its record goes out when it is dropped.
struct CountOut {
    inner: Body,
    pending: Pending,
}

impl http_body::Body for CountOut {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<std::result::Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.pending.record.bytes_out += data.len() as u64;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn files_older_than_the_retention_are_deleted_and_others_kept() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "2026-01-01.jsonl",
            "2026-05-31.jsonl",
            "2026-06-01.jsonl",
            "2026-06-30.jsonl",
            "notes.txt",
            "2020-01-01.jsonl.gz",
        ] {
            std::fs::write(dir.path().join(name), b"{}\n").unwrap();
        }
        assert_eq!(prune(dir.path(), day("2026-06-30"), 29).unwrap(), 2);
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                "2020-01-01.jsonl.gz",
                "2026-06-01.jsonl",
                "2026-06-30.jsonl",
                "notes.txt"
            ]
        );
    }

    #[test]
    fn a_record_is_one_json_line_with_the_route_template_and_the_caller() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::open(dir.path(), DEFAULT_RETENTION_DAYS).unwrap();
        let at_ms = chrono::Utc::now().timestamp_millis();
        for caller in [
            Some(Caller::Device("dev-1".into())),
            Some(Caller::Staff("clerk".into())),
            None,
        ] {
            log.send(Record {
                at_ms,
                method: "GET".into(),
                route: "/console/households/{id}".into(),
                caller,
                status: 200,
                bytes_in: 0,
                bytes_out: 1234,
                duration_ms: 5,
            });
        }
        log.flush();
        let text = std::fs::read_to_string(dir.path().join(DIR).join(file_name(local_date(at_ms))))
            .unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0]["route"], "/console/households/{id}");
        assert_eq!(lines[0]["device"], "dev-1");
        assert_eq!(lines[1]["staff"], "clerk");
        assert!(lines[2].get("device").is_none() && lines[2].get("staff").is_none());
        assert_eq!(lines[0]["bytes_out"], 1234);
        assert!(lines[0]["time"].as_str().unwrap().ends_with("+08:00"));
        log.close();
        log.close();
    }
}
