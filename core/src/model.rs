//! The records a phone screen shows and the inputs it sends.
//!
//! Plain data, shaped to cross the FFI unchanged: instants are UTC milliseconds since the epoch
//! (`*_ms`, shown in Asia/Shanghai by the app), calendar dates are ISO `YYYY-MM-DD` strings.
//! Personal values (ID number, phone) come masked; the full value needs
//! [`crate::Store::reveal`], which leaves an access-log entry.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::form::AnswerValue;

/// Declares an enum stored and sent as a snake_case string, with `as_str`, `parse` and `all`.
macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vm])* $variant),+ }
        impl $name {
            /// Stored and wire name.
            pub fn as_str(self) -> &'static str { match self { $($name::$variant => $s),+ } }
            /// Parses a stored name.
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some($name::$variant),)+ _ => None } }
            /// Every value, in display order.
            pub fn all() -> &'static [$name] { &[$($name::$variant),+] }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// How a home is occupied.
    Occupancy { /// 自住
        Owner = "owner", /// 出租
        Rented = "rented", /// 空置
        Vacant = "vacant" }
}

string_enum! {
    /// Care tags (关爱对象): they set how often a household is visited.
    CareTag {
        /// 独居/空巢老人
        ElderlyAlone = "elderly_alone",
        /// 留守儿童
        LeftBehindChild = "left_behind_child",
        /// 残疾人
        Disabled = "disabled",
        /// 低保户
        Dibao = "dibao",
        /// 五保户
        Wubao = "wubao",
        /// 重病
        SevereIllness = "severe_illness",
        /// 其他关爱对象
        Other = "other",
    }
}

string_enum! {
    /// Gender as recorded.
    Gender { /// 男
        Male = "male", /// 女
        Female = "female", /// 未登记
        Unknown = "unknown" }
}

string_enum! {
    /// Where a resident stands now; the history of changes is kept.
    ResidentStatus {
        /// Lives here.
        Present = "present",
        /// Moved out (迁出).
        MovedOut = "moved_out",
        /// Deceased (死亡).
        Deceased = "deceased",
        /// Personal data deleted (retention over, or on request).
        Deleted = "deleted",
    }
}

string_enum! {
    /// What came of a visit.
    VisitOutcome { /// 见到住户
        Met = "met", /// 无人在家
        NobodyHome = "nobody_home", /// 拒绝
        Refused = "refused", /// 已搬离
        MovedAway = "moved_away" }
}

string_enum! {
    /// How urgent a need is; sets the default follow-up due date.
    Urgency { /// 一般 (14 days)
        Low = "low", /// 普通 (7 days)
        Normal = "normal", /// 较急 (3 days)
        High = "high", /// 紧急 (1 day)
        Urgent = "urgent" }
}

impl Urgency {
    /// Default days to follow a need up.
    pub fn default_days(self) -> i64 {
        match self {
            Urgency::Low => 14,
            Urgency::Normal => 7,
            Urgency::High => 3,
            Urgency::Urgent => 1,
        }
    }
}

/// A grid of the roster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GridInput {
    /// Stable id.
    pub id: String,
    /// Display name, e.g. "第一网格".
    pub name: String,
}

/// A building of the roster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct BuildingInput {
    /// Stable id.
    pub id: String,
    /// Grid the building belongs to.
    pub grid_id: String,
    /// Display name, e.g. "4号楼".
    pub name: String,
    /// Number of units (单元).
    pub units: u32,
}

/// A household as the roster or a grid worker registers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct HouseholdInput {
    /// Stable id; `None` lets the store match by building/unit/door or create one.
    pub id: Option<String>,
    /// Building.
    pub building_id: String,
    /// Unit (单元), e.g. "2".
    pub unit: String,
    /// Door number (门牌号), e.g. "301".
    pub door: String,
    /// Standard address.
    pub address: String,
    /// Floor area in m².
    pub area_m2: Option<f64>,
    /// Occupancy.
    pub occupancy: Occupancy,
    /// Care tags.
    pub care_tags: Vec<CareTag>,
    /// Free notes.
    pub notes: String,
}

/// The whole community roster, loaded at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RosterInput {
    /// Community name.
    pub community_name: String,
    /// Grids.
    pub grids: Vec<GridInput>,
    /// Buildings.
    pub buildings: Vec<BuildingInput>,
    /// Households.
    pub households: Vec<HouseholdInput>,
}

/// What a roster load did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct RosterReport {
    /// Households created.
    pub created: u32,
    /// Households that existed and were updated.
    pub updated: u32,
    /// Households that were already identical.
    pub unchanged: u32,
}

/// A place in the grid hierarchy (grid, building).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Place {
    /// Id.
    pub id: String,
    /// "grid" or "building".
    pub kind: String,
    /// Parent place (a building's grid).
    pub parent_id: Option<String>,
    /// Display name.
    pub name: String,
}

/// Fields of a household to change; `None` leaves a field alone so other people's edits merge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct HouseholdPatch {
    /// New address.
    pub address: Option<String>,
    /// New area.
    pub area_m2: Option<f64>,
    /// New occupancy.
    pub occupancy: Option<Occupancy>,
    /// Care tags to add.
    pub add_care_tags: Vec<CareTag>,
    /// Care tags to remove.
    pub remove_care_tags: Vec<CareTag>,
    /// New notes.
    pub notes: Option<String>,
}

/// A new resident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ResidentInput {
    /// Full name.
    pub name: String,
    /// Gender.
    pub gender: Gender,
    /// Birth date, `YYYY-MM-DD`.
    pub birth_date: Option<String>,
    /// 18-character resident ID number (GB 11643).
    pub id_number: Option<String>,
    /// Mobile or landline.
    pub phone: Option<String>,
    /// Ethnicity (民族), e.g. "汉族", "回族".
    pub ethnicity: Option<String>,
    /// Relation to the head of household (户主, 配偶, 子女 …).
    pub relation: String,
    /// Employment.
    pub employment: Option<String>,
    /// Working away from home (外出务工).
    pub working_away: bool,
    /// Where they work when away.
    pub work_place: Option<String>,
    /// Date they moved in, `YYYY-MM-DD`.
    pub moved_in: Option<String>,
}

/// Fields of a resident to change; `None` leaves a field alone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ResidentPatch {
    /// New name.
    pub name: Option<String>,
    /// New gender.
    pub gender: Option<Gender>,
    /// New birth date.
    pub birth_date: Option<String>,
    /// New ID number.
    pub id_number: Option<String>,
    /// New phone.
    pub phone: Option<String>,
    /// New ethnicity.
    pub ethnicity: Option<String>,
    /// New relation to head.
    pub relation: Option<String>,
    /// New employment.
    pub employment: Option<String>,
    /// Working away or not.
    pub working_away: Option<bool>,
    /// New work place.
    pub work_place: Option<String>,
}

/// One step in a resident's history (moved in, moved out, deceased …).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct StatusChange {
    /// Status entered.
    pub status: ResidentStatus,
    /// Date it happened, `YYYY-MM-DD`.
    pub date: String,
    /// When it was recorded.
    pub recorded_ms: i64,
    /// Who recorded it.
    pub recorded_by: String,
}

/// A resident as shown on the phone: sensitive values masked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Resident {
    /// Id.
    pub id: String,
    /// Household.
    pub household_id: String,
    /// Name ("" once deleted).
    pub name: String,
    /// Gender.
    pub gender: Gender,
    /// Birth date.
    pub birth_date: Option<String>,
    /// ID number, masked (`6201**********1234`).
    pub id_number_masked: Option<String>,
    /// Phone, masked (`138****8000`).
    pub phone_masked: Option<String>,
    /// Ethnicity.
    pub ethnicity: Option<String>,
    /// Relation to head.
    pub relation: String,
    /// Employment.
    pub employment: Option<String>,
    /// Working away.
    pub working_away: bool,
    /// Work place when away.
    pub work_place: Option<String>,
    /// Current status.
    pub status: ResidentStatus,
    /// Every status change, oldest first.
    pub history: Vec<StatusChange>,
}

/// A vehicle of the household (实有车辆).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Vehicle {
    /// Id.
    pub id: String,
    /// Plate number.
    pub plate: String,
    /// Notes (colour, kind).
    pub note: String,
}

/// A household with everything the detail screen shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Household {
    /// Id.
    pub id: String,
    /// Grid.
    pub grid_id: String,
    /// Building.
    pub building_id: String,
    /// Unit.
    pub unit: String,
    /// Door number.
    pub door: String,
    /// Standard address.
    pub address: String,
    /// Floor area.
    pub area_m2: Option<f64>,
    /// Occupancy.
    pub occupancy: Occupancy,
    /// Care tags.
    pub care_tags: Vec<CareTag>,
    /// Notes.
    pub notes: String,
    /// Residents, current and former.
    pub residents: Vec<Resident>,
    /// Vehicles.
    pub vehicles: Vec<Vehicle>,
    /// Unresolved concurrent edits.
    pub conflicts: Vec<Conflict>,
}

/// A household in a list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct HouseholdSummary {
    /// Id.
    pub id: String,
    /// Grid.
    pub grid_id: String,
    /// Building.
    pub building_id: String,
    /// Unit.
    pub unit: String,
    /// Door number.
    pub door: String,
    /// Address.
    pub address: String,
    /// Head of household's name, if known.
    pub head_name: Option<String>,
    /// Care tags.
    pub care_tags: Vec<CareTag>,
    /// Residents living here now.
    pub resident_count: u32,
    /// Start of the last visit.
    pub last_visit_ms: Option<i64>,
    /// Visits recorded.
    pub visit_count: u32,
    /// Unresolved conflicts.
    pub conflict_count: u32,
}

/// Where a visit happened, when the worker chose to attach it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Location {
    /// Latitude, degrees.
    pub lat: f64,
    /// Longitude, degrees.
    pub lon: f64,
    /// Accuracy radius, metres.
    pub accuracy_m: f64,
}

/// A need raised during a visit (困难需求); becomes an open follow-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct NeedInput {
    /// Category, e.g. "低保", "房屋维修".
    pub category: String,
    /// What is needed.
    pub description: String,
    /// Urgency.
    pub urgency: Urgency,
    /// Due date; `None` derives it from the urgency.
    pub due_ms: Option<i64>,
}

/// A household visit as the worker records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct VisitInput {
    /// Household visited.
    pub household_id: String,
    /// Start.
    pub started_ms: i64,
    /// End.
    pub ended_ms: i64,
    /// Outcome.
    pub outcome: VisitOutcome,
    /// Residents present (resident ids).
    pub present: Vec<String>,
    /// Location, if attached.
    pub location: Option<Location>,
    /// Form used.
    pub form_id: String,
    /// Form version used.
    pub form_version: u32,
    /// Answers by field id.
    pub answers: HashMap<String, AnswerValue>,
    /// Needs raised.
    pub needs: Vec<NeedInput>,
    /// Photos (SHA-256 of photos already added with [`crate::Store::add_photo`]).
    pub photos: Vec<String>,
    /// Notes.
    pub notes: String,
}

/// A follow-up of a need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct FollowUp {
    /// Id.
    pub id: String,
    /// Household.
    pub household_id: String,
    /// Visit that raised it.
    pub visit_id: String,
    /// Category.
    pub category: String,
    /// Description.
    pub description: String,
    /// Urgency.
    pub urgency: Urgency,
    /// Due.
    pub due_ms: i64,
    /// "open" or "closed".
    pub status: String,
}

/// A recorded visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Visit {
    /// Id.
    pub id: String,
    /// Household.
    pub household_id: String,
    /// Worker who visited.
    pub worker_id: String,
    /// Start.
    pub started_ms: i64,
    /// End.
    pub ended_ms: i64,
    /// Outcome.
    pub outcome: VisitOutcome,
    /// Residents present.
    pub present: Vec<String>,
    /// Location.
    pub location: Option<Location>,
    /// Form used.
    pub form_id: String,
    /// Form version used.
    pub form_version: u32,
    /// Answers.
    pub answers: HashMap<String, AnswerValue>,
    /// Follow-ups raised.
    pub followups: Vec<FollowUp>,
    /// Photos.
    pub photos: Vec<String>,
    /// Notes.
    pub notes: String,
}

/// A household due for a visit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct DueHousehold {
    /// The household.
    pub household: HouseholdSummary,
    /// Its visit interval (shortest of its care tags').
    pub interval_days: u32,
    /// When the next visit is due (`None`: never visited, due now).
    pub due_ms: Option<i64>,
}

/// Visit coverage of one grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct GridCounts {
    /// Grid.
    pub grid_id: String,
    /// Households in the grid.
    pub households: u32,
    /// Households visited this calendar month (Asia/Shanghai).
    pub visited_this_month: u32,
}

/// A resident search hit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ResidentHit {
    /// Resident.
    pub resident_id: String,
    /// Household.
    pub household_id: String,
    /// Name.
    pub name: String,
    /// Phone, masked.
    pub phone_masked: Option<String>,
    /// Household address.
    pub address: String,
}

/// A field that two people changed at the same time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Conflict {
    /// Path of the field, e.g. `address` or `residents/<id>/phone`.
    pub path: String,
    /// The competing values; the first is the one currently shown (the deterministic winner).
    pub values: Vec<ConflictValue>,
}

/// One competing value of a conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct ConflictValue {
    /// The value as text (personal values masked).
    pub value: String,
    /// Person who wrote it.
    pub by: String,
    /// When it was written.
    pub at_ms: i64,
}

/// Why personal data was revealed; recorded in the access log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct AccessEntry {
    /// Sequence number.
    pub seq: i64,
    /// When.
    pub at_ms: i64,
    /// Who.
    pub person_id: String,
    /// Resident whose data was shown.
    pub resident_id: String,
    /// Field shown.
    pub field: String,
    /// Stated purpose.
    pub purpose: String,
}
