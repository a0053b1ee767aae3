//! [`GridStore`]'s events (snap reports, needs, disputes and their closed loop), identity and
//! camera photos. One-line delegations to [`gridwalk_core::Store`]; the rules live in
//! `gridwalk_core::event_store`.

use gridwalk_core::event_store::{EventSummary, EventView, Identity, PhotoRef};
use gridwalk_core::events::{Action, Category, Event, EventInput, EventState, StepInput};
use gridwalk_core::replication::{PendingRecord, UploadStatus};

use crate::error::GridError;
use crate::store::GridStore;

#[uniffi::export]
impl GridStore {
    /// Records who this device acts as (role and scope ids); [`crate::enrol`] sets it from the
    /// enrolment, so apps rarely call this themselves.
    pub fn set_identity(&self, identity: Identity) -> Result<(), GridError> {
        self.with(|s| s.set_identity(&identity))
    }

    /// Who this device acts as; a grid worker of no grid until enrolled.
    pub fn identity(&self) -> Result<Identity, GridError> {
        self.with(|s| s.identity())
    }

    /// Stores a photo straight from the camera: turned upright, at most 1600 px, re-encoded as
    /// JPEG without metadata (no location or device data), plus a thumbnail. Put
    /// [`PhotoRef::hash`] in an event's or a visit's photos. An image that cannot be read fails
    /// with [`GridError::InvalidInput`] on field `photo`.
    pub fn add_camera_photo(&self, image: Vec<u8>) -> Result<PhotoRef, GridError> {
        self.with(|s| s.add_camera_photo(&image))
    }

    /// Registers an event (snap report, need or dispute). Bad input fails with
    /// [`GridError::InvalidInput`] (one entry per field) and nothing is saved.
    pub fn report_event(&self, input: EventInput) -> Result<Event, GridError> {
        self.with(|s| s.report_event(&input))
    }

    /// An event with its deadlines as of now.
    pub fn event(&self, id: String) -> Result<EventView, GridError> {
        self.with(|s| s.event(&id))
    }

    /// An event with its deadlines as of `now_ms`.
    pub fn event_at(&self, id: String, now_ms: i64) -> Result<EventView, GridError> {
        self.with(|s| s.event_at(&id, now_ms))
    }

    /// Takes a step of the closed loop (dispatch, handle, verify, close…). A role that may not
    /// take it fails with [`GridError::Forbidden`]; a step that does not apply to the event's
    /// state fails with [`GridError::InvalidInput`] on field `action`.
    pub fn step_event(
        &self,
        id: String,
        action: Action,
        step: StepInput,
    ) -> Result<Event, GridError> {
        self.with(|s| s.step_event(&id, action, &step))
    }

    /// Events (optionally of one grid, in one state), newest first.
    pub fn events(
        &self,
        grid_id: Option<String>,
        state: Option<EventState>,
    ) -> Result<Vec<EventSummary>, GridError> {
        self.with(|s| s.events(grid_id.as_deref(), state))
    }

    /// Open events past a deadline at `now_ms` (optionally of one grid), most overdue first.
    pub fn overdue_events(
        &self,
        grid_id: Option<String>,
        now_ms: i64,
    ) -> Result<Vec<EventSummary>, GridError> {
        self.with(|s| s.overdue_events(grid_id.as_deref(), now_ms))
    }

    /// Open events of the last 7 days that may be the same problem as `input` (same category,
    /// same building or within 50 m), to show before reporting. Works offline.
    pub fn possible_duplicates(
        &self,
        input: EventInput,
        now_ms: i64,
    ) -> Result<Vec<EventSummary>, GridError> {
        self.with(|s| s.possible_duplicates(&input, now_ms))
    }

    /// Opens an event for a need raised at a visit, so the office follows it up in the closed
    /// loop.
    pub fn event_from_need(&self, followup_id: String) -> Result<Event, GridError> {
        self.with(|s| s.event_from_need(&followup_id))
    }

    /// The event categories in force (the office's catalogue, else the built-in one).
    pub fn catalogue(&self) -> Result<Vec<Category>, GridError> {
        self.with(|s| s.catalogue())
    }

    /// True when the server has acknowledged every local change (records, keys, access log):
    /// the day's work is in. Photos travel apart: see [`crate::SyncClient::upload_photos`].
    pub fn everything_uploaded(&self) -> Result<bool, GridError> {
        self.with(|s| s.everything_uploaded())
    }

    /// Whether the server has a record (household, visit, follow-up, resident, event, or a
    /// photo by hash): the "待上传" mark next to it. An unknown id fails with
    /// [`GridError::NotFound`].
    pub fn upload_status(&self, record_id: String) -> Result<UploadStatus, GridError> {
        self.with(|s| s.upload_status(&record_id))
    }

    /// Every record still waiting for the server (documents, then photos), for the "waiting to
    /// upload" list at the end of the day.
    pub fn pending_uploads(&self) -> Result<Vec<PendingRecord>, GridError> {
        self.with(|s| s.pending_uploads())
    }
}
