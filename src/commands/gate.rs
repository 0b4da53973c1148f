//! The commands that end in a verdict: `compare`, `ab` and `gate`, and what they share —
//! resolving the two sides of a job, preparing the tables when needed, writing the report in
//! the requested formats, and turning the outcome into the exit code (0 pass, 1 regression,
//! 3 inconclusive; bad input 2, a trial that did not complete 5, see the README).
//!
//! `gate` is the CI entry point: with `--baseline NAME` it runs `--trials N` fresh trials and
//! compares them with the baseline ([`crate::regress::compare`]); with `--ab` (or any flag that makes A
//! and B differ) it runs the sequential A/B job ([`crate::regress::ab`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use super::{parse_sets, resolve, resolve_target, runtime, timeout_of, Resolved};
use crate::cli::regress::{
    AbArgs, CompareArgs, GateArgs, OutputArgs, PairsArgs, SidesArgs, TrialArgs, VerdictArgs,
};
use crate::cli::values::ReportFormat;
use crate::cli::{RunArgs, TargetArgs, WorkloadArgs};
use crate::error::{Error, Result};
use crate::record::gate::{Design, GateReport, MetricSet, Outcome, ReportKind, Side};
use crate::regress::ab::{run_ab, AbCase, AbOptions};
use crate::regress::calibrate::Choice;
use crate::regress::compare::{
    calibration_note, calibration_used, compare_with_baseline, margins, margins_used,
    CompareOptions,
};
use crate::regress::same::{run_same, SameCase};
use crate::regress::trials::{open_set, run_trials, TrialSpec};
use crate::regress::{settings_diff, RegressError};
use crate::settings::Settings;
use crate::stats::{Config, SequentialConfig};
use crate::store::{Store, StoreLocation};
use crate::target::Target;
use crate::workload::plan::Plan;
use crate::workload::Workload;
use crate::{prepare, testbed};

/// Default number of trials of `gate --baseline`.
pub const DEFAULT_GATE_TRIALS: u32 = 5;

/// The statistics settings from the flags.
pub fn stats_config(v: &VerdictArgs) -> Result<Config> {
    let mut cfg = Config::default();
    if let Some(m) = &v.margin {
        cfg.margin = crate::regress::parse_fraction("--margin", m)?;
    }
    if let Some(a) = v.alpha {
        cfg.alpha = a;
    }
    cfg.validate()?;
    Ok(cfg)
}

fn sequential_config(cfg: &Config, p: &PairsArgs) -> SequentialConfig {
    let d = SequentialConfig::default();
    SequentialConfig {
        alpha: cfg.alpha,
        power: cfg.power,
        margin: cfg.margin,
        margin_rule: cfg.margin_rule,
        min_pairs: p.min_pairs.unwrap_or(d.min_pairs),
        max_pairs: p.max_pairs.unwrap_or(if p.mde.is_some() {
            MDE_MAX_PAIRS
        } else {
            d.max_pairs
        }),
        target_mde: p.mde,
        ..d
    }
}

/// The default `--max-pairs` when `--mde` is given: room for the pairs a 5 % MDE needs at
/// the noise of a shared 2-vCPU machine (about 6 % per run), with the boundaries planned
/// for that many looks.
pub const MDE_MAX_PAIRS: usize = 64;

/// Renders the report in `format`.
pub fn render(report: &GateReport, format: ReportFormat) -> String {
    match format {
        ReportFormat::Text => crate::report::gate::text(report),
        ReportFormat::Json => crate::report::gate::json(report),
        ReportFormat::Markdown => crate::report::markdown::render(report),
        ReportFormat::Junit => crate::report::junit::render(report),
    }
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::Output {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the report where the flags say, then turns the outcome into the exit status.
pub fn emit(report: &GateReport, out: &OutputArgs, quiet: bool) -> Result<()> {
    let format = out.format.get();
    let main = render(report, format);
    match &out.output {
        Some(p) => write_file(p, &main)?,
        None => {
            use std::io::Write;
            let _ = std::io::stdout().lock().write_all(main.as_bytes());
        }
    }
    for (f, p) in &out.reports {
        write_file(p, &render(report, *f))?;
    }
    if !quiet
        && (out.output.is_some() || format != ReportFormat::Text)
        && report.outcome == Outcome::Pass
    {
        eprintln!("{}", report.headline());
    }
    verdict(report)
}

/// `Ok` for a pass; the verdict as an error (exit 1 or 3) otherwise.
pub fn verdict(report: &GateReport) -> Result<()> {
    match report.outcome {
        Outcome::Pass => Ok(()),
        o => Err(Error::Verdict {
            code: o.exit_code(),
            message: report.headline(),
        }),
    }
}

/// `loadgate compare --baseline NAME [--candidate SET]`.
pub fn compare_cmd(loc: &StoreLocation, a: CompareArgs, _quiet: bool) -> Result<()> {
    let cfg = stats_config(&a.verdict)?;
    let store = super::open_for_reading(loc)?;
    let baseline = crate::regress::baseline::load(&store, &a.baseline)?;
    let set = match &a.candidate {
        Some(s) => s.clone(),
        None => store
            .last_run_set(&["trials", "gate"])?
            .ok_or_else(|| {
                RegressError::NoSet(
                    "no run set is stored yet: run `loadgate run WORKLOAD --trials 5` first, or name one with --candidate".into(),
                )
            })?
            .set_id,
    };
    let runs = store.runs_in_set(&set)?;
    if runs.is_empty() {
        return Err(RegressError::EmptySet { set }.into());
    }
    let choice = calibration_for(
        &store,
        &a.verdict,
        &runs[0].testbed_fingerprint,
        &runs[0].workload,
    )?;
    let opts = CompareOptions {
        stats: cfg,
        allow_mismatch: a.allow_mismatch,
        metrics: a.verdict.metrics.unwrap_or_default(),
    };
    let mut report = compare_with_baseline(&baseline, &set, &runs, &choice, &opts)?;
    report
        .notes
        .extend(crate::regress::breakdown::note(&store, &report.groups));
    emit(&report, &a.out, _quiet)
}

/// The thread counts of `--threads 1,4,16`, each once; `[None]` (the settings decide) for none.
pub fn thread_list(list: &[u32]) -> Vec<Option<u32>> {
    let mut out = Vec::new();
    for n in list {
        if !out.contains(&Some(*n)) {
            out.push(Some(*n));
        }
    }
    if out.is_empty() {
        out.push(None);
    }
    out
}

/// One side of a job, resolved.
pub struct SideSetup {
    pub workload: Workload,
    pub settings: Settings,
    pub plan: Arc<Plan>,
    pub target: Target,
    /// Whether the target is the throwaway server started for this command.
    pub throwaway: bool,
    /// That throwaway server's process.
    pub server_pid: Option<u32>,
}

/// Resolves the workload, settings and plan of one side.
fn resolve_side(
    t: &TrialArgs,
    workload: &str,
    threads: Option<u32>,
    extra_sets: &[String],
    target_url: Option<&String>,
) -> Result<(Workload, Settings, Plan)> {
    let mut settings = t.settings.clone();
    settings.set.extend(extra_sets.iter().cloned());
    let w = WorkloadArgs {
        workload: workload.to_string(),
        threads,
        settings,
    };
    let mut ta = t.target.clone();
    if let Some(url) = target_url {
        ta.conn.target = Some(url.clone());
    }
    let r = RunArgs {
        timing: t.timing.clone(),
        ..RunArgs::default()
    };
    parse_sets(extra_sets)?;
    resolve(&w, &ta, Some(&r))
}

/// The one side of a job that runs a single workload (gate --baseline, calibrate), with its
/// target (a throwaway server lives as long as the returned [`Resolved`]).
pub(crate) fn setup_single(
    t: &TrialArgs,
    threads: Option<u32>,
    quiet: bool,
) -> Result<(SideSetup, Resolved)> {
    let (w, s, plan) = resolve_side(t, &t.workload, threads, &[], None)?;
    let resolved = resolve_target(&t.target.conn, true, &t.server.server_args, quiet)?;
    Ok((
        SideSetup {
            workload: w,
            settings: s,
            plan: Arc::new(plan),
            target: resolved.target.clone(),
            throwaway: resolved.throwaway,
            server_pid: resolved.server_pid(),
        },
        resolved,
    ))
}

/// A target URL with its password resolved like `--target`'s.
fn parse_target(url: &str, t: &TargetArgs) -> Result<Target> {
    let mut target = Target::parse(url)?;
    target.resolve_password(
        t.conn.password_file.as_deref(),
        std::env::var("MYSQL_PWD").ok(),
    )?;
    Ok(target)
}

/// Prepares the workload's tables when they are missing or of another size
/// ([`prepare::needs_prepare`]), always with `force` or on a throwaway server, and returns the
/// testbed fingerprint of the target.
fn ensure_prepared(side: &SideSetup, force: bool, quiet: bool) -> Result<String> {
    let s = &side.settings;
    let timeout = timeout_of(s);
    let rt = runtime()?;
    let (fingerprint, missing) = rt.block_on(async {
        let t = &side.target;
        let mut conn = t.connect(t.opts(None, 16), timeout).await?;
        let (info, vars) = testbed::probe(&mut conn, t).await?;
        let fp = testbed::testbed(&info, &vars).fingerprint;
        let todo = prepare::needs_prepare(
            &mut conn,
            t,
            &side.plan,
            &side.workload.command_arg(),
            &s.database,
            prepare::ForeignTables::default(),
        )
        .await;
        let _ = conn.disconnect().await;
        Ok::<_, Error>((fp, todo?.is_some()))
    })?;
    if force || missing || side.throwaway {
        if !quiet {
            eprintln!(
                "Preparing {} in `{}` on {} ({} table(s) x {} rows)...",
                side.workload.name,
                s.database,
                side.target.redacted(),
                s.tables,
                s.table_size
            );
        }
        rt.block_on(prepare::prepare(
            &side.target,
            &side.plan,
            &side.workload.name,
            &s.database,
            prepare::PrepareOptions {
                force: false,
                seed: s.seed,
                timeout,
                quiet: true,
            },
        ))?;
    }
    Ok(fingerprint)
}

/// Prepares each distinct (target, database, tables) once; returns each side's fingerprint.
pub(crate) fn prepare_sides(sides: &[&SideSetup], force: bool, quiet: bool) -> Result<Vec<String>> {
    let mut done: Vec<(String, String)> = Vec::new();
    let mut fps = Vec::new();
    for side in sides {
        let key = format!(
            "{}|{}|{}|{}",
            side.target.redacted(),
            side.settings.database,
            side.plan.table_names().join(","),
            side.settings.table_size
        );
        if let Some((_, fp)) = done.iter().find(|(k, _)| *k == key) {
            // The same tables on the same target: prepared once.
            fps.push(fp.clone());
            continue;
        }
        let fp = ensure_prepared(side, force, quiet)?;
        done.push((key, fp.clone()));
        fps.push(fp);
    }
    Ok(fps)
}

fn settings_json(s: &Settings) -> serde_json::Value {
    serde_json::to_value(s).unwrap_or_default()
}

fn side_meta(label: &str, s: &SideSetup) -> Side {
    Side {
        label: label.to_string(),
        workload: s.workload.name.clone(),
        workload_hash: s.workload.hash.clone(),
        target: s.target.redacted(),
        threads: s.settings.threads,
        baseline: None,
        set_id: None,
        run_ids: Vec::new(),
        differs_by: Vec::new(),
    }
}

/// The calibration for this testbed and workload, unless disabled: the newest, applied when it
/// is recent and large enough (else the choice says why not).
fn calibration_for(
    store: &Store,
    v: &VerdictArgs,
    fingerprint: &str,
    workload: &str,
) -> Result<Choice> {
    if v.no_calibration {
        return Ok(Choice::default());
    }
    let latest = store.latest_calibration(fingerprint, workload)?;
    Ok(Choice::of(latest, crate::util::now_ms()))
}

/// Runs an A/B job (the `ab` command and `gate --ab`) and returns its report.
#[allow(clippy::too_many_arguments)]
fn ab_job(
    store_path: &Path,
    trial: &TrialArgs,
    sides: &SidesArgs,
    v: &VerdictArgs,
    pairs: &PairsArgs,
    force_prepare: bool,
    quiet: bool,
) -> Result<GateReport> {
    let started = Instant::now();
    let cfg = stats_config(v)?;
    let seq = sequential_config(&cfg, pairs);
    let threads = thread_list(&trial.threads);
    let judged = v.metrics.unwrap_or_default();
    let design = pairs.design.unwrap_or(Design::Abba);
    check_ab_plan(&cfg, &seq, &threads, sides, judged, design)?;
    let mut store = Store::open(store_path)?;
    let resolved = resolve_sides(trial, sides, &threads)?;
    let combined = match design {
        Design::SameSeconds => Some(same_seconds_plans(trial, sides, &resolved)?),
        Design::Abba => None,
    };
    let targets = AbTargets::resolve(trial, sides, quiet)?;
    let setups = side_setups(resolved, &targets);
    let (first_a, first_b) = &setups[0];
    // Same seconds: both sides run on A's tables, prepared once.
    let to_prepare: Vec<&SideSetup> = match design {
        Design::SameSeconds => vec![first_a],
        Design::Abba => vec![first_a, first_b],
    };
    let fps = prepare_sides(&to_prepare, force_prepare, quiet)?;
    let fingerprint = fps[fps.len() - 1].clone();
    let choice = ab_calibration(design, &store, v, &fingerprint, &first_b.workload.name)?;
    let calibration = choice.used.clone();
    let m = margins(cfg.margin, calibration.as_ref());
    let only_targets = targets.a.redacted() != targets.b.redacted()
        && sides.workload_b.is_none()
        && sides.set_a.is_empty()
        && sides.set_b.is_empty()
        && sides.threads_a.is_none()
        && sides.threads_b.is_none();
    let label_a = sides
        .label_a
        .clone()
        .unwrap_or_else(|| if only_targets { "direct" } else { "A" }.to_string());
    let label_b = sides.label_b.clone().unwrap_or_else(|| "B".to_string());
    let mut cases: Vec<AbCase<'_>> = setups
        .iter()
        .map(|(a, b)| ab_case(a, b, &label_a, &label_b, quiet))
        .collect();
    let opts = AbOptions {
        seq,
        margins: m,
        metrics: judged,
        max_time: pairs.max_time,
        quiet,
    };
    let prefix = crate::regress::new_set_id();
    if !quiet {
        let (unit, how) = match design {
            Design::Abba => ("pairs", "interleaved A B B A"),
            Design::SameSeconds => (
                "trials",
                "both sides in every trial, each transaction assigned to A or B at random",
            ),
        };
        eprintln!(
            "A/B job {prefix}: {} vs {}, {} to {} {unit} per thread count, {how}",
            label_a, label_b, seq.min_pairs, seq.max_pairs
        );
    }
    let groups = match combined {
        Some(plans) => {
            let mut same = same_cases(cases, plans);
            run_same(&mut store, &mut same, &opts, &prefix)?
        }
        None => run_ab(&mut store, &mut cases, &opts, &prefix)?,
    };
    drop(targets);
    let breakdown = crate::regress::breakdown::note(&store, &groups);
    let hyps: usize = groups
        .iter()
        .map(|g| g.metrics.iter().filter(|m| m.tested).count())
        .sum();
    let mut notes = Vec::new();
    if let Some(c) = &calibration {
        notes.push(calibration_note(cfg.margin, c, &m));
    }
    notes.extend(choice.not_applied.clone());
    if design == Design::SameSeconds {
        notes.push(
            "same seconds: each side's tps is a throughput index, the workers divided by its geometric-mean latency (robust to the stalls of a shared machine), not its share of the trial's transactions, which is one half by design; the ratio B/A is what is judged; both sides' run ids name the same trials".into(),
        );
    }
    notes.push(
        "verdicts per metric: regressed = crossed the sequential boundary with the interval reaching past the margin; unchanged = a regression of the margin is excluded at one-sided 95 %; inconclusive = neither within the maximum pairs".into(),
    );
    if let Some(t) = seq.target_mde {
        notes.push(format!(
            "--mde {:.1} %: a metric whose MDE reached it without crossing its boundary is \"no regression\"; an inconclusive one says how many pairs the noise measured would need for it",
            t * 100.0
        ));
    }
    notes.extend(breakdown);
    let mut report = GateReport {
        schema: crate::record::gate::SCHEMA_ID,
        tool_version: crate::util::VERSION.to_string(),
        kind: ReportKind::Ab,
        outcome: Outcome::Pass,
        exit_code: 0,
        generated_at: crate::util::rfc3339(crate::util::now_ms()),
        elapsed_s: Some(started.elapsed().as_secs_f64()),
        requested_mde: seq.target_mde,
        max_time_s: pairs.max_time,
        alpha: cfg.alpha,
        power: cfg.power,
        margin: cfg.margin,
        margin_rule: cfg.margin_rule,
        method: format!(
            "{}{}",
            ab_method(design, &seq, hyps, cfg.alpha),
            power_text(seq.target_mde, pairs.max_time)
        ),
        design: Some(design),
        testbed: fingerprint,
        calibration: calibration.as_ref().map(calibration_used),
        calibration_not_applied: choice.not_applied,
        metrics_judged: judged,
        margins: margins_used(cfg.margin, calibration.as_ref()),
        mismatches: Vec::new(),
        mismatch_allowed: false,
        groups,
        notes,
    };
    report.decide();
    Ok(report)
}

/// The calibration an A/B job applies: the stored one for ABBA; none for the same-seconds
/// design, because a calibration measures the noise between separate trials, which that
/// design cancels (the report says so).
fn ab_calibration(
    design: Design,
    store: &Store,
    v: &VerdictArgs,
    fingerprint: &str,
    workload: &str,
) -> Result<Choice> {
    Ok(match design {
        Design::Abba => calibration_for(store, v, fingerprint, workload)?,
        Design::SameSeconds => Choice {
            used: None,
            not_applied: (!v.no_calibration).then(|| {
                "no calibration applied: it measures the noise between separate trials, which the same-seconds design cancels".to_string()
            }),
        },
    })
}

/// The same-seconds cases: each A/B case's A spec running the combined plan of both sides.
fn same_cases<'s>(cases: Vec<AbCase<'s>>, plans: Vec<Arc<Plan>>) -> Vec<SameCase<'s>> {
    cases
        .into_iter()
        .zip(plans)
        .map(|(c, plan)| SameCase {
            title: c.title,
            spec: TrialSpec { plan, ..c.a },
            a_side: c.a_side,
            b_side: c.b_side,
        })
        .collect()
}

/// The method sentence of an A/B report.
fn ab_method(design: Design, seq: &SequentialConfig, hyps: usize, alpha: f64) -> String {
    let (test, unit) = match design {
        Design::Abba => (
            "paired t-test on log ratios of interleaved A/B pairs (A B B A ...)",
            "pair",
        ),
        Design::SameSeconds => (
            "one-sample t-test on the within-trial log ratios B/A (geometric-mean latency for tps, p99) of same-seconds trials (each transaction assigned to A or B at random, one half each, on the same connections)",
            "trial",
        ),
    };
    format!(
        "{test}, group-sequential with a look after every {unit} from {} to {} (Hwang–Shih–DeCani γ = −1), Holm over {hyps} hypotheses (metrics × thread counts), one-sided α = {alpha}",
        seq.min_pairs, seq.max_pairs
    )
}

/// The settings of a run except what may differ between the sides of a same-seconds trial
/// (workload variables, the workload's name) and what a trial sets itself (the seed, origins),
/// flattened to `key → value`.
fn shared_settings(s: &Settings) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    if let serde_json::Value::Object(obj) = settings_json(s) {
        for (k, v) in obj {
            if !["vars", "workload", "origins", "seed"].contains(&k.as_str()) {
                out.insert(k, v.to_string());
            }
        }
    }
    out
}

/// The combined plan of each case of a same-seconds job, or a usage error (exit 2) naming
/// why A and B cannot share a trial: different targets, settings other than workload
/// variables, other tables or distribution parameters.
fn same_seconds_plans(
    trial: &TrialArgs,
    sides: &SidesArgs,
    resolved: &[(Resolution, Resolution)],
) -> Result<Vec<Arc<Plan>>> {
    let refuse = |why: String| {
        Error::Usage(format!(
            "--design same-seconds runs A and B in the same trials, on one server with one run's settings, but {why}; use --design abba (separate, interleaved trials)"
        ))
    };
    let (url_a, url_b) = side_urls(trial, sides);
    if url_a != url_b {
        return Err(refuse("A and B have different targets".into()));
    }
    let mut plans = Vec::new();
    for ((_, sa, pa), (_, sb, pb)) in resolved {
        let (a, b) = (shared_settings(sa), shared_settings(sb));
        let diff: Vec<String> = a
            .iter()
            .filter(|(k, v)| b.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k}: {v} → {}", b.get(k).map_or("(unset)", |x| x)))
            .collect();
        if !diff.is_empty() {
            return Err(refuse(format!("they differ in {}", diff.join(", "))));
        }
        let plan = Plan::side_by_side(pa, pb, crate::regress::same::TAGS)
            .map_err(|e| refuse(e.to_string()))?;
        plans.push(Arc::new(plan));
    }
    Ok(plans)
}

/// The method's words for `--mde` and `--max-time`.
fn power_text(mde: Option<f64>, max_time: Option<f64>) -> String {
    let mut t = String::new();
    if let Some(m) = mde {
        t.push_str(&format!(
            "; pairs added until every undecided metric's MDE is at most {:.1} % (a non-binding stop: the boundaries are planned for the maximum)",
            m * 100.0
        ));
    }
    if let Some(s) = max_time {
        t.push_str(&format!("; time budget {s} s"));
    }
    t
}

/// Refuses an A/B plan that cannot run: too few pairs for a variance or a first look, more
/// thread counts than the job's α can spread over, or thread lists on both levels.
fn check_ab_plan(
    cfg: &Config,
    seq: &SequentialConfig,
    threads: &[Option<u32>],
    sides: &SidesArgs,
    judged: MetricSet,
    design: Design,
) -> Result<()> {
    if seq.max_pairs < seq.min_pairs.max(2) {
        return Err(RegressError::TooFewTrials {
            what: "the sequential A/B plan (--max-pairs)".into(),
            needed: seq.min_pairs.max(2),
            got: seq.max_pairs,
            advice: Some(format!(
                "its first look is after --min-pairs = {} pairs; 16 is the default maximum",
                seq.min_pairs
            )),
        }
        .into());
    }
    if seq.min_pairs < 2 {
        return Err(RegressError::TooFewTrials {
            what: "the sequential A/B plan (--min-pairs)".into(),
            needed: 2,
            got: seq.min_pairs,
            advice: Some("a variance needs two pairs; 3 is the default".into()),
        }
        .into());
    }
    if design == Design::SameSeconds {
        if let Some(m) = judged
            .iter()
            .find(|m| !crate::regress::same::per_side(*m))
            .filter(|_| judged.required())
        {
            return Err(Error::Usage(format!(
                "--metrics {}: the same-seconds design judges time, errors and rows examined per side only (the server-wide counters and CPU times cannot tell A's work from B's within one trial); use --design abba for it",
                m.name()
            )));
        }
    }
    let per_count = judged.len().max(1);
    let most = crate::regress::ab::max_hypotheses(cfg.alpha) / per_count;
    if threads.len() > most {
        return Err(RegressError::Invalid(format!(
            "{} thread counts: at α = {} at most {most} thread counts fit in one job (each adds {per_count} hypotheses and the sequential plan needs α / hypotheses ≥ 0.0005); run several jobs, judge fewer --metrics or raise --alpha",
            threads.len(),
            cfg.alpha,
        ))
        .into());
    }
    if threads.len() > 1 && (sides.threads_a.is_some() || sides.threads_b.is_some()) {
        return Err(Error::Usage(
            "--threads with several counts cannot be combined with --threads-a/--threads-b".into(),
        ));
    }
    Ok(())
}

/// Where each side of an A/B job connects: its own `--target-a`/`--target-b`, else `--target`,
/// else the detached or a throwaway server, shared (kept alive as long as this value).
struct AbTargets {
    a: Target,
    b: Target,
    throwaway_a: bool,
    throwaway_b: bool,
    _shared: Option<Resolved>,
}

impl AbTargets {
    fn resolve(trial: &TrialArgs, sides: &SidesArgs, quiet: bool) -> Result<AbTargets> {
        let (url_a, url_b) = side_urls(trial, sides);
        let shared = if url_a.is_none() || url_b.is_none() {
            Some(resolve_target(
                &trial.target.conn,
                true,
                &trial.server.server_args,
                quiet,
            )?)
        } else {
            None
        };
        let target_of = |url: &Option<String>| -> Result<(Target, bool)> {
            match url {
                Some(u) => Ok((parse_target(u, &trial.target)?, false)),
                None => {
                    let r = shared.as_ref().expect("resolved above");
                    Ok((r.target.clone(), r.throwaway))
                }
            }
        };
        let (a, throwaway_a) = target_of(&url_a)?;
        let (b, throwaway_b) = target_of(&url_b)?;
        Ok(AbTargets {
            a,
            b,
            throwaway_a,
            throwaway_b,
            _shared: shared,
        })
    }
}

/// One side's workload, settings and plan.
type Resolution = (Workload, Settings, Plan);

/// The URLs the flags give each side (`--target-a`/`--target-b`, else `--target`); none means
/// the detached or a throwaway server.
fn side_urls(trial: &TrialArgs, sides: &SidesArgs) -> (Option<String>, Option<String>) {
    let target = || trial.target.conn.target.clone();
    (
        sides.target_a.clone().or_else(target),
        sides.target_b.clone().or_else(target),
    )
}

/// The two sides of the job for each thread count: workload, settings and plan, resolved before
/// any server starts, so bad input costs nothing.
fn resolve_sides(
    trial: &TrialArgs,
    sides: &SidesArgs,
    threads: &[Option<u32>],
) -> Result<Vec<(Resolution, Resolution)>> {
    let wl_b = sides
        .workload_b
        .clone()
        .unwrap_or_else(|| trial.workload.clone());
    let (url_a, url_b) = side_urls(trial, sides);
    threads
        .iter()
        .map(|t| {
            let a = resolve_side(
                trial,
                &trial.workload,
                sides.threads_a.or(*t),
                &sides.set_a,
                url_a.as_ref(),
            )?;
            let b = resolve_side(
                trial,
                &wl_b,
                sides.threads_b.or(*t),
                &sides.set_b,
                url_b.as_ref(),
            )?;
            Ok((a, b))
        })
        .collect()
}

/// The resolved sides, each with the target it runs on.
fn side_setups(
    resolved: Vec<(Resolution, Resolution)>,
    targets: &AbTargets,
) -> Vec<(SideSetup, SideSetup)> {
    let pid = targets._shared.as_ref().and_then(Resolved::server_pid);
    let setup =
        |(workload, settings, plan): Resolution, target: &Target, throwaway: bool| SideSetup {
            workload,
            settings,
            plan: Arc::new(plan),
            target: target.clone(),
            throwaway,
            server_pid: pid.filter(|_| throwaway),
        };
    resolved
        .into_iter()
        .map(|(a, b)| {
            (
                setup(a, &targets.a, targets.throwaway_a),
                setup(b, &targets.b, targets.throwaway_b),
            )
        })
        .collect()
}

/// One A/B case (a thread count): its title, both sides' trial specs, and what B changes.
fn ab_case<'s>(
    a: &'s SideSetup,
    b: &'s SideSetup,
    label_a: &str,
    label_b: &str,
    quiet: bool,
) -> AbCase<'s> {
    let mut differs = Vec::new();
    if a.workload.name != b.workload.name || a.workload.hash != b.workload.hash {
        differs.push(format!(
            "workload {} ({}) → {} ({})",
            a.workload.name, a.workload.hash, b.workload.name, b.workload.hash
        ));
    }
    if a.target.redacted() != b.target.redacted() {
        differs.push(format!(
            "target {} → {}",
            a.target.redacted(),
            b.target.redacted()
        ));
    }
    differs.extend(settings_diff(
        &settings_json(&a.settings),
        &settings_json(&b.settings),
    ));
    let title = {
        let wl = if a.workload.name == b.workload.name {
            a.workload.name.clone()
        } else {
            format!("{} vs {}", a.workload.name, b.workload.name)
        };
        if a.settings.threads == b.settings.threads {
            format!("{wl}, {}", crate::regress::threads_text(a.settings.threads))
        } else {
            format!(
                "{wl}, {} vs {} threads",
                a.settings.threads, b.settings.threads
            )
        }
    };
    let a_side = side_meta(label_a, a);
    let mut b_side = side_meta(label_b, b);
    b_side.differs_by = differs;
    AbCase {
        title,
        a: TrialSpec {
            workload: &a.workload,
            settings: &a.settings,
            plan: a.plan.clone(),
            target: &a.target,
            quiet,
            foreign: Default::default(),
            server_pid: a.server_pid,
        },
        b: TrialSpec {
            workload: &b.workload,
            settings: &b.settings,
            plan: b.plan.clone(),
            target: &b.target,
            quiet,
            foreign: Default::default(),
            server_pid: b.server_pid,
        },
        a_side,
        b_side,
    }
}

/// `loadgate ab`.
pub fn ab_cmd(store_path: &Path, a: AbArgs, quiet: bool) -> Result<()> {
    let report = ab_job(
        store_path, &a.trial, &a.sides, &a.verdict, &a.pairs, a.prepare, quiet,
    )?;
    emit(&report, &a.out, quiet)
}

/// `loadgate gate`.
pub fn gate_cmd(store_path: &Path, a: GateArgs, quiet: bool) -> Result<()> {
    match &a.baseline {
        Some(name) => {
            if a.pairs.design.is_some() {
                return Err(Error::Usage(
                    "--design chooses how an A/B job runs its sides; gate --baseline runs trials of one side against a stored baseline (use --ab)".into(),
                ));
            }
            if a.sides.any() {
                return Err(Error::Usage(
                    "gate --baseline compares fresh trials with a stored baseline; the A/B flags (--target-a/-b, --set-a/-b, --threads-a/-b, --workload-b) need --ab instead".into(),
                ));
            }
            if a.pairs.mde.is_some() || a.pairs.max_time.is_some() {
                return Err(Error::Usage(
                    "--mde and --max-time add A/B pairs and need --ab; against a baseline the number of fresh trials is --trials".into(),
                ));
            }
            let report = gate_baseline(store_path, &a, name, quiet)?;
            emit(&report, &a.out, quiet)
        }
        None if a.ab || a.sides.any() => {
            let report = ab_job(
                store_path, &a.trial, &a.sides, &a.verdict, &a.pairs, a.prepare, quiet,
            )?;
            emit(&report, &a.out, quiet)
        }
        None => Err(Error::Usage(
            "gate needs something to compare with: --baseline NAME (fresh trials against a saved baseline) or --ab (A/B in one job; --target-b, --set-b, --threads-b or --workload-b say how B differs)".into(),
        )),
    }
}

/// `gate --baseline NAME`: N fresh trials compared with the baseline.
fn gate_baseline(store_path: &Path, a: &GateArgs, name: &str, quiet: bool) -> Result<GateReport> {
    let started = Instant::now();
    let cfg = stats_config(&a.verdict)?;
    let mut store = Store::open(store_path)?;
    let baseline = crate::regress::baseline::load(&store, name)?;
    let n = a.trials.unwrap_or(DEFAULT_GATE_TRIALS);
    if n < 2 {
        let calibration = calibration_for(
            &store,
            &a.verdict,
            &baseline.testbed.fingerprint,
            &baseline.workload,
        )?
        .used;
        let advice = match &calibration {
            Some(c) => crate::regress::compare::needed_for_margin(
                c.noise_tps * std::f64::consts::SQRT_2,
                crate::regress::Metric::Tps,
                cfg.margin.max(0.05),
                &cfg,
            )
            .map(|k| format!(
                "at this testbed's calibrated noise ({:.1} % run to run) about {k} trials per side catch a {:.0} % throughput change with 90 % power",
                c.noise_tps * 100.0,
                cfg.margin.max(0.05) * 100.0
            )),
            None => None,
        }
        .or_else(|| Some(format!("{DEFAULT_GATE_TRIALS} is the default; more narrow the interval")));
        return Err(RegressError::TooFewTrials {
            what: "a comparison with a baseline (Welch's t-test per metric)".into(),
            needed: 2,
            got: n as usize,
            advice,
        }
        .into());
    }
    let threads = thread_list(&a.trial.threads);
    if threads.len() > 1 {
        return Err(Error::Usage(
            "gate --baseline runs one thread count (the baseline's); a list of thread counts needs --ab".into(),
        ));
    }
    let (w, s, _) = resolve_side(&a.trial, &a.trial.workload, threads[0], &[], None)?;
    // Refuse a mismatch before spending time on trials (the testbed is checked after).
    let mut early = Vec::new();
    if w.name != baseline.workload {
        early.push(format!("workload {} → {}", baseline.workload, w.name));
    }
    if w.hash != baseline.workload_hash {
        early.push(format!(
            "workload file hash {} → {} (the workload's statements or settings changed)",
            baseline.workload_hash, w.hash
        ));
    }
    // The candidate is only resolved, so compare what the baseline asked for (its settings;
    // what ran is in its facts). A fallback the candidate does not repeat is caught after the
    // trials, where both sides are compared as they ran.
    let diff = settings_diff(&baseline.settings, &settings_json(&s));
    if !diff.is_empty() {
        early.push(format!("settings: {}", diff.join(", ")));
    }
    if !early.is_empty() && !a.allow_mismatch {
        return Err(RegressError::Mismatch {
            what: format!("baseline `{name}` and this gate's workload"),
            details: early,
        }
        .into());
    }
    let (side, resolved) = setup_single(&a.trial, threads[0], quiet)?;
    prepare_sides(&[&side], a.prepare, quiet)?;
    let set_id = crate::regress::new_set_id();
    open_set(&mut store, &set_id, "gate", &side.workload.name, n, None)?;
    if !quiet {
        eprintln!(
            "Gate against baseline `{name}`: {n} trials of {} on {} (run set {set_id})",
            side.workload.name,
            side.target.redacted()
        );
    }
    let spec = TrialSpec {
        workload: &side.workload,
        settings: &side.settings,
        plan: side.plan.clone(),
        target: &side.target,
        quiet,
        foreign: Default::default(),
        server_pid: side.server_pid,
    };
    run_trials(&mut store, &spec, &set_id, n)?;
    drop(resolved);
    let runs = store.runs_in_set(&set_id)?;
    let choice = match runs.first() {
        Some(r) => calibration_for(&store, &a.verdict, &r.testbed_fingerprint, &r.workload)?,
        None => Choice::default(),
    };
    let opts = CompareOptions {
        stats: cfg,
        allow_mismatch: a.allow_mismatch,
        metrics: a.verdict.metrics.unwrap_or_default(),
    };
    let mut report = compare_with_baseline(&baseline, &set_id, &runs, &choice, &opts)?;
    report
        .notes
        .extend(crate::regress::breakdown::note(&store, &report.groups));
    report.elapsed_s = Some(started.elapsed().as_secs_f64());
    Ok(report)
}
