//! End-of-day sync: the wire protocol and the device side, sans-IO.
//!
//! One round trip carries both directions: the device pushes every change, resident key and
//! tombstone the server has not acknowledged, and the cursor of the last server change it has
//! seen; the server stores the push durably, then answers with what the device's scope gained
//! since that cursor (never the device's own changes). The device marks its push uploaded and
//! applies the reply in one transaction. Any step can fail and be retried: the server keys changes
//! by hash and the device re-sends until acknowledged, so retries never duplicate and always
//! converge. Bodies are postcard, compressed with zstd, and capped before and after decompression.
//!
//! Transports wrap this: [`crate::http::HttpTransport`] for phones, in-process ones for the
//! office peer and the tests.

use std::future::Future;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::store::{Bundle, Store};

/// Wire protocol version; a server refuses versions it does not speak.
pub const PROTOCOL_VERSION: u16 = 1;
/// Largest compressed body either side accepts.
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// Largest body after decompression (a compression bomb stops here).
pub const MAX_DECODED_BYTES: usize = 64 << 20;
/// A push carries at most this many changes; the rest goes in the next round trip.
pub const MAX_PUSH_CHANGES: usize = 20_000;
/// Round trips before a sync gives up (a server that always says "more" cannot loop forever).
pub const MAX_ROUNDS: u32 = 64;

/// What the device sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncRequest {
    /// [`PROTOCOL_VERSION`].
    pub version: u16,
    /// Random per request; the reply echoes it, so a stale or misdelivered reply is never
    /// taken as the acknowledgement of this push.
    pub request_id: u64,
    /// Last server sequence number the device has applied.
    pub cursor: u64,
    /// Changes, keys and tombstones not yet acknowledged.
    pub push: Bundle,
}

/// What the server answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncReply {
    /// [`PROTOCOL_VERSION`].
    pub version: u16,
    /// The [`SyncRequest::request_id`] this answers.
    pub request_id: u64,
    /// The device's new cursor.
    pub cursor: u64,
    /// What the device's scope gained since its cursor.
    pub pull: Bundle,
    /// More is waiting beyond this reply: sync again.
    pub more: bool,
}

/// Encodes a message: postcard, then zstd at a fast level (the server's replies).
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>> {
    encode_at(msg, 3)
}

/// Encodes a message as small as zstd can (the phone's uploads): a day's body is a few kB, the
/// strongest level costs about a millisecond there, and every byte counts on 2G. Large bodies
/// (a first sync) fall back to a fast level.
pub fn encode_compact<T: Serialize>(msg: &T) -> Result<Vec<u8>> {
    let raw = postcard::to_stdvec(msg).map_err(|e| Error::Corrupt(format!("encode: {e}")))?;
    let level = if raw.len() < 256 * 1024 { 19 } else { 3 };
    zstd::bulk::compress(&raw, level).map_err(Error::Io)
}

fn encode_at<T: Serialize>(msg: &T, level: i32) -> Result<Vec<u8>> {
    let raw = postcard::to_stdvec(msg).map_err(|e| Error::Corrupt(format!("encode: {e}")))?;
    zstd::bulk::compress(&raw, level).map_err(Error::Io)
}

/// Decodes a message, refusing bodies over `MAX_BODY_BYTES` or inflating past
/// `MAX_DECODED_BYTES`, and anything that is not exactly one well-formed message.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::field("body", "too_long", "body too large"));
    }
    let mut raw = Vec::new();
    zstd::stream::read::Decoder::new(body)
        .map_err(|e| Error::field("body", "invalid", format!("not zstd: {e}")))?
        .take(MAX_DECODED_BYTES as u64 + 1)
        .read_to_end(&mut raw)
        .map_err(|e| Error::field("body", "invalid", format!("damaged body: {e}")))?;
    if raw.len() > MAX_DECODED_BYTES {
        return Err(Error::field(
            "body",
            "too_long",
            "body inflates past the limit",
        ));
    }
    let (msg, rest) = postcard::take_from_bytes::<T>(&raw)
        .map_err(|e| Error::field("body", "invalid", format!("malformed message: {e}")))?;
    if !rest.is_empty() {
        return Err(Error::field(
            "body",
            "invalid",
            "trailing bytes after the message",
        ));
    }
    Ok(msg)
}

/// Why a round trip failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The server answered with an error status.
    #[error("server answered {status}: {message}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The server's explanation.
        message: String,
    },
    /// The request did not get through (no network, timeout, TLS).
    #[error("network: {0}")]
    Network(String),
}

/// One request/response exchange with the server.
pub trait Transport {
    /// Sends `body` and returns the reply body.
    fn round_trip(&self, body: Vec<u8>) -> impl Future<Output = Result<Vec<u8>, TransportError>>;
}

/// Where a sync is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Enum))]
#[serde(rename_all = "snake_case")]
pub enum SyncPhase {
    /// Collecting what to send.
    Preparing,
    /// Waiting for the server.
    Exchanging,
    /// Applying what came back.
    Applying,
    /// Finished.
    Done,
}

/// Progress of a sync, reported after every step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncProgress {
    /// Phase.
    pub phase: SyncPhase,
    /// Round trip number (1-based).
    pub round: u32,
    /// Documents sent so far.
    pub documents_up: u32,
    /// Documents received so far.
    pub documents_down: u32,
    /// Bytes sent so far (compressed).
    pub bytes_up: u64,
    /// Bytes received so far (compressed).
    pub bytes_down: u64,
}

/// What a finished sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct SyncReport {
    /// Round trips made.
    pub round_trips: u32,
    /// Changes the server acknowledged.
    pub changes_up: u32,
    /// New changes applied here.
    pub changes_down: u32,
    /// Bytes sent (compressed).
    pub bytes_up: u64,
    /// Bytes received (compressed).
    pub bytes_down: u64,
    /// Everything local is now acknowledged.
    pub everything_uploaded: bool,
}

/// Receives progress reports (from whichever thread runs the sync).
pub trait ProgressSink: Send + Sync {
    /// Called after each step; must return quickly.
    fn on_progress(&self, progress: SyncProgress);
}

impl<F: Fn(SyncProgress) + Send + Sync> ProgressSink for F {
    fn on_progress(&self, progress: SyncProgress) {
        self(progress)
    }
}

/// Failure of a whole sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The exchange failed; nothing local was marked uploaded. Retry later.
    #[error(transparent)]
    Transport(TransportError),
    /// The office revoked this device: the app must wipe the store ([`Store::wipe`]) and
    /// destroy its key.
    #[error("this device was revoked by the office")]
    Revoked,
    /// The store failed, or the reply was malformed.
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<TransportError> for SyncError {
    /// A 401 that says "revoked" is the office's revocation, on any endpoint (documents or
    /// photos); everything else is a transport failure to retry.
    fn from(e: TransportError) -> Self {
        match e {
            TransportError::Status {
                status: 401,
                message,
            } if message.contains("revoked") => SyncError::Revoked,
            e => SyncError::Transport(e),
        }
    }
}

/// Syncs `store` through `transport` until both sides are up to date.
/// `cancel` is checked between steps; a cancelled sync leaves the store consistent and is
/// simply resumed by the next one.
pub async fn sync<T: Transport>(
    store: &Store,
    transport: &T,
    progress: &dyn ProgressSink,
    cancel: &AtomicBool,
) -> Result<SyncReport, SyncError> {
    let mut p = SyncProgress {
        phase: SyncPhase::Preparing,
        round: 0,
        documents_up: 0,
        documents_down: 0,
        bytes_up: 0,
        bytes_down: 0,
    };
    let mut report = SyncReport {
        round_trips: 0,
        changes_up: 0,
        changes_down: 0,
        bytes_up: 0,
        bytes_down: 0,
        everything_uploaded: false,
    };
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(Error::Interrupted.into());
        }
        p.round += 1;
        p.phase = SyncPhase::Preparing;
        progress.on_progress(p);
        let (request, outbox) = store.sync_request(MAX_PUSH_CHANGES)?;
        let body = encode_compact(&request)?;
        p.phase = SyncPhase::Exchanging;
        p.documents_up += request.push.docs.len() as u32;
        p.bytes_up += body.len() as u64;
        progress.on_progress(p);
        let reply_body = transport.round_trip(body).await?;
        p.bytes_down += reply_body.len() as u64;
        if cancel.load(Ordering::Relaxed) {
            // The server has the push; the device will re-send it next time (idempotent).
            return Err(Error::Interrupted.into());
        }
        let reply: SyncReply = decode(&reply_body)?;
        if reply.version != PROTOCOL_VERSION {
            return Err(Error::Corrupt(format!("server speaks protocol {}", reply.version)).into());
        }
        if reply.request_id != request.request_id {
            return Err(
                TransportError::Network("reply does not answer this request".into()).into(),
            );
        }
        p.phase = SyncPhase::Applying;
        p.documents_down += reply.pull.docs.len() as u32;
        progress.on_progress(p);
        let applied = store.sync_commit(&outbox, &reply)?;
        report.round_trips += 1;
        report.changes_up += outbox.changes() as u32;
        report.changes_down += applied as u32;
        let more_to_push = outbox.is_full();
        if !reply.more && !more_to_push {
            break;
        }
        if report.round_trips >= MAX_ROUNDS {
            return Err(
                Error::Corrupt("sync did not finish within the round-trip limit".into()).into(),
            );
        }
    }
    report.bytes_up = p.bytes_up;
    report.bytes_down = p.bytes_down;
    report.everything_uploaded = store.everything_uploaded()?;
    // The evening sync is the natural moment to fold the day's changes into snapshots.
    store.compact()?;
    p.phase = SyncPhase::Done;
    progress.on_progress(p);
    Ok(report)
}

/// The local rows a request carries, to mark uploaded once the server acknowledges them.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    pub(crate) change_seqs: Vec<i64>,
    pub(crate) key_ids: Vec<String>,
    pub(crate) tombstone_ids: Vec<String>,
    pub(crate) access_seqs: Vec<i64>,
    pub(crate) full: bool,
}

impl Outbox {
    /// Changes in this outbox.
    pub fn changes(&self) -> usize {
        self.change_seqs.len()
    }

    /// True when the outbox was cut at the batch limit (more to push).
    pub fn is_full(&self) -> bool {
        self.full
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn request() -> SyncRequest {
        SyncRequest {
            version: PROTOCOL_VERSION,
            request_id: 42,
            cursor: 7,
            push: Bundle::default(),
        }
    }

    #[test]
    fn a_message_round_trips() {
        let body = encode(&request()).unwrap();
        assert_eq!(decode::<SyncRequest>(&body).unwrap(), request());
    }

    #[test]
    fn truncated_flipped_and_trailing_bodies_are_errors_not_panics() {
        let body = encode(&request()).unwrap();
        for n in 0..body.len() {
            let _ = decode::<SyncRequest>(&body[..n]);
        }
        for i in 0..body.len() {
            let mut bad = body.clone();
            bad[i] ^= 0xA5;
            let _ = decode::<SyncRequest>(&bad);
        }
        let mut raw = postcard::to_stdvec(&request()).unwrap();
        raw.push(0);
        let trailing = zstd::bulk::compress(&raw, 3).unwrap();
        assert!(decode::<SyncRequest>(&trailing).is_err());
        assert!(decode::<SyncRequest>(b"not zstd at all").is_err());
    }

    #[test]
    fn a_compression_bomb_stops_at_the_limit() {
        let zeros = vec![0u8; MAX_DECODED_BYTES + 4096];
        let bomb = zstd::bulk::compress(&zeros, 19).unwrap();
        assert!(bomb.len() < 64 * 1024, "the bomb is small: {}", bomb.len());
        match decode::<SyncRequest>(&bomb) {
            Err(Error::Invalid(e)) => assert_eq!(e[0].code, "too_long"),
            other => panic!("expected too_long, got {other:?}"),
        }
    }
}
