//! The lean executor (`driver = lean`, the default) against a real server: it authenticates with
//! and without a password, keeps the protocol in step through errors, big and split result rows
//! and multi-result replies, and a run counts exactly what a mysql_async run counts.

use crate::common::*;
use loadgate::engine::exec::{Control, Session};
use loadgate::engine::lean::{LeanConnector, LeanSession, OpenError};
use loadgate::target::Target;
use mysql_async::Value;
use std::time::Duration;

/// The tests of this module take turns on a server of their own: one test reads server-wide
/// counters and one raises `max_allowed_packet` globally.
static LEAN: PrivateServer = PrivateServer::new("a server for the lean tests", no_args);

fn serial() -> (String, std::sync::MutexGuard<'static, ()>) {
    LEAN.turn()
}

fn connector(url: &str, db: &str, sql: &[&str]) -> LeanConnector {
    LeanConnector::new(
        Target::parse(url).expect("url"),
        db,
        sql.iter().map(|s| s.to_string()).collect(),
        Duration::from_secs(10),
    )
}

async fn open(url: &str, db: &str, sql: &[&str]) -> LeanSession {
    match connector(url, db, sql).open().await {
        Ok(s) => s,
        Err(OpenError::Exec(e)) => panic!("open: error {}: {}", e.code, e.message),
        Err(OpenError::Unsupported(why)) => panic!("open: unsupported: {why}"),
    }
}

#[test]
fn a_password_account_authenticates_and_a_wrong_password_is_refused_by_name() {
    let (root, _serial) = serial();
    let url = fresh_db_on(&root, "t_lean_auth");
    sql(
        &root,
        &[
            "DROP USER IF EXISTS 'lg_lean'@'%'",
            "CREATE USER 'lg_lean'@'%' IDENTIFIED BY 'Lean-pw-42'",
            "GRANT ALL ON t_lean_auth.* TO 'lg_lean'@'%'",
        ],
    );
    let good = url.replacen("mysql://root@", "mysql://lg_lean:Lean-pw-42@", 1);
    let bad = url.replacen("mysql://root@", "mysql://lg_lean:wrong@", 1);
    block_on(async {
        let mut s = open(&good, "t_lean_auth", &["SELECT CURRENT_USER(), ?"]).await;
        s.exec(0, &mut vec![Value::Int(7)]).await.expect("exec");
        s.close().await;
        match connector(&bad, "t_lean_auth", &[]).open().await {
            Err(OpenError::Exec(e)) => {
                assert_eq!(e.code, 1045, "{}", e.message);
                assert!(e.message.contains("lg_lean"), "{}", e.message);
                assert!(!e.message.contains("wrong"), "{}", e.message);
            }
            Err(OpenError::Unsupported(why)) => panic!("unsupported: {why}"),
            Ok(_) => panic!("a wrong password was accepted"),
        }
    });
}

#[test]
fn errors_big_rows_split_packets_and_multiple_results_keep_the_protocol_in_step() {
    let (root, _serial) = serial();
    let url = fresh_db_on(&root, "t_lean_proto");
    // Rows longer than one protocol packet (16 MiB) need a larger max_allowed_packet; it applies
    // to new connections.
    sql(
        &url,
        &[
            "SET GLOBAL max_allowed_packet = 64 * 1024 * 1024",
            "CREATE TABLE u (id INT PRIMARY KEY)",
            "CREATE PROCEDURE two_results() BEGIN SELECT 1; SELECT 2, 3; END",
        ],
    );
    block_on(async {
        let mut s = open(
            &url,
            "t_lean_proto",
            &[
                "INSERT INTO u (id) VALUES (?)",
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < ?) \
                 SELECT n, REPEAT('y', 100), NULL FROM r",
                "SELECT REPEAT('x', ?)",
                "CALL two_results()",
                "SELECT COUNT(*) FROM u WHERE id = ?",
            ],
        )
        .await;
        // A server error: reported with its code, the connection stays usable.
        s.exec(0, &mut vec![Value::Int(1)]).await.expect("insert");
        let e = s
            .exec(0, &mut vec![Value::Int(1)])
            .await
            .expect_err("duplicate key");
        assert_eq!(e.code, 1062, "{}", e.message);
        assert!(!e.connection_lost);
        s.exec(0, &mut vec![Value::Int(2)]).await.expect("insert");
        // 20 000 rows (~2.3 MB): more than the read buffer holds.
        s.exec(1, &mut vec![Value::Int(20_000)])
            .await
            .expect("many rows");
        // One 17 MB value: a row split over two protocol packets.
        s.exec(2, &mut vec![Value::Int(17_000_000)])
            .await
            .expect("split row");
        // Exactly one full packet's worth of payload, then small ones again.
        s.exec(2, &mut vec![Value::Int(0xFF_FFFF - 4)])
            .await
            .expect("a row the size of one packet");
        s.exec(2, &mut vec![Value::Int(3)]).await.expect("small");
        // A procedure's several result sets, then the call's own status.
        s.exec(3, &mut vec![]).await.expect("call");
        s.exec(3, &mut vec![]).await.expect("call again");
        // Transactions as text commands, and a parameter of another type on the same statement.
        s.control(Control::Begin).await.expect("begin");
        s.exec(0, &mut vec![Value::Bytes(b"3".to_vec())])
            .await
            .expect("insert with a string parameter");
        s.control(Control::Rollback).await.expect("rollback");
        s.exec(4, &mut vec![Value::NULL]).await.expect("NULL");
        // Wrong parameter count: refused on the client, nothing sent.
        let e = s
            .exec(4, &mut vec![])
            .await
            .expect_err("wrong parameter count");
        assert!(!e.connection_lost, "{}", e.message);
        s.exec(4, &mut vec![Value::Int(3)])
            .await
            .expect("still in step");
        s.close().await;
    });
    let rows = sql(&url, &["SELECT id FROM u ORDER BY id"]);
    assert_eq!(
        rows,
        vec![vec!["1"], vec!["2"]],
        "the rolled-back row is not there"
    );
}

#[test]
fn a_statement_that_does_not_prepare_names_itself_and_the_server_error() {
    let (root, _serial) = serial();
    let url = fresh_db_on(&root, "t_lean_prep");
    block_on(async {
        match connector(
            &url,
            "t_lean_prep",
            &["SELECT c FROM no_such_table WHERE id = ?"],
        )
        .open()
        .await
        {
            Err(OpenError::Exec(e)) => {
                assert_eq!(e.code, 1146, "{}", e.message);
                assert!(e.message.contains("no_such_table"), "{}", e.message);
            }
            Err(OpenError::Unsupported(why)) => panic!("unsupported: {why}"),
            Ok(_) => panic!("prepared a statement on a missing table"),
        }
    });
}

/// `wait_in_kernel`: replies are read with a blocking receive bounded at 10 ms. Fast replies,
/// big ones and a reply slower than the bound all arrive whole, and while a slow reply is
/// awaited the thread's other tasks still run (the wait moved to the poller). Without the bound
/// the ticker below would not tick at all during the 300 ms query.
#[test]
fn kernel_waits_read_every_reply_and_leave_the_thread_to_its_other_tasks() {
    let (root, _serial) = serial();
    let url = fresh_db_on(&root, "t_lean_kernel_wait");
    sql(&url, &["CREATE TABLE u (id INT PRIMARY KEY)"]);
    let local = tokio::task::LocalSet::new();
    block_on(local.run_until(async {
        let mut s = open(
            &url,
            "t_lean_kernel_wait",
            &[
                "INSERT INTO u (id) VALUES (?)",
                "SELECT COUNT(*) FROM u WHERE id <= ?",
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < ?) \
                 SELECT n, REPEAT('y', 100) FROM r",
                "SELECT SLEEP(?)",
            ],
        )
        .await;
        s.wait_in_kernel(Duration::from_millis(10));
        for i in 1..=500 {
            s.exec(0, &mut vec![Value::Int(i)]).await.expect("insert");
        }
        let e = s
            .exec(0, &mut vec![Value::Int(7)])
            .await
            .expect_err("duplicate key");
        assert_eq!(e.code, 1062, "{}", e.message);
        s.exec(2, &mut vec![Value::Int(20_000)])
            .await
            .expect("many rows");

        let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let t = ticks.clone();
        let ticker = tokio::task::spawn_local(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(5)).await;
                t.set(t.get() + 1);
            }
        });
        tokio::task::yield_now().await;
        let t0 = std::time::Instant::now();
        s.exec(3, &mut vec![Value::Double(0.3)])
            .await
            .expect("slow query");
        let took = t0.elapsed();
        ticker.abort();
        assert!(took >= Duration::from_millis(290), "{took:?}");
        assert!(
            ticks.get() >= 10,
            "the thread's other task ticked {} times in {took:?}",
            ticks.get()
        );
        // Still in step after the poller served the slow reply.
        s.exec(1, &mut vec![Value::Int(1000)]).await.expect("count");
        s.control(Control::Begin).await.expect("begin");
        s.exec(0, &mut vec![Value::Int(501)]).await.expect("insert");
        s.control(Control::Rollback).await.expect("rollback");
        s.close().await;
    }));
    assert_eq!(
        sql(&url, &["SELECT COUNT(*) FROM u"])[0][0],
        "500",
        "rows on the server"
    );
}

fn run_events(dir: &std::path::Path, url: &str, driver: &str, more: &[&str]) -> serde_json::Value {
    let driver = format!("driver={driver}");
    let mut args = vec![
        "run",
        "oltp_read_write",
        "--target",
        url,
        "--table-size",
        "1000", // as prepared by its caller
        "--events",
        "200",
        "--duration",
        "0",
        "--warmup",
        "0",
        "--threads",
        "1",
        "--json",
        "-q",
        "--no-monitor",
        "--set",
        &driver,
    ];
    args.extend(more);
    lg_json(dir, &args)
}

#[test]
fn lean_and_mysql_async_runs_count_the_same_and_say_which_ran() {
    let (root, _serial) = serial();
    let d = scratch();
    let url = fresh_db_on(&root, "t_lean_same");
    prepare_on(d.path(), "oltp_read_write", &url, 1000, &[]);
    let before = status(&url, "Com_stmt_execute");
    let lean = run_events(d.path(), &url, "lean", &[]);
    let mid = status(&url, "Com_stmt_execute");
    let other = run_events(d.path(), &url, "mysql_async", &[]);
    let after = status(&url, "Com_stmt_execute");
    let polled = run_events(d.path(), &url, "lean", &["--set", "reply_wait=poll"]);
    let last = status(&url, "Com_stmt_execute");
    for r in [&lean, &other, &polled] {
        assert_eq!(r["status"], "complete", "{r}");
        assert_eq!(r["transactions"], 200, "{r}");
        assert_eq!(r["queries"]["read"], 200 * 14, "{r}");
        assert_eq!(r["queries"]["write"], 200 * 4, "{r}");
        assert_eq!(r["queries"]["other"], 200 * 2, "{r}");
    }
    assert_eq!(lean["settings"]["driver"], "lean");
    assert_eq!(other["settings"]["driver"], "mysql_async");
    assert_eq!(lean["settings"]["reply_wait"], "auto");
    assert_eq!(polled["settings"]["reply_wait"], "poll");
    // The server executed the statements each client says it sent (20 prepared per
    // transaction: BEGIN and COMMIT are prepared too, as sysbench does), plus the one of
    // loadgate's preflight.
    let (l, m, p) = (mid - before, after - mid, last - after);
    assert_eq!(
        (l, m, p),
        (4001, 4001, 4001),
        "server-side executions: lean, mysql_async, lean polling"
    );
}

/// `--set KEY=VALUE` with a value the setting does not take: exit 2, and the message names the
/// setting, the value and one of the values it does take.
fn assert_bad_choice(key: &str, value: &str, one_valid: &str) {
    let (root, _serial) = serial();
    let d = scratch();
    let mut c = lg(d.path());
    c.args([
        "run",
        "oltp_point_select",
        "--target",
        &format!("{root}x"),
        "--set",
        &format!("{key}={value}"),
    ]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(key) && e.contains(value) && e.contains(one_valid),
        "{e}"
    );
}

#[test]
fn an_unknown_driver_is_a_usage_error_naming_the_setting() {
    assert_bad_choice("driver", "libmysql", "mysql_async");
}

#[test]
fn an_unknown_reply_wait_is_a_usage_error_naming_the_setting() {
    assert_bad_choice("reply_wait", "spin", "poll");
}

#[test]
fn every_interval_holds_what_completed_in_it_with_many_workers_on_kernel_waits() {
    // With one client thread per worker and every reply read in the kernel, a thread's ticker
    // can run long after an interval ends; the series must not depend on it. Before workers
    // handed their intervals over themselves, the first second of a 32-worker run showed a few
    // percent of the rate and the rest swung by half from one second to the next.
    let (root, _serial) = serial();
    let d = scratch();
    let url = fresh_db_on(&root, "t_lean_intervals");
    prepare_on(d.path(), "oltp_point_select", &url, 1000, &[]);
    let mut c = run_on(d.path(), "oltp_point_select", &url, 1000);
    c.args([
        "--threads",
        "32",
        "--duration",
        "4s",
        "--report-interval",
        "1s",
    ])
    .args(["--json", "-q", "--no-monitor"]);
    let r = ok_json(c);
    let iv = r["intervals"].as_array().expect("intervals");
    let tps: Vec<f64> = iv.iter().map(|i| i["tps"].as_f64().unwrap()).collect();
    // Every transaction is in exactly one interval.
    let in_intervals: u64 = iv.iter().map(|i| i["transactions"].as_u64().unwrap()).sum();
    assert_eq!(in_intervals, r["transactions"].as_u64().unwrap(), "{tps:?}");
    // Four seconds, four intervals: the transactions in flight at the deadline count in the
    // last one instead of making a fifth that shows a few dozen transactions per second. Each
    // holds a fair share: none below a third of their median.
    assert_eq!(tps.len(), 4, "{tps:?}");
    let mut whole = tps[..4].to_vec();
    whole.sort_by(f64::total_cmp);
    let median = (whole[1] + whole[2]) / 2.0;
    assert!(
        tps[..4].iter().all(|&t| t >= median / 3.0),
        "per-second tps {tps:?}, median {median}"
    );
}

#[test]
fn an_unknown_client_sched_is_a_usage_error_naming_the_setting() {
    assert_bad_choice("client_sched", "idle", "batch");
}

/// The scheduling policy (field 41 of `/proc/PID/task/TID/stat`) of each `lg-client-N` thread of
/// `pid`, read 300 ms after `n` of them exist (a thread sets its policy as it starts).
#[cfg(target_os = "linux")]
fn client_thread_policies(pid: u32, n: usize) -> Vec<u32> {
    let start = std::time::Instant::now();
    let mut settled = false;
    loop {
        let mut found = Vec::new();
        for t in std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
        {
            let t = t.expect("task entry").path();
            let comm = std::fs::read_to_string(t.join("comm")).unwrap_or_default();
            let stat = std::fs::read_to_string(t.join("stat")).unwrap_or_default();
            if !comm.starts_with("lg-client-") {
                continue;
            }
            // Fields after the command name's closing parenthesis start at field 3.
            let rest = &stat[stat.rfind(')').map_or(0, |i| i + 1)..];
            if let Some(p) = rest.split_whitespace().nth(41 - 3) {
                found.push(p.parse().expect("policy is a number"));
            }
        }
        if found.len() >= n {
            if settled {
                return found;
            }
            settled = true;
            std::thread::sleep(Duration::from_millis(300));
            continue;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "only {} of {n} client threads appeared",
            found.len()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(target_os = "linux")]
#[test]
fn client_threads_run_sched_batch_in_closed_loop_only_and_the_record_says_so() {
    const SCHED_OTHER: u32 = 0;
    const SCHED_BATCH: u32 = 3;
    let (root, _serial) = serial();
    let d = scratch();
    let url = fresh_db_on(&root, "t_lean_sched");
    prepare_on(d.path(), "oltp_point_select", &url, 1000, &[]);
    for (more, policy, recorded) in [
        (&[][..], SCHED_BATCH, "batch"),
        (&["--rate", "300"][..], SCHED_OTHER, "normal"),
        (&["--set", "client_sched=normal"][..], SCHED_OTHER, "normal"),
        (
            &["--rate", "300", "--set", "client_sched=batch"][..],
            SCHED_BATCH,
            "batch",
        ),
    ] {
        let mut c = run_on(d.path(), "oltp_point_select", &url, 1000);
        c.args([
            "--threads",
            "3",
            "--duration",
            "2",
            "--json",
            "-q",
            "--no-monitor",
        ])
        .args(more);
        let child = spawn(c);
        let seen = client_thread_policies(child.id(), 3);
        let o = child.wait_with_output().expect("wait");
        let r = json(&o);
        assert_eq!(r["status"], "complete", "{more:?}: {r}");
        assert_eq!(
            seen,
            vec![policy; 3],
            "{more:?}: policies of the client threads"
        );
        assert_eq!(r["settings"]["client_sched"], recorded, "{more:?}");
    }
}
