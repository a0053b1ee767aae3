//! A push on PostgreSQL: reads outside any transaction, then one round trip that takes the
//! sequence lock, writes and commits.
//!
//! Reads before [`HubTx::lock_sequence`] are single statements outside any transaction: each
//! sees what was committed when it ran, and none takes a lock. The lock opens the transaction:
//! `BEGIN` and the counter's `SELECT … FOR UPDATE` are queued, and so is every write, each one
//! statement that numbers its rows from the counter it reads (after the lock, so it sees every
//! earlier push) and moves the counter on. The queue goes out with the next read (a push with
//! keys reads them again under the lock) or with `COMMIT`, pipelined: the server runs the
//! statements in the order sent while the client waits once, so a day's push holds the lock for
//! the inserts and the commit, not for round trips.
//!
//! Since nothing is read again under the lock, a document or change that another push stored
//! after this one looked makes an insert fail with a unique violation; the transaction is then
//! rolled back and the push runs again from the start, and this time sees that row. After
//! [`OPTIMISTIC_ATTEMPTS`] such races a push takes the lock before its first read, as every push
//! once did, and cannot race again.

use std::collections::HashMap;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Row, Statement};

use super::{Conn, is_unique_violation, prep, wait};
use crate::error::{Error, Result};
use crate::hub::{DocRow, HubTx, KeyRow, NewChange};
use gridwalk_core::replication::{AccessRecord, KeyRecord, Tombstone};

/// Attempts that read before taking the lock; the last attempt locks first.
pub(super) const OPTIMISTIC_ATTEMPTS: usize = 3;

/// The parameters of a queued statement, owned until it is sent.
type Params = Vec<Box<dyn ToSql + Sync + Send>>;

fn param<T: ToSql + Sync + Send + 'static>(v: T) -> Box<dyn ToSql + Sync + Send> {
    Box::new(v)
}

fn strings<'s>(v: impl Iterator<Item = &'s str>) -> Box<dyn ToSql + Sync + Send> {
    param(v.map(str::to_string).collect::<Vec<String>>())
}

fn blobs<'s>(v: impl Iterator<Item = &'s [u8]>) -> Box<dyn ToSql + Sync + Send> {
    param(v.map(<[u8]>::to_vec).collect::<Vec<Vec<u8>>>())
}

/// One attempt at a push on one connection.
struct PgTx<'a> {
    client: &'a Client,
    stmts: &'a mut HashMap<&'static str, Statement>,
    /// Statements not sent yet, in order: `BEGIN`, the counter's lock and the writes.
    queued: Vec<(Statement, Params)>,
    /// The lock is taken or queued (and with it the transaction begun).
    locked: bool,
    /// `BEGIN` went out and no `COMMIT` or `ROLLBACK` after it.
    open: bool,
    /// A statement failed with a unique violation: another push stored a row this one decided
    /// to add.
    raced: bool,
}

impl<'a> PgTx<'a> {
    fn new(c: &'a mut Conn) -> PgTx<'a> {
        PgTx {
            client: &c.client,
            stmts: &mut c.stmts,
            queued: Vec::new(),
            locked: false,
            open: false,
            raced: false,
        }
    }

    fn queue(&mut self, sql: &'static str, params: Params) -> Result<()> {
        let s = prep(self.client, self.stmts, sql)?;
        self.queued.push((s, params));
        Ok(())
    }

    /// Sends the queued statements and then `sql`, all at once; returns `sql`'s rows.
    fn round_trip(&mut self, sql: &'static str, params: Params) -> Result<Vec<Row>> {
        self.queue(sql, params)?;
        let batch = std::mem::take(&mut self.queued);
        // Once locked, `BEGIN` went out with the first batch.
        self.open |= self.locked;
        let args: Vec<Vec<&(dyn ToSql + Sync)>> = batch
            .iter()
            .map(|(_, p)| p.iter().map(|b| &**b as &(dyn ToSql + Sync)).collect())
            .collect();
        let mut calls: Vec<_> = batch
            .iter()
            .zip(&args)
            .map(|((s, _), a)| Box::pin(self.client.query(s, a)))
            .collect();
        // A client future sends its request when first polled, and the server runs requests in
        // the order they arrive: polling every future once puts the whole batch on the wire.
        let mut cx = Context::from_waker(Waker::noop());
        let mut early: Vec<Option<_>> = calls
            .iter_mut()
            .map(|f| match Pin::as_mut(f).poll(&mut cx) {
                Poll::Ready(r) => Some(r),
                Poll::Pending => None,
            })
            .collect();
        let mut last = Vec::new();
        let mut failed = None;
        for (f, done) in calls.into_iter().zip(early.iter_mut()) {
            let r = match done.take() {
                Some(r) => r,
                None => wait(f),
            };
            match r {
                Ok(rows) => last = rows,
                // The first failure is the cause; the statements after it fail only because
                // the transaction is aborted.
                Err(e) if failed.is_none() => failed = Some(e),
                Err(_) => {}
            }
        }
        match failed {
            None => Ok(last),
            Some(e) => {
                self.raced |= is_unique_violation(&e);
                Err(e.into())
            }
        }
    }

    /// Commits: the queued statements and `COMMIT` in one round trip. A push that never took
    /// the lock wrote nothing and has no transaction to end.
    fn commit(&mut self) -> Result<()> {
        if !self.locked {
            return Ok(());
        }
        // Acknowledged only once committed (synchronous_commit stays on: durable on reply).
        let out = self.round_trip("COMMIT", Vec::new());
        // After COMMIT the transaction is over, committed or (when a statement before it
        // failed) rolled back.
        self.open = false;
        out.map(|_| ())
    }

    /// Ends a failed attempt's transaction, if it is still open.
    fn roll_back(&mut self) {
        if self.open {
            // A failure here means the connection broke; the pool does not keep it.
            let _ = wait(self.client.batch_execute("ROLLBACK"));
            self.open = false;
        }
    }
}

/// Runs `f` as one push on `c`, again when it raced with another push (see the module docs).
pub(super) fn push(c: &mut Conn, f: &mut dyn FnMut(&mut dyn HubTx) -> Result<()>) -> Result<()> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut t = PgTx::new(c);
        let last = attempt > OPTIMISTIC_ATTEMPTS;
        let out = (|| {
            if last {
                t.lock_sequence()?;
            }
            f(&mut t)?;
            t.commit()
        })();
        match out {
            Ok(()) => return Ok(()),
            Err(e) => {
                t.roll_back();
                if !t.raced || last {
                    return Err(e);
                }
                tracing::debug!(attempt, "a push raced with another and runs again");
            }
        }
    }
}

fn hash32(bytes: Vec<u8>) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| Error::Internal("a stored change hash is not 32 bytes".into()))
}

impl PgTx<'_> {
    /// Writing without the counter's lock is a bug.
    fn check_locked(&self) -> Result<()> {
        if self.locked {
            Ok(())
        } else {
            Err(Error::Internal(
                "a push wrote before taking the sequence lock".into(),
            ))
        }
    }
}

impl HubTx for PgTx<'_> {
    fn docs(&mut self, ids: &[&str]) -> Result<Vec<DocRow>> {
        let rows = self.round_trip(
            "SELECT id, kind, scope, building_id FROM docs WHERE id = ANY($1)",
            vec![strings(ids.iter().copied())],
        )?;
        rows.iter()
            .map(|r| {
                Ok(DocRow {
                    id: r.try_get(0)?,
                    kind: r.try_get(1)?,
                    scope: r.try_get(2)?,
                    building_id: r.try_get(3)?,
                })
            })
            .collect()
    }

    fn change_docs(&mut self, hashes: &[[u8; 32]]) -> Result<Vec<([u8; 32], String)>> {
        let rows = self.round_trip(
            "SELECT hash, doc_id FROM changes WHERE hash = ANY($1)",
            vec![blobs(hashes.iter().map(|h| &h[..]))],
        )?;
        rows.iter()
            .map(|r| Ok((hash32(r.try_get(0)?)?, r.try_get(1)?)))
            .collect()
    }

    fn keys(&mut self, resident_ids: &[&str]) -> Result<Vec<(String, KeyRow)>> {
        let rows = self.round_trip(
            "SELECT resident_id, household_id, key FROM resident_keys
             WHERE resident_id = ANY($1)",
            vec![strings(resident_ids.iter().copied())],
        )?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    KeyRow {
                        household_id: r.try_get(1)?,
                        key: r.try_get(2)?,
                    },
                ))
            })
            .collect()
    }

    fn tombstoned(&mut self, resident_ids: &[&str]) -> Result<Vec<String>> {
        let rows = self.round_trip(
            "SELECT resident_id FROM tombstones WHERE resident_id = ANY($1)",
            vec![strings(resident_ids.iter().copied())],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }

    fn lock_sequence(&mut self) -> Result<()> {
        if self.locked {
            return Ok(());
        }
        // Queued, sent with the next statement: the row lock is held until commit (see the hub's
        // module docs), and every statement after it sees all that earlier pushes committed.
        // READ COMMITTED whatever the server's default: each statement after the lock must see
        // what the pushes before committed (a REPEATABLE READ snapshot would predate them).
        self.queue("BEGIN ISOLATION LEVEL READ COMMITTED", Vec::new())?;
        self.queue(
            "SELECT seq FROM counter WHERE id = 0 FOR UPDATE",
            Vec::new(),
        )?;
        self.locked = true;
        Ok(())
    }

    fn insert_docs(&mut self, docs: &[&DocRow]) -> Result<()> {
        self.check_locked()?;
        self.queue(
            "INSERT INTO docs (id, kind, scope, building_id)
             SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[])",
            vec![
                strings(docs.iter().map(|d| d.id.as_str())),
                strings(docs.iter().map(|d| d.kind.as_str())),
                strings(docs.iter().map(|d| d.scope.as_str())),
                param(
                    docs.iter()
                        .map(|d| d.building_id.clone())
                        .collect::<Vec<Option<String>>>(),
                ),
            ],
        )
    }

    fn insert_changes(&mut self, actor: &str, changes: &[NewChange<'_>]) -> Result<()> {
        self.check_locked()?;
        // The rows at the positions after the counter, in order, and the counter moved past
        // them, in one statement.
        self.queue(
            "WITH head AS (SELECT seq FROM counter WHERE id = 0),
                  added AS (
                      INSERT INTO changes (seq, doc_id, hash, actor, bytes)
                      SELECT head.seq + u.n, u.doc_id, u.hash, $1, u.bytes
                        FROM head, unnest($2::TEXT[], $3::BYTEA[], $4::BYTEA[])
                             WITH ORDINALITY AS u (doc_id, hash, bytes, n)
                  )
             UPDATE counter SET seq = seq + cardinality($3::BYTEA[]) WHERE id = 0",
            vec![
                param(actor.to_string()),
                strings(changes.iter().map(|c| c.doc_id)),
                blobs(changes.iter().map(|c| &c.hash[..])),
                blobs(changes.iter().map(|c| c.bytes)),
            ],
        )
    }

    fn insert_keys(&mut self, actor: &str, keys: &[&KeyRecord]) -> Result<()> {
        self.check_locked()?;
        self.queue(
            "WITH head AS (SELECT seq FROM counter WHERE id = 0),
                  added AS (
                      INSERT INTO resident_keys (resident_id, household_id, key, actor, seq)
                      SELECT u.resident_id, u.household_id, u.key, $1, head.seq + u.n
                        FROM head, unnest($2::TEXT[], $3::TEXT[], $4::BYTEA[])
                             WITH ORDINALITY AS u (resident_id, household_id, key, n)
                  )
             UPDATE counter SET seq = seq + cardinality($2::TEXT[]) WHERE id = 0",
            vec![
                param(actor.to_string()),
                strings(keys.iter().map(|k| k.resident_id.as_str())),
                strings(keys.iter().map(|k| k.household_id.as_str())),
                blobs(keys.iter().map(|k| k.key.as_slice())),
            ],
        )
    }

    fn insert_tombstones(&mut self, actor: &str, tombstones: &[&Tombstone]) -> Result<()> {
        self.check_locked()?;
        // The hub forgets the keys too: the deleted residents' data is unreadable everywhere.
        self.queue(
            "WITH head AS (SELECT seq FROM counter WHERE id = 0),
                  added AS (
                      INSERT INTO tombstones (resident_id, household_id, deleted_ms, actor, seq)
                      SELECT u.resident_id, u.household_id, u.deleted_ms, $1, head.seq + u.n
                        FROM head, unnest($2::TEXT[], $3::TEXT[], $4::BIGINT[])
                             WITH ORDINALITY AS u (resident_id, household_id, deleted_ms, n)
                  ),
                  forgotten AS (DELETE FROM resident_keys WHERE resident_id = ANY($2))
             UPDATE counter SET seq = seq + cardinality($2::TEXT[]) WHERE id = 0",
            vec![
                param(actor.to_string()),
                strings(tombstones.iter().map(|t| t.resident_id.as_str())),
                strings(tombstones.iter().map(|t| t.household_id.as_str())),
                param(
                    tombstones
                        .iter()
                        .map(|t| t.deleted_ms)
                        .collect::<Vec<i64>>(),
                ),
            ],
        )
    }

    fn insert_access(&mut self, records: &[AccessRecord]) -> Result<()> {
        self.check_locked()?;
        self.queue(
            "INSERT INTO access_records
             (device_id, seq, at_ms, person_id, resident_id, field, purpose, prev_hash, hash)
             SELECT * FROM unnest($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::TEXT[],
                                  $6::TEXT[], $7::TEXT[], $8::BYTEA[], $9::BYTEA[])
             ON CONFLICT DO NOTHING",
            vec![
                strings(records.iter().map(|a| a.device_id.as_str())),
                param(records.iter().map(|a| a.seq).collect::<Vec<i64>>()),
                param(records.iter().map(|a| a.at_ms).collect::<Vec<i64>>()),
                strings(records.iter().map(|a| a.person_id.as_str())),
                strings(records.iter().map(|a| a.resident_id.as_str())),
                strings(records.iter().map(|a| a.field.as_str())),
                strings(records.iter().map(|a| a.purpose.as_str())),
                blobs(records.iter().map(|a| a.prev_hash.as_slice())),
                blobs(records.iter().map(|a| a.hash.as_slice())),
            ],
        )
    }
}
