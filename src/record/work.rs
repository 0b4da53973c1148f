//! The work a run made the server (and the client) do, counted over the measured window and
//! per completed transaction: rows the handlers read, buffer-pool page requests and disk reads,
//! temporary tables, sort passes, bytes on the wire, and CPU time.
//!
//! Unlike throughput, these hardly depend on how busy the machine is: with the same seed, two
//! runs of the same workload read the same rows. A lost index or a worse plan moves them
//! whatever the noise of the machine. The counting itself (snapshots, deltas, what the
//! monitor's own statements added) lives in `crate::monitor::work`; this is the stored result.

use serde::{Deserialize, Serialize};

/// Server counters over a window (deltas of `SHOW GLOBAL STATUS`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkCounters {
    /// `Innodb_rows_read` (MySQL), or `Rows_read` where there is none (MariaDB 10.11).
    pub rows_read: u64,
    /// Sum of `Handler_read_first|key|last|next|prev|rnd|rnd_next`: the rows the SQL layer
    /// asked the storage engines for, index lookups and scans alike (rows examined).
    pub handler_reads: u64,
    /// `Innodb_buffer_pool_read_requests`: logical page reads.
    pub buffer_pool_read_requests: u64,
    /// `Innodb_buffer_pool_reads`: page reads that went to disk.
    pub buffer_pool_reads: u64,
    /// `Created_tmp_tables`.
    pub tmp_tables: u64,
    /// `Created_tmp_disk_tables`.
    pub tmp_disk_tables: u64,
    /// `Sort_merge_passes`: sorts that did not fit the sort buffer.
    pub sort_merge_passes: u64,
    /// `Sort_rows`.
    pub sort_rows: u64,
    /// `Bytes_sent`.
    pub bytes_sent: u64,
    /// `Bytes_received`.
    pub bytes_received: u64,
}

impl WorkCounters {
    /// The smaller of each field.
    pub fn min(&self, o: &WorkCounters) -> WorkCounters {
        let mut out = *self;
        out.zip_with(o, |a, b| a.min(b));
        out
    }

    /// `self + k × other`, field by field.
    pub fn plus_times(&self, o: &WorkCounters, k: u64) -> WorkCounters {
        let mut out = *self;
        out.zip_with(o, |a, b| a.saturating_add(b.saturating_mul(k)));
        out
    }

    fn zip_with(&mut self, o: &WorkCounters, f: impl Fn(u64, u64) -> u64) {
        let fields = [
            (&mut self.rows_read, o.rows_read),
            (&mut self.handler_reads, o.handler_reads),
            (
                &mut self.buffer_pool_read_requests,
                o.buffer_pool_read_requests,
            ),
            (&mut self.buffer_pool_reads, o.buffer_pool_reads),
            (&mut self.tmp_tables, o.tmp_tables),
            (&mut self.tmp_disk_tables, o.tmp_disk_tables),
            (&mut self.sort_merge_passes, o.sort_merge_passes),
            (&mut self.sort_rows, o.sort_rows),
            (&mut self.bytes_sent, o.bytes_sent),
            (&mut self.bytes_received, o.bytes_received),
        ];
        for (a, b) in fields {
            *a = f(*a, b);
        }
    }

    /// `self − other`, field by field, never below zero.
    pub fn minus(&self, o: &WorkCounters) -> WorkCounters {
        WorkCounters {
            rows_read: self.rows_read.saturating_sub(o.rows_read),
            handler_reads: self.handler_reads.saturating_sub(o.handler_reads),
            buffer_pool_read_requests: self
                .buffer_pool_read_requests
                .saturating_sub(o.buffer_pool_read_requests),
            buffer_pool_reads: self.buffer_pool_reads.saturating_sub(o.buffer_pool_reads),
            tmp_tables: self.tmp_tables.saturating_sub(o.tmp_tables),
            tmp_disk_tables: self.tmp_disk_tables.saturating_sub(o.tmp_disk_tables),
            sort_merge_passes: self.sort_merge_passes.saturating_sub(o.sort_merge_passes),
            sort_rows: self.sort_rows.saturating_sub(o.sort_rows),
            bytes_sent: self.bytes_sent.saturating_sub(o.bytes_sent),
            bytes_received: self.bytes_received.saturating_sub(o.bytes_received),
        }
    }

    /// The counters with their names, in a fixed order (for tables and per-transaction views).
    pub fn named(&self) -> [(&'static str, u64); 10] {
        [
            ("rows_read", self.rows_read),
            ("handler_reads", self.handler_reads),
            ("buffer_pool_read_requests", self.buffer_pool_read_requests),
            ("buffer_pool_reads", self.buffer_pool_reads),
            ("tmp_tables", self.tmp_tables),
            ("tmp_disk_tables", self.tmp_disk_tables),
            ("sort_merge_passes", self.sort_merge_passes),
            ("sort_rows", self.sort_rows),
            ("bytes_sent", self.bytes_sent),
            ("bytes_received", self.bytes_received),
        ]
    }
}

/// The work of one run over its measured window (warm-up excluded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Work {
    /// Seconds between the two snapshots (the end of the warm-up and the end of the load).
    pub window_s: f64,
    /// Transactions committed in the measured window: the divisor of every per-transaction
    /// value.
    pub transactions: u64,
    /// The server's counters over the window, the statements of loadgate's own monitoring
    /// connection taken out (`monitor_own`).
    pub counters: WorkCounters,
    /// What the monitoring connection's own statements added to the server-wide counters over
    /// the window (its samples and one counter reading, at their cost measured before the
    /// load), already subtracted from `counters`.
    pub monitor_own: WorkCounters,
    /// Monitor samples taken inside the window.
    #[serde(default)]
    pub monitor_samples: u64,
    /// CPU seconds (user + system) of loadgate's client threads over the window.
    pub client_cpu_s: Option<f64>,
    /// CPU seconds (user + system) of the server process over the window; only for a
    /// throwaway server loadgate started itself.
    pub server_cpu_s: Option<f64>,
    /// Rows examined by the prepared statements over the window as performance_schema counts
    /// them (`prepared_statements_instances.SUM_ROWS_EXAMINED`); `None` when
    /// performance_schema is off or not readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ps_rows_examined: Option<u64>,
    /// The same per side of a same-seconds trial (`A`, `B`: the statements whose text ends
    /// with `/* loadgate:A */` or `/* loadgate:B */`); empty otherwise.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub ps_rows_examined_by_side: std::collections::BTreeMap<String, u64>,
    /// What was not measured, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The per-transaction values the gate judges: a small, `Copy` view of [`Work`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WorkPerTxn {
    /// Rows examined (handler reads) per transaction.
    pub rows: f64,
    /// Buffer-pool page requests per transaction.
    pub pages: f64,
    /// Temporary tables created on disk plus sort merge passes, per transaction.
    #[serde(default)]
    pub spills: f64,
    /// Client CPU microseconds per transaction, when measured.
    pub client_cpu_us: Option<f64>,
    /// Server CPU microseconds per transaction, when measured (a throwaway server).
    #[serde(default)]
    pub server_cpu_us: Option<f64>,
}

impl Work {
    /// `n / transactions`, `None` without transactions.
    pub fn per_txn(&self, n: f64) -> Option<f64> {
        (self.transactions > 0).then(|| n / self.transactions as f64)
    }

    /// The judged values; `None` when no transaction completed.
    pub fn judged(&self) -> Option<WorkPerTxn> {
        let c = &self.counters;
        Some(WorkPerTxn {
            rows: self.per_txn(c.handler_reads as f64)?,
            pages: self.per_txn(c.buffer_pool_read_requests as f64)?,
            spills: self.per_txn((c.tmp_disk_tables + c.sort_merge_passes) as f64)?,
            client_cpu_us: self.client_cpu_s.and_then(|s| self.per_txn(s * 1e6)),
            server_cpu_us: self.server_cpu_s.and_then(|s| self.per_txn(s * 1e6)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_transaction_values() {
        let w = Work {
            transactions: 200,
            counters: WorkCounters {
                handler_reads: 30_000,
                buffer_pool_read_requests: 50_000,
                ..Default::default()
            },
            client_cpu_s: Some(0.5),
            ..Default::default()
        };
        let j = w.judged().unwrap();
        assert_eq!((j.rows, j.pages), (150.0, 250.0));
        assert_eq!(j.client_cpu_us, Some(2500.0));
        let none = Work::default();
        assert_eq!(
            none.judged(),
            None,
            "no transaction: no per-transaction value"
        );
    }

    #[test]
    fn minus_never_goes_below_zero() {
        let a = WorkCounters {
            handler_reads: 10,
            bytes_sent: 5,
            ..Default::default()
        };
        let b = WorkCounters {
            handler_reads: 4,
            bytes_sent: 9,
            ..Default::default()
        };
        let d = a.minus(&b);
        assert_eq!((d.handler_reads, d.bytes_sent), (6, 0));
    }
}
