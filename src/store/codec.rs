//! Conversion between a [`RunRecord`] and the rows of `runs`, `run_histograms` and
//! `run_intervals`. Every statement that touches a run's rows lives here.

use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::redact::{redact_json, redact_text, redact_url};
use super::TxError;
use crate::record::{
    HistKey, HistKind, HistScope, IntervalSample, QueryCounts, RunFacts, RunRecord, RunSettings,
    RunStatus, RunStatusField, ServerInfo, StoredHistogram, Summary, Testbed, RECORD_VERSION,
};

/// The scalar columns of one `runs` row, encoded and redacted, ready to bind.
pub(super) struct RunRow<'a> {
    rec: &'a RunRecord,
    ended_at_ms: Option<i64>,
    status: &'static str,
    status_reason: Option<String>,
    settings_json: String,
    facts_json: Option<String>,
    target: String,
    testbed_json: String,
    summary_json: Option<String>,
    tps: Option<f64>,
    qps: Option<f64>,
    p99_corrected_ms: Option<f64>,
    p99_service_ms: Option<f64>,
    error_count: Option<u64>,
}

/// A JSON encoding failure: which part of the record could not be encoded.
#[derive(Debug)]
pub(super) struct EncodeError {
    pub what: &'static str,
    pub source: serde_json::Error,
}

impl<'a> RunRow<'a> {
    /// The full row of a run. Passwords are removed from the target, the status reason and the
    /// settings, whatever the caller passed.
    pub fn full(rec: &'a RunRecord) -> Result<Self, EncodeError> {
        let mut settings = rec.settings.to_json();
        redact_json(&mut settings);
        let facts_json = (!rec.facts.is_empty())
            .then(|| encode("facts", &rec.facts))
            .transpose()?;
        let settings_json = encode("settings", &settings)?;
        let testbed_json = encode("testbed", &rec.testbed)?;
        let summary_json = rec
            .summary
            .as_ref()
            .map(|s| encode("summary", s))
            .transpose()?;
        let s = rec.summary.as_ref();
        Ok(RunRow {
            rec,
            ended_at_ms: rec.ended_at_ms,
            status: rec.status.0.as_str(),
            status_reason: rec.status_reason.as_deref().map(redact_text),
            settings_json,
            facts_json,
            target: redact_url(&rec.target),
            testbed_json,
            summary_json,
            tps: s.map(|s| s.tps),
            qps: s.map(|s| s.qps.total),
            p99_corrected_ms: s.map(|s| s.latency_corrected.p99),
            p99_service_ms: s.map(|s| s.latency_service.p99),
            error_count: s.map(|s| s.errors.iter().fold(0u64, |n, e| n.saturating_add(e.count))),
        })
    }

    /// The row of a run that has just started: its identity and configuration, status
    /// `running`, no end and no results.
    pub fn started(rec: &'a RunRecord) -> Result<Self, EncodeError> {
        let mut row = Self::full(rec)?;
        row.ended_at_ms = None;
        row.status = RunStatus::Running.as_str();
        row.status_reason = None;
        row.summary_json = None;
        row.tps = None;
        row.qps = None;
        row.p99_corrected_ms = None;
        row.p99_service_ms = None;
        row.error_count = None;
        Ok(row)
    }
}

fn encode<T: serde::Serialize>(what: &'static str, value: &T) -> Result<String, EncodeError> {
    serde_json::to_string(value).map_err(|source| EncodeError { what, source })
}

const RUN_COLUMNS: &str = "set_id, started_at_ms, ended_at_ms, status, status_reason, workload, \
    workload_hash, settings_json, target, server_flavor, server_version, server_version_comment, \
    testbed_json, testbed_fingerprint, git_commit, tool_version, record_version, summary_json, \
    tps, qps, p99_corrected_ms, p99_service_ms, error_count, facts_json";

/// Inserts a `runs` row and returns its id.
pub(super) fn insert_run_row(tx: &Transaction<'_>, row: &RunRow<'_>) -> Result<i64, TxError> {
    let r = row.rec;
    tx.prepare_cached(&format!(
        "INSERT INTO runs ({RUN_COLUMNS}) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
          ?20, ?21, ?22, ?23, ?24)"
    ))?
    .execute(params![
        r.set_id,
        r.started_at_ms,
        row.ended_at_ms,
        row.status,
        row.status_reason,
        r.workload,
        r.workload_hash,
        row.settings_json,
        row.target,
        r.server.flavor,
        r.server.version,
        r.server.version_comment,
        row.testbed_json,
        r.testbed.fingerprint,
        r.git_commit,
        r.tool_version,
        RECORD_VERSION,
        row.summary_json,
        row.tps,
        row.qps,
        row.p99_corrected_ms,
        row.p99_service_ms,
        row.error_count,
        row.facts_json,
    ])?;
    Ok(tx.last_insert_rowid())
}

/// Overwrites run `id` with `row`, replaces its histograms and intervals with the record's.
/// `TxError::NotFound` when there is no such run.
pub(super) fn write_finished(
    tx: &Transaction<'_>,
    id: i64,
    row: &RunRow<'_>,
) -> Result<(), TxError> {
    let r = row.rec;
    let changed = tx
        .prepare_cached(
            "UPDATE runs SET set_id = ?2, started_at_ms = ?3, ended_at_ms = ?4, status = ?5, \
             status_reason = ?6, workload = ?7, workload_hash = ?8, settings_json = ?9, \
             target = ?10, server_flavor = ?11, server_version = ?12, \
             server_version_comment = ?13, testbed_json = ?14, testbed_fingerprint = ?15, \
             git_commit = ?16, tool_version = ?17, record_version = ?18, summary_json = ?19, \
             tps = ?20, qps = ?21, p99_corrected_ms = ?22, p99_service_ms = ?23, \
             error_count = ?24, facts_json = ?25 WHERE id = ?1",
        )?
        .execute(params![
            id,
            r.set_id,
            r.started_at_ms,
            row.ended_at_ms,
            row.status,
            row.status_reason,
            r.workload,
            r.workload_hash,
            row.settings_json,
            row.target,
            r.server.flavor,
            r.server.version,
            r.server.version_comment,
            row.testbed_json,
            r.testbed.fingerprint,
            r.git_commit,
            r.tool_version,
            RECORD_VERSION,
            row.summary_json,
            row.tps,
            row.qps,
            row.p99_corrected_ms,
            row.p99_service_ms,
            row.error_count,
            row.facts_json,
        ])?;
    if changed == 0 {
        return Err(TxError::NotFound(id));
    }
    tx.prepare_cached("DELETE FROM run_histograms WHERE run_id = ?1")?
        .execute([id])?;
    tx.prepare_cached("DELETE FROM run_intervals WHERE run_id = ?1")?
        .execute([id])?;
    write_body(tx, id, r)?;
    super::monitor::replace_for_run(tx, id, r.monitor.as_ref())
}

/// Inserts the histograms and intervals of run `id`.
fn write_body(tx: &Transaction<'_>, id: i64, rec: &RunRecord) -> Result<(), TxError> {
    let mut st = tx.prepare_cached(
        "INSERT INTO run_histograms (run_id, idx, scope, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (idx, h) in rec.histograms.iter().enumerate() {
        st.execute(params![
            id,
            idx,
            h.key.scope.to_string(),
            h.key.kind.as_str(),
            h.bytes
        ])?;
    }
    let mut st = tx.prepare_cached(
        "INSERT INTO run_intervals (run_id, idx, t, warmup, transactions, reads, writes, others, \
         errors, retries, reconnects, tps, qps, corrected_p50_ms, corrected_p95_ms, \
         corrected_p99_ms, corrected_max_ms, service_p99_ms, queue_depth, conn_open, \
         conn_in_use, connects, connect_max_ms, conn_discarded, wait_avg_ms, wait_max_ms) VALUES \
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, \
          ?20, ?21, ?22, ?23, ?24, ?25, ?26)",
    )?;
    for (idx, s) in rec.intervals.iter().enumerate() {
        st.execute(params![
            id,
            idx,
            s.t,
            s.warmup,
            s.transactions,
            s.queries.read,
            s.queries.write,
            s.queries.other,
            s.errors,
            s.retries,
            s.reconnects,
            s.tps,
            s.qps,
            s.corrected_p50_ms,
            s.corrected_p95_ms,
            s.corrected_p99_ms,
            s.corrected_max_ms,
            s.service_p99_ms,
            s.queue_depth,
            s.conn_open,
            s.conn_in_use,
            s.connects,
            s.connect_max_ms,
            s.conn_discarded,
            s.wait_avg_ms,
            s.wait_max_ms,
        ])?;
    }
    Ok(())
}

/// Inserts a complete run (row, histograms, intervals) and returns its id.
pub(super) fn insert_full(tx: &Transaction<'_>, row: &RunRow<'_>) -> Result<i64, TxError> {
    let id = insert_run_row(tx, row)?;
    write_body(tx, id, row.rec)?;
    super::monitor::replace_for_run(tx, id, row.rec.monitor.as_ref())?;
    Ok(id)
}

/// SQLite stores a NaN as NULL; read it back as NaN.
fn real(row: &Row<'_>, i: usize) -> rusqlite::Result<f64> {
    Ok(row.get::<_, Option<f64>>(i)?.unwrap_or(f64::NAN))
}

fn decode<T: serde::de::DeserializeOwned>(id: i64, what: &str, json: &str) -> Result<T, TxError> {
    serde_json::from_str(json).map_err(|e| TxError::Corrupt {
        id,
        detail: format!("its {what} is not valid JSON for this version of loadgate: {e}"),
    })
}

/// Reads run `id` whole. `TxError::NotFound` when there is no such run.
pub(super) fn read_run(tx: &Transaction<'_>, id: i64) -> Result<RunRecord, TxError> {
    struct Raw {
        status: String,
        settings_json: String,
        testbed_json: String,
        summary_json: Option<String>,
        facts_json: Option<String>,
    }
    let found = tx
        .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))?
        .query_row([id], |r| {
            let rec = RunRecord {
                id: Some(id),
                set_id: r.get(0)?,
                started_at_ms: r.get(1)?,
                ended_at_ms: r.get(2)?,
                status: RunStatusField::default(),
                status_reason: r.get(4)?,
                workload: r.get(5)?,
                workload_hash: r.get(6)?,
                settings: RunSettings::default(),
                facts: RunFacts::default(),
                target: r.get(8)?,
                server: ServerInfo {
                    flavor: r.get(9)?,
                    version: r.get(10)?,
                    version_comment: r.get(11)?,
                },
                testbed: Testbed::default(),
                git_commit: r.get(14)?,
                tool_version: r.get(15)?,
                summary: None,
                histograms: Vec::new(),
                intervals: Vec::new(),
                monitor: None,
            };
            let raw = Raw {
                status: r.get(3)?,
                settings_json: r.get(7)?,
                testbed_json: r.get(12)?,
                summary_json: r.get(17)?,
                facts_json: r.get(23)?,
            };
            Ok((rec, raw))
        })
        .optional()?;
    let Some((mut rec, raw)) = found else {
        return Err(TxError::NotFound(id));
    };
    rec.status = RunStatusField(
        RunStatus::parse(&raw.status).ok_or_else(|| TxError::Corrupt {
            id,
            detail: format!("unknown status {:?}", raw.status),
        })?,
    );
    rec.settings = RunSettings::from_json(decode(id, "settings", &raw.settings_json)?);
    rec.facts = raw
        .facts_json
        .as_deref()
        .map(|s| decode::<RunFacts>(id, "facts", s))
        .transpose()?
        .unwrap_or_default();
    rec.testbed = decode(id, "testbed", &raw.testbed_json)?;
    rec.summary = raw
        .summary_json
        .as_deref()
        .map(|s| decode::<Summary>(id, "summary", s))
        .transpose()?;

    let mut st = tx.prepare_cached(
        "SELECT scope, kind, data FROM run_histograms WHERE run_id = ?1 ORDER BY idx",
    )?;
    rec.histograms = st
        .query_map([id], |r| {
            Ok(StoredHistogram {
                key: HistKey::new(
                    HistScope::parse(&r.get::<_, String>(0)?),
                    HistKind::parse(&r.get::<_, String>(1)?),
                ),
                bytes: r.get(2)?,
            })
        })?
        .collect::<Result<_, _>>()?;

    let mut st = tx.prepare_cached(
        "SELECT t, warmup, transactions, reads, writes, others, errors, retries, reconnects, \
         tps, qps, corrected_p50_ms, corrected_p95_ms, corrected_p99_ms, corrected_max_ms, \
         service_p99_ms, queue_depth, conn_open, conn_in_use, connects, connect_max_ms, \
         conn_discarded, wait_avg_ms, wait_max_ms FROM run_intervals WHERE run_id = ?1 \
         ORDER BY idx",
    )?;
    rec.intervals = st
        .query_map([id], |r| {
            Ok(IntervalSample {
                t: real(r, 0)?,
                warmup: r.get(1)?,
                transactions: r.get(2)?,
                queries: QueryCounts {
                    read: r.get(3)?,
                    write: r.get(4)?,
                    other: r.get(5)?,
                },
                errors: r.get(6)?,
                retries: r.get(7)?,
                reconnects: r.get(8)?,
                tps: real(r, 9)?,
                qps: real(r, 10)?,
                corrected_p50_ms: real(r, 11)?,
                corrected_p95_ms: real(r, 12)?,
                corrected_p99_ms: real(r, 13)?,
                corrected_max_ms: real(r, 14)?,
                service_p99_ms: real(r, 15)?,
                queue_depth: r.get(16)?,
                // Absent (NULL) in runs stored before the monitor existed.
                conn_open: r.get::<_, Option<u64>>(17)?.unwrap_or(0),
                conn_in_use: r.get::<_, Option<f64>>(18)?.unwrap_or(0.0),
                connects: r.get::<_, Option<u64>>(19)?.unwrap_or(0),
                connect_max_ms: r.get::<_, Option<f64>>(20)?.unwrap_or(0.0),
                conn_discarded: r.get::<_, Option<u64>>(21)?.unwrap_or(0),
                wait_avg_ms: r.get::<_, Option<f64>>(22)?.unwrap_or(0.0),
                wait_max_ms: r.get::<_, Option<f64>>(23)?.unwrap_or(0.0),
            })
        })?
        .collect::<Result<_, _>>()?;
    rec.monitor = super::monitor::read_for_run(tx, id)?;
    Ok(rec)
}
