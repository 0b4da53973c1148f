//! `SHOW GLOBAL STATUS`: which variables are read, and the metrics derived from two snapshots.
//!
//! Counters are cumulative on the server, so everything stored is a delta between two
//! snapshots; gauges (threads connected and running, `Max_used_connections`) are taken as they
//! are at the later one. The derivation is pure and tested on synthetic snapshots. Names differ
//! between MariaDB 10.11 and MySQL 8 only for the redo log (`Innodb_os_log_written` on both,
//! plus the LSN as `Innodb_lsn_current` on MariaDB and `Innodb_redo_log_current_lsn` on
//! MySQL ≥ 8.0.30); names are matched case-insensitively.

use crate::record::ServerSample;
use std::collections::BTreeMap;

/// Counters read besides every `Com_*`.
pub const COUNTERS: &[&str] = &[
    "Questions",
    "Slow_queries",
    "Connections",
    "Aborted_connects",
    "Threads_created",
    "Innodb_buffer_pool_read_requests",
    "Innodb_buffer_pool_reads",
    "Innodb_row_lock_waits",
    "Innodb_row_lock_time",
    "Created_tmp_tables",
    "Created_tmp_disk_tables",
    "Innodb_rows_read",
    "Innodb_rows_inserted",
    "Innodb_rows_updated",
    "Innodb_rows_deleted",
    "Rows_read",
    "Handler_write",
    "Handler_update",
    "Handler_delete",
    "Innodb_data_written",
    "Innodb_os_log_written",
    "Innodb_lsn_current",
    "Innodb_redo_log_current_lsn",
    "Performance_schema_prepared_statements_lost",
    "Performance_schema_digest_lost",
];

/// Gauges: their value, not their delta, is what counts.
pub const GAUGES: &[&str] = &[
    "Threads_connected",
    "Threads_running",
    "Max_used_connections",
    "Uptime",
];

/// The status query: the variables above and every `Com_*`, filtered on the server (about a
/// third of the cost of a full `SHOW GLOBAL STATUS` on MariaDB 10.11).
pub fn status_query() -> String {
    let names = COUNTERS
        .iter()
        .chain(GAUGES)
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(",");
    format!("SHOW GLOBAL STATUS WHERE Variable_name IN ({names}) OR Variable_name LIKE 'Com\\_%'")
}

/// Status values by lower-cased name; non-numeric values are skipped.
pub type Values = BTreeMap<String, u64>;

pub fn parse_rows<I: IntoIterator<Item = (String, String)>>(rows: I) -> Values {
    rows.into_iter()
        .filter_map(|(k, v)| Some((k.to_ascii_lowercase(), v.trim().parse::<u64>().ok()?)))
        .collect()
}

/// One reading of the server.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// Seconds since the monitor's first snapshot.
    pub t: f64,
    pub at_ms: i64,
    pub values: Values,
    /// Statements the monitor had sent when this snapshot was taken (this one included).
    pub monitor_queries: u64,
    /// performance_schema statement events so far: (count, total picoseconds).
    pub statement_events: Option<(u64, u64)>,
}

impl Snapshot {
    pub fn get(&self, name: &str) -> Option<u64> {
        self.values.get(&name.to_ascii_lowercase()).copied()
    }
}

/// `b − a` for a counter; a counter that went backwards (FLUSH STATUS, a restarted server)
/// counts from zero.
fn delta(a: &Snapshot, b: &Snapshot, name: &str) -> u64 {
    match (a.get(name), b.get(name)) {
        (Some(x), Some(y)) if y >= x => y - x,
        (_, Some(y)) => y,
        _ => 0,
    }
}

fn pct(num: f64, den: f64) -> Option<f64> {
    (den > 0.0).then(|| 100.0 * num / den)
}

/// The larger of two percentages, either of which may be unknown.
fn max_pct(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// The metrics of the interval from `a` to `b`.
pub fn derive(a: &Snapshot, b: &Snapshot, max_connections: u64) -> ServerSample {
    let d = |n: &str| delta(a, b, n);
    let g = |n: &str| b.get(n).unwrap_or(0);
    let interval_s = (b.t - a.t).max(0.0);
    let questions = d("Questions");
    let monitor_queries = b.monitor_queries.saturating_sub(a.monitor_queries);
    let commands: BTreeMap<String, u64> = b
        .values
        .keys()
        .filter_map(|k| {
            let name = k.strip_prefix("com_")?;
            let v = d(k);
            (v > 0).then(|| (name.to_string(), v))
        })
        .collect();
    let (requests, reads) = (
        d("Innodb_buffer_pool_read_requests"),
        d("Innodb_buffer_pool_reads"),
    );
    let redo = {
        let written = d("Innodb_os_log_written");
        if written > 0 {
            written
        } else {
            d("Innodb_lsn_current").max(d("Innodb_redo_log_current_lsn"))
        }
    };
    // MariaDB 10.11 has no Innodb_rows_*: its server-wide row counters stand in.
    let rows = |innodb: &str, server: &str| {
        if b.get(innodb).is_some() {
            d(innodb)
        } else {
            d(server)
        }
    };
    let (threads_connected, max_used) = (g("Threads_connected"), g("Max_used_connections"));
    // The interval's peak: Threads_connected as sampled, or the server's own high-water mark
    // when it rose during the interval: connections that came and went between two samples
    // (a storm refused with `Too many connections`) move it and never show in the gauge.
    let rose = max_used > a.get("Max_used_connections").unwrap_or(0);
    let peak = if rose {
        threads_connected.max(max_used)
    } else {
        threads_connected
    };
    let mc = max_connections as f64;
    let avg = match (a.statement_events, b.statement_events) {
        (Some((c0, s0)), Some((c1, s1))) if c1 > c0 && s1 >= s0 => {
            Some(((s1 - s0) as f64 / (c1 - c0) as f64 / 1e9, c1 - c0))
        }
        (Some(_), Some(_)) => Some((0.0, 0)),
        _ => None,
    };
    ServerSample {
        t: b.t,
        at_ms: b.at_ms,
        interval_s,
        threads_connected,
        threads_running: g("Threads_running"),
        max_used_connections: max_used,
        max_connections,
        connection_usage_pct: pct(peak as f64, mc),
        max_used_connections_pct: pct(max_used as f64, mc),
        questions,
        monitor_queries,
        qps: if interval_s > 0.0 {
            questions.saturating_sub(monitor_queries) as f64 / interval_s
        } else {
            0.0
        },
        commands,
        slow_queries: d("Slow_queries"),
        slow_query_ratio_pct: pct(d("Slow_queries") as f64, questions as f64),
        avg_statement_ms: avg.filter(|a| a.1 > 0).map(|a| a.0),
        statements_timed: avg.map(|a| a.1),
        buffer_pool_read_requests: requests,
        buffer_pool_reads: reads,
        buffer_pool_hit_pct: pct(requests.saturating_sub(reads) as f64, requests as f64),
        row_lock_waits: d("Innodb_row_lock_waits"),
        row_lock_time_ms: d("Innodb_row_lock_time"),
        tmp_tables: d("Created_tmp_tables"),
        tmp_disk_tables: d("Created_tmp_disk_tables"),
        rows_read: rows("Innodb_rows_read", "Rows_read"),
        rows_inserted: rows("Innodb_rows_inserted", "Handler_write"),
        rows_updated: rows("Innodb_rows_updated", "Handler_update"),
        rows_deleted: rows("Innodb_rows_deleted", "Handler_delete"),
        data_written_bytes: d("Innodb_data_written"),
        redo_written_bytes: redo,
        connections: d("Connections"),
        aborted_connects: d("Aborted_connects"),
        threads_created: d("Threads_created"),
    }
}

/// The whole window: counters from the first to the last snapshot, gauges at their peak over
/// the samples.
pub fn window(
    first: &Snapshot,
    last: &Snapshot,
    samples: &[ServerSample],
    max_connections: u64,
) -> ServerSample {
    let mut w = derive(first, last, max_connections);
    let mut usage = w.connection_usage_pct;
    for s in samples {
        w.threads_connected = w.threads_connected.max(s.threads_connected);
        w.threads_running = w.threads_running.max(s.threads_running);
        w.max_used_connections = w.max_used_connections.max(s.max_used_connections);
        usage = max_pct(usage, s.connection_usage_pct);
    }
    let mc = max_connections as f64;
    w.connection_usage_pct = max_pct(usage, pct(w.threads_connected as f64, mc));
    w.max_used_connections_pct = pct(w.max_used_connections as f64, mc);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(t: f64, own: u64, kv: &[(&str, u64)]) -> Snapshot {
        Snapshot {
            t,
            at_ms: (t * 1000.0) as i64,
            values: parse_rows(kv.iter().map(|(k, v)| (k.to_string(), v.to_string()))),
            monitor_queries: own,
            statement_events: None,
        }
    }

    #[test]
    fn deltas_ratios_and_gauges() {
        let a = snap(
            0.0,
            1,
            &[
                ("Questions", 1000),
                ("Slow_queries", 10),
                ("Innodb_buffer_pool_read_requests", 5000),
                ("Innodb_buffer_pool_reads", 100),
                ("Com_select", 700),
                ("Com_insert", 5),
                ("Threads_connected", 3),
                ("Max_used_connections", 12),
                ("Innodb_os_log_written", 0),
                ("Innodb_lsn_current", 1000),
            ],
        );
        let mut b = snap(
            2.0,
            3,
            &[
                ("Questions", 3002),
                ("Slow_queries", 30),
                ("Innodb_buffer_pool_read_requests", 15000),
                ("Innodb_buffer_pool_reads", 600),
                ("Com_select", 2700),
                ("Com_insert", 5),
                ("Threads_connected", 9),
                ("Threads_running", 4),
                ("Max_used_connections", 12),
                ("Innodb_os_log_written", 0),
                ("Innodb_lsn_current", 5096),
            ],
        );
        b.statement_events = Some((500, 1_000_000_000_000));
        let mut a2 = a.clone();
        a2.statement_events = Some((100, 200_000_000_000));
        let s = derive(&a2, &b, 10);
        assert_eq!(s.questions, 2002);
        assert_eq!(s.monitor_queries, 2);
        assert_eq!(s.qps, 1000.0);
        assert_eq!(s.slow_query_ratio_pct, Some(100.0 * 20.0 / 2002.0));
        assert_eq!(s.buffer_pool_hit_pct, Some(95.0));
        assert_eq!(s.commands.get("select"), Some(&2000));
        assert_eq!(
            s.commands.get("insert"),
            None,
            "unchanged commands are left out"
        );
        assert_eq!(s.connection_usage_pct, Some(90.0));
        assert_eq!(s.max_used_connections_pct, Some(120.0));
        assert_eq!(s.threads_running, 4);
        assert_eq!(s.rows_read, 0, "no row counter at all reads as zero");
        // Innodb_os_log_written did not move: the LSN advance stands in.
        assert_eq!(s.redo_written_bytes, 4096);
        // 800 ps-seconds over 400 statements: 2 ms each.
        assert_eq!(s.avg_statement_ms, Some(2.0));
        assert_eq!(s.statements_timed, Some(400));
        // Without performance_schema there is no average, rather than a made-up one.
        assert_eq!(derive(&a, &b, 10).avg_statement_ms, None);
    }

    #[test]
    fn a_counter_that_went_backwards_counts_from_zero() {
        let a = snap(0.0, 0, &[("Questions", 5000)]);
        let b = snap(1.0, 0, &[("Questions", 40)]);
        assert_eq!(derive(&a, &b, 100).questions, 40);
        // No reads: no ratio rather than 100 % or NaN.
        assert_eq!(derive(&a, &b, 100).buffer_pool_hit_pct, None);
        assert_eq!(derive(&a, &b, 0).connection_usage_pct, None);
    }

    #[test]
    fn connection_usage_counts_the_high_water_mark_when_it_rose() {
        // 50 connections came and went between two samples (refused with `Too many
        // connections` at 51 of 50): Threads_connected never shows them, Max_used_connections
        // does.
        let a = snap(
            0.0,
            0,
            &[("Threads_connected", 2), ("Max_used_connections", 3)],
        );
        let b = snap(
            1.0,
            0,
            &[("Threads_connected", 2), ("Max_used_connections", 51)],
        );
        let s = derive(&a, &b, 50);
        assert_eq!(s.connection_usage_pct, Some(102.0));
        // A high-water mark from before the interval says nothing about it.
        let c = snap(
            2.0,
            0,
            &[("Threads_connected", 2), ("Max_used_connections", 51)],
        );
        assert_eq!(derive(&b, &c, 50).connection_usage_pct, Some(4.0));
        // The whole window keeps the peak.
        let w = window(&a, &c, &[s, derive(&b, &c, 50)], 50);
        assert_eq!(w.connection_usage_pct, Some(102.0));
    }

    #[test]
    fn window_takes_peaks_of_gauges() {
        let a = snap(0.0, 0, &[("Questions", 0), ("Threads_connected", 1)]);
        let b = snap(2.0, 2, &[("Questions", 100), ("Threads_connected", 1)]);
        let mid = ServerSample {
            threads_connected: 7,
            threads_running: 5,
            ..Default::default()
        };
        let w = window(&a, &b, &[mid], 10);
        assert_eq!(w.threads_connected, 7);
        assert_eq!(w.threads_running, 5);
        assert_eq!(w.connection_usage_pct, Some(70.0));
        assert_eq!(w.questions, 100);
    }

    #[test]
    fn the_query_escapes_the_like_pattern() {
        let q = status_query();
        assert!(
            q.contains("'Questions'") && q.ends_with("LIKE 'Com\\_%'"),
            "{q}"
        );
    }
}
