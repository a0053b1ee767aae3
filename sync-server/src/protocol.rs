//! The server side of the sync protocol and of enrolment, independent of HTTP and of storage.
//!
//! A sync request is handled in three steps. [`check_push`] looks at the push without touching
//! the hub: shapes, write rights on the claimed places, every change decoded strictly and written
//! under the device's own actor. [`apply_push`] then stores it in one transaction, re-checking the
//! rights against what the hub already holds and keeping only what is new (a retry is a no-op).
//! [`pull`] finally collects what the device may read beyond its cursor. [`handle_sync`] runs
//! all three on a blocking thread with panics contained, so one hostile body affects only itself.

use std::collections::{HashMap, HashSet};
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::Change;
use gridwalk_core::docs::{self, DocKind};
use gridwalk_core::http::{EnrolRequest, Enrolment};
use gridwalk_core::replication::{AccessRecord, DocChanges, KeyRecord, Tombstone};
use gridwalk_core::sync::{self, PROTOCOL_VERSION, SyncReply, SyncRequest};
use gridwalk_core::{Bundle, events};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::hub::{
    DocRow, FeedFilter, FeedKind, FeedMeta, FeedSink, HubStore, HubTx, KeyRow, NewChange, NewCode,
    NewDevice, Visit,
};
use crate::policy::{self, DocPlace, Principal, Role};

/// A pull carries about this many payload bytes before it is cut (`more` set): well inside the
/// device's decode caps, and small enough for a weak 2G/3G link to finish one round trip.
pub const PULL_BUDGET_BYTES: usize = 8 << 20;
/// Largest single change accepted (photos travel separately; a visit is a few kilobytes).
pub const MAX_CHANGE_BYTES: usize = 4 << 20;
/// Most keys or tombstones in one push.
pub const MAX_PUSH_RECORDS: usize = 100_000;
/// Longest text field of an access-log entry (field name, purpose).
const MAX_ACCESS_TEXT: usize = 1000;
/// Length of a resident key.
const KEY_LEN: usize = 32;
/// Automerge chunk type of a compressed change (see [`check_change`]).
const COMPRESSED_CHANGE: u8 = 2;
/// Letters of enrolment codes: no 0/O, 1/I/L, so a code read aloud or typed survives.
const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// Characters in an enrolment code (about 50 bits).
const CODE_LEN: usize = 10;

/// SHA-256 of some bytes.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| Error::Internal(format!("random: {e}")))?;
    Ok(b)
}

/// Removes separators and case from a code as typed, so `abcde-fghij` matches `ABCDEFGHIJ`.
fn normalise_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

/// The hash a bearer token is stored and looked up under.
pub fn token_hash(token: &str) -> [u8; 32] {
    sha256(token.as_bytes())
}

/// Creates a one-time enrolment code for a person's device and returns it (shown once; only its
/// hash is kept).
pub fn create_code(
    hub: &dyn HubStore,
    person_id: &str,
    role: Role,
    scope: &[String],
    valid_ms: i64,
) -> Result<String> {
    policy::check_id("person", person_id)?;
    for s in scope {
        policy::check_id("scope", s)?;
    }
    if role != Role::Office && scope.is_empty() {
        return Err(Error::BadRequest(
            "a grid or building role needs a scope".into(),
        ));
    }
    let raw = random_bytes::<CODE_LEN>()?;
    let code: String = raw
        .iter()
        .map(|b| CODE_ALPHABET[*b as usize % CODE_ALPHABET.len()] as char)
        .collect();
    hub.add_code(&NewCode {
        code_hash: sha256(code.as_bytes()),
        person_id: person_id.to_string(),
        role,
        scope: scope.to_vec(),
        expires_ms: chrono::Utc::now().timestamp_millis() + valid_ms,
    })?;
    Ok(format!(
        "{}-{}",
        &code[..CODE_LEN / 2],
        &code[CODE_LEN / 2..]
    ))
}

/// Trades a one-time code for a bearer credential bound to the device's actor id.
pub fn enrol(hub: &dyn HubStore, req: &EnrolRequest) -> Result<(Enrolment, Principal)> {
    policy::check_id("device", &req.device_id)?;
    let actor = req.actor_id.to_ascii_lowercase();
    if actor.is_empty()
        || actor.len() > 64
        || !actor.len().is_multiple_of(2)
        || !actor.bytes().all(|b| b.is_ascii_hexdigit())
    {
        return Err(Error::BadRequest("invalid actor id".into()));
    }
    let token = hex::encode(random_bytes::<32>()?);
    let p = hub.redeem(&NewDevice {
        code_hash: sha256(normalise_code(&req.code).as_bytes()),
        device_id: req.device_id.clone(),
        actor,
        token_hash: token_hash(&token),
        now_ms: chrono::Utc::now().timestamp_millis(),
    })?;
    let e = Enrolment {
        token,
        person_id: p.person_id.clone(),
        role: p.role.as_str().into(),
        scope: p.scope.clone(),
    };
    Ok((e, p))
}

/// A change that passed the stateless checks.
pub struct CheckedChange {
    hash: [u8; 32],
    deps: Vec<[u8; 32]>,
    bytes: Vec<u8>,
}

/// A document's changes that passed the stateless checks.
pub struct CheckedDoc {
    doc: DocRow,
    changes: Vec<CheckedChange>,
}

/// A push that passed the stateless checks.
pub struct CheckedPush {
    docs: Vec<CheckedDoc>,
    keys: Vec<KeyRecord>,
    tombstones: Vec<Tombstone>,
    access: Vec<AccessRecord>,
}

impl CheckedPush {
    /// Changes in the push.
    pub fn changes(&self) -> usize {
        self.docs.iter().map(|d| d.changes.len()).sum()
    }
}

/// Decodes one change strictly and checks it is the device's own; a change to an event must also
/// be a step the device's role may take, in its owner's name (the rules the phone applies).
fn check_change(p: &Principal, kind: &str, bytes: &[u8]) -> Result<CheckedChange> {
    if bytes.len() > MAX_CHANGE_BYTES {
        return Err(Error::TooLarge("a change is too large".into()));
    }
    // A compressed chunk is inflated by Automerge without a limit (a deflate bomb). Devices send
    // raw change bytes, so compressed chunks are refused before anything inflates them.
    if bytes.len() > 8 && bytes[8] == COMPRESSED_CHANGE {
        return Err(Error::BadRequest(
            "compressed change chunks are not accepted".into(),
        ));
    }
    let change: Change = docs::decode_change(bytes)
        .map_err(|_| Error::BadRequest("a change is not a valid Automerge change".into()))?;
    if change.actor_id().to_hex_string() != p.actor {
        return Err(Error::Forbidden(
            "a change was written under another device's actor id".into(),
        ));
    }
    if kind == DocKind::Event.as_str() {
        // Only the replica this server runs writes console steps in a staff member's name; a
        // device, an office-role phone included, writes in its owner's name and role.
        let checked = if p.office_replica {
            events::check_office_replica_change(&change, &p.person_id)
        } else {
            events::check_device_change(&change, p.role.as_str(), &p.person_id)
        };
        checked.map_err(|why| Error::Forbidden(format!("an event change was refused: {why}")))?;
    }
    Ok(CheckedChange {
        hash: change.hash().0,
        deps: change.deps().iter().map(|h| h.0).collect(),
        bytes: bytes.to_vec(),
    })
}

/// The stateless checks of a push: shapes, write rights on the claimed places, strict decoding,
/// the device's own actor. Nothing is stored.
pub fn check_push(p: &Principal, push: &Bundle) -> Result<CheckedPush> {
    if push.keys.len() > MAX_PUSH_RECORDS
        || push.tombstones.len() > MAX_PUSH_RECORDS
        || push.access.len() > MAX_PUSH_RECORDS
    {
        return Err(Error::TooLarge("too many keys or tombstones".into()));
    }
    let n: usize = push.docs.iter().map(|d| d.changes.len()).sum();
    if n > sync::MAX_PUSH_CHANGES {
        return Err(Error::TooLarge("too many changes in one push".into()));
    }
    let mut seen = HashSet::new();
    let mut docs = Vec::with_capacity(push.docs.len());
    for d in &push.docs {
        docs.push(check_doc(p, d, &mut seen)?);
    }
    for k in &push.keys {
        policy::check_id("resident", &k.resident_id)?;
        policy::check_id("household", &k.household_id)?;
        if k.key.len() != KEY_LEN {
            return Err(Error::BadRequest("invalid resident key".into()));
        }
    }
    for t in &push.tombstones {
        policy::check_id("resident", &t.resident_id)?;
        policy::check_id("household", &t.household_id)?;
    }
    for a in &push.access {
        // A device reports its own access trail, nobody else's.
        if a.device_id != p.device_id {
            return Err(Error::Forbidden(
                "an access-log entry names another device".into(),
            ));
        }
        policy::check_id("person", &a.person_id)?;
        policy::check_id("resident", &a.resident_id)?;
        if a.field.len() > MAX_ACCESS_TEXT
            || a.purpose.len() > MAX_ACCESS_TEXT
            || a.prev_hash.len() > 64
            || a.hash.len() > 64
        {
            return Err(Error::BadRequest("invalid access-log entry".into()));
        }
    }
    Ok(CheckedPush {
        docs,
        keys: push.keys.clone(),
        tombstones: push.tombstones.clone(),
        access: push.access.clone(),
    })
}

fn check_doc<'a>(
    p: &Principal,
    d: &'a DocChanges,
    seen: &mut HashSet<&'a str>,
) -> Result<CheckedDoc> {
    policy::check_id("document", &d.id)?;
    if !seen.insert(d.id.as_str()) {
        return Err(Error::BadRequest(
            "a document appears twice in the push".into(),
        ));
    }
    let place = DocPlace {
        kind: &d.kind,
        scope: &d.scope,
        building_id: d.building_id.as_deref(),
    };
    policy::check_place(place)?;
    if !p.can_write(place) {
        return Err(Error::Forbidden(format!(
            "this device may not write document {}",
            d.id
        )));
    }
    let changes = d
        .changes
        .iter()
        .map(|b| check_change(p, &d.kind, b))
        .collect::<Result<Vec<_>>>()?;
    Ok(CheckedDoc {
        doc: DocRow {
            id: d.id.clone(),
            kind: d.kind.clone(),
            scope: d.scope.clone(),
            building_id: d.building_id.clone(),
        },
        changes,
    })
}

/// What the hub holds of the rows a push names. Documents and changes are only ever added, so
/// what was found before the sequence lock still holds under it; keys can be destroyed by a
/// tombstone, so they are read again under the lock.
#[derive(Default)]
struct Known {
    docs: HashMap<String, DocRow>,
    changes: HashMap<[u8; 32], String>,
    keys: HashMap<String, KeyRow>,
    tombstoned: HashSet<String>,
}

impl Known {
    /// Adds what the hub holds of `docs` and `hashes`.
    fn read_docs_and_changes(
        &mut self,
        tx: &mut dyn HubTx,
        docs: &[&str],
        hashes: &[[u8; 32]],
    ) -> Result<()> {
        if !docs.is_empty() {
            self.docs
                .extend(tx.docs(docs)?.into_iter().map(|d| (d.id.clone(), d)));
        }
        if !hashes.is_empty() {
            self.changes.extend(tx.change_docs(hashes)?);
        }
        Ok(())
    }

    /// Reads (again) the keys and deletions of the push's residents.
    fn read_residents(&mut self, tx: &mut dyn HubTx, push: &CheckedPush) -> Result<()> {
        let mut ids: Vec<&str> = push
            .keys
            .iter()
            .map(|k| k.resident_id.as_str())
            .chain(push.tombstones.iter().map(|t| t.resident_id.as_str()))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        self.keys.clear();
        self.tombstoned.clear();
        if !ids.is_empty() {
            self.keys.extend(tx.keys(&ids)?);
            self.tombstoned.extend(tx.tombstoned(&ids)?);
        }
        Ok(())
    }
}

/// The rows a push adds, in the order they take positions.
struct Plan<'a> {
    docs: Vec<&'a DocRow>,
    changes: Vec<NewChange<'a>>,
    keys: Vec<&'a KeyRecord>,
    tombstones: Vec<&'a Tombstone>,
}

impl Plan<'_> {
    fn is_empty(&self) -> bool {
        self.docs.is_empty()
            && self.changes.is_empty()
            && self.keys.is_empty()
            && self.tombstones.is_empty()
    }
}

/// Decides, from what the hub holds, which rows of the push are new, with every check a push
/// must pass: write rights on stored documents, the same kind and scope, a change stored under
/// another document is a conflict, a change's history must be known, keys and tombstones only for
/// writable households. Rows are taken in push order, each seeing the ones before it.
fn plan<'a>(p: &Principal, push: &'a CheckedPush, known: &Known) -> Result<Plan<'a>> {
    let mut out = Plan {
        docs: Vec::new(),
        changes: Vec::new(),
        keys: Vec::new(),
        tombstones: Vec::new(),
    };
    // Changes this push adds, by hash: they count as stored for the changes after them.
    let mut added: HashMap<&[u8; 32], &str> = HashMap::new();
    for d in &push.docs {
        match known.docs.get(&d.doc.id) {
            Some(stored) => {
                if !p.can_write(stored.place()) {
                    return Err(Error::Forbidden(format!(
                        "this device may not write document {}",
                        d.doc.id
                    )));
                }
                if stored.kind != d.doc.kind || stored.scope != d.doc.scope {
                    return Err(Error::Conflict(format!(
                        "document {} has a different kind or scope on the server",
                        d.doc.id
                    )));
                }
            }
            None => out.docs.push(&d.doc),
        }
        for c in &d.changes {
            match holder(known, &added, &c.hash) {
                Some(doc) if doc == d.doc.id => continue,
                Some(_) => {
                    return Err(Error::Conflict(
                        "a change is already stored under another document".into(),
                    ));
                }
                None => {}
            }
            // Only changes whose history the hub holds: anything else would sit in every
            // receiver's queue forever.
            if c.deps
                .iter()
                .any(|dep| holder(known, &added, dep) != Some(d.doc.id.as_str()))
            {
                return Err(Error::BadRequest(format!(
                    "a change of document {} depends on history the server does not have",
                    d.doc.id
                )));
            }
            added.insert(&c.hash, &d.doc.id);
            out.changes.push(NewChange {
                doc_id: &d.doc.id,
                hash: &c.hash,
                bytes: &c.bytes,
            });
        }
    }
    // A household this push creates counts as stored for its keys and tombstones.
    let household = |id: &str| {
        known
            .docs
            .get(id)
            .or_else(|| out.docs.iter().copied().find(|d| d.id == id))
    };
    let mut keys: HashMap<&str, (&str, &[u8])> = HashMap::new();
    for k in &push.keys {
        check_household(p, household(&k.household_id))?;
        if known.tombstoned.contains(&k.resident_id) {
            continue;
        }
        let stored = keys.get(k.resident_id.as_str()).copied().or_else(|| {
            known
                .keys
                .get(&k.resident_id)
                .map(|s| (s.household_id.as_str(), s.key.as_slice()))
        });
        match stored {
            Some((h, key)) if h == k.household_id && key == k.key.as_slice() => {}
            Some(_) => {
                return Err(Error::Conflict(
                    "a resident key differs from the one the server holds".into(),
                ));
            }
            None => {
                keys.insert(&k.resident_id, (&k.household_id, &k.key));
                out.keys.push(k);
            }
        }
    }
    let mut deleted: HashSet<&str> = HashSet::new();
    for t in &push.tombstones {
        check_household(p, household(&t.household_id))?;
        let gone =
            deleted.contains(t.resident_id.as_str()) || known.tombstoned.contains(&t.resident_id);
        // A tombstone destroys the key, so after one the resident has none to compare with.
        let stored = if gone {
            None
        } else {
            keys.get(t.resident_id.as_str())
                .map(|(h, _)| *h)
                .or_else(|| {
                    known
                        .keys
                        .get(&t.resident_id)
                        .map(|s| s.household_id.as_str())
                })
        };
        if stored.is_some_and(|h| h != t.household_id) {
            return Err(Error::Forbidden(
                "a tombstone names a resident of another household".into(),
            ));
        }
        if !gone {
            deleted.insert(&t.resident_id);
            out.tombstones.push(t);
        }
    }
    Ok(out)
}

/// The document a change is stored under, or added under by this push.
fn holder<'x>(
    known: &'x Known,
    added: &HashMap<&[u8; 32], &'x str>,
    hash: &[u8; 32],
) -> Option<&'x str> {
    known
        .changes
        .get(hash)
        .map(String::as_str)
        .or_else(|| added.get(hash).copied())
}

/// Keys and tombstones travel only for households the device may write.
fn check_household(p: &Principal, household: Option<&DocRow>) -> Result<()> {
    match household {
        Some(d) if d.kind == "household" && p.can_write(d.place()) => Ok(()),
        Some(d) if d.kind == "household" => Err(Error::Forbidden(
            "a resident key or tombstone is outside this device's scope".into(),
        )),
        _ => Err(Error::BadRequest(
            "a resident key or tombstone names an unknown household".into(),
        )),
    }
}

/// Stores a checked push in the caller's transaction; returns the number of new changes.
///
/// Everything is read and checked first, without the sequence lock (one statement per table,
/// whatever the push's size), so concurrent pushes, on PostgreSQL from every server process, do
/// that part at once; a refusal there is final, as nothing was written. Only a push that adds
/// something takes the lock and writes. Documents and changes are only ever added, so what was
/// found still holds; one that another push stored meanwhile makes the insert fail, and the store
/// runs the push again ([`HubStore::push`]), which then finds it. Keys can be destroyed by a
/// tombstone, so a push carrying keys or tombstones reads them again under the lock.
pub fn apply_push(tx: &mut dyn HubTx, p: &Principal, push: &CheckedPush) -> Result<usize> {
    let mut docs: Vec<&str> = push
        .docs
        .iter()
        .map(|d| d.doc.id.as_str())
        .chain(push.keys.iter().map(|k| k.household_id.as_str()))
        .chain(push.tombstones.iter().map(|t| t.household_id.as_str()))
        .collect();
    docs.sort_unstable();
    docs.dedup();
    let mut hashes: Vec<[u8; 32]> = push
        .docs
        .iter()
        .flat_map(|d| d.changes.iter())
        .flat_map(|c| std::iter::once(c.hash).chain(c.deps.iter().copied()))
        .collect();
    hashes.sort_unstable();
    hashes.dedup();
    let mut known = Known::default();
    known.read_docs_and_changes(tx, &docs, &hashes)?;
    known.read_residents(tx, push)?;
    let first = plan(p, push, &known)?;
    if first.is_empty() && push.access.is_empty() {
        // A retry: nothing to add.
        return Ok(0);
    }
    tx.lock_sequence()?;
    let plan = if push.keys.is_empty() && push.tombstones.is_empty() {
        first
    } else {
        known.read_residents(tx, push)?;
        plan(p, push, &known)?
    };
    if !plan.docs.is_empty() {
        tx.insert_docs(&plan.docs)?;
    }
    if !plan.changes.is_empty() {
        tx.insert_changes(&p.actor, &plan.changes)?;
    }
    if !plan.keys.is_empty() {
        tx.insert_keys(&p.actor, &plan.keys)?;
    }
    if !plan.tombstones.is_empty() {
        tx.insert_tombstones(&p.actor, &plan.tombstones)?;
    }
    if !push.access.is_empty() {
        tx.insert_access(&push.access)?;
    }
    Ok(plan.changes.len())
}

/// Collects a pull: what the device may read after `cursor`, never its own, within the budget.
struct PullSink<'a> {
    p: &'a Principal,
    /// The scopes it may read, when a list can say it (the store leaves the others out).
    scopes: Option<Vec<String>>,
    budget: usize,
    used: usize,
    taken: usize,
    /// The last position looked at (taken or skipped) before a stop.
    last: u64,
    stopped: bool,
    bundle: Bundle,
    index: HashMap<String, usize>,
}

impl FeedSink for PullSink<'_> {
    fn filter(&self) -> FeedFilter<'_> {
        FeedFilter {
            not_actor: Some(&self.p.actor),
            scopes: self.scopes.as_deref(),
        }
    }

    fn visit(&mut self, m: &FeedMeta) -> Visit {
        if m.actor == self.p.actor || !self.p.can_read(m.doc.place()) {
            self.last = m.seq;
            return Visit::Skip;
        }
        if self.taken > 0 && self.used + m.len > self.budget {
            self.stopped = true;
            return Visit::Stop;
        }
        self.last = m.seq;
        self.used += m.len;
        self.taken += 1;
        Visit::Take
    }

    fn take(&mut self, m: FeedMeta, payload: Vec<u8>) {
        match m.what {
            FeedKind::Change => {
                let i = match self.index.get(&m.doc.id) {
                    Some(i) => *i,
                    None => {
                        self.bundle.docs.push(DocChanges {
                            id: m.doc.id.clone(),
                            kind: m.doc.kind,
                            scope: m.doc.scope,
                            building_id: m.doc.building_id,
                            changes: Vec::new(),
                        });
                        self.index.insert(m.doc.id, self.bundle.docs.len() - 1);
                        self.bundle.docs.len() - 1
                    }
                };
                self.bundle.docs[i].changes.push(payload);
            }
            FeedKind::Key => self.bundle.keys.push(KeyRecord {
                resident_id: m.resident_id.unwrap_or_default(),
                household_id: m.doc.id,
                key: payload,
            }),
            FeedKind::Tombstone => self.bundle.tombstones.push(Tombstone {
                resident_id: m.resident_id.unwrap_or_default(),
                household_id: m.doc.id,
                deleted_ms: m.deleted_ms.unwrap_or_default(),
            }),
        }
    }
}

/// What the device's scope gained after `cursor`, up to `budget` payload bytes.
pub fn pull(
    hub: &dyn HubStore,
    p: &Principal,
    request_id: u64,
    cursor: u64,
    budget: usize,
) -> Result<SyncReply> {
    let mut sink = PullSink {
        p,
        scopes: p.readable_scopes(),
        budget,
        used: 0,
        taken: 0,
        last: cursor,
        stopped: false,
        bundle: Bundle::default(),
        index: HashMap::new(),
    };
    let head = hub.feed(cursor, &mut sink)?;
    // Not cut: the cursor moves to the snapshot's head, past every row the scope filter skipped.
    let cursor = if sink.stopped { sink.last } else { head };
    Ok(SyncReply {
        version: PROTOCOL_VERSION,
        request_id,
        cursor,
        pull: sink.bundle,
        more: sink.stopped,
    })
}

/// What one sync did, for the log (counts only, never contents).
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOutcome {
    /// Changes pushed that were new to the hub.
    pub fresh_changes: usize,
    /// Changes in the push (new or retried).
    pub pushed_changes: usize,
    /// Changes, keys and tombstones sent down.
    pub pulled: usize,
    /// More is waiting.
    pub more: bool,
}

/// One whole sync on a blocking thread: decode, check, store, pull, encode. Panics (hostile
/// bytes can make decoders panic) are contained and answered as a bad request.
pub fn handle_sync(
    hub: &dyn HubStore,
    p: &Principal,
    body: &[u8],
) -> Result<(Vec<u8>, SyncOutcome)> {
    match catch_unwind(AssertUnwindSafe(|| sync_inner(hub, p, body))) {
        Ok(r) => r,
        Err(_) => Err(Error::BadRequest(
            "the request could not be processed".into(),
        )),
    }
}

fn sync_inner(hub: &dyn HubStore, p: &Principal, body: &[u8]) -> Result<(Vec<u8>, SyncOutcome)> {
    let req: SyncRequest = sync::decode(body).map_err(|e| match e {
        gridwalk_core::Error::Invalid(f) if f.iter().any(|f| f.code == "too_long") => {
            Error::TooLarge("the body is too large".into())
        }
        _ => Error::BadRequest("the body is not a valid sync request".into()),
    })?;
    if req.version != PROTOCOL_VERSION {
        return Err(Error::BadRequest(format!(
            "protocol version {} is not supported (this server speaks {PROTOCOL_VERSION})",
            req.version
        )));
    }
    let checked = check_push(p, &req.push)?;
    drop(req.push);
    let mut fresh = 0;
    if checked.changes() > 0
        || !checked.keys.is_empty()
        || !checked.tombstones.is_empty()
        || !checked.access.is_empty()
    {
        hub.push(&mut |tx| {
            fresh = apply_push(tx, p, &checked)?;
            Ok(())
        })?;
        if !checked.tombstones.is_empty() {
            // The deletion is committed; the scrubbing of old bytes follows in the background,
            // so the reply never waits for pulls holding an older snapshot.
            hub.schedule_purge();
        }
    }
    // A cursor beyond the head means the hub was restored from an older backup: start over
    // (the device drops what it already has, so a full resend is harmless).
    let cursor = if req.cursor > hub.head()? {
        0
    } else {
        req.cursor
    };
    let reply = pull(hub, p, req.request_id, cursor, PULL_BUDGET_BYTES)?;
    let outcome = SyncOutcome {
        fresh_changes: fresh,
        pushed_changes: checked.changes(),
        pulled: reply
            .pull
            .docs
            .iter()
            .map(|d| d.changes.len())
            .sum::<usize>()
            + reply.pull.keys.len()
            + reply.pull.tombstones.len(),
        more: reply.more,
    };
    let body = sync::encode(&reply)?;
    Ok((body, outcome))
}
