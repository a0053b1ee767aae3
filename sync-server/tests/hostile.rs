//! Hostile bodies against a real server: every one is refused with a 4xx, the server keeps
//! answering, honest devices are unaffected, and the process's peak memory stays bounded.
//! One test function, so nothing else runs in this process while the peak is measured.
#![allow(clippy::unwrap_used)]

mod common;

use common::Backend;

use automerge::transaction::Transactable;
use automerge::{ActorId, Automerge};
use common::{peak_rss_kb, phone, post, server, visit};
use gridwalk_core::Bundle;
use gridwalk_core::demo::Rng;
use gridwalk_core::replication::DocChanges;
use gridwalk_core::sync::{self, MAX_BODY_BYTES, MAX_DECODED_BYTES, PROTOCOL_VERSION, SyncRequest};
use gridwalk_server::policy::Role;
use sha2::{Digest, Sha256};

fn with_change(household: &str, change: Vec<u8>) -> Vec<u8> {
    sync::encode(&SyncRequest {
        version: PROTOCOL_VERSION,
        request_id: 9,
        cursor: 0,
        push: Bundle {
            docs: vec![DocChanges {
                id: household.into(),
                kind: "household".into(),
                scope: "grid:g1".into(),
                building_id: None,
                changes: vec![change],
            }],
            ..Default::default()
        },
    })
    .unwrap()
}

fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
}

/// A chunk with a valid header and checksum around `body` (so only the change decoder judges it).
fn chunk(kind: u8, body: &[u8]) -> Vec<u8> {
    let mut hashed = vec![kind];
    leb128(body.len(), &mut hashed);
    hashed.extend_from_slice(body);
    let sum = Sha256::digest(&hashed);
    let mut out = vec![0x85, 0x6f, 0x4a, 0x83];
    out.extend_from_slice(&sum[..4]);
    out.extend_from_slice(&hashed);
    out
}

/// The peak-RSS check is process-wide: the SQLite and PostgreSQL runs take turns.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn hostile_bodies_are_refused_and_the_server_keeps_serving(b: Backend) {
    let _turn = ONE_AT_A_TIME.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let server = server(b, dir.path(), 4, None).await;
    let wang = phone(&server, dir.path(), "wang", Role::GridWorker, &["g1"], None).await;
    let li = phone(&server, dir.path(), "li", Role::GridWorker, &["g1"], None).await;
    wang.sync().await.unwrap();
    li.sync().await.unwrap();
    let token = wang.enrolment.token.clone();
    let households = wang.store.grid_households("g1").unwrap();
    let mut rng = Rng::new(5);
    wang.store
        .record_visit(&visit(&mut rng, &households[0].id))
        .unwrap();
    let (request, _) = wang.store.sync_request(100).unwrap();
    let good = sync::encode(&request).unwrap();
    // The honest push lands first, so damaged copies of it can only be refused or repeat it.
    assert_eq!(post(&server, Some(&token), good.clone()).await.0, 200);
    let head = server.hub().head().unwrap();
    let before = peak_rss_kb();
    let mut refused = 0;

    let mut expect_4xx = async |what: &str, body: Vec<u8>| {
        let (status, msg) = post(&server, Some(&token), body).await;
        assert!(
            (400..500).contains(&status),
            "{what}: {status} {}",
            String::from_utf8_lossy(&msg)
        );
        assert!(msg.len() < 300, "{what}: short plain-text message");
        refused += 1;
    };

    // Truncated bodies.
    let step = (good.len() / 150).max(1);
    for n in (0..good.len()).step_by(step) {
        expect_4xx("truncated", good[..n].to_vec()).await;
    }
    // Garbage of many sizes.
    for n in [1usize, 7, 64, 1000, 100_000] {
        let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
        expect_4xx("garbage", junk).await;
    }
    // A well-formed request in another protocol version.
    let mut other = request.clone();
    other.version = PROTOCOL_VERSION + 1;
    expect_4xx("version", sync::encode(&other).unwrap()).await;
    // Oversized: over the compressed cap, and a zstd bomb past the inflated cap.
    expect_4xx("oversized", vec![0u8; MAX_BODY_BYTES + 1]).await;
    let bomb = zstd::bulk::compress(&vec![0u8; MAX_DECODED_BYTES + 4096], 19).unwrap();
    assert!(bomb.len() < 64 * 1024);
    expect_4xx("bomb", bomb).await;
    // Crafted chunks where a change belongs.
    let h = households[1].id.as_str();
    let mut doc =
        Automerge::new().with_actor(ActorId::from(hex::decode(wang.store.actor_id()).unwrap()));
    let mut tx = doc.transaction();
    tx.put(automerge::ROOT, "notes", "x".repeat(500)).unwrap();
    tx.commit();
    let raw = doc.get_changes(&[])[0].raw_bytes().to_vec();
    expect_4xx("whole document", with_change(h, doc.save())).await;
    let mut bad_sum = raw.clone();
    bad_sum[5] ^= 0x40;
    expect_4xx("bad checksum", with_change(h, bad_sum)).await;
    let mut compressed = doc.get_changes(&[])[0].clone();
    expect_4xx(
        "compressed change",
        with_change(h, compressed.bytes().to_vec()),
    )
    .await;
    for n in [0usize, 1, 3, 40, 300] {
        let body: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
        expect_4xx("random change body", with_change(h, chunk(1, &body))).await;
    }
    for cut in [10, raw.len() / 2, raw.len() - 1] {
        expect_4xx("truncated change", with_change(h, raw[..cut].to_vec())).await;
    }
    // Bit flips all over the body: refused, or (when the flip lands where any value is valid,
    // e.g. the cursor) an ordinary answer that stores nothing new.
    let positions = good.len().min(400);
    let mut ok = 0;
    for i in 0..positions {
        let mut bad = good.clone();
        let at = i * good.len() / positions;
        bad[at] ^= 1 << (i % 8);
        let (status, _) = post(&server, Some(&token), bad).await;
        assert!(status < 500, "flip at {at}: {status}");
        if status == 200 {
            ok += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        ok < positions / 4,
        "{ok} of {positions} flipped bodies accepted"
    );
    assert_eq!(
        server.hub().head().unwrap(),
        head,
        "nothing hostile was stored"
    );

    // The server still answers, and the other device's sync is unaffected.
    li.store
        .record_visit(&visit(&mut rng, &households[2].id))
        .unwrap();
    let r = li.sync().await.unwrap();
    assert_eq!(r.changes_up, 1);
    assert_eq!(r.changes_down, 1, "王's honest visit arrives");
    let grown_mb = peak_rss_kb().saturating_sub(before) / 1024;
    assert!(grown_mb < 200, "peak RSS grew {grown_mb} MB");
    eprintln!("{refused} hostile bodies refused; peak RSS grew {grown_mb} MB");
    server.shutdown().await.unwrap();
}

crate::on_both_stores!(hostile_bodies_are_refused_and_the_server_keeps_serving,);
