//! The terminal summary of a run, laid out like sysbench's so people can read it side by side.

use crate::record::{LatencyStats, RunRecord};
use std::fmt::Write;

fn lat_row(out: &mut String, label: &str, l: &LatencyStats) {
    let _ = writeln!(
        out,
        "    {label:<10} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
        l.min, l.avg, l.p50, l.p90, l.p95, l.p99, l.p999, l.max
    );
}

pub fn render(r: &RunRecord) -> String {
    let mut o = String::new();
    let id = r.id.map_or("-".to_string(), |i| i.to_string());
    let _ = writeln!(
        o,
        "loadgate {} — run {id}: {}",
        r.tool_version,
        r.status.0.as_str()
    );
    if let Some(why) = &r.status_reason {
        let _ = writeln!(o, "  why: {why}");
    }
    let st = &r.settings;
    let get = |k: &str| {
        st.get(k)
            .map(|v| v.to_string().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    let _ = writeln!(o, "workload:  {} (hash {})", r.workload, r.workload_hash);
    let _ = writeln!(
        o,
        "target:    {} — {} {}",
        r.target, r.server.flavor, r.server.version
    );
    let _ = writeln!(
        o,
        "settings:  threads={} tables={} table_size={} rand_type={} seed={} client_threads={}",
        get("threads"),
        get("tables"),
        get("table_size"),
        get("rand_type"),
        get("seed"),
        get("client_threads")
    );
    let Some(s) = &r.summary else {
        let _ = writeln!(o, "\nNothing was measured.");
        return o;
    };
    let mode = match &s.schedule {
        Some(sc) => format!("open loop at {:.1} tx/s", sc.rate),
        None => "closed loop".to_string(),
    };
    let _ = writeln!(
        o,
        "mode:      {mode}; {:.2} s measured after {} s warm-up",
        s.duration_s,
        get("warmup_s")
    );
    let _ = writeln!(o, "\nSQL statistics:");
    let _ = writeln!(o, "    queries performed:");
    let _ = writeln!(
        o,
        "        read:                            {}",
        s.queries.read
    );
    let _ = writeln!(
        o,
        "        write:                           {}",
        s.queries.write
    );
    let _ = writeln!(
        o,
        "        other:                           {}",
        s.queries.other
    );
    let _ = writeln!(
        o,
        "        total:                           {}",
        s.queries.total()
    );
    let _ = writeln!(
        o,
        "    transactions:                        {:<10} ({:.2} per sec.)",
        s.transactions, s.tps
    );
    let _ = writeln!(
        o,
        "    queries:                             {:<10} ({:.2} per sec.: r {:.2} / w {:.2} / o {:.2})",
        s.queries.total(),
        s.qps.total,
        s.qps.read,
        s.qps.write,
        s.qps.other
    );
    let errs: u64 = s.errors.iter().map(|e| e.count).sum();
    let _ = writeln!(
        o,
        "    errors:                              {:<10} (failed transactions {}, retries {}, reconnects {})",
        errs, s.failed_transactions, s.retries, s.reconnects
    );
    for e in &s.errors {
        let _ = writeln!(
            o,
            "        code {:>5} {:<22} {:>8} (retried {}) e.g. {}",
            e.code, e.kind, e.count, e.retried, e.example
        );
    }
    let _ = writeln!(
        o,
        "\nLatency (ms):  {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "min", "avg", "p50", "p90", "p95", "p99", "p99.9", "max"
    );
    lat_row(&mut o, "corrected", &s.latency_corrected);
    lat_row(&mut o, "service", &s.latency_service);
    match &s.schedule {
        None => {
            let _ = writeln!(o, "    (closed loop: each transaction starts when the previous one ends, so corrected = service)");
        }
        Some(sc) => {
            let _ = writeln!(o, "    (corrected counts from each transaction's intended start on the schedule; service from its actual send)");
            let _ = writeln!(
                o,
                "\nSchedule:  target {:.1} tx/s, achieved {:.1} tx/s; scheduled {} = completed {} + failed {} + in flight {} + not started {}",
                sc.rate, sc.achieved_rate, sc.scheduled, sc.completed, sc.failed, sc.in_flight, sc.not_started
            );
            let _ = writeln!(
                o,
                "           max queue depth {}, max start lag {:.2} ms{}",
                sc.max_queue_depth,
                sc.max_start_lag_ms,
                if sc.fell_behind {
                    " — the schedule FELL BEHIND: the connections were too few for the rate (Little's law: connections ≥ rate × latency) or the server stalled"
                } else {
                    ""
                }
            );
        }
    }
    if s.statements.len() > 1 || s.transactions_by_type.len() > 1 {
        let _ = writeln!(o, "\nPer statement (service time, ms):");
        let _ = writeln!(
            o,
            "    {:<20} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7}",
            "statement", "count", "avg", "p95", "p99", "max", "errors"
        );
        for st in &s.statements {
            let _ = writeln!(
                o,
                "    {:<20} {:>10} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7}",
                st.name,
                st.count,
                st.service.avg,
                st.service.p95,
                st.service.p99,
                st.service.max,
                st.errors
            );
        }
        if s.transactions_by_type.len() > 1 {
            let _ = writeln!(o, "\nPer transaction type (service time, ms):");
            for t in &s.transactions_by_type {
                let _ = writeln!(
                    o,
                    "    {:<20} {:>10} {:>9.3} {:>9.3} {:>9.3}",
                    t.name, t.count, t.service.avg, t.service.p95, t.service.p99
                );
            }
        }
    }
    o
}
