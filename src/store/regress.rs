//! The regression-tracking part of the store: run sets (the trials of one job), named
//! baselines with a snapshot of their runs' metrics, A/A calibrations per testbed and
//! workload, and the per-run metric rows that compare, history and calibrate read.
//!
//! A baseline copies the metrics of its runs when it is saved, so deleting a run later does not
//! change a baseline. Every statement on those tables lives here.

use rusqlite::{named_params, OptionalExtension, Row};
use serde::Serialize;

use super::redact::{redact_json, redact_url};
use super::{Store, StoreError, TxError};
use crate::record::work::{Work, WorkPerTxn};
use crate::record::{RunFacts, RunStatus, Testbed};

/// One run set: the trials of one `run --trials`, `gate`, `calibrate` job, or one side of an
/// A/B job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSet {
    pub set_id: String,
    /// `trials`, `gate`, `calibrate`, `ab`.
    pub kind: String,
    pub created_at_ms: i64,
    pub workload: String,
    /// Trials requested (the set may hold fewer if the job stopped early or failed).
    pub trials: u32,
    /// Free text, e.g. the A/B side's label.
    pub label: Option<String>,
}

/// The metrics of one stored run, without its histograms and series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunMetrics {
    pub id: i64,
    pub set_id: Option<String>,
    pub started_at_ms: i64,
    pub status: RunStatus,
    pub status_reason: Option<String>,
    pub workload: String,
    pub workload_hash: String,
    pub testbed_fingerprint: String,
    pub testbed: Testbed,
    /// The settings as asked for (stored JSON).
    pub settings: serde_json::Value,
    /// What the run found out while running (driver and scheduling policy that ran).
    pub facts: RunFacts,
    pub target: String,
    pub server_version: String,
    pub git_commit: Option<String>,
    pub tps: Option<f64>,
    pub p99_corrected_ms: Option<f64>,
    /// Every error seen, retried or not.
    pub errors: Option<u64>,
    /// Committed transactions.
    pub transactions: Option<u64>,
    /// The work per transaction; `None` for a run that did not measure it.
    pub work: Option<WorkPerTxn>,
}

impl RunMetrics {
    /// The settings as the run ran them (the driver and policy that ran), for comparisons.
    pub fn settings_as_ran(&self) -> serde_json::Value {
        self.facts.as_ran(&self.settings, false)
    }
}

/// The metrics of one run of a baseline, copied when the baseline was saved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BaselineRun {
    pub run_id: i64,
    pub started_at_ms: i64,
    pub tps: f64,
    pub p99_corrected_ms: f64,
    pub transactions: u64,
    pub errors: u64,
    /// The work per transaction; `None` for a run that did not measure it.
    pub work: Option<WorkPerTxn>,
}

/// A named baseline: a run set frozen with what it was measured on.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Baseline {
    pub name: String,
    pub created_at_ms: i64,
    pub set_id: String,
    pub workload: String,
    pub workload_hash: String,
    pub testbed: Testbed,
    /// The settings its runs asked for (stored JSON).
    pub settings: serde_json::Value,
    /// What its first run found out while running.
    pub facts: RunFacts,
    pub target: String,
    pub server_version: String,
    pub git_commit: Option<String>,
    pub runs: Vec<BaselineRun>,
}

impl Baseline {
    /// The settings as its runs ran them, for comparisons.
    pub fn settings_as_ran(&self) -> serde_json::Value {
        self.facts.as_ran(&self.settings, false)
    }
}

/// The run-to-run noise measured by A/A trials on one testbed for one workload: log-scale
/// standard deviations from `stats::run_noise`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    pub id: Option<i64>,
    pub created_at_ms: i64,
    pub testbed_fingerprint: String,
    pub workload: String,
    pub workload_hash: String,
    pub settings: serde_json::Value,
    pub set_id: String,
    pub trials: u32,
    pub noise_tps: f64,
    pub noise_p99: f64,
    /// `None` when the trials saw (almost) no errors.
    pub noise_error_rate: Option<f64>,
    /// Rows examined per transaction; `None` when not every trial measured it.
    pub noise_rows: Option<f64>,
    /// Page requests per transaction; `None` when not every trial measured it.
    pub noise_pages: Option<f64>,
    /// Client and server CPU time per transaction; `None` when not every trial measured it.
    pub noise_client_cpu: Option<f64>,
    pub noise_server_cpu: Option<f64>,
}

impl Calibration {
    /// The measured noise of metric `m` (`None`: negligible errors, or work not measured).
    pub fn noise_of(&self, m: crate::regress::Metric) -> Option<f64> {
        use crate::regress::Metric;
        match m {
            Metric::Tps => Some(self.noise_tps),
            Metric::P99 => Some(self.noise_p99),
            Metric::ErrorRate => self.noise_error_rate,
            Metric::RowsPerTxn => self.noise_rows,
            Metric::PagesPerTxn => self.noise_pages,
            Metric::SpillsPerTxn => None,
            Metric::ClientCpuPerTxn => self.noise_client_cpu,
            Metric::ServerCpuPerTxn => self.noise_server_cpu,
        }
    }
}

const METRIC_COLUMNS: &str = "id, set_id, started_at_ms, status, status_reason, workload, \
    workload_hash, testbed_fingerprint, testbed_json, settings_json, target, server_version, \
    git_commit, tps, p99_corrected_ms, error_count, \
    json_extract(summary_json, '$.transactions') AS transactions, facts_json, work_json";

/// A metrics row and its JSON columns still to decode: status, testbed, settings, facts, work.
type MetricsRow = (
    RunMetrics,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn metrics_row(r: &Row<'_>) -> rusqlite::Result<MetricsRow> {
    let testbed_json: String = r.get("testbed_json")?;
    let settings_json: String = r.get("settings_json")?;
    let status: String = r.get("status")?;
    let count = |name: &str| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(name)?.map(|v| v.max(0) as u64))
    };
    Ok((
        RunMetrics {
            id: r.get("id")?,
            set_id: r.get("set_id")?,
            started_at_ms: r.get("started_at_ms")?,
            status: RunStatus::Running,
            status_reason: r.get("status_reason")?,
            workload: r.get("workload")?,
            workload_hash: r.get("workload_hash")?,
            testbed_fingerprint: r.get("testbed_fingerprint")?,
            testbed: Testbed::default(),
            settings: serde_json::Value::Null,
            facts: RunFacts::default(),
            target: r.get("target")?,
            server_version: r.get("server_version")?,
            git_commit: r.get("git_commit")?,
            tps: r.get("tps")?,
            p99_corrected_ms: r.get("p99_corrected_ms")?,
            errors: count("error_count")?,
            transactions: count("transactions")?,
            work: None,
        },
        status,
        testbed_json,
        settings_json,
        r.get("facts_json")?,
        r.get("work_json")?,
    ))
}

fn finish_metrics(
    (mut m, status, testbed_json, settings_json, facts_json, work_json): MetricsRow,
) -> Result<RunMetrics, TxError> {
    if let Some(w) = work_json {
        let work: Work = serde_json::from_str(&w).map_err(|e| TxError::Corrupt {
            id: m.id,
            detail: format!("its work is not valid JSON: {e}"),
        })?;
        m.work = work.judged();
    }
    m.status = RunStatus::parse(&status).ok_or_else(|| TxError::Corrupt {
        id: m.id,
        detail: format!("unknown status {status:?}"),
    })?;
    m.testbed = serde_json::from_str(&testbed_json).map_err(|e| TxError::Corrupt {
        id: m.id,
        detail: format!("its testbed is not valid JSON: {e}"),
    })?;
    m.settings = serde_json::from_str(&settings_json).map_err(|e| TxError::Corrupt {
        id: m.id,
        detail: format!("its settings are not valid JSON: {e}"),
    })?;
    if let Some(f) = facts_json {
        m.facts = serde_json::from_str(&f).map_err(|e| TxError::Corrupt {
            id: m.id,
            detail: format!("its facts are not valid JSON: {e}"),
        })?;
    }
    Ok(m)
}

fn set_row(r: &Row<'_>) -> rusqlite::Result<RunSet> {
    Ok(RunSet {
        set_id: r.get("set_id")?,
        kind: r.get("kind")?,
        created_at_ms: r.get("created_at_ms")?,
        workload: r.get("workload")?,
        trials: r.get::<_, i64>("trials")?.clamp(0, u32::MAX as i64) as u32,
        label: r.get("label")?,
    })
}

const SET_COLUMNS: &str = "set_id, kind, created_at_ms, workload, trials, label";

fn calibration_row(r: &Row<'_>) -> rusqlite::Result<(Calibration, String)> {
    Ok((
        Calibration {
            id: r.get("id")?,
            created_at_ms: r.get("created_at_ms")?,
            testbed_fingerprint: r.get("testbed_fingerprint")?,
            workload: r.get("workload")?,
            workload_hash: r.get("workload_hash")?,
            settings: serde_json::Value::Null,
            set_id: r.get("set_id")?,
            trials: r.get::<_, i64>("trials")?.clamp(0, u32::MAX as i64) as u32,
            noise_tps: r.get("noise_tps")?,
            noise_p99: r.get("noise_p99")?,
            noise_error_rate: r.get("noise_error_rate")?,
            noise_rows: r.get("noise_rows")?,
            noise_pages: r.get("noise_pages")?,
            noise_client_cpu: r.get("noise_client_cpu")?,
            noise_server_cpu: r.get("noise_server_cpu")?,
        },
        r.get("settings_json")?,
    ))
}

const CALIBRATION_COLUMNS: &str = "id, created_at_ms, testbed_fingerprint, workload, \
    workload_hash, settings_json, set_id, trials, noise_tps, noise_p99, noise_error_rate, \
    noise_rows, noise_pages, noise_client_cpu, noise_server_cpu";

impl Store {
    /// Records a new run set (before its first run).
    pub fn insert_run_set(&mut self, set: &RunSet) -> Result<(), StoreError> {
        self.write("record a run set", |tx| {
            tx.execute(
                &format!(
                    "INSERT INTO run_sets ({SET_COLUMNS}) \
                     VALUES (:set_id, :kind, :created_at_ms, :workload, :trials, :label)"
                ),
                named_params! {
                    ":set_id": set.set_id,
                    ":kind": set.kind,
                    ":created_at_ms": set.created_at_ms,
                    ":workload": set.workload,
                    ":trials": set.trials,
                    ":label": set.label,
                },
            )?;
            Ok(())
        })
    }

    /// The run set `set_id`, if recorded.
    pub fn get_run_set(&self, set_id: &str) -> Result<Option<RunSet>, StoreError> {
        self.read("read a run set", |tx| {
            Ok(tx
                .query_row(
                    &format!("SELECT {SET_COLUMNS} FROM run_sets WHERE set_id = :set_id"),
                    named_params! {":set_id": set_id},
                    set_row,
                )
                .optional()?)
        })
    }

    /// The most recent run set of one of `kinds`.
    pub fn last_run_set(&self, kinds: &[&str]) -> Result<Option<RunSet>, StoreError> {
        self.read("find the last run set", |tx| {
            let list = kinds
                .iter()
                .map(|k| format!("'{}'", k.replace('\'', "''")))
                .collect::<Vec<_>>()
                .join(", ");
            Ok(tx
                .query_row(
                    &format!(
                        "SELECT {SET_COLUMNS} FROM run_sets WHERE kind IN ({list}) \
                         ORDER BY created_at_ms DESC, rowid DESC LIMIT 1"
                    ),
                    [],
                    set_row,
                )
                .optional()?)
        })
    }

    /// The metrics of every run in set `set_id`, in the order they were run.
    pub fn runs_in_set(&self, set_id: &str) -> Result<Vec<RunMetrics>, StoreError> {
        self.read("read the runs of a set", |tx| {
            let mut st = tx.prepare(&format!(
                "SELECT {METRIC_COLUMNS} FROM runs WHERE set_id = :set_id \
                 ORDER BY started_at_ms, id"
            ))?;
            let rows = st.query_map(named_params! {":set_id": set_id}, metrics_row)?;
            let mut out = Vec::new();
            for r in rows {
                out.push(finish_metrics(r?)?);
            }
            Ok(out)
        })
    }

    /// The complete runs of `workload` (optionally on one testbed), oldest first.
    pub fn run_series(
        &self,
        workload: &str,
        testbed: Option<&str>,
    ) -> Result<Vec<RunMetrics>, StoreError> {
        self.read("read the history of a workload", |tx| {
            let mut sql = format!(
                "SELECT {METRIC_COLUMNS} FROM runs \
                 WHERE workload = :workload AND status = 'complete'"
            );
            if testbed.is_some() {
                sql.push_str(" AND testbed_fingerprint = :testbed");
            }
            sql.push_str(" ORDER BY started_at_ms, id");
            let mut st = tx.prepare(&sql)?;
            let rows = match testbed {
                Some(t) => st.query_map(
                    named_params! {":workload": workload, ":testbed": t},
                    metrics_row,
                )?,
                None => st.query_map(named_params! {":workload": workload}, metrics_row)?,
            };
            let mut out = Vec::new();
            for r in rows {
                out.push(finish_metrics(r?)?);
            }
            Ok(out)
        })
    }

    /// Saves `b`. Returns `false` (and changes nothing) when a baseline of that name exists and
    /// `replace` is false.
    pub fn save_baseline(&mut self, b: &Baseline, replace: bool) -> Result<bool, StoreError> {
        let testbed_json =
            serde_json::to_string(&b.testbed).map_err(|source| StoreError::Encode {
                what: "testbed",
                source,
            })?;
        let mut settings = b.settings.clone();
        redact_json(&mut settings);
        let settings_json =
            serde_json::to_string(&settings).map_err(|source| StoreError::Encode {
                what: "settings",
                source,
            })?;
        let facts_json = (!b.facts.is_empty())
            .then(|| serde_json::to_string(&b.facts))
            .transpose()
            .map_err(|source| StoreError::Encode {
                what: "facts",
                source,
            })?;
        let target = redact_url(&b.target);
        self.write("save a baseline", |tx| {
            let exists: bool = tx
                .query_row(
                    "SELECT 1 FROM baselines WHERE name = :name",
                    named_params! {":name": b.name},
                    |_| Ok(true),
                )
                .optional()?
                .unwrap_or(false);
            if exists && !replace {
                return Ok(false);
            }
            tx.execute(
                "DELETE FROM baselines WHERE name = :name",
                named_params! {":name": b.name},
            )?;
            tx.execute(
                "INSERT INTO baselines (name, created_at_ms, set_id, workload, workload_hash, \
                 testbed_fingerprint, testbed_json, settings_json, target, server_version, \
                 git_commit, facts_json) VALUES (:name, :created_at_ms, :set_id, :workload, \
                 :workload_hash, :testbed_fingerprint, :testbed_json, :settings_json, :target, \
                 :server_version, :git_commit, :facts_json)",
                named_params! {
                    ":name": b.name,
                    ":created_at_ms": b.created_at_ms,
                    ":set_id": b.set_id,
                    ":workload": b.workload,
                    ":workload_hash": b.workload_hash,
                    ":testbed_fingerprint": b.testbed.fingerprint,
                    ":testbed_json": testbed_json,
                    ":settings_json": settings_json,
                    ":target": target,
                    ":server_version": b.server_version,
                    ":git_commit": b.git_commit,
                    ":facts_json": facts_json,
                },
            )?;
            let mut st = tx.prepare(
                "INSERT INTO baseline_runs (baseline, idx, run_id, started_at_ms, tps, \
                 p99_corrected_ms, transactions, errors, work_json) VALUES (:baseline, :idx, \
                 :run_id, :started_at_ms, :tps, :p99_corrected_ms, :transactions, :errors, \
                 :work_json)",
            )?;
            for (i, r) in b.runs.iter().enumerate() {
                st.execute(named_params! {
                    ":baseline": b.name,
                    ":idx": i as i64,
                    ":run_id": r.run_id,
                    ":started_at_ms": r.started_at_ms,
                    ":tps": r.tps,
                    ":p99_corrected_ms": r.p99_corrected_ms,
                    ":transactions": r.transactions as i64,
                    ":errors": r.errors as i64,
                    ":work_json": r.work.map(|w| serde_json::to_string(&w)).transpose().map_err(|e| TxError::Corrupt { id: r.run_id, detail: format!("its work cannot be encoded: {e}") })?,
                })?;
            }
            Ok(true)
        })
    }

    /// The baseline called `name`, with its runs.
    pub fn get_baseline(&self, name: &str) -> Result<Option<Baseline>, StoreError> {
        self.read("read a baseline", |tx| {
            let head = tx
                .query_row(
                    "SELECT name, created_at_ms, set_id, workload, workload_hash, testbed_json, \
                     settings_json, target, server_version, git_commit, facts_json FROM baselines \
                     WHERE name = :name",
                    named_params! {":name": name},
                    |r| {
                        Ok((
                            Baseline {
                                name: r.get("name")?,
                                created_at_ms: r.get("created_at_ms")?,
                                set_id: r.get("set_id")?,
                                workload: r.get("workload")?,
                                workload_hash: r.get("workload_hash")?,
                                testbed: Testbed::default(),
                                settings: serde_json::Value::Null,
                                facts: RunFacts::default(),
                                target: r.get("target")?,
                                server_version: r.get("server_version")?,
                                git_commit: r.get("git_commit")?,
                                runs: Vec::new(),
                            },
                            r.get::<_, String>("testbed_json")?,
                            r.get::<_, String>("settings_json")?,
                            r.get::<_, Option<String>>("facts_json")?,
                        ))
                    },
                )
                .optional()?;
            let Some((mut b, testbed_json, settings_json, facts_json)) = head else {
                return Ok(None);
            };
            let corrupt = |what: &str, e: serde_json::Error| TxError::Corrupt {
                id: 0,
                detail: format!("baseline `{name}`: its {what} is not valid JSON: {e}"),
            };
            b.testbed = serde_json::from_str(&testbed_json).map_err(|e| corrupt("testbed", e))?;
            b.settings =
                serde_json::from_str(&settings_json).map_err(|e| corrupt("settings", e))?;
            if let Some(f) = facts_json {
                b.facts = serde_json::from_str(&f).map_err(|e| corrupt("facts", e))?;
            }
            let mut st = tx.prepare(
                "SELECT run_id, started_at_ms, tps, p99_corrected_ms, transactions, errors, \
                 work_json FROM baseline_runs WHERE baseline = :baseline ORDER BY idx",
            )?;
            let rows = st.query_map(named_params! {":baseline": name}, |r| {
                Ok(BaselineRun {
                    run_id: r.get("run_id")?,
                    started_at_ms: r.get("started_at_ms")?,
                    tps: r.get("tps")?,
                    p99_corrected_ms: r.get("p99_corrected_ms")?,
                    transactions: r.get::<_, i64>("transactions")?.max(0) as u64,
                    errors: r.get::<_, i64>("errors")?.max(0) as u64,
                    // Unreadable work is "not measured", never a wrong value.
                    work: r
                        .get::<_, Option<String>>("work_json")?
                        .and_then(|w| serde_json::from_str(&w).ok()),
                })
            })?;
            for r in rows {
                b.runs.push(r?);
            }
            Ok(Some(b))
        })
    }

    /// Every baseline's name, newest first.
    pub fn baseline_names(&self) -> Result<Vec<String>, StoreError> {
        self.read("list baselines", |tx| {
            let mut st =
                tx.prepare("SELECT name FROM baselines ORDER BY created_at_ms DESC, name")?;
            let names = st.query_map([], |r| r.get("name"))?;
            Ok(names.collect::<Result<Vec<String>, _>>()?)
        })
    }

    /// Deletes the baseline `name` (its runs stay in the store). Returns whether it existed.
    pub fn delete_baseline(&mut self, name: &str) -> Result<bool, StoreError> {
        self.write("delete a baseline", |tx| {
            let deleted = tx.execute(
                "DELETE FROM baselines WHERE name = :name",
                named_params! {":name": name},
            )?;
            Ok(deleted > 0)
        })
    }

    /// Stores a calibration; returns its id.
    pub fn insert_calibration(&mut self, c: &Calibration) -> Result<i64, StoreError> {
        let mut settings = c.settings.clone();
        redact_json(&mut settings);
        let settings_json =
            serde_json::to_string(&settings).map_err(|source| StoreError::Encode {
                what: "settings",
                source,
            })?;
        self.write("store a calibration", |tx| {
            tx.execute(
                "INSERT INTO calibrations (created_at_ms, testbed_fingerprint, workload, \
                 workload_hash, settings_json, set_id, trials, noise_tps, noise_p99, \
                 noise_error_rate, noise_rows, noise_pages, noise_client_cpu, noise_server_cpu) \
                 VALUES (:created_at_ms, :testbed_fingerprint, :workload, :workload_hash, \
                 :settings_json, :set_id, :trials, :noise_tps, :noise_p99, :noise_error_rate, \
                 :noise_rows, :noise_pages, :noise_client_cpu, :noise_server_cpu)",
                named_params! {
                    ":created_at_ms": c.created_at_ms,
                    ":testbed_fingerprint": c.testbed_fingerprint,
                    ":workload": c.workload,
                    ":workload_hash": c.workload_hash,
                    ":settings_json": settings_json,
                    ":set_id": c.set_id,
                    ":trials": c.trials,
                    ":noise_tps": c.noise_tps,
                    ":noise_p99": c.noise_p99,
                    ":noise_error_rate": c.noise_error_rate,
                    ":noise_rows": c.noise_rows,
                    ":noise_pages": c.noise_pages,
                    ":noise_client_cpu": c.noise_client_cpu,
                    ":noise_server_cpu": c.noise_server_cpu,
                },
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    /// The newest calibration of `workload` on testbed `fingerprint`.
    pub fn latest_calibration(
        &self,
        fingerprint: &str,
        workload: &str,
    ) -> Result<Option<Calibration>, StoreError> {
        let found = self.query_calibrations(
            "WHERE testbed_fingerprint = :testbed_fingerprint AND workload = :workload \
             ORDER BY created_at_ms DESC, id DESC LIMIT 1",
            named_params! {
                ":testbed_fingerprint": fingerprint,
                ":workload": workload,
            },
        )?;
        Ok(found.into_iter().next())
    }

    /// Every calibration, newest first; only those of `workload` when given.
    pub fn calibrations(&self, workload: Option<&str>) -> Result<Vec<Calibration>, StoreError> {
        self.query_calibrations(
            "WHERE (:workload IS NULL OR workload = :workload) \
             ORDER BY created_at_ms DESC, id DESC",
            named_params! {":workload": workload},
        )
    }

    /// The calibration with this id.
    pub fn calibration(&self, id: i64) -> Result<Option<Calibration>, StoreError> {
        let found = self.query_calibrations("WHERE id = :id", named_params! {":id": id})?;
        Ok(found.into_iter().next())
    }

    /// Deletes calibration `id` (its runs stay in the store). Returns whether it existed.
    pub fn delete_calibration(&mut self, id: i64) -> Result<bool, StoreError> {
        self.write("delete a calibration", |tx| {
            let deleted = tx.execute(
                "DELETE FROM calibrations WHERE id = :id",
                named_params! {":id": id},
            )?;
            Ok(deleted > 0)
        })
    }

    /// The calibrations a `WHERE ... ORDER BY ...` tail selects, settings decoded.
    fn query_calibrations(
        &self,
        tail: &str,
        params: &[(&str, &dyn rusqlite::ToSql)],
    ) -> Result<Vec<Calibration>, StoreError> {
        self.read("read calibrations", |tx| {
            let mut stmt = tx.prepare(&format!(
                "SELECT {CALIBRATION_COLUMNS} FROM calibrations {tail}"
            ))?;
            let rows = stmt
                .query_map(params, calibration_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut out = Vec::new();
            for (mut c, settings_json) in rows {
                c.settings =
                    serde_json::from_str(&settings_json).map_err(|e| TxError::Corrupt {
                        id: c.id.unwrap_or(0),
                        detail: format!("calibration settings are not valid JSON: {e}"),
                    })?;
                out.push(c);
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RunRecord, RunStatusField, Summary};

    fn run(set: &str, tps: f64, status: RunStatus) -> RunRecord {
        RunRecord {
            set_id: Some(set.into()),
            started_at_ms: 1_700_000_000_000 + tps as i64,
            status: RunStatusField(status),
            workload: "w".into(),
            workload_hash: "h".into(),
            settings: crate::record::RunSettings::Other(serde_json::json!({ "threads": 4 })),
            testbed: Testbed {
                fingerprint: "fp".into(),
                ..Testbed::default()
            },
            summary: Some(Summary {
                tps,
                transactions: 1000,
                ..Summary::default()
            }),
            ..RunRecord::default()
        }
    }

    #[test]
    fn sets_baselines_and_calibrations_round_trip() {
        let mut s = Store::open_in_memory().unwrap();
        for (i, id) in ["s1", "s2"].iter().enumerate() {
            s.insert_run_set(&RunSet {
                set_id: id.to_string(),
                kind: "trials".into(),
                created_at_ms: 10 + i as i64,
                workload: "w".into(),
                trials: 2,
                label: None,
            })
            .unwrap();
        }
        assert_eq!(s.last_run_set(&["trials"]).unwrap().unwrap().set_id, "s2");
        assert!(s.last_run_set(&["gate"]).unwrap().is_none());
        s.insert_run(&run("s1", 100.0, RunStatus::Complete))
            .unwrap();
        s.insert_run(&run("s1", 101.0, RunStatus::Failed)).unwrap();
        let m = s.runs_in_set("s1").unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].tps, Some(100.0));
        assert_eq!(m[0].transactions, Some(1000));
        assert_eq!(m[1].status, RunStatus::Failed);
        assert_eq!(m[0].settings["threads"], 4);
        assert_eq!(s.run_series("w", Some("fp")).unwrap().len(), 1);
        assert!(s.run_series("w", Some("other")).unwrap().is_empty());

        let b = Baseline {
            facts: Default::default(),
            name: "main".into(),
            created_at_ms: 5,
            set_id: "s1".into(),
            workload: "w".into(),
            workload_hash: "h".into(),
            testbed: m[0].testbed.clone(),
            settings: m[0].settings.clone(),
            target: "mysql://root:secret@h:1/db".into(),
            server_version: "10".into(),
            git_commit: None,
            runs: vec![BaselineRun {
                run_id: m[0].id,
                started_at_ms: 1,
                tps: 100.0,
                p99_corrected_ms: 2.0,
                transactions: 1000,
                errors: 0,
                work: Some(crate::record::work::WorkPerTxn {
                    rows: 600.0,
                    pages: 90.0,
                    spills: 0.0,
                    client_cpu_us: None,
                    server_cpu_us: None,
                }),
            }],
        };
        assert!(s.save_baseline(&b, false).unwrap());
        assert!(!s.save_baseline(&b, false).unwrap());
        assert!(s.save_baseline(&b, true).unwrap());
        let got = s.get_baseline("main").unwrap().unwrap();
        assert_eq!(got.runs, b.runs);
        assert!(!got.target.contains("secret"));
        assert_eq!(s.baseline_names().unwrap(), ["main"]);
        // Deleting a run does not change the baseline.
        s.delete_run(m[0].id).unwrap();
        assert_eq!(s.get_baseline("main").unwrap().unwrap().runs.len(), 1);
        assert!(s.delete_baseline("main").unwrap());
        assert!(!s.delete_baseline("main").unwrap());
        assert!(s.get_baseline("main").unwrap().is_none());

        let c = Calibration {
            id: None,
            created_at_ms: 7,
            testbed_fingerprint: "fp".into(),
            workload: "w".into(),
            workload_hash: "h".into(),
            settings: serde_json::json!({}),
            set_id: "s2".into(),
            trials: 6,
            noise_tps: 0.02,
            noise_p99: 0.05,
            noise_error_rate: None,
            noise_rows: None,
            noise_pages: None,
            noise_client_cpu: None,
            noise_server_cpu: None,
        };
        let id = s.insert_calibration(&c).unwrap();
        let got = s.latest_calibration("fp", "w").unwrap().unwrap();
        assert_eq!(got.id, Some(id));
        assert_eq!(got.noise_p99, 0.05);
        assert!(s.latest_calibration("fp", "x").unwrap().is_none());
        assert_eq!(s.calibrations(None).unwrap(), std::slice::from_ref(&got));
        assert!(s.calibrations(Some("x")).unwrap().is_empty());
        assert_eq!(s.calibration(id).unwrap(), Some(got));
        assert!(s.delete_calibration(id).unwrap());
        assert!(!s.delete_calibration(id).unwrap());
        assert!(s.calibration(id).unwrap().is_none());
    }
}
