//! Measurement truth when the server misbehaves: a server stalled past the run's end (SIGSTOP
//! of a throwaway server of the test's own, held until loadgate has exited) gives a run that
//! ends on its own at the deadline plus a bounded grace, stored `partial` with the reason, with
//! the stalled transactions in the latency as lower bounds and in the counts; a very low
//! open-loop rate measures the whole duration; a connection storm past `max_connections` raises
//! the connection alert.

use crate::common::*;
use loadgate::server::{LocalServer, LocalServerOptions};
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

fn own_server_with_db(db: &str, extra_args: &[&str]) -> (LocalServer, String) {
    let srv = own_server(&LocalServerOptions {
        extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    });
    let url = format!("{}{db}", srv.url());
    sql(&srv.url(), &[&format!("CREATE DATABASE {db}")]);
    (srv, url)
}

/// Resumes a stopped server however the test ends, so that it can be stopped and removed.
struct Resume<'a>(&'a LocalServer);

impl Drop for Resume<'_> {
    fn drop(&mut self) {
        let _ = self.0.resume();
    }
}

/// Waits up to `limit` for `child`; `None` (and the child killed) if it is still running.
fn exited_within(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(s) = child.try_wait().expect("wait") {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// Waits until the 4 workers of a run are connected to database `db` (the run's clock starts
/// then), 30 s at most.
fn wait_for_workers(root: &str, db: &str) {
    let start = Instant::now();
    let q = format!("SELECT COUNT(*) FROM information_schema.processlist WHERE db = '{db}'");
    while start.elapsed() < Duration::from_secs(30) {
        if sql(root, &[&q])[0][0].parse::<u64>().unwrap_or(0) >= 4 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the run's workers did not connect within 30 s");
}

/// Runs a 3 s oltp_point_select with `extra` flags on its own server, stops the server about
/// 1 s into the run and keeps it stopped until loadgate has exited (30 s at most). Returns the
/// exit status (`None`: still running after 30 s, killed), the JSON report and stderr.
fn run_through_a_stall(
    db: &str,
    extra: &[&str],
) -> (Option<ExitStatus>, serde_json::Value, String) {
    let d = scratch();
    let (srv, url) = own_server_with_db(db, &[]);
    prepare_on(d.path(), "oltp_point_select", &url, 1000, &[]);
    let mut c = run_on(d.path(), "oltp_point_select", &url, 1000);
    c.args(["--threads", "4", "--duration", "3s", "--json", "-q"])
        .args(extra);
    let mut child = spawn(c);
    wait_for_workers(&srv.url(), db);
    std::thread::sleep(Duration::from_millis(1000));
    srv.pause().expect("SIGSTOP");
    let status = {
        let _resume = Resume(&srv);
        exited_within(&mut child, Duration::from_secs(30))
    };
    let out = child.wait_with_output().expect("output");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    let r = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    // The store has it as the report says.
    if status.is_some() {
        let mut c = lg(d.path());
        c.args(["show", "last", "--json"]);
        let stored = json(&run(c));
        assert_eq!(stored["status"], r["status"], "{stored}");
        assert_eq!(stored["unfinished"], r["unfinished"]);
    }
    (status, r, err)
}

#[test]
fn a_server_stalled_past_the_end_gives_a_partial_run_with_lower_bounds_closed_loop() {
    let (status, r, err) = run_through_a_stall("truth_stall_closed", &[]);
    let status = status.expect("the run ends at its deadline + grace while the server is stopped");
    assert_eq!(status.code(), Some(5), "{err}");
    validate_against_schema("run-v1.json", &r);
    assert_eq!(r["status"], "partial", "{r:#}");
    let why = r["status_reason"].as_str().unwrap();
    assert!(
        why.contains("server stalled from t=") && why.contains("4 transaction(s) still in flight"),
        "{why}"
    );
    let u = &r["unfinished"];
    assert_eq!(u["in_flight"], 4, "{u}");
    assert_eq!(u["not_started"], 0, "{u}");
    let from = u["oldest_in_flight_sent_s"].as_f64().unwrap();
    assert!(from > 0.5 && from < 3.0, "stalled at about 1 s, not {from}");
    // The 4 stalled transactions waited from about 1 s to past the deadline + 2 s grace.
    let max = r["latency_ms"]["corrected"]["max"].as_f64().unwrap();
    assert!(max >= 2000.0, "max latency {max} ms hides the stall");
    assert!(u["lower_bound_from_ms"].as_f64().unwrap() >= 2000.0, "{u}");
    // Counts hold completions only: the 4 are in the latency, not in the transactions.
    let completed = r["transactions"].as_u64().unwrap();
    assert_eq!(
        r["latency_ms"]["corrected"]["count"].as_u64().unwrap(),
        completed + 4
    );
}

#[test]
fn a_server_stalled_past_the_end_gives_a_partial_run_with_lower_bounds_open_loop() {
    let (status, r, err) = run_through_a_stall("truth_stall_open", &["--rate", "200"]);
    let status = status.expect("the run ends at its deadline + grace while the server is stopped");
    assert_eq!(status.code(), Some(5), "{err}");
    validate_against_schema("run-v1.json", &r);
    assert_eq!(r["status"], "partial", "{r:#}");
    let s = &r["schedule"];
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(
        n("scheduled"),
        n("completed") + n("failed") + n("in_flight") + n("not_started"),
        "{s}"
    );
    assert_eq!(n("in_flight"), 4, "{s}");
    // About 2 s of 200/s never started.
    assert!(n("not_started") >= 200, "{s}");
    assert!(n("max_queue_depth") >= n("not_started"), "{s}");
    let u = &r["unfinished"];
    assert_eq!(u["in_flight"], 4, "{u}");
    assert_eq!(u["not_started"].as_u64(), Some(n("not_started")), "{u}");
    let why = r["status_reason"].as_str().unwrap();
    assert!(
        why.contains("scheduled transaction(s) never started"),
        "{why}"
    );
    // Half the schedule never ran: the corrected p99 shows it (as a lower bound).
    let p99 = r["latency_ms"]["corrected"]["p99"].as_f64().unwrap();
    assert!(p99 >= 500.0, "corrected p99 {p99} ms hides the stall");
    assert_eq!(
        r["latency_ms"]["corrected"]["count"].as_u64().unwrap(),
        n("completed") + n("in_flight") + n("not_started")
    );
}

#[test]
fn a_low_open_loop_rate_measures_the_whole_duration() {
    let d = scratch();
    let url = fresh_db("truth_low_rate");
    prepare_on(d.path(), "oltp_point_select", &url, 100, &[]);
    let mut c = run_on(d.path(), "oltp_point_select", &url, 100);
    c.args(["--rate", "0.5", "--duration", "4s", "--json", "-q"]);
    let r = json(&run(c));
    assert_eq!(r["status"], "complete", "{r:#}");
    let secs = r["duration_s"].as_f64().unwrap();
    assert!((secs - 4.0).abs() < 0.05, "measured {secs} s of a 4 s run");
    assert_eq!(r["transactions"], 2);
    let tps = r["tps"].as_f64().unwrap();
    assert!((tps - 0.5).abs() < 0.01, "tps {tps}");
    assert!(r["unfinished"].is_null(), "{}", r["unfinished"]);
}

#[test]
fn connections_past_max_connections_raise_the_connection_alert() {
    let d = scratch();
    let (_srv, url) = own_server_with_db("truth_conns", &["--max-connections=8"]);
    prepare_on(d.path(), "oltp_point_select", &url, 100, &[]);
    let mut c = run_on(d.path(), "oltp_point_select", &url, 100);
    c.args(["--threads", "12", "--duration", "2s", "-q"]);
    let o = run(c);
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(stderr(&o).contains("1040"), "{}", stderr(&o));
    let mut c = lg(d.path());
    c.args(["show", "last", "--json"]);
    let r = json(&run(c));
    let alerts = r["monitor"]["alerts"].as_array().expect("alerts");
    let conn = alerts
        .iter()
        .find(|a| a["metric"] == "connection_usage")
        .unwrap_or_else(|| panic!("no connection alert: {alerts:?}"));
    assert_eq!(conn["level"], "critical", "{conn}");
    assert!(conn["value"].as_f64().unwrap() >= 100.0, "{conn}");
}

#[test]
fn hundreds_of_workers_share_client_threads() {
    let d = scratch();
    let (_srv, url) = own_server_with_db("truth_many", &["--max-connections=400"]);
    prepare_on(d.path(), "oltp_point_select", &url, 100, &[]);
    let mut c = run_on(d.path(), "oltp_point_select", &url, 100);
    c.args(["--threads", "300", "--duration", "3s", "--json", "-q"]);
    let mut child = spawn(c);
    // The most OS threads the process had while it ran.
    let tasks = format!("/proc/{}/task", child.id());
    let mut most = 0;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if let Ok(dir) = std::fs::read_dir(&tasks) {
            most = most.max(dir.count());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = child.wait_with_output().expect("output");
    assert!(status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(r["settings"]["client_threads"], 64, "{}", r["settings"]);
    assert!(r["transactions"].as_u64().unwrap() > 0);
    // 64 client threads, the coordinating and monitor threads, a few of tokio's: not 300.
    assert!(most > 0 && most < 100, "{most} OS threads for 300 workers");
}
