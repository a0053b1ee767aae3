//! The phone's HTTPS transport for sync (reqwest on rustls) and enrolment.
//!
//! The core has no async runtime of its own: these futures run on the caller's (the bindings
//! drive them on tokio; tests use `#[tokio::test]`).

use serde::{Deserialize, Serialize};

use crate::sync::{Transport, TransportError};

/// Path of the sync endpoint.
pub const SYNC_PATH: &str = "/v1/sync";
/// Path of the enrolment endpoint.
pub const ENROL_PATH: &str = "/v1/enrol";

/// What a device sends to trade its one-time enrolment code for a credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// The code the office gave (shown as text and QR).
    pub code: String,
    /// The device's id ([`crate::Store::device_id`]).
    pub device_id: String,
    /// The actor id the device writes with ([`crate::Store::actor_id`]); the server binds it.
    pub actor_id: String,
}

/// The credential and what it allows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "uniffi", derive(uniffi::Record))]
pub struct Enrolment {
    /// Bearer token for every later request (keep it in the keystore).
    pub token: String,
    /// Person the device belongs to.
    pub person_id: String,
    /// Role: `grid_worker`, `grid_leader`, `building_lead` or `office`.
    pub role: String,
    /// Scope ids: grids, or buildings for a building lead.
    pub scope: Vec<String>,
}

fn client(ca_pem: Option<&[u8]>) -> Result<reqwest::Client, TransportError> {
    // One process-wide crypto provider; a second install is refused harmlessly.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(20))
        .timeout(std::time::Duration::from_secs(300));
    if let Some(pem) = ca_pem {
        let cert = reqwest::Certificate::from_pem(pem)
            .map_err(|e| TransportError::Network(format!("office certificate: {e}")))?;
        b = b.tls_certs_merge([cert]);
    }
    b.build()
        .map_err(|e| TransportError::Network(e.to_string()))
}

async fn check(resp: reqwest::Response) -> Result<Vec<u8>, TransportError> {
    let status = resp.status();
    let body = resp
        .bytes()
        .await
        .map_err(|e| TransportError::Network(e.to_string()))?;
    if status.is_success() {
        Ok(body.to_vec())
    } else {
        Err(TransportError::Status {
            status: status.as_u16(),
            message: String::from_utf8_lossy(&body).chars().take(500).collect(),
        })
    }
}

/// Trades an enrolment code for a credential at `base_url` (e.g. `https://office.example:7878`).
pub async fn enrol(
    base_url: &str,
    ca_pem: Option<&[u8]>,
    request: &EnrolRequest,
) -> Result<Enrolment, TransportError> {
    let body = serde_json::to_vec(request).map_err(|e| TransportError::Network(e.to_string()))?;
    let resp = client(ca_pem)?
        .post(format!("{}{ENROL_PATH}", base_url.trim_end_matches('/')))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| TransportError::Network(e.to_string()))?;
    let bytes = check(resp).await?;
    serde_json::from_slice(&bytes)
        .map_err(|e| TransportError::Network(format!("bad enrolment reply: {e}")))
}

/// Path prefix of the photo endpoints (`/v1/photos/<sha256>`).
pub const PHOTOS_PATH: &str = "/v1/photos";
/// Response header carrying a photo upload's offset.
pub const OFFSET_HEADER: &str = "upload-offset";

/// Sync over HTTPS (or HTTP on loopback for tests) with a bearer credential.
pub struct HttpTransport {
    client: reqwest::Client,
    base: String,
    url: String,
    token: String,
}

impl HttpTransport {
    /// A transport to `base_url`, trusting `ca_pem` in addition to the system roots.
    pub fn new(base_url: &str, token: &str, ca_pem: Option<&[u8]>) -> Result<Self, TransportError> {
        let base = base_url.trim_end_matches('/').to_string();
        Ok(HttpTransport {
            client: client(ca_pem)?,
            url: format!("{base}{SYNC_PATH}"),
            base,
            token: token.to_string(),
        })
    }
}

impl HttpTransport {
    /// The bearer credential this transport sends.
    pub fn token(&self) -> &str {
        &self.token
    }
}

impl Transport for HttpTransport {
    async fn round_trip(&self, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let resp = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("content-type", "application/x-gridwalk-sync")
            .body(body)
            .send()
            .await
            .map_err(|e| TransportError::Network(e.to_string()))?;
        check(resp).await
    }
}

fn offset_of(resp: &reqwest::Response) -> Result<u64, TransportError> {
    resp.headers()
        .get(OFFSET_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| TransportError::Network("reply without an upload offset".into()))
}

impl crate::photo_sync::PhotoTransport for HttpTransport {
    async fn photo_offset(&self, hash: &str) -> Result<u64, TransportError> {
        let resp = self
            .client
            .head(format!("{}{PHOTOS_PATH}/{hash}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| TransportError::Network(e.to_string()))?;
        if !resp.status().is_success() {
            // A HEAD reply has no body: the reason, if any, is in the bearer challenge.
            let message = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            return Err(TransportError::Status {
                status: resp.status().as_u16(),
                message,
            });
        }
        offset_of(&resp)
    }

    async fn photo_put(
        &self,
        hash: &str,
        offset: u64,
        total: u64,
        chunk: Vec<u8>,
    ) -> Result<u64, TransportError> {
        let resp = self
            .client
            .put(format!(
                "{}{PHOTOS_PATH}/{hash}?offset={offset}&total={total}",
                self.base
            ))
            .bearer_auth(&self.token)
            .header("content-type", "application/octet-stream")
            .body(chunk)
            .send()
            .await
            .map_err(|e| TransportError::Network(e.to_string()))?;
        if !resp.status().is_success() {
            let status = resp.status().as_u16();
            let message = resp.text().await.unwrap_or_default();
            return Err(TransportError::Status { status, message });
        }
        offset_of(&resp)
    }

    async fn photo_get(&self, hash: &str) -> Result<Vec<u8>, TransportError> {
        let resp = self
            .client
            .get(format!("{}{PHOTOS_PATH}/{hash}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| TransportError::Network(e.to_string()))?;
        check(resp).await
    }
}
