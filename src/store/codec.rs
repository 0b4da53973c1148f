//! Conversion between a [`RunRecord`] and the rows of `runs`, `run_histograms` and
//! `run_intervals`. Every statement that touches a run's rows lives here.
//!
//! The columns of `runs` and `run_intervals` are each one list ([`RUN_COLUMNS`],
//! [`INTERVAL_COLUMNS`]): a column's name beside where its value comes from. The INSERT, UPDATE
//! and SELECT statements are generated from the list, values are bound by parameter name
//! (`:name`) and read back by column name, so no statement depends on a column's position. A
//! test checks each list against the table as the migrations create it.

use rusqlite::types::ToSql;
use rusqlite::{named_params, OptionalExtension, Row, RowIndex, Statement, Transaction};

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
    /// The work per transaction ([`crate::record::work::Work`]), as JSON.
    work_json: Option<String>,
    tps: Option<f64>,
    qps: Option<f64>,
    p99_corrected_ms: Option<f64>,
    p99_service_ms: Option<f64>,
    error_count: Option<u64>,
    /// The process that began the run, while it runs ([`super::owner::Owner`]).
    owner_host: Option<String>,
    owner_boot_id: Option<String>,
    owner_pid: Option<i64>,
    owner_start: Option<i64>,
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
        let settings_json = encode("settings", &settings)?;
        let facts_json = (!rec.facts.is_empty())
            .then(|| encode("facts", &rec.facts))
            .transpose()?;
        let testbed_json = encode("testbed", &rec.testbed)?;
        let summary_json = rec
            .summary
            .as_ref()
            .map(|s| encode("summary", s))
            .transpose()?;
        let work_json = rec.work.as_ref().map(|w| encode("work", w)).transpose()?;
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
            work_json,
            tps: s.map(|s| s.tps),
            qps: s.map(|s| s.qps.total),
            p99_corrected_ms: s.map(|s| s.latency_corrected.p99),
            p99_service_ms: s.map(|s| s.latency_service.p99),
            error_count: s.map(|s| s.errors.iter().fold(0u64, |n, e| n.saturating_add(e.count))),
            owner_host: None,
            owner_boot_id: None,
            owner_pid: None,
            owner_start: None,
        })
    }

    /// The row of a run that has just started: its identity and configuration, status
    /// `running`, no end and no results, and the process that runs it (so that an open after
    /// that process died can say the run was interrupted).
    pub fn started(rec: &'a RunRecord) -> Result<Self, EncodeError> {
        let mut row = Self::full(rec)?;
        if let Some(o) = super::owner::Owner::current() {
            row.owner_host = Some(o.host);
            row.owner_boot_id = Some(o.boot_id);
            row.owner_pid = Some(o.pid);
            row.owner_start = Some(o.start);
        }
        row.ended_at_ms = None;
        row.status = RunStatus::Running.as_str();
        row.status_reason = None;
        row.summary_json = None;
        row.work_json = None;
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

/// One column of a table: its name and where its value comes from (`get`).
pub(super) struct Column<G> {
    pub name: &'static str,
    pub get: G,
}

const fn col<G>(name: &'static str, get: G) -> Column<G> {
    Column { name, get }
}

/// Reads the value of a column of `runs` from a run's row.
type RunValue = for<'r, 'a> fn(&'r RunRow<'a>) -> &'r dyn ToSql;

/// Reads the value of a column of `run_intervals` from an interval.
type IntervalValue = for<'r> fn(&'r IntervalSample) -> &'r dyn ToSql;

/// The columns of `runs` after its `id`, in table order.
pub(super) const RUN_COLUMNS: &[Column<RunValue>] = &[
    col("set_id", |r| &r.rec.set_id),
    col("started_at_ms", |r| &r.rec.started_at_ms),
    col("ended_at_ms", |r| &r.ended_at_ms),
    col("status", |r| &r.status),
    col("status_reason", |r| &r.status_reason),
    col("workload", |r| &r.rec.workload),
    col("workload_hash", |r| &r.rec.workload_hash),
    col("settings_json", |r| &r.settings_json),
    col("target", |r| &r.target),
    col("server_flavor", |r| &r.rec.server.flavor),
    col("server_version", |r| &r.rec.server.version),
    col("server_version_comment", |r| &r.rec.server.version_comment),
    col("testbed_json", |r| &r.testbed_json),
    col("testbed_fingerprint", |r| &r.rec.testbed.fingerprint),
    col("git_commit", |r| &r.rec.git_commit),
    col("tool_version", |r| &r.rec.tool_version),
    col("record_version", |_| &RECORD_VERSION),
    col("summary_json", |r| &r.summary_json),
    col("tps", |r| &r.tps),
    col("qps", |r| &r.qps),
    col("p99_corrected_ms", |r| &r.p99_corrected_ms),
    col("p99_service_ms", |r| &r.p99_service_ms),
    col("error_count", |r| &r.error_count),
    col("facts_json", |r| &r.facts_json),
    col("owner_host", |r| &r.owner_host),
    col("owner_boot_id", |r| &r.owner_boot_id),
    col("owner_pid", |r| &r.owner_pid),
    col("owner_start", |r| &r.owner_start),
    col("work_json", |r| &r.work_json),
];

/// The columns of `run_intervals` after its key (`run_id`, `idx`), in table order.
pub(super) const INTERVAL_COLUMNS: &[Column<IntervalValue>] = &[
    col("t", |s| &s.t),
    col("warmup", |s| &s.warmup),
    col("transactions", |s| &s.transactions),
    col("reads", |s| &s.queries.read),
    col("writes", |s| &s.queries.write),
    col("others", |s| &s.queries.other),
    col("errors", |s| &s.errors),
    col("retries", |s| &s.retries),
    col("reconnects", |s| &s.reconnects),
    col("tps", |s| &s.tps),
    col("qps", |s| &s.qps),
    col("corrected_p50_ms", |s| &s.corrected_p50_ms),
    col("corrected_p95_ms", |s| &s.corrected_p95_ms),
    col("corrected_p99_ms", |s| &s.corrected_p99_ms),
    col("corrected_max_ms", |s| &s.corrected_max_ms),
    col("service_p99_ms", |s| &s.service_p99_ms),
    col("queue_depth", |s| &s.queue_depth),
    col("conn_open", |s| &s.conn_open),
    col("conn_in_use", |s| &s.conn_in_use),
    col("connects", |s| &s.connects),
    col("connect_max_ms", |s| &s.connect_max_ms),
    col("conn_discarded", |s| &s.conn_discarded),
    col("wait_avg_ms", |s| &s.wait_avg_ms),
    col("wait_max_ms", |s| &s.wait_max_ms),
];

/// `a, b, c`: the names of `cols`, for a SELECT.
fn column_list<G>(cols: &[Column<G>]) -> String {
    cols.iter().map(|c| c.name).collect::<Vec<_>>().join(", ")
}

/// `INSERT INTO table (k, a, b) VALUES (:k, :a, :b)`: the key columns `keys`, then `cols`.
fn insert_sql<G>(table: &str, keys: &[&str], cols: &[Column<G>]) -> String {
    let names: Vec<&str> = keys
        .iter()
        .copied()
        .chain(cols.iter().map(|c| c.name))
        .collect();
    let params: Vec<String> = names.iter().map(|n| format!(":{n}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({})",
        names.join(", "),
        params.join(", ")
    )
}

/// `UPDATE table SET a = :a, b = :b WHERE key = :key`.
fn update_sql<G>(table: &str, key: &str, cols: &[Column<G>]) -> String {
    let set: Vec<String> = cols.iter().map(|c| format!("{0} = :{0}", c.name)).collect();
    format!("UPDATE {table} SET {} WHERE {key} = :{key}", set.join(", "))
}

/// Binds `value` to the parameter `:name` of `st`; an error if `st` has no such parameter.
fn bind(st: &mut Statement<'_>, name: &str, value: &dyn ToSql) -> rusqlite::Result<()> {
    st.raw_bind_parameter(format!(":{name}").as_str(), value)
}

/// Binds the value of every column of `cols` in `row` to its parameter.
fn bind_columns<T: ?Sized, G: Fn(&T) -> &dyn ToSql>(
    st: &mut Statement<'_>,
    cols: &[Column<G>],
    row: &T,
) -> rusqlite::Result<()> {
    for c in cols {
        bind(st, c.name, (c.get)(row))?;
    }
    Ok(())
}

/// Inserts a `runs` row and returns its id.
pub(super) fn insert_run_row(tx: &Transaction<'_>, row: &RunRow<'_>) -> Result<i64, TxError> {
    let mut st = tx.prepare_cached(&insert_sql("runs", &[], RUN_COLUMNS))?;
    bind_columns(&mut st, RUN_COLUMNS, row)?;
    st.raw_execute()?;
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
    let mut st = tx.prepare_cached(&update_sql("runs", "id", RUN_COLUMNS))?;
    bind(&mut st, "id", &id)?;
    bind_columns(&mut st, RUN_COLUMNS, row)?;
    let changed = st.raw_execute()?;
    if changed == 0 {
        return Err(TxError::NotFound(id));
    }
    tx.prepare_cached("DELETE FROM run_histograms WHERE run_id = :run_id")?
        .execute(named_params! {":run_id": id})?;
    tx.prepare_cached("DELETE FROM run_intervals WHERE run_id = :run_id")?
        .execute(named_params! {":run_id": id})?;
    write_body(tx, id, r)?;
    super::monitor::replace_for_run(tx, id, r.monitor.as_ref())
}

/// Inserts `samples` as the intervals of run `id` from index `from` on (replacing any there).
pub(super) fn write_intervals(
    tx: &Transaction<'_>,
    id: i64,
    from: usize,
    samples: &[IntervalSample],
) -> Result<(), TxError> {
    let sql = insert_sql("run_intervals", &["run_id", "idx"], INTERVAL_COLUMNS).replacen(
        "INSERT",
        "INSERT OR REPLACE",
        1,
    );
    let mut st = tx.prepare_cached(&sql)?;
    for (i, s) in samples.iter().enumerate() {
        bind(&mut st, "run_id", &id)?;
        bind(&mut st, "idx", &(from + i))?;
        bind_columns(&mut st, INTERVAL_COLUMNS, s)?;
        st.raw_execute()?;
    }
    Ok(())
}

/// Inserts the histograms and intervals of run `id`.
fn write_body(tx: &Transaction<'_>, id: i64, rec: &RunRecord) -> Result<(), TxError> {
    let mut st = tx.prepare_cached(
        "INSERT INTO run_histograms (run_id, idx, scope, kind, data) \
         VALUES (:run_id, :idx, :scope, :kind, :data)",
    )?;
    for (idx, h) in rec.histograms.iter().enumerate() {
        st.execute(named_params! {
            ":run_id": id,
            ":idx": idx,
            ":scope": h.key.scope.to_string(),
            ":kind": h.key.kind.as_str(),
            ":data": h.bytes,
        })?;
    }
    let mut st = tx.prepare_cached(&insert_sql(
        "run_intervals",
        &["run_id", "idx"],
        INTERVAL_COLUMNS,
    ))?;
    for (idx, s) in rec.intervals.iter().enumerate() {
        bind(&mut st, "run_id", &id)?;
        bind(&mut st, "idx", &idx)?;
        bind_columns(&mut st, INTERVAL_COLUMNS, s)?;
        st.raw_execute()?;
    }
    Ok(())
}

/// Marks run `id`, still `running`, as `interrupted`: its process (`pid`) is gone. Its end is
/// the end of the last interval it flushed (none: no end). False when it is no longer running
/// (its process finished it meanwhile).
pub(super) fn mark_interrupted(tx: &Transaction<'_>, id: i64, pid: i64) -> Result<bool, TxError> {
    let (flushed, last_t): (i64, Option<f64>) = tx.query_row(
        "SELECT count(*), max(t) FROM run_intervals WHERE run_id = :id",
        named_params! {":id": id},
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let kept = match flushed {
        0 => "nothing it measured had been flushed to the store".to_string(),
        n => format!("the {n} interval(s) it flushed are kept"),
    };
    let reason = format!(
        "its loadgate process (pid {pid}) ended before the run finished (killed, or the \
         machine restarted); {kept}"
    );
    let changed = tx.execute(
        "UPDATE runs SET status = 'interrupted', status_reason = :reason, \
         ended_at_ms = started_at_ms + CAST(round(:last_t * 1000) AS INTEGER), \
         owner_host = NULL, owner_boot_id = NULL, owner_pid = NULL, owner_start = NULL \
         WHERE id = :id AND status = 'running'",
        named_params! {":id": id, ":reason": reason, ":last_t": last_t},
    )?;
    Ok(changed > 0)
}

/// The id of a finished run (neither `running` nor `interrupted`) that is `rec`: the same
/// start, workload and target. How an import sees that it was imported before.
pub(super) fn same_run(tx: &Transaction<'_>, rec: &RunRecord) -> Result<Option<i64>, TxError> {
    Ok(tx
        .query_row(
            "SELECT id FROM runs WHERE started_at_ms = :started AND workload = :workload \
             AND target = :target AND status NOT IN ('running', 'interrupted') \
             ORDER BY id LIMIT 1",
            named_params! {
                ":started": rec.started_at_ms,
                ":workload": rec.workload,
                ":target": redact_url(&rec.target),
            },
            |r| r.get(0),
        )
        .optional()?)
}

/// Whether run `id` is the row `rec` began and never finished: `running` or `interrupted`,
/// with `rec`'s start and workload.
pub(super) fn is_unfinished(
    tx: &Transaction<'_>,
    id: i64,
    rec: &RunRecord,
) -> Result<bool, TxError> {
    let found: Option<i64> = tx
        .query_row(
            "SELECT id FROM runs WHERE id = :id AND started_at_ms = :started \
             AND workload = :workload AND status IN ('running', 'interrupted')",
            named_params! {":id": id, ":started": rec.started_at_ms, ":workload": rec.workload},
            |r| r.get(0),
        )
        .optional()?;
    Ok(found.is_some())
}

/// Inserts a complete run (row, histograms, intervals) and returns its id.
pub(super) fn insert_full(tx: &Transaction<'_>, row: &RunRow<'_>) -> Result<i64, TxError> {
    let id = insert_run_row(tx, row)?;
    write_body(tx, id, row.rec)?;
    super::monitor::replace_for_run(tx, id, row.rec.monitor.as_ref())?;
    Ok(id)
}

/// SQLite stores a NaN as NULL; read it back as NaN.
fn real<I: RowIndex>(row: &Row<'_>, i: I) -> rusqlite::Result<f64> {
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
        work_json: Option<String>,
    }
    let found = tx
        .prepare_cached(&format!(
            "SELECT {} FROM runs WHERE id = :id",
            column_list(RUN_COLUMNS)
        ))?
        .query_row(named_params! {":id": id}, |r| {
            let rec = RunRecord {
                id: Some(id),
                set_id: r.get("set_id")?,
                started_at_ms: r.get("started_at_ms")?,
                ended_at_ms: r.get("ended_at_ms")?,
                status: RunStatusField::default(),
                status_reason: r.get("status_reason")?,
                workload: r.get("workload")?,
                workload_hash: r.get("workload_hash")?,
                settings: RunSettings::default(),
                facts: RunFacts::default(),
                target: r.get("target")?,
                server: ServerInfo {
                    flavor: r.get("server_flavor")?,
                    version: r.get("server_version")?,
                    version_comment: r.get("server_version_comment")?,
                },
                testbed: Testbed::default(),
                git_commit: r.get("git_commit")?,
                tool_version: r.get("tool_version")?,
                summary: None,
                histograms: Vec::new(),
                intervals: Vec::new(),
                monitor: None,
                work: None,
            };
            let raw = Raw {
                status: r.get("status")?,
                settings_json: r.get("settings_json")?,
                testbed_json: r.get("testbed_json")?,
                summary_json: r.get("summary_json")?,
                facts_json: r.get("facts_json")?,
                work_json: r.get("work_json")?,
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
    rec.work = raw
        .work_json
        .as_deref()
        .map(|s| decode(id, "work", s))
        .transpose()?;
    rec.summary = raw
        .summary_json
        .as_deref()
        .map(|s| decode::<Summary>(id, "summary", s))
        .transpose()?;

    let mut st = tx.prepare_cached(
        "SELECT scope, kind, data FROM run_histograms WHERE run_id = :run_id ORDER BY idx",
    )?;
    rec.histograms = st
        .query_map(named_params! {":run_id": id}, |r| {
            Ok(StoredHistogram {
                key: HistKey::new(
                    HistScope::parse(&r.get::<_, String>("scope")?),
                    HistKind::parse(&r.get::<_, String>("kind")?),
                ),
                bytes: r.get("data")?,
            })
        })?
        .collect::<Result<_, _>>()?;

    let mut st = tx.prepare_cached(&format!(
        "SELECT {} FROM run_intervals WHERE run_id = :run_id ORDER BY idx",
        column_list(INTERVAL_COLUMNS)
    ))?;
    rec.intervals = st
        .query_map(named_params! {":run_id": id}, |r| {
            Ok(IntervalSample {
                t: real(r, "t")?,
                warmup: r.get("warmup")?,
                transactions: r.get("transactions")?,
                queries: QueryCounts {
                    read: r.get("reads")?,
                    write: r.get("writes")?,
                    other: r.get("others")?,
                },
                errors: r.get("errors")?,
                retries: r.get("retries")?,
                reconnects: r.get("reconnects")?,
                tps: real(r, "tps")?,
                qps: real(r, "qps")?,
                corrected_p50_ms: real(r, "corrected_p50_ms")?,
                corrected_p95_ms: real(r, "corrected_p95_ms")?,
                corrected_p99_ms: real(r, "corrected_p99_ms")?,
                corrected_max_ms: real(r, "corrected_max_ms")?,
                service_p99_ms: real(r, "service_p99_ms")?,
                queue_depth: r.get("queue_depth")?,
                // Absent (NULL) in runs stored before the monitor existed.
                conn_open: r.get::<_, Option<u64>>("conn_open")?.unwrap_or(0),
                conn_in_use: r.get::<_, Option<f64>>("conn_in_use")?.unwrap_or(0.0),
                connects: r.get::<_, Option<u64>>("connects")?.unwrap_or(0),
                connect_max_ms: r.get::<_, Option<f64>>("connect_max_ms")?.unwrap_or(0.0),
                conn_discarded: r.get::<_, Option<u64>>("conn_discarded")?.unwrap_or(0),
                wait_avg_ms: r.get::<_, Option<f64>>("wait_avg_ms")?.unwrap_or(0.0),
                wait_max_ms: r.get::<_, Option<f64>>("wait_max_ms")?.unwrap_or(0.0),
            })
        })?
        .collect::<Result<_, _>>()?;
    rec.monitor = super::monitor::read_for_run(tx, id)?;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    /// The columns of `table` as the migrations create it, in order.
    fn table_columns(conn: &Connection, table: &str) -> Vec<String> {
        let mut st = conn
            .prepare(&format!(
                "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
            ))
            .unwrap();
        let names = st.query_map([], |r| r.get(0)).unwrap();
        names.collect::<Result<_, _>>().unwrap()
    }

    fn names<G>(keys: &[&str], cols: &[Column<G>]) -> Vec<String> {
        let cols = cols.iter().map(|c| c.name);
        keys.iter().copied().chain(cols).map(String::from).collect()
    }

    #[test]
    fn column_lists_match_the_tables_the_migrations_create() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        assert_eq!(table_columns(&conn, "runs"), names(&["id"], RUN_COLUMNS));
        assert_eq!(
            table_columns(&conn, "run_intervals"),
            names(&["run_id", "idx"], INTERVAL_COLUMNS)
        );
    }

    #[test]
    fn reads_a_run_written_by_position_as_earlier_versions_did() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::migrate(&mut conn, std::path::Path::new(":memory:")).unwrap();
        let testbed = serde_json::to_string(&Testbed::default()).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO runs (set_id, started_at_ms, ended_at_ms, status, status_reason, \
             workload, workload_hash, settings_json, target, server_flavor, server_version, \
             server_version_comment, testbed_json, testbed_fingerprint, git_commit, tool_version, \
             record_version, summary_json, tps, qps, p99_corrected_ms, p99_service_ms, \
             error_count) VALUES ('s', 1000, 2000, 'complete', NULL, 'w', 'h', \
             '{{\"threads\":4}}', 'mysql://root@h:3306/db', 'mariadb', '10.11', 'Debian', \
             '{testbed}', 'fp', 'abc', '0.1.0', 1, NULL, 12.5, 25.0, 3.0, 2.0, 0);
             INSERT INTO run_intervals (run_id, idx, t, warmup, transactions, reads, writes, \
             others, errors, retries, reconnects, tps, qps, corrected_p50_ms, corrected_p95_ms, \
             corrected_p99_ms, corrected_max_ms, service_p99_ms, queue_depth) VALUES \
             (1, 0, 1.0, 0, 10, 20, 30, 40, 1, 2, 3, 10.0, 90.0, 0.5, 0.9, 1.1, 2.0, 1.0, 4);"
        ))
        .unwrap();
        let tx = conn.transaction().unwrap();
        let rec = read_run(&tx, 1).unwrap();
        assert_eq!(rec.set_id.as_deref(), Some("s"));
        assert_eq!((rec.started_at_ms, rec.ended_at_ms), (1000, Some(2000)));
        assert_eq!(rec.status.0, RunStatus::Complete);
        assert_eq!(
            (rec.workload.as_str(), rec.workload_hash.as_str()),
            ("w", "h")
        );
        assert_eq!(rec.settings.to_json()["threads"], 4);
        assert_eq!(rec.target, "mysql://root@h:3306/db");
        let server = &rec.server;
        assert_eq!(server.flavor, "mariadb");
        assert_eq!(
            (server.version.as_str(), server.version_comment.as_str()),
            ("10.11", "Debian")
        );
        assert_eq!(rec.git_commit.as_deref(), Some("abc"));
        assert_eq!(rec.tool_version, "0.1.0");
        assert!(rec.summary.is_none());
        let s = &rec.intervals[0];
        assert_eq!((s.t, s.warmup, s.transactions), (1.0, false, 10));
        assert_eq!(
            (s.queries.read, s.queries.write, s.queries.other),
            (20, 30, 40)
        );
        assert_eq!(
            (s.errors, s.retries, s.reconnects, s.queue_depth),
            (1, 2, 3, 4)
        );
        assert_eq!((s.tps, s.qps, s.service_p99_ms), (10.0, 90.0, 1.0));
        let corrected = (s.corrected_p50_ms, s.corrected_p95_ms, s.corrected_p99_ms);
        assert_eq!(corrected, (0.5, 0.9, 1.1));
        assert_eq!(s.corrected_max_ms, 2.0);
        // Columns added by a later migration are NULL in older rows and read as zero.
        assert_eq!((s.conn_open, s.connects, s.conn_discarded), (0, 0, 0));
        assert_eq!(
            (s.conn_in_use, s.wait_avg_ms, s.wait_max_ms),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn statements_are_generated_from_the_column_list() {
        let cols = &RUN_COLUMNS[..2];
        assert_eq!(column_list(cols), "set_id, started_at_ms");
        assert_eq!(
            insert_sql("runs", &["k"], cols),
            "INSERT INTO runs (k, set_id, started_at_ms) VALUES (:k, :set_id, :started_at_ms)"
        );
        assert_eq!(
            update_sql("runs", "id", cols),
            "UPDATE runs SET set_id = :set_id, started_at_ms = :started_at_ms WHERE id = :id"
        );
    }
}
