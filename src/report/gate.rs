//! The verdict of `compare`, `ab` and `gate` for the terminal ([`text`]) and for machines
//! ([`json`], schema `schema/gate-v1.json`). Markdown and JUnit are in their own files.

use std::fmt::Write;

use crate::record::gate::Metric;
use crate::record::gate::{GateReport, Group, MarginSource, MetricResult, ReportKind};
use crate::stats::Verdict;
use crate::util::pct;

/// `[−14.0 %, −7.7 %]`.
pub fn ci_text(m: &MetricResult) -> String {
    match &m.ci {
        Some(ci) => format!("[{:+.1}, {:+.1}] %", ci.low * 100.0, ci.high * 100.0),
        None => "—".into(),
    }
}

/// The p-value as printed, with what it was compared with.
pub fn p_text(m: &MetricResult) -> String {
    match (m.p_value, m.p_adjusted, m.look_level) {
        (Some(p), Some(adj), _) => format!("{} (Holm {})", fmt_p(p), fmt_p(adj)),
        (Some(p), None, Some(level)) => format!("{} (bound {})", fmt_p(p), fmt_p(level)),
        (Some(p), None, None) => fmt_p(p),
        _ => "—".into(),
    }
}

pub fn fmt_p(p: f64) -> String {
    if p < 0.0001 {
        "<0.0001".into()
    } else {
        format!("{p:.4}")
    }
}

pub fn opt_pct(v: Option<f64>) -> String {
    v.map_or("—".into(), |v| format!("{:.1} %", v * 100.0))
}

pub fn verdict_word(m: &MetricResult) -> String {
    match m.verdict {
        Verdict::Regressed => "REGRESSED".into(),
        _ => m.label.clone(),
    }
}

/// What an A/B job counts: pairs of trials (ABBA), or trials holding both sides (same seconds).
pub fn unit_of(r: &GateReport) -> &'static str {
    match r.design {
        Some(crate::record::gate::Design::SameSeconds) => "trials",
        _ => "pairs",
    }
}

/// The requested MDE and time budget, if any: `MDE requested 5.0 % (90 % power); time
/// budget 600 s`.
pub fn power_line(r: &GateReport) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(m) = r.requested_mde {
        parts.push(format!(
            "MDE requested {:.1} % ({:.0} % power); each metric's MDE column is the change it could have detected",
            m * 100.0,
            r.power * 100.0
        ));
    }
    if let Some(t) = r.max_time_s {
        parts.push(format!("time budget {t} s"));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The extra words after a verdict: why it was not tested, how many runs would tell.
pub fn verdict_detail(m: &MetricResult, kind: ReportKind) -> String {
    let mut parts = Vec::new();
    if let Some(n) = m.needed {
        let more = m
            .more_pairs
            .map(|k| format!(", {k} more than run"))
            .unwrap_or_default();
        parts.push(format!(
            "~{n} {} to resolve a {:.1} % change at the noise measured{more}",
            if kind == ReportKind::Ab {
                "pairs"
            } else {
                "trials per side"
            },
            m.needed_for.unwrap_or(m.margin) * 100.0
        ));
    }
    if let Some(note) = &m.note {
        parts.push(note.clone());
    }
    parts.join("; ")
}

fn group_head(o: &mut String, g: &Group, kind: ReportKind) {
    let _ = writeln!(o, "\n{}", g.title);
    let side = |s: &crate::record::gate::Side| {
        format!(
            "{}{} run(s){}",
            if s.label == "A" || s.label == "B" {
                String::new()
            } else {
                format!("{}: ", s.label)
            },
            s.run_ids.len(),
            s.set_id
                .as_deref()
                .map(|x| format!(", set {x}"))
                .unwrap_or_default()
        )
    };
    let _ = writeln!(o, "  A: {}\n  B: {}", side(&g.a), side(&g.b));
    if !g.b.differs_by.is_empty() {
        let _ = writeln!(
            o,
            "  {}B differs by: {}",
            if kind == ReportKind::Ab {
                ""
            } else {
                "MISMATCH: "
            },
            g.b.differs_by.join(", ")
        );
    }
    if let Some(s) = &g.stopped {
        let _ = writeln!(o, "  {s}");
    }
}

/// The margin each metric was judged with and where it came from: `tps 3.0 % (requested),
/// p99 20.0 % (calibration 4 of DATE; capped: this testbed is too noisy to detect less than
/// 49.2 %)`, then why a stored calibration was not applied, if it was not.
pub fn margins_text(r: &GateReport) -> String {
    let cal = r.calibration.as_ref().map(|c| {
        format!(
            "calibration {} of {}",
            c.id,
            c.created_at.get(..10).unwrap_or(&c.created_at)
        )
    });
    let mut parts: Vec<String> = r
        .margins
        .iter()
        .map(|m| {
            let source = match (m.source, &cal) {
                (MarginSource::Calibration, Some(c)) => c.clone(),
                _ => "requested".to_string(),
            };
            let cap = m
                .noise_floor
                .map(|f| {
                    format!(
                        "; capped: this testbed is too noisy to detect less than {:.1} %",
                        f * 100.0
                    )
                })
                .unwrap_or_default();
            format!(
                "{} {:.1} % ({source}{cap})",
                m.metric.name().replace('_', " "),
                m.margin * 100.0
            )
        })
        .collect();
    if parts.is_empty() {
        parts.push(format!("{:.1} % (requested)", r.margin * 100.0));
    }
    let mut out = parts.join(", ");
    if let Some(why) = &r.calibration_not_applied {
        out.push_str(&format!("; {why}"));
    }
    out
}

/// The terminal report.
pub fn text(r: &GateReport) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "loadgate {} — {} (exit {})",
        match r.kind {
            ReportKind::Baseline => "compare",
            ReportKind::Ab => "A/B",
        },
        r.headline(),
        r.exit_code
    );
    let _ = writeln!(o, "method:  {}", r.method);
    if let Some(d) = r.design {
        let _ = writeln!(o, "design:  {}", d.title());
    }
    if r.metrics_judged != crate::record::gate::MetricSet::DEFAULT {
        let _ = writeln!(
            o,
            "judged:  {} (--metrics); the other metrics are shown, not judged",
            r.metrics_judged.names().join(", ")
        );
    }
    let _ = writeln!(
        o,
        "verdict: regressed = significant after Holm and the {:.0} % interval reaches past the margin (power {:.0} % for the MDE)",
        (1.0 - 2.0 * r.alpha) * 100.0,
        r.power * 100.0
    );
    let _ = writeln!(o, "margins: {}", margins_text(r));
    if let Some(p) = power_line(r) {
        let _ = writeln!(o, "power:   {p}");
    }
    let _ = write!(o, "testbed: {}", r.testbed);
    if let Some(e) = r.elapsed_s {
        let _ = write!(o, "; took {e:.1} s");
    }
    let _ = writeln!(o);
    if !r.mismatches.is_empty() {
        let _ = writeln!(
            o,
            "MISMATCH{}: {}",
            if r.mismatch_allowed {
                " (allowed with --allow-mismatch)"
            } else {
                ""
            },
            r.mismatches.join("; ")
        );
    }
    if r.kind == ReportKind::Ab && !r.groups.is_empty() {
        overview(&mut o, r);
    }
    for g in &r.groups {
        group_head(&mut o, g, r.kind);
        let _ = writeln!(
            o,
            "  {:<29} {:>11} {:>11} {:>9}  {:<18} {:<24} {:>7} {:>7}  verdict",
            "metric", "A", "B", "change", "CI", "p (one-sided)", "MDE", "margin"
        );
        for m in &g.metrics {
            let detail = verdict_detail(m, r.kind);
            let _ = writeln!(
                o,
                "  {:<29} {:>11} {:>11} {:>9}  {:<18} {:<24} {:>7} {:>7}  {}{}",
                m.metric.title(),
                m.metric.format(m.a),
                m.metric.format(m.b),
                m.relative_change.map_or("—".into(), pct),
                ci_text(m),
                p_text(m),
                opt_pct(m.mde),
                format!("{:.1} %", m.margin * 100.0),
                verdict_word(m),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(" ({detail})")
                }
            );
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(o, "\nnotes:");
        for n in &r.notes {
            let _ = writeln!(o, "  - {n}");
        }
    }
    o
}

/// "direct vs via proxy": one line per workload and thread count with A, B and the change.
fn overview(o: &mut String, r: &GateReport) {
    let g0 = &r.groups[0];
    let _ = writeln!(
        o,
        "\n{} vs {} — change of B relative to A",
        g0.a.label, g0.b.label
    );
    let _ = writeln!(
        o,
        "  {:<36} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9}  {:>5}  verdict",
        "workload, threads",
        "A tps",
        "B tps",
        "change",
        "A p99",
        "B p99",
        "change",
        unit_of(r)
    );
    for g in &r.groups {
        let get = |m: Metric| g.metrics.iter().find(|x| x.metric == m);
        let (t, p) = (get(Metric::Tps), get(Metric::P99));
        let worst = crate::regress::Outcome::of(g.metrics.iter().map(|m| &m.verdict));
        let _ = writeln!(
            o,
            "  {:<36} {:>10} {:>10} {:>9} {:>10} {:>10} {:>9}  {:>5}  {}",
            g.title,
            t.map_or("—".into(), |m| Metric::Tps.format(m.a)),
            t.map_or("—".into(), |m| Metric::Tps.format(m.b)),
            t.and_then(|m| m.relative_change).map_or("—".into(), pct),
            p.map_or("—".into(), |m| Metric::P99.format(m.a)),
            p.map_or("—".into(), |m| Metric::P99.format(m.b)),
            p.and_then(|m| m.relative_change).map_or("—".into(), pct),
            g.pairs.map_or("—".into(), |n| n.to_string()),
            worst.as_str()
        );
    }
}

/// The JSON report (schema `schema/gate-v1.json`).
pub fn json(r: &GateReport) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default() + "\n"
}
