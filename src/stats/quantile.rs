//! An upper confidence bound on a percentile of latencies held in an HDR histogram, so a
//! service-level objective such as "p99 ≤ 20 ms" is judged as *shown to be met*, not merely met
//! by the sample's own p99.
//!
//! # Method: order statistics, distribution-free
//!
//! Let `ξ_q` be the true `q`-quantile and `X_(1) ≤ … ≤ X_(n)` the sorted sample. The number of
//! observations below `ξ_q` is `Binomial(n, q)` (at most that, for a discrete distribution), so
//! `P(X_(k) ≥ ξ_q) ≥ P(Binomial(n, q) ≤ k − 1)` whatever the distribution. The bound is
//! `X_(k)` for the smallest rank `k` with `P(Binomial(n, q) ≥ k) ≤ α`, where `1 − α` is the
//! confidence ([`upper_rank`]). When even `k = n` is not enough (`q^n > α`, e.g. fewer than 299
//! transactions for p99 at 95 %), the bound would lie beyond the largest value and there is
//! none: the caller then treats the objective as not shown to be met.
//!
//! The binomial tail is exact (incomplete beta, [`super::dist::binomial_sf`], found by
//! bisection on `k`) up to [`EXACT_UP_TO`] observations. Above that the normal approximation
//! with continuity correction is used: `k = ⌈n·q + ½ + z_{1−α}·√(n·q·(1 − q))⌉`. At those sizes it
//! is within a rank or two of the exact answer (tested at 100,000), far below the histogram's
//! own resolution.
//!
//! The order statistic is read from the histogram: the first bucket at which the cumulative
//! count reaches `k`, reported as the *highest* value equivalent to that bucket, so the
//! histogram's rounding (3 significant digits in loadgate) can only make the bound larger.
//! Values are in whatever unit the histogram holds (nanoseconds in loadgate's recorder).
//!
//! The binomial argument assumes independent observations. Latencies from a queue are
//! correlated (a burst delays every transaction behind it), so over one short window the true
//! coverage is below the nominal level; the longer the window compared with the queue's busy
//! periods, the closer it gets.

use hdrhistogram::Histogram;

use super::dist::{binomial_sf, normal_quantile_upper};
use super::{check_open, StatsError};

/// Up to this many observations the binomial tail is computed exactly; above it, the normal
/// approximation with continuity correction.
pub const EXACT_UP_TO: u64 = 100_000;

/// The rank `k` (1-based) of the order statistic that bounds the `quantile` from above at
/// `confidence`: the smallest `k` with `P(Binomial(n, quantile) ≥ k) ≤ 1 − confidence`, or
/// `None` when no `k ≤ n` is enough.
pub fn upper_rank(n: u64, quantile: f64, confidence: f64) -> Result<Option<u64>, StatsError> {
    check_open(
        "quantile",
        quantile,
        0.0,
        1.0,
        "must lie strictly between 0 and 1",
    )?;
    check_open(
        "confidence",
        confidence,
        0.0,
        1.0,
        "must lie strictly between 0 and 1",
    )?;
    if n == 0 {
        return Ok(None);
    }
    let alpha = 1.0 - confidence;
    if n > EXACT_UP_TO {
        return Ok(normal_rank(n, quantile, alpha));
    }
    // P(Bin ≥ k) falls as k grows: bisect for the smallest k with a tail ≤ α.
    if binomial_sf(n, n, quantile) > alpha {
        return Ok(None);
    }
    let (mut lo, mut hi) = (1u64, n); // the answer lies in [lo, hi]
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if binomial_sf(mid, n, quantile) <= alpha {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Ok(Some(lo))
}

/// The normal approximation of [`upper_rank`] with continuity correction.
fn normal_rank(n: u64, quantile: f64, alpha: f64) -> Option<u64> {
    let nf = n as f64;
    let sd = (nf * quantile * (1.0 - quantile)).sqrt();
    let k = (nf * quantile + 0.5 + normal_quantile_upper(alpha) * sd).ceil();
    let k = k.max(1.0);
    if k > nf {
        None
    } else {
        Some(k as u64)
    }
}

/// The upper confidence bound on the `quantile` (e.g. 0.99) of the values in `histogram`, at
/// `confidence` (e.g. 0.95): a value the true quantile lies at or below with at least that
/// probability. `None` when the histogram holds too few values for the bound to exist.
pub fn upper_confidence_bound(
    histogram: &Histogram<u64>,
    quantile: f64,
    confidence: f64,
) -> Result<Option<u64>, StatsError> {
    let Some(k) = upper_rank(histogram.len(), quantile, confidence)? else {
        return Ok(None);
    };
    let mut seen = 0u64;
    for v in histogram.iter_recorded() {
        seen += v.count_at_value();
        if seen >= k {
            return Ok(Some(histogram.highest_equivalent(v.value_iterated_to())));
        }
    }
    // Unreachable when k ≤ len, kept total rather than panicking.
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// A histogram that records 1..=1000 exactly (3 significant digits keep every integer
    /// below 2048 in its own bucket).
    fn exact_histogram(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 1_000_000, 3).unwrap();
        for v in values {
            h.record(v).unwrap();
        }
        h
    }

    #[test]
    fn median_of_ten_by_hand() {
        // Bin(10, ½): P(≥ 9) = 11/1024 = 0.0107 ≤ 0.05 < P(≥ 8) = 56/1024 = 0.0547, so the
        // bound at 95 % is the 9th smallest value.
        assert_eq!(upper_rank(10, 0.5, 0.95).unwrap(), Some(9));
        let h = exact_histogram(1..=10);
        assert_eq!(upper_confidence_bound(&h, 0.5, 0.95).unwrap(), Some(9));
    }

    #[test]
    fn p99_needs_299_values_at_95_percent() {
        // k = n works once 0.99^n ≤ 0.05: n ≥ ln 0.05 / ln 0.99 = 298.07. With 298 values
        // there is no bound; with 299 it is the largest value.
        let h = exact_histogram(1..=298);
        assert_eq!(upper_confidence_bound(&h, 0.99, 0.95).unwrap(), None);
        let h = exact_histogram(1..=299);
        assert_eq!(upper_confidence_bound(&h, 0.99, 0.95).unwrap(), Some(299));
        let empty = exact_histogram([]);
        assert_eq!(upper_confidence_bound(&empty, 0.99, 0.95).unwrap(), None);
    }

    #[test]
    fn p99_of_uniform_thousand_by_summed_binomial() {
        // Values 1..=1000: the bound is X_(k) = k. Compute k independently by summing the
        // binomial pmf of the 1000 − X "misses" ~ Bin(1000, 0.01): P(X ≥ k) = P(miss ≤ 1000 − k).
        let n = 1000u64;
        let mut pmf = 0.99f64.powi(1000); // P(miss = 0)
        let mut cdf = vec![pmf];
        for m in 1..=20u64 {
            pmf *= (n - m + 1) as f64 / m as f64 * 0.01 / 0.99;
            cdf.push(cdf[m as usize - 1] + pmf);
        }
        // Largest miss count m with P(miss ≤ m) ≤ 0.05 gives k = 1000 − m.
        let m = cdf.iter().rposition(|&c| c <= 0.05).unwrap() as u64;
        assert_eq!(m, 4); // P(miss ≤ 4) = 0.0287, P(miss ≤ 5) = 0.0661
        let h = exact_histogram(1..=n);
        assert_eq!(upper_confidence_bound(&h, 0.99, 0.95).unwrap(), Some(n - m));
    }

    #[test]
    fn normal_approximation_agrees_with_exact_at_the_switch() {
        let exact = upper_rank(EXACT_UP_TO, 0.99, 0.95).unwrap().unwrap();
        let approx = normal_rank(EXACT_UP_TO, 0.99, 0.05).unwrap();
        assert!(
            exact.abs_diff(approx) <= 2,
            "exact {exact}, normal {approx}"
        );
        let exact = upper_rank(EXACT_UP_TO, 0.5, 0.9).unwrap().unwrap();
        let approx = normal_rank(EXACT_UP_TO, 0.5, 0.1).unwrap();
        assert!(
            exact.abs_diff(approx) <= 2,
            "exact {exact}, normal {approx}"
        );
    }

    #[test]
    fn monotone_in_alpha() {
        // More confidence, a bound at least as high.
        let h = exact_histogram(1..=2000);
        let mut last = 0;
        for confidence in [0.5, 0.8, 0.9, 0.95, 0.99, 0.999] {
            let b = upper_confidence_bound(&h, 0.99, confidence)
                .unwrap()
                .unwrap();
            assert!(b >= last, "confidence {confidence}: {b} < {last}");
            last = b;
        }
        assert!(last > upper_confidence_bound(&h, 0.99, 0.5).unwrap().unwrap());
    }

    #[test]
    fn covers_the_true_quantile_in_about_95_percent_of_samples() {
        // Exponential latencies with mean 1 ms, in nanoseconds: the true p99 is ln(100) ms.
        // 1000 samples of 2000 values: the bound at 95 % is at or above it in ≥ 93 % of them
        // (binomial sd of the coverage over 1000 samples is 0.7 %), and not absurdly often
        // (≤ 99.5 %: an exact-rank bound is not far above its level).
        let true_p99 = 100f64.ln() * 1e6;
        let mut rng = SmallRng::seed_from_u64(17);
        let samples = 1000;
        let mut covered = 0;
        for _ in 0..samples {
            let mut h = Histogram::<u64>::new_with_bounds(1_000, 3_600_000_000_000, 3).unwrap();
            for _ in 0..2000 {
                let u: f64 = 1.0 - rng.gen::<f64>();
                h.saturating_record((-u.ln() * 1e6) as u64);
            }
            let b = upper_confidence_bound(&h, 0.99, 0.95).unwrap().unwrap();
            covered += usize::from(b as f64 >= true_p99);
        }
        let coverage = covered as f64 / samples as f64;
        eprintln!(
            "p99 upper bound at 95 %: coverage {:.1} %",
            100.0 * coverage
        );
        assert!((0.93..=0.995).contains(&coverage), "coverage {coverage}");
    }

    #[test]
    fn settings_out_of_range_are_named() {
        let e = upper_rank(10, 1.0, 0.95).unwrap_err();
        assert!(e.to_string().contains("quantile = 1"), "{e}");
        let e = upper_rank(10, 0.99, 0.0).unwrap_err();
        assert!(e.to_string().contains("confidence = 0"), "{e}");
    }
}
