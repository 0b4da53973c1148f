//! The CLI end to end against a real server: prepare and cleanup ownership, sysbench-faithful
//! query counts, open-loop rate, the JSON report against its schema, the store, Ctrl-C, and
//! the clear errors bad input must get.

use crate::common::*;
use std::time::{Duration, Instant};

fn prepare(dir: &std::path::Path, url: &str, extra: &[&str]) -> std::process::Output {
    let mut c = lg(dir);
    c.args(["prepare", "oltp_read_write", "--target", url])
        .args(extra);
    run(c)
}

#[test]
fn prepare_creates_exactly_the_tables_rows_and_index() {
    let d = scratch();
    let url = fresh_db("t_prepare");
    ok(prepare(
        d.path(),
        &url,
        &["--tables", "3", "--table-size", "700"],
    ));
    let tables = sql(&url, &["SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='t_prepare' ORDER BY 1"]);
    assert_eq!(
        tables,
        vec![vec!["sbtest1"], vec!["sbtest2"], vec!["sbtest3"]]
    );
    for i in 1..=3 {
        let n = sql(
            &url,
            &[&format!("SELECT COUNT(*), MIN(id), MAX(id) FROM sbtest{i}")],
        );
        assert_eq!(n[0], vec!["700", "1", "700"]);
        let idx = sql(
            &url,
            &[&format!(
                "SHOW INDEX FROM sbtest{i} WHERE Key_name = 'k_{i}'"
            )],
        );
        assert_eq!(idx.len(), 1, "secondary index k_{i} on sbtest{i}");
        let c = sql(&url, &[&format!("SELECT c, pad FROM sbtest{i} LIMIT 1")]);
        assert_eq!(c[0][0].len(), 119);
        assert_eq!(c[0][0].split('-').count(), 10);
        assert_eq!(c[0][1].len(), 59);
    }
}

#[test]
fn prepare_refuses_a_schema_with_foreign_tables_unless_forced() {
    let d = scratch();
    let url = fresh_db("t_foreign");
    sql(
        &url,
        &[
            "CREATE TABLE customers (id INT PRIMARY KEY)",
            "INSERT INTO customers VALUES (1)",
        ],
    );
    let o = prepare(d.path(), &url, &["--table-size", "100"]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("`customers`") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    ok(prepare(d.path(), &url, &["--table-size", "100", "--force"]));
    assert_eq!(
        sql(&url, &["SELECT COUNT(*) FROM customers"]),
        vec![vec!["1"]]
    );
    assert_eq!(
        sql(&url, &["SELECT COUNT(*) FROM sbtest1"]),
        vec![vec!["100"]]
    );
}

#[test]
fn prepare_never_replaces_a_users_table_of_the_same_name() {
    let d = scratch();
    let url = fresh_db("t_samename");
    sql(
        &url,
        &[
            "CREATE TABLE sbtest1 (id INT PRIMARY KEY, mine TEXT)",
            "INSERT INTO sbtest1 VALUES (7, 'keep me')",
        ],
    );
    let o = prepare(d.path(), &url, &["--table-size", "100", "--force"]);
    assert_eq!(o.status.code(), Some(8), "{}", stderr(&o));
    assert!(stderr(&o).contains("did not create"), "{}", stderr(&o));
    assert_eq!(
        sql(&url, &["SELECT mine FROM sbtest1"]),
        vec![vec!["keep me"]]
    );
}

#[test]
fn cleanup_drops_only_what_loadgate_created() {
    let d = scratch();
    let url = fresh_db("t_cleanup");
    ok(prepare(
        d.path(),
        &url,
        &["--tables", "2", "--table-size", "100"],
    ));
    // The user replaces sbtest2 with a table of their own, and has another one beside it.
    sql(
        &url,
        &[
            "DROP TABLE sbtest2",
            "CREATE TABLE sbtest2 (id INT PRIMARY KEY)",
            "CREATE TABLE orders (id INT)",
        ],
    );
    let mut c = lg(d.path());
    c.args([
        "cleanup",
        "oltp_read_write",
        "--tables",
        "2",
        "--target",
        &url,
    ]);
    let out = ok(run(c));
    assert!(
        out.contains("Dropped 1 table(s)") && out.contains("sbtest1"),
        "{out}"
    );
    assert!(
        out.contains("Left alone") && out.contains("sbtest2"),
        "{out}"
    );
    let tables = sql(&url, &["SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='t_cleanup' ORDER BY 1"]);
    assert_eq!(tables, vec![vec!["orders"], vec!["sbtest2"]]);
}

fn run_json(d: &std::path::Path, args: &[&str]) -> serde_json::Value {
    let mut c = lg(d);
    c.arg("run").args(args).args(["--json", "-q"]);
    let o = run(c);
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        stderr(&o)
    );
    json(&o)
}

#[test]
fn read_write_runs_20_statements_per_transaction_split_14_4_2() {
    let d = scratch();
    let url = fresh_db("t_rw");
    ok(prepare(d.path(), &url, &["--table-size", "2000"]));
    let r = run_json(
        d.path(),
        &[
            "oltp_read_write",
            "--target",
            &url,
            "--table-size",
            "2000",
            "--duration",
            "3s",
            "--warmup",
            "0",
            "--threads",
            "4",
        ],
    );
    assert_eq!(r["status"], "complete");
    let tps = r["tps"].as_f64().unwrap();
    let qps = r["qps"]["total"].as_f64().unwrap();
    assert!(tps > 0.0);
    let ratio = qps / tps;
    assert!((19.5..=20.5).contains(&ratio), "qps/tps = {ratio}");
    let q = &r["queries"];
    let (rd, wr, ot) = (
        q["read"].as_f64().unwrap(),
        q["write"].as_f64().unwrap(),
        q["other"].as_f64().unwrap(),
    );
    let total = rd + wr + ot;
    assert!(
        (rd / total * 20.0 - 14.0).abs() < 0.5,
        "read share {rd}/{total}"
    );
    assert!(
        (wr / total * 20.0 - 4.0).abs() < 0.5,
        "write share {wr}/{total}"
    );
    assert!(
        (ot / total * 20.0 - 2.0).abs() < 0.5,
        "other share {ot}/{total}"
    );
    // Deadlocks can happen with 4 writers on a small table; they are retried, never lost.
    assert_eq!(r["failed_transactions"], 0, "{}", r["errors"]);
    for e in r["errors"].as_array().unwrap() {
        assert_eq!(e["count"], e["retried"], "{e}");
        assert_eq!(e["kind"], "deadlock", "{e}");
    }
    // Stored, and shown the same way from the store.
    let mut c = lg(d.path());
    c.args(["show", "last", "--json"]);
    let shown = json(&run(c));
    assert_eq!(shown["tps"], r["tps"]);
    assert_eq!(shown["latency_ms"], r["latency_ms"]);
}

#[test]
fn open_loop_reaches_its_rate_and_accounts_for_every_transaction() {
    let d = scratch();
    let url = fresh_db("t_open");
    ok(prepare(d.path(), &url, &["--table-size", "1000"]));
    let r = run_json(
        d.path(),
        &[
            "oltp_point_select",
            "--target",
            &url,
            "--table-size",
            "1000",
            "--rate",
            "400",
            "--threads",
            "4",
            "--duration",
            "4s",
            "--warmup",
            "0",
        ],
    );
    let s = &r["schedule"];
    let achieved = s["achieved_rate"].as_f64().unwrap();
    assert!(
        (achieved - 400.0).abs() / 400.0 < 0.02,
        "achieved {achieved} tx/s for a target of 400"
    );
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(
        n("scheduled"),
        n("completed") + n("failed") + n("in_flight") + n("not_started"),
        "{s}"
    );
    assert_eq!(r["mode"], "open");
    // Corrected latency can only be longer than service latency.
    assert!(
        r["latency_ms"]["corrected"]["p99"].as_f64() >= r["latency_ms"]["service"]["p99"].as_f64()
    );
}

#[test]
fn json_report_matches_the_committed_schema() {
    let d = scratch();
    let url = fresh_db("t_schema");
    ok(prepare(d.path(), &url, &["--table-size", "500"]));
    for args in [
        vec!["oltp_read_write", "--duration", "1s", "--warmup", "0"],
        vec![
            "oltp_point_select",
            "--rate",
            "200",
            "--duration",
            "1s",
            "--warmup",
            "1s",
        ],
    ] {
        let mut a = args.clone();
        a.extend(["--target", url.as_str()]);
        a.extend(["--table-size", "500"]);
        let r = run_json(d.path(), &a);
        let errors = schema_errors("run-v1.json", &r);
        assert!(errors.is_empty(), "schema violations: {errors:#?}");
    }
    // Something that breaks the schema is caught (the test can fail).
    let mut bad = run_json(
        d.path(),
        &[
            "oltp_point_select",
            "--target",
            &url,
            "--table-size",
            "500",
            "--duration",
            "1s",
            "--warmup",
            "0",
        ],
    );
    bad["status"] = serde_json::json!("great");
    assert!(!schema_validator("run-v1.json").is_valid(&bad));
}

#[test]
fn output_file_and_runs_listing() {
    let d = scratch();
    let url = fresh_db("t_output");
    ok(prepare(d.path(), &url, &["--table-size", "300"]));
    let f = d.path().join("r.json");
    let mut c = run_on(d.path(), "oltp_point_select", &url, 300);
    c.args(["--duration", "1s", "-q", "--json", "--output"])
        .arg(&f);
    ok(run(c));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&f).unwrap()).unwrap();
    assert_eq!(r["workload"], "oltp_point_select");
    let mut c = lg(d.path());
    c.args(["runs", "--json"]);
    let list = json(&run(c));
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], r["id"]);
    let mut c = lg(d.path());
    c.args(["show", "999"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("no run 999"), "{}", stderr(&o));
}

#[test]
fn ctrl_c_stores_a_partial_run_and_exits_130() {
    let d = scratch();
    let url = fresh_db("t_sigint");
    ok(prepare(d.path(), &url, &["--table-size", "500"]));
    let mut c = lg(d.path());
    c.args([
        "run",
        "oltp_read_write",
        "--target",
        &url,
        "--table-size",
        "500",
        "--duration",
        "60s",
        "--warmup",
        "0",
        "--threads",
        "2",
        "-q",
    ]);
    let mut child = spawn(c);
    std::thread::sleep(Duration::from_millis(2500));
    let start = Instant::now();
    // SAFETY: sending SIGINT to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = wait_with_timeout(&mut child, Duration::from_secs(15));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?} to stop",
        start.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    let mut c = lg(d.path());
    c.args(["show", "last", "--json"]);
    let r = json(&run(c));
    assert_eq!(r["status"], "partial");
    assert_eq!(r["status_reason"], "interrupted by Ctrl-C");
    assert!(r["transactions"].as_u64().unwrap() > 0);
    let secs = r["duration_s"].as_f64().unwrap();
    assert!(secs > 1.5 && secs < 5.0, "measured {secs} s");
}

#[test]
fn unreachable_target_fails_fast_naming_host_and_port() {
    let d = scratch();
    // A closed port: refused at once.
    let mut c = lg(d.path());
    c.args([
        "run",
        "oltp_point_select",
        "--target",
        "mysql://root@127.0.0.1:1/x",
        "-q",
    ]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert!(stderr(&o).contains("127.0.0.1:1"), "{}", stderr(&o));
    // A port that accepts but never answers: the connect timeout applies.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let url = format!("mysql://root@127.0.0.1:{port}/x");
    let mut c = lg(d.path());
    c.args([
        "run",
        "oltp_point_select",
        "--target",
        &url,
        "--connect-timeout",
        "1s",
        "-q",
    ]);
    let start = Instant::now();
    let o = run(c);
    assert!(
        start.elapsed() < Duration::from_secs(6),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(
        e.contains(&format!("127.0.0.1:{port}")) && e.contains("within 1 s"),
        "{e}"
    );
    drop(listener);
}

#[test]
fn bad_credentials_name_the_user_and_never_print_the_password() {
    let d = scratch();
    let base = server_url();
    let url = base.replacen("mysql://root@", "mysql://nobody_here:s3cretpw@", 1) + "x";
    let mut c = lg(d.path());
    c.args(["run", "oltp_point_select", "--target", &url, "-q"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let e = stderr(&o);
    assert!(e.contains("nobody_here") && e.contains("127.0.0.1"), "{e}");
    assert!(
        !e.contains("s3cretpw") && !stdout(&o).contains("s3cretpw"),
        "{e}"
    );
    // The failed attempt is stored, without the password.
    let store = std::fs::read(d.path().join("store.db")).unwrap_or_default();
    assert!(!String::from_utf8_lossy(&store).contains("s3cretpw"));
}

#[test]
fn a_malformed_workload_file_names_file_line_and_column() {
    let d = scratch();
    let f = d.path().join("broken.toml");
    std::fs::write(&f, "name = \"broken\"\n\n[[tables]\nname = \"t\"\n").unwrap();
    let mut c = lg(d.path());
    c.args(["run"])
        .arg(&f)
        .args(["--target", "mysql://root@127.0.0.1:1/x"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains(&format!("{}:3:", f.display())), "{e}");
    // A semantic mistake points at its line too.
    std::fs::write(
        &f,
        include_str!("../../workloads/oltp_point_select.toml")
            .replace("max = \"table_size\" }]", "max = \"table_sise\" }]"),
    )
    .unwrap();
    let mut c = lg(d.path());
    c.args(["prepare"]).arg(&f);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("table_sise") && stderr(&o).contains("broken.toml:"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn an_unknown_workload_lists_the_available_ones() {
    let d = scratch();
    let mut c = lg(d.path());
    c.args(["run", "oltp_nonesuch"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("unknown workload `oltp_nonesuch`")
            && e.contains("oltp_read_write")
            && e.contains("oltp_point_select"),
        "{e}"
    );
}

#[test]
fn bad_settings_name_the_setting() {
    let d = scratch();
    for (args, needle) in [
        (vec!["--rand-type", "bell"], "'bell' for '--rand-type"),
        (vec!["--set", "range_size=wide"], "range_size"),
        (vec!["--set", "nosuch=1"], "unknown setting"),
        (vec!["--duration", "soon"], "duration"),
        (vec!["--set", "novalue"], "KEY=VALUE"),
    ] {
        let mut c = lg(d.path());
        c.args([
            "run",
            "oltp_read_write",
            "--target",
            "mysql://root@127.0.0.1:1/x",
        ])
        .args(&args);
        let o = run(c);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}

/// `--duration 18446744073709551615s` panicked in the runner, `--tables 1000000000` grew memory
/// without end, and `tables = 1_000_000_000_000` in a file aborted: each is refused before any
/// work, naming the setting, its origin and the limit.
#[test]
fn numbers_out_of_range_are_refused_before_any_work() {
    let d = scratch();
    let big = d.path().join("big.toml");
    let text = std::fs::read_to_string(repo_path("workloads/oltp_point_select.toml")).unwrap();
    let text = text.replacen("tables = 1\n", "tables = 1_000_000_000_000\n", 1);
    assert!(
        text.contains("1_000_000_000_000"),
        "the built-in names tables = 1"
    );
    std::fs::write(&big, text).unwrap();
    let big = big.display().to_string();
    for (args, needle) in [
        (
            vec!["oltp_point_select", "--duration", "18446744073709551615s"],
            "at most 30 d",
        ),
        (
            vec!["oltp_point_select", "--tables", "1000000000"],
            "at most 100000, got 1000000000 (from command-line flag)",
        ),
        (
            vec![big.as_str()],
            "at most 100000, got 1000000000000 (from workload [settings])",
        ),
    ] {
        let mut c = lg(d.path());
        c.arg("run")
            .args(&args)
            .args(["--target", "mysql://root@127.0.0.1:1/x"]);
        let o = run(c);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{args:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
    }
}

#[test]
fn run_without_prepare_says_what_to_do() {
    let d = scratch();
    let url = fresh_db("t_unprepared");
    let mut c = lg(d.path());
    c.args(["run", "oltp_point_select", "--target", &url, "-q"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("loadgate prepare oltp_point_select"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn run_on_tables_of_another_size_names_the_size_they_have() {
    let d = scratch();
    let url = fresh_db("t_size");
    prepare_on(d.path(), "oltp_read_write", &url, 300, &[]);
    let comment = sql(&url, &["SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA='t_size' AND TABLE_NAME='sbtest1'"]);
    assert_eq!(
        comment[0][0],
        "loadgate:owned workload=oltp_read_write rows=300"
    );
    let mut c = lg(d.path());
    c.args(["run", "oltp_point_select", "--target", &url, "-q"])
        .args(["--table-size", "500", "--duration", "1s"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("`t_size`.`sbtest1`"), "{err}");
    assert!(err.contains("prepared with 300 rows"), "{err}");
    assert!(err.contains("expects 500"), "{err}");
    assert!(err.contains("--table-size 300"), "{err}");
    let run_at = |size: &str| {
        let args = [
            "run",
            "oltp_point_select",
            "--target",
            &url,
            "--table-size",
            size,
        ];
        let r = lg_json(
            d.path(),
            &[
                &args[..],
                &["--duration", "1s", "--warmup", "0s", "--json", "-q"],
            ]
            .concat(),
        );
        assert_eq!(r["status"], "complete", "{r}");
    };
    // The size it was prepared with runs.
    run_at("300");
    // With no size on the command line, the prepared one is taken, and the record says so.
    let mut c = lg(d.path());
    c.args(["run", "oltp_point_select", "--target", &url, "--json"])
        .args(["--duration", "1s", "--warmup", "0s", "--no-monitor"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["settings"]["table_size"], 300, "{r}");
    assert_eq!(r["settings"]["origins"]["table_size"], "prepared", "{r}");
    assert!(
        stderr(&o).contains("table size 300, as prepared"),
        "{}",
        stderr(&o)
    );
    // Tables from before the row count was recorded are taken as they are.
    sql(
        &url,
        &["ALTER TABLE sbtest1 COMMENT = 'loadgate:owned workload=oltp_read_write'"],
    );
    run_at("500");
}

#[test]
fn a_workload_that_sizes_its_tables_itself_keeps_its_table_size() {
    // Rows fixed in the file: the tables match the plan whatever `table_size` says, so a run
    // without --table-size must not take the recorded count as its table size.
    let d = scratch();
    let url = fresh_db("t_fixed_rows");
    let file = d.path().join("fixed.toml");
    std::fs::write(
        &file,
        include_str!("../../workloads/oltp_point_select.toml")
            .replace("name = \"oltp_point_select\"", "name = \"fixed\"")
            .replace("rows = \"table_size\"", "rows = 300"),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    prepare_on(d.path(), file, &url, 300, &[]);
    let r = ok_json({
        let mut c = lg(d.path());
        c.args(["run", file, "--target", &url, "--duration", "1s"])
            .args(["--warmup", "0s", "--json", "-q", "--no-monitor"]);
        c
    });
    assert_eq!(r["status"], "complete", "{r}");
    assert_eq!(r["settings"]["table_size"], 10000, "{r}");
    assert_eq!(r["settings"]["origins"]["table_size"], "workload", "{r}");
}

#[test]
fn workloads_lists_builtins_and_files() {
    let d = scratch();
    std::fs::create_dir(d.path().join("workloads")).unwrap();
    std::fs::write(
        d.path().join("workloads/mine.toml"),
        include_str!("../../workloads/oltp_point_select.toml")
            .replace("name = \"oltp_point_select\"", "name = \"mine\""),
    )
    .unwrap();
    let mut c = lg(d.path());
    c.args(["workloads"]);
    let out = ok(run(c));
    for w in [
        "oltp_read_write",
        "oltp_read_only",
        "oltp_write_only",
        "oltp_point_select",
        "mine",
    ] {
        assert!(out.contains(w), "{w} missing from:\n{out}");
    }
}

#[test]
fn help_and_version() {
    let d = scratch();
    for args in [
        vec!["--help"],
        vec!["--version"],
        vec!["run", "--help"],
        vec!["server", "start", "--help"],
    ] {
        let mut c = lg(d.path());
        c.args(&args);
        let out = ok(run(c));
        assert!(out.contains("loadgate") || out.contains("Usage"), "{out}");
    }
}

#[test]
fn server_start_status_stop_round_trip_used_without_target() {
    let d = scratch();
    let mut c = lg(d.path());
    c.args(["server", "start", "--json"]);
    let st = json(&run(c));
    let url = st["url"].as_str().unwrap().to_string();
    assert!(url.starts_with("mysql://root@127.0.0.1:"), "{url}");
    let mut c = lg(d.path());
    c.args(["server", "status"]);
    assert!(ok(run(c)).contains(&url));
    // prepare and run pick the detached server up without --target.
    let mut c = lg(d.path());
    c.args(["prepare", "oltp_point_select", "--table-size", "200", "-q"]);
    ok(run(c));
    let r = run_json(
        d.path(),
        &[
            "oltp_point_select",
            "--table-size",
            "200",
            "--duration",
            "1s",
            "--warmup",
            "0",
        ],
    );
    assert!(
        r["target"]
            .as_str()
            .unwrap()
            .starts_with(url.trim_end_matches('/')),
        "{}",
        r["target"]
    );
    let mut c = lg(d.path());
    c.args(["server", "stop"]);
    assert!(ok(run(c)).contains("Stopped"));
    let mut c = lg(d.path());
    c.args(["server", "status"]);
    assert!(ok(run(c)).contains("No local server"));
}

#[test]
fn run_without_target_uses_a_throwaway_server_and_removes_it() {
    let d = scratch();
    let mut c = lg(d.path());
    c.args([
        "run",
        "oltp_point_select",
        "--table-size",
        "500",
        "--duration",
        "1s",
        "--warmup",
        "0",
        "--json",
    ]);
    let o = run(c);
    let r = json(&o);
    assert_eq!(r["status"], "complete", "{}", stderr(&o));
    assert!(stderr(&o).contains("throwaway"), "{}", stderr(&o));
    // The server is gone: its port no longer accepts connections.
    let target = r["target"].as_str().unwrap();
    let port: u16 = target
        .rsplit(':')
        .next()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "server on {port} still up"
    );
}

/// Regression: `loadgate workloads | head -1` panicked (exit 101) when the reader closed the
/// pipe first. A closed stdout ends loadgate quietly with 141, as SIGPIPE ends other tools.
#[test]
fn a_closed_stdout_ends_quietly() {
    let d = scratch();
    let mut fds = [0; 2];
    // SAFETY: a fresh pipe; the read end is closed at once, the write end handed to the child.
    let write_end = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
        <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fds[1])
    };
    let mut c = lg(d.path());
    c.arg("workloads").stdout(write_end);
    let o = c.output().unwrap();
    assert_eq!(o.status.code(), Some(141), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}
