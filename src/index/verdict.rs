//! The index report: before against after per probe and for the write mix, and the verdict
//! against the acceptance bars (its text form is `report::index`).
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

pub(crate) fn pct_change(before: f64, after: f64) -> f64 {
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
