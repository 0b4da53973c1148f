//! The load of one measured phase: read workers run the probes round-robin (so every probe gets
//! the same share), write workers run the write mix picked by weight; closed loop, each worker
//! on its own connection with its statements prepared, all on one tokio `current_thread`
//! runtime. Each worker keeps its own histograms (no sharing on the hot path); they are merged
//! at the end. Results of a probe are read whole (that is part of its latency).

use super::spec::IndexSpec;
use crate::bulk::gen::{self, Cell, ColGen, ColumnSpec};
use crate::engine::exec::ErrKind;
use crate::engine::recorder::{new_histogram, record};
use crate::record::ErrorCount;
use crate::target::{Target, TargetError};
use hdrhistogram::Histogram;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Statement, Value};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cell::Cell as StdCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What a phase runs.
#[derive(Debug, Clone, Copy)]
pub struct LoadSpec {
    pub read_workers: u32,
    pub write_workers: u32,
    pub warmup: Duration,
    /// `None`: until the stop flag is set.
    pub duration: Option<Duration>,
    pub seed: u64,
}

/// What a phase measured (after warm-up).
pub struct LoadOut {
    /// Per probe, latency in ns.
    pub probes: Vec<Histogram<u64>>,
    /// Per write statement, latency in ns.
    pub writes: Vec<Histogram<u64>>,
    pub errors: BTreeMap<u16, ErrorCount>,
    /// Rows the write mix changed (affected rows) after warm-up.
    pub rows_written: u64,
    /// The same, warm-up included.
    pub rows_written_total: u64,
    pub measured_s: f64,
}

/// Draw one set of parameters.
pub fn draw(params: &[ColumnSpec], rng: &mut SmallRng) -> Vec<Cell> {
    params.iter().map(|p| gen::value(p, 0, rng)).collect()
}

fn to_values(params: &[ColumnSpec], cells: Vec<Cell>) -> Vec<Value> {
    params
        .iter()
        .zip(cells)
        .map(|(p, c)| match (c, &p.gen) {
            (None, _) => Value::NULL,
            (Some(b), ColGen::Int { .. }) => std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.parse::<i64>().ok())
                .map_or(Value::Bytes(b), Value::Int),
            (Some(b), _) => Value::Bytes(b),
        })
        .collect()
}

struct Conns {
    conn: Conn,
    stmts: Vec<Statement>,
}

async fn open(
    target: &Target,
    db: &str,
    sql: &[String],
    timeout: Duration,
) -> Result<Conns, TargetError> {
    let mut conn = target
        .connect(target.opts(Some(db), sql.len() + 4), timeout)
        .await?;
    let mut stmts = Vec::new();
    for q in sql {
        stmts.push(
            conn.prep(q.as_str())
                .await
                .map_err(|e| target.classify(e, Some(q)))?,
        );
    }
    Ok(Conns { conn, stmts })
}

struct WorkerOut {
    hists: Vec<Histogram<u64>>,
    errors: BTreeMap<u16, ErrorCount>,
    rows: u64,
    rows_total: u64,
}

#[allow(clippy::too_many_arguments)]
async fn worker(
    target: Target,
    db: String,
    sql: Vec<String>,
    params: Vec<Vec<ColumnSpec>>,
    weights: Option<Vec<u32>>,
    mut c: Conns,
    first: usize,
    seed: u64,
    warmup_end: Instant,
    end: Option<Instant>,
    stop: Rc<StdCell<bool>>,
    timeout: Duration,
) -> WorkerOut {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut out = WorkerOut {
        hists: sql.iter().map(|_| new_histogram()).collect(),
        errors: BTreeMap::new(),
        rows: 0,
        rows_total: 0,
    };
    let total_weight: u32 = weights.as_ref().map_or(0, |w| w.iter().sum());
    let mut next = first;
    loop {
        let now = Instant::now();
        if stop.get() || end.is_some_and(|e| now >= e) {
            break;
        }
        let i = match &weights {
            None => {
                let i = next % sql.len();
                next += 1;
                i
            }
            Some(w) => {
                let mut r = rng.gen_range(0..total_weight);
                let mut i = 0;
                while r >= w[i] {
                    r -= w[i];
                    i += 1;
                }
                i
            }
        };
        let values = to_values(&params[i], draw(&params[i], &mut rng));
        let t = Instant::now();
        let res = c
            .conn
            .exec_drop(&c.stmts[i], Params::Positional(values))
            .await;
        let done = Instant::now();
        match res {
            Ok(()) => {
                if weights.is_some() {
                    out.rows_total += c.conn.affected_rows();
                }
                if t >= warmup_end {
                    record(&mut out.hists[i], (done - t).as_nanos() as u64);
                    if weights.is_some() {
                        out.rows += c.conn.affected_rows();
                    }
                }
            }
            Err(e) => {
                let (code, message, lost) = match e {
                    mysql_async::Error::Server(s) => {
                        let lost = ErrKind::of(s.code) == ErrKind::ServerGone;
                        (s.code, s.message, lost)
                    }
                    other => (2013, other.to_string(), true),
                };
                let ec = out.errors.entry(code).or_insert_with(|| ErrorCount {
                    code,
                    kind: ErrKind::of(code).name().into(),
                    count: 0,
                    retried: 0,
                    example: message.chars().take(200).collect(),
                });
                ec.count += 1;
                if lost {
                    match open(&target, &db, &sql, timeout).await {
                        Ok(n) => c = n,
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            match open(&target, &db, &sql, timeout).await {
                                Ok(n) => c = n,
                                Err(_) => break,
                            }
                        }
                    }
                }
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), c.conn.disconnect()).await;
    out
}

/// Run the probes and/or the write mix for one phase. Must run inside a `LocalSet`.
pub async fn run_load(
    target: &Target,
    db: &str,
    spec: &IndexSpec,
    ls: LoadSpec,
    stop: Rc<StdCell<bool>>,
    timeout: Duration,
) -> Result<LoadOut, TargetError> {
    let probe_sql: Vec<String> = spec.probes.iter().map(|p| p.sql.clone()).collect();
    let probe_params: Vec<Vec<ColumnSpec>> = spec.probes.iter().map(|p| p.params.clone()).collect();
    let write_sql: Vec<String> = spec.writes.iter().map(|w| w.sql.clone()).collect();
    let write_params: Vec<Vec<ColumnSpec>> = spec.writes.iter().map(|w| w.params.clone()).collect();
    let weights: Vec<u32> = spec.writes.iter().map(|w| w.weight).collect();
    let write_workers = if spec.writes.is_empty() {
        0
    } else {
        ls.write_workers
    };
    // Connect and prepare everything before the clock starts.
    let mut readers = Vec::new();
    for _ in 0..ls.read_workers {
        readers.push(open(target, db, &probe_sql, timeout).await?);
    }
    let mut writers = Vec::new();
    for _ in 0..write_workers {
        writers.push(open(target, db, &write_sql, timeout).await?);
    }
    let start = Instant::now();
    let warmup_end = start + ls.warmup;
    let end = ls.duration.map(|d| warmup_end + d);
    let mut handles = Vec::new();
    for (i, c) in readers.into_iter().enumerate() {
        handles.push((
            true,
            tokio::task::spawn_local(worker(
                target.clone(),
                db.to_string(),
                probe_sql.clone(),
                probe_params.clone(),
                None,
                c,
                i,
                ls.seed ^ (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                warmup_end,
                end,
                stop.clone(),
                timeout,
            )),
        ));
    }
    for (i, c) in writers.into_iter().enumerate() {
        handles.push((
            false,
            tokio::task::spawn_local(worker(
                target.clone(),
                db.to_string(),
                write_sql.clone(),
                write_params.clone(),
                Some(weights.clone()),
                c,
                0,
                ls.seed ^ (i as u64 + 1001).wrapping_mul(0x9e37_79b9_7f4a_7c15),
                warmup_end,
                end,
                stop.clone(),
                timeout,
            )),
        ));
    }
    let mut out = LoadOut {
        probes: spec.probes.iter().map(|_| new_histogram()).collect(),
        writes: spec.writes.iter().map(|_| new_histogram()).collect(),
        errors: BTreeMap::new(),
        rows_written: 0,
        rows_written_total: 0,
        measured_s: 0.0,
    };
    for (is_reader, h) in handles {
        let Ok(w) = h.await else { continue };
        let into = if is_reader {
            &mut out.probes
        } else {
            &mut out.writes
        };
        for (a, b) in into.iter_mut().zip(&w.hists) {
            let _ = a.add(b);
        }
        out.rows_written += w.rows;
        out.rows_written_total += w.rows_total;
        for (code, e) in w.errors {
            let slot = out.errors.entry(code).or_insert_with(|| ErrorCount {
                count: 0,
                ..e.clone()
            });
            slot.count += e.count;
        }
    }
    let ended = Instant::now();
    out.measured_s = ended.saturating_duration_since(warmup_end).as_secs_f64();
    Ok(out)
}
