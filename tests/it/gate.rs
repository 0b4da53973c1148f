//! Regression tracking end to end against a real server: trials stored as a run set, the
//! baseline save/compare round trip, calibration, the gate in both modes (a baseline, and A/B
//! with an obviously worse B), the report formats (JSON against its committed schema, Markdown,
//! JUnit XML parsed), history with change points, and every bad input with its exit code.
//!
//! Trials are 1 s long. On a shared 2-core machine an A/A comparison may legitimately be
//! inconclusive (exit 3), so A/A tests assert "not a regression", never "pass".

use crate::common::*;
use std::path::Path;

// Each test takes the machine to itself (`alone`): the verdicts here are statistics over short
// trials, and another test's load during one arm tilts them (an A/A gate once called a deadlock
// rate that rose only under the other tests' load a regression).

fn prepare(dir: &Path, url: &str) {
    prepare_on(dir, "oltp_read_write", url, 1000, &[]);
}

/// `run oltp_read_write --trials n` with the short settings; returns the set id.
fn trials(dir: &Path, url: &str, n: u32, extra: &[&str]) -> String {
    let n = n.to_string();
    let mut args = vec![
        "run",
        "oltp_read_write",
        "--target",
        url,
        "--trials",
        &n,
        "--json",
        "-q",
    ];
    args.extend(SHORT);
    args.extend(extra);
    let o = lg_run(dir, &args);
    let v = json(&o);
    assert!(o.status.success(), "{}", stderr(&o));
    v["set_id"].as_str().expect("set_id").to_string()
}

fn runs_in_store(dir: &Path) -> usize {
    let o = lg_run(dir, &["runs", "--json", "--limit", "1000"]);
    json(&o).as_array().unwrap().len()
}

fn assert_schema(v: &serde_json::Value) {
    let errors = schema_errors("gate-v1.json", v);
    assert!(errors.is_empty(), "schema violations: {errors:#?}\n{v:#}");
}

/// A minimal XML check: tags balance, attributes are quoted; returns the element names in
/// document order (start and empty tags).
fn xml_elements(xml: &str) -> Vec<(String, String)> {
    let body = xml
        .trim_start()
        .strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
        .expect("XML declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find('<') {
        let text = &rest[..start];
        assert!(!text.contains('>'), "stray '>' in text: {text:?}");
        let end = rest[start..].find('>').expect("unclosed tag") + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "mismatched </{name}>");
            continue;
        }
        let empty = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag.split_whitespace().next().unwrap().to_string();
        out.push((name.clone(), tag.to_string()));
        if !empty {
            stack.push(name);
        }
    }
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    assert!(!rest.contains('<'));
    out
}

fn count(elements: &[(String, String)], name: &str) -> usize {
    elements.iter().filter(|(n, _)| n == name).count()
}

#[test]
fn trials_are_one_set_and_runs_filter_by_set() {
    alone();
    let d = scratch();
    let url = fresh_db("g_trials");
    prepare(d.path(), &url);
    let set = trials(d.path(), &url, 3, &[]);
    let listed = json(&lg_run(d.path(), &["runs", "--run-set", &set, "--json"]));
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|r| r["set_id"] == set.as_str()));
    assert!(listed.iter().all(|r| r["status"] == "complete"));
    // Independent trials: each has its own seed.
    let mut seeds = Vec::new();
    for r in listed {
        let id = r["id"].to_string();
        let show = json(&lg_run(d.path(), &["show", &id, "--json"]));
        seeds.push(show["settings"]["seed"].as_u64().unwrap());
    }
    seeds.dedup();
    assert_eq!(seeds.len(), 3, "{seeds:?}");
    let none = json(&lg_run(
        d.path(),
        &["runs", "--run-set", "nosuch", "--json"],
    ));
    assert!(none.as_array().unwrap().is_empty());
    // The text listing shows the set.
    let text = ok(lg_run(d.path(), &["runs"]));
    assert!(text.contains(&set), "{text}");
}

#[test]
fn baseline_round_trip_calibration_and_compare_formats() {
    alone();
    let d = scratch();
    let url = fresh_db("g_baseline");
    prepare(d.path(), &url);
    let base = trials(d.path(), &url, 3, &[]);
    let o = ok(lg_run(d.path(), &["baseline", "save", "main"]));
    assert!(o.contains(&base), "the last set is saved: {o}");
    let list = json(&lg_run(d.path(), &["baseline", "list", "--json"]));
    assert_eq!(list[0]["name"], "main");
    assert_eq!(list[0]["runs"].as_array().unwrap().len(), 3);
    let show = json(&lg_run(d.path(), &["baseline", "show", "main", "--json"]));
    assert_eq!(show["set_id"], base.as_str());
    assert_eq!(show["workload"], "oltp_read_write");
    assert_eq!(show["testbed"]["fingerprint"].as_str().unwrap().len(), 16);
    assert_eq!(show["workload_hash"].as_str().unwrap().len(), 16);
    assert_eq!(show["settings"]["threads"], 2);
    assert!(!show["target"].as_str().unwrap().is_empty());

    // Calibration on this testbed and workload widens the margins compare uses.
    let mut args = vec![
        "calibrate",
        "oltp_read_write",
        "--target",
        &url,
        "--trials",
        "5",
        "--json",
        "-q",
    ];
    args.extend(SHORT);
    let cal = json(&lg_run(d.path(), &args));
    let noise_tps = cal["calibration"]["noise_tps"].as_f64().unwrap();
    // Any positive noise: on a loaded shared machine successive 1 s runs can differ a lot.
    assert!(noise_tps > 0.0 && noise_tps.is_finite(), "{cal}");
    assert_eq!(cal["calibration"]["trials"], 5);
    // The work metrics' noise is measured too, and is small: the counters hardly move between
    // runs of the same workload, whatever the machine's load.
    let noise_rows = cal["calibration"]["noise_rows"]
        .as_f64()
        .unwrap_or_else(|| panic!("no rows noise: {cal}"));
    assert!((0.0..0.05).contains(&noise_rows), "{cal}");
    assert!(
        cal["calibration"]["noise_pages"].as_f64().is_some(),
        "{cal}"
    );

    let cand = trials(d.path(), &url, 3, &[]);
    let o = lg_run(
        d.path(),
        &["compare", "--baseline", "main", "--format", "json"],
    );
    let r = json(&o);
    assert_schema(&r);
    // Any verdict: two sets run one after the other share the machine's drift between them
    // (10 % between sets of 1 s trials was seen on CI), which the calibrated margin may not
    // cover. The A/A verdict is checked below with a margin no drift reaches.
    assert!([0, 1, 3].contains(&code(&o)), "{}", stderr(&o));
    assert_eq!(r["exit_code"].as_i64(), Some(code(&o) as i64));
    assert_eq!(r["kind"], "baseline");
    assert_eq!(r["calibration"]["noise_rows"].as_f64(), Some(noise_rows));
    let g = &r["groups"][0];
    assert_eq!(
        g["b"]["set_id"],
        cand.as_str(),
        "the last set is the candidate"
    );
    assert_eq!(g["a"]["baseline"], "main");
    let metrics: Vec<&str> = g["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["metric"].as_str().unwrap())
        .collect();
    assert_eq!(
        metrics,
        [
            "tps",
            "p99",
            "error_rate",
            "rows_per_txn",
            "pages_per_txn",
            "spills_per_txn",
            "client_cpu_per_txn",
            "server_cpu_per_txn"
        ]
    );
    for m in g["metrics"].as_array().unwrap() {
        assert!(m["margin"].as_f64().unwrap() >= 0.03);
        if m["tested"] == true {
            assert!(m["mde"].as_f64().unwrap() > 0.0);
            assert!(m["p_value"].as_f64().is_some());
            assert!(m["ci"]["low"].as_f64().unwrap() <= m["ci"]["high"].as_f64().unwrap());
        }
    }
    assert_eq!(
        r["calibration"]["noise_tps"].as_f64(),
        Some(noise_tps),
        "compare uses the calibration"
    );
    let tps_margin = g["metrics"][0]["margin"].as_f64().unwrap();
    let want = 0.03f64.max(noise_tps.exp_m1()).min(0.2);
    assert!((tps_margin - want).abs() < 1e-9, "{tps_margin} vs {want}");
    // --no-calibration: the margin as given.
    let r2 = json(&lg_run(
        d.path(),
        &[
            "compare",
            "--baseline",
            "main",
            "--format",
            "json",
            "--no-calibration",
            "--margin",
            "5%",
        ],
    ));
    assert!(r2["calibration"].is_null());
    assert_eq!(r2["groups"][0]["metrics"][0]["margin"].as_f64(), Some(0.05));

    // Markdown and JUnit of the same comparison, written to files.
    let md = d.path().join("gate.md");
    let xml = d.path().join("gate.xml");
    let o = lg_run(
        d.path(),
        &[
            "compare",
            "--baseline",
            "main",
            "--candidate",
            &cand,
            "--margin",
            "50%",
            "--format",
            "markdown",
            "--output",
            md.to_str().unwrap(),
            "--report",
            &format!("junit={}", xml.display()),
        ],
    );
    assert!(stdout(&o).is_empty());
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.starts_with("### "), "{md}");
    assert!(md.contains("| metric | A | B | change |"), "{md}");
    assert!(md.contains("| throughput (tps) |"), "{md}");
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count()
    );
    let xml = std::fs::read_to_string(&xml).unwrap();
    let el = xml_elements(&xml);
    assert_eq!(el[0].0, "testsuites");
    assert_eq!(count(&el, "testsuite"), 1);
    // One test case per metric: tps, p99, error rate, rows, pages, spills and client and
    // server CPU per transaction (CPU shown, not judged).
    assert_eq!(count(&el, "testcase"), 8);
    assert_eq!(
        count(&el, "failure"),
        0,
        "A/A at a 50 % margin: no failure\n{xml}"
    );

    // A set with other settings is refused, unless overridden; the report then says so.
    let other = trials(d.path(), &url, 2, &["--set", "range_size=50"]);
    let o = lg_run(
        d.path(),
        &["compare", "--baseline", "main", "--candidate", &other],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("range_size: 100 → 50"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("--allow-mismatch"), "{}", stderr(&o));
    let o = lg_run(
        d.path(),
        &[
            "compare",
            "--baseline",
            "main",
            "--candidate",
            &other,
            "--allow-mismatch",
            "--format",
            "json",
        ],
    );
    let r = json(&o);
    assert_schema(&r);
    assert_eq!(r["mismatch_allowed"], true);
    assert!(r["mismatches"][0].as_str().unwrap().contains("range_size"));
    assert!(r["notes"][0].as_str().unwrap().contains("MISMATCH"));

    // rm, then the baseline is unknown.
    ok(lg_run(d.path(), &["baseline", "rm", "main"]));
    let o = lg_run(d.path(), &["compare", "--baseline", "main"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no baseline `main`"), "{}", stderr(&o));
}

#[test]
fn gate_ab_flags_an_obviously_worse_candidate() {
    alone();
    let d = scratch();
    // Not prepared beforehand: the gate prepares what is missing.
    let url = fresh_db("g_worse");
    let xml = d.path().join("gate.xml");
    let md = d.path().join("gate.md");
    let mut args = vec![
        "gate",
        "oltp_read_write",
        "--target",
        &url,
        "--set-b",
        "point_selects=40",
        "--format",
        "json",
        "-q",
    ];
    let reports = [
        format!("junit={}", xml.display()),
        format!("markdown={}", md.display()),
    ];
    for r in &reports {
        args.extend(["--report", r.as_str()]);
    }
    args.extend(SHORT);
    let o = lg_run(d.path(), &args);
    let r = json(&o);
    assert_eq!(code(&o), 1, "{}\n{r:#}", stderr(&o));
    assert_schema(&r);
    assert_eq!(r["kind"], "ab");
    assert_eq!(r["design"], "abba", "the default design");
    assert_eq!(r["outcome"], "regression");
    let g = &r["groups"][0];
    let tps = &g["metrics"][0];
    assert_eq!(tps["metric"], "tps");
    assert!(tps["relative_change"].as_f64().unwrap() < -0.2, "{r:#}");
    // The job stops at the first metric that regressed; on a loaded machine (the other tests
    // share the server) the p99 can get there before tps, which is then left undecided.
    if tps["verdict"] != "regressed" {
        assert_eq!(tps["verdict"], "inconclusive", "{r:#}");
        let stopped = g["stopped"].as_str().unwrap_or_default();
        assert!(stopped.contains("regressed"), "{r:#}");
        assert!(
            g["metrics"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["verdict"] == "regressed"),
            "{r:#}"
        );
    }
    assert!(g["b"]["differs_by"][0]
        .as_str()
        .unwrap()
        .contains("point_selects: 10 → 40"));
    let pairs = g["pairs"].as_u64().unwrap() as usize;
    assert!((3..=16).contains(&pairs));
    // Interleaved: A and B each ran `pairs` trials, in their own sets.
    let a_runs = g["a"]["run_ids"].as_array().unwrap();
    let b_runs = g["b"]["run_ids"].as_array().unwrap();
    assert_eq!((a_runs.len(), b_runs.len()), (pairs, pairs));
    let ids: Vec<i64> = a_runs
        .iter()
        .zip(b_runs)
        .flat_map(|(a, b)| [a.as_i64().unwrap(), b.as_i64().unwrap()])
        .collect();
    // Pair 1 runs A then B, pair 2 B then A.
    assert!(ids[0] < ids[1] && (pairs < 2 || ids[3] < ids[2]), "{ids:?}");
    let set_b = g["b"]["set_id"].as_str().unwrap();
    let listed = json(&lg_run(d.path(), &["runs", "--run-set", set_b, "--json"]));
    assert_eq!(listed.as_array().unwrap().len(), pairs);

    let el = xml_elements(&std::fs::read_to_string(&xml).unwrap());
    // One test case per metric: tps, p99, error rate, rows, pages, spills and client and
    // server CPU per transaction (CPU shown, not judged).
    assert_eq!(count(&el, "testcase"), 8);
    let failures: Vec<&String> = el
        .iter()
        .filter(|(n, _)| n == "failure")
        .map(|(_, t)| t)
        .collect();
    assert!(!failures.is_empty());
    assert!(failures[0].contains(r#"type="regression""#));
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("❌"), "{md}");
    assert!(md.contains("**regressed**"), "{md}");
}

#[test]
fn gate_aa_is_not_a_regression() {
    alone();
    let d = scratch();
    let url = fresh_db("g_aa");
    prepare(d.path(), &url);
    let out = d.path().join("gate.json");
    let mut args = vec![
        "gate",
        "oltp_read_write",
        "--target",
        &url,
        "--ab",
        "--max-pairs",
        "4",
        "--format",
        "json",
        "--output",
        out.to_str().unwrap(),
        "-q",
    ];
    args.extend(SHORT);
    let o = lg_run(d.path(), &args);
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap())
        .unwrap_or_else(|e| panic!("{e}: {}", stderr(&o)));
    assert_schema(&r);
    assert!([0, 3].contains(&code(&o)), "exit {}: {r:#}", code(&o));
    assert_eq!(r["exit_code"].as_i64(), Some(code(&o) as i64));
    let g = &r["groups"][0];
    assert!(g["b"]["differs_by"].as_array().unwrap().is_empty());
    assert!(g["stopped"].as_str().unwrap().starts_with("stopped"));
    // The schema rejects a report whose exit code contradicts its outcome (the check can fail).
    let mut bad = r.clone();
    bad["outcome"] = serde_json::json!("regression");
    bad["exit_code"] = serde_json::json!(0);
    assert!(!schema_validator("gate-v1.json").is_valid(&bad));
}

#[test]
fn gate_reloads_tables_prepared_at_another_size() {
    alone();
    let d = scratch();
    let url = fresh_db("g_resize");
    prepare_on(d.path(), "oltp_read_write", &url, 400, &[]);
    let mut args = vec!["gate", "oltp_read_write", "--target", &url, "--ab"];
    args.extend(["--max-pairs", "3"]);
    args.extend(SHORT);
    let o = lg_run(d.path(), &args);
    assert!(
        [0, 1, 3].contains(&code(&o)),
        "exit {}: {}",
        code(&o),
        stderr(&o)
    );
    assert!(
        stderr(&o).contains("Preparing oltp_read_write"),
        "{}",
        stderr(&o)
    );
    let n = sql(&url, &["SELECT COUNT(*), MAX(id) FROM sbtest1"]);
    assert_eq!(
        n[0],
        vec!["1000", "1000"],
        "gate reloaded the table at --table-size 1000"
    );
}

#[test]
fn gate_against_a_baseline_writes_markdown() {
    alone();
    let d = scratch();
    let url = fresh_db("g_gate_base");
    prepare(d.path(), &url);
    let set = trials(d.path(), &url, 3, &[]);
    ok(lg_run(d.path(), &["baseline", "save", "main"]));
    let before = runs_in_store(d.path());
    // A mismatch is refused before any trial runs.
    let mut args = vec![
        "gate",
        "oltp_read_write",
        "--target",
        &url,
        "--baseline",
        "main",
    ];
    args.extend(SHORT);
    let mut mismatched = args.clone();
    mismatched.extend(["--set", "range_size=50"]);
    let o = lg_run(d.path(), &mismatched);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("range_size: 100 → 50"),
        "{}",
        stderr(&o)
    );
    assert_eq!(runs_in_store(d.path()), before, "no trial ran");

    let md = d.path().join("summary.md");
    args.extend([
        "--trials",
        "3",
        "--format",
        "markdown",
        "--output",
        md.to_str().unwrap(),
        "-q",
    ]);
    let o = lg_run(d.path(), &args);
    // Same binary and settings on both sides, but 3 one-second trials a side: the verdict is
    // usually pass or inconclusive, and a drifting error rate (deadlocks on 1000 rows) can
    // still be called a regression now and then. What is tested here is the baseline flow and
    // that the Markdown says the outcome the exit code gives.
    let outcome = match code(&o) {
        0 => "pass",
        1 => "regression",
        3 => "inconclusive",
        c => panic!("exit {c}: {}", stderr(&o)),
    };
    assert_eq!(runs_in_store(d.path()), before + 3);
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("loadgate gate (baseline)"), "{md}");
    assert!(md.contains("baseline main"), "{md}");
    assert!(
        md.contains(&format!("Outcome **{outcome}** (exit {})", code(&o))),
        "{md}"
    );

    // A baseline whose runs fell back to mysql_async (a server that wants TLS, say) asked for
    // the lean driver (its settings) and ran mysql_async (its facts): the check before the
    // trials lets the gate run, and the trials, which ran lean here, are then refused for
    // what they ran.
    ok(lg_run(
        d.path(),
        &["baseline", "save", "fell", "--run-set", &set],
    ));
    let db = rusqlite::Connection::open(d.path().join("store.db")).unwrap();
    db.execute(
        "UPDATE baselines SET facts_json = json_set(facts_json, '$.driver', 'mysql_async', \
         '$.driver_fallback', 'the server wants TLS') WHERE name = 'fell'",
        [],
    )
    .unwrap();
    drop(db);
    let before = runs_in_store(d.path());
    let mut fell = args[..6].to_vec();
    fell[5] = "fell";
    fell.extend(SHORT);
    fell.extend(["--trials", "2", "-q"]);
    let o = lg_run(d.path(), &fell);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_eq!(runs_in_store(d.path()), before + 2, "the trials ran");
    assert!(
        stderr(&o).contains(r#"driver: "mysql_async" → "lean""#),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_input_gets_a_clear_message_and_the_error_exit_code() {
    alone();
    let d = scratch();
    let url = fresh_db("g_bad");
    prepare(d.path(), &url);
    let err = |args: &[&str], want: i32, needle: &str| {
        let o = lg_run(d.path(), args);
        assert_eq!(code(&o), want, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(needle),
            "{args:?}: want {needle:?} in:\n{}",
            stderr(&o)
        );
        assert!(stdout(&o).is_empty(), "no verdict printed: {}", stdout(&o));
    };
    // Unknown baseline, before any baseline exists, and for every command that takes one.
    err(&["compare", "--baseline", "nope"], 2, "no baseline `nope`");
    err(&["baseline", "show", "nope"], 2, "none is saved yet");
    err(&["baseline", "rm", "nope"], 2, "no baseline `nope`");
    err(
        &["gate", "--baseline", "nope", "--target", &url],
        2,
        "no baseline `nope`",
    );
    // Nothing to save.
    err(&["baseline", "save", "x"], 2, "no run set is stored yet");
    // A baseline needs two trials: say how many.
    let one = trials(d.path(), &url, 1, &[]);
    err(
        &["baseline", "save", "x", "--run-set", &one],
        2,
        "a baseline needs at least 2, got 1",
    );
    let two = trials(d.path(), &url, 2, &[]);
    ok(lg_run(
        d.path(),
        &["baseline", "save", "main", "--run-set", &two],
    ));
    err(
        &["baseline", "save", "main", "--run-set", &two],
        2,
        "--force",
    );
    // Empty run set.
    err(
        &["compare", "--baseline", "main", "--candidate", "nosuch"],
        2,
        "holds no runs",
    );
    // The baseline's own set is not a candidate.
    err(
        &["compare", "--baseline", "main", "--candidate", &two],
        2,
        "is the set baseline `main` was saved from",
    );
    // Too few candidate trials.
    err(
        &["compare", "--baseline", "main", "--candidate", &one],
        2,
        "needs at least 2, got 1",
    );
    let before = runs_in_store(d.path());
    err(
        &[
            "gate",
            "--baseline",
            "main",
            "--target",
            &url,
            "--trials",
            "1",
        ],
        2,
        "needs at least 2, got 1",
    );
    err(
        &["ab", "--target", &url, "--max-pairs", "2"],
        2,
        "needs at least 3, got 2",
    );
    err(
        &["calibrate", "--target", &url, "--trials", "2"],
        2,
        "a calibration needs at least 5",
    );
    // Mismatched workloads.
    err(
        &[
            "gate",
            "oltp_point_select",
            "--baseline",
            "main",
            "--target",
            &url,
        ],
        2,
        "workload oltp_read_write → oltp_point_select",
    );
    // Nothing to compare with; unknown format; bad margin; A/B flags with a baseline.
    err(&["gate", "--target", &url], 2, "--baseline NAME");
    err(
        &["gate", "--ab", "--target", &url, "--format", "pdf"],
        2,
        "'pdf' for '--format",
    );
    err(
        &["compare", "--baseline", "main", "--margin", "3"],
        2,
        "--margin `3`",
    );
    err(
        &[
            "gate",
            "--baseline",
            "main",
            "--set-b",
            "x=1",
            "--target",
            &url,
        ],
        2,
        "need --ab",
    );
    err(
        &["ab", "--target", &url, "--threads", "1,2,3,4"],
        2,
        "at most 3 thread counts",
    );
    err(&["history", "nothing"], 2, "no complete runs of `nothing`");
    err(
        &["history", "oltp_read_write", "--metric", "qps"],
        2,
        "'qps' for '--metric",
    );
    assert_eq!(
        runs_in_store(d.path()),
        before,
        "no trial ran for bad input"
    );

    // A candidate set with a failed run: the failed trial exits 4 (unreachable target) and is
    // stored; comparing that set is refused with exit 5, naming the run.
    let o = lg_run(
        d.path(),
        &[
            "run",
            "oltp_read_write",
            "--target",
            "mysql://root@127.0.0.1:1/g_bad",
            "--connect-timeout",
            "1s",
            "--trials",
            "2",
            "-q",
        ],
    );
    assert_eq!(code(&o), 4, "{}", stderr(&o));
    let failed = json(&lg_run(d.path(), &["runs", "--status", "failed", "--json"]));
    let set = failed[0]["set_id"].as_str().unwrap().to_string();
    let id = failed[0]["id"].to_string();
    err(
        &["compare", "--baseline", "main", "--candidate", &set],
        5,
        &format!("run {id} is failed"),
    );
}

#[test]
fn history_finds_a_step_in_stored_runs() {
    alone();
    use loadgate::record::{RunRecord, RunStatus, RunStatusField, Summary, Testbed};
    let d = scratch();
    let mut store = loadgate::store::Store::open(&d.path().join("store.db")).unwrap();
    let noise = [1.0, 1.012, 0.991, 1.004, 0.996, 1.008, 0.993, 1.0];
    for i in 0..30 {
        let level = if i < 18 { 1000.0 } else { 950.0 };
        let rec = RunRecord {
            started_at_ms: 1_700_000_000_000 + i * 60_000,
            ended_at_ms: Some(1_700_000_000_000 + i * 60_000 + 10_000),
            status: RunStatusField(RunStatus::Complete),
            workload: "oltp_read_write".into(),
            workload_hash: "h".into(),
            settings: loadgate::record::RunSettings::Other(serde_json::json!({ "threads": 4 })),
            testbed: Testbed {
                fingerprint: "tb1".into(),
                ..Testbed::default()
            },
            summary: Some(Summary {
                tps: level * noise[i as usize % noise.len()],
                transactions: 10_000,
                latency_corrected: loadgate::record::LatencyStats {
                    p99: 12.0,
                    ..Default::default()
                },
                ..Summary::default()
            }),
            ..RunRecord::default()
        };
        store.insert_run(&rec).unwrap();
    }
    let h = json(&lg_run(
        d.path(),
        &["history", "oltp_read_write", "--metric", "tps", "--json"],
    ));
    let s = &h["series"][0];
    assert_eq!(s["testbed"], "tb1");
    assert_eq!(s["points"].as_array().unwrap().len(), 30);
    let cps = s["change_points"].as_array().unwrap();
    assert_eq!(cps.len(), 1, "{s:#}");
    let at = cps[0]["index"].as_i64().unwrap();
    assert!((16..=20).contains(&at), "change point at {at}");
    assert!(cps[0]["relative_change"].as_f64().unwrap() < -0.03);
    // The flat p99 series has none; the text marks the change.
    let p = json(&lg_run(
        d.path(),
        &["history", "oltp_read_write", "--metric", "p99", "--json"],
    ));
    assert!(p["series"][0]["change_points"]
        .as_array()
        .unwrap()
        .is_empty());
    let text = ok(lg_run(
        d.path(),
        &["history", "oltp_read_write", "--testbed", "tb1"],
    ));
    assert!(text.contains("change point before run"), "{text}");
    assert!(text.contains("◆ change"), "{text}");
    let o = lg_run(
        d.path(),
        &["history", "oltp_read_write", "--testbed", "other"],
    );
    assert_eq!(code(&o), 2);
}
