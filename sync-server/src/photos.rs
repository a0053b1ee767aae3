//! The photo endpoints, `/v1/photos/<sha256>`, as core's `photo_sync` client expects them.
//!
//! `HEAD` answers how many bytes the server holds in the `upload-offset` header (the photo's
//! size once complete, so a photo anyone already uploaded costs one small request). `PUT
//! ?offset=N&total=T` appends a chunk of at most 64 KiB at exactly the held offset (409
//! otherwise) and answers the new offset; the chunk that completes the photo has its SHA-256
//! checked (422 on a mismatch, the upload discarded). `GET` hands the bytes only to a device
//! that may read a record referencing the photo, according to the office replica's
//! `photo_refs` projection and the same access rules as documents.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;
use gridwalk_core::http::{OFFSET_HEADER, PHOTOS_PATH};
use gridwalk_core::photo_sync::CHUNK_BYTES;

use crate::audit::CallerSlot;
use crate::blobs::{BlobStore, MAX_PHOTO_BYTES, is_photo_hash};
use crate::error::{Error, Result};
use crate::hub::HubStore;
use crate::office::Office;
use crate::policy::{DocPlace, Principal, Role};
use crate::protocol;

#[derive(Clone)]
struct PhotoState {
    hub: Arc<dyn HubStore>,
    blobs: Arc<dyn BlobStore>,
    office: Arc<Office>,
}

/// The photo routes, ready to merge into the server's router.
pub fn router(hub: Arc<dyn HubStore>, blobs: Arc<dyn BlobStore>, office: Arc<Office>) -> Router {
    Router::new()
        .route(
            &format!("{PHOTOS_PATH}/{{hash}}"),
            get(get_photo).head(head_photo).put(put_chunk),
        )
        // A chunk plus room for nothing else: a larger body is refused before it is read.
        .layer(DefaultBodyLimit::max(CHUNK_BYTES))
        .with_state(PhotoState { hub, blobs, office })
}

/// Where a PUT's chunk goes: `?offset=N&total=T`.
#[derive(Debug, PartialEq, Eq)]
struct ChunkAt {
    offset: u64,
    total: u64,
}

impl ChunkAt {
    fn parse(query: Option<&str>) -> Result<ChunkAt> {
        let (mut offset, mut total) = (None, None);
        for pair in query.unwrap_or_default().split('&') {
            match pair.split_once('=') {
                Some(("offset", v)) => offset = v.parse().ok(),
                Some(("total", v)) => total = v.parse().ok(),
                _ => {}
            }
        }
        match (offset, total) {
            (Some(offset), Some(total)) => Ok(ChunkAt { offset, total }),
            _ => Err(Error::BadRequest(
                "a chunk needs ?offset=N&total=T in bytes".into(),
            )),
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("blocking task: {e}")))?
}

/// The enrolled, unrevoked device behind the request's bearer token (recorded as the caller
/// for the audit log, revoked or not).
fn device(hub: &dyn HubStore, headers: &HeaderMap, caller: &CallerSlot) -> Result<Principal> {
    let token = crate::server::bearer(headers)
        .ok_or_else(|| Error::Unauthorized("missing bearer credentials".into()))?;
    match hub.device_by_token(&protocol::token_hash(&token))? {
        Some((p, false)) => {
            caller.device(&p.device_id);
            Ok(p)
        }
        Some((p, true)) => {
            caller.device(&p.device_id);
            Err(Error::Unauthorized(
                "this device was revoked by the office".into(),
            ))
        }
        None => Err(Error::Unauthorized("unknown credentials".into())),
    }
}

fn checked(hash: &str) -> Result<()> {
    if is_photo_hash(hash) {
        Ok(())
    } else {
        Err(Error::BadRequest(
            "a photo is named by its SHA-256 in lowercase hex".into(),
        ))
    }
}

fn with_offset(offset: u64) -> [(HeaderName, HeaderValue); 1] {
    [(
        HeaderName::from_static(OFFSET_HEADER),
        HeaderValue::from(offset),
    )]
}

async fn head_photo(
    State(st): State<PhotoState>,
    caller: CallerSlot,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse> {
    checked(&hash)?;
    let offset = blocking(move || {
        device(st.hub.as_ref(), &headers, &caller)?;
        st.blobs.offset(&hash)
    })
    .await?;
    Ok(with_offset(offset))
}

async fn put_chunk(
    State(st): State<PhotoState>,
    caller: CallerSlot,
    Path(hash): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<impl IntoResponse> {
    checked(&hash)?;
    let at = ChunkAt::parse(query.as_deref())?;
    if at.total > MAX_PHOTO_BYTES {
        return Err(Error::TooLarge("the photo is too large".into()));
    }
    if at.offset.saturating_add(body.len() as u64) > at.total
        || (body.is_empty() && at.offset < at.total)
    {
        return Err(Error::BadRequest(
            "the chunk does not fit the photo's size".into(),
        ));
    }
    let offset = blocking(move || {
        let p = device(st.hub.as_ref(), &headers, &caller)?;
        // Someone already uploaded this photo: nothing to send.
        if st.blobs.exists(&hash)? {
            return st.blobs.offset(&hash);
        }
        let offset = st.blobs.put_chunk(&hash, at.offset, &body)?;
        if offset == at.total {
            st.blobs.finalize(&hash)?;
            tracing::info!(device = %p.device_id, bytes = offset, "photo stored");
        }
        Ok(offset)
    })
    .await?;
    Ok(with_offset(offset))
}

async fn get_photo(
    State(st): State<PhotoState>,
    caller: CallerSlot,
    Path(hash): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse> {
    checked(&hash)?;
    let bytes = blocking(move || {
        let p = device(st.hub.as_ref(), &headers, &caller)?;
        if p.role != Role::Office {
            let holders = st.office.store().docs_referencing_photo(&hash)?;
            let readable = holders.iter().any(|h| {
                p.can_read(DocPlace {
                    kind: &h.kind,
                    scope: &h.scope,
                    building_id: h.building_id.as_deref(),
                })
            });
            if !readable {
                return Err(Error::Forbidden(
                    "no record this device may read references this photo".into(),
                ));
            }
        }
        st.blobs
            .read(&hash)?
            .ok_or_else(|| Error::NotFound("the photo has not been uploaded yet".into()))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "image/jpeg")], bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_positions_parse_strictly() {
        assert_eq!(
            ChunkAt::parse(Some("offset=65536&total=300000")).ok(),
            Some(ChunkAt {
                offset: 65536,
                total: 300_000
            })
        );
        assert!(ChunkAt::parse(Some("offset=-1&total=3")).is_err());
        assert!(ChunkAt::parse(Some("total=3")).is_err());
        assert!(ChunkAt::parse(None).is_err());
    }
}
