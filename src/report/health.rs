//! `loadgate health`'s text: the status, then each check against its thresholds.

use crate::monitor::health::HealthReport;
use std::fmt::Write;

/// The health report for people (the first line is the status, as checkers read it).
pub fn render_text(r: &HealthReport) -> String {
    let mut o = String::new();
    let server = r
        .server
        .as_ref()
        .map(|s| format!(" ({} {})", s.flavor, s.version))
        .unwrap_or_default();
    let _ = writeln!(o, "{}: {}{server}", r.status.to_ascii_uppercase(), r.target);
    if let Some(e) = &r.error {
        let _ = writeln!(o, "  cannot check: {e}");
    }
    if !r.checks.is_empty() {
        let over = if r.over_s > 0.0 {
            format!("{:.1} s", r.over_s)
        } else {
            "-".into()
        };
        let _ = writeln!(o, "  over {over}:");
    }
    for c in &r.checks {
        let v = c
            .value
            .map_or("-".to_string(), |v| format!("{v:.2} {}", c.unit));
        let lim = |x: Option<f64>| x.map_or("off".to_string(), |v| format!("{v}"));
        let _ = writeln!(
            o,
            "  {:<22} {:>12}  {:<11} (warning {}, critical {}) {}",
            c.metric,
            v,
            c.status,
            lim(c.warning),
            lim(c.critical),
            c.detail
        );
    }
    for n in &r.notes {
        let _ = writeln!(o, "  note: {n}");
    }
    o
}
