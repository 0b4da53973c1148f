//! Helpers shared by the integration tests: a real MariaDB/MySQL server (one throwaway server
//! per test binary, or `LOADGATE_TEST_TARGET`), the `loadgate` binary run as a user runs it,
//! and small SQL helpers.
#![allow(dead_code)]

use loadgate::server::{LocalServer, LocalServerOptions};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

static SHARED: Mutex<Option<LocalServer>> = Mutex::new(None);

extern "C" fn stop_shared() {
    if let Ok(mut g) = SHARED.lock() {
        g.take();
    }
}

/// `mysql://root@127.0.0.1:PORT/` of the server the tests share: `LOADGATE_TEST_TARGET` if
/// set, else a throwaway server started once for this test binary and stopped at exit.
pub fn server_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        if let Ok(u) = std::env::var("LOADGATE_TEST_TARGET") {
            if !u.is_empty() {
                return if u.ends_with('/') { u } else { format!("{u}/") };
            }
        }
        let srv = LocalServer::start(&LocalServerOptions::default())
            .unwrap_or_else(|e| panic!("cannot start a throwaway server for the tests: {e}"));
        let url = srv.url();
        *SHARED.lock().unwrap() = Some(srv);
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(stop_shared) };
        url
    })
    .clone()
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
    let mut c = Command::new(env!("CARGO_BIN_EXE_loadgate"));
    c.env("LOADGATE_STORE", dir.join("store.db"))
        .env("LOADGATE_STATE_DIR", dir.join("state"))
        .env_remove("LOADGATE_TARGET")
        .env_remove("MYSQL_PWD")
        .current_dir(dir)
        .stdin(Stdio::null());
    c
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

/// Holds `lock` for the rest of a test: for the tests of one file that must not run beside each
/// other (server-wide counters, or statistics that another test's load would tilt).
pub fn one_at_a_time(lock: &'static Mutex<()>) -> std::sync::MutexGuard<'static, ()> {
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

pub fn fresh_db(name: &str) -> String {
    sql(
        &server_url(),
        &[
            &format!("DROP DATABASE IF EXISTS `{name}`"),
            &format!("CREATE DATABASE `{name}`"),
        ],
    );
    url_db(name)
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
