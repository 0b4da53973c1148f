//! Work per transaction end to end against a real server: a run records the server's work
//! counters over its measured window without the monitor's own statements, stores and shows
//! them; a lost index, and a statement that now spills to disk, are flagged by the work
//! metrics within three A/B pairs; an A/A gate with
//! the work metrics does not flag, also judged on work alone (`--metrics work`).
//!
//! The counters are server-wide, so these tests run on a server of their own, one at a time,
//! and alone on the machine (their verdicts are statistics over short trials).

use crate::common::*;
use std::path::Path;

/// Extra arguments make the server this module's own even under `LOADGATE_TEST_TARGET`.
fn own_args() -> Vec<String> {
    vec!["--performance-schema=OFF".into()]
}

static WORK: PrivateServer = PrivateServer::new("a server for the work tests", own_args);

/// performance_schema on, as `--server-arg=--performance-schema=ON` starts a throwaway server:
/// the per-statement breakdown of a change of work needs it.
fn ps_args() -> Vec<String> {
    loadgate::monitor::throwaway_server_args(&["--performance-schema=ON".into()])
}

static WORK_PS: PrivateServer = PrivateServer::new("a performance_schema server for work", ps_args);

/// Short trials: 2 workers, 1 s measured after 0.3 s of warm-up.
const SHORT: &[&str] = &["--threads", "2", "--duration", "1s", "--warmup", "0.3s"];

/// A workload whose one statement is a range on the secondary index `k`.
const K_RANGE: &str = r#"
name = "k_range"
description = "one range select on the secondary index k per transaction"

[settings]
tables = 1
table_size = 2000
range_size = 20

[[tables]]
name = "sbtest{i}"
count = "tables"
rows = "table_size"
create = """
CREATE TABLE {table} (
  id INTEGER NOT NULL AUTO_INCREMENT,
  k INTEGER NOT NULL DEFAULT '0',
  c CHAR(120) NOT NULL DEFAULT '',
  PRIMARY KEY (id)
)"""
after_load = ["CREATE INDEX k_{i} ON {table}(k)"]
columns = [
  { name = "k", int = "uniform", min = 1, max = "table_size" },
  { name = "c", str = "@@@@@@@@@@@-@@@@@@@@@@@" },
]

[[transactions]]
name = "k_range"
[[transactions.steps]]
let = { k = { int = "uniform", min = 1, max = "table_size" } }
name = "k_range"
sql = "SELECT c FROM {table} WHERE k BETWEEN ? AND ?"
params = ["k", "k + range_size - 1"]
"#;

/// `run WORKLOAD --json` with the short settings and `extra`; the report.
fn run_json(dir: &Path, workload: &str, url: &str, extra: &[&str]) -> serde_json::Value {
    let mut c = lg(dir);
    c.args([
        "run",
        workload,
        "--target",
        url,
        "--table-size",
        "1000",
        "--json",
        "-q",
    ])
    .args(SHORT)
    .args(extra);
    let r = ok_json(c);
    validate_against_schema("run-v1.json", &r);
    r
}

fn per_txn(r: &serde_json::Value, name: &str) -> f64 {
    r["work"]["per_transaction"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("no work.per_transaction.{name}: {:#}", r["work"]))
}

/// Runs `c`, a comparison told to write its JSON report to `out`: its exit code and the
/// report, checked against the schema.
fn report_of(c: std::process::Command, out: &Path) -> (i32, serde_json::Value) {
    let o = run(c);
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    validate_against_schema("gate-v1.json", &r);
    (code(&o), r)
}

/// The row of metric `name` in a report's first group.
fn metric_row(r: &serde_json::Value, name: &str) -> serde_json::Value {
    r["groups"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["metric"] == name)
        .unwrap_or_else(|| panic!("no {name}: {r:#}"))
        .clone()
}

/// `K_RANGE` written into `dir`; its path.
fn k_range_file(dir: &Path) -> String {
    let file = dir.join("k_range.toml");
    std::fs::write(&file, K_RANGE).unwrap();
    file.to_str().unwrap().to_string()
}

#[test]
fn a_run_counts_its_work_without_the_monitors_own_statements() {
    alone();
    let (root, _turn) = WORK.turn();
    let d = scratch();
    let url = fresh_db_on(&root, "work_point");
    prepare_on(d.path(), "oltp_point_select", &url, 1000, &[]);

    // One primary-key lookup per transaction: one handler read. The monitor sampling every
    // 10 ms scans hundreds of status rows per sample, several times the workload's reads:
    // left in, they would show as several reads per transaction.
    let r = run_json(
        d.path(),
        "oltp_point_select",
        &url,
        &["--monitor-interval", "10ms"],
    );
    let w = &r["work"];
    assert_eq!(w["transactions"], r["transactions"], "{w:#}");
    assert!(w["monitor_samples"].as_u64().unwrap() >= 20, "{w:#}");
    // Left in, the monitor's reads would put the count outside the bounds below.
    let own = w["monitor_own"]["handler_reads"].as_f64().unwrap();
    let txns = w["transactions"].as_f64().unwrap();
    assert!(own / txns > 0.2, "the monitor's own reads: {w:#}");
    let reads = per_txn(&r, "handler_reads");
    assert!(
        (0.95..1.3).contains(&reads),
        "handler reads per txn {reads}: {w:#}"
    );
    assert!(per_txn(&r, "client_cpu_us") > 0.0, "{w:#}");
    assert!(w["server_cpu_s"].is_null(), "not loadgate's server: {w:#}");

    // Without the monitor the work is still measured, on a connection of its own.
    let quiet = run_json(d.path(), "oltp_point_select", &url, &["--no-monitor"]);
    assert!(quiet["monitor"].is_null());
    let reads = per_txn(&quiet, "handler_reads");
    assert!(
        (0.95..1.3).contains(&reads),
        "handler reads per txn {reads}: {quiet:#}"
    );

    // Stored with the run: `show` gives it back, as JSON and as text.
    let id = r["id"].as_i64().unwrap().to_string();
    let shown = lg_json(d.path(), &["show", &id, "--json"]);
    assert_eq!(shown["work"], r["work"]);
    let text = ok(lg_run(d.path(), &["show", &id]));
    assert!(text.contains("Work per transaction"), "{text}");
    assert!(text.contains("rows examined (Handler_read_*)"), "{text}");
}

#[test]
fn a_lost_index_is_flagged_by_the_work_metrics_within_three_pairs() {
    alone();
    let (root, _turn) = WORK_PS.turn();
    let d = scratch();
    let file = &k_range_file(d.path());
    let a = fresh_db_on(&root, "work_idx_a");
    let b = fresh_db_on(&root, "work_idx_b");
    prepare_on(d.path(), file, &a, 2000, &[]);
    prepare_on(d.path(), file, &b, 2000, &[]);
    sql(&b, &["DROP INDEX k_1 ON sbtest1"]);

    let out = d.path().join("ab.json");
    let mut c = lg(d.path());
    c.args([
        "ab",
        file,
        "--target-a",
        &a,
        "--target-b",
        &b,
        "--max-pairs",
        "3",
    ])
    .args(["--table-size", "2000", "--json", "-q", "--output"])
    .arg(&out)
    .args(SHORT);
    let (exit, r) = report_of(c, &out);
    assert_eq!(exit, 1, "{r:#}");
    let g = &r["groups"][0];
    assert!(g["pairs"].as_u64().unwrap() <= 3, "{g:#}");
    let rows = metric_row(&r, "rows_per_txn");
    assert_eq!(rows["verdict"], "regressed", "{rows:#}");
    // A scan of 2000 rows instead of about 20 through the index.
    assert!(rows["relative_change"].as_f64().unwrap() > 10.0, "{rows:#}");
    // The report names the statement whose rows examined per execution changed.
    let notes = r["notes"].to_string();
    assert!(
        notes.contains("rows examined per execution by statement") && notes.contains("k_range "),
        "{notes}"
    );
}

/// The range query of `K_RANGE` without the secondary index, as a DISTINCT: with `c` as it is
/// the server keeps its temporary table in memory; cast to a long string (B) the temporary
/// table goes to disk, every execution.
fn distinct_workload(column: &str) -> String {
    let tables = &K_RANGE[..K_RANGE.find("[[transactions]]").unwrap()];
    format!(
        r#"{tables}
[[transactions]]
name = "distinct_range"
[[transactions.steps]]
let = {{ id = {{ int = "uniform", min = 1, max = "table_size" }} }}
name = "distinct_range"
sql = "SELECT DISTINCT {column} AS c FROM {{table}} WHERE id BETWEEN ? AND ? ORDER BY c"
params = ["id", "id + range_size - 1"]
"#
    )
}

/// A statement that now sorts on disk reads no more rows and pages: the disk-spill metric
/// flags it in three pairs.
#[test]
fn a_statement_that_now_spills_to_disk_is_flagged_within_three_pairs() {
    alone();
    let (root, _turn) = WORK.turn();
    let d = scratch();
    let (fa, fb) = (d.path().join("mem.toml"), d.path().join("disk.toml"));
    std::fs::write(&fa, distinct_workload("c")).unwrap();
    std::fs::write(&fb, distinct_workload("CAST(c AS CHAR(5000))")).unwrap();
    let url = fresh_db_on(&root, "work_spill");
    let (fa, fb) = (fa.to_str().unwrap(), fb.to_str().unwrap());
    prepare_on(d.path(), fa, &url, 2000, &[]);
    let out = d.path().join("ab.json");
    let mut c = lg(d.path());
    c.args(["ab", fa, "--workload-b", fb, "--target", &url])
        .args(["--max-pairs", "3", "--table-size", "2000", "--json", "-q"])
        .arg("--output")
        .arg(&out)
        .args(SHORT);
    let (exit, r) = report_of(c, &out);
    assert_eq!(exit, 1, "{r:#}");
    let spills = metric_row(&r, "spills_per_txn");
    assert_eq!(spills["verdict"], "regressed", "{spills:#}");
    // One temporary table on disk per transaction in B, none in A.
    assert!(spills["a"].as_f64().unwrap() < 0.01, "{spills:#}");
    assert!(
        (0.9..1.1).contains(&spills["b"].as_f64().unwrap()),
        "{spills:#}"
    );
    assert!(
        spills["note"].as_str().unwrap().contains("exact test"),
        "{spills:#}"
    );
    // The rows examined did not move: only the spill metric tells.
    assert_ne!(
        metric_row(&r, "rows_per_txn")["verdict"],
        "regressed",
        "{r:#}"
    );
}

#[test]
fn an_aa_gate_with_work_metrics_does_not_flag() {
    alone();
    let (root, _turn) = WORK.turn();
    let d = scratch();
    let url = fresh_db_on(&root, "work_aa");
    prepare_on(d.path(), "oltp_read_write", &url, 1000, &[]);
    let gate = |judged: Option<&str>, name: &str| {
        let out = d.path().join(name);
        let mut c = lg(d.path());
        c.args([
            "gate",
            "oltp_read_write",
            "--target",
            &url,
            "--ab",
            "--max-pairs",
            "4",
        ])
        .args(["--table-size", "1000", "--json", "-q", "--output"])
        .arg(&out)
        .args(SHORT);
        if let Some(m) = judged {
            c.args(["--metrics", m]);
        }
        report_of(c, &out)
    };
    let row = metric_row;
    // The default metrics: the work metrics are judged with time, and none of them flags;
    // CPU per transaction is shown, not judged.
    let (exit, r) = gate(None, "all.json");
    assert!([0, 3].contains(&exit), "exit {exit}: {r:#}");
    assert_eq!(
        row(&r, "client_cpu_per_txn")["label"],
        "not judged",
        "{r:#}"
    );
    for name in ["rows_per_txn", "pages_per_txn"] {
        let m = row(&r, name);
        assert_eq!(m["tested"], true, "{m:#}");
        assert_ne!(m["verdict"], "regressed", "{m:#}");
    }
    // Judged on work alone (--metrics work): time is shown, not judged; rows examined, whose
    // noise is a fraction of a percent, settle at the first look (page requests move by about
    // 1 % between short trials with the server's background work, so they may need more).
    let (exit, r) = gate(Some("work"), "work.json");
    assert!([0, 3].contains(&exit), "exit {exit}: {r:#}");
    assert_eq!(
        r["metrics_judged"],
        serde_json::json!(["rows_per_txn", "pages_per_txn", "spills_per_txn"])
    );
    assert_eq!(row(&r, "rows_per_txn")["verdict"], "unchanged", "{r:#}");
    assert_ne!(row(&r, "pages_per_txn")["verdict"], "regressed", "{r:#}");
    let tps = row(&r, "tps");
    assert_eq!(
        (&tps["tested"], &tps["label"]),
        (&serde_json::json!(false), &serde_json::json!("not judged"))
    );
}

/// `--metrics` names what it cannot use before any trial: an unknown metric, and work metrics
/// in the same-seconds design (which cannot tell A's work from B's).
#[test]
fn metrics_the_gate_cannot_judge_are_refused_up_front() {
    let d = scratch();
    let mut c = lg(d.path());
    c.args(["gate", "--ab", "--metrics", "tps,latency"]);
    let o = run(c);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("unknown metric 'latency'"),
        "{}",
        stderr(&o)
    );
    let mut c = lg(d.path());
    c.args([
        "ab",
        "--set-b",
        "point_selects=11",
        "--design",
        "same-seconds",
    ])
    .args(["--metrics", "work", "--target", "mysql://root@127.0.0.1:1/"]);
    let o = run(c);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains(
            "--metrics pages_per_txn: the same-seconds design judges time, errors and rows examined per side only"
        ),
        "{}",
        stderr(&o)
    );
}

/// Trials on a throwaway server count the server's CPU per transaction too, like a single run
/// does: the server's process reaches every trial of a set.
#[test]
fn trials_on_a_throwaway_server_count_its_cpu() {
    let d = scratch();
    let mut c = lg(d.path());
    c.args(["run", "oltp_point_select", "--trials", "2", "--json", "-q"])
        .args(SHORT);
    let o = run(c);
    assert!(o.status.success(), "{}", stderr(&o));
    let set = json(&o);
    let set_id = set["set_id"].as_str().expect("set_id").to_string();
    let runs = lg_json(d.path(), &["runs", "--run-set", &set_id, "--json"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:#?}");
    for r in runs {
        let id = r["id"].as_i64().unwrap().to_string();
        let shown = lg_json(d.path(), &["show", &id, "--json"]);
        let cpu = shown["work"]["server_cpu_s"].as_f64();
        assert!(cpu.is_some_and(|s| s > 0.0), "{:#}", shown["work"]);
        assert!(
            per_txn(&shown, "server_cpu_us") > 0.0,
            "{:#}",
            shown["work"]
        );
    }
}

/// CPU time per transaction is judged when asked for (`--metrics cpu`): on a throwaway server
/// both the client's and the server's, each with its interval, and never by default.
#[test]
fn cpu_per_transaction_is_judged_when_asked_for() {
    let d = scratch();
    let out = d.path().join("cpu.json");
    let mut c = lg(d.path());
    c.args(["gate", "oltp_point_select", "--ab", "--metrics", "cpu"])
        .args(["--max-pairs", "3", "--json", "-q", "--output"])
        .arg(&out)
        .args(SHORT);
    let (exit, r) = report_of(c, &out);
    // An A/A job: pass or inconclusive (CPU per transaction moves with the machine's load).
    assert!([0, 3].contains(&exit), "exit {exit}: {r:#}");
    assert_eq!(
        r["metrics_judged"],
        serde_json::json!(["client_cpu_per_txn", "server_cpu_per_txn"])
    );
    for name in ["client_cpu_per_txn", "server_cpu_per_txn"] {
        let m = metric_row(&r, name);
        assert_eq!(m["tested"], true, "{m:#}");
        assert!(
            m["a"].as_f64().unwrap() > 0.0 && m["b"].as_f64().unwrap() > 0.0,
            "{m:#}"
        );
        assert!(m["ci"]["low"].as_f64().is_some(), "{m:#}");
    }
}

/// With performance_schema on, a run also records the rows its prepared statements examined
/// as performance_schema counts them, over the same window; it agrees with the handler count.
#[test]
fn performance_schema_rows_examined_are_recorded_where_it_is_on() {
    alone();
    let (root, _turn) = WORK_PS.turn();
    let d = scratch();
    let file = &k_range_file(d.path());
    let url = fresh_db_on(&root, "work_ps_rows");
    prepare_on(d.path(), file, &url, 1000, &[]);
    let r = run_json(d.path(), file, &url, &[]);
    let w = &r["work"];
    let ps = w["ps_rows_examined"]
        .as_u64()
        .unwrap_or_else(|| panic!("{w:#}"));
    let handler = w["counters"]["handler_reads"].as_u64().unwrap();
    // A range of 20 rows on k: about 20 rows examined per transaction by either count (the
    // handler count also holds BEGIN/COMMIT and the index dive).
    let per = per_txn(&r, "ps_rows_examined");
    assert!((15.0..=30.0).contains(&per), "{per} per txn: {w:#}");
    assert!(
        (ps as f64) <= handler as f64 * 1.1 && (ps as f64) >= handler as f64 * 0.5,
        "performance_schema {ps} vs handler {handler}: {w:#}"
    );
    let text = ok(lg_run(
        d.path(),
        &["show", &r["id"].as_i64().unwrap().to_string()],
    ));
    assert!(text.contains("performance_schema's count"), "{text}");
}

/// In the same-seconds design the server can attribute rows examined to a side where
/// performance_schema is on (each side's prepared statements carry its comment): a B whose
/// ranges are twice as long is flagged on rows per transaction within three trials, and the
/// rows of an A/A trial agree.
#[test]
fn same_seconds_judges_rows_examined_per_side_with_performance_schema() {
    alone();
    let (root, _turn) = WORK_PS.turn();
    let d = scratch();
    let file = &k_range_file(d.path());
    let url = fresh_db_on(&root, "work_same_rows");
    prepare_on(d.path(), file, &url, 1000, &[]);
    let out = d.path().join("same.json");
    let mut c = lg(d.path());
    c.args(["ab", file, "--target", &url, "--design", "same-seconds"])
        .args([
            "--set-b",
            "range_size=40",
            "--max-pairs",
            "3",
            "--table-size",
            "1000",
        ])
        .args(["--metrics", "rows_per_txn", "--json", "-q", "--output"])
        .arg(&out)
        .args(SHORT);
    let (exit, r) = report_of(c, &out);
    assert_eq!(exit, 1, "{r:#}");
    let rows = metric_row(&r, "rows_per_txn");
    assert_eq!(rows["verdict"], "regressed", "{rows:#}");
    // 20 rows per range in A, 40 in B (the index dive adds about one each).
    let (a, b) = (rows["a"].as_f64().unwrap(), rows["b"].as_f64().unwrap());
    assert!(
        (15.0..30.0).contains(&a) && (1.7..2.3).contains(&(b / a)),
        "{rows:#}"
    );
}
