//! The embedded monitor against real servers: performance_schema off (a throwaway server of
//! this module's own, MariaDB's default) and on (a second throwaway server with `--max-connections=10`),
//! plausible server and pool metrics, per-statement server numbers, alerts crossed on purpose,
//! a restricted account, a connection leak, the Prometheus endpoint, `monitor` and `health`.

use crate::common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

/// A server of the monitor tests' own (performance_schema off, MariaDB's default), one test
/// at a time: server-wide counters such as Questions must not mix two tests' work, nor the
/// work of the tests of other modules on the shared server.
static QUIET: PrivateServer = PrivateServer::new("a server for the monitor tests", no_args);

fn quiet_server() -> (String, MutexGuard<'static, ()>) {
    QUIET.turn()
}

/// A throwaway server with performance_schema on (as `loadgate run --server-arg=
/// --performance-schema=ON` starts it) and `max_connections` at MariaDB's floor of 10; tests
/// on it take turns, so their connection counts do not mix.
static PS: PrivateServer = PrivateServer::new("a performance_schema server", ps_args);

fn ps_args() -> Vec<String> {
    let mut args = loadgate::monitor::throwaway_server_args(&["--performance-schema=ON".into()]);
    args.push("--max-connections=10".into());
    args
}

fn ps_server() -> (String, MutexGuard<'static, ()>) {
    PS.turn()
}

/// `mysql://user:pw@host:port/db` from a root URL `mysql://root@host:port/`.
fn as_user(root_url: &str, user: &str, db: &str) -> String {
    root_url.replacen("root@", &format!("{user}:pw_{user}@"), 1) + db
}

/// A database on the server at `root_url` and a user who may do anything in it and nothing
/// else (no PROCESS, no performance_schema), with the oltp tables prepared by root.
fn user_with_db(
    d: &std::path::Path,
    root_url: &str,
    user: &str,
    db: &str,
    table_size: u32,
) -> String {
    sql(
        root_url,
        &[
            &format!("DROP DATABASE IF EXISTS `{db}`"),
            &format!("CREATE DATABASE `{db}`"),
            &format!("DROP USER IF EXISTS '{user}'@'%'"),
            &format!("CREATE USER '{user}'@'%' IDENTIFIED BY 'pw_{user}'"),
            &format!("GRANT ALL ON `{db}`.* TO '{user}'@'%'"),
        ],
    );
    let mut c = lg(d);
    c.args([
        "prepare",
        "oltp_read_write",
        "--target",
        &format!("{root_url}{db}"),
        "--table-size",
        &table_size.to_string(),
    ]);
    ok(run(c));
    as_user(root_url, user, db)
}

fn run_args(d: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut c = lg(d);
    c.arg("run").args(args).args(["--json", "-q"]);
    run(c)
}

fn run_ok(d: &std::path::Path, args: &[&str]) -> Value {
    let o = run_args(d, args);
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        stderr(&o)
    );
    json(&o)
}

fn client_queries(r: &Value) -> u64 {
    let q = &r["queries"];
    ["read", "write", "other"]
        .iter()
        .map(|k| q[*k].as_u64().unwrap())
        .sum()
}

#[test]
fn without_performance_schema_server_and_pool_metrics_are_plausible() {
    let d = scratch();
    let (root, _turn) = quiet_server();
    let url = user_with_db(d.path(), &root, "lg_off", "t_mon_off", 2000);
    let r = run_ok(
        d.path(),
        &[
            "oltp_read_only",
            "--target",
            &url,
            "--table-size",
            "2000",
            "--threads",
            "2",
            "--duration",
            "3s",
            "--warmup",
            "0",
            "--monitor-interval",
            "500ms",
        ],
    );
    assert_eq!(r["status"], "complete");
    assert!(
        schema_errors("run-v1.json", &r).is_empty(),
        "{:#?}",
        schema_errors("run-v1.json", &r)
    );
    let m = &r["monitor"];
    assert_eq!(m["performance_schema"], "off");
    let notes = m["notes"].as_array().unwrap();
    assert_eq!(
        notes
            .iter()
            .filter(|n| n.as_str().unwrap().contains("performance_schema is OFF"))
            .count(),
        1,
        "said once: {notes:?}"
    );
    assert_eq!(m["warnings"], serde_json::json!([]));
    assert!(
        m["samples"].as_array().unwrap().len() >= 4,
        "{}",
        m["samples"]
    );

    // The server counted what the client sent: Questions over the window, less the monitor's
    // own statements, is the client's count plus one `SELECT @@max_allowed_packet, ...` per
    // connection that mysql_async sends when it connects.
    let w = &m["window"];
    let n = |v: &Value| v.as_u64().unwrap();
    let server = n(&w["questions"]) - n(&w["monitor_queries"]);
    let client = client_queries(&r);
    assert!(
        server >= client && server - client <= 2 + 5,
        "Questions {server} (monitor's own excluded) vs the client's {client}"
    );
    assert!(n(&w["commands"]["stmt_execute"]) >= n(&r["queries"]["read"]));
    assert!(n(&w["commands"]["begin"]) >= n(&r["transactions"]));
    let hit = w["buffer_pool_hit_pct"].as_f64().unwrap();
    assert!((0.0..=100.0).contains(&hit), "hit ratio {hit}");
    assert!(n(&w["buffer_pool_read_requests"]) > client, "{w}");
    let usage = w["connection_usage_pct"].as_f64().unwrap();
    assert!(usage > 0.0 && usage <= 100.0, "{usage}");
    assert!(
        n(&w["threads_connected"]) >= 3,
        "2 workers and the monitor: {w}"
    );
    assert!(n(&w["threads_running"]) >= 1);
    assert!(w["avg_statement_ms"].is_null(), "no made-up average: {w}");
    // rows_read is not asserted: MariaDB 10.11 has no Innodb_rows_*, and its Rows_read
    // fallback was seen at 0 over a whole prepared-statement run while the connections were
    // still open (it moved only after they closed).

    // Per statement: the client's numbers, one entry per workload statement.
    assert_eq!(m["statements_source"], "client");
    let names: Vec<&str> = r["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    let got: Vec<&str> = m["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(got, names);

    // The pool: two connections, opened once, never lost, no leak.
    let p = &m["pool"];
    assert_eq!(
        (n(&p["size"]), n(&p["peak_open"]), n(&p["connects"])),
        (2, 2, 2)
    );
    assert_eq!(n(&p["discarded"]), 0);
    let in_use = p["avg_in_use"].as_f64().unwrap();
    assert!(in_use > 0.5 && in_use <= 2.0, "{p}");
    assert!(p["connect_max_ms"].as_f64().unwrap() > 0.0);
    let idle = &m["idle_connections"];
    assert_eq!(idle["user"], "lg_off");
    assert_eq!((n(&idle["idle"]), n(&idle["total"])), (2, 2), "{idle}");
    assert_eq!(m["alerts"], serde_json::json!([]));
    for i in r["intervals"].as_array().unwrap() {
        assert_eq!(n(&i["conn_open"]), 2, "{i}");
    }

    // Stored with the run, and printed in the text summary.
    let mut c = lg(d.path());
    c.args(["show", "last", "--json"]);
    assert_eq!(json(&run(c))["monitor"], r["monitor"]);
    let mut c = lg(d.path());
    c.args(["show", "last"]);
    let text = ok(run(c));
    for s in [
        "Server (embedded monitor",
        "buffer pool:",
        "Pool (one connection per worker)",
        "Alerts:\n    none",
        "note: performance_schema is OFF",
    ] {
        assert!(text.contains(s), "missing `{s}` in:\n{text}");
    }
}

#[test]
fn performance_schema_gives_every_workload_statement_as_the_server_saw_it() {
    let d = scratch();
    let (root, _turn) = ps_server();
    let url = user_with_db(d.path(), &root, "lg_ps", "t_mon_ps", 2000);
    sql(
        &root,
        &["GRANT SELECT ON performance_schema.* TO 'lg_ps'@'%'"],
    );
    let r = run_ok(
        d.path(),
        &[
            "oltp_read_write",
            "--target",
            &url,
            "--table-size",
            "2000",
            "--threads",
            "2",
            "--duration",
            "3s",
            "--warmup",
            "0",
        ],
    );
    assert!(
        schema_errors("run-v1.json", &r).is_empty(),
        "{:#?}",
        schema_errors("run-v1.json", &r)
    );
    let m = &r["monitor"];
    assert_eq!(m["performance_schema"], "on");
    assert_eq!(m["statements_source"], "performance_schema");
    assert_eq!(m["warnings"], serde_json::json!([]), "{}", m["notes"]);
    let server: Vec<&Value> = m["statements"].as_array().unwrap().iter().collect();
    let find = |name: &str| server.iter().find(|s| s["name"] == name).copied();
    for c in r["statements"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap();
        let s = find(name).unwrap_or_else(|| panic!("no server entry for `{name}`: {server:#?}"));
        assert_eq!(s["source"], "prepared_statements_instances", "{s}");
        let (sc, cc) = (s["count"].as_u64().unwrap(), c["count"].as_u64().unwrap());
        // The server also counts executions that failed (a deadlock, retried).
        assert!(
            sc >= cc && sc <= cc + 50,
            "{name}: server {sc}, client {cc}"
        );
        if name.contains("select") || name.contains("range") {
            assert_eq!(sc, cc, "{name}: reads never fail here");
        }
        assert!(s["total_ms"].as_f64().unwrap() > 0.0, "{s}");
        assert!(
            s["max_ms"].as_f64().unwrap() >= s["avg_ms"].as_f64().unwrap(),
            "{s}"
        );
        assert!(s["rows_examined"].as_u64().is_some(), "{s}");
        assert!(s["sql"].as_str().unwrap().contains("sbtest1"), "{s}");
    }
    let tx = r["transactions"].as_u64().unwrap();
    for ctl in ["BEGIN", "COMMIT"] {
        // Prepared, as sysbench prepares them, so they come from the same table.
        let s = find(ctl).unwrap_or_else(|| panic!("no server entry for {ctl}"));
        assert_eq!(s["source"], "prepared_statements_instances");
        // The server may count a statement after it has answered, so the last one of each
        // connection may land after the final snapshot: at most one per worker. Deadlocked
        // transactions are retried from BEGIN, so the server may count more.
        let n = s["count"].as_u64().unwrap();
        assert!(n + 4 >= tx && n <= tx + 50, "{s} vs {tx} transactions");
        assert!(s["digest"].is_null());
    }
    let avg = m["window"]["avg_statement_ms"].as_f64().unwrap();
    assert!(avg > 0.0 && avg < 1000.0, "{avg}");

    // Without the consumer MariaDB needs for prepared statements: said once, client numbers.
    sql(&root, &["UPDATE performance_schema.setup_consumers SET ENABLED = 'NO' WHERE NAME = 'events_statements_current'"]);
    let r2 = run_args(
        d.path(),
        &[
            "oltp_point_select",
            "--target",
            &url,
            "--table-size",
            "2000",
            "--threads",
            "1",
            "--duration",
            "1s",
            "--warmup",
            "0",
        ],
    );
    sql(&root, &["UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME = 'events_statements_current'"]);
    assert!(r2.status.success(), "{}", stderr(&r2));
    let m2 = &json(&r2)["monitor"];
    assert_eq!(m2["statements_source"], "client");
    let notes: Vec<&str> = m2["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("events_statements_current"), "{notes:?}");
    assert!(m2["window"]["avg_statement_ms"].as_f64().is_some());
}

#[test]
fn a_tiny_max_connections_raises_a_critical_alert_and_fails_the_run_on_request() {
    let d = scratch();
    let (root, _turn) = ps_server();
    let url = user_with_db(d.path(), &root, "lg_tiny", "t_mon_tiny", 1000);
    // 8 workers and the monitor's connection on a server that allows 10: 90 %.
    let o = run_args(
        d.path(),
        &[
            "oltp_point_select",
            "--target",
            &url,
            "--table-size",
            "1000",
            "--threads",
            "8",
            "--duration",
            "2s",
            "--warmup",
            "0",
            "--fail-on-alert",
            "critical",
        ],
    );
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    assert!(stderr(&o).contains("connection_usage"), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["status"], "complete", "the run itself is fine");
    let alerts = r["monitor"]["alerts"].as_array().unwrap();
    let a = alerts
        .iter()
        .find(|a| a["metric"] == "connection_usage")
        .unwrap_or_else(|| panic!("no connection alert: {alerts:#?}"));
    assert_eq!(a["level"], "critical");
    assert!(a["value"].as_f64().unwrap() >= 90.0, "{a}");
    assert_eq!(r["monitor"]["window"]["max_connections"], 10);
    // Stored, alert included.
    let mut c = lg(d.path());
    c.args(["show", "last", "--json"]);
    assert_eq!(json(&run(c))["monitor"]["alerts"], r["monitor"]["alerts"]);
}

#[test]
fn a_restricted_account_gets_what_it_may_read_and_one_warning() {
    let d = scratch();
    let (root, _turn) = ps_server();
    let url = user_with_db(d.path(), &root, "lg_restricted", "t_mon_restricted", 1000);
    let o = run_args(
        d.path(),
        &[
            "oltp_read_only",
            "--target",
            &url,
            "--table-size",
            "1000",
            "--threads",
            "2",
            "--duration",
            "2s",
            "--warmup",
            "0",
        ],
    );
    assert!(o.status.success(), "not a failed run: {}", stderr(&o));
    let r = json(&o);
    let m = &r["monitor"];
    assert_eq!(m["performance_schema"], "no_access");
    let warnings = m["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:#?}");
    let w = warnings[0].as_str().unwrap();
    assert!(
        w.contains("lg_restricted") && w.contains("performance_schema") && w.contains("GRANT"),
        "{w}"
    );
    // What SHOW GLOBAL STATUS gives needs no privilege.
    let win = &m["window"];
    assert!(win["questions"].as_u64().unwrap() > client_queries(&r));
    assert!(win["buffer_pool_hit_pct"].as_f64().is_some());
    assert!(win["avg_statement_ms"].is_null());
    assert_eq!(m["statements_source"], "client");
    // Without PROCESS an account sees its own connections, which is what the leak check counts.
    assert_eq!(m["idle_connections"]["idle"], 2);
    // The warning is on stderr too when not quiet.
    let mut c = lg(d.path());
    c.args([
        "run",
        "oltp_point_select",
        "--target",
        &url,
        "--table-size",
        "1000",
        "--duration",
        "1s",
        "--warmup",
        "0",
    ]);
    let o = run(c);
    assert!(o.status.success());
    assert!(
        stderr(&o).contains("warning: the account `lg_restricted` may not read performance_schema"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn thresholds_from_the_workload_file_and_the_command_line_raise_alerts() {
    let d = scratch();
    let (root, _turn) = quiet_server();
    let url = user_with_db(d.path(), &root, "lg_thr", "t_mon_thr", 1000);
    let base = [
        "--target",
        url.as_str(),
        "--table-size",
        "1000",
        "--threads",
        "1",
        "--duration",
        "1s",
        "--warmup",
        "0",
    ];
    // A level below the measured value: at least 2 connections of 151.
    let mut args = vec!["oltp_point_select"];
    args.extend(base);
    args.extend(["--threshold", "connection_usage=0.1,50"]);
    let r = run_ok(d.path(), &args);
    let alerts = r["monitor"]["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(
        (alerts[0]["metric"].as_str(), alerts[0]["level"].as_str()),
        (Some("connection_usage"), Some("warning"))
    );
    assert_eq!(
        r["monitor"]["thresholds"]["connection_usage"]["warning"],
        0.1
    );
    args.extend(["--fail-on-alert", "warning"]);
    let o = run_args(d.path(), &args);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));

    // The same from a workload file's [monitor] table; the command line wins over it.
    let text = std::fs::read_to_string(repo_path("workloads/oltp_point_select.toml")).unwrap()
        + "\n[monitor]\ninterval = \"250ms\"\nconnection_usage = { warning = 0.1, critical = 0.2 }\nfail_on_alert = \"critical\"\n";
    let file = d.path().join("watched.toml");
    std::fs::write(&file, text).unwrap();
    let mut args = vec![file.to_str().unwrap()];
    args.extend(base);
    let o = run_args(d.path(), &args);
    assert_eq!(o.status.code(), Some(6), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["monitor"]["alerts"][0]["level"], "critical");
    assert_eq!(r["monitor"]["interval_s"], 0.25);
    args.extend(["--threshold", "connection_usage=off"]);
    let r = run_ok(d.path(), &args);
    assert_eq!(r["monitor"]["alerts"], serde_json::json!([]));

    // A mistake in the table is located.
    std::fs::write(
        &file,
        "[monitor]\nslow_query_ratio = { warning = 30, critical = 10 }\n",
    )
    .unwrap();
    let mut c = lg(d.path());
    c.args(["run", file.to_str().unwrap(), "--target", &url]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("watched.toml:2:20: [monitor]"),
        "{}",
        stderr(&o)
    );

    // --no-monitor: no report, no alerts.
    let mut args = vec!["oltp_point_select", "--no-monitor"];
    args.extend(base);
    let r = run_ok(d.path(), &args);
    assert!(r["monitor"].is_null());
}

#[test]
fn idle_connections_beyond_the_pool_are_a_leak() {
    let d = scratch();
    let (root, _turn) = quiet_server();
    let url = user_with_db(d.path(), &root, "lg_leak", "t_mon_leak", 1000);
    // Three idle connections of the harness user that the run did not open: after the run
    // the user has more idle connections than its pool of one.
    let leaked = block_on(async {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(connect(&url).await);
        }
        v
    });
    let r = run_ok(
        d.path(),
        &[
            "oltp_point_select",
            "--target",
            &url,
            "--table-size",
            "1000",
            "--threads",
            "1",
            "--duration",
            "1s",
            "--warmup",
            "0",
        ],
    );
    block_on(async {
        for c in leaked {
            let _ = c.disconnect().await;
        }
    });
    let m = &r["monitor"];
    assert_eq!(
        m["idle_connections"]["idle"], 4,
        "{}",
        m["idle_connections"]
    );
    let a = m["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["metric"] == "idle_connections")
        .unwrap_or_else(|| panic!("no leak alert: {}", m["alerts"]));
    assert_eq!(a["level"], "critical");
    assert!(a["message"].as_str().unwrap().contains("leaking"));
}

fn scrape(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn prometheus_is_scraped_during_a_run() {
    let d = scratch();
    let (root, _turn) = quiet_server();
    let url = user_with_db(d.path(), &root, "lg_prom", "t_mon_prom", 1000);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = run_on(d.path(), "oltp_point_select", &url, 1000);
    c.args(["--threads", "2", "--duration", "4s", "-q"])
        .args(["--metrics-addr", &format!("127.0.0.1:{port}")]);
    let mut child = spawn(c);
    let start = Instant::now();
    let mut seen = None;
    while start.elapsed() < Duration::from_secs(15) {
        if let Some(b) = scrape(port) {
            // Workers at work, and a server sample taken while they were connected.
            if metric(&b, "loadgate_transactions_total").unwrap_or(0.0) > 0.0
                && metric(&b, "loadgate_server_threads_connected").unwrap_or(0.0) >= 3.0
            {
                seen = Some(b);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let status = wait_with_timeout(&mut child, Duration::from_secs(30));
    let body = seen.expect("no metrics with transactions and server gauges while the run lasted");
    assert!(status.success());
    assert!(body.starts_with("HTTP/1.1 200 OK"), "{body}");
    assert!(body.contains("Content-Type: text/plain; version=0.0.4"));
    let q99 = "loadgate_latency_seconds{kind=\"corrected\",quantile=\"0.99\"}";
    let p99 = metric(&body, q99).unwrap_or_else(|| panic!("no {q99} in\n{body}"));
    assert!(p99 > 0.0 && p99 < 1.0, "{p99}");
    assert!(metric(&body, "loadgate_server_threads_connected").unwrap() >= 3.0);
    assert_eq!(metric(&body, "loadgate_pool_size"), Some(2.0));
    assert_eq!(metric(&body, "loadgate_pool_connects_total"), Some(2.0));
    let reads = metric(&body, "loadgate_queries_total{class=\"read\"}").unwrap();
    assert!(reads > 0.0);
    let tx = metric(&body, "loadgate_transactions_total").unwrap();
    // One read per point-select transaction; an interval boundary may fall between the read
    // and its transaction's completion.
    assert!(
        (reads - tx).abs() <= 2.0,
        "reads {reads}, transactions {tx}"
    );
    assert!(metric(&body, "loadgate_server_questions_total").unwrap() > 0.0);
    assert!(body.contains("loadgate_info{workload=\"oltp_point_select\",run_id=\""));
    assert!(
        scrape(port).is_none(),
        "the endpoint goes away with the run"
    );
}

fn health(args: &[&str]) -> std::process::Output {
    let d = scratch();
    let mut c = lg(d.path());
    c.arg("health").args(args);
    run(c)
}

#[test]
fn health_states_have_matching_exit_codes() {
    let (url, _turn) = quiet_server();
    let o = health(&["--target", &url]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).starts_with("OK: mysql://root@127.0.0.1:"),
        "{}",
        stdout(&o)
    );

    let o = health(&["--target", &url, "--json"]);
    let j = json(&o);
    assert_eq!(j["status"], "ok");
    let checks: Vec<&str> = j["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["metric"].as_str().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "connection_usage",
            "slow_query_ratio",
            "avg_statement_time",
            "buffer_pool_hit_ratio"
        ]
    );
    assert_eq!(
        j["checks"][2]["status"], "unavailable",
        "performance_schema is off here"
    );
    assert!(j["over_s"].as_f64().unwrap() >= 0.0, "since startup");

    let o = health(&[
        "--target",
        &url,
        "--threshold",
        "connection_usage=0.1,50",
        "--json",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert_eq!(json(&o)["status"], "warning");
    let o = health(&[
        "--target",
        &url,
        "--threshold",
        "connection_usage=0.1,50",
        "--fail-on",
        "critical",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "a warning passes a liveness probe"
    );
    let o = health(&[
        "--target",
        &url,
        "--threshold",
        "connection_usage=0.1,0.2",
        "--window",
        "200ms",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("CRITICAL"), "{}", stdout(&o));

    // Unreachable is critical; a check that cannot run is unknown.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = format!("mysql://root@127.0.0.1:{port}/");
    let o = health(&["--target", &dead, "--connect-timeout", "2s", "--json"]);
    assert_eq!(o.status.code(), Some(2));
    let j = json(&o);
    assert_eq!(j["status"], "critical");
    assert!(
        j["error"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{j}"
    );
    let o = health(&["--target", &url, "--threshold", "nope=1,2"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
}

#[test]
fn monitor_watches_a_server_and_stores_its_samples() {
    let d = scratch();
    let (url, _turn) = quiet_server();
    let mut c = lg(d.path());
    c.args([
        "monitor",
        "--target",
        &url,
        "--interval",
        "200ms",
        "--duration",
        "1s",
        "--json",
    ]);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    let errs = schema_errors("monitor-v1.json", &j);
    assert!(errs.is_empty(), "{errs:#?}");
    let samples = j["samples"].as_array().unwrap();
    assert!(samples.len() >= 4, "{}", samples.len());
    assert!(
        stderr(&o).lines().filter(|l| l.starts_with("[ ")).count() >= 4,
        "live lines: {}",
        stderr(&o)
    );
    for s in samples {
        assert!(s["threads_connected"].as_u64().unwrap() >= 1);
        assert!(s["questions"].as_u64().unwrap() >= s["monitor_queries"].as_u64().unwrap());
    }
    let id = j["id"].as_i64().unwrap();
    let db = rusqlite::Connection::open(d.path().join("store.db")).unwrap();
    let stored: i64 = db
        .query_row(
            "SELECT count(*) FROM monitor_samples WHERE session_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored as usize, samples.len());
    let run_id: Option<i64> = db
        .query_row(
            "SELECT run_id FROM monitor_sessions WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(run_id, None, "a standalone session belongs to no run");

    // An unreachable server fails fast with the target exit code.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = lg(d.path());
    c.args([
        "monitor",
        "--target",
        &format!("mysql://root@127.0.0.1:{port}/"),
        "--duration",
        "1s",
        "--connect-timeout",
        "2s",
    ]);
    assert_eq!(run(c).status.code(), Some(4));
}
