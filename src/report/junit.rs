//! The verdict as JUnit XML for CI test reporters: one `<testsuite>` per comparison (workload
//! and thread count), one `<testcase>` per metric. A regressed metric is a `<failure>`, an
//! inconclusive one `<skipped>` (the exit code 3 still fails the job), unchanged and improved
//! ones pass; the numbers are in each case's `<system-out>`.

use std::fmt::Write;

use super::gate::{ci_text, opt_pct, p_text, verdict_detail};
use crate::record::gate::GateReport;
use crate::stats::Verdict;
use crate::util::pct;

/// Escapes text for XML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {}
            c => o.push(c),
        }
    }
    o
}

pub fn render(r: &GateReport) -> String {
    let mut o = String::new();
    let count = |v: Verdict| {
        r.groups
            .iter()
            .flat_map(|g| &g.metrics)
            .filter(|m| m.verdict == v)
            .count()
    };
    let tests: usize = r.groups.iter().map(|g| g.metrics.len()).sum();
    let time = r.elapsed_s.unwrap_or(0.0);
    let _ = writeln!(o, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        o,
        r#"<testsuites name="loadgate gate" tests="{tests}" failures="{}" errors="0" skipped="{}" time="{time:.3}">"#,
        count(Verdict::Regressed),
        count(Verdict::Inconclusive)
    );
    for g in &r.groups {
        let fails = g
            .metrics
            .iter()
            .filter(|m| m.verdict == Verdict::Regressed)
            .count();
        let skips = g
            .metrics
            .iter()
            .filter(|m| m.verdict == Verdict::Inconclusive)
            .count();
        let _ = writeln!(
            o,
            r#"  <testsuite name="{}" tests="{}" failures="{fails}" errors="0" skipped="{skips}" time="{:.3}" timestamp="{}">"#,
            escape(&g.title),
            g.metrics.len(),
            time / r.groups.len().max(1) as f64,
            escape(&r.generated_at)
        );
        let _ = writeln!(o, "    <properties>");
        // The design only for A/B jobs (a comparison with a baseline has none).
        let design = r.design.map(|d| ("design", d.name().to_string()));
        for (k, v) in [
            Some(("outcome", r.outcome.as_str().to_string())),
            Some(("method", r.method.clone())),
            design,
            Some(("alpha", r.alpha.to_string())),
            Some(("margin", r.margin.to_string())),
            Some(("testbed", r.testbed.clone())),
            Some((
                "requested_mde",
                r.requested_mde.map_or(String::new(), |m| m.to_string()),
            )),
            Some(("stopped", g.stopped.clone().unwrap_or_default())),
            Some(("a", g.a.label.clone())),
            Some(("b", g.b.label.clone())),
        ]
        .into_iter()
        .flatten()
        {
            let _ = writeln!(o, r#"      <property name="{k}" value="{}"/>"#, escape(&v));
        }
        let _ = writeln!(o, "    </properties>");
        let classname = format!(
            "loadgate.{}",
            g.title
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
                .collect::<String>()
                .split('_')
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join("_")
        );
        for m in &g.metrics {
            let summary = format!(
                "{}: A {} → B {} ({}), CI {}, p {}, MDE {}, margin {:.1} %",
                m.label,
                m.metric.format(m.a),
                m.metric.format(m.b),
                m.relative_change.map_or("n/a".into(), pct),
                ci_text(m),
                p_text(m),
                opt_pct(m.mde),
                m.margin * 100.0
            );
            let detail = verdict_detail(m, r.kind);
            let _ = writeln!(
                o,
                r#"    <testcase classname="{}" name="{}" time="0">"#,
                escape(&classname),
                escape(m.metric.name())
            );
            match m.verdict {
                Verdict::Regressed => {
                    let _ = writeln!(
                        o,
                        r#"      <failure type="regression" message="{}">{}</failure>"#,
                        escape(&summary),
                        escape(&detail)
                    );
                }
                Verdict::Inconclusive => {
                    let _ = writeln!(
                        o,
                        r#"      <skipped message="{}"/>"#,
                        escape(&format!("inconclusive: {detail}"))
                    );
                }
                _ => {}
            }
            let _ = writeln!(
                o,
                "      <system-out>{}</system-out>",
                escape(&if detail.is_empty() {
                    summary
                } else {
                    format!("{summary}; {detail}")
                })
            );
            let _ = writeln!(o, "    </testcase>");
        }
        let _ = writeln!(o, "  </testsuite>");
    }
    let _ = writeln!(o, "</testsuites>");
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn escapes_markup() {
        assert_eq!(
            super::escape(r#"a<b & "c" 'd'>"#),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"
        );
        assert_eq!(super::escape("x\u{1}y"), "xy");
    }
}
