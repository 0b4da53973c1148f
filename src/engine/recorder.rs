//! Recording: HDR histograms and counters, one recorder per client thread, merged at interval
//! boundaries and at the end.
//!
//! Histograms hold nanoseconds with 3 significant digits, from 1 µs to 1 hour (values outside
//! are clamped, never dropped). The recorder is kept apart from the summary it produces
//! ([`crate::engine::summary`]), so recorders from several threads, runs or shards merge
//! losslessly.

use crate::record::{ErrorCount, ErrorMap, QueryCounts};
use hdrhistogram::Histogram;

/// Lowest discernible value: 1 µs.
pub const HIST_LOW_NS: u64 = 1_000;
/// Highest trackable value: 1 hour.
pub const HIST_HIGH_NS: u64 = 3_600_000_000_000;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(HIST_LOW_NS, HIST_HIGH_NS, 3).expect("valid static bounds")
}

/// A histogram in the V2 deflate format, as stored with runs (empty if encoding fails).
pub fn serialize(h: &Histogram<u64>) -> Vec<u8> {
    use hdrhistogram::serialization::{Serializer, V2DeflateSerializer};
    let mut out = Vec::new();
    let _ = V2DeflateSerializer::new().serialize(h, &mut out);
    out
}

#[inline]
pub fn record(h: &mut Histogram<u64>, ns: u64) {
    h.saturating_record(ns.max(HIST_LOW_NS));
}

/// Per transaction type.
#[derive(Clone)]
pub struct TxnHist {
    pub corrected: Histogram<u64>,
    pub service: Histogram<u64>,
    pub failed: u64,
    /// Transactions still in flight when the run gave up on them (the grace after the end ran
    /// out): each at the time from its intended start (corrected) or send (service) to that
    /// moment, a lower bound of its latency. Kept apart so that counts and rates hold only
    /// what completed.
    pub cut_corrected: Histogram<u64>,
    pub cut_service: Histogram<u64>,
}

impl TxnHist {
    /// Corrected latency of every transaction: those that completed and, as lower bounds, those
    /// the run gave up on.
    pub fn corrected_all(&self) -> Histogram<u64> {
        let mut h = self.corrected.clone();
        let _ = h.add(&self.cut_corrected);
        h
    }

    /// Service latency likewise.
    pub fn service_all(&self) -> Histogram<u64> {
        let mut h = self.service.clone();
        let _ = h.add(&self.cut_service);
        h
    }
}

/// Per statement.
#[derive(Clone)]
pub struct StmtHist {
    pub service: Histogram<u64>,
    pub errors: u64,
}

/// What one interval measured on one thread.
#[derive(Clone)]
pub struct IntervalAcc {
    pub idx: u64,
    pub corrected: Histogram<u64>,
    pub service: Histogram<u64>,
    pub queries: QueryCounts,
    pub errors: u64,
    pub retries: u64,
    pub reconnects: u64,
    pub queue_depth: u64,
    /// Pool gauges and counters (see [`PoolTotals`]); `conn_open` is the peak.
    pub conn_open: u64,
    /// Time connections spent in a transaction, summed (average in use = busy / interval).
    pub busy_ns: u64,
    pub connects: u64,
    pub connect_ns_max: u64,
    pub discarded: u64,
    pub waits: u64,
    pub wait_ns_sum: u64,
    pub wait_ns_max: u64,
}

/// The pool's counters over a whole run: connections opened and how long that took, connections
/// discarded, and (open loop) how long due transactions waited for a free connection. Counted
/// from the warm-up on, since connections open before the clock starts.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PoolTotals {
    pub connects: u64,
    pub connect_ns_sum: u64,
    pub connect_ns_max: u64,
    pub discarded: u64,
    pub waits: u64,
    pub wait_ns_sum: u64,
    pub wait_ns_max: u64,
}

impl PoolTotals {
    pub fn merge(&mut self, o: &PoolTotals) {
        self.connects += o.connects;
        self.connect_ns_sum += o.connect_ns_sum;
        self.connect_ns_max = self.connect_ns_max.max(o.connect_ns_max);
        self.discarded += o.discarded;
        self.waits += o.waits;
        self.wait_ns_sum += o.wait_ns_sum;
        self.wait_ns_max = self.wait_ns_max.max(o.wait_ns_max);
    }
}

impl IntervalAcc {
    pub fn new(idx: u64) -> Self {
        IntervalAcc {
            idx,
            corrected: new_histogram(),
            service: new_histogram(),
            queries: QueryCounts::default(),
            errors: 0,
            retries: 0,
            reconnects: 0,
            queue_depth: 0,
            conn_open: 0,
            busy_ns: 0,
            connects: 0,
            connect_ns_max: 0,
            discarded: 0,
            waits: 0,
            wait_ns_sum: 0,
            wait_ns_max: 0,
        }
    }

    pub fn merge(&mut self, o: &IntervalAcc) {
        let _ = self.corrected.add(&o.corrected);
        let _ = self.service.add(&o.service);
        self.queries.read += o.queries.read;
        self.queries.write += o.queries.write;
        self.queries.other += o.queries.other;
        self.errors += o.errors;
        self.retries += o.retries;
        self.reconnects += o.reconnects;
        self.queue_depth = self.queue_depth.max(o.queue_depth);
        // Threads hold disjoint connections: their peaks add up.
        self.conn_open += o.conn_open;
        self.busy_ns += o.busy_ns;
        self.connects += o.connects;
        self.connect_ns_max = self.connect_ns_max.max(o.connect_ns_max);
        self.discarded += o.discarded;
        self.waits += o.waits;
        self.wait_ns_sum += o.wait_ns_sum;
        self.wait_ns_max = self.wait_ns_max.max(o.wait_ns_max);
    }

    /// Adds the interval that came right after this one (the same connections, later): like
    /// [`IntervalAcc::merge`], except that open connections are a level over time, so the
    /// larger of the two counts instead of their sum.
    pub fn merge_later(&mut self, later: &IntervalAcc) {
        let open = self.conn_open.max(later.conn_open);
        self.merge(later);
        self.conn_open = open;
    }

    fn reset(&mut self, idx: u64) {
        self.idx = idx;
        self.corrected.reset();
        self.service.reset();
        self.queries = QueryCounts::default();
        self.errors = 0;
        self.retries = 0;
        self.reconnects = 0;
        self.queue_depth = 0;
        self.conn_open = 0;
        self.busy_ns = 0;
        self.connects = 0;
        self.connect_ns_max = 0;
        self.discarded = 0;
        self.waits = 0;
        self.wait_ns_sum = 0;
        self.wait_ns_max = 0;
    }
}

/// Totals over the measured window (after warm-up).
#[derive(Clone)]
pub struct Totals {
    pub txn: Vec<TxnHist>,
    pub stmt: Vec<StmtHist>,
    pub queries: QueryCounts,
    pub errors: ErrorMap,
    pub retries: u64,
    pub reconnects: u64,
    /// Open loop: transactions due before the end that never started, each at the time from
    /// its intended start to the end of the run (a lower bound of its corrected latency).
    pub not_started: Histogram<u64>,
}

impl Totals {
    pub fn new(txn_types: usize, statements: usize) -> Self {
        Totals {
            txn: (0..txn_types)
                .map(|_| TxnHist {
                    corrected: new_histogram(),
                    service: new_histogram(),
                    failed: 0,
                    cut_corrected: new_histogram(),
                    cut_service: new_histogram(),
                })
                .collect(),
            stmt: (0..statements)
                .map(|_| StmtHist {
                    service: new_histogram(),
                    errors: 0,
                })
                .collect(),
            queries: QueryCounts::default(),
            errors: ErrorMap::new(),
            retries: 0,
            reconnects: 0,
            not_started: new_histogram(),
        }
    }

    pub fn merge(&mut self, o: &Totals) {
        for (a, b) in self.txn.iter_mut().zip(&o.txn) {
            let _ = a.corrected.add(&b.corrected);
            let _ = a.service.add(&b.service);
            a.failed += b.failed;
            let _ = a.cut_corrected.add(&b.cut_corrected);
            let _ = a.cut_service.add(&b.cut_service);
        }
        let _ = self.not_started.add(&o.not_started);
        for (a, b) in self.stmt.iter_mut().zip(&o.stmt) {
            let _ = a.service.add(&b.service);
            a.errors += b.errors;
        }
        self.queries.read += o.queries.read;
        self.queries.write += o.queries.write;
        self.queries.other += o.queries.other;
        for (code, e) in &o.errors {
            let slot = self.errors.entry(*code).or_insert_with(|| ErrorCount {
                code: *code,
                kind: e.kind.clone(),
                count: 0,
                retried: 0,
                example: e.example.clone(),
            });
            slot.count += e.count;
            slot.retried += e.retried;
        }
        self.retries += o.retries;
        self.reconnects += o.reconnects;
    }
}

/// One client thread's recorder. Not shared across threads; the engine wraps it in
/// `Rc<RefCell<_>>` for the workers of one thread.
pub struct Recorder {
    pub totals: Totals,
    pub current: IntervalAcc,
    /// Completed intervals waiting to be handed to the aggregator.
    pub finished: Vec<IntervalAcc>,
    spare: Vec<IntervalAcc>,
    /// Connections of this thread's workers open right now.
    pub open: u64,
    pub pool: PoolTotals,
}

impl Recorder {
    pub fn new(txn_types: usize, statements: usize) -> Self {
        Recorder {
            totals: Totals::new(txn_types, statements),
            current: IntervalAcc::new(0),
            finished: Vec::new(),
            spare: Vec::new(),
            open: 0,
            pool: PoolTotals::default(),
        }
    }

    /// Move to interval `idx` if it is later than the current one.
    #[inline]
    pub fn rotate_to(&mut self, idx: u64) {
        if idx <= self.current.idx {
            return;
        }
        let mut next = self.spare.pop().unwrap_or_else(|| IntervalAcc::new(idx));
        next.reset(idx);
        next.conn_open = self.open;
        let done = std::mem::replace(&mut self.current, next);
        self.finished.push(done);
    }

    /// A connection was opened; it took `ns`.
    pub fn conn_opened(&mut self, ns: u64) {
        self.open += 1;
        let c = &mut self.current;
        c.conn_open = c.conn_open.max(self.open);
        c.connects += 1;
        c.connect_ns_max = c.connect_ns_max.max(ns);
        let p = &mut self.pool;
        p.connects += 1;
        p.connect_ns_sum += ns;
        p.connect_ns_max = p.connect_ns_max.max(ns);
    }

    /// A connection was closed, or thrown away (`discarded`) because it was lost.
    pub fn conn_closed(&mut self, discarded: bool) {
        self.open = self.open.saturating_sub(1);
        if discarded {
            self.current.discarded += 1;
            self.pool.discarded += 1;
        }
    }

    /// A due transaction waited `ns` for a free connection (open loop).
    #[inline]
    pub fn waited(&mut self, ns: u64) {
        let c = &mut self.current;
        c.waits += 1;
        c.wait_ns_sum += ns;
        c.wait_ns_max = c.wait_ns_max.max(ns);
        let p = &mut self.pool;
        p.waits += 1;
        p.wait_ns_sum += ns;
        p.wait_ns_max = p.wait_ns_max.max(ns);
    }

    /// Hand back interval accumulators once the aggregator has merged them.
    pub fn recycle(&mut self, v: Vec<IntervalAcc>) {
        self.spare.extend(v.into_iter().take(2));
    }

    pub fn error(&mut self, code: u16, kind: &str, message: &str, retried: bool, measuring: bool) {
        self.current.errors += 1;
        if retried {
            self.current.retries += 1;
        }
        if measuring {
            let e = self
                .totals
                .errors
                .entry(code)
                .or_insert_with(|| ErrorCount {
                    code,
                    kind: kind.to_string(),
                    count: 0,
                    retried: 0,
                    example: message.chars().take(200).collect(),
                });
            e.count += 1;
            if retried {
                e.retried += 1;
                self.totals.retries += 1;
            }
        }
    }
}

impl Recorder {
    /// Count one successful query of class `kind`.
    #[inline]
    pub fn count_query(&mut self, kind: crate::workload::Kind, measuring: bool) {
        use crate::workload::Kind;
        let (cur, tot) = (&mut self.current.queries, &mut self.totals.queries);
        match kind {
            Kind::Read => {
                cur.read += 1;
                if measuring {
                    tot.read += 1;
                }
            }
            Kind::Write => {
                cur.write += 1;
                if measuring {
                    tot.write += 1;
                }
            }
            Kind::Other => {
                cur.other += 1;
                if measuring {
                    tot.other += 1;
                }
            }
        }
    }
}
