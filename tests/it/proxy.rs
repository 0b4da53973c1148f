//! Through a real proxy: HAProxy (Debian's package, TCP mode) in front of a throwaway server.
//! The same read-only workload with the same event count must give the same query counts direct and
//! through the proxy, counted by the client and by the server, and the proxy must have
//! carried the connections (it is not bypassed through the server's socket).

use crate::common::*;
use loadgate::server::LocalServerOptions;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Haproxy {
    child: Child,
    port: u16,
    stats: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn haproxy(backend_port: u16) -> Haproxy {
    let bin = [
        "/usr/sbin/haproxy",
        "/usr/bin/haproxy",
        "/usr/local/sbin/haproxy",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists())
    .expect(
        "haproxy is not installed: run scripts/test.sh (it installs it) or apt-get install haproxy",
    );
    let dir = scratch();
    let port = free_port();
    let stats = dir.path().join("stats.sock");
    let cfg = dir.path().join("haproxy.cfg");
    std::fs::write(
        &cfg,
        format!(
            "global\n  maxconn 1000\n  stats socket {} mode 600 level admin\n\
             defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n\
             listen mysql\n  bind 127.0.0.1:{port}\n  server db 127.0.0.1:{backend_port}\n",
            stats.display()
        ),
    )
    .unwrap();
    let child = Command::new(bin)
        .args(["-db", "-f"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start haproxy");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "haproxy did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Haproxy {
        child,
        port,
        stats,
        _dir: dir,
    }
}

/// Total sessions HAProxy's frontend has carried (the `stot` column of `show stat`).
fn sessions(h: &Haproxy) -> u64 {
    let mut s = UnixStream::connect(&h.stats).expect("stats socket");
    s.write_all(b"show stat\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let header: Vec<&str> = out
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("# ")
        .split(',')
        .collect();
    let col = header.iter().position(|c| *c == "stot").unwrap();
    out.lines()
        .find(|l| l.starts_with("mysql,FRONTEND"))
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .unwrap()
}

#[test]
fn through_haproxy_gives_the_same_query_counts_as_direct() {
    let d = scratch();
    let srv = own_server(&LocalServerOptions::default());
    sql(&srv.url(), &["CREATE DATABASE px"]);
    let direct = format!("{}px", srv.url());
    let h = haproxy(srv.port());
    let proxied = format!("mysql://root@127.0.0.1:{}/px", h.port);
    prepare_on(d.path(), "oltp_read_write", &direct, 1000, &[]);

    let mut results = Vec::new();
    for url in [&direct, &proxied] {
        let before = status(&direct, "Questions");
        let sessions_before = sessions(&h);
        let mut c = lg(d.path());
        c.args([
            "run",
            "oltp_read_only",
            "--target",
            url,
            "--table-size",
            "1000",
            "--threads",
            "4",
            "--events",
            "300",
            "--duration",
            "0",
            "--warmup",
            "0",
            "--json",
            "-q",
            // The monitor's own statements depend on timing (one sample per interval); this
            // compares the workload's path only.
            "--no-monitor",
        ]);
        let o = run(c);
        assert!(o.status.success(), "{}", stderr(&o));
        let r = json(&o);
        // Questions also counts our own status query, identical for both runs.
        let questions = status(&direct, "Questions") - before;
        results.push((r, questions, sessions(&h) - sessions_before));
    }
    let (a, qa, sa) = &results[0];
    let (b, qb, sb) = &results[1];
    assert_eq!(a["transactions"], 300);
    assert_eq!(b["transactions"], 300);
    assert_eq!(a["queries"], b["queries"], "client-side counts differ");
    let total = a["queries"]["read"].as_u64().unwrap()
        + a["queries"]["write"].as_u64().unwrap()
        + a["queries"]["other"].as_u64().unwrap();
    // Read-only, so no deadlock retries: exactly 16 statements per transaction.
    assert_eq!(total, 4800);
    assert_eq!(
        qa, qb,
        "server-side Questions differ: direct {qa}, proxied {qb}"
    );
    assert!(
        *qa >= total && *qb >= total,
        "server counted fewer statements than the client"
    );
    assert_eq!(*sa, 0, "the direct run must not go through the proxy");
    assert!(
        *sb >= 4,
        "the proxied run's 4 worker connections went through HAProxy ({sb} sessions)"
    );
    assert!(b["target"].as_str().unwrap().contains(&h.port.to_string()));
}
