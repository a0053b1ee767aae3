//! [`GridStore`]: the app's handle on its offline store. Each method is a one-line delegation to
//! [`gridwalk_core::Store`]; see that type for the rules behind each call.

use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

use gridwalk_core::{
    AccessEntry, Conflict, DueHousehold, FollowUp, FormDefinition, GridCounts, Household,
    HouseholdInput, HouseholdPatch, HouseholdSummary, Place, Resident, ResidentHit, ResidentInput,
    ResidentPatch, ResidentStatus, RosterInput, RosterReport, Store, Vehicle, Visit, VisitInput,
};

use crate::config::VisitPolicy;
use crate::error::GridError;

/// The grid worker's encrypted offline store on this device.
///
/// Every call is blocking: it returns once the change is durable on disk. Call it from a
/// background thread (`Dispatchers.IO` on Android, a background queue or task on iOS), never
/// from the UI thread. Calls from several threads at once are safe.
#[derive(uniffi::Object)]
pub struct GridStore {
    /// `None` once closed. Blocking calls hold the read lock, `close_store` the write lock, so
    /// closing waits for calls in progress and no call ever sees a half-closed store. Async calls
    /// (sync, photo transfers) take their own `Arc` instead: no lock is held across an `.await`.
    inner: RwLock<Option<Arc<Store>>>,
}

impl GridStore {
    /// Runs `f` on the open store and maps its error; [`GridError::Closed`] after `close_store`.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&Store) -> gridwalk_core::Result<T>,
    ) -> Result<T, GridError> {
        // A panic inside a call cannot leave the store half-changed (SQLite rolls back), so a
        // poisoned lock is still safe to use.
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        Ok(f(guard.as_ref().ok_or(GridError::Closed)?)?)
    }

    /// The open store for an async call, which keeps it open until the call ends.
    pub(crate) fn shared(&self) -> Result<Arc<Store>, GridError> {
        let guard = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        guard.clone().ok_or(GridError::Closed)
    }
}

/// Counts cross the FFI as `u64` (uniffi has no `usize`).
fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[uniffi::export]
impl GridStore {
    /// Opens (or creates) the store at `path`, encrypted with the 32-byte `key` kept in the
    /// platform keystore/keychain, for the person `person_id` using this device.
    /// A wrong key fails with [`GridError::WrongKey`] and leaves the file untouched.
    #[uniffi::constructor]
    pub fn open(path: String, key: Vec<u8>, person_id: String) -> Result<Arc<Self>, GridError> {
        let store = Store::open(Path::new(&path), &key, &person_id)?;
        Ok(Arc::new(GridStore {
            inner: RwLock::new(Some(Arc::new(store))),
        }))
    }

    /// Closes the store: waits for blocking calls in progress, then releases the database (so
    /// the file can be moved). A sync or photo transfer still running keeps the database open
    /// until it ends. Later calls fail with [`GridError::Closed`]; closing twice is harmless. To
    /// stop a long call first, use [`GridStore::interrupt`] or [`crate::SyncClient::cancel`].
    ///
    /// Named `close_store` because the generated Kotlin class already has `close()` from
    /// `AutoCloseable`, which only frees this handle.
    pub fn close_store(&self) {
        self.inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
    }

    /// Closes the store and deletes its files (database, WAL): what the app does when
    /// [`GridError::Revoked`] says the office revoked this device, before destroying the key.
    /// Waits for a sync or photo transfer still running on this store (cancel it first with
    /// [`crate::SyncClient::cancel`]). Fails with [`GridError::Closed`] on a closed store.
    pub fn wipe(&self) -> Result<(), GridError> {
        let taken = self
            .inner
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut store = taken.ok_or(GridError::Closed)?;
        // Async calls hold their own reference; the files go once the last one is released.
        loop {
            match Arc::try_unwrap(store) {
                Ok(s) => return Ok(s.wipe()?),
                Err(still_shared) => {
                    store = still_shared;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        }
    }

    /// Interrupts a long-running write (rebuild, import) in progress on another thread; it
    /// fails with [`GridError::Interrupted`]. Does nothing once the store is closed.
    pub fn interrupt(&self) {
        let _closed = self.with(|s| {
            s.interrupt();
            Ok(())
        });
    }

    /// This device's id (random, made when the store was created).
    pub fn device_id(&self) -> Result<String, GridError> {
        self.with(|s| Ok(s.device_id().to_owned()))
    }

    /// The Automerge actor id this device writes with (hex); the server binds it at enrolment.
    pub fn actor_id(&self) -> Result<String, GridError> {
        self.with(|s| Ok(s.actor_id()))
    }

    /// The person using this store.
    pub fn person_id(&self) -> Result<String, GridError> {
        self.with(|s| Ok(s.person_id().to_owned()))
    }

    // ------------------------------------------------------------ roster and households

    /// Loads the community roster (grids, buildings, households). Re-loading updates what
    /// changed and creates nothing twice.
    pub fn load_roster(&self, roster: RosterInput) -> Result<RosterReport, GridError> {
        self.with(|s| s.load_roster(&roster))
    }

    /// Grids and buildings of the roster, in display order.
    pub fn places(&self) -> Result<Vec<Place>, GridError> {
        self.with(|s| s.places())
    }

    /// Registers one household in a building of the roster.
    pub fn create_household(&self, h: HouseholdInput) -> Result<HouseholdSummary, GridError> {
        self.with(|s| s.create_household(&h))
    }

    /// Changes some fields of a household; fields left `null`/`nil` are not touched, so other
    /// people's edits of them merge.
    pub fn update_household(
        &self,
        id: String,
        patch: HouseholdPatch,
    ) -> Result<Household, GridError> {
        self.with(|s| s.update_household(&id, &patch))
    }

    /// A household with its residents (personal values masked), vehicles and open conflicts.
    pub fn household(&self, id: String) -> Result<Household, GridError> {
        self.with(|s| s.household(&id))
    }

    /// Households of a building (optionally one unit), by unit and door.
    pub fn households_in(
        &self,
        building_id: String,
        unit: Option<String>,
    ) -> Result<Vec<HouseholdSummary>, GridError> {
        self.with(|s| s.households_in(&building_id, unit.as_deref()))
    }

    /// Every household of a grid, by building, unit and door.
    pub fn grid_households(&self, grid_id: String) -> Result<Vec<HouseholdSummary>, GridError> {
        self.with(|s| s.grid_households(&grid_id))
    }

    /// Adds a vehicle (plate number and a note) to a household.
    pub fn add_vehicle(
        &self,
        household_id: String,
        plate: String,
        note: String,
    ) -> Result<Vehicle, GridError> {
        self.with(|s| s.add_vehicle(&household_id, &plate, &note))
    }

    // ------------------------------------------------------------ residents

    /// Adds a resident to a household; ID number and phone come back masked.
    pub fn add_resident(
        &self,
        household_id: String,
        resident: ResidentInput,
    ) -> Result<Resident, GridError> {
        self.with(|s| s.add_resident(&household_id, &resident))
    }

    /// Changes some fields of a resident; fields left `null`/`nil` are not touched.
    pub fn update_resident(
        &self,
        resident_id: String,
        patch: ResidentPatch,
    ) -> Result<Resident, GridError> {
        self.with(|s| s.update_resident(&resident_id, &patch))
    }

    /// Records that a resident moved out, died or lives here again, on `date` (`YYYY-MM-DD`).
    pub fn set_resident_status(
        &self,
        resident_id: String,
        status: ResidentStatus,
        date: String,
    ) -> Result<Resident, GridError> {
        self.with(|s| s.set_resident_status(&resident_id, status, &date))
    }

    /// Deletes a resident's personal data on every device (retention over, or on request).
    pub fn delete_resident(&self, resident_id: String) -> Result<(), GridError> {
        self.with(|s| s.delete_resident(&resident_id))
    }

    /// One resident (personal values masked).
    pub fn resident(&self, resident_id: String) -> Result<Resident, GridError> {
        self.with(|s| s.resident(&resident_id))
    }

    /// The full value of a personal `field` (`id_number`, `phone`…) for a stated `purpose`;
    /// leaves an entry in the access log.
    pub fn reveal(
        &self,
        resident_id: String,
        field: String,
        purpose: String,
    ) -> Result<String, GridError> {
        self.with(|s| s.reveal(&resident_id, &field, &purpose))
    }

    /// The access log of revealed personal values, oldest first.
    pub fn access_log(&self) -> Result<Vec<AccessEntry>, GridError> {
        self.with(|s| s.access_log())
    }

    /// Checks the access log's hash chain; returns its number of entries.
    pub fn verify_access_log(&self) -> Result<u64, GridError> {
        self.with(|s| s.verify_access_log().map(count))
    }

    /// Residents whose name or phone starts with `query` (at most 50).
    pub fn search_residents(&self, query: String) -> Result<Vec<ResidentHit>, GridError> {
        self.with(|s| s.search_residents(&query))
    }

    // ------------------------------------------------------------ visits and photos

    /// Stores a JPEG photo; returns its SHA-256 (hex) to put in [`VisitInput::photos`].
    pub fn add_photo(&self, jpeg: Vec<u8>) -> Result<String, GridError> {
        self.with(|s| s.add_photo(&jpeg))
    }

    /// The bytes of a stored photo.
    pub fn photo(&self, hash: String) -> Result<Vec<u8>, GridError> {
        self.with(|s| s.photo(&hash))
    }

    /// Records a visit. Answers are checked against the form version it names; bad answers fail
    /// with [`GridError::InvalidInput`] (fields `answers.<field id>`) and nothing is saved.
    pub fn record_visit(&self, visit: VisitInput) -> Result<Visit, GridError> {
        self.with(|s| s.record_visit(&visit))
    }

    /// A household's visits, newest first.
    pub fn visit_history(&self, household_id: String) -> Result<Vec<Visit>, GridError> {
        self.with(|s| s.visit_history(&household_id))
    }

    /// Closes a follow-up with a note.
    pub fn close_followup(&self, followup_id: String, note: String) -> Result<(), GridError> {
        self.with(|s| s.close_followup(&followup_id, &note))
    }

    /// Open follow-ups, soonest due first (optionally of one grid).
    pub fn open_followups(&self, grid_id: Option<String>) -> Result<Vec<FollowUp>, GridError> {
        self.with(|s| s.open_followups(grid_id.as_deref()))
    }

    /// Households due for a visit at `now_ms` (optionally of one grid), most overdue first.
    pub fn due_for_visit(
        &self,
        grid_id: Option<String>,
        now_ms: i64,
    ) -> Result<Vec<DueHousehold>, GridError> {
        self.with(|s| s.due_for_visit(grid_id.as_deref(), now_ms))
    }

    /// Per grid: households, and households visited in the calendar month of `now_ms`.
    pub fn grid_counts(&self, now_ms: i64) -> Result<Vec<GridCounts>, GridError> {
        self.with(|s| s.grid_counts(now_ms))
    }

    // ------------------------------------------------------------ conflicts

    /// Unresolved concurrent edits of a household.
    pub fn conflicts(&self, household_id: String) -> Result<Vec<Conflict>, GridError> {
        self.with(|s| s.conflicts(&household_id))
    }

    /// Resolves a conflict by keeping the value at index `choice` of its values.
    pub fn resolve_conflict(
        &self,
        household_id: String,
        path: String,
        choice: u32,
    ) -> Result<(), GridError> {
        self.with(|s| s.resolve_conflict(&household_id, &path, choice))
    }

    // ------------------------------------------------------------ configuration

    /// A form definition as JSON (the format of `FormDefinition` in gridwalk-core): the
    /// published version, or the built-in four-questions form.
    pub fn form_json(&self, form_id: String, version: u32) -> Result<String, GridError> {
        self.with(|s| s.form(&form_id, version).map(|f| f.to_json()))
    }

    /// The newest version of a form, as JSON.
    pub fn current_form_json(&self, form_id: String) -> Result<String, GridError> {
        self.with(|s| s.current_form(&form_id).map(|f| f.to_json()))
    }

    /// Publishes a form version given as JSON; a malformed definition fails with
    /// [`GridError::InvalidInput`] on field `form`.
    pub fn publish_form_json(&self, json: String) -> Result<(), GridError> {
        let def = FormDefinition::from_json(&json)?;
        self.with(|s| s.publish_form(&def))
    }

    /// The visit policy (built-in default until the office publishes one).
    pub fn visit_policy(&self) -> Result<VisitPolicy, GridError> {
        self.with(|s| s.visit_policy().map(VisitPolicy::from))
    }

    /// Sets the visit policy.
    pub fn set_visit_policy(&self, policy: VisitPolicy) -> Result<(), GridError> {
        self.with(|s| s.set_visit_policy(&policy.into()))
    }

    /// Folds piled-up changes into snapshots so later loads are fast; call it when the app is
    /// idle or after a sync. Returns the number of documents compacted.
    pub fn compact(&self) -> Result<u64, GridError> {
        self.with(|s| s.compact().map(count))
    }
}
