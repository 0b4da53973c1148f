//! A/B in the same seconds: when A and B can share one server and one run's settings (they
//! differ only in workload text or workload variables), every trial runs both —
//! [`Plan::side_by_side`](crate::workload::plan::Plan::side_by_side) assigns each transaction
//! to A or B at random from the trial's seed, one half each, on the same connections — so both
//! sides see the same machine at the same moment, and a slow stretch of a shared machine slows
//! both alike.
//!
//! Each side's values come from its own transaction types (`A:<name>`, `B:<name>`): its
//! corrected latency histogram (merged over its types) and its completed and failed
//! transactions. Its **tps** is a throughput index, the workers divided by its geometric-mean
//! latency ([`geometric_mean_ms`]), because its share of the trial's transactions is one half
//! by design and says nothing; what is judged is the ratio B/A of the index, the inverse ratio
//! of the sides' typical time per transaction. The per-trial log ratios B/A are independent across
//! trials, and are judged with the same group-sequential Holm procedure as ABBA pairs
//! ([`super::ab::evaluate`]; the test and its measured error rates: [`crate::stats::same`]).

use hdrhistogram::Histogram;

use super::ab::{evaluate, groups, over_budget, stop_after, AbData, AbOptions, PlanCache};
use super::trials::{fresh_seed, run_trial, seed_is_fixed, TrialSpec};
use super::{Metric, RegressError, RunValues};
use crate::error::Result;
use crate::record::gate::{Group, Side, StopReason};
use crate::record::work::WorkPerTxn;
use crate::record::{HistKind, HistScope, RunRecord};
use crate::store::Store;
use std::time::Instant;

/// The tags that name each side's transaction types and statements in a combined trial.
pub const TAGS: [&str; 2] = ["A", "B"];

/// One comparison of a same-seconds job: A and B at one thread count, in one combined plan.
pub struct SameCase<'a> {
    pub title: String,
    /// The combined trial: A's workload and settings, the plan of both sides.
    pub spec: TrialSpec<'a>,
    /// Report metadata; `set_id` and `run_ids` are filled in as the job runs (both sides name
    /// the same runs).
    pub a_side: Side,
    pub b_side: Side,
}

fn decode(bytes: &[u8]) -> Option<Histogram<u64>> {
    use hdrhistogram::serialization::Deserializer;
    Deserializer::new().deserialize(&mut &bytes[..]).ok()
}

/// The geometric mean of a histogram of nanoseconds, in milliseconds (`None` when empty):
/// `exp(mean(ln latency))`, each bucket at its median-equivalent value. Unlike the mean it is
/// not ruled by a few stalls of a shared machine (a trial's mean moved by 16 % between the
/// sides of an A/A trial when a handful of 100 ms stalls fall on one side), while a change of
/// the work every transaction does moves it in full.
pub fn geometric_mean_ms(h: &Histogram<u64>) -> Option<f64> {
    let (mut sum, mut n) = (0.0, 0u64);
    for v in h.iter_recorded() {
        let c = v.count_at_value();
        sum += c as f64 * (h.median_equivalent(v.value_iterated_to()) as f64).ln();
        n += c;
    }
    (n > 0).then(|| (sum / n as f64).exp() / 1e6)
}

/// The values of side `tag` in a combined trial run by `threads` workers: `None` when it
/// completed no transaction.
pub fn side_values(rec: &RunRecord, tag: &str, threads: u32) -> Option<RunValues> {
    let prefix = format!("{tag}:");
    let s = rec.summary.as_ref()?;
    let mut h = crate::engine::recorder::new_histogram();
    for stored in &rec.histograms {
        let ours = matches!(&stored.key.scope, HistScope::TxnType(t) if t.starts_with(&prefix));
        if ours && stored.key.kind == HistKind::Corrected {
            h.add(decode(&stored.bytes)?).ok()?;
        }
    }
    let types = s
        .transactions_by_type
        .iter()
        .filter(|t| t.name.starts_with(&prefix));
    let (transactions, errors) = types.fold((0, 0), |(n, e), t| (n + t.count, e + t.errors));
    let lat = crate::engine::summary::latency_stats(&h);
    let geo = geometric_mean_ms(&h)?;
    if transactions == 0 || geo <= 0.0 {
        return None;
    }
    Some(RunValues {
        run_id: rec.id.unwrap_or(0),
        tps: threads as f64 * 1000.0 / geo,
        p99_ms: lat.p99,
        transactions,
        errors,
        work: side_work(rec, tag, transactions),
    })
}

/// Whether a same-seconds trial can give metric `m` per side: time and errors from each side's
/// own transactions, and rows examined from performance_schema ([`side_work`]); the other
/// work metrics are server-wide counters or process CPU times that the sides share.
pub fn per_side(m: Metric) -> bool {
    !m.is_work() || m == Metric::RowsPerTxn
}

/// The work of side `tag` that the server can attribute to it ([`per_side`]): rows examined by the side's
/// prepared statements over the measured window, from performance_schema (their text carries
/// the side's comment), per transaction of the side. The server-wide counters (pages, disk
/// spills) and the CPU times cannot be split, so they stay unmeasured (NaN, never judged).
fn side_work(rec: &RunRecord, tag: &str, transactions: u64) -> Option<WorkPerTxn> {
    let rows = *rec.work.as_ref()?.ps_rows_examined_by_side.get(tag)?;
    Some(WorkPerTxn {
        rows: rows as f64 / transactions as f64,
        pages: f64::NAN,
        spills: f64::NAN,
        client_cpu_us: None,
        server_cpu_us: None,
    })
}

/// One trial of a case: both sides' values.
fn one_trial(
    store: &mut Store,
    case: &SameCase<'_>,
    set: &str,
    seed: Option<u64>,
) -> Result<(RunValues, RunValues)> {
    let rec = run_trial(store, &case.spec, set, seed)?;
    let side = |tag: &str| {
        side_values(&rec, tag, case.spec.settings.threads).ok_or_else(|| {
            RegressError::Invalid(format!(
                "run {}: side {tag} completed no transaction, so the sides cannot be compared; run longer trials (--duration)",
                rec.id.unwrap_or(0)
            ))
        })
    };
    Ok((side(TAGS[0])?, side(TAGS[1])?))
}

/// Runs the same-seconds job: for each case, trials until all its metrics are decided or
/// `max_pairs` trials; returns the groups of the report. Each case's trials are one run set,
/// `PREFIX` (with `-tN` per thread count when there are several cases).
pub fn run_same(
    store: &mut Store,
    cases: &mut [SameCase<'_>],
    opts: &AbOptions,
    set_prefix: &str,
) -> Result<Vec<Group>> {
    let seq = opts.seq;
    let mut plans = PlanCache::new(seq)?;
    let mut data: AbData = vec![(Vec::new(), Vec::new()); cases.len()];
    let mut stopped = vec![(String::new(), StopReason::MaxPairs); cases.len()];
    let n_cases = cases.len();
    let started = Instant::now();
    for (c, case) in cases.iter_mut().enumerate() {
        let set = match n_cases {
            1 => set_prefix.to_string(),
            _ => format!("{set_prefix}-t{}", case.spec.settings.threads),
        };
        let label = format!(
            "{} + {}, same seconds",
            case.a_side.label, case.b_side.label
        );
        let wl = &case.spec.workload.name;
        super::trials::open_set(store, &set, "ab", wl, seq.max_pairs as u32, Some(label))?;
        case.a_side.set_id = Some(set.clone());
        case.b_side.set_id = Some(set.clone());
        let fixed = seed_is_fixed(case.spec.settings);
        let case_started = Instant::now();
        for trial in 0..seq.max_pairs {
            if let Some(why) = over_budget(opts.max_time, started, case_started, trial, "trials") {
                stopped[c] = (why, StopReason::MaxTime);
                break;
            }
            let seed = (!fixed).then(fresh_seed);
            let (va, vb) = one_trial(store, case, &set, seed)?;
            case.a_side.run_ids.push(va.run_id);
            case.b_side.run_ids.push(vb.run_id);
            data[c].0.push(va);
            data[c].1.push(vb);
            if !opts.quiet {
                eprintln!(
                    "trial {}/{} ({}, run {}): {} {} tps, {} {} tps ({}); p99 {} → {} ms",
                    trial + 1,
                    seq.max_pairs,
                    case.title,
                    va.run_id,
                    case.a_side.label,
                    Metric::Tps.format(va.tps),
                    case.b_side.label,
                    Metric::Tps.format(vb.tps),
                    crate::util::pct(vb.tps / va.tps - 1.0),
                    Metric::P99.format(va.p99_ms),
                    Metric::P99.format(vb.p99_ms),
                );
            }
            let eval = evaluate(&data, &opts.margins, opts.metrics, &mut plans)?;
            if let Some(stop) = stop_after(&eval[c], trial + 1, seq.max_pairs, "trials") {
                stopped[c] = stop;
                if stopped[c].1 != StopReason::MaxPairs {
                    break;
                }
            }
        }
    }
    let sides = cases.iter().map(|c| (&c.title, &c.a_side, &c.b_side));
    groups(sides, &data, &stopped, opts, &mut plans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::HistKey;
    use crate::record::{NamedLatency, StoredHistogram, Summary};

    fn hist(values_ms: &[u64]) -> Vec<u8> {
        let mut h = crate::engine::recorder::new_histogram();
        for v in values_ms {
            crate::engine::recorder::record(&mut h, v * 1_000_000);
        }
        crate::engine::recorder::serialize(&h)
    }

    #[test]
    fn each_side_is_read_from_its_own_transaction_types() {
        let mut rec = RunRecord {
            id: Some(7),
            ..Default::default()
        };
        let mut summary = Summary::default();
        for (name, count, errors) in [("A:rw", 4, 0), ("B:rw", 3, 1), ("B:ro", 1, 0)] {
            summary.transactions_by_type.push(NamedLatency {
                name: name.into(),
                count,
                errors,
                ..Default::default()
            });
        }
        rec.summary = Some(summary);
        for (name, v) in [
            ("A:rw", &[2u64, 2, 2, 2][..]),
            ("B:rw", &[4, 4, 4]),
            ("B:ro", &[8]),
        ] {
            for kind in [HistKind::Corrected, HistKind::Service] {
                rec.histograms.push(StoredHistogram {
                    key: HistKey::new(HistScope::TxnType(name.into()), kind),
                    bytes: hist(v),
                });
            }
        }
        let threads = 4.0;
        let a = side_values(&rec, "A", 4).unwrap();
        assert_eq!((a.run_id, a.transactions, a.errors), (7, 4, 0));
        assert!((a.tps / (threads * 500.0) - 1.0).abs() < 0.002, "{a:?}");
        let b = side_values(&rec, "B", 4).unwrap();
        assert_eq!((b.transactions, b.errors), (4, 1));
        // Geometric mean 2^(9/4) ms over B's two types; its p99 is B:ro's 8 ms.
        let geo = 2f64.powf(2.25);
        assert!(
            (b.tps / (threads * 1000.0 / geo) - 1.0).abs() < 0.002,
            "{b:?}"
        );
        assert!((b.p99_ms - 8.0).abs() < 0.01, "{b:?}");
        assert!(side_values(&rec, "C", 4).is_none());
    }
}
