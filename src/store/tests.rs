//! Unit tests of the store that need its internals: a writer killed inside its transaction.
//! The public behaviour is tested in `tests/it/store.rs`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use super::*;
use crate::record::{
    HistKey, HistKind, HistScope, IntervalSample, LatencyStats, RunStatusField, StoredHistogram,
    Summary,
};

const CRASH_STORE_ENV: &str = "LOADGATE_TEST_CRASH_STORE";
const CRASH_RUN_ENV: &str = "LOADGATE_TEST_CRASH_RUN";
const READY: &str = "CRASH-CHILD-IN-TRANSACTION";

fn record(n: usize, intervals: usize) -> RunRecord {
    RunRecord {
        workload: format!("w{n}"),
        started_at_ms: 1_700_000_000_000 + n as i64,
        ended_at_ms: Some(1_700_000_060_000 + n as i64),
        status: RunStatusField(RunStatus::Complete),
        settings: crate::record::RunSettings::Other(serde_json::json!({ "workers": n })),
        summary: Some(Summary {
            tps: 100.0 + n as f64,
            latency_corrected: LatencyStats {
                p99: 1.5,
                ..LatencyStats::default()
            },
            ..Summary::default()
        }),
        histograms: vec![StoredHistogram {
            key: HistKey::new(HistScope::Txn, HistKind::Corrected),
            bytes: vec![n as u8; 1000],
        }],
        intervals: (0..intervals)
            .map(|i| IntervalSample {
                t: i as f64,
                transactions: i as u64,
                tps: 0.1 * i as f64,
                ..IntervalSample::default()
            })
            .collect(),
        ..RunRecord::default()
    }
}

/// Kills the child when the test ends, however it ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Run as a child process by the test below: opens a write transaction, finishes a run and
/// inserts another inside it, says so, and waits to be killed.
#[test]
fn crash_child() {
    let (Some(path), Some(run)) = (
        std::env::var_os(CRASH_STORE_ENV),
        std::env::var(CRASH_RUN_ENV).ok(),
    ) else {
        return;
    };
    let id: i64 = run.parse().unwrap();
    let mut store = Store::open(Path::new(&path)).unwrap();
    let rec = record(7, 60_000);
    let row = RunRow::full(&rec).unwrap();
    let tx = store
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    codec::write_finished(&tx, id, &row).unwrap();
    codec::insert_full(&tx, &row).unwrap();
    println!("{READY}");
    std::thread::sleep(Duration::from_secs(120));
    tx.commit().unwrap();
}

#[test]
fn a_writer_killed_inside_its_transaction_leaves_the_previous_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    let mut store = Store::open(&path).unwrap();
    let complete: Vec<(i64, RunRecord)> = (0..3)
        .map(|n| {
            let rec = record(n, 10);
            (store.insert_run(&rec).unwrap(), rec)
        })
        .collect();
    let started = record(9, 0);
    let running = store.begin_run(&started).unwrap();
    drop(store);

    let child = Command::new(std::env::current_exe().unwrap())
        .args(["store::tests::crash_child", "--exact", "--nocapture"])
        .env(CRASH_STORE_ENV, &path)
        .env(CRASH_RUN_ENV, running.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let stdout = child.0.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.trim() == READY);
    assert!(
        ready,
        "the crash child ended before opening its transaction"
    );

    // The uncommitted pages went to the WAL file: the crash hits a half-written store.
    let wal = std::fs::metadata(dir.path().join("crash.db-wal"))
        .unwrap()
        .len();
    assert!(wal > 1 << 20, "only {wal} bytes in the WAL");
    child.0.kill().unwrap();
    child.0.wait().unwrap();

    let store = Store::open(&path).unwrap();
    let check: String = store
        .conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let ids: Vec<i64> = store
        .list_runs(&RunFilter::default())
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids.len(), 4, "{ids:?}");
    for (id, rec) in &complete {
        let mut want = rec.clone();
        want.id = Some(*id);
        assert_eq!(&store.get_run(*id).unwrap(), &want);
    }
    let got = store.get_run(running).unwrap();
    assert_eq!(got.status.0, RunStatus::Running);
    assert_eq!(got.summary, None);
    assert!(got.histograms.is_empty() && got.intervals.is_empty());
    let orphans: i64 = store
        .conn
        .query_row(
            "SELECT (SELECT count(*) FROM run_intervals WHERE run_id NOT IN (SELECT id FROM runs))
                  + (SELECT count(*) FROM run_histograms WHERE run_id NOT IN (SELECT id FROM runs))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphans, 0);

    // And the store still takes writes.
    let mut store = store;
    let rec = record(9, 100);
    store.finish_run(running, &rec).unwrap();
    assert_eq!(store.get_run(running).unwrap().intervals, rec.intervals);
}

#[test]
fn busy_is_retried_then_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let mut holder = Store::open(&path).unwrap();
    let mut store = Store::open(&path).unwrap();
    store.conn.busy_timeout(Duration::from_millis(10)).unwrap();
    let tx = holder
        .conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .unwrap();
    let err = store.insert_run(&record(1, 1)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Busy {
                attempts: 4,
                what: "store a run",
                ..
            }
        ),
        "{err}"
    );
    let msg = err.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    drop(tx);
    store.insert_run(&record(1, 1)).unwrap();
}

/// Runs and baselines stored before version 5 kept what a run found out (the driver and
/// scheduling policy that ran, and why) inside their settings. Opened by this version, the
/// settings say what was asked for and the facts what ran, and they still compare as they ran.
#[test]
fn a_store_from_before_run_facts_opens_with_facts_split_from_settings() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v4.db");
    let w = crate::workload::load("oltp_point_select").unwrap();
    let s = crate::settings::Settings::resolve(&w, &[], &[]).unwrap();
    let asked = serde_json::to_value(&s).unwrap();
    let mut fell = asked.clone();
    fell["driver"] = "mysql_async".into();
    fell["driver_fallback"] = "the server wants TLS".into();
    fell["client_sched"] = "normal".into();
    fell["client_sched_refused"] = "Operation not permitted".into();
    let mut plain = asked.clone();
    plain["client_sched"] = "batch".into();
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        schema::migrate_with(&mut conn, &path, &schema::MIGRATIONS[..4]).unwrap();
        let testbed = serde_json::to_string(&crate::record::Testbed::default()).unwrap();
        for settings in [
            &fell,
            &plain,
            &serde_json::json!({"phase": "before", "x": 1}),
        ] {
            conn.execute(
                "INSERT INTO runs (started_at_ms, status, workload, workload_hash, settings_json, \
                 target, server_flavor, server_version, server_version_comment, testbed_json, \
                 testbed_fingerprint, tool_version, record_version) \
                 VALUES (1, 'complete', 'oltp_point_select', 'h', ?1, 'mysql://x@h/', 'mariadb', \
                 '10.11', '', ?2, 'fp', '0.1.0', 1)",
                [settings.to_string(), testbed.clone()],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO baselines (name, created_at_ms, set_id, workload, workload_hash, \
             testbed_fingerprint, testbed_json, settings_json, target, server_version) \
             VALUES ('main', 1, 's', 'oltp_point_select', 'h', 'fp', ?2, ?1, 'mysql://x@h/', \
             '10.11')",
            [fell.to_string(), testbed],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let run = store.get_run(1).unwrap();
    let oltp = run.settings.oltp().expect("an OLTP run reads back as one");
    assert_eq!(oltp.driver, crate::settings::Driver::Lean);
    assert_eq!(oltp.client_sched, crate::settings::ClientSched::Batch);
    assert_eq!(
        run.facts,
        crate::record::RunFacts {
            driver: Some(crate::settings::Driver::MysqlAsync),
            driver_fallback: Some("the server wants TLS".into()),
            client_sched: Some(crate::settings::ClientSched::Normal),
            client_sched_refused: Some("Operation not permitted".into()),
            ..Default::default()
        }
    );
    // Shown and compared as it ran, exactly as before.
    assert_eq!(run.settings_as_ran(), fell);
    let plain_run = store.get_run(2).unwrap();
    assert_eq!(plain_run.settings.to_json(), plain);
    assert_eq!(
        plain_run.facts.driver,
        Some(crate::settings::Driver::Lean),
        "every OLTP run gets its facts"
    );
    let other = store.get_run(3).unwrap();
    assert!(other.facts.is_empty(), "{:?}", other.facts);
    assert_eq!(
        other.settings.to_json(),
        serde_json::json!({"phase": "before", "x": 1})
    );
    let b = store.get_baseline("main").unwrap().unwrap();
    assert_eq!(b.settings, asked_but(&fell));
    assert_eq!(b.facts, run.facts);
    let mut ran = fell.clone();
    let o = ran.as_object_mut().unwrap();
    o.remove("driver_fallback");
    o.remove("client_sched_refused");
    assert_eq!(b.settings_as_ran(), ran);
    assert_eq!(
        crate::regress::comparable_settings(&b.settings_as_ran())["driver"],
        "\"mysql_async\""
    );
}

/// `fell` without the fallback notes and with what was asked for.
fn asked_but(fell: &serde_json::Value) -> serde_json::Value {
    let mut v = fell.clone();
    let o = v.as_object_mut().unwrap();
    o.remove("driver_fallback");
    o.remove("client_sched_refused");
    o.insert("driver".into(), "lean".into());
    o.insert("client_sched".into(), "batch".into());
    v
}

#[test]
fn a_store_error_exits_7() {
    use crate::error::{assert_module_error, exit};
    assert_module_error(StoreError::RunNotFound(3), exit::STORE);
    let busy = StoreError::Busy {
        path: "s.db".into(),
        what: "store a run",
        attempts: 3,
    };
    assert_module_error(busy, exit::STORE);
    let corrupt = StoreError::Corrupt {
        path: "s.db".into(),
        id: 1,
        detail: "bad".into(),
    };
    assert_module_error(corrupt, exit::STORE);
}

/// Regression: a run whose process was killed with SIGKILL stayed `running` for good. An open
/// now marks it `interrupted`, keeping the intervals it flushed; runs of live processes and of
/// other hosts stay `running`.
#[test]
fn an_open_marks_the_runs_of_dead_processes_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reap.db");
    let mut store = Store::open(&path).unwrap();
    let live = store.begin_run(&record(1, 0)).unwrap();
    let dead = store.begin_run(&record(2, 0)).unwrap();
    let silent = store.begin_run(&record(3, 0)).unwrap();
    let elsewhere = store.begin_run(&record(4, 0)).unwrap();
    let flushed = record(2, 3).intervals;
    store.flush_intervals(dead, 0, &flushed[..2]).unwrap();
    store.flush_intervals(dead, 2, &flushed[2..]).unwrap();
    // Their processes: one gone and its pid reused by a later process (another start time),
    // one gone with nothing flushed, one on another host.
    for (id, set) in [
        (dead, "owner_start = owner_start + 1"),
        (silent, "owner_boot_id = 'a boot before'"),
        (
            elsewhere,
            "owner_host = owner_host || '-elsewhere', owner_start = 0",
        ),
    ] {
        store
            .conn
            .execute(&format!("UPDATE runs SET {set} WHERE id = ?1"), [id])
            .unwrap();
    }
    drop(store);

    let mut store = Store::open(&path).unwrap();
    assert_eq!(store.get_run(live).unwrap().status.0, RunStatus::Running);
    assert_eq!(
        store.get_run(elsewhere).unwrap().status.0,
        RunStatus::Running
    );
    let got = store.get_run(dead).unwrap();
    assert_eq!(got.status.0, RunStatus::Interrupted);
    let reason = got.status_reason.unwrap();
    assert!(
        reason.contains("pid") && reason.contains("3 interval(s)"),
        "{reason}"
    );
    assert_eq!(got.intervals, flushed);
    // It ended with its last flushed interval (t = 2 s).
    assert_eq!(got.ended_at_ms, Some(got.started_at_ms + 2000));
    let got = store.get_run(silent).unwrap();
    assert_eq!(got.status.0, RunStatus::Interrupted);
    assert_eq!(got.ended_at_ms, None);
    assert!(got.intervals.is_empty());
    // Nothing more to mark; the live run's own finish still works.
    assert!(store.mark_interrupted().unwrap().is_empty());
    store.finish_run(live, &record(1, 2)).unwrap();
    assert_eq!(store.get_run(live).unwrap().status.0, RunStatus::Complete);
}

/// A run left `running` by a loadgate that did not record its process is taken as
/// interrupted by the migration that adds the owner (on a file, as users' stores are).
#[test]
fn the_owner_migration_marks_runs_left_running_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let mut conn = Connection::open(&path).unwrap();
    schema::migrate_with(&mut conn, &path, &schema::MIGRATIONS[..5]).unwrap();
    conn.execute_batch(
        "INSERT INTO runs (started_at_ms, status, workload, workload_hash, settings_json, target,
             server_flavor, server_version, server_version_comment, testbed_json,
             testbed_fingerprint, tool_version, record_version)
         VALUES (1, 'running', 'w', 'h', '{}', 't', '', '', '', '{}', '', 'v', 1),
                (2, 'complete', 'w', 'h', '{}', 't', '', '', '', '{}', '', 'v', 1)",
    )
    .unwrap();
    drop(conn);
    let store = Store::open(&path).unwrap();
    let runs = store.list_runs(&RunFilter::default()).unwrap();
    let status: Vec<RunStatus> = runs.iter().map(|r| r.status).collect();
    assert_eq!(status, [RunStatus::Complete, RunStatus::Interrupted]);
    let reason: String = store
        .conn
        .query_row(
            "SELECT status_reason FROM runs WHERE id = ?1",
            [runs[1].id],
            |r| r.get(0),
        )
        .unwrap();
    assert!(reason.contains("did not record its process"), "{reason}");
}
