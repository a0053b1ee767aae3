//! Events and the closed loop: snap reports with photos, concurrent steps merged by folding the
//! transition log, working-time deadlines and duplicate hints.
#![allow(clippy::unwrap_used, missing_docs)]

use chrono::{FixedOffset, TimeZone};
use gridwalk_core::event_store::Identity;
use gridwalk_core::events::{
    Action, Actor, EventInput, EventPlace, EventSource, EventState, StepInput,
};
use gridwalk_core::*;

const KEY: [u8; 32] = [9; 32];

fn store(dir: &tempfile::TempDir, name: &str, person: &str, role: &str, scope: &[&str]) -> Store {
    let s = Store::open(&dir.path().join(name), &KEY, person).unwrap();
    s.set_identity(&Identity {
        role: role.into(),
        scope: scope.iter().map(|x| x.to_string()).collect(),
    })
    .unwrap();
    s
}

fn sync_all(stores: &[&Store]) {
    for _ in 0..2 {
        for a in stores {
            for b in stores {
                if !std::ptr::eq(*a, *b) {
                    b.import(&a.export_all().unwrap()).unwrap();
                }
            }
        }
    }
}

fn report(building: &str) -> EventInput {
    EventInput {
        grid_id: "g1".into(),
        source: EventSource::Snap,
        category: "facility".into(),
        place: EventPlace {
            building_id: Some(building.into()),
            unit: Some("1".into()),
            text: "楼道".into(),
            lat: Some(36.5),
            lon: Some(113.9),
        },
        description: "3楼楼道灯不亮".into(),
        photos: Vec::new(),
        household_id: None,
        parties: Vec::new(),
    }
}

fn step(note: &str) -> StepInput {
    StepInput {
        note: note.into(),
        ..Default::default()
    }
}

/// Office, worker and building lead, all holding the roster.
fn community(dir: &tempfile::TempDir) -> (Store, Store, Store) {
    let office = store(dir, "office.db", "office-1", "office", &[]);
    office.load_roster(&demo::roster(1, 24, 1)).unwrap();
    let worker = store(dir, "worker.db", "worker-1", "grid_worker", &["g1"]);
    let lead = store(dir, "lead.db", "lead-1", "building_lead", &["b1"]);
    sync_all(&[&office, &worker, &lead]);
    (office, worker, lead)
}

/// A real 12 MP-ish camera JPEG is too slow for a unit test; a small one exercises the pipeline.
fn camera_jpeg() -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 480, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .unwrap();
    out.into_inner()
}

#[test]
fn a_snap_report_goes_round_the_whole_loop_and_is_rated() {
    let dir = tempfile::tempdir().unwrap();
    let (office, worker, lead) = community(&dir);
    let photo = lead.add_camera_photo(&camera_jpeg()).unwrap();
    assert!(lead.add_camera_photo(b"not an image").is_err());
    let mut input = report("b1");
    input.photos = vec![photo.hash.clone()];
    let e = lead.report_event(&input).unwrap();
    assert_eq!(e.state, EventState::Registered);
    sync_all(&[&office, &worker, &lead]);
    // Photo bytes travel by their own channel (chunked upload); the record carries the hash.
    assert_eq!(
        office.event(&e.id).unwrap().event.photos,
        vec![photo.hash.clone()]
    );
    assert!(lead.photo(&photo.thumb_hash).unwrap().len() < lead.photo(&photo.hash).unwrap().len());

    office
        .step_event(
            &e.id,
            Action::Dispatch,
            &StepInput {
                assignee: Some("worker-1".into()),
                note: "请处理".into(),
                ..Default::default()
            },
        )
        .unwrap();
    sync_all(&[&office, &worker, &lead]);
    assert_eq!(
        worker.event(&e.id).unwrap().event.state,
        EventState::Dispatched
    );
    worker
        .step_event(&e.id, Action::Handle, &step("已更换灯泡"))
        .unwrap();
    sync_all(&[&office, &worker, &lead]);
    office
        .step_event(&e.id, Action::Verify, &step("现场核实"))
        .unwrap();
    office
        .step_event(&e.id, Action::Close, &step("结案"))
        .unwrap();
    sync_all(&[&office, &worker, &lead]);
    assert_eq!(lead.event(&e.id).unwrap().event.state, EventState::Closed);
    assert!(
        worker
            .step_event(
                &e.id,
                Action::Feedback,
                &StepInput {
                    rating: Some(5),
                    ..Default::default()
                }
            )
            .is_err(),
        "only the reporter rates"
    );
    assert!(
        lead.step_event(
            &e.id,
            Action::Feedback,
            &StepInput {
                rating: Some(9),
                ..Default::default()
            }
        )
        .is_err()
    );
    let rated = lead
        .step_event(
            &e.id,
            Action::Feedback,
            &StepInput {
                rating: Some(4),
                note: "及时".into(),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(rated.rating, Some(4));
    let steps: Vec<_> = rated
        .transitions
        .iter()
        .map(|t| (t.action, t.state_after))
        .collect();
    assert_eq!(
        steps,
        vec![
            (Action::Dispatch, EventState::Dispatched),
            (Action::Handle, EventState::Handled),
            (Action::Verify, EventState::Verified),
            (Action::Close, EventState::Closed),
            (Action::Feedback, EventState::Closed),
        ]
    );
}

#[test]
fn roles_and_states_are_enforced_on_the_phone() {
    let dir = tempfile::tempdir().unwrap();
    let (office, worker, lead) = community(&dir);
    assert!(
        matches!(lead.report_event(&report("b2")), Err(Error::Invalid(_))),
        "outside the lead's building"
    );
    let e = lead.report_event(&report("b1")).unwrap();
    sync_all(&[&office, &worker, &lead]);
    assert!(matches!(
        worker.step_event(
            &e.id,
            Action::Dispatch,
            &StepInput {
                assignee: Some("x".into()),
                ..Default::default()
            }
        ),
        Err(Error::Forbidden(_))
    ));
    assert!(
        matches!(
            office.step_event(&e.id, Action::Verify, &step("")),
            Err(Error::Invalid(_))
        ),
        "nothing to verify yet"
    );
    assert!(
        office.step_event(&e.id, Action::Return, &step("")).is_err(),
        "a return needs a reason"
    );
    let mut bad = report("b1");
    bad.category = "ufo".into();
    assert!(matches!(office.report_event(&bad), Err(Error::Invalid(_))));
}

#[test]
fn the_office_closing_while_the_worker_marks_handled_keeps_both_and_flags_the_late_one() {
    let dir = tempfile::tempdir().unwrap();
    let (office, worker, lead) = community(&dir);
    let e = lead.report_event(&report("b1")).unwrap();
    sync_all(&[&office, &worker, &lead]);
    office
        .step_event(
            &e.id,
            Action::Dispatch,
            &StepInput {
                assignee: Some("worker-1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    sync_all(&[&office, &worker, &lead]);
    // Offline on both sides.
    office
        .step_event(&e.id, Action::Close, &step("电话回访已解决"))
        .unwrap();
    worker
        .step_event(&e.id, Action::Handle, &step("已处理"))
        .unwrap();
    sync_all(&[&office, &worker, &lead]);
    let (a, b) = (
        office.event(&e.id).unwrap().event,
        worker.event(&e.id).unwrap().event,
    );
    assert_eq!(a, b, "every replica folds the same state");
    assert_eq!(a.state, EventState::Closed);
    assert_eq!(a.transitions.len(), 3, "nothing dropped");
    assert!(a.flagged <= 1);
    let handle = a
        .transitions
        .iter()
        .find(|t| t.action == Action::Handle)
        .unwrap();
    let close = a
        .transitions
        .iter()
        .find(|t| t.action == Action::Close)
        .unwrap();
    let handle_first = a
        .transitions
        .iter()
        .position(|t| t.action == Action::Handle)
        < a.transitions.iter().position(|t| t.action == Action::Close);
    if handle_first {
        assert!(handle.flag.is_none() && close.flag.is_none());
    } else {
        assert!(
            handle
                .flag
                .as_deref()
                .unwrap()
                .contains("no longer applies")
        );
    }
}

#[test]
fn two_dispatches_to_different_handlers_keep_one_and_flag_the_other() {
    let dir = tempfile::tempdir().unwrap();
    let (office, worker, lead) = community(&dir);
    let leader = store(&dir, "leader.db", "leader-1", "grid_leader", &["g1"]);
    let e = lead.report_event(&report("b1")).unwrap();
    sync_all(&[&office, &worker, &lead, &leader]);
    office
        .step_event(
            &e.id,
            Action::Dispatch,
            &StepInput {
                department: Some("物业".into()),
                ..Default::default()
            },
        )
        .unwrap();
    leader
        .step_event(
            &e.id,
            Action::Dispatch,
            &StepInput {
                assignee: Some("worker-1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    sync_all(&[&office, &worker, &lead, &leader]);
    let ev = office.event(&e.id).unwrap().event;
    assert_eq!(ev, leader.event(&e.id).unwrap().event);
    assert_eq!(ev.state, EventState::Dispatched);
    assert_eq!(ev.flagged, 1);
    let kept = ev.transitions.iter().find(|t| t.flag.is_none()).unwrap();
    assert_eq!(
        (ev.assignee.clone(), ev.department.clone()),
        (kept.assignee.clone(), kept.department.clone())
    );
    assert!(
        ev.transitions
            .iter()
            .any(|t| t.flag.as_deref() == Some("conflict: already dispatched to another handler"))
    );
    assert_eq!(office.events(Some("g1"), None).unwrap()[0].flagged, 1);
}

#[test]
fn verify_against_return_and_the_same_transition_twice() {
    let dir = tempfile::tempdir().unwrap();
    let (office, worker, lead) = community(&dir);
    let leader = store(&dir, "leader.db", "leader-1", "grid_leader", &["g1"]);
    let e = lead.report_event(&report("b1")).unwrap();
    sync_all(&[&office, &worker, &lead, &leader]);
    office
        .step_event(
            &e.id,
            Action::Dispatch,
            &StepInput {
                assignee: Some("worker-1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    sync_all(&[&office, &worker, &lead, &leader]);
    worker
        .step_event(&e.id, Action::Handle, &step("已处理"))
        .unwrap();
    sync_all(&[&office, &worker, &lead, &leader]);
    office
        .step_event(&e.id, Action::Verify, &step("合格"))
        .unwrap();
    leader
        .step_event(&e.id, Action::Return, &step("灯仍不亮"))
        .unwrap();
    sync_all(&[&office, &worker, &lead, &leader]);
    let ev = office.event(&e.id).unwrap().event;
    assert_eq!(ev, leader.event(&e.id).unwrap().event);
    assert_eq!(ev.transitions.len(), 4);
    // Whichever came first in causal order applied; a return after a verify sends it back to
    // the handler, a verify after a return no longer applies.
    assert!(matches!(ev.state, EventState::Dispatched));

    // The same step twice from two phones: the second is a flagged duplicate, not a second effect.
    let worker2 = store(&dir, "worker2.db", "worker-1", "grid_worker", &["g1"]);
    sync_all(&[&office, &worker, &lead, &leader, &worker2]);
    worker
        .step_event(&e.id, Action::Handle, &step("再次处理"))
        .unwrap();
    worker2
        .step_event(&e.id, Action::Handle, &step("再次处理"))
        .unwrap();
    sync_all(&[&office, &worker, &worker2]);
    let ev = worker2.event(&e.id).unwrap().event;
    assert_eq!(ev.state, EventState::Handled);
    assert!(
        ev.transitions
            .iter()
            .any(|t| t.flag.as_deref() == Some("duplicate: already handled"))
    );
}

fn actor(person: &str, role: &str) -> Actor {
    Actor {
        person_id: person.into(),
        role: role.into(),
    }
}

#[test]
fn the_office_records_a_console_step_in_the_staff_members_name_and_role() {
    let dir = tempfile::tempdir().unwrap();
    let (office, worker, lead) = community(&dir);
    let leader = store(&dir, "leader.db", "leader-1", "grid_leader", &["g1"]);
    let e = lead.report_event(&report("b1")).unwrap();
    sync_all(&[&office, &worker, &lead, &leader]);
    // The grid leader dispatches to themself at the office desk.
    let ev = office
        .step_event_as(
            &e.id,
            Action::Dispatch,
            &StepInput {
                assignee: Some("leader-1".into()),
                ..Default::default()
            },
            &actor("leader-1", "grid_leader"),
        )
        .unwrap();
    let t = ev.transitions.last().unwrap();
    assert_eq!(
        (t.by.as_str(), t.role.as_str()),
        ("leader-1", "grid_leader")
    );
    sync_all(&[&office, &worker, &lead, &leader]);
    let seen = worker.event(&e.id).unwrap().event;
    assert_eq!(seen.transitions, ev.transitions, "phones read the same log");

    // They handle it on their phone; verifying it at the desk is still verifying their own work.
    leader
        .step_event(&e.id, Action::Handle, &step("已修好"))
        .unwrap();
    sync_all(&[&office, &worker, &lead, &leader]);
    assert!(matches!(
        office.step_event_as(
            &e.id,
            Action::Verify,
            &step("自己核实"),
            &actor("leader-1", "grid_leader")
        ),
        Err(Error::Forbidden(_))
    ));
    assert_eq!(office.event(&e.id).unwrap().event.transitions.len(), 2);
    // The actor's role decides what they may do: a grid worker at the desk does not close.
    assert!(matches!(
        office.step_event_as(
            &e.id,
            Action::Close,
            &step("结案"),
            &actor("desk-1", "grid_worker")
        ),
        Err(Error::Forbidden(_))
    ));
    // Only the console's staff roles, and a person named.
    assert!(
        office
            .step_event_as(
                &e.id,
                Action::Verify,
                &step("x"),
                &actor("lead-1", "building_lead")
            )
            .is_err()
    );
    assert!(
        office
            .step_event_as(&e.id, Action::Verify, &step("x"), &actor(" ", "office"))
            .is_err()
    );
    // A clerk verifies; the office's own step still carries the office's person.
    let ev = office
        .step_event_as(
            &e.id,
            Action::Verify,
            &step("现场核实"),
            &actor("clerk-1", "office"),
        )
        .unwrap();
    let t = ev.transitions.last().unwrap();
    assert_eq!((t.by.as_str(), t.role.as_str()), ("clerk-1", "office"));
    assert_eq!(ev.state, EventState::Verified);
    let ev = office
        .step_event(&e.id, Action::Close, &step("结案"))
        .unwrap();
    assert_eq!(ev.transitions.last().unwrap().by, "office-1");
    assert!(ev.transitions.iter().all(|t| t.flag.is_none()));
}

#[test]
fn a_phone_cannot_record_a_step_in_another_persons_name() {
    let dir = tempfile::tempdir().unwrap();
    let (office, worker, lead) = community(&dir);
    let leader = store(&dir, "leader.db", "leader-1", "grid_leader", &["g1"]);
    let e = lead.report_event(&report("b1")).unwrap();
    sync_all(&[&office, &worker, &lead, &leader]);
    let dispatch = StepInput {
        department: Some("物业".into()),
        ..Default::default()
    };
    for (phone, who) in [
        (&leader, actor("leader-1", "grid_leader")),
        (&leader, actor("someone", "office")),
        (&worker, actor("worker-1", "grid_worker")),
    ] {
        assert!(matches!(
            phone.step_event_as(&e.id, Action::Dispatch, &dispatch, &who),
            Err(Error::Forbidden(_))
        ));
    }
    assert!(worker.event(&e.id).unwrap().event.transitions.is_empty());
    assert!(leader.event(&e.id).unwrap().event.transitions.is_empty());
}

#[test]
fn deadlines_count_working_hours_across_the_national_day_holiday() {
    let dir = tempfile::tempdir().unwrap();
    let (office, _, _) = community(&dir);
    let e = office.report_event(&report("b1")).unwrap();
    // Deadlines are derived from the creation time: check the calendar rule directly on the
    // worked example, then the view's consistency.
    let cst = FixedOffset::east_opt(8 * 3600).unwrap();
    let cal = office.calendar().unwrap();
    let reported = cst
        .with_ymd_and_hms(2026, 9, 30, 17, 0, 0)
        .unwrap()
        .to_utc();
    let due = cal.add_working_minutes(reported, 240).unwrap();
    assert_eq!(
        due,
        cst.with_ymd_and_hms(2026, 10, 8, 12, 0, 0)
            .unwrap()
            .to_utc()
    );
    let view = office.event_at(&e.id, e.created_ms).unwrap();
    assert!(view.response_due_ms > e.created_ms);
    assert!(view.handle_due_ms >= view.response_due_ms);
    assert!(!view.overdue);
    let late = office
        .event_at(&e.id, view.handle_due_ms + 3_600_000 * 24 * 10)
        .unwrap();
    assert!(late.overdue && late.working_minutes_left < 0);
    assert_eq!(
        office
            .overdue_events(Some("g1"), view.handle_due_ms + 86_400_000 * 10)
            .unwrap()
            .len(),
        1
    );
    assert!(
        office
            .overdue_events(Some("g1"), e.created_ms)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_second_report_of_the_same_problem_is_offered_as_a_possible_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let (office, worker, lead) = community(&dir);
    let first = lead.report_event(&report("b1")).unwrap();
    sync_all(&[&office, &worker, &lead]);
    let now = first.created_ms + 60_000;
    let again = report("b1");
    let dups = worker.possible_duplicates(&again, now).unwrap();
    assert_eq!(
        dups.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        vec![first.id.as_str()]
    );
    let mut elsewhere = report("b2");
    elsewhere.place.lat = Some(36.6);
    assert!(
        worker
            .possible_duplicates(&elsewhere, now)
            .unwrap()
            .is_empty()
    );
    let mut nearby = report("b2");
    nearby.place.lat = Some(36.5002); // ~22 m north
    assert_eq!(worker.possible_duplicates(&nearby, now).unwrap().len(), 1);
    assert!(
        worker
            .possible_duplicates(&again, now + 8 * 86_400_000)
            .unwrap()
            .is_empty(),
        "older than 7 days"
    );
}

#[test]
fn a_need_raised_at_a_visit_becomes_an_event_and_a_dispute_keeps_its_parties() {
    let dir = tempfile::tempdir().unwrap();
    let (office, worker, _) = community(&dir);
    let mut v = demo::visit(
        &mut demo::Rng::new(1),
        "h-b1-1-101",
        chrono::Utc::now().timestamp_millis() - 3_600_000,
    );
    v.answers
        .insert("has_needs".into(), AnswerValue::YesNo(true));
    v.answers.insert(
        "need_types".into(),
        AnswerValue::Choices(vec!["housing_repair".into()]),
    );
    v.needs.push(NeedInput {
        category: "房屋维修".into(),
        description: "卫生间漏水".into(),
        urgency: Urgency::High,
        due_ms: None,
    });
    let visit = worker.record_visit(&v).unwrap();
    let e = worker.event_from_need(&visit.followups[0].id).unwrap();
    assert_eq!(
        (
            e.source,
            e.household_id.as_deref(),
            e.place.building_id.as_deref()
        ),
        (EventSource::Need, Some("h-b1-1-101"), Some("b1"))
    );
    assert!(e.description.contains("卫生间漏水"));
    assert!(worker.event_from_need("nope").is_err());
    let mut dispute = report("b1");
    dispute.source = EventSource::Dispute;
    dispute.category = "neighbour_dispute".into();
    dispute.parties = vec!["301住户".into(), "401住户".into()];
    dispute.description = "楼上漏水引发邻里矛盾".into();
    let d = worker.report_event(&dispute).unwrap();
    sync_all(&[&office, &worker]);
    office
        .step_event(
            &d.id,
            Action::Dispatch,
            &StepInput {
                assignee: Some("worker-1".into()),
                ..Default::default()
            },
        )
        .unwrap();
    sync_all(&[&office, &worker]);
    let handled = worker
        .step_event(&d.id, Action::Handle, &step("调解成功,双方签订协议"))
        .unwrap();
    assert_eq!(handled.parties.len(), 2);
    assert_eq!(
        handled.transitions.last().unwrap().note,
        "调解成功,双方签订协议"
    );
}
