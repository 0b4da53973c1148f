//! The embedded monitor: on its own connection, thread and tokio runtime (never on the engine's
//! client threads), it samples `SHOW GLOBAL STATUS` every interval and stores the deltas,
//! reads performance_schema's statement statistics before and after the load, counts the harness
//! user's idle connections once the load has stopped, and judges the result against thresholds.
//!
//! A monitor never fails a run: what it cannot read (performance_schema off or not granted, a
//! lost connection) becomes a note or one warning in its [`MonitorReport`], and the run goes on.
//!
//! - [`status`]: the status variables read and the metrics derived from two snapshots (pure).
//! - [`work`]: the work counters over a run's measured window, the monitor's own taken out.
//! - [`statements`]: per-statement numbers from performance_schema, column differences handled.
//! - [`alert`]: thresholds applied to measured values (pure).
//! - [`config`]: the `[monitor]` table, `--threshold` flags and their precedence.
//! - [`prometheus`]: the `--metrics-addr` endpoint.
//! - [`health`]: the one-shot `loadgate health` check.

pub mod alert;
pub mod config;
pub mod health;
pub mod prometheus;
pub mod statements;
pub mod status;
pub mod work;

use crate::record::{IdleCheck, MonitorReport, ServerSample, Thresholds};
use crate::target::Target;
use crate::workload::plan::Plan;
use mysql_async::prelude::Queryable;
use mysql_async::Conn;
use prometheus::Hub;
use statements::{Snap, Source};
use status::Snapshot;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The note given once when performance_schema is off.
pub const PS_OFF_NOTE: &str = "performance_schema is OFF on this server (MariaDB's default): the \
per-statement numbers are the client's and the average statement time is unavailable; start the \
server with --performance-schema=ON (a throwaway server: --server-arg=--performance-schema=ON) \
for the server's view";

/// How a run is monitored: the resolved settings and, with `--metrics-addr`, the hub the
/// Prometheus endpoint reads.
#[derive(Clone, Default)]
pub struct MonitorSetup {
    pub settings: config::MonitorSettings,
    pub hub: Option<Arc<Hub>>,
    /// The server's process when loadgate started it (a throwaway server): the work per
    /// transaction then includes the server's CPU time.
    pub server_pid: Option<u32>,
}

/// Options for a throwaway server: `--performance-schema=ON` also turns on the
/// `events_statements_current` consumer, without which MariaDB does not count prepared-statement
/// executions per statement (the throwaway server is loadgate's own, so this touches nobody).
pub fn throwaway_server_args(args: &[String]) -> Vec<String> {
    let norm = |a: &str| {
        a.trim_start_matches('-')
            .replace('_', "-")
            .to_ascii_lowercase()
    };
    let ps_on = args.iter().any(|a| {
        matches!(
            norm(a).as_str(),
            "performance-schema" | "performance-schema=on" | "performance-schema=1"
        )
    });
    let has_consumer = args
        .iter()
        .any(|a| norm(a).starts_with("performance-schema-consumer-events-statements-current"));
    let mut v = args.to_vec();
    if ps_on && !has_consumer {
        v.push("--performance-schema-consumer-events-statements-current=ON".into());
    }
    v
}

/// The pool over a whole run, from the engine's totals and its interval series.
pub fn pool_summary(
    size: u64,
    p: &crate::engine::recorder::PoolTotals,
    intervals: &[crate::record::IntervalSample],
) -> crate::record::PoolSummary {
    let busy: Vec<&crate::record::IntervalSample> =
        intervals.iter().filter(|i| i.conn_open > 0).collect();
    let n = busy.len().max(1) as f64;
    crate::record::PoolSummary {
        size,
        peak_open: intervals.iter().map(|i| i.conn_open).max().unwrap_or(0),
        avg_in_use: busy.iter().map(|i| i.conn_in_use).sum::<f64>() / n,
        avg_idle: busy
            .iter()
            .map(|i| (i.conn_open as f64 - i.conn_in_use).max(0.0))
            .sum::<f64>()
            / n,
        max_waiting: intervals.iter().map(|i| i.queue_depth).max().unwrap_or(0),
        connects: p.connects,
        connect_avg_ms: if p.connects > 0 {
            p.connect_ns_sum as f64 / p.connects as f64 / 1e6
        } else {
            0.0
        },
        connect_max_ms: p.connect_ns_max as f64 / 1e6,
        discarded: p.discarded,
        wait_avg_ms: if p.waits > 0 {
            p.wait_ns_sum as f64 / p.waits as f64 / 1e6
        } else {
            0.0
        },
        wait_max_ms: p.wait_ns_max as f64 / 1e6,
    }
}

/// What the monitor watches and how.
#[derive(Clone)]
pub struct MonitorOptions {
    pub target: Target,
    pub interval: Duration,
    pub connect_timeout: Duration,
    pub thresholds: Thresholds,
    /// The run's schema: its `BEGIN`/`COMMIT`/`ROLLBACK` digests are the run's.
    pub database: Option<String>,
    /// The workload's SQL texts and statement names (empty: no per-statement snapshot).
    pub statements: Vec<(String, String)>,
    /// The run's connection count, for the leak check (`None`: no check).
    pub pool_size: Option<u64>,
    pub hub: Option<Arc<Hub>>,
    /// Print a line per sample on stderr (`loadgate monitor`).
    pub print: bool,
    /// Only the work snapshots: no samples, no performance_schema (a run with `--no-monitor`).
    pub work_only: bool,
    /// The server's process, when loadgate started it: its CPU time counts in the work.
    pub server_pid: Option<u32>,
}

impl MonitorOptions {
    pub fn new(target: Target, interval: Duration, connect_timeout: Duration) -> Self {
        MonitorOptions {
            target,
            interval,
            connect_timeout,
            thresholds: Thresholds::default(),
            database: None,
            statements: Vec::new(),
            pool_size: None,
            hub: None,
            print: false,
            work_only: false,
            server_pid: None,
        }
    }
}

/// Every SQL text a plan prepares (each table of a family) with its statement's name.
pub fn plan_statements(plan: &Plan) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in &plan.txns {
        for step in &t.steps {
            let tables = plan.groups.get(step.group).map_or(1, |g| g.tables.len());
            for call in &step.calls {
                for i in 0..tables {
                    if let (Some(sql), Some(info)) = (
                        plan.sql.get(call.sql_base + i),
                        plan.statements.get(call.stmt),
                    ) {
                        let pair = (sql.clone(), info.name.clone());
                        if !out.contains(&pair) {
                            out.push(pair);
                        }
                    }
                }
            }
        }
    }
    out
}

enum Cmd {
    /// The measured window starts at this instant: take the first work snapshot then.
    WorkFrom(Instant),
    LastLook(std::sync::mpsc::Sender<()>),
    Stop,
}

/// The longest the monitor's look at the end of a run (the last sample, the processlist, the
/// performance_schema snapshots) may take, and the longest its last sample after a stop may:
/// a server that stopped answering must not hold the run's end. What was not read by then is
/// left out, with a warning.
pub const LAST_LOOK_MAX: Duration = Duration::from_secs(3);

/// How long a command (the last look, stop) lets a sample under way finish before dropping it
/// (and its connection).
const SAMPLE_FINISH: Duration = Duration::from_millis(500);

/// A running monitor. [`Monitor::stop`] returns what it saw.
pub struct Monitor {
    cmd: tokio::sync::mpsc::UnboundedSender<Cmd>,
    thread: Option<std::thread::JoinHandle<MonitorReport>>,
    failed: Option<MonitorReport>,
}

impl Monitor {
    /// Start monitoring. Returns once the baseline (first status snapshot, performance_schema
    /// "before" snapshot) is taken, so that it precedes the load; never fails — a monitor that
    /// cannot connect reports that as a warning.
    pub fn start(opts: MonitorOptions) -> Monitor {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let wait = opts.connect_timeout * 3 + Duration::from_secs(10);
        let fallback = MonitorReport {
            target: opts.target.redacted(),
            interval_s: opts.interval.as_secs_f64(),
            thresholds: opts.thresholds,
            performance_schema: "unknown".into(),
            ..MonitorReport::default()
        };
        let spawned = std::thread::Builder::new()
            .name("loadgate-monitor".into())
            .spawn(move || {
                let rt = match crate::util::runtime() {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(());
                        let mut r = MonitorReport::default();
                        r.warnings.push(format!("the monitor could not start: {e}"));
                        return r;
                    }
                };
                rt.block_on(Session::new(opts).run(rx, ready_tx))
            });
        match spawned {
            Ok(t) => {
                let _ = ready_rx.recv_timeout(wait);
                Monitor {
                    cmd: tx,
                    thread: Some(t),
                    failed: None,
                }
            }
            Err(e) => {
                let mut r = fallback;
                r.warnings.push(format!("the monitor could not start: {e}"));
                Monitor {
                    cmd: tx,
                    thread: None,
                    failed: Some(r),
                }
            }
        }
    }

    /// A hook for [`crate::engine::Hooks::before_close`]: the last look at the server while the
    /// workers' connections are still open (per-statement numbers, idle connections).
    pub fn last_look_hook(&self) -> Box<dyn FnOnce() + Send> {
        let tx = self.cmd.clone();
        Box::new(move || {
            let (reply, done) = std::sync::mpsc::channel();
            if tx.send(Cmd::LastLook(reply)).is_ok() {
                let _ = done.recv_timeout(SAMPLE_FINISH + LAST_LOOK_MAX + Duration::from_secs(1));
            }
        })
    }

    /// A hook for [`crate::engine::Hooks::measure_start`]: the first work snapshot at the end
    /// of the warm-up.
    pub fn measure_start_hook(&self) -> Box<dyn FnOnce(Instant) + Send> {
        let tx = self.cmd.clone();
        Box::new(move |at| {
            let _ = tx.send(Cmd::WorkFrom(at));
        })
    }

    /// Take a last sample, stop, and return the report (thresholds not yet applied to the
    /// client's side; see [`finish_run_report`]).
    pub fn stop(mut self) -> MonitorReport {
        let _ = self.cmd.send(Cmd::Stop);
        match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| {
                let mut r = MonitorReport::default();
                r.warnings.push("the monitor thread panicked".into());
                r
            }),
            None => self.failed.take().unwrap_or_default(),
        }
    }
}

/// Adds the run's side to a monitor report: the pool, the client's per-statement numbers where
/// the server's are missing, and the alerts over the whole window.
pub fn finish_run_report(
    r: &mut MonitorReport,
    pool: Option<crate::record::PoolSummary>,
    summary: Option<&crate::record::Summary>,
) {
    r.pool = pool;
    if let Some(s) = summary {
        for st in &s.statements {
            if r.statements.iter().any(|x| x.name == st.name) {
                continue;
            }
            r.statements.push(crate::record::StatementStat {
                name: st.name.clone(),
                sql: String::new(),
                source: "client".into(),
                digest: None,
                count: st.count,
                total_ms: st.service.avg * st.count as f64,
                avg_ms: st.service.avg,
                max_ms: st.service.max,
                errors: Some(st.errors),
                ..Default::default()
            });
        }
        if r.statements_source.is_empty() {
            r.statements_source = "client".into();
        }
    }
    let measured = r
        .window
        .as_ref()
        .map(alert::Measured::from_server)
        .unwrap_or_default()
        .with_client(r.pool.as_ref(), summary);
    r.alerts = alert::evaluate(&r.thresholds, &measured);
    if let Some(a) = r.idle_connections.as_ref().and_then(alert::idle_leak) {
        r.alerts.push(a);
    }
}

/// The live line of `loadgate monitor`.
pub fn live_line(s: &ServerSample) -> String {
    let pct = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}%"));
    let c = |k: &str| s.commands.get(k).copied().unwrap_or(0) as f64 / s.interval_s.max(1e-9);
    let mb = |b: u64| b as f64 / 1e6 / s.interval_s.max(1e-9);
    format!(
        "[ {:>4.0}s ] conn {}/{} ({}) run {} | qps {:.0} (sel {:.0} ins {:.0} upd {:.0} del {:.0} exec {:.0}) | slow {} | stmt {} | bp hit {} | lock waits {} ({} ms) | tmp disk {} | rows r/i/u/d {}/{}/{}/{} | data {:.2} MB/s redo {:.2} MB/s",
        s.t,
        s.threads_connected,
        s.max_connections,
        pct(s.connection_usage_pct),
        s.threads_running,
        s.qps,
        c("select"),
        c("insert"),
        c("update"),
        c("delete"),
        c("stmt_execute"),
        pct(s.slow_query_ratio_pct),
        s.avg_statement_ms
            .map_or("-".to_string(), |m| format!("{m:.3} ms")),
        pct(s.buffer_pool_hit_pct),
        s.row_lock_waits,
        s.row_lock_time_ms,
        s.tmp_disk_tables,
        s.rows_read,
        s.rows_inserted,
        s.rows_updated,
        s.rows_deleted,
        mb(s.data_written_bytes),
        mb(s.redo_written_bytes),
    )
}

/// Text of each cell, NULL as `None` (the text protocol returns everything as bytes).
fn cells(row: &mysql_async::Row) -> Vec<Option<String>> {
    (0..row.len())
        .map(|i| match row.as_ref(i) {
            None | Some(mysql_async::Value::NULL) => None,
            Some(mysql_async::Value::Bytes(b)) => Some(String::from_utf8_lossy(b).into_owned()),
            Some(v) => Some(v.as_sql(true).trim_matches('\'').to_string()),
        })
        .collect()
}

fn is_access_denied(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Server(s) if matches!(s.code, 1044 | 1142 | 1143 | 1227 | 1045))
}

fn short(e: &mysql_async::Error) -> String {
    match e {
        mysql_async::Error::Server(s) => format!("error {}: {}", s.code, s.message),
        other => other.to_string(),
    }
}

/// What performance_schema offers this account on this server.
#[derive(Default)]
struct Ps {
    /// Statement events readable (avg statement time).
    events: bool,
    prepared_cols: Vec<String>,
    digest_cols: Vec<String>,
    /// `prepared_statements_instances` is usable (consumer on, columns present).
    prepared: bool,
    digest: bool,
}

struct Session {
    opts: MonitorOptions,
    conn: Option<Conn>,
    own: u64,
    start: Instant,
    report: MonitorReport,
    max_connections: u64,
    ps: Ps,
    first: Option<Snapshot>,
    last: Option<Snapshot>,
    before_prepared: Snap,
    before_digest: Snap,
    lost_warned: bool,
    /// The last look happened: the window ends there.
    looked: bool,
    /// When to take the first work snapshot (the end of the warm-up).
    work_at: Option<Instant>,
    work_start: Option<work::WorkSnapshot>,
    work_end: Option<work::WorkSnapshot>,
    /// What this connection adds to the work counters, measured before the load.
    own_cost: Option<work::OwnCost>,
    /// Samples taken so far.
    samples: u64,
}

impl Session {
    fn new(opts: MonitorOptions) -> Self {
        let report = MonitorReport {
            started_at_ms: crate::util::now_ms(),
            target: opts.target.redacted(),
            interval_s: opts.interval.as_secs_f64(),
            thresholds: opts.thresholds,
            performance_schema: "unknown".into(),
            ..MonitorReport::default()
        };
        Session {
            opts,
            conn: None,
            own: 0,
            start: Instant::now(),
            report,
            max_connections: 0,
            ps: Ps::default(),
            first: None,
            last: None,
            before_prepared: Snap::new(),
            before_digest: Snap::new(),
            lost_warned: false,
            looked: false,
            work_at: None,
            work_start: None,
            work_end: None,
            own_cost: None,
            samples: 0,
        }
    }

    async fn connect(&mut self) -> Result<(), String> {
        let t = &self.opts.target;
        let c = t
            .connect(t.opts(None, 4), self.opts.connect_timeout)
            .await
            .map_err(|e| e.to_string())?;
        self.conn = Some(c);
        Ok(())
    }

    async fn q(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>, mysql_async::Error> {
        let Some(c) = self.conn.as_mut() else {
            return Err(mysql_async::Error::Other("not connected".into()));
        };
        self.own += 1;
        // A stalled server must not stall the run's end: give up, drop the connection, and
        // let the next sample reconnect.
        let limit = self.opts.connect_timeout.max(Duration::from_secs(2));
        match tokio::time::timeout(limit, c.query::<mysql_async::Row, _>(sql)).await {
            Ok(rows) => Ok(rows?.iter().map(cells).collect()),
            Err(_) => {
                self.conn = None;
                Err(mysql_async::Error::Other(
                    format!("no answer within {} s", limit.as_secs()).into(),
                ))
            }
        }
    }

    async fn run(
        mut self,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<Cmd>,
        ready: std::sync::mpsc::Sender<()>,
    ) -> MonitorReport {
        if let Err(e) = self.connect().await {
            self.report.warnings.push(format!(
                "the monitor could not connect, so there are no server metrics: {e}"
            ));
            let _ = ready.send(());
            while let Some(c) = rx.recv().await {
                match c {
                    Cmd::WorkFrom(_) => {}
                    Cmd::LastLook(reply) => {
                        let _ = reply.send(());
                    }
                    Cmd::Stop => break,
                }
            }
            self.report.ended_at_ms = Some(crate::util::now_ms());
            return self.report;
        }
        if !self.opts.work_only {
            self.baseline().await;
        }
        self.measure_own_cost().await;
        let _ = ready.send(());
        let interval = self.opts.interval.max(Duration::from_millis(10));
        let mut next = Instant::now() + interval;
        loop {
            let work_at = self.work_at;
            let cmd = tokio::select! {
                c = rx.recv() => c,
                _ = tokio::time::sleep_until(work_at.unwrap_or(next).into()), if work_at.is_some() => {
                    self.work_at = None;
                    self.work_start = self.work_snapshot(true).await;
                    continue;
                }
                _ = tokio::time::sleep_until(next.into()), if !self.opts.work_only => {
                    next += interval;
                    let now = Instant::now();
                    while next <= now {
                        next += interval;
                    }
                    // A command waits for a sample the server is slow to answer only briefly.
                    let (c, finished) = {
                        let sample = self.sample();
                        tokio::pin!(sample);
                        tokio::select! {
                            _ = &mut sample => continue,
                            c = rx.recv() => {
                                let t = tokio::time::timeout(SAMPLE_FINISH, &mut sample).await;
                                (c, t.is_ok())
                            }
                        }
                    };
                    if !finished {
                        self.conn = None;
                    }
                    c
                }
            };
            match cmd {
                Some(Cmd::WorkFrom(at)) => self.work_at = Some(at),
                Some(Cmd::LastLook(reply)) => {
                    self.work_end_snapshot().await;
                    if !self.opts.work_only {
                        self.bounded_last_look().await;
                    }
                    let _ = reply.send(());
                }
                Some(Cmd::Stop) | None => break,
            }
        }
        // The last, partial interval — unless the last look ended the window already. At least
        // 50 ms long: a run that ended at once (its workers refused with `Too many
        // connections`) still moved the gauges the window reports.
        if let Some(l) = self
            .last
            .as_ref()
            .filter(|_| !self.looked && !self.opts.work_only)
        {
            let since = self.start.elapsed().as_secs_f64() - l.t;
            if since < 0.05 {
                tokio::time::sleep(Duration::from_secs_f64(0.05 - since)).await;
            }
        }
        if !self.looked
            && !self.opts.work_only
            && tokio::time::timeout(LAST_LOOK_MAX, self.sample())
                .await
                .is_err()
        {
            self.conn = None;
            self.report.warnings.push(format!(
                "the server did not answer the monitor's last sample within {} s",
                LAST_LOOK_MAX.as_secs()
            ));
        }
        self.finish();
        if let Some(c) = self.conn.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), c.disconnect()).await;
        }
        self.report
    }

    async fn baseline(&mut self) {
        if let Some(c) = self.conn.as_mut() {
            self.own += 1;
            if let Ok(info) = crate::testbed::server_info(c, &self.opts.target).await {
                self.report.server = info;
            }
        }
        let vars = self
            .q("SHOW GLOBAL VARIABLES WHERE Variable_name IN ('max_connections', 'performance_schema')")
            .await
            .unwrap_or_default();
        let var = |n: &str| {
            vars.iter()
                .find(|r| {
                    r.first()
                        .and_then(|c| c.as_deref())
                        .is_some_and(|k| k.eq_ignore_ascii_case(n))
                })
                .and_then(|r| r.get(1).cloned().flatten())
        };
        self.max_connections = var("max_connections")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let ps_on =
            var("performance_schema").is_some_and(|v| v.eq_ignore_ascii_case("ON") || v == "1");
        if ps_on {
            self.probe_ps().await;
        } else {
            self.report.performance_schema = "off".into();
            self.report.notes.push(PS_OFF_NOTE.into());
        }
        if !self.opts.statements.is_empty() {
            if self.ps.prepared {
                self.before_prepared = self.ps_snapshot(Source::Prepared).await.unwrap_or_default();
            }
            if self.ps.digest {
                self.before_digest = self.ps_snapshot(Source::Digest).await.unwrap_or_default();
            }
        }
        self.start = Instant::now();
        match self.snapshot().await {
            Ok(s) => {
                if let Some(h) = &self.opts.hub {
                    // Gauges as they are now; no interval yet, so every delta is zero.
                    h.server_sample(&s.values, &status::derive(&s, &s, self.max_connections));
                }
                self.first = Some(s.clone());
                self.last = Some(s);
            }
            Err(e) => self.report.warnings.push(format!(
                "the monitor cannot read SHOW GLOBAL STATUS ({}), so there are no server metrics",
                short(&e)
            )),
        }
    }

    /// Whether statement events, `prepared_statements_instances` and the digest table can be
    /// read, and with which columns. One warning for an account that may not.
    async fn probe_ps(&mut self) {
        let probe = self
            .q("SELECT COUNT_STAR FROM performance_schema.events_statements_summary_global_by_event_name LIMIT 1")
            .await;
        match probe {
            Err(e) if is_access_denied(&e) => {
                self.report.performance_schema = "no_access".into();
                self.report.warnings.push(format!(
                    "the account `{}` may not read performance_schema ({}): the average statement time and the server's per-statement numbers are unavailable (GRANT SELECT ON performance_schema.* TO it for them); the per-statement numbers shown are the client's. Everything else was measured",
                    self.opts.target.user,
                    short(&e)
                ));
                return;
            }
            Err(e) => {
                self.report.performance_schema = "unknown".into();
                self.report.warnings.push(format!(
                    "performance_schema could not be read: {}",
                    short(&e)
                ));
                return;
            }
            Ok(_) => {}
        }
        self.report.performance_schema = "on".into();
        self.ps.events = true;
        if self.opts.statements.is_empty() {
            return;
        }
        let cols = self
            .q("SELECT TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'performance_schema' AND TABLE_NAME IN ('prepared_statements_instances', 'events_statements_summary_by_digest')")
            .await
            .unwrap_or_default();
        for r in cols {
            let (Some(Some(t)), Some(Some(c))) = (r.first(), r.get(1)) else {
                continue;
            };
            if t.eq_ignore_ascii_case(statements::PREPARED_TABLE) {
                self.ps.prepared_cols.push(c.to_ascii_uppercase());
            } else {
                self.ps.digest_cols.push(c.to_ascii_uppercase());
            }
        }
        let consumers = self
            .q("SELECT NAME, ENABLED FROM performance_schema.setup_consumers")
            .await
            .unwrap_or_default();
        let on = |n: &str| {
            consumers.iter().any(|r| {
                r.first().cloned().flatten().as_deref() == Some(n)
                    && r.get(1)
                        .cloned()
                        .flatten()
                        .is_some_and(|v| v.eq_ignore_ascii_case("YES"))
            })
        };
        let base = on("global_instrumentation") && on("thread_instrumentation");
        let missing = statements::missing_required(Source::Prepared, &self.ps.prepared_cols);
        self.ps.prepared = base && on("events_statements_current") && missing.is_empty();
        self.ps.digest = on("global_instrumentation")
            && on("statements_digest")
            && statements::missing_required(Source::Digest, &self.ps.digest_cols).is_empty();
        if !self.ps.prepared {
            let why = if !missing.is_empty() {
                format!(
                    "performance_schema.prepared_statements_instances lacks {} on this server",
                    missing.join(", ")
                )
            } else {
                "the performance_schema consumer `events_statements_current` is off (MariaDB's default), and without it the server does not count prepared-statement executions; turn it on with --performance-schema-consumer-events-statements-current=ON or UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME = 'events_statements_current'".to_string()
            };
            self.report.notes.push(format!(
                "the workload's statements are the client's numbers: {why}"
            ));
        }
    }

    async fn ps_snapshot(&mut self, src: Source) -> Result<Snap, mysql_async::Error> {
        let cols = match src {
            Source::Prepared => self.ps.prepared_cols.clone(),
            Source::Digest => self.ps.digest_cols.clone(),
        };
        let q = statements::query(src, &cols, self.opts.database.as_deref());
        let rows = self.q(&q).await?;
        Ok(rows
            .iter()
            .filter_map(|r| statements::parse_row(r))
            .map(|(k, mut r)| {
                if src == Source::Digest {
                    r.digest = Some(k.1.clone());
                }
                (k, r)
            })
            .collect())
    }

    async fn snapshot(&mut self) -> Result<Snapshot, mysql_async::Error> {
        let events = if self.ps.events {
            let rows = self
                .q("SELECT SUM(COUNT_STAR), SUM(SUM_TIMER_WAIT) FROM performance_schema.events_statements_summary_global_by_event_name WHERE EVENT_NAME LIKE 'statement/sql/%' OR EVENT_NAME = 'statement/com/Execute'")
                .await?;
            let num = |i: usize| -> Option<u64> {
                let s = rows.first()?.get(i)?.as_deref()?;
                s.parse::<u128>()
                    .ok()
                    .map(|v| v.min(u64::MAX as u128) as u64)
            };
            Some((num(0).unwrap_or(0), num(1).unwrap_or(0)))
        } else {
            None
        };
        let rows = self.q(&status::status_query()).await?;
        let values = status::parse_rows(rows.into_iter().filter_map(|r| {
            let mut it = r.into_iter();
            Some((it.next()??, it.next()??))
        }));
        Ok(Snapshot {
            t: self.start.elapsed().as_secs_f64(),
            at_ms: crate::util::now_ms(),
            values,
            monitor_queries: self.own,
            statement_events: events,
        })
    }

    async fn sample(&mut self) {
        if self.conn.is_none() && self.connect().await.is_err() {
            return;
        }
        match self.snapshot().await {
            Ok(s) => {
                self.samples += 1;
                if let Some(prev) = &self.last {
                    let d = status::derive(prev, &s, self.max_connections);
                    if let Some(h) = &self.opts.hub {
                        h.server_sample(&s.values, &d);
                        h.set_alerts(&alert::evaluate(
                            &self.opts.thresholds,
                            &alert::Measured::from_server(&d),
                        ));
                    }
                    if self.opts.print {
                        eprintln!("{}", live_line(&d));
                    }
                    self.report.samples.push(d);
                }
                if self.first.is_none() {
                    self.first = Some(s.clone());
                }
                self.last = Some(s);
            }
            Err(e) => {
                self.conn = None;
                if !self.lost_warned {
                    self.lost_warned = true;
                    self.report.warnings.push(format!(
                        "the monitor lost its connection at {:.1} s ({}); samples are missing until it reconnected",
                        self.start.elapsed().as_secs_f64(),
                        short(&e)
                    ));
                }
            }
        }
    }

    /// [`Session::last_look`] within [`LAST_LOOK_MAX`]; what it could not read by then is left
    /// out, with a warning.
    async fn bounded_last_look(&mut self) {
        if tokio::time::timeout(LAST_LOOK_MAX, self.last_look())
            .await
            .is_err()
        {
            self.looked = true;
            self.conn = None;
            self.report.warnings.push(format!(
                "the server did not answer the monitor's look at the end of the run within {} s: \
                 the last sample, idle connections or per-statement numbers may be missing",
                LAST_LOOK_MAX.as_secs()
            ));
        }
    }

    /// After the load, before the workers' connections close. The window ends here: MariaDB
    /// folds a closing connection's counters into the global status only after it has left the
    /// thread list, so a snapshot taken while connections close can miss some of their work.
    async fn last_look(&mut self) {
        self.sample().await;
        self.looked = true;
        if self.conn.is_none() && self.connect().await.is_err() {
            return;
        }
        if let Some(pool_size) = self.opts.pool_size {
            let own_id = self.conn.as_ref().map(|c| c.id().to_string());
            if let Ok(rows) = self.q("SHOW FULL PROCESSLIST").await {
                let user = self.opts.target.user.clone();
                let mine: Vec<&Vec<Option<String>>> = rows
                    .iter()
                    .filter(|r| r.get(1).cloned().flatten().as_deref() == Some(user.as_str()))
                    .filter(|r| r.first().cloned().flatten() != own_id)
                    .collect();
                let idle = mine
                    .iter()
                    .filter(|r| {
                        r.get(4)
                            .cloned()
                            .flatten()
                            .is_some_and(|c| c.eq_ignore_ascii_case("Sleep"))
                    })
                    .count() as u64;
                self.report.idle_connections = Some(IdleCheck {
                    user,
                    idle,
                    total: mine.len() as u64,
                    pool_size,
                });
            }
        }
        if self.opts.statements.is_empty() {
            return;
        }
        let prepared = if self.ps.prepared {
            match self.ps_snapshot(Source::Prepared).await {
                Ok(after) => statements::deltas(&self.before_prepared, &after),
                Err(_) => Vec::new(),
            }
        } else {
            Vec::new()
        };
        let digests = if self.ps.digest {
            match self.ps_snapshot(Source::Digest).await {
                Ok(after) => statements::deltas(&self.before_digest, &after),
                Err(_) => Vec::new(),
            }
        } else {
            Vec::new()
        };
        self.report.statements =
            statements::statement_stats(&prepared, &digests, &self.opts.statements);
        if self.ps.prepared {
            self.report.statements_source = "performance_schema".into();
        }
    }

    /// The work counters and CPU clocks now, with the samples taken so far; `None` when the
    /// server cannot be read (see [`work`]).
    /// One work snapshot; `start` for the one at the end of the warm-up. The performance_schema
    /// reading is taken outside the window (before the status reading at the start, after it
    /// at the end), so its own reads do not count in the window's status counters.
    async fn work_snapshot(&mut self, start: bool) -> Option<work::WorkSnapshot> {
        if self.conn.is_none() && self.connect().await.is_err() {
            return None;
        }
        let mut ps_rows_examined = None;
        if start {
            ps_rows_examined = self.ps_rows_examined().await;
        }
        let client_cpu_s = work::client_cpu_s();
        let server_cpu_s = self.opts.server_pid.and_then(work::process_cpu_s);
        let t = self.start.elapsed().as_secs_f64();
        let global = self.work_counters().await?;
        if !start {
            ps_rows_examined = self.ps_rows_examined().await;
        }
        Some(work::WorkSnapshot {
            t,
            global,
            samples: self.samples,
            client_cpu_s,
            server_cpu_s,
            ps_rows_examined,
        })
    }

    /// Rows examined by prepared statements so far, by side, per performance_schema (`None`
    /// when its prepared-statement table is not usable).
    async fn ps_rows_examined(&mut self) -> Option<std::collections::BTreeMap<String, u64>> {
        if !self.ps.prepared {
            return None;
        }
        let rows = self.q(work::PS_ROWS_EXAMINED).await.ok()?;
        rows.into_iter()
            .map(|r| {
                let side = r.first().cloned().flatten().unwrap_or_default();
                let n = r.get(1).cloned().flatten()?.parse().ok()?;
                Some((side, n))
            })
            .collect()
    }

    /// One reading of the work counters.
    async fn work_counters(&mut self) -> Option<status::Values> {
        let rows = self.q(&work::query()).await.ok()?;
        Some(work::values(
            rows.into_iter()
                .filter_map(|r| {
                    let mut it = r.into_iter();
                    Some((it.next()??, it.next()??))
                })
                .collect(),
        ))
    }

    /// What a counter reading and a sample of this connection add to the work counters,
    /// measured before the load starts (see [`work`]): three tries of reading, reading, sample,
    /// reading.
    async fn measure_own_cost(&mut self) {
        let mut tries = Vec::new();
        for _ in 0..3 {
            let Some(a) = self.work_counters().await else {
                return;
            };
            let Some(b) = self.work_counters().await else {
                return;
            };
            if self.snapshot().await.is_err() {
                return;
            }
            let Some(c) = self.work_counters().await else {
                return;
            };
            tries.push((a, b, c));
        }
        self.own_cost = work::own_cost(&tries);
    }

    /// The last work snapshot, when the first was taken, within [`LAST_LOOK_MAX`].
    async fn work_end_snapshot(&mut self) {
        if self.work_start.is_none() {
            return;
        }
        match tokio::time::timeout(LAST_LOOK_MAX, self.work_snapshot(false)).await {
            Ok(s) => self.work_end = s,
            Err(_) => self.conn = None,
        }
    }

    fn finish(&mut self) {
        if let (Some(a), Some(b)) = (&self.work_start, &self.work_end) {
            self.report.work = Some(work::derive(a, b, 0, self.own_cost.as_ref()));
        }
        if let (Some(f), Some(l)) = (&self.first, &self.last) {
            let w = status::window(f, l, &self.report.samples, self.max_connections);
            self.report.monitor_queries = w.monitor_queries;
            let lost_ps = l
                .get("Performance_schema_prepared_statements_lost")
                .unwrap_or(0)
                .saturating_sub(
                    f.get("Performance_schema_prepared_statements_lost")
                        .unwrap_or(0),
                );
            if lost_ps > 0 && self.ps.prepared {
                self.report.notes.push(format!(
                    "performance_schema could not track {lost_ps} prepared statements (Performance_schema_prepared_statements_lost): the server's per-statement counts are low; raise performance_schema_max_prepared_statements_instances"
                ));
            }
            self.report.window = Some(w);
        }
        self.report.ended_at_ms = Some(crate::util::now_ms());
    }
}
