//! `loadgate history`: a workload's series with change points ([`crate::regress::history`]).

use crate::cli::regress::HistoryArgs;
use crate::error::Result;
use crate::regress::history::*;
use crate::regress::RegressError;
use crate::stats::ChangePointConfig;
use crate::store::{Store, StoreLocation};

/// `loadgate history`.
pub fn command(loc: &StoreLocation, a: HistoryArgs) -> Result<()> {
    let metric = a.metric;
    let mut cfg = ChangePointConfig::default();
    if let Some(m) = a.min_segment {
        cfg.min_segment = m;
    }
    let store = Store::open_existing(loc)?;
    let runs = store.run_series(&a.workload, a.testbed.as_deref())?;
    if runs.is_empty() {
        return Err(RegressError::Invalid(format!(
            "no complete runs of `{}`{} in {}; see `loadgate runs`",
            a.workload,
            a.testbed
                .as_deref()
                .map(|t| format!(" on testbed {t}"))
                .unwrap_or_default(),
            loc.path.display()
        ))
        .into());
    }
    let h = build(&a.workload, metric, &runs, &cfg)?;
    if a.format.is_json() {
        println!("{}", serde_json::to_string_pretty(&h).unwrap_or_default());
    } else {
        print!("{}", crate::report::regress::history(&h));
    }
    Ok(())
}
