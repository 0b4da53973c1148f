//! Parameter generation cost: what a worker spends drawing the values it binds to a statement.
//!
//! `sample/<dist>`: one integer in [1, 10000] from each sysbench distribution. `pattern/c`: one
//! 119-byte `c` value (10 groups of 11 digits) appended to a reused buffer.
//! `plan/oltp_read_write_txn`: every parameter of one oltp_read_write transaction (18 statements
//! with parameters), built exactly as the engine builds them, one `Vec<Value>` per statement.
//! Read "time" as the cost of one call; divide the last one by 18 for a per-statement figure.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use loadgate::settings::Settings;
use loadgate::workload::plan::Plan;
use loadgate::workload::{self, Dist, DistParams, Pattern};
use mysql_async::Value;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use std::time::Duration;

fn bench_sample(c: &mut Criterion) {
    let dp = DistParams::default();
    let mut g = c.benchmark_group("sample");
    for dist in [
        Dist::Uniform,
        Dist::Gaussian,
        Dist::Special,
        Dist::Pareto,
        Dist::Zipfian,
    ] {
        let mut rng = SmallRng::seed_from_u64(7);
        g.bench_function(dist.name(), |b| {
            b.iter(|| dp.sample(black_box(dist), &mut rng, 1, black_box(10_000)))
        });
    }
    g.finish();
}

fn bench_pattern(c: &mut Criterion) {
    let p = Pattern::new(&workload::gen::sysbench_c_template());
    let mut rng = SmallRng::seed_from_u64(7);
    let mut buf = Vec::with_capacity(p.len());
    let mut g = c.benchmark_group("pattern");
    g.throughput(Throughput::Bytes(p.len() as u64));
    g.bench_function("c_fill_into", |b| {
        b.iter(|| {
            buf.clear();
            p.fill_into(&mut rng, &mut buf);
            black_box(&buf);
        })
    });
    g.finish();
}

/// The engine's parameter loop (`engine::run_txn`) without the executor: pick a table per
/// step, draw the `let` slots, build each statement's parameter vector.
fn fill_txn(plan: &Plan, txn: usize, rng: &mut SmallRng, slots: &mut [i64]) -> usize {
    let mut n = 0;
    for step in &plan.txns[txn].steps {
        let table = plan.pick_table(step.group, rng);
        for _ in 0..step.repeat {
            for (i, g) in step.lets.iter().enumerate() {
                slots[i] = g.int(&plan.dist, rng, &[]);
            }
            for call in &step.calls {
                let mut params: Vec<Value> = Vec::with_capacity(call.params.len());
                for p in &call.params {
                    params.push(p.value(&plan.dist, rng, slots));
                }
                black_box((call.sql_base + table, &params));
                n += 1;
            }
        }
    }
    n
}

fn bench_plan(c: &mut Criterion) {
    let w = workload::load("oltp_read_write").expect("built-in workload");
    let s = Settings::resolve(&w, &[], &[]).expect("default settings resolve");
    let plan = Plan::compile(&w, &s).expect("built-in workload compiles");
    let mut rng = SmallRng::seed_from_u64(7);
    let mut slots = vec![0i64; plan.max_slots.max(1)];
    let per_txn = fill_txn(&plan, 0, &mut rng, &mut slots) as u64;
    let mut g = c.benchmark_group("plan");
    g.throughput(Throughput::Elements(per_txn));
    g.bench_function("oltp_read_write_txn", |b| {
        b.iter(|| {
            let txn = plan.pick_txn(&mut rng);
            fill_txn(&plan, txn, &mut rng, &mut slots)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = bench_sample, bench_pattern, bench_plan
}
criterion_main!(benches);
