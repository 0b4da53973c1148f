//! Regression tracking: repeated trials, baselines, comparisons, A/B jobs, the CI gate,
//! history with change points, and A/A calibration. The statistics live in [`crate::stats`];
//! this module decides *what* is compared, runs the trials, refuses what cannot be compared,
//! and builds the [`GateReport`] that every output format renders.
//!
//! # Map
//!
//! - [`trials`]: N runs of one job as a run set (`run --trials`, `gate`, `calibrate`).
//! - [`baseline`]: `baseline save | list | show | rm`; the checks a set must pass to become one.
//! - [`compare`]: a candidate set against a baseline (Welch on logs, Holm over the metrics,
//!   the margin widened by calibration), with the mismatch checks.
//! - [`ab`]: A/B in one job, interleaved ABBA, sequential (group-sequential boundaries, Holm
//!   over metrics and thread counts).
//! - [`same`]: A/B in the same seconds: both sides in every trial, each transaction assigned
//!   to A or B at random on the same connections; the within-trial log ratios judged like
//!   ABBA pairs.
//! - [`gate`]: the CI command: prepare if needed, trials or A/B, verdict, outputs, exit code.
//! - [`breakdown`]: when a work metric moved, rows examined per statement, A against B.
//! - [`history`]: a metric's series per testbed with E-divisive change points.
//! - [`calibrate`]: A/A trials, the noise per metric, stored per testbed and workload.
//! - [`report`]: [`GateReport`], the one result type behind text, JSON, Markdown and JUnit.
//! - [`cli`]: the clap arguments of these commands.
//!
//! # The metrics
//!
//! Every comparison judges five primary metrics of whole runs (never per-second intervals):
//!
//! - **tps**: committed transactions per second (higher is better);
//! - **p99**: the corrected 99th percentile latency in ms (lower is better);
//! - **error rate**: errors per committed transaction, retried errors included (lower is
//!   better). Zeros are handled so: when the mean error rate is below [`ERROR_RATE_FLOOR`]
//!   (0.1 % of transactions) on both sides the metric is reported as unchanged ("negligible")
//!   without a test and left out of the Holm family; otherwise each run's rate is smoothed with
//!   half a count, `(errors + 0.5) / (transactions + 0.5)`, so that a run without errors still
//!   has a finite logarithm, and compared on logs like the others. A regression of the error
//!   rate also needs the exact test on the summed counts ([`compare::errors_increase_p`]) at
//!   the same level, because per-run rates of a few errors are too discrete for a t-test.
//!
//! - **rows per txn** and **pages per txn**: rows examined (`Handler_read_*`) and buffer-pool
//!   page requests per committed transaction over the run's measured window (lower is
//!   better; `crate::record::work`). A run that did not measure them (older runs, baselines
//!   saved from them) leaves them "not measured" for the whole comparison ([`work_measured`]).
//!
//! The verdict of a comparison: **regression** (exit 1) when any metric regressed, else
//! **inconclusive** (exit 3) when any metric is inconclusive, else **pass** (exit 0).

pub mod ab;
pub mod baseline;
pub mod breakdown;
pub mod calibrate;
pub mod compare;
pub mod history;
pub mod same;
pub mod trials;

use serde::Serialize;
use std::collections::BTreeMap;

use crate::error::exit;
use crate::record::work::WorkPerTxn;
use crate::stats::StatsError;
use crate::store::{BaselineRun, RunMetrics};

pub use crate::record::gate::{GateReport, Metric, Outcome};

/// Below this mean error rate (errors per transaction) on both sides, the error rate is
/// "negligible": reported as unchanged and not tested.
pub const ERROR_RATE_FLOOR: f64 = 0.001;

/// The metrics of one complete run, the unit of evidence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RunValues {
    pub run_id: i64,
    pub tps: f64,
    pub p99_ms: f64,
    pub transactions: u64,
    pub errors: u64,
    /// The work per transaction; `None` for a run that did not measure it.
    pub work: Option<WorkPerTxn>,
}

impl RunValues {
    /// The value of a work metric; `None` when the run did not measure it.
    pub fn work_value(&self, m: Metric) -> Option<f64> {
        let w = self.work?;
        match m {
            Metric::RowsPerTxn => Some(w.rows),
            Metric::PagesPerTxn => Some(w.pages),
            Metric::SpillsPerTxn => Some(w.spills),
            Metric::ClientCpuPerTxn => w.client_cpu_us,
            Metric::ServerCpuPerTxn => w.server_cpu_us,
            _ => None,
        }
    }

    /// Errors per committed transaction (0 when nothing committed).
    pub fn error_rate(&self) -> f64 {
        if self.transactions == 0 {
            0.0
        } else {
            self.errors as f64 / self.transactions as f64
        }
    }

    /// The error rate with half a count added, always positive: `(e + 0.5) / (t + 0.5)`.
    pub fn smoothed_error_rate(&self) -> f64 {
        (self.errors as f64 + 0.5) / (self.transactions as f64 + 0.5)
    }

    /// The count behind a rate metric ([`Metric::is_rate`]) over the run's transactions:
    /// errors, or disk spills (per transaction × transactions); `None` for another metric or
    /// spills not measured.
    pub fn count_of(&self, m: Metric) -> Option<f64> {
        match m {
            Metric::ErrorRate => Some(self.errors as f64),
            Metric::SpillsPerTxn => Some((self.work?.spills * self.transactions as f64).round()),
            _ => None,
        }
    }

    /// The value of `m` as compared (the smoothed error rate for [`Metric::ErrorRate`]).
    pub fn compared(&self, m: Metric) -> f64 {
        match m {
            Metric::Tps => self.tps,
            Metric::P99 => self.p99_ms,
            Metric::ErrorRate => self.smoothed_error_rate(),
            Metric::SpillsPerTxn => self
                .count_of(m)
                .map_or(f64::NAN, |c| (c + 0.5) / (self.transactions as f64 + 0.5)),
            _ => self.work_value(m).unwrap_or(f64::NAN),
        }
    }

    /// The value of `m` as reported.
    pub fn get(&self, m: Metric) -> f64 {
        match m {
            Metric::Tps => self.tps,
            Metric::P99 => self.p99_ms,
            Metric::ErrorRate => self.error_rate(),
            _ => self.work_value(m).unwrap_or(f64::NAN),
        }
    }

    /// The values of a stored complete run; `None` when it has no results.
    pub fn of_run(m: &RunMetrics) -> Option<RunValues> {
        Some(RunValues {
            run_id: m.id,
            tps: m.tps?,
            p99_ms: m.p99_corrected_ms?,
            transactions: m.transactions?,
            errors: m.errors.unwrap_or(0),
            work: m.work,
        })
    }

    pub fn of_baseline_run(r: &BaselineRun) -> RunValues {
        RunValues {
            run_id: r.run_id,
            tps: r.tps,
            p99_ms: r.p99_corrected_ms,
            transactions: r.transactions,
            errors: r.errors,
            work: r.work,
        }
    }

    /// The values of a run just finished.
    pub fn of_record(r: &crate::record::RunRecord) -> Option<RunValues> {
        let s = r.summary.as_ref()?;
        Some(RunValues {
            run_id: r.id.unwrap_or(0),
            tps: s.tps,
            p99_ms: s.latency_corrected.p99,
            transactions: s.transactions,
            errors: s.errors.iter().map(|e| e.count).sum(),
            work: r.work.as_ref().and_then(|w| w.judged()),
        })
    }
}

/// Whether every run of both sides measured work metric `m` with a positive value (a log
/// needs one); a metric that is not is "not measured", never judged.
pub fn work_measured(a: &[RunValues], b: &[RunValues], m: Metric) -> bool {
    // A rate is compared smoothed, so zero is a value like any other.
    let least = if m.is_rate() { 0.0 } else { f64::MIN_POSITIVE };
    a.iter()
        .chain(b)
        .all(|v| v.work_value(m).is_some_and(|x| x.is_finite() && x >= least))
}

/// Mean of a metric over runs (as reported, not smoothed).
pub fn mean_of(values: &[RunValues], m: Metric) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().map(|v| v.get(m)).sum::<f64>() / values.len() as f64
}

/// What cannot be compared, or not yet: each with the context a user needs and its exit code.
#[derive(Debug, thiserror::Error)]
pub enum RegressError {
    #[error("there is no baseline `{name}` in the run store{}", known_list(.known))]
    UnknownBaseline { name: String, known: Vec<String> },

    #[error("there is no calibration {id} in the run store{}", calibration_list(.known))]
    UnknownCalibration { id: i64, known: Vec<i64> },

    #[error("a baseline `{0}` already exists; pass --force to replace it, or pick another name")]
    BaselineExists(String),

    #[error("{0}")]
    NoSet(String),

    #[error("run set `{set}` holds no runs; see `loadgate runs --run-set {set}`")]
    EmptySet { set: String },

    #[error(
        "{what} `{set}` has {} run(s) that did not complete, so no verdict is made from it: {}. \
         Re-run the trials (a verdict is never made from partial data)",
        .failed.len(),
        .failed.join("; ")
    )]
    FailedRuns {
        what: &'static str,
        set: String,
        failed: Vec<String>,
    },

    #[error("too few trials: {what} needs at least {needed}, got {got}{}", hint(.advice))]
    TooFewTrials {
        what: String,
        needed: usize,
        got: usize,
        advice: Option<String>,
    },

    #[error(
        "{what} cannot be compared:\n  - {}\nRun both on the same testbed with the same workload \
         and settings, or pass --allow-mismatch to compare anyway (the report will say so)",
        .details.join("\n  - ")
    )]
    Mismatch { what: String, details: Vec<String> },

    #[error("{0}")]
    Invalid(String),

    #[error("statistics: {0}")]
    Stats(#[from] StatsError),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() {
        "; none is saved yet: `loadgate baseline save NAME` saves the last run set".into()
    } else {
        format!("; saved baselines: {}", known.join(", "))
    }
}

fn calibration_list(known: &[i64]) -> String {
    if known.is_empty() {
        "; none is stored yet: `loadgate calibrate WORKLOAD` runs one".into()
    } else {
        let ids: Vec<String> = known.iter().map(|i| i.to_string()).collect();
        format!("; stored calibrations: {}", ids.join(", "))
    }
}

fn hint(advice: &Option<String>) -> String {
    advice
        .as_ref()
        .map(|a| format!(". {a}"))
        .unwrap_or_default()
}

impl crate::error::ExitCode for RegressError {
    fn exit_code(&self) -> u8 {
        match self {
            RegressError::FailedRuns { .. } => exit::INCOMPLETE,
            _ => exit::USAGE,
        }
    }
}

/// A statistics error is a regress error (`statistics: ...`, exit 2) when it reaches the top.
impl From<StatsError> for crate::error::Error {
    fn from(e: StatsError) -> Self {
        RegressError::from(e).into()
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;
    use crate::error::{assert_module_error, Error};

    #[test]
    fn a_failed_set_exits_5_what_cannot_be_compared_2() {
        let failed = RegressError::FailedRuns {
            what: "baseline",
            set: "s".into(),
            failed: vec!["run 2 is failed".into()],
        };
        assert_module_error(failed, exit::INCOMPLETE);
        let empty = RegressError::EmptySet { set: "s".into() };
        assert_module_error(empty, exit::USAGE);
        let mismatch = RegressError::Mismatch {
            what: "runs".into(),
            details: vec!["threads 4 vs 8".into()],
        };
        assert_module_error(mismatch, exit::USAGE);
        let stats = || StatsError::TooFewSamples { needed: 2, got: 1 };
        assert_module_error(RegressError::Stats(stats()), exit::USAGE);
        let e = Error::from(stats());
        assert_eq!(e.to_string(), format!("statistics: {}", stats()));
        assert_eq!(e.exit_code(), exit::USAGE);
        assert!(e.downcast_ref::<RegressError>().is_some());
    }
}

/// The settings that make two runs comparable, flattened to `key → value`, from stored
/// settings JSON as the runs ran them (`settings_as_ran`: the driver and policy that ran are
/// compared, not the ones asked for): everything except the settings whose descriptor says
/// they do not change what is measured (`settings::Descriptor::comparable`: the seed, where the
/// tables live, timeouts, the live-report interval), where each value came from, and the
/// workload's name. Workload variables appear as `vars.NAME`. A setting that runs stored
/// before it existed lack counts as the value those runs had (`client_sched` normal,
/// `reply_wait` poll).
pub fn comparable_settings(settings: &serde_json::Value) -> BTreeMap<String, String> {
    let ignored = crate::settings::incomparable_fields();
    let mut settings = settings.clone();
    if let (Ok(s), Some(obj)) = (
        serde_json::from_value::<crate::settings::Settings>(settings.clone()),
        settings.as_object_mut(),
    ) {
        if let Ok(serde_json::Value::Object(filled)) = serde_json::to_value(s) {
            for (k, v) in filled {
                obj.entry(k).or_insert(v);
            }
        }
    }
    let mut out = BTreeMap::new();
    if let Some(obj) = settings.as_object() {
        for (k, v) in obj {
            if ignored.contains(&k.as_str()) {
                continue;
            }
            if k == "vars" {
                if let Some(vars) = v.as_object() {
                    for (vk, vv) in vars {
                        if ["threads", "tables", "table_size", "seed"].contains(&vk.as_str()) {
                            continue;
                        }
                        out.insert(format!("vars.{vk}"), vv.to_string());
                    }
                }
                continue;
            }
            out.insert(k.clone(), v.to_string());
        }
    }
    out
}

/// The differences between two settings, for people: `threads: 4 → 8`.
pub fn settings_diff(a: &serde_json::Value, b: &serde_json::Value) -> Vec<String> {
    let (a, b) = (comparable_settings(a), comparable_settings(b));
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| {
            let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(unset)".into());
            format!(
                "{}: {} → {}",
                k.trim_start_matches("vars."),
                show(a.get(k)),
                show(b.get(k))
            )
        })
        .collect()
}

/// The differences between two testbeds, naming the parts that differ.
pub fn testbed_diff(a: &crate::record::Testbed, b: &crate::record::Testbed) -> Vec<String> {
    if a.fingerprint == b.fingerprint {
        return Vec::new();
    }
    let mut parts = Vec::new();
    let mut part = |name: &str, x: String, y: String| {
        if x != y {
            parts.push(format!("{name} {x} → {y}"));
        }
    };
    part("CPU", a.cpu_model.clone(), b.cpu_model.clone());
    part("cores", a.cores.to_string(), b.cores.to_string());
    part(
        "memory GiB",
        (a.memory_bytes >> 30).to_string(),
        (b.memory_bytes >> 30).to_string(),
    );
    part("kernel", a.kernel.clone(), b.kernel.clone());
    part(
        "server version",
        a.server_version.clone(),
        b.server_version.clone(),
    );
    part(
        "server config hash",
        a.server_config_hash.clone(),
        b.server_config_hash.clone(),
    );
    vec![format!(
        "testbed fingerprint {} → {}{}",
        a.fingerprint,
        b.fingerprint,
        if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        }
    )]
}

/// A new run set id: UTC time and 4 random hex digits, e.g. `20261121-100938-3f2a`.
pub fn new_set_id() -> String {
    let ts = crate::util::rfc3339(crate::util::now_ms());
    let compact: String = ts[..19]
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .map(|c| if c == 'T' { '-' } else { c })
        .collect();
    format!("{compact}-{:04x}", rand::random::<u16>())
}

/// Parses a relative amount: `3%`, `0.03`. Must be in `[0, 1)`.
pub fn parse_fraction(name: &str, s: &str) -> Result<f64, RegressError> {
    let t = s.trim();
    let v = if let Some(p) = t.strip_suffix('%') {
        p.trim().parse::<f64>().map(|v| v / 100.0)
    } else {
        t.parse::<f64>()
    };
    match v {
        Ok(v) if v.is_finite() && (0.0..1.0).contains(&v) => Ok(v),
        _ => Err(RegressError::Invalid(format!(
            "{name} `{s}`: expected a relative amount such as 3% or 0.03 (from 0 to below 100 %)"
        ))),
    }
}

/// `1 thread`, `4 threads`.
pub fn threads_text(n: u32) -> String {
    if n == 1 {
        "1 thread".into()
    } else {
        format!("{n} threads")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_parse_with_or_without_percent() {
        assert_eq!(parse_fraction("--margin", "3%").unwrap(), 0.03);
        assert_eq!(parse_fraction("--margin", "0.05").unwrap(), 0.05);
        assert!(parse_fraction("--margin", "3").is_err());
        assert!(parse_fraction("--margin", "-1%").is_err());
        assert!(parse_fraction("--margin", "x").is_err());
    }

    #[test]
    fn settings_comparison_ignores_seed_and_names_differences() {
        let a = serde_json::json!({"threads": 4, "seed": 1, "database": "x",
            "vars": {"point_selects": 10, "threads": 4}, "origins": {"threads": "flag"}});
        let b = serde_json::json!({"threads": 8, "seed": 2, "database": "y",
            "vars": {"point_selects": 12, "threads": 8}, "origins": {}});
        assert_eq!(
            settings_diff(&a, &b),
            ["threads: 4 → 8", "point_selects: 10 → 12"]
        );
        assert!(settings_diff(&a, &a).is_empty());
    }

    #[test]
    fn a_setting_older_runs_lack_compares_as_the_value_they_ran_with() {
        let w = crate::workload::load("oltp_point_select").unwrap();
        let s = crate::settings::Settings::resolve(&w, &[], &[]).unwrap();
        let mut new = serde_json::to_value(&s).unwrap();
        new["client_sched"] = "normal".into();
        new["reply_wait"] = "poll".into();
        let mut old = new.clone();
        let obj = old.as_object_mut().unwrap();
        obj.remove("client_sched");
        obj.remove("reply_wait");
        assert!(
            settings_diff(&old, &new).is_empty(),
            "{:?}",
            settings_diff(&old, &new)
        );
        new["client_sched"] = "batch".into();
        assert_eq!(
            settings_diff(&old, &new),
            [r#"client_sched: "normal" → "batch""#]
        );
        // A note on why a run fell back is not a difference (it is a fact, which comparisons
        // leave out); what it fell back to is.
        let fell = crate::record::RunFacts {
            client_sched: Some(crate::settings::ClientSched::Batch),
            client_sched_refused: Some("Operation not permitted".into()),
            ..Default::default()
        }
        .as_ran(&new, false);
        assert!(settings_diff(&new, &fell).is_empty());
    }

    #[test]
    fn a_baseline_that_fell_back_compares_before_the_run_as_what_it_asked_for() {
        let w = crate::workload::load("oltp_point_select").unwrap();
        let s = crate::settings::Settings::resolve(&w, &[], &[]).unwrap();
        let candidate = serde_json::to_value(&s).unwrap();
        assert_eq!(candidate["driver"], "lean");
        // Stored by a run whose lean driver met a server that wants TLS, on a kernel that
        // refused SCHED_BATCH: the settings say what was asked, the facts what ran.
        let asked_for = candidate.clone();
        let facts = crate::record::RunFacts {
            driver: Some(crate::settings::Driver::MysqlAsync),
            driver_fallback: Some("the server wants TLS".into()),
            client_sched: Some(crate::settings::ClientSched::Normal),
            client_sched_refused: Some("Operation not permitted".into()),
            ..Default::default()
        };
        let ran = facts.as_ran(&asked_for, false);
        assert_eq!(settings_diff(&ran, &candidate).len(), 2);
        assert!(
            settings_diff(&asked_for, &candidate).is_empty(),
            "{:?}",
            settings_diff(&asked_for, &candidate)
        );
        // Asked for by name, mysql_async and normal threads stay a difference.
        let mut asked = candidate.clone();
        asked["driver"] = "mysql_async".into();
        asked["client_sched"] = "normal".into();
        assert_eq!(
            settings_diff(&asked, &candidate),
            [
                r#"client_sched: "normal" → "batch""#,
                r#"driver: "mysql_async" → "lean""#
            ]
        );
    }

    #[test]
    fn error_rate_is_smoothed_only_for_the_comparison() {
        let v = RunValues {
            run_id: 1,
            tps: 1.0,
            p99_ms: 1.0,
            transactions: 1000,
            errors: 0,
            work: None,
        };
        assert_eq!(v.error_rate(), 0.0);
        assert!((v.smoothed_error_rate() - 0.5 / 1000.5).abs() < 1e-15);
        assert!(v.compared(Metric::ErrorRate) > 0.0);
    }

    #[test]
    fn set_ids_look_like_timestamps() {
        let id = new_set_id();
        assert_eq!(id.len(), 20, "{id}");
        assert_eq!(&id[8..9], "-");
    }
}
