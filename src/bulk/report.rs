//! Bulk sync output: one strategy in detail, several as one comparison table (text or
//! Markdown).

use super::sync::SyncResult;
use super::Strategy;
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
        }
        (None, Some(f)) => {
            let _ = writeln!(o, "  not verified: the sync did not complete: {f}");
        }
        (None, None) => {}
    }
    o
}

/// Several strategies side by side. `markdown` gives a GitHub table.
pub fn render_table(results: &[SyncResult], markdown: bool) -> String {
    let base = results
        .iter()
        .find(|r| r.strategy == Strategy::Row && r.failure.is_none())
        .map(|r| r.rows_per_s);
    let head = [
        "strategy",
        "rows/s",
        "MB/s",
        "vs row-by-row",
        "peak RSS MiB",
        "batch p99 ms",
        "batch",
        "verified",
    ];
    let rows: Vec<[String; 8]> = results
        .iter()
        .map(|r| {
            [
                r.strategy.name().to_string(),
                format!("{:.0}", r.rows_per_s),
                format!("{:.2}", r.mb_per_s),
                match base {
                    Some(b) if b > 0.0 && r.failure.is_none() => {
                        format!("{:.1}x", r.rows_per_s / b)
                    }
                    _ => "-".into(),
                },
                r.peak_rss_bytes
                    .map_or("-".into(), |p| format!("{:.1}", mib(p))),
                format!("{:.2}", r.batch_latency.p99),
                r.batch_size.to_string(),
                match (&r.verification, &r.failure) {
                    (Some(v), _) if v.ok => "yes".into(),
                    (Some(_), _) => "MISMATCH".into(),
                    (None, Some(_)) => "failed".into(),
                    (None, None) => "-".into(),
                },
            ]
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
                    .map(|r| r[i].len())
                    .chain([head[i].len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<&str>| {
            cells
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i == 0 {
                        format!("{c:<w$}", w = widths[i])
                    } else {
                        format!("{c:>w$}", w = widths[i])
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
