//! Conversion between a [`MonitorReport`] and the rows of `monitor_sessions`,
//! `monitor_samples`, `monitor_statements` and `monitor_alerts`. A run's report is session
//! `run_id = <run>`; a standalone `loadgate monitor` session has no run.

use rusqlite::{named_params, OptionalExtension, Row, RowIndex, Transaction};

use super::redact::{redact_text, redact_url};
use super::TxError;
use crate::record::{Alert, Level, MonitorReport, ServerSample, StatementStat};

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

/// Writes `rep` as a new session (of run `run_id`, if any) and returns its id.
pub(super) fn insert(
    tx: &Transaction<'_>,
    run_id: Option<i64>,
    rep: &MonitorReport,
) -> Result<i64, TxError> {
    // The session row keeps everything but the three series, which get their own tables.
    let mut head = rep.clone();
    head.samples.clear();
    head.statements.clear();
    head.alerts.clear();
    head.target = redact_url(&head.target);
    head.warnings = head.warnings.iter().map(|w| redact_text(w)).collect();
    tx.prepare_cached(
        "INSERT INTO monitor_sessions (run_id, started_at_ms, ended_at_ms, target, \
         server_version, interval_s, worst_alert, report_json) \
         VALUES (:run_id, :started_at_ms, :ended_at_ms, :target, :server_version, :interval_s, \
         :worst_alert, :report_json)",
    )?
    .execute(named_params! {
        ":run_id": run_id,
        ":started_at_ms": rep.started_at_ms,
        ":ended_at_ms": rep.ended_at_ms,
        ":target": head.target,
        ":server_version": rep.server.version,
        ":interval_s": rep.interval_s,
        ":worst_alert": rep.worst().map(Level::as_str),
        ":report_json": json(&head),
    })?;
    let id = tx.last_insert_rowid();
    let mut st = tx.prepare_cached(
        "INSERT INTO monitor_samples (session_id, idx, t, at_ms, threads_connected, \
         threads_running, qps, buffer_pool_hit_pct, avg_statement_ms, sample_json) \
         VALUES (:session_id, :idx, :t, :at_ms, :threads_connected, :threads_running, :qps, \
         :buffer_pool_hit_pct, :avg_statement_ms, :sample_json)",
    )?;
    for (i, s) in rep.samples.iter().enumerate() {
        st.execute(named_params! {
            ":session_id": id,
            ":idx": i,
            ":t": s.t,
            ":at_ms": s.at_ms,
            ":threads_connected": s.threads_connected,
            ":threads_running": s.threads_running,
            ":qps": s.qps,
            ":buffer_pool_hit_pct": s.buffer_pool_hit_pct,
            ":avg_statement_ms": s.avg_statement_ms,
            ":sample_json": json(s),
        })?;
    }
    let mut st = tx.prepare_cached(
        "INSERT INTO monitor_statements (session_id, idx, name, sql, source, digest, count, \
         total_ms, avg_ms, max_ms, rows_examined, rows_sent, lock_ms, no_index_used, \
         tmp_disk_tables, errors) \
         VALUES (:session_id, :idx, :name, :sql, :source, :digest, :count, :total_ms, :avg_ms, \
         :max_ms, :rows_examined, :rows_sent, :lock_ms, :no_index_used, :tmp_disk_tables, \
         :errors)",
    )?;
    for (i, s) in rep.statements.iter().enumerate() {
        st.execute(named_params! {
            ":session_id": id,
            ":idx": i,
            ":name": s.name,
            ":sql": s.sql,
            ":source": s.source,
            ":digest": s.digest,
            ":count": s.count,
            ":total_ms": s.total_ms,
            ":avg_ms": s.avg_ms,
            ":max_ms": s.max_ms,
            ":rows_examined": s.rows_examined,
            ":rows_sent": s.rows_sent,
            ":lock_ms": s.lock_ms,
            ":no_index_used": s.no_index_used,
            ":tmp_disk_tables": s.tmp_disk_tables,
            ":errors": s.errors,
        })?;
    }
    let mut st = tx.prepare_cached(
        "INSERT INTO monitor_alerts (session_id, idx, metric, level, value, threshold, message) \
         VALUES (:session_id, :idx, :metric, :level, :value, :threshold, :message)",
    )?;
    for (i, a) in rep.alerts.iter().enumerate() {
        st.execute(named_params! {
            ":session_id": id,
            ":idx": i,
            ":metric": a.metric,
            ":level": a.level.as_str(),
            ":value": a.value,
            ":threshold": a.threshold,
            ":message": a.message,
        })?;
    }
    Ok(id)
}

/// Replaces the monitor report of run `run_id` (none removes it).
pub(super) fn replace_for_run(
    tx: &Transaction<'_>,
    run_id: i64,
    rep: Option<&MonitorReport>,
) -> Result<(), TxError> {
    tx.prepare_cached("DELETE FROM monitor_sessions WHERE run_id = :run_id")?
        .execute(named_params! {":run_id": run_id})?;
    if let Some(r) = rep {
        insert(tx, Some(run_id), r)?;
    }
    Ok(())
}

/// SQLite stores a NaN as NULL; read it back as NaN.
fn real<I: RowIndex>(r: &Row<'_>, i: I) -> rusqlite::Result<f64> {
    Ok(r.get::<_, Option<f64>>(i)?.unwrap_or(f64::NAN))
}

/// Reads session `id`; `None` when there is no such session.
pub(super) fn read(
    tx: &Transaction<'_>,
    id: i64,
    run_id: i64,
) -> Result<Option<MonitorReport>, TxError> {
    let Some(head): Option<String> = tx
        .prepare_cached("SELECT report_json FROM monitor_sessions WHERE id = :id")?
        .query_row(named_params! {":id": id}, |r| r.get("report_json"))
        .optional()?
    else {
        return Ok(None);
    };
    let corrupt = |what: &str, e: serde_json::Error| TxError::Corrupt {
        id: run_id,
        detail: format!("its monitor {what} is not valid JSON for this version of loadgate: {e}"),
    };
    let mut rep: MonitorReport = serde_json::from_str(&head).map_err(|e| corrupt("report", e))?;
    let mut st = tx.prepare_cached(
        "SELECT sample_json FROM monitor_samples WHERE session_id = :session_id ORDER BY idx",
    )?;
    let texts: Vec<String> = st
        .query_map(named_params! {":session_id": id}, |r| r.get("sample_json"))?
        .collect::<Result<_, _>>()?;
    rep.samples = texts
        .iter()
        .map(|t| serde_json::from_str::<ServerSample>(t))
        .collect::<Result<_, _>>()
        .map_err(|e| corrupt("sample", e))?;
    let mut st = tx.prepare_cached(
        "SELECT name, sql, source, digest, count, total_ms, avg_ms, max_ms, rows_examined, \
         rows_sent, lock_ms, no_index_used, tmp_disk_tables, errors \
         FROM monitor_statements WHERE session_id = :session_id ORDER BY idx",
    )?;
    rep.statements = st
        .query_map(named_params! {":session_id": id}, |r| {
            Ok(StatementStat {
                name: r.get("name")?,
                sql: r.get("sql")?,
                source: r.get("source")?,
                digest: r.get("digest")?,
                count: r.get("count")?,
                total_ms: real(r, "total_ms")?,
                avg_ms: real(r, "avg_ms")?,
                max_ms: real(r, "max_ms")?,
                rows_examined: r.get("rows_examined")?,
                rows_sent: r.get("rows_sent")?,
                lock_ms: r.get("lock_ms")?,
                no_index_used: r.get("no_index_used")?,
                tmp_disk_tables: r.get("tmp_disk_tables")?,
                errors: r.get("errors")?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut st = tx.prepare_cached(
        "SELECT metric, level, value, threshold, message FROM monitor_alerts \
         WHERE session_id = :session_id ORDER BY idx",
    )?;
    let rows: Vec<(String, String, f64, f64, String)> = st
        .query_map(named_params! {":session_id": id}, |r| {
            Ok((
                r.get("metric")?,
                r.get("level")?,
                real(r, "value")?,
                real(r, "threshold")?,
                r.get("message")?,
            ))
        })?
        .collect::<Result<_, _>>()?;
    rep.alerts = rows
        .into_iter()
        .map(|(metric, level, value, threshold, message)| {
            Ok(Alert {
                level: Level::parse(&level).ok_or_else(|| TxError::Corrupt {
                    id: run_id,
                    detail: format!("unknown alert level {level:?}"),
                })?,
                metric,
                value,
                threshold,
                message,
            })
        })
        .collect::<Result<_, TxError>>()?;
    Ok(Some(rep))
}

/// The monitor report of run `run_id`, if it has one.
pub(super) fn read_for_run(
    tx: &Transaction<'_>,
    run_id: i64,
) -> Result<Option<MonitorReport>, TxError> {
    let id: Option<i64> = tx
        .prepare_cached("SELECT id FROM monitor_sessions WHERE run_id = :run_id")?
        .query_row(named_params! {":run_id": run_id}, |r| r.get("id"))
        .optional()?;
    match id {
        Some(id) => read(tx, id, run_id),
        None => Ok(None),
    }
}
