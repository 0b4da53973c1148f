//! Faults on a real server of the test's own: a server frozen mid-run (SIGSTOP for 1 s) must
//! show in the corrected latency and not in the service time, with every scheduled transaction
//! accounted for; a server killed mid-run must give a stored partial run and a non-zero exit
//! at the deadline.

use crate::common::*;
use loadgate::server::{LocalServer, LocalServerOptions};
use std::time::{Duration, Instant};

fn own_server_with_db(db: &str) -> (LocalServer, String) {
    let srv = own_server(&LocalServerOptions::default());
    let url = format!("{}{db}", srv.url());
    sql(&srv.url(), &[&format!("CREATE DATABASE {db}")]);
    (srv, url)
}

#[test]
fn a_frozen_server_shows_in_corrected_latency_and_nothing_is_dropped() {
    let d = scratch();
    let (srv, url) = own_server_with_db("stall");
    prepare_on(d.path(), "oltp_point_select", &url, 1000, &[]);
    let mut c = run_on(d.path(), "oltp_point_select", &url, 1000);
    c.args([
        "--rate",
        "200",
        "--threads",
        "4",
        "--duration",
        "5s",
        "--json",
        "-q",
    ]);
    let mut child = spawn(c);
    std::thread::sleep(Duration::from_millis(2000));
    srv.pause().expect("SIGSTOP");
    std::thread::sleep(Duration::from_millis(1000));
    srv.resume().expect("SIGCONT");
    let status = wait_with_timeout(&mut child, Duration::from_secs(30));
    let out = child.wait_with_output().expect("output");
    assert!(
        status.success(),
        "exit {:?}: {}",
        status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let corrected_p99 = r["latency_ms"]["corrected"]["p99"].as_f64().unwrap();
    let service_p99 = r["latency_ms"]["service"]["p99"].as_f64().unwrap();
    let service_max = r["latency_ms"]["service"]["max"].as_f64().unwrap();
    assert!(
        corrected_p99 >= 500.0,
        "corrected p99 {corrected_p99} ms should show the 1 s stall"
    );
    // Only the 4 transactions in flight at the freeze waited on the server; the rest queued.
    assert!(
        service_p99 < corrected_p99 / 4.0,
        "service p99 {service_p99} vs corrected {corrected_p99}"
    );
    assert!(
        service_max >= 500.0,
        "the in-flight ones did wait on the server: max {service_max}"
    );
    let s = &r["schedule"];
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(
        n("scheduled"),
        n("completed") + n("failed") + n("in_flight") + n("not_started"),
        "{s}"
    );
    assert!(n("scheduled") >= 995 && n("scheduled") <= 1001, "{s}");
    assert_eq!(n("failed"), 0, "{s}");
    assert!(
        n("not_started") <= 4,
        "the backlog was issued, not skipped: {s}"
    );
    assert!(
        n("max_queue_depth") >= 150,
        "about 200 transactions queued during the stall: {s}"
    );
    assert!(s["max_start_lag_ms"].as_f64().unwrap() >= 800.0, "{s}");
    // The interval series shows it too.
    let worst = r["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["corrected_max_ms"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(worst >= 800.0, "worst interval max {worst}");
}

#[test]
fn a_killed_server_gives_a_stored_partial_run_and_a_nonzero_exit() {
    let d = scratch();
    let (mut srv, url) = own_server_with_db("killed");
    prepare_on(d.path(), "oltp_read_write", &url, 1000, &[]);
    let mut c = lg(d.path());
    c.args([
        "run",
        "oltp_read_write",
        "--target",
        &url,
        "--table-size",
        "1000",
        "--threads",
        "4",
        "--duration",
        "4s",
        "--warmup",
        "0",
        "-q",
        "--connect-timeout",
        "1s",
    ]);
    let start = Instant::now();
    let mut child = spawn(c);
    std::thread::sleep(Duration::from_millis(1500));
    srv.kill().expect("SIGKILL the server");
    let status = wait_with_timeout(&mut child, Duration::from_secs(30));
    let elapsed = start.elapsed();
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(5), "{err}");
    assert!(
        elapsed < Duration::from_secs(12),
        "ended {elapsed:?} after start; the deadline was 4 s"
    );
    assert!(
        err.contains("partial") && err.contains("lost the connection"),
        "{err}"
    );
    let mut c = lg(d.path());
    c.args(["show", "last", "--json"]);
    let r = json(&run(c));
    assert_eq!(r["status"], "partial");
    assert!(
        r["transactions"].as_u64().unwrap() > 0,
        "what was measured before the kill is kept"
    );
    let gone: u64 = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "server_gone")
        .map(|e| e["count"].as_u64().unwrap())
        .sum();
    assert!(gone > 0, "{}", r["errors"]);
}

#[test]
fn the_backlog_is_reported_when_connections_are_too_few_for_the_rate() {
    let d = scratch();
    let (_srv, url) = own_server_with_db("behind");
    prepare_on(d.path(), "oltp_read_write", &url, 1000, &[]);
    // One connection cannot do 5000 read/write transactions a second (each takes ~1 ms+).
    let mut c = lg(d.path());
    c.args([
        "run",
        "oltp_read_write",
        "--target",
        &url,
        "--table-size",
        "1000",
        "--threads",
        "1",
        "--rate",
        "5000",
        "--duration",
        "2s",
        "--warmup",
        "0",
        "--json",
        "-q",
    ]);
    let o = run(c);
    let r = json(&o);
    let s = &r["schedule"];
    assert_eq!(s["fell_behind"], true, "{s}");
    assert!(s["not_started"].as_u64().unwrap() > 1000, "{s}");
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(
        n("scheduled"),
        n("completed") + n("failed") + n("in_flight") + n("not_started"),
        "{s}"
    );
    let mut c = lg(d.path());
    c.args(["show", "last"]);
    assert!(ok(run(c)).contains("FELL BEHIND"));
}
