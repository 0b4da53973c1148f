//! Error types shared across the crate, and the one place that maps an outcome to an exit code.
//!
//! Modules return their own `thiserror` enums carrying the context a user needs (file and line,
//! host and port, SQL statement, server error code). Each implements [`ExitCode`] in its own
//! module, which converts it into [`Error`] (so `?` works), whose [`Error::exit_code`] is the
//! documented exit code. Only `main` exits.
//!
//! This module is a leaf: it names no other module of the crate. [`Error`] carries a module's
//! error without knowing its type; [`Error::downcast_ref`] gets it back.

use std::fmt;
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

    /// A module's own error (workload, target, server, store, bulk, index, regress), shown as
    /// it is, with the exit code it chose.
    #[error(transparent)]
    Module(ModuleError),

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

    /// A verdict that is not a pass: a regression (exit 1) or inconclusive (exit 3). Not a
    /// failure of the tool; `main` prints it without the `Error:` prefix.
    #[error("{message}")]
    Verdict { code: u8, message: String },

    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// A module's error type: its exit code is its own to choose (one of [`exit`]). Implementing it
/// makes the type convert into [`Error`].
pub trait ExitCode: std::error::Error + Send + Sync + 'static {
    /// The documented exit code for this error.
    fn exit_code(&self) -> u8;
}

/// A module's error inside [`Error`]: displayed exactly as the module's error (its `source` is
/// the module error's), with the exit code that error chose.
pub struct ModuleError {
    code: u8,
    error: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl fmt::Debug for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.error, f)
    }
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for ModuleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

impl<E: ExitCode> From<E> for Error {
    fn from(e: E) -> Self {
        Error::Module(ModuleError {
            code: e.exit_code(),
            error: Box::new(e),
        })
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

    /// The module error of type `E` this error carries, if it is one: how to ask "is this a
    /// workload error" without a variant per module.
    pub fn downcast_ref<E: ExitCode>(&self) -> Option<&E> {
        match self {
            Error::Module(m) => m.error.downcast_ref::<E>(),
            _ => None,
        }
    }

    /// The documented exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => exit::USAGE,
            Error::Module(m) => m.code,
            Error::Refused(_) => exit::REFUSED,
            Error::Output { .. } => exit::USAGE,
            Error::Incomplete { .. } => exit::INCOMPLETE,
            Error::Alert { .. } => exit::ALERT,
            Error::Health { code, .. } => *code,
            Error::Interrupted { .. } => exit::INTERRUPTED,
            Error::Verdict { code, .. } => *code,
            Error::Other(_) => exit::TARGET,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Checks that `e` turned into an [`Error`] reads exactly as `e`, exits with `code` and can be
/// got back by type. For the module tests of each error type.
#[cfg(test)]
pub(crate) fn assert_module_error<E: ExitCode>(e: E, code: u8) {
    let shown = e.to_string();
    let alternate = format!("{e:#}");
    let err = Error::from(e);
    assert_eq!(err.to_string(), shown);
    assert_eq!(format!("{err:#}"), alternate);
    assert_eq!(err.exit_code(), code, "{shown}");
    assert!(err.downcast_ref::<E>().is_some(), "{shown}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Demo {
        #[error("cannot read {0}: {1}")]
        Read(String, #[source] std::io::Error),
    }

    impl ExitCode for Demo {
        fn exit_code(&self) -> u8 {
            exit::STORE
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("other")]
    struct Other;

    impl ExitCode for Other {
        fn exit_code(&self) -> u8 {
            exit::USAGE
        }
    }

    fn demo() -> Demo {
        Demo::Read("f".into(), std::io::Error::other("gone"))
    }

    #[test]
    fn a_module_error_is_carried_as_it_is() {
        assert_module_error(demo(), exit::STORE);
        let e = Error::from(demo());
        assert_eq!(e.to_string(), "cannot read f: gone");
        let source = std::error::Error::source(&e).expect("the module error's source");
        assert_eq!(source.to_string(), "gone");
        assert!(e.downcast_ref::<Other>().is_none());
        assert!(Error::Usage("u".into()).downcast_ref::<Demo>().is_none());
    }

    #[test]
    fn this_module_names_no_other_module_of_the_crate() {
        let source = include_str!("error.rs");
        let path = concat!("crate", "::");
        assert!(!source.contains(path), "error.rs must stay a leaf");
    }

    #[test]
    fn question_mark_converts_a_module_error() {
        fn f() -> Result<()> {
            Err(Other)?;
            Ok(())
        }
        let e = f().unwrap_err();
        assert_eq!(
            (e.to_string().as_str(), e.exit_code()),
            ("other", exit::USAGE)
        );
    }
}
