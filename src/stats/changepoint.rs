//! Change points in a history series (one value per stored run, in time order) by E-divisive
//! means (Matteson & James 2014, "A nonparametric approach for multiple change point analysis
//! of multivariate data"; the variant used by MongoDB's and Apache Otava's performance
//! tracking).
//!
//! For a segment split at `τ` into `X` (before, `m` points) and `Y` (after, `n` points), the
//! energy statistic with exponent 1 is
//!
//! `Q(τ) = mn/(m+n) · ( 2/(mn) Σ|x−y| − 1/C(m,2) Σ|x−x'| − 1/C(n,2) Σ|y−y'| )`,
//!
//! large when the two sides differ in distribution (mostly in location). Each side must hold at
//! least `min_segment` points, so a single outlier can never be a segment of its own.
//!
//! Procedure (recursive bisection): find the best split of every current segment, take the
//! largest `Q`, and test it with a permutation test — shuffle the values within each current
//! segment, recompute the largest best-split `Q` over all segments, repeat; the p-value is
//! `(1 + #{Q_perm ≥ Q}) / (1 + permutations)`. Accept the split when `p ≤ significance`, then
//! repeat on the new segments, up to `max_change_points`. The first non-significant candidate
//! ends the search. The shuffles use a seeded, portable generator (ChaCha), so the result is
//! reproducible.
//!
//! Each change point reports its index (the first point after the change), its p-value, and the
//! means of the segments on either side (bounded by the neighbouring change points).

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::{check_finite, check_open, Sample, StatsError};

/// Settings for [`e_divisive`]. Defaults: `min_segment` 5, `permutations` 499,
/// `significance` 0.01, `max_change_points` 5, a fixed seed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChangePointConfig {
    /// Minimum number of points on each side of a change point (at least 2).
    pub min_segment: usize,
    /// Permutations per significance test.
    pub permutations: usize,
    /// Largest p-value accepted as a change point.
    pub significance: f64,
    pub max_change_points: usize,
    pub seed: u64,
}

impl Default for ChangePointConfig {
    fn default() -> Self {
        ChangePointConfig {
            min_segment: 5,
            permutations: 499,
            significance: 0.01,
            max_change_points: 5,
            seed: 0x6c6f_6164_6761_7465, // "loadgate"
        }
    }
}

/// One change point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChangePoint {
    /// Index of the first point after the change.
    pub index: usize,
    /// Permutation p-value when it was accepted.
    pub p_value: f64,
    /// The energy statistic `Q` of the split.
    pub statistic: f64,
    /// Mean of the segment before (from the previous change point, or the start).
    pub mean_before: f64,
    /// Mean of the segment after (up to the next change point, or the end).
    pub mean_after: f64,
    /// `mean_after / mean_before − 1` (not finite when `mean_before` is 0, e.g. an error-rate
    /// series that was all zeros before the change).
    pub relative_change: f64,
}

/// Change points of `series` in index order. Needs `2 · min_segment` points.
pub fn e_divisive(series: &[f64], cfg: &ChangePointConfig) -> Result<Vec<ChangePoint>, StatsError> {
    check_finite(series, Sample::Series)?;
    check_open(
        "significance",
        cfg.significance,
        0.0,
        1.0,
        "must be in (0, 1)",
    )?;
    if cfg.min_segment < 2 {
        return Err(StatsError::InvalidParameter {
            name: "min_segment",
            value: cfg.min_segment as f64,
            reason: "must be at least 2",
        });
    }
    if cfg.permutations == 0 {
        return Err(StatsError::InvalidParameter {
            name: "permutations",
            value: 0.0,
            reason: "must be at least 1",
        });
    }
    let needed = 2 * cfg.min_segment;
    if series.len() < needed {
        return Err(StatsError::TooFewSamples {
            needed,
            got: series.len(),
        });
    }
    let mut rng = StdRng::seed_from_u64(cfg.seed);
    // Sorted segment boundaries, and the accepted change points with their test results.
    let mut cuts = vec![0, series.len()];
    let mut found: Vec<(usize, f64, f64)> = Vec::new();
    let mut scratch = Vec::with_capacity(series.len());
    while found.len() < cfg.max_change_points {
        let best = cuts
            .windows(2)
            .filter_map(|w| {
                best_split(&series[w[0]..w[1]], cfg.min_segment).map(|(tau, q)| (w[0] + tau, q))
            })
            .max_by(|a, b| a.1.total_cmp(&b.1));
        let Some((index, q)) = best else { break };
        // Stop counting once the p-value can no longer reach the significance level.
        let give_up = (cfg.significance * (cfg.permutations + 1) as f64).floor() as usize;
        let mut exceed = 0;
        let mut done = 0;
        for _ in 0..cfg.permutations {
            let mut q_perm = f64::NEG_INFINITY;
            for w in cuts.windows(2) {
                if w[1] - w[0] < needed {
                    continue;
                }
                scratch.clear();
                scratch.extend_from_slice(&series[w[0]..w[1]]);
                scratch.shuffle(&mut rng);
                if let Some((_, qp)) = best_split(&scratch, cfg.min_segment) {
                    q_perm = q_perm.max(qp);
                }
            }
            done += 1;
            if q_perm >= q - 1e-12 * q.abs() {
                exceed += 1;
                if exceed >= give_up {
                    break;
                }
            }
        }
        let p = if done == cfg.permutations {
            (1 + exceed) as f64 / (1 + cfg.permutations) as f64
        } else {
            1.0
        };
        if p > cfg.significance {
            break;
        }
        found.push((index, p, q));
        let at = cuts.partition_point(|&c| c < index);
        cuts.insert(at, index);
    }
    found.sort_by_key(|f| f.0);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    Ok(found
        .iter()
        .enumerate()
        .map(|(i, &(index, p_value, statistic))| {
            let start = if i == 0 { 0 } else { found[i - 1].0 };
            let end = found.get(i + 1).map_or(series.len(), |f| f.0);
            let mean_before = mean(&series[start..index]);
            let mean_after = mean(&series[index..end]);
            ChangePoint {
                index,
                p_value,
                statistic,
                mean_before,
                mean_after,
                relative_change: mean_after / mean_before - 1.0,
            }
        })
        .collect())
}

/// The split `τ` (first index of the right side) of `v` with the largest energy statistic, each
/// side holding at least `min_segment` points; `None` if `v` is too short. O(len²).
fn best_split(v: &[f64], min_segment: usize) -> Option<(usize, f64)> {
    let len = v.len();
    if len < 2 * min_segment {
        return None;
    }
    let mut total = 0.0;
    for i in 0..len {
        for j in i + 1..len {
            total += (v[i] - v[j]).abs();
        }
    }
    // Within-left, within-right and between sums of distances for the split at tau.
    let (mut within_left, mut within_right, mut between) = (0.0, total, 0.0);
    let mut best: Option<(usize, f64)> = None;
    for tau in 0..len - min_segment {
        let x = v[tau];
        let to_left: f64 = v[..tau].iter().map(|y| (x - y).abs()).sum();
        let to_right: f64 = v[tau + 1..].iter().map(|y| (x - y).abs()).sum();
        within_left += to_left;
        within_right -= to_right;
        between += to_right - to_left;
        let m = (tau + 1) as f64;
        let n = (len - tau - 1) as f64;
        if tau + 1 < min_segment {
            continue;
        }
        let energy = 2.0 * between / (m * n)
            - 2.0 * within_left / (m * (m - 1.0))
            - 2.0 * within_right / (n * (n - 1.0));
        let q = m * n / (m + n) * energy;
        match best {
            Some((_, b)) if b >= q => {}
            _ => best = Some((tau + 1, q)),
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::sim::{series, Rng};

    fn step(seed: u64, len: usize, at: usize, step: f64, noise: f64) -> Vec<f64> {
        let mut s = series(&mut Rng::new(seed), len, noise);
        for v in &mut s[at..] {
            *v *= 1.0 + step;
        }
        s
    }

    #[test]
    fn best_split_matches_brute_force() {
        let v = step(1, 16, 9, 0.05, 0.01);
        let (tau, q) = best_split(&v, 3).unwrap();
        // Brute force over all splits.
        let energy = |t: usize| {
            let (x, y) = v.split_at(t);
            let (m, n) = (x.len() as f64, y.len() as f64);
            let mut b = 0.0;
            for a in x {
                for c in y {
                    b += (a - c).abs();
                }
            }
            let within = |s: &[f64]| {
                let mut w = 0.0;
                for i in 0..s.len() {
                    for j in i + 1..s.len() {
                        w += (s[i] - s[j]).abs();
                    }
                }
                w
            };
            m * n / (m + n)
                * (2.0 * b / (m * n)
                    - 2.0 * within(x) / (m * (m - 1.0))
                    - 2.0 * within(y) / (n * (n - 1.0)))
        };
        let (bt, bq) = (3..=13)
            .map(|t| (t, energy(t)))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert_eq!(tau, bt);
        assert!((q - bq).abs() < 1e-9 * bq.abs());
        assert_eq!(tau, 9);
    }

    #[test]
    fn five_percent_step_is_found_within_two_points() {
        let cfg = ChangePointConfig::default();
        for (seed, at) in [
            (1, 30),
            (2, 30),
            (3, 30),
            (4, 12),
            (5, 45),
            (6, 20),
            (7, 38),
        ] {
            let s = step(seed, 60, at, -0.05, 0.01);
            let cps = e_divisive(&s, &cfg).unwrap();
            let hit = cps
                .iter()
                .find(|c| c.index.abs_diff(at) <= 2)
                .unwrap_or_else(|| panic!("seed {seed}: step at {at} not found: {cps:?}"));
            assert!(hit.p_value <= 0.01);
            assert!((hit.relative_change + 0.05).abs() < 0.01, "{hit:?}");
            assert!(cps.len() <= 2, "seed {seed}: {cps:?}");
        }
    }

    #[test]
    fn single_outlier_is_not_a_change_point() {
        let cfg = ChangePointConfig::default();
        for seed in 10..20 {
            let mut s = series(&mut Rng::new(seed), 60, 0.01);
            s[30] *= 1.25;
            let cps = e_divisive(&s, &cfg).unwrap();
            assert!(cps.is_empty(), "seed {seed}: {cps:?}");
        }
    }

    #[test]
    fn flat_series_gives_none() {
        let cfg = ChangePointConfig::default();
        assert!(e_divisive(&[3.0; 40], &cfg).unwrap().is_empty());
        assert!(e_divisive(&series(&mut Rng::new(42), 60, 0.01), &cfg)
            .unwrap()
            .is_empty());
        // Over 30 noisy flat series at p ≤ 0.01, expect about 0.3 false change points.
        let false_hits: usize = (100..130)
            .map(|seed| {
                e_divisive(&series(&mut Rng::new(seed), 60, 0.01), &cfg)
                    .unwrap()
                    .len()
            })
            .sum();
        assert!(false_hits <= 1, "{false_hits}");
    }

    #[test]
    fn two_steps_give_two_change_points_with_segment_means() {
        let mut s = series(&mut Rng::new(9), 60, 0.01);
        for v in &mut s[20..] {
            *v *= 0.95;
        }
        for v in &mut s[40..] {
            *v *= 1.10;
        }
        let cps = e_divisive(&s, &ChangePointConfig::default()).unwrap();
        assert_eq!(cps.len(), 2, "{cps:?}");
        assert!(cps[0].index.abs_diff(20) <= 2 && cps[1].index.abs_diff(40) <= 2);
        assert!((cps[0].mean_before - 100.0).abs() < 1.0);
        assert!((cps[0].mean_after - cps[1].mean_before).abs() < 1e-12);
        assert!((cps[1].mean_after - 104.5).abs() < 1.0);
    }

    #[test]
    fn deterministic_and_validated() {
        let s = step(3, 60, 25, -0.03, 0.01);
        let cfg = ChangePointConfig::default();
        assert_eq!(e_divisive(&s, &cfg).unwrap(), e_divisive(&s, &cfg).unwrap());
        assert_eq!(
            e_divisive(&[1.0; 9], &cfg),
            Err(StatsError::TooFewSamples { needed: 10, got: 9 })
        );
        assert!(matches!(
            e_divisive(&[1.0, f64::INFINITY, 1.0], &cfg),
            Err(StatsError::NonFinite { index: 1, .. })
        ));
        let bad = ChangePointConfig {
            min_segment: 1,
            ..cfg
        };
        assert!(e_divisive(&s, &bad).is_err());
    }
}
