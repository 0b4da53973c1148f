//! `loadgate baseline save|list|show|rm`: the glue between the command line and named baselines ([`crate::regress::baseline`]).

use crate::cli::regress::BaselineCommand;
use crate::error::Result;
use crate::regress::baseline::*;
use crate::regress::{mean_of, Metric, RegressError};
use crate::store::StoreLocation;

/// `loadgate baseline ...`.
pub fn command(loc: &StoreLocation, cmd: BaselineCommand) -> Result<()> {
    match cmd {
        BaselineCommand::Save(a) => {
            let mut store = super::open_for_reading(loc)?;
            let set = match &a.run_set {
                Some(s) => s.clone(),
                None => store
                    .last_run_set(SAVABLE_KINDS)?
                    .ok_or_else(|| {
                        RegressError::NoSet(
                            "no run set is stored yet: run `loadgate run WORKLOAD --trials 5` first, or name one with --run-set".into(),
                        )
                    })?
                    .set_id,
            };
            let runs = store.runs_in_set(&set)?;
            let b = from_set(&a.name, &set, &runs)?;
            if !store.save_baseline(&b, a.force)? {
                return Err(RegressError::BaselineExists(a.name).into());
            }
            let v = values(&b);
            println!(
                "Saved baseline `{}` from set {}: {} runs of {} ({} threads) on testbed {}: {} tps, p99 {} ms",
                b.name,
                b.set_id,
                b.runs.len(),
                b.workload,
                threads(&b),
                b.testbed.fingerprint,
                Metric::Tps.format(mean_of(&v, Metric::Tps)),
                Metric::P99.format(mean_of(&v, Metric::P99))
            );
            Ok(())
        }
        BaselineCommand::List(a) => {
            let store = super::open_for_reading(loc)?;
            let mut list = Vec::new();
            for n in store.baseline_names()? {
                if let Some(b) = store.get_baseline(&n)? {
                    list.push(b);
                }
            }
            if a.format.is_json() {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else if list.is_empty() {
                println!(
                    "No baselines in {}; `loadgate baseline save NAME` saves the last run set.",
                    loc.path.display()
                );
            } else {
                print!("{}", crate::report::regress::baseline_list(&list));
            }
            Ok(())
        }
        BaselineCommand::Show(a) => {
            let store = super::open_for_reading(loc)?;
            let b = load(&store, &a.name)?;
            if a.format.is_json() {
                println!("{}", serde_json::to_string_pretty(&b).unwrap_or_default());
            } else {
                print!("{}", crate::report::regress::baseline_show(&b));
            }
            Ok(())
        }
        BaselineCommand::Rm(a) => {
            let mut store = super::open_for_reading(loc)?;
            if !store.delete_baseline(&a.name)? {
                return Err(RegressError::UnknownBaseline {
                    name: a.name,
                    known: store.baseline_names()?,
                }
                .into());
            }
            println!(
                "Removed baseline `{}` (its runs stay in the store).",
                a.name
            );
            Ok(())
        }
    }
}
