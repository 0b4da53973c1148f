//! One verdict per metric from a [`Comparison`]: regressed, improved, unchanged or inconclusive,
//! with a practical margin, Holm–Bonferroni over several primary metrics, and a margin widened by
//! the testbed's calibrated A/A noise.
//!
//! The rules, for a metric whose bad direction is known ([`Direction`]), with the two-sided
//! `1 − 2α` interval `CI` of the relative change and the margin `m`:
//!
//! 1. **Unchanged** when `CI` lies inside `(−m, +m)`: whatever the difference is, it is too small
//!    to matter, even if it is statistically significant.
//! 2. **Regressed** when the one-sided test in the bad direction is significant at `α` after
//!    Holm's correction over the metrics judged together, and the margin rule holds:
//!    [`MarginRule::Reaches`] (default): the interval reaches past the margin on the bad side (a
//!    regression of at least `m` is compatible with the data; given rule 1 this always holds for
//!    a significant result); [`MarginRule::Clears`]: the whole interval lies beyond the margin
//!    (the regression is shown to exceed `m`).
//! 3. **Improved**: the same in the good direction (its own Holm family).
//! 4. **Inconclusive** otherwise: more runs are needed; the MDE says how large a change these
//!    runs could have caught.
//!
//! Holm adjusts the p-values (the decisions); the intervals printed with them are the
//! unadjusted per-metric `1 − 2α` intervals.

use serde::{Deserialize, Serialize};

use super::paired::{Comparison, Interval};
use super::{check_open, check_positive, Direction, Sample, StatsError, Verdict};

/// How the confidence interval must relate to the practical margin for "regressed"/"improved".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarginRule {
    /// The interval is not inside ± margin and reaches past it on the significant side.
    Reaches,
    /// The whole interval lies beyond the margin (criterion's rule). Much less power.
    Clears,
}

/// Settings for comparisons and verdicts. Defaults: `alpha` 0.01 (one-sided), `power` 0.9,
/// `margin` 0.03, [`MarginRule::Reaches`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Config {
    /// One-sided significance level for "regressed" (and for "improved").
    pub alpha: f64,
    /// Power at which the minimum detectable effect is quoted.
    pub power: f64,
    /// Practical margin as a relative change (0.03 = 3 %).
    pub margin: f64,
    pub margin_rule: MarginRule,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            alpha: 0.01,
            power: 0.9,
            margin: 0.03,
            margin_rule: MarginRule::Reaches,
        }
    }
}

impl Config {
    /// Checks the ranges: `0 < alpha < 0.5`, `0.5 < power < 1`, `0 ≤ margin < 1`.
    pub fn validate(&self) -> Result<(), StatsError> {
        check_open("alpha", self.alpha, 0.0, 0.5, "must be in (0, 0.5)")?;
        check_open("power", self.power, 0.5, 1.0, "must be in (0.5, 1)")?;
        if !(self.margin >= 0.0 && self.margin < 1.0) {
            return Err(StatsError::InvalidParameter {
                name: "margin",
                value: self.margin,
                reason: "must be a relative change in [0, 1)",
            });
        }
        Ok(())
    }
}

/// The verdict on one metric, with everything a report prints next to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricVerdict {
    pub verdict: Verdict,
    pub direction: Direction,
    /// `b/a − 1`.
    pub relative_change: f64,
    /// Two-sided `1 − 2α` interval for the relative change.
    pub ci: Interval,
    /// One-sided p-value for "worse", and after Holm's correction.
    pub p_worse: f64,
    pub p_worse_adjusted: f64,
    /// One-sided p-value for "better", and after Holm's correction.
    pub p_better: f64,
    pub p_better_adjusted: f64,
    /// The margin applied (relative).
    pub margin: f64,
    /// Minimum detectable effect in the bad direction (relative, positive), at `alpha` and `power`.
    pub mde: f64,
    pub n_baseline: usize,
    pub n_candidate: usize,
}

/// Classifies an interval given the significance of each one-sided test.
pub(crate) fn classify(
    ci: &Interval,
    direction: Direction,
    significant_worse: bool,
    significant_better: bool,
    margin: f64,
    rule: MarginRule,
) -> Verdict {
    if ci.inside(margin) {
        return Verdict::Unchanged;
    }
    // Beyond-margin tests on the side of a decrease and of an increase.
    let (reach_down, clear_down) = (ci.low < -margin, ci.high < -margin);
    let (reach_up, clear_up) = (ci.high > margin, ci.low > margin);
    let (down, up) = match rule {
        MarginRule::Reaches => (reach_down, reach_up),
        MarginRule::Clears => (clear_down, clear_up),
    };
    let (worse, better) = match direction {
        Direction::HigherIsBetter => (down, up),
        Direction::LowerIsBetter => (up, down),
    };
    if significant_worse && worse {
        Verdict::Regressed
    } else if significant_better && better {
        Verdict::Improved
    } else {
        Verdict::Inconclusive
    }
}

/// Judges several primary metrics together: Holm's correction over their one-sided p-values
/// (one family for "worse", one for "better"), then the rules of this module's documentation
/// with `cfg`'s margin.
///
/// Each comparison's interval and MDE are recomputed at `cfg.alpha` and `cfg.power`.
pub fn judge(
    metrics: &[(Direction, &Comparison)],
    cfg: &Config,
) -> Result<Vec<MetricVerdict>, StatsError> {
    cfg.validate()?;
    let worse: Vec<f64> = metrics.iter().map(|(d, c)| c.p_worse(*d)).collect();
    let better: Vec<f64> = metrics.iter().map(|(d, c)| c.p_better(*d)).collect();
    let worse_adj = holm(&worse);
    let better_adj = holm(&better);
    Ok(metrics
        .iter()
        .enumerate()
        .map(|(i, &(direction, c))| {
            let ci = c.interval(1.0 - 2.0 * cfg.alpha);
            let mde_log = super::paired::mde_log(c.std_err, c.df, cfg.alpha, cfg.power);
            let mde = match direction {
                Direction::HigherIsBetter => 1.0 - (-mde_log).exp(),
                Direction::LowerIsBetter => mde_log.exp() - 1.0,
            };
            MetricVerdict {
                verdict: classify(
                    &ci,
                    direction,
                    worse_adj[i] <= cfg.alpha,
                    better_adj[i] <= cfg.alpha,
                    cfg.margin,
                    cfg.margin_rule,
                ),
                direction,
                relative_change: c.relative_change,
                ci,
                p_worse: worse[i],
                p_worse_adjusted: worse_adj[i],
                p_better: better[i],
                p_better_adjusted: better_adj[i],
                margin: cfg.margin,
                mde,
                n_baseline: c.n_baseline,
                n_candidate: c.n_candidate,
            }
        })
        .collect())
}

/// Holm–Bonferroni adjusted p-values, in the input order: reject hypothesis `i` at family-wise
/// level `α` when `adjusted[i] ≤ α`. Sorted ascending, the `j`-th (0-based) of `m` p-values is
/// multiplied by `m − j`, capped at 1, and made non-decreasing.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (j, &i) in order.iter().enumerate() {
        let v = ((m - j) as f64 * p_values[i]).min(1.0);
        running = running.max(v);
        adjusted[i] = running;
    }
    adjusted
}

/// Run-to-run relative noise of A/A runs given in time order: the sd of the successive log
/// differences divided by √2 (the von Neumann mean-square-successive-difference estimator),
/// which slow drift barely inflates, unlike the plain sd. Needs at least 2 runs.
pub fn run_noise(values: &[f64]) -> Result<f64, StatsError> {
    check_positive(values, Sample::Series)?;
    if values.len() < 2 {
        return Err(StatsError::TooFewSamples {
            needed: 2,
            got: values.len(),
        });
    }
    let ss: f64 = values.windows(2).map(|w| (w[1] / w[0]).ln().powi(2)).sum();
    Ok((ss / (2.0 * (values.len() - 1) as f64)).sqrt())
}

/// The margin widened by a calibrated noise level: `max(default_margin, exp(k · noise) − 1)`,
/// with `noise` a run-to-run log sd (from [`run_noise`] on A/A runs). A noisier testbed gets a
/// wider band of "too small to matter". `k = 1` is the suggested multiplier.
pub fn calibrated_margin(default_margin: f64, noise: f64, k: f64) -> f64 {
    let widened = (k * noise).exp_m1();
    if widened.is_finite() {
        default_margin.max(widened)
    } else {
        default_margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::paired::{paired, welch};

    fn ci(low: f64, high: f64) -> Interval {
        Interval {
            low,
            high,
            confidence: 0.98,
        }
    }

    #[test]
    fn holm_known_example() {
        // Sorted: 0.005×4 = 0.02, 0.01×3 = 0.03, 0.03×2 = 0.06, 0.04×1 → max(0.06, 0.04).
        let adj = holm(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adj.iter().zip(want) {
            assert!((a - w).abs() < 1e-15, "{adj:?}");
        }
        let rejected: Vec<bool> = adj.iter().map(|&p| p <= 0.05).collect();
        assert_eq!(rejected, [true, false, false, true]);
        assert_eq!(holm(&[0.5, 0.9]), [1.0, 1.0]);
        assert_eq!(holm(&[0.2]), [0.2]);
        assert!(holm(&[]).is_empty());
    }

    #[test]
    fn classify_edge_cases() {
        use Direction::*;
        use MarginRule::*;
        use Verdict::*;
        let m = 0.03;
        // Inside the band: unchanged even when significant.
        assert_eq!(
            classify(&ci(-0.02, -0.005), HigherIsBetter, true, false, m, Reaches),
            Unchanged
        );
        // Significant drop reaching past −3 %: regressed for throughput, improved for latency.
        assert_eq!(
            classify(&ci(-0.08, -0.01), HigherIsBetter, true, false, m, Reaches),
            Regressed
        );
        assert_eq!(
            classify(&ci(-0.08, -0.01), LowerIsBetter, false, true, m, Reaches),
            Improved
        );
        // Same interval under the strict rule: not shown to exceed the margin.
        assert_eq!(
            classify(&ci(-0.08, -0.01), HigherIsBetter, true, false, m, Clears),
            Inconclusive
        );
        assert_eq!(
            classify(&ci(-0.08, -0.04), HigherIsBetter, true, false, m, Clears),
            Regressed
        );
        // Latency up 10 %: regressed.
        assert_eq!(
            classify(&ci(0.04, 0.16), LowerIsBetter, true, false, m, Reaches),
            Regressed
        );
        // Wide interval, nothing significant: inconclusive.
        assert_eq!(
            classify(&ci(-0.10, 0.10), HigherIsBetter, false, false, m, Reaches),
            Inconclusive
        );
        // A zero margin never says unchanged.
        assert_eq!(
            classify(
                &ci(-0.001, 0.001),
                HigherIsBetter,
                false,
                false,
                0.0,
                Reaches
            ),
            Inconclusive
        );
    }

    #[test]
    fn judge_applies_holm_across_metrics() {
        let cfg = Config::default();
        let a = [1000.0, 1010.0, 990.0, 1005.0, 995.0, 1000.0];
        // Throughput down ~6 % with little noise: clearly regressed.
        let b: Vec<f64> = a
            .iter()
            .zip([0.94, 0.935, 0.945, 0.94, 0.942, 0.938])
            .map(|(x, r)| x * r)
            .collect();
        let tput = paired(&a, &b, &cfg).unwrap();
        // p99 changed by noise only.
        let p99a = [10.0, 11.0, 9.5, 10.5, 10.2, 9.8];
        let p99b = [10.4, 10.6, 9.9, 10.1, 10.5, 9.6];
        let p99 = paired(&p99a, &p99b, &cfg).unwrap();
        let v = judge(
            &[
                (Direction::HigherIsBetter, &tput),
                (Direction::LowerIsBetter, &p99),
            ],
            &cfg,
        )
        .unwrap();
        assert_eq!(v[0].verdict, Verdict::Regressed);
        assert!(v[0].p_worse_adjusted >= v[0].p_worse);
        assert!(v[0].p_worse_adjusted <= 2.0 * v[0].p_worse + 1e-15);
        assert_eq!(v[1].verdict, Verdict::Inconclusive);
        assert!(v[0].mde > 0.0 && v[0].mde < 0.03, "{}", v[0].mde);

        // A p-value that passes alone but not after Holm over two metrics.
        let c = tput.clone();
        let p = c.p_worse(Direction::HigherIsBetter);
        let tight = Config {
            alpha: p * 1.5,
            ..cfg
        };
        let alone = judge(&[(Direction::HigherIsBetter, &c)], &tight).unwrap();
        assert_eq!(alone[0].verdict, Verdict::Regressed);
        let together = judge(
            &[
                (Direction::HigherIsBetter, &c),
                (Direction::HigherIsBetter, &c),
            ],
            &tight,
        )
        .unwrap();
        assert_eq!(together[0].verdict, Verdict::Inconclusive);
    }

    #[test]
    fn judge_unchanged_with_many_precise_runs_and_zero_variance() {
        let cfg = Config::default();
        let a = [100.0, 100.0, 100.0];
        let v = judge(
            &[(Direction::HigherIsBetter, &paired(&a, &a, &cfg).unwrap())],
            &cfg,
        )
        .unwrap();
        assert_eq!(v[0].verdict, Verdict::Unchanged);
        assert_eq!(v[0].mde, 0.0);
        // An exact 1 % drop is significant but inside the 3 % margin.
        let b = [99.0, 99.0, 99.0];
        let v = judge(
            &[(Direction::HigherIsBetter, &paired(&a, &b, &cfg).unwrap())],
            &cfg,
        )
        .unwrap();
        assert_eq!(v[0].verdict, Verdict::Unchanged);
        // Welch: a set 20 % slower than the baseline.
        let base = [100.0, 102.0, 98.0, 101.0, 99.0];
        let cand = [80.0, 81.0, 79.0, 80.5, 79.5];
        let v = judge(
            &[(
                Direction::HigherIsBetter,
                &welch(&base, &cand, &cfg).unwrap(),
            )],
            &cfg,
        )
        .unwrap();
        assert_eq!(v[0].verdict, Verdict::Regressed);
    }

    #[test]
    fn config_is_validated() {
        let bad = Config {
            alpha: 0.7,
            ..Config::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(StatsError::InvalidParameter { name: "alpha", .. })
        ));
        let bad = Config {
            margin: -0.1,
            ..Config::default()
        };
        assert!(paired(&[1.0, 2.0], &[1.0, 2.0], &bad).is_err());
    }

    #[test]
    fn noise_and_calibrated_margin() {
        // A pure drift of 1 % per run has tiny successive differences relative to its spread.
        let drift: Vec<f64> = (0..20).map(|i| 100.0 * (0.01 * i as f64).exp()).collect();
        let noise = run_noise(&drift).unwrap();
        assert!((noise - 0.01 / 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(
            run_noise(&[5.0]),
            Err(StatsError::TooFewSamples { needed: 2, got: 1 })
        );
        assert_eq!(calibrated_margin(0.03, 0.01, 1.0), 0.03);
        assert!((calibrated_margin(0.03, 0.05, 1.0) - 0.05f64.exp_m1()).abs() < 1e-15);
        assert!((calibrated_margin(0.03, 0.05, 2.0) - 0.1f64.exp_m1()).abs() < 1e-15);
    }
}
