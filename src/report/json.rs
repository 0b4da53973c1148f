//! The JSON run report, version 1. Its schema is committed at `schema/run-v1.json` and
//! checked by a test; change both together and bump the version for breaking changes.

use crate::record::work::Work;
use crate::record::{
    ErrorCount, IntervalSample, LatencyStats, MonitorReport, NamedLatency, Qps, QueryCounts,
    RunRecord, Schedule, ServerInfo, Testbed, Unfinished,
};
use serde::Serialize;

pub const SCHEMA_ID: &str = "loadgate.run/v1";

#[derive(Serialize)]
pub struct Latencies<'a> {
    /// Completion − intended start (open loop) or − send (closed loop).
    pub corrected: &'a LatencyStats,
    /// Completion − actual send.
    pub service: &'a LatencyStats,
}

#[derive(Serialize)]
pub struct RunReport<'a> {
    pub schema: &'static str,
    pub id: Option<i64>,
    pub set_id: Option<&'a str>,
    pub status: &'static str,
    pub status_reason: Option<&'a str>,
    pub workload: &'a str,
    pub workload_hash: &'a str,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// The settings as the run ran them (the driver and policy that ran, and why they differ
    /// from what was asked).
    pub settings: serde_json::Value,
    pub target: &'a str,
    pub server: &'a ServerInfo,
    pub testbed: &'a Testbed,
    pub git_commit: Option<&'a str>,
    pub tool_version: &'a str,
    pub mode: &'static str,
    pub duration_s: f64,
    pub transactions: u64,
    pub failed_transactions: u64,
    pub queries: QueryCounts,
    pub tps: f64,
    pub qps: Qps,
    pub latency_ms: Latencies<'a>,
    /// The transactions the run gave up on (in flight after the grace, or due and never
    /// started), counted in `latency_ms` as lower bounds; `null` when there were none.
    pub unfinished: Option<&'a Unfinished>,
    pub errors: &'a [ErrorCount],
    pub retries: u64,
    pub reconnects: u64,
    pub schedule: Option<&'a Schedule>,
    pub transactions_by_type: &'a [NamedLatency],
    pub statements: &'a [NamedLatency],
    pub intervals: &'a [IntervalSample],
    /// The embedded monitor's report; `null` with `--no-monitor`.
    pub monitor: Option<&'a MonitorReport>,
    /// The work over the measured window and per transaction; `null` when not measured.
    pub work: Option<WorkView<'a>>,
}

/// [`Work`] with its per-transaction values worked out.
#[derive(Serialize)]
pub struct WorkView<'a> {
    #[serde(flatten)]
    pub work: &'a Work,
    /// Each counter divided by `transactions`, and `client_cpu_us` / `server_cpu_us`;
    /// `null` values when no transaction completed or a clock could not be read.
    pub per_transaction: std::collections::BTreeMap<&'static str, Option<f64>>,
}

impl<'a> WorkView<'a> {
    pub fn of(work: &'a Work) -> Self {
        let mut per = std::collections::BTreeMap::new();
        for (name, n) in work.counters.named() {
            per.insert(name, work.per_txn(n as f64));
        }
        let us = |s: Option<f64>| s.and_then(|s| work.per_txn(s * 1e6));
        per.insert("client_cpu_us", us(work.client_cpu_s));
        per.insert("server_cpu_us", us(work.server_cpu_s));
        if let Some(n) = work.ps_rows_examined {
            per.insert("ps_rows_examined", work.per_txn(n as f64));
        }
        WorkView {
            work,
            per_transaction: per,
        }
    }
}

static EMPTY_LAT: LatencyStats = LatencyStats {
    count: 0,
    min: 0.0,
    avg: 0.0,
    p50: 0.0,
    p90: 0.0,
    p95: 0.0,
    p99: 0.0,
    p999: 0.0,
    max: 0.0,
};

pub fn report(r: &RunRecord) -> RunReport<'_> {
    let s = r.summary.as_ref();
    RunReport {
        schema: SCHEMA_ID,
        id: r.id,
        set_id: r.set_id.as_deref(),
        status: r.status.0.as_str(),
        status_reason: r.status_reason.as_deref(),
        workload: &r.workload,
        workload_hash: &r.workload_hash,
        started_at: crate::util::rfc3339(r.started_at_ms),
        ended_at: r.ended_at_ms.map(crate::util::rfc3339),
        settings: r.settings_as_ran(),
        target: &r.target,
        server: &r.server,
        testbed: &r.testbed,
        git_commit: r.git_commit.as_deref(),
        tool_version: &r.tool_version,
        mode: if s.is_some_and(|s| s.schedule.is_some()) {
            "open"
        } else {
            "closed"
        },
        duration_s: s.map_or(0.0, |s| s.duration_s),
        transactions: s.map_or(0, |s| s.transactions),
        failed_transactions: s.map_or(0, |s| s.failed_transactions),
        queries: s.map_or_else(QueryCounts::default, |s| s.queries),
        tps: s.map_or(0.0, |s| s.tps),
        qps: s.map_or_else(Qps::default, |s| s.qps),
        latency_ms: Latencies {
            corrected: s.map_or(&EMPTY_LAT, |s| &s.latency_corrected),
            service: s.map_or(&EMPTY_LAT, |s| &s.latency_service),
        },
        unfinished: s.and_then(|s| s.unfinished.as_ref()),
        errors: s.map_or(&[], |s| &s.errors),
        retries: s.map_or(0, |s| s.retries),
        reconnects: s.map_or(0, |s| s.reconnects),
        schedule: s.and_then(|s| s.schedule.as_ref()),
        transactions_by_type: s.map_or(&[], |s| &s.transactions_by_type),
        statements: s.map_or(&[], |s| &s.statements),
        intervals: &r.intervals,
        monitor: r.monitor.as_ref(),
        work: r.work.as_ref().map(WorkView::of),
    }
}

pub fn to_string(r: &RunRecord) -> String {
    serde_json::to_string_pretty(&report(r)).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
