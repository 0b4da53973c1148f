//! The open-loop rate search: the highest arrival rate at which a step still passes, and a
//! verified sustainable rate below it.
//!
//! # A step's verdict
//!
//! A step runs at a target rate for a duration ([`StepPlan`]) and passes ([`judge_step`]) when
//! all of these hold; every one that does not is kept as a [`FailReason`]:
//!
//! - the achieved rate is at least `min_achieved_fraction` (99 %) of the target (the load
//!   generator kept up, the server did not fall behind);
//! - the error rate (failed transactions over transactions) is at most `max_error_rate`;
//! - every latency objective `pP ≤ L` is *shown* to be met: the upper confidence bound on the
//!   percentile of the corrected latency (measured from the intended start), at `confidence`
//!   (95 %), is at most `L` ([`crate::stats::quantile::upper_confidence_bound`]). A step with too
//!   few transactions for the bound to exist (fewer than 299 for p99 at 95 %) fails with "not
//!   enough transactions to show the objective": a lucky short step cannot pass.
//!
//! # The procedure ([`search`])
//!
//! 1. **Growth.** From `start_rate`, multiply by `growth_factor` (2) after every pass, capped at
//!    `max_rate`, until a step fails. A failure of the very first step ends the search:
//!    [`Outcome::BrokenAtLowestRate`], with that step's numbers. A pass at `max_rate` ends it
//!    too: [`Outcome::NoFailureUpToMax`] (no bracket, nothing verified).
//! 2. **Bisection.** With the bracket `[last pass, first fail]`, run a step at its midpoint and
//!    move the matching end, until `(fail − pass) / pass ≤ bracket_tolerance` (5 %). The last
//!    pass is the *found rate*.
//! 3. **Verification.** Hold `verify_fraction` (90 %) of the found rate for `verify_holds` (2)
//!    steps, each `verify_hold_steps` (3) step lengths long — the issue's "three step lengths,
//!    twice" read as two separate holds, so a slow drift (a filling buffer pool, a growing
//!    history list) shows in the second. Both pass: [`Outcome::Verified`] and that rate is the
//!    *sustainable rate*; the first that fails stops the search,
//!    [`Outcome::VerificationFailed`], with no sustainable rate.
//!
//! # Known answers, and a caveat
//!
//! The unit tests run the search against a simulated M/M/c queue (4 servers, 1 ms exponential
//! service, p99 ≤ 10 ms, 30 s steps), whose analytic sustainable rate is 3,501 tx/s: for seeds
//! 1 to 5 the found rate is 3,400 or 3,500 tx/s, within 5 %. The confidence bound on a
//! percentile assumes independent latencies; a queue's are correlated over its busy periods, so
//! near the edge a step's p99 varies more than the bound allows for (a 10 s window of that
//! queue at 3,500 tx/s ranges from 7.4 to 13.9 ms between seeds, against 9.9 ms over 2 million
//! transactions). Longer steps narrow the gap; the verification holds, three step lengths each,
//! are the check on a lucky pass.
//!
//! Every step, its numbers and its verdict are in [`SearchResult::steps`]. The search is a pure
//! state machine: a [`StepRunner`] runs each step (the command against a real server, the tests
//! against a simulated queue), so the procedure is tested on known answers.

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::stats::quantile::upper_confidence_bound;

/// Nanoseconds per millisecond: step latencies are held in nanoseconds.
const NS_PER_MS: f64 = 1e6;

/// What a step is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Exponential growth until a step fails.
    Grow,
    /// Bisection of the bracket [last pass, first fail].
    Bisect,
    /// A verification hold below the found rate.
    Verify,
}

/// One step to run: an open-loop arrival rate for a duration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StepPlan {
    /// Target arrival rate, transactions per second.
    pub rate: f64,
    /// How long to hold it, seconds.
    pub duration_s: f64,
    /// Which phase of the search asked for it.
    pub kind: StepKind,
}

/// What a step measured.
#[derive(Debug, Clone)]
pub struct StepResult {
    /// The rate the step was asked for, transactions per second.
    pub target_rate: f64,
    /// The rate it achieved, transactions per second.
    pub achieved_rate: f64,
    /// Transactions that ended in the step, failed ones included.
    pub transactions: u64,
    /// Of those, the ones that failed.
    pub errors: u64,
    /// Corrected latency (from each transaction's intended start), nanoseconds.
    pub latency: Histogram<u64>,
}

/// Runs the steps of a search: the command against a server, the tests against a simulation.
pub trait StepRunner {
    /// Runs one step and reports what it measured.
    fn run(&mut self, step: &StepPlan) -> StepResult;
}

/// A latency objective: the `percentile` (e.g. 99.0 or 99.9) of the corrected latency at most
/// `bound_ms` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LatencySlo {
    /// The percentile, strictly between 0 and 100.
    pub percentile: f64,
    /// The bound, milliseconds.
    pub bound_ms: f64,
}

/// The settings of a rate search; [`SearchConfig::validate`] checks them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchConfig {
    /// The first step's rate, transactions per second.
    pub start_rate: f64,
    /// Growth factor between passing steps (2).
    pub growth_factor: f64,
    /// Bisection stops when `(fail − pass) / pass` is at most this (0.05).
    pub bracket_tolerance: f64,
    /// The verification holds run at this fraction of the found rate (0.9).
    pub verify_fraction: f64,
    /// Length of one verification hold, in step lengths (3).
    pub verify_hold_steps: f64,
    /// Number of verification holds (2).
    pub verify_holds: u32,
    /// Length of a growth or bisection step, seconds.
    pub step_duration_s: f64,
    /// No step runs above this rate, transactions per second.
    pub max_rate: f64,
    /// A step passes only if it achieved at least this fraction of its target (0.99).
    pub min_achieved_fraction: f64,
    /// A step passes only if at most this fraction of its transactions failed (0.001).
    pub max_error_rate: f64,
    /// Latency objectives every passing step meets.
    pub slos: Vec<LatencySlo>,
    /// Confidence of the upper bound on each percentile (0.95).
    pub confidence: f64,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            start_rate: 100.0,
            growth_factor: 2.0,
            bracket_tolerance: 0.05,
            verify_fraction: 0.9,
            verify_hold_steps: 3.0,
            verify_holds: 2,
            step_duration_s: 30.0,
            max_rate: 1_000_000.0,
            min_achieved_fraction: 0.99,
            max_error_rate: 0.001,
            slos: Vec::new(),
            confidence: 0.95,
        }
    }
}

/// A rate search that cannot start.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    /// A setting out of its range.
    #[error("invalid {field} = {value}: must be {range}")]
    InvalidSetting {
        field: &'static str,
        value: f64,
        range: &'static str,
    },
    /// A latency objective out of its range.
    #[error("invalid latency objective #{index} (p{percentile} <= {bound_ms} ms): {reason}")]
    InvalidSlo {
        index: usize,
        percentile: f64,
        bound_ms: f64,
        reason: &'static str,
    },
}

impl SearchConfig {
    /// Checks every setting; the error names the field and its range.
    pub fn validate(&self) -> Result<(), SearchError> {
        let check = |field: &'static str, value: f64, ok: bool, range: &'static str| {
            if ok && value.is_finite() {
                Ok(())
            } else {
                Err(SearchError::InvalidSetting {
                    field,
                    value,
                    range,
                })
            }
        };
        let c = self;
        check(
            "start_rate",
            c.start_rate,
            c.start_rate > 0.0,
            "a positive rate (tx/s)",
        )?;
        check(
            "growth_factor",
            c.growth_factor,
            c.growth_factor > 1.0,
            "greater than 1",
        )?;
        check(
            "bracket_tolerance",
            c.bracket_tolerance,
            c.bracket_tolerance > 0.0 && c.bracket_tolerance < 1.0,
            "strictly between 0 and 1",
        )?;
        check(
            "verify_fraction",
            c.verify_fraction,
            c.verify_fraction > 0.0 && c.verify_fraction <= 1.0,
            "in (0, 1]",
        )?;
        check(
            "verify_hold_steps",
            c.verify_hold_steps,
            c.verify_hold_steps > 0.0,
            "a positive number of step lengths",
        )?;
        check(
            "verify_holds",
            f64::from(c.verify_holds),
            c.verify_holds >= 1,
            "at least 1",
        )?;
        check(
            "step_duration_s",
            c.step_duration_s,
            c.step_duration_s > 0.0,
            "a positive number of seconds",
        )?;
        check(
            "max_rate",
            c.max_rate,
            c.max_rate >= c.start_rate,
            "a finite rate at least start_rate",
        )?;
        check(
            "min_achieved_fraction",
            c.min_achieved_fraction,
            c.min_achieved_fraction > 0.0 && c.min_achieved_fraction <= 1.0,
            "in (0, 1]",
        )?;
        check(
            "max_error_rate",
            c.max_error_rate,
            (0.0..=1.0).contains(&c.max_error_rate),
            "in [0, 1] (a fraction, 0.001 = 0.1 %)",
        )?;
        check(
            "confidence",
            c.confidence,
            c.confidence > 0.0 && c.confidence < 1.0,
            "strictly between 0 and 1",
        )?;
        for (index, slo) in c.slos.iter().enumerate() {
            let reason = if !(slo.percentile > 0.0 && slo.percentile < 100.0) {
                Some("the percentile must lie strictly between 0 and 100")
            } else if !(slo.bound_ms > 0.0 && slo.bound_ms.is_finite()) {
                Some("the bound must be a positive number of milliseconds")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(SearchError::InvalidSlo {
                    index,
                    percentile: slo.percentile,
                    bound_ms: slo.bound_ms,
                    reason,
                });
            }
        }
        Ok(())
    }
}

/// One latency objective as a step measured it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SloReading {
    /// The objective.
    pub slo: LatencySlo,
    /// The step's own percentile, milliseconds (`None` with no transactions).
    pub observed_ms: Option<f64>,
    /// The upper confidence bound on it, milliseconds (`None`: too few transactions).
    pub upper_bound_ms: Option<f64>,
}

/// The numbers of a step, without its histogram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepSummary {
    /// Target rate, tx/s.
    pub target_rate: f64,
    /// Achieved rate, tx/s.
    pub achieved_rate: f64,
    /// Transactions that ended in the step.
    pub transactions: u64,
    /// Failed transactions.
    pub errors: u64,
    /// `errors / transactions` (0 with no transactions).
    pub error_rate: f64,
    /// Each objective's reading, in the order of [`SearchConfig::slos`].
    pub slos: Vec<SloReading>,
}

/// Why a step failed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum FailReason {
    /// The achieved rate fell below the required fraction of the target.
    FellBehind {
        achieved_rate: f64,
        target_rate: f64,
        min_fraction: f64,
    },
    /// Too many transactions failed.
    TooManyErrors { error_rate: f64, limit: f64 },
    /// The upper confidence bound on a percentile is above its bound.
    SloBroken {
        percentile: f64,
        bound_ms: f64,
        upper_bound_ms: f64,
    },
    /// Too few transactions for the upper confidence bound to exist.
    NotEnoughTransactions { percentile: f64, transactions: u64 },
}

impl std::fmt::Display for FailReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            FailReason::FellBehind {
                achieved_rate,
                target_rate,
                min_fraction,
            } => write!(
                f,
                "achieved {achieved_rate:.1} tx/s of {target_rate:.1} tx/s, below {:.1} %",
                100.0 * min_fraction
            ),
            FailReason::TooManyErrors { error_rate, limit } => write!(
                f,
                "error rate {:.3} % above the limit {:.3} %",
                100.0 * error_rate,
                100.0 * limit
            ),
            FailReason::SloBroken {
                percentile,
                bound_ms,
                upper_bound_ms,
            } => write!(
                f,
                "p{percentile} not shown <= {bound_ms} ms: its upper confidence bound is \
                 {upper_bound_ms:.3} ms"
            ),
            FailReason::NotEnoughTransactions {
                percentile,
                transactions,
            } => write!(
                f,
                "not enough transactions to show the objective on p{percentile} \
                 ({transactions} transactions)"
            ),
        }
    }
}

/// A step's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepVerdict {
    Pass,
    Fail,
}

/// One step of a search, as run and judged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchStep {
    /// 1-based, in the order run.
    pub number: usize,
    pub plan: StepPlan,
    pub summary: StepSummary,
    pub verdict: StepVerdict,
    /// Every reason it failed (empty when it passed).
    pub reasons: Vec<FailReason>,
}

/// How a search ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Every verification hold passed: the sustainable rate is known.
    Verified,
    /// A verification hold failed (its step numbers): the found rate is not sustainable.
    VerificationFailed { steps: Vec<usize> },
    /// The first step, at the start rate, already failed (its step numbers).
    BrokenAtLowestRate { steps: Vec<usize> },
    /// Growth reached `max_rate` without a failure.
    NoFailureUpToMax,
}

/// The result of a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Every step, in order.
    pub steps: Vec<SearchStep>,
    /// The final bracket [last pass, first fail], tx/s, when a step passed and one failed.
    pub bracket: Option<(f64, f64)>,
    /// The highest rate that passed a growth or bisection step, tx/s.
    pub found_rate: Option<f64>,
    /// The rate every verification hold passed at, tx/s (only when [`Outcome::Verified`]).
    pub sustainable_rate: Option<f64>,
    pub outcome: Outcome,
}

/// Judges one step against the config: its numbers, and every reason it fails (none: it
/// passes). The config is assumed valid ([`SearchConfig::validate`]).
pub fn judge_step(config: &SearchConfig, result: &StepResult) -> (StepSummary, Vec<FailReason>) {
    let mut reasons = Vec::new();
    // Written so that a NaN achieved rate fails.
    let kept_up = result.achieved_rate >= config.min_achieved_fraction * result.target_rate;
    if !kept_up {
        reasons.push(FailReason::FellBehind {
            achieved_rate: result.achieved_rate,
            target_rate: result.target_rate,
            min_fraction: config.min_achieved_fraction,
        });
    }
    let error_rate = if result.transactions == 0 {
        0.0
    } else {
        result.errors as f64 / result.transactions as f64
    };
    if error_rate > config.max_error_rate {
        reasons.push(FailReason::TooManyErrors {
            error_rate,
            limit: config.max_error_rate,
        });
    }
    let mut slos = Vec::with_capacity(config.slos.len());
    for &slo in &config.slos {
        let quantile = slo.percentile / 100.0;
        let observed_ms = (!result.latency.is_empty())
            .then(|| result.latency.value_at_quantile(quantile) as f64 / NS_PER_MS);
        // A valid config keeps quantile and confidence in range, so the bound cannot error;
        // an error would count as "not shown", never as a pass.
        let upper_bound_ms = upper_confidence_bound(&result.latency, quantile, config.confidence)
            .ok()
            .flatten()
            .map(|ns| ns as f64 / NS_PER_MS);
        match upper_bound_ms {
            None => reasons.push(FailReason::NotEnoughTransactions {
                percentile: slo.percentile,
                transactions: result.latency.len(),
            }),
            Some(ub) if ub > slo.bound_ms => reasons.push(FailReason::SloBroken {
                percentile: slo.percentile,
                bound_ms: slo.bound_ms,
                upper_bound_ms: ub,
            }),
            Some(_) => {}
        }
        slos.push(SloReading {
            slo,
            observed_ms,
            upper_bound_ms,
        });
    }
    let summary = StepSummary {
        target_rate: result.target_rate,
        achieved_rate: result.achieved_rate,
        transactions: result.transactions,
        errors: result.errors,
        error_rate,
        slos,
    };
    (summary, reasons)
}

/// Runs the search of the module doc with `runner` and reports every step.
pub fn search(
    config: &SearchConfig,
    runner: &mut impl StepRunner,
) -> Result<SearchResult, SearchError> {
    search_with_progress(config, runner, |_| {})
}

/// [`search`], calling `on_step` with each step as soon as it is judged (for live progress).
pub fn search_with_progress(
    config: &SearchConfig,
    runner: &mut impl StepRunner,
    mut on_step: impl FnMut(&SearchStep),
) -> Result<SearchResult, SearchError> {
    config.validate()?;
    let mut steps: Vec<SearchStep> = Vec::new();
    let mut run = |rate: f64, duration_s: f64, kind: StepKind| -> (usize, bool) {
        let plan = StepPlan {
            rate,
            duration_s,
            kind,
        };
        let result = runner.run(&plan);
        let (summary, reasons) = judge_step(config, &result);
        let verdict = if reasons.is_empty() {
            StepVerdict::Pass
        } else {
            StepVerdict::Fail
        };
        let number = steps.len() + 1;
        let step = SearchStep {
            number,
            plan,
            summary,
            verdict,
            reasons,
        };
        on_step(&step);
        steps.push(step);
        (number, verdict == StepVerdict::Pass)
    };

    // 1. Growth.
    let mut rate = config.start_rate;
    let mut pass: Option<f64> = None;
    let fail = loop {
        let (_, passed) = run(rate, config.step_duration_s, StepKind::Grow);
        if !passed {
            break rate;
        }
        pass = Some(rate);
        if rate >= config.max_rate {
            return Ok(SearchResult {
                steps,
                bracket: None,
                found_rate: pass,
                sustainable_rate: None,
                outcome: Outcome::NoFailureUpToMax,
            });
        }
        rate = (rate * config.growth_factor).min(config.max_rate);
    };
    let Some(mut pass) = pass else {
        return Ok(SearchResult {
            steps,
            bracket: None,
            found_rate: None,
            sustainable_rate: None,
            outcome: Outcome::BrokenAtLowestRate { steps: vec![1] },
        });
    };

    // 2. Bisection.
    let mut fail = fail;
    while (fail - pass) / pass > config.bracket_tolerance {
        let mid = 0.5 * (pass + fail);
        if run(mid, config.step_duration_s, StepKind::Bisect).1 {
            pass = mid;
        } else {
            fail = mid;
        }
    }

    // 3. Verification.
    let verify_rate = config.verify_fraction * pass;
    let hold_s = config.verify_hold_steps * config.step_duration_s;
    let mut failed = Vec::new();
    for _ in 0..config.verify_holds {
        let (number, passed) = run(verify_rate, hold_s, StepKind::Verify);
        if !passed {
            failed.push(number);
            break;
        }
    }
    let (sustainable_rate, outcome) = if failed.is_empty() {
        (Some(verify_rate), Outcome::Verified)
    } else {
        (None, Outcome::VerificationFailed { steps: failed })
    };
    Ok(SearchResult {
        steps,
        bracket: Some((pass, fail)),
        found_rate: Some(pass),
        sustainable_rate,
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::super::sim::{mmc_quantile, mmc_sustainable_rate, SimulatedServer};
    use super::*;

    fn p99_within(bound_ms: f64) -> SearchConfig {
        SearchConfig {
            slos: vec![LatencySlo {
                percentile: 99.0,
                bound_ms,
            }],
            step_duration_s: 10.0,
            ..SearchConfig::default()
        }
    }

    fn histogram_of(value_ns: u64, count: u64) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1_000, 3_600_000_000_000, 3).unwrap();
        h.record_n(value_ns, count).unwrap();
        h
    }

    /// A server with a sharp edge: 1 ms latencies up to `threshold` tx/s, 50 ms above; verify
    /// steps fail when `fail_verify`. Keeps every plan it ran.
    struct Edge {
        threshold: f64,
        fail_verify: bool,
        plans: Vec<StepPlan>,
    }

    impl Edge {
        fn new(threshold: f64) -> Edge {
            Edge {
                threshold,
                fail_verify: false,
                plans: Vec::new(),
            }
        }
    }

    impl StepRunner for Edge {
        fn run(&mut self, step: &StepPlan) -> StepResult {
            self.plans.push(*step);
            let bad =
                step.rate > self.threshold || (self.fail_verify && step.kind == StepKind::Verify);
            let ms = if bad { 50 } else { 1 };
            StepResult {
                target_rate: step.rate,
                achieved_rate: step.rate,
                transactions: 1000,
                errors: 0,
                latency: histogram_of(ms * 1_000_000, 1000),
            }
        }
    }

    #[test]
    fn analytic_reference_matches_mm1_by_hand() {
        // M/M/1: the response time is exponential with rate μ − λ, so p99 = ln 100 / (μ − λ)
        // and p99 ≤ 10 ms at μ = 1000/s holds up to λ = 1000 − 100 ln 100 = 539.48/s.
        let rate = mmc_sustainable_rate(0.99, 0.010, 1, 0.001);
        assert!(
            (rate - (1000.0 - 100.0 * 100f64.ln())).abs() < 1e-6,
            "{rate}"
        );
        let p99 = mmc_quantile(0.99, 500.0, 1, 0.001);
        assert!((p99 - 100f64.ln() / 500.0).abs() < 1e-9, "{p99}");
    }

    #[test]
    fn finds_the_mmc_sustainable_rate_within_5_percent_for_5_seeds() {
        // 4 servers, 1 ms exponential service, p99 ≤ 10 ms: analytic 3500.9 tx/s (ρ = 0.875).
        let reference = mmc_sustainable_rate(0.99, 0.010, 4, 0.001);
        assert!((reference - 3500.9).abs() < 0.1, "{reference}");
        // 30 s steps (about 100,000 transactions near the edge): the p99 of a 10 s window of
        // this queue still swings from 7.4 to 13.9 ms between seeds, its latencies being
        // correlated over the queue's busy periods.
        let config = SearchConfig {
            step_duration_s: 30.0,
            ..p99_within(10.0)
        };
        for seed in 1..=5 {
            let mut server = SimulatedServer::new(4, 0.001, seed);
            let result = search(&config, &mut server).unwrap();
            let found = result.found_rate.unwrap();
            let (pass, fail) = result.bracket.unwrap();
            eprintln!(
                "seed {seed}: found {found:.0} tx/s (reference {reference:.0}), bracket \
                 [{pass:.0}, {fail:.0}], {} steps",
                result.steps.len()
            );
            assert!(
                (found / reference - 1.0).abs() <= 0.05,
                "seed {seed}: found {found}, reference {reference}"
            );
            assert_eq!(result.outcome, Outcome::Verified, "seed {seed}");
            assert_eq!(result.sustainable_rate, Some(0.9 * found));
        }
    }

    #[test]
    fn slo_broken_at_lowest_rate_says_so_with_the_numbers() {
        // p99 of a 1 ms exponential service alone is 4.6 ms: p99 ≤ 1 ms fails at any rate.
        let config = p99_within(1.0);
        let mut server = SimulatedServer::new(4, 0.001, 7);
        let result = search(&config, &mut server).unwrap();
        assert_eq!(
            result.outcome,
            Outcome::BrokenAtLowestRate { steps: vec![1] }
        );
        assert_eq!(result.steps.len(), 1);
        assert_eq!(result.bracket, None);
        assert_eq!(result.sustainable_rate, None);
        let step = &result.steps[0];
        assert_eq!(step.plan.rate, config.start_rate);
        assert_eq!(step.verdict, StepVerdict::Fail);
        match step.reasons[..] {
            [FailReason::SloBroken {
                percentile,
                bound_ms,
                upper_bound_ms,
            }] => {
                assert_eq!((percentile, bound_ms), (99.0, 1.0));
                assert!(upper_bound_ms > 4.0, "{upper_bound_ms}");
            }
            ref other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bracket_width_is_within_tolerance_at_the_end() {
        for tolerance in [0.05, 0.01, 0.2] {
            let config = SearchConfig {
                bracket_tolerance: tolerance,
                ..p99_within(10.0)
            };
            let mut edge = Edge::new(1234.0);
            let result = search(&config, &mut edge).unwrap();
            let (pass, fail) = result.bracket.unwrap();
            assert!(pass <= 1234.0 && fail > 1234.0, "[{pass}, {fail}]");
            assert!((fail - pass) / pass <= tolerance, "[{pass}, {fail}]");
            // Growth 100, 200, 400, 800 pass, 1600 fails; then bisection only.
            let kinds: Vec<_> = edge.plans.iter().map(|p| p.kind).collect();
            assert_eq!(kinds[..5], [StepKind::Grow; 5]);
            assert_eq!(edge.plans[4].rate, 1600.0);
            assert!(kinds[5..]
                .iter()
                .all(|&k| k == StepKind::Bisect || k == StepKind::Verify));
        }
    }

    #[test]
    fn verification_holds_at_90_percent_three_step_lengths_twice() {
        let config = p99_within(10.0);
        let mut edge = Edge::new(1234.0);
        let mut seen = Vec::new();
        let result =
            search_with_progress(&config, &mut edge, |s| seen.push((s.number, s.verdict))).unwrap();
        let numbers: Vec<_> = result.steps.iter().map(|s| (s.number, s.verdict)).collect();
        assert_eq!(seen, numbers);
        let found = result.found_rate.unwrap();
        let verify: Vec<_> = edge
            .plans
            .iter()
            .filter(|p| p.kind == StepKind::Verify)
            .collect();
        assert_eq!(verify.len(), 2);
        for p in verify {
            assert_eq!(p.rate, 0.9 * found);
            assert_eq!(p.duration_s, 30.0);
        }
        assert_eq!(result.outcome, Outcome::Verified);
        assert_eq!(result.sustainable_rate, Some(0.9 * found));
        assert!(result
            .steps
            .iter()
            .rev()
            .take(2)
            .all(|s| s.verdict == StepVerdict::Pass));
    }

    #[test]
    fn a_failed_verification_is_reported_without_a_sustainable_rate() {
        let config = p99_within(10.0);
        let mut edge = Edge::new(1234.0);
        edge.fail_verify = true;
        let result = search(&config, &mut edge).unwrap();
        let last = result.steps.last().unwrap();
        assert_eq!(last.plan.kind, StepKind::Verify);
        assert_eq!(
            result.outcome,
            Outcome::VerificationFailed {
                steps: vec![last.number]
            }
        );
        assert_eq!(result.sustainable_rate, None);
        assert!(result.found_rate.is_some() && result.bracket.is_some());
    }

    #[test]
    fn no_failure_up_to_the_maximum_rate() {
        let config = SearchConfig {
            max_rate: 1000.0,
            ..p99_within(10.0)
        };
        let mut edge = Edge::new(1e9);
        let result = search(&config, &mut edge).unwrap();
        assert_eq!(result.outcome, Outcome::NoFailureUpToMax);
        let rates: Vec<f64> = edge.plans.iter().map(|p| p.rate).collect();
        assert_eq!(rates, [100.0, 200.0, 400.0, 800.0, 1000.0]);
        assert_eq!(result.found_rate, Some(1000.0));
        assert_eq!((result.bracket, result.sustainable_rate), (None, None));
    }

    #[test]
    fn a_step_with_too_few_transactions_cannot_show_the_slo() {
        // 298 transactions at 1 ms: p99 ≤ 10 ms is met by the sample, but its 95 % bound does
        // not exist (0.99^298 > 0.05).
        let config = p99_within(10.0);
        let result = StepResult {
            target_rate: 29.8,
            achieved_rate: 29.8,
            transactions: 298,
            errors: 0,
            latency: histogram_of(1_000_000, 298),
        };
        let (summary, reasons) = judge_step(&config, &result);
        assert_eq!(
            reasons,
            [FailReason::NotEnoughTransactions {
                percentile: 99.0,
                transactions: 298
            }]
        );
        assert_eq!(summary.slos[0].upper_bound_ms, None);
        assert!(reasons[0].to_string().contains("not enough transactions"));
        let result = StepResult {
            latency: histogram_of(1_000_000, 299),
            transactions: 299,
            ..result
        };
        assert!(judge_step(&config, &result).1.is_empty());
    }

    #[test]
    fn every_failure_reason_is_kept() {
        let config = SearchConfig {
            max_error_rate: 0.001,
            ..p99_within(10.0)
        };
        let result = StepResult {
            target_rate: 1000.0,
            achieved_rate: 980.0,
            transactions: 10_000,
            errors: 20,
            latency: histogram_of(50_000_000, 10_000),
        };
        let (summary, reasons) = judge_step(&config, &result);
        assert_eq!(summary.error_rate, 0.002);
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(matches!(reasons[0], FailReason::FellBehind { .. }));
        assert!(matches!(reasons[1], FailReason::TooManyErrors { .. }));
        assert!(matches!(reasons[2], FailReason::SloBroken { .. }));
        assert_eq!(
            reasons[0].to_string(),
            "achieved 980.0 tx/s of 1000.0 tx/s, below 99.0 %"
        );
        // The simulated server's errors count the same way.
        let mut server = SimulatedServer::new(4, 0.001, 3);
        server.error_fraction = 0.01;
        let step = server.run(&StepPlan {
            rate: 1000.0,
            duration_s: 10.0,
            kind: StepKind::Grow,
        });
        let (_, reasons) = judge_step(&config, &step);
        assert!(
            matches!(reasons[..], [FailReason::TooManyErrors { .. }]),
            "{reasons:?}"
        );
    }

    #[test]
    fn config_validation_names_the_field_and_range() {
        let bad = |c: SearchConfig| c.validate().unwrap_err().to_string();
        let ok = SearchConfig::default();
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            bad(SearchConfig {
                growth_factor: 1.0,
                ..ok.clone()
            }),
            "invalid growth_factor = 1: must be greater than 1"
        );
        assert!(bad(SearchConfig {
            max_rate: 50.0,
            ..ok.clone()
        })
        .starts_with("invalid max_rate = 50"));
        assert!(bad(SearchConfig {
            bracket_tolerance: 0.0,
            ..ok.clone()
        })
        .starts_with("invalid bracket_tolerance = 0"));
        assert!(bad(SearchConfig {
            start_rate: f64::NAN,
            ..ok.clone()
        })
        .starts_with("invalid start_rate = NaN"));
        assert!(bad(SearchConfig {
            verify_holds: 0,
            ..ok.clone()
        })
        .starts_with("invalid verify_holds = 0"));
        assert_eq!(
            bad(SearchConfig {
                slos: vec![LatencySlo {
                    percentile: 100.0,
                    bound_ms: 20.0
                }],
                ..ok.clone()
            }),
            "invalid latency objective #0 (p100 <= 20 ms): the percentile must lie strictly \
             between 0 and 100"
        );
        let mut edge = Edge::new(1000.0);
        let e = search(
            &SearchConfig {
                confidence: 1.0,
                ..ok
            },
            &mut edge,
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("invalid confidence = 1"));
        assert!(edge.plans.is_empty());
    }
}
