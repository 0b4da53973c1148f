//! `loadgate calibrate`: A/A trials on this testbed, their noise stored
//! ([`crate::regress::calibrate`]); `calibrate list|show|rm` for the stored calibrations.

use std::path::Path;

use crate::cli::regress::{CalibrateArgs, CalibrateCommand};
use crate::error::Result;
use crate::regress::calibrate::*;
use crate::regress::trials::{open_set, run_trials, TrialSpec};
use crate::regress::{RegressError, RunValues};
use crate::store::{Calibration, Store};
use std::sync::Arc;

/// `loadgate calibrate`.
pub fn command(store_path: &Path, a: CalibrateArgs, quiet: bool) -> Result<()> {
    if let Some(cmd) = a.command {
        return manage(store_path, cmd);
    }
    let n = a.trials.unwrap_or(DEFAULT_TRIALS);
    if (n as usize) < MIN_TRIALS {
        return Err(RegressError::TooFewTrials {
            what: "a calibration".into(),
            needed: MIN_TRIALS,
            got: n as usize,
            advice: Some(format!(
                "The run-to-run noise of fewer runs is too uncertain to set the margin of every later comparison; {DEFAULT_TRIALS} trials are the default"
            )),
        }
        .into());
    }
    let threads = crate::commands::gate::thread_list(&a.trial.threads);
    if threads.len() > 1 {
        return Err(crate::error::Error::Usage(
            "calibrate runs one thread count; calibrate each separately".into(),
        ));
    }
    let (side, resolved) = crate::commands::gate::setup_single(&a.trial, threads[0], quiet)?;
    crate::commands::gate::prepare_sides(&[&side], a.prepare, quiet)?;
    let mut store = Store::open(store_path)?;
    let set_id = crate::regress::new_set_id();
    open_set(
        &mut store,
        &set_id,
        "calibrate",
        &side.workload.name,
        n,
        None,
    )?;
    if !quiet {
        eprintln!(
            "Calibrating {} on {}: {n} A/A trials (run set {set_id})",
            side.workload.name,
            side.target.redacted()
        );
    }
    let spec = TrialSpec {
        workload: &side.workload,
        settings: &side.settings,
        plan: Arc::clone(&side.plan),
        target: &side.target,
        quiet,
        foreign: Default::default(),
        server_pid: side.server_pid,
    };
    let recs = run_trials(&mut store, &spec, &set_id, n)?;
    drop(resolved);
    let values: Vec<RunValues> = recs.iter().filter_map(RunValues::of_record).collect();
    let n = noise(&values)?;
    let first = &recs[0];
    let mut c = Calibration {
        id: None,
        created_at_ms: crate::util::now_ms(),
        testbed_fingerprint: first.testbed.fingerprint.clone(),
        workload: first.workload.clone(),
        workload_hash: first.workload_hash.clone(),
        settings: first.settings.to_json(),
        set_id,
        trials: values.len() as u32,
        noise_tps: n.tps,
        noise_p99: n.p99,
        noise_error_rate: n.error_rate,
        noise_rows: n.rows,
        noise_pages: n.pages,
        noise_client_cpu: n.client_cpu,
        noise_server_cpu: n.server_cpu,
    };
    c.id = Some(store.insert_calibration(&c)?);
    let report = CalibrationReport::of(c, crate::util::now_ms());
    if a.format.is_json() {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", crate::report::regress::calibration(&report));
    }
    Ok(())
}

/// `calibrate list|show|rm`.
fn manage(store_path: &Path, cmd: CalibrateCommand) -> Result<()> {
    match cmd {
        CalibrateCommand::List(a) => {
            let store = Store::open(store_path)?;
            let list = listed(
                store.calibrations(a.workload.as_deref())?,
                crate::util::now_ms(),
            );
            if a.format.is_json() {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else if list.is_empty() {
                println!(
                    "No calibrations in {}; `loadgate calibrate WORKLOAD` runs one.",
                    store_path.display()
                );
            } else {
                print!("{}", crate::report::regress::calibration_list(&list));
            }
            Ok(())
        }
        CalibrateCommand::Show(a) => {
            let store = Store::open(store_path)?;
            let c = find(&store, a.id)?;
            let report = CalibrationReport::of(c, crate::util::now_ms());
            if a.format.is_json() {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print!("{}", crate::report::regress::calibration(&report));
            }
            Ok(())
        }
        CalibrateCommand::Rm(a) => {
            let mut store = Store::open(store_path)?;
            let c = find(&store, a.id)?;
            store.delete_calibration(a.id)?;
            println!(
                "Removed calibration {} of {} on testbed {} (its runs stay in the store).",
                a.id, c.workload, c.testbed_fingerprint
            );
            Ok(())
        }
    }
}

/// The stored calibration `id`, or an error listing the ids there are.
fn find(store: &Store, id: i64) -> Result<Calibration> {
    match store.calibration(id)? {
        Some(c) => Ok(c),
        None => Err(RegressError::UnknownCalibration {
            id,
            known: store
                .calibrations(None)?
                .iter()
                .filter_map(|c| c.id)
                .collect(),
        }
        .into()),
    }
}
