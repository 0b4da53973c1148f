//! `calibrate`: A/A trials on this testbed, the run-to-run noise of each metric
//! ([`crate::stats::run_noise`]: successive differences of the logs, so slow drift barely
//! counts), stored per testbed fingerprint and workload. `compare`, `ab` and `gate` then widen
//! each metric's margin to `max(margin, exp(noise) − 1)` ([`crate::stats::calibrated_margin`])
//! and print the calibration they used.

use serde::Serialize;

use super::{mean_of, Metric, RegressError, RunValues, ERROR_RATE_FLOOR};
use crate::error::Result;
use crate::stats::run_noise;
use crate::store::Calibration;

/// Default number of A/A trials.
pub const DEFAULT_TRIALS: u32 = 8;
/// Fewer than this many trials give no usable noise estimate.
pub const MIN_TRIALS: usize = 3;

/// The noise per metric from A/A runs in time order.
pub fn noise(values: &[RunValues]) -> Result<(f64, f64, Option<f64>), RegressError> {
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
    let errors = if mean_of(values, Metric::ErrorRate) >= ERROR_RATE_FLOOR {
        Some(run_noise(&col(Metric::ErrorRate))?)
    } else {
        None
    };
    Ok((tps, p99, errors))
}

/// What `calibrate` prints (and `--json` emits).
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationReport {
    pub calibration: Calibration,
    /// Margins compare and gate will use with the default 3 % margin: tps, p99, error rate.
    pub margins: [f64; 3],
    /// A/B pairs (or trials per side against a baseline) needed to catch a 5 % throughput
    /// drop with 90 % power at α = 0.01, fixed-sample (the sequential plan needs a few more).
    pub pairs_for_5pct: Option<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_needs_three_runs_and_ignores_negligible_errors() {
        let v = |tps: f64| RunValues {
            run_id: 0,
            tps,
            p99_ms: 10.0,
            transactions: 10_000,
            errors: 0,
        };
        assert!(noise(&[v(100.0), v(101.0)]).is_err());
        let (t, p, e) = noise(&[v(100.0), v(102.0), v(100.0), v(102.0)]).unwrap();
        assert!((t - (1.02f64).ln() / 2f64.sqrt()).abs() < 1e-12, "{t}");
        assert_eq!(p, 0.0);
        assert!(e.is_none());
    }
}
