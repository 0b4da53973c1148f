//! The Prometheus endpoint (`--metrics-addr HOST:PORT`): a [`Hub`] that the engine and the
//! monitor update once per interval, and a minimal HTTP/1.1 server on its own thread that
//! renders it in the text exposition format (version 0.0.4) on `GET /metrics`.
//!
//! The engine feeds the hub through [`crate::engine::LiveSink`] from its coordinating thread,
//! never from the hot path. Counters count from the start of the load, warm-up included;
//! latency is a summary over the same span (quantiles from a merged HDR histogram).

use crate::engine::LiveSink;
use crate::error::{Error, Result};
use crate::record::{Alert, IntervalSample, ServerSample};
use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Default)]
struct EngineState {
    intervals: u64,
    transactions: u64,
    queries: [u64; 3],
    errors: u64,
    retries: u64,
    reconnects: u64,
    last: Option<IntervalSample>,
    corrected: Option<Histogram<u64>>,
    service: Option<Histogram<u64>>,
    connects: u64,
    discarded: u64,
    warmup: bool,
}

#[derive(Default)]
struct State {
    /// `workload`, `run_id`, `target` labels of `loadgate_info`.
    info: Vec<(String, String)>,
    pool_size: Option<u64>,
    engine: Option<EngineState>,
    server_raw: BTreeMap<String, u64>,
    server: Option<ServerSample>,
    samples: u64,
    alerts: Vec<Alert>,
}

/// Live metrics shared by the engine, the monitor and the HTTP server.
#[derive(Default)]
pub struct Hub {
    state: Mutex<State>,
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Labels for `loadgate_info` (workload, run id, target...).
    pub fn set_info(&self, labels: &[(&str, String)]) {
        self.lock().info = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
    }

    pub fn set_pool_size(&self, n: u64) {
        self.lock().pool_size = Some(n);
    }

    /// A new server sample, with the raw status values it came from.
    pub fn server_sample(&self, raw: &BTreeMap<String, u64>, sample: &ServerSample) {
        let mut s = self.lock();
        s.server_raw = raw.clone();
        s.server = Some(sample.clone());
        s.samples += 1;
    }

    /// The alerts currently raised (replaces the previous set).
    pub fn set_alerts(&self, alerts: &[Alert]) {
        self.lock().alerts = alerts.to_vec();
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        render(&self.lock())
    }
}

impl LiveSink for Hub {
    fn interval(&self, s: &IntervalSample, corrected: &Histogram<u64>, service: &Histogram<u64>) {
        let mut st = self.lock();
        let e = st.engine.get_or_insert_with(EngineState::default);
        e.intervals += 1;
        e.transactions += s.transactions;
        e.queries[0] += s.queries.read;
        e.queries[1] += s.queries.write;
        e.queries[2] += s.queries.other;
        e.errors += s.errors;
        e.retries += s.retries;
        e.reconnects += s.reconnects;
        e.connects += s.connects;
        e.discarded += s.conn_discarded;
        e.warmup = s.warmup;
        e.last = Some(s.clone());
        match (&mut e.corrected, &mut e.service) {
            (Some(c), Some(v)) => {
                let _ = c.add(corrected);
                let _ = v.add(service);
            }
            _ => {
                e.corrected = Some(corrected.clone());
                e.service = Some(service.clone());
            }
        }
    }
}

/// Escape a label value.
fn esc(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

struct Out(String);

impl Out {
    fn head(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn val(&mut self, name: &str, labels: &str, v: f64) {
        let v = if v.is_finite() {
            format!("{v}")
        } else if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {v}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {v}");
        }
    }
    fn one(&mut self, name: &str, kind: &str, help: &str, v: f64) {
        self.head(name, kind, help);
        self.val(name, "", v);
    }
}

const QUANTILES: &[f64] = &[0.5, 0.9, 0.95, 0.99, 0.999];

fn render(st: &State) -> String {
    let mut o = Out(String::new());
    o.head(
        "loadgate_info",
        "gauge",
        "What this loadgate process is doing.",
    );
    let labels: Vec<String> = st
        .info
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
        .chain([format!("version=\"{}\"", crate::util::VERSION)])
        .collect();
    o.val("loadgate_info", &labels.join(","), 1.0);

    if let Some(e) = &st.engine {
        o.one(
            "loadgate_transactions_total",
            "counter",
            "Transactions completed since the load started (warm-up included).",
            e.transactions as f64,
        );
        o.head(
            "loadgate_queries_total",
            "counter",
            "Queries completed, by class (sysbench's read/write/other).",
        );
        for (i, class) in ["read", "write", "other"].iter().enumerate() {
            o.val(
                "loadgate_queries_total",
                &format!("class=\"{class}\""),
                e.queries[i] as f64,
            );
        }
        o.one(
            "loadgate_errors_total",
            "counter",
            "Statement errors (retried ones included).",
            e.errors as f64,
        );
        o.one(
            "loadgate_retries_total",
            "counter",
            "Transactions restarted after a retryable error.",
            e.retries as f64,
        );
        o.one(
            "loadgate_reconnects_total",
            "counter",
            "Lost connections reopened.",
            e.reconnects as f64,
        );
        o.one(
            "loadgate_warmup",
            "gauge",
            "1 while the run is in its warm-up.",
            f64::from(u8::from(e.warmup)),
        );
        if let Some(l) = &e.last {
            o.one(
                "loadgate_tps",
                "gauge",
                "Transactions per second over the last interval.",
                l.tps,
            );
            o.one(
                "loadgate_qps",
                "gauge",
                "Queries per second over the last interval.",
                l.qps,
            );
            o.head(
                "loadgate_pool_connections",
                "gauge",
                "Client connections over the last interval: open (peak), in_use and idle (averages).",
            );
            o.val(
                "loadgate_pool_connections",
                "state=\"open\"",
                l.conn_open as f64,
            );
            o.val(
                "loadgate_pool_connections",
                "state=\"in_use\"",
                l.conn_in_use,
            );
            o.val(
                "loadgate_pool_connections",
                "state=\"idle\"",
                (l.conn_open as f64 - l.conn_in_use).max(0.0),
            );
            o.one(
                "loadgate_pool_waiting",
                "gauge",
                "Due transactions waiting for a free connection (open loop; peak of the last interval).",
                l.queue_depth as f64,
            );
            o.one(
                "loadgate_pool_wait_seconds",
                "gauge",
                "Average wait of a due transaction for a connection over the last interval (open loop).",
                l.wait_avg_ms / 1e3,
            );
            o.one(
                "loadgate_pool_connect_seconds_max",
                "gauge",
                "Slowest connect of the last interval.",
                l.connect_max_ms / 1e3,
            );
        }
        o.one(
            "loadgate_pool_connects_total",
            "counter",
            "Connections opened (first connections and reconnects).",
            e.connects as f64,
        );
        o.one(
            "loadgate_pool_discarded_total",
            "counter",
            "Connections thrown away because they were lost.",
            e.discarded as f64,
        );
        for (kind, h) in [("corrected", &e.corrected), ("service", &e.service)] {
            let Some(h) = h else { continue };
            let name = "loadgate_latency_seconds";
            if kind == "corrected" {
                o.head(
                    name,
                    "summary",
                    "Transaction latency since the load started: corrected counts from the intended start (open loop), service from the send.",
                );
            }
            for q in QUANTILES {
                let v = if h.is_empty() {
                    f64::NAN
                } else {
                    h.value_at_quantile(*q) as f64 / 1e9
                };
                o.val(name, &format!("kind=\"{kind}\",quantile=\"{q}\""), v);
            }
            o.val(
                &format!("{name}_sum"),
                &format!("kind=\"{kind}\""),
                h.mean() * h.len() as f64 / 1e9,
            );
            o.val(
                &format!("{name}_count"),
                &format!("kind=\"{kind}\""),
                h.len() as f64,
            );
        }
    }
    if let Some(n) = st.pool_size {
        o.one(
            "loadgate_pool_size",
            "gauge",
            "Connections the run uses (one per worker).",
            n as f64,
        );
    }

    if let Some(s) = &st.server {
        o.one(
            "loadgate_server_samples_total",
            "counter",
            "Server samples taken by the monitor.",
            st.samples as f64,
        );
        let gauges: [(&str, &str, f64); 5] = [
            (
                "threads_connected",
                "Threads_connected.",
                s.threads_connected as f64,
            ),
            (
                "threads_running",
                "Threads_running.",
                s.threads_running as f64,
            ),
            (
                "max_connections",
                "max_connections.",
                s.max_connections as f64,
            ),
            (
                "max_used_connections",
                "Max_used_connections (since the server started).",
                s.max_used_connections as f64,
            ),
            (
                "connection_usage_ratio",
                "Threads_connected / max_connections.",
                s.connection_usage_pct.map_or(f64::NAN, |p| p / 100.0),
            ),
        ];
        for (n, help, v) in gauges {
            o.one(&format!("loadgate_server_{n}"), "gauge", help, v);
        }
        let ratios: [(&str, &str, Option<f64>); 3] = [
            (
                "buffer_pool_hit_ratio",
                "InnoDB buffer-pool hit ratio over the last sample interval.",
                s.buffer_pool_hit_pct.map(|p| p / 100.0),
            ),
            (
                "slow_query_ratio",
                "Slow_queries / Questions over the last sample interval.",
                s.slow_query_ratio_pct.map(|p| p / 100.0),
            ),
            (
                "avg_statement_seconds",
                "Average statement time over the last sample interval (performance_schema).",
                s.avg_statement_ms.map(|m| m / 1e3),
            ),
        ];
        for (n, help, v) in ratios {
            if let Some(v) = v {
                o.one(&format!("loadgate_server_{n}"), "gauge", help, v);
            }
        }
        let raw = |n: &str| st.server_raw.get(&n.to_ascii_lowercase()).copied();
        let counters: [(&str, &str, &str, f64); 9] = [
            ("questions_total", "Questions", "Questions.", 1.0),
            ("slow_queries_total", "Slow_queries", "Slow_queries.", 1.0),
            (
                "buffer_pool_read_requests_total",
                "Innodb_buffer_pool_read_requests",
                "Innodb_buffer_pool_read_requests.",
                1.0,
            ),
            (
                "buffer_pool_reads_total",
                "Innodb_buffer_pool_reads",
                "Innodb_buffer_pool_reads (from disk).",
                1.0,
            ),
            (
                "row_lock_waits_total",
                "Innodb_row_lock_waits",
                "Innodb_row_lock_waits.",
                1.0,
            ),
            (
                "row_lock_time_seconds_total",
                "Innodb_row_lock_time",
                "Innodb_row_lock_time.",
                1e-3,
            ),
            (
                "tmp_tables_total",
                "Created_tmp_tables",
                "Created_tmp_tables.",
                1.0,
            ),
            (
                "tmp_disk_tables_total",
                "Created_tmp_disk_tables",
                "Created_tmp_disk_tables.",
                1.0,
            ),
            (
                "data_written_bytes_total",
                "Innodb_data_written",
                "Innodb_data_written.",
                1.0,
            ),
        ];
        for (n, var, help, scale) in counters {
            if let Some(v) = raw(var) {
                o.one(
                    &format!("loadgate_server_{n}"),
                    "counter",
                    help,
                    v as f64 * scale,
                );
            }
        }
        if let Some(v) = raw("Innodb_os_log_written")
            .filter(|v| *v > 0)
            .or_else(|| raw("Innodb_lsn_current"))
            .or_else(|| raw("Innodb_redo_log_current_lsn"))
        {
            o.one(
                "loadgate_server_redo_written_bytes_total",
                "counter",
                "Innodb_os_log_written, or the LSN where that does not move.",
                v as f64,
            );
        }
        o.head(
            "loadgate_server_innodb_rows_total",
            "counter",
            "Innodb_rows_read/inserted/updated/deleted.",
        );
        for op in ["read", "inserted", "updated", "deleted"] {
            if let Some(v) = raw(&format!("Innodb_rows_{op}")) {
                o.val(
                    "loadgate_server_innodb_rows_total",
                    &format!("op=\"{op}\""),
                    v as f64,
                );
            }
        }
        o.head(
            "loadgate_server_commands_total",
            "counter",
            "Com_* counters with a non-zero value.",
        );
        for (k, v) in &st.server_raw {
            if let Some(cmd) = k.strip_prefix("com_") {
                if *v > 0 {
                    o.val(
                        "loadgate_server_commands_total",
                        &format!("command=\"{}\"", esc(cmd)),
                        *v as f64,
                    );
                }
            }
        }
    }
    o.head(
        "loadgate_alert",
        "gauge",
        "Thresholds currently crossed: 1 = warning, 2 = critical.",
    );
    for a in &st.alerts {
        o.val(
            "loadgate_alert",
            &format!(
                "metric=\"{}\",level=\"{}\"",
                esc(&a.metric),
                a.level.as_str()
            ),
            match a.level {
                crate::record::Level::Warning => 1.0,
                crate::record::Level::Critical => 2.0,
            },
        );
    }
    o.0
}

/// The HTTP server; stops when dropped.
pub struct Exporter {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Listen on `addr` (`HOST:PORT`; port 0 picks a free one) and serve `hub` until the returned
/// [`Exporter`] is dropped.
pub fn serve(addr: &str, hub: Arc<Hub>) -> Result<Exporter> {
    let parsed: SocketAddr = match addr.parse() {
        Ok(a) => a,
        Err(_) => std::net::ToSocketAddrs::to_socket_addrs(addr)
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                Error::Usage(format!(
                    "--metrics-addr `{addr}`: expected HOST:PORT, e.g. 127.0.0.1:9104"
                ))
            })?,
    };
    let std_listener = std::net::TcpListener::bind(parsed)
        .map_err(|e| Error::Usage(format!("--metrics-addr {addr}: cannot listen: {e}")))?;
    std_listener
        .set_nonblocking(true)
        .map_err(|e| Error::Other(anyhow::anyhow!("metrics listener: {e}")))?;
    let local = std_listener
        .local_addr()
        .map_err(|e| Error::Other(anyhow::anyhow!("metrics listener: {e}")))?;
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("loadgate-metrics".into())
        .spawn(move || {
            let Ok(rt) = crate::util::runtime()
            else {
                return;
            };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                    return;
                };
                loop {
                    tokio::select! {
                        _ = &mut stop_rx => break,
                        acc = listener.accept() => {
                            if let Ok((sock, _)) = acc {
                                let hub = hub.clone();
                                tokio::spawn(async move {
                                    let _ = tokio::time::timeout(Duration::from_secs(5), handle(sock, hub)).await;
                                });
                            }
                        }
                    }
                }
            });
        })
        .map_err(|e| Error::Other(anyhow::anyhow!("cannot start the metrics thread: {e}")))?;
    Ok(Exporter {
        addr: local,
        stop: Some(stop_tx),
        thread: Some(thread),
    })
}

async fn handle(mut sock: tokio::net::TcpStream, hub: Arc<Hub>) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf);
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = path.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => (
            "200 OK",
            "text/plain; version=0.0.4; charset=utf-8",
            hub.render(),
        ),
        ("GET" | "HEAD", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "loadgate: metrics at /metrics\n".to_string(),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found; try /metrics\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "GET only\n".to_string(),
        ),
    };
    let resp = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    sock.write_all(resp.as_bytes()).await?;
    if method != "HEAD" {
        sock.write_all(body.as_bytes()).await?;
    }
    sock.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::recorder::{new_histogram, record};
    use crate::record::{Level, QueryCounts};

    #[test]
    fn renders_engine_server_and_alert_metrics() {
        let hub = Hub::new();
        hub.set_info(&[("workload", "oltp \"x\"".into())]);
        let mut h = new_histogram();
        for ms in 1..=100 {
            record(&mut h, ms * 1_000_000);
        }
        let s = IntervalSample {
            transactions: 100,
            queries: QueryCounts {
                read: 1000,
                write: 10,
                other: 200,
            },
            tps: 100.0,
            conn_open: 4,
            conn_in_use: 3.5,
            ..IntervalSample::default()
        };
        hub.interval(&s, &h, &h);
        hub.interval(&s, &h, &h);
        let raw: BTreeMap<String, u64> =
            [("questions".to_string(), 5u64), ("com_select".into(), 3)]
                .into_iter()
                .collect();
        hub.server_sample(
            &raw,
            &ServerSample {
                threads_connected: 5,
                max_connections: 10,
                connection_usage_pct: Some(50.0),
                buffer_pool_hit_pct: Some(99.5),
                ..ServerSample::default()
            },
        );
        hub.set_alerts(&[Alert {
            metric: "connection_usage".into(),
            level: Level::Critical,
            value: 95.0,
            threshold: 90.0,
            message: String::new(),
        }]);
        let t = hub.render();
        for line in [
            "loadgate_info{workload=\"oltp \\\"x\\\"\",version=",
            "loadgate_transactions_total 200",
            "loadgate_queries_total{class=\"read\"} 2000",
            "loadgate_pool_connections{state=\"in_use\"} 3.5",
            "loadgate_pool_connections{state=\"idle\"} 0.5",
            "loadgate_latency_seconds{kind=\"corrected\",quantile=\"0.5\"} 0.05",
            "loadgate_latency_seconds_count{kind=\"service\"} 200",
            "loadgate_server_connection_usage_ratio 0.5",
            "loadgate_server_buffer_pool_hit_ratio 0.995",
            "loadgate_server_questions_total 5",
            "loadgate_server_commands_total{command=\"select\"} 3",
            "loadgate_alert{metric=\"connection_usage\",level=\"critical\"} 2",
            "# TYPE loadgate_latency_seconds summary",
        ] {
            assert!(t.contains(line), "missing `{line}` in:\n{t}");
        }
        // Every sample line belongs to a declared metric family.
        let families: Vec<&str> = t
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        for l in t.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            let base = name.trim_end_matches("_sum").trim_end_matches("_count");
            assert!(families.contains(&base), "undeclared metric `{name}`");
        }
    }

    #[test]
    fn serves_metrics_over_http() {
        let hub = Hub::new();
        hub.set_pool_size(7);
        let ex = serve("127.0.0.1:0", hub).unwrap();
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(ex.addr).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        assert!(body.starts_with("HTTP/1.1 200 OK\r\n"), "{body}");
        assert!(body.contains("text/plain; version=0.0.4"));
        assert!(body.contains("loadgate_pool_size 7"), "{body}");
        let mut s = std::net::TcpStream::connect(ex.addr).unwrap();
        s.write_all(b"GET /nope HTTP/1.1\r\n\r\n").unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        assert!(body.starts_with("HTTP/1.1 404"), "{body}");
        assert!(serve("not an address", Hub::new()).is_err());
    }
}
