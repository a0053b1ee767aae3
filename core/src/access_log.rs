//! The access trail: every reveal of a resident's full personal value, hash-chained.
//!
//! Each entry's hash covers the previous entry's hash and all of its own fields, so editing,
//! dropping or reordering any entry breaks the chain from that point on ([`verify`]).

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::model::AccessEntry;

const GENESIS: [u8; 32] = [0; 32];

fn entry_hash(prev: &[u8], e: &AccessEntry, device_id: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(e.seq.to_be_bytes());
    h.update(e.at_ms.to_be_bytes());
    for s in [
        e.person_id.as_str(),
        device_id,
        &e.resident_id,
        &e.field,
        &e.purpose,
    ] {
        // Length-prefixed, so ("ab","c") and ("a","bc") hash differently.
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    }
    h.finalize().to_vec()
}

/// Appends an entry to the chain.
pub(crate) fn append(
    conn: &Connection,
    device_id: &str,
    at_ms: i64,
    person_id: &str,
    resident_id: &str,
    field: &str,
    purpose: &str,
) -> Result<AccessEntry> {
    let last: Option<(i64, Vec<u8>)> = conn
        .query_row(
            "SELECT seq, hash FROM access_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let (seq, prev) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS.to_vec()),
    };
    let e = AccessEntry {
        seq,
        at_ms,
        person_id: person_id.to_string(),
        resident_id: resident_id.to_string(),
        field: field.to_string(),
        purpose: purpose.to_string(),
    };
    let hash = entry_hash(&prev, &e, device_id);
    conn.execute(
        "INSERT INTO access_log (seq, at, person_id, device_id, resident_id, field, purpose, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![e.seq, e.at_ms, e.person_id, device_id, e.resident_id, e.field, e.purpose, prev, hash],
    )?;
    // The head is kept apart from the rows so that dropping the newest entries is detected too.
    let mut head = e.seq.to_be_bytes().to_vec();
    head.extend_from_slice(&hash);
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('access_log_head', ?1)",
        [head],
    )?;
    Ok(e)
}

/// Every entry, oldest first.
pub(crate) fn entries(conn: &Connection) -> Result<Vec<AccessEntry>> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, person_id, resident_id, field, purpose FROM access_log ORDER BY seq",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(AccessEntry {
            seq: r.get(0)?,
            at_ms: r.get(1)?,
            person_id: r.get(2)?,
            resident_id: r.get(3)?,
            field: r.get(4)?,
            purpose: r.get(5)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// Walks the chain; returns the number of entries, or the first entry that does not verify.
pub(crate) fn verify(conn: &Connection) -> Result<usize> {
    let mut stmt = conn.prepare(
        "SELECT seq, at, person_id, device_id, resident_id, field, purpose, prev_hash, hash
         FROM access_log ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut prev = GENESIS.to_vec();
    let mut expected_seq = 1;
    let mut n = 0;
    while let Some(r) = rows.next()? {
        let e = AccessEntry {
            seq: r.get(0)?,
            at_ms: r.get(1)?,
            person_id: r.get(2)?,
            resident_id: r.get(4)?,
            field: r.get(5)?,
            purpose: r.get(6)?,
        };
        let device_id: String = r.get(3)?;
        let stored_prev: Vec<u8> = r.get(7)?;
        let stored_hash: Vec<u8> = r.get(8)?;
        if e.seq != expected_seq
            || stored_prev != prev
            || stored_hash != entry_hash(&prev, &e, &device_id)
        {
            return Err(Error::TamperedLog(e.seq));
        }
        prev = stored_hash;
        expected_seq += 1;
        n += 1;
    }
    let head: Option<Vec<u8>> = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'access_log_head'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    let mut expected_head = (expected_seq - 1).to_be_bytes().to_vec();
    expected_head.extend_from_slice(&prev);
    match head {
        None if n == 0 => Ok(0),
        Some(h) if h == expected_head => Ok(n),
        _ => Err(Error::TamperedLog(expected_seq)),
    }
}
