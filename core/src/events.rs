//! Events and their closed loop: snap reports, needs and disputes, from registration to the
//! reporter's rating.
//!
//! An event is one Automerge document. Its workflow state is never a field anyone writes: the
//! document keeps an append-only map of transitions (who, when, action, the state they saw, a
//! note), and the state is a deterministic fold of those transitions in causal order (Automerge
//! op ids order them: an op created after another was seen always sorts later; concurrent ones
//! tie-break by actor). A transition that no longer applies when its turn comes — "handled" on a
//! case the office closed meanwhile, a second dispatch to another handler — is kept and flagged
//! for review, never dropped.

use automerge::transaction::Transactable;
use automerge::{Automerge, ObjId, ObjType, ROOT, ReadDoc, ScalarValue};
use serde::{Deserialize, Serialize};

use crate::am;
use crate::error::{Error, Result};
use crate::model::string_enum;

string_enum! {
    /// Where an event came from.
    EventSource { /// 随手拍
        Snap = "snap", /// A need raised at a visit (困难需求)
        Need = "need", /// A dispute (矛盾纠纷)
        Dispute = "dispute" }
}

string_enum! {
    /// The state of an event in the closed loop.
    EventState {
        /// 登记: registered, waiting for dispatch.
        Registered = "registered",
        /// 派遣: dispatched to a handler or department.
        Dispatched = "dispatched",
        /// 处置: the handler reports it handled.
        Handled = "handled",
        /// 核实: someone other than the handler verified it.
        Verified = "verified",
        /// 结案: closed.
        Closed = "closed",
    }
}

string_enum! {
    /// A step someone takes on an event.
    Action {
        /// Dispatch to a handler (person) or a department.
        Dispatch = "dispatch",
        /// Report the event handled (result, after-photos).
        Handle = "handle",
        /// Verify the handling (not by the handler).
        Verify = "verify",
        /// Close the case.
        Close = "close",
        /// Send back to an earlier step, with a reason.
        Return = "return",
        /// Hand up one level: grid → community → street.
        Escalate = "escalate",
        /// The reporter's rating (1–5) and comment after closing.
        Feedback = "feedback",
    }
}

string_enum! {
    /// The level handling an event.
    Level { /// 网格
        Grid = "grid", /// 社区
        Community = "community", /// 街道
        Street = "street" }
}

/// One entry of an event's transition log, as folded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Transition {
    /// Id (unique per transition).
    pub id: String,
    /// What was done.
    pub action: Action,
    /// Who did it.
    pub by: String,
    /// Their role.
    pub role: String,
    /// When.
    pub at_ms: i64,
    /// The state they saw when they did it.
    pub seen: EventState,
    /// State after this transition (unchanged when flagged).
    pub state_after: EventState,
    /// Note, reason or result.
    pub note: String,
    /// Handler person (dispatch).
    pub assignee: Option<String>,
    /// Department (dispatch).
    pub department: Option<String>,
    /// Rating 1–5 (feedback).
    pub rating: Option<u8>,
    /// Photos (after-photos of handling).
    pub photos: Vec<String>,
    /// Set when the transition did not apply in causal order; kept for review.
    pub flag: Option<String>,
}

/// Who takes a step: the person and the role they act in, as the transition records them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Person id (`by`).
    pub person_id: String,
    /// Role (`role`).
    pub role: String,
}

/// The roles the office replica may record a step under: the console's staff roles. A staff
/// member's step carries their own role, so every rule about roles applies to them as to a phone.
pub const STAFF_ROLES: [&str; 3] = ["office", "grid_leader", "grid_worker"];

/// Longest person id a step may carry (the server's limit on ids).
pub const MAX_PERSON_ID_BYTES: usize = 128;

/// Whether `person_id` may name the actor of a step the office records for a staff member: not
/// blank, at most [`MAX_PERSON_ID_BYTES`], no control characters. The office replica checks it
/// before writing and the server again when the replica pushes.
pub fn is_staff_person_id(person_id: &str) -> bool {
    !person_id.trim().is_empty()
        && person_id.len() <= MAX_PERSON_ID_BYTES
        && !person_id.chars().any(char::is_control)
}

/// Where an event is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EventPlace {
    /// Building, if in one.
    pub building_id: Option<String>,
    /// Unit.
    pub unit: Option<String>,
    /// Free-text place ("小区东门垃圾站").
    pub text: String,
    /// Latitude, when attached.
    pub lat: Option<f64>,
    /// Longitude, when attached.
    pub lon: Option<f64>,
}

/// A new event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct EventInput {
    /// Grid it belongs to.
    pub grid_id: String,
    /// Where it came from.
    pub source: EventSource,
    /// Category code from the catalogue.
    pub category: String,
    /// Place.
    pub place: EventPlace,
    /// What is wrong.
    pub description: String,
    /// Photos (hashes of stored photos).
    pub photos: Vec<String>,
    /// Household concerned (needs, disputes).
    pub household_id: Option<String>,
    /// Dispute parties (names or roles as the worker notes them).
    pub parties: Vec<String>,
}

/// An event as shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Event {
    /// Id.
    pub id: String,
    /// Grid.
    pub grid_id: String,
    /// Source.
    pub source: EventSource,
    /// Category code.
    pub category: String,
    /// Place.
    pub place: EventPlace,
    /// Description.
    pub description: String,
    /// Photos.
    pub photos: Vec<String>,
    /// Household concerned.
    pub household_id: Option<String>,
    /// Dispute parties.
    pub parties: Vec<String>,
    /// Reporter (person).
    pub reporter: String,
    /// Registered at.
    pub created_ms: i64,
    /// Folded state.
    pub state: EventState,
    /// Current level.
    pub level: Level,
    /// Current handler, if dispatched to a person.
    pub assignee: Option<String>,
    /// Current department, if dispatched to one.
    pub department: Option<String>,
    /// Reporter's rating, once given.
    pub rating: Option<u8>,
    /// First response (first applied transition by someone other than the reporter).
    pub responded_ms: Option<i64>,
    /// Closed at.
    pub closed_ms: Option<i64>,
    /// The log, in causal order.
    pub transitions: Vec<Transition>,
    /// Transitions flagged for review.
    pub flagged: u32,
}

/// A step to take.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct StepInput {
    /// Note, reason or result.
    pub note: String,
    /// Handler person (dispatch).
    pub assignee: Option<String>,
    /// Department (dispatch).
    pub department: Option<String>,
    /// Rating 1–5 (feedback).
    pub rating: Option<u8>,
    /// After-photos (handle).
    pub photos: Vec<String>,
}

/// Writes a new event document.
pub(crate) fn put_event<T: Transactable>(
    tx: &mut T,
    id: &str,
    e: &EventInput,
    reporter: &str,
    now: i64,
) -> Result<()> {
    tx.put(&ROOT, "kind", "event")?;
    tx.put(&ROOT, "id", id)?;
    tx.put(&ROOT, "grid_id", e.grid_id.as_str())?;
    tx.put(&ROOT, "source", e.source.as_str())?;
    tx.put(&ROOT, "category", e.category.as_str())?;
    let place = tx.put_object(&ROOT, "place", ObjType::Map)?;
    if let Some(b) = &e.place.building_id {
        tx.put(&place, "building_id", b.as_str())?;
    }
    if let Some(u) = &e.place.unit {
        tx.put(&place, "unit", u.as_str())?;
    }
    tx.put(&place, "text", e.place.text.as_str())?;
    if let (Some(lat), Some(lon)) = (e.place.lat, e.place.lon) {
        tx.put(&place, "lat", lat)?;
        tx.put(&place, "lon", lon)?;
    }
    tx.put(&ROOT, "description", e.description.as_str())?;
    am::put_str_list(tx, &ROOT, "photos", &e.photos)?;
    if let Some(h) = &e.household_id {
        tx.put(&ROOT, "household_id", h.as_str())?;
    }
    am::put_str_list(tx, &ROOT, "parties", &e.parties)?;
    tx.put(&ROOT, "reporter", reporter)?;
    tx.put(&ROOT, "created", ScalarValue::Timestamp(now))?;
    tx.put_object(&ROOT, "transitions", ObjType::Map)?;
    Ok(())
}

/// Appends a transition (never edits or removes one).
#[allow(clippy::too_many_arguments)]
pub(crate) fn append_transition<T: Transactable + ReadDoc>(
    tx: &mut T,
    tid: &str,
    action: Action,
    seen: EventState,
    by: &str,
    role: &str,
    now: i64,
    step: &StepInput,
) -> Result<()> {
    let log = am::ensure_map(tx, &ROOT, "transitions")?;
    let t = tx.put_object(&log, tid, ObjType::Map)?;
    tx.put(&t, "action", action.as_str())?;
    tx.put(&t, "seen", seen.as_str())?;
    tx.put(&t, "by", by)?;
    tx.put(&t, "role", role)?;
    tx.put(&t, "at", ScalarValue::Timestamp(now))?;
    tx.put(&t, "note", step.note.as_str())?;
    if let Some(a) = &step.assignee {
        tx.put(&t, "assignee", a.as_str())?;
    }
    if let Some(d) = &step.department {
        tx.put(&t, "department", d.as_str())?;
    }
    if let Some(r) = step.rating {
        tx.put(&t, "rating", i64::from(r))?;
    }
    if !step.photos.is_empty() {
        am::put_str_list(tx, &t, "photos", &step.photos)?;
    }
    Ok(())
}

/// Reads and folds an event document.
pub(crate) fn read_event(doc: &Automerge) -> Result<Event> {
    let id = am::string(doc, &ROOT, "id");
    if am::string(doc, &ROOT, "kind") != "event" || id.is_empty() {
        return Err(Error::Corrupt("not an event document".into()));
    }
    let place = am::object(doc, &ROOT, "place", ObjType::Map);
    let place = match place {
        Some(p) => EventPlace {
            building_id: am::str(doc, &p, "building_id"),
            unit: am::str(doc, &p, "unit"),
            text: am::string(doc, &p, "text"),
            lat: am::float(doc, &p, "lat"),
            lon: am::float(doc, &p, "lon"),
        },
        None => EventPlace {
            building_id: None,
            unit: None,
            text: String::new(),
            lat: None,
            lon: None,
        },
    };
    let reporter = am::string(doc, &ROOT, "reporter");
    let mut event = Event {
        id,
        grid_id: am::string(doc, &ROOT, "grid_id"),
        source: EventSource::parse(&am::string(doc, &ROOT, "source")).unwrap_or(EventSource::Snap),
        category: am::string(doc, &ROOT, "category"),
        place,
        description: am::string(doc, &ROOT, "description"),
        photos: am::str_list(doc, &ROOT, "photos"),
        household_id: am::str(doc, &ROOT, "household_id"),
        parties: am::str_list(doc, &ROOT, "parties"),
        created_ms: am::int(doc, &ROOT, "created").unwrap_or(0),
        state: EventState::Registered,
        level: Level::Grid,
        assignee: None,
        department: None,
        rating: None,
        responded_ms: None,
        closed_ms: None,
        transitions: Vec::new(),
        flagged: 0,
        reporter,
    };
    fold(doc, &mut event);
    Ok(event)
}

/// The raw transitions in causal order: sorted by the op id that created each entry.
fn ordered_transitions(doc: &Automerge) -> Vec<(ObjId, String)> {
    let Some(log) = am::object(doc, &ROOT, "transitions", ObjType::Map) else {
        return Vec::new();
    };
    let mut entries: Vec<((u64, Vec<u8>), ObjId, String)> = am::keys(doc, &log)
        .into_iter()
        .filter_map(|k| {
            let obj = am::object(doc, &log, &k, ObjType::Map)?;
            let order = match &obj {
                ObjId::Id(counter, actor, _) => (*counter, actor.to_bytes().to_vec()),
                ObjId::Root => (0, Vec::new()),
            };
            Some((order, obj, k))
        })
        .collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().map(|(_, o, k)| (o, k)).collect()
}

fn fold(doc: &Automerge, e: &mut Event) {
    use EventState::*;
    let mut last_handler: Option<String> = None;
    for (obj, id) in ordered_transitions(doc) {
        let Some(action) = Action::parse(&am::string(doc, &obj, "action")) else {
            continue;
        };
        let mut t = Transition {
            id,
            action,
            by: am::string(doc, &obj, "by"),
            role: am::string(doc, &obj, "role"),
            at_ms: am::int(doc, &obj, "at").unwrap_or(0),
            seen: EventState::parse(&am::string(doc, &obj, "seen")).unwrap_or(Registered),
            state_after: e.state,
            note: am::string(doc, &obj, "note"),
            assignee: am::str(doc, &obj, "assignee"),
            department: am::str(doc, &obj, "department"),
            rating: am::int(doc, &obj, "rating").and_then(|r| u8::try_from(r).ok()),
            photos: am::str_list(doc, &obj, "photos"),
            flag: None,
        };
        let next = match (action, e.state) {
            // The same step taken twice (two phones, or a retry): the second changes nothing.
            (Action::Dispatch, Dispatched)
                if t.assignee == e.assignee && t.department == e.department =>
            {
                Err("duplicate: already dispatched there")
            }
            (Action::Dispatch, Registered) => Ok(Dispatched),
            (Action::Dispatch, Dispatched) => {
                Err("conflict: already dispatched to another handler")
            }
            (Action::Handle, Dispatched) => Ok(Handled),
            (Action::Handle, Handled) => Err("duplicate: already handled"),
            (Action::Verify, Handled) if last_handler.as_deref() == Some(t.by.as_str()) => {
                Err("not allowed: the handler cannot verify their own work")
            }
            (Action::Verify, Handled) => Ok(Verified),
            (Action::Verify, Verified) => Err("duplicate: already verified"),
            (Action::Close, Closed) => Err("duplicate: already closed"),
            // The office may close at any point (e.g. resolved on the phone); a worker's later
            // step on a closed case is flagged below.
            (Action::Close, _) if t.role == "office" || t.role == "grid_leader" => Ok(Closed),
            (Action::Close, Verified) => Ok(Closed),
            (Action::Return, Dispatched) => Ok(Registered),
            (Action::Return, Handled) | (Action::Return, Verified) => Ok(Dispatched),
            (Action::Escalate, s) if s != Closed && e.level != Level::Street => Ok(Registered),
            (Action::Feedback, Closed) if t.by == e.reporter && e.rating.is_none() => Ok(Closed),
            (Action::Feedback, Closed) if e.rating.is_some() => Err("duplicate: already rated"),
            _ => Err("no longer applies: the case moved on"),
        };
        match next {
            Ok(state) => {
                match action {
                    Action::Dispatch => {
                        e.assignee = t.assignee.clone();
                        e.department = t.department.clone();
                    }
                    Action::Handle => last_handler = Some(t.by.clone()),
                    Action::Escalate => {
                        e.level = match e.level {
                            Level::Grid => Level::Community,
                            _ => Level::Street,
                        };
                        e.assignee = None;
                        e.department = None;
                    }
                    Action::Return if state == Registered => {
                        e.assignee = None;
                        e.department = None;
                    }
                    Action::Feedback => e.rating = t.rating,
                    _ => {}
                }
                if state == Closed && e.closed_ms.is_none() {
                    e.closed_ms = Some(t.at_ms);
                }
                if e.responded_ms.is_none() && t.by != e.reporter {
                    e.responded_ms = Some(t.at_ms);
                }
                e.state = state;
            }
            Err(why) => {
                t.flag = Some(why.to_string());
                e.flagged += 1;
            }
        }
        t.state_after = e.state;
        e.transitions.push(t);
    }
}

/// Which roles may take which step (checked on the phone and again on the server).
pub fn role_may(role: &str, action: Action) -> bool {
    match action {
        Action::Dispatch | Action::Verify | Action::Close | Action::Return => {
            matches!(role, "office" | "grid_leader")
        }
        Action::Escalate => matches!(role, "office" | "grid_leader" | "grid_worker"),
        Action::Handle => matches!(role, "office" | "grid_leader" | "grid_worker"),
        Action::Feedback => true,
    }
}

/// An event category of the catalogue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Category {
    /// Code.
    pub code: String,
    /// Name shown (Chinese).
    pub name: String,
    /// Department that handles it by default.
    pub department: String,
    /// Respond within this many working hours.
    pub response_hours: u32,
    /// Handle within this many working days.
    pub handle_days: u32,
}

/// The default catalogue: realistic categories of community snap reports.
pub fn default_catalogue() -> Vec<Category> {
    let c = |code: &str, name: &str, dept: &str, hours: u32, days: u32| Category {
        code: code.into(),
        name: name.into(),
        department: dept.into(),
        response_hours: hours,
        handle_days: days,
    };
    vec![
        c("environment", "市容环境(垃圾、乱扔杂物)", "物业", 4, 2),
        c("facility", "设施损坏(路灯、管道、电梯、供暖)", "物业", 4, 3),
        c("illegal_building", "违章搭建", "城管", 4, 10),
        c("occupation", "占道经营/占用公共空间", "城管", 4, 5),
        c(
            "safety",
            "安全隐患(燃气、消防通道堵塞、电动车入户充电)",
            "应急管理",
            2,
            1,
        ),
        c("neighbour_dispute", "邻里纠纷", "社区调解委员会", 4, 5),
        c("noise", "噪音扰民", "派出所", 4, 3),
        c("need", "居民困难需求", "民政", 4, 5),
        c("other", "其他", "社区", 4, 5),
    ]
}

/// Checks a catalogue.
pub fn check_catalogue(cats: &[Category]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, c) in cats.iter().enumerate() {
        if c.code.trim().is_empty() || !seen.insert(c.code.as_str()) {
            return Err(Error::field(
                format!("categories[{i}].code"),
                "invalid",
                "类别编码为空或重复",
            ));
        }
        if !(1..=240).contains(&c.response_hours) || !(1..=365).contains(&c.handle_days) {
            return Err(Error::field(
                format!("categories[{i}]"),
                "out_of_range",
                "时限超出范围",
            ));
        }
    }
    Ok(())
}

/// Distance in metres between two points (haversine).
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    6_371_000.0 * 2.0 * a.sqrt().atan2((1.0 - a).sqrt())
}

/// Checks a change a device sends to an event document against the device's role and person,
/// so the server enforces the same rules as the phone: no step the role may not take, no step
/// in someone else's name, and nothing deleted (the log is append-only). Returns what is wrong.
pub fn check_device_change(
    change: &automerge::Change,
    role: &str,
    person_id: &str,
) -> std::result::Result<(), String> {
    check_change(change, role, person_id, false)
}

/// The same check for a change from the server's own office replica, which records each console
/// step in the name and role of the staff member who took it (`Store::step_event_as`): a step
/// may carry any person and any of the [`STAFF_ROLES`], but only actions that role may take;
/// events it registers carry the office's own `person_id`; nothing is deleted. Only the server
/// calls this, and only for the replica it runs itself: a phone's changes always go through
/// [`check_device_change`].
pub fn check_office_replica_change(
    change: &automerge::Change,
    person_id: &str,
) -> std::result::Result<(), String> {
    check_change(change, "office", person_id, true)
}

/// `role`/`person_id`: the writer's own. `for_staff`: the writer is the office replica, which may
/// name another person and a staff role in a step.
fn check_change(
    change: &automerge::Change,
    role: &str,
    person_id: &str,
    for_staff: bool,
) -> std::result::Result<(), String> {
    use automerge::legacy::{Key, ObjectId, OpType};
    use std::collections::HashMap;
    // Each transition is one map: its action is judged against the role written beside it
    // (the writer's own role when the change writes none there).
    let mut steps: HashMap<ObjectId, (Option<Action>, Option<String>)> = HashMap::new();
    for op in change.decode().operations {
        match (&op.key, &op.action) {
            (_, OpType::Delete) => return Err("event records are append-only".into()),
            (Key::Map(k), OpType::Put(ScalarValue::Str(v))) => match k.as_str() {
                "action" => {
                    let action = Action::parse(v).ok_or("an event step names an unknown action")?;
                    steps.entry(op.obj).or_default().0 = Some(action);
                }
                "role" => {
                    if for_staff && !STAFF_ROLES.contains(&v.as_str()) {
                        return Err("the office records steps in a staff role only".into());
                    }
                    if !for_staff && v.as_str() != role {
                        return Err("a step must carry the device's own role".into());
                    }
                    steps.entry(op.obj).or_default().1 = Some(v.to_string());
                }
                "by" if for_staff && !is_staff_person_id(v) => {
                    return Err("a step must name a person".into());
                }
                "by" if !for_staff && v.as_str() != person_id => {
                    return Err("a step must be made in the device owner's name".into());
                }
                "reporter" if v.as_str() != person_id => {
                    return Err("a step must be made in the device owner's name".into());
                }
                _ => {}
            },
            _ => {}
        }
    }
    for (action, claimed) in steps.values() {
        let r = claimed.as_deref().unwrap_or(role);
        if let Some(a) = action
            && !role_may(r, *a)
        {
            return Err(format!("a {r} may not {}", a.as_str()));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn change_with(action: &str, role: &str, by: &str) -> automerge::Change {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        append_transition(
            &mut tx,
            "t1",
            Action::parse(action).unwrap(),
            EventState::Registered,
            by,
            role,
            1,
            &StepInput::default(),
        )
        .unwrap();
        tx.commit();
        doc.get_changes(&[])[0].clone()
    }

    #[test]
    fn the_server_check_refuses_steps_a_role_may_not_take_or_in_another_name() {
        assert!(
            check_device_change(
                &change_with("handle", "grid_worker", "w1"),
                "grid_worker",
                "w1"
            )
            .is_ok()
        );
        assert!(
            check_device_change(
                &change_with("dispatch", "grid_worker", "w1"),
                "grid_worker",
                "w1"
            )
            .is_err()
        );
        assert!(
            check_device_change(
                &change_with("dispatch", "office", "o1"),
                "grid_worker",
                "w1"
            )
            .is_err(),
            "claims another role"
        );
        assert!(
            check_device_change(
                &change_with("handle", "grid_worker", "w2"),
                "grid_worker",
                "w1"
            )
            .is_err(),
            "in another name"
        );
        assert!(
            check_device_change(&change_with("dispatch", "office", "o1"), "office", "o1").is_ok()
        );
    }

    #[test]
    fn the_office_replica_may_name_a_staff_member_but_only_in_a_role_that_may_act() {
        let ok = |action, role, by| {
            check_office_replica_change(&change_with(action, role, by), "office").is_ok()
        };
        assert!(ok("dispatch", "office", "office"), "its own step");
        assert!(ok("dispatch", "grid_leader", "wang"), "a grid leader's");
        assert!(ok("escalate", "grid_worker", "li"), "a grid worker's");
        assert!(!ok("dispatch", "grid_worker", "li"), "a role that may not");
        assert!(!ok("handle", "building_lead", "lead"), "not a staff role");
        assert!(!ok("close", "grid_leader", ""), "nobody's name");
        // A phone still may not do what the office replica does.
        let staff_step = change_with("dispatch", "grid_leader", "wang");
        assert!(check_device_change(&staff_step, "office", "o1").is_err());
        assert!(check_device_change(&staff_step, "grid_leader", "li").is_err());
    }

    #[test]
    fn the_office_replica_registers_events_only_in_its_own_name() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        let input = EventInput {
            grid_id: "g1".into(),
            source: EventSource::Snap,
            category: "other".into(),
            place: EventPlace {
                building_id: None,
                unit: None,
                text: String::new(),
                lat: None,
                lon: None,
            },
            description: "x".into(),
            photos: Vec::new(),
            household_id: None,
            parties: Vec::new(),
        };
        put_event(&mut tx, "e1", &input, "wang", 1).unwrap();
        tx.commit();
        let change = doc.get_changes(&[])[0].clone();
        assert!(check_office_replica_change(&change, "office").is_err());
        assert!(check_office_replica_change(&change, "wang").is_ok());
    }

    #[test]
    fn deleting_from_an_event_is_refused() {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(&ROOT, "description", "x").unwrap();
        tx.commit();
        let mut tx = doc.transaction();
        tx.delete(&ROOT, "description").unwrap();
        tx.commit();
        let last = doc.get_changes(&[]).last().unwrap().clone();
        assert!(check_device_change(&last, "office", "o1").is_err());
        assert!(check_office_replica_change(&last, "office").is_err());
    }
}
