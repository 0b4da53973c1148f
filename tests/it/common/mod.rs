//! Helpers shared by the integration tests: a real MariaDB/MySQL server (one throwaway server
//! per test process, or `LOADGATE_TEST_TARGET`, plus the servers of their own that some tests
//! need), the `loadgate` binary run as a user runs it, the committed JSON schemas, and small SQL
//! helpers.
//!
//! All tests run in one process, so tests of different modules run beside each other on the
//! shared server: each uses databases of its own (named after its module and test), and what
//! reads server-wide counters or changes global variables runs on a [`PrivateServer`]. Tests
//! whose verdicts are statistics that any other load tilts take the machine to themselves with
//! [`alone`].
#![allow(dead_code)]

use loadgate::server::{LocalServer, LocalServerOptions};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, Once, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

/// The servers this process started for its tests (shared or private), stopped at exit.
static STARTED: Mutex<Vec<LocalServer>> = Mutex::new(Vec::new());

extern "C" fn stop_started() {
    if let Ok(mut g) = STARTED.lock() {
        g.clear();
    }
}

/// Starts a throwaway server that lives until the test process exits; returns its URL.
fn start_for_process(opts: &LocalServerOptions, what: &str) -> String {
    static AT_EXIT: Once = Once::new();
    let srv = LocalServer::start(opts)
        .unwrap_or_else(|e| panic!("cannot start {what} for the tests: {e}"));
    let url = srv.url();
    STARTED.lock().unwrap_or_else(|e| e.into_inner()).push(srv);
    // SAFETY: registering a plain extern "C" function.
    AT_EXIT.call_once(|| unsafe {
        libc::atexit(stop_started);
    });
    url
}

/// `LOADGATE_TEST_TARGET` as a root URL ending in `/`, when it is set.
fn test_target() -> Option<String> {
    let u = std::env::var("LOADGATE_TEST_TARGET").ok()?;
    if u.is_empty() {
        return None;
    }
    Some(if u.ends_with('/') { u } else { format!("{u}/") })
}

/// `mysql://root@127.0.0.1:PORT/` of the server the tests share: `LOADGATE_TEST_TARGET` if
/// set, else a throwaway server started once for this test process and stopped at exit.
pub fn server_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    beside_others();
    URL.get_or_init(|| {
        test_target().unwrap_or_else(|| {
            start_for_process(&LocalServerOptions::default(), "a throwaway server")
        })
    })
    .clone()
}

/// A throwaway server for the tests of one module only, started on first use and stopped at
/// exit, on which they take turns: for tests that read server-wide counters (Questions,
/// Com_*, connection counts) or change global variables, which another module's tests on the
/// shared server would mix or see. Without extra arguments it is `LOADGATE_TEST_TARGET` when
/// that is set (then those tests share it with every other test).
pub struct PrivateServer {
    what: &'static str,
    args: fn() -> Vec<String>,
    url: OnceLock<String>,
    turn: Mutex<()>,
}

impl PrivateServer {
    /// `what` names it in errors; `args` gives the server's extra arguments.
    pub const fn new(what: &'static str, args: fn() -> Vec<String>) -> Self {
        PrivateServer {
            what,
            args,
            url: OnceLock::new(),
            turn: Mutex::new(()),
        }
    }

    /// Its root URL (`mysql://root@host:port/`) and this test's turn on it, held until the
    /// guard drops.
    pub fn turn(&'static self) -> (String, MutexGuard<'static, ()>) {
        beside_others();
        let url = self
            .url
            .get_or_init(|| {
                let extra_args = (self.args)();
                if extra_args.is_empty() {
                    if let Some(u) = test_target() {
                        return u;
                    }
                }
                let opts = LocalServerOptions {
                    extra_args,
                    ..Default::default()
                };
                start_for_process(&opts, self.what)
            })
            .clone();
        (url, self.turn.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// No extra server arguments (for [`PrivateServer::new`]).
pub fn no_args() -> Vec<String> {
    Vec::new()
}

/// A throwaway server of the test's own (one it stops, freezes or kills, or starts with
/// arguments of its own), dropped with the value.
pub fn own_server(opts: &LocalServerOptions) -> LocalServer {
    beside_others();
    LocalServer::start(opts).unwrap_or_else(|e| panic!("cannot start a throwaway server: {e}"))
}

/// Who the running test shares the machine with: the tests that load a server run beside each
/// other, or one of them runs [`alone`].
static LOAD: RwLock<()> = RwLock::new(());

enum Turn {
    Beside(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Alone(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

thread_local! {
    /// The turn of the test running on this thread (the harness runs each test on a thread of
    /// its own), released when the thread ends with the test.
    static TURN: RefCell<Option<Turn>> = const { RefCell::new(None) };
}

/// Joins the tests that run beside each other, for the rest of this test, unless it holds a
/// turn already. Every helper that starts loadgate or a server, or hands out a server, calls it
/// before it takes any other lock, so a test waiting in [`alone`] waits only for tests that
/// can finish.
pub fn beside_others() {
    TURN.with(|t| {
        let mut t = t.borrow_mut();
        if t.is_none() {
            *t = Some(Turn::Beside(LOAD.read().unwrap_or_else(|e| e.into_inner())));
        }
    });
}

/// Takes the machine for the rest of this test: no other test that starts loadgate or a
/// server runs meanwhile. For verdicts that are statistics over short runs, which another
/// test's load would tilt. Call it first in the test.
pub fn alone() {
    TURN.with(|t| {
        let mut t = t.borrow_mut();
        if matches!(*t, Some(Turn::Alone(_))) {
            return;
        }
        *t = None;
        *t = Some(Turn::Alone(LOAD.write().unwrap_or_else(|e| e.into_inner())));
    });
}

/// A URL to database `db` on the shared server.
pub fn url_db(db: &str) -> String {
    format!("{}{db}", server_url())
}

/// A fresh scratch directory for a test (store, state dir, files).
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("loadgate-test-")
        .tempdir()
        .expect("temp dir")
}

/// The loadgate binary with an isolated store and state dir.
pub fn lg(dir: &Path) -> Command {
    beside_others();
    let mut c = Command::new(env!("CARGO_BIN_EXE_loadgate"));
    c.env("LOADGATE_STORE", dir.join("store.db"))
        .env("LOADGATE_STATE_DIR", dir.join("state"))
        .env_remove("LOADGATE_TARGET")
        .env_remove("MYSQL_PWD")
        .current_dir(dir)
        .stdin(Stdio::null());
    c
}

/// `loadgate ARGS` in `dir` (isolated as [`lg`]), run to the end.
pub fn lg_run(dir: &Path, args: &[&str]) -> Output {
    let mut c = lg(dir);
    c.args(args);
    run(c)
}

pub fn run(mut c: Command) -> Output {
    c.output().expect("run loadgate")
}

pub fn spawn(mut c: Command) -> Child {
    c.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn loadgate")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Assert success and return stdout.
pub fn ok(o: Output) -> String {
    assert!(
        o.status.success(),
        "loadgate failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

/// `loadgate ARGS` in `dir`, which must succeed; its standard output as JSON.
pub fn lg_json(dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut c = lg(dir);
    c.args(args);
    ok_json(c)
}

/// Runs `c`, which must succeed; its standard output as JSON.
pub fn ok_json(c: Command) -> serde_json::Value {
    let args: Vec<String> = c
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let o = run(c);
    assert!(o.status.success(), "{args:?}: {}", stderr(&o));
    json(&o)
}

/// `loadgate run WORKLOAD --target URL --table-size ROWS --warmup 0` in `dir`, for the caller to
/// add the rest: the start most tests' runs share (ROWS as the caller prepared).
pub fn run_on(dir: &Path, workload: &str, url: &str, rows: u32) -> Command {
    let mut c = lg(dir);
    c.args(["run", workload, "--target", url]).args([
        "--table-size",
        &rows.to_string(),
        "--warmup",
        "0",
    ]);
    c
}

/// Holds `lock` for the rest of a test: for the tests of one module that must not run beside
/// each other.
pub fn one_at_a_time(lock: &'static Mutex<()>) -> MutexGuard<'static, ()> {
    beside_others();
    lock.lock().unwrap_or_else(|e| e.into_inner())
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            stdout(o),
            stderr(o)
        )
    })
}

pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

pub async fn connect(url: &str) -> Conn {
    let opts = OptsBuilder::from_opts(Opts::from_url(url).expect("url"))
        .prefer_socket(false)
        .tcp_nodelay(true);
    Conn::new(opts).await.expect("connect")
}

/// Run statements on `url`; return the rows of the last one as strings.
pub fn sql(url: &str, statements: &[&str]) -> Vec<Vec<String>> {
    block_on(async {
        let mut c = connect(url).await;
        let mut last = Vec::new();
        for s in statements {
            let rows: Vec<mysql_async::Row> =
                c.query(*s).await.unwrap_or_else(|e| panic!("{s}: {e}"));
            last = rows
                .into_iter()
                .map(|r| {
                    (0..r.len())
                        .map(|i| match r.as_ref(i) {
                            Some(mysql_async::Value::NULL) | None => "NULL".to_string(),
                            Some(mysql_async::Value::Bytes(b)) => {
                                String::from_utf8_lossy(b).into_owned()
                            }
                            Some(v) => v.as_sql(true).trim_matches('\'').to_string(),
                        })
                        .collect()
                })
                .collect();
        }
        let _ = c.disconnect().await;
        last
    })
}

/// `SHOW GLOBAL STATUS` value.
pub fn status(url: &str, name: &str) -> u64 {
    let rows = sql(url, &[&format!("SHOW GLOBAL STATUS LIKE '{name}'")]);
    rows[0][1].parse().expect("numeric status")
}

/// Database `name`, empty, on the shared server; its URL.
pub fn fresh_db(name: &str) -> String {
    fresh_db_on(&server_url(), name)
}

/// Database `name`, empty, on the server at root URL `root` (ending in `/`); its URL.
pub fn fresh_db_on(root: &str, name: &str) -> String {
    sql(
        root,
        &[
            &format!("DROP DATABASE IF EXISTS `{name}`"),
            &format!("CREATE DATABASE `{name}`"),
        ],
    );
    format!("{root}{name}")
}

pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(s) = child.try_wait().expect("wait") {
            return s;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("loadgate did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// `loadgate prepare WORKLOAD --table-size ROWS --target URL` (quiet), asserting success.
pub fn prepare_on(dir: &Path, workload: &str, url: &str, rows: u32, extra: &[&str]) {
    let mut c = lg(dir);
    c.args([
        "prepare",
        workload,
        "--table-size",
        &rows.to_string(),
        "-q",
        "--target",
        url,
    ])
    .args(extra);
    ok(run(c));
}

/// The committed JSON schema `file` (e.g. `"run-v1.json"`) in `schema/`.
pub fn schema_path(file: &str) -> PathBuf {
    repo_path(&format!("schema/{file}"))
}

/// The validator of the committed JSON schema `file` (see [`schema_path`]).
pub fn schema_validator(file: &str) -> jsonschema::Validator {
    let path = schema_path(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let schema: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
    jsonschema::validator_for(&schema).expect("schema compiles")
}

/// Where `value` breaks the committed JSON schema `file`: one line per violation, empty when
/// it conforms.
pub fn schema_errors(file: &str, value: &serde_json::Value) -> Vec<String> {
    schema_validator(file)
        .iter_errors(value)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect()
}

/// Asserts that `value` conforms to the committed JSON schema `file`.
pub fn validate_against_schema(file: &str, value: &serde_json::Value) {
    let errors = schema_errors(file, value);
    assert!(
        errors.is_empty(),
        "{file}: schema violations: {errors:#?}\n{value:#}"
    );
}

/// Short trials for tests of trial sets and gates: 2 workers, 1 s measured after 0.2 s of
/// warm-up, on 1000-row tables.
pub const SHORT: &[&str] = &[
    "--threads",
    "2",
    "--duration",
    "1s",
    "--warmup",
    "0.2s",
    "--table-size",
    "1000",
];

/// A finished command's exit code (-1 when a signal ended it).
pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}
