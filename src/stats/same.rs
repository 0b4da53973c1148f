//! The same-seconds design: A and B run in the same trial, every transaction assigned to A or
//! B at random (one half each) on the same connections, so both sides see the same machine at
//! the same moment.
//!
//! # The test
//!
//! Within a trial the sides are compared on the log ratio of a latency statistic of B's
//! transactions to A's: `d_i = ln(geo_B / geo_A)` for the typical time per transaction (the
//! geometric mean, robust to the stalls of a shared machine that rule a trial's mean; the
//! throughput ratio is its inverse), `ln(p99_B / p99_A)` for the tail. A slow second of the machine slows
//! both sides alike, because which side a transaction belongs to is decided by a coin flip
//! independent of the machine, and cancels in the ratio; what is left is the sampling noise of
//! each side's mean over its transactions.
//!
//! The trials are independent (each has its own random assignment and seed), so the `d_i`
//! are a plain one-sample problem: the group-sequential t-test on them
//! ([`super::SequentialPlan::evaluate_log_ratios`], a look after every trial) keeps its level.
//! The unit tests below measure its false-alarm rate on A/A and its power at a known shift on
//! synthetic trials whose machine speed swings by 30 % from trial to trial and inside a trial,
//! where the ABBA design (separate trials) has almost no power.

/// The log ratios `ln(b / a)` of per-trial statistics, B over A, one per trial.
pub fn trial_log_ratios(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().zip(b).map(|(x, y)| (y / x).ln()).collect()
}

#[cfg(test)]
mod tests {
    use super::super::sim::{abba_job, normal, Rng};
    use super::*;
    use crate::stats::{Decision, Direction, SequentialConfig, SequentialPlan};

    /// One simulated same-seconds trial of `txns` transactions: the machine's speed is a
    /// lognormal factor (sd `regime` of the log) drawn anew for each of 4 stretches of the
    /// trial; each transaction goes to B with probability ½; its latency is the stretch's
    /// factor × 1 ms × `exp(0.5 Z)` (a wide latency spread), × `1 + effect` for B; one
    /// transaction in 100 stalls for 30 ms more. Returns the geometric-mean latency of A's and
    /// of B's transactions.
    fn same_seconds_trial(rng: &mut Rng, txns: usize, regime: f64, effect: f64) -> (f64, f64) {
        let (mut sum, mut n) = ([0.0f64; 2], [0usize; 2]);
        let stretch = txns / 4;
        let mut factor = 1.0;
        for i in 0..txns {
            if i % stretch == 0 {
                factor = (regime * normal(rng)).exp();
            }
            let side = usize::from(normal(rng) > 0.0);
            let shift = if side == 1 { 1.0 + effect } else { 1.0 };
            let stall = if normal(rng) > 2.326 { 30.0 } else { 0.0 };
            sum[side] += (factor * shift * (0.5 * normal(rng)).exp() + stall).ln();
            n[side] += 1;
        }
        let geo = |i: usize| (sum[i] / n[i] as f64).exp();
        (geo(0), geo(1))
    }

    struct Tally {
        regressed: usize,
        regressed_by: usize,
        mean_trials: f64,
    }

    /// `jobs` same-seconds jobs on the default sequential plan, judged on the time per
    /// transaction (lower is better): how many were flagged, and how many within `by` trials.
    fn simulate(jobs: usize, txns: usize, regime: f64, effect: f64, by: usize, seed: u64) -> Tally {
        let plan = SequentialPlan::new(SequentialConfig::default()).unwrap();
        let max = plan.config.max_pairs;
        let mut rng = Rng::new(seed);
        let mut t = Tally {
            regressed: 0,
            regressed_by: 0,
            mean_trials: 0.0,
        };
        for _ in 0..jobs {
            let (a, b): (Vec<f64>, Vec<f64>) = (0..max)
                .map(|_| same_seconds_trial(&mut rng, txns, regime, effect))
                .unzip();
            let d = trial_log_ratios(&a, &b);
            let out = plan
                .evaluate_log_ratios(&d, Direction::LowerIsBetter)
                .unwrap();
            let trials = out.look.as_ref().map_or(max, |l| l.pairs);
            t.mean_trials += trials as f64 / jobs as f64;
            if out.decision == Decision::StopRegressed {
                t.regressed += 1;
                if trials <= by {
                    t.regressed_by += 1;
                }
            }
        }
        t
    }

    #[test]
    fn log_ratios_are_b_over_a() {
        let d = trial_log_ratios(&[2.0, 4.0], &[2.0, 2.0]);
        assert_eq!(d[0], 0.0);
        assert!((d[1] - 0.5f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn aa_false_alarm_rate_on_a_noisy_machine() {
        // 1,000 A/A jobs, 2,000 transactions per trial, the machine's speed swinging by 30 %
        // (sd of the log) between stretches of every trial. Bar: at most 1.5 % flagged at
        // α = 1 %.
        let jobs = 1000;
        let t = simulate(jobs, 2000, 0.3, 0.0, usize::MAX, 21);
        let rate = t.regressed as f64 / jobs as f64;
        eprintln!(
            "same-seconds A/A: false alarms {}/{jobs} = {:.2} %, mean trials {:.1}",
            t.regressed,
            100.0 * rate,
            t.mean_trials
        );
        assert!(rate <= 0.015, "false-alarm rate {rate}");
    }

    #[test]
    fn power_at_five_percent_more_time_per_transaction() {
        // B's transactions take 5 % longer on the same noisy machine, 4,000 transactions per
        // trial (a 10 s trial at 400 tps): flagged within 10 trials in ≥ 90 % of 500 jobs.
        let jobs = 500;
        let t = simulate(jobs, 4000, 0.3, 0.05, 10, 22);
        let power = t.regressed_by as f64 / jobs as f64;
        eprintln!(
            "same-seconds, 5 % slower: flagged within 10 trials {:.1} %, at all {:.1} %, mean trials {:.1}",
            100.0 * power,
            100.0 * t.regressed as f64 / jobs as f64,
            t.mean_trials
        );
        assert!(power >= 0.90, "power {power}");
    }

    #[test]
    fn abba_on_the_same_machine_noise_rarely_sees_it() {
        // The contrast: the same 5 % in separate trials, whose throughput swings by 30 % / 2
        // (the mean over a trial's four stretches), is flagged in far fewer jobs.
        let plan = SequentialPlan::new(SequentialConfig::default()).unwrap();
        let mut rng = Rng::new(23);
        let jobs = 500;
        let mut flagged = 0;
        for _ in 0..jobs {
            let (a, b) = abba_job(&mut rng, plan.config.max_pairs, 0.15, 0.0, -0.05f64.ln_1p());
            let out = plan.evaluate(&a, &b, Direction::HigherIsBetter).unwrap();
            flagged += usize::from(out.decision == Decision::StopRegressed);
        }
        let power = flagged as f64 / jobs as f64;
        eprintln!(
            "ABBA, 5 % drop, 15 % trial noise: flagged {:.1} %",
            100.0 * power
        );
        assert!(power < 0.5, "power {power}");
    }
}
