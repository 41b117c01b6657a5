//! The audit log: append-only, hash-chained records of every decision, written in the same
//! database transaction as the state change they describe, before any answer leaves.
//!
//! Each writer (a `qsign serve` process, an operator command) appends to a chain of its own, so
//! several writers never contend for one head row. A dedicated writer thread commits many
//! requests' state changes and records in one transaction (group commit); every request still
//! waits for its own commit. If the log cannot be written, the request fails: no signature.
//!
//! Records never hold a PIN, OTP, password, token or SAD.

use std::sync::Arc;
use std::sync::mpsc;

use diesel::Connection;
use migrations::models::AuditRow;
use migrations::queries;
use migrations::{Database, DbConnection};
use serde::Serialize;
use tokio::sync::oneshot;

use crate::secrets::{new_id, sha256};
use crate::{Clock, SamError};

/// How an audited decision ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Refused,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Error => "error",
        }
    }
}

/// One event before it is chained.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub event: &'static str,
    pub actor: String,
    pub credential_id: Option<String>,
    /// A reference to the SAD (a hash of its non-secret id), never the SAD.
    pub sad_ref: Option<String>,
    pub outcome: Outcome,
    pub detail: serde_json::Value,
}

impl AuditEvent {
    pub fn new(event: &'static str, actor: impl Into<String>, outcome: Outcome) -> Self {
        Self {
            event,
            actor: actor.into(),
            credential_id: None,
            sad_ref: None,
            outcome,
            detail: serde_json::Value::Object(serde_json::Map::new()),
        }
    }

    pub fn credential(mut self, id: impl Into<String>) -> Self {
        self.credential_id = Some(id.into());
        self
    }

    pub fn sad(mut self, sad_id: &str) -> Self {
        self.sad_ref = Some(sad_ref(sad_id));
        self
    }

    pub fn detail(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        if let serde_json::Value::Object(map) = &mut self.detail {
            map.insert(key.to_owned(), value.into());
        }
        self
    }

    pub fn reason(self, error: &SamError) -> Self {
        self.detail("reason", error.reason())
    }
}

/// The reference to a SAD kept in the log: the first 16 bytes of SHA-256 of its id, hex.
pub fn sad_ref(sad_id: &str) -> String {
    let h = sha256(sad_id.as_bytes());
    hex::encode(h.get(..16).unwrap_or(&h))
}

/// The bytes a record's hash covers after the previous hash.
fn canonical(row: &AuditRow) -> Vec<u8> {
    let v = serde_json::json!([
        row.chain_id,
        row.seq,
        row.at_ms,
        row.event,
        row.actor,
        row.credential_id,
        row.sad_ref,
        row.outcome,
        row.detail,
    ]);
    serde_json::to_vec(&v).unwrap_or_default()
}

fn record_hash(prev: &[u8], row: &AuditRow) -> Vec<u8> {
    let mut buf = prev.to_vec();
    buf.extend_from_slice(&canonical(row));
    sha256(&buf)
}

#[derive(Debug, Clone)]
struct Chain {
    id: String,
    next_seq: i64,
    head: Vec<u8>,
}

/// A transaction in the writer: the connection and the chain to append to.
pub(crate) struct Txn<'a> {
    conn: &'a mut DbConnection,
    chain: &'a mut Chain,
    clock: &'a dyn Clock,
}

impl Txn<'_> {
    pub(crate) fn conn(&mut self) -> &mut DbConnection {
        self.conn
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Appends one record to this writer's chain, inside the transaction.
    pub(crate) fn append(&mut self, ev: AuditEvent) -> Result<(), SamError> {
        let mut row = AuditRow {
            chain_id: self.chain.id.clone(),
            seq: self.chain.next_seq,
            at_ms: self.clock.now_ms(),
            event: ev.event.to_owned(),
            actor: ev.actor,
            credential_id: ev.credential_id,
            sad_ref: ev.sad_ref,
            outcome: ev.outcome.as_str().to_owned(),
            detail: ev.detail.to_string(),
            prev_hash: self.chain.head.clone(),
            hash: Vec::new(),
        };
        row.hash = record_hash(&row.prev_hash, &row);
        queries::audit::insert(self.conn, &row).map_err(|_| SamError::AuditUnavailable)?;
        self.chain.next_seq += 1;
        self.chain.head = row.hash;
        Ok(())
    }

    /// Runs `f` in a savepoint: all of its writes, or none when it fails.
    pub(crate) fn atomic<R>(
        &mut self,
        f: impl FnOnce(&mut DbConnection) -> Result<R, SamError>,
    ) -> Result<R, SamError> {
        let mut out = None;
        let r = self
            .conn
            .transaction::<(), diesel::result::Error, _>(|c| match f(c) {
                Ok(v) => {
                    out = Some(Ok(v));
                    Ok(())
                }
                Err(e) => {
                    out = Some(Err(e));
                    Err(diesel::result::Error::RollbackTransaction)
                }
            });
        match (r, out) {
            (Ok(()), Some(Ok(v))) => Ok(v),
            (_, Some(Err(e))) => Err(e),
            (Err(e), _) => Err(e.into()),
            (Ok(()), None) => Err(SamError::Database(
                "savepoint ended without a result".into(),
            )),
        }
    }
}

type Completion = Box<dyn FnOnce(Result<(), SamError>) + Send>;
type Job = Box<dyn FnOnce(&mut Txn<'_>) -> (Completion, bool) + Send>;

/// Handle to this process's audit writer thread.
#[derive(Clone)]
pub(crate) struct AuditWriter {
    tx: mpsc::Sender<Job>,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter").finish_non_exhaustive()
    }
}

/// At most this many requests share one transaction.
const MAX_BATCH: usize = 512;

impl AuditWriter {
    /// Starts the writer thread with a chain of its own, named after `kind` (e.g. "serve", "cli").
    pub(crate) fn start(db: Database, clock: Arc<dyn Clock>, kind: &str) -> Result<Self, SamError> {
        let conn = db.connect()?;
        let chain = Chain {
            id: new_id(&format!("{kind}-"), 8),
            next_seq: 0,
            head: vec![0u8; 32],
        };
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("qsign-audit-writer".into())
            .spawn(move || writer_loop(db, conn, chain, clock, rx))
            .map_err(|e| SamError::Config(format!("cannot start the audit writer: {e}")))?;
        Ok(Self { tx })
    }

    fn submit<T, F>(&self, f: F) -> Result<oneshot::Receiver<Result<T, SamError>>, SamError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Txn<'_>) -> Result<T, SamError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Job = Box::new(move |txn| {
            let r = f(txn);
            // A storage failure inside the job discards all of its writes.
            let keep = !matches!(r, Err(SamError::AuditUnavailable | SamError::Database(_)));
            // The batch is rolled back: this request's own answer says so.
            let r = if keep {
                r
            } else {
                r.and(Err(SamError::AuditUnavailable))
            };
            let completion: Completion = Box::new(move |commit| {
                let _ = reply.send(commit.and(r));
            });
            (completion, keep)
        });
        self.tx.send(job).map_err(|_| SamError::AuditUnavailable)?;
        Ok(rx)
    }

    /// Runs `f` inside the next group transaction and waits for its commit.
    pub(crate) async fn run<T, F>(&self, f: F) -> Result<T, SamError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Txn<'_>) -> Result<T, SamError> + Send + 'static,
    {
        self.submit(f)?
            .await
            .map_err(|_| SamError::AuditUnavailable)?
    }

    /// As [`run`](Self::run), for callers outside an async runtime (operator commands).
    pub(crate) fn run_blocking<T, F>(&self, f: F) -> Result<T, SamError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Txn<'_>) -> Result<T, SamError> + Send + 'static,
    {
        self.submit(f)?
            .blocking_recv()
            .map_err(|_| SamError::AuditUnavailable)?
    }
}

fn writer_loop(
    db: Database,
    conn: DbConnection,
    mut chain: Chain,
    clock: Arc<dyn Clock>,
    rx: mpsc::Receiver<Job>,
) {
    let mut conn = Some(conn);
    let mut started = false;
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let c = match conn.take().map_or_else(|| db.connect(), Ok) {
            Ok(c) => conn.insert(c),
            Err(e) => {
                tracing::error!(error = %e, "audit writer cannot reach the database");
                // The jobs never ran: dropping them answers each with the failure.
                drop(jobs);
                continue;
            }
        };
        let before = chain.clone();
        let mut completions: Vec<Completion> = Vec::with_capacity(jobs.len());
        let result = c.transaction::<(), diesel::result::Error, _>(|c| {
            let clock = clock.as_ref();
            if !started {
                let mut txn = Txn {
                    conn: c,
                    chain: &mut chain,
                    clock,
                };
                txn.append(
                    AuditEvent::new("audit.chain_started", "system", Outcome::Ok)
                        .detail("version", env!("CARGO_PKG_VERSION")),
                )
                .map_err(|_| diesel::result::Error::RollbackTransaction)?;
            }
            // A job that hits a storage failure fails the whole batch: every request in it is
            // refused, none is half-written.
            let mut storage_failure = false;
            for job in jobs {
                let mut txn = Txn {
                    conn: c,
                    chain: &mut chain,
                    clock,
                };
                let (done, keep) = job(&mut txn);
                completions.push(done);
                storage_failure |= !keep;
            }
            if storage_failure {
                Err(diesel::result::Error::RollbackTransaction)
            } else {
                Ok(())
            }
        });
        match result {
            Ok(()) => {
                started = true;
                for done in completions {
                    done(Ok(()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "audit transaction failed; no request in it proceeds");
                chain = before;
                conn = None;
                for done in completions {
                    done(Err(SamError::AuditUnavailable));
                }
            }
        }
    }
}

/// The result of checking every chain in the log.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub records: u64,
    pub chains: u64,
    /// SHA-256 over every chain's head hash, in chain order: one value to compare over time.
    pub head: String,
    pub first_bad: Option<BadRecord>,
}

#[derive(Debug, Clone)]
pub struct BadRecord {
    pub chain_id: String,
    pub seq: i64,
    pub reason: &'static str,
}

impl std::fmt::Display for BadRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "chain {} record {}: {}",
            self.chain_id, self.seq, self.reason
        )
    }
}

/// Checks every record of every chain: sequence, link to the previous record, and its own hash.
pub fn verify(db: &Database) -> Result<VerifyReport, SamError> {
    let mut conn = db.connect()?;
    let mut records = 0u64;
    let mut chains = 0u64;
    let mut heads = Vec::new();
    let mut current: Option<(String, i64, Vec<u8>)> = None;
    let mut after: Option<(String, i64)> = None;
    loop {
        let page = queries::audit::page(
            &mut conn,
            after.as_ref().map(|(c, s)| (c.as_str(), *s)),
            2000,
        )?;
        let Some(last) = page.last() else { break };
        after = Some((last.chain_id.clone(), last.seq));
        for row in page {
            records += 1;
            let (expected_seq, prev) = match &current {
                Some((chain, seq, head)) if *chain == row.chain_id => (seq + 1, head.clone()),
                _ => {
                    if let Some((_, _, head)) = current.take() {
                        heads.extend_from_slice(&head);
                    }
                    chains += 1;
                    (0, vec![0u8; 32])
                }
            };
            let bad = |reason| BadRecord {
                chain_id: row.chain_id.clone(),
                seq: row.seq,
                reason,
            };
            let problem = if row.seq != expected_seq {
                Some(bad("a record is missing before this one"))
            } else if row.prev_hash != prev {
                Some(bad("does not link to the previous record"))
            } else if record_hash(&row.prev_hash, &row) != row.hash {
                Some(bad("content does not match its hash"))
            } else {
                None
            };
            if let Some(problem) = problem {
                return Ok(VerifyReport {
                    records,
                    chains,
                    head: String::new(),
                    first_bad: Some(problem),
                });
            }
            current = Some((row.chain_id, row.seq, row.hash));
        }
    }
    if let Some((_, _, head)) = current {
        heads.extend_from_slice(&head);
    }
    Ok(VerifyReport {
        records,
        chains,
        head: hex::encode(sha256(&heads)),
        first_bad: None,
    })
}
