//! The throwaway local server (the "embedded default"): with no `--target`, loadgate finds a
//! MariaDB or MySQL server binary, initialises a temporary datadir, runs the server on a free
//! loopback port and removes everything afterwards.
//!
//! Two lifetimes are offered:
//!
//! - [`LocalServer`] lives as long as the value: [`LocalServer::start`] returns once the server
//!   answers with a MySQL handshake, and [`LocalServer::stop`] (or `Drop`) stops it and removes
//!   its datadir.
//! - The detached server ([`start_detached`], [`status_detached`], [`stop_detached`]) backs
//!   `loadgate server start|stop|status`: it runs in its own session, outlives the command that
//!   started it, and is tracked through `server.json` in a state directory
//!   ([`default_state_dir`]).
//!
//! Everything here is blocking `std::process` code; from async code call it through
//! `tokio::task::spawn_blocking`. Linux-specific checks (`/proc`) are skipped where `/proc` is
//! absent.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Environment variable naming the server binary to use instead of searching for one.
pub const SERVER_BIN_ENV: &str = "LOADGATE_SERVER_BIN";

/// Environment variable naming the state directory of the detached server.
pub const STATE_DIR_ENV: &str = "LOADGATE_STATE_DIR";

/// Prefix of every datadir this module creates; nothing without it is ever removed.
pub const DATADIR_PREFIX: &str = "loadgate-server-";

/// Name of the detached server's state file inside the state directory.
pub const STATE_FILE: &str = "server.json";

/// How long a server may take to answer after it was spawned.
pub const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a server may take to shut down after SIGTERM before it gets SIGKILL.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(30);

/// How many ports are tried when the server cannot bind the one picked for it.
const PORT_ATTEMPTS: usize = 5;

/// How many lines of the error log an error carries.
const LOG_TAIL_LINES: usize = 20;

/// How long `--version` and the datadir initialisation may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(15);
const INIT_TIMEOUT: Duration = Duration::from_secs(300);

/// The server's private tmpdir inside the datadir. MariaDB deletes every `#sql*` file in its
/// tmpdir when it starts, so servers sharing `/tmp` break each other's temporary tables (one
/// starting server made another's bootstrap fail). The leading dot keeps it acceptable to
/// MySQL's `--initialize`, which wants an otherwise empty datadir.
const TMPDIR: &str = ".tmp";

/// The file in a [`LocalServer`]'s datadir that names the loadgate process it belongs to:
/// `PID START_TIME`, the start time in clock ticks since boot (`/proc/PID/stat`, field 22), so
/// that a reused pid is not taken for the owner. A loadgate process killed with SIGKILL cannot
/// stop its server; the next throwaway server started in the same directory finds the owner
/// gone and stops and removes the orphan ([`sweep_orphans`]). Detached servers have no such
/// file: they outlive their starter by design.
const OWNER_FILE: &str = "loadgate-owner";

/// The content of [`OWNER_FILE`] in a detached server's datadir once it runs: no process owns
/// it, its state file does.
const DETACHED_OWNER: &str = "detached";

/// How long setting up a server can take at most: initialising the datadir, then every start
/// attempt. A datadir without an owner file (left by a loadgate from before the file was
/// written first, or one killed between creating the directory and writing the file) and
/// untouched for longer than this is not being set up any more; the sweep removes it.
const START_BOUND: Duration =
    Duration::from_secs(INIT_TIMEOUT.as_secs() + STARTUP_TIMEOUT.as_secs() * PORT_ATTEMPTS as u64);

/// Longest Unix socket path the kernel accepts (`sun_path` is 108 bytes with the NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Server options that keep the throwaway server small and quick to start. Durability settings
/// are left at their defaults so results stay comparable with a real server.
const SMALL_SERVER_ARGS: &[&str] = &[
    "--innodb-buffer-pool-size=256M",
    "--innodb-log-file-size=64M",
];

const NOT_INSTALLED: &str = "no MariaDB/MySQL server binary found; install one with \
`apt-get install mariadb-server` (Debian/Ubuntu) or pass `--target mysql://user@host:port/db` \
to use an existing server";

/// Everything that can go wrong with the local server. Each variant carries what a user needs
/// to act: the binary, the datadir, the port, the tail of the server's error log.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// No server binary was found (or `LOADGATE_SERVER_BIN` names a file that does not exist).
    /// `searched` lists the places looked at.
    #[error("{}", NOT_INSTALLED)]
    NotInstalled { searched: Vec<PathBuf> },

    #[error(
        "{path} does not look like a MariaDB/MySQL server ({reason}); \
         point LOADGATE_SERVER_BIN at mariadbd or mysqld"
    )]
    UnrecognisedBinary { path: PathBuf, reason: String },

    #[error(
        "found the server {server} but no mariadb-install-db or mysql_install_db next to it \
         or on PATH to initialise a datadir with; install the complete mariadb-server package \
         or pass `--target mysql://user@host:port/db` to use an existing server"
    )]
    InstallDbMissing { server: PathBuf },

    #[error("initialising datadir {datadir} with {tool} failed: {reason}; its last output:\n{output_tail}")]
    InitFailed {
        tool: PathBuf,
        datadir: PathBuf,
        reason: String,
        output_tail: String,
    },

    #[error(
        "server {binary} exited during startup ({status}, port {port}, datadir {datadir}); \
         last lines of its error log:\n{log_tail}"
    )]
    StartFailed {
        binary: PathBuf,
        datadir: PathBuf,
        port: u16,
        status: String,
        log_tail: String,
    },

    #[error(
        "server {binary} (pid {pid}) did not answer on 127.0.0.1:{port} within {} s \
         (datadir {datadir}); last lines of its error log:\n{log_tail}",
        .timeout.as_secs()
    )]
    StartTimeout {
        binary: PathBuf,
        datadir: PathBuf,
        pid: u32,
        port: u16,
        timeout: Duration,
        log_tail: String,
    },

    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    #[error("cannot send {signal} to server pid {pid}: {source}")]
    Signal {
        pid: u32,
        signal: &'static str,
        source: io::Error,
    },

    #[error(
        "a loadgate server is already running (pid {pid}, {url}), recorded in {}; \
         stop it with `loadgate server stop` or use another state directory (LOADGATE_STATE_DIR)",
        .state_file.display()
    )]
    AlreadyRunning {
        pid: u32,
        url: String,
        state_file: PathBuf,
    },

    #[error(
        "the server recorded in {} (pid {pid}) is alive but 127.0.0.1:{port} does not answer \
         (paused, still starting or overloaded?); `loadgate server stop` stops it",
        .state_file.display()
    )]
    NotAnswering {
        pid: u32,
        port: u16,
        state_file: PathBuf,
    },

    #[error(
        "state file {path} is unreadable ({reason}); remove it if no loadgate server is running"
    )]
    BadStateFile { path: PathBuf, reason: String },

    #[error("state directory {path} cannot be used: {reason}; set LOADGATE_STATE_DIR to another directory")]
    StateDir { path: PathBuf, reason: String },

    /// Ctrl-C (SIGINT) while the server was being set up: whatever had started was stopped and
    /// the datadir removed.
    #[error(
        "interrupted while the throwaway server was {stage}; it was stopped and its datadir \
         {datadir} removed"
    )]
    Interrupted {
        stage: &'static str,
        datadir: PathBuf,
    },
}

impl crate::error::ExitCode for ServerError {
    /// Ctrl-C is an interruption (130); every other local-server error means the target could
    /// not be used.
    fn exit_code(&self) -> u8 {
        match self {
            ServerError::Interrupted { .. } => crate::error::exit::INTERRUPTED,
            _ => crate::error::exit::TARGET,
        }
    }
}

/// Set by the SIGINT handler [`InterruptGuard`] installs while a server is set up.
static INTERRUPTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// While it lives, SIGINT sets [`INTERRUPTED`] instead of killing the process (or reaching
/// whatever handler was there, such as tokio's), so that Ctrl-C while a server is initialised
/// or started unwinds: the children are stopped and the datadir removed. Guards may overlap
/// (servers started on several threads): the first installs the handler, the last puts the
/// previous one back.
struct InterruptGuard;

/// How many [`InterruptGuard`]s live, and the handler that was there before the first.
static GUARDS: std::sync::Mutex<(usize, Option<libc::sigaction>)> =
    std::sync::Mutex::new((0, None));

impl InterruptGuard {
    fn install() -> InterruptGuard {
        let mut g = GUARDS.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 == 0 {
            INTERRUPTED.store(false, std::sync::atomic::Ordering::SeqCst);
            // SAFETY: a zeroed sigaction is a valid value; the handler only stores an atomic,
            // and the previous action is read into memory the guard count owns.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                let mut previous: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(libc::SIGINT, &action, &mut previous) == 0 {
                    g.1 = Some(previous);
                }
            }
        }
        g.0 += 1;
        InterruptGuard
    }
}

impl Drop for InterruptGuard {
    fn drop(&mut self) {
        let mut g = GUARDS.lock().unwrap_or_else(|e| e.into_inner());
        g.0 = g.0.saturating_sub(1);
        if g.0 == 0 {
            if let Some(previous) = g.1.take() {
                // SAFETY: restores the action saved by the first guard.
                unsafe {
                    libc::sigaction(libc::SIGINT, &previous, std::ptr::null_mut());
                }
            }
        }
    }
}

/// True once Ctrl-C came while an [`InterruptGuard`] was installed.
fn interrupted() -> bool {
    INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst)
}

fn io_err(action: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> ServerError {
    let path = path.into();
    move |source| ServerError::Io {
        action,
        path,
        source,
    }
}

/// Which server family a binary belongs to; they differ in how a datadir is initialised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Flavor {
    #[serde(rename = "mariadb")]
    MariaDb,
    #[serde(rename = "mysql")]
    MySql,
}

impl Flavor {
    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::MariaDb => "mariadb",
            Flavor::MySql => "mysql",
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A server binary that answered `--version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBinary {
    pub path: PathBuf,
    pub flavor: Flavor,
    /// The version as the binary reports it, e.g. `10.11.19-MariaDB-0+deb12u1` or `8.0.36`.
    pub version: String,
}

impl ServerBinary {
    /// Runs `path --version` and recognises the flavour and version from its output.
    pub fn probe(path: &Path) -> Result<ServerBinary, ServerError> {
        let unrecognised = |reason: String| ServerError::UnrecognisedBinary {
            path: path.to_path_buf(),
            reason,
        };
        let mut cmd = Command::new(path);
        cmd.arg("--version");
        let (status, output) = run_captured(&mut cmd, VERSION_TIMEOUT)
            .map_err(|e| unrecognised(format!("running it with --version failed: {e}")))?;
        if !status.success() {
            return Err(unrecognised(format!(
                "`--version` failed ({status}): {}",
                output.trim()
            )));
        }
        let (flavor, version) = parse_version(&output).ok_or_else(|| {
            unrecognised(format!(
                "unexpected `--version` output: {:?}",
                output.lines().next().unwrap_or("")
            ))
        })?;
        Ok(ServerBinary {
            path: path.to_path_buf(),
            flavor,
            version,
        })
    }
}

/// Recognises `mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 ...` and
/// `/usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)`.
fn parse_version(output: &str) -> Option<(Flavor, String)> {
    let line = output.lines().find(|l| l.contains(" Ver "))?;
    let mut words = line.split_whitespace();
    words.find(|w| *w == "Ver")?;
    let version = words.next()?.to_string();
    let flavor = if line.to_ascii_lowercase().contains("mariadb") {
        Flavor::MariaDb
    } else {
        Flavor::MySql
    };
    Some((flavor, version))
}

/// The places searched for a server binary: every directory on `PATH`, then `/usr/sbin`,
/// `/usr/libexec` and `/usr/local/mysql/bin` (system daemons are often not on a user's `PATH`).
pub fn default_search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(
        ["/usr/sbin", "/usr/libexec", "/usr/local/mysql/bin"]
            .iter()
            .map(PathBuf::from),
    );
    let mut seen = HashSet::new();
    dirs.retain(|d| !d.as_os_str().is_empty() && seen.insert(d.clone()));
    dirs
}

/// Finds the server binary: `LOADGATE_SERVER_BIN` if set, else `mariadbd` then `mysqld` in
/// [`default_search_dirs`].
pub fn find_server_binary() -> Result<ServerBinary, ServerError> {
    let override_bin = std::env::var_os(SERVER_BIN_ENV).filter(|v| !v.is_empty());
    find_server_binary_in(
        override_bin.as_deref().map(Path::new),
        &default_search_dirs(),
    )
}

/// [`find_server_binary`] with the override and the search path given explicitly.
///
/// An override that contains no `/` is looked up in `dirs`; one that does not exist yields
/// [`ServerError::NotInstalled`] (it is not silently replaced by a search).
pub fn find_server_binary_in(
    override_bin: Option<&Path>,
    dirs: &[PathBuf],
) -> Result<ServerBinary, ServerError> {
    if let Some(bin) = override_bin {
        let candidates: Vec<PathBuf> = if bin.components().count() > 1 || bin.is_absolute() {
            vec![bin.to_path_buf()]
        } else {
            dirs.iter().map(|d| d.join(bin)).collect()
        };
        return match candidates.iter().find(|c| is_executable(c)) {
            Some(found) => ServerBinary::probe(found),
            None => Err(ServerError::NotInstalled {
                searched: candidates,
            }),
        };
    }
    let mut searched = Vec::new();
    let mut first_error = None;
    for name in ["mariadbd", "mysqld"] {
        for dir in dirs {
            let candidate = dir.join(name);
            if is_executable(&candidate) {
                match ServerBinary::probe(&candidate) {
                    Ok(found) => return Ok(found),
                    Err(e) => {
                        tracing::debug!("skipping {}: {e}", candidate.display());
                        first_error.get_or_insert(e);
                    }
                }
            }
            searched.push(candidate);
        }
    }
    Err(first_error.unwrap_or(ServerError::NotInstalled { searched }))
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// How to start a [`LocalServer`].
#[derive(Debug, Clone, Default)]
pub struct LocalServerOptions {
    /// Passed to the server after loadgate's own options, so they win, e.g.
    /// `--performance-schema=ON`, `--max-connections=5`. Do not change `--port` or
    /// `--bind-address`: loadgate waits for the server on 127.0.0.1 at the port it picked.
    pub extra_args: Vec<String>,
    /// The server binary; `None` searches for one ([`find_server_binary`]).
    pub binary: Option<PathBuf>,
    /// Where the temporary datadir is created; `None` is the system temp directory.
    pub datadir_parent: Option<PathBuf>,
}

/// A running throwaway server. Stopped, and its datadir removed, by [`LocalServer::stop`] or
/// when dropped.
#[derive(Debug)]
pub struct LocalServer {
    child: Child,
    /// Set once the process has been reaped.
    exited: bool,
    /// Set once the datadir has been removed.
    cleaned: bool,
    binary: ServerBinary,
    port: u16,
    datadir: PathBuf,
    socket: PathBuf,
}

impl LocalServer {
    /// Starts a server on a fresh datadir and returns once it answers with a MySQL handshake on
    /// 127.0.0.1 (at most [`STARTUP_TIMEOUT`] after it was spawned).
    pub fn start(opts: &LocalServerOptions) -> Result<LocalServer, ServerError> {
        let binary = resolve_binary(opts)?;
        let _ctrl_c = InterruptGuard::install();
        let datadir = Datadir::create(opts.datadir_parent.as_deref())?;
        initialise(&binary, &datadir.path)?;
        let started = Instant::now();
        let (child, port) = spawn_until_ready(&binary, &datadir.path, &opts.extra_args, false)?;
        tracing::info!(
            "started {} {} (pid {}) on 127.0.0.1:{port} in {:.1} s, datadir {}",
            binary.flavor,
            binary.version,
            child.id(),
            started.elapsed().as_secs_f64(),
            datadir.path.display()
        );
        let socket = socket_path(&datadir.path);
        Ok(LocalServer {
            child,
            exited: false,
            cleaned: false,
            binary,
            port,
            datadir: datadir.keep(),
            socket,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `mysql://root@127.0.0.1:PORT/` (root has no password on the throwaway server).
    pub fn url(&self) -> String {
        server_url(self.port)
    }

    pub fn datadir(&self) -> &Path {
        &self.datadir
    }

    pub fn flavor(&self) -> Flavor {
        self.binary.flavor
    }

    /// The version the binary reported, e.g. `10.11.19-MariaDB-0+deb12u1`.
    pub fn version(&self) -> &str {
        &self.binary.version
    }

    pub fn binary(&self) -> &ServerBinary {
        &self.binary
    }

    /// The server's Unix socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The server's error log (inside the datadir, so gone after `stop`).
    pub fn error_log(&self) -> PathBuf {
        self.datadir.join("error.log")
    }

    /// The last `lines` lines of the error log, for diagnostics.
    pub fn log_tail(&self, lines: usize) -> String {
        tail_lines(&self.error_log(), lines)
    }

    /// Stops the server (SIGTERM, SIGKILL after [`SHUTDOWN_TIMEOUT`]) and removes its datadir.
    /// Failures are logged; use [`LocalServer::try_stop`] to see them.
    pub fn stop(self) {
        if let Err(e) = self.try_stop() {
            tracing::warn!("stopping the local server: {e}");
        }
    }

    /// [`LocalServer::stop`], reporting what failed.
    pub fn try_stop(mut self) -> Result<(), ServerError> {
        self.shutdown()
    }

    /// Kills the server with SIGKILL, as a crash would, and reaps it. The datadir stays until
    /// `stop` or drop.
    pub fn kill(&mut self) -> Result<(), ServerError> {
        if self.exited {
            return Ok(());
        }
        let pid = self.pid();
        signal(pid, libc::SIGKILL, "SIGKILL")?;
        self.child.wait().map_err(|source| ServerError::Signal {
            pid,
            signal: "SIGKILL",
            source,
        })?;
        self.exited = true;
        Ok(())
    }

    /// Freezes the server (SIGSTOP): connections stay open and queries hang.
    ///
    /// Returns once every thread of the server is stopped (or after 2 s): SIGSTOP is delivered
    /// asynchronously, and a thread already running on another core could otherwise still
    /// answer a query sent right after `pause` returns.
    pub fn pause(&self) -> Result<(), ServerError> {
        signal(self.pid(), libc::SIGSTOP, "SIGSTOP")?;
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline && !all_threads_stopped(self.pid()) {
            std::thread::sleep(Duration::from_millis(1));
        }
        Ok(())
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) -> Result<(), ServerError> {
        signal(self.pid(), libc::SIGCONT, "SIGCONT")
    }

    fn shutdown(&mut self) -> Result<(), ServerError> {
        let mut result = Ok(());
        if !self.exited {
            match terminate_child(&mut self.child, SHUTDOWN_TIMEOUT) {
                Ok(_) => self.exited = true,
                Err(e) => result = Err(e),
            }
        }
        if !self.cleaned {
            let removed = remove_datadir(&self.datadir);
            if removed.is_ok() {
                self.cleaned = true;
            }
            result = result.and(removed);
        }
        result
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

fn resolve_binary(opts: &LocalServerOptions) -> Result<ServerBinary, ServerError> {
    match &opts.binary {
        Some(path) if !path.exists() => Err(ServerError::NotInstalled {
            searched: vec![path.clone()],
        }),
        Some(path) => ServerBinary::probe(path),
        None => find_server_binary(),
    }
}

fn server_url(port: u16) -> String {
    format!("mysql://root@127.0.0.1:{port}/")
}

/// A datadir removed on drop unless kept, so that every failed start cleans up after itself.
struct Datadir {
    path: PathBuf,
    keep: bool,
}

impl Datadir {
    fn create(parent: Option<&Path>) -> Result<Datadir, ServerError> {
        let parent = parent
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        fs::create_dir_all(&parent).map_err(io_err("cannot create", &parent))?;
        // The server resolves its paths against the datadir, so keep them absolute.
        let parent = fs::canonicalize(&parent).map_err(io_err("cannot resolve", &parent))?;
        sweep_orphans(&parent);
        let dir = tempfile::Builder::new()
            .prefix(DATADIR_PREFIX)
            .tempdir_in(&parent)
            .map_err(io_err("cannot create a datadir in", &parent))?;
        let datadir = Datadir {
            path: dir.keep(),
            keep: false,
        };
        // Before anything else is written: a process killed from here on leaves a datadir
        // that names its gone owner, which the next sweep removes.
        if let Some(me) = proc_start_time(std::process::id()) {
            let owner = datadir.path.join(OWNER_FILE);
            fs::write(&owner, format!("{} {me}\n", std::process::id()))
                .map_err(io_err("cannot write", &owner))?;
        }
        let tmp = datadir.path.join(TMPDIR);
        fs::create_dir(&tmp).map_err(io_err("cannot create", &tmp))?;
        Ok(datadir)
    }

    fn keep(mut self) -> PathBuf {
        self.keep = true;
        std::mem::take(&mut self.path)
    }
}

impl Drop for Datadir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = remove_datadir(&self.path);
        }
    }
}

/// The start time of process `pid` in clock ticks since boot (`/proc/PID/stat`, field 22), or
/// `None` when `/proc` cannot tell.
fn proc_start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields from 3 (the state) on; field 22 is the 20th of them.
    stat_fields(&stat)?.nth(19)?.parse().ok()
}

/// Stops and removes the throwaway servers in `parent` whose loadgate process is gone (see
/// [`OWNER_FILE`]), and removes the datadirs without an owner file that no server runs and
/// that nothing has touched for longer than a start takes ([`START_BOUND`]). Detached servers'
/// datadirs are left alone. Best effort: what cannot be read or removed is left as it is.
fn sweep_orphans(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(DATADIR_PREFIX));
        if !ours {
            continue;
        }
        let owner_pid = match fs::read_to_string(path.join(OWNER_FILE)) {
            Ok(owner) => match owner_gone(&owner) {
                Some(pid) => Some(pid),
                None => continue,
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if !abandoned(&path) {
                    continue;
                }
                None
            }
            Err(_) => continue,
        };
        sweep_one(&path, owner_pid);
    }
}

/// The pid named by an owner file's content when that process is gone; `None` when it is
/// alive, the datadir is a detached server's, or the content cannot be read.
fn owner_gone(owner: &str) -> Option<u32> {
    let mut words = owner.split_whitespace();
    let (Some(Ok(owner_pid)), Some(Ok(owner_start))) = (
        words.next().map(str::parse::<u32>),
        words.next().map(str::parse::<u64>),
    ) else {
        return None;
    };
    let owner_alive = pid_alive(owner_pid) && proc_start_time(owner_pid) == Some(owner_start);
    (!owner_alive).then_some(owner_pid)
}

/// Whether a datadir without an owner file was left behind: untouched for longer than a start
/// takes, and no live server runs it (an older loadgate's detached server has no owner file).
fn abandoned(datadir: &Path) -> bool {
    let age = fs::metadata(datadir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok());
    if !matches!(age, Some(a) if a > START_BOUND) {
        return false;
    }
    server_running_in(datadir).is_none()
}

/// The pid of a live server running `datadir`, from its pid file.
fn server_running_in(datadir: &Path) -> Option<u32> {
    fs::read_to_string(datadir.join("mysqld.pid"))
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
        .filter(|pid| pid_alive(*pid) && runs_datadir(*pid, datadir))
}

/// Stops the server left in `path` (if one runs it) and removes the datadir; `owner_pid` is
/// the gone loadgate process that started it, when its owner file says.
fn sweep_one(path: &Path, owner_pid: Option<u32>) {
    let server = server_running_in(path);
    if let Some(pid) = server {
        if let Err(e) = terminate_pid(pid, SHUTDOWN_TIMEOUT) {
            tracing::warn!("an orphaned throwaway server stays: {e}");
            return;
        }
    }
    let whose = match owner_pid {
        Some(pid) => format!("by loadgate process {pid}, which is gone"),
        None => format!(
            "without an owner, untouched for more than {} s",
            START_BOUND.as_secs()
        ),
    };
    match remove_datadir(path) {
        Ok(()) => tracing::warn!(
            "stopped{} and removed a throwaway server left behind {whose}: {}",
            server.map_or(String::new(), |p| format!(" (pid {p})")),
            path.display()
        ),
        Err(e) => tracing::warn!("an orphaned throwaway server's datadir stays: {e}"),
    }
}

/// Removes a datadir this module created (and the fallback socket beside it); anything whose
/// name lacks [`DATADIR_PREFIX`] is left alone.
fn remove_datadir(datadir: &Path) -> Result<(), ServerError> {
    let ours = datadir.is_absolute()
        && datadir
            .file_name()
            .and_then(OsStr::to_str)
            .is_some_and(|n| n.starts_with(DATADIR_PREFIX));
    if !ours {
        tracing::warn!("not removing {}: not a loadgate datadir", datadir.display());
        return Ok(());
    }
    let socket = socket_path(datadir);
    if !socket.starts_with(datadir) {
        let _ = fs::remove_file(&socket);
    }
    match fs::remove_dir_all(datadir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ServerError::Io {
            action: "cannot remove datadir",
            path: datadir.to_path_buf(),
            source,
        }),
    }
}

/// `<datadir>/mysqld.sock`, or `/tmp/<datadir name>.sock` when that would be too long for a
/// Unix socket path.
fn socket_path(datadir: &Path) -> PathBuf {
    let inside = datadir.join("mysqld.sock");
    if inside.as_os_str().len() <= MAX_SOCKET_PATH {
        return inside;
    }
    let mut name = datadir.file_name().unwrap_or_default().to_os_string();
    name.push(".sock");
    Path::new("/tmp").join(name)
}

fn running_as_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The installation root of a binary such as `/usr/sbin/mariadbd` (`/usr`).
fn base_dir(binary: &Path) -> Option<PathBuf> {
    let real = fs::canonicalize(binary).unwrap_or_else(|_| binary.to_path_buf());
    real.parent()?.parent().map(Path::to_path_buf)
}

fn find_install_db(server: &Path) -> Option<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(base) = base_dir(server) {
        dirs.push(base.join("bin"));
        dirs.push(base.join("scripts"));
    }
    if let Some(dir) = server.parent() {
        dirs.push(dir.to_path_buf());
    }
    dirs.extend(default_search_dirs());
    dirs.push(PathBuf::from("/usr/bin"));
    ["mariadb-install-db", "mysql_install_db"]
        .iter()
        .flat_map(|name| dirs.iter().map(move |d| d.join(name)))
        .find(|p| is_executable(p))
}

/// Creates the system tables in an empty datadir, with a password-less `root`.
fn initialise(binary: &ServerBinary, datadir: &Path) -> Result<(), ServerError> {
    let started = Instant::now();
    let (tool, mut cmd) = match binary.flavor {
        Flavor::MariaDb => {
            let tool =
                find_install_db(&binary.path).ok_or_else(|| ServerError::InstallDbMissing {
                    server: binary.path.clone(),
                })?;
            let mut cmd = Command::new(&tool);
            cmd.arg("--no-defaults");
            if let Some(base) = base_dir(&binary.path) {
                cmd.arg(arg("--basedir=", &base));
            }
            cmd.arg(arg("--datadir=", datadir))
                .arg(arg("--tmpdir=", &datadir.join(TMPDIR)))
                .args([
                    "--auth-root-authentication-method=normal",
                    "--skip-test-db",
                    "--skip-name-resolve",
                ]);
            if running_as_root() {
                cmd.arg("--user=root");
            }
            // Passed through to the bootstrap server, so the redo log starts at its final size.
            cmd.args(SMALL_SERVER_ARGS);
            (tool, cmd)
        }
        Flavor::MySql => {
            let mut cmd = Command::new(&binary.path);
            cmd.arg("--no-defaults")
                .arg(arg("--datadir=", datadir))
                .arg(arg("--tmpdir=", &datadir.join(TMPDIR)))
                .arg("--initialize-insecure");
            if running_as_root() {
                cmd.arg("--user=root");
            }
            (binary.path.clone(), cmd)
        }
    };
    tracing::debug!("initialising {}: {cmd:?}", datadir.display());
    let failed = |reason: String, output: &str| ServerError::InitFailed {
        tool: tool.clone(),
        datadir: datadir.to_path_buf(),
        reason,
        output_tail: last_lines(output, LOG_TAIL_LINES),
    };
    // Its own process group: Ctrl-C in the terminal reaches loadgate only, which stops the
    // tool and the bootstrap server it runs (the whole group) before removing the datadir.
    cmd.process_group(0);
    let interrupted_here = || ServerError::Interrupted {
        stage: "being initialised",
        datadir: datadir.to_path_buf(),
    };
    let (status, output) = run_captured(&mut cmd, INIT_TIMEOUT).map_err(|e| {
        if e.kind() == io::ErrorKind::Interrupted {
            interrupted_here()
        } else {
            failed(e.to_string(), "")
        }
    })?;
    if interrupted() {
        return Err(interrupted_here());
    }
    if !status.success() {
        return Err(failed(format!("it exited with {status}"), &output));
    }
    tracing::debug!(
        "initialised {} in {:.1} s",
        datadir.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn arg(name: &str, path: &Path) -> OsString {
    let mut s = OsString::from(name);
    s.push(path);
    s
}

/// Runs a command to completion with stdout and stderr captured together (interleaving is
/// approximate), killing it after `timeout`.
fn run_captured(cmd: &mut Command, timeout: Duration) -> io::Result<(ExitStatus, String)> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut stream| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = stream.read_to_end(&mut buf);
            buf
        })
    })
    .collect();
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if interrupted() {
            kill_group(&mut child);
            return Err(io::Error::new(io::ErrorKind::Interrupted, "interrupted"));
        }
        if Instant::now() >= deadline {
            kill_group(&mut child);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "it did not finish within {} s and was killed",
                    timeout.as_secs()
                ),
            ));
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut output = String::new();
    for reader in readers {
        if let Ok(buf) = reader.join() {
            output.push_str(&String::from_utf8_lossy(&buf));
        }
    }
    Ok((status, output))
}

/// Kills `child` and, when it leads a process group of its own, everything in that group (the
/// bootstrap server `mariadb-install-db` runs); reaps it.
fn kill_group(child: &mut Child) {
    if let Ok(pid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: signals the process group `child` leads, if it leads one; ESRCH otherwise.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn pick_port() -> Result<u16, ServerError> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(io_err("cannot bind a free port on", "127.0.0.1"))?;
    let port = listener
        .local_addr()
        .map_err(io_err("cannot read the port bound on", "127.0.0.1"))?
        .port();
    Ok(port)
}

/// Spawns the server and waits until it answers, picking another port when it loses the race
/// for the one it was given.
fn spawn_until_ready(
    binary: &ServerBinary,
    datadir: &Path,
    extra_args: &[String],
    detach: bool,
) -> Result<(Child, u16), ServerError> {
    spawn_until_ready_on(binary, datadir, extra_args, detach, &mut pick_port)
}

fn spawn_until_ready_on(
    binary: &ServerBinary,
    datadir: &Path,
    extra_args: &[String],
    detach: bool,
    next_port: &mut dyn FnMut() -> Result<u16, ServerError>,
) -> Result<(Child, u16), ServerError> {
    let log = datadir.join("error.log");
    let mut attempt = 0;
    loop {
        attempt += 1;
        let port = next_port()?;
        let log_start = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let mut child = spawn_server(binary, datadir, port, extra_args, detach)?;
        match wait_ready(&mut child, binary, datadir, port) {
            Ok(()) => return Ok((child, port)),
            Err(e @ ServerError::StartFailed { .. })
                if attempt < PORT_ATTEMPTS && port_was_taken(&log, log_start) =>
            {
                tracing::info!(
                    "port {port} was taken before the server could bind it; retrying: {e}"
                );
            }
            Err(e) => {
                let _ = terminate_child(&mut child, SHUTDOWN_TIMEOUT);
                return Err(e);
            }
        }
    }
}

fn port_was_taken(log: &Path, from: u64) -> bool {
    let mut text = String::new();
    let read = File::open(log).and_then(|mut f| {
        io::Seek::seek(&mut f, io::SeekFrom::Start(from))?;
        f.read_to_string(&mut text)
    });
    read.is_ok() && text.contains("Address already in use")
}

fn spawn_server(
    binary: &ServerBinary,
    datadir: &Path,
    port: u16,
    extra_args: &[String],
    detach: bool,
) -> Result<Child, ServerError> {
    let log_path = datadir.join("error.log");
    let open_log = || {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err("cannot open the error log", &log_path))
    };
    let mut cmd = Command::new(&binary.path);
    // --no-defaults must come first.
    cmd.arg("--no-defaults");
    if let Some(base) = base_dir(&binary.path) {
        cmd.arg(arg("--basedir=", &base));
    }
    cmd.arg(arg("--datadir=", datadir))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg(arg("--socket=", &socket_path(datadir)))
        .arg(arg("--pid-file=", &datadir.join("mysqld.pid")))
        .arg(arg("--log-error=", &log_path))
        .arg(arg("--tmpdir=", &datadir.join(TMPDIR)))
        .arg("--skip-log-bin")
        .args(SMALL_SERVER_ARGS);
    match binary.flavor {
        // MariaDB would list the tmpdir as a database named `#mysql50#.tmp`.
        Flavor::MariaDb => {
            cmd.arg(format!("--ignore-db-dirs={TMPDIR}"));
        }
        // No X plugin port to collide with, and no secure_file_priv directory to be missing.
        Flavor::MySql => {
            cmd.args(["--mysqlx=OFF", "--secure-file-priv=NULL"]);
        }
    }
    if running_as_root() {
        cmd.arg("--user=root");
    }
    cmd.args(extra_args);
    // Output from before the server opens its log lands in the same file.
    cmd.stdin(Stdio::null())
        .stdout(open_log()?)
        .stderr(open_log()?);
    if detach {
        // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    } else {
        // Its own process group: Ctrl-C in the terminal reaches loadgate, which stops the
        // server itself after storing what it measured.
        cmd.process_group(0);
    }
    tracing::debug!("starting server: {cmd:?}");
    cmd.spawn().map_err(io_err("cannot start", &binary.path))
}

fn wait_ready(
    child: &mut Child,
    binary: &ServerBinary,
    datadir: &Path,
    port: u16,
) -> Result<(), ServerError> {
    let deadline = Instant::now() + STARTUP_TIMEOUT;
    let log = datadir.join("error.log");
    loop {
        // The caller stops the server on any error.
        if interrupted() {
            return Err(ServerError::Interrupted {
                stage: "starting",
                datadir: datadir.to_path_buf(),
            });
        }
        let exited = child
            .try_wait()
            .map_err(io_err("cannot wait for", &binary.path))?;
        if let Some(status) = exited {
            return Err(ServerError::StartFailed {
                binary: binary.path.clone(),
                datadir: datadir.to_path_buf(),
                port,
                status: status.to_string(),
                log_tail: tail_lines(&log, LOG_TAIL_LINES),
            });
        }
        if let Probe::Handshake { .. } = probe(port, Duration::from_millis(500)) {
            // Make sure it is our server that answered, not one that won the port race.
            if listener_owned_by(child.id(), port) != Some(false) {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(ServerError::StartTimeout {
                binary: binary.path.clone(),
                datadir: datadir.to_path_buf(),
                pid: child.id(),
                port,
                timeout: STARTUP_TIMEOUT,
                log_tail: tail_lines(&log, LOG_TAIL_LINES),
            });
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// What a connection to a port got back.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Probe {
    /// A MySQL protocol-10 handshake with the server version it announced.
    Handshake { version: String },
    /// An error packet (e.g. too many connections): a MySQL server, but not letting us in.
    ErrorPacket { code: u16, message: String },
    /// No connection, or not the MySQL protocol.
    NoAnswer,
}

/// Connects to 127.0.0.1:`port` and reads the first packet the server sends.
fn probe(port: u16, timeout: Duration) -> Probe {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return Probe::NoAnswer;
    };
    if stream.set_read_timeout(Some(timeout)).is_err() {
        return Probe::NoAnswer;
    }
    let mut header = [0u8; 4];
    if stream.read_exact(&mut header).is_err() {
        return Probe::NoAnswer;
    }
    let len = u32::from_le_bytes([header[0], header[1], header[2], 0]) as usize;
    let mut payload = vec![0u8; len.min(256)];
    if payload.is_empty() || stream.read_exact(&mut payload).is_err() {
        return Probe::NoAnswer;
    }
    parse_first_packet(&payload)
}

fn parse_first_packet(payload: &[u8]) -> Probe {
    match payload.first() {
        Some(10) => {
            let rest = &payload[1..];
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            Probe::Handshake {
                version: String::from_utf8_lossy(&rest[..end]).into_owned(),
            }
        }
        Some(0xff) if payload.len() >= 3 => Probe::ErrorPacket {
            code: u16::from_le_bytes([payload[1], payload[2]]),
            message: String::from_utf8_lossy(&payload[3..]).into_owned(),
        },
        _ => Probe::NoAnswer,
    }
}

/// Whether the process holds the socket listening on `port`; `None` when that cannot be told
/// (no `/proc`, or another user's process).
fn listener_owned_by(pid: u32, port: u16) -> Option<bool> {
    let mut inodes = HashSet::new();
    let mut readable = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(text) = fs::read_to_string(table) {
            readable = true;
            inodes.extend(listening_inodes(&text, port));
        }
    }
    if !readable {
        return None;
    }
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    let owned = fds.flatten().any(|fd| {
        fs::read_link(fd.path())
            .ok()
            .and_then(|target| {
                let t = target.to_str()?;
                t.strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .parse::<u64>()
                    .ok()
            })
            .is_some_and(|inode| inodes.contains(&inode))
    });
    Some(owned)
}

/// Inodes of the sockets listening on `port` in a `/proc/net/tcp{,6}` table.
fn listening_inodes(table: &str, port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            let local_port = u16::from_str_radix(local.rsplit(':').next()?, 16).ok()?;
            (local_port == port && *fields.get(3)? == LISTEN)
                .then(|| fields.get(9)?.parse().ok())
                .flatten()
        })
        .collect()
}

fn signal(pid: u32, sig: libc::c_int, name: &'static str) -> Result<(), ServerError> {
    let raw = libc::pid_t::try_from(pid).map_err(|_| ServerError::Signal {
        pid,
        signal: name,
        source: io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"),
    })?;
    // SAFETY: kill has no memory-safety preconditions; the pid is a server we started.
    if unsafe { libc::kill(raw, sig) } == -1 {
        return Err(ServerError::Signal {
            pid,
            signal: name,
            source: io::Error::last_os_error(),
        });
    }
    Ok(())
}

/// SIGTERM (and SIGCONT, in case it is paused), then SIGKILL after `grace`; reaps the child.
fn terminate_child(child: &mut Child, grace: Duration) -> Result<ExitStatus, ServerError> {
    let pid = child.id();
    let wait_err = |source| ServerError::Signal {
        pid,
        signal: "SIGTERM",
        source,
    };
    if let Some(status) = child.try_wait().map_err(wait_err)? {
        return Ok(status);
    }
    signal(pid, libc::SIGTERM, "SIGTERM")?;
    let _ = signal(pid, libc::SIGCONT, "SIGCONT");
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().map_err(wait_err)? {
            return Ok(status);
        }
        thread::sleep(Duration::from_millis(20));
    }
    tracing::warn!(
        "server pid {pid} did not stop within {} s of SIGTERM; sending SIGKILL",
        grace.as_secs()
    );
    let _ = child.kill();
    child.wait().map_err(|source| ServerError::Signal {
        pid,
        signal: "SIGKILL",
        source,
    })
}

/// Whether `pid` names a live process (a zombie counts as dead).
fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    if unsafe { libc::kill(raw, 0) } == -1 {
        return io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
    }
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(proc_state(&stat), Some('Z' | 'X')),
        Err(_) => true,
    }
}

/// True when every thread of `pid` is in state T (stopped); false if it cannot tell.
fn all_threads_stopped(pid: u32) -> bool {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    for t in tasks.flatten() {
        any = true;
        let state = fs::read_to_string(t.path().join("stat"))
            .ok()
            .and_then(|s| proc_state(&s));
        if !matches!(state, Some('T') | Some('t')) {
            return false;
        }
    }
    any
}

/// The fields of a `/proc/<pid>/stat` line from field 3 (the state) on: the command name
/// (field 2) may contain spaces and `)`, so they are counted from its last `)`.
fn stat_fields(stat: &str) -> Option<std::str::SplitWhitespace<'_>> {
    Some(stat.get(stat.rfind(')')? + 1..)?.split_whitespace())
}

/// The state letter of a `/proc/<pid>/stat` line.
fn proc_state(stat: &str) -> Option<char> {
    stat_fields(stat)?.next()?.chars().next()
}

/// Whether `pid` runs a server on `datadir`, judged by its command line; `true` when that
/// cannot be read (no `/proc`).
fn runs_datadir(pid: u32, datadir: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return true;
    };
    let expected = arg("--datadir=", datadir);
    let expected = expected.as_encoded_bytes();
    cmdline.split(|&b| b == 0).any(|a| a == expected)
}

fn tail_lines(path: &Path, n: usize) -> String {
    match fs::read(path) {
        Ok(bytes) if bytes.is_empty() => "(the log is empty)".to_string(),
        Ok(bytes) => last_lines(&String::from_utf8_lossy(&bytes), n),
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// What `server.json` records about a detached server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetachedState {
    pub pid: u32,
    pub port: u16,
    pub datadir: PathBuf,
    pub url: String,
    pub flavor: Flavor,
    /// The version the binary reported, e.g. `10.11.19-MariaDB-0+deb12u1`.
    pub version: String,
    /// Unix time in seconds.
    pub started_at: u64,
}

/// What a state directory says about its detached server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DetachedStatus {
    /// No state file.
    NotRunning,
    /// The recorded server is alive and answers on its port.
    Running(DetachedState),
    /// The recorded server is alive but its port does not answer (paused, starting, stuck).
    Unresponsive(DetachedState),
    /// The recorded server is gone; the state file (and any datadir left) has been removed.
    Stale(DetachedState),
}

/// Where the detached server is recorded: `$LOADGATE_STATE_DIR`, else
/// `$XDG_RUNTIME_DIR/loadgate`, else `/tmp/loadgate-<uid>`.
pub fn default_state_dir() -> PathBuf {
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    state_dir_from(
        std::env::var_os(STATE_DIR_ENV),
        std::env::var_os("XDG_RUNTIME_DIR"),
        uid,
    )
}

fn state_dir_from(explicit: Option<OsString>, runtime: Option<OsString>, uid: u32) -> PathBuf {
    if let Some(dir) = explicit.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = runtime.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("loadgate");
    }
    PathBuf::from(format!("/tmp/loadgate-{uid}"))
}

/// Starts a server that outlives this process (in its own session) and records it in
/// `state_dir/server.json`. Refuses when a live server is already recorded there.
pub fn start_detached(
    opts: &LocalServerOptions,
    state_dir: &Path,
) -> Result<DetachedState, ServerError> {
    prepare_state_dir(state_dir)?;
    let state_file = state_dir.join(STATE_FILE);
    match detached_status(state_dir)? {
        DetachedStatus::Running(s) | DetachedStatus::Unresponsive(s) => {
            return Err(ServerError::AlreadyRunning {
                pid: s.pid,
                url: s.url,
                state_file,
            })
        }
        DetachedStatus::NotRunning | DetachedStatus::Stale(_) => {}
    }

    let binary = resolve_binary(opts)?;
    let ctrl_c = InterruptGuard::install();
    let datadir = Datadir::create(opts.datadir_parent.as_deref())?;
    initialise(&binary, &datadir.path)?;
    let (mut child, port) = spawn_until_ready(&binary, &datadir.path, &opts.extra_args, true)?;
    drop(ctrl_c);
    let state = DetachedState {
        pid: child.id(),
        port,
        datadir: datadir.path.clone(),
        url: server_url(port),
        flavor: binary.flavor,
        version: binary.version.clone(),
        started_at: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default(),
    };
    if let Err(e) = write_state_exclusive(state_dir, &state) {
        let _ = terminate_child(&mut child, SHUTDOWN_TIMEOUT);
        return Err(e);
    }
    // From now on the state file, not a process, owns it: sweeps leave it alone.
    let owner = datadir.path.join(OWNER_FILE);
    if let Err(e) = fs::write(&owner, format!("{DETACHED_OWNER}\n")) {
        tracing::warn!("cannot mark {} as detached: {e}", owner.display());
    }
    let datadir = datadir.keep();
    // Reap the server if it exits while this process still runs, so no zombie is left; once
    // this process exits the server is adopted by init.
    let reaper = thread::Builder::new()
        .name("loadgate-server-reaper".into())
        .spawn(move || {
            let _ = child.wait();
        });
    if let Err(e) = reaper {
        tracing::debug!("no reaper thread for the detached server: {e}");
    }
    tracing::info!(
        "started detached {} {} (pid {}) on 127.0.0.1:{port}, datadir {}",
        state.flavor,
        state.version,
        state.pid,
        datadir.display()
    );
    Ok(state)
}

/// The detached server recorded in `state_dir`, if it is alive and answers. A stale record is
/// reported (logged as a warning) and removed; a live server that does not answer is an error.
pub fn status_detached(state_dir: &Path) -> Result<Option<DetachedState>, ServerError> {
    match detached_status(state_dir)? {
        DetachedStatus::Running(s) => Ok(Some(s)),
        DetachedStatus::NotRunning => Ok(None),
        DetachedStatus::Stale(s) => {
            tracing::warn!(
                "removed a stale record of server pid {} (port {}) from {}: the process is gone",
                s.pid,
                s.port,
                state_dir.join(STATE_FILE).display()
            );
            Ok(None)
        }
        DetachedStatus::Unresponsive(s) => Err(ServerError::NotAnswering {
            pid: s.pid,
            port: s.port,
            state_file: state_dir.join(STATE_FILE),
        }),
    }
}

/// Like [`status_detached`], but tells every case apart (for `loadgate server status`).
pub fn detached_status(state_dir: &Path) -> Result<DetachedStatus, ServerError> {
    let state_file = state_dir.join(STATE_FILE);
    let Some(state) = read_state(&state_file)? else {
        return Ok(DetachedStatus::NotRunning);
    };
    if !(pid_alive(state.pid) && runs_datadir(state.pid, &state.datadir)) {
        remove_datadir(&state.datadir)?;
        remove_state_file(&state_file)?;
        return Ok(DetachedStatus::Stale(state));
    }
    let answers = matches!(
        probe(state.port, Duration::from_secs(2)),
        Probe::Handshake { .. } | Probe::ErrorPacket { .. }
    ) && listener_owned_by(state.pid, state.port) != Some(false);
    Ok(if answers {
        DetachedStatus::Running(state)
    } else {
        DetachedStatus::Unresponsive(state)
    })
}

/// Stops the detached server recorded in `state_dir` (SIGTERM, SIGKILL after
/// [`SHUTDOWN_TIMEOUT`]) and removes its datadir and the state file. `None` when nothing was
/// recorded.
pub fn stop_detached(state_dir: &Path) -> Result<Option<DetachedState>, ServerError> {
    let state_file = state_dir.join(STATE_FILE);
    let Some(state) = read_state(&state_file)? else {
        return Ok(None);
    };
    if pid_alive(state.pid) && runs_datadir(state.pid, &state.datadir) {
        terminate_pid(state.pid, SHUTDOWN_TIMEOUT)?;
    } else {
        tracing::info!(
            "server pid {} recorded in {} was already gone",
            state.pid,
            state_file.display()
        );
    }
    remove_datadir(&state.datadir)?;
    remove_state_file(&state_file)?;
    Ok(Some(state))
}

/// [`terminate_child`] for a process that is not (or no longer) our child.
fn terminate_pid(pid: u32, grace: Duration) -> Result<(), ServerError> {
    let wait_gone = |limit: Duration| {
        let deadline = Instant::now() + limit;
        while pid_alive(pid) {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(20));
        }
        true
    };
    signal(pid, libc::SIGTERM, "SIGTERM")?;
    let _ = signal(pid, libc::SIGCONT, "SIGCONT");
    if wait_gone(grace) {
        return Ok(());
    }
    tracing::warn!(
        "server pid {pid} did not stop within {} s of SIGTERM; sending SIGKILL",
        grace.as_secs()
    );
    signal(pid, libc::SIGKILL, "SIGKILL")?;
    if wait_gone(Duration::from_secs(10)) {
        Ok(())
    } else {
        Err(ServerError::Signal {
            pid,
            signal: "SIGKILL",
            source: io::Error::new(io::ErrorKind::TimedOut, "the process is still there"),
        })
    }
}

/// Creates the state directory (mode 0700) and checks it is a directory owned by us, so a
/// shared `/tmp` cannot be used to plant a state file.
fn prepare_state_dir(dir: &Path) -> Result<(), ServerError> {
    let unusable = |reason: String| ServerError::StateDir {
        path: dir.to_path_buf(),
        reason,
    };
    if !dir.exists() {
        fs::create_dir_all(dir).map_err(|e| unusable(format!("cannot create it: {e}")))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| unusable(format!("cannot restrict its permissions: {e}")))?;
    }
    let meta = fs::symlink_metadata(dir).map_err(|e| unusable(e.to_string()))?;
    if !meta.is_dir() {
        return Err(unusable("it is not a directory".into()));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Err(unusable(format!(
            "it belongs to uid {}, not to you (uid {me})",
            meta.uid()
        )));
    }
    Ok(())
}

fn read_state(path: &Path) -> Result<Option<DetachedState>, ServerError> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ServerError::BadStateFile {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| ServerError::BadStateFile {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Writes the state file only if none exists (write a temporary file, then hard-link it into
/// place, which fails when another start got there first).
fn write_state_exclusive(state_dir: &Path, state: &DetachedState) -> Result<(), ServerError> {
    let state_file = state_dir.join(STATE_FILE);
    let json = serde_json::to_vec_pretty(state).map_err(|e| ServerError::BadStateFile {
        path: state_file.clone(),
        reason: e.to_string(),
    })?;
    let tmp = state_dir.join(format!(".{STATE_FILE}.{}", std::process::id()));
    fs::write(&tmp, json).map_err(io_err("cannot write", &tmp))?;
    let linked = fs::hard_link(&tmp, &state_file);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let other = read_state(&state_file).ok().flatten();
            Err(ServerError::AlreadyRunning {
                pid: other.as_ref().map(|s| s.pid).unwrap_or_default(),
                url: other.map(|s| s.url).unwrap_or_default(),
                state_file,
            })
        }
        Err(source) => Err(ServerError::Io {
            action: "cannot write",
            path: state_file,
            source,
        }),
    }
}

fn remove_state_file(path: &Path) -> Result<(), ServerError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ServerError::Io {
            action: "cannot remove",
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{assert_module_error, exit};

    #[test]
    fn a_server_error_exits_4() {
        let missing = ServerError::NotInstalled { searched: vec![] };
        assert_module_error(missing, exit::TARGET);
        let io = ServerError::Io {
            action: "cannot read",
            path: "d".into(),
            source: io::Error::other("gone"),
        };
        assert_module_error(io, exit::TARGET);
    }

    #[test]
    fn recognises_mariadb_and_mysql_version_output() {
        let maria =
            "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)\n";
        assert_eq!(
            parse_version(maria),
            Some((Flavor::MariaDb, "10.11.19-MariaDB-0+deb12u1".to_string()))
        );
        let mysql =
            "/usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)\n";
        assert_eq!(
            parse_version(mysql),
            Some((Flavor::MySql, "8.0.36".to_string()))
        );
        assert_eq!(parse_version("bash, version 5.2\n"), None);
    }

    #[test]
    fn parses_handshake_and_error_packets() {
        let mut hs = vec![10u8];
        hs.extend_from_slice(b"5.5.5-10.11.19-MariaDB\0rest");
        assert_eq!(
            parse_first_packet(&hs),
            Probe::Handshake {
                version: "5.5.5-10.11.19-MariaDB".into()
            }
        );
        let err = [0xff, 0x10, 0x04, b'T', b'o', b'o'];
        assert_eq!(
            parse_first_packet(&err),
            Probe::ErrorPacket {
                code: 1040,
                message: "Too".into()
            }
        );
        assert_eq!(parse_first_packet(b"HTTP/1.1"), Probe::NoAnswer);
    }

    #[test]
    fn reads_listening_inodes_from_proc_net_tcp() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:BB6F 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0\n\
           1: 0100007F:BB6F 0100007F:D000 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0\n\
           2: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4444 1 0\n";
        assert_eq!(listening_inodes(table, 0xBB6F), vec![4242]);
        assert_eq!(listening_inodes(table, 1), Vec::<u64>::new());
    }

    #[test]
    fn proc_state_survives_odd_command_names() {
        assert_eq!(proc_state("123 (my) od) Z 1 2 3"), Some('Z'));
        assert_eq!(proc_state("123 (mariadbd) S 1 2 3"), Some('S'));
        assert_eq!(proc_state("garbage"), None);
        // Field 22, the start time, counted from the command name's last `)`.
        let line = format!(
            "7 (a) b) S {} 98765 0 0",
            (4..=21)
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert_eq!(
            stat_fields(&line).and_then(|mut f| f.nth(19)),
            Some("98765")
        );
        let me = proc_start_time(std::process::id()).expect("this process's start time");
        assert!(me > 0);
    }

    #[test]
    fn state_dir_precedence() {
        let some = |s: &str| Some(OsString::from(s));
        assert_eq!(
            state_dir_from(some("/x"), some("/run/user/1"), 1),
            PathBuf::from("/x")
        );
        assert_eq!(
            state_dir_from(None, some("/run/user/1"), 1),
            PathBuf::from("/run/user/1/loadgate")
        );
        assert_eq!(
            state_dir_from(some(""), None, 1000),
            PathBuf::from("/tmp/loadgate-1000")
        );
    }

    #[test]
    fn long_datadirs_get_a_short_socket() {
        let short = Path::new("/tmp/loadgate-server-abc");
        assert_eq!(socket_path(short), short.join("mysqld.sock"));
        let long = PathBuf::from(format!("/{}/loadgate-server-abc", "d".repeat(120)));
        assert_eq!(
            socket_path(&long),
            PathBuf::from("/tmp/loadgate-server-abc.sock")
        );
    }

    #[test]
    fn last_lines_keeps_the_end() {
        assert_eq!(last_lines("a\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }

    #[test]
    fn never_removes_a_directory_it_did_not_create() {
        let dir = tempfile::tempdir().expect("tempdir");
        let victim = dir.path().join("precious");
        fs::create_dir(&victim).expect("mkdir");
        remove_datadir(&victim).expect("remove_datadir");
        assert!(victim.exists());
    }

    /// Regression: a port taken between picking it and the server binding it must lead to a
    /// retry on another port, not a failed start.
    #[test]
    fn retries_when_the_picked_port_is_taken() {
        let Ok(binary) = find_server_binary() else {
            eprintln!("skipped: no server binary");
            return;
        };
        let squatter = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
        let taken = squatter.local_addr().expect("addr").port();
        let datadir = Datadir::create(None).expect("datadir");
        initialise(&binary, &datadir.path).expect("initialise");
        let mut ports = vec![pick_port().expect("port"), taken].into_iter().rev();
        let mut next = || {
            ports.next().ok_or(ServerError::StateDir {
                path: PathBuf::new(),
                reason: "out of ports".into(),
            })
        };
        let (mut child, port) =
            spawn_until_ready_on(&binary, &datadir.path, &[], false, &mut next).expect("start");
        assert_ne!(port, taken);
        assert!(matches!(
            probe(port, Duration::from_secs(2)),
            Probe::Handshake { .. }
        ));
        terminate_child(&mut child, SHUTDOWN_TIMEOUT).expect("stop");
        drop(squatter);
    }
}
