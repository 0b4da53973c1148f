//! The terminal summary of a run, laid out like sysbench's so people can read it side by side.

use crate::record::{LatencyStats, MonitorReport, RunRecord};
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
    let st = r.settings_as_ran();
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
    if !r.facts.foreign_tables.is_empty() {
        let _ = writeln!(
            o,
            "tables:    not created by loadgate: {} ({})",
            r.facts.foreign_tables.join(", "),
            if r.facts.foreign_writes {
                "the workload changed their data, --allow-writes-to-foreign-tables"
            } else {
                "the workload only read them"
            }
        );
    }
    let Some(s) = &r.summary else {
        let _ = writeln!(o, "\nNothing was measured.");
        if let Some(m) = &r.monitor {
            render_monitor(&mut o, m);
        }
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
    if let Some(u) = &s.unfinished {
        render_unfinished(&mut o, u);
    }
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
    let client_table = s.statements.len() > 1 || s.transactions_by_type.len() > 1;
    if client_table {
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
    if let Some(w) = &r.work {
        render_work(&mut o, w);
    }
    if let Some(m) = &r.monitor {
        render_monitor_beside(&mut o, m, client_table);
    }
    o
}

/// The work per transaction over the measured window.
pub fn render_work(o: &mut String, w: &crate::record::work::Work) {
    let _ = writeln!(
        o,
        "\nWork per transaction ({} transactions over {:.1} s, warm-up excluded; the monitor's own statements taken out):",
        w.transactions, w.window_s
    );
    let per = |n: u64| {
        w.per_txn(n as f64)
            .map_or("-".into(), |v| format!("{v:.2}"))
    };
    let c = &w.counters;
    let rows = [
        ("rows examined (Handler_read_*)", per(c.handler_reads)),
        (
            "  performance_schema's count",
            w.ps_rows_examined
                .map_or("- (performance_schema off)".into(), per),
        ),
        ("rows read", per(c.rows_read)),
        (
            "buffer-pool page requests",
            per(c.buffer_pool_read_requests),
        ),
        ("buffer-pool disk reads", per(c.buffer_pool_reads)),
        ("temporary tables", per(c.tmp_tables)),
        ("  of them on disk", per(c.tmp_disk_tables)),
        ("sort merge passes", per(c.sort_merge_passes)),
        ("rows sorted", per(c.sort_rows)),
        ("bytes sent", per(c.bytes_sent)),
        ("bytes received", per(c.bytes_received)),
    ];
    for (label, v) in rows {
        let _ = writeln!(o, "    {label:<32} {v:>12}");
    }
    let us = |s: Option<f64>| {
        s.and_then(|s| w.per_txn(s * 1e6))
            .map_or("-".into(), |v| format!("{v:.1} µs"))
    };
    let _ = writeln!(o, "    {:<32} {:>12}", "client CPU", us(w.client_cpu_s));
    let server = match w.server_cpu_s {
        Some(_) => us(w.server_cpu_s),
        None => "- (not loadgate's server)".into(),
    };
    let _ = writeln!(o, "    {:<32} {:>12}", "server CPU", server);
    for n in &w.notes {
        let _ = writeln!(o, "    note: {n}");
    }
}

/// Says which latency figures are lower bounds, and why.
fn render_unfinished(o: &mut String, u: &crate::record::Unfinished) {
    let mut gave_up = Vec::new();
    if u.in_flight > 0 {
        gave_up.push(format!(
            "{} still in flight {:.1} s after the end",
            u.in_flight, u.grace_s
        ));
    }
    if u.not_started > 0 {
        gave_up.push(format!("{} due and never started", u.not_started));
    }
    let _ = writeln!(
        o,
        "    LOWER BOUNDS: the latencies include {} transaction(s) the run gave up on ({}), each at \
         the time from its intended start to when the run gave up on it; every figure from {:.2} ms up is \
         a lower bound. The transaction counts and rates hold completions only.",
        u.in_flight + u.not_started,
        gave_up.join(", "),
        u.lower_bound_from_ms
    );
}

fn opt_pct(v: Option<f64>) -> String {
    v.map_or("-".to_string(), |v| format!("{v:.2} %"))
}

fn bytes(b: u64) -> String {
    match b {
        b if b >= 1 << 30 => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.2} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// The monitor's part of a summary: server metrics over the window, the pool, the server's
/// per-statement numbers, alerts, notes and warnings.
pub fn render_monitor(o: &mut String, m: &MonitorReport) {
    render_monitor_beside(o, m, false);
}

/// [`render_monitor`] after a run's summary; `client_table`: the summary printed the client's
/// per-statement table already, so a monitor without the server's view (performance_schema
/// off, no access) says so in one line instead of printing the client's numbers again.
fn render_monitor_beside(o: &mut String, m: &MonitorReport, client_table: bool) {
    let _ = writeln!(
        o,
        "\nServer (embedded monitor, every {} s, {} samples; performance_schema {}):",
        m.interval_s,
        m.samples.len(),
        m.performance_schema
    );
    match &m.window {
        None => {
            let _ = writeln!(o, "    no server metrics (see warnings)");
        }
        Some(w) => {
            let _ = writeln!(
                o,
                "    connections:     peak {} of max_connections {} ({}); Max_used_connections {} ({}); threads running peak {}",
                w.threads_connected,
                w.max_connections,
                opt_pct(w.connection_usage_pct),
                w.max_used_connections,
                opt_pct(w.max_used_connections_pct),
                w.threads_running
            );
            let mut cmds: Vec<(&String, &u64)> = w.commands.iter().collect();
            cmds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let top: Vec<String> = cmds
                .iter()
                .take(8)
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(
                o,
                "    statements:      {} Questions ({:.2}/s; the monitor's own {} excluded from the rate); by command: {}",
                w.questions,
                w.qps,
                w.monitor_queries,
                if top.is_empty() { "-".to_string() } else { top.join(", ") }
            );
            let _ = writeln!(
                o,
                "    slow queries:    {} ({} of Questions)",
                w.slow_queries,
                opt_pct(w.slow_query_ratio_pct)
            );
            let _ = writeln!(
                o,
                "    avg statement:   {}",
                match w.avg_statement_ms {
                    Some(ms) => format!(
                        "{ms:.3} ms over {} statements (performance_schema)",
                        w.statements_timed.unwrap_or(0)
                    ),
                    None => match m.performance_schema.as_str() {
                        "off" => "unavailable: performance_schema is off".to_string(),
                        "no_access" => {
                            "unavailable: this account may not read performance_schema".to_string()
                        }
                        _ => "unavailable".to_string(),
                    },
                }
            );
            let _ = writeln!(
                o,
                "    buffer pool:     hit ratio {} ({} reads from disk of {} requests)",
                opt_pct(w.buffer_pool_hit_pct),
                w.buffer_pool_reads,
                w.buffer_pool_read_requests
            );
            let _ = writeln!(
                o,
                "    row locks:       {} waits, {} ms waited",
                w.row_lock_waits, w.row_lock_time_ms
            );
            let _ = writeln!(
                o,
                "    temp tables:     {} created, {} on disk",
                w.tmp_tables, w.tmp_disk_tables
            );
            let _ = writeln!(
                o,
                "    InnoDB rows:     read {}, inserted {}, updated {}, deleted {}",
                w.rows_read, w.rows_inserted, w.rows_updated, w.rows_deleted
            );
            let _ = writeln!(
                o,
                "    written:         data {}, redo {}",
                bytes(w.data_written_bytes),
                bytes(w.redo_written_bytes)
            );
        }
    }
    if let Some(p) = &m.pool {
        let _ = writeln!(o, "\nPool (one connection per worker):");
        let _ = writeln!(
            o,
            "    size {}; peak open {}; in use {:.2} and idle {:.2} on average; max waiting {}",
            p.size, p.peak_open, p.avg_in_use, p.avg_idle, p.max_waiting
        );
        let _ = writeln!(
            o,
            "    connects {} (avg {:.2} ms, max {:.2} ms); discarded {}; wait for a connection avg {:.3} ms, max {:.3} ms",
            p.connects, p.connect_avg_ms, p.connect_max_ms, p.discarded, p.wait_avg_ms, p.wait_max_ms
        );
    }
    if let Some(c) = &m.idle_connections {
        let _ = writeln!(
            o,
            "    SHOW PROCESSLIST after the load: {} idle of {} connections of `{}` (pool size {})",
            c.idle, c.total, c.user, c.pool_size
        );
    }
    let server = m.statements.iter().any(|s| s.source != "client");
    if !m.statements.is_empty() && !server && client_table {
        let _ = writeln!(
            o,
            "\nPer statement: the server's view is unavailable (performance_schema {}); the client's service times are above.",
            m.performance_schema
        );
    } else if !m.statements.is_empty() {
        let _ = writeln!(
            o,
            "\nPer statement ({}, ms):",
            if server {
                "as the server saw it, performance_schema"
            } else {
                "the client's service time; the server's view is unavailable"
            }
        );
        let _ = writeln!(
            o,
            "    {:<20} {:>10} {:>10} {:>9} {:>9} {:>12} {:>11} {:>8} {:>8} {:>8}",
            "statement",
            "count",
            "total",
            "avg",
            "max",
            "rows exam.",
            "rows sent",
            "lock",
            "no index",
            "tmp disk"
        );
        let n = |v: Option<u64>| v.map_or("-".to_string(), |v| v.to_string());
        for s in &m.statements {
            let _ = writeln!(
                o,
                "    {:<20} {:>10} {:>10.1} {:>9.3} {:>9.3} {:>12} {:>11} {:>8} {:>8} {:>8}{}",
                s.name,
                s.count,
                s.total_ms,
                s.avg_ms,
                s.max_ms,
                n(s.rows_examined),
                n(s.rows_sent),
                s.lock_ms.map_or("-".to_string(), |v| format!("{v:.1}")),
                n(s.no_index_used),
                n(s.tmp_disk_tables),
                if s.source == "client" {
                    "  (client)"
                } else {
                    ""
                }
            );
        }
    }
    let _ = writeln!(o, "\nAlerts:");
    if m.alerts.is_empty() {
        let _ = writeln!(o, "    none");
    }
    for a in &m.alerts {
        let _ = writeln!(
            o,
            "    {:<8} {}: {}",
            a.level.as_str().to_ascii_uppercase(),
            a.metric,
            a.message
        );
    }
    let _ = writeln!(
        o,
        "    (thresholds warning/critical: {})",
        crate::monitor::config::describe(&m.thresholds)
    );
    for n in &m.notes {
        let _ = writeln!(o, "note: {n}");
    }
    for w in &m.warnings {
        let _ = writeln!(o, "WARNING: {w}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{NamedLatency, StatementStat, Summary};

    fn stmt(name: &str) -> NamedLatency {
        NamedLatency {
            name: name.into(),
            count: 10,
            ..Default::default()
        }
    }

    #[test]
    fn without_the_servers_view_the_statements_are_printed_once() {
        let client = |name: &str| StatementStat {
            name: name.into(),
            source: "client".into(),
            count: 10,
            ..Default::default()
        };
        let mut r = RunRecord {
            summary: Some(Summary {
                statements: vec![stmt("point_selects"), stmt("index_updates")],
                ..Default::default()
            }),
            monitor: Some(MonitorReport {
                performance_schema: "off".into(),
                statements: vec![client("point_selects"), client("index_updates")],
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = render(&r);
        assert_eq!(text.matches("point_selects").count(), 1, "{text}");
        assert!(text.contains("the server's view is unavailable (performance_schema off)"));
        // With the server's view, both tables: they say different things.
        if let Some(m) = &mut r.monitor {
            m.performance_schema = "on".into();
            for s in &mut m.statements {
                s.source = "prepared_statements_instances".into();
            }
        }
        assert_eq!(render(&r).matches("point_selects").count(), 2);
    }
}
