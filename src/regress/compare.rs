//! A candidate run set against a stored baseline: Welch's t-test on the logs of whole runs per
//! metric, Holm's correction over the metrics tested, the practical margin widened by the
//! testbed's calibrated noise, and the checks that refuse what cannot be compared (a different
//! testbed, workload or settings, failed or too few runs).

use super::{
    comparable_settings, mean_of, settings_diff, testbed_diff, work_measured, Metric, RegressError,
    RunValues, ERROR_RATE_FLOOR,
};
use crate::record::gate::{
    CalibrationUsed, GateReport, Group, MarginSource, MarginUsed, MetricResult, MetricSet,
    ReportKind, Side,
};
use crate::record::RunStatus;
use crate::stats::{self, Comparison, Config, Direction, MetricVerdict, Verdict};
use crate::store::{Baseline, Calibration, RunMetrics};

/// How to compare. `Default` is the documented default: α 0.01, power 0.9, margin 3 %,
/// [`stats::MarginRule::Reaches`], calibration used when there is one.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CompareOptions {
    pub stats: Config,
    pub allow_mismatch: bool,
    /// The metrics judged (`--metrics`).
    pub metrics: MetricSet,
}

/// The runs of a set, checked: not empty, every run complete with results. `what` names the
/// set for messages ("candidate set", "run set").
pub fn usable_runs(
    what: &'static str,
    set: &str,
    runs: &[RunMetrics],
) -> Result<Vec<RunValues>, RegressError> {
    if runs.is_empty() {
        return Err(RegressError::EmptySet {
            set: set.to_string(),
        });
    }
    let mut failed = Vec::new();
    let mut values = Vec::new();
    for r in runs {
        let v = (r.status == RunStatus::Complete)
            .then(|| RunValues::of_run(r))
            .flatten();
        match v {
            Some(v) if v.tps > 0.0 && v.p99_ms > 0.0 => values.push(v),
            _ => failed.push(format!(
                "run {} is {}{}",
                r.id,
                if r.status == RunStatus::Running {
                    "still marked running (its process may have died)"
                } else {
                    r.status.as_str()
                },
                r.status_reason
                    .as_deref()
                    .map(|w| format!(" ({w})"))
                    .unwrap_or_default()
            )),
        }
    }
    if !failed.is_empty() {
        return Err(RegressError::FailedRuns {
            what,
            set: set.to_string(),
            failed,
        });
    }
    Ok(values)
}

/// The widest margin calibration may set. A metric noisier than this run to run (p99 of very
/// short runs, a busy machine) is not made meaningless by an ever wider margin: the margin
/// stays at the cap and the report says the testbed is too noisy to detect less than the
/// margin its noise calls for.
pub const MAX_CALIBRATED_MARGIN: f64 = 0.2;

/// The margin of each metric: the requested margin widened by the calibrated noise
/// (`stats::calibrated_margin` with k = 1), at most [`MAX_CALIBRATED_MARGIN`] (or the requested
/// margin if that is wider).
/// The work metrics are not calibrated: they keep the requested margin.
pub fn margins(margin: f64, calibration: Option<&Calibration>) -> Margins {
    let widen = |noise: f64| {
        stats::calibrated_margin(margin, noise, 1.0).min(MAX_CALIBRATED_MARGIN.max(margin))
    };
    let mut out = [margin; Metric::COUNT];
    if let Some(c) = calibration {
        for m in Metric::ALL {
            out[m.index()] = widen(c.noise_of(m).unwrap_or(0.0));
        }
    }
    out
}

/// The margin of every metric, indexed by [`Metric::index`].
pub type Margins = [f64; Metric::COUNT];

/// The margin of each metric with where it came from: requested, or widened by the
/// calibration (with the noise floor when the cap held it back).
pub fn margins_used(margin: f64, calibration: Option<&Calibration>) -> Vec<MarginUsed> {
    let applied = margins(margin, calibration);
    Metric::ALL
        .iter()
        .map(|&m| {
            let used = margin_of(&applied, m);
            let wanted = calibration.map_or(margin, |c| {
                stats::calibrated_margin(margin, c.noise_of(m).unwrap_or(0.0), 1.0)
            });
            MarginUsed {
                metric: m,
                margin: used,
                source: if used > margin {
                    MarginSource::Calibration
                } else {
                    MarginSource::Requested
                },
                noise_floor: (wanted > used).then_some(wanted),
            }
        })
        .collect()
}

pub fn margin_of(margins: &Margins, m: Metric) -> f64 {
    margins[m.index()]
}

/// The report's view of a calibration.
pub fn calibration_used(c: &Calibration) -> CalibrationUsed {
    CalibrationUsed {
        id: c.id.unwrap_or(0),
        created_at: crate::util::rfc3339(c.created_at_ms),
        trials: c.trials,
        set_id: c.set_id.clone(),
        noise_tps: c.noise_tps,
        noise_p99: c.noise_p99,
        noise_error_rate: c.noise_error_rate,
        noise_rows: c.noise_rows,
        noise_pages: c.noise_pages,
        noise_client_cpu: c.noise_client_cpu,
        noise_server_cpu: c.noise_server_cpu,
    }
}

/// The relative change that a metric's margin stands for, in its bad direction.
fn bad_effect(m: Metric, margin: f64) -> f64 {
    match m.direction() {
        Direction::HigherIsBetter => -margin,
        Direction::LowerIsBetter => margin,
    }
}

/// Runs per side (Welch: pass the per-run log sd times √2) or pairs (paired: the sd of the log
/// ratios) needed to catch a change of the margin with `power`; `None` when not computable.
pub fn needed_for_margin(sd_log: f64, m: Metric, margin: f64, cfg: &Config) -> Option<usize> {
    if margin <= 0.0 || !sd_log.is_finite() {
        return None;
    }
    stats::required_pairs(sd_log, bad_effect(m, margin), cfg.alpha, cfg.power).ok()
}

/// One-sided exact p-value that `b`'s runs have a higher rate of metric `m` (errors, disk
/// spills: [`Metric::is_rate`]) than `a`'s, from the counts and transactions summed over each
/// side ([`stats::dist::rate_increase_p`]). A rate's regression needs it as well as the test on
/// per-run rates: with a few counts per run those rates take a handful of values, and four
/// pairs that happen to agree make a t-test certain.
pub fn rate_increase_p(a: &[RunValues], b: &[RunValues], m: Metric) -> f64 {
    let sum = |v: &[RunValues]| {
        (
            v.iter().filter_map(|r| r.count_of(m)).sum::<f64>() as u64,
            v.iter().map(|r| r.transactions as f64).sum::<f64>(),
        )
    };
    let ((ea, ta), (eb, tb)) = (sum(a), sum(b));
    stats::dist::rate_increase_p(ea, ta, eb, tb)
}

/// What a rate's row says about how it was tested.
pub fn rate_note(a: &[RunValues], b: &[RunValues], m: Metric) -> String {
    let what = match m {
        Metric::ErrorRate => "errors",
        _ => "spills",
    };
    format!(
        "compared on ({what} + 0.5) / (transactions + 0.5) per run; a regression also needs the exact test on the summed counts (one-sided p = {:.2e})",
        rate_increase_p(a, b, m)
    )
}

/// True when rate `m` is negligible on both sides (see [`ERROR_RATE_FLOOR`]).
pub fn rate_negligible(a: &[RunValues], b: &[RunValues], m: Metric) -> bool {
    mean_of(a, m) < ERROR_RATE_FLOOR && mean_of(b, m) < ERROR_RATE_FLOOR
}

/// Whether metric `m` can be judged on these runs: a work metric every run measured, and a
/// rate that is not negligible on both sides.
pub fn judgeable(a: &[RunValues], b: &[RunValues], m: Metric) -> bool {
    if m.is_work() && !work_measured(a, b, m) {
        return false;
    }
    !(m.is_rate() && rate_negligible(a, b, m))
}

/// The row of a rate left untested because it is negligible on both sides.
pub fn negligible_rate(a: &[RunValues], b: &[RunValues], m: Metric, margin: f64) -> MetricResult {
    let (floor, per) = match m {
        Metric::ErrorRate => (format!("{} %", ERROR_RATE_FLOOR * 100.0), "of transactions"),
        _ => (format!("{ERROR_RATE_FLOOR}"), "per transaction"),
    };
    MetricResult {
        verdict: Verdict::Unchanged,
        label: "negligible".into(),
        tested: false,
        note: Some(format!(
            "below {floor} {per} on both sides: negligible, not tested"
        )),
        ..MetricResult::open(
            m,
            (mean_of(a, m), mean_of(b, m)),
            (a.len(), b.len()),
            margin,
        )
    }
}

/// The row of metric `m` left untested: a metric not in the judged set, a negligible error
/// rate, or a work metric that not every run measured (inconclusive when the set was named on
/// the command line: what was asked for could not be judged).
pub fn untested(
    m: Metric,
    a: &[RunValues],
    b: &[RunValues],
    margin: f64,
    judged: MetricSet,
) -> MetricResult {
    let mean = |v: &[RunValues]| {
        let xs: Vec<f64> = v.iter().filter_map(|r| r.work_value(m)).collect();
        if xs.is_empty() {
            f64::NAN
        } else {
            xs.iter().sum::<f64>() / xs.len() as f64
        }
    };
    let means = if m.is_work() {
        (mean(a), mean(b))
    } else {
        (mean_of(a, m), mean_of(b, m))
    };
    if !judged.contains(m) {
        return MetricResult {
            verdict: Verdict::Unchanged,
            label: "not judged".into(),
            tested: false,
            note: Some(format!(
                "not among the metrics judged (--metrics {}): shown, not judged",
                judged.names().join(",")
            )),
            ..MetricResult::open(m, means, (a.len(), b.len()), margin)
        };
    }
    if !m.is_work() || work_measured(a, b, m) {
        return negligible_rate(a, b, m, margin);
    }
    let (verdict, note) = if judged.required() {
        (
            Verdict::Inconclusive,
            "asked for with --metrics but not measured on every run (runs from before work \
             metrics, a server whose counters could not be read, or a value of zero): cannot be \
             judged",
        )
    } else {
        (
            Verdict::Unchanged,
            "not measured on every run (runs from before work metrics, a server whose counters \
             could not be read, or a value of zero): not judged",
        )
    };
    MetricResult {
        verdict,
        label: "not measured".into(),
        tested: false,
        note: Some(note.into()),
        ..MetricResult::open(m, means, (a.len(), b.len()), margin)
    }
}

/// Welch comparisons of every primary metric of `b` against `a`, judged together (Holm over
/// the metrics tested), each with its own margin.
pub fn judge_sets(
    a: &[RunValues],
    b: &[RunValues],
    cfg: &Config,
    margins: &Margins,
    judged: MetricSet,
) -> Result<Vec<MetricResult>, RegressError> {
    let got = a.len().min(b.len());
    if got < 2 {
        return Err(RegressError::TooFewTrials {
            what: "a comparison of two run sets (Welch's t-test)".into(),
            needed: 2,
            got,
            advice: Some(
                "3 or more trials per side are recommended; more narrow the interval".into(),
            ),
        });
    }
    let mut tested: Vec<(Metric, Comparison)> = Vec::new();
    for m in judged.iter() {
        if !judgeable(a, b, m) {
            continue;
        }
        let va: Vec<f64> = a.iter().map(|v| v.compared(m)).collect();
        let vb: Vec<f64> = b.iter().map(|v| v.compared(m)).collect();
        tested.push((m, stats::welch(&va, &vb, cfg)?));
    }
    let family: Vec<(Direction, &Comparison)> =
        tested.iter().map(|(m, c)| (m.direction(), c)).collect();
    let mut out = Vec::new();
    for m in Metric::ALL {
        let margin = margin_of(margins, m);
        let Some(i) = tested.iter().position(|(t, _)| *t == m) else {
            out.push(untested(m, a, b, margin, judged));
            continue;
        };
        let c = &tested[i].1;
        let mut v = stats::judge(&family, &Config { margin, ..*cfg })?.swap_remove(i);
        // Bonferroni over the metrics tested: conservative, and only ever a downgrade.
        if m.is_rate()
            && v.verdict == Verdict::Regressed
            && rate_increase_p(a, b, m) > cfg.alpha / tested.len() as f64
        {
            v.verdict = Verdict::Inconclusive;
        }
        let needed = (v.verdict == Verdict::Inconclusive)
            .then(|| needed_for_margin(c.sd_log * std::f64::consts::SQRT_2, m, margin, cfg))
            .flatten();
        out.push(metric_result(m, &v, a, b, needed));
    }
    Ok(out)
}

fn metric_result(
    m: Metric,
    v: &MetricVerdict,
    a: &[RunValues],
    b: &[RunValues],
    needed: Option<usize>,
) -> MetricResult {
    let worse = match m.direction() {
        Direction::HigherIsBetter => v.relative_change < 0.0,
        Direction::LowerIsBetter => v.relative_change > 0.0,
    };
    MetricResult {
        metric: m,
        verdict: v.verdict,
        label: v.verdict.to_string(),
        tested: true,
        a: mean_of(a, m),
        b: mean_of(b, m),
        relative_change: Some(v.relative_change),
        ci: Some(v.ci),
        p_value: Some(if worse { v.p_worse } else { v.p_better }),
        p_adjusted: Some(if worse {
            v.p_worse_adjusted
        } else {
            v.p_better_adjusted
        }),
        look_level: None,
        mde: Some(v.mde),
        margin: v.margin,
        n_a: v.n_baseline,
        n_b: v.n_candidate,
        needed,
        needed_for: needed.map(|_| v.margin),
        more_pairs: None,
        note: m.is_rate().then(|| rate_note(a, b, m)),
    }
}

/// What differs between the baseline and the candidate runs (and inside the candidate set).
pub fn mismatches(baseline: &Baseline, candidate: &[RunMetrics]) -> Vec<String> {
    let mut out = Vec::new();
    let Some(first) = candidate.first() else {
        return out;
    };
    if baseline.workload != first.workload {
        out.push(format!(
            "workload {} → {}",
            baseline.workload, first.workload
        ));
    }
    if baseline.workload_hash != first.workload_hash {
        out.push(format!(
            "workload file hash {} → {} (the workload's statements or settings changed)",
            baseline.workload_hash, first.workload_hash
        ));
    }
    out.extend(testbed_diff(&baseline.testbed, &first.testbed));
    let diff = settings_diff(&baseline.settings_as_ran(), &first.settings_as_ran());
    if !diff.is_empty() {
        out.push(format!("settings: {}", diff.join(", ")));
    }
    let key = comparable_settings(&first.settings_as_ran());
    for r in &candidate[1..] {
        if r.workload_hash != first.workload_hash
            || r.testbed_fingerprint != first.testbed_fingerprint
            || comparable_settings(&r.settings_as_ran()) != key
        {
            out.push(format!(
                "the candidate set mixes runs of different workloads, testbeds or settings (run {} differs from run {})",
                r.id, first.id
            ));
            break;
        }
    }
    out
}

/// Compares candidate set `set_id` (its runs `candidate`) with `baseline`.
pub fn compare_with_baseline(
    baseline: &Baseline,
    set_id: &str,
    candidate: &[RunMetrics],
    choice: &super::calibrate::Choice,
    opts: &CompareOptions,
) -> Result<GateReport, RegressError> {
    let calibration = choice.used.as_ref();
    opts.stats.validate()?;
    if baseline.set_id == set_id {
        return Err(RegressError::Invalid(format!(
            "the candidate set `{set_id}` is the set baseline `{}` was saved from; compare another set (--candidate SET)",
            baseline.name
        )));
    }
    let b = usable_runs("candidate set", set_id, candidate)?;
    let a: Vec<RunValues> = baseline
        .runs
        .iter()
        .map(RunValues::of_baseline_run)
        .collect();
    let mism = mismatches(baseline, candidate);
    if !mism.is_empty() && !opts.allow_mismatch {
        return Err(RegressError::Mismatch {
            what: format!("baseline `{}` and candidate set `{set_id}`", baseline.name),
            details: mism,
        });
    }
    let m = margins(opts.stats.margin, calibration);
    let metrics = judge_sets(&a, &b, &opts.stats, &m, opts.metrics)?;
    let first = &candidate[0];
    let threads = |s: &serde_json::Value| s["threads"].as_u64().unwrap_or(0) as u32;
    let group = Group {
        title: format!(
            "{}, {}",
            first.workload,
            super::threads_text(threads(&first.settings))
        ),
        a: Side {
            label: format!("baseline {}", baseline.name),
            workload: baseline.workload.clone(),
            workload_hash: baseline.workload_hash.clone(),
            target: baseline.target.clone(),
            threads: threads(&baseline.settings),
            baseline: Some(baseline.name.clone()),
            set_id: Some(baseline.set_id.clone()),
            run_ids: a.iter().map(|v| v.run_id).collect(),
            differs_by: Vec::new(),
        },
        b: Side {
            label: format!("candidate {set_id}"),
            workload: first.workload.clone(),
            workload_hash: first.workload_hash.clone(),
            target: first.target.clone(),
            threads: threads(&first.settings),
            baseline: None,
            set_id: Some(set_id.to_string()),
            run_ids: b.iter().map(|v| v.run_id).collect(),
            differs_by: settings_diff(&baseline.settings_as_ran(), &first.settings_as_ran()),
        },
        pairs: None,
        stopped: None,
        stop_reason: None,
        metrics,
    };
    let tested = group.metrics.iter().filter(|m| m.tested).count();
    let mut notes = Vec::new();
    if !mism.is_empty() {
        notes.push(format!(
            "MISMATCH OVERRIDDEN (--allow-mismatch): {}. The verdict may reflect these differences, not the change under test.",
            mism.join("; ")
        ));
    }
    if let Some(c) = calibration {
        notes.push(calibration_note(opts.stats.margin, c, &m));
    }
    notes.extend(choice.not_applied.clone());
    let mut report = GateReport {
        schema: crate::record::gate::SCHEMA_ID,
        tool_version: crate::util::VERSION.to_string(),
        kind: ReportKind::Baseline,
        outcome: super::Outcome::Pass,
        exit_code: 0,
        generated_at: crate::util::rfc3339(crate::util::now_ms()),
        elapsed_s: None,
        requested_mde: None,
        max_time_s: None,
        alpha: opts.stats.alpha,
        power: opts.stats.power,
        margin: opts.stats.margin,
        margin_rule: opts.stats.margin_rule,
        method: format!(
            "Welch's t-test on the logs of whole runs ({} baseline vs {} candidate trials), Holm over {tested} metric(s), one-sided α = {}",
            a.len(),
            b.len(),
            opts.stats.alpha
        ),
        design: None,
        testbed: first.testbed_fingerprint.clone(),
        calibration: calibration.map(calibration_used),
        calibration_not_applied: choice.not_applied.clone(),
        metrics_judged: opts.metrics,
        margins: margins_used(opts.stats.margin, calibration),
        mismatches: mism,
        mismatch_allowed: opts.allow_mismatch,
        groups: vec![group],
        notes,
    };
    report.decide();
    Ok(report)
}

/// "calibration 3 (8 A/A trials on this testbed, ...): run-to-run noise ...; margins ...".
pub fn calibration_note(margin: f64, c: &Calibration, m: &Margins) -> String {
    let label = |x: Metric| match x {
        Metric::ErrorRate => "error rate",
        Metric::RowsPerTxn => "rows/txn",
        Metric::PagesPerTxn => "pages/txn",
        _ => x.name(),
    };
    let measured: Vec<(Metric, f64)> = Metric::ALL
        .iter()
        .filter_map(|&x| c.noise_of(x).map(|n| (x, n)))
        .collect();
    let capped = measured
        .iter()
        .filter(|(_, n)| {
            stats::calibrated_margin(margin, *n, 1.0) > MAX_CALIBRATED_MARGIN.max(margin)
        })
        .map(|(x, n)| {
            format!(
                "this testbed is too noisy to detect less than {:.1} % in {}",
                stats::calibrated_margin(margin, *n, 1.0) * 100.0,
                label(*x)
            )
        })
        .collect::<Vec<_>>();
    let cap = if capped.is_empty() {
        String::new()
    } else {
        format!(
            "; margin capped at {:.0} %: {} (longer trials or a quieter machine make it usable)",
            MAX_CALIBRATED_MARGIN * 100.0,
            capped.join(", ")
        )
    };
    let noise: Vec<String> = measured
        .iter()
        .map(|(x, n)| format!("{} {:.1} %", label(*x), n * 100.0))
        .collect();
    let margins: Vec<String> = Metric::ALL
        .iter()
        .map(|&x| format!("{} {:.1} %", label(x), margin_of(m, x) * 100.0))
        .collect();
    format!(
        "calibration {} ({} A/A trials on this testbed, {}): run-to-run noise {}{}; margins {} (requested {:.1} %)",
        c.id.unwrap_or(0),
        c.trials,
        crate::util::rfc3339(c.created_at_ms),
        noise.join(", "),
        cap,
        margins.join(", "),
        margin * 100.0
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(tps: &[f64], p99: f64, errors: u64) -> Vec<RunValues> {
        tps.iter()
            .enumerate()
            .map(|(i, &t)| RunValues {
                run_id: i as i64,
                tps: t,
                p99_ms: p99 * (1.0 + 0.01 * i as f64),
                transactions: 10_000,
                errors,
                work: None,
            })
            .collect()
    }

    #[test]
    fn a_clear_drop_regresses_and_noise_does_not() {
        let cfg = Config::default();
        let a = vals(&[1000.0, 1010.0, 995.0, 1005.0, 990.0], 10.0, 0);
        let b = vals(&[800.0, 805.0, 798.0, 810.0, 795.0], 10.0, 0);
        let r = judge_sets(&a, &b, &cfg, &[0.03; Metric::COUNT], MetricSet::ALL).unwrap();
        assert_eq!(r[0].verdict, Verdict::Regressed);
        assert_eq!(r[1].verdict, Verdict::Unchanged, "{:?}", r[1]);
        assert!(!r[2].tested);
        assert_eq!(r[2].verdict, Verdict::Unchanged);
        let same = judge_sets(&a, &a, &cfg, &[0.03; Metric::COUNT], MetricSet::ALL).unwrap();
        assert!(same.iter().all(|m| m.verdict != Verdict::Regressed));
    }

    #[test]
    fn error_rates_above_the_floor_are_tested_with_smoothing() {
        let cfg = Config::default();
        let a = vals(&[1000.0, 1001.0, 999.0, 1000.5], 10.0, 0);
        // 3 % of transactions fail in every candidate run: a regression, though A has zeros.
        let b = vals(&[1000.0, 1001.0, 999.0, 1000.5], 10.0, 300);
        let r = judge_sets(&a, &b, &cfg, &[0.03; Metric::COUNT], MetricSet::ALL).unwrap();
        assert!(r[2].tested);
        assert_eq!(r[2].verdict, Verdict::Regressed, "{:?}", r[2]);
    }

    #[test]
    fn a_few_errors_per_run_need_the_count_test_to_regress() {
        let cfg = Config::default();
        let tps = [1000.0, 1001.0, 999.0, 1000.5];
        // 12 against 16 errors in every run of 10 000 transactions (above the floor): the
        // per-run rates have no spread, so the t-test alone is certain; 48 against 64 errors
        // in all is not evidence of an increase.
        let r = judge_sets(
            &vals(&tps, 10.0, 12),
            &vals(&tps, 10.0, 16),
            &cfg,
            &[0.03; Metric::COUNT],
            MetricSet::ALL,
        )
        .unwrap();
        assert!(r[2].tested);
        assert_eq!(r[2].verdict, Verdict::Inconclusive, "{:?}", r[2]);
        assert!(r[2].note.as_deref().unwrap_or("").contains("exact test"));
    }

    #[test]
    fn work_metrics_are_judged_only_when_every_run_measured_them() {
        use crate::record::work::WorkPerTxn;
        let cfg = Config::default();
        let with = |v: &mut Vec<RunValues>, rows: f64| {
            for (i, r) in v.iter_mut().enumerate() {
                r.work = Some(WorkPerTxn {
                    rows: rows * (1.0 + 0.001 * i as f64),
                    pages: 90.0,
                    spills: 0.0,
                    client_cpu_us: None,
                    server_cpu_us: None,
                });
            }
        };
        let tps = [1000.0, 1001.0, 999.0, 1000.5];
        let (mut a, mut b) = (vals(&tps, 10.0, 0), vals(&tps, 10.0, 0));
        with(&mut a, 20.0);
        with(&mut b, 2000.0);
        let r = judge_sets(&a, &b, &cfg, &[0.03; Metric::COUNT], MetricSet::ALL).unwrap();
        let rows = &r[Metric::RowsPerTxn.index()];
        assert_eq!(rows.verdict, Verdict::Regressed, "{rows:?}");
        assert_eq!(r[Metric::PagesPerTxn.index()].verdict, Verdict::Unchanged);
        // A baseline from before work metrics: not measured, never a verdict.
        let old = vals(&tps, 10.0, 0);
        let r = judge_sets(&old, &b, &cfg, &[0.03; Metric::COUNT], MetricSet::ALL).unwrap();
        for m in [Metric::RowsPerTxn, Metric::PagesPerTxn] {
            let x = &r[m.index()];
            assert!(!x.tested && x.label == "not measured", "{x:?}");
            assert_eq!(x.verdict, Verdict::Unchanged);
        }
        assert_eq!(r.len(), Metric::COUNT);
    }

    #[test]
    fn only_the_metrics_asked_for_are_judged() {
        use crate::record::work::WorkPerTxn;
        let cfg = Config::default();
        let tps = [1000.0, 1001.0, 999.0, 1000.5];
        // B is 30 % slower but reads the same rows: judged on work alone it passes, and tps
        // is shown, not judged.
        let a = vals(&tps, 10.0, 0);
        let slow: Vec<f64> = tps.iter().map(|t| t * 0.7).collect();
        let mut b = vals(&slow, 13.0, 0);
        let mut a = a;
        for (i, v) in a.iter_mut().chain(b.iter_mut()).enumerate() {
            let jitter = 1.0 + 0.0001 * (i % 4) as f64;
            v.work = Some(WorkPerTxn {
                rows: 400.0 * jitter,
                pages: 90.0 * jitter,
                spills: 0.0,
                client_cpu_us: None,
                server_cpu_us: None,
            });
        }
        let work = MetricSet::parse("work").unwrap();
        let r = judge_sets(&a, &b, &cfg, &[0.03; Metric::COUNT], work).unwrap();
        let t = &r[Metric::Tps.index()];
        assert!(!t.tested && t.label == "not judged", "{t:?}");
        assert!(t
            .note
            .as_deref()
            .unwrap()
            .contains("--metrics rows_per_txn,pages_per_txn"));
        assert_eq!(r[Metric::RowsPerTxn.index()].verdict, Verdict::Unchanged);
        assert!(r[Metric::RowsPerTxn.index()].tested);
        assert!(r.iter().all(|m| m.verdict != Verdict::Regressed));
        // Judged on time, the same data regresses.
        let time = MetricSet::parse("time").unwrap();
        let r = judge_sets(&a, &b, &cfg, &[0.03; Metric::COUNT], time).unwrap();
        assert_eq!(r[Metric::Tps.index()].verdict, Verdict::Regressed);
        assert_eq!(r[Metric::RowsPerTxn.index()].label, "not judged");
        // Work asked for but not measured: inconclusive, never a silent pass.
        let plain = vals(&tps, 10.0, 0);
        let r = judge_sets(&plain, &plain, &cfg, &[0.03; Metric::COUNT], work).unwrap();
        let rows = &r[Metric::RowsPerTxn.index()];
        assert_eq!(rows.verdict, Verdict::Inconclusive, "{rows:?}");
        assert_eq!(rows.label, "not measured");
    }

    #[test]
    fn metric_sets_parse_names_and_groups() {
        assert_eq!(MetricSet::parse("all").unwrap(), MetricSet::ALL);
        assert_eq!(MetricSet::parse("default").unwrap(), MetricSet::default());
        assert!(!MetricSet::ALL.required() && !MetricSet::DEFAULT.required());
        assert_eq!(MetricSet::ALL.len(), Metric::COUNT);
        // The default leaves out CPU, which moves with the machine's load.
        assert_eq!(
            MetricSet::DEFAULT.names(),
            [
                "tps",
                "p99",
                "error_rate",
                "rows_per_txn",
                "pages_per_txn",
                "spills_per_txn"
            ]
        );
        assert_eq!(
            MetricSet::parse("cpu").unwrap().names(),
            ["client_cpu_per_txn", "server_cpu_per_txn"]
        );
        let s = MetricSet::parse("tps, rows").unwrap();
        assert_eq!(s.names(), ["tps", "rows_per_txn"]);
        assert!(s.required());
        assert_eq!(
            MetricSet::parse("time,work").unwrap().len(),
            MetricSet::DEFAULT.len()
        );
        let err = MetricSet::parse("tps,latency").unwrap_err();
        assert!(err.contains("unknown metric 'latency'"), "{err}");
        assert!(
            err.contains("work (rows_per_txn, pages_per_txn, spills_per_txn)"),
            "{err}"
        );
        assert!(
            err.contains("cpu (client_cpu_per_txn, server_cpu_per_txn)"),
            "{err}"
        );
        assert!(MetricSet::parse("").is_err());
    }

    #[test]
    fn too_few_runs_say_how_many() {
        let a = vals(&[1000.0], 10.0, 0);
        let err = judge_sets(
            &a,
            &a,
            &Config::default(),
            &[0.03; Metric::COUNT],
            MetricSet::ALL,
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("at least 2, got 1"), "{msg}");
    }

    #[test]
    fn calibration_widens_margins() {
        let c = Calibration {
            id: Some(1),
            created_at_ms: 0,
            testbed_fingerprint: String::new(),
            workload: String::new(),
            workload_hash: String::new(),
            settings: serde_json::Value::Null,
            set_id: String::new(),
            trials: 8,
            noise_tps: 0.01,
            noise_p99: 0.08,
            noise_error_rate: None,
            noise_rows: None,
            noise_pages: None,
            noise_client_cpu: None,
            noise_server_cpu: None,
        };
        let m = margins(0.03, Some(&c));
        assert_eq!(m[0], 0.03);
        assert!((m[1] - 0.08f64.exp_m1()).abs() < 1e-12);
        assert_eq!(m[2], 0.03);
        // Very noisy p99 (short runs): capped, so the verdict still has a valid margin.
        let noisy = Calibration {
            noise_p99: 0.95,
            ..c
        };
        assert_eq!(margins(0.03, Some(&noisy))[1], MAX_CALIBRATED_MARGIN);
        let note = calibration_note(0.03, &noisy, &margins(0.03, Some(&noisy)));
        assert!(
            note.contains("too noisy to detect less than 158.6 % in p99"),
            "{note}"
        );
        // Each margin says where it came from, and the cap says what the noise called for.
        let used = margins_used(0.03, Some(&noisy));
        assert_eq!(used[0].source, MarginSource::Requested);
        assert_eq!(used[0].noise_floor, None);
        assert_eq!(used[1].source, MarginSource::Calibration);
        assert_eq!(used[1].margin, MAX_CALIBRATED_MARGIN);
        assert!((used[1].noise_floor.unwrap() - 0.95f64.exp_m1()).abs() < 1e-12);
    }

    #[test]
    fn a_busy_testbed_does_not_widen_margins_to_half() {
        // Noise like a 3-trial calibration on a busy machine: e^0.4 − 1 = 49 %.
        let c = Calibration {
            id: Some(1),
            created_at_ms: 0,
            testbed_fingerprint: String::new(),
            workload: String::new(),
            workload_hash: String::new(),
            settings: serde_json::Value::Null,
            set_id: String::new(),
            trials: 8,
            noise_tps: 0.4,
            noise_p99: 0.4,
            noise_error_rate: None,
            noise_rows: None,
            noise_pages: None,
            noise_client_cpu: None,
            noise_server_cpu: None,
        };
        let m = margins(0.03, Some(&c));
        assert!(m[0] <= 0.2 && m[1] <= 0.2, "{m:?}");
    }
}
