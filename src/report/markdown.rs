//! The verdict as GitHub-flavoured Markdown, for a pull-request comment or a CI step summary
//! (`$GITHUB_STEP_SUMMARY`): a headline with the outcome, one table per comparison, the method
//! and notes folded away in `<details>`.

use std::fmt::Write;

use super::gate::{ci_text, opt_pct, p_text, verdict_detail};
use crate::record::gate::Metric;
use crate::record::gate::{GateReport, MetricResult, Outcome, ReportKind};
use crate::stats::Verdict;
use crate::util::pct;

/// Escapes the characters that would break a table cell.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

fn verdict_cell(m: &MetricResult) -> String {
    match m.verdict {
        Verdict::Regressed => "❌ **regressed**".into(),
        Verdict::Improved | Verdict::Unchanged => format!("✅ {}", m.label),
        Verdict::Inconclusive => "⚠️ inconclusive".into(),
    }
}

pub fn render(r: &GateReport) -> String {
    let mut o = String::new();
    let icon = match r.outcome {
        Outcome::Pass => "✅",
        Outcome::Regression => "❌",
        Outcome::Inconclusive => "⚠️",
    };
    let _ = writeln!(
        o,
        "### {icon} loadgate {} — {}\n",
        match r.kind {
            ReportKind::Baseline => "gate (baseline)",
            ReportKind::Ab => "gate (A/B)",
        },
        cell(&r.headline())
    );
    let _ = writeln!(
        o,
        "Outcome **{}** (exit {}). Margins: {}; one-sided α = {}{}.\n",
        r.outcome.as_str(),
        r.exit_code,
        cell(&super::gate::margins_text(r)),
        r.alpha,
        r.elapsed_s
            .map(|e| format!(", took {e:.0} s"))
            .unwrap_or_default()
    );
    if let Some(d) = r.design {
        let _ = writeln!(o, "Design: {}.\n", cell(d.title()));
    }
    if r.metrics_judged != crate::record::gate::MetricSet::DEFAULT {
        let _ = writeln!(
            o,
            "Judged: {} (`--metrics`); the other metrics are shown, not judged.\n",
            r.metrics_judged.names().join(", ")
        );
    }
    if let Some(p) = super::gate::power_line(r) {
        let _ = writeln!(o, "Power: {}.\n", cell(&p));
    }
    if !r.mismatches.is_empty() {
        let _ = writeln!(
            o,
            "> **Mismatch{}:** {}\n",
            if r.mismatch_allowed {
                " (allowed with `--allow-mismatch`)"
            } else {
                ""
            },
            cell(&r.mismatches.join("; "))
        );
    }
    if r.kind == ReportKind::Ab && r.groups.len() > 1 {
        let g0 = &r.groups[0];
        let _ = writeln!(
            o,
            "**{} vs {}** — change of B relative to A\n",
            cell(&g0.a.label),
            cell(&g0.b.label)
        );
        let _ = writeln!(
            o,
            "| workload, threads | A tps | B tps | change | A p99 ms | B p99 ms | change | {} | verdict |",
            super::gate::unit_of(r)
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---:|---:|---:|---:|---|");
        for g in &r.groups {
            let get = |m: Metric| g.metrics.iter().find(|x| x.metric == m);
            let (t, p) = (get(Metric::Tps), get(Metric::P99));
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                cell(&g.title),
                t.map_or("—".into(), |m| Metric::Tps.format(m.a)),
                t.map_or("—".into(), |m| Metric::Tps.format(m.b)),
                t.and_then(|m| m.relative_change).map_or("—".into(), pct),
                p.map_or("—".into(), |m| Metric::P99.format(m.a)),
                p.map_or("—".into(), |m| Metric::P99.format(m.b)),
                p.and_then(|m| m.relative_change).map_or("—".into(), pct),
                g.pairs.map_or("—".into(), |n| n.to_string()),
                crate::regress::Outcome::of(g.metrics.iter().map(|m| &m.verdict)).as_str()
            );
        }
        let _ = writeln!(o);
    }
    for g in &r.groups {
        let _ = writeln!(o, "#### {}\n", cell(&g.title));
        let _ = writeln!(
            o,
            "A = **{}** ({} runs), B = **{}** ({} runs){}{}\n",
            cell(&g.a.label),
            g.a.run_ids.len(),
            cell(&g.b.label),
            g.b.run_ids.len(),
            if g.b.differs_by.is_empty() {
                String::new()
            } else {
                format!("; B differs by {}", cell(&g.b.differs_by.join(", ")))
            },
            g.stopped
                .as_deref()
                .map(|s| format!("; {s}"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            o,
            "| metric | A | B | change | {:.0} % CI | p (one-sided) | MDE | margin | verdict |",
            (1.0 - 2.0 * r.alpha) * 100.0
        );
        let _ = writeln!(o, "|---|---:|---:|---:|---|---|---:|---:|---|");
        for m in &g.metrics {
            let detail = verdict_detail(m, r.kind);
            let change = m.relative_change.map_or("—".into(), pct);
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} | {} | {} | {} | {:.1} % | {}{} |",
                m.metric.title(),
                m.metric.format(m.a),
                m.metric.format(m.b),
                if m.verdict == Verdict::Regressed {
                    format!("**{change}**")
                } else {
                    change
                },
                ci_text(m),
                p_text(m),
                opt_pct(m.mde),
                m.margin * 100.0,
                verdict_cell(m),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!("<br><sub>{}</sub>", cell(&detail))
                }
            );
        }
        let _ = writeln!(o);
    }
    let _ = writeln!(o, "<details><summary>Method and notes</summary>\n");
    let _ = writeln!(o, "- {}", cell(&r.method));
    let _ = writeln!(
        o,
        "- Regressed = significant after Holm and the interval reaches past the margin; unchanged = the interval (A/B: a regression of the margin) is excluded; MDE = the change these runs catch with {:.0} % power.",
        r.power * 100.0
    );
    let _ = writeln!(o, "- Testbed `{}`.", r.testbed);
    for n in &r.notes {
        let _ = writeln!(o, "- {}", cell(n));
    }
    let _ = writeln!(
        o,
        "\n</details>\n\n<sub>loadgate {} · {}</sub>",
        r.tool_version, r.generated_at
    );
    o
}
