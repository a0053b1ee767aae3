//! Transport wrappers for tests and benchmarks: a faulty network and a simulated slow link.
//!
//! [`FaultyTransport`] drops requests or responses, duplicates requests, delays them, truncates
//! or corrupts responses, and replays stale responses (the "reordered" delivery a device can see
//! when an old reply arrives late). Every fault is one the real network can produce; the sync
//! protocol must converge through all of them. [`SimulatedLink`] counts the time a sync would take
//! over a given bandwidth and round-trip time without sleeping.

use std::sync::Mutex;
use std::time::Duration;

use crate::demo::Rng;
use crate::sync::{Transport, TransportError};

/// How often each fault happens (probabilities per round trip, 0–1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultPlan {
    /// The request never reaches the server.
    pub drop_request: f64,
    /// The server handles the request but the response is lost.
    pub drop_response: f64,
    /// The request reaches the server twice (a retrying proxy).
    pub duplicate_request: f64,
    /// The response arrives cut short.
    pub truncate_response: f64,
    /// A byte of the response is damaged.
    pub corrupt_response: f64,
    /// An older response is delivered instead of this one.
    pub replay_stale_response: f64,
    /// Extra delay per round trip, up to this many milliseconds.
    pub max_delay_ms: u64,
}

impl FaultPlan {
    /// A network that loses or mangles about a third of the round trips.
    pub fn hostile() -> Self {
        FaultPlan {
            drop_request: 0.08,
            drop_response: 0.08,
            duplicate_request: 0.08,
            truncate_response: 0.05,
            corrupt_response: 0.05,
            replay_stale_response: 0.05,
            max_delay_ms: 3,
        }
    }
}

/// What the faulty transport did, for the test to report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Round trips attempted.
    pub attempts: u32,
    /// Faults injected.
    pub faults: u32,
}

/// Wraps a transport and injects faults by a seeded plan.
pub struct FaultyTransport<T> {
    inner: T,
    plan: FaultPlan,
    state: Mutex<(Rng, Vec<Vec<u8>>, FaultCounts)>,
}

impl<T: Transport> FaultyTransport<T> {
    /// Wraps `inner`; `seed` makes the faults repeatable.
    pub fn new(inner: T, plan: FaultPlan, seed: u64) -> Self {
        FaultyTransport {
            inner,
            plan,
            state: Mutex::new((Rng::new(seed), Vec::new(), FaultCounts::default())),
        }
    }

    /// The wrapped transport.
    pub fn inner(&self) -> &T {
        &self.inner
    }

    /// Unwraps the transport (the network heals).
    pub fn into_inner(self) -> T {
        self.inner
    }

    /// Counts so far.
    pub fn counts(&self) -> FaultCounts {
        self.state.lock().map(|s| s.2).unwrap_or_default()
    }

    fn roll(&self, p: f64) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let hit = s.0.chance(p);
        if hit {
            s.2.faults += 1;
        }
        hit
    }
}

impl<T: Transport> Transport for FaultyTransport<T> {
    async fn round_trip(&self, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let delay = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            s.2.attempts += 1;
            s.0.below(self.plan.max_delay_ms + 1)
        };
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        if self.roll(self.plan.drop_request) {
            return Err(TransportError::Network("injected: request lost".into()));
        }
        if self.roll(self.plan.duplicate_request) {
            let _ = self.inner.round_trip(body.clone()).await;
        }
        let reply = self.inner.round_trip(body).await?;
        let stale = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            let stale = if s.1.is_empty() {
                None
            } else {
                let n = s.1.len() as u64;
                let i = s.0.below(n) as usize;
                Some(s.1[i].clone())
            };
            s.1.push(reply.clone());
            if s.1.len() > 8 {
                s.1.remove(0);
            }
            stale
        };
        if self.roll(self.plan.drop_response) {
            return Err(TransportError::Network("injected: response lost".into()));
        }
        if let Some(old) = stale
            && self.roll(self.plan.replay_stale_response)
        {
            return Ok(old);
        }
        if self.roll(self.plan.truncate_response) {
            let cut = reply.len() / 2;
            return Ok(reply[..cut].to_vec());
        }
        if self.roll(self.plan.corrupt_response) && !reply.is_empty() {
            let mut bad = reply;
            let i = bad.len() / 3;
            bad[i] ^= 0x5A;
            return Ok(bad);
        }
        Ok(reply)
    }
}

/// Counts what a link of `bits_per_sec` and `rtt` would take for the traffic through it.
pub struct SimulatedLink<T> {
    inner: T,
    bits_per_sec: f64,
    rtt: Duration,
    elapsed: Mutex<Duration>,
}

impl<T: Transport> SimulatedLink<T> {
    /// E.g. 2G/EDGE: `SimulatedLink::new(t, 100_000.0, Duration::from_millis(500))`.
    pub fn new(inner: T, bits_per_sec: f64, rtt: Duration) -> Self {
        SimulatedLink {
            inner,
            bits_per_sec,
            rtt,
            elapsed: Mutex::new(Duration::ZERO),
        }
    }

    /// Simulated time spent on the link so far (round trips plus transfer time).
    pub fn elapsed(&self) -> Duration {
        self.elapsed.lock().map(|d| *d).unwrap_or_default()
    }
}

impl<T: Transport> Transport for SimulatedLink<T> {
    async fn round_trip(&self, body: Vec<u8>) -> Result<Vec<u8>, TransportError> {
        let up = body.len();
        let reply = self.inner.round_trip(body).await?;
        // TCP+TLS connection reuse is assumed; each exchange costs one RTT plus both payloads
        // at the link rate (plus ~400 bytes of HTTP headers each way).
        let bits = ((up + reply.len() + 800) * 8) as f64;
        let t = self.rtt + Duration::from_secs_f64(bits / self.bits_per_sec);
        if let Ok(mut e) = self.elapsed.lock() {
            *e += t;
        }
        Ok(reply)
    }
}
