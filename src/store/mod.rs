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
mod owner;
pub mod pending;
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

/// How long flushing a running run's intervals waits for a lock before giving up until the
/// next interval.
const FLUSH_BUSY_TIMEOUT: Duration = Duration::from_millis(20);

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

    #[error(
        "the run store {path} is damaged ({detail}), so a run could not be stored in it; \
         nothing was run. Move it away (loadgate then starts a new one) or recover it with \
         `sqlite3 {path} .recover`"
    )]
    Damaged { path: PathBuf, detail: String },

    /// The run was measured, reported, but could not be stored; `saved` says where it waits.
    #[error(
        "the run was measured but could not be stored: {source}; {}",
        match .saved {
            Ok(file) => format!(
                "it was saved to {}, which `loadgate import {}` (or the next successful open of \
                 the store) brings in",
                file.display(),
                file.display()
            ),
            Err(why) => format!("saving it beside the store failed too: {why}"),
        }
    )]
    NotStored {
        source: Box<StoreError>,
        saved: Result<PathBuf, String>,
    },

    #[error(transparent)]
    Pending(#[from] pending::PendingError),
}

impl crate::error::ExitCode for StoreError {
    /// Every store error means the run store could not be opened or written, but a file given
    /// to import that is not a saved run, which is bad input.
    fn exit_code(&self) -> u8 {
        match self {
            StoreError::Pending(e) => e.exit_code(),
            _ => crate::error::exit::STORE,
        }
    }
}

/// What importing a saved run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// It finished the `running` (or `interrupted`) row it had begun: this id.
    Finished(i64),
    /// It was added as a new run.
    Added(i64),
    /// The store already held it (imported before): this id.
    AlreadyThere(i64),
}

impl Imported {
    /// The run's id in the store.
    pub fn id(&self) -> i64 {
        match self {
            Imported::Finished(i) | Imported::Added(i) | Imported::AlreadyThere(i) => *i,
        }
    }
}

/// The tables a run writes, which [`Store::check_before_run`] checks.
const RUN_TABLES: &[&str] = &[
    "runs",
    "run_histograms",
    "run_intervals",
    "monitor_sessions",
    "monitor_samples",
    "monitor_statements",
    "monitor_alerts",
];

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
        let mut store = Store { conn, path };
        if wal {
            // Best effort: a store that cannot be written now still opens for reading.
            if let Err(e) = store.mark_interrupted() {
                tracing::warn!("cannot look for runs whose process died: {e}");
            }
            store.import_waiting();
        }
        Ok(store)
    }

    /// Brings in the runs saved beside the store because they could not be stored
    /// ([`pending`]); one that fails stays where it is, with a warning.
    fn import_waiting(&mut self) {
        for file in pending::waiting(&self.path) {
            match self.import_run(&file) {
                Ok(i) => tracing::warn!(
                    "brought in run {} saved in {} when the store could not be written",
                    i.id(),
                    file.display()
                ),
                Err(e) => tracing::warn!("a saved run stays outside the store: {e}"),
            }
        }
    }

    /// Imports a run saved by [`pending::save`]: it finishes the row it began when that row is
    /// still `running` or `interrupted`, is skipped when the store holds it already, and is
    /// added otherwise. A file in this store's pending directory is removed once imported.
    pub fn import_run(&mut self, file: &Path) -> Result<Imported, StoreError> {
        let (begun, rec) = pending::load(file)?;
        let row = RunRow::full(&rec)?;
        let done = self.write("import a saved run", |tx| {
            if let Some(id) = codec::same_run(tx, &rec)? {
                return Ok(Imported::AlreadyThere(id));
            }
            match begun.filter(|id| codec::is_unfinished(tx, *id, &rec).unwrap_or(false)) {
                Some(id) => {
                    codec::write_finished(tx, id, &row)?;
                    Ok(Imported::Finished(id))
                }
                None => Ok(Imported::Added(codec::insert_full(tx, &row)?)),
            }
        })?;
        let ours = file.parent() == Some(pending::dir_for(&self.path).as_path());
        if ours {
            if let Err(e) = std::fs::remove_file(file) {
                tracing::warn!("cannot remove {} after importing it: {e}", file.display());
            }
        }
        Ok(done)
    }

    /// Checks the tables a run writes (`PRAGMA quick_check` of each) before a run starts, so
    /// that a damaged store is found before the load, not after it.
    pub fn check_before_run(&self) -> Result<(), StoreError> {
        let mut problems = Vec::new();
        for table in RUN_TABLES {
            let sql = format!("PRAGMA quick_check('{table}')");
            let found: Result<Vec<String>, rusqlite::Error> =
                self.conn.prepare(&sql).and_then(|mut st| {
                    st.query_map([], |r| r.get::<_, String>(0))?
                        .collect::<Result<_, _>>()
                });
            match found {
                Ok(lines) if lines == ["ok"] => {}
                Ok(lines) => problems.push(format!(
                    "{table}: {}",
                    lines.into_iter().take(3).collect::<Vec<_>>().join("; ")
                )),
                Err(e) if is_busy(&e) => {}
                Err(e) => problems.push(format!("{table}: {e}")),
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(StoreError::Damaged {
            path: self.path.clone(),
            detail: format!("PRAGMA quick_check: {}", problems.join("; ")),
        })
    }

    /// Marks as `interrupted` every `running` run whose loadgate process is gone (killed with
    /// SIGKILL, crashed, the machine restarted): its status says so, and its end is the end of
    /// the last interval it flushed, whose measurements it keeps. Runs of live processes, and
    /// of processes on other hosts, are left `running`. Returns the ids it marked.
    pub fn mark_interrupted(&mut self) -> Result<Vec<i64>, StoreError> {
        let dead = self.read("look for runs whose process died", |tx| {
            let mut st = tx.prepare(
                "SELECT id, owner_host, owner_boot_id, owner_pid, owner_start FROM runs \
                 WHERE status = 'running' AND owner_pid IS NOT NULL",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, i64>("id")?,
                    owner::Owner {
                        host: r.get("owner_host")?,
                        boot_id: r.get("owner_boot_id")?,
                        pid: r.get("owner_pid")?,
                        start: r.get("owner_start")?,
                    },
                ))
            })?;
            let mut dead = Vec::new();
            for row in rows {
                let (id, o) = row?;
                if o.gone() == Some(true) {
                    dead.push((id, o.pid));
                }
            }
            Ok(dead)
        })?;
        if dead.is_empty() {
            return Ok(Vec::new());
        }
        self.write("mark runs whose process died as interrupted", |tx| {
            let mut marked = Vec::new();
            for (id, pid) in &dead {
                if codec::mark_interrupted(tx, *id, *pid)? {
                    marked.push(*id);
                }
            }
            Ok(marked)
        })
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

    /// Stores the intervals of run `id` (still `running`) closed so far, `samples` being the
    /// ones from index `from` on, so that a run whose process dies keeps what it measured. One
    /// short attempt: it is called from the thread that paces the run, so a store locked by
    /// another process makes it fail at once (the caller tries again with the next interval)
    /// rather than wait.
    pub fn flush_intervals(
        &mut self,
        id: i64,
        from: usize,
        samples: &[crate::record::IntervalSample],
    ) -> Result<(), StoreError> {
        let what = "flush the intervals of a running run";
        let r = flush_once(&mut self.conn, id, from, samples);
        let _ = self.conn.busy_timeout(BUSY_TIMEOUT);
        r.map_err(|e| self.error(e, what, 1, true))
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

/// One attempt at [`Store::flush_intervals`], waiting at most [`FLUSH_BUSY_TIMEOUT`] for the
/// lock.
fn flush_once(
    conn: &mut Connection,
    id: i64,
    from: usize,
    samples: &[crate::record::IntervalSample],
) -> Result<(), TxError> {
    conn.busy_timeout(FLUSH_BUSY_TIMEOUT)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    codec::write_intervals(&tx, id, from, samples)?;
    tx.commit()?;
    Ok(())
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
