//! Conversion between a [`MonitorReport`] and the rows of `monitor_sessions`,
//! `monitor_samples`, `monitor_statements` and `monitor_alerts`. A run's report is session
//! `run_id = <run>`; a standalone `loadgate monitor` session has no run.

use rusqlite::{params, OptionalExtension, Transaction};

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
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        run_id,
        rep.started_at_ms,
        rep.ended_at_ms,
        head.target,
        rep.server.version,
        rep.interval_s,
        rep.worst().map(Level::as_str),
        json(&head),
    ])?;
    let id = tx.last_insert_rowid();
    let mut st = tx.prepare_cached(
        "INSERT INTO monitor_samples (session_id, idx, t, at_ms, threads_connected, \
         threads_running, qps, buffer_pool_hit_pct, avg_statement_ms, sample_json) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    for (i, s) in rep.samples.iter().enumerate() {
        st.execute(params![
            id,
            i,
            s.t,
            s.at_ms,
            s.threads_connected,
            s.threads_running,
            s.qps,
            s.buffer_pool_hit_pct,
            s.avg_statement_ms,
            json(s),
        ])?;
    }
    let mut st = tx.prepare_cached(
        "INSERT INTO monitor_statements (session_id, idx, name, sql, source, digest, count, \
         total_ms, avg_ms, max_ms, rows_examined, rows_sent, lock_ms, no_index_used, \
         tmp_disk_tables, errors) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?;
    for (i, s) in rep.statements.iter().enumerate() {
        st.execute(params![
            id,
            i,
            s.name,
            s.sql,
            s.source,
            s.digest,
            s.count,
            s.total_ms,
            s.avg_ms,
            s.max_ms,
            s.rows_examined,
            s.rows_sent,
            s.lock_ms,
            s.no_index_used,
            s.tmp_disk_tables,
            s.errors,
        ])?;
    }
    let mut st = tx.prepare_cached(
        "INSERT INTO monitor_alerts (session_id, idx, metric, level, value, threshold, message) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (i, a) in rep.alerts.iter().enumerate() {
        st.execute(params![
            id,
            i,
            a.metric,
            a.level.as_str(),
            a.value,
            a.threshold,
            a.message,
        ])?;
    }
    Ok(id)
}

/// Replaces the monitor report of run `run_id` (none removes it).
pub(super) fn replace_for_run(
    tx: &Transaction<'_>,
    run_id: i64,
    rep: Option<&MonitorReport>,
) -> Result<(), TxError> {
    tx.prepare_cached("DELETE FROM monitor_sessions WHERE run_id = ?1")?
        .execute([run_id])?;
    if let Some(r) = rep {
        insert(tx, Some(run_id), r)?;
    }
    Ok(())
}

fn real(r: &rusqlite::Row<'_>, i: usize) -> rusqlite::Result<f64> {
    Ok(r.get::<_, Option<f64>>(i)?.unwrap_or(f64::NAN))
}

/// Reads session `id`; `None` when there is no such session.
pub(super) fn read(
    tx: &Transaction<'_>,
    id: i64,
    run_id: i64,
) -> Result<Option<MonitorReport>, TxError> {
    let Some(head): Option<String> = tx
        .prepare_cached("SELECT report_json FROM monitor_sessions WHERE id = ?1")?
        .query_row([id], |r| r.get(0))
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
        "SELECT sample_json FROM monitor_samples WHERE session_id = ?1 ORDER BY idx",
    )?;
    let texts: Vec<String> = st
        .query_map([id], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    rep.samples = texts
        .iter()
        .map(|t| serde_json::from_str::<ServerSample>(t))
        .collect::<Result<_, _>>()
        .map_err(|e| corrupt("sample", e))?;
    let mut st = tx.prepare_cached(
        "SELECT name, sql, source, digest, count, total_ms, avg_ms, max_ms, rows_examined, \
         rows_sent, lock_ms, no_index_used, tmp_disk_tables, errors \
         FROM monitor_statements WHERE session_id = ?1 ORDER BY idx",
    )?;
    rep.statements = st
        .query_map([id], |r| {
            Ok(StatementStat {
                name: r.get(0)?,
                sql: r.get(1)?,
                source: r.get(2)?,
                digest: r.get(3)?,
                count: r.get(4)?,
                total_ms: real(r, 5)?,
                avg_ms: real(r, 6)?,
                max_ms: real(r, 7)?,
                rows_examined: r.get(8)?,
                rows_sent: r.get(9)?,
                lock_ms: r.get(10)?,
                no_index_used: r.get(11)?,
                tmp_disk_tables: r.get(12)?,
                errors: r.get(13)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    let mut st = tx.prepare_cached(
        "SELECT metric, level, value, threshold, message FROM monitor_alerts \
         WHERE session_id = ?1 ORDER BY idx",
    )?;
    let rows: Vec<(String, String, f64, f64, String)> = st
        .query_map([id], |r| {
            Ok((r.get(0)?, r.get(1)?, real(r, 2)?, real(r, 3)?, r.get(4)?))
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
        .prepare_cached("SELECT id FROM monitor_sessions WHERE run_id = ?1")?
        .query_row([run_id], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => read(tx, id, run_id),
        None => Ok(None),
    }
}
