//! Error types shared across the crate, and the one place that maps an outcome to an exit code.
//!
//! Modules return their own `thiserror` enums carrying the context a user needs (file and line,
//! host and port, SQL statement, server error code). They convert into [`Error`], whose
//! [`Error::exit_code`] is the documented exit code. Only `main` exits.

use std::path::PathBuf;

/// Documented exit codes (README, "Exit codes").
pub mod exit {
    /// Success: the command did what was asked; the run is complete.
    pub const OK: u8 = 0;
    /// A regression was detected (compare, gate).
    pub const REGRESSION: u8 = 1;
    /// Bad input: a flag, a workload file, an unknown workload or run, a malformed URL.
    pub const USAGE: u8 = 2;
    /// The verdict is inconclusive (compare, gate).
    pub const INCONCLUSIVE: u8 = 3;
    /// The target could not be used: unreachable, bad credentials, no server binary, a server
    /// error while preparing.
    pub const TARGET: u8 = 4;
    /// The run was stored but is partial or failed: the server went away, nothing was measured.
    pub const INCOMPLETE: u8 = 5;
    /// An alert at or above the `--fail-on-alert` level was raised.
    pub const ALERT: u8 = 6;
    /// The run store could not be opened or written.
    pub const STORE: u8 = 7;
    /// A destructive step was refused because it would touch objects loadgate does not own.
    pub const REFUSED: u8 = 8;
    /// Interrupted by Ctrl-C (SIGINT); whatever was measured is stored as partial.
    pub const INTERRUPTED: u8 = 130;
}

/// The crate-level error: what went wrong, with enough context to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error(transparent)]
    Workload(#[from] crate::workload::WorkloadError),

    #[error(transparent)]
    Target(#[from] crate::target::TargetError),

    #[error(transparent)]
    Server(#[from] crate::server::ServerError),

    #[error(transparent)]
    Store(#[from] crate::store::StoreError),

    #[error(transparent)]
    Bulk(#[from] crate::bulk::BulkError),

    #[error(transparent)]
    Index(#[from] crate::index::IndexError),

    #[error("{0}")]
    Refused(String),

    #[error("cannot write {path}: {source}")]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A run finished but is not complete; it has been stored.
    #[error("run {id} is {status}: {reason}")]
    Incomplete {
        id: i64,
        status: &'static str,
        reason: String,
    },

    /// Alerts at or above the `--fail-on-alert` level; the run or session has been stored.
    #[error("{what} raised {} alert(s) at {level} level or above: {}", .alerts.len(), .alerts.join("; "))]
    Alert {
        what: String,
        level: &'static str,
        alerts: Vec<String>,
    },

    /// `loadgate health` found the server not ok (or could not check it); the report is on
    /// stdout. `code` is health's own exit code (0 ok, 1 warning, 2 critical, 3 unknown).
    #[error("{message}")]
    Health { message: String, code: u8 },

    /// Ctrl-C; the partial run has been stored (if there was one).
    #[error("interrupted{}", .id.map(|i| format!("; partial run {i} stored")).unwrap_or_default())]
    Interrupted { id: Option<i64> },

    /// What compare/ab/gate cannot compare (unknown baseline, empty or failed set, too few
    /// trials, mismatched runs).
    #[error(transparent)]
    Regress(#[from] crate::regress::RegressError),

    /// A verdict that is not a pass: a regression (exit 1) or inconclusive (exit 3). Not a
    /// failure of the tool; `main` prints it without the `Error:` prefix.
    #[error("{message}")]
    Verdict { code: u8, message: String },

    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<crate::stats::StatsError> for Error {
    fn from(e: crate::stats::StatsError) -> Self {
        Error::Regress(e.into())
    }
}

impl Error {
    /// The async runtime could not start (the process is out of threads or file descriptors).
    pub fn runtime(e: std::io::Error) -> Error {
        Error::Other(anyhow::anyhow!("cannot start the async runtime: {e}"))
    }

    /// True for a verdict (regression, inconclusive), which is an answer, not a failure.
    pub fn is_verdict(&self) -> bool {
        matches!(self, Error::Verdict { .. })
    }

    /// The documented exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) | Error::Workload(_) => exit::USAGE,
            Error::Target(e) => e.exit_code(),
            Error::Server(_) => exit::TARGET,
            Error::Store(_) => exit::STORE,
            Error::Bulk(e) => e.exit_code(),
            Error::Index(e) => e.exit_code(),
            Error::Refused(_) => exit::REFUSED,
            Error::Output { .. } => exit::USAGE,
            Error::Incomplete { .. } => exit::INCOMPLETE,
            Error::Alert { .. } => exit::ALERT,
            Error::Health { code, .. } => *code,
            Error::Interrupted { .. } => exit::INTERRUPTED,
            Error::Regress(e) => e.exit_code(),
            Error::Verdict { code, .. } => *code,
            Error::Other(_) => exit::TARGET,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
