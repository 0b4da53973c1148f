//! Per-transaction overhead of the engine itself, on a mock executor that answers at once.
//!
//! Everything the engine does around a statement is here (picking the transaction, drawing and
//! boxing parameters, timestamps, query counting, histogram recording, interval rotation, the
//! shared sequence counter); the database and the driver are not. One criterion iteration is
//! one transaction: each sample runs `engine::run` for that many transactions, and criterion's
//! linear fit over samples of growing size puts run start-up (threads, runtimes) into the
//! intercept, so "time" is the cost of one transaction.
//!
//! - `point_select/immediate`: 1 worker; the mock's futures are ready on first poll, so the
//!   worker never yields: the pure bookkeeping cost.
//! - `point_select/yield_4w_1t`: 4 workers on one client thread; the mock yields to the runtime
//!   once per statement, as a real round trip would, so the task switch is counted too.
//! - `read_write/immediate`: one oltp_read_write transaction (20 queries) per element.
//!
//! On a real run, compare these with client CPU per query from scripts/compare-sysbench.sh:
//! what remains there is driver, kernel and wake-up cost.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use loadgate::engine::exec::{Connector, Control, ExecError, Session};
use loadgate::engine::{self, EngineConfig};
use loadgate::settings::Settings;
use loadgate::workload::{self, plan::Plan};
use mysql_async::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct MockSession {
    yield_each: bool,
}

impl Session for MockSession {
    async fn exec(&mut self, sql: usize, params: &mut Vec<Value>) -> Result<(), ExecError> {
        black_box((sql, &params));
        if self.yield_each {
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    async fn control(&mut self, c: Control) -> Result<(), ExecError> {
        black_box(c);
        if self.yield_each {
            tokio::task::yield_now().await;
        }
        Ok(())
    }

    async fn close(self) {}
}

struct MockConnector {
    yield_each: bool,
}

impl Connector for MockConnector {
    type S = MockSession;

    async fn connect(&self) -> Result<MockSession, ExecError> {
        Ok(MockSession {
            yield_each: self.yield_each,
        })
    }
}

fn plan(name: &str) -> Arc<Plan> {
    let w = workload::load(name).expect("built-in workload");
    let s = Settings::resolve(&w, &[], &[]).expect("default settings resolve");
    Arc::new(Plan::compile(&w, &s).expect("built-in workload compiles"))
}

fn config(workers: u32, client_threads: u32, events: u64) -> EngineConfig {
    EngineConfig {
        workers,
        client_threads,
        block_replies: true,
        batch_threads: false,
        warmup: Duration::ZERO,
        duration: None,
        rate: None,
        events: Some(events),
        seed: 1,
        retry_errors: vec![1213, 1020, 1205],
        interval: Duration::from_secs(1),
        grace: Duration::from_secs(2),
        connect_timeout: Duration::from_secs(1),
    }
}

/// Run exactly `iters` transactions and return the elapsed time: one criterion iteration is one
/// transaction. Criterion fits a line through samples of growing size, so the fixed start-up
/// cost of a run (threads, runtimes, the first connection) falls into the intercept.
fn run_txns(
    plan: &Arc<Plan>,
    workers: u32,
    threads: u32,
    yield_each: bool,
    iters: u64,
) -> Duration {
    let connector = Arc::new(MockConnector { yield_each });
    let t0 = Instant::now();
    let out = engine::run(config(workers, threads, iters), plan.clone(), connector);
    let elapsed = t0.elapsed();
    assert_eq!(
        out.completed, iters,
        "every transaction completes on the mock"
    );
    elapsed
}

fn bench_engine(c: &mut Criterion) {
    let ps = plan("oltp_point_select");
    let rw = plan("oltp_read_write");
    let mut g = c.benchmark_group("engine");
    g.bench_function("point_select/immediate", |b| {
        b.iter_custom(|iters| run_txns(&ps, 1, 1, false, iters))
    });
    g.bench_function("point_select/yield_4w_1t", |b| {
        b.iter_custom(|iters| run_txns(&ps, 4, 1, true, iters))
    });
    g.bench_function("read_write/immediate", |b| {
        b.iter_custom(|iters| run_txns(&rw, 1, 1, false, iters))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench_engine
}
criterion_main!(benches);
