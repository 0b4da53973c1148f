//! The regression commands' text for people: a run set of trials, baselines (`baseline list`,
//! `baseline show`), a workload's history with its change points, and a calibration. Their JSON is the serialized
//! value itself; the gate's report is in [`super::gate`].

use std::fmt::Write;

use crate::record::RunRecord;
use crate::regress::baseline::{threads, values};
use crate::regress::calibrate::{CalibrationReport, ListedCalibration};
use crate::regress::history::History;
use crate::regress::{comparable_settings, mean_of, Metric, RunValues, ERROR_RATE_FLOOR};
use crate::store::Baseline;
use crate::util::pct;
use crate::util::rfc3339;

/// `baseline list` as a table.
pub fn baseline_list(list: &[Baseline]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<20} {:<24} {:<20} {:>7} {:>6} {:>10} {:>9}  {:<16} set",
        "name", "saved", "workload", "threads", "runs", "tps", "p99 ms", "testbed"
    );
    for b in list {
        let v = values(b);
        let _ = writeln!(
            o,
            "{:<20} {:<24} {:<20} {:>7} {:>6} {:>10.1} {:>9.2}  {:<16} {}",
            b.name,
            rfc3339(b.created_at_ms),
            b.workload,
            threads(b),
            b.runs.len(),
            mean_of(&v, Metric::Tps),
            mean_of(&v, Metric::P99),
            b.testbed.fingerprint,
            b.set_id
        );
    }
    o
}

/// `baseline show NAME`.
pub fn baseline_show(b: &Baseline) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "baseline {}: saved {}", b.name, rfc3339(b.created_at_ms));
    let _ = writeln!(o, "  set:       {}", b.set_id);
    let _ = writeln!(o, "  workload:  {} (hash {})", b.workload, b.workload_hash);
    let _ = writeln!(o, "  target:    {} — server {}", b.target, b.server_version);
    let t = &b.testbed;
    let _ = writeln!(
        o,
        "  testbed:   {} — {}, {} cores, {} GiB, kernel {}, server config {}",
        t.fingerprint,
        t.cpu_model,
        t.cores,
        t.memory_bytes >> 30,
        t.kernel,
        t.server_config_hash
    );
    if let Some(c) = &b.git_commit {
        let _ = writeln!(o, "  commit:    {c}");
    }
    let settings: Vec<String> = comparable_settings(&b.settings_as_ran())
        .into_iter()
        .map(|(k, v)| format!("{}={}", k.trim_start_matches("vars."), v))
        .collect();
    let _ = writeln!(o, "  settings:  {}", settings.join(" "));
    let v = values(b);
    let _ = writeln!(
        o,
        "  mean:      {} tps, p99 {} ms, error rate {}",
        Metric::Tps.format(mean_of(&v, Metric::Tps)),
        Metric::P99.format(mean_of(&v, Metric::P99)),
        Metric::ErrorRate.format(mean_of(&v, Metric::ErrorRate))
    );
    let _ = writeln!(
        o,
        "\n  {:>6}  {:<24} {:>10} {:>9} {:>12} {:>8}",
        "run", "started", "tps", "p99 ms", "transactions", "errors"
    );
    for r in &b.runs {
        let _ = writeln!(
            o,
            "  {:>6}  {:<24} {:>10.1} {:>9.2} {:>12} {:>8}",
            r.run_id,
            rfc3339(r.started_at_ms),
            r.tps,
            r.p99_corrected_ms,
            r.transactions,
            r.errors
        );
    }
    o
}

/// The history as text.
pub fn history(h: &History) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "history of {}: {} over {} series (change points: E-divisive, min segment {}, p ≤ {})",
        h.workload,
        h.metric.title(),
        h.series.len(),
        h.min_segment,
        h.significance
    );
    let (common, distinct) = split_settings(h);
    if !common.is_empty() {
        // Shown once as a count: the runs themselves (`show RUN`) list them.
        let _ = writeln!(
            o,
            "{} comparable setting(s) the same in every series (see `loadgate show RUN`); below, the ones that differ",
            common.len()
        );
    }
    for (s, own) in h.series.iter().zip(distinct) {
        let _ = writeln!(
            o,
            "\n{}testbed {}, settings {} ({} runs){}",
            s.side
                .as_deref()
                .map(|side| format!("A/B side {side}, "))
                .unwrap_or_default(),
            s.testbed,
            s.settings_key,
            s.points.len(),
            if own.is_empty() {
                String::new()
            } else {
                format!("\n  {}", own.join(" "))
            }
        );
        match &s.note {
            Some(n) => {
                let _ = writeln!(o, "  no change-point search: {n}");
            }
            None if s.change_points.is_empty() => {
                let _ = writeln!(o, "  no change point");
            }
            None => {
                for c in &s.change_points {
                    let _ = writeln!(
                        o,
                        "  change point before run {} ({}): {} → {} ({}), p = {:.3}",
                        c.run_id,
                        c.started_at,
                        h.metric.format(c.mean_before),
                        h.metric.format(c.mean_after),
                        pct(c.relative_change),
                        c.p_value
                    );
                }
            }
        }
        let _ = writeln!(
            o,
            "  {:>6}  {:<24} {:<24} {:>12}",
            "run",
            "started",
            "set",
            h.metric.name()
        );
        for (i, p) in s.points.iter().enumerate() {
            let mark = if s.change_points.iter().any(|c| c.index == i) {
                "  ◆ change"
            } else {
                ""
            };
            let _ = writeln!(
                o,
                "  {:>6}  {:<24} {:<24} {:>12}{mark}",
                p.run_id,
                p.started_at,
                p.set_id.as_deref().unwrap_or("-"),
                h.metric.format(p.value)
            );
        }
    }
    o
}

/// The series' settings split into those every series shares (printed once) and, per series,
/// the ones that tell it from the others: a history of one series shows its settings once.
fn split_settings(h: &History) -> (Vec<&str>, Vec<Vec<&str>>) {
    let shared = |kv: &str| h.series.iter().all(|s| s.settings.iter().any(|x| x == kv));
    let common: Vec<&str> = h
        .series
        .first()
        .map(|s| {
            s.settings
                .iter()
                .map(String::as_str)
                .filter(|kv| shared(kv))
                .collect()
        })
        .unwrap_or_default();
    let distinct = h
        .series
        .iter()
        .map(|s| {
            s.settings
                .iter()
                .map(String::as_str)
                .filter(|kv| !common.contains(kv))
                .collect()
        })
        .collect();
    (common, distinct)
}

pub fn calibration(r: &CalibrationReport) -> String {
    let c = &r.calibration;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "calibration {} of {} on testbed {}: {} A/A trials (run set {})",
        c.id.unwrap_or(0),
        c.workload,
        c.testbed_fingerprint,
        c.trials,
        c.set_id
    );
    let _ = writeln!(
        o,
        "  run-to-run noise (sd of successive log differences / √2):"
    );
    let _ = writeln!(
        o,
        "    tps         {:>6.2} %   → margin {:.1} %",
        c.noise_tps * 100.0,
        r.margins[0] * 100.0
    );
    let _ = writeln!(
        o,
        "    p99         {:>6.2} %   → margin {:.1} %",
        c.noise_p99 * 100.0,
        r.margins[1] * 100.0
    );
    match c.noise_error_rate {
        Some(e) => {
            let _ = writeln!(
                o,
                "    error rate  {:>6.2} %   → margin {:.1} %",
                e * 100.0,
                r.margins[2] * 100.0
            );
        }
        None => {
            let _ = writeln!(
                o,
                "    error rate  negligible (below {} % of transactions)",
                ERROR_RATE_FLOOR * 100.0
            );
        }
    }
    for (m, name) in [
        (Metric::RowsPerTxn, "rows/txn   "),
        (Metric::PagesPerTxn, "pages/txn  "),
        (Metric::ClientCpuPerTxn, "client CPU "),
        (Metric::ServerCpuPerTxn, "server CPU "),
    ] {
        let used = r.margins_used.iter().find(|u| u.metric == m);
        match (c.noise_of(m), used) {
            (Some(n), Some(u)) => {
                let _ = writeln!(
                    o,
                    "    {name} {:>6.2} %   → margin {:.1} %",
                    n * 100.0,
                    u.margin * 100.0
                );
            }
            _ => {
                let why = match m {
                    Metric::ServerCpuPerTxn => "only for a server loadgate started itself",
                    Metric::ClientCpuPerTxn => "not read on every trial",
                    _ => "the server's counters were not read on every trial",
                };
                let _ = writeln!(o, "    {name} not measured ({why})");
            }
        }
    }
    for m in r.margins_used.iter().filter(|m| m.noise_floor.is_some()) {
        let _ = writeln!(
            o,
            "  {} margin capped at {:.0} %: this testbed is too noisy to detect less than {:.1} %",
            m.metric.name().replace('_', " "),
            m.margin * 100.0,
            m.noise_floor.unwrap_or(0.0) * 100.0
        );
    }
    if let Some(p) = r.pairs_for_5pct {
        let _ = writeln!(
            o,
            "  to catch a 5 % throughput drop with 90 % power at α = 0.01: about {p} A/B pairs (or trials per side against a baseline)"
        );
    }
    match &r.not_applied {
        None => {
            let _ = writeln!(
                o,
                "  compare, ab and gate on this testbed and workload use these margins until {} (--no-calibration to ignore)",
                r.expires_at
            );
        }
        Some(why) => {
            let _ = writeln!(o, "  {why}");
        }
    }
    o
}

/// `calibrate list`: one line per calibration, newest first.
pub fn calibration_list(list: &[ListedCalibration]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:>4}  {:<20}  {:<24} {:<18} {:>6} {:>9} {:>9}  status",
        "id", "created", "workload", "testbed", "trials", "noise tps", "noise p99"
    );
    for l in list {
        let c = &l.calibration;
        let _ = writeln!(
            o,
            "{:>4}  {:<20}  {:<24} {:<18} {:>6} {:>7.2} % {:>7.2} %  {}",
            c.id.unwrap_or(0),
            crate::util::rfc3339(c.created_at_ms),
            c.workload,
            c.testbed_fingerprint,
            c.trials,
            c.noise_tps * 100.0,
            c.noise_p99 * 100.0,
            l.status
        );
    }
    o
}

/// The text summary of a run set: one line per trial, then mean and spread.
pub fn trial_set(set_id: &str, recs: &[RunRecord]) -> String {
    let mut o = String::new();
    let vals: Vec<RunValues> = recs.iter().filter_map(RunValues::of_record).collect();
    let _ = writeln!(o, "run set {set_id}: {} trial(s)", recs.len());
    let _ = writeln!(
        o,
        "  {:>6} {:>10} {:>9} {:>12} {:>8}",
        "run", "tps", "p99 ms", "transactions", "errors"
    );
    for v in &vals {
        let _ = writeln!(
            o,
            "  {:>6} {:>10.1} {:>9.2} {:>12} {:>8}",
            v.run_id, v.tps, v.p99_ms, v.transactions, v.errors
        );
    }
    if vals.len() >= 2 {
        let spread = |m: Metric| -> String {
            let xs: Vec<f64> = vals.iter().map(|v| v.get(m)).collect();
            let mean = xs.iter().sum::<f64>() / xs.len() as f64;
            let sd =
                (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt();
            format!(
                "{} ± {} ({:.1} %)",
                m.format(mean),
                m.format(sd),
                if mean > 0.0 { 100.0 * sd / mean } else { 0.0 }
            )
        };
        let _ = writeln!(
            o,
            "  mean ± sd: tps {}, p99 {} ms",
            spread(Metric::Tps),
            spread(Metric::P99)
        );
    }
    let _ = writeln!(
        o,
        "Save it as a baseline: loadgate baseline save NAME --run-set {set_id}"
    );
    o
}
