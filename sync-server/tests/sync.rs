//! Scenario tests against a real server on 127.0.0.1:0: enrolment, sync both ways through the
//! office replica, scope enforcement, revocation, actor binding and TLS.
#![allow(clippy::unwrap_used)]

mod common;

use common::Backend;

use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge};
use common::{phone, post, server, visit};
use gridwalk_core::HouseholdPatch;
use gridwalk_core::demo::Rng;
use gridwalk_core::events::{EventInput, EventPlace, EventSource, EventState};
use gridwalk_core::http::EnrolRequest;
use gridwalk_core::store::DocChanges;
use gridwalk_core::sync::{
    self, PROTOCOL_VERSION, SyncError, SyncReply, SyncRequest, TransportError,
};
use gridwalk_core::{Bundle, Store};
use gridwalk_server::TlsFiles;
use gridwalk_server::policy::Role;

/// A change under `actor` creating a document (as a hostile device would craft it).
fn crafted_change(actor: &str) -> Vec<u8> {
    let mut doc = Automerge::new().with_actor(ActorId::from(hex::decode(actor).unwrap()));
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "notes", "injected").unwrap();
    tx.commit();
    doc.get_changes(&[])[0].raw_bytes().to_vec()
}

fn push_body(cursor: u64, docs: Vec<DocChanges>) -> Vec<u8> {
    sync::encode(&SyncRequest {
        version: PROTOCOL_VERSION,
        request_id: 1,
        cursor,
        push: Bundle {
            docs,
            ..Default::default()
        },
    })
    .unwrap()
}

async fn a_day_syncs_both_ways_through_the_office_replica(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = server(b, dir.path(), 24, None).await;
    let wang = phone(&server, dir.path(), "wang", Role::GridWorker, &["g1"], None).await;
    assert_eq!(wang.enrolment.role, "grid_worker");
    assert_eq!(wang.enrolment.scope, vec!["g1".to_string()]);

    // Morning: the phone takes its grid (and only its grid) with its residents' keys.
    let morning = wang.sync().await.unwrap();
    assert!(morning.round_trips <= 2, "{morning:?}");
    let mine = wang.store.grid_households("g1").unwrap();
    assert_eq!(mine.len(), 24);
    assert!(wang.store.grid_households("g2").unwrap().is_empty());
    let h = wang.store.household(&mine[0].id).unwrap();
    assert!(!h.residents.is_empty());
    assert!(!h.residents[0].name.is_empty(), "keys arrived: names open");

    // The day: 20 visits offline, one evening sync of at most 2 round trips.
    let mut rng = Rng::new(3);
    for hh in mine.iter().take(20) {
        wang.store.record_visit(&visit(&mut rng, &hh.id)).unwrap();
    }
    // Revealing a phone number leaves an access-log entry; it travels to the office too.
    let resident = h.residents[0].id.clone();
    wang.store.reveal(&resident, "phone", "回访核实").unwrap();
    let evening = wang.sync().await.unwrap();
    assert!(evening.round_trips <= 2, "{evening:?}");
    assert_eq!(evening.changes_up, 20);
    assert!(evening.everything_uploaded);

    // Device → office: the debounced background sync brings the visits into the office store.
    let office = server.office();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let seen: u32 = office
            .store()
            .grid_households("g1")
            .unwrap()
            .iter()
            .map(|h| h.visit_count)
            .sum();
        if seen == 20 {
            break;
        }
        assert!(Instant::now() < deadline, "office saw {seen} visits");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Office edit → device after its next sync.
    office
        .store()
        .update_household(
            &mine[1].id,
            &HouseholdPatch {
                notes: Some("已转介民政复核低保".into()),
                ..Default::default()
            },
        )
        .unwrap();
    server.office_sync().await.unwrap();
    let r = wang.sync().await.unwrap();
    assert_eq!(r.changes_down, 1);
    assert_eq!(
        wang.store.household(&mine[1].id).unwrap().notes,
        "已转介民政复核低保"
    );

    // Nothing changed: the next sync costs almost nothing either way.
    let idle = wang.sync().await.unwrap();
    assert_eq!(
        (idle.round_trips, idle.changes_up, idle.changes_down),
        (1, 0, 0)
    );
    assert!(idle.bytes_up < 100 && idle.bytes_down < 100, "{idle:?}");
    server.shutdown().await.unwrap();
}

async fn two_workers_editing_the_same_household_converge_with_the_conflict_kept(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = server(b, dir.path(), 6, None).await;
    let wang = phone(&server, dir.path(), "wang", Role::GridWorker, &["g1"], None).await;
    let li = phone(
        &server,
        dir.path(),
        "li",
        Role::GridLeader,
        &["g1", "g2"],
        None,
    )
    .await;
    wang.sync().await.unwrap();
    li.sync().await.unwrap();
    let shared = wang.store.grid_households("g1").unwrap()[0].id.clone();
    let resident = wang.store.household(&shared).unwrap().residents[0]
        .id
        .clone();
    for (p, phone) in [(&wang, "13700001111"), (&li, "13700002222")] {
        p.store
            .update_resident(
                &resident,
                &gridwalk_core::ResidentPatch {
                    phone: Some(phone.into()),
                    ..Default::default()
                },
            )
            .unwrap();
    }
    for p in [&wang, &li, &wang] {
        p.sync().await.unwrap();
    }
    server.office_sync().await.unwrap();
    let at_office = server.office().store().household(&shared).unwrap();
    assert_eq!(wang.store.household(&shared).unwrap(), at_office);
    assert_eq!(li.store.household(&shared).unwrap(), at_office);
    assert_eq!(at_office.conflicts.len(), 1, "{:?}", at_office.conflicts);
    server.shutdown().await.unwrap();
}

async fn a_revoked_device_gets_401_and_nothing_is_applied(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = server(b, dir.path(), 4, None).await;
    let wang = phone(&server, dir.path(), "wang", Role::GridWorker, &["g1"], None).await;
    wang.sync().await.unwrap();
    let h = wang.store.grid_households("g1").unwrap()[0].id.clone();
    wang.store
        .record_visit(&visit(&mut Rng::new(1), &h))
        .unwrap();
    let head = server.hub().head().unwrap();
    assert!(server.hub().revoke(wang.store.device_id()).unwrap());
    assert!(matches!(wang.sync().await, Err(SyncError::Revoked)));
    assert_eq!(server.hub().head().unwrap(), head, "nothing applied");
    assert!(!wang.store.everything_uploaded().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.path().join("server").join("office.key");
        let mode = std::fs::metadata(key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the office key is the owner's alone");
    }
    // Missing and unknown credentials too.
    let body = push_body(0, Vec::new());
    assert_eq!(post(&server, None, body.clone()).await.0, 401);
    assert_eq!(post(&server, Some("not-a-token"), body).await.0, 401);
    server.shutdown().await.unwrap();
}

async fn a_grid_a_device_can_neither_write_nor_read_grid_b(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = server(b, dir.path(), 4, None).await;
    let wang = phone(&server, dir.path(), "wang", Role::GridWorker, &["g1"], None).await;
    let token = wang.enrolment.token.clone();
    let change = crafted_change(&wang.store.actor_id());
    let head = server.hub().head().unwrap();
    let g2_household = server.office().store().grid_households("g2").unwrap()[0]
        .id
        .clone();
    for (id, kind, scope) in [
        ("h-new-in-g2", "household", "grid:g2"),
        (g2_household.as_str(), "household", "grid:g1"), // lying about an existing g2 document
        ("roster", "roster", "community"),
    ] {
        let body = push_body(
            0,
            vec![DocChanges {
                id: id.into(),
                kind: kind.into(),
                scope: scope.into(),
                building_id: None,
                changes: vec![change.clone()],
            }],
        );
        let (status, msg) = post(&server, Some(&token), body).await;
        assert_eq!(status, 403, "{id}: {}", String::from_utf8_lossy(&msg));
    }
    assert_eq!(server.hub().head().unwrap(), head, "nothing applied");

    // Pulling from scratch returns nothing of grid B: no document, no key.
    let (status, reply) = post(&server, Some(&token), push_body(0, Vec::new())).await;
    assert_eq!(status, 200);
    let reply: SyncReply = sync::decode(&reply).unwrap();
    assert!(!reply.more);
    assert_eq!(
        reply.cursor, head,
        "the cursor passes the skipped grid-B rows"
    );
    assert!(!reply.pull.docs.is_empty());
    let g1: Vec<String> = server
        .office()
        .store()
        .grid_households("g1")
        .unwrap()
        .into_iter()
        .map(|h| h.id)
        .collect();
    for d in &reply.pull.docs {
        assert!(
            d.scope == "community" || d.scope == "grid:g1",
            "{}",
            d.scope
        );
    }
    let residents: usize = g1
        .iter()
        .map(|id| {
            server
                .office()
                .store()
                .household(id)
                .unwrap()
                .residents
                .len()
        })
        .sum();
    assert_eq!(reply.pull.keys.len(), residents);
    for k in &reply.pull.keys {
        assert!(g1.contains(&k.household_id));
    }
    server.shutdown().await.unwrap();
}

async fn a_change_under_another_devices_actor_is_refused(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = server(b, dir.path(), 4, None).await;
    let wang = phone(&server, dir.path(), "wang", Role::GridWorker, &["g1"], None).await;
    let li = phone(&server, dir.path(), "li", Role::GridWorker, &["g1"], None).await;
    li.sync().await.unwrap();
    let h = li.store.grid_households("g1").unwrap()[0].id.clone();
    li.store.record_visit(&visit(&mut Rng::new(2), &h)).unwrap();
    // 王's credential carrying 李's change.
    let (request, _) = li.store.sync_request(100).unwrap();
    let head = server.hub().head().unwrap();
    let (status, _) = post(
        &server,
        Some(&wang.enrolment.token),
        sync::encode(&request).unwrap(),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(server.hub().head().unwrap(), head);
    // 李 still syncs it normally, and a retry of the same push is a no-op.
    li.sync().await.unwrap();
    let after = server.hub().head().unwrap();
    assert_eq!(after, head + 1);
    let (status, _) = post(
        &server,
        Some(&li.enrolment.token),
        sync::encode(&request).unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        server.hub().head().unwrap(),
        after,
        "a retry stores nothing twice"
    );
    server.shutdown().await.unwrap();
}

/// A new event document whose first change carries one step, as a modified app would send it.
fn crafted_event(actor: &str, id: &str, action: &str, by: &str, role: &str) -> Vec<u8> {
    let mut doc = Automerge::new().with_actor(ActorId::from(hex::decode(actor).unwrap()));
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "kind", "event").unwrap();
    tx.put(automerge::ROOT, "id", id).unwrap();
    let log = tx
        .put_object(automerge::ROOT, "transitions", automerge::ObjType::Map)
        .unwrap();
    let t = tx.put_object(&log, "t1", automerge::ObjType::Map).unwrap();
    tx.put(&t, "action", action).unwrap();
    tx.put(&t, "by", by).unwrap();
    tx.put(&t, "role", role).unwrap();
    tx.commit();
    doc.get_changes(&[])[0].raw_bytes().to_vec()
}

async fn the_server_refuses_event_steps_the_device_may_not_take(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = server(b, dir.path(), 4, None).await;
    let worker = phone(&server, dir.path(), "li", Role::GridWorker, &["g1"], None).await;
    worker.sync().await.unwrap();
    let building = worker.store.grid_households("g1").unwrap()[0]
        .building_id
        .clone();
    let lead = phone(
        &server,
        dir.path(),
        "lead",
        Role::BuildingLead,
        &[building.as_str()],
        None,
    )
    .await;
    lead.sync().await.unwrap();
    // An honest snap report passes the server's check.
    let report = lead
        .store
        .report_event(&EventInput {
            grid_id: "g1".into(),
            source: EventSource::Snap,
            category: "facility".into(),
            place: EventPlace {
                building_id: Some(building.clone()),
                unit: Some("1".into()),
                text: "1单元楼道灯不亮".into(),
                lat: None,
                lon: None,
            },
            description: "楼道灯坏了".into(),
            photos: Vec::new(),
            household_id: None,
            parties: Vec::new(),
        })
        .unwrap();
    let (honest, _) = lead.store.sync_request(100).unwrap();
    let place = honest
        .push
        .docs
        .iter()
        .find(|d| d.id == report.id)
        .unwrap()
        .clone();
    lead.sync().await.unwrap();
    let head = server.hub().head().unwrap();
    // A building lead closing a case, a step in someone else's name, another role claimed.
    let actor = lead.store.actor_id();
    for (n, (action, by, role)) in [
        ("close", "lead", "building_lead"),
        ("register", "someone-else", "building_lead"),
        ("register", "lead", "office"),
        ("dispatch", "lead", "building_lead"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = format!("ev-crafted-{n}");
        let body = push_body(
            0,
            vec![DocChanges {
                id: id.clone(),
                changes: vec![crafted_event(&actor, &id, action, by, role)],
                ..place.clone()
            }],
        );
        let (status, msg) = post(&server, Some(&lead.enrolment.token), body).await;
        let msg = String::from_utf8_lossy(&msg);
        assert_eq!(status, 403, "{action} by {by} as {role}: {msg}");
        assert!(msg.contains("event"), "{msg}");
    }
    assert_eq!(server.hub().head().unwrap(), head, "nothing applied");
    // The honest report reached the grid's worker, registered.
    worker.sync().await.unwrap();
    assert_eq!(
        worker.store.event(&report.id).unwrap().event.state,
        EventState::Registered
    );
    server.shutdown().await.unwrap();
}

async fn only_the_servers_own_office_replica_writes_a_step_in_a_staff_members_name(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = server(b, dir.path(), 2, None).await;
    // An office-role phone, even one enrolled under the office replica's person id, is a device:
    // it writes in its own name and role only.
    let office_phone = phone(&server, dir.path(), "office", Role::Office, &[], None).await;
    office_phone.sync().await.unwrap();
    let head = server.hub().head().unwrap();
    let actor = office_phone.store.actor_id();
    let place = |id: &str, by: &str, role: &str| DocChanges {
        id: id.into(),
        kind: "event".into(),
        scope: "grid:g1".into(),
        building_id: None,
        changes: vec![crafted_event(&actor, id, "dispatch", by, role)],
    };
    for (n, (by, role)) in [
        ("leader", "grid_leader"),
        ("leader", "office"),
        ("office", "grid_leader"),
    ]
    .into_iter()
    .enumerate()
    {
        let body = push_body(0, vec![place(&format!("ev-forged-{n}"), by, role)]);
        let (status, msg) = post(&server, Some(&office_phone.enrolment.token), body).await;
        let msg = String::from_utf8_lossy(&msg);
        assert_eq!(status, 403, "dispatch by {by} as {role}: {msg}");
    }
    assert_eq!(server.hub().head().unwrap(), head, "nothing applied");
    let body = push_body(0, vec![place("ev-own", "office", "office")]);
    let (status, _) = post(&server, Some(&office_phone.enrolment.token), body).await;
    assert_eq!(status, 200, "its own name and role");
    server.shutdown().await.unwrap();
}

async fn enrolment_codes_are_one_time_and_actor_ids_bind_once(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = server(b, dir.path(), 2, None).await;
    let base = server.base_url();
    let a = Store::open(&dir.path().join("a.db"), &common::KEY, "a").unwrap();
    let b = Store::open(&dir.path().join("b.db"), &common::KEY, "b").unwrap();
    let code = common::code(&server, "w1", Role::GridWorker, &["g1"]);
    let req = |code: &str, s: &Store, actor: String| EnrolRequest {
        code: code.into(),
        device_id: s.device_id().into(),
        actor_id: actor,
    };
    gridwalk_core::http::enrol(&base, None, &req(&code.to_lowercase(), &a, a.actor_id()))
        .await
        .unwrap();
    let again = gridwalk_core::http::enrol(&base, None, &req(&code, &b, b.actor_id())).await;
    assert!(matches!(
        again,
        Err(TransportError::Status { status: 401, .. })
    ));
    let code2 = common::code(&server, "w1", Role::GridWorker, &["g1"]);
    let stolen = gridwalk_core::http::enrol(&base, None, &req(&code2, &b, a.actor_id())).await;
    assert!(matches!(
        stolen,
        Err(TransportError::Status { status: 409, .. })
    ));
    let office_actor = server.office().store().actor_id();
    let office = gridwalk_core::http::enrol(&base, None, &req(&code2, &b, office_actor)).await;
    assert!(matches!(
        office,
        Err(TransportError::Status { status: 409, .. })
    ));
    gridwalk_core::http::enrol(&base, None, &req(&code2, &b, b.actor_id()))
        .await
        .unwrap();
    server.shutdown().await.unwrap();
}

async fn a_phone_syncs_over_tls_trusting_the_office_certificate(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let ca = cert.cert.pem();
    std::fs::write(dir.path().join("cert.pem"), &ca).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let tls = TlsFiles {
        cert: dir.path().join("cert.pem"),
        key: dir.path().join("key.pem"),
    };
    let server = server(b, dir.path(), 4, Some(tls)).await;
    assert!(server.base_url().starts_with("https://"));
    let wang = phone(
        &server,
        dir.path(),
        "wang",
        Role::GridWorker,
        &["g1"],
        Some(ca.as_bytes()),
    )
    .await;
    let r = wang.sync().await.unwrap();
    assert!(r.changes_down > 0);
    assert_eq!(wang.store.grid_households("g1").unwrap().len(), 4);
    // Without trusting the certificate, the phone refuses the server.
    let untrusted =
        gridwalk_core::http::HttpTransport::new(&server.base_url(), &wang.enrolment.token, None)
            .unwrap();
    let err =
        gridwalk_core::sync::sync(&wang.store, &untrusted, &|_| {}, &Default::default()).await;
    assert!(matches!(
        err,
        Err(SyncError::Transport(TransportError::Network(_)))
    ));
    server.shutdown().await.unwrap();
}

async fn the_demo_converges(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = gridwalk_server::start(gridwalk_server::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().join("server"),
        tls: None,
        store: common::fresh_store(b),
        ..gridwalk_server::Config::default()
    })
    .await
    .unwrap();
    let report = gridwalk_server::demo::run(&server, &dir.path().join("phones"))
        .await
        .unwrap();
    assert!(report.identical, "{report:?}");
    assert_eq!(report.visits_at_office, 40);
    assert!(report.conflicts >= 1);
    assert!(report.evening_round_trips.iter().all(|n| *n <= 2));
    server.shutdown().await.unwrap();
}

async fn a_pull_cut_by_the_byte_budget_resumes_where_it_stopped(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = server(b, dir.path(), 6, None).await;
    let wang = phone(&server, dir.path(), "wang", Role::GridWorker, &["g1"], None).await;
    let hub = server.hub();
    let (p, revoked) = hub
        .device_by_token(&gridwalk_server::protocol::token_hash(
            &wang.enrolment.token,
        ))
        .unwrap()
        .unwrap();
    assert!(!revoked);
    let count = |b: &Bundle| {
        b.docs.iter().map(|d| d.changes.len()).sum::<usize>() + b.keys.len() + b.tombstones.len()
    };
    let whole = gridwalk_server::protocol::pull(hub.as_ref(), &p, 1, 0, usize::MAX).unwrap();
    assert!(!whole.more);
    let (mut cursor, mut got, mut rounds) = (0, 0, 0);
    loop {
        let r = gridwalk_server::protocol::pull(hub.as_ref(), &p, 1, cursor, 2_000).unwrap();
        assert!(r.cursor > cursor || !r.more);
        got += count(&r.pull);
        cursor = r.cursor;
        rounds += 1;
        if !r.more {
            break;
        }
    }
    assert!(rounds > 3, "the budget cut the pull ({rounds} rounds)");
    assert_eq!(got, count(&whole.pull));
    assert_eq!(cursor, whole.cursor);
    // With the real budget the same grid fits one reply.
    let r = wang.sync().await.unwrap();
    assert_eq!(
        r.round_trips, 1,
        "the real budget fits a small grid in one reply"
    );
    server.shutdown().await.unwrap();
}

crate::on_both_stores!(
    a_day_syncs_both_ways_through_the_office_replica,
    two_workers_editing_the_same_household_converge_with_the_conflict_kept,
    a_revoked_device_gets_401_and_nothing_is_applied,
    a_grid_a_device_can_neither_write_nor_read_grid_b,
    a_change_under_another_devices_actor_is_refused,
    the_server_refuses_event_steps_the_device_may_not_take,
    only_the_servers_own_office_replica_writes_a_step_in_a_staff_members_name,
    enrolment_codes_are_one_time_and_actor_ids_bind_once,
    a_phone_syncs_over_tls_trusting_the_office_certificate,
    the_demo_converges,
    a_pull_cut_by_the_byte_budget_resumes_where_it_stopped,
);
