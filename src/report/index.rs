//! The index before/after report for people: each probe and the write mix before against after,
//! the plans, sizes, write amplification, the verdict and the rollback.

use crate::index::explain::ProbeCheck;
use crate::index::verdict::{pct_change, IndexReport};
use std::fmt::Write;

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
            "  {} on throughput; bar ≤ {:.0} % slower: {}",
            throughput_change(wc.slower_pct),
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

/// The write mix's throughput change in words, from `slower_pct` = `(1 − after/before) × 100`:
/// "12.3 % slower", or "126.2 % faster" when the after phase wrote more per second (never a
/// negative "slower").
fn throughput_change(slower_pct: f64) -> String {
    if !slower_pct.is_finite() {
        "not measured (no writes before)".to_string()
    } else if slower_pct < 0.0 {
        format!("{:.1} % faster", -slower_pct)
    } else {
        format!("{slower_pct:.1} % slower")
    }
}

#[cfg(test)]
mod tests {
    use super::throughput_change;

    #[test]
    fn a_faster_write_mix_is_not_a_negative_slowdown() {
        assert_eq!(throughput_change(12.34), "12.3 % slower");
        assert_eq!(throughput_change(-126.2), "126.2 % faster");
        assert_eq!(throughput_change(0.0), "0.0 % slower");
        assert!(throughput_change(f64::NAN).starts_with("not measured"));
    }
}
