//! Random value generators: sysbench's integer distributions and its digit-group strings.
//!
//! The integer distributions reproduce sysbench 1.0.20 (`sb_rand.c`) so that a workload run
//! here touches the same rows with the same skew as the sysbench run it is compared with:
//! uniform, gaussian (mean of `rand_spec_iter` uniforms), special (a gaussian over the whole
//! range for `100 - rand_spec_res` % of values, the rest uniform in the central
//! `rand_spec_pct` % of the range), pareto (`h = rand_pareto_h`) and zipfian (rejection-inversion
//! sampling, exponent `rand_zipfian_exp`). Generators are plain data plus an RNG passed in, so
//! every worker owns its own state and nothing is shared on the hot path.

use rand::rngs::SmallRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// The integer distributions, named as sysbench's `--rand-type` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dist {
    Uniform,
    Gaussian,
    Special,
    Pareto,
    Zipfian,
}

impl Dist {
    pub const NAMES: &'static [&'static str] =
        &["uniform", "gaussian", "special", "pareto", "zipfian"];

    pub fn parse(s: &str) -> Option<Dist> {
        Some(match s {
            "uniform" => Dist::Uniform,
            "gaussian" => Dist::Gaussian,
            "special" => Dist::Special,
            "pareto" => Dist::Pareto,
            "zipfian" => Dist::Zipfian,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Dist::Uniform => "uniform",
            Dist::Gaussian => "gaussian",
            Dist::Special => "special",
            Dist::Pareto => "pareto",
            Dist::Zipfian => "zipfian",
        }
    }
}

/// The shape parameters of the distributions (sysbench's `--rand-spec-*`, `--rand-pareto-h`,
/// `--rand-zipfian-exp`), with precomputed constants.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistParams {
    pub spec_iter: u32,
    pub spec_pct: u32,
    pub spec_res: u32,
    pub pareto_h: f64,
    pub zipf_exp: f64,
    iter_mult: f64,
    pct_mult: f64,
    pct_2_mult: f64,
    res_mult: f64,
    pareto_power: f64,
    zipf_s: f64,
    zipf_h_integral_x1: f64,
}

impl Default for DistParams {
    /// sysbench 1.0.20's defaults.
    fn default() -> Self {
        DistParams::new(12, 1, 75, 0.2, 0.8)
    }
}

impl DistParams {
    pub fn new(spec_iter: u32, spec_pct: u32, spec_res: u32, pareto_h: f64, zipf_exp: f64) -> Self {
        let spec_iter = spec_iter.max(1);
        let spec_res = spec_res.min(99);
        DistParams {
            spec_iter,
            spec_pct,
            spec_res,
            pareto_h,
            zipf_exp,
            iter_mult: 1.0 / spec_iter as f64,
            pct_mult: spec_pct as f64 / 100.0,
            pct_2_mult: spec_pct as f64 / 200.0,
            res_mult: 100.0 / (100.0 - spec_res as f64),
            pareto_power: pareto_h.ln() / (1.0 - pareto_h).ln(),
            zipf_s: 2.0
                - h_integral_inverse(h_integral(2.5, zipf_exp) - h(2.0, zipf_exp), zipf_exp),
            zipf_h_integral_x1: h_integral(1.5, zipf_exp) - 1.0,
        }
    }

    /// A value in `[a, b]` (both inclusive) from `dist`. `a > b` is treated as `a == b`.
    #[inline]
    pub fn sample(&self, dist: Dist, rng: &mut SmallRng, a: i64, b: i64) -> i64 {
        if b <= a {
            return a;
        }
        match dist {
            Dist::Uniform => uniform(rng, a, b),
            Dist::Gaussian => {
                let t = (b - a + 1) as f64;
                let mut sum = 0.0;
                for _ in 0..self.spec_iter {
                    sum += rng.gen::<f64>() * t;
                }
                a + (sum * self.iter_mult) as i64
            }
            Dist::Special => {
                let t = (b - a) as f64;
                let range_size = t * self.res_mult;
                let rnd = rng.gen::<f64>();
                let res = rnd * range_size;
                if res < t {
                    let mut sum = 0.0;
                    for _ in 0..self.spec_iter {
                        sum += rng.gen::<f64>();
                    }
                    return a + (sum * t * self.iter_mult) as i64;
                }
                let d = t * self.pct_mult;
                let res = rnd * (d + 1.0) + t / 2.0 - t * self.pct_2_mult;
                (a + res as i64).min(b)
            }
            Dist::Pareto => {
                let v = ((b - a + 1) as f64 * rng.gen::<f64>().powf(self.pareto_power)) as i64;
                (a + v).min(b)
            }
            Dist::Zipfian => a + self.zipfian_int(rng, (b - a + 1) as f64) - 1,
        }
    }

    fn zipfian_int(&self, rng: &mut SmallRng, n: f64) -> i64 {
        let e = self.zipf_exp;
        let h_n = h_integral(n + 0.5, e);
        loop {
            let u = h_n + rng.gen::<f64>() * (self.zipf_h_integral_x1 - h_n);
            let x = h_integral_inverse(u, e);
            let mut k = (x + 0.5) as i64;
            if k < 1 {
                k = 1;
            } else if k as f64 > n {
                k = n as i64;
            }
            if k as f64 - x <= self.zipf_s || u >= h_integral(k as f64 + 0.5, e) - h(k as f64, e) {
                return k;
            }
        }
    }
}

/// Uniform integer in `[a, b]`, computed as sysbench does (`a + u * (b - a + 1)`).
#[inline]
pub fn uniform(rng: &mut SmallRng, a: i64, b: i64) -> i64 {
    (a + (rng.gen::<f64>() * (b - a + 1) as f64) as i64).min(b)
}

fn h_integral(x: f64, e: f64) -> f64 {
    let log_x = x.ln();
    helper2((1.0 - e) * log_x) * log_x
}

fn h(x: f64, e: f64) -> f64 {
    (-e * x.ln()).exp()
}

fn h_integral_inverse(x: f64, e: f64) -> f64 {
    let mut t = x * (1.0 - e);
    if t < -1.0 {
        t = -1.0;
    }
    (helper1(t) * x).exp()
}

fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (0.333_333_333_333_333_3 - 0.25 * x))
    }
}

fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x * 0.333_333_333_333_333_3 * (1.0 + 0.25 * x))
    }
}

/// A string template: `#` becomes a random digit, `@` a random lower-case letter, anything else
/// stays. sysbench's `c` column is ten groups of eleven `#` joined by `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    template: Vec<u8>,
    /// Positions of `#` and `@`, so filling does not scan the template.
    holes: Vec<(u32, bool)>,
}

impl Pattern {
    pub fn new(template: &str) -> Pattern {
        let bytes = template.as_bytes().to_vec();
        let holes = bytes
            .iter()
            .enumerate()
            .filter_map(|(i, &b)| match b {
                b'#' => Some((i as u32, true)),
                b'@' => Some((i as u32, false)),
                _ => None,
            })
            .collect();
        Pattern {
            template: bytes,
            holes,
        }
    }

    pub fn len(&self) -> usize {
        self.template.len()
    }

    pub fn is_empty(&self) -> bool {
        self.template.is_empty()
    }

    /// Append a filled copy of the template to `out`.
    #[inline]
    pub fn fill_into(&self, rng: &mut SmallRng, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&self.template);
        let dst = &mut out[start..];
        for &(i, digit) in &self.holes {
            dst[i as usize] = if digit {
                b'0' + rng.gen_range(0..10u8)
            } else {
                b'a' + rng.gen_range(0..26u8)
            };
        }
    }

    /// A filled copy of the template.
    pub fn fill(&self, rng: &mut SmallRng) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.template.len());
        self.fill_into(rng, &mut v);
        v
    }
}

/// sysbench's `c` value template: 10 groups of 11 digits joined by `-` (119 characters).
pub fn sysbench_c_template() -> String {
    ["###########"; 10].join("-")
}

/// sysbench's `pad` value template: 5 groups of 11 digits joined by `-` (59 characters).
pub fn sysbench_pad_template() -> String {
    ["###########"; 5].join("-")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn histogram(dist: Dist, n: usize, a: i64, b: i64) -> Vec<u64> {
        let p = DistParams::default();
        let mut rng = SmallRng::seed_from_u64(7);
        let mut h = vec![0u64; (b - a + 1) as usize];
        for _ in 0..n {
            let v = p.sample(dist, &mut rng, a, b);
            assert!((a..=b).contains(&v), "{dist:?} gave {v} outside [{a}, {b}]");
            h[(v - a) as usize] += 1;
        }
        h
    }

    #[test]
    fn every_distribution_stays_in_range() {
        for d in [
            Dist::Uniform,
            Dist::Gaussian,
            Dist::Special,
            Dist::Pareto,
            Dist::Zipfian,
        ] {
            histogram(d, 50_000, 1, 100);
            histogram(d, 1_000, 5, 5);
        }
    }

    #[test]
    fn uniform_is_flat() {
        let h = histogram(Dist::Uniform, 100_000, 1, 10);
        for c in h {
            assert!((9_000..11_000).contains(&c), "{c}");
        }
    }

    #[test]
    fn special_puts_three_quarters_in_the_middle_percent() {
        // sysbench 1.0.20 defaults: 75 % of values fall in the central 1 % of the range.
        let n = 200_000;
        let h = histogram(Dist::Special, n, 1, 10_000);
        let central: u64 = h[4_950..5_051].iter().sum();
        let frac = central as f64 / n as f64;
        assert!((0.74..0.80).contains(&frac), "central fraction {frac}");
    }

    #[test]
    fn pareto_and_zipfian_are_skewed_to_the_low_end() {
        for d in [Dist::Pareto, Dist::Zipfian] {
            let h = histogram(d, 100_000, 1, 1_000);
            let low: u64 = h[..10].iter().sum();
            let high: u64 = h[990..].iter().sum();
            assert!(low > 10 * high.max(1), "{d:?}: low {low} high {high}");
        }
    }

    #[test]
    fn gaussian_centres() {
        let h = histogram(Dist::Gaussian, 100_000, 1, 1_000);
        let mid: u64 = h[300..700].iter().sum();
        assert!(mid > 95_000, "{mid}");
    }

    #[test]
    fn pattern_fills_digits_and_letters() {
        let mut rng = SmallRng::seed_from_u64(1);
        let p = Pattern::new(&sysbench_c_template());
        let v = p.fill(&mut rng);
        assert_eq!(v.len(), 119);
        let s = String::from_utf8(v).unwrap();
        assert_eq!(s.split('-').count(), 10);
        assert!(s
            .split('-')
            .all(|g| g.len() == 11 && g.bytes().all(|b| b.is_ascii_digit())));
        let v = Pattern::new("@@-#").fill(&mut rng);
        assert!(v[0].is_ascii_lowercase() && v[2] == b'-' && v[3].is_ascii_digit());
    }
}
