//! Power on request end to end: `gate --ab --mde` keeps adding pairs until every undecided
//! metric could detect the requested change, or stops at `--max-time`; the report (JSON
//! against its schema, text) shows the MDE, why the job stopped and, when inconclusive, how
//! many more pairs the measured noise needs; bad values are refused before any work.
//!
//! Trials are 1 s with no warm-up. The machine's noise decides how many pairs a requested MDE
//! takes, so the tests assert what must hold whichever way the job stopped, never a count.

use crate::common::*;
use std::path::Path;

/// Short trials without warm-up on a small table: pairs are cheap, so the MDE stop is reached
/// in the time a test may take.
const NO_WARMUP: &[&str] = &[
    "--threads",
    "2",
    "--duration",
    "1s",
    "--warmup",
    "0s",
    "--table-size",
    "1000",
];

/// `gate --ab` A/A on `url` with `extra` flags, JSON report; returns the exit code, the
/// report (checked against the schema) and stderr.
fn gate_aa(
    dir: &Path,
    workload: &str,
    url: &str,
    extra: &[&str],
) -> (i32, serde_json::Value, String) {
    let mut args = vec![
        "gate",
        workload,
        "--target",
        url,
        "--ab",
        "--no-calibration",
        "--format",
        "json",
    ];
    args.extend(NO_WARMUP);
    args.extend(extra);
    let o = lg_run(dir, &args);
    let r = json(&o);
    let errors = schema_errors("gate-v1.json", &r);
    assert!(errors.is_empty(), "schema violations: {errors:#?}\n{r:#}");
    (code(&o), r, stderr(&o))
}

/// The tested metrics of the report's only group.
fn tested(r: &serde_json::Value) -> Vec<serde_json::Value> {
    r["groups"][0]["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["tested"] == true)
        .cloned()
        .collect()
}

/// What an inconclusive metric must say under `--mde`: its MDE is above the request, the
/// pairs the noise would need for the request, and how many more than were run.
fn assert_asks_for_more(m: &serde_json::Value, mde: f64, pairs: u64, r: &serde_json::Value) {
    assert!(m["mde"].as_f64().unwrap() > mde, "{m:#}\n{r:#}");
    assert_eq!(m["needed_for"].as_f64(), Some(mde), "{m:#}");
    let needed = m["needed"].as_u64().unwrap_or_else(|| panic!("{m:#}"));
    assert!(needed > pairs, "{m:#}");
    assert_eq!(m["more_pairs"].as_u64(), Some(needed - pairs), "{m:#}");
}

#[test]
fn mde_stops_the_job_when_reached_or_says_what_is_missing() {
    alone();
    let d = scratch();
    let url = fresh_db("power_reach");
    prepare_on(d.path(), "oltp_read_only", &url, 1000, &[]);
    // Read-only (no deadlocks, so the error rate is not tested), no margin (so no early "no
    // regression"), a large effect: on a quiet machine reached after about 8 pairs; on a
    // busy one the p99 of 1 s trials may need more than the 16 allowed.
    let (exit, r, err) = gate_aa(
        d.path(),
        "oltp_read_only",
        &url,
        &["--mde", "99%", "--margin", "0", "--max-pairs", "16"],
    );
    assert!([0, 3].contains(&exit), "exit {exit}: {err}\n{r:#}");
    assert_eq!(r["requested_mde"].as_f64(), Some(0.99));
    assert!(r["method"]
        .as_str()
        .unwrap()
        .contains("MDE is at most 99.0 %"));
    let g = &r["groups"][0];
    let pairs = g["pairs"].as_u64().unwrap();
    let reason = g["stop_reason"].as_str().unwrap();
    eprintln!("--mde 99 %: stopped ({reason}) after {pairs} pairs");
    for m in tested(&r) {
        // Every verdict carries the effect it could have detected.
        assert!(m["mde"].as_f64().is_some(), "{m:#}");
    }
    match reason {
        "mde_reached" | "decided" => {
            assert!(pairs <= 16, "{r:#}");
            assert_eq!(exit, 0, "{r:#}");
            for m in tested(&r) {
                assert_ne!(m["verdict"], "inconclusive", "{r:#}");
            }
            if reason == "mde_reached" {
                assert!(
                    tested(&r)
                        .iter()
                        .any(|m| m["mde"].as_f64().unwrap() <= 0.99),
                    "{r:#}"
                );
            }
        }
        "max_pairs" => {
            assert_eq!(pairs, 16);
            assert_eq!(exit, 3, "{r:#}");
            for m in tested(&r).iter().filter(|m| m["verdict"] == "inconclusive") {
                assert_asks_for_more(m, 0.99, pairs, &r);
            }
        }
        other => panic!("unexpected stop reason {other}: {r:#}"),
    }
}

#[test]
fn the_time_budget_ends_the_job_and_the_report_says_so() {
    alone();
    let d = scratch();
    let url = fresh_db("power_budget");
    prepare_on(d.path(), "oltp_read_write", &url, 1000, &[]);
    // 0.5 % cannot be resolved in a few 1 s pairs; no margin, so no early "no regression".
    let (exit, r, err) = gate_aa(
        d.path(),
        "oltp_read_write",
        &url,
        &["--mde", "0.5%", "--margin", "0", "--max-time", "12s"],
    );
    assert_eq!(exit, 3, "{err}\n{r:#}");
    assert_eq!(r["max_time_s"].as_f64(), Some(12.0));
    let g = &r["groups"][0];
    assert_eq!(g["stop_reason"], "max_time", "{r:#}");
    let stopped = g["stopped"].as_str().unwrap();
    assert!(stopped.contains("time budget"), "{stopped}");
    let pairs = g["pairs"].as_u64().unwrap();
    assert!(pairs < 64, "{r:#}");
    if pairs >= 3 {
        // The noise was measured: the inconclusive metrics say how many more pairs it needs.
        for m in tested(&r).iter().filter(|m| m["verdict"] == "inconclusive") {
            assert_asks_for_more(m, 0.005, pairs, &r);
        }
    }
}

#[test]
fn the_text_report_shows_the_mde_and_the_pairs_needed() {
    alone();
    let d = scratch();
    let url = fresh_db("power_text");
    prepare_on(d.path(), "oltp_read_write", &url, 1000, &[]);
    let mut args = vec![
        "gate",
        "oltp_read_write",
        "--target",
        &url,
        "--ab",
        "--no-calibration",
        "--margin",
        "0",
        "--mde",
        "1%",
        "--max-pairs",
        "3",
        "-q",
    ];
    args.extend(NO_WARMUP);
    let o = lg_run(d.path(), &args);
    let text = stdout(&o);
    assert_eq!(code(&o), 3, "{text}\n{}", stderr(&o));
    assert!(text.contains("power:   MDE requested 1.0 %"), "{text}");
    assert!(text.contains("stopped at the maximum of 3 pairs"), "{text}");
    assert!(
        text.contains("to resolve a 1.0 % change at the noise measured"),
        "{text}"
    );
    assert!(text.contains("more than run"), "{text}");
}

#[test]
fn bad_mde_and_max_time_are_refused_before_any_work() {
    alone();
    let d = scratch();
    // Nothing listens on port 1: a flag checked after connecting would exit 4, not 2.
    let url = "mysql://root@127.0.0.1:1/power_none";
    for (flag, value, says) in [
        ("--mde", "0%", "from 0.1 % to below 100 %"),
        ("--mde", "0.05%", "from 0.1 % to below 100 %"),
        ("--mde", "100%", "from 0.1 % to below 100 %"),
        ("--mde", "five", "from 0.1 % to below 100 %"),
        ("--max-time", "500ms", "from 1s to 24h"),
        ("--max-time", "25h", "from 1s to 24h"),
        ("--max-time", "soon", "--max-time"),
    ] {
        for cmd in [
            &["gate", "oltp_read_write", "--ab"][..],
            &["ab", "oltp_read_write"],
        ] {
            let mut args = cmd.to_vec();
            args.extend(["--target", url, flag, value]);
            let o = lg_run(d.path(), &args);
            let err = stderr(&o);
            assert_eq!(code(&o), 2, "{args:?}: {err}");
            assert!(err.contains(flag) && err.contains(says), "{args:?}: {err}");
        }
    }
    // Against a baseline there are no pairs to add.
    let o = lg_run(
        d.path(),
        &[
            "gate",
            "oltp_read_write",
            "--baseline",
            "main",
            "--mde",
            "5%",
        ],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("need --ab"), "{}", stderr(&o));
    assert!(!d.path().join("store.db").exists(), "no store was opened");
}
