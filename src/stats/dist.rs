//! Distribution functions the tests need: the standard normal and Student's t (CDF, survival
//! function, quantile), built on the log-gamma function and the regularized incomplete beta and
//! gamma functions.
//!
//! Algorithms (all well known, no tables):
//! - `ln Γ`: Lanczos approximation (g = 7, 9 coefficients), about 1e-15 relative.
//! - Regularized incomplete beta `I_x(a, b)`: continued fraction evaluated with the modified Lentz
//!   method, using the symmetry `I_x(a, b) = 1 − I_{1−x}(b, a)` where it converges faster
//!   (Numerical Recipes, §6.4).
//! - Regularized incomplete gamma `P(a, x)`/`Q(a, x)`: series below `a + 1`, continued fraction
//!   above (Numerical Recipes, §6.2); the normal CDF is `erfc` expressed through `Q(½, x²)`.
//! - Normal quantile: Acklam's rational approximation refined by one Halley step on the exact CDF.
//! - Student-t quantile: Newton steps on the survival function, safeguarded by bisection.
//!
//! Student's t accepts a real (non-integer) number of degrees of freedom, as Welch's test needs.

use std::f64::consts::PI;

const LANCZOS_G: f64 = 7.0;
const LANCZOS: [f64; 9] = [
    0.999_999_999_999_809_9,
    676.520_368_121_885_1,
    -1_259.139_216_722_402_8,
    771.323_428_777_653_1,
    -176.615_029_162_140_6,
    12.507_343_278_686_905,
    -0.138_571_095_265_720_12,
    9.984_369_578_019_572e-6,
    1.505_632_735_149_311_6e-7,
];

/// Natural logarithm of the gamma function for `x > 0`.
pub fn ln_gamma(x: f64) -> f64 {
    if x < 0.5 {
        // Reflection: Γ(x) Γ(1 − x) = π / sin(πx).
        return (PI / (PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = LANCZOS[0];
    for (i, c) in LANCZOS.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    let t = x + LANCZOS_G + 0.5;
    0.5 * (2.0 * PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

const TINY: f64 = 1e-300;
const EPS: f64 = 1e-15;

/// Continued fraction for the incomplete beta function (modified Lentz).
fn beta_cf(a: f64, b: f64, x: f64) -> f64 {
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let mut c = 1.0;
    let mut d = 1.0 - qab * x / qap;
    if d.abs() < TINY {
        d = TINY;
    }
    d = 1.0 / d;
    let mut h = d;
    for m in 1..=10_000 {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if d.abs() < TINY {
            d = TINY;
        }
        c = 1.0 + aa / c;
        if c.abs() < TINY {
            c = TINY;
        }
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// Regularized incomplete beta function `I_x(a, b)` for `a, b > 0`, `0 ≤ x ≤ 1`.
pub fn inc_beta(a: f64, b: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 0.0;
    }
    if x >= 1.0 {
        return 1.0;
    }
    let ln_front = ln_gamma(a + b) - ln_gamma(a) - ln_gamma(b) + a * x.ln() + b * (1.0 - x).ln();
    let front = ln_front.exp();
    if x < (a + 1.0) / (a + b + 2.0) {
        front * beta_cf(a, b, x) / a
    } else {
        1.0 - front * beta_cf(b, a, 1.0 - x) / b
    }
}

/// `P(X ≥ k)` for `X ~ Binomial(n, p)`: `I_p(k, n − k + 1)`.
pub fn binomial_sf(k: u64, n: u64, p: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > n {
        return 0.0;
    }
    inc_beta(k as f64, (n - k + 1) as f64, p)
}

/// One-sided exact test that events happen at a higher rate in `b` than in `a`: `ea` events over
/// an exposure of `ta` against `eb` over `tb`. Conditional on the total, `eb` is
/// Binomial(`ea + eb`, `tb / (ta + tb)`) when the rates are equal (the Poisson rate comparison);
/// the p-value is its upper tail at `eb`. It respects what a t-test on per-run rates ignores
/// when counts are small: `2 errors against 1` repeated four times is not evidence.
pub fn rate_increase_p(ea: u64, ta: f64, eb: u64, tb: f64) -> f64 {
    if !(ta > 0.0 && tb > 0.0) {
        return 1.0;
    }
    binomial_sf(eb, ea + eb, tb / (ta + tb))
}

/// Regularized upper incomplete gamma function `Q(a, x)` for `a > 0`, `x ≥ 0`.
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_front = -x + a * x.ln() - ln_gamma(a);
    if x < a + 1.0 {
        // Series for P(a, x).
        let mut ap = a;
        let mut del = 1.0 / a;
        let mut sum = del;
        for _ in 0..10_000 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * EPS {
                break;
            }
        }
        1.0 - sum * ln_front.exp()
    } else {
        // Continued fraction for Q(a, x).
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < EPS {
                break;
            }
        }
        ln_front.exp() * h
    }
}

/// Complementary error function.
fn erfc(x: f64) -> f64 {
    if x >= 0.0 {
        gamma_q(0.5, x * x)
    } else {
        2.0 - gamma_q(0.5, x * x)
    }
}

/// Standard normal CDF Φ(z).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Standard normal survival function 1 − Φ(z), accurate in the upper tail.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Standard normal density φ(z).
pub fn normal_pdf(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * PI).sqrt()
}

/// Standard normal quantile Φ⁻¹(p) for `0 < p < 1` (±∞ at 0 and 1, NaN outside).
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let mut x = if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    };
    // One Halley step on the exact CDF (working in the smaller tail keeps relative accuracy).
    let e = if x < 0.0 {
        normal_cdf(x) - p
    } else {
        (1.0 - p) - normal_sf(x)
    };
    let u = e * (2.0 * PI).sqrt() * (0.5 * x * x).exp();
    x -= u / (1.0 + x * u / 2.0);
    x
}

/// Upper-tail normal quantile: the `z` with `1 − Φ(z) = q`, accurate for tiny `q`.
pub fn normal_quantile_upper(q: f64) -> f64 {
    -normal_quantile(q)
}

/// A standard normal draw (Box–Muller) from any generator.
pub fn standard_normal<R: rand::Rng + ?Sized>(rng: &mut R) -> f64 {
    normal_pair(rng).0
}

/// Two independent standard normal draws (both outputs of one Box–Muller transform).
pub fn normal_pair<R: rand::Rng + ?Sized>(rng: &mut R) -> (f64, f64) {
    // Uniforms in (0, 1] so the logarithm is finite.
    let u = 1.0 - rng.gen::<f64>();
    let v = rng.gen::<f64>();
    let r = (-2.0 * u.ln()).sqrt();
    let (sin, cos) = (2.0 * PI * v).sin_cos();
    (r * cos, r * sin)
}

/// Student-t density with `df > 0` degrees of freedom.
pub fn student_t_pdf(t: f64, df: f64) -> f64 {
    let ln = ln_gamma(0.5 * (df + 1.0))
        - ln_gamma(0.5 * df)
        - 0.5 * (df * PI).ln()
        - 0.5 * (df + 1.0) * (1.0 + t * t / df).ln();
    ln.exp()
}

/// Student-t survival function P(T > t) with `df > 0` degrees of freedom.
pub fn student_t_sf(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if t == f64::INFINITY {
        return 0.0;
    }
    if t == f64::NEG_INFINITY {
        return 1.0;
    }
    if df > 1e7 {
        return normal_sf(t);
    }
    let x = df / (df + t * t);
    let tail = 0.5 * inc_beta(0.5 * df, 0.5, x);
    if t > 0.0 {
        tail
    } else {
        1.0 - tail
    }
}

/// Student-t CDF P(T ≤ t) with `df > 0` degrees of freedom.
pub fn student_t_cdf(t: f64, df: f64) -> f64 {
    student_t_sf(-t, df)
}

/// Student-t quantile: the `t` with P(T ≤ t) = `p`, for `0 < p < 1` and `df > 0`.
pub fn student_t_quantile(p: f64, df: f64) -> f64 {
    if p.is_nan() || df.is_nan() || df <= 0.0 || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    if p == 0.5 {
        return 0.0;
    }
    let (q, sign) = if p > 0.5 { (1.0 - p, 1.0) } else { (p, -1.0) };
    sign * student_t_upper(q, df)
}

/// The `t > 0` with P(T > t) = `q` for `0 < q < ½`.
pub fn student_t_quantile_upper(q: f64, df: f64) -> f64 {
    if q.is_nan() || df.is_nan() || df <= 0.0 || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    if q >= 0.5 {
        return -student_t_quantile_upper(1.0 - q, df);
    }
    if q == 0.0 {
        return f64::INFINITY;
    }
    student_t_upper(q, df)
}

fn student_t_upper(q: f64, df: f64) -> f64 {
    // Bracket [lo, hi] with sf(lo) ≥ q ≥ sf(hi), starting from the normal quantile (t ≥ z).
    let z = normal_quantile_upper(q).max(0.0);
    let mut lo = 0.0;
    let mut hi = (2.0 * z).max(1.0);
    while student_t_sf(hi, df) > q {
        lo = hi;
        hi *= 2.0;
        if !hi.is_finite() {
            return f64::INFINITY;
        }
    }
    let mut t = z.clamp(lo, hi);
    for _ in 0..200 {
        let f = student_t_sf(t, df) - q;
        if f > 0.0 {
            lo = t;
        } else {
            hi = t;
        }
        // Newton step on sf: d sf / dt = −pdf.
        let pdf = student_t_pdf(t, df);
        let mut next = if pdf > 0.0 { t + f / pdf } else { f64::NAN };
        if !(next > lo && next < hi) {
            next = 0.5 * (lo + hi);
        }
        if (next - t).abs() <= 1e-14 * (1.0 + t.abs()) || hi - lo <= 1e-14 * (1.0 + hi) {
            return next;
        }
        t = next;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(got: f64, want: f64, tol: f64) {
        assert!(
            (got - want).abs() <= tol * want.abs().max(1.0),
            "got {got}, want {want} (tol {tol})"
        );
    }

    #[test]
    fn binomial_tail_and_rate_test_match_hand_computed_values() {
        // P(X >= 2), X ~ Bin(3, 0.5) = 4/8.
        close(binomial_sf(2, 3, 0.5), 0.5, 1e-12);
        close(binomial_sf(3, 3, 0.5), 0.125, 1e-12);
        close(binomial_sf(0, 3, 0.5), 1.0, 0.0);
        close(binomial_sf(4, 3, 0.5), 0.0, 0.0);
        // 6 errors in 2000 transactions against 12 in 2000: P(X >= 12), X ~ Bin(18, 1/2).
        let p: f64 = (12..=18u64)
            .map(|i| (ln_gamma(19.0) - ln_gamma(i as f64 + 1.0) - ln_gamma(19.0 - i as f64)).exp())
            .sum::<f64>()
            / 2f64.powi(18);
        close(rate_increase_p(6, 2000.0, 12, 2000.0), p, 1e-10);
        assert!(p > 0.1, "{p}");
        // A real increase is found: 20 against 80 over equal exposure.
        assert!(rate_increase_p(20, 1000.0, 80, 1000.0) < 1e-8);
        // Exposure counts: 10 against 20 is no increase when B ran twice as long.
        assert!(rate_increase_p(10, 1000.0, 20, 2000.0) > 0.4);
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        close(ln_gamma(1.0), 0.0, 1e-14);
        close(ln_gamma(5.0), (24.0f64).ln(), 1e-14);
        close(ln_gamma(0.5), PI.sqrt().ln(), 1e-14);
        close(ln_gamma(20.5), 40.831_500_974_530_8, 1e-13);
    }

    #[test]
    fn normal_known_values() {
        close(normal_cdf(0.0), 0.5, 1e-15);
        close(normal_cdf(1.959_963_984_540_054), 0.975, 1e-14);
        close(normal_cdf(-1.0), 0.158_655_253_931_457_05, 1e-13);
        close(normal_sf(6.0), 9.865_876_450_376_946e-10, 1e-11);
        close(normal_quantile(0.975), 1.959_963_984_540_054, 1e-14);
        close(normal_quantile(0.99), 2.326_347_874_040_841, 1e-14);
        close(normal_quantile(0.5), 0.0, 1e-15);
        close(normal_quantile(1e-10), -6.361_340_902_404_056, 1e-12);
        close(normal_quantile_upper(0.001), 3.090_232_306_167_813_6, 1e-13);
    }

    #[test]
    fn student_t_cdf_known_values() {
        // df = 1 is Cauchy: F(t) = ½ + atan(t)/π.
        close(student_t_cdf(1.0, 1.0), 0.75, 1e-14);
        close(student_t_cdf(-3.0, 1.0), 0.5 + (-3.0f64).atan() / PI, 1e-13);
        // df = 2 has the closed form F(t) = ½ + t / (2 √(2 + t²)).
        for t in [-4.0f64, -0.3, 0.7, 2.0, 9.0] {
            let want = 0.5 + t / (2.0 * (2.0 + t * t).sqrt());
            close(student_t_cdf(t, 2.0), want, 1e-13);
        }
        // Table values.
        close(student_t_cdf(2.0, 5.0), 0.949_030_260_585_070_3, 1e-12);
        close(student_t_cdf(2.228_138_851_986_274, 10.0), 0.975, 1e-12);
        close(student_t_sf(2.821_437_925_025_808, 9.0), 0.01, 1e-12);
        close(student_t_cdf(0.0, 7.5), 0.5, 1e-15);
        // Large df approaches the normal distribution.
        close(student_t_cdf(1.96, 1e6), normal_cdf(1.96), 1e-6);
    }

    #[test]
    fn student_t_quantile_known_values() {
        // (p, df, t) from standard tables.
        let table = [
            (0.975, 1.0, 12.706_204_736_174_693),
            (0.975, 2.0, 4.302_652_729_749_464),
            (0.975, 5.0, 2.570_581_835_636_314),
            (0.975, 10.0, 2.228_138_851_986_274),
            (0.975, 30.0, 2.042_272_456_301_238),
            (0.95, 9.0, 1.833_112_932_656_236_6),
            (0.99, 9.0, 2.821_437_925_025_808),
            (0.995, 3.0, 5.840_909_309_733_35),
            (0.999, 4.0, 7.173_182_219_782_308),
            (0.9, 20.0, 1.325_340_706_985_046),
        ];
        for (p, df, t) in table {
            close(student_t_quantile(p, df), t, 1e-9);
            close(student_t_quantile(1.0 - p, df), -t, 1e-9);
        }
        // Closed forms: df = 1 (Cauchy) and df = 2.
        for p in [1e-6, 0.01, 0.2, 0.6, 0.9999] {
            close(student_t_quantile(p, 1.0), (PI * (p - 0.5)).tan(), 1e-9);
            let want = (2.0 * p - 1.0) / (2.0 * p * (1.0 - p)).sqrt();
            close(student_t_quantile(p, 2.0), want, 1e-9);
        }
        // Round trip at a non-integer df (Welch).
        let t = student_t_quantile(0.987, 7.3);
        close(student_t_cdf(t, 7.3), 0.987, 1e-12);
        close(
            student_t_quantile_upper(1e-6, 2.0),
            707.105_720_515_767,
            1e-9,
        );
        close(student_t_quantile(0.987, 7.3), 2.784_531_368_330_393, 1e-10);
    }
}
