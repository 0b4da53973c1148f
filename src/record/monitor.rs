//! What the embedded monitor measured: server samples, per-statement server numbers, the pool,
//! thresholds and the alerts they raised. Part of the run record (`RunRecord::monitor`) and, for
//! `loadgate monitor`, stored on its own as a monitor session.

use super::ServerInfo;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Alert severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Warning,
    Critical,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Warning => "warning",
            Level::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        match s.trim().to_ascii_lowercase().as_str() {
            "warning" | "warn" => Some(Level::Warning),
            "critical" | "crit" => Some(Level::Critical),
            _ => None,
        }
    }
}

/// Warning and critical levels of one metric; `None` disables that level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Threshold {
    pub warning: Option<f64>,
    pub critical: Option<f64>,
}

impl Threshold {
    pub const fn new(warning: f64, critical: f64) -> Self {
        Threshold {
            warning: Some(warning),
            critical: Some(critical),
        }
    }
}

/// The thresholds a run or a monitor session was judged by (stored with it).
///
/// Percentages are 0–100; times are milliseconds. The buffer-pool hit ratio alerts when it falls
/// *below* its levels; every other metric when it reaches or exceeds them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Peak `Threads_connected` / `max_connections`, %.
    pub connection_usage: Threshold,
    /// `Slow_queries` / `Questions` over the window, %.
    pub slow_query_ratio: Threshold,
    /// Average statement time over the window (performance_schema), ms.
    pub avg_statement_time: Threshold,
    /// InnoDB buffer-pool hit ratio over the window, % (alerts below).
    pub buffer_pool_hit_ratio: Threshold,
    /// Average time a due transaction waited for a free connection (open loop), ms.
    pub pool_wait: Threshold,
    /// Errors per transaction attempt (errors / (transactions + errors)), %.
    pub error_rate: Threshold,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            connection_usage: Threshold::new(75.0, 90.0),
            slow_query_ratio: Threshold::new(10.0, 20.0),
            avg_statement_time: Threshold::new(1000.0, 2000.0),
            buffer_pool_hit_ratio: Threshold::new(95.0, 90.0),
            pool_wait: Threshold::new(10.0, 100.0),
            error_rate: Threshold::new(1.0, 5.0),
        }
    }
}

/// A threshold crossed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `connection_usage`, `slow_query_ratio`, `avg_statement_time`, `buffer_pool_hit_ratio`,
    /// `pool_wait`, `error_rate` or `idle_connections` (a connection leak).
    pub metric: String,
    pub level: Level,
    /// The measured value, in the metric's unit.
    pub value: f64,
    /// The level it crossed.
    pub threshold: f64,
    /// One sentence for people.
    pub message: String,
}

/// Server metrics over one sample interval (or, as [`MonitorReport::window`], over the whole
/// window with gauges at their peak). Counters are deltas over the interval; gauges are the value
/// at its end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerSample {
    /// Seconds since the monitor's first sample, at the end of the interval.
    pub t: f64,
    /// Wall clock at the end of the interval, ms since the Unix epoch.
    pub at_ms: i64,
    /// Length of the interval, s.
    pub interval_s: f64,
    pub threads_connected: u64,
    pub threads_running: u64,
    /// Since the server started (or FLUSH STATUS).
    pub max_used_connections: u64,
    pub max_connections: u64,
    /// `threads_connected / max_connections`, %.
    pub connection_usage_pct: Option<f64>,
    /// `max_used_connections / max_connections`, %.
    pub max_used_connections_pct: Option<f64>,
    /// `Questions` delta, the monitor's own statements included.
    pub questions: u64,
    /// Statements the monitor itself sent in the interval (part of `questions`).
    pub monitor_queries: u64,
    /// `(questions − monitor_queries) / interval_s`.
    pub qps: f64,
    /// Non-zero `Com_*` deltas, without the `Com_` prefix (`select`, `stmt_execute`, ...).
    pub commands: BTreeMap<String, u64>,
    pub slow_queries: u64,
    /// `slow_queries / questions`, %.
    pub slow_query_ratio_pct: Option<f64>,
    /// From performance_schema statement events; `None` where unavailable.
    pub avg_statement_ms: Option<f64>,
    pub statements_timed: Option<u64>,
    pub buffer_pool_read_requests: u64,
    pub buffer_pool_reads: u64,
    /// `1 − reads / read_requests`, %; `None` without read requests.
    pub buffer_pool_hit_pct: Option<f64>,
    pub row_lock_waits: u64,
    pub row_lock_time_ms: u64,
    pub tmp_tables: u64,
    pub tmp_disk_tables: u64,
    /// `Innodb_rows_*` (MySQL); MariaDB 10.11 has none, so there `Rows_read` and
    /// `Handler_write`/`Handler_update`/`Handler_delete` (all engines) stand in.
    pub rows_read: u64,
    pub rows_inserted: u64,
    pub rows_updated: u64,
    pub rows_deleted: u64,
    pub data_written_bytes: u64,
    /// `Innodb_os_log_written`, else the LSN advance (`Innodb_lsn_current` on MariaDB,
    /// `Innodb_redo_log_current_lsn` on MySQL ≥ 8.0.30).
    pub redo_written_bytes: u64,
    pub connections: u64,
    pub aborted_connects: u64,
    pub threads_created: u64,
}

/// One statement as the server saw it (performance_schema) or, where that is unavailable, as
/// the client measured it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StatementStat {
    /// The workload's statement name, or `BEGIN`/`COMMIT`/`ROLLBACK`.
    pub name: String,
    /// The SQL text (of the first table, for a table family).
    pub sql: String,
    /// `prepared_statements_instances`, `events_statements_summary_by_digest` or `client`.
    pub source: String,
    /// The server's digest, where the source has one.
    pub digest: Option<String>,
    pub count: u64,
    pub total_ms: f64,
    pub avg_ms: f64,
    /// Largest single execution (server side: since the statement was prepared/first seen).
    pub max_ms: f64,
    pub rows_examined: Option<u64>,
    pub rows_sent: Option<u64>,
    pub lock_ms: Option<f64>,
    pub no_index_used: Option<u64>,
    pub tmp_disk_tables: Option<u64>,
    pub errors: Option<u64>,
}

/// The client's connections over the run (one per worker).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolSummary {
    /// Connections the run was configured for (workers).
    pub size: u64,
    /// Most connections open at once.
    pub peak_open: u64,
    /// Average connections busy in a transaction.
    pub avg_in_use: f64,
    /// Average open connections not in a transaction.
    pub avg_idle: f64,
    /// Highest number of due transactions waiting for a connection (open loop).
    pub max_waiting: u64,
    /// Connections opened (the first ones and reconnects).
    pub connects: u64,
    pub connect_avg_ms: f64,
    pub connect_max_ms: f64,
    /// Connections thrown away because they were lost.
    pub discarded: u64,
    /// Average and largest wait of a due transaction for a free connection (open loop), ms.
    pub wait_avg_ms: f64,
    pub wait_max_ms: f64,
}

/// `SHOW PROCESSLIST` of the harness user after the load, before its connections close.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdleCheck {
    pub user: String,
    /// The user's connections in `Sleep`, the monitor's own excluded.
    pub idle: u64,
    /// All of the user's connections, the monitor's own excluded.
    pub total: u64,
    /// What `idle` must not exceed.
    pub pool_size: u64,
}

/// Everything the monitor recorded over a run or a standalone session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorReport {
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    /// The target URL, password removed.
    pub target: String,
    pub server: ServerInfo,
    /// Requested sample interval, s.
    pub interval_s: f64,
    /// `on`, `off`, `no_access` (the account may not read it) or `unknown`.
    pub performance_schema: String,
    /// Informational notes (performance_schema off and what was used instead).
    pub notes: Vec<String>,
    /// What could not be measured and why (restricted account, lost monitor connection).
    pub warnings: Vec<String>,
    pub thresholds: Thresholds,
    /// The whole window: counters summed, gauges at their peak.
    pub window: Option<ServerSample>,
    pub pool: Option<PoolSummary>,
    pub idle_connections: Option<IdleCheck>,
    /// `performance_schema` or `client`.
    pub statements_source: String,
    pub statements: Vec<StatementStat>,
    pub alerts: Vec<Alert>,
    /// Statements the monitor sent over the whole window (part of `window.questions`).
    pub monitor_queries: u64,
    pub samples: Vec<ServerSample>,
    /// The run's work over its measured window, handed to the run record (not part of the
    /// monitor's own report).
    #[serde(skip)]
    pub work: Option<super::work::Work>,
}

impl MonitorReport {
    /// The highest alert level raised, if any.
    pub fn worst(&self) -> Option<Level> {
        self.alerts.iter().map(|a| a.level).max()
    }
}
