//! One sync with one strategy: preflight, a pool of workers, one transaction per batch, and the
//! verification of the target against the source.
//!
//! Layout: one tokio `current_thread` runtime; `workers` tasks on a `LocalSet`, each with its
//! own connection, share an `Rc<RefCell<State>>` (no lock, no atomic). A worker takes the next
//! batch (generated rows are a pure function of the row number, so a batch is just a range;
//! `--source` rows come from a reader task through a bounded channel), then:
//!
//! 1. `BEGIN`, the strategy's statements, `COMMIT`. Nothing of a batch is visible unless all of
//!    it is committed.
//! 2. A deadlock, lock wait timeout or lost connection rolls the batch back (the server does it
//!    for a lost connection) and retries the whole batch in a new transaction, on a new
//!    connection if needed, up to [`MAX_ATTEMPTS`] times; after that the run fails naming the
//!    batch, which was rolled back and not applied.
//! 3. A data error (too long, wrong type, NULL in a NOT NULL column, duplicate key in the
//!    source...), or a warning of that kind (`LOAD DATA LOCAL` turns data errors into warnings
//!    and would store a truncated row), rolls the batch back and splits it in halves, each
//!    applied in its own transaction, until the bad row is alone: it is then reported with its
//!    key and the server's message, and the policy decides (`stop` fails the run, `skip` counts
//!    it and goes on).
//!
//! Afterwards the target is checked against the source: `COUNT(*)` and the sum of
//! `CRC32(CONCAT_WS('|', ...))` over the synced columns, computed by the server on the target
//! and, for generated rows, by the client from the same rows (for `--source`, by the source
//! server). Skipped bad rows are left out on both sides. Any difference fails the run.

use super::gen::{self, Checksum, Row, RowGen};
use super::{BadRowPolicy, BulkError, BulkSettings, BulkSpec, Strategy};
use crate::engine::recorder::{new_histogram, record};
use crate::engine::summary::latency_stats;
use crate::prepare::{list_tables, OWNER_MARK};
use crate::record::{ErrorCount, LatencyStats};
use crate::target::{Target, TargetError};
use crate::util::quote_ident;
use bytes::Bytes;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Params, Statement, Value};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Attempts per batch for retryable errors (deadlock, lock wait timeout, lost connection).
pub const MAX_ATTEMPTS: u32 = 5;

/// Rows per transaction for the row-by-row strategy when no batch size is given: one, as a
/// naive sync does it (each row its own statement and its own commit, in autocommit mode).
pub const ROW_STRATEGY_BATCH: usize = 1;

/// Bounds of the automatic batch size.
pub const AUTO_BATCH_MIN: usize = 100;
pub const AUTO_BATCH_MAX: usize = 10_000;

/// The session's SQL mode: strict, so a bad value is an error, not a silent truncation, and
/// without `NO_BACKSLASH_ESCAPES`, which the literal encoding relies on.
pub const SQL_MODE: &str = "STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION";

/// The per-connection staging table of `load-data` into a non-empty target.
const STAGE: &str = "loadgate_bulk_stage";

/// Server error (or warning) codes that mean "this row's data is wrong", not "the server or
/// the transaction had a problem": the row is isolated and the bad-row policy applies.
const DATA_ERRORS: &[u16] = &[
    1048, // column cannot be null
    1062, // duplicate entry (a key twice in the source, or a second unique key)
    1101, // BLOB/TEXT can't have a default
    1261, // row doesn't contain data for all columns
    1262, // row was truncated: more data than columns
    1263, // NULL supplied to NOT NULL column
    1264, // out of range value
    1265, // data truncated
    1292, // incorrect/truncated value (dates, numbers)
    1364, // field doesn't have a default value
    1366, // incorrect value for column (wrong type, bad charset)
    1367, // illegal value
    1406, // data too long for column
    1411, // incorrect value for function
    1451, // foreign key: parent row
    1452, // foreign key: child row
    1690, // value out of range
    3819, // check constraint (MySQL)
    4025, // check constraint (MariaDB)
];

/// Retryable: the transaction failed, the data did not.
const RETRY_ERRORS: &[u16] = &[1213, 1205, 1020];

/// The connection is gone; reconnect and retry.
const LOST_ERRORS: &[u16] = &[1053, 1927, 2006, 2013, 2055];

/// A row the server refused.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct BadRow {
    pub key: String,
    pub code: u16,
    pub message: String,
}

/// Target against source after the sync.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Verification {
    pub ok: bool,
    pub expected: Checksum,
    pub actual: Checksum,
    /// Skipped bad rows, left out on both sides.
    pub excluded_keys: usize,
    /// Where the expected value came from: the client (generated rows) or the source server.
    pub expected_from: String,
    pub seconds: f64,
    /// The target held rows when the sync began (an earlier sync's, kept without `--fresh`):
    /// an upsert never deletes the rows the source lacks, so a mismatch may be theirs.
    #[serde(default)]
    pub target_held_rows: bool,
}

/// What one strategy's sync did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncResult {
    pub strategy: Strategy,
    /// The round of `--repeats` this sync ran in (1-based; 1 without repeats).
    pub round: u32,
    /// How the strategy applied rows this time (for `load-data`: direct or staged).
    pub method: String,
    /// Where the rows came from.
    pub source: String,
    pub table: String,
    pub workers: u32,
    pub batch_size: usize,
    /// Why this batch size: given, or derived from `max_allowed_packet`.
    pub batch_size_origin: String,
    pub max_allowed_packet: u64,
    /// Rows offered: generated or read from the source.
    pub rows: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Rows the server refused, with key and error (all of them under `skip`, the first under
    /// `stop`).
    pub bad_rows: Vec<BadRow>,
    pub skipped_bad: u64,
    /// Committed transactions.
    pub batches: u64,
    /// Data statements sent (INSERT, LOAD DATA, INSERT ... SELECT).
    pub statements: u64,
    /// Batches retried after a deadlock, lock wait timeout or lost connection.
    pub retries: u64,
    /// Batches split in halves to isolate a bad row.
    pub splits: u64,
    pub errors: Vec<ErrorCount>,
    /// Warnings that were not about data (e.g. deprecations), counted and otherwise ignored.
    pub other_warnings: u64,
    /// Wall time of the sync: from the first batch to the last commit (connecting the workers
    /// and the verification excluded).
    pub seconds: f64,
    pub rows_per_s: f64,
    /// Bytes of row values (the same for every strategy; protocol overhead not counted).
    pub payload_bytes: u64,
    pub mb_per_s: f64,
    /// The process's peak resident set size (kernel VmHWM) during this sync.
    pub peak_rss_bytes: Option<u64>,
    /// Its resident set size when the sync started (after handing freed memory back).
    pub rss_start_bytes: Option<u64>,
    /// `since reset` when VmHWM could be reset at the start of the sync, `since process start`
    /// otherwise.
    pub peak_rss_scope: String,
    /// Wall time per committed batch, BEGIN to COMMIT, retries included.
    pub batch_latency: LatencyStats,
    pub verification: Option<Verification>,
    /// What the reader should know about this sync's speed (e.g. why `load-data`'s workers took
    /// turns).
    pub notes: Vec<String>,
    /// Why the sync did not complete, if it did not.
    pub failure: Option<String>,
    pub interrupted: bool,
    #[serde(skip)]
    pub histogram: Option<Histogram<u64>>,
}

/// A sync's result and, if it did not end well, why.
pub struct SyncOutcome {
    pub result: SyncResult,
    pub error: Option<BulkError>,
}

/// Upsert counts of a statement or batch.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    inserted: u64,
    updated: u64,
    unchanged: u64,
    statements: u64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.inserted += o.inserted;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.statements += o.statements;
    }
}

/// Why a transaction did not commit.
enum TxnError {
    /// The data: isolate the row.
    Data { code: u16, message: String },
    /// The transaction or connection: retry.
    Retry {
        code: u16,
        message: String,
        lost: bool,
    },
    /// Anything else: stop.
    Fatal(BulkError),
}

/// Everything the workers share and never change.
struct Ctx {
    strategy: Strategy,
    target: Target,
    opts: Opts,
    timeout: Duration,
    key: usize,
    key_name: String,
    table: String,
    /// `INSERT INTO `t` (`a`, `b`) VALUES `
    insert_head: String,
    /// ` ON DUPLICATE KEY UPDATE `b` = VALUES(`b`)`
    odku: String,
    /// `(?, ?), ` repeated per row, built per size.
    ncols: usize,
    columns_sql: String,
    /// Largest statement the server accepts, with a margin.
    max_statement: usize,
    /// Rows per prepared statement execution.
    stmt_rows: usize,
    /// `load-data` straight into the target (it was empty at the start).
    direct_load: bool,
    /// `CHARACTER SET` of the `LOAD DATA` input.
    infile_charset: &'static str,
    policy: BadRowPolicy,
    fault_every: u64,
    gen: Option<RowGen>,
    batch_size: usize,
    rows: u64,
}

/// Mutable state shared by the workers of the one thread.
struct State {
    next_batch: u64,
    counts: Counts,
    rows_done: u64,
    payload: u64,
    batches: u64,
    retries: u64,
    splits: u64,
    errors: BTreeMap<u16, ErrorCount>,
    other_warnings: u64,
    bad_rows: Vec<BadRow>,
    hist: Histogram<u64>,
    stop: bool,
    fatal: Option<BulkError>,
}

/// A batch of rows.
struct Batch {
    /// 1-based batch number (for fault injection and messages).
    no: u64,
    rows: Vec<Row>,
}

/// The rows one transaction applies: a range of a batch, shared (not copied) with the
/// `LOAD DATA` stream, which encodes them while the server reads.
#[derive(Clone)]
struct Rows {
    batch: Arc<Vec<Row>>,
    range: std::ops::Range<usize>,
}

impl std::ops::Deref for Rows {
    type Target = [Row];
    fn deref(&self) -> &[Row] {
        &self.batch[self.range.clone()]
    }
}

/// Bytes per piece of the `LOAD DATA` stream: each piece is encoded when the driver asks for
/// it and sent as one packet, so the server starts on the first rows while later ones are
/// still being encoded, and a batch is never held twice (rows and text) in full.
const INFILE_PIECE: usize = 256 << 10;

/// The rows as `LOAD DATA` input, encoded piece by piece as it is read.
fn infile_stream(rows: Rows) -> futures_util::stream::BoxStream<'static, std::io::Result<Bytes>> {
    futures_util::stream::unfold((rows, 0usize), |(rows, mut i)| async move {
        if i >= rows.len() {
            return None;
        }
        let mut piece = Vec::with_capacity(INFILE_PIECE + (INFILE_PIECE >> 3));
        while i < rows.len() && piece.len() < INFILE_PIECE {
            gen::push_tsv_line(&mut piece, &rows[i]);
            i += 1;
        }
        Some((Ok(Bytes::from(piece)), (rows, i)))
    })
    .boxed()
}

type SourceRx = Rc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Batch>>>;

/// Where batches come from.
enum Feed {
    Gen,
    Source(SourceRx),
}

fn sql_string(s: &str) -> String {
    let mut out = Vec::new();
    gen::push_sql_literal(&mut out, &Some(s.as_bytes().to_vec()));
    String::from_utf8_lossy(&out).into_owned()
}

/// Peak RSS tracking through the kernel: reset VmHWM (Linux ≥ 4.0) and read it.
/// First hands freed heap memory back to the kernel (glibc `malloc_trim`), so that what an
/// earlier sync allocated and freed does not count as this one's.
pub fn reset_peak_rss() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The process's current VmRSS in bytes.
pub fn current_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The process's VmHWM in bytes.
pub fn peak_rss() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Parse `Records: 3  Duplicates: 1  Warnings: 0` (or `Deleted`, `Skipped`).
fn info_fields(info: &str) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    let mut it = info.split_whitespace();
    while let Some(k) = it.next() {
        if let Some(name) = k.strip_suffix(':') {
            if let Some(v) = it.next().and_then(|v| v.parse().ok()) {
                out.insert(name.to_string(), v);
            }
        }
    }
    out
}

/// Upsert counts of one `INSERT ... ON DUPLICATE KEY UPDATE` of `n` rows (see the module docs
/// of [`super`] for the arithmetic).
fn upsert_counts(n: u64, affected: u64, info: &str) -> Result<Counts, String> {
    if n == 1 && info.is_empty() {
        return Ok(match affected {
            1 => Counts {
                inserted: 1,
                ..Counts::default()
            },
            2 => Counts {
                updated: 1,
                ..Counts::default()
            },
            0 => Counts {
                unchanged: 1,
                ..Counts::default()
            },
            a => return Err(format!("a one-row upsert reported {a} affected rows")),
        });
    }
    let f = info_fields(info);
    let (Some(&records), Some(&dups)) = (f.get("Records"), f.get("Duplicates")) else {
        return Err(format!(
            "the server did not report `Records: N  Duplicates: D` for a {n}-row upsert (info: {info:?})"
        ));
    };
    let inserted = affected.checked_sub(2 * dups);
    match inserted {
        Some(ins) if records == n && ins + dups <= n => Ok(Counts {
            inserted: ins,
            updated: dups,
            unchanged: n - ins - dups,
            statements: 0,
        }),
        _ => Err(format!(
            "inconsistent upsert counts for {n} rows: {affected} affected, info {info:?}"
        )),
    }
}

fn classify(e: mysql_async::Error, target: &Target, statement: &str) -> TxnError {
    match e {
        mysql_async::Error::Server(s) if s.code == 1148 || s.code == 3948 => {
            TxnError::Fatal(BulkError::LocalInfileOff {
                addr: target.addr(),
                detail: format!("server error {}: {}", s.code, s.message),
            })
        }
        mysql_async::Error::Server(s) if DATA_ERRORS.contains(&s.code) => TxnError::Data {
            code: s.code,
            message: s.message,
        },
        mysql_async::Error::Server(s) if RETRY_ERRORS.contains(&s.code) => TxnError::Retry {
            code: s.code,
            message: s.message,
            lost: false,
        },
        mysql_async::Error::Server(s) if LOST_ERRORS.contains(&s.code) => TxnError::Retry {
            code: s.code,
            message: s.message,
            lost: true,
        },
        mysql_async::Error::Server(_) => {
            TxnError::Fatal(BulkError::Target(target.classify(e, Some(statement))))
        }
        mysql_async::Error::Io(io) => TxnError::Retry {
            code: 2013,
            message: format!("lost the connection: {io}"),
            lost: true,
        },
        mysql_async::Error::Driver(mysql_async::DriverError::ConnectionClosed) => TxnError::Retry {
            code: 2006,
            message: "the connection was closed".into(),
            lost: true,
        },
        other => TxnError::Fatal(BulkError::Target(target.classify(other, Some(statement)))),
    }
}

fn key_of(row: &Row, key: usize) -> String {
    row.get(key)
        .and_then(|c| c.as_deref())
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_else(|| "NULL".into())
}

struct Worker {
    ctx: Rc<Ctx>,
    state: Rc<RefCell<State>>,
    conn: Option<Conn>,
    stmts: HashMap<usize, Statement>,
}

impl Worker {
    async fn connect(&mut self) -> Result<(), TxnError> {
        let t = &self.ctx.target;
        let mut conn = match t.connect(self.ctx.opts.clone(), self.ctx.timeout).await {
            Ok(c) => c,
            // The server said no: not transient.
            Err(e @ (TargetError::Auth { .. } | TargetError::Server { .. })) => {
                return Err(TxnError::Fatal(BulkError::Target(e)))
            }
            Err(e) => {
                return Err(TxnError::Retry {
                    code: 2003,
                    message: e.to_string(),
                    lost: true,
                })
            }
        };
        let mut setup = vec![
            "SET NAMES utf8mb4".to_string(),
            format!("SET SESSION sql_mode = '{SQL_MODE}'"),
        ];
        if self.ctx.strategy == Strategy::LoadData && !self.ctx.direct_load {
            setup.push(format!(
                "CREATE TEMPORARY TABLE IF NOT EXISTS {STAGE} LIKE {}",
                self.ctx.table
            ));
        }
        for q in &setup {
            if let Err(e) = conn.query_drop(q.as_str()).await {
                return Err(classify(e, t, q));
            }
        }
        self.stmts.clear();
        self.conn = Some(conn);
        Ok(())
    }

    async fn exec(&mut self, sql: &[u8]) -> Result<(), TxnError> {
        let conn = self.conn.as_mut().expect("connected");
        conn.query_drop(sql).await.map_err(|e| {
            classify(
                e,
                &self.ctx.target,
                &crate::util::abbreviate(&String::from_utf8_lossy(sql), 120, 120),
            )
        })
    }

    /// After a data statement: a warning about data is a data error (LOAD DATA LOCAL turns
    /// errors into warnings); other warnings are counted.
    async fn check_warnings(&mut self) -> Result<(), TxnError> {
        let conn = self.conn.as_mut().expect("connected");
        if conn.get_warnings() == 0 {
            return Ok(());
        }
        let q = "SHOW WARNINGS";
        let rows: Vec<(String, u16, String)> = conn
            .query(q)
            .await
            .map_err(|e| classify(e, &self.ctx.target, q))?;
        let mut others = 0;
        for (level, code, message) in rows {
            if DATA_ERRORS.contains(&code) && !level.eq_ignore_ascii_case("note") {
                return Err(TxnError::Data { code, message });
            }
            others += 1;
        }
        self.state.borrow_mut().other_warnings += others;
        Ok(())
    }

    fn last_counts(&self, n: u64) -> Result<Counts, TxnError> {
        let conn = self.conn.as_ref().expect("connected");
        let mut c = upsert_counts(n, conn.affected_rows(), &conn.info())
            .map_err(|m| TxnError::Fatal(BulkError::Usage(m)))?;
        c.statements = 1;
        Ok(c)
    }

    async fn apply_row(&mut self, rows: &[Row]) -> Result<Counts, TxnError> {
        let mut total = Counts::default();
        let mut sql = Vec::with_capacity(1024);
        for row in rows {
            sql.clear();
            sql.extend_from_slice(self.ctx.insert_head.as_bytes());
            gen::push_tuple(&mut sql, row);
            sql.extend_from_slice(self.ctx.odku.as_bytes());
            self.exec(&sql).await?;
            self.check_warnings().await?;
            total.add(self.last_counts(1)?);
        }
        Ok(total)
    }

    async fn apply_values(&mut self, rows: &[Row]) -> Result<Counts, TxnError> {
        let mut total = Counts::default();
        let mut i = 0;
        let mut sql = Vec::with_capacity(self.ctx.max_statement.min(8 << 20));
        while i < rows.len() {
            sql.clear();
            sql.extend_from_slice(self.ctx.insert_head.as_bytes());
            let start = i;
            while i < rows.len() {
                let mark = sql.len();
                if i > start {
                    sql.push(b',');
                }
                gen::push_tuple(&mut sql, &rows[i]);
                if i > start && sql.len() + self.ctx.odku.len() > self.ctx.max_statement {
                    sql.truncate(mark);
                    break;
                }
                i += 1;
            }
            sql.extend_from_slice(self.ctx.odku.as_bytes());
            self.exec(&sql).await?;
            self.check_warnings().await?;
            total.add(self.last_counts((i - start) as u64)?);
        }
        Ok(total)
    }

    async fn apply_prepared(&mut self, rows: &[Row]) -> Result<Counts, TxnError> {
        let mut total = Counts::default();
        for chunk in rows.chunks(self.ctx.stmt_rows.max(1)) {
            let n = chunk.len();
            if !self.stmts.contains_key(&n) {
                if self.stmts.len() >= 8 {
                    // Sizes from splitting bad batches: forget them. The driver's own statement
                    // cache (16 per connection) closes what it evicts; closing here would leave
                    // closed statements in it.
                    self.stmts.clear();
                }
                let mut sql = self.ctx.insert_head.clone();
                let tuple = format!("({})", vec!["?"; self.ctx.ncols].join(", "));
                sql.push_str(&vec![tuple.as_str(); n].join(", "));
                sql.push_str(&self.ctx.odku);
                let conn = self.conn.as_mut().expect("connected");
                let st = conn.prep(sql.as_str()).await.map_err(|e| {
                    classify(
                        e,
                        &self.ctx.target,
                        &crate::util::abbreviate(&sql, 120, 120),
                    )
                })?;
                self.stmts.insert(n, st);
            }
            let st = self.stmts.get(&n).expect("prepared").clone();
            let mut params = Vec::with_capacity(n * self.ctx.ncols);
            for row in chunk {
                for cell in row {
                    params.push(match cell {
                        Some(v) => Value::Bytes(v.clone()),
                        None => Value::NULL,
                    });
                }
            }
            let conn = self.conn.as_mut().expect("connected");
            conn.exec_drop(&st, Params::Positional(params))
                .await
                .map_err(|e| classify(e, &self.ctx.target, "a prepared multi-row upsert"))?;
            self.check_warnings().await?;
            total.add(self.last_counts(n as u64)?);
        }
        Ok(total)
    }

    async fn apply_load(&mut self, rows: &Rows) -> Result<Counts, TxnError> {
        let into = if self.ctx.direct_load {
            self.ctx.table.clone()
        } else {
            STAGE.to_string()
        };
        let load = format!(
            "LOAD DATA LOCAL INFILE 'loadgate-batch' INTO TABLE {into} CHARACTER SET {} ({})",
            self.ctx.infile_charset, self.ctx.columns_sql
        );
        let conn = self.conn.as_mut().expect("connected");
        let stream_rows = rows.clone();
        conn.set_infile_handler(async move { Ok(infile_stream(stream_rows)) });
        self.exec(load.as_bytes()).await?;
        self.check_warnings().await?;
        let n = rows.len() as u64;
        let conn = self.conn.as_ref().expect("connected");
        let f = info_fields(&conn.info());
        let loaded = conn.affected_rows();
        if loaded != n || f.get("Skipped").copied().unwrap_or(0) > 0 {
            return Err(TxnError::Data {
                code: 1062,
                message: format!(
                    "LOAD DATA stored {loaded} of {n} rows (info: {})",
                    conn.info()
                ),
            });
        }
        if self.ctx.direct_load {
            return Ok(Counts {
                inserted: n,
                statements: 1,
                ..Counts::default()
            });
        }
        let upsert = format!(
            "INSERT INTO {} ({cols}) SELECT {cols} FROM {STAGE}{}",
            self.ctx.table,
            self.ctx.odku,
            cols = self.ctx.columns_sql
        );
        self.exec(upsert.as_bytes()).await?;
        self.check_warnings().await?;
        let mut c = self.last_counts(n)?;
        c.statements = 2;
        Ok(c)
    }

    /// One transaction: BEGIN, the strategy, (the injected fault), COMMIT.
    async fn transaction(&mut self, rows: &Rows, fault: bool) -> Result<Counts, TxnError> {
        if self.conn.is_none() {
            self.connect().await?;
        }
        if self.ctx.strategy == Strategy::LoadData && !self.ctx.direct_load {
            self.exec(format!("TRUNCATE TABLE {STAGE}").as_bytes())
                .await?;
        }
        if self.ctx.strategy == Strategy::Row && rows.len() == 1 && !fault {
            // One statement is one transaction in autocommit mode: no BEGIN/COMMIT round trips.
            return self.apply_row(rows).await;
        }
        self.exec(b"BEGIN").await?;
        let counts = match self.ctx.strategy {
            Strategy::Row => self.apply_row(rows).await?,
            Strategy::Values => self.apply_values(rows).await?,
            Strategy::Prepared => self.apply_prepared(rows).await?,
            Strategy::LoadData => self.apply_load(rows).await?,
        };
        if fault {
            // The connection dies with the batch applied but not committed.
            let _ = self.exec(b"KILL CONNECTION_ID()").await;
        }
        self.exec(b"COMMIT").await?;
        Ok(counts)
    }

    /// A transaction with retries. `Err` only for data errors and fatal ones.
    async fn attempt(&mut self, rows: &Rows, batch_no: u64) -> Result<Counts, TxnError> {
        let started = Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            let fault = attempt == 1
                && self.ctx.fault_every > 0
                && batch_no % self.ctx.fault_every == 0
                && rows.len() > 1;
            match self.transaction(rows, fault).await {
                Ok(c) => {
                    let mut st = self.state.borrow_mut();
                    record(&mut st.hist, started.elapsed().as_nanos() as u64);
                    st.batches += 1;
                    return Ok(c);
                }
                Err(e) => {
                    // Roll back what the server has not already rolled back.
                    let lost = matches!(e, TxnError::Retry { lost: true, .. });
                    if lost {
                        self.conn = None;
                    } else if let Some(c) = self.conn.as_mut() {
                        if c.query_drop("ROLLBACK").await.is_err() {
                            self.conn = None;
                        }
                    }
                    match e {
                        TxnError::Retry { code, message, .. } if attempt < MAX_ATTEMPTS => {
                            {
                                let mut st = self.state.borrow_mut();
                                st.retries += 1;
                                let ec = st.errors.entry(code).or_insert_with(|| ErrorCount {
                                    code,
                                    kind: crate::engine::exec::ErrKind::of(code).name().into(),
                                    count: 0,
                                    retried: 0,
                                    example: message.chars().take(200).collect(),
                                });
                                ec.count += 1;
                                ec.retried += 1;
                            }
                            tokio::time::sleep(Duration::from_millis(50 * attempt as u64)).await;
                        }
                        TxnError::Retry { message, .. } => {
                            return Err(TxnError::Fatal(BulkError::BatchFailed {
                                rows: rows.len(),
                                first_key: key_of(&rows[0], self.ctx.key),
                                last_key: key_of(&rows[rows.len() - 1], self.ctx.key),
                                attempts: attempt,
                                why: message,
                            }))
                        }
                        other => return Err(other),
                    }
                }
            }
        }
    }

    /// Apply a batch, isolating bad rows by splitting.
    async fn process(&mut self, batch: Batch) -> Result<(), BulkError> {
        let rows = Arc::new(batch.rows);
        let mut stack = vec![(0usize, rows.len())];
        while let Some((a, b)) = stack.pop() {
            if self.state.borrow().stop {
                // The run is stopping (another worker failed, Ctrl-C): leave the rest of this
                // batch alone; the run is reported as failed or partial.
                return Ok(());
            }
            let whole = a == 0 && b == rows.len();
            let no = if whole { batch.no } else { 0 };
            let part = Rows {
                batch: rows.clone(),
                range: a..b,
            };
            match self.attempt(&part, no).await {
                Ok(c) => {
                    let mut st = self.state.borrow_mut();
                    st.counts.add(c);
                    st.rows_done += (b - a) as u64;
                    st.payload += rows[a..b].iter().map(gen::payload_bytes).sum::<u64>();
                }
                Err(TxnError::Data { code, message }) if b - a == 1 => {
                    let bad = BadRow {
                        key: key_of(&rows[a], self.ctx.key),
                        code,
                        message,
                    };
                    let mut st = self.state.borrow_mut();
                    st.rows_done += 1;
                    st.bad_rows.push(bad.clone());
                    if self.ctx.policy == BadRowPolicy::Stop {
                        return Err(BulkError::BadRow {
                            key_column: self.ctx.key_name.clone(),
                            key: bad.key,
                            code: bad.code,
                            message: bad.message,
                        });
                    }
                }
                Err(TxnError::Data { .. }) => {
                    self.state.borrow_mut().splits += 1;
                    let mid = a + (b - a) / 2;
                    stack.push((mid, b));
                    stack.push((a, mid));
                }
                Err(TxnError::Retry { message, .. }) => {
                    return Err(BulkError::BatchFailed {
                        rows: b - a,
                        first_key: key_of(&rows[a], self.ctx.key),
                        last_key: key_of(&rows[b - 1], self.ctx.key),
                        attempts: MAX_ATTEMPTS,
                        why: message,
                    })
                }
                Err(TxnError::Fatal(e)) => return Err(e),
            }
        }
        Ok(())
    }

    async fn next_batch(&self, feed: &Feed) -> Option<Batch> {
        if self.state.borrow().stop {
            return None;
        }
        match feed {
            Feed::Gen => {
                let gen = self.ctx.gen.as_ref().expect("generator");
                let b = {
                    let mut st = self.state.borrow_mut();
                    let b = st.next_batch;
                    st.next_batch += 1;
                    b
                };
                let first = b * self.ctx.batch_size as u64 + 1;
                if first > self.ctx.rows {
                    return None;
                }
                let last = (first + self.ctx.batch_size as u64 - 1).min(self.ctx.rows);
                Some(Batch {
                    no: b + 1,
                    rows: (first..=last).map(|n| gen.row(n)).collect(),
                })
            }
            Feed::Source(rx) => rx.lock().await.recv().await,
        }
    }

    async fn run(mut self, feed: Rc<Feed>) {
        while let Some(batch) = self.next_batch(&feed).await {
            if let Err(e) = self.process(batch).await {
                let mut st = self.state.borrow_mut();
                st.stop = true;
                st.fatal.get_or_insert(e);
                break;
            }
        }
        if let Some(c) = self.conn.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), c.disconnect()).await;
        }
    }
}

/// Read the source table and hand out batches.
async fn read_source(
    source: Target,
    table: String,
    columns_sql: String,
    batch_size: usize,
    timeout: Duration,
    tx: tokio::sync::mpsc::Sender<Batch>,
    state: Rc<RefCell<State>>,
) -> Result<u64, BulkError> {
    let db = source.database.clone();
    let mut conn = source
        .connect(source.opts(db.as_deref(), 16), timeout)
        .await?;
    let q = format!("SELECT {columns_sql} FROM {}", quote_ident(&table));
    let mut res = conn
        .query_iter(q.as_str())
        .await
        .map_err(|e| source.classify(e, Some(&q)))?;
    let mut rows = Vec::with_capacity(batch_size);
    let (mut n, mut no) = (0u64, 0u64);
    while let Some(row) = res.next().await.map_err(|e| source.classify(e, Some(&q)))? {
        let cells: Row = row
            .unwrap()
            .into_iter()
            .map(|v| match v {
                Value::NULL => None,
                Value::Bytes(b) => Some(b),
                other => Some(other.as_sql(true).trim_matches('\'').as_bytes().to_vec()),
            })
            .collect();
        rows.push(cells);
        n += 1;
        if rows.len() == batch_size {
            no += 1;
            let full = std::mem::replace(&mut rows, Vec::with_capacity(batch_size));
            if tx.send(Batch { no, rows: full }).await.is_err() || state.borrow().stop {
                break;
            }
        }
    }
    drop(res);
    if !rows.is_empty() && !state.borrow().stop {
        no += 1;
        let _ = tx.send(Batch { no, rows }).await;
    }
    let _ = conn.disconnect().await;
    Ok(n)
}

/// What the preflight learned.
struct Preflight {
    max_allowed_packet: u64,
    target_empty: bool,
    /// The character set `LOAD DATA` declares for its input (see [`infile_charset`]).
    infile_charset: &'static str,
    /// The server serialises `LOAD DATA` statements into the target (see [`autoinc_note`]).
    autoinc_note: Option<String>,
}

/// The character set `LOAD DATA` declares for the rows it streams, from the character sets of
/// the target columns it fills (`None` for a column that is not text).
///
/// The rows are UTF-8. When every text column among them is `utf8mb4` there is nothing to
/// convert, and `binary` gives the same result for less work: the server still checks each
/// value against the column's character set when it stores it (an invalid sequence or a
/// value too long is the same warning, 1366 or 1265, as with `utf8mb4`), but its field reader
/// no longer looks for the end of a multi-byte character after every byte (about 8 % of the
/// server's CPU time for a `LOAD DATA` of the built-in workload). Any other character set
/// needs the conversion: `utf8mb4`.
pub fn infile_charset<'a>(columns: impl IntoIterator<Item = Option<&'a str>>) -> &'static str {
    let all_utf8mb4 = columns
        .into_iter()
        .all(|cs| cs.is_none_or(|cs| cs.eq_ignore_ascii_case("utf8mb4")));
    if all_utf8mb4 {
        "binary"
    } else {
        "utf8mb4"
    }
}

/// Why concurrent `LOAD DATA` statements into the target run one at a time, if they do: with
/// `innodb_autoinc_lock_mode` 0 or 1 (1 is MariaDB's default) an InnoDB table with an
/// `AUTO_INCREMENT` column takes its table-level AUTO-INC lock for every "bulk insert"
/// (`LOAD DATA`, `INSERT ... SELECT`) and holds it to the end of the statement, while a
/// multi-row `INSERT ... VALUES` takes only a short mutex.
pub fn autoinc_note(
    lock_mode: Option<u32>,
    engine: &str,
    autoinc_column: Option<&str>,
) -> Option<String> {
    let mode = lock_mode?;
    let column = autoinc_column?;
    (mode <= 1 && engine.eq_ignore_ascii_case("InnoDB")).then(|| {
        format!(
            "innodb_autoinc_lock_mode = {mode} and the AUTO_INCREMENT column `{column}`: each LOAD DATA (and INSERT ... SELECT) holds the table's AUTO-INC lock to its end, so the workers' statements run one at a time (multi-row VALUES does not take it; mode 2 removes it)"
        )
    })
}

/// Check ownership, create (or recreate) the target, read what sizing needs.
async fn preflight(
    spec: &BulkSpec,
    s: &BulkSettings,
    strategy: Strategy,
    target: &Target,
    fresh: bool,
) -> Result<Preflight, BulkError> {
    let timeout = Duration::from_secs_f64(s.connect_timeout_s);
    let mut conn = target.connect(target.opts(None, 16), timeout).await?;
    let db = &s.database;
    let q = format!("CREATE DATABASE IF NOT EXISTS {}", quote_ident(db));
    conn.query_drop(q.as_str())
        .await
        .map_err(|e| target.classify(e, Some(&q)))?;
    let existing = list_tables(&mut conn, target, db).await?;
    let mine = existing.iter().find(|t| t.name == spec.table);
    match mine.map(|t| t.owner.as_deref()) {
        Some(None) => {
            return Err(BulkError::Refused(format!(
                "`{db}`.`{}` exists and was not created by loadgate; the bulk sync will not write to it. Use another database (--database) or drop it yourself.",
                spec.table
            )))
        }
        Some(Some(w)) if w != spec.name => {
            return Err(BulkError::Refused(format!(
                "`{db}`.`{}` belongs to loadgate workload `{w}`, not `{}`; use another database (--database).",
                spec.table, spec.name
            )))
        }
        _ => {}
    }
    let foreign: Vec<String> = existing
        .iter()
        .filter(|t| t.owner.is_none() && t.name != spec.table)
        .map(|t| format!("`{}`", t.name))
        .collect();
    if !foreign.is_empty() && !s.force {
        return Err(BulkError::Refused(format!(
            "`{db}` holds {} table(s) loadgate does not own ({}); refusing to sync there. Use an empty database (--database NAME) or pass --force (they are never touched).",
            foreign.len(),
            foreign.iter().take(10).cloned().collect::<Vec<_>>().join(", ")
        )));
    }
    let table = format!("{}.{}", quote_ident(db), quote_ident(&spec.table));
    let mut exists = mine.is_some();
    if exists && fresh {
        let q = format!("DROP TABLE {table}");
        conn.query_drop(q.as_str())
            .await
            .map_err(|e| target.classify(e, Some(&q)))?;
        exists = false;
    }
    if !exists {
        let create = spec.create.replace("{table}", &table);
        conn.query_drop(create.as_str())
            .await
            .map_err(|e| target.classify(e, Some(&crate::util::abbreviate(&create, 120, 120))))?;
        let q = format!(
            "ALTER TABLE {table} COMMENT = {}",
            sql_string(&format!("{OWNER_MARK} workload={}", spec.name))
        );
        conn.query_drop(q.as_str())
            .await
            .map_err(|e| target.classify(e, Some(&q)))?;
    }
    let q = "SELECT @@max_allowed_packet, @@local_infile";
    let (packet, local_infile): (u64, String) = conn
        .query_first(q)
        .await
        .map_err(|e| target.classify(e, Some(q)))?
        .unwrap_or((16 << 20, "1".into()));
    if strategy == Strategy::LoadData && matches!(local_infile.as_str(), "0" | "OFF") {
        return Err(BulkError::LocalInfileOff {
            addr: target.addr(),
            detail: format!("@@local_infile = {local_infile}"),
        });
    }
    let q = format!("SELECT 1 FROM {table} LIMIT 1");
    let any: Option<u8> = conn
        .query_first(q.as_str())
        .await
        .map_err(|e| target.classify(e, Some(&q)))?;
    let q = "SELECT COLUMN_NAME, CHARACTER_SET_NAME, EXTRA FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?";
    let cols: Vec<(String, Option<String>, String)> = conn
        .exec(q, (db.as_str(), spec.table.as_str()))
        .await
        .map_err(|e| target.classify(e, Some(q)))?;
    let synced = spec.column_names();
    let infile_charset = infile_charset(
        cols.iter()
            .filter(|(name, _, _)| synced.iter().any(|c| c.eq_ignore_ascii_case(name)))
            .map(|(_, cs, _)| cs.as_deref()),
    );
    let autoinc_column = cols
        .iter()
        .find(|(_, _, extra)| extra.to_ascii_lowercase().contains("auto_increment"))
        .map(|(name, _, _)| name.as_str());
    let q =
        "SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?";
    let engine: Option<String> = conn
        .exec_first(q, (db.as_str(), spec.table.as_str()))
        .await
        .map_err(|e| target.classify(e, Some(q)))?;
    // Not every server has the variable (it is InnoDB's); without it there is nothing to say.
    let lock_mode: Option<u32> = conn
        .query_first("SELECT @@innodb_autoinc_lock_mode")
        .await
        .ok()
        .flatten();
    let autoinc_note = autoinc_note(lock_mode, engine.as_deref().unwrap_or(""), autoinc_column);
    let _ = conn.disconnect().await;
    Ok(Preflight {
        max_allowed_packet: packet,
        target_empty: any.is_none(),
        infile_charset,
        autoinc_note,
    })
}

/// Sync with one strategy. `fresh`: drop and recreate the target first.
pub async fn sync(
    spec: &BulkSpec,
    s: &BulkSettings,
    strategy: Strategy,
    target: &Target,
    source: Option<&Target>,
    fresh: bool,
    quiet: bool,
) -> SyncOutcome {
    let gen = source.is_none().then(|| row_gen(spec, s));
    let mut result = new_result(spec, s, strategy, source);
    let pre = match preflight(spec, s, strategy, target, fresh).await {
        Ok(p) => p,
        Err(e) => return failed(result, e),
    };
    result.max_allowed_packet = pre.max_allowed_packet;
    let plan = plan_batches(spec, s, strategy, &pre, gen.as_ref());
    result.batch_size = plan.batch_size;
    result.batch_size_origin = plan.origin.clone();
    result.method = plan.method.clone();
    if strategy == Strategy::LoadData && s.workers > 1 {
        result.notes.extend(pre.autoinc_note.clone());
    }
    let ctx = Rc::new(context(spec, s, strategy, target, &pre, &plan, gen.clone()));
    let state = Rc::new(RefCell::new(State {
        next_batch: 0,
        counts: Counts::default(),
        rows_done: 0,
        payload: 0,
        batches: 0,
        retries: 0,
        splits: 0,
        errors: BTreeMap::new(),
        other_warnings: 0,
        bad_rows: Vec::new(),
        hist: new_histogram(),
        stop: false,
        fatal: None,
    }));
    // Connect every worker before the clock starts.
    let workers = match connect_workers(&ctx, &state, s.workers).await {
        Ok(w) => w,
        Err(e) => return failed(result, e),
    };

    let rss_reset = reset_peak_rss();
    result.rss_start_bytes = current_rss();
    let started = Instant::now();
    let reader_out = drive(workers, &ctx, &state, s, source, quiet).await;
    let seconds = started.elapsed().as_secs_f64();
    result.peak_rss_bytes = peak_rss();
    result.peak_rss_scope = if rss_reset {
        "this sync".into()
    } else {
        "since process start".into()
    };
    if let Some(e) = collect(&mut result, &state, reader_out, seconds, s) {
        result.interrupted = matches!(e, BulkError::Interrupted);
        return failed(result, e);
    }

    // Verification.
    let columns = spec.column_names();
    let skipped: HashSet<String> = result.bad_rows.iter().map(|b| b.key.clone()).collect();
    match verify(spec, s, target, source, gen.as_ref(), &skipped, &columns).await {
        Ok(mut v) => {
            v.target_held_rows = !pre.target_empty;
            let ok = v.ok;
            let (expected, actual) = (v.expected, v.actual);
            result.verification = Some(v);
            if !ok {
                let e = BulkError::Mismatch {
                    table: result.table.clone(),
                    expected_rows: expected.rows,
                    expected_sum: expected.crc_sum.to_string(),
                    actual_rows: actual.rows,
                    actual_sum: actual.crc_sum.to_string(),
                    excluded: (!skipped.is_empty()).then_some(skipped.len()),
                    held_before: !pre.target_empty,
                };
                return failed(result, e);
            }
            SyncOutcome {
                result,
                error: None,
            }
        }
        Err(e) => failed(result, e),
    }
}

/// A sync that stopped on `e`, with what it did so far.
fn failed(mut result: SyncResult, e: BulkError) -> SyncOutcome {
    result.failure = Some(e.to_string());
    SyncOutcome {
        result,
        error: Some(e),
    }
}

/// The result of a sync that has not started: what it syncs from and to, nothing done.
fn new_result(
    spec: &BulkSpec,
    s: &BulkSettings,
    strategy: Strategy,
    source: Option<&Target>,
) -> SyncResult {
    SyncResult {
        strategy,
        round: 1,
        method: String::new(),
        source: match source {
            Some(t) => format!("{} table `{}`", t.redacted(), s.source_table),
            None => format!(
                "the generator (seed {}, revision {}, {} rows{})",
                s.seed,
                s.revision,
                s.rows,
                if s.bad_rows > 0 {
                    format!(", {} made bad", s.bad_rows)
                } else {
                    String::new()
                }
            ),
        },
        table: format!("{}.{}", s.database, spec.table),
        workers: s.workers,
        batch_size: 0,
        batch_size_origin: String::new(),
        max_allowed_packet: 0,
        rows: 0,
        inserted: 0,
        updated: 0,
        unchanged: 0,
        bad_rows: Vec::new(),
        skipped_bad: 0,
        batches: 0,
        statements: 0,
        retries: 0,
        splits: 0,
        errors: Vec::new(),
        other_warnings: 0,
        seconds: 0.0,
        rows_per_s: 0.0,
        payload_bytes: 0,
        mb_per_s: 0.0,
        peak_rss_bytes: None,
        rss_start_bytes: None,
        peak_rss_scope: String::new(),
        batch_latency: LatencyStats::default(),
        verification: None,
        notes: Vec::new(),
        failure: None,
        interrupted: false,
        histogram: None,
    }
}

/// How a sync cuts its rows: rows per transaction (and why), rows per statement, the largest
/// statement, whether `LOAD DATA` goes straight into the target, and the method in words.
struct BatchPlan {
    batch_size: usize,
    origin: String,
    stmt_rows: usize,
    max_statement: usize,
    direct_load: bool,
    method: String,
}

/// Sizes the batches from a sample of rows and the server's `max_allowed_packet`.
fn plan_batches(
    spec: &BulkSpec,
    s: &BulkSettings,
    strategy: Strategy,
    pre: &Preflight,
    gen: Option<&RowGen>,
) -> BatchPlan {
    let columns = spec.column_names();
    let sample: Vec<Row> = {
        let g = gen.cloned().unwrap_or_else(|| row_gen(spec, s));
        (1..=256).map(|n| g.row(n)).collect()
    };
    let avg_row = sample.iter().map(gen::payload_bytes).sum::<u64>() as f64 / sample.len() as f64;
    let max_row = sample.iter().map(gen::payload_bytes).max().unwrap_or(1) as f64;
    // Quotes, commas, parentheses and escapes on top of the values.
    let sql_row = avg_row * 1.1 + (columns.len() * 3 + 4) as f64;
    let max_statement = (pre.max_allowed_packet as usize)
        .saturating_sub(4096)
        .max(64 << 10);
    let (batch_size, origin) = match (s.batch_size, strategy) {
        (Some(b), _) => (b, "given".to_string()),
        (None, Strategy::Row) => (
            ROW_STRATEGY_BATCH,
            "default for row-by-row: every row its own statement and commit (autocommit), as a naive sync does; --batch-size N puts N rows in a transaction".to_string(),
        ),
        (None, _) => {
            let b = ((pre.max_allowed_packet as f64 / 2.0) / sql_row) as usize;
            let b = b.clamp(AUTO_BATCH_MIN, AUTO_BATCH_MAX);
            (
                b,
                format!(
                    "auto: half of max_allowed_packet ({} KiB) / ~{:.0} B per row, within {AUTO_BATCH_MIN}..{AUTO_BATCH_MAX}",
                    pre.max_allowed_packet / 1024,
                    sql_row
                ),
            )
        }
    };
    let stmt_rows = batch_size
        .min(65_535 / columns.len().max(1))
        .min(((max_statement as f64 / 2.0) / (max_row * 1.2 + 16.0)).max(1.0) as usize)
        .max(1);
    let direct_load = strategy == Strategy::LoadData && pre.target_empty;
    let method = match strategy {
        Strategy::Row => "one INSERT ... ON DUPLICATE KEY UPDATE per row (text protocol)".into(),
        Strategy::Values => {
            "multi-row INSERT ... VALUES ... ON DUPLICATE KEY UPDATE (text protocol)".into()
        }
        Strategy::Prepared => format!(
            "prepared multi-row INSERT ... ON DUPLICATE KEY UPDATE, {stmt_rows} rows per execution (binary protocol)"
        ),
        Strategy::LoadData if direct_load => format!(
            "LOAD DATA LOCAL INFILE straight into the target (it was empty), streamed from memory, CHARACTER SET {}",
            pre.infile_charset
        ),
        Strategy::LoadData => format!(
            "LOAD DATA LOCAL INFILE into a temporary staging table (CHARACTER SET {}), then INSERT ... SELECT ... ON DUPLICATE KEY UPDATE",
            pre.infile_charset
        ),
    };
    BatchPlan {
        batch_size,
        origin,
        stmt_rows,
        max_statement,
        direct_load,
        method,
    }
}

/// What every worker of a sync shares: the target, the statements' fixed parts, the plan.
fn context(
    spec: &BulkSpec,
    s: &BulkSettings,
    strategy: Strategy,
    target: &Target,
    pre: &Preflight,
    plan: &BatchPlan,
    gen: Option<RowGen>,
) -> Ctx {
    let table = format!("{}.{}", quote_ident(&s.database), quote_ident(&spec.table));
    let columns = spec.column_names();
    let columns_sql = columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ");
    let non_key: Vec<String> = columns
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != spec.key)
        .map(|(_, c)| format!("{q} = VALUES({q})", q = quote_ident(c)))
        .collect();
    let odku = if non_key.is_empty() {
        // Only a key: an existing key is "unchanged".
        format!(
            " ON DUPLICATE KEY UPDATE {k} = {k}",
            k = quote_ident(&columns[spec.key])
        )
    } else {
        format!(" ON DUPLICATE KEY UPDATE {}", non_key.join(", "))
    };
    Ctx {
        strategy,
        target: target.clone(),
        opts: target.opts(Some(&s.database), 16),
        timeout: Duration::from_secs_f64(s.connect_timeout_s),
        key: spec.key,
        key_name: spec.key_name().to_string(),
        insert_head: format!("INSERT INTO {table} ({columns_sql}) VALUES "),
        table,
        odku,
        ncols: columns.len(),
        columns_sql,
        max_statement: plan.max_statement,
        stmt_rows: plan.stmt_rows,
        direct_load: plan.direct_load,
        infile_charset: pre.infile_charset,
        policy: s.on_bad_row,
        fault_every: s.fault_every,
        gen,
        batch_size: plan.batch_size,
        rows: s.rows,
    }
}

/// `n` workers, each connected.
async fn connect_workers(
    ctx: &Rc<Ctx>,
    state: &Rc<RefCell<State>>,
    n: u32,
) -> Result<Vec<Worker>, BulkError> {
    let mut workers = Vec::new();
    for _ in 0..n {
        let mut w = Worker {
            ctx: ctx.clone(),
            state: state.clone(),
            conn: None,
            stmts: HashMap::new(),
        };
        match w.connect().await {
            Ok(()) => workers.push(w),
            Err(TxnError::Fatal(e)) => return Err(e),
            Err(TxnError::Retry { message, .. } | TxnError::Data { message, .. }) => {
                return Err(BulkError::Target(TargetError::Unreachable {
                    host: ctx.target.host.clone(),
                    port: ctx.target.port,
                    why: message,
                }))
            }
        }
    }
    Ok(workers)
}

/// What the source reader returned, if there was one: the rows it read, or why it stopped.
type ReaderOut = Option<Result<Result<u64, BulkError>, tokio::task::JoinError>>;

/// Runs the workers to the end on this thread (with the source reader, a progress line every
/// 2 s unless `quiet`, and Ctrl-C stopping them), and returns what the reader did.
async fn drive(
    mut workers: Vec<Worker>,
    ctx: &Rc<Ctx>,
    state: &Rc<RefCell<State>>,
    s: &BulkSettings,
    source: Option<&Target>,
    quiet: bool,
) -> ReaderOut {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            let (feed, reader) = match source {
                None => (Rc::new(Feed::Gen), None),
                Some(src) => {
                    let (tx, rx) = tokio::sync::mpsc::channel::<Batch>((s.workers as usize) * 2);
                    let reader = tokio::task::spawn_local(read_source(
                        src.clone(),
                        s.source_table.clone(),
                        ctx.columns_sql.clone(),
                        ctx.batch_size,
                        ctx.timeout,
                        tx,
                        state.clone(),
                    ));
                    (
                        Rc::new(Feed::Source(Rc::new(tokio::sync::Mutex::new(rx)))),
                        Some(reader),
                    )
                }
            };
            let handles: Vec<_> = workers
                .drain(..)
                .map(|w| tokio::task::spawn_local(w.run(feed.clone())))
                .collect();
            let progress = (!quiet).then(|| {
                let (state, total, name) = (state.clone(), s.rows, ctx.strategy.name());
                let from_source = source.is_some();
                tokio::task::spawn_local(async move {
                    let t0 = Instant::now();
                    loop {
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        let done = state.borrow().rows_done;
                        let rate = done as f64 / t0.elapsed().as_secs_f64();
                        if from_source {
                            eprintln!("  {name}: {done} rows ({rate:.0} rows/s)");
                        } else {
                            eprintln!("  {name}: {done}/{total} rows ({rate:.0} rows/s)");
                        }
                    }
                })
            });
            let ctrl_c = {
                let state = state.clone();
                tokio::task::spawn_local(async move {
                    if tokio::signal::ctrl_c().await.is_ok() {
                        let mut st = state.borrow_mut();
                        st.stop = true;
                        st.fatal.get_or_insert(BulkError::Interrupted);
                    }
                })
            };
            for h in handles {
                let _ = h.await;
            }
            // The workers are done: a reader still waiting to send has nobody to send to.
            if let Feed::Source(rx) = &*feed {
                rx.lock().await.close();
            }
            let read = match reader {
                Some(r) => Some(r.await),
                None => None,
            };
            if let Some(p) = progress {
                p.abort();
            }
            ctrl_c.abort();
            read
        })
        .await
}

/// Moves what the workers counted into `result`; returns the error that stopped the sync.
fn collect(
    result: &mut SyncResult,
    state: &RefCell<State>,
    reader_out: ReaderOut,
    seconds: f64,
    s: &BulkSettings,
) -> Option<BulkError> {
    let mut st = state.borrow_mut();
    let source_rows = match reader_out {
        Some(Ok(Ok(n))) => Some(n),
        Some(Ok(Err(e))) => {
            st.fatal.get_or_insert(e);
            None
        }
        Some(Err(join)) => {
            st.fatal.get_or_insert(BulkError::Usage(format!(
                "the source reader failed: {join}"
            )));
            None
        }
        None => None,
    };
    result.rows = source_rows.unwrap_or(s.rows);
    result.inserted = st.counts.inserted;
    result.updated = st.counts.updated;
    result.unchanged = st.counts.unchanged;
    result.statements = st.counts.statements;
    result.bad_rows = st.bad_rows.clone();
    result.skipped_bad = if s.on_bad_row == BadRowPolicy::Skip {
        st.bad_rows.len() as u64
    } else {
        0
    };
    result.batches = st.batches;
    result.retries = st.retries;
    result.splits = st.splits;
    result.errors = st.errors.values().cloned().collect();
    result.other_warnings = st.other_warnings;
    result.seconds = seconds;
    let synced = st.counts.inserted + st.counts.updated + st.counts.unchanged;
    result.rows_per_s = synced as f64 / seconds.max(1e-9);
    result.payload_bytes = st.payload;
    result.mb_per_s = st.payload as f64 / 1e6 / seconds.max(1e-9);
    result.batch_latency = latency_stats(&st.hist);
    result.histogram = Some(st.hist.clone());
    st.fatal.take()
}

/// The generator for this workload and settings.
pub fn row_gen(spec: &BulkSpec, s: &BulkSettings) -> RowGen {
    let bad = (0..s.bad_rows)
        .filter(|_| !spec.bad_values.is_empty())
        .map(|j| {
            let n = (j + 1) * s.rows / (s.bad_rows + 1);
            let (col, v) = &spec.bad_values[(j as usize) % spec.bad_values.len()];
            (n.max(1), *col, v.clone())
        })
        .collect();
    RowGen {
        columns: spec.columns.clone(),
        seed: s.seed,
        revision: s.revision,
        changed_pct: s.changed_pct,
        bad,
    }
}

async fn server_checksum(
    t: &Target,
    db: Option<&str>,
    table: &str,
    columns: &[String],
    key: &str,
    skipped: &HashSet<String>,
    timeout: Duration,
) -> Result<Checksum, BulkError> {
    let mut conn = t.connect(t.opts(db, 16), timeout).await?;
    conn.query_drop("SET NAMES utf8mb4")
        .await
        .map_err(|e| t.classify(e, Some("SET NAMES utf8mb4")))?;
    let filter = (!skipped.is_empty()).then(|| {
        let mut keys: Vec<&String> = skipped.iter().collect();
        keys.sort();
        format!(
            "{} NOT IN ({})",
            quote_ident(key),
            keys.iter()
                .map(|k| sql_string(k))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    let q = gen::checksum_sql(table, columns, filter.as_deref());
    let row: Option<(u64, String)> = conn
        .query_first(q.as_str())
        .await
        .map_err(|e| t.classify(e, Some(&crate::util::abbreviate(&q, 120, 120))))?;
    let _ = conn.disconnect().await;
    let (rows, sum) = row.unwrap_or((0, "0".into()));
    Ok(Checksum {
        rows,
        crc_sum: sum.trim().parse().unwrap_or(0),
    })
}

async fn verify(
    spec: &BulkSpec,
    s: &BulkSettings,
    target: &Target,
    source: Option<&Target>,
    gen: Option<&RowGen>,
    skipped: &HashSet<String>,
    columns: &[String],
) -> Result<Verification, BulkError> {
    let started = Instant::now();
    let timeout = Duration::from_secs_f64(s.connect_timeout_s);
    let actual = server_checksum(
        target,
        Some(&s.database),
        &quote_ident(&spec.table),
        columns,
        spec.key_name(),
        skipped,
        timeout,
    )
    .await?;
    let (expected, from) = match (source, gen) {
        (Some(src), _) => (
            server_checksum(
                src,
                src.database.as_deref(),
                &quote_ident(&s.source_table),
                columns,
                spec.key_name(),
                skipped,
                timeout,
            )
            .await?,
            "the source server".to_string(),
        ),
        (None, Some(g)) => {
            let mut c = Checksum::default();
            for n in 1..=s.rows {
                let row = g.row(n);
                if !skipped.is_empty() && skipped.contains(&key_of(&row, spec.key)) {
                    continue;
                }
                c.add(&row);
            }
            (c, "the client (the generated rows)".to_string())
        }
        (None, None) => unreachable!("rows come from a source or the generator"),
    };
    Ok(Verification {
        ok: expected == actual,
        expected,
        actual,
        excluded_keys: skipped.len(),
        expected_from: from,
        seconds: started.elapsed().as_secs_f64(),
        target_held_rows: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_counts_from_affected_rows_and_info() {
        let c = upsert_counts(3, 3, "Records: 3  Duplicates: 1  Warnings: 0").unwrap();
        assert_eq!((c.inserted, c.updated, c.unchanged), (1, 1, 1));
        let c = upsert_counts(4, 1, "Records: 4  Duplicates: 0  Warnings: 0").unwrap();
        assert_eq!((c.inserted, c.updated, c.unchanged), (1, 0, 3));
        let c = upsert_counts(1, 2, "").unwrap();
        assert_eq!((c.inserted, c.updated, c.unchanged), (0, 1, 0));
        assert!(upsert_counts(2, 2, "").is_err());
        assert!(upsert_counts(2, 9, "Records: 2  Duplicates: 1  Warnings: 0").is_err());
    }

    #[test]
    fn load_data_input_is_binary_only_when_no_column_needs_a_conversion() {
        assert_eq!(
            infile_charset([None, Some("utf8mb4"), Some("UTF8MB4")]),
            "binary"
        );
        assert_eq!(infile_charset([]), "binary");
        assert_eq!(infile_charset([Some("utf8mb4"), Some("latin1")]), "utf8mb4");
        assert_eq!(infile_charset([Some("utf8mb3")]), "utf8mb4");
    }

    #[test]
    fn the_autoinc_note_names_the_lock_mode_and_column_only_when_loads_serialise() {
        let n = autoinc_note(Some(1), "InnoDB", Some("id")).unwrap();
        assert!(
            n.contains("innodb_autoinc_lock_mode = 1") && n.contains("`id`"),
            "{n}"
        );
        assert!(autoinc_note(Some(0), "InnoDB", Some("id")).is_some());
        assert!(autoinc_note(Some(2), "InnoDB", Some("id")).is_none());
        assert!(autoinc_note(Some(1), "InnoDB", None).is_none());
        assert!(autoinc_note(Some(1), "Aria", Some("id")).is_none());
        assert!(autoinc_note(None, "InnoDB", Some("id")).is_none());
    }

    #[test]
    fn info_fields_parse_load_data_info() {
        let f = info_fields("Records: 3  Deleted: 0  Skipped: 1  Warnings: 2");
        assert_eq!(f["Records"], 3);
        assert_eq!(f["Skipped"], 1);
        assert_eq!(f["Warnings"], 2);
    }
}
