//! Sequential A/B: after each new pair, stop (regressed), stop (no regression) or continue,
//! keeping the overall false-alarm rate at the stated `alpha`.
//!
//! # Method: a group-sequential t-test with alpha spending
//!
//! The pairs are interleaved ABBA on one machine; each gives `d_i = ln(b_i / a_i)`. The plan has
//! a look after every pair from `min_pairs` to `max_pairs`. At look `k` (n pairs) the one-sided
//! t statistic for "worse" is compared with a boundary `c_k`:
//!
//! 1. **Boundaries.** The cumulative false-alarm probability allowed by look `k` is
//!    `α(n_k / n_max)`, from an alpha spending function ([`Spending`]; Hwang–Shih–DeCani with
//!    γ = −1 by default, see below). Each increment becomes a z boundary for the standardized
//!    sum of the pairs — a Brownian motion observed at information `n_k` — by the recursive
//!    numerical integration of Armitage, McPherson and Rowe (1969) (Jennison & Turnbull, *Group
//!    Sequential Methods*, ch. 19) on a Simpson grid, and is converted to Student's t with
//!    `n_k − 1` degrees of freedom at the same nominal level (their "significance level
//!    approach", §11.4).
//! 2. **Level, exactly.** That conversion is slightly liberal when the first looks have 2 to 5
//!    degrees of freedom: measured here, 1.1 to 1.25 % false alarms for a nominal 1 %. So all t
//!    boundaries are multiplied by one factor (`scale`, 1.025 for the defaults) chosen so that
//!    the probability of ever crossing under the null is exactly `alpha`. Under the null the log
//!    ratios are i.i.d. normal with mean 0 and the joint law of the t statistics does not
//!    depend on their unknown sd, so the factor is read off 100,000 simulated standard normal
//!    paths (fixed seed, portable ChaCha generator): Monte Carlo error about ±0.03 percentage
//!    points on `α = 0.01`. The shape of the boundaries comes from theory (smooth), only their
//!    level from simulation (one number, estimated from about 1,000 crossings).
//! 3. **Stop regressed** when the t statistic reaches `c_k` and the repeated confidence interval
//!    (two-sided `1 − 2·p_k`, `p_k` the nominal level of look `k`) satisfies the margin rule, as
//!    in [`super::verdict`]: a significant change whose interval lies inside ± margin is not a
//!    regression.
//! 4. **Stop no regression** when a regression as large as the margin is excluded at one-sided
//!    confidence `1 − futility_alpha` (95 % by default). This futility rule is non-binding: the
//!    efficacy boundaries are computed as if it did not exist, so it can only lower the
//!    false-alarm rate; it costs a little power, measured in the tests below.
//! 5. **Powered** (only with a requested MDE, `target_mde`): stop when the minimum detectable
//!    effect at this look, `(c_k + t_{power}) · se` on the log scale, is at most the requested
//!    effect: the pairs so far could have flagged a change that large and did not. This stop
//!    is non-binding like the futility rule: the efficacy boundaries stay those planned for
//!    `max_pairs` looks, so stopping earlier (for this or for a time budget) only removes
//!    chances to cross and the false-alarm rate stays at most `alpha` however many of the
//!    planned looks are taken. The price is paid in the boundaries: a plan for 64 looks spends
//!    less alpha on the first ten than one for 16, so a requested MDE raises the default
//!    maximum (see `gate --mde`) and the number of pairs the noise needs is reported
//!    ([`SequentialPlan::pairs_for_mde`]).
//! 6. **Max pairs** reached with none of these: stop, inconclusive.
//!
//! Why γ = −1, 16 pairs: simulated with 2 % run noise (20,000 jobs each), it gives 92 % power
//! for a 5 % drop within 10 pairs and 94 % for a 10 % drop within 6, and with the read/write
//! noise measured here (4.6 % between adjacent runs; docs/design.md, "The regression gate's
//! statistics") 89 % for a 5 % drop within 16 pairs.
//! Pocock-type spending (γ ≈ 1) spends more on the first looks, where 2 to 4 degrees of freedom
//! leave little power, and reaches 92 % / 97 % / 83 %; O'Brien–Fleming-type spending keeps
//! alpha for the last look and catches a 10 % drop within 6 pairs only 22 % of the time; 20
//! pairs dilute the looks before 10 (88 % for the 5 % drop).
//!
//! Why not a sequential probability ratio test or mSPRT: those are valid for unlimited looks,
//! and pay for it with wider boundaries; here the looks are planned and few (16 by default), and
//! the group-sequential boundaries spend exactly `alpha` over them. The ABBA order cancels
//! linear drift over each two pairs; what is left inflates the variance estimate a little,
//! which is conservative.
//!
//! [`SequentialPlan::evaluate`] is stateless: given all pairs so far it replays the looks in
//! order and reports the first stop, so calling it after every new pair, or once with all pairs
//! of a finished job, gives the same answer.

use serde::{Deserialize, Serialize};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::dist::{
    normal_pair, normal_pdf, normal_quantile_upper, normal_sf, student_t_quantile_upper,
    student_t_sf,
};
use super::paired::{log_ratios, t_statistic, Interval};
use super::verdict::{classify, MarginRule};
use super::{check_open, Direction, StatsError, Verdict};

/// Alpha spending functions (one-sided, `t` the information fraction in `[0, 1]`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Spending {
    /// Lan–DeMets Pocock-type: `α · ln(1 + (e − 1) t)`. Nearly flat boundaries; early stops.
    Pocock,
    /// Lan–DeMets O'Brien–Fleming-type: `2 (1 − Φ(z_{1−α/2} / √t))`. Very strict early.
    OBrienFleming,
    /// Hwang–Shih–DeCani: `α (1 − e^{−γt}) / (1 − e^{−γ})`; γ = 1 is close to Pocock, γ = −4 to
    /// O'Brien–Fleming.
    HwangShihDeCani { gamma: f64 },
}

impl Spending {
    /// Cumulative alpha spent at information fraction `t`.
    pub fn spent(&self, alpha: f64, t: f64) -> f64 {
        let t = t.clamp(0.0, 1.0);
        match *self {
            Spending::Pocock => alpha * (1.0 + (std::f64::consts::E - 1.0) * t).ln(),
            Spending::OBrienFleming => {
                if t == 0.0 {
                    0.0
                } else {
                    2.0 * normal_sf(normal_quantile_upper(alpha / 2.0) / t.sqrt())
                }
            }
            Spending::HwangShihDeCani { gamma } => {
                if gamma.abs() < 1e-12 {
                    alpha * t
                } else {
                    alpha * (-gamma * t).exp_m1() / (-gamma).exp_m1()
                }
            }
        }
    }
}

/// Settings of a sequential A/B plan. Defaults: `alpha` 0.01, `power` 0.9, `margin` 0.03 with
/// [`MarginRule::Reaches`], 3 to 16 pairs, Hwang–Shih–DeCani spending with γ = −1,
/// `futility_alpha` 0.05.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SequentialConfig {
    /// One-sided overall false-alarm rate for "regressed".
    pub alpha: f64,
    /// Power at which the MDE is quoted.
    pub power: f64,
    /// Practical margin (relative).
    pub margin: f64,
    pub margin_rule: MarginRule,
    /// First look after this many pairs (at least 2).
    pub min_pairs: usize,
    /// Last look; the job is stopped here in any case.
    pub max_pairs: usize,
    pub spending: Spending,
    /// Stop for "no regression" when a regression of the margin is excluded at one-sided
    /// `1 − futility_alpha`; 0 disables the early stop for no regression.
    pub futility_alpha: f64,
    /// Requested minimum detectable effect (relative, in the bad direction): stop as powered
    /// once a look's MDE is at most this. `None`: no such stop.
    #[serde(default)]
    pub target_mde: Option<f64>,
}

impl Default for SequentialConfig {
    fn default() -> Self {
        SequentialConfig {
            alpha: 0.01,
            power: 0.9,
            margin: 0.03,
            margin_rule: MarginRule::Reaches,
            min_pairs: 3,
            max_pairs: 16,
            spending: Spending::HwangShihDeCani { gamma: -1.0 },
            futility_alpha: 0.05,
            target_mde: None,
        }
    }
}

/// One planned look: its boundary and nominal level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Look {
    /// Pairs available at this look.
    pub pairs: usize,
    /// `pairs / max_pairs`.
    pub info_fraction: f64,
    /// Cumulative alpha the spending function allows up to and including this look.
    pub alpha_spent: f64,
    /// Nominal one-sided level of this look's test, `P(T > t_boundary)` for a single look.
    pub nominal_alpha: f64,
    /// Boundary for the t statistic on `pairs − 1` degrees of freedom.
    pub t_boundary: f64,
    /// t quantile for the futility bound (`+∞` when disabled).
    pub t_futility: f64,
    /// `t_{power, pairs − 1}`, for the MDE.
    pub t_power: f64,
}

/// What to do after the pairs seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Run another pair.
    Continue,
    /// The boundary was crossed: regression.
    StopRegressed,
    /// A regression as large as the margin is excluded.
    StopNoRegression,
    /// The maximum number of pairs was reached without a decision.
    StopInconclusive,
    /// The MDE at this look is at most the requested one and the boundary was not crossed:
    /// a regression of the requested size would have been flagged with the configured power.
    StopPowered,
}

/// Statistics at one look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LookResult {
    pub pairs: usize,
    /// Mean of `ln(b_i/a_i)`.
    pub mean_log: f64,
    pub sd_log: f64,
    pub std_err: f64,
    /// `mean_log / std_err`.
    pub t: f64,
    /// `exp(mean_log) − 1`.
    pub relative_change: f64,
    /// Repeated confidence interval for the relative change, two-sided `1 − 2·nominal_alpha`.
    pub ci: Interval,
    pub nominal_alpha: f64,
    /// The t boundary the statistic (signed so that positive is worse) was compared with.
    pub t_boundary: f64,
    /// The descriptive verdict from the repeated interval at this look.
    pub verdict: Verdict,
    /// Minimum detectable effect in the bad direction (relative, positive) at this look's
    /// nominal level and the configured power.
    pub mde: f64,
}

/// The outcome after the pairs given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialOutcome {
    pub decision: Decision,
    /// Pairs given to [`SequentialPlan::evaluate`].
    pub pairs_given: usize,
    /// The deciding look (or the latest look when continuing); `None` before `min_pairs`.
    pub look: Option<LookResult>,
}

/// A sequential plan with its boundaries computed once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SequentialPlan {
    pub config: SequentialConfig,
    pub looks: Vec<Look>,
    /// The factor applied to the converted z boundaries so that the overall false-alarm rate
    /// of the t statistics is `alpha` (slightly above 1: the conversion alone is liberal).
    pub scale: f64,
}

impl SequentialPlan {
    /// Validates `config` and computes the boundaries of every look.
    pub fn new(config: SequentialConfig) -> Result<SequentialPlan, StatsError> {
        // A Holm level α / k computed at the floor may land a rounding step below it.
        if !(config.alpha >= 0.0005 * (1.0 - 1e-9) && config.alpha < 0.5) {
            return Err(StatsError::InvalidParameter {
                name: "alpha",
                value: config.alpha,
                reason: "must be in [0.0005, 0.5) (smaller levels need more simulated paths)",
            });
        }
        check_open("power", config.power, 0.5, 1.0, "must be in (0.5, 1)")?;
        if !(config.margin >= 0.0 && config.margin < 1.0) {
            return Err(StatsError::InvalidParameter {
                name: "margin",
                value: config.margin,
                reason: "must be a relative change in [0, 1)",
            });
        }
        if !(config.futility_alpha >= 0.0 && config.futility_alpha < 0.5) {
            return Err(StatsError::InvalidParameter {
                name: "futility_alpha",
                value: config.futility_alpha,
                reason: "must be in [0, 0.5)",
            });
        }
        if let Some(t) = config.target_mde {
            check_open(
                "target_mde",
                t,
                0.0,
                1.0,
                "must be a relative change in (0, 1)",
            )?;
        }
        if config.min_pairs < 2 {
            return Err(StatsError::InvalidParameter {
                name: "min_pairs",
                value: config.min_pairs as f64,
                reason: "must be at least 2 (a variance needs two pairs)",
            });
        }
        if config.max_pairs < config.min_pairs || config.max_pairs > 1000 {
            return Err(StatsError::InvalidParameter {
                name: "max_pairs",
                value: config.max_pairs as f64,
                reason: "must be between min_pairs and 1000",
            });
        }
        if let Spending::HwangShihDeCani { gamma } = config.spending {
            if !gamma.is_finite() || gamma.abs() > 40.0 {
                return Err(StatsError::InvalidParameter {
                    name: "gamma",
                    value: gamma,
                    reason: "must be finite, within ±40",
                });
            }
        }
        let pairs: Vec<usize> = (config.min_pairs..=config.max_pairs).collect();
        let fractions: Vec<f64> = pairs
            .iter()
            .map(|&n| n as f64 / config.max_pairs as f64)
            .collect();
        let spent: Vec<f64> = fractions
            .iter()
            .map(|&t| config.spending.spent(config.alpha, t))
            .collect();
        let (bounds, scale) =
            t_boundaries(config.min_pairs, config.max_pairs, &spent, config.alpha);
        let looks = pairs
            .iter()
            .enumerate()
            .map(|(k, &n)| {
                let df = (n - 1) as f64;
                Look {
                    pairs: n,
                    info_fraction: fractions[k],
                    alpha_spent: spent[k],
                    nominal_alpha: student_t_sf(bounds[k], df),
                    t_boundary: bounds[k],
                    t_futility: if config.futility_alpha > 0.0 {
                        student_t_quantile_upper(config.futility_alpha, df)
                    } else {
                        f64::INFINITY
                    },
                    t_power: student_t_quantile_upper(1.0 - config.power, df),
                }
            })
            .collect();
        Ok(SequentialPlan {
            config,
            looks,
            scale,
        })
    }

    /// Decides after the pairs so far: `baseline[i]`, `candidate[i]` are pair `i`'s A and B runs,
    /// in the order they were run. Replays every look and reports the first stop.
    pub fn evaluate(
        &self,
        baseline: &[f64],
        candidate: &[f64],
        direction: Direction,
    ) -> Result<SequentialOutcome, StatsError> {
        let d = log_ratios(baseline, candidate)?;
        self.evaluate_log_ratios(&d, direction)
    }

    /// [`SequentialPlan::evaluate`] on log ratios `ln(b_i/a_i)` already computed.
    pub fn evaluate_log_ratios(
        &self,
        d: &[f64],
        direction: Direction,
    ) -> Result<SequentialOutcome, StatsError> {
        self.evaluate_log_ratios_confirmed(d, direction, &|_, _| true)
    }

    /// [`Self::evaluate_log_ratios`], where a crossing counts as a regression only when
    /// `confirm(pairs, nominal_alpha)` agrees at that look (a second test the metric needs,
    /// such as an exact test on error counts); otherwise the look is inconclusive and the
    /// sequence goes on.
    pub fn evaluate_log_ratios_confirmed(
        &self,
        d: &[f64],
        direction: Direction,
        confirm: &dyn Fn(usize, f64) -> bool,
    ) -> Result<SequentialOutcome, StatsError> {
        let cfg = &self.config;
        super::check_finite(d, super::Sample::Series)?;
        let n = d.len();
        if n > cfg.max_pairs {
            return Err(StatsError::TooManySamples {
                max: cfg.max_pairs,
                got: n,
            });
        }
        let mut outcome = SequentialOutcome {
            decision: Decision::Continue,
            pairs_given: n,
            look: None,
        };
        if n < cfg.min_pairs {
            return Ok(outcome);
        }
        let sign = direction.bad_sign();
        // Margin on the log scale in the bad direction.
        let margin_bad = match direction {
            Direction::HigherIsBetter => -(-cfg.margin).ln_1p(),
            Direction::LowerIsBetter => cfg.margin.ln_1p(),
        };
        // Welford's running mean and sum of squares.
        let (mut mean, mut m2) = (0.0, 0.0);
        for (i, &x) in d.iter().enumerate() {
            let k = (i + 1) as f64;
            let delta = x - mean;
            mean += delta / k;
            m2 += delta * (x - mean);
            let pairs = i + 1;
            if pairs < cfg.min_pairs {
                continue;
            }
            let look = &self.looks[pairs - cfg.min_pairs];
            let sd = (m2 / (k - 1.0)).max(0.0).sqrt();
            let se = sd / k.sqrt();
            let t = t_statistic(mean, se);
            let t_bad = sign * t;
            let half = if se > 0.0 { look.t_boundary * se } else { 0.0 };
            let ci = Interval {
                low: (mean - half).exp() - 1.0,
                high: (mean + half).exp() - 1.0,
                confidence: 1.0 - 2.0 * look.nominal_alpha,
            };
            let mut verdict = classify(
                &ci,
                direction,
                t_bad >= look.t_boundary,
                -t_bad >= look.t_boundary,
                cfg.margin,
                cfg.margin_rule,
            );
            if verdict == Verdict::Regressed && !confirm(pairs, look.nominal_alpha) {
                verdict = Verdict::Inconclusive;
            }
            let mde_log = if se > 0.0 {
                (look.t_boundary + look.t_power) * se
            } else {
                0.0
            };
            let mde = match direction {
                Direction::HigherIsBetter => -(-mde_log).exp_m1(),
                Direction::LowerIsBetter => mde_log.exp_m1(),
            };
            let futile = if se > 0.0 {
                sign * mean + look.t_futility * se < margin_bad
            } else {
                sign * mean < margin_bad
            };
            let decision = if verdict == Verdict::Regressed {
                Decision::StopRegressed
            } else if futile {
                Decision::StopNoRegression
            } else if cfg.target_mde.is_some_and(|t| se > 0.0 && mde <= t) {
                Decision::StopPowered
            } else if pairs == cfg.max_pairs {
                Decision::StopInconclusive
            } else {
                Decision::Continue
            };
            outcome.decision = decision;
            outcome.look = Some(LookResult {
                pairs,
                mean_log: mean,
                sd_log: sd,
                std_err: se,
                t,
                relative_change: mean.exp_m1(),
                ci,
                nominal_alpha: look.nominal_alpha,
                t_boundary: look.t_boundary,
                verdict,
                mde,
            });
            if decision != Decision::Continue {
                break;
            }
        }
        Ok(outcome)
    }
}

impl SequentialPlan {
    /// The number of pairs at which a look's MDE would be at most `effect` (relative, in the
    /// bad direction) if the log ratios keep the standard deviation `sd_log`: the first planned
    /// look that reaches it, or beyond the last look, the count at which the last look's
    /// boundary and power quantile would (an extrapolation, said so where it is printed).
    /// `None` when `effect` or `sd_log` is not a usable number.
    pub fn pairs_for_mde(&self, sd_log: f64, effect: f64, direction: Direction) -> Option<usize> {
        if !(effect > 0.0 && effect < 1.0 && sd_log.is_finite() && sd_log >= 0.0) {
            return None;
        }
        let target_log = match direction {
            Direction::HigherIsBetter => -(-effect).ln_1p(),
            Direction::LowerIsBetter => effect.ln_1p(),
        };
        if sd_log == 0.0 {
            return Some(self.config.min_pairs);
        }
        if let Some(l) = self
            .looks
            .iter()
            .find(|l| (l.t_boundary + l.t_power) * sd_log / (l.pairs as f64).sqrt() <= target_log)
        {
            return Some(l.pairs);
        }
        let last = self.looks.last()?;
        let n = ((last.t_boundary + last.t_power) * sd_log / target_log).powi(2);
        (n.is_finite() && n < 1e9).then(|| (n.ceil() as usize).max(last.pairs + 1))
    }
}

/// Simulated null paths for the level of the boundaries: the realized alpha has a Monte Carlo
/// error of about `√(α / paths)`, ±0.03 percentage points at α = 0.01.
const NULL_PATHS: usize = 100_000;
/// Seed of the null simulation (a fixed seed makes the plan deterministic).
const NULL_SEED: u64 = 0x7365_7175_656e_7469; // "sequenti"

/// One-sided boundaries for the t statistics at `min_pairs..=max_pairs` pairs, and the factor
/// that scaled them (see the module documentation): the shape from the z boundaries of
/// [`z_boundaries`] converted to t at the same nominal level, the level set so that the
/// probability of ever crossing under the null is `alpha` on simulated paths.
fn t_boundaries(min_pairs: usize, max_pairs: usize, spent: &[f64], alpha: f64) -> (Vec<f64>, f64) {
    let info: Vec<f64> = (min_pairs..=max_pairs).map(|n| n as f64).collect();
    let shape: Vec<f64> = z_boundaries(&info, spent)
        .iter()
        .zip(min_pairs..=max_pairs)
        .map(|(&z, n)| student_t_quantile_upper(normal_sf(z), (n - 1) as f64))
        .collect();
    // For each null path, the largest ratio of its t statistic to the boundary shape: the path
    // crosses the boundaries `scale × shape` exactly when that ratio reaches `scale`.
    let mut rng = StdRng::seed_from_u64(NULL_SEED);
    let mut ratios = Vec::with_capacity(NULL_PATHS);
    let mut spare: Option<f64> = None;
    for _ in 0..NULL_PATHS {
        let (mut mean, mut m2) = (0.0f64, 0.0f64);
        let mut worst = f64::NEG_INFINITY;
        for n in 1..=max_pairs {
            let x = match spare.take() {
                Some(x) => x,
                None => {
                    let (x, y) = normal_pair(&mut rng);
                    spare = Some(y);
                    x
                }
            };
            let k = n as f64;
            let delta = x - mean;
            mean += delta / k;
            m2 += delta * (x - mean);
            if n >= min_pairs {
                let t = mean / (m2 / (k - 1.0) / k).sqrt();
                worst = worst.max(t / shape[n - min_pairs]);
            }
        }
        ratios.push(worst);
    }
    // The scale crossed by exactly alpha × paths of the paths: the midpoint between the
    // r-th and (r+1)-th largest ratios.
    let r = ((alpha * NULL_PATHS as f64).round() as usize).clamp(1, NULL_PATHS - 1);
    let idx = NULL_PATHS - r;
    let (below, at, _) = ratios.select_nth_unstable_by(idx, f64::total_cmp);
    let next = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let scale = 0.5 * (*at + next);
    (shape.iter().map(|c| c * scale).collect(), scale)
}

/// Lower end of the z grid; the continuation density below it is negligible.
const Z_LOW: f64 = -8.0;
/// Upper end of the grid when a look spends no alpha.
const Z_HIGH: f64 = 10.0;

/// One-sided upper boundaries `b_k` for a standardized Brownian motion observed at information
/// levels `info` (increasing), such that the probability of first crossing at look `k` under the
/// null is `spent[k] − spent[k−1]`. Armitage–McPherson–Rowe recursion on a Simpson grid.
pub(crate) fn z_boundaries(info: &[f64], spent: &[f64]) -> Vec<f64> {
    let mut bounds = Vec::with_capacity(info.len());
    // Continuation density of Z_{k-1} times the Simpson weights, on the grid `zs`.
    let mut zs: Vec<f64> = Vec::new();
    let mut hw: Vec<f64> = Vec::new();
    let mut spent_before = 0.0;
    for k in 0..info.len() {
        let increment = (spent[k] - spent_before).max(0.0);
        spent_before = spent[k].max(spent_before);
        let b = if increment <= 0.0 {
            f64::INFINITY
        } else if k == 0 {
            normal_quantile_upper(increment)
        } else {
            let (r_now, r_before) = (info[k].sqrt(), info[k - 1].sqrt());
            let sd = (info[k] - info[k - 1]).sqrt();
            // P(no crossing before, crossing now at b) and its derivative in b.
            let cross = |b: f64| -> (f64, f64) {
                let mut p = 0.0;
                let mut dp = 0.0;
                for (z, w) in zs.iter().zip(&hw) {
                    let u = (b * r_now - z * r_before) / sd;
                    p += w * normal_sf(u);
                    dp -= w * normal_pdf(u) * r_now / sd;
                }
                (p, dp)
            };
            solve_boundary(cross, increment)
        };
        bounds.push(b);
        if k + 1 == info.len() {
            break;
        }
        // Density of Z_k on (Z_LOW, min(b, Z_HIGH)) for the paths that did not cross, on a
        // grid fine enough for the next transition kernel (sd in z units below).
        let top = b.min(Z_HIGH);
        let kernel_sd = ((info[k + 1] - info[k]) / info[k]).sqrt();
        let h_target = (kernel_sd / 5.0).min(0.05);
        let mut m = ((top - Z_LOW) / h_target).ceil().max(2.0) as usize;
        if m % 2 == 1 {
            m += 1;
        }
        let h = (top - Z_LOW) / m as f64;
        let new_z: Vec<f64> = (0..=m).map(|j| Z_LOW + j as f64 * h).collect();
        let simpson = |j: usize| -> f64 {
            let w = if j == 0 || j == m {
                1.0
            } else if j % 2 == 1 {
                4.0
            } else {
                2.0
            };
            w * h / 3.0
        };
        let density: Vec<f64> = if k == 0 {
            new_z.iter().map(|&z| normal_pdf(z)).collect()
        } else {
            let (r_now, r_before) = (info[k].sqrt(), info[k - 1].sqrt());
            let sd = (info[k] - info[k - 1]).sqrt();
            new_z
                .iter()
                .map(|&z_new| {
                    zs.iter()
                        .zip(&hw)
                        .map(|(z, w)| w * normal_pdf((z_new * r_now - z * r_before) / sd))
                        .sum::<f64>()
                        * r_now
                        / sd
                })
                .collect()
        };
        hw = density
            .iter()
            .enumerate()
            .map(|(j, d)| d * simpson(j))
            .collect();
        zs = new_z;
    }
    bounds
}

/// Solves `cross(b).0 = target` for `b` (cross is decreasing) by safeguarded Newton steps.
fn solve_boundary(cross: impl Fn(f64) -> (f64, f64), target: f64) -> f64 {
    let (mut lo, mut hi) = (Z_LOW, 40.0);
    if cross(lo).0 <= target {
        // Less mass is left than the increment: reject everything left.
        return Z_LOW;
    }
    let mut b = normal_quantile_upper(target).clamp(lo, hi);
    for _ in 0..100 {
        let (p, dp) = cross(b);
        let f = p - target;
        if f > 0.0 {
            lo = b;
        } else {
            hi = b;
        }
        let mut next = if dp < 0.0 { b - f / dp } else { f64::NAN };
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if (next - b).abs() < 1e-10 || hi - lo < 1e-10 {
            return next;
        }
        b = next;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::sim::{abba_job, normal, Rng};
    use std::sync::OnceLock;

    /// The default plan, built once for all tests (its null simulation is the slow part).
    fn default_plan() -> &'static SequentialPlan {
        static PLAN: OnceLock<SequentialPlan> = OnceLock::new();
        PLAN.get_or_init(|| SequentialPlan::new(SequentialConfig::default()).unwrap())
    }

    #[test]
    fn spending_functions() {
        for sp in [
            Spending::Pocock,
            Spending::OBrienFleming,
            Spending::HwangShihDeCani { gamma: -4.0 },
            Spending::HwangShihDeCani { gamma: 0.0 },
        ] {
            assert!((sp.spent(0.01, 1.0) - 0.01).abs() < 1e-12, "{sp:?}");
            assert_eq!(sp.spent(0.01, 0.0), 0.0);
        }
        // Lan–DeMets O'Brien–Fleming at one-sided 0.025, half the information: 0.001525
        // (the first of two looks, boundary 2.963 in Jennison & Turnbull's tables).
        let obf = Spending::OBrienFleming.spent(0.025, 0.5);
        assert!((obf - 0.001_525).abs() < 2e-6, "{obf}");
        assert!((normal_quantile_upper(obf) - 2.963).abs() < 1e-3);
        let pocock = Spending::Pocock.spent(0.01, 0.5);
        assert!((pocock - 0.01 * (0.5 + 0.5 * std::f64::consts::E).ln()).abs() < 1e-15);
        assert_eq!(
            Spending::HwangShihDeCani { gamma: 0.0 }.spent(0.01, 0.25),
            0.0025
        );
    }

    #[test]
    fn z_boundaries_match_tables() {
        // Lan–DeMets O'Brien–Fleming spending, one-sided 0.025, equally spaced looks
        // (Jennison & Turnbull; gsDesign): K = 2: 2.963, 1.969; K = 3: 3.710, 2.511, 1.993.
        let spent = |k: usize| -> Vec<f64> {
            (1..=k)
                .map(|i| Spending::OBrienFleming.spent(0.025, i as f64 / k as f64))
                .collect()
        };
        let b2 = z_boundaries(&[1.0, 2.0], &spent(2));
        for (got, want) in b2.iter().zip([2.963, 1.969]) {
            assert!((got - want).abs() < 2e-3, "{b2:?}");
        }
        let b3 = z_boundaries(&[1.0, 2.0, 3.0], &spent(3));
        for (got, want) in b3.iter().zip([3.710, 2.511, 1.993]) {
            assert!((got - want).abs() < 2e-3, "{b3:?}");
        }
        // A single look is the fixed-sample test.
        let b1 = z_boundaries(&[5.0], &[0.01]);
        assert!((b1[0] - 2.326_347_874).abs() < 1e-8);
    }

    #[test]
    fn z_boundaries_spend_alpha_monte_carlo() {
        // A random walk observed after every step from 3 to 16 with Pocock-type spending: the
        // crossing rate is the alpha spent, 0.01, within Monte Carlo error (sd 0.0007).
        let info: Vec<f64> = (3..=16).map(|n| n as f64).collect();
        let spent: Vec<f64> = info
            .iter()
            .map(|i| Spending::Pocock.spent(0.01, i / 16.0))
            .collect();
        let z = z_boundaries(&info, &spent);
        let mut rng = Rng::new(7);
        let paths = 20_000;
        let mut crossed = 0;
        for _ in 0..paths {
            let mut s = 0.0;
            for n in 1..=16 {
                s += normal(&mut rng);
                if n >= 3 && s / (n as f64).sqrt() >= z[n - 3] {
                    crossed += 1;
                    break;
                }
            }
        }
        let rate = crossed as f64 / paths as f64;
        assert!((rate - 0.01).abs() < 0.002, "{rate}");
    }

    #[test]
    fn boundaries_of_the_default_plan() {
        let plan = default_plan();
        assert_eq!(plan.looks.len(), 14);
        let last = plan.looks.last().unwrap();
        assert!((last.alpha_spent - 0.01).abs() < 1e-12);
        // The scale corrects the liberal z-to-t conversion by a few per cent, upwards.
        assert!(plan.scale > 1.0 && plan.scale < 1.1, "{}", plan.scale);
        // Look 1: the t quantile at the alpha spent by the first look, scaled.
        let spent = plan.config.spending.spent(0.01, 3.0 / 16.0);
        let first = &plan.looks[0];
        let want = plan.scale * student_t_quantile_upper(spent, 2.0);
        assert!((first.t_boundary - want).abs() < 1e-9);
        // Boundaries fall as the pairs (and degrees of freedom) grow.
        assert!(plan
            .looks
            .windows(2)
            .all(|w| w[1].t_boundary < w[0].t_boundary));
        // Deterministic.
        assert_eq!(
            *plan,
            SequentialPlan::new(SequentialConfig::default()).unwrap()
        );
    }

    #[test]
    fn null_false_alarm_rate_is_alpha() {
        // Fresh null data (not the paths the boundaries came from), no drift, no early stop for
        // no regression: the rate of "regressed" is the stated alpha, 0.01, within Monte Carlo
        // error (sd 0.0007 at 20,000 jobs).
        let config = SequentialConfig {
            futility_alpha: 0.0,
            margin: 0.0,
            ..SequentialConfig::default()
        };
        // The boundaries depend on alpha, the pairs and the spending only: reuse the default's.
        let plan = SequentialPlan {
            config,
            looks: default_plan().looks.clone(),
            scale: default_plan().scale,
        };
        let mut rng = Rng::new(7);
        let jobs = 20_000;
        let mut alarms = 0;
        let mut d = vec![0.0; 16];
        for _ in 0..jobs {
            for x in d.iter_mut() {
                *x = 0.04 * normal(&mut rng);
            }
            let out = plan
                .evaluate_log_ratios(&d, Direction::HigherIsBetter)
                .unwrap();
            if out.decision == Decision::StopRegressed {
                alarms += 1;
            }
        }
        let rate = alarms as f64 / jobs as f64;
        eprintln!(
            "null, no futility: false alarms {alarms}/{jobs} = {:.2} %",
            100.0 * rate
        );
        assert!((rate - 0.01).abs() < 0.002, "{rate}");
    }

    #[test]
    fn plan_is_validated() {
        let bad = |c: SequentialConfig| SequentialPlan::new(c).is_err();
        let d = SequentialConfig::default();
        assert!(bad(SequentialConfig { min_pairs: 1, ..d }));
        assert!(bad(SequentialConfig { max_pairs: 2, ..d }));
        assert!(bad(SequentialConfig { alpha: 0.0, ..d }));
        assert!(bad(SequentialConfig {
            futility_alpha: 0.6,
            ..d
        }));
    }

    #[test]
    fn evaluate_before_min_and_beyond_max() {
        let plan = default_plan();
        let out = plan
            .evaluate(&[1.0, 1.0], &[0.5, 0.5], Direction::HigherIsBetter)
            .unwrap();
        assert_eq!(out.decision, Decision::Continue);
        assert!(out.look.is_none());
        let many = vec![1.0; 17];
        assert_eq!(
            plan.evaluate(&many, &many, Direction::HigherIsBetter),
            Err(StatsError::TooManySamples { max: 16, got: 17 })
        );
        assert!(matches!(
            plan.evaluate(
                &[1.0, 1.0, 1.0],
                &[1.0, -1.0, 1.0],
                Direction::HigherIsBetter
            ),
            Err(StatsError::NonPositive { index: 1, .. })
        ));
    }

    #[test]
    fn evaluate_replays_to_the_first_stop() {
        let plan = default_plan();
        // Latency up ~20 % with little noise: the first look already stops.
        let a = [10.0, 10.2, 9.9, 10.1, 10.0, 10.3];
        let b = [12.0, 12.3, 11.8, 12.1, 12.1, 12.3];
        let out = plan.evaluate(&a, &b, Direction::LowerIsBetter).unwrap();
        assert_eq!(out.decision, Decision::StopRegressed);
        let look = out.look.unwrap();
        assert_eq!(look.pairs, 3);
        assert_eq!(look.verdict, Verdict::Regressed);
        assert_eq!(out.pairs_given, 6);
        // For throughput the same change is an improvement: no regression.
        let out = plan.evaluate(&a, &b, Direction::HigherIsBetter).unwrap();
        assert_eq!(out.decision, Decision::StopNoRegression);
        // Identical runs: no regression at the first look.
        let out = plan.evaluate(&a, &a, Direction::HigherIsBetter).unwrap();
        assert_eq!(out.decision, Decision::StopNoRegression);
        assert_eq!(out.look.unwrap().verdict, Verdict::Unchanged);
    }

    /// Outcome of simulated sequential jobs: how many stopped regressed within `by` pairs.
    struct Tally {
        regressed_by: usize,
        regressed: usize,
        no_regression: usize,
        mean_pairs: f64,
    }

    fn simulate(
        plan: &SequentialPlan,
        jobs: usize,
        noise: f64,
        drift: f64,
        effect: f64,
        by: usize,
        seed: u64,
    ) -> Tally {
        let mut rng = Rng::new(seed);
        let mut t = Tally {
            regressed_by: 0,
            regressed: 0,
            no_regression: 0,
            mean_pairs: 0.0,
        };
        let max = plan.config.max_pairs;
        for _ in 0..jobs {
            let (a, b) = abba_job(&mut rng, max, noise, drift, effect.ln_1p());
            let out = plan.evaluate(&a, &b, Direction::HigherIsBetter).unwrap();
            let pairs = out.look.as_ref().map_or(max, |l| l.pairs);
            t.mean_pairs += pairs as f64 / jobs as f64;
            match out.decision {
                Decision::StopRegressed => {
                    t.regressed += 1;
                    if pairs <= by {
                        t.regressed_by += 1;
                    }
                }
                Decision::StopNoRegression => t.no_regression += 1,
                _ => {}
            }
        }
        t
    }

    #[test]
    fn aa_false_alarm_rate_with_noise_and_drift() {
        // 2,000 A/A jobs: 3 % lognormal run-to-run noise, a linear drift of 8 % over the whole
        // job (32 runs), ABBA order. Bar: at most 1.5 % flagged regressed.
        let plan = default_plan();
        let jobs = 2000;
        let t = simulate(plan, jobs, 0.03, 0.08, 0.0, usize::MAX, 11);
        let rate = t.regressed as f64 / jobs as f64;
        eprintln!(
            "A/A: false alarms {}/{jobs} = {:.2} %, stopped no-regression {:.1} %, \
             mean pairs {:.1}",
            t.regressed,
            100.0 * rate,
            100.0 * t.no_regression as f64 / jobs as f64,
            t.mean_pairs
        );
        assert!(rate <= 0.015, "false-alarm rate {rate}");
    }

    #[test]
    fn power_five_percent_drop_within_ten_pairs() {
        // 2 % noise, throughput down 5 %: flagged regressed within 10 pairs in ≥ 90 % of jobs.
        let plan = default_plan();
        let jobs = 2000;
        let t = simulate(plan, jobs, 0.02, 0.08, -0.05, 10, 12);
        let power = t.regressed_by as f64 / jobs as f64;
        eprintln!(
            "5 % drop: regressed within 10 pairs {:.1} %, at all {:.1} %, mean pairs {:.1}",
            100.0 * power,
            100.0 * t.regressed as f64 / jobs as f64,
            t.mean_pairs
        );
        assert!(power >= 0.90, "power {power}");
    }

    #[test]
    fn power_ten_percent_drop_within_six_pairs() {
        let plan = default_plan();
        let jobs = 2000;
        let t = simulate(plan, jobs, 0.02, 0.08, -0.10, 6, 13);
        let power = t.regressed_by as f64 / jobs as f64;
        eprintln!(
            "10 % drop: regressed within 6 pairs {:.1} %, mean pairs {:.1}",
            100.0 * power,
            t.mean_pairs
        );
        assert!(power >= 0.90, "power {power}");
    }

    /// The plan `gate --mde 5%` uses by default (3 to 64 pairs), built once.
    fn mde_gate_plan() -> &'static SequentialPlan {
        static PLAN: OnceLock<SequentialPlan> = OnceLock::new();
        PLAN.get_or_init(|| {
            SequentialPlan::new(SequentialConfig {
                max_pairs: 64,
                target_mde: Some(0.05),
                ..SequentialConfig::default()
            })
            .unwrap()
        })
    }

    /// The same without the futility stop and with no margin: a crossing is a regression,
    /// and the only early stop that is not one is the MDE stop.
    fn mde_only_plan() -> &'static SequentialPlan {
        static PLAN: OnceLock<SequentialPlan> = OnceLock::new();
        PLAN.get_or_init(|| {
            SequentialPlan::new(SequentialConfig {
                futility_alpha: 0.0,
                margin: 0.0,
                ..mde_gate_plan().config
            })
            .unwrap()
        })
    }

    #[test]
    fn target_mde_is_validated() {
        let d = SequentialConfig::default();
        for t in [0.0, 1.0, -0.1, f64::NAN] {
            let c = SequentialConfig {
                target_mde: Some(t),
                ..d
            };
            assert!(SequentialPlan::new(c).is_err(), "{t}");
        }
    }

    #[test]
    fn stops_powered_at_the_first_look_whose_mde_reaches_the_target() {
        // Log ratios alternating ±s: sd ≈ s at every look. The stop comes at the first look
        // with (c_k + t_power) · se ≤ ln(1/(1 − 0.05)), the look pairs_for_mde predicts.
        let plan = mde_only_plan();
        let s = 0.03;
        let d: Vec<f64> = (0..64).map(|i| if i % 2 == 0 { s } else { -s }).collect();
        let out = plan
            .evaluate_log_ratios(&d, Direction::HigherIsBetter)
            .unwrap();
        assert_eq!(out.decision, Decision::StopPowered, "{out:?}");
        let look = out.look.unwrap();
        assert!(look.mde <= 0.05, "{look:?}");
        // The look before had a larger MDE (else it would have stopped there).
        let before = plan
            .evaluate_log_ratios(&d[..look.pairs - 1], Direction::HigherIsBetter)
            .unwrap();
        assert_eq!(before.decision, Decision::Continue);
        assert!(before.look.unwrap().mde > 0.05);
        // pairs_for_mde agrees within a pair or two (it takes sd as known).
        let want = plan
            .pairs_for_mde(look.sd_log, 0.05, Direction::HigherIsBetter)
            .unwrap();
        assert!(want.abs_diff(look.pairs) <= 2, "{want} vs {}", look.pairs);
        // Without a target the same data run to the maximum, inconclusive.
        let plain = SequentialPlan {
            config: SequentialConfig {
                target_mde: None,
                ..plan.config
            },
            ..plan.clone()
        };
        let out = plain
            .evaluate_log_ratios(&d, Direction::HigherIsBetter)
            .unwrap();
        assert_eq!(out.decision, Decision::StopInconclusive);
    }

    #[test]
    fn pairs_for_mde_extrapolates_beyond_the_plan() {
        let plan = default_plan();
        let dir = Direction::HigherIsBetter;
        // Tiny noise: the first look. Large noise: past the 16 planned pairs, growing as sd².
        assert_eq!(plan.pairs_for_mde(0.0001, 0.05, dir), Some(3));
        let n1 = plan.pairs_for_mde(0.2, 0.05, dir).unwrap();
        let n2 = plan.pairs_for_mde(0.4, 0.05, dir).unwrap();
        assert!(n1 > 16, "{n1}");
        assert!((n2 as f64 / n1 as f64 - 4.0).abs() < 0.1, "{n1} {n2}");
        assert_eq!(plan.pairs_for_mde(0.1, 0.0, dir), None);
        assert_eq!(plan.pairs_for_mde(f64::NAN, 0.05, dir), None);
    }

    #[test]
    fn open_ended_looks_keep_the_false_alarm_rate() {
        // A/A jobs under the MDE stop, up to 64 pairs, with 3 % and with 8 % noise (the second
        // mostly runs to the last look), 2 % drift, no futility stop, no margin: "regressed"
        // at most α = 1 % (plus Monte Carlo error, sd 0.1 % at 10,000 jobs). The boundaries
        // are those for 64 looks; stopping powered earlier only lowers the rate. Measured:
        // 0.07 % at 3 % noise (mean 18.5 pairs), 0.98 % at 8 % (mean 63.3 pairs).
        let plan = mde_only_plan();
        for (noise, seed) in [(0.03, 21), (0.08, 22)] {
            let mut rng = Rng::new(seed);
            let jobs = 10_000;
            let (mut alarms, mut pairs, mut powered) = (0, 0usize, 0);
            for _ in 0..jobs {
                let (a, b) = abba_job(&mut rng, 64, noise, 0.02, 0.0);
                let out = plan.evaluate(&a, &b, Direction::HigherIsBetter).unwrap();
                pairs += out.look.as_ref().map_or(64, |l| l.pairs);
                match out.decision {
                    Decision::StopRegressed => alarms += 1,
                    Decision::StopPowered => powered += 1,
                    _ => {}
                }
            }
            let rate = alarms as f64 / jobs as f64;
            eprintln!(
                "A/A with --mde 5 %, noise {noise}: false alarms {:.2} %, powered {:.1} %, mean pairs {:.1}",
                100.0 * rate,
                100.0 * powered as f64 / jobs as f64,
                pairs as f64 / jobs as f64
            );
            assert!(rate <= 0.013, "{rate}");
            if noise < 0.05 {
                // The MDE stop ends nearly every job (after ~18 pairs at this noise).
                assert!(
                    powered > jobs * 9 / 10,
                    "the stop must be in use: {powered}"
                );
            } else {
                // At this noise 5 % needs more than 64 pairs: nearly all jobs use every look.
                assert!(pairs > jobs * 55, "{pairs}");
            }
        }
    }

    #[test]
    fn mde_plan_detects_a_five_percent_drop_at_high_noise() {
        // 6 % run noise (about the read/write noise on a shared machine): the default 16-pair
        // plan rarely resolves a 5 % drop; the open-ended plan keeps going and flags it in
        // most jobs, stopping powered (no regression) only rarely.
        let plan = mde_gate_plan();
        let t16 = simulate(default_plan(), 1000, 0.06, 0.02, -0.05, usize::MAX, 23);
        let t64 = simulate(plan, 1000, 0.06, 0.02, -0.05, usize::MAX, 23);
        eprintln!(
            "5 % drop at 6 % noise: 16 pairs {:.1} %, --mde 5 % (≤ 64 pairs) {:.1} %, mean pairs {:.1}",
            100.0 * t16.regressed as f64 / 1000.0,
            100.0 * t64.regressed as f64 / 1000.0,
            t64.mean_pairs
        );
        assert!(t64.regressed as f64 >= 0.8 * 1000.0, "{}", t64.regressed);
        assert!(t64.regressed > t16.regressed + 100);
    }
}
