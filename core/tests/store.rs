//! Scenario tests of the grid worker's store: roster, households, residents, visits, queries,
//! privacy, merging and projections.
#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::HashMap;

use gridwalk_core::demo::{self, Rng};
use gridwalk_core::store::local_date;
use gridwalk_core::*;

const KEY: [u8; 32] = [42; 32];
const DAY: i64 = 86_400_000;

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn open(dir: &tempfile::TempDir, name: &str, person: &str) -> Store {
    Store::open(&dir.path().join(name), &KEY, person).unwrap()
}

/// A store with the demo roster of 2 grids × 24 households.
fn seeded(dir: &tempfile::TempDir, name: &str) -> Store {
    let s = open(dir, name, "worker-1");
    s.load_roster(&demo::roster(2, 24, 1)).unwrap();
    s
}

fn resident_input(name: &str) -> ResidentInput {
    ResidentInput {
        name: name.into(),
        gender: Gender::Female,
        birth_date: Some("1949-12-31".into()),
        id_number: Some("11010519491231002X".into()),
        phone: Some("13800138000".into()),
        ethnicity: Some("回族".into()),
        relation: "户主".into(),
        employment: Some("退休".into()),
        working_away: false,
        work_place: None,
        moved_in: None,
    }
}

fn codes(err: Error) -> Vec<(String, String)> {
    match err {
        Error::Invalid(es) => es.into_iter().map(|e| (e.field, e.code)).collect(),
        other => panic!("expected a field error, got {other:?}"),
    }
}

const H1: &str = "h-b1-1-101";

#[test]
fn loading_the_roster_twice_creates_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir, "s.db", "office");
    let roster = demo::roster(2, 24, 1);
    let first = s.load_roster(&roster).unwrap();
    assert_eq!((first.created, first.updated, first.unchanged), (48, 0, 0));
    let mut changed = roster.clone();
    changed.households[0].address = "安居苑小区1号楼1单元101室(东)".into();
    let second = s.load_roster(&changed).unwrap();
    assert_eq!(
        (second.created, second.updated, second.unchanged),
        (0, 1, 47)
    );
    assert_eq!(s.grid_households("g1").unwrap().len(), 24);
    assert_eq!(
        s.household(H1).unwrap().address,
        "安居苑小区1号楼1单元101室(东)"
    );
    let places = s.places().unwrap();
    assert_eq!(places.iter().filter(|p| p.kind == "grid").count(), 2);
    assert_eq!(places.iter().filter(|p| p.kind == "building").count(), 2);
}

#[test]
fn a_roster_with_a_building_in_an_unknown_grid_is_rejected_whole() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir, "s.db", "office");
    let mut roster = demo::roster(1, 24, 1);
    roster.buildings[0].grid_id = "nowhere".into();
    let errs = codes(s.load_roster(&roster).unwrap_err());
    assert!(errs.contains(&("buildings[0].grid_id".into(), "unknown".into())));
    assert!(s.places().unwrap().is_empty());
    assert!(s.grid_households("g1").unwrap().is_empty());
}

#[test]
fn households_are_listed_by_building_and_unit_with_their_last_visit() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    let unit1 = s.households_in("b1", Some("1")).unwrap();
    assert_eq!(unit1.len(), 12);
    assert!(unit1.iter().all(|h| h.unit == "1"));
    assert_eq!(unit1[0].door, "101");
    assert!(unit1.iter().all(|h| h.last_visit_ms.is_none()));
    let mut rng = Rng::new(3);
    let started = now() - 2 * DAY;
    s.record_visit(&demo::visit(&mut rng, H1, started)).unwrap();
    let unit1 = s.households_in("b1", Some("1")).unwrap();
    assert_eq!(unit1[0].last_visit_ms, Some(started));
    assert_eq!(unit1[0].visit_count, 1);
    assert_eq!(s.households_in("b1", None).unwrap().len(), 24);
}

#[test]
fn a_resident_with_a_wrong_check_digit_is_refused_naming_the_field_and_nothing_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    let mut r = resident_input("马秀兰");
    r.id_number = Some("110105194912310021".into());
    let errs = codes(s.add_resident(H1, &r).unwrap_err());
    assert_eq!(
        errs,
        vec![("id_number".to_string(), "bad_check_digit".to_string())]
    );
    assert!(s.household(H1).unwrap().residents.is_empty());

    let mut r = resident_input("马秀兰");
    r.phone = Some("12345".into());
    r.birth_date = Some("2999-01-01".into());
    let errs = codes(s.add_resident(H1, &r).unwrap_err());
    assert!(errs.iter().any(|(f, _)| f == "phone"));
    assert!(errs.contains(&("birth_date".into(), "future_date".into())));
    assert!(s.household(H1).unwrap().residents.is_empty());
    assert!(
        !s.everything_uploaded().unwrap(),
        "the roster itself is not uploaded yet"
    );
}

#[test]
fn personal_values_come_back_masked_and_revealing_one_leaves_a_chained_log_entry() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    let r = s.add_resident(H1, &resident_input("马秀兰")).unwrap();
    assert_eq!(r.id_number_masked.as_deref(), Some("1101**********002X"));
    assert_eq!(r.phone_masked.as_deref(), Some("138****8000"));
    assert_eq!(r.name, "马秀兰");
    assert!(matches!(
        s.reveal(&r.id, "phone", " "),
        Err(Error::Invalid(_))
    ));
    assert!(s.access_log().unwrap().is_empty());
    assert_eq!(
        s.reveal(&r.id, "phone", "联系办理低保").unwrap(),
        "13800138000"
    );
    assert_eq!(
        s.reveal(&r.id, "id_number", "核对身份").unwrap(),
        "11010519491231002X"
    );
    let log = s.access_log().unwrap();
    assert_eq!(log.len(), 2);
    assert_eq!(
        (log[0].field.as_str(), log[0].purpose.as_str()),
        ("phone", "联系办理低保")
    );
    assert_eq!(log[0].person_id, "worker-1");
    assert_eq!(s.verify_access_log().unwrap(), 2);
}

#[test]
fn editing_or_dropping_an_access_log_entry_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let rid = {
        let s = Store::open(&path, &KEY, "worker-1").unwrap();
        s.load_roster(&demo::roster(1, 24, 1)).unwrap();
        let r = s.add_resident(H1, &resident_input("马秀兰")).unwrap();
        for p in ["核对身份", "办理医保", "联系家属"] {
            s.reveal(&r.id, "phone", p).unwrap();
        }
        r.id
    };
    let tamper = |sql: &str| {
        let db = db::Db::open(&path, &KEY).unwrap();
        db.with_writer(|c| Ok(c.execute_batch(sql)?)).unwrap();
    };
    tamper("UPDATE access_log SET purpose = '核对' WHERE seq = 2");
    let s = Store::open(&path, &KEY, "worker-1").unwrap();
    assert!(matches!(s.verify_access_log(), Err(Error::TamperedLog(2))));
    drop(s);
    tamper(
        "UPDATE access_log SET purpose = '办理医保' WHERE seq = 2; DELETE FROM access_log WHERE seq = 3",
    );
    let s = Store::open(&path, &KEY, "worker-1").unwrap();
    assert!(
        s.verify_access_log().is_err(),
        "a dropped newest entry is detected"
    );
    let _ = rid;
}

#[test]
fn a_visit_with_answers_that_break_the_form_names_each_field_and_saves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    let mut v = demo::visit(&mut Rng::new(1), H1, now() - DAY);
    v.answers.remove("has_dispute");
    v.answers
        .insert("has_needs".into(), AnswerValue::YesNo(true));
    v.answers.remove("need_types");
    v.answers
        .insert("health".into(), AnswerValue::Choice("splendid".into()));
    let errs = codes(s.record_visit(&v).unwrap_err());
    assert!(
        errs.contains(&("answers.has_dispute".into(), "required".into())),
        "{errs:?}"
    );
    assert!(
        errs.contains(&("answers.need_types".into(), "required".into())),
        "{errs:?}"
    );
    assert!(
        errs.contains(&("answers.health".into(), "not_an_option".into())),
        "{errs:?}"
    );
    assert!(s.visit_history(H1).unwrap().is_empty());

    let mut v = demo::visit(&mut Rng::new(1), "no-such-household", now() - DAY);
    v.answers = demo::answers(&mut Rng::new(5));
    let errs = codes(s.record_visit(&v).unwrap_err());
    assert_eq!(
        errs,
        vec![("household_id".to_string(), "unknown".to_string())]
    );

    let mut v = demo::visit(&mut Rng::new(1), H1, now() + 5 * DAY);
    v.photos.push("ab".repeat(32));
    let errs = codes(s.record_visit(&v).unwrap_err());
    assert!(errs.contains(&("started_ms".into(), "future_date".into())));
}

#[test]
fn a_visit_with_needs_opens_follow_ups_that_can_be_closed() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    let r = s.add_resident(H1, &resident_input("马秀兰")).unwrap();
    let photo = s.add_photo(&[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]).unwrap();
    assert_eq!(
        s.add_photo(&[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]).unwrap(),
        photo
    );
    assert!(s.add_photo(b"GIF89a").is_err());
    let mut v = demo::visit(&mut Rng::new(9), H1, now() - DAY);
    v.present = vec![r.id.clone()];
    v.photos = vec![photo.clone()];
    v.answers
        .insert("has_needs".into(), AnswerValue::YesNo(true));
    v.answers.insert(
        "need_types".into(),
        AnswerValue::Choices(vec!["minimum_income".into()]),
    );
    v.needs = vec![
        NeedInput {
            category: "低保".into(),
            description: "申请低保".into(),
            urgency: Urgency::High,
            due_ms: None,
        },
        NeedInput {
            category: "房屋维修".into(),
            description: "卫生间漏水".into(),
            urgency: Urgency::Normal,
            due_ms: None,
        },
    ];
    let visit = s.record_visit(&v).unwrap();
    assert_eq!(visit.followups.len(), 2);
    let history = s.visit_history(H1).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].answers, v.answers);
    assert_eq!(history[0].present, vec![r.id.clone()]);
    assert_eq!(history[0].photos, vec![photo.clone()]);
    assert_eq!(history[0].location, v.location);
    assert_eq!(s.photo(&photo).unwrap().len(), 7);
    let open = s.open_followups(Some("g1")).unwrap();
    assert_eq!(open.len(), 2);
    assert_eq!(
        open[0].category, "低保",
        "the more urgent need is due first"
    );
    assert_eq!(open[0].due_ms, v.ended_ms + 3 * DAY);
    s.close_followup(&open[0].id, "已提交申请").unwrap();
    assert_eq!(s.open_followups(None).unwrap().len(), 1);
    assert!(s.open_followups(Some("g2")).unwrap().is_empty());
}

#[test]
fn elderly_living_alone_are_due_weekly_and_others_monthly() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    let t = now();
    let mut rng = Rng::new(2);
    s.update_household(
        H1,
        &HouseholdPatch {
            add_care_tags: vec![CareTag::ElderlyAlone],
            ..Default::default()
        },
    )
    .unwrap();
    let other = "h-b1-1-102";
    s.update_household(
        other,
        &HouseholdPatch {
            remove_care_tags: CareTag::all().to_vec(),
            ..Default::default()
        },
    )
    .unwrap();
    s.record_visit(&demo::visit(&mut rng, H1, t - 8 * DAY))
        .unwrap();
    s.record_visit(&demo::visit(&mut rng, other, t - 8 * DAY))
        .unwrap();
    let due = s.due_for_visit(Some("g1"), t).unwrap();
    let ids: Vec<&str> = due.iter().map(|d| d.household.id.as_str()).collect();
    assert!(ids.contains(&H1), "visited 8 days ago, weekly interval");
    assert!(
        !ids.contains(&other),
        "visited 8 days ago, monthly interval"
    );
    let h1 = due.iter().find(|d| d.household.id == H1).unwrap();
    assert_eq!(h1.interval_days, 7);
    assert_eq!(
        due.len(),
        24 - 1,
        "all never-visited households are due too"
    );
    assert!(due[0].due_ms.is_none(), "never visited come first");
    let later = s.due_for_visit(Some("g1"), t + 30 * DAY).unwrap();
    assert!(later.iter().any(|d| d.household.id == other));
    let mut p = s.visit_policy().unwrap();
    p.default_days = 5;
    s.set_visit_policy(&p).unwrap();
    assert!(
        s.due_for_visit(Some("g1"), t)
            .unwrap()
            .iter()
            .any(|d| d.household.id == other)
    );
    p.default_days = 0;
    assert!(s.set_visit_policy(&p).is_err());
}

#[test]
fn residents_are_found_by_name_or_phone_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    s.add_resident(H1, &resident_input("马秀兰")).unwrap();
    let mut other = resident_input("马建国");
    other.id_number = None;
    other.birth_date = None;
    other.phone = Some("13912345678".into());
    other.relation = "配偶".into();
    s.add_resident(H1, &other).unwrap();
    assert_eq!(s.search_residents("马").unwrap().len(), 2);
    let hits = s.search_residents("1391").unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].name, "马建国");
    assert_eq!(hits[0].phone_masked.as_deref(), Some("139****5678"));
    assert!(s.search_residents("%").unwrap().is_empty());
    assert!(s.search_residents("").unwrap().is_empty());
}

#[test]
fn grid_counts_cover_this_month_only() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    let t = now();
    let mut rng = Rng::new(4);
    s.record_visit(&demo::visit(&mut rng, H1, t - 60_000 * 20))
        .unwrap();
    s.record_visit(&demo::visit(&mut rng, "h-b1-1-102", t - 40 * DAY))
        .unwrap();
    let counts = s.grid_counts(t).unwrap();
    assert_eq!(
        counts[0],
        GridCounts {
            grid_id: "g1".into(),
            households: 24,
            visited_this_month: 1
        }
    );
    assert_eq!(counts[1].visited_this_month, 0);
    assert_eq!(
        local_date(t),
        local_date(t - 60_000 * 20 + 1).max(local_date(t))
    );
}

#[test]
fn a_resident_history_keeps_moving_out_and_death() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    let r = s.add_resident(H1, &resident_input("马秀兰")).unwrap();
    let r = s
        .set_resident_status(&r.id, ResidentStatus::MovedOut, "2025-03-01")
        .unwrap();
    assert_eq!(r.status, ResidentStatus::MovedOut);
    let r = s
        .set_resident_status(&r.id, ResidentStatus::Deceased, "2025-06-01")
        .unwrap();
    let statuses: Vec<_> = r
        .history
        .iter()
        .map(|h| (h.status, h.date.clone()))
        .collect();
    assert_eq!(statuses.len(), 3);
    assert_eq!(statuses[1], (ResidentStatus::MovedOut, "2025-03-01".into()));
    assert_eq!(statuses[2], (ResidentStatus::Deceased, "2025-06-01".into()));
    assert!(
        s.set_resident_status(&r.id, ResidentStatus::MovedOut, "2025-13-01")
            .is_err()
    );
    assert_eq!(s.grid_households("g1").unwrap()[0].resident_count, 0);
}

#[test]
fn a_new_form_is_published_as_data_and_used_for_visits() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    let fire = FormDefinition::from_json(
        r#"{"id":"fire_check","version":1,"title":"消防安全检查","sections":[{"id":"s","title":"检查","fields":[
            {"id":"extinguishers","label":"灭火器数量","type":"number","min":0,"max":20,"integer":true,"required":true},
            {"id":"ebike_indoors","label":"电动车是否室内充电","type":"yes_no","required":true}]}]}"#,
    )
    .unwrap();
    s.publish_form(&fire).unwrap();
    assert_eq!(s.current_form("fire_check").unwrap(), fire);
    let mut v = demo::visit(&mut Rng::new(1), H1, now() - DAY);
    v.form_id = "fire_check".into();
    v.answers = HashMap::from([
        ("extinguishers".into(), AnswerValue::Number(2.5)),
        ("ebike_indoors".into(), AnswerValue::YesNo(true)),
    ]);
    let errs = codes(s.record_visit(&v).unwrap_err());
    assert_eq!(
        errs,
        vec![(
            "answers.extinguishers".to_string(),
            "not_integer".to_string()
        )]
    );
    v.answers
        .insert("extinguishers".into(), AnswerValue::Number(2.0));
    s.record_visit(&v).unwrap();
    let mut changed = fire.clone();
    changed.title = "改过的".into();
    assert!(
        s.publish_form(&changed).is_err(),
        "a published version is immutable"
    );
    v.form_version = 9;
    assert!(s.record_visit(&v).is_err());
}

#[test]
fn everything_survives_closing_and_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let visit_id = {
        let s = Store::open(&path, &KEY, "worker-1").unwrap();
        s.load_roster(&demo::roster(1, 24, 1)).unwrap();
        s.add_resident(H1, &resident_input("马秀兰")).unwrap();
        s.record_visit(&demo::visit(&mut Rng::new(1), H1, now() - DAY))
            .unwrap()
            .id
    };
    let s = Store::open(&path, &KEY, "worker-1").unwrap();
    assert_eq!(s.visit_history(H1).unwrap()[0].id, visit_id);
    assert_eq!(s.household(H1).unwrap().residents[0].name, "马秀兰");
    assert!(matches!(
        Store::open(&path, &[1; 32], "worker-1"),
        Err(Error::WrongKey)
    ));
}

#[test]
fn projections_rebuilt_from_the_documents_equal_the_live_tables() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    let mut rng = Rng::new(7);
    for (i, h) in s.grid_households("g1").unwrap().iter().enumerate() {
        for r in demo::residents(&mut rng) {
            s.add_resident(&h.id, &r).unwrap();
        }
        if i % 2 == 0 {
            let mut v = demo::visit(&mut rng, &h.id, now() - (i as i64 + 1) * DAY);
            v.needs.push(NeedInput {
                category: "其他".into(),
                description: "需要帮助".into(),
                urgency: Urgency::Low,
                due_ms: None,
            });
            s.record_visit(&v).unwrap();
        }
    }
    let live = s.projection_dump().unwrap();
    assert!(live.len() > 100);
    s.rebuild_projections().unwrap();
    assert_eq!(s.projection_dump().unwrap(), live);
}

#[test]
fn two_offline_stores_merge_different_fields_and_expose_the_same_field_as_a_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let a = seeded(&dir, "a.db");
    let r = a.add_resident(H1, &resident_input("马秀兰")).unwrap();
    let b = open(&dir, "b.db", "worker-2");
    b.import(&a.export_all().unwrap()).unwrap();
    assert_eq!(b.household(H1).unwrap(), a.household(H1).unwrap());

    // Offline: A changes notes and the phone, B changes the occupancy and the phone.
    a.update_household(
        H1,
        &HouseholdPatch {
            notes: Some("老人耳背,需大声说话".into()),
            ..Default::default()
        },
    )
    .unwrap();
    a.update_resident(
        &r.id,
        &ResidentPatch {
            phone: Some("13900000001".into()),
            ..Default::default()
        },
    )
    .unwrap();
    b.update_household(
        H1,
        &HouseholdPatch {
            occupancy: Some(Occupancy::Rented),
            ..Default::default()
        },
    )
    .unwrap();
    b.update_resident(
        &r.id,
        &ResidentPatch {
            phone: Some("13900000002".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let mut rng = Rng::new(11);
    a.record_visit(&demo::visit(&mut rng, H1, now() - DAY))
        .unwrap();
    b.record_visit(&demo::visit(&mut rng, H1, now() - 2 * DAY))
        .unwrap();

    a.import(&b.export_all().unwrap()).unwrap();
    b.import(&a.export_all().unwrap()).unwrap();
    let (ha, hb) = (a.household(H1).unwrap(), b.household(H1).unwrap());
    assert_eq!(ha, hb, "both replicas converge");
    assert_eq!(ha.notes, "老人耳背,需大声说话");
    assert_eq!(ha.occupancy, Occupancy::Rented);
    assert_eq!(a.visit_history(H1).unwrap().len(), 2, "both visits kept");
    assert_eq!(ha.conflicts.len(), 1);
    let c = &ha.conflicts[0];
    assert_eq!(c.path, format!("residents/{}/phone", r.id));
    let mut values: Vec<_> = c
        .values
        .iter()
        .map(|v| (v.value.clone(), v.by.clone()))
        .collect();
    values.sort();
    assert_eq!(
        values,
        vec![
            ("139****0001".to_string(), "worker-1".to_string()),
            ("139****0002".to_string(), "worker-2".to_string())
        ]
    );
    assert!(c.values.iter().all(|v| v.at_ms > now() - 60_000));
    assert_eq!(a.grid_households("g1").unwrap()[0].conflict_count, 1);
    let shown = a.reveal(&r.id, "phone", "核对冲突").unwrap();
    assert_eq!(
        gridwalk_core::validate::mask_phone(&shown),
        c.values[0].value,
        "the first value is the one shown"
    );

    // B resolves for worker-1's value; after the exchange no conflict is left anywhere.
    let pick = c.values.iter().position(|v| v.by == "worker-1").unwrap() as u32;
    b.resolve_conflict(H1, &c.path, pick).unwrap();
    a.import(&b.export_all().unwrap()).unwrap();
    assert!(a.conflicts(H1).unwrap().is_empty());
    assert!(b.conflicts(H1).unwrap().is_empty());
    assert_eq!(a.reveal(&r.id, "phone", "核对冲突").unwrap(), "13900000001");
    assert_eq!(b.reveal(&r.id, "phone", "核对冲突").unwrap(), "13900000001");
    assert_eq!(a.projection_dump().unwrap(), b.projection_dump().unwrap());
}

#[test]
fn a_damaged_change_from_another_replica_is_rejected_and_nothing_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let a = seeded(&dir, "a.db");
    let b = open(&dir, "b.db", "worker-2");
    let mut bundle = a.export_all().unwrap();
    let before = b.projection_dump().unwrap();
    let last = bundle.docs.last_mut().unwrap();
    let change = last.changes.last_mut().unwrap();
    let mid = change.len() / 2;
    change[mid] ^= 0x55;
    assert!(b.import(&bundle).is_err());
    assert_eq!(b.projection_dump().unwrap(), before);
    bundle
        .docs
        .last_mut()
        .unwrap()
        .changes
        .last_mut()
        .unwrap()
        .truncate(3);
    assert!(b.import(&bundle).is_err());
    bundle.docs.last_mut().unwrap().kind = "spaceship".into();
    assert!(b.import(&bundle).is_err());
    assert!(b.grid_households("g1").unwrap().is_empty());
}

#[test]
fn deleting_a_resident_destroys_their_key_on_every_replica() {
    let dir = tempfile::tempdir().unwrap();
    let a = seeded(&dir, "a.db");
    let r = a.add_resident(H1, &resident_input("马秀兰")).unwrap();
    let b = open(&dir, "b.db", "worker-2");
    b.import(&a.export_all().unwrap()).unwrap();
    assert_eq!(b.reveal(&r.id, "phone", "核对").unwrap(), "13800138000");
    a.delete_resident(&r.id).unwrap();
    assert!(matches!(
        a.reveal(&r.id, "phone", "核对"),
        Err(Error::Erased(_))
    ));
    let gone = a.resident(&r.id).unwrap();
    assert_eq!(gone.status, ResidentStatus::Deleted);
    assert_eq!((gone.name.as_str(), gone.phone_masked.as_ref()), ("", None));
    assert!(a.search_residents("马").unwrap().is_empty());
    b.import(&a.export_all().unwrap()).unwrap();
    assert!(matches!(
        b.reveal(&r.id, "phone", "核对"),
        Err(Error::Erased(_))
    ));
    assert!(b.search_residents("138").unwrap().is_empty());
    // A replica that still sends the key cannot bring it back.
    let mut stale = a.export_all().unwrap();
    stale.keys.push(store::KeyRecord {
        resident_id: r.id.clone(),
        household_id: H1.into(),
        key: vec![1; 32],
    });
    b.import(&stale).unwrap();
    assert!(matches!(
        b.reveal(&r.id, "phone", "核对"),
        Err(Error::Erased(_))
    ));
}

#[test]
fn the_store_can_be_used_from_several_threads_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = std::sync::Arc::new(seeded(&dir, "s.db"));
    let households: Vec<String> = s
        .grid_households("g1")
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let s = s.clone();
            let hs = households.clone();
            std::thread::spawn(move || {
                let mut rng = Rng::new(t);
                for i in 0..10 {
                    let h = &hs[(t as usize * 10 + i) % hs.len()];
                    s.record_visit(&demo::visit(&mut rng, h, now() - DAY))
                        .unwrap();
                    s.grid_households("g1").unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let total: u32 = s
        .grid_households("g1")
        .unwrap()
        .iter()
        .map(|h| h.visit_count)
        .sum();
    assert_eq!(total, 40);
}

#[test]
fn compacting_keeps_every_record_and_the_outbox() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let s = Store::open(&path, &KEY, "worker-1").unwrap();
    s.load_roster(&demo::roster(1, 24, 1)).unwrap();
    let mut rng = Rng::new(8);
    for i in 0..5 {
        s.record_visit(&demo::visit(&mut rng, H1, now() - (i + 1) * DAY))
            .unwrap();
    }
    let before = s.export_all().unwrap();
    assert!(s.compact().unwrap() >= 1);
    assert_eq!(s.compact().unwrap(), 0, "nothing left to compact");
    drop(s);
    let s = Store::open(&path, &KEY, "worker-1").unwrap();
    assert_eq!(s.visit_history(H1).unwrap().len(), 5);
    assert!(
        !s.everything_uploaded().unwrap(),
        "compaction does not drop the outbox"
    );
    let mut after = s.export_all().unwrap();
    let mut before = before;
    for b in [&mut before, &mut after] {
        for d in &mut b.docs {
            d.changes.sort();
        }
    }
    assert_eq!(after, before);
}

#[test]
fn a_grid_worker_registers_a_new_household_without_an_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    let mut h = demo::roster(1, 24, 1).households[0].clone();
    h.id = None;
    h.door = "999".into();
    let created = s.create_household(&h).unwrap();
    assert_eq!(
        (
            created.building_id.as_str(),
            created.door.as_str(),
            created.grid_id.as_str()
        ),
        ("b1", "999", "g1")
    );
    assert_eq!(
        s.create_household(&h).unwrap().id,
        created.id,
        "the same door again is the same household"
    );
    h.building_id = "nowhere".into();
    assert!(matches!(s.create_household(&h), Err(Error::Invalid(_))));
}

/// Acknowledges everything the store would send, as the server does after a durable commit.
fn acknowledge_all(s: &Store) {
    loop {
        let (request, outbox) = s.sync_request(1000).unwrap();
        let reply = gridwalk_core::sync::SyncReply {
            version: request.version,
            request_id: request.request_id,
            cursor: request.cursor,
            pull: Bundle::default(),
            more: false,
        };
        s.sync_commit(&outbox, &reply).unwrap();
        if s.everything_uploaded().unwrap() {
            break;
        }
    }
}

#[test]
fn each_record_says_whether_the_server_has_it() {
    use gridwalk_core::replication::UploadStatus::{Pending, Uploaded};
    let dir = tempfile::tempdir().unwrap();
    let s = seeded(&dir, "s.db");
    let h2 = "h-b1-1-102";
    assert_eq!(s.upload_status(H1).unwrap(), Pending);
    acknowledge_all(&s);
    assert_eq!(s.upload_status(H1).unwrap(), Uploaded);
    assert!(s.pending_uploads().unwrap().is_empty());

    let visit = s
        .record_visit(&demo::visit(&mut Rng::new(4), H1, now() - DAY))
        .unwrap();
    let resident = s.add_resident(h2, &resident_input("马秀兰")).unwrap();
    let photo = s.add_photo(&[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3]).unwrap();
    for id in [visit.id.as_str(), H1, resident.id.as_str(), h2, &photo] {
        assert_eq!(s.upload_status(id).unwrap(), Pending, "{id}");
    }
    let untouched = s.households_in("b1", Some("1")).unwrap()[5].id.clone();
    assert_eq!(s.upload_status(&untouched).unwrap(), Uploaded);
    let pending: Vec<(String, String)> = s
        .pending_uploads()
        .unwrap()
        .into_iter()
        .map(|p| (p.kind, p.id))
        .collect();
    assert_eq!(
        pending,
        vec![
            ("household".to_string(), H1.to_string()),
            ("household".to_string(), h2.to_string()),
            ("photo".to_string(), photo.clone()),
        ]
    );
    assert!(matches!(
        s.upload_status("no-such-record"),
        Err(Error::NotFound { .. })
    ));

    acknowledge_all(&s);
    for id in [visit.id.as_str(), H1, resident.id.as_str(), h2] {
        assert_eq!(s.upload_status(id).unwrap(), Uploaded, "{id}");
    }
    assert_eq!(
        s.upload_status(&photo).unwrap(),
        Pending,
        "photos travel apart from documents"
    );
}
