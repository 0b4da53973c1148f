//! The run record: everything one run measured and everything needed to trust it later.
//!
//! This is the one data type that crosses from the engine to the store and the reports. It is
//! versioned through `RECORD_VERSION`; the JSON report (`schema/run-v1.json`) is a view
//! of it. Passwords never reach it: `target` is always the redacted URL.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub mod gate;
mod monitor;
pub mod work;
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
    /// Its loadgate process died (SIGKILL, a crash, a reboot) before it could finish the run;
    /// found out by a later open of the store. Keeps the intervals flushed while it ran.
    Interrupted,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Complete => "complete",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "running" => RunStatus::Running,
            "complete" => RunStatus::Complete,
            "partial" => RunStatus::Partial,
            "failed" => RunStatus::Failed,
            "interrupted" => RunStatus::Interrupted,
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
    /// Transactions the run gave up on, counted in the latency as lower bounds; `None` when
    /// every started transaction ended and every due one started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unfinished: Option<Unfinished>,
}

/// Transactions whose latency is known only from below: still in flight when the grace after
/// the end ran out (the server stalled), or, in open loop, due before the end and never
/// started. Each is counted in the latency statistics at the time from its intended start
/// (corrected; its send, for service) to the moment the run gave up on it, which its real
/// latency exceeds: every statistic at or above `lower_bound_from_ms` is a lower bound. They are
/// not in `transactions`, `tps` or the per-interval counts, which hold completions only.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Unfinished {
    /// Started and still without an answer when the run gave up on them.
    pub in_flight: u64,
    /// Open loop: due before the end of the run and never started.
    pub not_started: u64,
    /// The smallest latency counted for them, ms: latency statistics at or above it are lower
    /// bounds.
    #[serde(deserialize_with = "f64_or_nan")]
    pub lower_bound_from_ms: f64,
    /// Seconds from the start of the run (warm-up included) to the send of the oldest
    /// transaction still in flight.
    pub oldest_in_flight_sent_s: Option<f64>,
    /// Seconds from the start of the run to the last transaction that completed.
    pub last_completed_s: Option<f64>,
    /// How long after the end (the deadline or Ctrl-C) the run gave up on them, seconds.
    #[serde(deserialize_with = "f64_or_nan")]
    pub grace_s: f64,
}

/// A serialized HDR histogram (V2 format, deflated) with what it measured.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredHistogram {
    pub key: HistKey,
    pub bytes: Vec<u8>,
}

/// What a stored histogram measured: which transactions or statements, and which latency.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct HistKey {
    pub scope: HistScope,
    pub kind: HistKind,
}

impl HistKey {
    pub fn new(scope: HistScope, kind: HistKind) -> HistKey {
        HistKey { scope, kind }
    }
}

/// Which transactions or statements a histogram holds. Stored as `txn`, `txn:<type>` or
/// `stmt:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HistScope {
    /// Every transaction of the run.
    Txn,
    /// The transactions of one type (an index phase's `probe:<name>` and `write:<name>` too).
    TxnType(String),
    /// One statement.
    Stmt(String),
    /// A scope this version does not know (a newer version's), kept as stored.
    Other(String),
}

impl HistScope {
    pub fn parse(s: &str) -> HistScope {
        if s == "txn" {
            HistScope::Txn
        } else if let Some(t) = s.strip_prefix("txn:") {
            HistScope::TxnType(t.to_string())
        } else if let Some(t) = s.strip_prefix("stmt:") {
            HistScope::Stmt(t.to_string())
        } else {
            HistScope::Other(s.to_string())
        }
    }
}

impl std::fmt::Display for HistScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HistScope::Txn => write!(f, "txn"),
            HistScope::TxnType(t) => write!(f, "txn:{t}"),
            HistScope::Stmt(s) => write!(f, "stmt:{s}"),
            HistScope::Other(o) => write!(f, "{o}"),
        }
    }
}

/// Which latency a histogram holds. Stored as `corrected` or `service`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum HistKind {
    /// From the intended start (open loop) or the send (closed loop) to completion.
    Corrected,
    /// From the send to completion.
    Service,
    /// A kind this version does not know, kept as stored.
    Other(String),
}

impl HistKind {
    pub fn parse(s: &str) -> HistKind {
        match s {
            "corrected" => HistKind::Corrected,
            "service" => HistKind::Service,
            o => HistKind::Other(o.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            HistKind::Corrected => "corrected",
            HistKind::Service => "service",
            HistKind::Other(o) => o,
        }
    }
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
    /// The resolved settings, as asked for: typed per kind of run.
    pub settings: RunSettings,
    /// What the run found out while running that the settings could not say in advance: the
    /// driver that ran and the client threads' scheduling policy, with why they differ from
    /// what was asked.
    pub facts: RunFacts,
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
    /// The work per transaction over the measured window; `None` for runs that did not
    /// measure it (older runs, a server that could not be read).
    pub work: Option<work::Work>,
}

/// The settings a run was started with, one type per kind of run. Stored as the JSON of the
/// inner type (no tag: the shapes differ), so records written before this type existed read
/// back as the kind they are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RunSettings {
    /// A phase of `loadgate index` (tried first: it is the only shape with a `phase`).
    Index(IndexRunSettings),
    /// An OLTP run (`run`, trials, A/B, gate).
    Oltp(crate::settings::Settings),
    /// One sync of `loadgate bulk`.
    Bulk(crate::bulk::BulkSettings),
    /// Settings this version does not know the shape of (a newer version's, or a test's
    /// fragment); kept as they were stored.
    Other(serde_json::Value),
}

impl Default for RunSettings {
    fn default() -> Self {
        RunSettings::Other(serde_json::Value::Object(Default::default()))
    }
}

/// The settings of one phase of an index before/after measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexRunSettings {
    #[serde(flatten)]
    pub settings: crate::index::IndexSettings,
    /// `before` or `after`.
    pub phase: String,
}

impl RunSettings {
    /// The stored JSON of these settings.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Reads stored settings JSON; a shape no kind accepts is kept as [`RunSettings::Other`].
    pub fn from_json(v: serde_json::Value) -> RunSettings {
        serde_json::from_value(v.clone()).unwrap_or(RunSettings::Other(v))
    }

    /// What a run's summary `tps` counts per second for this kind of run: transactions (OLTP),
    /// committed batches (a bulk sync: one transaction per batch), write-mix statements (an
    /// index phase: the write mix measured alone).
    pub fn rate_unit(&self) -> &'static str {
        match self {
            RunSettings::Oltp(_) | RunSettings::Other(_) => "tps",
            RunSettings::Bulk(_) => "batches/s",
            RunSettings::Index(_) => "writes/s",
        }
    }

    /// The OLTP settings, for an OLTP run.
    pub fn oltp(&self) -> Option<&crate::settings::Settings> {
        match self {
            RunSettings::Oltp(s) => Some(s),
            _ => None,
        }
    }
}

/// What a run found out about itself while running: facts, not settings. An OLTP run asks for
/// a driver and a scheduling policy; the target and the kernel decide what it gets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunFacts {
    /// The driver that ran (the lean driver hands over to mysql_async for a server that wants
    /// TLS or another authentication plugin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<crate::settings::Driver>,
    /// Why the driver that ran is not the one asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_fallback: Option<String>,
    /// The client threads' scheduling policy that ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_sched: Option<crate::settings::ClientSched>,
    /// Why the client threads did not get the policy asked for (the kernel refused it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_sched_refused: Option<String>,
    /// The tables the run used that loadgate did not create (a workload that only reads may
    /// use any; see `prepare::ForeignTables`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub foreign_tables: Vec<String>,
    /// The run's workload changes data and ran on [`RunFacts::foreign_tables`], as
    /// `--allow-writes-to-foreign-tables` allowed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub foreign_writes: bool,
}

impl RunFacts {
    /// True when nothing was recorded (runs of other kinds, or stored before facts existed).
    pub fn is_empty(&self) -> bool {
        *self == RunFacts::default()
    }

    /// `settings` (stored JSON) as the run ran them: the driver and policy that ran in place of
    /// the ones asked for. With `notes`, also why they differ (`driver_fallback`,
    /// `client_sched_refused`), which is how reports have always shown them.
    pub fn as_ran(&self, settings: &serde_json::Value, notes: bool) -> serde_json::Value {
        let mut v = settings.clone();
        let Some(obj) = v.as_object_mut() else {
            return v;
        };
        if let Some(d) = self.driver {
            obj.insert("driver".into(), d.name().into());
        }
        if let Some(c) = self.client_sched {
            obj.insert("client_sched".into(), c.name().into());
        }
        if notes {
            if let Some(w) = &self.driver_fallback {
                obj.insert("driver_fallback".into(), w.clone().into());
            }
            if let Some(w) = &self.client_sched_refused {
                obj.insert("client_sched_refused".into(), w.clone().into());
            }
            if !self.foreign_tables.is_empty() {
                obj.insert("foreign_tables".into(), self.foreign_tables.clone().into());
                obj.insert("foreign_writes".into(), self.foreign_writes.into());
            }
        }
        v
    }
}

impl RunRecord {
    /// The stored settings as the run ran them, with the notes on why they differ from what was
    /// asked (what reports show).
    pub fn settings_as_ran(&self) -> serde_json::Value {
        self.facts.as_ran(&self.settings.to_json(), true)
    }
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
