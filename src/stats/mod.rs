//! Statistics for the regression gate: pure functions on `f64` slices, no database, no I/O,
//! deterministic given a seed.
//!
//! The unit of evidence is a whole run (a trial): every value passed in here is one run's
//! metric (throughput, corrected p99, error rate). Per-second intervals inside a run are never
//! samples. Metrics are compared on the log scale, so a change is relative and symmetric
//! (`ln(b/a)`), and run-to-run noise, which is multiplicative, becomes additive.
//!
//! # Map
//!
//! - [`dist`]: normal and Student-t CDF and quantiles (incomplete beta by continued fraction).
//! - [`paired`](mod@paired): the fixed-sample comparison of whole runs: paired on log ratios
//!   (A/B in one job, interleaved ABBA) or Welch on logs (a candidate set against a stored
//!   baseline set); relative change, Student-t confidence interval, p-values, minimum
//!   detectable effect, pairs needed.
//! - [`verdict`]: one verdict per metric (regressed / improved / unchanged / inconclusive) with a
//!   practical margin, Holm–Bonferroni over several primary metrics, the margin widened by
//!   calibrated A/A noise.
//! - [`sequential`]: sequential A/B (stop-regressed / stop-no-regression / continue) by a
//!   group-sequential t-test with alpha spending over the planned looks.
//! - [`changepoint`]: E-divisive means over a history series with a permutation test.
//! - [`quantile`]: a distribution-free upper confidence bound on a percentile of an HDR
//!   histogram (order statistics, binomial ranks), for judging latency objectives.
//! - [`usl`]: the Universal Scalability Law fitted to a concurrency sweep (bounded least
//!   squares by projected Levenberg–Marquardt): λ, σ, κ, the peak concurrency, the regime.
//!
//! # Defaults
//!
//! - `alpha` = 0.01, one-sided, the false-alarm rate of "regressed" ([`verdict::Config`],
//!   [`sequential::SequentialConfig`]). A false alarm is a red CI build for nothing, so it must
//!   be rare (docs/design.md, "The regression gate's statistics").
//! - Confidence intervals are two-sided `1 − 2·alpha` = 98 %, so that the bound on the bad side
//!   is the one-sided test at `alpha`.
//! - Power 0.9 for the minimum detectable effect.
//! - Practical margin 3 % relative, rule [`verdict::MarginRule::Reaches`]; calibrated margin
//!   `max(3 %, 1 × A/A run-to-run sd)` ([`verdict::calibrated_margin`]).
//! - Sequential A/B: a look after every pair from 3 to 16 pairs, Hwang–Shih–DeCani spending with
//!   γ = −1, stop for "no regression" when a regression of the margin is excluded at one-sided
//!   95 % (non-binding).
//! - Change points: minimum segment 5, 499 permutations, p ≤ 0.01, at most 5, fixed seed
//!   ([`changepoint::ChangePointConfig`]).
//!
//! # Why
//!
//! - The margin rule. "Regressed" needs a significant test *and* an interval that is not inside
//!   the ±margin band: a regression at least as large as the margin is compatible with the data.
//!   "Unchanged" needs the whole interval inside the band, even when a small difference is
//!   significant. The stricter reading, the whole interval beyond the margin
//!   ([`verdict::MarginRule::Clears`], criterion's rule), is available but not the default: with
//!   a 3 % margin it tests "worse by more than 3 %", and a 5 % drop at 2 % run noise then needs
//!   about 24 pairs for 90 % power instead of about 6. Simulated at the sequential defaults, it
//!   flags that drop within 10 pairs in 16 % of jobs (51 % within 16 pairs).
//! - 16 pairs at most. Read/write varied by 4.6 % between adjacent runs here (docs/design.md,
//!   "The regression gate's statistics"), which needs about 11 pairs for a 5 % regression at
//!   this alpha in a fixed design; with 16 the
//!   sequential plan catches it 89 % of the time. More pairs spread alpha over more looks and
//!   cost power at the early ones (with 20, a 5 % drop at 2 % noise is caught within 10 pairs
//!   only 88 % of the time).
//! - Hwang–Shih–DeCani spending with γ = −1 lies between Pocock (which spends early, where
//!   looks at 2–4 degrees of freedom have little power) and O'Brien–Fleming (which keeps alpha
//!   for the last look, too late to stop a 10 % drop within 6 pairs); [`sequential`] has the
//!   comparison.
//! - Measured at these defaults over 20,000 simulated jobs each: a null false-alarm rate of
//!   1.0 % (0.7–0.8 % with 3 % noise, drift and ABBA); a 5 % drop at 2 % noise flagged within
//!   10 pairs in 92 % of jobs, a 10 % drop within 6 pairs in 94 %. The unit tests assert the
//!   bars on 2,000 jobs with fixed seeds.

pub mod changepoint;
pub mod dist;
pub mod paired;
pub mod quantile;
pub mod same;
pub mod sequential;
pub mod usl;
pub mod verdict;

#[cfg(test)]
mod sim;

use serde::{Deserialize, Serialize};

pub use changepoint::{e_divisive, ChangePoint, ChangePointConfig};
pub use paired::{log_ratios, paired, required_pairs, welch, Comparison, ComparisonKind, Interval};
pub use sequential::{Decision, SequentialConfig, SequentialOutcome, SequentialPlan, Spending};
pub use verdict::{calibrated_margin, holm, judge, run_noise, Config, MarginRule, MetricVerdict};

/// Which input a bad value came from, so an error can name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sample {
    /// The baseline runs (A).
    Baseline,
    /// The candidate runs (B).
    Candidate,
    /// A history series or a single set of runs.
    Series,
}

impl std::fmt::Display for Sample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Sample::Baseline => "baseline",
            Sample::Candidate => "candidate",
            Sample::Series => "series",
        })
    }
}

/// What can go wrong in a statistical computation. Never a panic, never a made-up verdict.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// Not enough runs for the computation.
    #[error("too few samples: need at least {needed}, got {got}")]
    TooFewSamples { needed: usize, got: usize },

    /// Ratios need strictly positive values (a throughput of 0 means a failed run).
    #[error("{sample} value #{index} is {value}; comparisons need strictly positive values")]
    NonPositive {
        sample: Sample,
        index: usize,
        value: f64,
    },

    /// A NaN or an infinity.
    #[error("{sample} value #{index} is not finite ({value})")]
    NonFinite {
        sample: Sample,
        index: usize,
        value: f64,
    },

    /// Paired comparison of sets of different sizes.
    #[error("paired samples differ in length: {baseline} baseline vs {candidate} candidate runs")]
    LengthMismatch { baseline: usize, candidate: usize },

    /// More pairs than the sequential plan allows.
    #[error("too many pairs: the sequential plan allows at most {max}, got {got}")]
    TooManySamples { max: usize, got: usize },

    /// A setting out of its range.
    #[error("invalid {name} = {value}: {reason}")]
    InvalidParameter {
        name: &'static str,
        value: f64,
        reason: &'static str,
    },
}

/// Which way a metric gets better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Throughput, rows/s.
    HigherIsBetter,
    /// Latency, error rate.
    LowerIsBetter,
}

impl Direction {
    /// +1 when an increase of the metric is bad (lower is better), −1 when a decrease is bad.
    pub(crate) fn bad_sign(self) -> f64 {
        match self {
            Direction::HigherIsBetter => -1.0,
            Direction::LowerIsBetter => 1.0,
        }
    }
}

/// The verdict on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Significantly worse, by an amount the margin does not rule out as negligible.
    Regressed,
    /// Significantly better, by an amount the margin does not rule out as negligible.
    Improved,
    /// The whole confidence interval lies inside ± margin.
    Unchanged,
    /// Neither: more runs are needed to tell.
    Inconclusive,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Verdict::Regressed => "regressed",
            Verdict::Improved => "improved",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive => "inconclusive",
        })
    }
}

/// Checks that every value is finite and strictly positive.
pub(crate) fn check_positive(values: &[f64], sample: Sample) -> Result<(), StatsError> {
    for (index, &value) in values.iter().enumerate() {
        if !value.is_finite() {
            return Err(StatsError::NonFinite {
                sample,
                index,
                value,
            });
        }
        if value <= 0.0 {
            return Err(StatsError::NonPositive {
                sample,
                index,
                value,
            });
        }
    }
    Ok(())
}

/// Checks that every value is finite.
pub(crate) fn check_finite(values: &[f64], sample: Sample) -> Result<(), StatsError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(StatsError::NonFinite {
            sample,
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// Checks `lo < value < hi`.
pub(crate) fn check_open(
    name: &'static str,
    value: f64,
    lo: f64,
    hi: f64,
    reason: &'static str,
) -> Result<(), StatsError> {
    if value > lo && value < hi {
        Ok(())
    } else {
        Err(StatsError::InvalidParameter {
            name,
            value,
            reason,
        })
    }
}

/// Mean and sample standard deviation (n − 1); the sd is 0 for fewer than two values.
pub(crate) fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let ss: f64 = values.iter().map(|v| (v - mean) * (v - mean)).sum();
    (mean, (ss / (n - 1.0)).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_is_needed() {
        let e = StatsError::TooFewSamples { needed: 2, got: 1 };
        assert_eq!(e.to_string(), "too few samples: need at least 2, got 1");
        let e = StatsError::NonPositive {
            sample: Sample::Candidate,
            index: 3,
            value: 0.0,
        };
        assert_eq!(
            e.to_string(),
            "candidate value #3 is 0; comparisons need strictly positive values"
        );
    }

    #[test]
    fn mean_sd_basics() {
        let (m, s) = mean_sd(&[1.0, 2.0, 3.0, 4.0]);
        assert!((m - 2.5).abs() < 1e-15);
        assert!((s - (5.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert_eq!(mean_sd(&[7.0]).1, 0.0);
    }
}
