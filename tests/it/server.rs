//! Integration tests of the throwaway local server against the real MariaDB/MySQL binaries on
//! this machine: start, query over TCP, pause/resume, kill, stop, and the detached round trip.

use crate::common::{beside_others, block_on, connect, own_server};
use loadgate::server::{
    detached_status, find_server_binary, find_server_binary_in, start_detached, status_detached,
    stop_detached, DetachedState, DetachedStatus, Flavor, LocalServer, LocalServerOptions,
    ServerError, STATE_FILE,
};
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

const HINT: &str = "no MariaDB/MySQL server binary found; install one with \
`apt-get install mariadb-server` (Debian/Ubuntu) or pass `--target mysql://user@host:port/db` \
to use an existing server";

async fn query_u64(conn: &mut Conn, sql: &str) -> u64 {
    conn.query_first::<u64, _>(sql)
        .await
        .expect("query")
        .expect("one row")
}

fn port_closed(port: u16) -> bool {
    TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(1)).is_err()
}

fn pid_gone(pid: u32) -> bool {
    // Gone means reaped too: a zombie still has a /proc entry.
    !Path::new(&format!("/proc/{pid}")).exists()
}

#[test]
fn start_query_stop_removes_everything() {
    let parent = tempfile::tempdir().expect("tempdir");
    let opts = LocalServerOptions {
        extra_args: vec!["--max-connections=17".into()],
        datadir_parent: Some(parent.path().to_path_buf()),
        ..Default::default()
    };
    let server = own_server(&opts);
    let (port, pid, datadir) = (server.port(), server.pid(), server.datadir().to_path_buf());
    assert_eq!(server.url(), format!("mysql://root@127.0.0.1:{port}/"));
    assert!(datadir.starts_with(parent.path()), "{}", datadir.display());
    assert!(datadir
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("loadgate-server-")));
    assert!(datadir.join("error.log").exists());

    let (one, max_conn, version) = block_on(async {
        let mut conn = connect(&server.url()).await;
        let one = query_u64(&mut conn, "SELECT 1").await;
        let max_conn = query_u64(&mut conn, "SELECT @@max_connections").await;
        let version: String = conn
            .query_first("SELECT @@version")
            .await
            .expect("query")
            .expect("row");
        conn.disconnect().await.expect("disconnect");
        (one, max_conn, version)
    });
    assert_eq!(one, 1);
    assert_eq!(max_conn, 17, "extra_args reach the server");
    assert!(version.starts_with(server.version().split('-').next().unwrap_or("")));
    if server.flavor() == Flavor::MariaDb {
        assert!(version.contains("MariaDB"), "{version}");
    }
    let databases = block_on(async {
        let mut conn = connect(&server.url()).await;
        let dbs: Vec<String> = conn.query("SHOW DATABASES").await.expect("query");
        conn.disconnect().await.expect("disconnect");
        dbs
    });
    assert!(
        databases.iter().all(|d| !d.contains("tmp")),
        "the private tmpdir shows up as a database: {databases:?}"
    );

    server.try_stop().expect("stop");
    assert!(!datadir.exists(), "datadir left behind");
    assert!(port_closed(port), "port {port} still open");
    assert!(pid_gone(pid), "server pid {pid} left behind");
}

#[test]
fn paused_server_blocks_queries_until_resumed() {
    let server = own_server(&LocalServerOptions::default());
    block_on(async {
        let mut conn = connect(&server.url()).await;
        assert_eq!(query_u64(&mut conn, "SELECT 1").await, 1);

        server.pause().expect("pause");
        {
            let query = query_u64(&mut conn, "SELECT 2");
            tokio::pin!(query);
            let blocked = tokio::time::timeout(Duration::from_millis(700), &mut query).await;
            assert!(blocked.is_err(), "query answered by a paused server");

            server.resume().expect("resume");
            let answered = tokio::time::timeout(Duration::from_secs(10), &mut query)
                .await
                .expect("query still blocked after resume");
            assert_eq!(answered, 2);
        }
        conn.disconnect().await.expect("disconnect");
    });
    // Pausing again and dropping must not hang: stop sends SIGCONT after SIGTERM.
    server.pause().expect("pause");
    let datadir = server.datadir().to_path_buf();
    drop(server);
    assert!(!datadir.exists());
}

#[test]
fn killed_server_is_reaped_and_cleaned_up_on_drop() {
    let mut server = own_server(&LocalServerOptions::default());
    let (port, pid, datadir) = (server.port(), server.pid(), server.datadir().to_path_buf());
    server.kill().expect("kill");
    assert!(pid_gone(pid), "killed server not reaped");
    assert!(port_closed(port));
    assert!(datadir.exists(), "kill keeps the datadir for inspection");
    server.kill().expect("a second kill is a no-op");
    drop(server);
    assert!(!datadir.exists());
}

#[test]
fn failed_start_reports_the_log_tail_and_cleans_up() {
    let parent = tempfile::tempdir().expect("tempdir");
    let opts = LocalServerOptions {
        extra_args: vec!["--no-such-option-for-loadgate".into()],
        datadir_parent: Some(parent.path().to_path_buf()),
        ..Default::default()
    };
    let err = LocalServer::start(&opts).expect_err("bad option must fail");
    let msg = err.to_string();
    assert!(matches!(err, ServerError::StartFailed { .. }), "{msg}");
    assert!(msg.contains("no-such-option-for-loadgate"), "{msg}");
    assert!(msg.contains("error log"), "{msg}");
    let left: Vec<_> = std::fs::read_dir(parent.path())
        .expect("read_dir")
        .flatten()
        .collect();
    assert!(left.is_empty(), "datadir left behind: {left:?}");
}

#[test]
fn detached_round_trip_and_second_start_refused() {
    let state = tempfile::tempdir().expect("tempdir");
    let state_dir = state.path().join("nested");
    beside_others();
    let started = start_detached(&LocalServerOptions::default(), &state_dir).expect("start");
    let state_file = state_dir.join(STATE_FILE);
    assert!(state_file.exists());
    let recorded: DetachedState =
        serde_json::from_str(&std::fs::read_to_string(&state_file).expect("read state"))
            .expect("parse state");
    assert_eq!(recorded, started);
    assert_eq!(
        started.url,
        format!("mysql://root@127.0.0.1:{}/", started.port)
    );
    assert!(started.started_at > 0);
    assert!(!started.version.is_empty());

    assert_eq!(
        status_detached(&state_dir).expect("status"),
        Some(started.clone())
    );

    let second = start_detached(&LocalServerOptions::default(), &state_dir);
    match second {
        Err(ServerError::AlreadyRunning { pid, .. }) => assert_eq!(pid, started.pid),
        other => panic!("second start not refused: {other:?}"),
    }

    let one = block_on(async {
        let mut conn = connect(&started.url).await;
        let one = query_u64(&mut conn, "SELECT 1").await;
        conn.disconnect().await.expect("disconnect");
        one
    });
    assert_eq!(one, 1);

    let stopped = stop_detached(&state_dir).expect("stop");
    assert_eq!(stopped, Some(started.clone()));
    assert!(!state_file.exists());
    assert!(!started.datadir.exists(), "datadir left behind");
    assert!(port_closed(started.port));
    assert!(
        pid_gone(started.pid),
        "detached server left as a process or zombie"
    );
    assert_eq!(status_detached(&state_dir).expect("status"), None);
    assert_eq!(stop_detached(&state_dir).expect("second stop"), None);
}

#[test]
fn stale_state_file_is_reported_and_removed() {
    let state = tempfile::tempdir().expect("tempdir");
    let parent = tempfile::tempdir().expect("tempdir");
    // A real, finished process: its pid is not alive any more.
    let mut done = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let pid = done.id();
    done.wait().expect("wait");
    let leftover = parent.path().join("loadgate-server-stale");
    std::fs::create_dir(&leftover).expect("mkdir");
    let stale = DetachedState {
        pid,
        port: 1,
        datadir: leftover.clone(),
        url: "mysql://root@127.0.0.1:1/".into(),
        flavor: Flavor::MariaDb,
        version: "10.11.0-MariaDB".into(),
        started_at: 1,
    };
    let state_file = state.path().join(STATE_FILE);
    std::fs::write(&state_file, serde_json::to_vec(&stale).expect("json")).expect("write");

    assert_eq!(
        detached_status(state.path()).expect("status"),
        DetachedStatus::Stale(stale)
    );
    assert!(!state_file.exists(), "stale state file kept");
    assert!(!leftover.exists(), "stale datadir kept");
    assert_eq!(status_detached(state.path()).expect("status"), None);
}

#[test]
fn corrupt_state_file_is_an_error_not_a_guess() {
    let state = tempfile::tempdir().expect("tempdir");
    std::fs::write(state.path().join(STATE_FILE), "{ not json").expect("write");
    let err = status_detached(state.path()).expect_err("corrupt file accepted");
    assert!(matches!(err, ServerError::BadStateFile { .. }), "{err}");
}

#[test]
fn missing_override_binary_says_how_to_get_one() {
    let err = find_server_binary_in(Some(Path::new("/nonexistent/mariadbd")), &[])
        .expect_err("found a binary that does not exist");
    assert!(matches!(err, ServerError::NotInstalled { .. }), "{err:?}");
    assert_eq!(err.to_string(), HINT);
}

#[test]
fn empty_search_path_says_how_to_get_one() {
    let empty = tempfile::tempdir().expect("tempdir");
    let err = find_server_binary_in(None, &[empty.path().to_path_buf()])
        .expect_err("found a binary in an empty directory");
    match &err {
        ServerError::NotInstalled { searched } => {
            assert!(searched.contains(&empty.path().join("mariadbd")));
            assert!(searched.contains(&empty.path().join("mysqld")));
        }
        other => panic!("unexpected error: {other:?}"),
    }
    assert_eq!(err.to_string(), HINT);
}

#[test]
fn not_a_server_binary_is_named() {
    let err = find_server_binary_in(Some(Path::new("/bin/true")), &[])
        .expect_err("/bin/true accepted as a server");
    assert!(
        matches!(err, ServerError::UnrecognisedBinary { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("/bin/true"));
}

#[test]
fn finds_the_installed_server() {
    let found = find_server_binary().expect("a server binary is installed on test machines");
    assert!(found.path.is_absolute());
    assert!(!found.version.is_empty());
    // A bare name in the override is looked up in the search path.
    let dir: PathBuf = found.path.parent().expect("parent").to_path_buf();
    let name = found.path.file_name().expect("name");
    let again = find_server_binary_in(Some(Path::new(name)), &[dir]).expect("by name");
    assert_eq!(again.path, found.path);
}

/// Set by [`detached_server_outlives_its_starter`] for the helper it runs in a child process.
const HELPER_STATE_DIR: &str = "LOADGATE_TEST_HELPER_STATE_DIR";

/// Not a test on its own: run in a separate process, it starts a detached server and exits.
#[test]
#[ignore = "helper, run by detached_server_outlives_its_starter"]
fn helper_start_detached_and_exit() {
    let Some(dir) = std::env::var_os(HELPER_STATE_DIR) else {
        return;
    };
    start_detached(&LocalServerOptions::default(), Path::new(&dir)).expect("helper start");
}

#[test]
fn detached_server_outlives_its_starter() {
    beside_others();
    let state = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current_exe");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "server::helper_start_detached_and_exit",
            "--ignored",
            "--nocapture",
        ])
        .env(HELPER_STATE_DIR, state.path())
        .output()
        .expect("run helper");
    assert!(
        out.status.success(),
        "helper failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // The process that started it is gone; the server is not.
    let running = status_detached(state.path())
        .expect("status")
        .expect("server died with its starter");
    let one = block_on(async {
        let mut conn = connect(&running.url).await;
        let one = query_u64(&mut conn, "SELECT 1").await;
        conn.disconnect().await.expect("disconnect");
        one
    });
    assert_eq!(one, 1);

    // A frozen server is alive but does not answer: reported, not mistaken for stale.
    let pid = libc::pid_t::try_from(running.pid).expect("pid");
    // SAFETY: plain kill(2) on the server this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    let err = status_detached(state.path()).expect_err("paused server reported as running");
    assert!(matches!(err, ServerError::NotAnswering { .. }), "{err}");
    assert!(state.path().join(STATE_FILE).exists());

    // Stopping works on a paused server that is not our child.
    assert_eq!(
        stop_detached(state.path()).expect("stop"),
        Some(running.clone())
    );
    assert!(!running.datadir.exists());
    assert!(port_closed(running.port));
    // Reaping is now init's job; give it a moment.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !pid_gone(running.pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        pid_gone(running.pid),
        "server pid {} left behind",
        running.pid
    );
}

/// Whether `pid` is a live process (not gone, not a zombie).
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| !rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false)
}

/// Regression: a loadgate killed with SIGKILL mid-run could not stop its throwaway server,
/// which ran on with its datadir for good. The next throwaway server started in the same
/// directory now finds the owner gone, stops the orphan and removes its datadir.
#[test]
fn a_server_left_by_a_killed_loadgate_is_stopped_by_the_next_start() {
    beside_others();
    let parent = tempfile::tempdir().expect("tempdir");
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_loadgate"))
        .args([
            "run",
            "oltp_point_select",
            "--threads",
            "1",
            "--duration",
            "120s",
            "-q",
        ])
        .env("TMPDIR", parent.path())
        .env("LOADGATE_STORE", scratch.path().join("store.db"))
        .env_remove("LOADGATE_TARGET")
        .current_dir(scratch.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn loadgate");
    // Wait for its server: a datadir with the owner file and the server's pid file.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let (datadir, server_pid) = loop {
        let found = std::fs::read_dir(parent.path())
            .expect("read parent")
            .flatten()
            .map(|e| e.path())
            .find(|p| p.join("loadgate-owner").exists() && p.join("mysqld.pid").exists());
        if let Some(d) = found {
            if let Ok(pid) = std::fs::read_to_string(d.join("mysqld.pid")) {
                if let Ok(pid) = pid.trim().parse::<u32>() {
                    break (d, pid);
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no throwaway server appeared"
        );
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "loadgate exited early"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // Should the test fail, the orphan must not outlive it.
    struct KillOnDrop(u32);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            if running(self.0) {
                unsafe { libc::kill(self.0 as libc::pid_t, libc::SIGKILL) };
            }
        }
    }
    let _guard = KillOnDrop(server_pid);
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("SIGKILL loadgate");
    child.wait().expect("reap loadgate");
    assert!(running(server_pid), "the orphan should still run");
    assert!(datadir.exists());

    let opts = LocalServerOptions {
        datadir_parent: Some(parent.path().to_path_buf()),
        ..Default::default()
    };
    let next = own_server(&opts);
    assert!(!running(server_pid), "the orphaned server still runs");
    assert!(!datadir.exists(), "the orphan's datadir is still there");
    assert_ne!(next.datadir(), datadir.as_path());
    next.stop();
}
