//! `loadgate run --trials N`: N runs of one job as a run set, then the set's summary (or its
//! runs' JSON reports).

use crate::error::Result;
use crate::regress::trials::{open_set, run_trials, TrialSpec};
use crate::store::Store;

/// `run --trials N`: opens a set, runs the trials, prints one line per trial and the set's
/// summary (or, with `json`, `{"set_id": ..., "runs": [run reports]}`).
pub fn run(
    store: &mut Store,
    spec: &TrialSpec<'_>,
    n: u32,
    json: bool,
    output: Option<&std::path::Path>,
) -> Result<()> {
    if n == 0 {
        return Err(crate::regress::RegressError::TooFewTrials {
            what: "--trials".into(),
            needed: 1,
            got: 0,
            advice: None,
        }
        .into());
    }
    let set_id = crate::regress::new_set_id();
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
        crate::report::regress::trial_set(&set_id, &recs)
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
