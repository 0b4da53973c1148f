//! `history WORKLOAD --metric M`: the series of a metric over the stored complete runs of a
//! workload, one series per testbed and settings (runs with different thread counts or
//! workload variables are different series) and, for the runs of an A/B job, per side (A and B
//! are two versions of something, never one series), with change points found by E-divisive means and
//! a permutation test over the whole series ([`crate::stats::e_divisive`]; minimum segment 5,
//! p ≤ 0.01, fixed seed).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{comparable_settings, Metric, RegressError, RunValues};
use crate::error::Result;
use crate::stats::{e_divisive, ChangePointConfig, StatsError};
use crate::store::RunMetrics;
use crate::testbed::short_hash;
use crate::util::rfc3339;

/// One run in a series.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub run_id: i64,
    pub started_at: String,
    pub set_id: Option<String>,
    pub git_commit: Option<String>,
    pub value: f64,
}

/// A change point, located by run.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// Index in the series of the first run after the change.
    pub index: usize,
    pub run_id: i64,
    pub started_at: String,
    pub mean_before: f64,
    pub mean_after: f64,
    pub relative_change: f64,
    pub p_value: f64,
}

/// The series of one testbed and settings.
#[derive(Debug, Clone, Serialize)]
pub struct Series {
    pub testbed: String,
    /// The A/B side its runs ran as (`A (label)`), for the runs of `ab` and `gate` A/B jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub side: Option<String>,
    /// Short hash of the comparable settings and the workload file hash.
    pub settings_key: String,
    /// The comparable settings, `key=value`.
    pub settings: Vec<String>,
    pub points: Vec<Point>,
    pub change_points: Vec<Change>,
    /// Why no change-point search was made, if none was.
    pub note: Option<String>,
}

/// The whole answer of `history`.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub workload: String,
    pub metric: Metric,
    pub min_segment: usize,
    pub significance: f64,
    pub series: Vec<Series>,
}

/// Groups runs into series by testbed and settings, in time order, and finds change points.
pub fn build(
    workload: &str,
    metric: Metric,
    runs: &[RunMetrics],
    cfg: &ChangePointConfig,
) -> Result<History, RegressError> {
    build_with_sides(workload, metric, runs, &BTreeMap::new(), cfg)
}

/// [`build`], with the A/B side of the runs in A/B run sets (`sides`: set id → side), which
/// splits them into a series per side.
pub fn build_with_sides(
    workload: &str,
    metric: Metric,
    runs: &[RunMetrics],
    sides: &BTreeMap<String, String>,
    cfg: &ChangePointConfig,
) -> Result<History, RegressError> {
    let side_of = |r: &RunMetrics| r.set_id.as_ref().and_then(|s| sides.get(s)).cloned();
    let mut series: Vec<(String, String, Vec<&RunMetrics>)> = Vec::new();
    for r in runs {
        let settings = comparable_settings(&r.settings_as_ran());
        let text: String = settings
            .iter()
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect::<String>()
            + &r.workload_hash
            + side_of(r).as_deref().unwrap_or("");
        let key = short_hash(text.as_bytes());
        match series
            .iter_mut()
            .find(|(fp, k, _)| *fp == r.testbed_fingerprint && *k == key)
        {
            Some(s) => s.2.push(r),
            None => series.push((r.testbed_fingerprint.clone(), key, vec![r])),
        }
    }
    let mut out = Vec::new();
    for (testbed, key, runs) in series {
        let points: Vec<Point> = runs
            .iter()
            .filter_map(|r| {
                RunValues::of_run(r).map(|v| Point {
                    run_id: r.id,
                    started_at: rfc3339(r.started_at_ms),
                    set_id: r.set_id.clone(),
                    git_commit: r.git_commit.clone(),
                    value: v.get(metric),
                })
            })
            // A work metric of a run that did not measure it is left out of its series.
            .filter(|p| p.value.is_finite())
            .collect();
        let values: Vec<f64> = points.iter().map(|p| p.value).collect();
        let (change_points, note) = match e_divisive(&values, cfg) {
            Ok(cps) => (
                cps.iter()
                    .map(|c| Change {
                        index: c.index,
                        run_id: points[c.index].run_id,
                        started_at: points[c.index].started_at.clone(),
                        mean_before: c.mean_before,
                        mean_after: c.mean_after,
                        relative_change: c.relative_change,
                        p_value: c.p_value,
                    })
                    .collect(),
                None,
            ),
            Err(StatsError::TooFewSamples { needed, got }) => (
                Vec::new(),
                Some(format!(
                    "{got} run(s): change points need at least {needed} ({} on each side of a change)",
                    cfg.min_segment
                )),
            ),
            Err(e) => return Err(e.into()),
        };
        let settings = comparable_settings(&runs[0].settings_as_ran())
            .into_iter()
            .map(|(k, v)| format!("{}={v}", k.trim_start_matches("vars.")))
            .collect();
        out.push(Series {
            side: side_of(runs[0]),
            testbed,
            settings_key: key,
            settings,
            points,
            change_points,
            note,
        });
    }
    Ok(History {
        workload: workload.to_string(),
        metric,
        min_segment: cfg.min_segment,
        significance: cfg.significance,
        series: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RunStatus, Testbed};

    fn run(id: i64, fp: &str, threads: u32, tps: f64) -> RunMetrics {
        RunMetrics {
            facts: Default::default(),
            id,
            set_id: None,
            started_at_ms: id * 1000,
            status: RunStatus::Complete,
            status_reason: None,
            workload: "w".into(),
            workload_hash: "h".into(),
            testbed_fingerprint: fp.into(),
            testbed: Testbed::default(),
            settings: serde_json::json!({ "threads": threads }),
            target: String::new(),
            server_version: String::new(),
            git_commit: None,
            tps: Some(tps),
            p99_corrected_ms: Some(1.0),
            errors: Some(0),
            transactions: Some(100),
            work: None,
        }
    }

    #[test]
    fn series_split_by_testbed_and_settings_and_a_step_is_found() {
        let mut runs = Vec::new();
        for i in 0..24 {
            let noise = [1.0, 1.01, 0.99, 1.005, 0.995, 1.0][i % 6];
            let level = if i < 12 { 1000.0 } else { 900.0 };
            runs.push(run(i as i64, "fp1", 4, level * noise));
        }
        runs.push(run(100, "fp2", 4, 500.0));
        runs.push(run(101, "fp1", 8, 2000.0));
        let h = build("w", Metric::Tps, &runs, &ChangePointConfig::default()).unwrap();
        assert_eq!(h.series.len(), 3);
        let main = &h.series[0];
        assert_eq!(main.points.len(), 24);
        assert_eq!(main.change_points.len(), 1, "{:?}", main.change_points);
        assert_eq!(main.change_points[0].run_id, 12);
        assert!(h.series[1].note.is_some());
        let text = crate::report::regress::history(&h);
        assert!(text.contains("◆ change"), "{text}");
    }

    #[test]
    fn the_text_shows_only_the_settings_that_tell_series_apart() {
        let mut a = run(1, "fp1", 4, 1000.0);
        let mut b = run(2, "fp1", 8, 2000.0);
        for r in [&mut a, &mut b] {
            r.settings["tables"] = 3.into();
        }
        let h = build("w", Metric::Tps, &[a, b], &ChangePointConfig::default()).unwrap();
        assert_eq!(h.series.len(), 2);
        let text = crate::report::regress::history(&h);
        assert!(
            text.contains("threads=4") && text.contains("threads=8"),
            "{text}"
        );
        assert!(!text.contains("tables=3"), "{text}");
        assert!(text.contains("the same in every series"), "{text}");
    }

    #[test]
    fn a_and_b_sides_are_separate_series() {
        let mut runs = Vec::new();
        for i in 0..6 {
            let mut r = run(i, "fp1", 4, 1000.0 + i as f64);
            r.set_id = Some(if i % 2 == 0 { "ab-1-a" } else { "ab-1-b" }.into());
            runs.push(r);
        }
        let sides = BTreeMap::from([
            ("ab-1-a".to_string(), "A (base)".to_string()),
            ("ab-1-b".to_string(), "B (candidate)".to_string()),
        ]);
        let cfg = ChangePointConfig::default();
        let h = build_with_sides("w", Metric::Tps, &runs, &sides, &cfg).unwrap();
        assert_eq!(h.series.len(), 2);
        assert_eq!(h.series[0].side.as_deref(), Some("A (base)"));
        assert!(h.series[0].points.iter().all(|p| p.run_id % 2 == 0));
        assert_eq!(h.series[1].side.as_deref(), Some("B (candidate)"));
        // Without sides, as before: one series.
        assert_eq!(
            build("w", Metric::Tps, &runs, &cfg).unwrap().series.len(),
            1
        );
    }
}
