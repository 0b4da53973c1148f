//! Test support: synthetic runs with known answers (lognormal noise, linear drift, ABBA order),
//! from a seeded generator.

use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::dist::standard_normal;

/// The seeded generator the simulations use.
pub(crate) struct Rng(SmallRng);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(SmallRng::seed_from_u64(seed))
    }
}

/// A standard normal draw.
pub(crate) fn normal(rng: &mut Rng) -> f64 {
    standard_normal(&mut rng.0)
}

/// One simulated A/B job of `pairs` pairs run in ABBA order (A B, B A, A B, ...) on one machine.
///
/// Run `j` of the job (0-based, `2 · pairs` runs) has throughput
/// `1000 · exp(drift · j / (runs − 1) + noise · Z_j)`, times `exp(effect_log)` for B runs: a
/// lognormal run-to-run noise of `noise` (sd of the log) and a linear drift of `drift` (log) from
/// the first run to the last. Returns `(a, b)` by pair.
pub(crate) fn abba_job(
    rng: &mut Rng,
    pairs: usize,
    noise: f64,
    drift: f64,
    effect_log: f64,
) -> (Vec<f64>, Vec<f64>) {
    let runs = 2 * pairs;
    let mut run = |j: usize, is_b: bool| {
        let trend = drift * j as f64 / (runs - 1).max(1) as f64;
        let shift = if is_b { effect_log } else { 0.0 };
        1000.0 * (trend + noise * normal(rng) + shift).exp()
    };
    let mut a = Vec::with_capacity(pairs);
    let mut b = Vec::with_capacity(pairs);
    for i in 0..pairs {
        let (first, second) = (2 * i, 2 * i + 1);
        if i % 2 == 0 {
            a.push(run(first, false));
            b.push(run(second, true));
        } else {
            b.push(run(first, true));
            a.push(run(second, false));
        }
    }
    (a, b)
}

/// A series of `len` points around 100 with relative noise `noise`.
pub(crate) fn series(rng: &mut Rng, len: usize, noise: f64) -> Vec<f64> {
    (0..len)
        .map(|_| 100.0 * (1.0 + noise * normal(rng)))
        .collect()
}
