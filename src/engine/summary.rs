//! Turning recorders into the numbers people read: latency statistics, rates, error lists,
//! the interval series.

use super::recorder::{IntervalAcc, Totals};
use crate::record::{IntervalSample, LatencyStats, NamedLatency, Qps, Summary};
use crate::workload::plan::Plan;
use hdrhistogram::Histogram;

const NS_PER_MS: f64 = 1_000_000.0;

/// Statistics of a histogram of nanoseconds, in milliseconds.
pub fn latency_stats(h: &Histogram<u64>) -> LatencyStats {
    if h.is_empty() {
        return LatencyStats::default();
    }
    let ms = |v: u64| v as f64 / NS_PER_MS;
    LatencyStats {
        count: h.len(),
        min: ms(h.min()),
        avg: h.mean() / NS_PER_MS,
        p50: ms(h.value_at_quantile(0.50)),
        p90: ms(h.value_at_quantile(0.90)),
        p95: ms(h.value_at_quantile(0.95)),
        p99: ms(h.value_at_quantile(0.99)),
        p999: ms(h.value_at_quantile(0.999)),
        max: ms(h.max()),
    }
}

/// The run summary from merged totals over `duration_s` measured seconds.
pub fn summarize(plan: &Plan, t: &Totals, duration_s: f64, open_loop: bool) -> Summary {
    // Latency: the completed transactions and, as lower bounds, those the run gave up on
    // (in flight at the end of the grace, or never started). Counts: completions only.
    let mut corrected = super::recorder::new_histogram();
    let mut service = super::recorder::new_histogram();
    let mut failed = 0;
    let mut transactions = 0;
    for th in &t.txn {
        let _ = corrected.add(&th.corrected);
        let _ = corrected.add(&th.cut_corrected);
        let _ = service.add(&th.service);
        let _ = service.add(&th.cut_service);
        failed += th.failed;
        transactions += th.service.len();
    }
    let _ = corrected.add(&t.not_started);
    let per_s = |n: u64| {
        if duration_s > 0.0 {
            n as f64 / duration_s
        } else {
            0.0
        }
    };
    Summary {
        duration_s,
        transactions,
        failed_transactions: failed,
        queries: t.queries,
        tps: per_s(transactions),
        qps: Qps {
            total: per_s(t.queries.total()),
            read: per_s(t.queries.read),
            write: per_s(t.queries.write),
            other: per_s(t.queries.other),
        },
        latency_corrected: latency_stats(&corrected),
        latency_service: latency_stats(&service),
        errors: t.errors.values().cloned().collect(),
        retries: t.retries,
        reconnects: t.reconnects,
        schedule: None,
        transactions_by_type: plan
            .txns
            .iter()
            .zip(&t.txn)
            .map(|(p, h)| NamedLatency {
                name: p.name.clone(),
                count: h.service.len(),
                errors: h.failed,
                corrected: open_loop.then(|| latency_stats(&h.corrected_all())),
                service: latency_stats(&h.service_all()),
            })
            .collect(),
        statements: plan
            .statements
            .iter()
            .zip(&t.stmt)
            .map(|(p, h)| NamedLatency {
                name: p.name.clone(),
                count: h.service.len(),
                errors: h.errors,
                corrected: None,
                service: latency_stats(&h.service),
            })
            .collect(),
        unfinished: None,
    }
}

/// One interval's sample.
pub fn interval_sample(acc: &IntervalAcc, interval_s: f64, warmup_s: f64) -> IntervalSample {
    let t = (acc.idx + 1) as f64 * interval_s;
    let ms = |v: u64| v as f64 / NS_PER_MS;
    let n = acc.service.len();
    IntervalSample {
        t,
        warmup: t <= warmup_s + 1e-9,
        transactions: n,
        queries: acc.queries,
        errors: acc.errors,
        retries: acc.retries,
        reconnects: acc.reconnects,
        tps: n as f64 / interval_s,
        qps: acc.queries.total() as f64 / interval_s,
        corrected_p50_ms: ms(acc.corrected.value_at_quantile(0.5)),
        corrected_p95_ms: ms(acc.corrected.value_at_quantile(0.95)),
        corrected_p99_ms: ms(acc.corrected.value_at_quantile(0.99)),
        corrected_max_ms: ms(acc.corrected.max()),
        service_p99_ms: ms(acc.service.value_at_quantile(0.99)),
        queue_depth: acc.queue_depth,
        conn_open: acc.conn_open,
        conn_in_use: (acc.busy_ns as f64 / (interval_s * 1e9)).min(acc.conn_open as f64),
        connects: acc.connects,
        connect_max_ms: ms(acc.connect_ns_max),
        conn_discarded: acc.discarded,
        wait_avg_ms: if acc.waits > 0 {
            acc.wait_ns_sum as f64 / acc.waits as f64 / NS_PER_MS
        } else {
            0.0
        },
        wait_max_ms: ms(acc.wait_ns_max),
    }
}
