//! Input that must be refused before any work, and the gate's own truth: every number a user
//! gives is range-checked with a clear message and exit 2, and a comparison prints the margin
//! each verdict used with where it came from — the calibration's cap, its age and its minimum
//! number of trials included — with `calibrate list|show|rm` to manage what is stored.

use crate::common::*;
use loadgate::store::{Calibration, Store};
use std::path::Path;

/// `loadgate ARGS` must fail with exit `want` and a message containing `needle`, having
/// stored nothing.
fn refused(dir: &Path, args: &[&str], want: i32, needle: &str) {
    let o = lg_run(dir, args);
    let e = stderr(&o);
    assert_eq!(code(&o), want, "{args:?}: {e}");
    assert!(e.contains(needle), "{args:?}: wanted {needle:?} in: {e}");
    assert!(!e.contains("panicked"), "{args:?}: {e}");
}

/// `run oltp_read_write --trials n` with the short settings.
fn trials(dir: &Path, url: &str, n: u32) {
    let n = n.to_string();
    let mut args = vec!["run", "oltp_read_write", "--target", url, "--trials", &n];
    args.extend(["-q", "--json"]);
    args.extend(SHORT);
    ok(lg_run(dir, &args));
}

/// A calibration of `oltp_read_write` on testbed `fp` with this tps noise, trials and age.
fn calibration(fp: &str, noise: f64, trials: u32, age_days: i64) -> Calibration {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    Calibration {
        id: None,
        created_at_ms: now - age_days * 86_400_000,
        testbed_fingerprint: fp.into(),
        workload: "oltp_read_write".into(),
        workload_hash: "test".into(),
        settings: serde_json::json!({}),
        set_id: "input-calibration".into(),
        trials,
        noise_tps: noise,
        noise_p99: 0.01,
        noise_error_rate: None,
        noise_rows: None,
        noise_pages: None,
        noise_client_cpu: None,
        noise_server_cpu: None,
    }
}

#[test]
fn calibrate_refuses_fewer_than_five_trials_before_any_work() {
    let d = scratch();
    // No target is reachable at this port: the refusal comes before any connection.
    let args = ["calibrate", "--target", "mysql://root@127.0.0.1:1/x"];
    for n in ["3", "4"] {
        let mut a = args.to_vec();
        a.extend(["--trials", n]);
        refused(
            d.path(),
            &a,
            2,
            &format!("a calibration needs at least 5, got {n}"),
        );
    }
    assert!(
        !d.path().join("store.db").exists() || {
            let s = Store::open(&d.path().join("store.db")).unwrap();
            s.calibrations(None).unwrap().is_empty()
        }
    );
}

#[test]
fn the_margin_each_verdict_used_is_printed_with_where_it_came_from() {
    alone();
    let d = scratch();
    let url = fresh_db("input_margins");
    prepare_on(d.path(), "oltp_read_write", &url, 1000, &[]);
    trials(d.path(), &url, 3);
    ok(lg_run(d.path(), &["baseline", "save", "main"]));
    trials(d.path(), &url, 3);
    let show = lg_json(d.path(), &["baseline", "show", "main", "--json"]);
    let fp = show["testbed"]["fingerprint"].as_str().unwrap().to_string();
    let store_path = d.path().join("store.db");

    // A calibration from a busy machine: noise 0.4 calls for a 49.2 % margin; the cap holds
    // it at 20 % and the report says what the testbed cannot detect.
    let noisy = Store::open(&store_path)
        .unwrap()
        .insert_calibration(&calibration(&fp, 0.4, 8, 0))
        .unwrap();
    let compare = ["compare", "--baseline", "main"];
    let o = lg_run(d.path(), &[&compare[..], &["--format", "json"]].concat());
    assert!([0, 1, 3].contains(&code(&o)), "{}", stderr(&o));
    let r = json(&o);
    assert!(
        schema_errors("gate-v1.json", &r).is_empty(),
        "{:#?}",
        schema_errors("gate-v1.json", &r)
    );
    let tps = &r["margins"][0];
    assert_eq!(tps["metric"], "tps");
    assert_eq!(tps["source"], "calibration");
    assert_eq!(tps["margin"].as_f64(), Some(0.2));
    let floor = tps["noise_floor"].as_f64().unwrap();
    assert!((floor - 0.4f64.exp_m1()).abs() < 1e-9, "{floor}");
    assert_eq!(r["margins"][1]["source"], "requested");
    assert_eq!(r["margins"][1]["margin"].as_f64(), Some(0.03));
    assert_eq!(r["groups"][0]["metrics"][0]["margin"].as_f64(), Some(0.2));
    let text = stdout(&lg_run(d.path(), &compare));
    let today = &r["calibration"]["created_at"].as_str().unwrap()[..10];
    let want = format!(
        "margins: tps 20.0 % (calibration {noisy} of {today}; capped: this testbed is too noisy to detect less than 49.2 %), p99 3.0 % (requested)"
    );
    assert!(text.contains(&want), "wanted {want:?} in:\n{text}");

    let list = lg_json(d.path(), &["calibrate", "list", "--json"]);
    assert_eq!(list[0]["id"], noisy);
    assert_eq!(list[0]["status"], "applied");
    let shown = lg_json(
        d.path(),
        &["calibrate", "show", &noisy.to_string(), "--json"],
    );
    assert!(shown["not_applied"].is_null(), "{shown}");
    assert_eq!(shown["margins_used"][0]["margin"].as_f64(), Some(0.2));

    // Removed, the older stored one is next: 40 days old, it is not applied, and the
    // report says so; the margins are the requested ones.
    ok(lg_run(d.path(), &["calibrate", "rm", &noisy.to_string()]));
    refused(
        d.path(),
        &["calibrate", "rm", &noisy.to_string()],
        2,
        &format!("there is no calibration {noisy}"),
    );
    let old = Store::open(&store_path)
        .unwrap()
        .insert_calibration(&calibration(&fp, 0.05, 8, 40))
        .unwrap();
    let r = json(&lg_run(
        d.path(),
        &[&compare[..], &["--format", "json"]].concat(),
    ));
    assert!(r["calibration"].is_null(), "{r:#}");
    let why = r["calibration_not_applied"].as_str().unwrap();
    assert!(
        why.contains(&format!("calibration {old} of")) && why.contains("40 days old"),
        "{why}"
    );
    assert!(r["margins"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["source"] == "requested" && m["margin"].as_f64() == Some(0.03)));
    let text = stdout(&lg_run(d.path(), &compare));
    assert!(
        text.contains("margins: tps 3.0 % (requested)") && text.contains("40 days old"),
        "{text}"
    );
    let list = lg_json(d.path(), &["calibrate", "list", "--json"]);
    assert_eq!(list[0]["status"], "too old");
}

#[test]
fn every_number_a_command_takes_is_range_checked_before_any_work() {
    let d = scratch();
    // Nothing listens on port 1: each refusal must come before any connection.
    let t = "mysql://root@127.0.0.1:1/input_ranges";
    let cases: &[(&[&str], &str)] = &[
        (&["runs", "--limit", "0"], "0 is not in 1..=1000000"),
        (
            &["run", "--trials", "0", "--target", t],
            "0 is not in 1..=1000",
        ),
        (
            &["gate", "--ab", "--max-pairs", "100000", "--target", t],
            "100000 is not in 2..=1000",
        ),
        (
            &["ab", "--min-pairs", "1", "--target", t],
            "1 is not in 2..=1000",
        ),
        (
            &["ab", "--threads-b", "1000000", "--target", t],
            "expected a number from 1 to 10000",
        ),
        (
            &["history", "w", "--min-segment", "0"],
            "0 is not in 2..=1000",
        ),
        (
            &["calibrate", "--trials", "5000", "--target", t],
            "5000 is not in 1..=1000",
        ),
        (
            &["monitor", "--duration", "100000h", "--target", t],
            "longer than 30 days",
        ),
        (
            &["bulk", "--workers", "100000", "--target", t],
            "--workers must be 1 to 256, got 100000",
        ),
        (
            &["bulk", "--batch-size", "10000000000", "--target", t],
            "--batch-size must be 1 to 1000000",
        ),
        (
            &["bulk", "--revision", "4294967295", "--target", t],
            "--revision must be 0 to 1000",
        ),
        (
            &["bulk", "--rows", "0", "--target", t],
            "--rows must be 1 to 1000000000, got 0",
        ),
        (
            &["index", "--read-workers", "5000000", "--target", t],
            "must be 1 to 1000, got 5000000",
        ),
        (
            &["index", "--duration", "999999h", "--target", t],
            "at most 30 days",
        ),
        (
            &["run", "--rate", "1e300", "--target", t],
            "must be at most 100000000, got 1e300",
        ),
        (
            &["run", "--target", "mysql://root@[::1]:99999/x"],
            "the port is not a number from 1 to 65535",
        ),
        // Each of these panicked converting the duration.
        (
            &["monitor", "--connect-timeout", "1e300", "--target", t],
            "`1e300` is longer than 1h",
        ),
        (
            &["bulk", "--connect-timeout", "1e300", "--target", t],
            "`1e300` is longer than 1h",
        ),
        (
            &["monitor", "--interval", "1ms", "--target", t],
            "must be 10ms to 24h, got 0.001 s",
        ),
    ];
    for (args, needle) in cases {
        refused(d.path(), args, 2, needle);
    }
}

#[test]
fn numbers_in_workload_files_are_range_checked_where_they_are_written() {
    let d = scratch();
    let t = "mysql://root@127.0.0.1:1/input_files";
    // A bulk file whose batch would be allocated whole: refused by name, before connecting.
    let bulk = std::fs::read_to_string(repo_path("workloads/bulk_sync.toml")).unwrap();
    let f = d.path().join("big_batch.toml");
    std::fs::write(
        &f,
        bulk.replace("batch_size = 0 ", "batch_size = 1000000000000 "),
    )
    .unwrap();
    refused(
        d.path(),
        &["bulk", f.to_str().unwrap(), "--target", t],
        2,
        "workload setting `batch_size` must be 1 to 1000000, got 1000000000000",
    );
    // An OLTP file: a table count past the limit, min above max, a duplicate statement name
    // and bytes that are not UTF-8, each at its line and column.
    let rw = std::fs::read_to_string(repo_path("workloads/oltp_point_select.toml")).unwrap();
    let cases: Vec<(String, Vec<u8>, &str)> = vec![
        (
            "count".into(),
            rw.replace("count = \"tables\"", "count = 1000000000000")
                .into_bytes(),
            "a table family has 1–100000 tables",
        ),
        (
            "minmax".into(),
            rw.replace("min = 1, max = \"table_size\"", "min = 50, max = 5")
                .into_bytes(),
            "`min` (50) is greater than `max` (5)",
        ),
        (
            "utf8".into(),
            [b"# \xff\n".as_slice(), rw.as_bytes()].concat(),
            ":1:3: byte 0xff is not UTF-8",
        ),
    ];
    for (name, bytes, needle) in cases {
        let f = d.path().join(format!("{name}.toml"));
        std::fs::write(&f, bytes).unwrap();
        let path = f.to_str().unwrap();
        let o = lg_run(d.path(), &["run", path, "--target", t]);
        let e = stderr(&o);
        assert_eq!(code(&o), 2, "{name}: {e}");
        assert!(e.contains(needle), "{name}: wanted {needle:?} in {e}");
        assert!(
            e.contains(&format!("{path}:")),
            "{name}: no file:line:col in {e}"
        );
    }
}
