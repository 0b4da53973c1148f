//! The run record: everything one run measured and everything needed to trust it later.
//!
//! This is the one data type that crosses from the engine to the store and the reports. It is
//! versioned through `RECORD_VERSION`; the JSON report (`schema/run-v1.json`) is a view
//! of it. Passwords never reach it: `target` is always the redacted URL.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

mod monitor;
pub use monitor::{
    Alert, IdleCheck, Level, MonitorReport, PoolSummary, ServerSample, StatementStat, Threshold,
    Thresholds,
};

/// Version of the serialized summary/settings layout stored with every run.
pub const RECORD_VERSION: u32 = 1;

/// Reads a JSON `null` as NaN. serde_json writes a non-finite float (a rate over an empty window,
/// a percentile of an empty histogram) as `null`; without this, such a record could be written
/// but never read back.
fn f64_or_nan<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not finished yet (or the process died before it could say otherwise).
    Running,
    /// Ran for its whole duration or event count without losing the server.
    Complete,
    /// Measured something but was cut short or lost the server: Ctrl-C, server gone, deadline
    /// reached while reconnecting.
    Partial,
    /// Measured nothing usable.
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => RunStatus::Running,
            "complete" => RunStatus::Complete,
            "partial" => RunStatus::Partial,
            "failed" => RunStatus::Failed,
            _ => return None,
        })
    }
}

/// What answered on the other end of the target URL.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// `mariadb` or `mysql` (from `@@version` / `@@version_comment`).
    pub flavor: String,
    /// `@@version` as the server reports it, e.g. `10.11.19-MariaDB-0+deb12u1`.
    pub version: String,
    /// `@@version_comment`.
    pub version_comment: String,
}

/// Stable facts about the machine and server a run was measured on. Two runs are comparable
/// only when their fingerprints match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Testbed {
    pub cpu_model: String,
    pub cores: u32,
    pub memory_bytes: u64,
    pub kernel: String,
    pub server_version: String,
    /// SHA-256 (hex, first 16 chars) of the key server variables, sorted by name.
    pub server_config_hash: String,
    /// SHA-256 (hex, first 16 chars) over all the fields above.
    pub fingerprint: String,
}

/// Latency statistics in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub count: u64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub min: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub avg: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub p50: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub p90: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub p95: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub p99: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub p999: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub max: f64,
}

/// Query counts by class, as sysbench counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryCounts {
    pub read: u64,
    pub write: u64,
    pub other: u64,
}

impl QueryCounts {
    pub fn total(&self) -> u64 {
        self.read + self.write + self.other
    }
}

/// Per-second rates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Qps {
    #[serde(deserialize_with = "f64_or_nan")]
    pub total: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub read: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub write: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub other: f64,
}

/// One error code seen during the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// MySQL error code (server or client), or 0 for a failure without one (I/O, driver).
    pub code: u16,
    /// Class: deadlock, lock_wait_timeout, server_gone, too_many_connections, other.
    pub kind: String,
    /// Times seen.
    pub count: u64,
    /// How many of those were retried (the transaction restarted).
    pub retried: u64,
    /// One example message, for the reader.
    pub example: String,
}

/// Open-loop accounting: every scheduled transaction is either done, failed, or still waiting.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Target rate in transactions per second.
    #[serde(deserialize_with = "f64_or_nan")]
    pub rate: f64,
    /// Transactions whose intended start fell before the end of the run (warm-up included).
    pub scheduled: u64,
    /// Transactions started (the backlog included).
    pub started: u64,
    /// Started and committed.
    pub completed: u64,
    /// Started and ended in an error that was not retried.
    pub failed: u64,
    /// Started but still in flight when the run was stopped.
    pub in_flight: u64,
    /// Transactions due before the end that never started: the backlog left at the end.
    /// `scheduled = completed + failed + in_flight + not_started`.
    pub not_started: u64,
    /// Largest delay between a transaction's intended start and its actual send, in ms.
    pub max_start_lag_ms: f64,
    /// Highest number of due-but-not-started transactions seen at once.
    pub max_queue_depth: u64,
    /// Achieved completions per second over the measured window.
    #[serde(deserialize_with = "f64_or_nan")]
    pub achieved_rate: f64,
    /// True when the schedule fell behind by more than one second at some point: the
    /// connections were too few for the rate (Little's law) or the server stalled.
    pub fell_behind: bool,
}

/// Latency of one transaction type or statement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedLatency {
    pub name: String,
    pub count: u64,
    pub errors: u64,
    /// From intended start (open loop) or actual start (closed loop) to completion.
    pub corrected: Option<LatencyStats>,
    /// From the actual send to completion.
    pub service: LatencyStats,
}

/// The results of a run, ready to print or compare.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Seconds of the measured window (warm-up excluded).
    #[serde(deserialize_with = "f64_or_nan")]
    pub duration_s: f64,
    /// Committed (or completed, for transactions without BEGIN) transactions.
    pub transactions: u64,
    /// Transactions that ended in an error that was not retried.
    pub failed_transactions: u64,
    pub queries: QueryCounts,
    #[serde(deserialize_with = "f64_or_nan")]
    pub tps: f64,
    pub qps: Qps,
    /// Completion minus intended start. Equal to `latency_service` in closed loop.
    pub latency_corrected: LatencyStats,
    /// Completion minus actual send.
    pub latency_service: LatencyStats,
    pub errors: Vec<ErrorCount>,
    pub retries: u64,
    pub reconnects: u64,
    /// Present in open loop only.
    pub schedule: Option<Schedule>,
    pub transactions_by_type: Vec<NamedLatency>,
    pub statements: Vec<NamedLatency>,
}

/// A serialized HDR histogram (V2 format, deflated) with what it measured.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredHistogram {
    /// `txn`, `txn:<type>`, or `stmt:<name>`.
    pub scope: String,
    /// `corrected` or `service`.
    pub kind: String,
    pub bytes: Vec<u8>,
}

/// One per-interval sample of the time series (interval = `report_interval`, 1 s by default).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IntervalSample {
    /// Seconds since the start of the run (warm-up included), at the end of the interval.
    #[serde(deserialize_with = "f64_or_nan")]
    pub t: f64,
    /// True while still in warm-up.
    pub warmup: bool,
    pub transactions: u64,
    pub queries: QueryCounts,
    pub errors: u64,
    pub retries: u64,
    pub reconnects: u64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub tps: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub qps: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub corrected_p50_ms: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub corrected_p95_ms: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub corrected_p99_ms: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub corrected_max_ms: f64,
    #[serde(deserialize_with = "f64_or_nan")]
    pub service_p99_ms: f64,
    /// Open loop: highest queue depth seen in the interval.
    pub queue_depth: u64,
    /// Pool: most connections open at once in the interval.
    #[serde(default)]
    pub conn_open: u64,
    /// Pool: average connections busy in a transaction over the interval.
    #[serde(default)]
    pub conn_in_use: f64,
    /// Pool: connections opened in the interval, and how long they took (ms).
    #[serde(default)]
    pub connects: u64,
    #[serde(default)]
    pub connect_max_ms: f64,
    /// Pool: connections thrown away because they were lost.
    #[serde(default)]
    pub conn_discarded: u64,
    /// Pool (open loop): average and largest wait of a due transaction for a connection, ms.
    #[serde(default)]
    pub wait_avg_ms: f64,
    #[serde(default)]
    pub wait_max_ms: f64,
}

/// A complete run record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunRecord {
    /// Assigned by the store.
    pub id: Option<i64>,
    /// Groups the trials of one `run --trials N`.
    pub set_id: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub status: RunStatusField,
    pub status_reason: Option<String>,
    pub workload: String,
    /// SHA-256 (hex, first 16 chars) of the workload file's content.
    pub workload_hash: String,
    /// The resolved settings as JSON (`settings::Settings`).
    pub settings: serde_json::Value,
    /// The target URL with any password removed.
    pub target: String,
    pub server: ServerInfo,
    pub testbed: Testbed,
    pub git_commit: Option<String>,
    pub tool_version: String,
    pub summary: Option<Summary>,
    pub histograms: Vec<StoredHistogram>,
    pub intervals: Vec<IntervalSample>,
    /// What the embedded monitor saw; `None` with `--no-monitor`.
    pub monitor: Option<MonitorReport>,
}

/// Wrapper so `RunRecord` can derive `Default`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunStatusField(pub RunStatus);

impl Default for RunStatusField {
    fn default() -> Self {
        RunStatusField(RunStatus::Running)
    }
}

/// Error counts keyed by code, for building `Summary::errors`.
pub type ErrorMap = BTreeMap<u16, ErrorCount>;
