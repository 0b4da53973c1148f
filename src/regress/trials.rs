//! Trials: N independent runs of one job, stored as one run set, so that whole runs are the
//! samples of every comparison. Each trial is a full [`runner::run_once`]: fresh connections,
//! its own warm-up (the `warmup` setting), its own random seed unless the user fixed one.

use std::sync::Arc;

use crate::error::Result;
use crate::record::RunRecord;
use crate::runner::{self, RunJob};
use crate::settings::{Origin, Settings};
use crate::store::{RunSet, Store};
use crate::target::Target;
use crate::workload::plan::Plan;
use crate::workload::Workload;

use super::{Metric, RunValues};

/// One job to repeat.
pub struct TrialSpec<'a> {
    pub workload: &'a Workload,
    pub settings: &'a Settings,
    pub plan: Arc<Plan>,
    pub target: &'a Target,
    /// No progress lines on stderr.
    pub quiet: bool,
}

/// The settings of one trial: a fresh random seed when the seed was not chosen by the user
/// (so trials are independent samples), or `seed` when given (A/B pairs share one).
pub fn trial_settings(s: &Settings, seed: Option<u64>) -> Settings {
    let mut t = s.clone();
    if let Some(seed) = seed {
        t.seed = seed;
    } else if !seed_is_fixed(s) {
        t.seed = fresh_seed();
    }
    t
}

/// A random non-zero seed.
pub fn fresh_seed() -> u64 {
    rand::random::<u64>() | 1
}

/// Whether the user fixed the seed (then every trial uses it).
pub fn seed_is_fixed(s: &Settings) -> bool {
    s.origins.get("seed").is_some_and(|o| *o != Origin::Default)
}

/// Records a new run set of `kind` for `n` trials.
pub fn open_set(
    store: &mut Store,
    set_id: &str,
    kind: &str,
    workload: &str,
    n: u32,
    label: Option<String>,
) -> Result<RunSet> {
    let set = RunSet {
        set_id: set_id.to_string(),
        kind: kind.to_string(),
        created_at_ms: crate::util::now_ms(),
        workload: workload.to_string(),
        trials: n,
        label,
    };
    store.insert_run_set(&set)?;
    Ok(set)
}

/// Runs one trial of `spec` into set `set_id` and returns the stored record. A trial that did
/// not complete is an error (exit 5): no verdict is made from partial data.
pub fn run_trial(
    store: &mut Store,
    spec: &TrialSpec<'_>,
    set_id: &str,
    seed: Option<u64>,
) -> Result<RunRecord> {
    let settings = trial_settings(spec.settings, seed);
    let job = RunJob {
        workload: spec.workload,
        settings: &settings,
        plan: spec.plan.clone(),
        target: spec.target,
        set_id: Some(set_id.to_string()),
        quiet: true,
        // Trials are runs like any other: the monitor samples them with default thresholds.
        monitor: Default::default(),
    };
    let done = runner::run_once(&job, store)?;
    let rec = done.record.clone();
    done.into_result()?;
    Ok(rec)
}

/// One progress line: `trial 2/5 (run 17): 1234.5 tps, p99 12.34 ms, 0 errors`.
pub fn trial_line(prefix: &str, rec: &RunRecord) -> String {
    match RunValues::of_record(rec) {
        Some(v) => format!(
            "{prefix} (run {}): {} tps, p99 {} ms, {} errors",
            rec.id.unwrap_or(0),
            Metric::Tps.format(v.tps),
            Metric::P99.format(v.p99_ms),
            v.errors
        ),
        None => format!("{prefix} (run {}): no results", rec.id.unwrap_or(0)),
    }
}

/// Runs `n` trials of `spec` as set `set_id` (already opened), stopping at the first trial that
/// does not complete.
pub fn run_trials(
    store: &mut Store,
    spec: &TrialSpec<'_>,
    set_id: &str,
    n: u32,
) -> Result<Vec<RunRecord>> {
    let mut out = Vec::new();
    for i in 0..n {
        let rec = run_trial(store, spec, set_id, None)?;
        if !spec.quiet {
            eprintln!("{}", trial_line(&format!("trial {}/{n}", i + 1), &rec));
        }
        out.push(rec);
    }
    Ok(out)
}

/// `run --trials N`: opens a set, runs the trials, prints one line per trial and the set's
/// summary (or, with `json`, `{"set_id": ..., "runs": [run reports]}`).
pub fn trials_cmd(
    store: &mut Store,
    spec: &TrialSpec<'_>,
    n: u32,
    json: bool,
    output: Option<&std::path::Path>,
) -> Result<()> {
    if n == 0 {
        return Err(super::RegressError::TooFewTrials {
            what: "--trials".into(),
            needed: 1,
            got: 0,
            advice: None,
        }
        .into());
    }
    let set_id = super::new_set_id();
    open_set(store, &set_id, "trials", &spec.workload.name, n, None)?;
    if !spec.quiet {
        eprintln!(
            "Running {n} trial(s) of {} on {} as run set {set_id}",
            spec.workload.name,
            spec.target.redacted()
        );
    }
    let recs = run_trials(store, spec, &set_id, n)?;
    let text = if json {
        let runs: Vec<serde_json::Value> = recs
            .iter()
            .map(|r| serde_json::to_value(crate::report::json::report(r)).unwrap_or_default())
            .collect();
        serde_json::to_string_pretty(&serde_json::json!({ "set_id": set_id, "runs": runs }))
            .unwrap_or_default()
            + "\n"
    } else {
        set_summary(&set_id, &recs)
    };
    match output {
        Some(p) => std::fs::write(p, text).map_err(|source| crate::error::Error::Output {
            path: p.to_path_buf(),
            source,
        }),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

/// The text summary of a run set: one line per trial, then mean and spread.
pub fn set_summary(set_id: &str, recs: &[RunRecord]) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let vals: Vec<RunValues> = recs.iter().filter_map(RunValues::of_record).collect();
    let _ = writeln!(o, "run set {set_id}: {} trial(s)", recs.len());
    let _ = writeln!(
        o,
        "  {:>6} {:>10} {:>9} {:>12} {:>8}",
        "run", "tps", "p99 ms", "transactions", "errors"
    );
    for v in &vals {
        let _ = writeln!(
            o,
            "  {:>6} {:>10.1} {:>9.2} {:>12} {:>8}",
            v.run_id, v.tps, v.p99_ms, v.transactions, v.errors
        );
    }
    if vals.len() >= 2 {
        let spread = |m: Metric| -> String {
            let xs: Vec<f64> = vals.iter().map(|v| v.get(m)).collect();
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let sd =
                (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt();
            format!(
                "{} ± {} ({:.1} %)",
                m.format(mean),
                m.format(sd),
                if mean > 0.0 { 100.0 * sd / mean } else { 0.0 }
            )
        };
        let _ = writeln!(
            o,
            "  mean ± sd: tps {}, p99 {} ms",
            spread(Metric::Tps),
            spread(Metric::P99)
        );
    }
    let _ = writeln!(
        o,
        "Save it as a baseline: loadgate baseline save NAME --run-set {set_id}"
    );
    o
}
