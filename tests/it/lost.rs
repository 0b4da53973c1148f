//! Nothing lost under faults: an interrupted `prepare` leaves tables that say they are
//! half-prepared, a damaged store does not throw a run's results away, a killed run does not
//! stay `running`, and Ctrl-C while a throwaway server starts unwinds and leaves nothing behind.

use crate::common::*;
use std::time::{Duration, Instant};

/// The comment of table `t` in the database of `url`'s server named `db`.
fn comment(root: &str, db: &str, t: &str) -> Option<String> {
    sql(
        root,
        &[&format!(
            "SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME = '{t}'"
        )],
    )
    .first()
    .map(|r| r[0].clone())
}

/// Rows in `db`.`t` (0 when it does not exist yet).
fn row_count(root: &str, db: &str, t: &str) -> u64 {
    let exists = comment(root, db, t).is_some();
    if !exists {
        return 0;
    }
    sql(root, &[&format!("SELECT COUNT(*) FROM `{db}`.`{t}`")])[0][0]
        .parse()
        .unwrap_or(0)
}

/// Regression: a `prepare` killed while it loaded left `rows=N` on a table holding fewer rows
/// and no secondary index, and `run` accepted it. The mark now says `state=loading` until the
/// last row and index are in; `run` refuses such a table with the command that reloads it, and
/// that command finishes it.
#[test]
fn a_killed_prepare_leaves_a_half_prepared_table_that_run_refuses() {
    let d = scratch();
    let db = "lost_half_prepared";
    let url = fresh_db(db);
    let root = server_url();
    let rows = "400000";
    let mut c = lg(d.path());
    c.args([
        "prepare",
        "oltp_read_write",
        "--target",
        &url,
        "--tables",
        "1",
        "--table-size",
        rows,
        "-q",
    ]);
    let mut child = spawn(c);
    // Wait until it is loading: the table is marked as loadgate's and holds some rows.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let marked = comment(&root, db, "sbtest1").is_some_and(|c| c.starts_with("loadgate:"));
        if marked && row_count(&root, db, "sbtest1") > 0 {
            break;
        }
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "prepare ended before it could be killed mid-load"
        );
        assert!(Instant::now() < deadline, "prepare never started loading");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL prepare");
    child.wait().expect("reap prepare");
    let loaded = row_count(&root, db, "sbtest1");
    assert!(loaded < 400_000, "the load finished before the kill");
    let mark = comment(&root, db, "sbtest1").unwrap();
    assert!(mark.contains("state=loading"), "{mark}");

    // `run` refuses it, whatever size it asks for, and names the fixing command.
    for size in [rows, "10000"] {
        let mut c = lg(d.path());
        c.args([
            "run",
            "oltp_read_write",
            "--target",
            &url,
            "--tables",
            "1",
            "--table-size",
            size,
            "--duration",
            "1s",
            "-q",
        ]);
        let o = run(c);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{err}");
        assert!(err.contains("half-prepared"), "{err}");
        assert!(
            err.contains("loadgate prepare oltp_read_write --table-size 400000"),
            "{err}"
        );
    }

    // Preparing again reloads it and marks it complete at the end.
    let mut c = lg(d.path());
    c.args([
        "prepare",
        "oltp_read_write",
        "--target",
        &url,
        "--tables",
        "1",
        "--table-size",
        "1000",
    ]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("half-prepared"), "{}", stderr(&o));
    assert_eq!(
        comment(&root, db, "sbtest1").unwrap(),
        "loadgate:owned workload=oltp_read_write rows=1000"
    );
    assert_eq!(row_count(&root, db, "sbtest1"), 1000);
}

/// Regression: a run whose loadgate was killed with SIGKILL stayed `running` in `runs` and
/// `history` for good. Its intervals are now flushed to the store while it runs, and the next
/// open marks it `interrupted` with them.
#[test]
fn a_killed_run_becomes_interrupted_with_the_intervals_it_flushed() {
    let d = scratch();
    let url = fresh_db("lost_killed_run");
    prepare_on(d.path(), "oltp_point_select", &url, 1000, &[]);
    let mut c = run_on(d.path(), "oltp_point_select", &url, 1000);
    c.args(["--threads", "1", "--duration", "120s", "-q"]);
    let mut child = spawn(c);
    let store_path = d.path().join("store.db");
    // Wait for two intervals of the running run in the store.
    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let flushed = loadgate::store::Store::open(&store_path)
            .ok()
            .and_then(|s| {
                let id = s.last_run_id().ok()??;
                let r = s.get_run(id).ok()?;
                (r.intervals.len() >= 2).then_some(id)
            });
        if let Some(id) = flushed {
            break id;
        }
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the run ended"
        );
        assert!(Instant::now() < deadline, "no interval reached the store");
        std::thread::sleep(Duration::from_millis(100));
    };
    let pid = child.id();
    child.kill().expect("SIGKILL loadgate");
    child.wait().expect("reap loadgate");

    let runs = lg_json(d.path(), &["runs", "--json"]);
    assert_eq!(runs[0]["id"], id);
    assert_eq!(runs[0]["status"], "interrupted", "{runs:#}");
    let r = lg_json(d.path(), &["show", &id.to_string(), "--json"]);
    validate_against_schema("run-v1.json", &r);
    let reason = r["status_reason"].as_str().unwrap();
    assert!(reason.contains(&format!("pid {pid}")), "{reason}");
    let intervals = r["intervals"].as_array().unwrap();
    assert!(intervals.len() >= 2, "{r:#}");
    let measured: u64 = intervals
        .iter()
        .map(|i| i["transactions"].as_u64().unwrap())
        .sum();
    assert!(measured > 0, "the flushed intervals hold no transactions");
    assert!(r["ended_at"].is_string(), "{r:#}");
}

/// The `loadgate-server-*` datadirs in `parent`.
fn datadirs(parent: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(parent)
        .expect("read parent")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(loadgate::server::DATADIR_PREFIX))
        })
        .collect()
}

/// Regression: Ctrl-C while the throwaway server was being initialised killed loadgate with
/// no message and left the datadir (its owner file was written only after initialisation), so
/// no later run removed it. The owner file now comes first, and Ctrl-C unwinds: the tool and
/// its bootstrap server are stopped, the datadir removed, and loadgate exits 130 saying so.
#[test]
fn ctrl_c_while_the_throwaway_server_initialises_removes_its_datadir() {
    beside_others();
    let parent = tempfile::tempdir().expect("tempdir");
    let d = scratch();
    let mut c = lg(d.path());
    c.env("TMPDIR", parent.path())
        .args(["run", "oltp_point_select", "--duration", "60s"]);
    let mut child = spawn(c);
    // Wait for the datadir to be claimed and initialisation to be under way (the system
    // tables' directory appears early in it).
    let deadline = Instant::now() + Duration::from_secs(120);
    let datadir = loop {
        let found = datadirs(parent.path())
            .into_iter()
            .find(|p| p.join("loadgate-owner").exists() && p.join("mysql").exists());
        if let Some(dir) = found {
            break dir;
        }
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "loadgate exited before its server was initialised"
        );
        assert!(Instant::now() < deadline, "no datadir was initialised");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(
        !datadir.join("mysqld.pid").exists(),
        "initialisation was over before Ctrl-C could be sent"
    );
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let status = wait_with_timeout(&mut child, Duration::from_secs(60));
    let out = child.wait_with_output().expect("output");
    let err = stderr(&out);
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted while the throwaway server"),
        "{err}"
    );
    assert!(
        datadirs(parent.path()).is_empty(),
        "left {:?}",
        datadirs(parent.path())
    );
}

/// Regression: a datadir without an owner file (from a start interrupted before the file was
/// written) was never swept. The sweep now removes one untouched for longer than a start
/// takes, and leaves a fresh one, and a detached server's, alone.
#[test]
fn the_sweep_removes_ownerless_datadirs_older_than_a_start() {
    beside_others();
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = |name: &str| {
        let p = parent
            .path()
            .join(format!("{}{name}", loadgate::server::DATADIR_PREFIX));
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("ibdata1"), vec![0u8; 4096]).unwrap();
        p
    };
    let old = dir("old");
    let fresh = dir("fresh");
    let detached = dir("detached");
    std::fs::write(detached.join("loadgate-owner"), "detached\n").unwrap();
    for p in [&old, &detached] {
        let o = std::process::Command::new("touch")
            .args(["-d", "2 hours ago"])
            .arg(p)
            .output()
            .unwrap();
        assert!(o.status.success());
    }
    let opts = loadgate::server::LocalServerOptions {
        datadir_parent: Some(parent.path().to_path_buf()),
        ..Default::default()
    };
    let srv = own_server(&opts);
    assert!(
        !old.exists(),
        "the abandoned ownerless datadir is still there"
    );
    assert!(fresh.exists(), "a datadir that may be starting was removed");
    assert!(detached.exists(), "a detached server's datadir was removed");
    srv.stop();
}

/// The byte range of the root page of `table` in the SQLite file at `store` (read while no
/// other process has it open, so that closing this connection leaves the WAL empty).
fn root_page(store: &std::path::Path, table: &str) -> (u64, usize) {
    let conn = rusqlite::Connection::open(store).expect("open store");
    let root: u64 = conn
        .query_row(
            "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
            [table],
            |r| r.get(0),
        )
        .expect("root page");
    let size: u64 = conn
        .query_row("PRAGMA page_size", [], |r| r.get(0))
        .expect("page size");
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .expect("checkpoint");
    ((root - 1) * size, size as usize)
}

/// Overwrites `len` bytes at `at` in `file` with `bytes` (repeated garbage when `None`);
/// returns what was there.
fn overwrite(file: &std::path::Path, at: u64, len: usize, bytes: Option<&[u8]>) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(file)
        .expect("open store file");
    let mut old = vec![0u8; len];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.read_exact(&mut old).unwrap();
    let garbage = vec![0xA5u8; len];
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes.unwrap_or(&garbage)).unwrap();
    f.sync_all().unwrap();
    old
}

/// Regression: a damaged store was found only after the load, which was then thrown away. The
/// pages a run writes are checked first: the run is refused before any load, exit 7, naming
/// the file and what is damaged.
#[test]
fn a_damaged_store_is_refused_before_the_load() {
    let d = scratch();
    let url = fresh_db("lost_damaged_store");
    prepare_on(d.path(), "oltp_point_select", &url, 1000, &[]);
    let store = d.path().join("store.db");
    // An empty store, made as a writing command makes it (reading commands never create one).
    drop(loadgate::store::Store::open(&store).expect("create the store"));
    let (at, len) = root_page(&store, "run_histograms");
    overwrite(&store, at, len, None);
    let mut c = run_on(d.path(), "oltp_point_select", &url, 1000);
    c.args(["--threads", "1", "--duration", "5s", "-q"]);
    let o = run(c);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(7), "{err}");
    assert!(
        err.contains("is damaged") && err.contains("run_histograms"),
        "{err}"
    );
    assert!(err.contains(&store.display().to_string()), "{err}");
    assert!(stdout(&o).is_empty());
    // Nothing was begun: the run table (undamaged) holds no run.
    let runs = lg_json(d.path(), &["runs", "--json"]);
    assert_eq!(runs.as_array().map(Vec::len), Some(0), "{runs:#}");
}

/// Regression: when storing failed at the end, stdout stayed empty, `-o` was not written and a
/// `running` row was left. The report is now written all the same, the run saved as JSON beside
/// the store, and the next successful open brings it in, finishing the row it had begun;
/// `loadgate import` brings it into another store.
#[test]
fn a_run_the_store_refuses_at_the_end_is_reported_saved_and_brought_in() {
    let d = scratch();
    let url = fresh_db("lost_store_fails");
    prepare_on(d.path(), "oltp_point_select", &url, 1000, &[]);
    let store = d.path().join("store.db");
    // An empty store, made as a writing command makes it (reading commands never create one).
    drop(loadgate::store::Store::open(&store).expect("create the store"));
    let (at, len) = root_page(&store, "run_histograms");
    let out = d.path().join("report.json");
    let mut c = run_on(d.path(), "oltp_point_select", &url, 1000);
    c.args(["--threads", "1", "--duration", "4s", "-q", "--json", "-o"])
        .arg(&out);
    let mut child = spawn(c);
    // Once the run flushes intervals, damage a page only its final write reads.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let flushed = loadgate::store::Store::open(&store).ok().and_then(|s| {
            let id = s.last_run_id().ok()??;
            Some(!s.get_run(id).ok()?.intervals.is_empty())
        });
        if flushed == Some(true) {
            break;
        }
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "the run ended"
        );
        assert!(Instant::now() < deadline, "no interval reached the store");
        std::thread::sleep(Duration::from_millis(50));
    }
    let good = overwrite(&store, at, len, None);
    let status = wait_with_timeout(&mut child, Duration::from_secs(60));
    let o = child.wait_with_output().expect("output");
    let err = stderr(&o);
    assert_eq!(status.code(), Some(7), "{err}");
    assert!(
        err.contains("could not be stored") && err.contains("loadgate import"),
        "{err}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("-o written")).unwrap();
    validate_against_schema("run-v1.json", &report);
    let transactions = report["transactions"].as_u64().unwrap();
    assert!(transactions > 0);
    let pending: Vec<_> = std::fs::read_dir(d.path().join("store.db.pending"))
        .expect("pending dir")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(pending.len(), 1, "{pending:?}");
    let saved = pending[0].clone();

    // Into another store, with `loadgate import`.
    let other = scratch();
    let mut c = lg(other.path());
    c.arg("import").arg(&saved);
    let said = ok(run(c));
    assert!(said.contains("stored as run 1"), "{said}");
    let r = lg_json(other.path(), &["show", "1", "--json"]);
    assert_eq!(r["status"], "complete");
    assert_eq!(r["transactions"].as_u64(), Some(transactions));
    assert!(
        saved.exists(),
        "a file outside this store's pending directory is kept"
    );

    // The store repaired, its next open brings the run in as the row it had begun.
    overwrite(&store, at, len, Some(&good));
    let runs = lg_json(d.path(), &["runs", "--json"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    assert_eq!(runs[0]["id"], report["id"]);
    assert_eq!(runs[0]["status"], "complete");
    let r = lg_json(d.path(), &["show", "last", "--json"]);
    assert_eq!(r["transactions"].as_u64(), Some(transactions));
    assert!(!saved.exists(), "the imported file is still waiting");
}
