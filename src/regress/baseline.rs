//! Named baselines: `baseline save NAME [--run-set SET]`, `list`, `show NAME`, `rm NAME`.
//!
//! A baseline is a run set frozen under a name, with the testbed fingerprint, the workload and
//! its hash, and the settings it was measured with; its runs' metrics are copied so that it
//! does not change when runs are deleted. Only a set of at least two complete, homogeneous runs
//! (same workload file, testbed and settings) can become a baseline.

use super::compare::usable_runs;
use super::{comparable_settings, RegressError, RunValues};
use crate::error::Result;
use crate::store::{Baseline, BaselineRun, RunMetrics, Store};

/// Kinds of run sets `baseline save` picks as "the last set".
pub const SAVABLE_KINDS: &[&str] = &["trials", "gate", "calibrate"];

/// Checks a baseline name: 1 to 64 characters of letters, digits, `.`, `_`, `-`, `/`.
pub fn check_name(name: &str) -> Result<(), RegressError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
    if ok {
        Ok(())
    } else {
        Err(RegressError::Invalid(format!(
            "baseline name `{name}`: use 1 to 64 letters, digits, `.`, `_`, `-` or `/`"
        )))
    }
}

/// A baseline from the runs of set `set_id`, checked.
pub fn from_set(name: &str, set_id: &str, runs: &[RunMetrics]) -> Result<Baseline, RegressError> {
    check_name(name)?;
    let values = usable_runs("run set", set_id, runs)?;
    if values.len() < 2 {
        return Err(RegressError::TooFewTrials {
            what: "a baseline".into(),
            needed: 2,
            got: values.len(),
            advice: Some(
                "save a set of 3 or more trials, e.g. `loadgate run WORKLOAD --trials 5` then `loadgate baseline save NAME`"
                    .into(),
            ),
        });
    }
    let first = &runs[0];
    let key = comparable_settings(&first.settings_as_ran());
    let odd: Vec<String> = runs[1..]
        .iter()
        .filter(|r| {
            r.workload_hash != first.workload_hash
                || r.testbed_fingerprint != first.testbed_fingerprint
                || comparable_settings(&r.settings_as_ran()) != key
        })
        .map(|r| format!("run {} differs from run {}", r.id, first.id))
        .collect();
    if !odd.is_empty() {
        return Err(RegressError::Mismatch {
            what: format!("the runs of set `{set_id}`"),
            details: odd,
        });
    }
    Ok(Baseline {
        name: name.to_string(),
        created_at_ms: crate::util::now_ms(),
        set_id: set_id.to_string(),
        workload: first.workload.clone(),
        workload_hash: first.workload_hash.clone(),
        testbed: first.testbed.clone(),
        settings: first.settings.clone(),
        facts: first.facts.clone(),
        target: first.target.clone(),
        server_version: first.server_version.clone(),
        git_commit: first.git_commit.clone(),
        runs: runs
            .iter()
            .zip(&values)
            .map(|(r, v)| BaselineRun {
                run_id: r.id,
                started_at_ms: r.started_at_ms,
                tps: v.tps,
                p99_corrected_ms: v.p99_ms,
                transactions: v.transactions,
                errors: v.errors,
                work: v.work,
            })
            .collect(),
    })
}

/// The baseline `name`, or an error listing the saved ones.
pub fn load(store: &Store, name: &str) -> Result<Baseline> {
    match store.get_baseline(name)? {
        Some(b) => Ok(b),
        None => Err(RegressError::UnknownBaseline {
            name: name.to_string(),
            known: store.baseline_names()?,
        }
        .into()),
    }
}

pub(crate) fn values(b: &Baseline) -> Vec<RunValues> {
    b.runs.iter().map(RunValues::of_baseline_run).collect()
}

pub(crate) fn threads(b: &Baseline) -> String {
    b.settings["threads"].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ExitCode;
    use crate::record::{RunStatus, Testbed};

    fn m(id: i64, status: RunStatus, threads: u32) -> RunMetrics {
        RunMetrics {
            facts: Default::default(),
            id,
            set_id: Some("s".into()),
            started_at_ms: id,
            status,
            status_reason: None,
            workload: "w".into(),
            workload_hash: "h".into(),
            testbed_fingerprint: "fp".into(),
            testbed: Testbed::default(),
            settings: serde_json::json!({ "threads": threads }),
            target: "mysql://u@h:1/d".into(),
            server_version: "v".into(),
            git_commit: None,
            tps: Some(100.0),
            p99_corrected_ms: Some(2.0),
            errors: Some(0),
            transactions: Some(1000),
            work: None,
        }
    }

    #[test]
    fn only_complete_homogeneous_sets_of_two_or_more() {
        let ok = [m(1, RunStatus::Complete, 4), m(2, RunStatus::Complete, 4)];
        assert_eq!(from_set("main", "s", &ok).unwrap().runs.len(), 2);
        let e = from_set("main", "s", &ok[..1]).unwrap_err();
        assert!(
            matches!(
                e,
                RegressError::TooFewTrials {
                    needed: 2,
                    got: 1,
                    ..
                }
            ),
            "{e}"
        );
        let e = from_set("main", "s", &[]).unwrap_err();
        assert!(matches!(e, RegressError::EmptySet { .. }), "{e}");
        let failed = [m(1, RunStatus::Complete, 4), m(2, RunStatus::Failed, 4)];
        let e = from_set("main", "s", &failed).unwrap_err();
        assert!(e.to_string().contains("run 2 is failed"), "{e}");
        assert_eq!(e.exit_code(), crate::error::exit::INCOMPLETE);
        let mixed = [m(1, RunStatus::Complete, 4), m(2, RunStatus::Complete, 8)];
        assert!(matches!(
            from_set("main", "s", &mixed).unwrap_err(),
            RegressError::Mismatch { .. }
        ));
        assert!(from_set("bad name", "s", &ok).is_err());
    }
}
