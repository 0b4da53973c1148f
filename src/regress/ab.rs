//! A/B in one job: A and B differ by target, settings or workload file; their trials are
//! interleaved A B B A A B ... on the same machine, so slow drift cancels inside each pair, and
//! compared pairwise on the log ratios `ln(b_i / a_i)`.
//!
//! # Sequential, with several metrics and thread counts
//!
//! Every (thread count, metric) is one hypothesis, tested with [`SequentialPlan`] (a look after
//! every pair from `min_pairs` to `max_pairs`, group-sequential boundaries; see
//! [`crate::stats::sequential`]). Holm's procedure runs over all of them with sequential tests
//! (the group-sequential Holm procedure): with `k` hypotheses not yet rejected, each is tested
//! with the plan at level `α / k`; whenever one crosses its boundary it is rejected and the
//! others are re-tested at `α / (k − 1)`, and so on. The family-wise false-alarm rate stays
//! at `α`.
//!
//! A thread count's job stops as soon as one of its metrics regressed (the outcome cannot
//! change any more), when every one of its metrics is decided — regressed, or a regression of
//! the margin excluded (the plan's non-binding futility rule) — or at `max_pairs`. With a
//! requested MDE (`--mde`) a metric is also decided once its MDE reaches the request (the
//! plan's non-binding MDE stop), and a time budget (`--max-time`) ends the job before a pair
//! the pairs so far say would pass it; both only end a job early, so α holds. While a job
//! runs, hypotheses of thread counts not yet run count as untested members of the family
//! (conservative); the verdicts are recomputed on all the data at the end. The error rate joins the family only when it is not negligible (see the module
//! documentation of [`super`]).
//!
//! Both runs of a pair use the same random seed (unless the user fixed one for all), so they
//! draw the same keys: common random numbers, a little less noise per pair.

use std::collections::HashMap;
use std::time::Instant;

use super::compare::{
    judgeable, margin_of, needed_for_margin, rate_increase_p, rate_note, untested, Margins,
};
use super::trials::{fresh_seed, run_trial, seed_is_fixed, TrialSpec};
use super::{mean_of, Metric, RegressError, RunValues};
use crate::error::Result;
use crate::record::gate::{Group, MetricResult, MetricSet, Side, StopReason};
use crate::stats::dist::student_t_sf;
use crate::stats::{
    Config, Decision, SequentialConfig, SequentialOutcome, SequentialPlan, Verdict,
};
use crate::store::Store;

/// The smallest level a [`SequentialPlan`] accepts; bounds the size of the Holm family (20
/// hypotheses at α = 0.01: three thread counts of all six metrics).
const MIN_PLAN_ALPHA: f64 = 0.0005;

/// One comparison of the job: A and B at one thread count.
pub struct AbCase<'a> {
    pub title: String,
    pub a: TrialSpec<'a>,
    pub b: TrialSpec<'a>,
    /// Report metadata; `set_id` and `run_ids` are filled in as the job runs.
    pub a_side: Side,
    pub b_side: Side,
}

/// Settings of an A/B job.
#[derive(Debug, Clone, Copy)]
pub struct AbOptions {
    /// α, power, the requested margin (before calibration), min and max pairs.
    pub seq: SequentialConfig,
    /// Margin per metric ([`Metric::index`]), calibrated.
    pub margins: Margins,
    /// The metrics judged (`--metrics`).
    pub metrics: MetricSet,
    /// Time budget of the whole job in seconds (`--max-time`): no pair is started that the
    /// pairs so far say would end past it; a pair that has started is finished.
    pub max_time: Option<f64>,
    pub quiet: bool,
}

/// Plans by Holm divisor `k` (level `α / k`), built on first use.
pub struct PlanCache {
    base: SequentialConfig,
    plans: HashMap<usize, SequentialPlan>,
}

impl PlanCache {
    pub fn new(base: SequentialConfig) -> Result<PlanCache, RegressError> {
        let mut c = PlanCache {
            base,
            plans: HashMap::new(),
        };
        c.plan(1)?;
        Ok(c)
    }

    fn plan(&mut self, k: usize) -> Result<&SequentialPlan, RegressError> {
        if !self.plans.contains_key(&k) {
            let cfg = SequentialConfig {
                alpha: self.base.alpha / k as f64,
                ..self.base
            };
            self.plans.insert(k, SequentialPlan::new(cfg)?);
        }
        Ok(&self.plans[&k])
    }
}

/// The largest number of hypotheses (thread counts × metrics) a job may test at `alpha`.
pub fn max_hypotheses(alpha: f64) -> usize {
    ((alpha / MIN_PLAN_ALPHA) + 1e-9).floor() as usize
}

/// The result of one hypothesis after the Holm procedure.
#[derive(Debug, Clone)]
pub struct HypResult {
    pub metric: Metric,
    /// False for a negligible error rate.
    pub tested: bool,
    pub outcome: Option<SequentialOutcome>,
    /// The Holm level `α / k` it was last tested at.
    pub level: f64,
    /// With a requested MDE: the pairs the plan at this level needs for a look's MDE to reach
    /// it at the standard deviation seen so far ([`SequentialPlan::pairs_for_mde`]).
    pub needed_pairs: Option<usize>,
}

/// Runs per side of each case so far (A runs, B runs, in pair order).
pub type AbData = Vec<(Vec<RunValues>, Vec<RunValues>)>;

/// The log ratios of metric `m` over the complete pairs of a case.
fn log_ratios(a: &[RunValues], b: &[RunValues], m: Metric) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| (y.compared(m) / x.compared(m)).ln())
        .collect()
}

/// Evaluates every hypothesis of every case with the group-sequential Holm procedure.
pub fn evaluate(
    data: &AbData,
    margins: &Margins,
    judged: MetricSet,
    plans: &mut PlanCache,
) -> Result<Vec<Vec<HypResult>>, RegressError> {
    struct Hyp {
        case: usize,
        metric: Metric,
        d: Vec<f64>,
    }
    let mut out: Vec<Vec<HypResult>> = Vec::new();
    let mut hyps: Vec<Hyp> = Vec::new();
    for (c, (a, b)) in data.iter().enumerate() {
        let mut rows = Vec::new();
        for m in Metric::ALL {
            // With no data yet, a case's error rate and work count as tested (the larger
            // family); a work metric not every run measured is not judged.
            let tested = judged.contains(m) && (a.is_empty() || judgeable(a, b, m));
            rows.push(HypResult {
                metric: m,
                tested,
                outcome: None,
                level: plans.base.alpha,
                needed_pairs: None,
            });
            if tested {
                hyps.push(Hyp {
                    case: c,
                    metric: m,
                    d: log_ratios(a, b, m),
                });
            }
        }
        out.push(rows);
    }
    let total = hyps.len();
    if total > max_hypotheses(plans.base.alpha) {
        return Err(RegressError::Invalid(format!(
            "{total} hypotheses (thread counts × metrics) at α = {}: the sequential plan needs α / hypotheses ≥ {MIN_PLAN_ALPHA}; use fewer thread counts or a larger --alpha",
            plans.base.alpha
        )));
    }
    let mut rejected = vec![false; total];
    loop {
        let k = rejected.iter().filter(|r| !**r).count();
        if k == 0 {
            break;
        }
        let plan = plans.plan(k)?;
        let mut newly = false;
        for (i, h) in hyps.iter().enumerate() {
            if rejected[i] {
                continue;
            }
            let mut p = plan.clone();
            p.config.margin = margin_of(margins, h.metric);
            let o = if h.metric.is_rate() {
                // A crossing must also show in the summed counts of the pairs so far.
                let (a, b) = &data[h.case];
                let m = h.metric;
                let counts_agree = |pairs: usize, level: f64| {
                    rate_increase_p(&a[..pairs], &b[..pairs], m) <= level
                };
                p.evaluate_log_ratios_confirmed(&h.d, h.metric.direction(), &counts_agree)?
            } else {
                p.evaluate_log_ratios(&h.d, h.metric.direction())?
            };
            if o.decision == Decision::StopRegressed {
                rejected[i] = true;
                newly = true;
            }
            let row = &mut out[h.case][h.metric.index()];
            row.needed_pairs = match (p.config.target_mde, &o.look) {
                (Some(t), Some(l)) => p.pairs_for_mde(l.sd_log, t, h.metric.direction()),
                _ => None,
            };
            row.outcome = Some(o);
            row.level = p.config.alpha;
        }
        if !newly {
            break;
        }
    }
    Ok(out)
}

/// Whether every metric of a case has a decision.
pub fn decided(rows: &[HypResult]) -> bool {
    rows.iter().all(|r| {
        !r.tested
            || r.outcome
                .as_ref()
                .is_some_and(|o| o.decision != Decision::Continue)
    })
}

/// The report row of one hypothesis.
pub fn metric_result(
    r: &HypResult,
    a: &[RunValues],
    b: &[RunValues],
    margin: f64,
    judged: MetricSet,
    seq: &SequentialConfig,
) -> MetricResult {
    if !r.tested {
        return untested(r.metric, a, b, margin, judged);
    }
    let m = r.metric;
    let means = (mean_of(a, m), mean_of(b, m));
    let mut res = MetricResult::open(m, means, (a.len(), b.len()), margin);
    let Some(o) = &r.outcome else {
        res.note = Some(format!("fewer than {} pairs", seq.min_pairs));
        return res;
    };
    let Some(look) = &o.look else {
        res.note = Some(format!("fewer than {} pairs", seq.min_pairs));
        return res;
    };
    res.verdict = match o.decision {
        Decision::StopRegressed => Verdict::Regressed,
        Decision::StopNoRegression if look.verdict == Verdict::Improved => Verdict::Improved,
        Decision::StopNoRegression => Verdict::Unchanged,
        Decision::StopPowered if look.verdict == Verdict::Improved => Verdict::Improved,
        Decision::StopPowered => Verdict::Unchanged,
        Decision::StopInconclusive | Decision::Continue => Verdict::Inconclusive,
    };
    res.label = res.verdict.to_string();
    if o.decision == Decision::StopPowered && look.verdict != res.verdict {
        res.label = "no regression".into();
        res.note = Some(format!(
            "the MDE reached {:.1} % (requested {:.1} %): a regression that large would have been flagged with {:.0} % power, and none was",
            look.mde * 100.0,
            seq.target_mde.unwrap_or(look.mde) * 100.0,
            seq.power * 100.0
        ));
    }
    if o.decision == Decision::StopNoRegression && look.verdict == Verdict::Inconclusive {
        res.label = "no regression".into();
        res.note = Some(format!(
            "a regression of {:.1} % or more is excluded at one-sided 95 %",
            margin * 100.0
        ));
    }
    let df = (look.pairs - 1) as f64;
    let t_abs = look.t.abs();
    res.relative_change = Some(look.relative_change);
    res.ci = Some(look.ci);
    res.p_value = Some(if look.t == 0.0 {
        0.5
    } else if t_abs.is_infinite() {
        0.0
    } else {
        student_t_sf(t_abs, df)
    });
    res.look_level = Some(look.nominal_alpha);
    if m.is_rate() {
        let n = look.pairs.min(a.len()).min(b.len());
        res.note = res.note.or_else(|| Some(rate_note(&a[..n], &b[..n], m)));
    }
    res.mde = Some(look.mde);
    res.n_a = look.pairs;
    res.n_b = look.pairs;
    if res.verdict == Verdict::Inconclusive {
        if let Some(t) = seq.target_mde {
            res.needed = r.needed_pairs;
            res.needed_for = Some(t);
        } else {
            let cfg = Config {
                alpha: r.level,
                power: seq.power,
                margin,
                ..Config::default()
            };
            res.needed = needed_for_margin(look.sd_log, m, margin, &cfg);
            res.needed_for = Some(margin);
        }
        res.more_pairs = res.needed.map(|n| n.saturating_sub(look.pairs));
        if res.needed.is_some_and(|n| n > seq.max_pairs) {
            let past = format!(
                "past --max-pairs {} (a count beyond the planned looks is extrapolated from the last one)",
                seq.max_pairs
            );
            res.note = Some(match res.note.take() {
                Some(n) => format!("{past}; {n}"),
                None => past,
            });
        }
    }
    res
}

/// Why the job stops after `pairs` pairs (or same-seconds trials: `unit` names them) of a case
/// whose hypotheses are `rows`, if it does: a regression, else every metric decided (also at
/// the last pair), else the maximum.
pub(super) fn stop_after(
    rows: &[HypResult],
    pairs: usize,
    max_pairs: usize,
    unit: &str,
) -> Option<(String, StopReason)> {
    let ended = |r: &HypResult, d: Decision| r.outcome.as_ref().is_some_and(|o| o.decision == d);
    if let Some(r) = rows.iter().find(|r| ended(r, Decision::StopRegressed)) {
        // The outcome is a regression whatever the other metrics do: stop here.
        return Some((
            format!(
                "stopped after {pairs} {unit}: {} regressed (the other metrics were not run to a decision)",
                r.metric.name()
            ),
            StopReason::Regressed,
        ));
    }
    // Decided by the data: `StopInconclusive` (the plan's last look) is no decision.
    let settled = rows.iter().all(|r| {
        !r.tested
            || r.outcome.as_ref().is_some_and(|o| {
                !matches!(o.decision, Decision::Continue | Decision::StopInconclusive)
            })
    });
    if !settled {
        return (pairs == max_pairs).then(|| {
            (
                format!("stopped at the maximum of {max_pairs} {unit}"),
                StopReason::MaxPairs,
            )
        });
    }
    if rows.iter().any(|r| ended(r, Decision::StopPowered)) {
        return Some((
            format!("stopped after {pairs} {unit}: every metric decided or its MDE reached the requested one"),
            StopReason::MdeReached,
        ));
    }
    Some((
        format!("stopped after {pairs} {unit}: every metric decided"),
        StopReason::Decided,
    ))
}

/// Why no further pair starts under the time budget `max_time` (seconds), if so: when the
/// job's time so far plus the mean time of this case's pairs would pass it (before a case's
/// first pair, when the budget is already spent).
pub(super) fn over_budget(
    max_time: Option<f64>,
    job: Instant,
    case: Instant,
    pairs_done: usize,
    unit: &str,
) -> Option<String> {
    let budget = max_time?;
    let spent = job.elapsed().as_secs_f64();
    let per_pair = if pairs_done == 0 {
        0.0
    } else {
        case.elapsed().as_secs_f64() / pairs_done as f64
    };
    (spent + per_pair > budget || (pairs_done == 0 && spent >= budget)).then(|| {
        format!(
            "stopped after {pairs_done} {unit}: the time budget (--max-time {budget} s) ended ({spent:.0} s used, one takes ~{:.0} s)",
            per_pair
        )
    })
}

/// Runs the A/B job: for each case in turn, pairs in ABBA order until all its metrics are
/// decided or `max_pairs`; returns the groups of the report. `set_prefix` names the run sets
/// (`PREFIX-a`, `PREFIX-b`, with `-tN` per thread count when there are several cases).
pub fn run_ab(
    store: &mut Store,
    cases: &mut [AbCase<'_>],
    opts: &AbOptions,
    set_prefix: &str,
) -> Result<Vec<Group>> {
    let seq = opts.seq;
    if seq.min_pairs < 2 || seq.max_pairs < seq.min_pairs {
        return Err(RegressError::TooFewTrials {
            what: "the sequential A/B plan".into(),
            needed: seq.min_pairs.max(2),
            got: seq.max_pairs,
            advice: Some(
                "--max-pairs must be at least --min-pairs (3 by default); 16 is the default".into(),
            ),
        }
        .into());
    }
    let hyps = cases.len() * opts.metrics.len();
    if hyps > max_hypotheses(seq.alpha) {
        return Err(RegressError::Invalid(format!(
            "{} thread count(s) × {} metrics = {hyps} hypotheses at α = {}: the sequential plan needs α / hypotheses ≥ {MIN_PLAN_ALPHA}, so at most {} thread counts; use fewer or a larger --alpha",
            cases.len(),
            opts.metrics.len(),
            seq.alpha,
            max_hypotheses(seq.alpha) / opts.metrics.len().max(1)
        ))
        .into());
    }
    let mut plans = PlanCache::new(seq)?;
    let mut data: AbData = vec![(Vec::new(), Vec::new()); cases.len()];
    let mut stopped = vec![(String::new(), StopReason::MaxPairs); cases.len()];
    let n_cases = cases.len();
    let started = Instant::now();
    for (c, case) in cases.iter_mut().enumerate() {
        let suffix = if n_cases > 1 {
            format!("-t{}", case.a.settings.threads)
        } else {
            String::new()
        };
        let set_a = format!("{set_prefix}{suffix}-a");
        let set_b = format!("{set_prefix}{suffix}-b");
        super::trials::open_set(
            store,
            &set_a,
            "ab",
            &case.a.workload.name,
            seq.max_pairs as u32,
            Some(case.a_side.label.clone()),
        )?;
        super::trials::open_set(
            store,
            &set_b,
            "ab",
            &case.b.workload.name,
            seq.max_pairs as u32,
            Some(case.b_side.label.clone()),
        )?;
        case.a_side.set_id = Some(set_a.clone());
        case.b_side.set_id = Some(set_b.clone());
        let fixed = seed_is_fixed(case.a.settings) || seed_is_fixed(case.b.settings);
        let case_started = Instant::now();
        for pair in 0..seq.max_pairs {
            if let Some(why) = over_budget(opts.max_time, started, case_started, pair, "pairs") {
                stopped[c] = (why, StopReason::MaxTime);
                break;
            }
            let seed = (!fixed).then(fresh_seed);
            let order = if pair % 2 == 0 { [0, 1] } else { [1, 0] };
            let mut got: [Option<RunValues>; 2] = [None, None];
            for side in order {
                let (spec, set) = if side == 0 {
                    (&case.a, &set_a)
                } else {
                    (&case.b, &set_b)
                };
                let rec = run_trial(store, spec, set, seed)?;
                let v = RunValues::of_record(&rec).ok_or_else(|| {
                    RegressError::Invalid(format!(
                        "run {} completed without results",
                        rec.id.unwrap_or(0)
                    ))
                })?;
                got[side] = Some(v);
            }
            let (Some(va), Some(vb)) = (got[0], got[1]) else {
                unreachable!("both sides ran");
            };
            case.a_side.run_ids.push(va.run_id);
            case.b_side.run_ids.push(vb.run_id);
            data[c].0.push(va);
            data[c].1.push(vb);
            if !opts.quiet {
                eprintln!(
                    "pair {}/{} ({}): {} {} tps, {} {} tps ({}); p99 {} → {} ms",
                    pair + 1,
                    seq.max_pairs,
                    case.title,
                    case.a_side.label,
                    Metric::Tps.format(va.tps),
                    case.b_side.label,
                    Metric::Tps.format(vb.tps),
                    crate::util::pct(vb.tps / va.tps - 1.0),
                    Metric::P99.format(va.p99_ms),
                    Metric::P99.format(vb.p99_ms),
                );
            }
            let eval = evaluate(&data, &opts.margins, opts.metrics, &mut plans)?;
            if let Some(stop) = stop_after(&eval[c], pair + 1, seq.max_pairs, "pairs") {
                stopped[c] = stop;
                if stopped[c].1 != StopReason::MaxPairs {
                    break;
                }
            }
        }
    }
    let sides = cases.iter().map(|c| (&c.title, &c.a_side, &c.b_side));
    groups(sides, &data, &stopped, opts, &mut plans)
}

/// The report's groups of a finished A/B job (either design): per case, its sides, how many
/// pairs or trials ran, why it stopped, and every metric's row from the last evaluation.
pub(super) fn groups<'c>(
    cases: impl Iterator<Item = (&'c String, &'c Side, &'c Side)>,
    data: &AbData,
    stopped: &[(String, StopReason)],
    opts: &AbOptions,
    plans: &mut PlanCache,
) -> Result<Vec<Group>> {
    let eval = evaluate(data, &opts.margins, opts.metrics, plans)?;
    Ok(cases
        .enumerate()
        .map(|(c, (title, a_side, b_side))| {
            let (a, b) = &data[c];
            let metrics = eval[c]
                .iter()
                .map(|r| {
                    let margin = margin_of(&opts.margins, r.metric);
                    metric_result(r, a, b, margin, opts.metrics, &opts.seq)
                })
                .collect();
            Group {
                title: title.clone(),
                a: a_side.clone(),
                b: b_side.clone(),
                pairs: Some(a.len()),
                stopped: Some(stopped[c].0.clone()),
                stop_reason: Some(stopped[c].1),
                metrics,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn runs(tps: &[f64], p99: &[f64]) -> Vec<RunValues> {
        tps.iter()
            .zip(p99)
            .enumerate()
            .map(|(i, (&t, &p))| RunValues {
                run_id: i as i64,
                tps: t,
                p99_ms: p,
                transactions: (t * 10.0) as u64,
                errors: 0,
                work: None,
            })
            .collect()
    }

    /// A/B data with multiplicative noise `sd`, B scaled by `tps_factor` / `p99_factor`.
    fn synthetic(n: usize, sd: f64, tps_factor: f64, p99_factor: f64, seed: u64) -> AbData {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut noise = || (sd * crate::stats::dist::standard_normal(&mut rng)).exp();
        let mut at = Vec::new();
        let mut bt = Vec::new();
        let mut ap = Vec::new();
        let mut bp = Vec::new();
        for _ in 0..n {
            at.push(1000.0 * noise());
            bt.push(1000.0 * tps_factor * noise());
            ap.push(10.0 * noise());
            bp.push(10.0 * p99_factor * noise());
        }
        vec![(runs(&at, &ap), runs(&bt, &bp))]
    }

    fn plans() -> PlanCache {
        PlanCache::new(SequentialConfig::default()).unwrap()
    }

    /// The report row of hypothesis `h` of the first case, judged on every metric.
    fn row(
        eval: &[Vec<HypResult>],
        h: usize,
        data: &AbData,
        margin: f64,
        p: &PlanCache,
    ) -> MetricResult {
        metric_result(
            &eval[0][h],
            &data[0].0,
            &data[0].1,
            margin,
            MetricSet::ALL,
            &p.base,
        )
    }

    #[test]
    fn a_large_drop_stops_early_as_a_regression() {
        let mut p = plans();
        let data = synthetic(4, 0.02, 0.7, 1.4, 1);
        let eval = evaluate(&data, &[0.03; Metric::COUNT], MetricSet::ALL, &mut p).unwrap();
        assert!(decided(&eval[0]));
        let r = row(&eval, 0, &data, 0.03, &p);
        assert_eq!(r.verdict, Verdict::Regressed, "{r:?}");
        assert!(!eval[0][2].tested, "no errors: error rate not tested");
    }

    #[test]
    fn identical_sides_never_regress() {
        let mut p = plans();
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut flagged = 0;
        for _ in 0..100 {
            let data = synthetic(16, 0.03, 1.0, 1.0, rng.gen());
            let eval = evaluate(&data, &[0.03; Metric::COUNT], MetricSet::ALL, &mut p).unwrap();
            let rows: Vec<MetricResult> = eval[0]
                .iter()
                .map(|r| metric_result(r, &data[0].0, &data[0].1, 0.03, MetricSet::ALL, &p.base))
                .collect();
            if rows.iter().any(|r| r.verdict == Verdict::Regressed) {
                flagged += 1;
            }
        }
        // α = 1 % over the family: 100 jobs should see at most a handful.
        assert!(flagged <= 4, "{flagged} false alarms in 100 A/A jobs");
    }

    #[test]
    fn holm_levels_split_alpha_then_recycle_it() {
        let mut p = plans();
        // Two cases (thread counts) × (tps, p99), no errors: 4 hypotheses. Both tps drops
        // are rejected at α / 4; the p99s are then re-tested at the recycled α / 2.
        let mut data = synthetic(5, 0.01, 0.8, 1.0, 3);
        data.extend(synthetic(5, 0.01, 0.8, 1.0, 4));
        let eval = evaluate(&data, &[0.03; Metric::COUNT], MetricSet::ALL, &mut p).unwrap();
        let tps: Vec<f64> = eval.iter().map(|c| c[0].level).collect();
        let p99: Vec<f64> = eval.iter().map(|c| c[1].level).collect();
        assert_eq!(tps, [0.0025, 0.0025]);
        assert_eq!(p99, [0.005, 0.005]);
        for c in &eval {
            assert_eq!(
                c[0].outcome.as_ref().unwrap().decision,
                Decision::StopRegressed
            );
        }
    }

    /// 4 pairs of equal tps and p99 whose runs had `ea[i]` and `eb[i]` errors in 1000
    /// transactions each.
    fn with_errors(ea: &[u64], eb: &[u64]) -> AbData {
        let side = |e: &[u64]| {
            let mut v = runs(&[100.0; 4], &[10.0; 4]);
            for (r, &n) in v.iter_mut().zip(e) {
                r.errors = n;
            }
            v
        };
        vec![(side(ea), side(eb))]
    }

    fn error_verdict(data: &AbData) -> MetricResult {
        let mut p = plans();
        let eval = evaluate(data, &[0.03; Metric::COUNT], MetricSet::ALL, &mut p).unwrap();
        row(&eval, 2, data, 0.03, &p)
    }

    #[test]
    fn a_few_errors_that_agree_by_chance_are_not_an_error_rate_regression() {
        // 2 errors against 3 in every pair: identical log ratios, so the t-test alone is
        // certain (zero variance), but 8 against 12 errors over equal exposure is no evidence.
        let r = error_verdict(&with_errors(&[2; 4], &[3; 4]));
        assert!(r.tested, "{r:?}");
        assert_ne!(r.verdict, Verdict::Regressed, "{r:?}");
        assert!(
            r.note.as_deref().unwrap_or("").contains("exact test"),
            "{r:?}"
        );
        // Many more errors on B in every pair is still a regression.
        let r = error_verdict(&with_errors(&[2, 3, 2, 3], &[40, 45, 42, 44]));
        assert_eq!(r.verdict, Verdict::Regressed, "{r:?}");
    }

    #[test]
    fn too_many_thread_counts_are_refused() {
        assert_eq!(max_hypotheses(0.01), 20);
        // At most 3 thread counts of the default metrics (2 of all eight).
        assert_eq!(max_hypotheses(0.01) / MetricSet::DEFAULT.len(), 3);
        assert_eq!(max_hypotheses(0.01) / Metric::COUNT, 2);
        let mut p = plans();
        let mut data = AbData::new();
        for s in 0..5 {
            data.extend(synthetic(3, 0.01, 1.0, 1.0, s));
        }
        // 5 cases × (tps, p99) = 10 tested (no work measured, errors negligible): allowed.
        // An unrun case counts every metric: 16, still allowed; a second one (22) is not.
        data.push((Vec::new(), Vec::new()));
        assert!(evaluate(&data, &[0.03; Metric::COUNT], MetricSet::ALL, &mut p).is_ok());
        data.push((Vec::new(), Vec::new()));
        assert!(evaluate(&data, &[0.03; Metric::COUNT], MetricSet::ALL, &mut p).is_err());
    }

    #[test]
    fn metrics_not_judged_stay_out_of_the_family() {
        // B's p99 is 40 % worse: judged on tps alone, the job does not see it, and the tps
        // hypothesis is tested at the full α (a family of one) rather than α / 2.
        let data = synthetic(6, 0.01, 1.0, 1.4, 3);
        let tps = MetricSet::parse("tps").unwrap();
        let eval = evaluate(&data, &[0.03; Metric::COUNT], tps, &mut plans()).unwrap();
        let rows = &eval[0];
        assert!(rows[Metric::Tps.index()].tested);
        assert!(rows.iter().filter(|r| r.tested).count() == 1, "{rows:?}");
        assert_eq!(rows[Metric::Tps.index()].level, 0.01);
        let r = metric_result(&rows[1], &data[0].0, &data[0].1, 0.03, tps, &plans().base);
        assert_eq!(r.label, "not judged");
        assert_ne!(r.verdict, Verdict::Regressed);
        let all = evaluate(&data, &[0.03; Metric::COUNT], MetricSet::ALL, &mut plans()).unwrap();
        let p99 = row(&all, 1, &data, 0.03, &plans());
        assert_eq!(p99.verdict, Verdict::Regressed, "{p99:?}");
    }

    fn mde_plans(target: f64) -> PlanCache {
        PlanCache::new(SequentialConfig {
            max_pairs: 64,
            target_mde: Some(target),
            ..SequentialConfig::default()
        })
        .unwrap()
    }

    #[test]
    fn a_reached_mde_ends_the_case_as_no_regression() {
        // 1 % noise, identical sides, no margin (so the futility rule cannot stop): the MDE
        // stop ends the case once each metric could detect 5 %.
        let mut p = mde_plans(0.05);
        let data = synthetic(64, 0.01, 1.0, 1.0, 5);
        let mut stop = None;
        for n in 3..=64 {
            let part: AbData = vec![(data[0].0[..n].to_vec(), data[0].1[..n].to_vec())];
            let eval = evaluate(&part, &[0.0; Metric::COUNT], MetricSet::ALL, &mut p).unwrap();
            if let Some(s) = stop_after(&eval[0], n, 64, "pairs") {
                stop = Some((n, s, eval));
                break;
            }
        }
        let (n, (text, reason), eval) = stop.expect("stops before 64 pairs");
        // Decided at the last allowed pair: still the MDE, not the maximum, ended it.
        assert_eq!(
            stop_after(&eval[0], n, n, "pairs").unwrap().1,
            StopReason::MdeReached
        );
        assert_eq!(reason, StopReason::MdeReached, "{text}");
        assert!(
            n < 64 && text.contains(&format!("after {n} pairs")),
            "{text}"
        );
        let r = metric_result(
            &eval[0][0],
            &data[0].0[..n],
            &data[0].1[..n],
            0.0,
            MetricSet::ALL,
            &p.base,
        );
        assert_ne!(r.verdict, Verdict::Inconclusive, "{r:?}");
        assert!(r.mde.unwrap() <= 0.05, "{r:?}");
        assert_eq!(r.needed, None);
    }

    #[test]
    fn inconclusive_under_mde_says_how_many_more_pairs() {
        // 10 % noise, B 3 % worse, 5 pairs, 5 % asked for: far from resolved; the report asks for the
        // pairs the plan needs at this noise, counted beyond the 5 run.
        let mut p = mde_plans(0.05);
        let data = synthetic(5, 0.10, 0.97, 1.03, 7);
        let eval = evaluate(&data, &[0.0; Metric::COUNT], MetricSet::ALL, &mut p).unwrap();
        let r = row(&eval, 0, &data, 0.0, &p);
        assert_eq!(r.verdict, Verdict::Inconclusive, "{r:?}");
        let needed = r.needed.unwrap();
        assert!(needed > 5, "{r:?}");
        assert_eq!(r.needed_for, Some(0.05));
        assert_eq!(r.more_pairs, Some(needed - 5));
        // At this noise more than the 64 planned looks: the report says the count is past them.
        assert!(needed > 64, "{r:?}");
        assert!(
            r.note.as_deref().unwrap().contains("past --max-pairs 64"),
            "{r:?}"
        );
        assert!(stop_after(&eval[0], 5, 64, "pairs").is_none());
        // With 5 pairs the most, the same rows end the job at the maximum, undecided.
        let mut last = mde_plans(0.05);
        last.base.max_pairs = 5;
        last.plans.clear();
        let eval5 = evaluate(&data, &[0.0; Metric::COUNT], MetricSet::ALL, &mut last).unwrap();
        assert_eq!(
            stop_after(&eval5[0], 5, 5, "pairs").unwrap().1,
            StopReason::MaxPairs
        );
        // Without --mde the count is for the margin, as before.
        let mut plain = plans();
        let eval = evaluate(&data, &[0.03; Metric::COUNT], MetricSet::ALL, &mut plain).unwrap();
        let r = row(&eval, 0, &data, 0.03, &plain);
        if r.verdict == Verdict::Inconclusive {
            assert_eq!(r.needed_for, Some(0.03));
        }
    }

    #[test]
    fn the_time_budget_stops_before_a_pair_that_would_pass_it() {
        use std::time::Duration;
        let now = Instant::now();
        let ago = |s: u64| now.checked_sub(Duration::from_secs(s)).unwrap();
        assert_eq!(over_budget(None, ago(100), ago(100), 5, "pairs"), None);
        // 10 s used by 2 pairs of 5 s: an 11 s budget has no room for a third.
        let why = over_budget(Some(11.0), ago(10), ago(10), 2, "pairs").unwrap();
        assert!(
            why.contains("time budget") && why.contains("after 2 pairs"),
            "{why}"
        );
        assert_eq!(over_budget(Some(16.0), ago(10), ago(10), 2, "pairs"), None);
        // A case's first pair starts unless the budget is already spent.
        assert_eq!(over_budget(Some(11.0), ago(10), now, 0, "pairs"), None);
        assert!(over_budget(Some(9.0), ago(10), now, 0, "pairs").is_some());
    }
}
