//! The hub: the server's own record of every document change, resident key, deletion, device
//! and enrolment code, behind a storage trait.
//!
//! [`HubStore`] is deliberately dumb: rows in, rows out, one transaction per push, one consistent
//! snapshot per pull. What is allowed and what a device receives is decided once, in
//! [`crate::protocol`] and [`crate::policy`], so the embedded SQLite store ([`sqlite::SqliteHub`],
//! one community, zero setup) and the PostgreSQL store ([`postgres::PgHub`], a city: several
//! stateless server processes on one database) behave the same and run the same tests.
//!
//! Every change, key and tombstone gets a position in one sequence when it arrives; a device's
//! cursor is a position in that sequence. Positions must become visible in order (no reader may
//! see position n+1 before n): SQLite guarantees it with its single writer, PostgreSQL with a
//! row lock that makes commit order sequence order (see [`postgres`]).

pub mod postgres;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

use gridwalk_core::replication::{AccessRecord, KeyRecord, Tombstone};

use crate::error::{Error, Result};
use crate::policy::{DocPlace, Principal};

/// Opens the hub `store` names: `None` or `sqlite` is the embedded store in `data_dir/hub.db`;
/// `postgres://user@host:port/db` (or `postgresql://…`) is the shared city database.
pub fn open(data_dir: &Path, store: Option<&str>) -> Result<Arc<dyn HubStore>> {
    std::fs::create_dir_all(data_dir)?;
    match store.map(str::trim).filter(|s| !s.is_empty()) {
        None | Some("sqlite") => Ok(Arc::new(sqlite::SqliteHub::open(&data_dir.join("hub.db"))?)),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Arc::new(postgres::PgHub::open(url)?))
        }
        Some(_) => Err(Error::BadRequest(
            "the store must be `sqlite` or a postgres:// URL".into(),
        )),
    }
}

/// A document as the hub knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocRow {
    /// Id.
    pub id: String,
    /// Kind name.
    pub kind: String,
    /// Scope.
    pub scope: String,
    /// Building, when it has one.
    pub building_id: Option<String>,
}

impl DocRow {
    /// The document's place, for the access rules.
    pub fn place(&self) -> DocPlace<'_> {
        DocPlace {
            kind: &self.kind,
            scope: &self.scope,
            building_id: self.building_id.as_deref(),
        }
    }
}

/// A resident key held by the hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRow {
    /// Household the resident belongs to.
    pub household_id: String,
    /// The raw key.
    pub key: Vec<u8>,
}

/// What a feed entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedKind {
    /// A document change; the payload is the change chunk.
    Change,
    /// A resident key; the payload is the key.
    Key,
    /// A deleted resident; no payload.
    Tombstone,
}

/// One entry of the hub's sequence, without its payload.
#[derive(Debug, Clone)]
pub struct FeedMeta {
    /// Position in the sequence.
    pub seq: u64,
    /// What it is.
    pub what: FeedKind,
    /// The document it belongs to (for keys and tombstones: the household).
    pub doc: DocRow,
    /// Actor of the device that sent it.
    pub actor: String,
    /// Payload length in bytes.
    pub len: usize,
    /// Resident, for keys and tombstones.
    pub resident_id: Option<String>,
    /// Deletion time, for tombstones.
    pub deleted_ms: Option<i64>,
}

/// What a feed reader wants done with an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Not for this reader; go on.
    Skip,
    /// Load the payload and hand it over with [`FeedSink::take`].
    Take,
    /// Stop before this entry (the reply is full).
    Stop,
}

/// Entries a feed reader skips whatever else they hold, so a store may leave them out rather
/// than hand each to [`FeedSink::visit`] (which still decides about every entry it gets).
#[derive(Debug, Clone, Copy, Default)]
pub struct FeedFilter<'a> {
    /// Entries sent by this actor (a device never receives its own).
    pub not_actor: Option<&'a str>,
    /// When set, only entries of documents in these scopes.
    pub scopes: Option<&'a [String]>,
}

/// Receives a pull's entries in sequence order.
pub trait FeedSink {
    /// What the reader skips anyway; by default nothing.
    fn filter(&self) -> FeedFilter<'_> {
        FeedFilter::default()
    }
    /// Decides about one entry from its metadata alone (so skipped payloads are never read).
    fn visit(&mut self, meta: &FeedMeta) -> Visit;
    /// Receives an entry the reader chose to take, with its payload.
    fn take(&mut self, meta: FeedMeta, payload: Vec<u8>);
}

/// A new enrolment code.
#[derive(Debug, Clone)]
pub struct NewCode {
    /// SHA-256 of the normalised code.
    pub code_hash: [u8; 32],
    /// Person the device will belong to.
    pub person_id: String,
    /// Role.
    pub role: crate::policy::Role,
    /// Scope ids.
    pub scope: Vec<String>,
    /// When the code stops working (ms since the epoch).
    pub expires_ms: i64,
}

/// A device redeeming a code.
#[derive(Debug, Clone)]
pub struct NewDevice {
    /// SHA-256 of the normalised code.
    pub code_hash: [u8; 32],
    /// Device id.
    pub device_id: String,
    /// Actor id to bind (lowercase hex).
    pub actor: String,
    /// SHA-256 of the bearer token.
    pub token_hash: [u8; 32],
    /// Now (ms since the epoch).
    pub now_ms: i64,
}

/// A change to store, as [`HubTx::insert_changes`] takes it.
#[derive(Debug, Clone, Copy)]
pub struct NewChange<'a> {
    /// The document it belongs to.
    pub doc_id: &'a str,
    /// Its hash.
    pub hash: &'a [u8; 32],
    /// The change chunk.
    pub bytes: &'a [u8],
}

/// One push: reads first, then [`HubTx::lock_sequence`], then writes.
///
/// The reads take many keys at once, so a push costs a few statements whatever its size. Reads
/// before the lock see what was committed when they ran, and may miss a push that commits
/// before this one takes the lock; documents and changes are never altered or removed, so
/// [`crate::protocol::apply_push`] decides before the lock, and an insert of a row that push
/// stored fails (the store then runs the push again, see [`HubStore::push`]). A store may hold
/// writes back and send them with the commit, so their errors can surface from the push itself.
pub trait HubTx {
    /// The stored documents among `ids`.
    fn docs(&mut self, ids: &[&str]) -> Result<Vec<DocRow>>;
    /// For each stored change among `hashes`, its hash and the document it belongs to.
    fn change_docs(&mut self, hashes: &[[u8; 32]]) -> Result<Vec<([u8; 32], String)>>;
    /// The stored keys among these residents, with the resident's id.
    fn keys(&mut self, resident_ids: &[&str]) -> Result<Vec<(String, KeyRow)>>;
    /// The deleted residents among these.
    fn tombstoned(&mut self, resident_ids: &[&str]) -> Result<Vec<String>>;
    /// Takes the sequence for the rest of the transaction. Every write comes after it, and every
    /// read after it sees all that other pushes committed before (see [`postgres`]).
    fn lock_sequence(&mut self) -> Result<()>;
    /// Records new documents.
    fn insert_docs(&mut self, docs: &[&DocRow]) -> Result<()>;
    /// Stores new changes, sent by `actor`, at the next positions in the order given.
    fn insert_changes(&mut self, actor: &str, changes: &[NewChange<'_>]) -> Result<()>;
    /// Stores new resident keys, sent by `actor`, at the next positions in the order given.
    fn insert_keys(&mut self, actor: &str, keys: &[&KeyRecord]) -> Result<()>;
    /// Stores deletions, sent by `actor`, at the next positions in the order given, and destroys
    /// the hub's copy of those residents' keys.
    fn insert_tombstones(&mut self, actor: &str, tombstones: &[&Tombstone]) -> Result<()>;
    /// Keeps devices' access-log entries for the office (retried ones are ignored).
    fn insert_access(&mut self, records: &[AccessRecord]) -> Result<()>;
}

/// An enrolled device as the office console lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Device id.
    pub device_id: String,
    /// Person the device belongs to.
    pub person_id: String,
    /// Role.
    pub role: crate::policy::Role,
    /// Scope ids.
    pub scope: Vec<String>,
    /// The Automerge actor id bound to the device (lowercase hex): who sent a change.
    pub actor: String,
    /// When it was enrolled (ms since the epoch).
    pub enrolled_ms: i64,
    /// Revoked by the office.
    pub revoked: bool,
}

/// The hub's storage.
pub trait HubStore: Send + Sync + 'static {
    /// Every enrolled device, newest first (for the office console). A store that cannot list
    /// its devices answers with an empty list.
    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        Ok(Vec::new())
    }
    /// The device holding the token with this hash, and whether it was revoked.
    fn device_by_token(&self, token_hash: &[u8; 32]) -> Result<Option<(Principal, bool)>>;
    /// Stores a new one-time enrolment code.
    fn add_code(&self, code: &NewCode) -> Result<()>;
    /// Redeems a code: one transaction that checks it (unknown, used or expired → 401), refuses
    /// a device id or actor already enrolled (409), records the device and uses the code up.
    fn redeem(&self, device: &NewDevice) -> Result<Principal>;
    /// Revokes a device; false when there is no such device.
    fn revoke(&self, device_id: &str) -> Result<bool>;
    /// Records (or re-binds) the office replica's own principal, marked `office_replica`.
    fn bind_office(&self, device_id: &str, actor: &str) -> Result<Principal>;
    /// Runs `f` as one push, committed durably only when `f` succeeds. `f` may run more than
    /// once: when one of its inserts finds a row that another push stored after `f` read, the
    /// store rolls back and runs `f` again (PostgreSQL; the embedded store's single writer
    /// never races).
    fn push(&self, f: &mut dyn FnMut(&mut dyn HubTx) -> Result<()>) -> Result<()>;
    /// Streams every entry after `after` from one consistent snapshot, in sequence order, and
    /// returns the snapshot's last position.
    fn feed(&self, after: u64, sink: &mut dyn FeedSink) -> Result<u64>;
    /// The last position handed out.
    fn head(&self) -> Result<u64>;
    /// After a push that deleted rows (a tombstone destroys a resident key): asks the store to
    /// make the deleted bytes unrecoverable from its own files as far as it can, soon. Returns at
    /// once; the store does the work in the background, retries while readers are in its way,
    /// and finishes it when it is dropped (SQLite: a WAL checkpoint, see [`sqlite`]). The default
    /// does nothing; PostgreSQL keeps dead rows until VACUUM (see docs/ARCHITECTURE.md).
    fn schedule_purge(&self) {}
}
