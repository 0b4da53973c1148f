//! `calibrate`: A/A trials on this testbed, the run-to-run noise of each metric
//! ([`crate::stats::run_noise`]: successive differences of the logs, so slow drift barely
//! counts), stored per testbed fingerprint and workload. `compare`, `ab` and `gate` then widen
//! each metric's margin to `max(margin, exp(noise) − 1)` ([`crate::stats::calibrated_margin`]),
//! at most [`super::compare::MAX_CALIBRATED_MARGIN`], and print the margin each verdict used
//! and where it came from. A calibration needs [`MIN_TRIALS`] trials and is applied for
//! [`MAX_AGE_DAYS`] days: a testbed's noise changes with its load and software.

use serde::Serialize;

use super::compare::{margins, margins_used, needed_for_margin};
use super::{mean_of, Metric, RegressError, RunValues, ERROR_RATE_FLOOR};
use crate::error::Result;
use crate::record::gate::MarginUsed;
use crate::stats::run_noise;
use crate::stats::Config;
use crate::store::Calibration;

/// Default number of A/A trials.
pub const DEFAULT_TRIALS: u32 = 8;
/// Fewer than this many trials give no usable noise estimate: the successive differences of
/// three runs are two numbers, and one busy moment among them sets the margin of every later
/// gate.
pub const MIN_TRIALS: usize = 5;
/// A calibration older than this is not applied (the report says so).
pub const MAX_AGE_DAYS: i64 = 30;

/// Why calibration `c` is not applied at `now_ms`, if it is not: fewer than [`MIN_TRIALS`]
/// trials (stored by an older version) or older than [`MAX_AGE_DAYS`].
pub fn not_applicable(c: &Calibration, now_ms: i64) -> Option<String> {
    let name = format!(
        "calibration {} of {}",
        c.id.unwrap_or(0),
        crate::util::rfc3339(c.created_at_ms)
    );
    if (c.trials as usize) < MIN_TRIALS {
        return Some(format!(
            "{name} is not applied: it has {} A/A trials, fewer than the {MIN_TRIALS} a noise estimate needs; run `loadgate calibrate` again",
            c.trials
        ));
    }
    let age_days = (now_ms - c.created_at_ms) / 86_400_000;
    if age_days > MAX_AGE_DAYS {
        return Some(format!(
            "{name} is not applied: it is {age_days} days old, older than {MAX_AGE_DAYS} days; run `loadgate calibrate` again"
        ));
    }
    None
}

/// The calibration a comparison applies, or why the stored one is not applied.
#[derive(Debug, Clone, Default)]
pub struct Choice {
    pub used: Option<Calibration>,
    pub not_applied: Option<String>,
}

impl Choice {
    /// The choice for the newest stored calibration `latest` at `now_ms`.
    pub fn of(latest: Option<Calibration>, now_ms: i64) -> Choice {
        match latest {
            None => Choice::default(),
            Some(c) => match not_applicable(&c, now_ms) {
                None => Choice {
                    used: Some(c),
                    not_applied: None,
                },
                Some(why) => Choice {
                    used: None,
                    not_applied: Some(why),
                },
            },
        }
    }
}

/// The run-to-run noise of each metric (log sd) from A/A runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    pub tps: f64,
    pub p99: f64,
    /// `None` when the error rate is negligible.
    pub error_rate: Option<f64>,
    /// `None` when not every run measured its work.
    pub rows: Option<f64>,
    pub pages: Option<f64>,
    pub client_cpu: Option<f64>,
    pub server_cpu: Option<f64>,
}

/// The noise per metric from A/A runs in time order.
pub fn noise(values: &[RunValues]) -> Result<Noise, RegressError> {
    if values.len() < MIN_TRIALS {
        return Err(RegressError::TooFewTrials {
            what: "a calibration".into(),
            needed: MIN_TRIALS,
            got: values.len(),
            advice: Some(format!("{DEFAULT_TRIALS} trials are the default")),
        });
    }
    let col = |m: Metric| -> Vec<f64> { values.iter().map(|v| v.compared(m)).collect() };
    let tps = run_noise(&col(Metric::Tps))?;
    let p99 = run_noise(&col(Metric::P99))?;
    let error_rate = if mean_of(values, Metric::ErrorRate) >= ERROR_RATE_FLOOR {
        Some(run_noise(&col(Metric::ErrorRate))?)
    } else {
        None
    };
    let work = |m: Metric| -> Result<Option<f64>, RegressError> {
        let xs: Option<Vec<f64>> = values.iter().map(|v| v.work_value(m)).collect();
        match xs {
            Some(xs) if xs.iter().all(|x| *x > 0.0) => Ok(Some(run_noise(&xs)?)),
            _ => Ok(None),
        }
    };
    Ok(Noise {
        tps,
        p99,
        error_rate,
        rows: work(Metric::RowsPerTxn)?,
        pages: work(Metric::PagesPerTxn)?,
        client_cpu: work(Metric::ClientCpuPerTxn)?,
        server_cpu: work(Metric::ServerCpuPerTxn)?,
    })
}

/// What `calibrate` and `calibrate show` print (and `--json` emits).
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationReport {
    pub calibration: Calibration,
    /// Margins compare and gate will use with the default 3 % margin: tps, p99, error rate.
    pub margins: [f64; 3],
    /// The same margins with where they come from, and the noise floor where the cap holds
    /// a margin back.
    pub margins_used: Vec<MarginUsed>,
    /// When comparisons stop applying it (RFC 3339).
    pub expires_at: String,
    /// Why comparisons do not apply it now (too old, too few trials), if they do not.
    pub not_applied: Option<String>,
    /// A/B pairs (or trials per side against a baseline) needed to catch a 5 % throughput
    /// drop with 90 % power at α = 0.01, fixed-sample (the sequential plan needs a few more).
    pub pairs_for_5pct: Option<usize>,
}

impl CalibrationReport {
    /// The report on calibration `c` at `now_ms`, with the default margin.
    pub fn of(c: Calibration, now_ms: i64) -> CalibrationReport {
        let cfg = Config::default();
        CalibrationReport {
            margins: {
                let m = margins(cfg.margin, Some(&c));
                [m[0], m[1], m[2]]
            },
            margins_used: margins_used(cfg.margin, Some(&c)),
            pairs_for_5pct: needed_for_margin(
                c.noise_tps * std::f64::consts::SQRT_2,
                Metric::Tps,
                0.05,
                &cfg,
            ),
            expires_at: crate::util::rfc3339(c.created_at_ms + MAX_AGE_DAYS * 86_400_000),
            not_applied: not_applicable(&c, now_ms),
            calibration: c,
        }
    }
}

/// One line of `calibrate list`: a calibration and whether comparisons apply it.
#[derive(Debug, Clone, Serialize)]
pub struct ListedCalibration {
    #[serde(flatten)]
    pub calibration: Calibration,
    /// `applied`, `superseded` (a newer one of the same testbed and workload is), `too old` or
    /// `too few trials`.
    pub status: &'static str,
}

/// The calibrations (newest first) with their status at `now_ms`.
pub fn listed(all: Vec<Calibration>, now_ms: i64) -> Vec<ListedCalibration> {
    let mut seen: Vec<(String, String)> = Vec::new();
    all.into_iter()
        .map(|c| {
            let key = (c.testbed_fingerprint.clone(), c.workload.clone());
            let status = if seen.contains(&key) {
                "superseded"
            } else if (c.trials as usize) < MIN_TRIALS {
                "too few trials"
            } else if not_applicable(&c, now_ms).is_some() {
                "too old"
            } else {
                "applied"
            };
            seen.push(key);
            ListedCalibration {
                calibration: c,
                status,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_needs_five_runs_and_ignores_negligible_errors() {
        let v = |tps: f64| RunValues {
            run_id: 0,
            tps,
            p99_ms: 10.0,
            transactions: 10_000,
            errors: 0,
            work: None,
        };
        assert!(noise(&[v(100.0), v(101.0), v(100.0), v(101.0)]).is_err());
        let n = noise(&[v(100.0), v(102.0), v(100.0), v(102.0), v(100.0)]).unwrap();
        assert!(
            (n.tps - (1.02f64).ln() / 2f64.sqrt()).abs() < 1e-12,
            "{n:?}"
        );
        assert_eq!(n.p99, 0.0);
        assert!(n.error_rate.is_none());
        // Runs without work: no work noise, so no work margin is widened.
        assert!(n.rows.is_none() && n.pages.is_none());
    }

    #[test]
    fn work_noise_is_measured_when_every_run_counted_it() {
        use crate::record::work::WorkPerTxn;
        let v = |rows: f64, pages: f64| RunValues {
            run_id: 0,
            tps: 100.0,
            p99_ms: 10.0,
            transactions: 10_000,
            errors: 0,
            work: Some(WorkPerTxn {
                rows,
                pages,
                spills: 0.0,
                client_cpu_us: None,
                server_cpu_us: None,
            }),
        };
        let runs = [
            v(400.0, 88.0),
            v(400.4, 90.0),
            v(400.0, 88.0),
            v(400.4, 90.0),
            v(400.0, 88.0),
        ];
        let n = noise(&runs).unwrap();
        let rows = n.rows.unwrap();
        let pages = n.pages.unwrap();
        assert!((rows - (1.001f64).ln() / 2f64.sqrt()).abs() < 1e-9, "{n:?}");
        assert!(
            (pages - (90.0f64 / 88.0).ln() / 2f64.sqrt()).abs() < 1e-9,
            "{n:?}"
        );
        // One run without work: not measured.
        let mut some = runs.to_vec();
        some[2].work = None;
        assert!(noise(&some).unwrap().rows.is_none());
        // Each work margin is widened by its own noise: rows (none here) keep 3 %, pages with
        // 10 % noise get e^0.1 − 1.
        let mut c = stored(8, 0);
        c.noise_pages = Some(0.1);
        let m = margins(0.03, Some(&c));
        assert_eq!(m[Metric::RowsPerTxn.index()], 0.03);
        assert!((m[Metric::PagesPerTxn.index()] - 0.1f64.exp_m1()).abs() < 1e-12);
    }

    fn stored(trials: u32, created_at_ms: i64) -> Calibration {
        Calibration {
            id: Some(7),
            created_at_ms,
            testbed_fingerprint: "fp".into(),
            workload: "w".into(),
            workload_hash: "h".into(),
            settings: serde_json::Value::Null,
            set_id: "s".into(),
            trials,
            noise_tps: 0.4,
            noise_p99: 0.4,
            noise_error_rate: None,
            noise_rows: None,
            noise_pages: None,
            noise_client_cpu: None,
            noise_server_cpu: None,
        }
    }

    #[test]
    fn a_calibration_is_applied_only_when_recent_and_large_enough() {
        let day = 86_400_000;
        let now = 100 * day;
        assert!(Choice::of(Some(stored(8, now - 2 * day)), now)
            .used
            .is_some());
        let old = Choice::of(Some(stored(8, now - (MAX_AGE_DAYS + 1) * day)), now);
        assert!(old.used.is_none());
        assert!(old.not_applied.unwrap().contains("31 days old"));
        let few = Choice::of(Some(stored(3, now)), now);
        assert!(few.used.is_none());
        assert!(few
            .not_applied
            .unwrap()
            .contains("3 A/A trials, fewer than the 5"));
        assert!(Choice::of(None, now).not_applied.is_none());
    }
}
