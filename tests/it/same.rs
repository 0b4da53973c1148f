//! A/B in the same seconds end to end against a real server: an A/A job does not flag, a B
//! with many more point selects per transaction is flagged, each side's transactions run
//! exactly their own statements (counted by the server: each side bumps its own counter row),
//! the report names the design in every format, and sides that cannot share a trial are
//! refused with exit 2 before anything runs.
//!
//! The statistical tests take the machine to themselves (`alone`), as in `gate`.

use crate::common::*;
use std::path::Path;
use std::process::Output;

/// `gate WORKLOAD --target URL --design same-seconds --format json -q` with `extra`.
fn same_gate(dir: &Path, workload: &str, url: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let mut args = vec![
        "gate",
        workload,
        "--target",
        url,
        "--ab",
        "--design",
        "same-seconds",
        "--format",
        "json",
        "-q",
    ];
    args.extend(extra);
    let o = lg_run(dir, &args);
    let v = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{e}: exit {}: {}", code(&o), stderr(&o)));
    (o, v)
}

/// Both sides name the same trials, stored as one run set.
fn assert_one_set_of_shared_trials(dir: &Path, r: &serde_json::Value) -> Vec<i64> {
    let g = &r["groups"][0];
    assert_eq!(g["a"]["run_ids"], g["b"]["run_ids"], "{r:#}");
    assert_eq!(g["a"]["set_id"], g["b"]["set_id"], "{r:#}");
    let ids: Vec<i64> = g["a"]["run_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(ids.len() as u64, g["pairs"].as_u64().unwrap());
    let set = g["a"]["set_id"].as_str().unwrap();
    let listed = json(&lg_run(dir, &["runs", "--run-set", set, "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), ids.len());
    ids
}

#[test]
fn same_seconds_aa_is_not_a_regression() {
    alone();
    let d = scratch();
    let url = fresh_db("same_aa");
    let mut extra = vec!["--max-pairs", "4"];
    extra.extend(SHORT);
    let (o, r) = same_gate(d.path(), "oltp_read_write", &url, &extra);
    validate_against_schema("gate-v1.json", &r);
    assert!([0, 3].contains(&code(&o)), "exit {}: {r:#}", code(&o));
    assert_eq!(r["design"], "same-seconds");
    assert!(r["method"]
        .as_str()
        .unwrap()
        .contains("within-trial log ratios"));
    assert_one_set_of_shared_trials(d.path(), &r);
}

#[test]
fn many_more_point_selects_in_b_are_flagged_and_every_format_names_the_design() {
    alone();
    let d = scratch();
    let url = fresh_db("same_worse");
    let xml = d.path().join("gate.xml");
    let md = d.path().join("gate.md");
    let txt = d.path().join("gate.txt");
    let reports = [
        format!("junit={}", xml.display()),
        format!("markdown={}", md.display()),
        format!("text={}", txt.display()),
    ];
    let mut extra = vec!["--set-b", "point_selects=40"];
    for r in &reports {
        extra.extend(["--report", r.as_str()]);
    }
    extra.extend(SHORT);
    let (o, r) = same_gate(d.path(), "oltp_read_write", &url, &extra);
    assert_eq!(code(&o), 1, "{}\n{r:#}", stderr(&o));
    validate_against_schema("gate-v1.json", &r);
    assert_eq!(r["design"], "same-seconds");
    let g = &r["groups"][0];
    let tps = &g["metrics"][0];
    assert!(tps["relative_change"].as_f64().unwrap() < -0.2, "{r:#}");
    assert!(g["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["verdict"] == "regressed"));
    assert!(g["b"]["differs_by"][0]
        .as_str()
        .unwrap()
        .contains("point_selects: 10 → 40"));
    assert_one_set_of_shared_trials(d.path(), &r);
    let xml = std::fs::read_to_string(&xml).unwrap();
    assert!(
        xml.contains(r#"<property name="design" value="same-seconds"/>"#),
        "{xml}"
    );
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("Design: same seconds"), "{md}");
    let txt = std::fs::read_to_string(&txt).unwrap();
    assert!(txt.contains("design:  same seconds"), "{txt}");
}

/// A workload whose transaction adds 1 to row `row`'s `k` `bumps` times, then reads a row:
/// what each side did is counted by the server in its own row.
const MIX: &str = r#"
name = "same_mix"
description = "bumps a counter row per transaction"

[settings]
threads = 2
duration = "1s"
warmup = "0s"
tables = 1
table_size = 10
row = 1
bumps = 1

[[tables]]
name = "same_mix{i}"
count = "tables"
rows = "table_size"
create = "CREATE TABLE {table} (id INTEGER NOT NULL AUTO_INCREMENT, k INTEGER NOT NULL DEFAULT '0', PRIMARY KEY (id))"
columns = [{ name = "k", int = "uniform", min = 0, max = 0 }]

[[transactions]]
name = "bump"
begin = true

[[transactions.steps]]
repeat = "bumps"
name = "bump"
sql = "UPDATE {table} SET k=k+1 WHERE id=?"
params = ["row"]

[[transactions.steps]]
name = "look"
sql = "SELECT k FROM {table} WHERE id=?"
params = [{ int = "uniform", min = 1, max = "table_size" }]
"#;

#[test]
fn each_side_runs_exactly_its_own_statements() {
    let d = scratch();
    let url = fresh_db("same_mix");
    let wl = d.path().join("same_mix.toml");
    std::fs::write(&wl, MIX).unwrap();
    let wl = wl.to_str().unwrap();
    // B bumps row 2 three times per transaction; A bumps row 1 once.
    let (o, r) = same_gate(
        d.path(),
        wl,
        &url,
        &["--set-b", "row=2", "--set-b", "bumps=3", "--max-pairs", "3"],
    );
    assert!([0, 1, 3].contains(&code(&o)), "{}\n{r:#}", stderr(&o));
    let ids = assert_one_set_of_shared_trials(d.path(), &r);
    let (mut a, mut b) = (0u64, 0u64);
    for id in &ids {
        let run = json(&lg_run(d.path(), &["show", &id.to_string(), "--json"]));
        assert_eq!(run["failed_transactions"], 0, "{run:#}");
        for t in run["transactions_by_type"].as_array().unwrap() {
            assert_eq!(t["errors"], 0, "{t:#}");
            let n = t["count"].as_u64().unwrap();
            match t["name"].as_str().unwrap() {
                "A:bump" => a += n,
                "B:bump" => b += n,
                other => panic!("unexpected transaction type {other}"),
            }
        }
    }
    let rows = sql(
        &url,
        &["SELECT id, k FROM same_mix1 WHERE id IN (1, 2) ORDER BY id"],
    );
    let k = |i: usize| rows[i][1].parse::<u64>().unwrap();
    assert_eq!(k(0), a, "row 1 counts A's transactions");
    assert_eq!(k(1), 3 * b, "row 2 counts B's transactions × 3 bumps");
    // Each transaction went to A or B with probability one half: within 5 sd of half.
    let n = (a + b) as f64;
    assert!(n > 20.0, "{a} + {b} transactions");
    assert!(
        ((a as f64) - n / 2.0).abs() < 5.0 * (n / 4.0).sqrt(),
        "A {a}, B {b}"
    );
}

#[test]
fn sides_that_cannot_share_a_trial_are_refused_before_anything_runs() {
    let d = scratch();
    let url = url_db("same_refused");
    let (a, b) = (d.path().join("a.toml"), d.path().join("b.toml"));
    std::fs::write(&a, MIX).unwrap();
    std::fs::write(&b, MIX.replace("k INTEGER", "k BIGINT")).unwrap();
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
    for (workload, extra, says) in [
        (
            "oltp_read_write",
            &["--threads-b", "4"][..],
            "threads: 2 → 4",
        ),
        (
            "oltp_read_write",
            &["--set-b", "table_size=500"][..],
            "table_size: 10000 → 500",
        ),
        (
            "oltp_read_write",
            &["--set-b", "rand_spec_pct=5"][..],
            "rand_spec_pct: 1 → 5",
        ),
        (
            "oltp_read_write",
            &["--target-b", "mysql://root@127.0.0.1:1/x"][..],
            "different targets",
        ),
        (a, &["--workload-b", b][..], "their definitions differ"),
    ] {
        let mut args = vec![
            "ab",
            workload,
            "--target",
            &url,
            "--design",
            "same-seconds",
            "--threads",
            "2",
        ];
        args.extend(extra);
        let o = lg_run(d.path(), &args);
        assert_eq!(code(&o), 2, "{extra:?}: {}", stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains("--design same-seconds") && e.contains(says),
            "{e}"
        );
        assert!(e.contains("--design abba"), "{e}");
    }
    let o = lg_run(
        d.path(),
        &["gate", "--baseline", "main", "--design", "same-seconds"],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--design"), "{}", stderr(&o));
    // Nothing ran: no run is stored.
    let runs = json(&lg_run(d.path(), &["runs", "--json"]));
    assert_eq!(runs.as_array().map_or(0, |a| a.len()), 0, "{runs:#}");
}

/// The same-seconds design takes the A/B job's time budget and MDE like ABBA does, counting
/// trials: a budget shorter than two trials ends the job after the first, and says so.
#[test]
fn same_seconds_keeps_the_time_budget() {
    alone();
    let d = scratch();
    let url = fresh_db("same_budget");
    let mut extra = vec!["--max-time", "1s", "--mde", "5%"];
    extra.extend(SHORT);
    let (o, r) = same_gate(d.path(), "oltp_point_select", &url, &extra);
    validate_against_schema("gate-v1.json", &r);
    assert_eq!(code(&o), 3, "inconclusive: {r:#}");
    let g = &r["groups"][0];
    assert_eq!(g["stop_reason"], "max_time", "{r:#}");
    assert_eq!(g["pairs"], 1, "{r:#}");
    let stopped = g["stopped"].as_str().unwrap();
    assert!(
        stopped.contains("after 1 trials") && stopped.contains("time budget"),
        "{stopped}"
    );
    assert_eq!(r["requested_mde"].as_f64(), Some(0.05));
}
