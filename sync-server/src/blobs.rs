//! Photo bytes, content-addressed, behind a storage trait.
//!
//! Photos travel apart from documents (core's `photo_sync`): a device uploads one in chunks of at
//! most 64 KiB, each appended at the offset the server holds, and the upload becomes a photo only
//! when its SHA-256 matches the name it was uploaded under. [`BlobStore`] holds exactly that
//! state: a partial upload per hash, and complete photos.
//!
//! [`FsBlobStore`], the default, keeps both under `data_dir/blobs`: complete photos at
//! `blobs/ab/cd/<hash>` (two levels of hash prefix keep directories small), partial uploads at
//! `blobs/partial/<hash>`. Several server processes (a city on PostgreSQL) each have a data
//! directory of their own and share photos by mounting (or symlinking) its `blobs/` from one
//! directory on shared storage. Within a process, appends to one photo never interleave; two
//! processes appending the same photo at the same instant could, and then the hash check at
//! completion refuses the result (422, upload discarded) and the device uploads it again:
//! nothing wrong is ever stored as a photo.
//!
//! # Object storage
//!
//! The trait maps onto S3-style object storage without changing the HTTP layer: `offset` is the
//! multipart upload's size so far (kept in a small `uploads(hash, upload_id, size)` table of the
//! hub database), `put_chunk` uploads one part (object stores want parts of 5 MiB, so an
//! implementation buffers 64 KiB chunks in the partial table until a part is full), `finalize`
//! completes the multipart upload under `photos/<hash>` and checks the hash it computed while
//! the parts went through, `exists` is a HEAD on the object, and `read` a GET (or a pre-signed
//! URL handed to the device, which saves the server the bytes).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Largest photo accepted (a phone photo, compressed on the device, is well under this).
pub const MAX_PHOTO_BYTES: u64 = 32 << 20;

/// Whether `hash` names a photo: 64 lowercase hex digits (the SHA-256 core uses).
pub fn is_photo_hash(hash: &str) -> bool {
    hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Where photos live.
pub trait BlobStore: Send + Sync + 'static {
    /// Bytes held of `hash`: the size of a complete photo, the length of a partial upload, or 0.
    fn offset(&self, hash: &str) -> Result<u64>;
    /// Whether the complete photo is held.
    fn exists(&self, hash: &str) -> Result<bool>;
    /// Appends `chunk` to the partial upload of `hash` at `offset`, which must be exactly what
    /// is held (otherwise [`Error::Conflict`]); returns the new length.
    fn put_chunk(&self, hash: &str, offset: u64, chunk: &[u8]) -> Result<u64>;
    /// Makes a partial upload a photo once its SHA-256 matches `hash`; a mismatch discards the
    /// upload and answers [`Error::Unprocessable`].
    fn finalize(&self, hash: &str) -> Result<()>;
    /// A complete photo's bytes, `None` when it is not held.
    fn read(&self, hash: &str) -> Result<Option<Vec<u8>>>;
}

/// Locks striped by hash, so two requests for one photo never interleave their appends while
/// uploads of different photos proceed side by side.
const STRIPES: usize = 16;

/// Photos in a directory.
pub struct FsBlobStore {
    root: PathBuf,
    stripes: [Mutex<()>; STRIPES],
}

impl FsBlobStore {
    /// Photos under `root` (created when missing).
    pub fn open(root: &Path) -> Result<FsBlobStore> {
        std::fs::create_dir_all(root.join("partial"))?;
        Ok(FsBlobStore {
            root: root.to_path_buf(),
            stripes: std::array::from_fn(|_| Mutex::new(())),
        })
    }

    fn checked<'a>(&self, hash: &'a str) -> Result<&'a str> {
        if is_photo_hash(hash) {
            Ok(hash)
        } else {
            Err(Error::BadRequest(
                "a photo is named by its SHA-256 in lowercase hex".into(),
            ))
        }
    }

    fn complete_path(&self, hash: &str) -> PathBuf {
        self.root.join(&hash[..2]).join(&hash[2..4]).join(hash)
    }

    fn partial_path(&self, hash: &str) -> PathBuf {
        self.root.join("partial").join(hash)
    }

    /// The stripe of `hash`; a poisoned lock guards no data of its own, so it stays usable.
    fn stripe(&self, hash: &str) -> MutexGuard<'_, ()> {
        let i = usize::from(hash.as_bytes()[0]) % STRIPES;
        self.stripes[i].lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn len_of(path: &Path) -> Result<Option<u64>> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(m.len())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl BlobStore for FsBlobStore {
    fn offset(&self, hash: &str) -> Result<u64> {
        let hash = self.checked(hash)?;
        if let Some(n) = len_of(&self.complete_path(hash))? {
            return Ok(n);
        }
        Ok(len_of(&self.partial_path(hash))?.unwrap_or(0))
    }

    fn exists(&self, hash: &str) -> Result<bool> {
        let hash = self.checked(hash)?;
        Ok(len_of(&self.complete_path(hash))?.is_some())
    }

    fn put_chunk(&self, hash: &str, offset: u64, chunk: &[u8]) -> Result<u64> {
        let hash = self.checked(hash)?;
        let _one = self.stripe(hash);
        let path = self.partial_path(hash);
        let mut f = OpenOptions::new().create(true).append(true).open(&path)?;
        let held = f.metadata()?.len();
        if held != offset {
            return Err(Error::Conflict(format!(
                "the upload is at offset {held}, not {offset}"
            )));
        }
        f.write_all(chunk)?;
        // The offset answered is the offset kept: a crash after the reply loses nothing.
        f.sync_data()?;
        Ok(held + chunk.len() as u64)
    }

    fn finalize(&self, hash: &str) -> Result<()> {
        let hash = self.checked(hash)?;
        let _one = self.stripe(hash);
        let partial = self.partial_path(hash);
        let mut f = File::open(&partial)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        if hex::encode(hasher.finalize()) != hash {
            std::fs::remove_file(&partial)?;
            return Err(Error::Unprocessable(
                "the photo's bytes do not match its hash; upload it again".into(),
            ));
        }
        let path = self.complete_path(hash);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        // A rename is atomic: readers see the whole photo or none.
        std::fs::rename(&partial, &path)?;
        Ok(())
    }

    fn read(&self, hash: &str) -> Result<Option<Vec<u8>>> {
        let hash = self.checked(hash)?;
        match std::fs::read(self.complete_path(hash)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chunks_append_at_the_held_offset_and_the_hash_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = FsBlobStore::open(dir.path()).unwrap();
        let bytes: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let hash = hex::encode(Sha256::digest(&bytes));
        assert_eq!(blobs.offset(&hash).unwrap(), 0);
        assert_eq!(blobs.put_chunk(&hash, 0, &bytes[..60_000]).unwrap(), 60_000);
        assert!(matches!(
            blobs.put_chunk(&hash, 10, &bytes[10..20]),
            Err(Error::Conflict(_))
        ));
        assert_eq!(blobs.offset(&hash).unwrap(), 60_000);
        assert_eq!(
            blobs.put_chunk(&hash, 60_000, &bytes[60_000..]).unwrap(),
            100_000
        );
        assert!(!blobs.exists(&hash).unwrap());
        blobs.finalize(&hash).unwrap();
        assert!(blobs.exists(&hash).unwrap());
        assert_eq!(blobs.read(&hash).unwrap().unwrap(), bytes);
        assert_eq!(blobs.offset(&hash).unwrap(), 100_000);

        let wrong = hex::encode(Sha256::digest(b"something else"));
        blobs.put_chunk(&wrong, 0, &bytes[..10]).unwrap();
        assert!(matches!(
            blobs.finalize(&wrong),
            Err(Error::Unprocessable(_))
        ));
        assert_eq!(
            blobs.offset(&wrong).unwrap(),
            0,
            "a bad upload is discarded"
        );
        assert!(blobs.read(&wrong).unwrap().is_none());
        assert!(matches!(blobs.offset("../etc"), Err(Error::BadRequest(_))));
    }
}
