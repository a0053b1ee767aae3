//! gridwalk-server: the community office's sync server.
//!
//! Phones enrol with a one-time code and sync over HTTPS ([`server`]); the server checks every
//! byte and every document against the device's role and scope ([`protocol`], [`policy`]) and
//! keeps everything in its hub ([`hub`]: embedded SQLite, or PostgreSQL for a city). The server is
//! also a peer: its office replica ([`office`]) is an ordinary core store synced with the hub in
//! process, which the office console reads. Every HTTP request leaves one line in the request
//! audit log ([`audit`]). [`demo`] runs a whole offline day against it.

pub mod audit;
pub mod blobs;
pub mod console;
pub mod demo;
pub mod error;
pub mod hub;
pub mod office;
pub mod photos;
pub mod policy;
pub mod protocol;
pub mod server;

pub use error::{Error, Result};
pub use server::{Config, Server, TlsFiles, start};
