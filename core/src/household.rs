//! The household document: address, housing, residents, vehicles, visits and follow-ups.
//!
//! Shape (one Automerge document per household):
//! ```text
//! { kind: "household", id, grid_id, building_id, unit, door, address, area_m2, occupancy, notes,
//!   care_tags: { <tag>: true },
//!   residents: { <id>: { gender, relation, working_away, status, history: [ {status, date, at, by} ],
//!                        name, birth_date, id_number, phone, ethnicity, employment, work_place  <- sealed bytes } },
//!   vehicles:  { <id>: { plate, note } },
//!   visits:    { <id>: { worker, started, ended, outcome, present: [..], lat, lon, accuracy_m,
//!                        form_id, form_version, answers: "<json>", photos: [..], notes } },
//!   followups: { <id>: { visit_id, category, description, urgency, due, status } } }
//! ```
//! Maps keyed by random ids (not lists) so two workers adding residents or visits offline both
//! keep theirs. Personal fields are sealed under the resident's key (see `privacy.rs`).

use std::collections::{BTreeMap, HashMap};

use automerge::transaction::Transactable;
use automerge::{ObjId, ObjType, ROOT, ReadDoc, ScalarValue, Value};

use crate::am;
use crate::error::{Error, Result};
use crate::form::AnswerValue;
use crate::model::*;
use crate::privacy::ResidentKey;
use crate::validate;

/// Resident fields that are personal data, sealed under the resident's key.
pub const SEALED_FIELDS: &[&str] = &[
    "name",
    "birth_date",
    "id_number",
    "phone",
    "ethnicity",
    "employment",
    "work_place",
];

/// Keys of a household's residents, by resident id.
pub(crate) type Keyring = HashMap<String, ResidentKey>;

/// Writes the roster-level facts of a household (only the fields that differ).
pub(crate) fn put_household<T: Transactable + ReadDoc>(
    tx: &mut T,
    id: &str,
    grid_id: &str,
    h: &HouseholdInput,
) -> Result<()> {
    am::put_if_changed(tx, &ROOT, "kind", "household")?;
    am::put_if_changed(tx, &ROOT, "id", id)?;
    am::put_if_changed(tx, &ROOT, "grid_id", grid_id)?;
    am::put_if_changed(tx, &ROOT, "building_id", h.building_id.as_str())?;
    am::put_if_changed(tx, &ROOT, "unit", h.unit.as_str())?;
    am::put_if_changed(tx, &ROOT, "door", h.door.as_str())?;
    am::put_if_changed(tx, &ROOT, "address", h.address.as_str())?;
    match h.area_m2 {
        Some(a) => am::put_if_changed(tx, &ROOT, "area_m2", a)?,
        None => {
            if am::scalar(tx, &ROOT, "area_m2").is_some() {
                tx.delete(&ROOT, "area_m2")?;
            }
        }
    }
    am::put_if_changed(tx, &ROOT, "occupancy", h.occupancy.as_str())?;
    am::put_if_changed(tx, &ROOT, "notes", h.notes.as_str())?;
    let tags = am::ensure_map(tx, &ROOT, "care_tags")?;
    let have = am::keys(tx, &tags);
    for t in &have {
        if !h.care_tags.iter().any(|c| c.as_str() == t) {
            tx.delete(&tags, t.as_str())?;
        }
    }
    for t in &h.care_tags {
        if !have.iter().any(|x| x == t.as_str()) {
            tx.put(&tags, t.as_str(), true)?;
        }
    }
    for key in ["residents", "vehicles", "visits", "followups"] {
        am::ensure_map(tx, &ROOT, key)?;
    }
    Ok(())
}

/// Applies a patch: only the named fields are written.
pub(crate) fn patch_household<T: Transactable + ReadDoc>(
    tx: &mut T,
    p: &HouseholdPatch,
) -> Result<()> {
    if let Some(a) = &p.address {
        am::put_if_changed(tx, &ROOT, "address", a.as_str())?;
    }
    if let Some(a) = p.area_m2 {
        am::put_if_changed(tx, &ROOT, "area_m2", a)?;
    }
    if let Some(o) = p.occupancy {
        am::put_if_changed(tx, &ROOT, "occupancy", o.as_str())?;
    }
    if let Some(n) = &p.notes {
        am::put_if_changed(tx, &ROOT, "notes", n.as_str())?;
    }
    let tags = am::ensure_map(tx, &ROOT, "care_tags")?;
    for t in &p.add_care_tags {
        if am::boolean(tx, &tags, t.as_str()) != Some(true) {
            tx.put(&tags, t.as_str(), true)?;
        }
    }
    for t in &p.remove_care_tags {
        if am::scalar(tx, &tags, t.as_str()).is_some() {
            tx.delete(&tags, t.as_str())?;
        }
    }
    Ok(())
}

/// Checks a patch's values before anything is written.
pub(crate) fn check_household_patch(p: &HouseholdPatch) -> Result<()> {
    let mut errors = Vec::new();
    if let Some(a) = &p.address
        && a.trim().is_empty()
    {
        errors.push(field_error("address", "required", "地址不能为空"));
    }
    if let Some(a) = p.area_m2
        && !(a.is_finite() && a > 0.0 && a < 100_000.0)
    {
        errors.push(field_error(
            "area_m2",
            "out_of_range",
            "面积应在 0–100000 平方米之间",
        ));
    }
    finish(errors)
}

/// Checks a household input before anything is written.
pub(crate) fn check_household(h: &HouseholdInput) -> Result<()> {
    let mut errors = Vec::new();
    if h.building_id.trim().is_empty() {
        errors.push(field_error("building_id", "required", "请选择楼栋"));
    }
    if h.door.trim().is_empty() {
        errors.push(field_error("door", "required", "门牌号不能为空"));
    }
    if h.address.trim().is_empty() {
        errors.push(field_error("address", "required", "地址不能为空"));
    }
    if let Some(a) = h.area_m2
        && !(a.is_finite() && a > 0.0 && a < 100_000.0)
    {
        errors.push(field_error(
            "area_m2",
            "out_of_range",
            "面积应在 0–100000 平方米之间",
        ));
    }
    finish(errors)
}

pub(crate) fn field_error(field: &str, code: &str, message: &str) -> crate::form::FieldError {
    crate::form::FieldError {
        field: field.to_string(),
        code: code.to_string(),
        message: message.to_string(),
    }
}

pub(crate) fn finish(errors: Vec<crate::form::FieldError>) -> Result<()> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(errors))
    }
}

/// Normalised personal values of a resident, checked.
pub(crate) struct CheckedPersonal {
    pub values: Vec<(&'static str, Option<String>)>,
}

fn check_date(
    field: &str,
    s: &str,
    today: chrono::NaiveDate,
    errors: &mut Vec<crate::form::FieldError>,
) -> Option<chrono::NaiveDate> {
    match chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        Ok(d) if d > today => {
            errors.push(field_error(field, "future_date", "日期不能晚于今天"));
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            errors.push(field_error(field, "invalid", "日期格式应为 YYYY-MM-DD"));
            None
        }
    }
}

/// Validates and normalises the personal fields that are set (`Some`) in a resident edit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_personal(
    name: Option<&str>,
    birth_date: Option<&str>,
    id_number: Option<&str>,
    phone: Option<&str>,
    ethnicity: Option<&str>,
    employment: Option<&str>,
    work_place: Option<&str>,
    today: chrono::NaiveDate,
) -> Result<CheckedPersonal> {
    let mut errors = Vec::new();
    let mut values: Vec<(&'static str, Option<String>)> = Vec::new();
    if let Some(n) = name {
        let n = n.trim();
        if n.is_empty() {
            errors.push(field_error("name", "required", "姓名不能为空"));
        } else if n.chars().count() > 50 {
            errors.push(field_error("name", "too_long", "姓名过长"));
        }
        values.push(("name", Some(n.to_string())));
    }
    let mut birth = None;
    if let Some(b) = birth_date {
        birth = check_date("birth_date", b, today, &mut errors);
        values.push(("birth_date", Some(b.to_string())));
    }
    if let Some(id) = id_number {
        match validate::check_id_number(id, today) {
            Ok(norm) => {
                if let (Some(b), Some(from_id)) = (birth, validate::birth_date_from_id(&norm))
                    && b != from_id
                {
                    errors.push(field_error(
                        "birth_date",
                        "invalid",
                        "出生日期与身份证号不一致",
                    ));
                }
                values.push(("id_number", Some(norm)));
            }
            Err(e) => errors.push(field_error("id_number", e.code, &e.message)),
        }
    }
    if let Some(p) = phone {
        match validate::check_phone(p) {
            Ok(norm) => values.push(("phone", Some(norm))),
            Err(e) => errors.push(field_error("phone", e.code, &e.message)),
        }
    }
    for (field, v) in [
        ("ethnicity", ethnicity),
        ("employment", employment),
        ("work_place", work_place),
    ] {
        if let Some(v) = v {
            if v.chars().count() > 200 {
                errors.push(field_error(field, "too_long", "内容过长"));
            }
            values.push((field, Some(v.trim().to_string())));
        }
    }
    finish(errors)?;
    Ok(CheckedPersonal { values })
}

/// Adds a resident (with their first history entry) and seals their personal fields.
#[allow(clippy::too_many_arguments)]
pub(crate) fn add_resident<T: Transactable + ReadDoc>(
    tx: &mut T,
    resident_id: &str,
    key: &ResidentKey,
    r: &ResidentInput,
    personal: &CheckedPersonal,
    today: &str,
    now_ms: i64,
    by: &str,
) -> Result<()> {
    let residents = am::ensure_map(tx, &ROOT, "residents")?;
    let obj = tx.put_object(&residents, resident_id, ObjType::Map)?;
    tx.put(&obj, "gender", r.gender.as_str())?;
    tx.put(&obj, "relation", r.relation.trim())?;
    tx.put(&obj, "working_away", r.working_away)?;
    tx.put(&obj, "status", ResidentStatus::Present.as_str())?;
    seal_fields(tx, &obj, resident_id, key, personal)?;
    let history = tx.put_object(&obj, "history", ObjType::List)?;
    let date = r.moved_in.clone().unwrap_or_else(|| today.to_string());
    push_history(tx, &history, ResidentStatus::Present, &date, now_ms, by)?;
    Ok(())
}

fn seal_fields<T: Transactable + ReadDoc>(
    tx: &mut T,
    obj: &ObjId,
    resident_id: &str,
    key: &ResidentKey,
    personal: &CheckedPersonal,
) -> Result<()> {
    for (field, value) in &personal.values {
        match value {
            Some(v) if !v.is_empty() => {
                // Sealing uses a fresh nonce, so compare plaintexts to avoid rewriting (and
                // conflicting on) a value that did not change.
                let current =
                    am::bytes(tx, obj, field).and_then(|b| key.open(resident_id, field, &b).ok());
                let conflicted = tx
                    .get_all(obj, *field)
                    .map(|v| v.len() > 1)
                    .unwrap_or(false);
                if conflicted || current.as_deref() != Some(v.as_str()) {
                    tx.put(
                        obj,
                        *field,
                        ScalarValue::Bytes(key.seal(resident_id, field, v)?),
                    )?;
                }
            }
            _ => {
                if am::scalar(tx, obj, field).is_some() {
                    tx.delete(obj, *field)?;
                }
            }
        }
    }
    Ok(())
}

fn push_history<T: Transactable>(
    tx: &mut T,
    history: &ObjId,
    status: ResidentStatus,
    date: &str,
    now_ms: i64,
    by: &str,
) -> Result<()> {
    let len = tx.length(history);
    let e = tx.insert_object(history, len, ObjType::Map)?;
    tx.put(&e, "status", status.as_str())?;
    tx.put(&e, "date", date)?;
    tx.put(&e, "at", ScalarValue::Timestamp(now_ms))?;
    tx.put(&e, "by", by)?;
    Ok(())
}

/// The resident's map object, if the resident exists in this household.
pub(crate) fn resident_obj<D: ReadDoc>(doc: &D, resident_id: &str) -> Option<ObjId> {
    let residents = am::object(doc, &ROOT, "residents", ObjType::Map)?;
    am::object(doc, &residents, resident_id, ObjType::Map)
}

/// Applies a resident patch.
pub(crate) fn patch_resident<T: Transactable + ReadDoc>(
    tx: &mut T,
    resident_id: &str,
    key: &ResidentKey,
    p: &ResidentPatch,
    personal: &CheckedPersonal,
) -> Result<()> {
    let obj =
        resident_obj(tx, resident_id).ok_or_else(|| Error::not_found("resident", resident_id))?;
    if let Some(g) = p.gender {
        am::put_if_changed(tx, &obj, "gender", g.as_str())?;
    }
    if let Some(r) = &p.relation {
        am::put_if_changed(tx, &obj, "relation", r.trim())?;
    }
    if let Some(w) = p.working_away {
        am::put_if_changed(tx, &obj, "working_away", w)?;
    }
    seal_fields(tx, &obj, resident_id, key, personal)
}

/// Records a status change (moved out, deceased …) keeping the history.
pub(crate) fn set_resident_status<T: Transactable + ReadDoc>(
    tx: &mut T,
    resident_id: &str,
    status: ResidentStatus,
    date: &str,
    now_ms: i64,
    by: &str,
) -> Result<()> {
    let obj =
        resident_obj(tx, resident_id).ok_or_else(|| Error::not_found("resident", resident_id))?;
    tx.put(&obj, "status", status.as_str())?;
    let history = match am::object(tx, &obj, "history", ObjType::List) {
        Some(h) => h,
        None => tx.put_object(&obj, "history", ObjType::List)?,
    };
    push_history(tx, &history, status, date, now_ms, by)
}

/// Removes every sealed field of a resident from the current document state.
pub(crate) fn erase_resident<T: Transactable + ReadDoc>(
    tx: &mut T,
    resident_id: &str,
) -> Result<()> {
    let obj =
        resident_obj(tx, resident_id).ok_or_else(|| Error::not_found("resident", resident_id))?;
    for f in SEALED_FIELDS {
        if am::scalar(tx, &obj, f).is_some() {
            tx.delete(&obj, *f)?;
        }
    }
    Ok(())
}

/// Adds a vehicle.
pub(crate) fn add_vehicle<T: Transactable + ReadDoc>(
    tx: &mut T,
    id: &str,
    plate: &str,
    note: &str,
) -> Result<()> {
    let vehicles = am::ensure_map(tx, &ROOT, "vehicles")?;
    let v = tx.put_object(&vehicles, id, ObjType::Map)?;
    tx.put(&v, "plate", plate)?;
    tx.put(&v, "note", note)?;
    Ok(())
}

/// Writes a visit and its follow-ups.
pub(crate) fn put_visit<T: Transactable + ReadDoc>(
    tx: &mut T,
    visit_id: &str,
    worker: &str,
    v: &VisitInput,
    followups: &[FollowUp],
) -> Result<()> {
    let visits = am::ensure_map(tx, &ROOT, "visits")?;
    let obj = tx.put_object(&visits, visit_id, ObjType::Map)?;
    tx.put(&obj, "worker", worker)?;
    tx.put(&obj, "started", ScalarValue::Timestamp(v.started_ms))?;
    tx.put(&obj, "ended", ScalarValue::Timestamp(v.ended_ms))?;
    tx.put(&obj, "outcome", v.outcome.as_str())?;
    am::put_str_list(tx, &obj, "present", &v.present)?;
    if let Some(l) = v.location {
        tx.put(&obj, "lat", l.lat)?;
        tx.put(&obj, "lon", l.lon)?;
        tx.put(&obj, "accuracy_m", l.accuracy_m)?;
    }
    tx.put(&obj, "form_id", v.form_id.as_str())?;
    tx.put(&obj, "form_version", i64::from(v.form_version))?;
    // A visit is written once and never edited field by field, so its answers are one JSON
    // value: one operation instead of three per answer (smaller changes, faster saves).
    let sorted: BTreeMap<_, _> = v.answers.iter().collect();
    let json = serde_json::to_string(&sorted)
        .map_err(|e| Error::Corrupt(format!("answers do not serialise: {e}")))?;
    tx.put(&obj, "answers", json)?;
    am::put_str_list(tx, &obj, "photos", &v.photos)?;
    if !v.notes.is_empty() {
        tx.put(&obj, "notes", v.notes.as_str())?;
    }
    let fmap = am::ensure_map(tx, &ROOT, "followups")?;
    for f in followups {
        let o = tx.put_object(&fmap, f.id.as_str(), ObjType::Map)?;
        tx.put(&o, "visit_id", visit_id)?;
        tx.put(&o, "category", f.category.as_str())?;
        tx.put(&o, "description", f.description.as_str())?;
        tx.put(&o, "urgency", f.urgency.as_str())?;
        tx.put(&o, "due", ScalarValue::Timestamp(f.due_ms))?;
        tx.put(&o, "status", f.status.as_str())?;
    }
    Ok(())
}

/// Closes a follow-up.
pub(crate) fn close_followup<T: Transactable + ReadDoc>(
    tx: &mut T,
    followup_id: &str,
    note: &str,
    now_ms: i64,
    by: &str,
) -> Result<()> {
    let fmap = am::object(tx, &ROOT, "followups", ObjType::Map)
        .and_then(|m| am::object(tx, &m, followup_id, ObjType::Map))
        .ok_or_else(|| Error::not_found("follow-up", followup_id))?;
    tx.put(&fmap, "status", "closed")?;
    tx.put(&fmap, "closed_at", ScalarValue::Timestamp(now_ms))?;
    tx.put(&fmap, "closed_by", by)?;
    tx.put(&fmap, "close_note", note)?;
    Ok(())
}

/// Reads one sealed field, masked or in full.
pub(crate) fn read_sealed<D: ReadDoc>(
    doc: &D,
    obj: &ObjId,
    resident_id: &str,
    field: &str,
    keys: &Keyring,
) -> Option<String> {
    let sealed = am::bytes(doc, obj, field)?;
    keys.get(resident_id)?
        .open(resident_id, field, &sealed)
        .ok()
}

/// Reads every resident of the household.
pub(crate) fn read_residents<D: ReadDoc>(
    doc: &D,
    household_id: &str,
    keys: &Keyring,
) -> Vec<Resident> {
    let Some(residents) = am::object(doc, &ROOT, "residents", ObjType::Map) else {
        return Vec::new();
    };
    let mut out: Vec<Resident> = am::keys(doc, &residents)
        .into_iter()
        .filter_map(|rid| {
            let obj = am::object(doc, &residents, &rid, ObjType::Map)?;
            let sealed = |f: &str| read_sealed(doc, &obj, &rid, f, keys);
            let history = am::object(doc, &obj, "history", ObjType::List)
                .map(|h| {
                    (0..doc.length(&h))
                        .filter_map(|i| match doc.get(&h, i) {
                            Ok(Some((Value::Object(ObjType::Map), e))) => Some(StatusChange {
                                status: ResidentStatus::parse(&am::string(doc, &e, "status"))?,
                                date: am::string(doc, &e, "date"),
                                recorded_ms: am::int(doc, &e, "at").unwrap_or(0),
                                recorded_by: am::string(doc, &e, "by"),
                            }),
                            _ => None,
                        })
                        .collect()
                })
                .unwrap_or_default();
            Some(Resident {
                id: rid.clone(),
                household_id: household_id.to_string(),
                name: sealed("name").unwrap_or_default(),
                gender: Gender::parse(&am::string(doc, &obj, "gender")).unwrap_or(Gender::Unknown),
                birth_date: sealed("birth_date"),
                id_number_masked: sealed("id_number").map(|v| validate::mask_id_number(&v)),
                phone_masked: sealed("phone").map(|v| validate::mask_phone(&v)),
                ethnicity: sealed("ethnicity"),
                relation: am::string(doc, &obj, "relation"),
                employment: sealed("employment"),
                working_away: am::boolean(doc, &obj, "working_away").unwrap_or(false),
                work_place: sealed("work_place"),
                status: ResidentStatus::parse(&am::string(doc, &obj, "status"))
                    .unwrap_or(ResidentStatus::Present),
                history,
            })
        })
        .collect();
    // Head of household first, then by name, so lists are stable across devices.
    out.sort_by(|a, b| {
        (a.relation != "户主", &a.name, &a.id).cmp(&(b.relation != "户主", &b.name, &b.id))
    });
    out
}

/// Reads the household (without conflicts; the caller adds them).
pub(crate) fn read_household<D: ReadDoc>(doc: &D, keys: &Keyring) -> Household {
    let id = am::string(doc, &ROOT, "id");
    let care_tags = read_care_tags(doc);
    let vehicles = am::object(doc, &ROOT, "vehicles", ObjType::Map)
        .map(|m| {
            am::keys(doc, &m)
                .into_iter()
                .filter_map(|vid| {
                    let o = am::object(doc, &m, &vid, ObjType::Map)?;
                    Some(Vehicle {
                        plate: am::string(doc, &o, "plate"),
                        note: am::string(doc, &o, "note"),
                        id: vid,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Household {
        residents: read_residents(doc, &id, keys),
        grid_id: am::string(doc, &ROOT, "grid_id"),
        building_id: am::string(doc, &ROOT, "building_id"),
        unit: am::string(doc, &ROOT, "unit"),
        door: am::string(doc, &ROOT, "door"),
        address: am::string(doc, &ROOT, "address"),
        area_m2: am::float(doc, &ROOT, "area_m2"),
        occupancy: Occupancy::parse(&am::string(doc, &ROOT, "occupancy"))
            .unwrap_or(Occupancy::Owner),
        care_tags,
        notes: am::string(doc, &ROOT, "notes"),
        vehicles,
        conflicts: Vec::new(),
        id,
    }
}

/// The household's care tags, in the catalogue order.
pub(crate) fn read_care_tags<D: ReadDoc>(doc: &D) -> Vec<CareTag> {
    let Some(tags) = am::object(doc, &ROOT, "care_tags", ObjType::Map) else {
        return Vec::new();
    };
    CareTag::all()
        .iter()
        .copied()
        .filter(|t| am::boolean(doc, &tags, t.as_str()) == Some(true))
        .collect()
}

/// Reads every follow-up of the household.
pub(crate) fn read_followups<D: ReadDoc>(doc: &D) -> Vec<FollowUp> {
    let household_id = am::string(doc, &ROOT, "id");
    let Some(m) = am::object(doc, &ROOT, "followups", ObjType::Map) else {
        return Vec::new();
    };
    am::keys(doc, &m)
        .into_iter()
        .filter_map(|fid| {
            let o = am::object(doc, &m, &fid, ObjType::Map)?;
            Some(FollowUp {
                household_id: household_id.clone(),
                visit_id: am::string(doc, &o, "visit_id"),
                category: am::string(doc, &o, "category"),
                description: am::string(doc, &o, "description"),
                urgency: Urgency::parse(&am::string(doc, &o, "urgency")).unwrap_or(Urgency::Normal),
                due_ms: am::int(doc, &o, "due").unwrap_or(0),
                status: am::string(doc, &o, "status"),
                id: fid,
            })
        })
        .collect()
}

/// Reads every visit of the household, newest first.
pub(crate) fn read_visits<D: ReadDoc>(doc: &D) -> Vec<Visit> {
    let household_id = am::string(doc, &ROOT, "id");
    let followups = read_followups(doc);
    let Some(m) = am::object(doc, &ROOT, "visits", ObjType::Map) else {
        return Vec::new();
    };
    let mut visits: Vec<Visit> = am::keys(doc, &m)
        .into_iter()
        .filter_map(|vid| {
            let o = am::object(doc, &m, &vid, ObjType::Map)?;
            let location = match (am::float(doc, &o, "lat"), am::float(doc, &o, "lon")) {
                (Some(lat), Some(lon)) => Some(Location {
                    lat,
                    lon,
                    accuracy_m: am::float(doc, &o, "accuracy_m").unwrap_or(0.0),
                }),
                _ => None,
            };
            let answers = am::str(doc, &o, "answers")
                .and_then(|j| serde_json::from_str::<HashMap<String, AnswerValue>>(&j).ok())
                .unwrap_or_default();
            Some(Visit {
                household_id: household_id.clone(),
                worker_id: am::string(doc, &o, "worker"),
                started_ms: am::int(doc, &o, "started").unwrap_or(0),
                ended_ms: am::int(doc, &o, "ended").unwrap_or(0),
                outcome: VisitOutcome::parse(&am::string(doc, &o, "outcome"))
                    .unwrap_or(VisitOutcome::Met),
                present: am::str_list(doc, &o, "present"),
                location,
                form_id: am::string(doc, &o, "form_id"),
                form_version: am::int(doc, &o, "form_version")
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(0),
                answers,
                followups: followups
                    .iter()
                    .filter(|f| f.visit_id == vid)
                    .cloned()
                    .collect(),
                photos: am::str_list(doc, &o, "photos"),
                notes: am::string(doc, &o, "notes"),
                id: vid,
            })
        })
        .collect();
    visits.sort_by(|a, b| (b.started_ms, &b.id).cmp(&(a.started_ms, &a.id)));
    visits
}
