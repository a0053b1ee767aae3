//! Residents' personal fields, sealed under per-resident keys.
//!
//! Automerge keeps every value ever written, so deleting a resident from the document would not
//! delete their ID number from its history. Instead each personal field is stored in the document
//! as ciphertext under a random key that belongs to that one resident; the key lives outside the
//! CRDT (table `resident_keys`) and travels by its own sync channel. Deleting a resident destroys
//! the key on every replica, which turns every copy of the ciphertext — in history, snapshots and
//! backups — into noise ("crypto-shredding").
//!
//! Values are sealed with XChaCha20-Poly1305; the associated data binds each ciphertext to its
//! resident and field, so a value cannot be moved to another resident or field unnoticed.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::error::{Error, Result};

/// Bytes in a per-resident key.
pub const RESIDENT_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;
/// Format byte in front of every sealed value, so the format can change later.
const SEALED_V1: u8 = 1;

/// A per-resident key.
#[derive(Clone)]
pub struct ResidentKey([u8; RESIDENT_KEY_LEN]);

impl std::fmt::Debug for ResidentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResidentKey(…)")
    }
}

impl ResidentKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        let mut k = [0u8; RESIDENT_KEY_LEN];
        random_bytes(&mut k)?;
        Ok(ResidentKey(k))
    }

    /// A key read back from the store or the wire.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        let k: [u8; RESIDENT_KEY_LEN] = bytes
            .try_into()
            .map_err(|_| Error::Corrupt("resident key has the wrong length".into()))?;
        Ok(ResidentKey(k))
    }

    /// The raw key bytes (to store or send).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Seals `plaintext` as the value of `field` of `resident_id`.
    pub fn seal(&self, resident_id: &str, field: &str, plaintext: &str) -> Result<Vec<u8>> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce)?;
        let aad = associated_data(resident_id, field);
        let ct = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Corrupt("encryption failed".into()))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
        out.push(SEALED_V1);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a value sealed by [`ResidentKey::seal`] for the same resident and field.
    pub fn open(&self, resident_id: &str, field: &str, sealed: &[u8]) -> Result<String> {
        let (version, rest) = sealed
            .split_first()
            .ok_or_else(|| Error::Corrupt("empty sealed value".into()))?;
        if *version != SEALED_V1 || rest.len() < NONCE_LEN {
            return Err(Error::Corrupt("unknown sealed value format".into()));
        }
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let aad = associated_data(resident_id, field);
        let pt = cipher
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| Error::Corrupt(format!("sealed {field} does not verify")))?;
        String::from_utf8(pt).map_err(|_| Error::Corrupt(format!("sealed {field} is not text")))
    }
}

fn associated_data(resident_id: &str, field: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(resident_id.len() + field.len() + 1);
    aad.extend_from_slice(resident_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(field.as_bytes());
    aad
}

/// Fills `buf` from the operating system's random source.
pub(crate) fn random_bytes(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::Io(std::io::Error::other(e.to_string())))
}

/// A new random record id (128 bits, lowercase hex).
pub fn new_id() -> Result<String> {
    let mut b = [0u8; 16];
    random_bytes(&mut b)?;
    Ok(hex::encode(b))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_for_its_resident_and_field() {
        let k = ResidentKey::generate().unwrap();
        let sealed = k.seal("r1", "phone", "13800138000").unwrap();
        assert_eq!(k.open("r1", "phone", &sealed).unwrap(), "13800138000");
        assert!(k.open("r2", "phone", &sealed).is_err());
        assert!(k.open("r1", "id_number", &sealed).is_err());
        let other = ResidentKey::generate().unwrap();
        assert!(other.open("r1", "phone", &sealed).is_err());
    }

    #[test]
    fn sealed_bytes_do_not_contain_the_plaintext() {
        let k = ResidentKey::generate().unwrap();
        let sealed = k.seal("r1", "name", "CANARY-NAME-123").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"CANARY"));
    }

    #[test]
    fn truncated_or_flipped_ciphertext_is_an_error_not_a_panic() {
        let k = ResidentKey::generate().unwrap();
        let mut sealed = k.seal("r1", "name", "张三").unwrap();
        for n in 0..sealed.len() {
            assert!(k.open("r1", "name", &sealed[..n]).is_err());
        }
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(k.open("r1", "name", &sealed).is_err());
    }
}
