//! Test support: a simulated server with a known sustainable rate, for the rate search.
//!
//! Poisson arrivals at the step's rate, `servers` parallel servers, exponential service times
//! of mean `mean_service_s`, one FIFO queue (M/M/c): each arrival, in order, goes to the server
//! that frees first, so it waits `max(0, free − arrival)`. Its latency is wait + service from the
//! intended (arrival) time, recorded in nanoseconds like loadgate's corrected histogram. A
//! fraction `error_fraction` of transactions fail. The achieved rate is the target scaled by
//! the fraction of the step's arrivals completed by the step's end, so the Poisson noise of the
//! arrival count is not mistaken for falling behind, and an overloaded server (whose queue
//! grows) falls short. Each step draws from its own generator, seeded by the server's seed and
//! the step's number: deterministic given the seed.
//!
//! The reference: for the objective `p99 ≤ L`, [`mmc_sustainable_rate`] is the largest `λ` at
//! which the analytic M/M/c p99 response time is at most `L`. With `C` the Erlang C probability
//! of waiting and `θ = cμ − λ`, the waiting time is 0 with probability `1 − C` and else
//! exponential with rate `θ`; adding the independent exponential service (rate `μ`):
//! `P(T > t) = (1 − C) e^{−μt} + C (θ e^{−μt} − μ e^{−θt}) / (θ − μ)` (`(1 + μt) e^{−μt}` when
//! `θ = μ`). The p99 is found by bisection on `t`, the rate by bisection on `λ`.

use hdrhistogram::Histogram;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::search::{StepPlan, StepResult, StepRunner};

/// The simulated M/M/c server of the module doc.
pub(crate) struct SimulatedServer {
    pub servers: usize,
    pub mean_service_s: f64,
    pub error_fraction: f64,
    pub seed: u64,
    steps_run: u64,
}

impl SimulatedServer {
    pub(crate) fn new(servers: usize, mean_service_s: f64, seed: u64) -> SimulatedServer {
        SimulatedServer {
            servers,
            mean_service_s,
            error_fraction: 0.0,
            seed,
            steps_run: 0,
        }
    }
}

/// An exponential draw with the given mean.
fn exponential(rng: &mut SmallRng, mean: f64) -> f64 {
    -mean * (1.0 - rng.gen::<f64>()).ln()
}

impl StepRunner for SimulatedServer {
    fn run(&mut self, step: &StepPlan) -> StepResult {
        self.steps_run += 1;
        let mut rng = SmallRng::seed_from_u64(
            self.seed
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                .wrapping_add(self.steps_run),
        );
        let mut latency = Histogram::<u64>::new_with_bounds(1_000, 3_600_000_000_000, 3).unwrap();
        let mut free = vec![0.0f64; self.servers];
        let (mut arrived, mut completed, mut errors) = (0u64, 0u64, 0u64);
        let mut t = 0.0;
        loop {
            t += exponential(&mut rng, 1.0 / step.rate);
            if t >= step.duration_s {
                break;
            }
            let (i, _) = free
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .unwrap();
            let end = t.max(free[i]) + exponential(&mut rng, self.mean_service_s);
            free[i] = end;
            latency.saturating_record(((end - t) * 1e9) as u64);
            arrived += 1;
            if end <= step.duration_s {
                completed += 1;
            }
            if rng.gen::<f64>() < self.error_fraction {
                errors += 1;
            }
        }
        let achieved_rate = if arrived == 0 {
            0.0
        } else {
            step.rate * completed as f64 / arrived as f64
        };
        StepResult {
            target_rate: step.rate,
            achieved_rate,
            transactions: arrived,
            errors,
            latency,
        }
    }
}

/// Erlang C: the probability that an arrival waits, `c` servers at offered load `a = λ/μ < c`.
fn erlang_c(c: usize, a: f64) -> f64 {
    let mut term = 1.0; // a^k / k!
    let mut sum = 0.0;
    for k in 0..c {
        sum += term;
        term *= a / (k + 1) as f64;
    }
    let top = term / (1.0 - a / c as f64);
    top / (sum + top)
}

/// `P(T > t)` for the M/M/c response time (module doc).
fn response_tail(t: f64, rate: f64, servers: usize, mu: f64) -> f64 {
    let c = erlang_c(servers, rate / mu);
    let theta = servers as f64 * mu - rate;
    let both = if (theta - mu).abs() < 1e-9 * mu {
        (1.0 + mu * t) * (-mu * t).exp()
    } else {
        (theta * (-mu * t).exp() - mu * (-theta * t).exp()) / (theta - mu)
    };
    (1.0 - c) * (-mu * t).exp() + c * both
}

/// The analytic M/M/c response-time quantile `q`, seconds.
pub(crate) fn mmc_quantile(q: f64, rate: f64, servers: usize, mean_service_s: f64) -> f64 {
    let mu = 1.0 / mean_service_s;
    let (mut lo, mut hi) = (0.0, 1.0);
    while response_tail(hi, rate, servers, mu) > 1.0 - q {
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if response_tail(mid, rate, servers, mu) > 1.0 - q {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The largest rate at which the M/M/c `q`-quantile response time is at most `bound_s`.
pub(crate) fn mmc_sustainable_rate(
    q: f64,
    bound_s: f64,
    servers: usize,
    mean_service_s: f64,
) -> f64 {
    let (mut lo, mut hi) = (0.0, servers as f64 / mean_service_s);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mmc_quantile(q, mid, servers, mean_service_s) <= bound_s {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}
