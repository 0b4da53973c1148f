//! Bulk sync output: one strategy in detail, several as one comparison table (text or
//! Markdown).

use crate::bulk::sync::SyncResult;
use crate::bulk::Strategy;
use std::fmt::Write;

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

/// One strategy's sync, for people.
pub fn render_one(r: &SyncResult, run_id: Option<i64>) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "Bulk sync into `{}`, strategy {}{}",
        r.table,
        r.strategy.name(),
        run_id.map(|i| format!(" — run {i}")).unwrap_or_default()
    );
    let _ = writeln!(o, "  method      {}", r.method);
    let _ = writeln!(o, "  source      {}", r.source);
    let _ = writeln!(
        o,
        "  batches     {} rows per transaction ({}), {} worker(s)",
        r.batch_size, r.batch_size_origin, r.workers
    );
    let _ = writeln!(
        o,
        "  rows        {} offered: {} inserted, {} updated, {} unchanged, {} bad{}",
        r.rows,
        r.inserted,
        r.updated,
        r.unchanged,
        r.bad_rows.len(),
        if r.skipped_bad > 0 {
            format!(" (skipped: {})", r.skipped_bad)
        } else {
            String::new()
        }
    );
    for b in r.bad_rows.iter().take(20) {
        let _ = writeln!(
            o,
            "  bad row     key {:?}: server error {}: {}",
            b.key, b.code, b.message
        );
    }
    if r.bad_rows.len() > 20 {
        let _ = writeln!(o, "  bad row     ... and {} more", r.bad_rows.len() - 20);
    }
    let _ = writeln!(
        o,
        "  time        {:.2} s: {:.0} rows/s, {:.2} MB/s of row data ({} bytes)",
        r.seconds, r.rows_per_s, r.mb_per_s, r.payload_bytes
    );
    let l = &r.batch_latency;
    let _ = writeln!(
        o,
        "  batch time  {} committed: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {} retried, {} split to isolate bad rows",
        r.batches, l.p50, l.p99, l.max, r.retries, r.splits
    );
    for e in &r.errors {
        let _ = writeln!(
            o,
            "  retried on  error {} ({}) x{}: {}",
            e.code, e.kind, e.count, e.example
        );
    }
    if r.other_warnings > 0 {
        let _ = writeln!(
            o,
            "  warnings    {} not about data (ignored)",
            r.other_warnings
        );
    }
    if let Some(p) = r.peak_rss_bytes {
        let _ = writeln!(
            o,
            "  memory      peak RSS {:.1} MiB, {:.1} MiB at the start (kernel VmHWM / VmRSS of the loadgate process, {})",
            mib(p),
            r.rss_start_bytes.map_or(0.0, mib),
            r.peak_rss_scope
        );
    }
    for n in &r.notes {
        let _ = writeln!(o, "  note        {n}");
    }
    match (&r.verification, &r.failure) {
        (Some(v), _) if v.ok => {
            let _ = writeln!(
                o,
                "  verified    target = source: {} rows, CRC32 sum {} on both sides (expected from {}{})",
                v.actual.rows,
                v.actual.crc_sum,
                v.expected_from,
                if v.excluded_keys > 0 {
                    format!("; {} skipped bad row(s) left out on both sides", v.excluded_keys)
                } else {
                    String::new()
                }
            );
        }
        (Some(v), _) => {
            let _ = writeln!(
                o,
                "  VERIFICATION FAILED: target has {} rows (CRC32 sum {}), source {} rows (CRC32 sum {})",
                v.actual.rows, v.actual.crc_sum, v.expected.rows, v.expected.crc_sum
            );
            if v.target_held_rows {
                let _ = writeln!(
                    o,
                    "              the target held rows before this sync (an earlier sync's): an upsert keeps rows the source lacks; --fresh starts from an empty target"
                );
            }
        }
        (None, Some(f)) => {
            let _ = writeln!(o, "  not verified: the sync did not complete: {f}");
        }
        (None, None) => {}
    }
    o
}

/// What the comparison table's columns mean (printed under the text table).
pub const TABLE_NOTE: &str = "rows/s and MB/s: rows and bytes of row values over the sync's wall time; peak RSS: the kernel's VmHWM of this process, reset before each strategy (after freed memory is handed back), so it includes what the process holds anyway; batch p99: BEGIN to COMMIT per batch (row-by-row: per row).";

/// What the columns mean with `--repeats`.
pub const REPEATS_NOTE: &str = "With repeats: rows/s, MB/s and batch p99 are medians over the runs that completed and verified; min–max is their range and the spread (max − min) / median; vs row-by-row divides medians; peak RSS is the largest; verified counts the runs.";

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

fn verified_ok(r: &SyncResult) -> bool {
    r.failure.is_none() && r.verification.as_ref().is_some_and(|v| v.ok)
}

/// The median rows/s of `strategy`'s runs that completed and verified.
pub fn median_rows_per_s(results: &[SyncResult], strategy: Strategy) -> Option<f64> {
    median(
        results
            .iter()
            .filter(|r| r.strategy == strategy && verified_ok(r))
            .map(|r| r.rows_per_s)
            .collect(),
    )
}

/// Several strategies side by side, in `order`, one line per strategy. With `rounds` > 1 each
/// line summarises that strategy's runs (medians and the spread). `markdown` gives a GitHub
/// table.
pub fn render_table(
    results: &[SyncResult],
    order: &[Strategy],
    rounds: usize,
    markdown: bool,
) -> String {
    let repeated = rounds > 1;
    let base = median_rows_per_s(results, Strategy::Row);
    let mut head = vec!["strategy", "rows/s"];
    if repeated {
        head = vec!["strategy", "rows/s (median)", "min–max (spread)"];
    }
    head.extend([
        "MB/s",
        "vs row-by-row",
        "peak RSS MiB",
        "batch p99 ms",
        "batch",
        "verified",
    ]);
    let rows: Vec<Vec<String>> = order
        .iter()
        .filter_map(|&st| {
            let runs: Vec<&SyncResult> = results.iter().filter(|r| r.strategy == st).collect();
            let first = *runs.first()?;
            let good: Vec<&SyncResult> = runs.iter().copied().filter(|r| verified_ok(r)).collect();
            // One round: that run's own figures, as measured (the verified column says whether
            // to trust them). Several: medians over the runs that completed and verified.
            let pool = if repeated { &good } else { &runs };
            let med = |f: &dyn Fn(&SyncResult) -> f64| median(pool.iter().map(|r| f(r)).collect());
            let rate = med(&|r| r.rows_per_s);
            let mut line = vec![st.name().to_string()];
            line.push(rate.map_or("-".into(), |x| format!("{x:.0}")));
            if repeated {
                let lo = good
                    .iter()
                    .map(|r| r.rows_per_s)
                    .fold(f64::INFINITY, f64::min);
                let hi = good.iter().map(|r| r.rows_per_s).fold(0.0, f64::max);
                line.push(match rate {
                    Some(m) if m > 0.0 => {
                        format!("{lo:.0}–{hi:.0} ({:.0} %)", (hi - lo) / m * 100.0)
                    }
                    _ => "-".into(),
                });
            }
            line.push(med(&|r| r.mb_per_s).map_or("-".into(), |x| format!("{x:.2}")));
            line.push(match (rate, base) {
                (Some(x), Some(b)) if b > 0.0 && (repeated || first.failure.is_none()) => {
                    format!("{:.1}x", x / b)
                }
                _ => "-".into(),
            });
            line.push(
                runs.iter()
                    .filter_map(|r| r.peak_rss_bytes)
                    .max()
                    .map_or("-".into(), |p| format!("{:.1}", mib(p))),
            );
            line.push(med(&|r| r.batch_latency.p99).map_or("-".into(), |x| format!("{x:.2}")));
            line.push(first.batch_size.to_string());
            let mismatched = runs
                .iter()
                .filter(|r| r.verification.as_ref().is_some_and(|v| !v.ok))
                .count();
            let failed = runs.len() - good.len() - mismatched;
            line.push(if !repeated {
                match (&first.verification, &first.failure) {
                    (Some(v), _) if v.ok => "yes".into(),
                    (Some(_), _) => "MISMATCH".into(),
                    (None, Some(_)) => "failed".into(),
                    (None, None) => "-".into(),
                }
            } else if good.len() == runs.len() {
                format!("yes ({}/{})", good.len(), runs.len())
            } else {
                let mut why = Vec::new();
                if mismatched > 0 {
                    why.push(format!("{mismatched} MISMATCH"));
                }
                if failed > 0 {
                    why.push(format!("{failed} failed"));
                }
                format!("{}/{} ({})", good.len(), runs.len(), why.join(", "))
            });
            Some(line)
        })
        .collect();
    let mut o = String::new();
    if markdown {
        let _ = writeln!(o, "| {} |", head.join(" | "));
        let _ = writeln!(
            o,
            "|{}",
            head.iter()
                .enumerate()
                .map(|(i, _)| if i == 0 { "---|" } else { "---:|" })
                .collect::<String>()
        );
        for r in &rows {
            let _ = writeln!(o, "| {} |", r.join(" | "));
        }
    } else {
        let widths: Vec<usize> = (0..head.len())
            .map(|i| {
                rows.iter()
                    .map(|r| r[i].chars().count())
                    .chain([head[i].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let pad = " ".repeat(widths[i].saturating_sub(c.chars().count()));
                    if i == 0 {
                        format!("{c}{pad}")
                    } else {
                        format!("{pad}{c}")
                    }
                })
                .collect::<Vec<_>>()
                .join("  ")
        };
        let _ = writeln!(o, "{}", line(head.to_vec()));
        for r in &rows {
            let _ = writeln!(o, "{}", line(r.iter().map(String::as_str).collect()));
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bulk::gen::Checksum;
    use crate::bulk::sync::Verification;
    use crate::record::LatencyStats;

    fn run(strategy: Strategy, rows_per_s: f64, ok: Option<bool>) -> SyncResult {
        let check = Checksum {
            rows: 10,
            crc_sum: 1,
        };
        SyncResult {
            strategy,
            round: 1,
            method: "m".into(),
            source: "s".into(),
            table: "t".into(),
            workers: 2,
            batch_size: 100,
            batch_size_origin: "given".into(),
            max_allowed_packet: 0,
            rows: 10,
            inserted: 10,
            updated: 0,
            unchanged: 0,
            bad_rows: Vec::new(),
            skipped_bad: 0,
            batches: 1,
            statements: 1,
            retries: 0,
            splits: 0,
            errors: Vec::new(),
            other_warnings: 0,
            seconds: 1.0,
            rows_per_s,
            payload_bytes: 0,
            mb_per_s: rows_per_s / 1000.0,
            peak_rss_bytes: Some((rows_per_s as u64) << 10),
            rss_start_bytes: None,
            peak_rss_scope: String::new(),
            batch_latency: LatencyStats {
                p99: rows_per_s / 100.0,
                ..LatencyStats::default()
            },
            verification: ok.map(|ok| Verification {
                ok,
                expected: check,
                actual: check,
                excluded_keys: 0,
                expected_from: "the client".into(),
                seconds: 0.0,
                target_held_rows: false,
            }),
            notes: Vec::new(),
            failure: (ok != Some(true)).then(|| "broke".to_string()),
            interrupted: false,
            histogram: None,
        }
    }

    #[test]
    fn repeated_runs_are_summarised_by_median_and_spread_over_verified_runs() {
        let rs = vec![
            run(Strategy::Row, 1000.0, Some(true)),
            run(Strategy::Values, 120_000.0, Some(true)),
            run(Strategy::LoadData, 50_000.0, None),
            run(Strategy::Row, 3000.0, Some(true)),
            run(Strategy::LoadData, 110_000.0, Some(true)),
            run(Strategy::Values, 90_000.0, Some(true)),
            run(Strategy::LoadData, 130_000.0, Some(true)),
            run(Strategy::Values, 100_000.0, Some(true)),
            run(Strategy::Row, 2000.0, Some(true)),
        ];
        let order = [Strategy::Row, Strategy::Values, Strategy::LoadData];
        let t = render_table(&rs, &order, 3, true);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[0].starts_with("| strategy | rows/s (median) | min–max (spread) |"),
            "{t}"
        );
        assert_eq!(lines.len(), 5, "{t}");
        assert!(
            lines[2].starts_with("| row | 2000 | 1000–3000 (100 %) |"),
            "{t}"
        );
        assert!(
            lines[3].starts_with("| values | 100000 | 90000–120000 (30 %) | 100.00 | 50.0x |"),
            "{t}"
        );
        assert!(lines[3].ends_with("| yes (3/3) |"), "{t}");
        // The failed run is left out of the median, and counted.
        assert!(
            lines[4].starts_with("| load-data | 120000 | 110000–130000 (17 %) |"),
            "{t}"
        );
        assert!(lines[4].ends_with("| 2/3 (1 failed) |"), "{t}");
        assert_eq!(median_rows_per_s(&rs, Strategy::LoadData), Some(120_000.0));
    }

    #[test]
    fn a_single_round_keeps_one_plain_line_per_strategy() {
        let rs = vec![
            run(Strategy::Row, 1000.0, Some(true)),
            run(Strategy::Values, 20_000.0, Some(false)),
        ];
        let t = render_table(&rs, &[Strategy::Row, Strategy::Values], 1, true);
        assert!(
            t.starts_with("| strategy | rows/s | MB/s | vs row-by-row |"),
            "{t}"
        );
        assert!(t.contains("| values | 20000 | 20.00 | - |"), "{t}");
        assert!(t.contains("| MISMATCH |"), "{t}");
        let text = render_table(&rs, &[Strategy::Row, Strategy::Values], 1, false);
        assert!(text.lines().nth(1).unwrap().starts_with("row "), "{text}");
    }
}
