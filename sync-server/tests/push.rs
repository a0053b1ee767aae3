//! What a push stores, straight against the hub on both stores: retries add nothing, a change
//! stored under another document is a conflict, history must be known, keys and tombstones in
//! one push, and pushes racing with the same changes store each change once, gap-free. A push
//! never waits for pulls: not for one holding the sequence, nor (a deletion's purge runs in the
//! background) for one holding an old snapshot.
//!
//! A push reads and checks before it takes the sequence lock and looks again under it
//! (`protocol::apply_push`); the racing test is what exercises that second look on PostgreSQL.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use automerge::transaction::{CommitOptions, Transactable};
use automerge::{ActorId, Automerge};
use common::Backend;
use gridwalk_core::Bundle;
use gridwalk_core::replication::{DocChanges, KeyRecord, Tombstone};
use gridwalk_server::Error;
use gridwalk_server::hub::{self, FeedKind, FeedMeta, FeedSink, HubStore, Visit};
use gridwalk_server::policy::{Principal, Role};
use gridwalk_server::protocol::{apply_push, check_push, handle_sync};

const ACTOR: &str = "a1b2c3d4";

fn worker() -> Principal {
    Principal {
        device_id: "phone-1".into(),
        person_id: "p1".into(),
        role: Role::GridWorker,
        scope: vec!["g1".into()],
        actor: ACTOR.into(),
        office_replica: false,
    }
}

fn open(b: Backend, dir: &std::path::Path) -> Arc<dyn HubStore> {
    hub::open(dir, common::fresh_store(b).as_deref()).unwrap()
}

/// `n` changes in a row (each depending on the one before) written by the worker's actor. The
/// same arguments give the same changes (fixed time), so a longer history extends a shorter one.
fn history(n: usize, salt: &str) -> Vec<Vec<u8>> {
    let mut doc = Automerge::new().with_actor(ActorId::from(hex::decode(ACTOR).unwrap()));
    for i in 0..n {
        let mut tx = doc.transaction();
        tx.put(automerge::ROOT, "notes", format!("{salt} {i}"))
            .unwrap();
        tx.commit_with(CommitOptions::default().with_time(0));
    }
    doc.get_changes(&[])
        .iter()
        .map(|c| c.raw_bytes().to_vec())
        .collect()
}

fn household(id: &str, changes: Vec<Vec<u8>>) -> DocChanges {
    DocChanges {
        id: id.into(),
        kind: "household".into(),
        scope: "grid:g1".into(),
        building_id: Some("b1".into()),
        changes,
    }
}

fn bundle(docs: Vec<DocChanges>) -> Bundle {
    Bundle {
        docs,
        ..Default::default()
    }
}

/// Checks and stores `push` as the worker; returns the number of new changes.
fn push(hub: &dyn HubStore, push: &Bundle) -> Result<usize, Error> {
    let p = worker();
    let checked = check_push(&p, push)?;
    let mut fresh = 0;
    hub.push(&mut |tx| {
        fresh = apply_push(tx, &p, &checked)?;
        Ok(())
    })?;
    Ok(fresh)
}

/// Every entry of the feed, in order.
#[derive(Default)]
struct All(Vec<FeedMeta>);

impl FeedSink for All {
    fn visit(&mut self, _: &FeedMeta) -> Visit {
        Visit::Take
    }
    fn take(&mut self, meta: FeedMeta, _: Vec<u8>) {
        self.0.push(meta);
    }
}

fn feed(hub: &dyn HubStore) -> Vec<FeedMeta> {
    let mut all = All::default();
    let head = hub.feed(0, &mut all).unwrap();
    assert_eq!(head, hub.head().unwrap());
    all.0
}

fn positions(hub: &dyn HubStore) -> Vec<u64> {
    feed(hub).iter().map(|m| m.seq).collect()
}

async fn a_retried_push_adds_nothing_and_takes_no_position(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(b, dir.path());
    // A chain of three: the second and third depend on changes in the same push.
    let day = bundle(vec![
        household("h1", history(3, "h1")),
        household("h2", history(2, "h2")),
    ]);
    assert_eq!(push(hub.as_ref(), &day).unwrap(), 5);
    assert_eq!(positions(hub.as_ref()), vec![1, 2, 3, 4, 5]);
    assert_eq!(push(hub.as_ref(), &day).unwrap(), 0);
    assert_eq!(hub.head().unwrap(), 5);
    // A longer history of the same document: only its new tail is stored.
    let more = bundle(vec![household("h1", history(5, "h1"))]);
    assert_eq!(push(hub.as_ref(), &more).unwrap(), 2);
    assert_eq!(positions(hub.as_ref()), vec![1, 2, 3, 4, 5, 6, 7]);
}

async fn a_change_stored_under_another_document_is_a_conflict(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(b, dir.path());
    let changes = history(1, "same");
    push(
        hub.as_ref(),
        &bundle(vec![household("h1", changes.clone())]),
    )
    .unwrap();
    let e = push(
        hub.as_ref(),
        &bundle(vec![household("h2", changes.clone())]),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");
    // Within one push as well, and the push stores nothing (not even its new document).
    let e = push(
        hub.as_ref(),
        &bundle(vec![
            household("h3", history(1, "new")),
            household("h4", changes),
        ]),
    )
    .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");
    assert_eq!(hub.head().unwrap(), 1);
    // A stored document keeps its kind and scope.
    let mut moved = household("h1", history(2, "same"));
    moved.scope = "grid:g2".into();
    let mut p = worker();
    p.scope.push("g2".into());
    let checked = check_push(&p, &bundle(vec![moved])).unwrap();
    let e = hub
        .push(&mut |tx| apply_push(tx, &p, &checked).map(|_| ()))
        .unwrap_err();
    assert!(matches!(e, Error::Conflict(_)), "{e:?}");
}

async fn a_change_whose_history_the_hub_lacks_is_refused(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(b, dir.path());
    let mut changes = history(2, "gap");
    changes.remove(0);
    let e = push(
        hub.as_ref(),
        &bundle(vec![
            household("h1", history(1, "fine")),
            household("h2", changes),
        ]),
    )
    .unwrap_err();
    assert!(matches!(e, Error::BadRequest(_)), "{e:?}");
    assert_eq!(hub.head().unwrap(), 0);
    // History stored under another document does not count either.
    let base = history(2, "base");
    push(
        hub.as_ref(),
        &bundle(vec![household("h3", vec![base[0].clone()])]),
    )
    .unwrap();
    let e = push(
        hub.as_ref(),
        &bundle(vec![household("h4", vec![base[1].clone()])]),
    )
    .unwrap_err();
    assert!(matches!(e, Error::BadRequest(_)), "{e:?}");
    assert_eq!(hub.head().unwrap(), 1);
}

async fn keys_and_tombstones_of_a_new_household_travel_in_one_push(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(b, dir.path());
    let key = |r: &str| KeyRecord {
        resident_id: r.into(),
        household_id: "h1".into(),
        key: vec![9; 32],
    };
    let mut first = bundle(vec![household("h1", history(1, "h1"))]);
    first.keys = vec![key("r1"), key("r2"), key("r1")];
    first.tombstones = vec![Tombstone {
        resident_id: "r2".into(),
        household_id: "h1".into(),
        deleted_ms: 5,
    }];
    push(hub.as_ref(), &first).unwrap();
    // Change, two keys, tombstone; the deleted resident's key is gone from the hub.
    let kinds: Vec<(u64, FeedKind, Option<String>)> = feed(hub.as_ref())
        .into_iter()
        .map(|m| (m.seq, m.what, m.resident_id))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (1, FeedKind::Change, None),
            (2, FeedKind::Key, Some("r1".into())),
            (4, FeedKind::Tombstone, Some("r2".into())),
        ]
    );
    assert_eq!(hub.head().unwrap(), 4);
    // Retried: nothing new; a deleted resident's key is not taken back.
    push(hub.as_ref(), &first).unwrap();
    assert_eq!(hub.head().unwrap(), 4);
    // A different key for a resident is a conflict; a tombstone naming another household is
    // refused.
    let mut other = bundle(Vec::new());
    other.keys = vec![KeyRecord {
        key: vec![1; 32],
        ..key("r1")
    }];
    assert!(matches!(
        push(hub.as_ref(), &other).unwrap_err(),
        Error::Conflict(_)
    ));
    push(
        hub.as_ref(),
        &bundle(vec![household("h2", history(1, "h2"))]),
    )
    .unwrap();
    let mut wrong = bundle(Vec::new());
    wrong.tombstones = vec![Tombstone {
        resident_id: "r1".into(),
        household_id: "h2".into(),
        deleted_ms: 6,
    }];
    assert!(matches!(
        push(hub.as_ref(), &wrong).unwrap_err(),
        Error::Forbidden(_)
    ));
    assert_eq!(hub.head().unwrap(), 5);
}

async fn pushes_racing_with_the_same_changes_store_each_once_gap_free(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(b, dir.path());
    const THREADS: usize = 6;
    const ROUNDS: usize = 3;
    // Every round, every thread pushes the same shared household's history and a household of
    // its own, so most pushes find the shared changes missing when they read and stored by
    // another push when they write.
    let gate = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|i| {
            let (hub, gate) = (hub.clone(), gate.clone());
            std::thread::spawn(move || {
                let mut fresh = 0;
                for round in 0..ROUNDS {
                    let id = format!("shared{round}");
                    let shared = household(&id, history(20, &id));
                    let own = format!("own{i}-{round}");
                    let day = bundle(vec![shared, household(&own, history(3, &own))]);
                    gate.wait();
                    fresh += push(hub.as_ref(), &day).unwrap();
                }
                fresh
            })
        })
        .collect();
    let fresh: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(fresh, ROUNDS * (20 + THREADS * 3));
    let all = feed(hub.as_ref());
    let seqs: Vec<u64> = all.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, (1..=fresh as u64).collect::<Vec<_>>());
    for round in 0..ROUNDS {
        let id = format!("shared{round}");
        assert_eq!(all.iter().filter(|m| m.doc.id == id).count(), 20);
    }
}

async fn a_pull_does_not_wait_for_a_push_holding_the_sequence(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(b, dir.path());
    push(
        hub.as_ref(),
        &bundle(vec![household("h1", history(1, "h1"))]),
    )
    .unwrap();
    let (locked, is_locked) = std::sync::mpsc::channel();
    let (release, released) = std::sync::mpsc::channel::<()>();
    let writer = {
        let hub = hub.clone();
        std::thread::spawn(move || {
            let p = worker();
            let day = bundle(vec![household("h2", history(2, "h2"))]);
            let checked = check_push(&p, &day).unwrap();
            hub.push(&mut |tx| {
                apply_push(tx, &p, &checked)?;
                // Written, sequence held, not committed.
                locked.send(()).unwrap();
                released.recv().unwrap();
                Ok(())
            })
            .unwrap();
        })
    };
    is_locked.recv().unwrap();
    let reader = {
        let hub = hub.clone();
        std::thread::spawn(move || (hub.head().unwrap(), positions(hub.as_ref())))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !reader.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "a pull waited for a push"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // The push in flight is invisible until it commits.
    assert_eq!(reader.join().unwrap(), (1, vec![1]));
    release.send(()).unwrap();
    writer.join().unwrap();
    assert_eq!(positions(hub.as_ref()), vec![1, 2, 3]);
}

/// A pull that stops at its first entry, holding its snapshot, until it is released.
struct HeldPull {
    holding: Sender<()>,
    release: Receiver<()>,
    held: bool,
}

impl FeedSink for HeldPull {
    fn visit(&mut self, _: &FeedMeta) -> Visit {
        if !self.held {
            self.held = true;
            self.holding.send(()).unwrap();
            self.release.recv().unwrap();
        }
        Visit::Skip
    }
    fn take(&mut self, _: FeedMeta, _: Vec<u8>) {}
}

/// Starts a pull and returns once it holds its snapshot; sending on the returned channel lets
/// it finish.
fn hold_a_pull(hub: &Arc<dyn HubStore>) -> (Sender<()>, std::thread::JoinHandle<u64>) {
    let (holding, is_holding) = channel();
    let (release, released) = channel();
    let reader = {
        let hub = hub.clone();
        std::thread::spawn(move || {
            let mut sink = HeldPull {
                holding,
                release: released,
                held: false,
            };
            hub.feed(0, &mut sink).unwrap()
        })
    };
    is_holding.recv().unwrap();
    (release, reader)
}

/// Whether any file under `dir` holds `needle`.
fn files_hold(dir: &Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().any(|e| {
        let p = e.unwrap().path();
        p.is_file()
            && std::fs::read(&p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
    })
}

/// A resident key that appears nowhere else in the hub's files.
const CANARY_KEY: &[u8; 32] = b"purge-me-canary-key-0123456789ab";

async fn a_deletion_answers_while_a_pull_holds_a_snapshot_and_the_purge_follows(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let hub = open(b, dir.path());
    let mut first = bundle(vec![household("h1", history(1, "h1"))]);
    first.keys = vec![KeyRecord {
        resident_id: "r1".into(),
        household_id: "h1".into(),
        key: CANARY_KEY.to_vec(),
    }];
    push(hub.as_ref(), &first).unwrap();
    let sqlite = b == Backend::Sqlite;
    if sqlite {
        assert!(files_hold(dir.path(), CANARY_KEY), "the key is in the WAL");
    }
    let (release, reader) = hold_a_pull(&hub);

    // The device deletes the resident, in a whole sync as the server runs it.
    let body = gridwalk_core::sync::encode(&gridwalk_core::sync::SyncRequest {
        version: gridwalk_core::sync::PROTOCOL_VERSION,
        request_id: 7,
        cursor: 2,
        push: Bundle {
            tombstones: vec![Tombstone {
                resident_id: "r1".into(),
                household_id: "h1".into(),
                deleted_ms: 5,
            }],
            ..Default::default()
        },
    })
    .unwrap();
    let started = Instant::now();
    let sync = {
        let hub = hub.clone();
        std::thread::spawn(move || handle_sync(hub.as_ref(), &worker(), &body).map(|_| ()))
    };
    let deadline = started + Duration::from_secs(20);
    while !sync.is_finished() {
        assert!(Instant::now() < deadline, "the sync never answered");
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = started.elapsed();
    sync.join().unwrap().unwrap();
    // SQLite's busy timeout is 5 s: a purge inside the request would have waited that long.
    assert!(
        took < Duration::from_millis(2500),
        "the sync waited {took:?} for the pull"
    );
    assert!(!reader.is_finished(), "the pull still holds its snapshot");
    assert_eq!(hub.head().unwrap(), 3);
    // The key row is gone at once; its old bytes stay while the snapshot needs them …
    let mut key_row = None;
    hub.push(&mut |tx| {
        key_row = tx.keys(&["r1"])?.pop();
        Ok(())
    })
    .unwrap();
    assert!(key_row.is_none());
    // … and further pushes do not wait for the purge that readers hold up.
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    push(
        hub.as_ref(),
        &bundle(vec![household("h2", history(1, "h2"))]),
    )
    .unwrap();
    let took = started.elapsed();
    assert!(
        took < Duration::from_millis(2500),
        "a push waited {took:?} behind the purge"
    );
    if sqlite {
        assert!(
            files_hold(dir.path(), CANARY_KEY),
            "no purge can finish while the snapshot is held"
        );
    }

    // Once the pull is gone, the purge runs without anyone asking again.
    release.send(()).unwrap();
    assert_eq!(reader.join().unwrap(), 2);
    if sqlite {
        let deadline = Instant::now() + Duration::from_secs(20);
        while files_hold(dir.path(), CANARY_KEY) {
            assert!(
                Instant::now() < deadline,
                "the deleted key stayed in the hub's files after the pull ended"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    // The hub goes on as before (the key's position went with the key).
    assert_eq!(positions(hub.as_ref()), vec![1, 3, 4]);
}

crate::on_both_stores!(
    a_deletion_answers_while_a_pull_holds_a_snapshot_and_the_purge_follows,
    a_pull_does_not_wait_for_a_push_holding_the_sequence,
    a_retried_push_adds_nothing_and_takes_no_position,
    a_change_stored_under_another_document_is_a_conflict,
    a_change_whose_history_the_hub_lacks_is_refused,
    keys_and_tombstones_of_a_new_household_travel_in_one_push,
    pushes_racing_with_the_same_changes_store_each_once_gap_free,
);
