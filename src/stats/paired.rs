//! Fixed-sample comparison of whole runs on the log scale.
//!
//! - [`paired`]: A/B pairs from one job (interleaved ABBA on one machine). Each pair gives
//!   `d_i = ln(b_i / a_i)`; the mean of the `d_i` is tested with a one-sample Student t-test
//!   (`n − 1` degrees of freedom). Slow drift cancels inside adjacent pairs.
//! - [`welch`]: a candidate run set against a stored baseline set (unpaired). The difference of
//!   the mean logs is tested with Welch's t-test (Welch–Satterthwaite degrees of freedom).
//!
//! Both return a [`Comparison`]: the mean log ratio, the relative change `exp(mean) − 1`, a
//! two-sided `1 − 2α` Student-t confidence interval for the relative change (so that its bounds
//! are the one-sided tests at `α`), one- and two-sided p-values, and the minimum detectable
//! effect `(t_{1−α, df} + t_{power, df}) · se` for one-sided `α` at the requested power (0.9 by
//! default), i.e. the true change these sample sizes and this noise would catch with that power.
//!
//! Zero variance is taken at face value: identical ratios mean the difference is exact, so the
//! test statistic is ±∞ (or 0 when there is no difference) and the interval is a point.

use serde::{Deserialize, Serialize};

use super::dist::{student_t_quantile_upper, student_t_sf};
use super::verdict::Config;
use super::{check_open, check_positive, mean_sd, Sample, StatsError};

/// How a [`Comparison`] was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComparisonKind {
    /// One-sample t-test on the log ratios of A/B pairs.
    Paired,
    /// Welch's t-test on the logs of two independent run sets.
    Welch,
}

/// A confidence interval for the relative change `b/a − 1`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
    /// Two-sided confidence level, e.g. 0.98.
    pub confidence: f64,
}

impl Interval {
    /// Whether the interval lies strictly inside `(-margin, +margin)`.
    pub fn inside(&self, margin: f64) -> bool {
        self.low > -margin && self.high < margin
    }
}

/// The result of comparing candidate runs (B) with baseline runs (A).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub kind: ComparisonKind,
    /// Baseline runs (A); for a paired comparison, the number of pairs.
    pub n_baseline: usize,
    /// Candidate runs (B); for a paired comparison, the number of pairs.
    pub n_candidate: usize,
    /// One-sided significance level the interval and MDE were computed for.
    pub alpha: f64,
    /// Power the MDE was computed for.
    pub power: f64,
    /// Paired: mean of `ln(b_i/a_i)`. Welch: mean of `ln b` minus mean of `ln a`.
    pub mean_log: f64,
    /// Paired: sd of the log ratios. Welch: root mean square of the two sets' sd of logs.
    pub sd_log: f64,
    /// Standard error of `mean_log`.
    pub std_err: f64,
    /// Degrees of freedom (real for Welch).
    pub df: f64,
    /// `mean_log / std_err` (±∞ or 0 with zero variance).
    pub t: f64,
    /// `exp(mean_log) − 1`: +0.05 means B is 5 % higher than A.
    pub relative_change: f64,
    /// Two-sided `1 − 2·alpha` interval for the relative change.
    pub ci: Interval,
    /// Two-sided p-value for "no difference".
    pub p_two_sided: f64,
    /// One-sided p-value for the alternative "B is higher than A".
    pub p_increase: f64,
    /// One-sided p-value for the alternative "B is lower than A".
    pub p_decrease: f64,
    /// Minimum detectable effect on the log scale at `alpha` (one-sided) and `power`.
    pub mde_log: f64,
    /// The MDE as a relative increase, `exp(mde_log) − 1`.
    pub mde_increase: f64,
    /// The MDE as a relative decrease, `1 − exp(−mde_log)`.
    pub mde_decrease: f64,
}

impl Comparison {
    fn from_moments(
        kind: ComparisonKind,
        (n_baseline, n_candidate): (usize, usize),
        (mean_log, sd_log, std_err, df): (f64, f64, f64, f64),
        cfg: &Config,
    ) -> Comparison {
        let t = t_statistic(mean_log, std_err);
        let p_increase = student_t_sf(t, df);
        let p_decrease = student_t_sf(-t, df);
        let p_two_sided = (2.0 * p_increase.min(p_decrease)).min(1.0);
        let mde_log = mde_log(std_err, df, cfg.alpha, cfg.power);
        let mut c = Comparison {
            kind,
            n_baseline,
            n_candidate,
            alpha: cfg.alpha,
            power: cfg.power,
            mean_log,
            sd_log,
            std_err,
            df,
            t,
            relative_change: mean_log.exp() - 1.0,
            ci: Interval {
                low: 0.0,
                high: 0.0,
                confidence: 0.0,
            },
            p_two_sided,
            p_increase,
            p_decrease,
            mde_log,
            mde_increase: mde_log.exp() - 1.0,
            mde_decrease: 1.0 - (-mde_log).exp(),
        };
        c.ci = c.interval(1.0 - 2.0 * cfg.alpha);
        c
    }

    /// The two-sided interval for the relative change at another confidence level.
    pub fn interval(&self, confidence: f64) -> Interval {
        let q = student_t_quantile_upper(0.5 * (1.0 - confidence), self.df);
        let half = if self.std_err == 0.0 {
            0.0
        } else {
            q * self.std_err
        };
        Interval {
            low: (self.mean_log - half).exp() - 1.0,
            high: (self.mean_log + half).exp() - 1.0,
            confidence,
        }
    }

    /// One-sided p-value for "the metric got worse".
    pub fn p_worse(&self, direction: super::Direction) -> f64 {
        match direction {
            super::Direction::HigherIsBetter => self.p_decrease,
            super::Direction::LowerIsBetter => self.p_increase,
        }
    }

    /// One-sided p-value for "the metric got better".
    pub fn p_better(&self, direction: super::Direction) -> f64 {
        match direction {
            super::Direction::HigherIsBetter => self.p_increase,
            super::Direction::LowerIsBetter => self.p_decrease,
        }
    }

    /// The minimum detectable effect as a relative change in the metric's bad direction
    /// (a drop for higher-is-better, a rise for lower-is-better), as a positive fraction.
    pub fn mde_worse(&self, direction: super::Direction) -> f64 {
        match direction {
            super::Direction::HigherIsBetter => self.mde_decrease,
            super::Direction::LowerIsBetter => self.mde_increase,
        }
    }
}

/// `mean / se`, with the zero-variance cases made explicit.
pub(crate) fn t_statistic(mean: f64, se: f64) -> f64 {
    if se > 0.0 {
        mean / se
    } else if mean == 0.0 {
        0.0
    } else {
        mean.signum() * f64::INFINITY
    }
}

/// `(t_{1−α, df} + t_{power, df}) · se`.
pub(crate) fn mde_log(se: f64, df: f64, alpha: f64, power: f64) -> f64 {
    if se == 0.0 {
        return 0.0;
    }
    (student_t_quantile_upper(alpha, df) + student_t_quantile_upper(1.0 - power, df)) * se
}

/// `ln(b_i / a_i)` for each pair, rejecting unequal lengths and values that are not positive.
pub fn log_ratios(baseline: &[f64], candidate: &[f64]) -> Result<Vec<f64>, StatsError> {
    if baseline.len() != candidate.len() {
        return Err(StatsError::LengthMismatch {
            baseline: baseline.len(),
            candidate: candidate.len(),
        });
    }
    check_positive(baseline, Sample::Baseline)?;
    check_positive(candidate, Sample::Candidate)?;
    Ok(baseline
        .iter()
        .zip(candidate)
        .map(|(a, b)| (b / a).ln())
        .collect())
}

/// Paired comparison: `baseline[i]` and `candidate[i]` are the A and B runs of pair `i`.
/// Needs at least 2 pairs.
pub fn paired(baseline: &[f64], candidate: &[f64], cfg: &Config) -> Result<Comparison, StatsError> {
    cfg.validate()?;
    let d = log_ratios(baseline, candidate)?;
    if d.len() < 2 {
        return Err(StatsError::TooFewSamples {
            needed: 2,
            got: d.len(),
        });
    }
    let n = d.len();
    let (mean, sd) = mean_sd(&d);
    let se = sd / (n as f64).sqrt();
    Ok(Comparison::from_moments(
        ComparisonKind::Paired,
        (n, n),
        (mean, sd, se, (n - 1) as f64),
        cfg,
    ))
}

/// Unpaired comparison of a candidate set with a baseline set: Welch's t-test on the logs.
/// Needs at least 2 runs in each set.
pub fn welch(baseline: &[f64], candidate: &[f64], cfg: &Config) -> Result<Comparison, StatsError> {
    cfg.validate()?;
    check_positive(baseline, Sample::Baseline)?;
    check_positive(candidate, Sample::Candidate)?;
    let got = baseline.len().min(candidate.len());
    if got < 2 {
        return Err(StatsError::TooFewSamples { needed: 2, got });
    }
    let la: Vec<f64> = baseline.iter().map(|v| v.ln()).collect();
    let lb: Vec<f64> = candidate.iter().map(|v| v.ln()).collect();
    let (ma, sa) = mean_sd(&la);
    let (mb, sb) = mean_sd(&lb);
    let (na, nb) = (la.len() as f64, lb.len() as f64);
    let va = sa * sa / na;
    let vb = sb * sb / nb;
    let se = (va + vb).sqrt();
    let df = if se > 0.0 {
        (va + vb).powi(2) / (va * va / (na - 1.0) + vb * vb / (nb - 1.0))
    } else {
        na + nb - 2.0
    };
    let sd = (0.5 * (sa * sa + sb * sb)).sqrt();
    Ok(Comparison::from_moments(
        ComparisonKind::Welch,
        (la.len(), lb.len()),
        (mb - ma, sd, se, df),
        cfg,
    ))
}

/// How many A/B pairs a paired comparison needs so that a true relative change of `effect`
/// (e.g. −0.05) is detected with probability `power` by a one-sided test at `alpha`, given the
/// sd of the log ratios `sd_log` (from calibration, or a previous comparison's `sd_log`).
///
/// For two independent sets of `n` runs each with a per-run log sd `s`, pass `sd_log = s·√2`:
/// the answer is then the size of each set.
pub fn required_pairs(
    sd_log: f64,
    effect: f64,
    alpha: f64,
    power: f64,
) -> Result<usize, StatsError> {
    check_open("alpha", alpha, 0.0, 0.5, "must be in (0, 0.5)")?;
    check_open("power", power, 0.5, 1.0, "must be in (0.5, 1)")?;
    if !(sd_log.is_finite() && sd_log >= 0.0) {
        return Err(StatsError::InvalidParameter {
            name: "sd_log",
            value: sd_log,
            reason: "must be finite and non-negative",
        });
    }
    if !(effect.is_finite() && effect > -1.0 && effect != 0.0) {
        return Err(StatsError::InvalidParameter {
            name: "effect",
            value: effect,
            reason: "must be a non-zero relative change above -1",
        });
    }
    let delta = (1.0 + effect).ln().abs();
    if sd_log == 0.0 {
        return Ok(2);
    }
    // Normal approximation as a lower bound, then step up with the t quantiles.
    let z =
        super::dist::normal_quantile_upper(alpha) + super::dist::normal_quantile_upper(1.0 - power);
    let mut n = (((z * sd_log / delta).powi(2)).ceil() as usize).max(2);
    const LIMIT: usize = 1_000_000;
    while n <= LIMIT {
        let se = sd_log / (n as f64).sqrt();
        if mde_log(se, (n - 1) as f64, alpha, power) <= delta {
            return Ok(n);
        }
        n += 1;
    }
    Err(StatsError::InvalidParameter {
        name: "effect",
        value: effect,
        reason: "too small to detect with fewer than a million pairs at this noise",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::default()
    }

    #[test]
    fn paired_known_answer() {
        // Ratios chosen so the log ratios are exactly -0.02, -0.04, -0.03, -0.05, -0.06.
        let d = [-0.02f64, -0.04, -0.03, -0.05, -0.06];
        let a = [100.0; 5];
        let b: Vec<f64> = d.iter().map(|x| 100.0 * x.exp()).collect();
        let c = paired(&a, &b, &cfg()).unwrap();
        assert_eq!(c.n_baseline, 5);
        assert!((c.mean_log + 0.04).abs() < 1e-12);
        let sd = (0.001f64 / 4.0).sqrt(); // Σ(d − mean)² = 0.001
        assert!((c.sd_log - sd).abs() < 1e-12);
        let se = sd / 5f64.sqrt();
        assert!((c.t + 0.04 / se).abs() < 1e-9);
        assert_eq!(c.df, 4.0);
        // t = −5.657 on 4 df: one-sided p = 0.002406339 (mpmath).
        assert!(
            (c.p_decrease - 0.002_406_339_165).abs() < 1e-11,
            "{}",
            c.p_decrease
        );
        assert!((c.p_two_sided - 2.0 * c.p_decrease).abs() < 1e-15);
        assert!((c.p_increase - (1.0 - c.p_decrease)).abs() < 1e-12);
        // 98 % interval: mean ± t_{0.99,4} · se, t_{0.99,4} = 3.746947.
        let half = 3.746_947_387_979_196 * se;
        assert!((c.ci.low - ((-0.04 - half).exp() - 1.0)).abs() < 1e-9);
        assert!((c.ci.high - ((-0.04 + half).exp() - 1.0)).abs() < 1e-9);
        assert!((c.ci.confidence - 0.98).abs() < 1e-15);
        // MDE: (t_{0.99,4} + t_{0.9,4}) · se, t_{0.9,4} = 1.533206.
        let mde = (3.746_947_387_979_196 + 1.533_206_274_058_987_7) * se;
        assert!((c.mde_log - mde).abs() < 1e-9);
        assert!((c.relative_change - ((-0.04f64).exp() - 1.0)).abs() < 1e-15);
    }

    #[test]
    fn welch_known_answer() {
        // Logs: baseline {0, 0.02, 0.04}, candidate {0.1, 0.14, 0.18, 0.22}.
        let a: Vec<f64> = [0.0f64, 0.02, 0.04].iter().map(|x| x.exp()).collect();
        let b: Vec<f64> = [0.1f64, 0.14, 0.18, 0.22].iter().map(|x| x.exp()).collect();
        let c = welch(&a, &b, &cfg()).unwrap();
        assert!((c.mean_log - 0.14).abs() < 1e-12);
        let va: f64 = 0.0004 / 3.0;
        let vb = (0.008 / 3.0) / 4.0;
        assert!((c.std_err - (va + vb).sqrt()).abs() < 1e-12);
        let df = (va + vb) * (va + vb) / (va * va / 2.0 + vb * vb / 3.0);
        assert!((c.df - df).abs() < 1e-9);
        // t = 4.9497 on 4.0755 df: one-sided p = 0.0036977488 (mpmath).
        assert!((c.df - 4.075_471_698_113_207).abs() < 1e-9);
        assert!(
            (c.p_increase - 0.003_697_748_778_732).abs() < 1e-11,
            "{}",
            c.p_increase
        );
        assert_eq!((c.n_baseline, c.n_candidate), (3, 4));
    }

    #[test]
    fn too_few_samples_says_how_many() {
        assert_eq!(
            paired(&[1.0], &[2.0], &cfg()),
            Err(StatsError::TooFewSamples { needed: 2, got: 1 })
        );
        assert_eq!(
            welch(&[1.0, 2.0, 3.0], &[2.0], &cfg()),
            Err(StatsError::TooFewSamples { needed: 2, got: 1 })
        );
        assert_eq!(
            paired(&[], &[], &cfg()),
            Err(StatsError::TooFewSamples { needed: 2, got: 0 })
        );
    }

    #[test]
    fn non_positive_and_non_finite_are_errors() {
        assert_eq!(
            paired(&[1.0, 2.0], &[1.0, 0.0], &cfg()),
            Err(StatsError::NonPositive {
                sample: Sample::Candidate,
                index: 1,
                value: 0.0
            })
        );
        assert_eq!(
            welch(&[-1.0, 2.0], &[1.0, 1.0], &cfg()),
            Err(StatsError::NonPositive {
                sample: Sample::Baseline,
                index: 0,
                value: -1.0
            })
        );
        assert!(matches!(
            paired(&[1.0, f64::NAN], &[1.0, 1.0], &cfg()),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
        assert_eq!(
            paired(&[1.0, 2.0], &[1.0], &cfg()),
            Err(StatsError::LengthMismatch {
                baseline: 2,
                candidate: 1
            })
        );
    }

    #[test]
    fn zero_variance_is_taken_at_face_value() {
        let same = paired(&[100.0, 200.0, 50.0], &[100.0, 200.0, 50.0], &cfg()).unwrap();
        assert_eq!(same.t, 0.0);
        assert_eq!(same.p_two_sided, 1.0);
        assert_eq!(same.relative_change, 0.0);
        assert_eq!((same.ci.low, same.ci.high), (0.0, 0.0));
        assert_eq!(same.mde_log, 0.0);

        let shifted = paired(&[100.0, 200.0], &[90.0, 180.0], &cfg()).unwrap();
        assert_eq!(shifted.t, f64::NEG_INFINITY);
        assert_eq!(shifted.p_decrease, 0.0);
        assert_eq!(shifted.p_increase, 1.0);
        assert!((shifted.ci.low + 0.1).abs() < 1e-12 && (shifted.ci.high + 0.1).abs() < 1e-12);

        let flat = welch(&[5.0, 5.0], &[5.0, 5.0, 5.0], &cfg()).unwrap();
        assert_eq!(flat.df, 3.0);
        assert_eq!(flat.p_two_sided, 1.0);
        let one_flat = welch(&[5.0, 5.0], &[5.0, 6.0, 7.0], &cfg()).unwrap();
        assert!((one_flat.df - 2.0).abs() < 1e-12);
    }

    #[test]
    fn required_pairs_matches_design_md() {
        // docs/design.md: 4.6 % adjacent-run variation, 5 % regression, 90 % power, one-sided 0.01:
        // "roughly 11 pairs" by the normal approximation; the t-test needs a few more.
        let n = required_pairs(0.046, -0.05, 0.01, 0.9).unwrap();
        assert!((11..=15).contains(&n), "{n}");
        // The MDE at that n is at most the effect, and at n − 1 it is larger.
        let mde = |n: usize| mde_log(0.046 / (n as f64).sqrt(), (n - 1) as f64, 0.01, 0.9);
        assert!(mde(n) <= (0.95f64).ln().abs());
        assert!(mde(n - 1) > (0.95f64).ln().abs());
        assert_eq!(required_pairs(0.0, 0.1, 0.01, 0.9), Ok(2));
        assert!(required_pairs(0.05, 0.0, 0.01, 0.9).is_err());
    }
}
