//! Photos over HTTP with core's own client: a dropped connection costs at most one chunk, a photo
//! the server holds is never sent twice, its hash is checked, and only devices that may read a
//! record referencing it can fetch it.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use common::{Backend, phone, server, visit};
use gridwalk_core::demo::Rng;
use gridwalk_core::http::HttpTransport;
use gridwalk_core::photo_sync::{CHUNK_BYTES, PhotoTransport, download_photos, upload_photos};
use gridwalk_core::sync::{SyncError, TransportError};
use gridwalk_server::policy::Role;
use sha2::{Digest, Sha256};

/// A JPEG-looking photo of `len` bytes.
fn photo(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut b = vec![0xFF, 0xD8, 0xFF, 0xE0];
    b.extend((4..len).map(|_| rng.below(256) as u8));
    b
}

/// Core's HTTP transport whose `drop_at`-th chunk loses its connection half-way through the
/// body; counts every byte put on the wire.
struct Flaky {
    inner: HttpTransport,
    addr: std::net::SocketAddr,
    token: String,
    puts: AtomicUsize,
    drop_at: usize,
    sent: AtomicU64,
}

impl PhotoTransport for Flaky {
    async fn photo_offset(&self, hash: &str) -> Result<u64, TransportError> {
        self.inner.photo_offset(hash).await
    }

    async fn photo_put(
        &self,
        hash: &str,
        offset: u64,
        total: u64,
        chunk: Vec<u8>,
    ) -> Result<u64, TransportError> {
        if self.puts.fetch_add(1, Ordering::SeqCst) == self.drop_at {
            let half = &chunk[..chunk.len() / 2];
            // A plain socket: the write fits its buffer, so this never blocks the runtime.
            let mut s = std::net::TcpStream::connect(self.addr).unwrap();
            let head = format!(
                "PUT /v1/photos/{hash}?offset={offset}&total={total} HTTP/1.1\r\nhost: x\r\n\
                 authorization: Bearer {}\r\ncontent-length: {}\r\n\r\n",
                self.token,
                chunk.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(half).unwrap();
            self.sent.fetch_add(half.len() as u64, Ordering::SeqCst);
            drop(s);
            return Err(TransportError::Network("connection reset".into()));
        }
        self.sent.fetch_add(chunk.len() as u64, Ordering::SeqCst);
        self.inner.photo_put(hash, offset, total, chunk).await
    }

    async fn photo_get(&self, hash: &str) -> Result<Vec<u8>, TransportError> {
        self.inner.photo_get(hash).await
    }
}

fn status<T: std::fmt::Debug>(r: Result<T, TransportError>) -> u16 {
    match r {
        Err(TransportError::Status { status, .. }) => status,
        other => panic!("expected an HTTP error, got {other:?}"),
    }
}

async fn photos_resume_deduplicate_and_stay_in_scope(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let server = server(b, dir.path(), 4, None).await;
    let wang = phone(&server, dir.path(), "wang", Role::GridWorker, &["g1"], None).await;
    let li = phone(&server, dir.path(), "li", Role::GridWorker, &["g1"], None).await;
    let chen = phone(&server, dir.path(), "chen", Role::GridLeader, &["g1"], None).await;
    let zhao = phone(&server, dir.path(), "zhao", Role::GridWorker, &["g2"], None).await;
    for p in [&wang, &li, &chen, &zhao] {
        p.sync().await.unwrap();
    }
    let cancel = AtomicBool::new(false);

    // 王 photographs a household during a visit.
    let jpeg = photo(300_000, 1);
    let hash = wang.store.add_photo(&jpeg).unwrap();
    let h = wang.store.grid_households("g1").unwrap()[0].id.clone();
    let mut v = visit(&mut Rng::new(4), &h);
    v.photos = vec![hash.clone()];
    wang.store.record_visit(&v).unwrap();
    wang.sync().await.unwrap();

    // The third chunk's connection drops half-way; the retry resumes at the server's offset.
    let flaky = Flaky {
        inner: HttpTransport::new(&server.base_url(), &wang.enrolment.token, None).unwrap(),
        addr: server.addr(),
        token: wang.enrolment.token.clone(),
        puts: AtomicUsize::new(0),
        drop_at: 2,
        sent: AtomicU64::new(0),
    };
    assert!(upload_photos(&wang.store, &flaky, &cancel).await.is_err());
    assert_eq!(wang.store.photos_to_upload().unwrap(), vec![hash.clone()]);
    let done = upload_photos(&wang.store, &flaky, &cancel).await.unwrap();
    assert_eq!(done.uploaded, 1);
    let sent = flaky.sent.load(Ordering::SeqCst);
    assert!(
        sent <= (jpeg.len() + CHUNK_BYTES) as u64,
        "{sent} bytes sent for a {} byte photo",
        jpeg.len()
    );
    assert!(wang.store.photos_to_upload().unwrap().is_empty());
    assert_eq!(wang.transport.photo_offset(&hash).await.unwrap(), 300_000);

    // 李 took the same photo: the server has it, so nothing is sent.
    assert_eq!(li.store.add_photo(&jpeg).unwrap(), hash);
    let dedup = upload_photos(&li.store, &li.transport, &cancel)
        .await
        .unwrap();
    assert_eq!((dedup.uploaded, dedup.bytes_up), (1, 0));

    // Once the office replica holds the visit, 陈 (same grid) downloads the photo; 赵 (grid 2)
    // is refused, even knowing its hash.
    server.office_sync().await.unwrap();
    chen.sync().await.unwrap();
    let got = download_photos(&chen.store, &chen.transport, &cancel)
        .await
        .unwrap();
    assert_eq!(got.downloaded, 1);
    assert_eq!(chen.store.photo(&hash).unwrap(), jpeg);
    assert_eq!(status(zhao.transport.photo_get(&hash).await), 403);
    zhao.sync().await.unwrap();
    assert!(zhao.store.photos_missing().unwrap().is_empty());

    // Bytes that do not match their name are refused at completion, a chunk at the wrong offset
    // conflicts, and strangers learn nothing.
    let other = photo(1000, 2);
    let wrong = hex::encode(Sha256::digest(b"not this photo"));
    let put = wang
        .transport
        .photo_put(&wrong, 0, 1000, other.clone())
        .await;
    assert_eq!(status(put), 422);
    assert_eq!(wang.transport.photo_offset(&wrong).await.unwrap(), 0);
    let right = hex::encode(Sha256::digest(&other));
    let put = wang
        .transport
        .photo_put(&right, 10, 1000, other[10..20].to_vec())
        .await;
    assert_eq!(status(put), 409);
    let stranger = HttpTransport::new(&server.base_url(), "not-a-token", None).unwrap();
    assert_eq!(status(stranger.photo_offset(&hash).await), 401);
    assert_eq!(status(stranger.photo_get(&hash).await), 401);

    // A revoked device learns it from the photo endpoints too: the app wipes its store.
    assert!(server.hub().revoke(zhao.store.device_id()).unwrap());
    zhao.store.add_photo(&photo(500, 3)).unwrap();
    let r = upload_photos(&zhao.store, &zhao.transport, &cancel).await;
    assert!(matches!(r, Err(SyncError::Revoked)), "{r:?}");
    server.shutdown().await.unwrap();
}

crate::on_both_stores!(photos_resume_deduplicate_and_stay_in_scope);
