//! `loadgate health`: one check of a server against the monitor's thresholds, for a readiness
//! or liveness probe. Exit codes follow the Nagios plugin convention (also what Consul script
//! checks expect): 0 ok, 1 warning, 2 critical (an unreachable server or refused login is
//! critical), 3 unknown (the check itself could not run).
//!
//! By default the ratios are over the server's lifetime (counters since startup, one round of
//! queries, fast enough for a probe); `--window 5s` measures an interval instead.

use super::{alert, config, status, MonitorOptions, Session};
use crate::record::{Level, ServerInfo, Thresholds};
use crate::target::Target;
use serde::Serialize;
use std::time::Duration;

pub const OK: u8 = 0;
pub const WARNING: u8 = 1;
pub const CRITICAL: u8 = 2;
pub const UNKNOWN: u8 = 3;

/// One metric's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub metric: String,
    /// `None`: could not be measured (see `detail`).
    pub value: Option<f64>,
    pub unit: &'static str,
    /// `ok`, `warning`, `critical` or `unavailable`.
    pub status: &'static str,
    pub warning: Option<f64>,
    pub critical: Option<f64>,
    pub detail: String,
}

/// The whole answer (`--json` prints it as is).
#[derive(Debug, Clone, Serialize)]
pub struct HealthReport {
    /// `ok`, `warning` or `critical`.
    pub status: &'static str,
    pub target: String,
    pub server: Option<ServerInfo>,
    /// Seconds the ratios cover: the window, or the server's uptime.
    pub over_s: f64,
    pub checks: Vec<Check>,
    /// Why the server could not be checked (it counts as critical).
    pub error: Option<String>,
    pub notes: Vec<String>,
}

impl HealthReport {
    pub fn exit_code(&self) -> u8 {
        match self.status {
            "ok" => OK,
            "warning" => WARNING,
            _ => CRITICAL,
        }
    }
}

/// Check `target` once.
pub async fn check(
    target: &Target,
    timeout: Duration,
    thresholds: &Thresholds,
    window: Duration,
) -> HealthReport {
    let mut opts = MonitorOptions::new(target.clone(), window, timeout);
    opts.thresholds = *thresholds;
    let mut s = Session::new(opts);
    let mut rep = HealthReport {
        status: "critical",
        target: target.redacted(),
        server: None,
        over_s: 0.0,
        checks: Vec::new(),
        error: None,
        notes: Vec::new(),
    };
    if let Err(e) = s.connect().await {
        rep.error = Some(e);
        return rep;
    }
    s.baseline().await;
    rep.server = Some(s.report.server.clone());
    rep.notes.extend(s.report.warnings.iter().cloned());
    let Some(first) = s.first.clone() else {
        rep.error = Some("SHOW GLOBAL STATUS could not be read".into());
        return rep;
    };
    let sample = if window.is_zero() {
        // Since startup: from nothing to now.
        let mut now = first.clone();
        now.t = first.get("Uptime").unwrap_or(0) as f64;
        let zero = status::Snapshot {
            statement_events: first.statement_events.map(|_| (0, 0)),
            monitor_queries: 0,
            ..status::Snapshot::default()
        };
        let mut d = status::derive(&zero, &now, s.max_connections);
        // The check's own statements are a rounding error over a lifetime; keep qps honest.
        d.monitor_queries = 0;
        d
    } else {
        tokio::time::sleep(window).await;
        s.sample().await;
        match s.report.samples.last() {
            Some(d) => d.clone(),
            None => {
                rep.error = Some("the second status snapshot failed".into());
                return rep;
            }
        }
    };
    if let Some(c) = s.conn.take() {
        let _ = tokio::time::timeout(Duration::from_secs(1), c.disconnect()).await;
    }
    rep.over_s = sample.interval_s;
    let m = alert::Measured::from_server(&sample);
    let mut worst: Option<Level> = None;
    for metric in [
        "connection_usage",
        "slow_query_ratio",
        "avg_statement_time",
        "buffer_pool_hit_ratio",
    ] {
        let th = config::threshold(thresholds, metric).unwrap_or_default();
        let value = m.get(metric);
        let level = value.and_then(|v| alert::level_of(metric, v, th.warning, th.critical));
        if let Some((l, _)) = level {
            worst = worst.max(Some(l));
        }
        let detail = match metric {
            "connection_usage" => format!(
                "{} of max_connections {} connected (Max_used_connections {})",
                sample.threads_connected, sample.max_connections, sample.max_used_connections
            ),
            "avg_statement_time" if value.is_none() => match s.report.performance_schema.as_str() {
                "off" => "performance_schema is off".into(),
                "no_access" => "this account may not read performance_schema".into(),
                _ => "no statements timed".into(),
            },
            "avg_statement_time" => format!(
                "over {} statements (performance_schema)",
                sample.statements_timed.unwrap_or(0)
            ),
            "slow_query_ratio" => format!(
                "{} slow of {} statements{}",
                sample.slow_queries,
                sample.questions,
                if value.is_none() {
                    format!(
                        " (fewer than {} statements: not judged)",
                        alert::MIN_QUESTIONS
                    )
                } else {
                    String::new()
                }
            ),
            _ if value.is_none() => format!(
                "{} page reads from disk of {} requests (fewer than {}: not judged)",
                sample.buffer_pool_reads,
                sample.buffer_pool_read_requests,
                alert::MIN_PAGE_REQUESTS
            ),
            _ => format!(
                "{} of {} page reads from disk",
                sample.buffer_pool_reads, sample.buffer_pool_read_requests
            ),
        };
        rep.checks.push(Check {
            metric: metric.into(),
            value,
            unit: if config::unit_of(metric) == Some(config::Unit::Millis) {
                "ms"
            } else {
                "%"
            },
            status: match (value, level) {
                (None, _) => "unavailable",
                (_, None) => "ok",
                (_, Some((l, _))) => l.as_str(),
            },
            warning: th.warning,
            critical: th.critical,
            detail,
        });
    }
    rep.status = worst.map_or("ok", |l| l.as_str());
    rep
}
