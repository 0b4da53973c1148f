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
    /// What the trials may do with tables loadgate did not create.
    pub foreign: crate::prepare::ForeignTables,
    /// The server's process when loadgate started it: each trial's work per transaction then
    /// includes the server's CPU time.
    pub server_pid: Option<u32>,
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
        monitor: crate::monitor::MonitorSetup {
            server_pid: spec.server_pid,
            ..Default::default()
        },
        foreign: spec.foreign,
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
