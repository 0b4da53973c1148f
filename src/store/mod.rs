//! The run store: a SQLite file holding every run with its settings, results, histograms and
//! per-interval series, for compare, gate and history. Where it is (`--store`, the nearest
//! `baselines/` upward, the per-user data directory) is [`locate`]'s answer; reading commands
//! open it with [`Store::open_existing`], which never creates one.
//!
//! Several loadgate processes may share one store: the file is in WAL mode, every write is one
//! `BEGIN IMMEDIATE` transaction (so a crash leaves the previous state), and a write that finds
//! the file locked waits for the busy timeout, then retries with backoff. The schema is
//! versioned (`schema.rs`, [`SCHEMA_VERSION`]); a store from a newer loadgate is refused, never
//! downgraded.
//! Passwords never reach the file: targets, status reasons and settings are redacted on write
//! ([`redact_url`]).

mod codec;
mod evidence;
mod locate;
mod monitor;
mod redact;
mod regress;
mod schema;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::Value;
use rusqlite::{named_params, Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use crate::record::{RunRecord, RunStatus};
use codec::{EncodeError, RunRow};
pub use evidence::{Evidence, RunLink};
pub use locate::{locate, StoreLocation, StoreOrigin, STORE_DIR, STORE_FILE};
pub use redact::redact_url;
pub use regress::{Baseline, BaselineRun, Calibration, RunMetrics, RunSet};
pub use schema::{APPLICATION_ID, SCHEMA_VERSION};

/// How long SQLite itself waits for a lock before reporting the store busy.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Retries after SQLite gave up waiting, with growing pauses between them.
const BUSY_RETRIES: u32 = 3;
const BACKOFF_BASE: Duration = Duration::from_millis(100);

/// Environment variable naming the store file, over the default path.
pub const STORE_ENV: &str = "LOADGATE_STORE";

/// The store file used when no `--store` is given: `$LOADGATE_STORE`, else the nearest
/// `baselines/loadgate.db` from the current directory upward, else the per-user one
/// ([`StoreLocation::of_process`]).
pub fn default_path() -> PathBuf {
    StoreLocation::of_process(None).path
}

/// What went wrong with the run store, naming the file and the step.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the directory {dir} for the run store {path}: {source}")]
    CreateDir {
        path: PathBuf,
        dir: PathBuf,
        source: std::io::Error,
    },

    #[error(
        "no run store at {} ({}); `loadgate run` creates one, or pass --store PATH",
        .0.path.display(), .0.origin
    )]
    Missing(StoreLocation),

    #[error("cannot open the run store {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },

    #[error(
        "{path} is not a SQLite database, so it cannot be a loadgate run store; move it away or \
         point {STORE_ENV} at another file"
    )]
    NotADatabase { path: PathBuf },

    #[error(
        "{path} is a SQLite database but not a loadgate run store ({detail}); loadgate will not \
         modify it, point {STORE_ENV} at another file"
    )]
    NotAStore { path: PathBuf, detail: String },

    #[error(
        "the run store {path} has schema version {found}, but this loadgate understands versions \
         up to {supported}: it was written by a newer loadgate; upgrade loadgate or point \
         {STORE_ENV} at another file"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    #[error("cannot migrate the run store {path} from schema version {from} to {to}: {source}")]
    Migrate {
        path: PathBuf,
        from: i64,
        to: i64,
        source: rusqlite::Error,
    },

    #[error("cannot {what} in the run store {path}: {source}")]
    Write {
        path: PathBuf,
        what: &'static str,
        source: rusqlite::Error,
    },

    #[error("cannot {what} from the run store {path}: {source}")]
    Read {
        path: PathBuf,
        what: &'static str,
        source: rusqlite::Error,
    },

    #[error(
        "the run store {path} stayed locked by another process, so loadgate could not {what} \
         ({attempts} attempts of {}s each); retry when the other loadgate is done",
        BUSY_TIMEOUT.as_secs()
    )]
    Busy {
        path: PathBuf,
        what: &'static str,
        attempts: u32,
    },

    #[error("cannot encode the {what} of the run as JSON: {source}")]
    Encode {
        what: &'static str,
        source: serde_json::Error,
    },

    #[error("run {id} in the run store {path} is damaged: {detail}")]
    Corrupt {
        path: PathBuf,
        id: i64,
        detail: String,
    },

    #[error("there is no run {0} in the run store")]
    RunNotFound(i64),
}

impl crate::error::ExitCode for StoreError {
    /// Every store error means the run store could not be opened or written.
    fn exit_code(&self) -> u8 {
        crate::error::exit::STORE
    }
}

impl From<EncodeError> for StoreError {
    fn from(e: EncodeError) -> Self {
        StoreError::Encode {
            what: e.what,
            source: e.source,
        }
    }
}

/// Why a transaction stopped, before it is turned into a [`StoreError`].
#[derive(Debug)]
enum TxError {
    Sql(rusqlite::Error),
    NotFound(i64),
    Corrupt { id: i64, detail: String },
}

impl From<rusqlite::Error> for TxError {
    fn from(e: rusqlite::Error) -> Self {
        TxError::Sql(e)
    }
}

/// An error that may mean "the database is locked, try again".
trait Busy {
    fn is_busy(&self) -> bool;
}

impl Busy for TxError {
    fn is_busy(&self) -> bool {
        matches!(self, TxError::Sql(e) if is_busy(e))
    }
}

impl Busy for rusqlite::Error {
    fn is_busy(&self) -> bool {
        is_busy(self)
    }
}

fn sqlite_code(e: &rusqlite::Error) -> Option<ErrorCode> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        sqlite_code(e),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn is_not_a_database(e: &rusqlite::Error) -> bool {
    sqlite_code(e) == Some(ErrorCode::NotADatabase)
}

/// Runs `f` until it succeeds, fails for a reason other than a lock, or has been retried
/// `BUSY_RETRIES` times. The error comes back with the number of attempts made.
fn retry_busy<T, E: Busy>(mut f: impl FnMut() -> Result<T, E>) -> Result<T, (E, u32)> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match f() {
            Ok(v) => return Ok(v),
            Err(e) if e.is_busy() && attempt <= BUSY_RETRIES => {
                std::thread::sleep(backoff(attempt));
            }
            Err(e) => return Err((e, attempt)),
        }
    }
}

/// 100 ms, 400 ms, 1.6 s..., plus up to the same again of jitter so that two waiting processes
/// do not wake in step.
fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_BASE * 4u32.saturating_pow(attempt.saturating_sub(1));
    let noise = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id().wrapping_mul(2_654_435_761);
    let jitter = base.mul_f64(f64::from(noise % 1000) / 1000.0);
    base + jitter
}

/// Which runs [`Store::list_runs`] returns. The default lists every run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFilter {
    pub workload: Option<String>,
    pub status: Option<RunStatus>,
    pub set_id: Option<String>,
    /// At most this many runs (the newest).
    pub limit: Option<usize>,
}

/// One line of a run listing.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunListItem {
    pub id: i64,
    pub started_at_ms: i64,
    /// Wall-clock time from start to end; `None` while running (or if the run died).
    pub duration_ms: Option<i64>,
    pub status: RunStatus,
    pub workload: String,
    /// The target URL, without password.
    pub target: String,
    pub server_version: String,
    /// `None` when the run has no results. Counted in [`RunListItem::rate_unit`].
    pub tps: Option<f64>,
    /// What `tps` counts per second for this kind of run: `tps`, `batches/s` (a bulk sync),
    /// `writes/s` (an index phase) ([`crate::record::RunSettings::rate_unit`]).
    pub rate_unit: String,
    pub p99_corrected_ms: Option<f64>,
    pub set_id: Option<String>,
}

/// An open run store.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating it and its directories if needed) the store at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: path.to_path_buf(),
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|e| open_error(path, e, 1))?;
        Store::setup(conn, path.to_path_buf(), true)
    }

    /// Opens the store at `loc` only if it exists (for the commands that only read), bringing
    /// its schema up to date; never creates a file or directory.
    pub fn open_existing(loc: &StoreLocation) -> Result<Store, StoreError> {
        let path = loc.path.as_path();
        if !path.exists() {
            return Err(StoreError::Missing(loc.clone()));
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error(path, e, 1))?;
        Store::setup(conn, path.to_path_buf(), true)
    }

    /// A private store in memory, gone when dropped. For tests and dry runs.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|e| open_error(&path, e, 1))?;
        Store::setup(conn, path, false)
    }

    fn setup(mut conn: Connection, path: PathBuf, wal: bool) -> Result<Store, StoreError> {
        retry_busy(|| configure(&conn, wal)).map_err(|(e, n)| open_error(&path, e, n))?;
        schema::migrate(&mut conn, &path)?;
        Ok(Store { conn, path })
    }

    /// The file this store lives in (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the start of a run: inserts it with status `running` and no results, so that a
    /// run whose process dies still leaves a trace. Returns the new run's id.
    pub fn begin_run(&mut self, rec: &RunRecord) -> Result<i64, StoreError> {
        let row = RunRow::started(rec)?;
        self.write("record the start of a run", |tx| {
            codec::insert_run_row(tx, &row)
        })
    }

    /// Stores the outcome of run `id` (begun with [`Store::begin_run`]): its row, histograms
    /// and intervals, in one transaction. Calling it again replaces the previous outcome.
    pub fn finish_run(&mut self, id: i64, rec: &RunRecord) -> Result<(), StoreError> {
        let row = RunRow::full(rec)?;
        self.write("store the results of a run", |tx| {
            codec::write_finished(tx, id, &row)
        })
    }

    /// Stores a whole run at once, in one transaction. Returns its id.
    pub fn insert_run(&mut self, rec: &RunRecord) -> Result<i64, StoreError> {
        let row = RunRow::full(rec)?;
        self.write("store a run", |tx| codec::insert_full(tx, &row))
    }

    /// Reads run `id` whole, with its histograms and intervals.
    pub fn get_run(&self, id: i64) -> Result<RunRecord, StoreError> {
        self.read("read a run", |tx| codec::read_run(tx, id))
    }

    /// Stores a standalone monitor session (`loadgate monitor`) and returns its id.
    pub fn insert_monitor_session(
        &mut self,
        rep: &crate::record::MonitorReport,
    ) -> Result<i64, StoreError> {
        self.write("store a monitor session", |tx| {
            monitor::insert(tx, None, rep)
        })
    }

    /// Reads monitor session `id` (standalone or a run's).
    pub fn get_monitor_session(
        &self,
        id: i64,
    ) -> Result<Option<crate::record::MonitorReport>, StoreError> {
        self.read("read a monitor session", |tx| monitor::read(tx, id, 0))
    }

    /// The id of the most recently begun run, if any.
    pub fn last_run_id(&self) -> Result<Option<i64>, StoreError> {
        self.read("find the last run", |tx| {
            Ok(tx.query_row("SELECT max(id) FROM runs", [], |r| r.get(0))?)
        })
    }

    /// The runs matching `filter`, newest first.
    pub fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunListItem>, StoreError> {
        let mut sql = String::from(
            "SELECT id, started_at_ms, ended_at_ms, status, workload, target, server_version, \
             tps, p99_corrected_ms, set_id, settings_json FROM runs WHERE 1 = 1",
        );
        let mut args: Vec<(&str, Value)> = Vec::new();
        if let Some(w) = &filter.workload {
            args.push((":workload", Value::Text(w.clone())));
            sql.push_str(" AND workload = :workload");
        }
        if let Some(s) = filter.status {
            args.push((":status", Value::Text(s.as_str().to_string())));
            sql.push_str(" AND status = :status");
        }
        if let Some(s) = &filter.set_id {
            args.push((":set_id", Value::Text(s.clone())));
            sql.push_str(" AND set_id = :set_id");
        }
        sql.push_str(" ORDER BY started_at_ms DESC, id DESC");
        if let Some(n) = filter.limit {
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            args.push((":limit", Value::Integer(n)));
            sql.push_str(" LIMIT :limit");
        }
        self.read("list runs", |tx| {
            let mut st = tx.prepare(&sql)?;
            let rows = st.query_map(&args[..], |r| {
                let started_at_ms: i64 = r.get("started_at_ms")?;
                let ended_at_ms: Option<i64> = r.get("ended_at_ms")?;
                Ok((
                    RunListItem {
                        id: r.get("id")?,
                        started_at_ms,
                        duration_ms: ended_at_ms.map(|e| e.saturating_sub(started_at_ms)),
                        status: RunStatus::Running,
                        workload: r.get("workload")?,
                        target: r.get("target")?,
                        server_version: r.get("server_version")?,
                        tps: r.get("tps")?,
                        rate_unit: rate_unit(r.get("settings_json")?).to_string(),
                        p99_corrected_ms: r.get("p99_corrected_ms")?,
                        set_id: r.get("set_id")?,
                    },
                    r.get::<_, String>("status")?,
                ))
            })?;
            let mut items = Vec::new();
            for row in rows {
                let (mut item, status) = row?;
                item.status = RunStatus::parse(&status).ok_or_else(|| TxError::Corrupt {
                    id: item.id,
                    detail: format!("unknown status {status:?}"),
                })?;
                items.push(item);
            }
            Ok(items)
        })
    }

    /// Deletes run `id` with its histograms and intervals.
    pub fn delete_run(&mut self, id: i64) -> Result<(), StoreError> {
        self.write("delete a run", |tx| {
            match tx.execute("DELETE FROM runs WHERE id = :id", named_params! {":id": id})? {
                0 => Err(TxError::NotFound(id)),
                _ => Ok(()),
            }
        })
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits, retrying while the store is
    /// locked by another process.
    fn write<T>(
        &mut self,
        what: &'static str,
        mut f: impl FnMut(&Transaction<'_>) -> Result<T, TxError>,
    ) -> Result<T, StoreError> {
        let conn = &mut self.conn;
        retry_busy(|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let v = f(&tx)?;
            tx.commit()?;
            Ok(v)
        })
        .map_err(|(e, attempts)| self.error(e, what, attempts, true))
    }

    /// Runs `f` in a read transaction, so that it sees one consistent state of the store.
    fn read<T>(
        &self,
        what: &'static str,
        mut f: impl FnMut(&Transaction<'_>) -> Result<T, TxError>,
    ) -> Result<T, StoreError> {
        retry_busy(|| {
            let tx = self.conn.unchecked_transaction()?;
            let v = f(&tx)?;
            tx.finish()?;
            Ok(v)
        })
        .map_err(|(e, attempts)| self.error(e, what, attempts, false))
    }

    fn error(&self, e: TxError, what: &'static str, attempts: u32, write: bool) -> StoreError {
        let path = self.path.clone();
        match e {
            TxError::NotFound(id) => StoreError::RunNotFound(id),
            TxError::Corrupt { id, detail } => StoreError::Corrupt { path, id, detail },
            TxError::Sql(e) if is_busy(&e) => StoreError::Busy {
                path,
                what,
                attempts,
            },
            TxError::Sql(source) if write => StoreError::Write { path, what, source },
            TxError::Sql(source) => StoreError::Read { path, what, source },
        }
    }
}

/// Connection settings, applied on every open.
fn configure(conn: &Connection, wal: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    if wal {
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
            tracing::warn!(
                mode,
                "the run store could not switch to WAL mode; concurrent runs will wait longer"
            );
        }
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// What a stored run's `tps` counts, from its settings JSON (`tps` when it cannot be read).
fn rate_unit(settings_json: Option<String>) -> &'static str {
    settings_json
        .and_then(|s| serde_json::from_str(&s).ok())
        .map_or("tps", |v| {
            crate::record::RunSettings::from_json(v).rate_unit()
        })
}

fn open_error(path: &Path, e: rusqlite::Error, attempts: u32) -> StoreError {
    let path = path.to_path_buf();
    if is_not_a_database(&e) {
        StoreError::NotADatabase { path }
    } else if is_busy(&e) {
        StoreError::Busy {
            path,
            what: "open it",
            attempts,
        }
    } else {
        StoreError::Open { path, source: e }
    }
}
