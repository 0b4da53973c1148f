//! Where a change of work comes from: when a work metric moved, the rows each statement
//! examined per execution on side A and side B, from performance_schema (the monitor's
//! per-statement numbers stored with every run), as a note of the gate report.

use crate::record::gate::Group;
use crate::record::RunRecord;
use crate::stats::Verdict;
use crate::store::Store;
use std::collections::BTreeMap;

/// Rows examined and executions per statement name, summed over runs; `None` when no run has
/// the server's per-statement numbers (performance_schema off).
pub fn rows_by_statement(runs: &[RunRecord]) -> Option<BTreeMap<String, (u64, u64)>> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut any = false;
    for r in runs {
        let Some(m) = &r.monitor else { continue };
        for s in &m.statements {
            let Some(rows) = s.rows_examined else {
                continue;
            };
            any = true;
            let e = out.entry(s.name.clone()).or_default();
            e.0 += rows;
            e.1 += s.count;
        }
    }
    any.then_some(out)
}

/// "k_range 20.1 → 1999.3 (+9850 %)" for every statement whose rows examined per execution
/// differ by more than 1 %, largest change first.
pub fn breakdown(a: &[RunRecord], b: &[RunRecord]) -> Result<Vec<String>, &'static str> {
    let (Some(ra), Some(rb)) = (rows_by_statement(a), rows_by_statement(b)) else {
        return Err("performance_schema is off (or not readable) on the server");
    };
    let per = |(rows, n): (u64, u64)| (n > 0).then(|| rows as f64 / n as f64);
    let mut lines: Vec<(f64, String)> = Vec::new();
    for (name, &x) in &ra {
        let (Some(pa), Some(pb)) = (per(x), rb.get(name).copied().and_then(per)) else {
            continue;
        };
        let change = if pa > 0.0 {
            pb / pa - 1.0
        } else {
            f64::INFINITY
        };
        if pa == pb || change.abs() <= 0.01 {
            continue;
        }
        let pct = if change.is_finite() {
            crate::util::pct(change)
        } else {
            "from zero".into()
        };
        lines.push((change.abs(), format!("{name} {pa:.1} → {pb:.1} ({pct})")));
    }
    lines.sort_by(|x, y| y.0.total_cmp(&x.0));
    Ok(lines.into_iter().map(|l| l.1).collect())
}

/// The note for the groups whose work metrics regressed or improved; `None` when none did.
/// Runs the store no longer has are left out.
pub fn note(store: &Store, groups: &[Group]) -> Option<String> {
    let mut parts = Vec::new();
    for g in groups {
        let moved = g.metrics.iter().any(|m| {
            m.metric.is_work() && matches!(m.verdict, Verdict::Regressed | Verdict::Improved)
        });
        if !moved {
            continue;
        }
        let load = |ids: &[i64]| -> Vec<RunRecord> {
            ids.iter()
                .filter_map(|&id| store.get_run(id).ok())
                .collect()
        };
        let text = match breakdown(&load(&g.a.run_ids), &load(&g.b.run_ids)) {
            Ok(lines) if lines.is_empty() => {
                "no statement's rows examined per execution changed by more than 1 %".into()
            }
            Ok(lines) => lines.join("; "),
            Err(why) => format!("no per-statement breakdown: {why}"),
        };
        parts.push(format!("{}: {text}", g.title));
    }
    (!parts.is_empty()).then(|| {
        format!(
            "rows examined per execution by statement, {} → {} (performance_schema): {}",
            groups[0].a.label,
            groups[0].b.label,
            parts.join(" | ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{MonitorReport, StatementStat};

    fn run(stmts: &[(&str, u64, Option<u64>)]) -> RunRecord {
        RunRecord {
            monitor: Some(MonitorReport {
                statements: stmts
                    .iter()
                    .map(|&(name, count, rows)| StatementStat {
                        name: name.into(),
                        count,
                        rows_examined: rows,
                        ..StatementStat::default()
                    })
                    .collect(),
                ..MonitorReport::default()
            }),
            ..RunRecord::default()
        }
    }

    #[test]
    fn the_statement_that_changed_is_named_first() {
        let a = [
            run(&[("k_range", 100, Some(2000)), ("point", 1000, Some(1000))]),
            run(&[("k_range", 100, Some(2100)), ("point", 1000, Some(1000))]),
        ];
        let b = [run(&[
            ("k_range", 50, Some(100_000)),
            ("point", 1000, Some(1000)),
            ("COMMIT", 10, Some(0)),
        ])];
        let lines = breakdown(&a, &b).unwrap();
        assert_eq!(lines, vec!["k_range 20.5 → 2000.0 (+9656.1 %)".to_string()]);
        // Without the server's per-statement numbers there is no breakdown, and it says why.
        let off = [run(&[("k_range", 100, None)])];
        assert!(breakdown(&off, &b).is_err());
    }
}
