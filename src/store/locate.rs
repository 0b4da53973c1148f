//! Where the run store is: the file named by `--store` or `LOADGATE_STORE`, else the nearest
//! `baselines/` directory from the current directory upward (as git finds its repository),
//! else the per-user data directory (`$XDG_DATA_HOME/loadgate/`, else
//! `~/.local/share/loadgate/`). The store file in a directory is always `loadgate.db`.
//!
//! Finding is pure path logic plus `is_dir` checks: nothing is created here. Writing commands
//! open the found path with [`super::Store::open`] (which creates it); reading commands use
//! [`super::Store::open_existing`], which never does.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The file name of the store inside `baselines/` or the per-user data directory.
pub const STORE_FILE: &str = "loadgate.db";

/// The directory, searched for upward from the current directory, that holds a project's store.
pub const STORE_DIR: &str = "baselines";

/// Why the store is where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOrigin {
    /// `--store PATH` or `LOADGATE_STORE`.
    Explicit,
    /// The nearest `baselines/` directory from `from` upward.
    Found { from: PathBuf },
    /// No `baselines/` directory from `from` upward: the per-user data directory.
    UserData { from: PathBuf },
    /// Neither a `baselines/` directory nor a home directory: `baselines/` in the current
    /// directory `from` (what a writing command creates).
    CurrentDir { from: PathBuf },
}

/// The store file a command uses and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreLocation {
    pub path: PathBuf,
    pub origin: StoreOrigin,
}

impl fmt::Display for StoreOrigin {
    /// How the store was found, for "store: PATH (HOW)" and "no store at PATH (HOW)".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreOrigin::Explicit => write!(f, "named by --store or {}", super::STORE_ENV),
            StoreOrigin::Found { from } => write!(
                f,
                "the nearest `{STORE_DIR}/` directory from {} upward",
                from.display()
            ),
            StoreOrigin::UserData { from } => write!(
                f,
                "the per-user store: no `{STORE_DIR}/` directory from {} upward",
                from.display()
            ),
            StoreOrigin::CurrentDir { from } => write!(
                f,
                "no `{STORE_DIR}/` directory from {} upward and no home directory",
                from.display()
            ),
        }
    }
}

impl StoreLocation {
    /// The store for this process: `explicit` (the `--store` flag, which clap also fills from
    /// `LOADGATE_STORE`), else found from the current directory and the environment.
    pub fn of_process(explicit: Option<PathBuf>) -> StoreLocation {
        let explicit = explicit.or_else(|| {
            std::env::var_os(super::STORE_ENV)
                .filter(|p| !p.is_empty())
                .map(PathBuf::from)
        });
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        locate(
            explicit.filter(|p| !p.as_os_str().is_empty()),
            &cwd,
            std::env::var_os("XDG_DATA_HOME"),
            std::env::var_os("HOME"),
        )
    }
}

/// The store location from these inputs (see the module documentation for the order).
pub fn locate(
    explicit: Option<PathBuf>,
    cwd: &Path,
    xdg_data_home: Option<OsString>,
    home: Option<OsString>,
) -> StoreLocation {
    if let Some(path) = explicit {
        return StoreLocation {
            path,
            origin: StoreOrigin::Explicit,
        };
    }
    let from = cwd.to_path_buf();
    if let Some(dir) = cwd
        .ancestors()
        .map(|a| a.join(STORE_DIR))
        .find(|d| d.is_dir())
    {
        return StoreLocation {
            path: dir.join(STORE_FILE),
            origin: StoreOrigin::Found { from },
        };
    }
    // XDG: a relative $XDG_DATA_HOME is invalid and ignored.
    let data = xdg_data_home
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| {
            home.map(PathBuf::from)
                .filter(|p| p.is_absolute())
                .map(|h| h.join(".local").join("share"))
        });
    match data {
        Some(d) => StoreLocation {
            path: d.join("loadgate").join(STORE_FILE),
            origin: StoreOrigin::UserData { from },
        },
        None => StoreLocation {
            path: cwd.join(STORE_DIR).join(STORE_FILE),
            origin: StoreOrigin::CurrentDir { from },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &Path) -> Option<OsString> {
        Some(s.as_os_str().to_owned())
    }

    #[test]
    fn explicit_wins_over_everything() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join(STORE_DIR)).unwrap();
        let loc = locate(Some("x.db".into()), d.path(), os(d.path()), os(d.path()));
        assert_eq!(loc.path, PathBuf::from("x.db"));
        assert_eq!(loc.origin, StoreOrigin::Explicit);
    }

    #[test]
    fn the_nearest_baselines_directory_upward_wins() {
        let d = tempfile::tempdir().unwrap();
        let deep = d.path().join("a").join("b");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::create_dir(d.path().join(STORE_DIR)).unwrap();
        let loc = locate(None, &deep, None, None);
        assert_eq!(loc.path, d.path().join(STORE_DIR).join(STORE_FILE));
        assert_eq!(loc.origin, StoreOrigin::Found { from: deep.clone() });
        // A nearer one wins.
        std::fs::create_dir(d.path().join("a").join(STORE_DIR)).unwrap();
        let loc = locate(None, &deep, None, None);
        assert_eq!(
            loc.path,
            d.path().join("a").join(STORE_DIR).join(STORE_FILE)
        );
        // A file named `baselines` is not a store directory.
        std::fs::write(deep.join(STORE_DIR), b"").unwrap();
        let loc = locate(None, &deep, None, None);
        assert_eq!(
            loc.path,
            d.path().join("a").join(STORE_DIR).join(STORE_FILE)
        );
    }

    #[test]
    fn without_baselines_the_per_user_data_directory() {
        let d = tempfile::tempdir().unwrap();
        let data = d.path().join("data");
        let home = d.path().join("home");
        let loc = locate(None, d.path(), os(&data), os(&home));
        assert_eq!(loc.path, data.join("loadgate").join(STORE_FILE));
        assert!(matches!(loc.origin, StoreOrigin::UserData { .. }));
        // A relative XDG_DATA_HOME is ignored, as the XDG specification says.
        let loc = locate(None, d.path(), Some("rel".into()), os(&home));
        assert_eq!(
            loc.path,
            home.join(".local/share").join("loadgate").join(STORE_FILE)
        );
        let loc = locate(None, d.path(), None, None);
        assert_eq!(loc.path, d.path().join(STORE_DIR).join(STORE_FILE));
        assert!(matches!(loc.origin, StoreOrigin::CurrentDir { .. }));
        assert!(
            !d.path().join(STORE_DIR).exists(),
            "locating creates nothing"
        );
    }
}
