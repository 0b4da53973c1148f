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
    let store = super::open_for_reading(loc)?;
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
    let sides = ab_sides(&store, &runs)?;
    let h = build_with_sides(&a.workload, metric, &runs, &sides, &cfg)?;
    if a.format.is_json() {
        println!("{}", serde_json::to_string_pretty(&h).unwrap_or_default());
    } else {
        print!("{}", crate::report::regress::history(&h));
    }
    Ok(())
}

/// The A/B side of every A/B run set among `runs` (set id → `A (label)`): the sets of kind
/// `ab` (from `ab` and `gate`'s A/B), whose ids end in `-a` or `-b`.
fn ab_sides(
    store: &Store,
    runs: &[crate::store::RunMetrics],
) -> Result<std::collections::BTreeMap<String, String>> {
    let mut sides = std::collections::BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    for id in runs.iter().filter_map(|r| r.set_id.as_deref()) {
        if !seen.insert(id) {
            continue;
        }
        let Some(set) = store.get_run_set(id)?.filter(|s| s.kind == "ab") else {
            continue;
        };
        let letter = if id.ends_with("-b") { "B" } else { "A" };
        let side = match set.label.filter(|l| !l.is_empty() && l != letter) {
            Some(label) => format!("{letter} ({label})"),
            None => letter.to_string(),
        };
        sides.insert(id.to_string(), side);
    }
    Ok(sides)
}
