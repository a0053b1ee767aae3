//! Photos travel apart from documents: content-addressed, chunked, resumable, deduplicated.
//!
//! Upload: ask the server how much of a photo it already holds, then send the rest in chunks of
//! at most [`CHUNK_BYTES`]; a dropped connection loses at most one chunk, and a photo the server
//! already has (from anyone) costs one small request. The server checks the SHA-256 when the last
//! chunk arrives. Download: fetch photos that local records reference but the store lacks, and
//! keep them only if their hash matches.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::params;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::Store;
use crate::sync::{SyncError, TransportError};

/// Largest chunk sent in one request (a dropped connection loses at most this much).
pub const CHUNK_BYTES: usize = 64 * 1024;

/// The photo endpoints of the server.
pub trait PhotoTransport {
    /// How many bytes of `hash` the server holds (equal to the size when complete).
    fn photo_offset(&self, hash: &str) -> impl Future<Output = Result<u64, TransportError>>;
    /// Sends `chunk` at `offset` of a photo of `total` bytes; returns the server's new offset.
    fn photo_put(
        &self,
        hash: &str,
        offset: u64,
        total: u64,
        chunk: Vec<u8>,
    ) -> impl Future<Output = Result<u64, TransportError>>;
    /// Fetches a photo.
    fn photo_get(&self, hash: &str) -> impl Future<Output = Result<Vec<u8>, TransportError>>;
}

/// What a photo transfer did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct PhotoReport {
    /// Photos now on the server.
    pub uploaded: u32,
    /// Bytes sent.
    pub bytes_up: u64,
    /// Photos fetched.
    pub downloaded: u32,
}

impl Store {
    /// Photos not yet acknowledged by the server.
    pub fn photos_to_upload(&self) -> Result<Vec<String>> {
        self.db.read(|c| {
            let mut stmt =
                c.prepare("SELECT hash FROM photos WHERE uploaded = 0 ORDER BY created_at, hash")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    /// Photos referenced by local records but not stored here.
    pub fn photos_missing(&self) -> Result<Vec<String>> {
        self.db.read(|c| {
            let mut stmt = c.prepare(
                "SELECT DISTINCT r.hash FROM photo_refs r LEFT JOIN photos p ON p.hash = r.hash
                 WHERE p.hash IS NULL ORDER BY r.hash",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
    }

    fn mark_photo_uploaded(&self, hash: &str) -> Result<()> {
        self.db.write(|tx| {
            tx.execute("UPDATE photos SET uploaded = 1 WHERE hash = ?1", [hash])?;
            Ok(())
        })
    }

    /// Stores a downloaded photo after checking its hash.
    pub fn store_downloaded_photo(&self, hash: &str, bytes: &[u8]) -> Result<()> {
        if hex::encode(Sha256::digest(bytes)) != hash {
            return Err(Error::Corrupt(
                "downloaded photo does not match its hash".into(),
            ));
        }
        self.db.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO photos (hash, bytes, created_at, uploaded) VALUES (?1, ?2, ?3, 1)",
                params![hash, bytes, crate::store::now_ms()],
            )?;
            Ok(())
        })
    }
}

/// Uploads every pending photo, resuming where the server stopped.
pub async fn upload_photos<T: PhotoTransport>(
    store: &Store,
    transport: &T,
    cancel: &AtomicBool,
) -> Result<PhotoReport, SyncError> {
    let mut report = PhotoReport::default();
    for hash in store.photos_to_upload()? {
        let bytes = store.photo(&hash)?;
        let total = bytes.len() as u64;
        let mut offset = transport.photo_offset(&hash).await?;
        while offset < total {
            if cancel.load(Ordering::Relaxed) {
                return Err(Error::Interrupted.into());
            }
            let start = usize::try_from(offset).map_err(|_| Error::Corrupt("offset".into()))?;
            let end = (start + CHUNK_BYTES).min(bytes.len());
            let chunk = bytes
                .get(start..end)
                .ok_or_else(|| Error::Corrupt("server offset past the photo".into()))?;
            let next = transport
                .photo_put(&hash, offset, total, chunk.to_vec())
                .await?;
            report.bytes_up += chunk.len() as u64;
            if next <= offset {
                return Err(
                    TransportError::Network("server did not advance the upload".into()).into(),
                );
            }
            offset = next;
        }
        store.mark_photo_uploaded(&hash)?;
        report.uploaded += 1;
    }
    Ok(report)
}

/// Downloads the photos local records reference but the store lacks.
pub async fn download_photos<T: PhotoTransport>(
    store: &Store,
    transport: &T,
    cancel: &AtomicBool,
) -> Result<PhotoReport, SyncError> {
    let mut report = PhotoReport::default();
    for hash in store.photos_missing()? {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted.into());
        }
        let bytes = transport.photo_get(&hash).await?;
        store.store_downloaded_photo(&hash, &bytes)?;
        report.downloaded += 1;
    }
    Ok(report)
}
