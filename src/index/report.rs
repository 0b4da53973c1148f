//! The index report: before against after per probe and for the write mix, the verdict against
//! the acceptance bars, and its text form.
//!
//! A probe's speed is its mean latency (total time spent in the probe, which is what an
//! extraction job pays); "X % faster" is `1 − after/before`. The write mix's cost is its
//! throughput measured alone (without the probes, whose load changes with the index):
//! "X % slower" is `1 − after/before`. p99 and InnoDB bytes written per row are reported beside
//! it but are not bars.

use super::explain::ProbeCheck;
use super::spec::Acceptance;
use super::{Change, Phase, Rollback, Setup, Sizes, WriteAmplification, WriteStats};
use crate::record::LatencyStats;
use serde::Serialize;
use std::fmt::Write;

/// One probe, before against after.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeComparison {
    pub name: String,
    pub before: LatencyStats,
    pub after: LatencyStats,
    /// Mean before / mean after.
    pub speedup: f64,
    /// `(1 − after/before) × 100` on the mean.
    pub faster_pct: f64,
    /// EXPLAIN after the change shows the intended index (and access, rows).
    pub uses_index: bool,
    pub problems: Vec<String>,
    pub passed: bool,
}

/// The write mix, before against after.
#[derive(Debug, Clone, Serialize)]
pub struct WriteComparison {
    pub present: bool,
    pub before: WriteStats,
    pub after: WriteStats,
    /// `(1 − after/before) × 100` on throughput: positive is slower.
    pub slower_pct: f64,
    /// Change of p99 in percent: positive is slower.
    pub p99_change_pct: f64,
    pub amplification_before: WriteAmplification,
    pub amplification_after: WriteAmplification,
    /// The write mix while the probes ran, for reference.
    pub under_reads_before: WriteStats,
    pub under_reads_after: WriteStats,
    pub passed: bool,
}

/// Pass or fail, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub passed: bool,
    pub reasons: Vec<String>,
}

/// Everything one `loadgate index` found.
#[derive(Debug, Clone, Serialize)]
pub struct IndexReport {
    pub workload: String,
    pub database: String,
    pub target: String,
    pub server: String,
    pub setup: Setup,
    pub change: Change,
    pub sizes_before: Sizes,
    pub sizes_after: Sizes,
    pub explain_before: Vec<ProbeCheck>,
    pub explain_after: Vec<ProbeCheck>,
    pub probes: Vec<ProbeComparison>,
    pub writes: WriteComparison,
    pub acceptance: Acceptance,
    pub verdict: Verdict,
    pub rollback: Option<Rollback>,
    pub kept: bool,
    pub before_run: i64,
    pub after_run: i64,
}

fn pct_change(before: f64, after: f64) -> f64 {
    if before > 0.0 {
        (after / before - 1.0) * 100.0
    } else {
        f64::NAN
    }
}

/// Compare the phases and judge.
pub fn judge(
    before: &Phase,
    after: &Phase,
    checks: &[ProbeCheck],
    a: Acceptance,
) -> (Vec<ProbeComparison>, WriteComparison, Verdict) {
    let mut reasons = Vec::new();
    let probes: Vec<ProbeComparison> = before
        .probes
        .iter()
        .zip(&after.probes)
        .map(|(b, x)| {
            let check = checks.iter().find(|c| c.probe == b.name);
            let problems = check.map_or_else(
                || vec!["no EXPLAIN was taken".to_string()],
                |c| c.problems.clone(),
            );
            let uses_index = problems.is_empty();
            let measured = b.latency.count > 0 && x.latency.count > 0;
            let faster_pct = if measured {
                (1.0 - x.latency.avg / b.latency.avg) * 100.0
            } else {
                f64::NAN
            };
            let speedup = if measured && x.latency.avg > 0.0 {
                b.latency.avg / x.latency.avg
            } else {
                f64::NAN
            };
            let fast_enough = faster_pct >= a.reads_faster_pct;
            if !uses_index {
                reasons.push(format!(
                    "probe `{}` does not use its index after the change: {}",
                    b.name,
                    problems.join("; ")
                ));
            }
            if !measured {
                reasons.push(format!(
                    "probe `{}` did not complete in one of the phases (before {}, after {} runs): nothing to compare",
                    b.name, b.latency.count, x.latency.count
                ));
            } else if !fast_enough {
                reasons.push(format!(
                    "probe `{}` is {:.1} % faster, the bar is {:.0} %",
                    b.name, faster_pct, a.reads_faster_pct
                ));
            }
            ProbeComparison {
                name: b.name.clone(),
                before: b.latency.clone(),
                after: x.latency.clone(),
                speedup,
                faster_pct,
                uses_index,
                problems,
                passed: uses_index && measured && fast_enough,
            }
        })
        .collect();
    let present = before.writes_alone.count > 0 || after.writes_alone.count > 0;
    let slower_pct = if before.writes_alone.per_s > 0.0 {
        (1.0 - after.writes_alone.per_s / before.writes_alone.per_s) * 100.0
    } else {
        f64::NAN
    };
    let writes_ok = !present || slower_pct <= a.writes_slower_pct;
    if present && !writes_ok {
        reasons.push(format!(
            "the write mix is {:.1} % slower ({:.0} → {:.0} writes/s), the bar is {:.0} %",
            slower_pct, before.writes_alone.per_s, after.writes_alone.per_s, a.writes_slower_pct
        ));
    }
    let writes = WriteComparison {
        present,
        before: before.writes_alone.clone(),
        after: after.writes_alone.clone(),
        slower_pct,
        p99_change_pct: pct_change(
            before.writes_alone.latency.p99,
            after.writes_alone.latency.p99,
        ),
        amplification_before: before.amplification.clone(),
        amplification_after: after.amplification.clone(),
        under_reads_before: before.writes_under_reads.clone(),
        under_reads_after: after.writes_under_reads.clone(),
        passed: writes_ok,
    };
    let passed = reasons.is_empty();
    (probes, writes, Verdict { passed, reasons })
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn plan_line(c: &ProbeCheck) -> String {
    c.tables
        .iter()
        .map(|t| {
            format!(
                "{} {} {} rows {}",
                t.table,
                t.access_type,
                t.key.as_deref().unwrap_or("(no index)"),
                t.rows.map_or("?".into(), |r| r.to_string())
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The report for people.
pub fn render(r: &IndexReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Index before/after `{}` in `{}` on {} ({}) — runs {} (before) and {} (after)",
        r.workload, r.database, r.target, r.server, r.before_run, r.after_run
    );
    let _ = writeln!(
        o,
        "Tables: {} ({} in {:.1} s)",
        r.setup
            .tables
            .iter()
            .map(|(t, n)| format!("{t} {n} rows"))
            .collect::<Vec<_>>()
            .join(", "),
        if r.setup.reused { "reused" } else { "created" },
        r.setup.seconds
    );
    let _ = writeln!(o);
    let w = &r.change.writes_during;
    let _ = writeln!(
        o,
        "The change ({:.2} s{}):",
        r.change.seconds,
        if w.count > 0 {
            format!(
                "; the write mix kept running: {:.0} writes/s, p99 {:.2} ms, max {:.2} ms",
                w.per_s, w.latency.p99, w.latency.max
            )
        } else {
            String::new()
        }
    );
    for d in &r.change.ddl {
        let _ = writeln!(
            o,
            "  {:<44} {:>8.2} s  {}",
            format!("{}.{}", d.table, d.index),
            d.seconds,
            if d.online {
                "online (ALGORITHM=INPLACE, LOCK=NONE)".to_string()
            } else {
                format!(
                    "NOT online: {}",
                    d.note.as_deref().unwrap_or("the server refused")
                )
            }
        );
    }
    for ((t, _, ib), (_, _, ia)) in r.sizes_before.tables.iter().zip(&r.sizes_after.tables) {
        let _ = writeln!(
            o,
            "  index size of {t}: {:.1} MiB → {:.1} MiB ({:+.1} MiB; information_schema.TABLES.INDEX_LENGTH)",
            mib(*ib),
            mib(*ia),
            mib(*ia) - mib(*ib)
        );
    }
    for d in &r.change.ddl {
        if let Some((_, _, b)) = r
            .sizes_after
            .indexes
            .iter()
            .find(|(t, i, _)| *t == d.table && *i == d.index)
        {
            let _ = writeln!(
                o,
                "  size of {}: {:.1} MiB (mysql.innodb_index_stats)",
                d.index,
                mib(*b)
            );
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(o, "EXPLAIN after the change:");
    for c in &r.explain_after {
        if c.ok {
            let _ = writeln!(o, "  {:<28} uses its index: {}", c.probe, plan_line(c));
        } else {
            let _ = writeln!(
                o,
                "  {:<28} DOES NOT USE ITS INDEX: {}",
                c.probe,
                c.problems.join("; ")
            );
            let _ = writeln!(o, "    statement: {}", c.sql);
            let pretty = serde_json::to_string_pretty(&c.explain).unwrap_or_default();
            for line in pretty.lines() {
                let _ = writeln!(o, "    {line}");
            }
        }
    }
    let _ = writeln!(o);
    let _ = writeln!(
        o,
        "{:<28} {:>12} {:>12} {:>10} {:>9} {:>11}  bar ≥ {:.0} %",
        "probe (under the write mix)",
        "mean before",
        "mean after",
        "speed-up",
        "faster",
        "p99 after",
        r.acceptance.reads_faster_pct
    );
    for p in &r.probes {
        let _ = writeln!(
            o,
            "{:<28} {:>9.3} ms {:>9.3} ms {:>9.1}x {:>7.1} % {:>8.3} ms  {}",
            p.name,
            p.before.avg,
            p.after.avg,
            p.speedup,
            p.faster_pct,
            p.after.p99,
            if p.passed {
                "pass"
            } else if !p.uses_index {
                "FAIL (index not used)"
            } else {
                "FAIL"
            }
        );
    }
    let _ = writeln!(o);
    let wc = &r.writes;
    if wc.present {
        let _ = writeln!(
            o,
            "{:<28} {:>12} {:>12} {:>10}",
            "write mix (alone)", "before", "after", "change"
        );
        let row = |o: &mut String, name: &str, b: f64, a: f64, prec: usize| {
            let change = pct_change(b, a);
            let _ = writeln!(
                o,
                "{:<28} {:>12.prec$} {:>12.prec$} {:>11}",
                name,
                b,
                a,
                if change.is_finite() {
                    format!("{change:+.1} %")
                } else {
                    "-".to_string()
                }
            );
        };
        row(&mut o, "writes/s", wc.before.per_s, wc.after.per_s, 0);
        row(
            &mut o,
            "p99 ms",
            wc.before.latency.p99,
            wc.after.latency.p99,
            3,
        );
        row(
            &mut o,
            "data written per row (B)",
            wc.amplification_before.data_per_row,
            wc.amplification_after.data_per_row,
            0,
        );
        row(
            &mut o,
            "redo written per row (B)",
            wc.amplification_before.redo_per_row,
            wc.amplification_after.redo_per_row,
            0,
        );
        row(
            &mut o,
            "redo generated per row (B)",
            wc.amplification_before.redo_generated_per_row,
            wc.amplification_after.redo_generated_per_row,
            0,
        );
        row(
            &mut o,
            "writes/s under the probes",
            wc.under_reads_before.per_s,
            wc.under_reads_after.per_s,
            0,
        );
        let _ = writeln!(
            o,
            "  (bytes per row: server-wide InnoDB counters over the write-alone window; indicative, not a bar — see README, Limits)"
        );
        if !wc.amplification_after.pages_flushed {
            let _ = writeln!(
                o,
                "  (data written: the tables could not be flushed around the window, so pages written later are missing)"
            );
        }
        let _ = writeln!(
            o,
            "  {:.1} % slower on throughput; bar ≤ {:.0} % slower: {}",
            wc.slower_pct,
            r.acceptance.writes_slower_pct,
            if wc.passed { "pass" } else { "FAIL" }
        );
    } else {
        let _ = writeln!(o, "No write mix in this workload.");
    }
    let _ = writeln!(o);
    if r.verdict.passed {
        let _ = writeln!(
            o,
            "Verdict: PASS — every probe uses its index and is at least {:.0} % faster; the write mix is at most {:.0} % slower.",
            r.acceptance.reads_faster_pct, r.acceptance.writes_slower_pct
        );
    } else {
        let _ = writeln!(o, "Verdict: FAIL");
        for reason in &r.verdict.reasons {
            let _ = writeln!(o, "  - {reason}");
        }
    }
    match &r.rollback {
        Some(rb) => {
            let _ = writeln!(
                o,
                "Rollback: dropped {} in {:.2} s; SHOW CREATE TABLE matches the schema before the change.",
                rb.dropped.join(", "),
                rb.seconds
            );
        }
        None if r.kept => {
            let _ = writeln!(o, "Kept the indexes (--keep).");
        }
        None => {}
    }
    o
}
