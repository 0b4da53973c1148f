//! Work counters over a run's measured window: two readings of the server-wide counters
//! (`SHOW GLOBAL STATUS`), at the end of the warm-up and when the load has stopped (before the
//! workers' connections close), with the CPU time of the client threads and, for a throwaway
//! server, of the server process (`/proc`).
//!
//! The monitoring connection's own statements move the same counters as the workload: every
//! `SHOW STATUS` scans a temporary table (`Handler_read_rnd_next`, `Created_tmp_tables`) and
//! sends bytes. Its session counters cannot say how much (MariaDB 10.11 counts these in the
//! global status only), so their cost is measured before the load, while the run's workers are
//! not yet connected: a counter reading twice in a row gives the cost of one reading, and a
//! monitor sample between two readings the cost of a sample; the smallest of three tries
//! (another client on the server only adds). The window's work is the global delta minus one
//! reading and the samples taken inside the window at that cost ([`OwnCost`]).
//!
//! The derivation is pure and tested on synthetic snapshots.

use super::status::{parse_rows, Values};
use crate::record::work::{Work, WorkCounters};

/// The `Handler_read_*` counters summed into rows examined.
pub const HANDLER_READS: &[&str] = &[
    "Handler_read_first",
    "Handler_read_key",
    "Handler_read_last",
    "Handler_read_next",
    "Handler_read_prev",
    "Handler_read_rnd",
    "Handler_read_rnd_next",
];

/// The other counters read.
pub const OTHER: &[&str] = &[
    "Innodb_rows_read",
    "Rows_read",
    "Innodb_buffer_pool_read_requests",
    "Innodb_buffer_pool_reads",
    "Created_tmp_tables",
    "Created_tmp_disk_tables",
    "Sort_merge_passes",
    "Sort_rows",
    "Bytes_sent",
    "Bytes_received",
];

/// `SHOW GLOBAL STATUS` restricted to the work counters.
pub fn query() -> String {
    let names = HANDLER_READS
        .iter()
        .chain(OTHER)
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(",");
    format!("SHOW GLOBAL STATUS WHERE Variable_name IN ({names})")
}

/// One look at the counters and the CPU clocks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkSnapshot {
    /// Seconds since an arbitrary origin shared by the snapshots of one run.
    pub t: f64,
    pub global: Values,
    /// Monitor samples taken so far.
    pub samples: u64,
    pub client_cpu_s: Option<f64>,
    pub server_cpu_s: Option<f64>,
    /// `SUM_ROWS_EXAMINED` over performance_schema's prepared statements, when it could be
    /// read, by side tag (`""` for statements of no side, `A` and `B` in a same-seconds
    /// trial).
    pub ps_rows_examined: Option<std::collections::BTreeMap<String, u64>>,
}

/// The status rows of a query, as values.
pub fn values(rows: Vec<(String, String)>) -> Values {
    parse_rows(rows)
}

fn get(v: &Values, name: &str) -> u64 {
    v.get(&name.to_ascii_lowercase()).copied().unwrap_or(0)
}

/// The counters of one status reading.
pub fn counters(v: &Values) -> WorkCounters {
    let rows_read = if v.contains_key("innodb_rows_read") {
        get(v, "Innodb_rows_read")
    } else {
        get(v, "Rows_read")
    };
    WorkCounters {
        rows_read,
        handler_reads: HANDLER_READS.iter().map(|n| get(v, n)).sum(),
        buffer_pool_read_requests: get(v, "Innodb_buffer_pool_read_requests"),
        buffer_pool_reads: get(v, "Innodb_buffer_pool_reads"),
        tmp_tables: get(v, "Created_tmp_tables"),
        tmp_disk_tables: get(v, "Created_tmp_disk_tables"),
        sort_merge_passes: get(v, "Sort_merge_passes"),
        sort_rows: get(v, "Sort_rows"),
        bytes_sent: get(v, "Bytes_sent"),
        bytes_received: get(v, "Bytes_received"),
    }
}

/// What the monitoring connection adds to the counters: per counter reading and per sample.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OwnCost {
    pub per_reading: WorkCounters,
    pub per_sample: WorkCounters,
}

/// The cost from tries of three readings each: reading, reading, a sample, reading. The
/// smallest of the tries per counter (other clients only add to a try).
pub fn own_cost(tries: &[(Values, Values, Values)]) -> Option<OwnCost> {
    let (reading, sample_and_reading) = tries
        .iter()
        .map(|(a, b, c)| {
            let (a, b, c) = (counters(a), counters(b), counters(c));
            (b.minus(&a), c.minus(&b))
        })
        .reduce(|x, y| (x.0.min(&y.0), x.1.min(&y.1)))?;
    Some(OwnCost {
        per_reading: reading,
        per_sample: sample_and_reading.minus(&reading),
    })
}

/// The work between two snapshots, `transactions` the run's committed transactions in that
/// window, `own` the monitoring connection's cost (`None`: not measured, nothing taken out). A
/// counter that went backwards (FLUSH STATUS, a restart) counts as zero.
pub fn derive(
    start: &WorkSnapshot,
    end: &WorkSnapshot,
    transactions: u64,
    own: Option<&OwnCost>,
) -> Work {
    let global = counters(&end.global).minus(&counters(&start.global));
    let mut notes = Vec::new();
    let samples = end.samples.saturating_sub(start.samples);
    let own = match own {
        Some(c) => c.per_reading.plus_times(&c.per_sample, samples),
        None => {
            notes.push(
                "the monitoring connection's own cost could not be measured: its statements \
                 are counted in the work"
                    .to_string(),
            );
            WorkCounters::default()
        }
    };
    let cpu = |a: Option<f64>, b: Option<f64>| Some((b? - a?).max(0.0));
    let ps = ps_delta(
        start.ps_rows_examined.as_ref(),
        end.ps_rows_examined.as_ref(),
    );
    let client_cpu_s = cpu(start.client_cpu_s, end.client_cpu_s);
    if client_cpu_s.is_none() {
        notes.push("the client threads' CPU time could not be read (no /proc)".into());
    }
    Work {
        window_s: (end.t - start.t).max(0.0),
        transactions,
        counters: global.minus(&own),
        monitor_own: own,
        monitor_samples: samples,
        client_cpu_s,
        server_cpu_s: cpu(start.server_cpu_s, end.server_cpu_s),
        ps_rows_examined: ps.as_ref().map(|m| m.values().sum()),
        ps_rows_examined_by_side: ps
            .unwrap_or_default()
            .into_iter()
            .filter(|(side, _)| !side.is_empty())
            .collect(),
        notes,
    }
}

/// The rows examined per side between two readings (a side missing at the start had none).
fn ps_delta(
    start: Option<&std::collections::BTreeMap<String, u64>>,
    end: Option<&std::collections::BTreeMap<String, u64>>,
) -> Option<std::collections::BTreeMap<String, u64>> {
    let (start, end) = (start?, end?);
    Some(
        end.iter()
            .map(|(side, n)| {
                let before = start.get(side).copied().unwrap_or(0);
                (side.clone(), n.saturating_sub(before))
            })
            .collect(),
    )
}

/// The query of the performance_schema rows examined by prepared statements, by side: `A` or
/// `B` for the statements of a same-seconds trial (their text ends with the side's comment),
/// `""` for the rest.
pub const PS_ROWS_EXAMINED: &str = "SELECT CASE \
    WHEN SQL_TEXT LIKE '%/* loadgate:A */' THEN 'A' \
    WHEN SQL_TEXT LIKE '%/* loadgate:B */' THEN 'B' ELSE '' END AS side, \
    CAST(COALESCE(SUM(SUM_ROWS_EXAMINED), 0) AS UNSIGNED) \
    FROM performance_schema.prepared_statements_instances GROUP BY side";

/// utime + stime (fields 14 and 15) of a `/proc/.../stat` line, in clock ticks. The command
/// name (field 2) may hold spaces and parentheses, so fields are counted after the last `)`.
pub fn stat_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_per_s() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// The first field of a `/proc/.../schedstat` line: nanoseconds spent on a CPU.
pub fn schedstat_ns(line: &str) -> Option<u64> {
    line.split_whitespace().next()?.parse().ok()
}

/// CPU seconds of one task directory (`/proc/.../task/TID`): `schedstat` (nanoseconds) where
/// the kernel has it, else `stat` (clock ticks, 10 ms each, too coarse for short trials).
fn task_cpu_s(task: &std::path::Path) -> Option<f64> {
    if let Some(ns) = std::fs::read_to_string(task.join("schedstat"))
        .ok()
        .and_then(|s| schedstat_ns(&s))
    {
        return Some(ns as f64 / 1e9);
    }
    let stat = std::fs::read_to_string(task.join("stat")).ok()?;
    Some(stat_ticks(&stat)? as f64 / ticks_per_s())
}

/// CPU seconds of the threads of `proc_dir` (`/proc/self`, `/proc/PID`) whose name starts with
/// `prefix` (every thread for an empty prefix).
fn threads_cpu_s(proc_dir: &str, prefix: &str) -> Option<f64> {
    let mut total = 0.0;
    for e in std::fs::read_dir(format!("{proc_dir}/task"))
        .ok()?
        .flatten()
    {
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        if comm.starts_with(prefix) {
            total += task_cpu_s(&e.path()).unwrap_or(0.0);
        }
    }
    Some(total)
}

/// CPU seconds of this process's client threads (`lg-client-N`).
pub fn client_cpu_s() -> Option<f64> {
    threads_cpu_s("/proc/self", "lg-client")
}

/// CPU seconds of process `pid`, all its threads. A thread that ended in the window takes its
/// time with it, so this is a lower bound when the server's threads come and go (the
/// workload's connections stay open over the window, and with them their threads).
pub fn process_cpu_s(pid: u32) -> Option<f64> {
    threads_cpu_s(&format!("/proc/{pid}"), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(kv: &[(&str, u64)]) -> Values {
        parse_rows(kv.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    fn snap(t: f64, global: Values, samples: u64, cpu: f64) -> WorkSnapshot {
        WorkSnapshot {
            t,
            global,
            samples,
            client_cpu_s: Some(cpu),
            server_cpu_s: None,
            ps_rows_examined: None,
        }
    }

    #[test]
    fn performance_schema_rows_are_counted_per_side_over_the_window() {
        let m = |v: &[(&str, u64)]| -> std::collections::BTreeMap<String, u64> {
            v.iter().map(|(k, n)| (k.to_string(), *n)).collect()
        };
        let mut start = snap(1.0, Values::new(), 0, 0.0);
        let mut end = snap(3.0, Values::new(), 0, 0.0);
        start.ps_rows_examined = Some(m(&[("", 100), ("A", 40)]));
        // B's statements were prepared inside the window: all its rows count.
        end.ps_rows_examined = Some(m(&[("", 130), ("A", 240), ("B", 410)]));
        let w = derive(&start, &end, 10, None);
        assert_eq!(w.ps_rows_examined, Some(30 + 200 + 410));
        assert_eq!(w.ps_rows_examined_by_side, m(&[("A", 200), ("B", 410)]));
        end.ps_rows_examined = None;
        let w = derive(&start, &end, 10, None);
        assert_eq!(w.ps_rows_examined, None);
        assert!(w.ps_rows_examined_by_side.is_empty());
    }

    #[test]
    fn the_monitors_cost_is_the_smallest_try() {
        let r = |h: u64, tmp: u64| v(&[("Handler_read_rnd_next", h), ("Created_tmp_tables", tmp)]);
        // Try 1: a reading costs 100 rows and 1 temporary table, a sample 250 and 1.
        let t1 = (r(0, 0), r(100, 1), r(450, 3));
        // Try 2: another client scanned 1000 rows during it.
        let t2 = (r(450, 3), r(1550, 4), r(1900, 6));
        let c = own_cost(&[t1, t2]).unwrap();
        assert_eq!(c.per_reading.handler_reads, 100);
        assert_eq!(c.per_sample.handler_reads, 250);
        assert_eq!((c.per_reading.tmp_tables, c.per_sample.tmp_tables), (1, 1));
        assert_eq!(own_cost(&[]), None);
    }

    #[test]
    fn window_deltas_per_transaction_with_the_monitor_taken_out() {
        let start = snap(
            1.0,
            v(&[
                ("Handler_read_key", 1000),
                ("Handler_read_next", 500),
                ("Handler_read_rnd_next", 10_000),
                ("Innodb_buffer_pool_read_requests", 7000),
                ("Rows_read", 2000),
                ("Created_tmp_tables", 40),
                ("Bytes_sent", 1_000_000),
            ]),
            5,
            3.0,
        );
        let end = snap(
            11.0,
            v(&[
                ("Handler_read_key", 21_000),
                ("Handler_read_next", 40_500),
                // The workload scanned nothing: one reading and 10 samples scanned 3100 rows.
                ("Handler_read_rnd_next", 13_100),
                ("Innodb_buffer_pool_read_requests", 107_000),
                ("Rows_read", 62_000),
                ("Created_tmp_tables", 51),
                ("Bytes_sent", 5_000_000),
            ]),
            15,
            4.0,
        );
        let cost = OwnCost {
            per_reading: WorkCounters {
                handler_reads: 100,
                tmp_tables: 1,
                bytes_sent: 2000,
                ..Default::default()
            },
            per_sample: WorkCounters {
                handler_reads: 300,
                tmp_tables: 1,
                bytes_sent: 2600,
                ..Default::default()
            },
        };
        let w = derive(&start, &end, 400, Some(&cost));
        assert_eq!(w.window_s, 10.0);
        assert_eq!(w.monitor_samples, 10);
        assert_eq!(w.monitor_own.handler_reads, 3100);
        assert_eq!(w.counters.handler_reads, 20_000 + 40_000);
        assert_eq!(w.counters.buffer_pool_read_requests, 100_000);
        assert_eq!(w.counters.rows_read, 60_000);
        assert_eq!(
            w.counters.tmp_tables, 0,
            "the 11 temporary tables were the monitor's"
        );
        assert_eq!(w.counters.bytes_sent, 4_000_000 - 28_000);
        assert_eq!(w.client_cpu_s, Some(1.0));
        assert!(w.notes.is_empty(), "{:?}", w.notes);
        let j = w.judged().unwrap();
        assert_eq!((j.rows, j.pages), (150.0, 250.0));
        assert_eq!(j.client_cpu_us, Some(2500.0));
    }

    #[test]
    fn innodb_rows_read_wins_over_rows_read() {
        let a = v(&[("Innodb_rows_read", 10), ("Rows_read", 99)]);
        let b = v(&[("Innodb_rows_read", 110), ("Rows_read", 500)]);
        let w = derive(&snap(0.0, a, 0, 0.0), &snap(1.0, b, 0, 0.0), 1, None);
        assert_eq!(w.counters.rows_read, 100);
    }

    #[test]
    fn without_a_measured_cost_nothing_is_subtracted_and_a_note_says_so() {
        let a = v(&[("Handler_read_rnd_next", 100)]);
        let b = v(&[("Handler_read_rnd_next", 50)]);
        // A counter that went backwards (FLUSH STATUS) counts as zero.
        let w = derive(&snap(0.0, a, 0, 0.0), &snap(1.0, b, 3, 0.0), 5, None);
        assert_eq!(w.counters.handler_reads, 0);
        assert_eq!(w.notes.len(), 1);
    }

    #[test]
    fn stat_fields_after_the_command_name() {
        let line = "4242 (lg (client) 1) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 1 0 99";
        assert_eq!(stat_ticks(line), Some(300));
        assert_eq!(stat_ticks("garbage"), None);
        assert_eq!(schedstat_ns("123456789 2000 31\n"), Some(123_456_789));
        assert!(client_cpu_s().is_some());
        assert!(process_cpu_s(std::process::id()).is_some());
    }

    #[test]
    fn the_query_names_every_counter() {
        let q = query();
        assert!(q.starts_with("SHOW GLOBAL STATUS WHERE"));
        assert!(q.contains("'Handler_read_rnd_next'") && q.contains("'Sort_merge_passes'"));
    }
}
